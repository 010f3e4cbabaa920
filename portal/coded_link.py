"""The e-mailed coded link (SPEC section 3): asking for a reminder, issuing the link, opening it.

A link is single-use, expires after RESET_LINK_HOURS, is void once the password changes by any
route (it carries the password's marker) and once a newer link is issued; only a hash of its
code is stored, the e-mail holds the only copy. Opening it (a GET) spends nothing: the person
then chooses to go on (a POST), which spends it. Asking for a reminder answers the same for
every name: the request stores one event, and the link and its e-mail are made later, out of
the request (`process_reminders`), so neither the answer nor its time tells whether the
account exists.
"""
import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from . import accounts, audit, clock, lockout, mail, passwords
from .extensions import db
from .models import AuthEvent, CodedLink, User

REQUESTED = "requested"
USED, EXPIRED, VOID, UNKNOWN = "used", "expired", "void", "unknown"


def _code_hash(code):
    return hashlib.sha256(code.encode()).hexdigest()


def request_reminder(name, client_ip):
    """In the request: one stored event, the same for every name. The event is the durable
    to-do that process_reminders carries out, so a request is never lost."""
    audit.record("reminder", name, REQUESTED, client_ip)
    db.session.commit()


def process_reminders(limit=100):
    """Carry out the requested reminders (an outbox producer: see outbox.init_app)."""
    pending = db.session.scalars(select(AuthEvent.id).where(
        AuthEvent.kind == "reminder", AuthEvent.outcome == REQUESTED).order_by(AuthEvent.id).limit(limit)).all()
    for event_id in pending:
        event = db.session.get(AuthEvent, event_id)
        outcome = _remind(event.username, event.client_ip)
        # Settled in the same transaction as the link and the queued e-mail: exactly once.
        settled = db.session.execute(update(AuthEvent).where(
            AuthEvent.id == event_id, AuthEvent.outcome == REQUESTED).values(outcome=outcome)).rowcount == 1
        if settled:
            db.session.commit()
            audit.log.info("reminder %s", outcome, extra={"event": {
                "event": "reminder", "outcome": outcome, "user": event.username, "ip": event.client_ip}})
        else:
            db.session.rollback()


def _remind(name, client_ip):
    """A fresh coded link e-mailed to the registered address (older links void); the outcome."""
    config = current_app.config
    user = accounts.find(name)
    now = clock.now()
    if user is None or not user.email or user.disabled:
        return "not_sent"
    # A no-op write takes the user's row lock (PostgreSQL) or the write lock (SQLite) first, so
    # concurrent reminders for one user count and add their links one after the other.
    db.session.execute(update(User).where(User.id == user.id).values(session_epoch=User.session_epoch))
    recent = db.session.scalar(select(func.count()).select_from(CodedLink).where(
        CodedLink.user_id == user.id, CodedLink.created_at > now - timedelta(hours=1)))
    if recent >= config["REMINDERS_PER_HOUR"]:
        return "limited"
    send(user, client_ip)
    return "sent"


def send(user, client_ip):
    """A fresh coded link e-mailed to the account's registered address (older links void); in
    the caller's transaction. Also support's «send a recovery link» (the console)."""
    link = issue(user)
    mail.queue(user.email, "Aviso de cambio de contraseña de {marca}", "reminder", "reminder",
               user=user, link=link, hours=current_app.config["RESET_LINK_HOURS"], at=clock.local(clock.now()),
               client_ip=client_ip)


def issue(user):
    """A new coded link for user (older ones void); the address holds the only copy of the code."""
    config = current_app.config
    now = clock.now()
    void_all(user, now)
    code = secrets.token_urlsafe(32)
    db.session.add(CodedLink(user_id=user.id, code_hash=_code_hash(code), password_marker=passwords.marker(
        user.password_hash), created_at=now, expires_at=now + timedelta(hours=config["RESET_LINK_HOURS"])))
    return f"{config['PUBLIC_BASE_URL'].rstrip('/')}/request/codedAccess?code={code}"


def void_all(user, now):
    """Every outstanding link of the user stops working."""
    db.session.execute(update(CodedLink).where(
        CodedLink.user_id == user.id, CodedLink.used_at.is_(None), CodedLink.voided_at.is_(None)
    ).values(voided_at=now))


def look(code, client_ip):
    """(link id, user) for a good link, which stays unspent; (None, reason) otherwise. Opening
    the e-mailed address is a GET, which mail scanners prefetch and a browser may repeat: it
    spends nothing; only spend() does, after the person chose to go on."""
    link = db.session.scalar(select(CodedLink).where(CodedLink.code_hash == _code_hash(code or "")))
    user = db.session.get(User, link.user_id) if link else None
    reason = _why_not(link, user, clock.now())
    if reason is not None:
        audit.record("link_opened", user.username if user else "-", reason, client_ip)
        db.session.commit()
        return None, reason
    return link.id, user


def waiting_user(link_id):
    """The account of an opened link that can still be spent, else None."""
    link = db.session.get(CodedLink, link_id) if isinstance(link_id, int) else None
    user = db.session.get(User, link.user_id) if link else None
    return user if _why_not(link, user, clock.now()) is None else None


def spend(link_id, client_ip):
    """(user, None) once the link is spent for this request; (None, reason) when it can no
    longer be (spent in between, voided, expired)."""
    now = clock.now()
    link = db.session.get(CodedLink, link_id) if isinstance(link_id, int) else None
    user = db.session.get(User, link.user_id) if link else None
    reason = _why_not(link, user, now)
    if reason is None:
        spent = db.session.execute(update(CodedLink).where(CodedLink.id == link.id, CodedLink.used_at.is_(None))
                                   .values(used_at=now)).rowcount == 1
        reason = None if spent else USED
    if reason is None:
        lockout.reopen_answers(user.username)  # the e-mailed route was used: answers may be tried again
    audit.record("link_opened", user.username if user else "-", reason or "ok", client_ip)
    db.session.commit()
    return (user, None) if reason is None else (None, reason)


def _why_not(link, user, now):
    """Why a stored link cannot be used, or None."""
    if link is None:
        return UNKNOWN
    if link.used_at is not None:
        return USED
    if link.voided_at is not None:
        return VOID
    if link.expires_at <= now:
        return EXPIRED
    if passwords.marker(user.password_hash) != link.password_marker:
        return VOID
    return None
