"""Failure counting and the failure lock, per canonical user name (existing or not).

Every step is one conditional UPDATE, so the database serialises concurrent attempts: an
attempt is *claimed* (counted as a failure in advance) before its password is checked, and
no claim is granted once LOGIN_MAX_ATTEMPTS are counted. Under any concurrency, across
processes and machines, at most LOGIN_MAX_ATTEMPTS passwords are evaluated per lock window.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from . import clock
from .extensions import db
from .models import LoginThrottle


@dataclass(frozen=True)
class Claim:
    granted: bool
    locks: bool = False  # this attempt, if it fails, is the one that locks the name
    locked_until: datetime | None = None


def _insert():
    dialect = sqlite if db.engine.dialect.name == "sqlite" else postgresql
    return dialect.insert(LoginThrottle)


def _ensure_row(username):
    db.session.execute(_insert().values(username=username, failures=0).on_conflict_do_nothing())


def _expire(username, now):
    """A lock whose time is over ends: the count starts again (recent failures stay recorded)."""
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.username == username, LoginThrottle.locked_until <= now)
        .values(failures=0, locked_until=None)
    )


def state(username):
    """The throttle row as it is now (lock expiry applied), or None when the name has none."""
    now = clock.now()
    _expire(username, now)
    db.session.commit()
    return db.session.get(LoginThrottle, username, populate_existing=True)


def locked_until(username):
    row = state(username)
    return row.locked_until if row and row.locked_until else None


def claim_attempt(username):
    """Count one attempt before its password is checked; refused while the name is locked."""
    config = current_app.config
    maximum = config["LOGIN_MAX_ATTEMPTS"]
    now = clock.now()
    until = now + timedelta(minutes=config["LOCKOUT_MINUTES"])
    _ensure_row(username)
    _expire(username, now)
    reaches_max = LoginThrottle.failures + 1 >= maximum
    result = db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.username == username, LoginThrottle.failures < maximum,
               LoginThrottle.locked_until.is_(None))
        .values(failures=LoginThrottle.failures + 1, last_failure_at=now,
                locked_until=case((reaches_max, until), else_=None))
        .returning(LoginThrottle.failures, LoginThrottle.locked_until)
    ).first()
    db.session.commit()
    if result is None:
        return Claim(granted=False, locked_until=locked_until(username))
    return Claim(granted=True, locks=result.locked_until is not None, locked_until=result.locked_until)


def clear(username):
    """The right password (or a completed recovery): failures and the failure lock are gone."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))


def has_recent_failures(username):
    row = db.session.get(LoginThrottle, username)
    if row is None or row.last_failure_at is None:
        return False
    window = timedelta(hours=current_app.config["CAPTCHA_FAILURE_HOURS"])
    return row.last_failure_at > clock.now() - window
