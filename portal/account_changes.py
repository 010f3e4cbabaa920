"""What a signed-in person changes on the account page (SPEC section 7): the password, the
secret question and its answer, the e-mail address (confirmed through a link sent to the new
address), the open sessions. No HTML, no request.

Every change needs a recent sign-in: within RECENT_SIGN_IN_MINUTES of the sign-in, or of the
password typed again on the page (`confirm_password`, counted and locked like a sign-in). Every
change is audited, and the owner's address hears of it.
"""
import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from . import audit, clock, coded_link, lockout, mail, passwords, secret_question, sessions
from .extensions import db
from .models import EmailChange, User
from .oidc import tokens as oidc_tokens

OK, INVALID, LOCKED = "ok", "invalid", "locked"
EMAIL_LINK_HOURS = 24


def is_recent(*moments):
    """Whether the latest of these ISO moments (the sign-in, the last confirmation) is recent."""
    latest = None
    for moment in moments:
        try:
            parsed = datetime.fromisoformat(moment) if moment else None
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None and (latest is None or parsed > latest):
            latest = parsed
    window = timedelta(minutes=current_app.config["RECENT_SIGN_IN_MINUTES"])
    return latest is not None and clock.now() - latest <= window


def confirm_password(user, password, client_ip):
    """OK, INVALID or LOCKED: the password typed again, counted against the sign-in lock of
    the account (a stolen session gets no more guesses than the sign-in page gives)."""
    name = user.username
    if lockout.locked_until(name):
        audit.record("reauth", name, LOCKED, client_ip)
        db.session.commit()
        return LOCKED
    event = audit.begin("reauth", name, client_ip)
    claim = lockout.claim_attempt(name)
    db.session.commit()
    if not claim.granted:
        audit.settle(event, LOCKED)
        db.session.commit()
        return LOCKED
    if passwords.verify_evenly(password or "", user.password_hash):
        lockout.clear(name)
        outcome = OK
    else:
        outcome = LOCKED if claim.locks else INVALID
        if claim.locks:
            audit.record("lock", name, "locked", client_ip, until=claim.locked_until.isoformat())
    audit.settle(event, outcome)
    db.session.commit()
    return outcome


SUBJECTS = {
    "question": "Aviso de seguridad: cambió la pregunta secreta de su cuenta de {marca}",
    "email_requested": "Aviso de seguridad: se pidió cambiar el correo de su cuenta de {marca}",
    "email_changed": "Aviso de seguridad: cambió el correo de su cuenta de {marca}",
    "email_registered": "Aviso de seguridad: este es ahora el correo de su cuenta de {marca}",
    "question_cleared": "Aviso de seguridad: soporte borró la pregunta secreta de su cuenta de {marca}",
}


def notice(user, what, client_ip, address=None, **context):
    """The account's address (or another) told of a change (mail/account_changed)."""
    mail.queue(address or user.email, SUBJECTS[what], "account_changed", "account_changed", user=user, what=what,
               at=clock.local(clock.now()), client_ip=client_ip,
               base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/"), **context)


def change_password(user, new_password, client_ip, current_sid):
    """The new password: every outstanding coded link void, every other session closed, the
    failure counters cleared, the owner told. This session goes on."""
    user.password_hash = passwords.hash_password(new_password)
    coded_link.void_all(user, clock.now())
    closed = sessions.close_others(user, current_sid)
    oidc_tokens.revoke_user(user)  # the applications' tokens too
    lockout.clear(user.username)
    if user.email:
        mail.queue(user.email, "Su contraseña de {marca} cambió", "password_changed", "password_changed",
                   user=user, at=clock.local(clock.now()), client_ip=client_ip, previous_email=user.email)
    audit.record("password_changed", user.username, OK, client_ip, via="account", sessions_closed=closed)
    db.session.commit()


def change_question(user, question, answer, client_ip):
    user.secret_question = question.strip()
    user.answer_hash = secret_question.answer_hash(answer)
    lockout.reopen_answers(user.username)
    if user.email:
        notice(user, "question", client_ip)
    audit.record("question_changed", user.username, OK, client_ip)
    db.session.commit()


def _code_hash(code):
    return hashlib.sha256(code.encode()).hexdigest()


def request_email_change(user, new_email, client_ip):
    """A confirmation link to the new address (older requests void); the old address is told
    that a change was asked for. Nothing changes until the link is used."""
    now = clock.now()
    db.session.execute(update(EmailChange).where(
        EmailChange.user_id == user.id, EmailChange.used_at.is_(None), EmailChange.voided_at.is_(None)
    ).values(voided_at=now))
    code = secrets.token_urlsafe(32)
    db.session.add(EmailChange(user_id=user.id, code_hash=_code_hash(code), new_email=new_email, created_at=now,
                               expires_at=now + timedelta(hours=EMAIL_LINK_HOURS)))
    base_url = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    mail.queue(new_email, "Confirme su nuevo correo de {marca}", "email_confirm", "email_confirm", user=user,
               link=f"{base_url}/cuenta/correo/confirmar?codigo={code}", hours=EMAIL_LINK_HOURS,
               at=clock.local(now), client_ip=client_ip, new_email=new_email)
    if user.email:
        notice(user, "email_requested", client_ip, new_email=new_email)
    audit.record("email_change_requested", user.username, OK, client_ip)
    db.session.commit()


def pending_email_change(code):
    """(change, user) for a code that can still be used, else (None, None). Reads only."""
    change = db.session.scalar(select(EmailChange).where(EmailChange.code_hash == _code_hash(code or "")))
    if change is None or change.used_at or change.voided_at or change.expires_at <= clock.now():
        return None, None
    return change, db.session.get(User, change.user_id)


def waiting_email_change(change_id):
    """(change, user) for an opened link's change that can still be confirmed, else (None, None)."""
    change = db.session.get(EmailChange, change_id) if isinstance(change_id, int) else None
    if change is None or change.used_at or change.voided_at or change.expires_at <= clock.now():
        return None, None
    return change, db.session.get(User, change.user_id)


def confirm_email_change(change_id, client_ip):
    """Spend the confirmation and change the address; the old one is told. The user, or None
    when it can no longer be used."""
    now = clock.now()
    change = db.session.get(EmailChange, change_id) if isinstance(change_id, int) else None
    if change is None or change.voided_at or change.expires_at <= now:
        return None
    spent = db.session.execute(update(EmailChange).where(
        EmailChange.id == change.id, EmailChange.used_at.is_(None)).values(used_at=now)).rowcount == 1
    if not spent:
        return None
    user = db.session.get(User, change.user_id)
    previous = user.email
    user.email = change.new_email
    if previous and previous != user.email:
        notice(user, "email_changed", client_ip, address=previous, new_email=user.email)
    audit.record("email_changed", user.username, OK, client_ip)
    db.session.commit()
    return user


def close_session(user, sid, client_ip):
    closed = sessions.close(user, sid)
    audit.record("session_closed", user.username, OK if closed else "not_found", client_ip)
    db.session.commit()
    return closed


def close_other_sessions(user, current_sid, client_ip):
    closed = sessions.close_others(user, current_sid)
    audit.record("sessions_closed", user.username, OK, client_ip, count=closed)
    db.session.commit()
    return closed
