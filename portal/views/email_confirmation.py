"""Confirming a new e-mail address: the link sent to it opens a page (a GET, which spends
nothing: mail scanners fetch links too) whose «confirmar» (a POST) makes the change."""
from flask import Blueprint, redirect, request, session, url_for

from .. import account_changes
from ..extensions import client_address, limit, limiter
from ..htmx import render

bp = Blueprint("email_confirmation", __name__)
WAITING = "email_change"  # the change whose link was opened in this browser: its id


@bp.get("/cuenta/correo/confirmar")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def opened():
    change, user = account_changes.pending_email_change(request.args.get("codigo", ""))
    if change is None:
        session.pop(WAITING, None)
        return render("email-confirm", valid=False)
    session[WAITING] = change.id
    return redirect(url_for("email_confirmation.page"), 303)  # the code leaves the address bar


@bp.get("/cuenta/correo/confirmacion")
@limiter.limit(limit("RATELIMIT_PAGES"))
def page():
    change, user = account_changes.waiting_email_change(session.get(WAITING))
    return render("email-confirm", valid=change is not None, change=change, user=user)


@bp.post("/cuenta/correo/confirmacion")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def confirm():
    user = account_changes.confirm_email_change(session.pop(WAITING, None), client_address())
    if user is None:
        return render("email-confirm", valid=False)
    return render("email-confirm", valid=True, confirmed=True, user=user)
