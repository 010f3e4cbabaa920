"""Signed-in sessions on top of Flask's signed cookie, each known to the server.

The cookie carries the user id, the user's session epoch when it began, the session's id,
when it began and when it was last used. The server keeps one row per session (UserSession):
closing the row ends that session alone; raising User.session_epoch ends every session of the
user at once; idle and absolute limits end a session on their own.
"""
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import bindparam, delete, select, update

from . import clock, devices, mail, return_target
from .extensions import db
from .models import User, UserSession


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer that Flask makes twice a
    request (opening and saving) made once per secret key instead: making one costs about as
    much as signing the cookie (measured: about 5 % of the access page)."""

    def should_set_cookie(self, app, session):
        """No cookie from a view that only asks who is signed in (read_only), whatever
        SESSION_REFRESH_EACH_REQUEST says."""
        return not _read_only() and super().should_set_cookie(app, session)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        made = app.extensions.get("portal.session_serializer")
        if made is None or made[0] != keys:
            made = app.extensions["portal.session_serializer"] = (keys, super().get_signing_serializer(app))
        return made[1]


def begin(sign_in, client_ip, user_agent, device_cookie):
    """A new session for a successful SignIn: nothing of the anonymous one survives but the
    return target (renew). The server keeps a row for it (the account page lists it, and it
    can be closed alone). A sign-in from a browser the account has not used before e-mails the
    owner."""
    user = sign_in.user
    previous = sign_in.previous_login_at.isoformat() if sign_in.previous_login_at else None
    now = clock.now()
    sid = secrets.token_urlsafe(32)
    device = devices.describe(user_agent)
    user.last_login_device = device
    db.session.add(UserSession(id=sid, user_id=user.id, created_at=now, client_ip=client_ip, device=device))
    device_id = devices.read(device_cookie)
    if device_id is None:
        device_id, g.device_cookie = devices.new_cookie()
    if devices.seen(user, device_id) and user.email:
        mail.queue(user.email, "Aviso de seguridad: nuevo ingreso desde otro dispositivo", "new_device", "new_device",
                   user=user, at=clock.local(now), client_ip=client_ip, device=device,
                   base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
    db.session.commit()
    renew()
    stamp = now.isoformat()
    session.update(uid=user.id, epoch=user.session_epoch, sid=sid, auth_at=stamp, seen_at=stamp,
                   previous_login=[previous, sign_in.previous_login_ip, sign_in.previous_login_device])
    session.permanent = True


def renew():
    """Nothing of the session so far survives but where the person is going (the return target)."""
    carried = {key: session[key] for key in return_target.CARRIED if key in session}
    session.clear()
    session.update(carried)


def end(user):
    """Sign out of this session: its row is closed, so a copy of this cookie kept elsewhere is
    void too. The account's other sessions go on (the account page closes them)."""
    close(user, session.get("sid"))
    db.session.commit()
    session.clear()


def close(user, sid):
    """Close one session of the user (no other user's: the id is looked up with the user)."""
    return db.session.execute(update(UserSession).where(
        UserSession.id == sid, UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    ).values(revoked_at=clock.now())).rowcount == 1


def close_others(user, keep_sid):
    """Close every session of the user but this one; the number closed."""
    return db.session.execute(update(UserSession).where(
        UserSession.user_id == user.id, UserSession.id != keep_sid, UserSession.revoked_at.is_(None)
    ).values(revoked_at=clock.now())).rowcount


def revoke_all(user):
    """Sign out every session of the user, everywhere: the epoch rises (a cookie of any age is
    void) and every row is closed."""
    user.session_epoch += 1
    close_others(user, None)


def open_sessions(user):
    """The user's sessions that are still open, the newest first."""
    since = clock.now() - timedelta(hours=current_app.config["SESSION_MAX_HOURS"])
    return db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None), UserSession.created_at > since
    ).order_by(UserSession.created_at.desc())).all()


# The account and its open session row, built once: current_user() runs on every request.
_CURRENT_USER = select(User).join(UserSession, UserSession.user_id == User.id).where(
    User.id == bindparam("uid"), UserSession.id == bindparam("sid"), UserSession.revoked_at.is_(None))


def current_user():
    """The user this request's session stands for, applying every rule (the account exists and
    is not disabled, the epoch matches, the session's row is open, idle and absolute limits),
    or None. It reads and writes nothing of the session, and reads the database once (the
    account and its open session row in one query: the forward-auth check asks on every
    request of the application)."""
    uid, sid = session.get("uid"), session.get("sid")
    if uid is None or not isinstance(sid, str) or _expired(clock.now()):
        return None
    user = db.session.scalars(_CURRENT_USER, {"uid": uid, "sid": sid}).first()
    if user is None or user.disabled or session.get("epoch") != user.session_epoch:
        return None
    return user


def read_only(view):
    """Mark a view that only asks who is signed in (the forward-auth check): load() leaves the
    session as it is (no refresh of its last use, no clearing of a void one) and no cookie is
    sent back. The view calls current_user() itself."""
    view.reads_session_only = True
    return view


def _read_only():
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return getattr(view, "reads_session_only", False)


def load():
    """g.user for the signed-in user of this request, ending the session if it is void."""
    g.user = None
    if session.get("uid") is None or _read_only():
        return
    user = current_user()
    if user is None:
        session.clear()
        g.session_ended = True
        return
    session["seen_at"] = clock.now().isoformat()
    g.user = user


def set_device_cookie(response):
    """The device cookie a sign-in made for a browser that had none."""
    value = g.pop("device_cookie", None)
    if value is not None:
        config = current_app.config
        response.set_cookie(devices.COOKIE, value, max_age=devices.COOKIE_DAYS * 86400, httponly=True,
                            secure=config["SESSION_COOKIE_SECURE"], samesite="Lax",
                            domain=config.get("SESSION_COOKIE_DOMAIN") or None)
    return response


def init_app(app):
    app.session_interface = CookieSessions()
    app.before_request(load)
    app.after_request(set_device_cookie)


def purge():
    """Rows of sessions closed or past the absolute limit are of no more use."""
    since = clock.now() - timedelta(hours=current_app.config["SESSION_MAX_HOURS"])
    done = db.session.execute(delete(UserSession).where(
        (UserSession.revoked_at.is_not(None)) | (UserSession.created_at <= since))).rowcount
    db.session.commit()
    return done


def _expired(now):
    config = current_app.config
    try:
        began = datetime.fromisoformat(session["auth_at"])
        seen = datetime.fromisoformat(session["seen_at"])
    except (KeyError, TypeError, ValueError):
        return True
    return (now - seen > timedelta(minutes=config["SESSION_IDLE_MINUTES"])
            or now - began > timedelta(hours=config["SESSION_MAX_HOURS"]))
