"""The console's door (/soporte): the set-up link, sign-in with password and CAPTCHA, the
second factor (its enrolment the first time, with a QR code and recovery codes shown once),
and signing out."""
from flask import Blueprint, current_app, flash, g, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import audit, captcha, clock, lockout, policy, second_factor, staff, staff_session
from ..extensions import client_address, limit, limiter
from ..htmx import redirect_to, render
from . import console_access

bp = Blueprint("console_auth", __name__, url_prefix="/soporte")
console_access.init_blueprint(bp)
PAGE = "console.html"
ENROL_SECONDS = 15 * 60


@bp.get("")
def index():
    """Where the member stands: sign-in, the second factor, its enrolment, or the console."""
    stage = g.get("staff_stage")
    if stage == staff_session.SIGNED_IN:
        return redirect_to("console_customers.search")
    if stage == staff_session.SECOND_FACTOR:
        return redirect_to("console_auth.code")
    if stage == staff_session.ENROL:
        return redirect_to("console_auth.enrol")
    return redirect_to("console_auth.sign_in")


@bp.get("/entrar")
def sign_in():
    if g.get("staff_stage") == staff_session.SIGNED_IN:
        return redirect_to("console_customers.search")
    return render("console/sign-in", template=PAGE, **_form())


@bp.post("/entrar")
@limiter.limit(limit("RATELIMIT_LOGIN"))
def sign_in_post():
    name = (request.form.get("name") or "").strip()
    password = request.form.get("password") or ""
    if not name or not password or len(name) > 64 or len(password) > 1024:
        return render("console/sign-in", template=PAGE, **_form(name, "Escriba su nombre de personal y su contraseña."))
    challenge = request.form.get("captcha_id") or None
    result = staff.authenticate(name, password, client_address(), captcha_shown=challenge is not None,
                                captcha_solved=lambda: captcha.check(challenge, request.form.get("captcha")))
    if result.outcome == staff.OK:
        member = result.staff
        stage = staff_session.SECOND_FACTOR if member.totp_secret else staff_session.ENROL
        staff_session.begin(member, stage, client_address())
        return redirect_to("console_auth.index")
    return render("console/sign-in", template=PAGE, **_form(name, _message(result)))


@bp.post("/entrar/captcha")
@limiter.limit(limit("RATELIMIT_CAPTCHA"))
def new_captcha():
    """«No entiendo el texto» without JavaScript: the form again with a new image."""
    return render("console/sign-in", template=PAGE, **_form((request.form.get("name") or "")[:64], force_captcha=True))


def _message(result):
    if result.outcome == staff.LOCKED:
        until = clock.local(result.locked_until) if result.locked_until else None
        return ("Por seguridad, este nombre quedó bloqueado por intentos fallidos"
                + (f" hasta las {until:%H:%M}." if until else ".") + " Pida ayuda a un administrador si lo necesita.")
    if result.outcome == staff.CAPTCHA:
        return "Escriba el texto de la imagen para continuar."
    if result.outcome == staff.DISABLED:
        return "Su cuenta de personal está deshabilitada. Hable con un administrador."
    return "El nombre, la contraseña o el código no son correctos."


def _form(name="", error=None, force_captcha=False):
    shown = force_captcha or error is not None or (name and lockout.has_recent_failures(staff.key(name)))
    return {"name": name, "error": error, "captcha_id": captcha.new_challenge() if shown else None,
            "captcha_refresh": url_for("console_auth.new_captcha"), "title": "Entrada del personal"}


@bp.get("/codigo")
def code():
    if g.get("staff_stage") != staff_session.SECOND_FACTOR:
        return redirect_to("console_auth.index")
    return render("console/second-factor", template=PAGE, title="Segundo factor")


@bp.post("/codigo")
@limiter.limit(limit("RATELIMIT_LOGIN"))
def code_post():
    if g.get("staff_stage") != staff_session.SECOND_FACTOR:
        return redirect_to("console_auth.index")
    recovery = bool(request.form.get("recovery_code"))
    typed = request.form.get("recovery_code") if recovery else request.form.get("code")
    result = staff.confirm_second_factor(g.staff, (typed or "")[:40], client_address(), recovery=recovery)
    if result.outcome == staff.OK:
        staff_session.begin(g.staff, staff_session.SIGNED_IN, client_address())
        return redirect_to("console_customers.search")
    if result.outcome == staff.LOCKED:
        staff_session.end_current()
        flash(_message(result))
        return redirect_to("console_auth.sign_in")
    return render("console/second-factor", template=PAGE, title="Segundo factor",
                  error="El código no es correcto, o ya se usó. Espere el siguiente código de su aplicación.")


def _enrol_serializer():
    return URLSafeTimedSerializer(current_app.secret_key, salt="console-enrol")


@bp.get("/factor")
def enrol():
    if g.get("staff_stage") != staff_session.ENROL:
        return redirect_to("console_auth.index")
    return _enrol_page(second_factor.new_secret())


def _enrol_page(secret, error=None):
    uri = second_factor.provisioning_uri(g.staff, secret)
    return render("console/enrol", template=PAGE, title="Alta del segundo factor", secret=secret,
                  grouped=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                  qr=second_factor.qr_svg(uri), token=_enrol_serializer().dumps([g.staff.id, secret]), error=error)


@bp.post("/factor")
@limiter.limit(limit("RATELIMIT_LOGIN"))
def enrol_post():
    if g.get("staff_stage") != staff_session.ENROL:
        return redirect_to("console_auth.index")
    try:
        staff_id, secret = _enrol_serializer().loads(request.form.get("token") or "", max_age=ENROL_SECONDS)
    except (BadSignature, ValueError, TypeError):
        return _enrol_page(second_factor.new_secret(), "El alta tardó demasiado: escanee este código nuevo.")
    if staff_id != g.staff.id:
        return _enrol_page(second_factor.new_secret(), "El alta tardó demasiado: escanee este código nuevo.")
    codes = second_factor.enrol(g.staff, secret, (request.form.get("code") or "")[:20])
    if codes is None:
        return _enrol_page(secret, "El código no es correcto. Revise la hora de su teléfono y escriba el código "
                                   "que muestra la aplicación ahora.")
    staff.signed_in(g.staff, client_address())
    audit.record("staff_second_factor_enrolled", staff.key(g.staff.name), "ok", client_address())
    member = g.staff
    staff_session.begin(member, staff_session.SIGNED_IN, client_address())
    return render("console/recovery-codes", template=PAGE, title="Códigos de recuperación", codes=codes)


@bp.get("/alta")
def setup():
    member = staff.awaiting_setup(request.args.get("codigo"))
    if member is None:
        return render("console/setup", template=PAGE, title="Alta del personal", member=None)
    return render("console/setup", template=PAGE, title="Alta del personal", member=member,
                  code=request.args.get("codigo"))


@bp.post("/alta")
@limiter.limit(limit("RATELIMIT_RECOVERY"))
def setup_post():
    code_value = request.form.get("codigo")
    member = staff.awaiting_setup(code_value)
    if member is None:
        return render("console/setup", template=PAGE, title="Alta del personal", member=None)
    password, confirmation = request.form.get("password") or "", request.form.get("confirmation") or ""
    unmet = [rule.text.lower() for rule in policy.checklist(password, member.name, confirmation) if not rule.met]
    if unmet:
        return render("console/setup", template=PAGE, title="Alta del personal", member=member, code=code_value,
                      error="La contraseña no cumple: " + "; ".join(unmet) + ".")
    staff.finish_setup(member, password, client_address())
    flash("Contraseña guardada. Entre con su nombre y su contraseña; después dará de alta su segundo factor.")
    return redirect_to("console_auth.sign_in")


@bp.post("/salir")
def sign_out():
    if g.get("staff") is not None:
        audit.record("staff_logout", staff.key(g.staff.name), "ok", client_address())
    staff_session.end_current()
    flash("Salió de la consola de soporte.")
    return redirect_to("console_auth.sign_in")
