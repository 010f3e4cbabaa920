"""Who may reach the support console, shared by its blueprints (console_auth,
console_customers, console_admin): the networks (STAFF_ALLOWED_NETWORKS: elsewhere the console
does not exist, 404), the staff session (portal/staff_session.py), the role of each route, and
the confirmation token of every action.

Every console route is wrapped by staff_only(role): no staff session → the console's sign-in
page; a session that has not passed the second factor → its next step; the wrong role → 403.
A customer's session counts for nothing here. Every answer is `no-store`.
"""
import functools

from flask import abort, current_app, g, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import staff, staff_session
from ..extensions import client_address
from ..htmx import redirect_to

CONFIRM_SECONDS = 15 * 60


def guard():
    """before_request of every console blueprint."""
    if not staff.allowed_address(client_address(), current_app.config["STAFF_ALLOWED_NETWORKS"]):
        abort(404)
    staff_session.load(request.cookies.get(staff_session.COOKIE))


def after(response):
    """after_request of every console blueprint."""
    response.headers["Cache-Control"] = "no-store"
    return staff_session.set_cookie(response)


def init_blueprint(bp):
    bp.before_request(guard)
    bp.after_request(after)


def staff_only(role=None):
    """The route needs a signed-in staff member (of this role, when given)."""
    def wrap(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if g.get("staff") is None:
                return redirect_to("console_auth.sign_in")
            if g.staff_stage != staff_session.SIGNED_IN:
                return redirect_to("console_auth.index")
            if role is not None and g.staff.role != role:
                return render_template("error.html", status=403), 403
            return view(*args, **kwargs)
        return checked
    return wrap


def agent():
    """Who an action is recorded as: the staff key, e.g. "soporte:ana"."""
    return staff.key(g.staff.name)


def _serializer():
    return URLSafeTimedSerializer(current_app.secret_key, salt="console-confirm")


def confirmation(action, object_id):
    """The token the confirm step carries: this member, this action, this record."""
    return _serializer().dumps([g.staff.id, action, object_id])


def confirmed(action, object_id, token):
    """Whether token was made by confirmation() for this member, action and record, recently."""
    try:
        value = _serializer().loads(token or "", max_age=CONFIRM_SECONDS)
    except BadSignature:
        return False
    return value == [g.staff.id, action, object_id]
