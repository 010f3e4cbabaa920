"""The secret question (SPEC section 3): the questions on offer, how answers are compared and
stored, the answer check with its limit, and the decoy question an unknown name gets.

Nothing here tells whether a user name exists: an unknown name gets a decoy question that is
stable for the name and that no answer unlocks, at the cost of the same hash check.
"""
import hashlib
import hmac
import unicodedata

from flask import current_app
from sqlalchemy import select

from . import audit, lockout, passwords
from .extensions import db
from .models import User

# The secret questions a user may choose. Only these exist, so that the decoy questions shown
# for unknown user names (drawn from the same list) cannot be told from real ones.
QUESTIONS = (
    "¿Cuál es el nombre de su primera mascota?",
    "¿En qué ciudad nació su madre?",
    "¿Cuál fue su primer empleo?",
    "¿Cómo se llamaba su escuela primaria?",
    "¿Cuál es el segundo nombre de su padre?",
    "¿Cuál es su platillo favorito?",
    "¿Cuál era el apodo de su infancia?",
)
MIN_ANSWER = 3     # letters or digits, once normalised
MAX_ANSWER = 200   # characters, as typed

RIGHT, WRONG, LIMITED = "right", "wrong", "limited"


def normalise_answer(answer):
    """Answers compare case-, accent- and space-insensitively."""
    decomposed = unicodedata.normalize("NFKD", answer.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c) and not c.isspace())


def answer_hash(answer):
    """Answers are stored like passwords (a slow hash), after normalisation."""
    return passwords.hash_password(normalise_answer(answer))


def _user(name):
    return db.session.scalar(select(User).where(User.username == name))


def _decoy(name):
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"decoy-question:" + name.encode(), hashlib.sha256).digest()
    return QUESTIONS[digest[0] % len(QUESTIONS)]


def question_for(name):
    """The user's own question, or for anyone else a decoy that is stable for the name."""
    user = _user(name)
    if user is not None and user.secret_question and user.answer_hash:
        return user.secret_question
    return _decoy(name)


def check_answer(name, answer, client_ip):
    """(RIGHT, user), (WRONG, None), or (LIMITED, None) once too many wrong answers were
    given: then only the e-mailed link is left for a while."""
    event = audit.begin("secret_answer", name, client_ip)  # stored with the claim
    claim = lockout.claim_attempt(name, lockout.ANSWER)
    if not claim.granted:
        audit.settle(event, LIMITED)
        db.session.commit()
        return LIMITED, None
    user = _user(name)
    normalised = normalise_answer(answer or "")
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
