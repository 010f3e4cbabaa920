"""What a first walk-through of the portal tripped on (the traps), each shown by a test that
failed before its fix: the lock screen that trapped the browser, one message for a missing and
a mistyped CAPTCHA, recovery steps lost on a reload, a checklist that did not match empty
fields, things that did nothing without JavaScript, no word after saving, and wording."""
import re

import pytest

from helpers import (
    CAPTCHA,
    HTMX,
    NAME,
    NEW_PASSWORD,
    PASSWORD,
    ask,
    csrf_token,
    fail,
    finished,
    follow,
    login,
    make_user,
    prove_by_answer,
    reply,
    rules_in,
    save,
    text,
)

OTHER = "LOPJ750315XY2"


# 1. The lock screen was a trap

def test_the_way_back_from_a_lock_really_shows_the_form(app, client, user):
    locked = text(fail(client, NAME, times=5))
    assert 'id="lockout"' in locked
    back = re.search(r'<a class="button" href="([^"]+)"[^>]*>Volver al formulario</a>', locked).group(1)
    form = client.get(back)
    assert 'id="login-form"' in text(form) and 'id="lockout"' not in text(form)
    assert 'id="lockout"' not in text(client.get("/"))  # nor does the access page trap it any more
    make_user(app, OTHER, email="juan@example.com")
    assert login(client, OTHER, PASSWORD, captcha=CAPTCHA).status_code == 303  # another user signs in at once
    assert 'id="lockout"' in text(login(app.test_client(), NAME, PASSWORD))  # the lock itself stands


def test_the_lock_box_links_to_the_recovery(client, user):
    locked = text(fail(client, NAME, times=5))
    assert re.search(r'<a href="/recuperar"[^>]*>Olvidé mi contraseña</a>', locked)


# 2. A mistyped CAPTCHA said the same as a missing one

def test_a_mistyped_captcha_says_it_does_not_match(client, user):
    fail(client, NAME)
    missing = text(login(client, NAME, PASSWORD))
    assert "escriba también el texto de la imagen" in missing
    mistyped = text(login(client, NAME, PASSWORD, captcha="OTRO1"))
    assert "El texto de la imagen no coincide; escríbalo de nuevo." in mistyped
    assert "escriba también el texto de la imagen" not in mistyped


def test_a_mistyped_captcha_on_the_answer_step_says_so_too(client, user):
    ask(client)
    reply(client, "Rojo")
    assert "El texto de la imagen no coincide" in text(reply(client, "Azul", captcha="OTRO1"))


# 3. Recovery did not survive a reload

@pytest.mark.parametrize("step, url", [
    (lambda client: client.get("/recuperar", headers=HTMX), "/recuperar"),
    (lambda client: ask(client, htmx=True), "/recuperar/pregunta"),
    (lambda client: prove_by_answer(client, htmx=True), "/cambiar-contrasena"),
    (lambda client: client.get("/recuperar/usuario", headers=HTMX), "/recuperar/usuario"),
    (lambda client: client.get("/recuperar/cancelar", headers=HTMX), "/"),
])
def test_each_recovery_step_has_its_own_address_that_serves_it_again(client, user, step, url):
    response = step(client)
    assert response.headers.get("HX-Push-Url") == url
    again = client.get(url)  # a reload: the whole page with the same step
    assert again.status_code == 200 and "<!doctype html>" in text(again)
    fragment = re.match(r'\s*<[a-z]+ id="([\w-]+)"', text(response)).group(1)
    assert f'id="{fragment}"' in text(again)


# 4. After a refused save the checklist showed the old ticks while the fields were empty

def test_after_a_refused_save_the_checklist_matches_the_empty_fields(client, user):
    prove_by_answer(client)
    refused = save(client, new=NEW_PASSWORD, email="no-es-correo", htmx=True)
    assert 'id="change-password-errors"' in text(refused)
    assert set(rules_in(refused).values()) == {"pending"}  # nothing typed: nothing ticked


# 5. Without JavaScript

def test_the_eye_button_is_hidden_until_javascript_shows_it(client):
    page = text(client.get("/"))
    assert re.search(r'<button type="button" class="eye"[^>]* hidden', page)


def test_no_entiendo_el_texto_without_javascript_keeps_the_typed_user_name(client, user):
    fail(client, NAME)
    page = text(client.get("/"))
    button = re.search(r'<button[^>]*formaction="([^"]+)"[^>]*>No entiendo el texto</button>', page)
    assert button  # a button of the form: it sends what was typed
    token = csrf_token(client)
    refreshed = finished(client.post(button.group(1), data={"csrf_token": token, "username": "escrito.a.mano",
                                                            "password": "no-se-devuelve"}))
    body = text(refreshed)
    assert 'value="escrito.a.mano"' in body and "no-se-devuelve" not in body and 'id="captcha"' in body


# 6. After saving a new password nothing said it worked

def test_a_saved_password_is_confirmed_on_the_page_it_lands_on(client, user):
    prove_by_answer(client)
    landed = follow(client, save(client))
    assert "Su contraseña se cambió." in text(landed)


# 7. Wording

def test_the_reminder_offer_reads_as_an_offer(client, user):
    page = text(ask(client))
    assert "¿No recuerda la respuesta? Podemos enviarle un enlace a su correo registrado." in page


def test_side_panel_dates_read_day_month_year(client):
    page = text(client.get("/"))
    assert re.search(r'<time datetime="2026-11-01">01/11/2026</time>', page)


# 9. Brand and content from the content file

BRANDED = '''
[brand]
name = "Facturas del Norte"
product = "Portal"
logo = "/marca/logo.png"
primary = "#7a1f5c"
primary_dark = "#5a1644"

[footer]
text = "Facturas del Norte · CFDI desde 2009"
legal = "Facturas del Norte, S.A. de C.V. Aviso de privacidad en facturasdelnorte.example/privacidad."

[panel]
title = "Novedades"

[[panel.news]]
date = "2026-11-30"
title = "Nuevo horario"
text = "Atendemos también los sábados."

[[panel.links]]
label = "Ayuda"
url = "https://facturasdelnorte.example/ayuda"

[support]
office_hours = "lunes a sábado de 8:00 a 20:00"
office_phones = ["81 8000 1111", "81 8000 2222"]
after_hours_phone = "800 000 3333"
email = "ayuda@facturasdelnorte.example"
payroll_email = "nomina@facturasdelnorte.example"
'''


@pytest.fixture
def branded(make_app, tmp_path):
    content = tmp_path / "marca.toml"
    content.write_text(BRANDED, encoding="utf-8")
    instance = tmp_path / "instance" / "marca"
    instance.mkdir(parents=True)
    (instance / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    app = make_app(CONTENT_FILE=str(content))
    make_user(app)
    return app


def test_an_operator_makes_the_portal_theirs_from_the_content_file(branded, smtp):
    client = branded.test_client()
    page = text(client.get("/"))
    for shown in ("Facturas del Norte", "Facturas del Norte · CFDI desde 2009",
                  "Aviso de privacidad en facturasdelnorte.example/privacidad", "/marca/logo.png"):
        assert shown in page
    assert "e-Factura" not in page.split("<body")[1]  # nothing of the default brand in the page
    assert client.get("/marca/logo.png").status_code == 200
    colours = client.get(re.search(r'<link rel="stylesheet" href="(/marca\.css[^"]*)"', page).group(1))
    assert colours.mimetype == "text/css" and "--green: #7a1f5c" in text(colours)
    notice = text(client.get("/recuperar/usuario"))
    for contact in ("81 8000 1111", "81 8000 2222", "800 000 3333", "ayuda@facturasdelnorte.example",
                    "nomina@facturasdelnorte.example", "lunes a sábado de 8:00 a 20:00"):
        assert contact in notice


def test_the_emails_carry_the_brand_and_the_legal_note(branded, smtp):
    from helpers import remind

    branded.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    branded.extensions["mail"].server, branded.extensions["mail"].port = "127.0.0.1", smtp.port
    client = branded.test_client()
    ask(client)
    remind(client)
    from helpers import deliver, parsed, text_of

    deliver()
    message = parsed(smtp.wait_for(1)[0])
    plain, html = text_of(message), message.get_body(("html",)).get_content()
    for body in (plain, html):
        assert "Facturas del Norte" in body and "Aviso de privacidad en facturasdelnorte.example" in body
        assert "e-Factura" not in body
