"""Forward authentication (`/api/verificar`): the reverse proxy in front of the application
asks, on every request, who is signed in (portal/forward_auth.py).

200 with Remote-User, Remote-Name, Remote-Email and Remote-Groups for a live session (every
session rule of sessions.current_user, and the first sign-in set-up finished); else 401 with a
Location to the access page, carrying the original URL as `rd` when it is an allowed return
target (nginx turns the 401 into a redirect with `error_page 401 =302`). Traefik and Caddy pass
the answer on to the browser: a GET of a page gets the 302 itself, an XHR or htmx request the
401. A malformed description of the original request is a 401, never an error.

It writes nothing (no row, no refresh of the session, no cookie) and has no per-client limit:
the proxy is one client, asking for every visitor.
"""
from flask import Blueprint, current_app, make_response, request, url_for

from .. import forward_auth, return_target, sessions
from ..extensions import limiter

bp = Blueprint("forward_auth", __name__)
PAGE_METHODS = ("GET", "HEAD")


@bp.get("/api/verificar")
@limiter.exempt
@sessions.read_only
def verify():
    try:
        asked = forward_auth.original(request.headers)
    except forward_auth.Malformed:
        return _sign_in_first(forward_auth.Original(None))
    user = sessions.current_user()
    if user is None or user.secret_question is None:  # first sign-in set-up pending: not signed in yet
        return _sign_in_first(asked)
    response = make_response("", 200)
    response.headers.update(forward_auth.identity(user))
    return response


def _sign_in_first(asked):
    """To the access page, back to the original URL afterwards when it is an allowed target."""
    allowed = current_app.config.get("ALLOWED_RETURN_HOSTS", "")
    target = return_target.parse(asked.url, allowed) if asked.url else None
    location = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + (
        url_for("access.index", rd=target) if target else url_for("access.index"))
    page = asked.via_forwarded and asked.method in PAGE_METHODS and not _script_request()
    response = make_response(f"Necesita ingresar: {location}\n", 302 if page else 401)
    response.mimetype = "text/plain"  # for a person who opens this address itself
    response.headers["Location"] = location
    return response


def _script_request():
    """The original request came from a script (fetch/XHR, htmx), which cannot follow a
    redirect to a sign-in page: it gets the 401 (the proxies pass the request's headers on)."""
    return (request.headers.get("HX-Request") == "true"
            or request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest")
