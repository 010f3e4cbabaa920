"""Failure counting and locks, per canonical user name (existing or not).

Two counters share the mechanism: sign-in failures (LOGIN_MAX_ATTEMPTS, LOCKOUT_MINUTES)
and wrong secret answers (ANSWER_MAX_ATTEMPTS, ANSWER_LOCK_MINUTES). Every step is one
conditional UPDATE, so the database serialises concurrent attempts: an attempt is *claimed*
(counted as a failure in advance) before it is checked, and no claim is granted once the
maximum is counted. Under any concurrency, across processes and machines, at most the
maximum number of attempts is evaluated per lock window.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from . import clock
from .extensions import db
from .models import LoginThrottle

ANSWER_LOCK_WINDOW = timedelta(hours=24)  # two answer locks in this window close the answer route


@dataclass(frozen=True)
class Counter:
    count: object          # the column counting failures
    until: object          # the column holding the lock's end
    max_setting: str
    minutes_setting: str
    stamp: object          # the column recording when the last attempt was claimed (the CAPTCHA rule reads it)


# SELECT of a lock's end for a :username, per lock column: built once, it runs on every attempt.
_READ_UNTIL = {column.key: select(column).where(LoginThrottle.username == bindparam("username"))
               for column in (LoginThrottle.locked_until, LoginThrottle.answer_locked_until)}
LOGIN = Counter(LoginThrottle.failures, LoginThrottle.locked_until, "LOGIN_MAX_ATTEMPTS", "LOCKOUT_MINUTES",
                LoginThrottle.last_failure_at)
ANSWER = Counter(LoginThrottle.answer_failures, LoginThrottle.answer_locked_until,
                 "ANSWER_MAX_ATTEMPTS", "ANSWER_LOCK_MINUTES", LoginThrottle.last_answer_failure_at)


@dataclass(frozen=True)
class Claim:
    granted: bool
    locks: bool = False  # this attempt, if it fails, is the one that locks the name
    locked_until: datetime | None = None


def _ensure_row(username):
    dialect = sqlite if db.engine.dialect.name == "sqlite" else postgresql
    db.session.execute(dialect.insert(LoginThrottle).values(username=username).on_conflict_do_nothing())


def _expire(username, now, counter):
    """A lock whose time is over ends: the count starts again (recent failures stay recorded)."""
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.username == username, counter.until <= now)
        .values({counter.count: 0, counter.until: None})
    )


def locked_until(username, counter=LOGIN):
    """The end of the name's lock, or None when it is not locked (a read; it writes only to
    end a lock whose time is over)."""
    until = db.session.scalar(_READ_UNTIL[counter.until.key], {"username": username})
    if until is None or until > clock.now():
        return until
    _expire(username, clock.now(), counter)
    db.session.commit()
    return None


def claim_attempt(username, counter=LOGIN):
    """Count one attempt before it is checked; refused while the name is locked. In the
    caller's transaction: it commits, with whatever belongs to the claim (the lock's event and
    notice)."""
    config = current_app.config
    maximum = config[counter.max_setting]
    now = clock.now()
    until = now + timedelta(minutes=config[counter.minutes_setting])
    _ensure_row(username)
    _expire(username, now, counter)
    values = {counter.count: counter.count + 1,
              counter.until: case((counter.count + 1 >= maximum, until), else_=None),
              counter.stamp: now}
    result = db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.username == username, counter.count < maximum, counter.until.is_(None))
        .values(values)
        .returning(counter.until)
    ).first()
    if result is None:
        return Claim(granted=False, locked_until=locked_until(username, counter))
    return Claim(granted=True, locks=result[0] is not None, locked_until=result[0])


def clear(username):
    """Every failure and lock of the name gone (a sign-in, an unlock, a new password). A right
    secret answer reopens the answers only (reopen_answers)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))


def has_recent_failures(username, counter=LOGIN):
    """Whether the name had a failure (of sign-in, or of secret answers) in the last
    CAPTCHA_FAILURE_HOURS: the CAPTCHA stays required meanwhile."""
    last = db.session.scalar(select(counter.stamp).where(LoginThrottle.username == username))
    window = timedelta(hours=current_app.config["CAPTCHA_FAILURE_HOURS"])
    return last is not None and last > clock.now() - window


# The answer route: two answer locks within ANSWER_LOCK_WINDOW close it for the name until
# the e-mailed link is used or a sign-in succeeds (which clears the name's whole row).

def count_answer_lock(username):
    """In the claim's transaction, for the attempt that locks the answers: one more answer
    lock in the window; True when this one closes the answer route."""
    now = clock.now()
    fresh = _past(LoginThrottle.answer_locks_since, now - ANSWER_LOCK_WINDOW)
    closed = db.session.execute(
        update(LoginThrottle).where(LoginThrottle.username == username).values(
            answer_locks=case((fresh, 1), else_=LoginThrottle.answer_locks + 1),
            answer_locks_since=case((fresh, now), else_=LoginThrottle.answer_locks_since),
            answers_closed=LoginThrottle.answers_closed | (~fresh & (LoginThrottle.answer_locks + 1 >= 2)),
        ).returning(LoginThrottle.answers_closed)
    ).scalar()
    return bool(closed)


def answers_closed(username):
    return bool(db.session.scalar(select(LoginThrottle.answers_closed).where(LoginThrottle.username == username)))


def reopen_answers(username):
    """Answers may be tried again from zero (a right answer, or the e-mailed link used)."""
    db.session.execute(update(LoginThrottle).where(LoginThrottle.username == username).values(
        answer_failures=0, answer_locked_until=None, last_answer_failure_at=None, answer_locks=0,
        answer_locks_since=None, answers_closed=False))


def purge():
    """Rows whose locks and recent failures are over say nothing any more (a counter starts
    again from zero either way): removed, so that a spray of junk names does not grow the
    table for ever. Returns how many went."""
    now = clock.now()
    window = now - timedelta(hours=current_app.config["CAPTCHA_FAILURE_HOURS"])
    over = (_past(LoginThrottle.locked_until, now) & _past(LoginThrottle.answer_locked_until, now)
            & _past(LoginThrottle.last_failure_at, window) & _past(LoginThrottle.last_answer_failure_at, window)
            & _past(LoginThrottle.answer_locks_since, now - ANSWER_LOCK_WINDOW)
            & LoginThrottle.answers_closed.is_(False))
    purged = db.session.execute(delete(LoginThrottle).where(over)).rowcount
    db.session.commit()
    return purged


def _past(column, moment):
    return column.is_(None) | (column <= moment)
