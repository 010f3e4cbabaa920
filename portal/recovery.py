"""Self-service recovery (SPEC section 3): the user name's shape, the secret question, the
e-mailed coded link, and saving a new password. No HTML, no request.

Nothing here tells whether a user name exists: an unknown name gets a decoy question that no
answer unlocks, the same reminder answer, and the same work (a hash check, one commit).
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from . import accounts, audit, clock, lockout, mail, passwords, policy, sessions, usernames
from .extensions import db
from .models import AuthEvent, CodedLink, User

QUESTIONS = accounts.SECRET_QUESTIONS


# The user name's shape (recovery form)

@dataclass(frozen=True)
class Shape:
    canonical: str | None = None   # set when the name is of one of the four kinds, as typed
    problem: str | None = None     # what is wrong, for the user
    suggestion: str | None = None  # the canonical form of a near miss


def check_shape(typed):
    typed = (typed or "").strip()
    if not typed:
        return Shape(problem="Escriba su usuario.")
    parsed = usernames.parse(typed)
    if parsed is not None:
        if parsed.canonical == typed:
            return Shape(canonical=typed)
        return Shape(suggestion=parsed.canonical, problem=(
            f"Escriba su usuario así: {parsed.canonical} (prefijo como se indica, RFC en mayúsculas, "
            "sin guiones ni espacios)."))
    return Shape(problem=_why_not_an_rfc(typed))


def _why_not_an_rfc(typed):
    prefix, rest = usernames.split_prefix(typed)
    rfc = re.sub(r"[\s\-]+", "", rest).upper()
    if len(rfc) not in (12, 13):
        return (f"El RFC tiene 12 caracteres (empresas) o 13 (personas físicas); "
                f"el que escribió tiene {len(rfc)}.")
    letters = len(rfc) - 9
    if not re.fullmatch(r"[A-ZÑ&]+", rfc[:letters]) or not rfc[letters:letters + 6].isdigit():
        return ("El RFC empieza con 3 letras (empresas) o 4 (personas físicas), sigue con la fecha "
                "en 6 dígitos (AAMMDD) y termina con la homoclave de 3 caracteres.")
    if not re.fullmatch(r"[A-Z0-9]{3}", rfc[-3:]):
        return "La homoclave (los 3 últimos caracteres del RFC) solo lleva letras y números."
    return f"La fecha del RFC ({rfc[letters:letters + 6]}, AAMMDD) no es una fecha válida."


# The secret question

def _decoy(name):
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"decoy-question:" + name.encode(), hashlib.sha256).digest()
    return QUESTIONS[digest[0] % len(QUESTIONS)]


def question_for(name):
    """The user's own question, or for anyone else a decoy that is stable for the name."""
    user = accounts.find(name)
    if user is not None and user.secret_question and user.answer_hash:
        return user.secret_question
    return _decoy(name)


RIGHT, WRONG, LIMITED = "right", "wrong", "limited"


def check_answer(name, answer, client_ip):
    """RIGHT, WRONG, or LIMITED (too many wrong answers: only the e-mail route is left)."""
    event = audit.begin("secret_answer", name, client_ip)  # stored with the claim
    claim = lockout.claim_attempt(name, lockout.ANSWER)
    if not claim.granted:
        audit.settle(event, LIMITED)
        db.session.commit()
        return LIMITED, None
    user = accounts.find(name)
    normalised = accounts.normalise_answer(answer or "")
    if user is not None and user.answer_hash:
        right = passwords.verify_evenly(normalised, user.answer_hash)
    else:
        right = passwords.verify_dummy(normalised)
    if right:
        lockout.clear(name, lockout.ANSWER)
    outcome = RIGHT if right else LIMITED if claim.locks else WRONG
    audit.settle(event, outcome)
    db.session.commit()
    return outcome, user if right else None


def answers_locked(name):
    return lockout.locked_until(name, lockout.ANSWER) is not None


# The coded link

def password_marker(user):
    """Changes whenever the password does: ties links and proofs to one password."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


def _code_hash(code):
    return hashlib.sha256(code.encode()).hexdigest()


REQUESTED = "requested"


def request_reminder(name, client_ip):
    """In the request: one stored event, the same for every name. The event is the durable
    to-do: the link and its e-mail are made after the response (process_reminders), so neither
    the answer nor its time tells whether the account exists, and a request is never lost."""
    audit.record("reminder", name, REQUESTED, client_ip)
    db.session.commit()


def process_reminders(limit=100):
    """Carry out the requested reminders (after the response, and from `outbox send`)."""
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
    link = issue_link(user)
    mail.queue(user.email, "Aviso de cambio de contraseña de e-Factura", "reminder",
               user=user, link=link, hours=config["RESET_LINK_HOURS"], at=clock.local(now), client_ip=client_ip)
    return "sent"


mail.PRODUCERS.append(process_reminders)


def issue_link(user):
    """A new coded link for user (older ones void); the address holds the only copy of the code."""
    config = current_app.config
    now = clock.now()
    _void_links(user, now)
    code = secrets.token_urlsafe(32)
    db.session.add(CodedLink(user_id=user.id, code_hash=_code_hash(code), password_marker=password_marker(user),
                             created_at=now, expires_at=now + timedelta(hours=config["RESET_LINK_HOURS"])))
    return f"{config['PUBLIC_BASE_URL'].rstrip('/')}/request/codedAccess?code={code}"


def _void_links(user, now):
    db.session.execute(update(CodedLink).where(
        CodedLink.user_id == user.id, CodedLink.used_at.is_(None), CodedLink.voided_at.is_(None)
    ).values(voided_at=now))


USED, EXPIRED, VOID, UNKNOWN = "used", "expired", "void", "unknown"


def open_link(code, client_ip):
    """(user, None) for a good link, now spent; (None, reason) otherwise."""
    now = clock.now()
    link = db.session.scalar(select(CodedLink).where(CodedLink.code_hash == _code_hash(code or "")))
    reason = None
    if link is None:
        reason = UNKNOWN
    elif link.used_at is not None:
        reason = USED
    elif link.voided_at is not None:
        reason = VOID
    elif link.expires_at <= now:
        reason = EXPIRED
    user = db.session.get(User, link.user_id) if link else None
    if reason is None and password_marker(user) != link.password_marker:
        reason = VOID
    if reason is None:
        spent = db.session.execute(update(CodedLink).where(CodedLink.id == link.id, CodedLink.used_at.is_(None))
                                   .values(used_at=now)).rowcount == 1
        reason = None if spent else USED
    name = user.username if user else "-"
    audit.record("link_opened", name, reason or "ok", client_ip)
    db.session.commit()
    return (user, None) if reason is None else (None, reason)


# Proof of recovery, kept in the session between the steps

def make_proof(user, via):
    return {"uid": user.id, "via": via, "at": clock.now().isoformat(), "marker": password_marker(user)}


def proven_user(proof):
    """The user a session proof stands for, while it is fresh and the password unchanged."""
    if not isinstance(proof, dict):
        return None
    try:
        at = datetime.fromisoformat(proof["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if clock.now() - at > timedelta(minutes=current_app.config["RECOVERY_PROOF_MINUTES"]):
        return None
    user = db.session.get(User, proof.get("uid"))
    if user is None or password_marker(user) != proof.get("marker"):
        return None
    return user


# Saving

@dataclass
class Change:
    new_password: str
    confirm_password: str
    email: str
    question: str | None = None   # set when the question/answer change (or in set-up)
    answer: str | None = None


def problems(user, change, setup):
    """Messages for what is wrong with the change, in the order of the form."""
    found = []
    if not policy.acceptable(change.new_password, user.username, change.confirm_password):
        found.append("La nueva contraseña no cumple todos los requisitos de la lista.")
    elif passwords.verify(change.new_password, user.password_hash):
        found.append("La nueva contraseña debe ser distinta de la actual.")
    if change.question is not None or setup:
        if not (change.question or "").strip():
            found.append("Elija una pregunta secreta.")
        elif change.question.strip() not in QUESTIONS:
            found.append("Elija una de las preguntas secretas de la lista.")
        if len(accounts.normalise_answer(change.answer or "")) < 3:
            found.append("La respuesta secreta debe tener al menos 3 letras o números.")
        elif len(change.answer) > 200:
            found.append("La respuesta secreta puede tener hasta 200 caracteres.")
    if not accounts.valid_email(change.email):
        found.append("Escriba un correo electrónico válido, por ejemplo nombre@empresa.com.mx.")
    return found


def save(user, change, client_ip, via):
    """Store the new password and everything that follows from it (SPEC section 3)."""
    now = clock.now()
    user.password_hash = passwords.hash_password(change.new_password)
    if change.question is not None:
        user.secret_question = change.question.strip()
        user.answer_hash = accounts.answers_hash(change.answer)
    previous_email, user.email = user.email, change.email.strip()
    _void_links(user, now)
    lockout.clear(user.username)
    sessions.revoke_all(user)
    # The address on record hears of it too: whoever changed the password may have changed it.
    for address in dict.fromkeys(a for a in (previous_email, user.email) if a):
        mail.queue(address, "Su contraseña de e-Factura cambió", "password_changed", user=user,
                   at=clock.local(now), client_ip=client_ip, previous_email=previous_email)
    audit.record("password_changed", user.username, "ok", client_ip, via=via)
    db.session.commit()
