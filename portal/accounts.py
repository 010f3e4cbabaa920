"""Accounts and the sign-in rules of SPEC section 2 (no HTML, no request)."""
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g
from sqlalchemy import select

from . import audit, clock, lockout, mail, passwords, secret_question, sessions, usernames
from .extensions import db
from .models import User

OK = "ok"
INVALID = "invalid"          # wrong user or wrong password: one answer for both
CAPTCHA = "captcha"          # the CAPTCHA was required and not solved; no password checked
LOCKED = "locked"            # failure lock; no password checked
INACTIVE = "inactive"        # right password, no sign-in for INACTIVITY_DAYS
DISABLED = "disabled"        # right password, account disabled by support


@dataclass(frozen=True)
class SignIn:
    outcome: str
    username: str
    user: User | None = None
    locked_until: datetime | None = None
    previous_login_at: datetime | None = None
    previous_login_ip: str | None = None
    previous_login_device: str | None = None


def find(username):
    return db.session.scalar(select(User).where(User.username == usernames.canonical(username)))


def is_inactive(user, now):
    days = current_app.config["INACTIVITY_DAYS"]
    last = user.last_login_at or user.created_at  # a migrated account keeps its real last sign-in
    if user.reactivated_at:
        last = max(last, user.reactivated_at)
    return now - last > timedelta(days=days)


def counter_key(name):
    """What the failure counters and the events of a sign-in with this canonical name are kept
    under: the name, or, for a name of no known kind that matches no account (a password typed
    into the user field, say), its masked form (audit.masked)."""
    return name if _known_or_shaped(name, _find_canonical(name)) else audit.masked(name)


def _known_or_shaped(name, user):
    return user is not None or usernames.parse(name) is not None


def _find_canonical(name):
    return db.session.scalar(select(User).where(User.username == name))


def needs_captcha(username):
    return lockout.has_recent_failures(counter_key(usernames.canonical(username)))


def authenticate(typed_name, password, client_ip, captcha_shown=False, captcha_solved=lambda: False):
    """Apply every sign-in rule in order; the caller starts the session on OK."""
    name = usernames.canonical(typed_name)
    user = _find_canonical(name)
    key = name if _known_or_shaped(name, user) else audit.masked(name)
    until = lockout.locked_until(key)
    if until:
        return _refuse(LOCKED, name, key, client_ip, locked_until=until)
    if (captcha_shown or lockout.has_recent_failures(key)) and not captcha_solved():
        return _refuse(CAPTCHA, name, key, client_ip)
    # The event is stored with the claim, and so are the lock this attempt sets if it fails
    # and the owner's notice (held until the check says so): an attempt cut short (a worker
    # killed while it hashes) still leaves its trace ("interrupted"), its lock and its notice.
    event = audit.begin("login", key, client_ip)
    claim = lockout.claim_attempt(key)
    notice = _note_lock(key, user, client_ip, claim.locked_until) if claim.locks else None
    db.session.commit()
    g.attempt_counted = True  # said by the 503 page if the database goes away from here on
    if not claim.granted:
        return _refuse(LOCKED, name, key, client_ip, locked_until=claim.locked_until, event=event)

    if user is None:
        matches = passwords.verify_dummy(password)
    else:
        matches = passwords.verify_evenly(password, user.password_hash)
    if not matches:
        return _failed(name, user, claim, event, notice)

    lockout.clear(key)
    if claim.locks:  # the attempt that would have locked the name was the right one
        audit.record("lock", key, "lifted", client_ip)
        if notice is not None:
            db.session.delete(notice)
    refusal = blocked(user)
    if refusal:
        return _refuse(refusal, name, key, client_ip, user=user, event=event)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    result = signed_in(user, client_ip)
    audit.settle(event, OK)
    db.session.commit()
    return result


def signed_in(user, client_ip):
    """Record a sign-in (by password or by completed recovery); the previous one is returned."""
    result = SignIn(OK, user.username, user, previous_login_at=user.last_login_at,
                    previous_login_ip=user.last_login_ip, previous_login_device=user.last_login_device)
    user.last_login_at, user.last_login_ip = clock.now(), client_ip
    return result


def blocked(user):
    """DISABLED or INACTIVE when the account may not sign in even with the right password."""
    if user.disabled:
        return DISABLED
    return INACTIVE if is_inactive(user, clock.now()) else None


def _refuse(outcome, name, key, client_ip, user=None, locked_until=None, event=None):
    if event is None:
        audit.record("login", key, outcome, client_ip)
    else:
        audit.settle(event, outcome)
    db.session.commit()
    return SignIn(outcome, name, user, locked_until=locked_until)


LOCK_NOTICE_HOLD = timedelta(minutes=2)  # longer than any check takes (gunicorn's timeout is 30 s)


def _note_lock(key, user, client_ip, until):
    """The lock event, and the owner's notice held until the attempt is known to have failed."""
    audit.record("lock", key, "locked", client_ip, until=until.isoformat())
    if user is None or not user.email:
        return None
    config = current_app.config
    return mail.queue(
        user.email, "Aviso de seguridad: su usuario fue bloqueado", "lock_notice", "lock_notice",
        user=user, hold=LOCK_NOTICE_HOLD, at=clock.local(clock.now()), until=clock.local(until),
        client_ip=client_ip, minutes=config["LOCKOUT_MINUTES"], base_url=config["PUBLIC_BASE_URL"].rstrip("/"),
    )


def _failed(name, user, claim, event, notice):
    audit.settle(event, INVALID, known=user is not None)
    if notice is not None:
        mail.release(notice)
    db.session.commit()
    if claim.locks:
        return SignIn(LOCKED, name, locked_until=claim.locked_until)
    return SignIn(INVALID, name)


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def valid_email(email):
    return (bool(email) and len(email) <= 254 and EMAIL.match(email) is not None
            and not any(unicodedata.category(c).startswith("C") for c in email))


def create_user(username, password, email, name="", question=None, answer=None, last_login=None,
                password_hash=None, commit=True, legacy=False):
    """A new account (support's CLI); raises ValueError with a message for a bad input.

    password_hash: an existing bcrypt hash from the legacy system, kept as it is (upgraded to
    the portal's scheme at the next successful sign-in) instead of a password.
    legacy: an account of the legacy system, whose secret question is kept as it was written.
    """
    canonical = usernames.canonical(username)
    if not canonical or len(canonical) > usernames.MAX_LENGTH:
        raise ValueError("El usuario está vacío o es demasiado largo.")
    if find(canonical) is not None:
        raise ValueError(f"El usuario {canonical} ya existe.")
    if (question is None) != (answer is None):
        raise ValueError("La pregunta secreta y su respuesta van juntas.")
    if question is not None and not legacy and question not in secret_question.QUESTIONS:
        raise ValueError("La pregunta secreta debe ser una de estas: " + " | ".join(secret_question.QUESTIONS))
    if not valid_email(email):
        raise ValueError(f"El correo {email!r} no es válido.")
    user = User(
        username=canonical, display_name=name or "", email=email,
        password_hash=password_hash or passwords.hash_password(password), created_at=clock.now(),
        secret_question=question, answer_hash=secret_question.answer_hash(answer) if answer else None,
        last_login_at=last_login, session_epoch=0, disabled=False,
    )
    db.session.add(user)
    audit.record("account_created", canonical, OK, "cli")
    if commit:
        db.session.commit()
    return user


def unlock(username, by="cli", **detail):
    """Lift both locks: the failure lock and the inactivity lock. by: where it was done (the
    CLI, or the console's client address); detail: who and why (the console's agent, reason)."""
    name = usernames.canonical(username)
    lockout.clear(name)
    user = find(name)
    if user is not None:
        user.reactivated_at = clock.now()
    audit.record("unlock", name, OK, by, **detail)
    db.session.commit()
    return user


def disable(user, by="cli", **detail):
    """The account cannot sign in, and its sessions end at once."""
    user.disabled = True
    sessions.revoke_all(user)
    audit.record("account_disabled", user.username, OK, by, **detail)
    db.session.commit()


def enable(user, by="cli", **detail):
    user.disabled = False
    audit.record("account_enabled", user.username, OK, by, **detail)
    db.session.commit()
