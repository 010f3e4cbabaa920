"""CAPTCHA challenges: the answer stays on the server; the client holds only an opaque id.

Making a challenge stores nothing. Its id is a random nonce signed with the time it was made
(itsdangerous, under SECRET_KEY), and its answer is derived from the nonce with an HMAC under
the same key: only the server can read one from the other, and a forged or stale id is
refused before anything is looked up. A challenge is valid for one submission and
CAPTCHA_TTL_SECONDS; the database keeps the challenges that were submitted (so a solved one
cannot be replayed) and, once fetched, each challenge's image and audio: both are made on the
first fetch and that same version is served for the rest of the challenge's life (a new
drawing on every fetch would hand a solver several renderings of one answer to compare).
"""
import hashlib
import hmac
import io
import re
import secrets
import unicodedata
from datetime import UTC, timedelta
from functools import lru_cache

from captcha.image import ImageCaptcha
from flask import current_app
from itsdangerous import BadSignature, TimestampSigner
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import captcha_audio, clock
from .extensions import db
from .models import CaptchaChallenge

# No look-alikes (0/O, 1/I/L): people type what they see.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 5
SALT = "portal.captcha"
_image = ImageCaptcha(width=200, height=70)
# nonce.timestamp.signature, each URL-safe base64
_ID = re.compile(r"^[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{1,12}\.[A-Za-z0-9_-]{20,64}$")


class _Signer(TimestampSigner):
    """Signs with the portal's clock (tests move it) instead of time.time()."""

    def get_timestamp(self):
        return int(clock.now().replace(tzinfo=UTC).timestamp())


def _signer():
    return _keys(current_app.config["SECRET_KEY"])[0]


@lru_cache(maxsize=4)
def _keys(secret_key):
    """The id signer and the answer key for a SECRET_KEY, made once rather than per challenge."""
    return _Signer(secret_key, salt=SALT), hashlib.sha256(f"{SALT}:{secret_key}".encode()).digest()


def new_challenge():
    """A new challenge's id (the only thing the client gets). Nothing is stored."""
    return _signer().sign(secrets.token_urlsafe(18)).decode()


def answer(nonce):
    """The answer of the challenge with this nonce, derived under SECRET_KEY."""
    fixed = current_app.config.get("CAPTCHA_TEST_ANSWER")
    if fixed and current_app.config.get("TESTING"):
        return fixed
    key = _keys(current_app.config["SECRET_KEY"])[1]
    number = int.from_bytes(hmac.new(key, nonce.encode(), hashlib.sha256).digest(), "big")
    letters = []
    for _ in range(LENGTH):
        number, index = divmod(number, len(ALPHABET))
        letters.append(ALPHABET[index])
    return "".join(letters)


def solution(challenge_id):
    """The answer of a well-formed, authentic, unexpired challenge id, else None."""
    nonce = _nonce(challenge_id)
    return None if nonce is None else answer(nonce)


def _nonce(challenge_id):
    """The nonce of a well-formed, authentic, unexpired id, else None."""
    if not challenge_id or not _ID.match(challenge_id):
        return None
    try:
        signed = _signer().unsign(challenge_id, max_age=current_app.config["CAPTCHA_TTL_SECONDS"])
    except BadSignature:  # forged, altered or expired (SignatureExpired is a BadSignature)
        return None
    return signed.decode()


def image(challenge_id):
    """PNG bytes of a live challenge (drawn once, then kept), or None."""
    return _kept(challenge_id, CaptchaChallenge.image, _draw)


def audio(challenge_id):
    """WAV bytes of a live challenge (spoken in Spanish once, then kept), or None. Raises
    captcha_audio.Unavailable when espeak-ng cannot speak."""
    return _kept(challenge_id, CaptchaChallenge.audio, captcha_audio.speak)


def _draw(text):
    out = io.BytesIO()
    # The fastest zlib level: the image is noise, a higher level shrinks it little and costs a lot.
    _image.generate_image(text).save(out, format="png", compress_level=1)
    return out.getvalue()


def _kept(challenge_id, column, make):
    """The bytes a live challenge keeps in column (image or audio), made from its answer by the
    first fetch and served to every later one; None for an id that is not live or is spent.
    Concurrent first fetches each make a version, only the first one stored is kept, and each
    of them serves what was kept: a second look at a challenge shows nothing new."""
    nonce = _nonce(challenge_id)
    if nonce is None:
        return None
    kept = _read(nonce, column)
    if kept is None or (kept.used_at is None and kept.value is None):
        made = make(answer(nonce))
        _purge()
        if kept is not None or not _insert(id=nonce, created_at=clock.now(), **{column.key: made}):
            # The row is there (a submission, the other medium, or a concurrent fetch): fill
            # the column only while it is empty.
            db.session.execute(update(CaptchaChallenge)
                               .where(CaptchaChallenge.id == nonce, column.is_(None))
                               .values({column.key: made}))
        db.session.commit()
        kept = _read(nonce, column)
    return None if kept is None or kept.used_at is not None else kept.value


def _read(nonce, column):
    """(used_at, value) of the challenge's row, or None when it has none."""
    return db.session.execute(select(CaptchaChallenge.used_at, column.label("value"))
                              .where(CaptchaChallenge.id == nonce)).first()


def _normalise(text):
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(text.split()).upper()


def check(challenge_id, typed):
    """True when typed solves the challenge; the challenge is spent either way."""
    nonce = _nonce(challenge_id)
    if nonce is None:
        return False
    now = clock.now()
    _purge()
    # Spent exactly once, however many submissions race for it: the row it may have (made
    # by an image or audio fetch) is claimed with a conditional UPDATE, otherwise it is
    # inserted as used, and only one insert of a primary key can succeed.
    spent = db.session.execute(
        update(CaptchaChallenge)
        .where(CaptchaChallenge.id == nonce, CaptchaChallenge.used_at.is_(None))
        .values(used_at=now)
    ).rowcount == 1
    if not spent:
        spent = _insert(id=nonce, created_at=now, used_at=now)
    db.session.commit()
    # compare_digest refuses str with non-ASCII letters (a typed ñ or é): compare the bytes.
    return spent and hmac.compare_digest(_normalise(typed).encode(), answer(nonce).encode())


def _insert(**values):
    """Insert a challenge row; False when one with its id is there already."""
    try:
        with db.session.begin_nested():
            db.session.execute(insert(CaptchaChallenge).values(**values))
    except IntegrityError:
        return False
    return True


def _purge():
    """Rows of challenges whose ids have expired are of no more use: a stale id is refused."""
    ttl = timedelta(seconds=current_app.config["CAPTCHA_TTL_SECONDS"])
    db.session.execute(delete(CaptchaChallenge).where(CaptchaChallenge.created_at < clock.now() - ttl * 2))
