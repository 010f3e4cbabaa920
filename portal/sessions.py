"""Signed-in sessions on top of Flask's signed cookie.

The cookie carries the user id, the user's session epoch when it began, when it began and
when it was last used. Raising User.session_epoch signs out every session of that user on
the server side; idle and absolute limits end a session on their own.
"""
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, session
from flask.sessions import SecureCookieSessionInterface

from . import clock
from .extensions import db
from .models import User


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer that Flask makes twice a
    request (opening and saving) made once per secret key instead: making one costs about as
    much as signing the cookie (measured: about 5 % of the access page)."""

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        made = app.extensions.get("portal.session_serializer")
        if made is None or made[0] != keys:
            made = app.extensions["portal.session_serializer"] = (keys, super().get_signing_serializer(app))
        return made[1]


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
