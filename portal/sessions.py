"""Signed-in sessions on top of Flask's signed cookie.

The cookie carries the user id, the user's session epoch when it began, when it began and
when it was last used. Raising User.session_epoch signs out every session of that user on
the server side; idle and absolute limits end a session on their own.
"""
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

from . import clock
from .extensions import db
from .models import User


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer made once per key rather
    than twice a request (making one also test-serialises a value)."""

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        made = app.extensions.get("portal.session_serializer")
        if made is None or made[0] != keys:
            serializer = None
            if app.secret_key:  # Flask's own construction, with the serializer class below
                serializer = SmallCookieSerializer(
                    [*keys[1], keys[0]], salt=self.salt, serializer=self.serializer,
                    signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method})
            made = app.extensions["portal.session_serializer"] = (keys, serializer)
        return made[1]


class SmallCookieSerializer(URLSafeTimedSerializer):
    """itsdangerous tries zlib on every cookie it makes; a session of a few short values
    (a CSRF token, a user name) never shrinks by it, so below SMALL bytes it is not tried.
    Reading is unchanged: a compressed cookie says so with its leading "."."""

    SMALL = 256

    def dump_payload(self, obj):
        json = Serializer.dump_payload(self, obj)
        if len(json) >= self.SMALL:
            return super().dump_payload(obj)
        return base64_encode(json)


def begin(sign_in):
    """A new session for a successful SignIn: nothing of the anonymous one survives."""
    user = sign_in.user
    previous = sign_in.previous_login_at.isoformat() if sign_in.previous_login_at else None
    session.clear()
    now = clock.now().isoformat()
    session.update(uid=user.id, epoch=user.session_epoch, sid=secrets.token_urlsafe(16),
                   auth_at=now, seen_at=now, previous_login=[previous, sign_in.previous_login_ip])
    session.permanent = True


def end(user):
    """Sign out. The epoch rises, so a copy of this cookie kept elsewhere is void too."""
    revoke_all(user)
    db.session.commit()
    session.clear()


def revoke_all(user):
    """Sign out every session of the user, everywhere."""
    user.session_epoch += 1


def load():
    """g.user for the signed-in user of this request, ending the session if it is void."""
    g.user = None
    uid = session.get("uid")
    if uid is None:
        return
    user = db.session.get(User, uid)
    now = clock.now()
    if user is None or user.disabled or session.get("epoch") != user.session_epoch or _expired(now):
        session.clear()
        g.session_ended = True
        return
    session["seen_at"] = now.isoformat()
    g.user = user


def _expired(now):
    config = current_app.config
    try:
        began = datetime.fromisoformat(session["auth_at"])
        seen = datetime.fromisoformat(session["seen_at"])
    except (KeyError, TypeError, ValueError):
        return True
    return (now - seen > timedelta(minutes=config["SESSION_IDLE_MINUTES"])
            or now - began > timedelta(hours=config["SESSION_MAX_HOURS"]))
