"""The OpenID Connect endpoints (SPEC section 6): discovery, keys, authorization, token,
userinfo and end-session. Authlib's server (portal/oidc/server.py) does the protocol; these
views hand it the request, the signed-in user and the page a person sees when something is
wrong.

Only the endpoints a client calls with its own credentials (token, userinfo) are exempt from
the CSRF check; the authorization endpoint is a GET, and the logout confirmation a form.
"""
import json
from datetime import datetime
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from .. import audit, clock, sessions
from ..extensions import client_address, csrf, db, limit, limiter
from ..oidc import claims, clients, keys, server

bp = Blueprint("oidc", __name__)

PUBLIC_MAX_AGE = "public, max-age=300"


def _url(endpoint):
    """An endpoint's address under PUBLIC_BASE_URL (never the request's Host header)."""
    return server.issuer() + url_for(endpoint)


@bp.get("/.well-known/openid-configuration")
def discovery():
    document = {
        "issuer": server.issuer(),
        "authorization_endpoint": _url("oidc.authorize"),
        "token_endpoint": _url("oidc.token"),
        "userinfo_endpoint": _url("oidc.userinfo"),
        "jwks_uri": _url("oidc.jwks"),
        "end_session_endpoint": _url("oidc.end_session"),
        "scopes_supported": list(clients.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "token_endpoint_auth_methods_supported": server.AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash",
                             "preferred_username", "name", "email", "rfc", "user_kind"],
        "claim_types_supported": ["normal"],
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["es-MX"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
    return _json(document, cache=PUBLIC_MAX_AGE)


@bp.get("/oidc/jwks")
def jwks():
    return _json(keys.published(), cache=PUBLIC_MAX_AGE)


def _json(document, status=200, cache=None):
    response = current_app.response_class(json.dumps(document), status, mimetype="application/json")
    if cache:
        response.headers["Cache-Control"] = cache
    return response


@bp.get("/oidc/autorizar")
@limiter.limit(limit("RATELIMIT_PAGES"))
def authorize():
    """The authorization request of a registered client. A visitor who is not signed in meets
    the access page (every sign-in rule) and comes back here; a signed-in one is sent back to
    the client with a code (no consent screen: the clients are the service's own)."""
    provider = server.provider()
    user = g.user
    try:
        grant = provider.get_consent_grant(end_user=user)
        if user is not None and _needs_fresh_sign_in(grant):
            if "none" in (request.args.get("prompt") or "").split():
                raise LoginRequiredError(redirect_uri=grant.redirect_uri)
            audit.record("oidc_reauth", user.username, "required", client_address(), client_id=grant.client.client_id)
            sessions.end(user)
            user = None
    except OAuth2Error as error:
        error.state = error.state or request.args.get("state")
        return _authorization_error(provider, error)
    if user is None:
        return redirect(url_for("access.index", rd=_again()))
    if user.secret_question is None:  # the first sign-in set-up comes first; the request waits for it
        return redirect(url_for("access.index", rd=_again()))
    grant.auth_time = _signed_in_at()
    response = provider.create_authorization_response(grant=grant, grant_user=user)
    issued = response.status_code == 302 and "code=" in response.headers.get("Location", "")
    audit.record("oidc_code", user.username, "ok" if issued else "refused", client_address(),
                 client_id=grant.client.client_id)
    return response


def _signed_in_at():
    try:
        return datetime.fromisoformat(session["auth_at"])
    except (KeyError, TypeError, ValueError):
        return clock.now()


def _needs_fresh_sign_in(grant):
    """prompt=login, or a max_age older than the session's sign-in."""
    if "login" in (request.args.get("prompt") or "").split():
        return True
    max_age = request.args.get("max_age")
    if max_age is None:
        return False
    if not max_age.isdigit() or len(max_age) > 9:
        raise InvalidRequestError("Invalid 'max_age'.", redirect_uri=grant.redirect_uri)
    return (clock.now() - _signed_in_at()).total_seconds() > int(max_age)


def _again():
    """This authorization request, to come back to after signing in, without what asked for the
    sign-in (prompt=login, max_age): the new sign-in answers it."""
    kept = [(name, value) for name, value in request.args.items(multi=True) if name not in ("prompt", "max_age")]
    return url_for("oidc.authorize") + ("?" + urlencode(kept) if kept else "")


def _authorization_error(provider, error):
    """Back to the client with the error when its redirect URI is known to be registered;
    otherwise a page here (never a redirect to an address no client registered)."""
    audit.record("oidc_code", g.user.username if g.user else "-", "refused", client_address(),
                 client_id=(request.args.get("client_id") or "")[:64], error=error.error)
    if error.redirect_uri:
        return provider.handle_error_response(None, error)
    return render_template("oidc-error.html", error=error.error, description=error.description), 400


@bp.post("/oidc/token")
@csrf.exempt
@limiter.limit(limit("RATELIMIT_OIDC_TOKEN"))
def token():
    """The client exchanges a code (or a refresh token) for tokens; every answer is an auth event."""
    claims.subject_key()  # before anything is written (see claims.subject_key)
    response = server.provider().create_token_response()
    detail = {"client_id": g.get("oidc_client_id") or (request.form.get("client_id") or "")[:64] or None,
              "grant_type": (request.form.get("grant_type") or "")[:40]}
    if response.status_code == 200 and g.get("oidc_issued"):
        audit.record("oidc_token", g.get("oidc_username", "-"), "ok", client_address(), **detail)
    else:
        error = (response.get_json(silent=True) or {}).get("error")
        audit.record("oidc_token", g.get("oidc_username", "-"), "refused", client_address(), error=error,
                     why=g.get("oidc_refused"), **detail)
    db.session.commit()
    return response


@bp.route("/oidc/userinfo", methods=["GET", "POST"])
@csrf.exempt
@limiter.limit(limit("RATELIMIT_OIDC_TOKEN"))
def userinfo():
    return server.provider().create_endpoint_response("userinfo")


@bp.route("/oidc/salir", methods=["GET", "POST"])
@limiter.limit(limit("RATELIMIT_PAGES"))
def end_session():
    """RP-initiated logout. With a valid id_token_hint of the signed-in user, the portal's
    session ends and the browser goes to the client's registered post_logout_redirect_uri;
    without one, the person confirms (a form) before the session ends."""
    provider = server.provider()
    g.client_ip = client_address()
    try:
        ending = provider.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        audit.record("oidc_logout", g.user.username if g.user else "-", "refused", client_address(),
                     error=error.error)
        return render_template("oidc-error.html", error=error.error, description=error.description), 400
    if ending.needs_confirmation:
        if g.user is not None and request.method == "POST":
            audit.record("oidc_logout", g.user.username, "ok", client_address(), confirmed=True)
            sessions.end(g.user)
            g.user = None
        elif g.user is not None:
            return render_template("oidc-logout.html", fields=_logout_fields())
        return redirect(url_for("access.index"), 303)
    response = provider.create_endpoint_response("end_session", ending)
    if response is not None:
        return response
    return redirect(url_for("access.index"), 303)


def _logout_fields():
    return [(name, value) for name, value in request.args.items(multi=True)
            if name in ("client_id", "post_logout_redirect_uri", "state", "ui_locales")]

