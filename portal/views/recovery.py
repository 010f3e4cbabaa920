"""Recovering access: the user name, the secret question, the e-mailed coded link.

A right answer or an opened link leaves a recovery proof in the session and opens the
change-password step (views/password_change.py).
"""
from flask import Blueprint, redirect, request, session, url_for

from .. import audit, coded_link, secret_question
from ..extensions import client_address, db, limit, limiter
from ..forms import AnswerForm, RecoveryForm
from ..htmx import redirect_to, render
from ..password_change import PROOF, make_proof
from .password_change import change_step

bp = Blueprint("recovery", __name__)
NAME = "recovery_name"


@bp.get("/recuperar")
def start():  # no rate limit: the blank form (see views/access.py)
    return render("recovery-form", typed="")


@bp.post("/recuperar")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def submit_username():
    form = RecoveryForm(request.form)
    if not form.validate():
        return render("recovery-form", typed=form.shape.suggestion or form.username.data or "", shape=form.shape)
    session[NAME] = form.shape.canonical
    session.pop(PROOF, None)
    audit.record("recovery_started", form.shape.canonical, "ok", client_address())
    db.session.commit()
    return _question_step()


@bp.get("/recuperar/usuario")
def forgot_user():
    return render("forgot-user-notice", page="recovery-form", typed="", show_forgot_user=True)


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
    form = AnswerForm(request.form)
    if not form.validate():
        return _question_step(error="missing")
    outcome, user = secret_question.check_answer(name, form.answer.data, client_address())
    if outcome != secret_question.RIGHT:
        return _question_step(error=outcome)
    session[PROOF] = make_proof(user, "answer")
    return change_step(user, setup=False)


@bp.post("/recuperar/recordatorio")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def reminder():
    name = session.get(NAME)
    if name is None:
        return redirect_to("recovery.start")
    coded_link.request_reminder(name, client_address())
    return _question_step(sent=True)


@bp.get("/request/codedAccess")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def coded_access():
    """Open an e-mailed link: the proof goes to the session, the code leaves the address bar."""
    user, reason = coded_link.open_link(request.args.get("code", ""), client_address())
    if user is None:
        return redirect(url_for("recovery.link_refused", motivo=reason), 303)
    session.clear()  # whoever was signed in here, the link speaks for its own user
    session[NAME] = user.username
    session[PROOF] = make_proof(user, "link")
    return redirect(url_for("password_change.change_password"), 303)


@bp.get("/recuperar/enlace")
def link_refused():
    reason = request.args.get("motivo")
    if reason not in (coded_link.USED, coded_link.EXPIRED, coded_link.VOID, coded_link.UNKNOWN):
        reason = coded_link.UNKNOWN
    return render("link-error", reason=reason)


@bp.get("/recuperar/cancelar")
def cancel():
    """Back to the login form; nothing of the recovery stays in the session."""
    session.pop(PROOF, None)
    session.pop(NAME, None)
    return render("login-form", username=session.get("login_name", ""),
                  captcha_id=session.get("captcha_id"))


def _question_step(error=None, sent=False):
    name = session[NAME]
    return render("secret-question-step", username=name, question=secret_question.question_for(name),
                  error=error, sent=sent, limited=secret_question.answers_locked(name))
