"""Recovering access: the user name, the secret question, the e-mailed coded link.

A right answer or an opened link leaves a recovery proof in the session and opens the
change-password step (views/password_change.py).
"""
from flask import Blueprint, g, redirect, request, session, url_for

from .. import audit, captcha, coded_link, secret_question, sessions
from ..extensions import client_address, db, limit, limiter
from ..forms import AnswerForm, RecoveryForm
from ..htmx import redirect_to, render
from ..password_change import PROOF, make_proof
from .password_change import change_step

bp = Blueprint("recovery", __name__)
NAME = "recovery_name"
LINK = "coded_link"  # the opened link waiting for «continuar»: its id
CHALLENGE = "answer_captcha_id"  # the CAPTCHA of the answer step (the sign-in has its own)


@bp.get("/recuperar")
def start():  # no rate limit: the blank form (see views/access.py)
    return render("recovery-form", typed="", url=url_for("recovery.start"))


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
    return render("forgot-user-notice", page="recovery-form", typed="", show_forgot_user=True,
                  url=url_for("recovery.forgot_user"))


@bp.route("/recuperar/pregunta", methods=["GET", "POST"])  # POST: «No entiendo el texto» without JavaScript
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
    challenge_id = form.captcha_id.data or session.pop(CHALLENGE, None)  # one submission, as at the sign-in
    outcome, user = secret_question.check_answer(
        name, form.answer.data, client_address(), captcha_shown=challenge_id is not None,
        captcha_solved=lambda: captcha.check(challenge_id, form.captcha.data))
    if outcome != secret_question.RIGHT:
        mistyped = outcome == secret_question.CAPTCHA and bool((form.captcha.data or "").strip())
        return _question_step(error=outcome, captcha_mistyped=mistyped)
    session[PROOF] = make_proof(user, "answer")
    return change_step(user, setup=False, url=url_for("password_change.change_password"))


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
    """Open an e-mailed link: nothing is spent (mail scanners fetch links too); the link waits
    in the session for the person to go on, and the code leaves the address bar."""
    link_id, found = coded_link.look(request.args.get("code", ""), client_address())
    if link_id is None:
        return redirect(url_for("recovery.link_refused", motivo=found), 303)
    session[LINK] = link_id
    return redirect(url_for("recovery.link_continue"), 303)


@bp.get("/recuperar/enlace/continuar")
@limiter.limit(limit("RATELIMIT_PAGES"))
def link_continue():
    """What the link is for, and «continuar»; whoever is signed in here is told first."""
    user = coded_link.waiting_user(session.get(LINK))
    if user is None:
        return redirect(url_for("recovery.link_refused", motivo=coded_link.UNKNOWN))
    return render("link-continue", user=user, signed_in=g.user)


@bp.post("/recuperar/enlace/continuar")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def spend_link():
    """The person chose to go on: the link is spent and this browser's session is theirs."""
    user, reason = coded_link.spend(session.get(LINK), client_address())
    if user is None:
        session.pop(LINK, None)
        return redirect_to("recovery.link_refused", motivo=reason)
    sessions.renew()  # whoever was signed in here chose to leave for the link's account
    session[NAME] = user.username
    session[PROOF] = make_proof(user, "link")
    return redirect_to("password_change.change_password")


@bp.get("/recuperar/enlace")
def link_refused():
    reason = request.args.get("motivo")
    if reason not in (coded_link.USED, coded_link.EXPIRED, coded_link.VOID, coded_link.UNKNOWN):
        reason = coded_link.UNKNOWN
    return render("link-error", reason=reason)


@bp.get("/recuperar/cancelar")
def cancel():
    """Back to the login form; nothing of the recovery stays in the session."""
    for key in (PROOF, NAME, LINK):
        session.pop(key, None)
    return render("login-form", username=session.get("login_name", ""),
                  captcha_id=session.get("captcha_id"), url=url_for("access.index"))


def _question_step(error=None, sent=False, captcha_mistyped=False):
    name = session[NAME]
    limited = secret_question.answers_locked(name)
    if not limited and (session.get(CHALLENGE) or secret_question.needs_captcha(name)):
        session[CHALLENGE] = captcha.new_challenge()
    return render("secret-question-step", username=name, question=secret_question.question_for(name),
                  error=error, sent=sent, limited=limited, captcha_id=None if limited else session.get(CHALLENGE),
                  captcha_refresh=url_for("recovery.question"), url=url_for("recovery.question"),
                  captcha_mistyped=captcha_mistyped)
