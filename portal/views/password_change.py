"""The change-password step: after a recovery proof, and as the first sign-in set-up of a
signed-in account that has no secret question yet."""
from datetime import datetime

from flask import Blueprint, abort, flash, g, redirect, request, session, url_for

from .. import accounts, devices, password_change, policy, secret_question, sessions
from ..extensions import client_address, db, limit, limiter
from ..forms import ChangePasswordForm
from ..htmx import redirect_to, render
from .access import onward

bp = Blueprint("password_change", __name__)


@bp.get("/cambiar-contrasena")
@limiter.limit(limit("RATELIMIT_PAGES"))
def change_password():
    user, setup = _changing_user()
    if user is None:
        return redirect(url_for("recovery.start"))
    return change_step(user, setup, change_answer=request.args.get("respuesta") == "1")


@bp.get("/cambiar-contrasena/respuesta")
@limiter.limit(limit("RATELIMIT_PAGES"))
def change_answer():
    user, setup = _changing_user()
    if user is None:
        abort(404)
    return render("secret-answer", page="change-password-step", **_context(user, setup, change_answer=True))


@bp.post("/cambiar-contrasena/requisitos")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def checklist():
    user, setup = _changing_user()
    if user is None:  # a late check after the password was saved: nothing to update
        return "", 204
    form = ChangePasswordForm(request.form)
    return render("password-checklist", page="change-password-step", **_context(user, setup, form=form))


@bp.post("/cambiar-contrasena")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def save():
    user, setup = _changing_user()
    if user is None:
        return redirect_to("recovery.start")
    form = ChangePasswordForm(request.form, user=user, asks_question=_needs_question(user, setup), setup=setup)
    if not form.validate():
        form.new_password.data = form.confirm_password.data = ""  # the fields come back empty: so does the checklist
        return change_step(user, setup, form=form, errors=form.problems(), change_answer=form.changes_answer)
    via = "setup" if setup else session.get(password_change.PROOF, {}).get("via", "answer")
    password_change.save(user, form.change(), client_address(), via)
    return _signed_in_after_change(user, setup)


def _signed_in_after_change(user, setup):
    """The new password is saved: signed in (unless the account may not sign in)."""
    if accounts.blocked(user):
        session.clear()
        flash("Su contraseña se cambió, pero su cuenta está bloqueada: comuníquese con soporte técnico.")
        return redirect_to("access.index")
    if setup:  # the sign-in that began this session stays the latest one
        at, ip, device = session.get("previous_login") or (None, None, None)
        result = accounts.SignIn(accounts.OK, user.username, user, previous_login_ip=ip, previous_login_device=device,
                                 previous_login_at=datetime.fromisoformat(at) if at else None)
    else:
        result = accounts.signed_in(user, client_address())
        db.session.commit()
    sessions.begin(result, client_address(), request.user_agent.string, request.cookies.get(devices.COOKIE))
    return onward("Su contraseña se cambió. Le enviamos un aviso a su correo." if not setup else
                  "Su cuenta quedó configurada: contraseña, pregunta secreta y correo.")


def _needs_question(user, setup):
    """Set-up, or an account that never chose a question: the step asks for one."""
    return setup or not user.secret_question


def _changing_user():
    """(user, setup): a signed-in account in first sign-in set-up, or a recovery proof's user."""
    if g.user is not None and g.user.secret_question is None:
        return g.user, True
    user = password_change.proven_user(session.get(password_change.PROOF))
    if user is None:
        session.pop(password_change.PROOF, None)
    return user, False


def _context(user, setup, form=None, errors=(), change_answer=False):
    form = form or ChangePasswordForm()
    password = form.new_password.data or ""
    return {
        "user": user, "setup": setup, "form": form, "errors": errors,
        "change_answer": change_answer or _needs_question(user, setup), "questions": secret_question.QUESTIONS,
        "email": form.email.data if form.email.data is not None else user.email,
        "rules": policy.checklist(password, user.username, form.confirm_password.data or ""),
        "typed": bool(password),
    }


def change_step(user, setup, form=None, errors=(), change_answer=False, url=None):
    return render("change-password-step", url=url, **_context(user, setup, form, errors, change_answer))
