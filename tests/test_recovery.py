"""Self-service recovery, its first steps (SPEC sections 3 and 4): the recovery form, the user
name's shape, the forgot-user notice, and cancelling. The later steps have files of their own:
test_secret_question.py, test_coded_link.py and test_password_change.py."""
import html
import re

import pytest

from helpers import (
    ANSWER,
    HTMX,
    NAME,
    PASSWORD,
    QUESTION,
    UNKNOWN,
    ask,
    assert_fragment,
    assert_page,
    open_link,
    prove_by_answer,
    reminder_link,
    reply,
    save,
    signs_in,
    text,
)

# The recovery form

def test_recovery_form_answers_each_way(client, way):
    body = way.assert_answer(way.get(client, "/recuperar"), "recovery-form")
    assert 'name="username"' in body


def test_recovery_form_explains_the_four_kinds_of_user_name(client):
    body = text(client.get("/recuperar", headers=HTMX))
    assert "<code>GOMA800101AB1</code>" in body
    assert "<code>CT.GOMA800101AB1</code>" in body
    assert "<code>usr.GOMA800101AB1</code>" in body
    assert "<code>PRV.GOMA800101AB1</code>" in body
    assert "12 caracteres para empresas, 13 para personas físicas" in body


def test_recovery_form_has_aceptar_cancelar_and_forgot_user(client):
    body = text(client.get("/recuperar", headers=HTMX))
    assert ">aceptar</button>" in body
    assert 'href="/recuperar/cancelar"' in body and ">cancelar</a>" in body
    assert 'href="/recuperar/usuario"' in body and "¿Olvidó su usuario?" in body


def test_login_form_links_to_the_recovery_form(client):
    assert 'hx-get="/recuperar"' in text(client.get("/", headers=HTMX))


def test_recovery_routes_are_rate_limited_with_a_friendly_fragment(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_RECOVERY="2/minute")
    client = app.test_client()
    for _ in range(2):
        assert ask(client, UNKNOWN).status_code == 200
    assert_page(ask(client, UNKNOWN), "rate-limited", status=429)
    body = assert_fragment(ask(client, UNKNOWN, htmx=True), "rate-limited", status=429)
    assert "Espere un minuto" in body and "Traceback" not in body


# The user name's shape

@pytest.mark.parametrize("typed, canonical", [
    ("goma-800101-ab1", "GOMA800101AB1"),
    ("goma800101ab1", "GOMA800101AB1"),
    ("GOMA 800101 AB1", "GOMA800101AB1"),
    ("ct.goma800101ab1", "CT.GOMA800101AB1"),
    ("USR.GOMA-800101-AB1", "usr.GOMA800101AB1"),
    ("prv. goma 800101 ab1", "PRV.GOMA800101AB1"),
])
def test_near_miss_says_what_was_expected(client, typed, canonical):
    response = ask(client, typed, htmx=True)
    body = assert_fragment(response, "recovery-form")
    assert f"Escriba su usuario así: {canonical}" in body
    assert 'role="alert"' in body and 'aria-invalid="true"' in body
    assert f'value="{canonical}"' in body  # the form holds the expected form, ready to accept


def test_near_miss_does_not_reach_the_question(client, user):
    assert "Escriba su usuario así" in text(ask(client, "goma-800101-ab1"))
    assert client.get("/recuperar/pregunta").headers["Location"] == "/recuperar"


def test_near_miss_without_htmx_is_the_whole_page(client):
    body = assert_page(ask(client, "goma-800101-ab1"), "recovery-form")
    assert ("Escriba su usuario así: GOMA800101AB1 (prefijo como se indica, RFC en mayúsculas, "
            "sin guiones ni espacios).") in body


@pytest.mark.parametrize("typed, message", [
    ("GOMA800101A", "El RFC tiene 12 caracteres (empresas) o 13 (personas físicas); el que escribió tiene 11."),
    ("GOMA800101AB12", "El RFC tiene 12 caracteres (empresas) o 13 (personas físicas); el que escribió tiene 14."),
    ("GOMA800132AB1", "La fecha del RFC (800132, AAMMDD) no es una fecha válida."),
    ("GOMA801301AB1", "La fecha del RFC (801301, AAMMDD) no es una fecha válida."),
    ("GOM801301AB1", "La fecha del RFC (801301, AAMMDD) no es una fecha válida."),  # 12 characters: a company
    ("ct.goma-801301-ab1", "La fecha del RFC (801301, AAMMDD) no es una fecha válida."),
    ("GO1A800101AB1", "El RFC empieza con 3 letras (empresas) o 4 (personas físicas), sigue con la fecha "
                      "en 6 dígitos (AAMMDD) y termina con la homoclave de 3 caracteres."),
    ("GOMA800101A.1", "La homoclave (los 3 últimos caracteres del RFC) solo lleva letras y números."),
    ("", "Escriba su usuario."),
    ("   ", "Escriba su usuario."),
])
def test_bad_user_name_gets_a_clear_message(client, typed, message):
    body = assert_fragment(ask(client, typed, htmx=True), "recovery-form")
    assert re.search(r'<div id="recovery-error"[^>]*><p>([^<]*)</p>', body).group(1) == html.escape(message)


@pytest.mark.parametrize("typed", [
    "GOMA\uff18\uff10\uff10\uff11\uff10\uff11AB1",  # fullwidth digits
    "GOMA\u0668\u0660\u0660\u0661\u0660\u0661AB1",  # Arabic-Indic digits
    "GOMA800101AB\u0661",                                 # a homoclave digit that is not ASCII
])
def test_an_rfc_has_ascii_digits_only(client, typed):
    """Found by the outside review: \\d in the RFC pattern took any Unicode digit, so these
    passed as user names of the four kinds (and were stored as such)."""
    body = assert_fragment(ask(client, typed, htmx=True), "recovery-form")
    assert 'id="recovery-error"' in body


def test_a_user_name_of_more_than_64_characters_gets_a_message_not_a_crash(client):
    body = assert_fragment(ask(client, "GOMA800101AB1" * 6, htmx=True), "recovery-form")
    assert 'id="recovery-error"' in body and "El RFC tiene 12 caracteres" in body


@pytest.mark.parametrize("username", [NAME, "CT.GOMA800101AB1", "usr.GOMA800101AB1", "PRV.GOMA800101AB1",
                                      "ÑUÑA800101AB1", "GOM800101AB1"])
def test_each_kind_of_user_name_reaches_the_question(client, username):
    body = assert_fragment(ask(client, username, htmx=True), "secret-question-step")
    assert f"Usuario: <strong>{username}</strong>" in body


def test_ampersand_in_the_rfc_is_accepted(client):
    body = assert_fragment(ask(client, "A&B010203XY4", htmx=True), "secret-question-step")
    assert "Usuario: <strong>A&amp;B010203XY4</strong>" in body


def test_leap_day_is_a_valid_date(client):
    assert_fragment(ask(client, "GOMA000229AB1", htmx=True), "secret-question-step")


def test_right_user_name_without_htmx_shows_the_question_in_the_whole_page(client, user):
    body = assert_page(ask(client, NAME), "secret-question-step")
    assert QUESTION in body


# ¿Olvidó su usuario?

def test_forgot_user_notice_answers_each_way(client, way):
    """htmx: a dialog for the script to open as a modal; a plain request and a history restore:
    the whole page, with the dialog open over the recovery form."""
    body = way.assert_answer(way.get(client, "/recuperar/usuario"), "forgot-user-notice", tag="dialog")
    assert ">Cerrar</button>" in body and '<form method="dialog">' in body
    if way.whole_page:
        assert 'id="recovery-form"' in body
        assert re.search(r'<dialog id="forgot-user-notice"[^>]* open>', body)
    else:
        assert " open" not in body.split(">", 1)[0]


def test_forgot_user_notice_shows_the_default_contacts(client):
    body = text(client.get("/recuperar/usuario", headers=HTMX))
    assert "lunes a viernes de 9:00 a 18:00" in body
    assert "55 5000 1234" in body and "800 123 4567" in body
    assert "soporte@efactura.example" in body and "nomina@efactura.example" in body


def test_forgot_user_contacts_come_from_the_content_file(make_app, tmp_path):
    content = tmp_path / "contenido.toml"
    content.write_text(
        '[panel]\ntitle = "Servicio e-Factura"\n'
        '[[panel.news]]\ndate = "2026-11-01"\ntitle = "Aviso"\ntext = "Texto."\n'
        '[[panel.links]]\nlabel = "Preguntas frecuentes"\nurl = "https://www.efactura.example/faq"\n'
        '[support]\noffice_hours = "lunes a sábado de 8:00 a 20:00"\noffice_phone = "33 3000 9999"\n'
        'after_hours_phone = "800 999 0000"\nemail = "ayuda@proveedor.example"\n'
        'payroll_email = "recibos@proveedor.example"\n', encoding="utf-8")
    app = make_app(CONTENT_FILE=str(content))
    body = text(app.test_client().get("/recuperar/usuario", headers=HTMX))
    assert "En horario de oficina (lunes a sábado de 8:00 a 20:00)" in body
    assert 'href="tel:3330009999">33 3000 9999</a>' in body
    assert "Fuera de ese horario: <a" in body and "800 999 0000" in body
    assert 'href="mailto:ayuda@proveedor.example"' in body
    assert "Buzones de nómina (usuarios que empiezan con <code>CT.</code>)" in body
    assert 'href="mailto:recibos@proveedor.example"' in body
    assert "55 5000 1234" not in body and "soporte@efactura.example" not in body


# cancelar

def test_cancel_answers_each_way_with_the_login_form(client, way):
    body = way.assert_answer(way.get(client, "/recuperar/cancelar"), "login-form")
    assert 'name="username"' in body and 'name="password"' in body


def test_cancel_drops_the_recovery_proof(app, client, user):
    prove_by_answer(client)
    client.get("/recuperar/cancelar", headers=HTMX)
    assert client.get("/cambiar-contrasena").headers["Location"] == "/recuperar"
    assert save(client).headers["Location"] == "/recuperar"
    assert signs_in(app, NAME, PASSWORD)


def test_cancel_drops_the_proof_of_an_opened_link(mailing, smtp):
    browser = mailing.test_client()
    open_link(browser, reminder_link(mailing, smtp))
    browser.get("/recuperar/cancelar")
    assert browser.get("/cambiar-contrasena").headers["Location"] == "/recuperar"


def test_cancel_drops_the_user_name(client, user):
    ask(client)
    client.get("/recuperar/cancelar")
    assert client.get("/recuperar/pregunta").headers["Location"] == "/recuperar"
    assert reply(client, ANSWER).headers["Location"] == "/recuperar"


def test_a_new_user_name_drops_the_proof_for_the_previous_one(client, user):
    prove_by_answer(client)
    ask(client, UNKNOWN)
    assert client.get("/cambiar-contrasena").headers["Location"] == "/recuperar"
