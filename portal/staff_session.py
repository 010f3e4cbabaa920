"""Console sessions, apart from customers' sessions.

Flask has one session interface per app, and the customers' is a signed cookie; the console's
is kept on the server instead: the cookie `efactura_soporte` holds an opaque random token
(path /soporte, HttpOnly, SameSite=Strict, Secure outside development), the StaffSession table
the token's hash, the member, the stage reached and the times. So a customer's cookie never
opens the console (it is not even sent to it with a staff token), a stolen database row gives
no cookie, and any session can be ended from the server at once (disable, second factor reset).

Stages: "second_factor" after the right password, "enrol" when the member has no second factor
yet, "signed_in" once the code is right; every stage change gives a new token. A session ends
after STAFF_IDLE_MINUTES without a request, and SESSION_MAX_HOURS after it began.
"""
import hashlib
import secrets
from datetime import timedelta

from flask import current_app, g
from sqlalchemy import update

from . import clock
from .extensions import db
from .models import StaffMember, StaffSession

COOKIE = "efactura_soporte"
PATH = "/soporte"
SECOND_FACTOR, ENROL, SIGNED_IN = "second_factor", "enrol", "signed_in"


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def begin(staff, stage, client_ip):
    """A new session at this stage (the request's old one, if any, ends); its cookie is set
    with the response (g.staff_cookie)."""
    end_current()
    token = secrets.token_urlsafe(32)
    now = clock.now()
    db.session.add(StaffSession(token_hash=_hash(token), staff_id=staff.id, stage=stage, created_at=now, seen_at=now,
                                client_ip=client_ip))
    db.session.commit()
    g.staff_cookie = token
    g.staff, g.staff_stage = staff, stage


def end_current():
    row = g.pop("staff_row", None)
    if row is not None:
        row.revoked_at = clock.now()
        db.session.commit()
    g.staff, g.staff_stage = None, None
    g.staff_cookie = ""  # cleared with the response unless a new one is set


def revoke_all(staff):
    """Every open session of the member ends (the caller commits)."""
    db.session.execute(update(StaffSession).where(
        StaffSession.staff_id == staff.id, StaffSession.revoked_at.is_(None)).values(revoked_at=clock.now()))


def load(token):
    """g.staff and g.staff_stage for the cookie's token, applying every rule, else None."""
    g.staff = g.staff_stage = None
    if not token or len(token) > 100:
        return
    row = db.session.get(StaffSession, _hash(token))
    if row is None or row.revoked_at is not None:
        return
    now = clock.now()
    config = current_app.config
    staff = db.session.get(StaffMember, row.staff_id)
    if (staff is None or staff.disabled or now - row.seen_at > timedelta(minutes=config["STAFF_IDLE_MINUTES"])
            or now - row.created_at > timedelta(hours=config["SESSION_MAX_HOURS"])):
        row.revoked_at = now
        db.session.commit()
        g.staff_cookie = ""
        return
    row.seen_at = now
    db.session.commit()
    g.staff, g.staff_stage, g.staff_row = staff, row.stage, row


def set_cookie(response):
    """The cookie a sign-in step made, or its removal when the session ended."""
    token = g.pop("staff_cookie", None)
    if token is None:
        return response
    config = current_app.config
    if token:
        response.set_cookie(COOKIE, token, path=PATH, httponly=True, samesite="Strict",
                            secure=config["SESSION_COOKIE_SECURE"])
    else:
        response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="Strict",
                               secure=config["SESSION_COOKIE_SECURE"])
    return response
