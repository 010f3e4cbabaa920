"""What the support console shows of a customer (SPEC section 8): finding accounts, the
account's state at a glance, its recent events and the notices sent to it. Reads only; never
a password, an answer, a link or a message's body. No HTML, no request.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from . import accounts, clock, lockout, usernames
from .extensions import db
from .models import AuthEvent, LoginThrottle, OutboxMessage, User

PAGE_SIZE = 20
ACTIVE, LOCKED, INACTIVE, DISABLED, SETUP = "active", "locked", "inactive", "disabled", "setup"


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    has_next: bool

    @property
    def has_previous(self):
        return self.number > 1


def page_number(text):
    try:
        return max(1, min(int(text or 1), 10_000))
    except ValueError:
        return 1


def _paged(query, number, size=PAGE_SIZE):
    rows = db.session.scalars(query.limit(size + 1).offset((number - 1) * size)).all()
    return Page(rows[:size], number, len(rows) > size)


def _like(text):
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(text, number=1):
    """Accounts matching a user name of any kind (exactly), a bare RFC (every kind of it), or
    part of a name or an e-mail address; by user name."""
    text = (text or "").strip()[:254]
    query = select(User).order_by(User.username)
    parsed = usernames.parse(text)
    if parsed is not None:
        typed_prefix, _ = usernames.split_prefix(text.strip())
        names = [parsed.canonical] if typed_prefix else [prefix + parsed.rfc for prefix in usernames.KINDS]
        query = query.where(User.username.in_(names))
    else:
        pattern = _like(text.lower())
        query = query.where(or_(func.lower(User.display_name).like(pattern, escape="\\"),
                                func.lower(User.email).like(pattern, escape="\\"),
                                func.lower(User.username).like(pattern, escape="\\")))
    return _paged(query, number)


def customer(user_id):
    return db.session.get(User, user_id) if isinstance(user_id, int) else None


@dataclass(frozen=True)
class State:
    key: str
    failures: int
    locked_until: datetime | None
    inactive_since: datetime | None
    setup_pending: bool


def state(user):
    """The account at a glance: disabled, failure-locked (until when, failures counted),
    inactive (since when), set-up pending, or active."""
    now = clock.now()
    throttle = db.session.get(LoginThrottle, user.username)
    until = lockout.locked_until(user.username)
    failures = throttle.failures if throttle else 0
    inactive_since = None
    if accounts.is_inactive(user, now):
        last = max(filter(None, (user.last_login_at or user.created_at, user.reactivated_at)))
        inactive_since = last + timedelta(days=current_app.config["INACTIVITY_DAYS"])
    setup = user.secret_question is None
    key = (DISABLED if user.disabled else LOCKED if until else INACTIVE if inactive_since else SETUP if setup
           else ACTIVE)
    return State(key, failures, until, inactive_since, setup)


EVENT_KINDS = ("login", "lock", "unlock", "reminder", "link_opened", "password_changed", "answer",
               "account_disabled", "account_enabled", "email_changed", "question_cleared", "link_issued")


def events(user, number=1, kind=None, outcome=None):
    """The account's events, newest first, optionally of one kind and outcome."""
    query = select(AuthEvent).where(AuthEvent.username == user.username).order_by(AuthEvent.at.desc(),
                                                                                   AuthEvent.id.desc())
    if kind:
        query = query.where(AuthEvent.kind == kind[:40])
    if outcome:
        query = query.where(AuthEvent.outcome == outcome[:40])
    return _paged(query, number)


def notices(user, limit=20):
    """The latest messages sent to the account: kind, time, delivered or not (nothing else)."""
    return db.session.execute(select(OutboxMessage.kind, OutboxMessage.created_at, OutboxMessage.sent_at,
                                     OutboxMessage.attempts).where(OutboxMessage.user_id == user.id)
                              .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)).all()
