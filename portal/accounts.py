"""Accounts and the sign-in rules of SPEC section 2 (no HTML, no request)."""
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from . import audit, clock, lockout, mail, passwords, secret_question, usernames
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


def find(username):
    return db.session.scalar(select(User).where(User.username == usernames.canonical(username)))


def is_inactive(user, now):
    days = current_app.config["INACTIVITY_DAYS"]
    last = user.last_login_at or user.created_at  # a migrated account keeps its real last sign-in
    if user.reactivated_at:
        last = max(last, user.reactivated_at)
    return now - last > timedelta(days=days)


def needs_captcha(username):
    return lockout.has_recent_failures(usernames.canonical(username))


def authenticate(typed_name, password, client_ip, captcha_shown=False, captcha_solved=lambda: False):
    """Apply every sign-in rule in order; the caller starts the session on OK."""
    name = usernames.canonical(typed_name)
    until = lockout.locked_until(name)
    if until:
        return _refuse(LOCKED, name, client_ip, locked_until=until)
    if (captcha_shown or lockout.has_recent_failures(name)) and not captcha_solved():
        return _refuse(CAPTCHA, name, client_ip)
    # The event is stored with the claim, so an attempt cut short (a worker killed while it
    # hashes) still leaves its trace, as "interrupted".
    event = audit.begin("login", name, client_ip)
    claim = lockout.claim_attempt(name)
    if not claim.granted:
        return _refuse(LOCKED, name, client_ip, locked_until=claim.locked_until, event=event)

    user = db.session.scalar(select(User).where(User.username == name))
    if user is None:
        matches = passwords.verify_dummy(password)
    else:
        matches = passwords.verify_evenly(password, user.password_hash)
    if not matches:
        return _failed(name, user, client_ip, claim, event)

    lockout.clear(name)
    refusal = blocked(user)
    if refusal:
        return _refuse(refusal, name, client_ip, user=user, event=event)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    result = signed_in(user, client_ip)
    audit.settle(event, OK)
    db.session.commit()
    return result


def signed_in(user, client_ip):
    """Record a sign-in (by password or by completed recovery); the previous one is returned."""
    result = SignIn(OK, user.username, user, previous_login_at=user.last_login_at,
                    previous_login_ip=user.last_login_ip)
    user.last_login_at, user.last_login_ip = clock.now(), client_ip
    return result


def blocked(user):
    """DISABLED or INACTIVE when the account may not sign in even with the right password."""
    if user.disabled:
        return DISABLED
    return INACTIVE if is_inactive(user, clock.now()) else None


def _refuse(outcome, name, client_ip, user=None, locked_until=None, event=None):
    if event is None:
        audit.record("login", name, outcome, client_ip)
    else:
        audit.settle(event, outcome)
    db.session.commit()
    return SignIn(outcome, name, user, locked_until=locked_until)


def _failed(name, user, client_ip, claim, event):
    audit.settle(event, INVALID, known=user is not None)
    if not claim.locks:
        db.session.commit()
        return SignIn(INVALID, name)
    audit.record("lock", name, "locked", client_ip, until=claim.locked_until.isoformat())
    if user is not None and user.email:
        mail.queue(
            user.email, "Aviso de seguridad: su usuario fue bloqueado", "lock_notice",
            user=user, at=clock.local(clock.now()), until=clock.local(claim.locked_until),
            client_ip=client_ip, minutes=current_app.config["LOCKOUT_MINUTES"],
            base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/"),
        )
    db.session.commit()
    return SignIn(LOCKED, name, locked_until=claim.locked_until)


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def valid_email(email):
    return (bool(email) and len(email) <= 254 and EMAIL.match(email) is not None
            and not any(unicodedata.category(c).startswith("C") for c in email))


def create_user(username, password, email, name="", question=None, answer=None, last_login=None,
                password_hash=None, commit=True):
    """A new account (support's CLI); raises ValueError with a message for a bad input.

    password_hash: an existing bcrypt hash from the legacy system, kept as it is (upgraded to
    the portal's scheme at the next successful sign-in) instead of a password.
    """
    canonical = usernames.canonical(username)
    if not canonical or len(canonical) > usernames.MAX_LENGTH:
        raise ValueError("El usuario está vacío o es demasiado largo.")
    if find(canonical) is not None:
        raise ValueError(f"El usuario {canonical} ya existe.")
    if (question is None) != (answer is None):
        raise ValueError("La pregunta secreta y su respuesta van juntas.")
    if question is not None and question not in secret_question.QUESTIONS:
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


def unlock(username, by="cli"):
    """Lift both locks: the failure lock and the inactivity lock."""
    name = usernames.canonical(username)
    lockout.clear(name)
    user = find(name)
    if user is not None:
        user.reactivated_at = clock.now()
    audit.record("unlock", name, OK, by)
    db.session.commit()
    return user
