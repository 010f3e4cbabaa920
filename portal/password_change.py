"""Choosing a new password (SPEC section 3): who may, and what saving it does.

The change-password step is open to a recovery proof (a right secret answer or an opened coded
link, kept in the session for RECOVERY_PROOF_MINUTES and tied to the password it was made
for) and to a signed-in account in its first sign-in set-up. What the new values must be is
checked by ChangePasswordForm (portal/forms.py).
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from . import audit, clock, coded_link, lockout, mail, passwords, secret_question, sessions
from .extensions import db
from .models import User
from .oidc import tokens as oidc_tokens

PROOF = "recovery_proof"  # the session key the proof is kept under


@dataclass
class Change:
    new_password: str
    email: str
    question: str | None = None   # set when the question/answer change (or in set-up)
    answer: str | None = None


def make_proof(user, via):
    """What the session keeps after a right answer ("answer") or an opened link ("link")."""
    return {"uid": user.id, "via": via, "at": clock.now().isoformat(), "marker": passwords.marker(user.password_hash)}


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
    if user is None or passwords.marker(user.password_hash) != proof.get("marker"):
        return None
    return user


def save(user, change, client_ip, via):
    """Store the new password and everything that follows from it: every outstanding link
    void, failures and locks cleared, every session signed out, the old and the new address
    told."""
    now = clock.now()
    user.password_hash = passwords.hash_password(change.new_password)
    if change.question is not None:
        user.secret_question = change.question.strip()
        user.answer_hash = secret_question.answer_hash(change.answer)
    previous_email, user.email = user.email, change.email.strip()
    coded_link.void_all(user, now)
    lockout.clear(user.username)
    sessions.revoke_all(user)
    oidc_tokens.revoke_user(user)  # the applications' tokens too
    # The address on record hears of it too: whoever changed the password may have changed it.
    for address in dict.fromkeys(a for a in (previous_email, user.email) if a):
        mail.queue(address, "Su contraseña de {marca} cambió", "password_changed", "password_changed", user=user,
                   at=clock.local(now), client_ip=client_ip, previous_email=previous_email)
    audit.record("password_changed", user.username, "ok", client_ip, via=via)
    db.session.commit()
