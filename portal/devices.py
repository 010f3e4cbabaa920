"""The browsers people sign in from: a description in words, and recognising one seen before.

A browser that signs in gets a long-lived device cookie holding a random id, signed under
SECRET_KEY; the accounts remember only a hash of it (KnownDevice). A sign-in from a browser the
account has not used before (no cookie, or one the account does not know) e-mails the owner,
unless it is the account's very first sign-in.
"""
import hashlib
import re
import secrets

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from . import clock
from .extensions import db
from .models import KnownDevice

COOKIE = "efactura_dispositivo"
COOKIE_DAYS = 400
_SALT = "portal.device"

# (pattern, name), the first that matches wins: Edge and Opera say "Chrome" too.
_BROWSERS = ((r"Edg(e|A|iOS)?/", "Edge"), (r"OPR/|Opera", "Opera"), (r"SamsungBrowser/", "Samsung Internet"),
             (r"Firefox/|FxiOS/", "Firefox"), (r"Chrome/|CriOS/", "Chrome"), (r"Safari/", "Safari"))
_SYSTEMS = ((r"Windows", "Windows"), (r"Android", "Android"), (r"iPhone|iPad|iPod", "iOS"),
            (r"Mac OS X|Macintosh", "macOS"), (r"CrOS", "ChromeOS"), (r"Linux", "Linux"))


def describe(user_agent):
    """The browser and the system of a User-Agent, in words ("Chrome en Windows")."""
    text = user_agent or ""
    browser = next((name for pattern, name in _BROWSERS if re.search(pattern, text)), None)
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, text)), None)
    if browser and system:
        return f"{browser} en {system}"
    return browser or system or "Navegador desconocido"


def _serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def read(cookie):
    """The device id a signed cookie holds, or None (no cookie, tampered, another key)."""
    if not cookie:
        return None
    try:
        value = _serializer().loads(cookie)
    except BadSignature:
        return None
    return value if isinstance(value, str) and len(value) == 43 else None


def new_cookie():
    """(device id, cookie value) for a browser that has none."""
    device_id = secrets.token_urlsafe(32)
    return device_id, _serializer().dumps(device_id)


def _hash(device_id):
    return hashlib.sha256(device_id.encode()).hexdigest()


def seen(user, device_id):
    """Record that user signed in from device_id; True when the account had not used it
    before but had used others (a new device worth a notice)."""
    now = clock.now()
    digest = _hash(device_id)
    known = db.session.get(KnownDevice, (user.id, digest))
    if known is not None:
        known.last_seen_at = now
        return False
    first_ever = db.session.scalar(select(KnownDevice.user_id).where(KnownDevice.user_id == user.id).limit(1)) is None
    db.session.add(KnownDevice(user_id=user.id, device_hash=digest, first_seen_at=now, last_seen_at=now))
    return not first_ever
