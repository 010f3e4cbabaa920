"""«Mi cuenta» (SPEC section 7): the signed-in page, where people look after their account.

Every change is a POST with its CSRF token, answered with its own section (htmx) or by a
redirect back to the page (Post/Redirect/Get, without JavaScript); each needs a recent
sign-in (account_changes.is_recent), or the password typed again in «Confirme su contraseña».
"""
from datetime import datetime

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from .. import account_changes, audit, clock, content, policy, return_target, secret_question, sessions
from ..extensions import client_address, limit, limiter
from ..forms import AccountPasswordForm, ConfirmPasswordForm, EmailForm, QuestionForm
from ..htmx import is_htmx, redirect_to, render

bp = Blueprint("account", __name__)
PAGE = "account.html"
EVENT_KINDS = ("login", "reauth")
SIGN_OUT = ("account.confirm_logout", "account.logout")


@bp.before_request
def signed_in_only():
    """The page is for a signed-in account that finished its first sign-in set-up."""
    if g.user is None:
        if request.endpoint == "account.confirm_logout":  # nobody to sign out here: on to the target
            return redirect(_sign_out_target() or url_for("access.index"))
        if g.get("session_ended"):
            flash("Su sesión terminó. Vuelva a escribir su usuario y contraseña.")
        return _away("access.index")
    if g.user.secret_question is None and request.endpoint not in SIGN_OUT:  # (set-up may be left by signing out)
        return _away("password_change.change_password")
    return None


def _away(endpoint):
    """To another page: htmx follows HX-Redirect; a plain GET gets a 302, a POST a 303."""
    if is_htmx() or request.method == "POST":
        return redirect_to(endpoint)
    return redirect(url_for(endpoint))


@bp.get("/inicio")
def index():
    return render_template(PAGE, **_context())


@bp.get("/salir")
def confirm_logout():
    """The sign-out link an application shows (`/salir?rd=...`): a page that asks, with a POST
    form; a GET never signs out (a link or an image elsewhere could make it)."""
    return render("sign-out-confirm", user=g.user, target=_sign_out_target())


@bp.post("/salir")
def logout():
    """Sign out of this session (the others go on: «cerrar todas las demás» ends them); then to
    the allowed target the sign-out link named (`rd`), or the access page."""
    target = _sign_out_target()
    audit.record("logout", g.user.username, "ok", client_address())
    sessions.end(g.user)
    flash(f"Salió de {content.brand()['full']}.")
    return redirect(target or url_for("access.index"), 303)


def _sign_out_target():
    return return_target.parse(request.args.get("rd"), current_app.config.get("ALLOWED_RETURN_HOSTS", ""))


@bp.post("/cuenta/confirmar")
@limiter.limit(limit("RATELIMIT_LOGIN"))
def confirm():
    form = ConfirmPasswordForm(request.form)
    outcome = account_changes.INVALID
    if form.validate():
        outcome = account_changes.confirm_password(g.user, form.current_password.data, client_address())
    if outcome == account_changes.OK:
        session["confirmed_at"] = clock.now().isoformat()
        return redirect_to("account.index")
    if outcome == account_changes.LOCKED:
        sessions.end(g.user)
        flash("Por seguridad, su usuario quedó bloqueado temporalmente y su sesión se cerró.")
        return redirect_to("access.index")
    return section("account-confirm", confirm_error=True)


@bp.post("/cuenta/contrasena")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def password():
    if not _recent():
        return section("account-password", password_errors=[NOT_RECENT])
    form = AccountPasswordForm(request.form, user=g.user)
    if form.validate() and account_changes.confirm_password(
            g.user, form.current_password.data, client_address()) != account_changes.OK:
        form.current_password.errors = ["La contraseña actual no es correcta."]
    if form.errors:
        return section("account-password", password_errors=form.problems())
    account_changes.change_password(g.user, form.new_password.data, client_address(), session.get("sid"))
    return done("account-password", "Su contraseña cambió. Se cerraron sus demás sesiones y le enviamos un aviso.",
                password_done=True)


@bp.post("/cuenta/requisitos")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def checklist():
    password = request.form.get("new_password", "")
    return render("password-checklist", template=PAGE, **_context(
        rules=policy.checklist(password, g.user.username, request.form.get("confirm_password", "")),
        typed=bool(password)))


@bp.post("/cuenta/pregunta")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def question():
    if not _recent():
        return section("account-question", question_errors=[NOT_RECENT])
    form = QuestionForm(request.form)
    if not form.validate():
        return section("account-question", question_errors=form.problems(), chosen=form.question.data)
    account_changes.change_question(g.user, form.question.data, form.answer.data, client_address())
    return done("account-question", "Su pregunta secreta y su respuesta cambiaron.", question_done=True)


@bp.post("/cuenta/correo")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def email():
    if not _recent():
        return section("account-email", email_errors=[NOT_RECENT])
    form = EmailForm(request.form)
    if not form.validate():
        return section("account-email", email_errors=form.problems(), typed_email=form.email.data)
    account_changes.request_email_change(g.user, form.email.data, client_address())
    return done("account-email", f"Le enviamos un enlace a {form.email.data}: el correo cambia cuando lo abra.",
                email_sent=form.email.data)


@bp.post("/cuenta/sesiones/<sid>/cerrar")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def close_session(sid):
    if sid == session.get("sid"):
        abort(404)  # this session ends with «Salir»
    if not _recent():
        return section("account-sessions", sessions_errors=[NOT_RECENT])
    if not account_changes.close_session(g.user, sid, client_address()):
        abort(404)  # not one of this account's open sessions
    return done("account-sessions", "Se cerró la sesión.")


@bp.post("/cuenta/sesiones/cerrar-otras")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def close_others():
    if not _recent():
        return section("account-sessions", sessions_errors=[NOT_RECENT])
    closed = account_changes.close_other_sessions(g.user, session.get("sid"), client_address())
    return done("account-sessions", f"Se cerraron {closed} sesiones." if closed != 1 else "Se cerró 1 sesión.")


NOT_RECENT = "Por seguridad, confirme primero su contraseña (arriba, en «Confirme su contraseña»)."


def _recent():
    return account_changes.is_recent(session.get("auth_at"), session.get("confirmed_at"))


def section(fragment, **state):
    """A section of the page with its messages: alone for htmx, in the whole page otherwise."""
    return render(fragment, template=PAGE, **_context(**state))


def done(fragment, message, **state):
    """A change made: its section says so (htmx), or the page does after a redirect."""
    if is_htmx():
        return section(fragment, done_message=message, **state)
    flash(message)
    return redirect(url_for("account.index") + "#" + fragment, 303)


def _context(**state):
    user = g.user
    at, ip, device = session.get("previous_login") or (None, None, None)
    previous = clock.local(datetime.fromisoformat(at)) if at else None
    events = [event for event in audit.search(username=user.username, limit=40) if event.kind in EVENT_KINDS][-10:]
    context = {
        "user": user, "now": clock.local(clock.now()), "previous_at": previous, "previous_ip": ip,
        "previous_device": device, "events": list(reversed(events)), "local": clock.local,
        "sessions": sessions.open_sessions(user), "current_sid": session.get("sid"), "recent": _recent(),
        "questions": secret_question.QUESTIONS,
        "rules": policy.checklist("", user.username, ""), "typed": False,
    }
    context.update(state)
    return context
