"""CAPTCHA challenges: the answer stays on the server; the client holds only an opaque id.

A challenge is valid for one submission and CAPTCHA_TTL_SECONDS. The audio version costs
about half a second of CPU, so it is made once per challenge and kept with it.
"""
import io
import re
import secrets
import unicodedata
from datetime import timedelta

from captcha.audio import AudioCaptcha
from captcha.image import ImageCaptcha
from flask import current_app
from sqlalchemy import delete, update

from . import clock
from .extensions import db
from .models import CaptchaChallenge

# No look-alikes (0/O, 1/I/L): people type what they see.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 5
_image = ImageCaptcha(width=200, height=70)
_audio = AudioCaptcha()


def _answer():
    fixed = current_app.config.get("CAPTCHA_TEST_ANSWER")
    if fixed and current_app.config.get("TESTING"):
        return fixed
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def new_challenge():
    """Create a challenge and return its id (the only thing the client gets)."""
    now = clock.now()
    ttl = timedelta(seconds=current_app.config["CAPTCHA_TTL_SECONDS"])
    db.session.execute(delete(CaptchaChallenge).where(CaptchaChallenge.created_at < now - ttl * 4))
    challenge = CaptchaChallenge(id=secrets.token_urlsafe(24), answer=_answer(), created_at=now)
    db.session.add(challenge)
    db.session.commit()
    return challenge.id


_ID = re.compile(r"^[A-Za-z0-9_-]{1,43}$")


def _live(challenge_id):
    if not challenge_id or not _ID.match(challenge_id):
        return None
    challenge = db.session.get(CaptchaChallenge, challenge_id)
    ttl = timedelta(seconds=current_app.config["CAPTCHA_TTL_SECONDS"])
    if challenge is None or challenge.used_at is not None or challenge.created_at < clock.now() - ttl:
        return None
    return challenge


def image(challenge_id):
    """PNG bytes of a live challenge, or None."""
    challenge = _live(challenge_id)
    if challenge is None:
        return None
    out = io.BytesIO()
    # The fastest zlib level: the image is noise, a higher level shrinks it little and costs a lot.
    _image.generate_image(challenge.answer).save(out, format="png", compress_level=1)
    return out.getvalue()


def audio(challenge_id):
    """WAV bytes of a live challenge (made once, then kept), or None."""
    challenge = _live(challenge_id)
    if challenge is None:
        return None
    if challenge.audio is None:
        challenge.audio = bytes(_audio.generate(challenge.answer))
        db.session.commit()
    return challenge.audio


def _normalise(text):
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(text.split()).upper()


def check(challenge_id, typed):
    """True when typed solves the challenge; the challenge is spent either way."""
    challenge = _live(challenge_id)
    if challenge is None:
        return False
    spent = db.session.execute(
        update(CaptchaChallenge)
        .where(CaptchaChallenge.id == challenge_id, CaptchaChallenge.used_at.is_(None))
        .values(used_at=clock.now())
    ).rowcount == 1
    db.session.commit()
    return spent and secrets.compare_digest(_normalise(typed), challenge.answer)
