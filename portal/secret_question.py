"""The secret question (SPEC section 3): the questions on offer, how answers are compared and
stored, the answer check with its limit, and the decoy question an unknown name gets.

Nothing here tells whether a user name exists: an unknown name gets a decoy question that is
stable for the name (across SECRET_KEY rotations too) and that no answer unlocks, at the cost of
the same hash check.
"""
import hashlib
import hmac
import math
import time
import unicodedata
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from . import audit, clock, lockout, mail, passwords, stable_keys
from .extensions import db
from .models import User

# The secret questions a new account chooses from. Accounts imported from the legacy system keep
# the question they wrote (SPEC: the manual shows "1+1"); decoys come from this list and from
# legacy questions many accounts share (see _decoy_pool).
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

RIGHT, WRONG, LIMITED, CAPTCHA = "right", "wrong", "limited", "captcha"
LOCK_NOTICE_HOLD = timedelta(minutes=2)  # longer than any answer check takes


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
    """A question for a name that has none of its own, stable for the name: drawn from the
    pool by weighted rendezvous hashing, keyed by a key that never rotates (stable_keys), so
    that neither a SECRET_KEY rotation nor a change of the pool's weights moves more than a
    few names, and each question comes up as often as accounts use it."""
    key = stable_keys.get("decoy-questions")

    def score(entry):
        question, weight = entry
        digest = hmac.new(key, name.encode("utf-8", "surrogatepass") + b"\0" + question.encode(), hashlib.sha256)
        uniform = (int.from_bytes(digest.digest()[:8], "big") + 1) / (2 ** 64 + 1)  # in (0, 1)
        return -math.log(uniform) / weight

    return min(_decoy_pool(), key=score)[0]


def _decoy_pool():
    """(question, weight) of every question a decoy may show: the portal's list, and the
    questions kept from the legacy system that at least DECOY_MIN_ACCOUNTS accounts share
    (never one account's own text); weighted by the accounts that use each (the list's by one
    more, so that a question nobody chose yet still comes up). Counted again every
    DECOY_POOL_SECONDS, for every name alike."""
    config = current_app.config
    kept = current_app.extensions.get("portal.decoy_pool")
    now = time.monotonic()
    if kept is not None and kept[0] > now:
        return kept[1]
    counts = dict(db.session.execute(
        select(User.secret_question, func.count())
        .where(User.secret_question.is_not(None), User.answer_hash.is_not(None))
        .group_by(User.secret_question)).all())
    pool = [(question, counts.get(question, 0) + 1) for question in QUESTIONS]
    pool += sorted((question, count) for question, count in counts.items()
                   if question not in QUESTIONS and count >= config["DECOY_MIN_ACCOUNTS"])
    current_app.extensions["portal.decoy_pool"] = (now + config["DECOY_POOL_SECONDS"], pool)
    return pool


def question_for(name):
    """The user's own question, or for anyone else a decoy that is stable for the name."""
    user = _user(name)
    if user is not None and user.secret_question and user.answer_hash:
        return user.secret_question
    return _decoy(name)


def needs_captcha(name):
    """Like the sign-in: the CAPTCHA is required while the name has recent wrong answers."""
    return lockout.has_recent_failures(name, lockout.ANSWER)


def answers_locked(name):
    """No answer is checked now: too many wrong ones lately, or the route closed for the name."""
    return lockout.locked_until(name, lockout.ANSWER) is not None or lockout.answers_closed(name)


def check_answer(name, answer, client_ip, captcha_shown=False, captcha_solved=lambda: False):
    """(RIGHT, user), or (WRONG | LIMITED | CAPTCHA, None). LIMITED: too many wrong answers,
    or two answer locks within a day (the route then stays closed until the e-mailed link or a
    sign-in is used): only the e-mailed link is left. CAPTCHA: it was required and not solved;
    no answer was checked."""
    if answers_locked(name):
        return _refuse(name, LIMITED, client_ip)
    if (captcha_shown or needs_captcha(name)) and not captcha_solved():
        return _refuse(name, CAPTCHA, client_ip)
    user = _user(name)
    # As at the sign-in, the event, the lock this attempt sets if it fails and the owner's
    # notice are stored with the claim, the notice held until the check says so.
    event = audit.begin("secret_answer", name, client_ip)
    claim = lockout.claim_attempt(name, lockout.ANSWER)
    notice = _note_lock(name, user, client_ip) if claim.locks else None
    db.session.commit()
    if not claim.granted:
        audit.settle(event, LIMITED)
        db.session.commit()
        return LIMITED, None
    normalised = normalise_answer(answer or "")
    if user is not None and user.answer_hash:
        right = passwords.verify_evenly(normalised, user.answer_hash)
    else:
        right = passwords.verify_dummy(normalised)
    outcome = RIGHT if right else LIMITED if claim.locks else WRONG
    if right:
        lockout.reopen_answers(name)
        if claim.locks:
            audit.record("answers_locked", name, "lifted", client_ip)
    if notice is not None:
        db.session.delete(notice) if right else mail.release(notice)
    audit.settle(event, outcome)
    db.session.commit()
    return outcome, user if right else None


def _refuse(name, outcome, client_ip):
    audit.record("secret_answer", name, outcome, client_ip)
    db.session.commit()
    return outcome, None


def _note_lock(name, user, client_ip):
    """The answers' lock (and, the second within a day, the route closed), and the owner told."""
    closed = lockout.count_answer_lock(name)
    audit.record("answers_locked", name, "closed" if closed else "locked", client_ip)
    if user is None or not user.email:
        return None
    return mail.queue(user.email, "Aviso de seguridad: respuestas a su pregunta secreta bloqueadas", "answers_locked",
                      "answers_locked", user=user, hold=LOCK_NOTICE_HOLD, closed=closed, at=clock.local(clock.now()),
                      client_ip=client_ip, minutes=current_app.config["ANSWER_LOCK_MINUTES"],
                      base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
