"""The access page and sign-in: the login form, its error box, the lock and account notices."""
from flask import Blueprint, flash, g, redirect, request, session, url_for

from .. import accounts, captcha, clock, devices, lockout, return_target, sessions
from ..extensions import client_address, limit, limiter
from ..forms import LoginForm
from ..htmx import redirect_to, redirect_to_url, render

bp = Blueprint("access", __name__)

# No rate limit on the GETs that show the access page's forms (here, /recuperar and
# /recuperar/usuario): they check no password, make nothing, write nothing, and cost less
# than the limiter itself. Limits guard what can be abused: sign-in, the recovery steps,
# CAPTCHAs, and the recovery and lock pages that follow an account.
@bp.get("/")
def index():
    """The access page; `rd`: where to go once signed in (kept in the session, see return_target)."""
    if "rd" in request.args:
        return_target.remember(request.args["rd"])
    if g.user is not None:  # (while the first sign-in set-up is pending, the target waits for it)
        target = return_target.take() if g.user.secret_question is not None else None
        return redirect(target or url_for("account.index"))
    until = _current_lock()
    if until:
        return render("lockout", **_lock_context(until))
    return render("login-form", **_form_context())


@bp.get("/formulario")
def form():
    """The way back from a lock: the form itself, for another user name (or the same one, once
    its lock ends). The browser forgets the name it tried; the lock of that name stands."""
    session.pop("login_name", None)
    return render("login-form", url=url_for("access.index"), **_form_context())


@bp.get("/jsp/acceso.jsp")
def legacy():
    return redirect(url_for("access.index"), 301)


@bp.post("/entrar")
@limiter.limit(limit("RATELIMIT_LOGIN"))
def login():
    form = LoginForm(request.form)
    if not form.validate():
        return _refused(form.problem(), form.username.data or "")
    result = _authenticate(form)
    if result.outcome == accounts.OK:
        sessions.begin(result, client_address(), request.user_agent.string, request.cookies.get(devices.COOKIE))
        if result.user.secret_question is None:  # first sign-in: set-up comes first (the target waits)
            return redirect_to("password_change.change_password")
        return onward()
    if result.outcome == accounts.LOCKED:
        return render("lockout", retarget="#login-form", **_lock_context(result.locked_until))
    if result.outcome in (accounts.INACTIVE, accounts.DISABLED):
        return render("account-blocked", page="login-form", oob=("captcha",),
                      **_form_context(form.username.data, blocked=result.outcome, with_captcha=True))
    mistyped = result.outcome == accounts.CAPTCHA and bool((form.captcha.data or "").strip())
    return _refused(result.outcome, form.username.data, captcha_mistyped=mistyped)


@bp.get("/bloqueo")
@limiter.limit(limit("RATELIMIT_PAGES"))
def lock_status():
    """Polled by the lockout fragment: the lock again while it lasts, then the form back."""
    until = _current_lock()
    if until:
        return render("lockout", **_lock_context(until))
    return render("login-form", **_form_context())


def onward(notice=None):
    """Signed in: to the return target, or else the home page; the notice is for a page of the
    portal (an application elsewhere would leave it waiting in the session)."""
    target = return_target.take()
    if notice and (target is None or target.startswith("/")):
        flash(notice)
    return redirect_to_url(target) if target else redirect_to("account.index")


def _authenticate(form):
    """The sign-in rules for the submitted form; the name tried is remembered for the page."""
    # The challenge on the form («No entiendo el texto» changes it there, not in the session),
    # else the one the session was given. Either way it serves one submission only.
    given = session.pop("captcha_id", None)
    challenge_id = form.captcha_id.data or given
    result = accounts.authenticate(
        form.username.data, form.password.data, client_address(),
        captcha_shown=challenge_id is not None,
        captcha_solved=lambda: captcha.check(challenge_id, form.captcha.data),
    )
    if session.get("login_name") != result.username:  # unchanged: no new cookie to sign
        session["login_name"] = result.username
    return result


def _refused(error, typed_name, captcha_mistyped=False):
    return render("login-error", page="login-form", oob=("captcha",), captcha_mistyped=captcha_mistyped,
                  **_form_context(typed_name, error=error, with_captcha=True))


def _current_lock():
    name = session.get("login_name")
    return lockout.locked_until(accounts.counter_key(name)) if name else None


def _form_context(typed_name=None, error=None, blocked=None, with_captcha=False):
    """What the login form shows: the name typed, a message, and the CAPTCHA when due."""
    name = typed_name if typed_name is not None else session.get("login_name", "")
    if with_captcha or session.get("captcha_id") or (name and accounts.needs_captcha(name)):
        session["captcha_id"] = captcha.new_challenge()
    return {"username": name, "error": error, "blocked": blocked,
            "captcha_id": session.get("captcha_id")}


def _lock_context(until):
    """The lock's end and the seconds left: all the lockout fragment shows."""
    seconds = max(int((until - clock.now()).total_seconds()), 0) + 1
    return {"until": clock.local(until), "seconds_left": seconds}
