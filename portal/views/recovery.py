"""Recovering access: user name, secret question, e-mailed coded link, change of password.

Also the first sign-in set-up, which is the same change-password step for a signed-in
account that has no secret question yet.
"""
from datetime import datetime

from flask import Blueprint, abort, flash, g, redirect, request, session, url_for

from .. import accounts, audit, policy, recovery, sessions
from ..extensions import client_address, db, limit, limiter
from ..forms import AnswerForm, ChangePasswordForm, RecoveryForm
from ..htmx import redirect_to, render

bp = Blueprint("recovery", __name__)
PROOF = "recovery_proof"
NAME = "recovery_name"


@bp.get("/recuperar")
def start():  # no rate limit: the blank form (see views/access.py)
    return render("recovery-form", typed="", shared=True)


@bp.post("/recuperar")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def submit_username():
    form = RecoveryForm()
    typed = form.username.data or ""
    shape = recovery.check_shape(typed) if form.validate() else recovery.check_shape("x" * 65)
    if shape.canonical is None:
        return render("recovery-form", typed=shape.suggestion or typed, shape=shape)
    session[NAME] = shape.canonical
    session.pop(PROOF, None)
    audit.record("recovery_started", shape.canonical, "ok", client_address())
    db.session.commit()
    return _question_step()


@bp.get("/recuperar/usuario")
def forgot_user():
    return render("forgot-user-notice", page="recovery-form", typed="", show_forgot_user=True, shared=True)


@bp.get("/recuperar/pregunta")
@limiter.limit(limit("RATELIMIT_PAGES"))
def question():
    if NAME not in session:
        return redirect(url_for("recovery.start"))
    return _question_step()


@bp.post("/recuperar/respuesta")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def answer():
    name = session.get(NAME)
    if name is None:
        return redirect_to("recovery.start")
    form = AnswerForm()
    if not form.validate() or not (form.answer.data or "").strip():
        return _question_step(error="missing")
    outcome, user = recovery.check_answer(name, form.answer.data, client_address())
    if outcome != recovery.RIGHT:
        return _question_step(error=outcome)
    session[PROOF] = recovery.make_proof(user, "answer")
    return _change_step(user, setup=False)


@bp.post("/recuperar/recordatorio")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def reminder():
    name = session.get(NAME)
    if name is None:
        return redirect_to("recovery.start")
    recovery.request_reminder(name, client_address())  # carried out after the response
    g.outbox_pending = True
    return _question_step(sent=True)


@bp.get("/request/codedAccess")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def coded_access():
    """Open an e-mailed link: the proof goes to the session, the code leaves the address bar."""
    user, reason = recovery.open_link(request.args.get("code", ""), client_address())
    if user is None:
        return redirect(url_for("recovery.link_refused", motivo=reason), 303)
    session.clear()  # whoever was signed in here, the link speaks for its own user
    session[NAME] = user.username
    session[PROOF] = recovery.make_proof(user, "link")
    return redirect(url_for("recovery.change_password"), 303)


@bp.get("/recuperar/enlace")
def link_refused():
    reason = request.args.get("motivo")
    if reason not in (recovery.USED, recovery.EXPIRED, recovery.VOID, recovery.UNKNOWN):
        reason = recovery.UNKNOWN
    return render("link-error", reason=reason)


@bp.get("/cambiar-contrasena")
@limiter.limit(limit("RATELIMIT_PAGES"))
def change_password():
    user, setup = _changing_user()
    if user is None:
        return redirect(url_for("recovery.start"))
    return _change_step(user, setup, change_answer=request.args.get("respuesta") == "1")


@bp.get("/cambiar-contrasena/respuesta")
@limiter.limit(limit("RATELIMIT_PAGES"))
def change_answer():
    user, setup = _changing_user()
    if user is None:
        abort(404)
    return render("secret-answer", page="change-password-step", **_change_context(user, setup, change_answer=True))


@bp.post("/cambiar-contrasena/requisitos")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def checklist():
    user, setup = _changing_user()
    if user is None:  # a late check after the password was saved: nothing to update
        return "", 204
    form = ChangePasswordForm()
    return render("password-checklist", page="change-password-step",
                  **_change_context(user, setup, form=form))


@bp.post("/cambiar-contrasena")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def save():
    user, setup = _changing_user()
    if user is None:
        return redirect_to("recovery.start")
    form = ChangePasswordForm()
    changing_answer = _needs_question(user, setup) or request.form.get("change_answer") == "1"
    change = recovery.Change(
        new_password=form.new_password.data or "", confirm_password=form.confirm_password.data or "",
        email=(form.email.data or "").strip(),
        question=(form.question.data or "") if changing_answer else None,
        answer=(form.answer.data or "") if changing_answer else None,
    )
    found = recovery.problems(user, change, _needs_question(user, setup))
    if found:
        return _change_step(user, setup, form=form, errors=found, change_answer=changing_answer)
    via = "setup" if setup else session.get(PROOF, {}).get("via", "answer")
    recovery.save(user, change, client_address(), via)
    refusal = accounts.blocked(user)
    if refusal:
        session.clear()
        flash("Su contraseña se cambió, pero su cuenta está bloqueada: comuníquese con soporte técnico.")
        return redirect_to("access.index")
    if setup:  # the sign-in that began this session stays the latest one
        at, ip = _previous_login()
        result = accounts.SignIn(accounts.OK, user.username, user, previous_login_at=at, previous_login_ip=ip)
    else:
        result = accounts.signed_in(user, client_address())
        db.session.commit()
    sessions.begin(result)
    return redirect_to("home.index")


@bp.get("/recuperar/cancelar")
def cancel():
    """Back to the login form; nothing of the recovery stays in the session."""
    session.pop(PROOF, None)
    session.pop(NAME, None)
    return render("login-form", username=session.get("login_name", ""),
                  captcha_id=session.get("captcha_id"))


def _needs_question(user, setup):
    """Set-up, or an account that never chose a question: the step asks for one."""
    return setup or not user.secret_question


def _previous_login():
    at, ip = session.get("previous_login") or (None, None)
    return (datetime.fromisoformat(at) if at else None), ip


def _changing_user():
    """(user, setup): a signed-in account in first sign-in set-up, or a recovery proof's user."""
    if g.user is not None and g.user.secret_question is None:
        return g.user, True
    user = recovery.proven_user(session.get(PROOF))
    if user is None:
        session.pop(PROOF, None)
    return user, False


def _question_step(error=None, sent=False):
    name = session[NAME]
    return render("secret-question-step", username=name,
                  question=recovery.question_for(name), error=error, sent=sent,
                  limited=recovery.answers_locked(name))


def _change_context(user, setup, form=None, errors=(), change_answer=False):
    form = form or ChangePasswordForm(formdata=None)
    password = form.new_password.data or ""
    return {
        "user": user, "setup": setup, "form": form, "errors": errors,
        "change_answer": change_answer or _needs_question(user, setup), "questions": recovery.QUESTIONS,
        "email": form.email.data if form.email.data is not None else user.email,
        "rules": policy.checklist(password, user.username, form.confirm_password.data or ""),
        "typed": bool(password),
    }


def _change_step(user, setup, form=None, errors=(), change_answer=False):
    return render("change-password-step", **_change_context(user, setup, form, errors, change_answer))
