"""Designers' gallery (development and tests only): every fragment of portal/partials/ in each
of its states, with sample data, on one page. Registered by create_app() only when
PORTAL_ENV is "development" or TESTING is on; anywhere else /galeria does not exist (404).
"""
from datetime import timedelta
from types import SimpleNamespace

from flask import Blueprint, abort, current_app, render_template

from .. import captcha, clock, coded_link, policy, secret_question, usernames
from ..forms import AnswerForm, ChangePasswordForm, LoginForm, RecoveryForm

bp = Blueprint("gallery", __name__)

SAMPLE_USER = "GOMA800101AB1"
SAMPLE_QUESTION = secret_question.QUESTIONS[0]


def enabled(app):
    return app.config.get("PORTAL_ENV") == "development" or bool(app.config.get("TESTING"))


@bp.before_request
def only_in_development():
    if not enabled(current_app):
        abort(404)


@bp.get("/galeria")
def index():
    fragments = [(name, [(label, render_template(f"partials/{name}.html", **context))
                         for label, context in states])
                 for name, states in _samples()]
    return render_template("gallery.html", fragments=fragments)


def _samples():
    """(fragment, [(state, template context)]) for every fragment, in the order of the flows."""
    challenge = captcha.new_challenge()
    until = clock.now() + timedelta(minutes=current_app.config["LOCKOUT_MINUTES"])
    login = {"form": LoginForm(), "username": "", "error": None, "blocked": None, "captcha_id": None}
    user = SimpleNamespace(id=1, username=SAMPLE_USER, display_name="María Gómez Alonso",
                           secret_question=SAMPLE_QUESTION, email="maria.gomez@empresa.example")
    shape = usernames.check_shape("goma-800101-ab1")
    return [
        ("login-form", [
            ("Sin mensajes", login),
            ("Con error de usuario o contraseña", {**login, "username": SAMPLE_USER, "error": "invalid"}),
            ("Con error y CAPTCHA", {**login, "username": SAMPLE_USER, "error": "invalid", "captcha_id": challenge}),
            ("Cuenta bloqueada por inactividad, con CAPTCHA",
             {**login, "username": SAMPLE_USER, "blocked": "inactive", "captcha_id": challenge}),
        ]),
        ("login-error", [
            ("Usuario o contraseña incorrectos (invalid)", {"error": "invalid"}),
            ("Falta el texto de la imagen (captcha)", {"error": "captcha"}),
            ("Texto de la imagen equivocado (captcha)", {"error": "captcha", "captcha_mistyped": True}),
            ("Faltan usuario o contraseña (missing)", {"error": "missing"}),
        ]),
        ("captcha", [("Imagen, «No entiendo el texto» y audio", {"captcha_id": challenge})]),
        ("lockout", [
            ("Bloqueo temporal por intentos fallidos, con cuenta regresiva",
             {"until": clock.local(until), "seconds_left": int((until - clock.now()).total_seconds())}),
        ]),
        ("account-blocked", [
            ("Bloqueo por inactividad", {"blocked": "inactive"}),
            ("Cuenta deshabilitada", {"blocked": "disabled"}),
        ]),
        ("rate-limited", [("Demasiadas solicitudes (429)", {})]),
        ("session-expired", [("La página caducó (CSRF)", {})]),
        ("service-unavailable", [("Base de datos no disponible (503)", {}),
                                 ("… después de contar un intento de ingreso", {"attempt_counted": True})]),
        ("recovery-form", [
            ("Sin mensajes", {"form": RecoveryForm(), "typed": ""}),
            ("Usuario con forma incorrecta", {"form": RecoveryForm(),
                                              "typed": shape.suggestion or "", "shape": shape}),
        ]),
        ("forgot-user-notice", [("Aviso abierto", {})]),
        ("secret-question-step", _question_states()),
        ("change-password-step", _change_states(user)),
        ("secret-answer", [
            ("Respuesta registrada, con «Cambiar respuesta»", _change_context(user)),
            ("Cambiando pregunta y respuesta", _change_context(user, change_answer=True)),
        ]),
        ("password-checklist", [
            ("Nada escrito", _change_context(user)),
            ("Cumple una parte", _change_context(user, typed_text="secreto1")),
            ("Cumple todo", _change_context(user, typed_text="Nueva.Clave7", confirmation="Nueva.Clave7")),
        ]),
        ("link-continue", [
            ("Enlace abierto: «continuar»", {"user": user, "signed_in": None}),
            ("Con la sesión de otro usuario abierta", {"user": user, "signed_in": SimpleNamespace(
                id=2, username="LOPJ750315XY2")}),
        ]),
        ("sign-out-confirm", [("Salir, desde la aplicación", {"user": user, "target": "https://factura.example/"}),
                              ("Salir, sin destino", {"user": user, "target": None})]),
        ("link-error", [(label, {"reason": reason}) for reason, label in (
            (coded_link.USED, "Enlace ya usado"), (coded_link.EXPIRED, "Enlace vencido"),
            (coded_link.VOID, "Enlace anulado"), (coded_link.UNKNOWN, "Enlace desconocido"))]),
        ("account-confirm", [("Confirme su contraseña", {}), ("Contraseña incorrecta", {"confirm_error": True})]),
        ("account-sessions", _account_states(user, sessions_errors=["Por seguridad, confirme primero su contraseña."])),
        ("account-password", _account_states(user, password_errors=[
            "La confirmación no coincide con la nueva contraseña."])),
        ("account-question", _account_states(user, question_errors=["Elija una pregunta secreta."])),
        ("account-email", _account_states(user, email_errors=[
            "Escriba un correo electrónico válido, por ejemplo nombre@empresa.com.mx."])),
        ("email-confirm", [
            ("Enlace abierto: «confirmar»", {"valid": True, "user": user, "change": SimpleNamespace(
                new_email="maria@nueva.example")}),
            ("Confirmado", {"valid": True, "confirmed": True, "user": user}),
            ("Enlace que ya no sirve", {"valid": False}),
        ]),
        ("side-panel", [("Noticias y enlaces del archivo de contenido", {})]),
    ]


def _account_states(user, **refused):
    """A section of «Mi cuenta»: ready for changes, with its errors, done, and before the
    password is confirmed again."""
    now = clock.now()
    sessions = [SimpleNamespace(id="esta", device="Chrome en Windows", client_ip="203.0.113.7", created_at=now),
                SimpleNamespace(id="otra", device="Safari en iOS", client_ip="198.51.100.20",
                                created_at=now - timedelta(hours=2))]
    base = {"user": user, "sessions": sessions, "current_sid": "esta", "recent": True, "local": clock.local,
            "questions": secret_question.QUESTIONS, "rules": policy.checklist("", user.username, ""), "typed": False}
    return [
        ("Lista para cambios", base),
        ("Con errores", {**base, **refused}),
        ("Hecho", {**base, "done_message": "Listo: el cambio se guardó."}),
        ("Antes de confirmar la contraseña", {**base, "recent": False}),
    ]


def _question_states():
    base = {"form": AnswerForm(), "username": SAMPLE_USER, "question": SAMPLE_QUESTION,
            "error": None, "sent": False, "limited": False}
    return [
        ("Pregunta", base),
        ("Respuesta incorrecta", {**base, "error": "wrong"}),
        ("Falta la respuesta", {**base, "error": "missing"}),
        ("Límite de respuestas alcanzado", {**base, "limited": True}),
        ("Recordatorio enviado", {**base, "sent": True}),
    ]


def _change_states(user):
    return [
        ("Recuperación", _change_context(user)),
        ("Primer ingreso (configuración)", _change_context(user, setup=True)),
        ("Con errores", _change_context(user, typed_text="secreto1", errors=(
            "La nueva contraseña no cumple todos los requisitos de la lista.",
            "Escriba un correo electrónico válido, por ejemplo nombre@empresa.com.mx.",
        ))),
    ]


def _change_context(user, setup=False, change_answer=False, typed_text="", confirmation="", errors=()):
    return {
        "user": user, "setup": setup, "form": ChangePasswordForm(), "errors": errors,
        "change_answer": change_answer or setup, "questions": secret_question.QUESTIONS, "email": user.email,
        "rules": policy.checklist(typed_text, user.username, confirmation),
        "typed": bool(typed_text),
    }
