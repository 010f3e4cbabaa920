"""The one place that reads HX-* headers: fragment or whole page, and redirects for both."""
import re
import secrets

from flask import current_app, make_response, redirect, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf

from . import content

# Stand-ins in a shared render for the CSRF token and the slots; random, so no content has them.
_STAND_IN = "slot-" + secrets.token_hex(16)
_TOKEN_STAND_IN = _STAND_IN + "-csrf_token"
_SLOT_VALUE = re.compile(r"^[A-Za-z0-9_.-]+$")  # the same in HTML, in an attribute and in a URL
_SHARED_RENDERS = 64  # most kept per app; the views share only a handful of answers


def is_htmx():
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render(fragment, status=200, page=None, oob=(), retarget=None, shared=False, slots=(), **context):
    """The bare fragment for htmx, else the access page with the fragment in its place.

    page: the fragment the whole page shows in its main region, when that is the one that
    holds this fragment (a failed sign-in shows the login form with its error box inside).
    oob: more fragments sent along out-of-band into their slots (htmx only).
    retarget: CSS selector the htmx response replaces instead of the request's target.
    shared: the answer is the same for every visitor but for the CSRF token (a first visit:
    it depends on the context given, the content file and the settings, not on the session),
    so it is rendered once and handed out with this request's token.
    slots: names in the context of a shared answer whose values change from one request to
    the next (ids made of letters, digits, "_", "-" and "."): filled in like the token.
    """
    if is_htmx():
        body = _render_template(f"partials/{fragment}.html", shared, slots, **context)
        body += "".join(render_template("oob-slot.html", slot=name, **context) for name in oob)
        response = _response(body, status)
        if retarget:
            response.headers["HX-Retarget"] = retarget
            response.headers["HX-Reswap"] = "outerHTML"
    else:
        body = _render_template("access.html", shared, slots, fragment=page or fragment, **context)
        response = _response(body, status)
    response.vary.add("HX-Request")
    return response


def redirect_to(endpoint, **values):
    """303 for a plain POST (Post/Redirect/Get); 200 with HX-Redirect for htmx."""
    url = url_for(endpoint, **values)
    if is_htmx():
        response = _response("", 200)
        response.headers["HX-Redirect"] = url
    else:
        response = redirect(url, 303)
    response.vary.add("HX-Request")
    return response


def _render_template(name, shared, slots, **context):
    """render_template(), or for a shared answer the copy rendered before with stand-ins for
    the CSRF token and the slots, filled in with this request's values. Not while templates
    reload (development) nor when the session has messages to flash (the layout shows them)."""
    fills = {f"{_STAND_IN}-{slot}": context[slot] for slot in slots}
    if (not shared or current_app.jinja_env.auto_reload or session.get("_flashes")
            or not all(isinstance(value, str) and _SLOT_VALUE.match(value) for value in fills.values())):
        return render_template(name, **context)
    context.update({slot: f"{_STAND_IN}-{slot}" for slot in slots})
    renders = current_app.extensions.setdefault("portal.shared_renders", {})
    key = (name, is_htmx(), request.script_root, content.version(), tuple(sorted(context.items())))
    body = renders.get(key)
    if body is None:
        if len(renders) >= _SHARED_RENDERS:
            renders.clear()
        body = renders[key] = render_template(name, csrf_token=lambda: _TOKEN_STAND_IN, **context)
    for stand_in, value in fills.items():
        body = body.replace(stand_in, value)
    return body.replace(_TOKEN_STAND_IN, generate_csrf()) if _TOKEN_STAND_IN in body else body


def _response(body, status):
    return make_response(body, status)
