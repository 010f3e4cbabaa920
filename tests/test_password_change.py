"""The change-password step (SPEC section 3): what it shows, the live checklist of the policy,
saving a new password (what it voids, clears, signs out and sends), and the first sign-in set-up."""
import re

import pytest

from helpers import (
    ANSWER,
    CAPTCHA,
    EMAIL,
    HTMX,
    NAME,
    NEW_PASSWORD,
    PASSWORD,
    QUESTION,
    QUESTIONS,
    SETUP_NAME,
    TEMPORARY,
    WRONG_ANSWER_TEXT,
    ask,
    assert_fragment,
    assert_page,
    assert_text_and_html,
    check,
    code_of,
    fail,
    html,
    link_in,
    login,
    open_link,
    plain,
    prove_by_answer,
    question_in,
    received,
    remind,
    reminder_link,
    reply,
    rows,
    rules_in,
    save,
    signs_in,
    stored_user,
    text,
)
from portal.extensions import db
from portal.models import AuthEvent, CodedLink, LoginThrottle

CONFIRMATION_TEXT = "La confirmación no coincide con la nueva contraseña."
POLICY_TEXT = "La nueva contraseña no cumple todos los requisitos de la lista."
LOGIN_ERROR_TEXT = "La combinación de usuario y contraseña no es correcta."


# The change-password step

def test_change_step_shows_the_user_read_only_and_the_email_editable(client, user):
    ask(client)
    body = assert_fragment(reply(client, ANSWER, htmx=True), "change-password-step")
    assert re.search(rf'<input id="login-name" type="text" value="{NAME}" readonly', body)
    assert re.search(r'<input id="display-name" type="text" value="María Gómez" readonly', body)
    email = re.search(r'<input id="email" name="email"[^>]*>', body).group(0)
    assert f'value="{EMAIL}"' in email and "readonly" not in email
    assert 'name="new_password"' in body and 'name="confirm_password"' in body
    assert 'id="password-checklist"' in body
    assert ">aceptar</button>" in body and ">cancelar</a>" in body


def test_change_step_shows_the_question_with_the_answer_on_record(client, user):
    prove_by_answer(client)
    body = text(client.get("/cambiar-contrasena", headers=HTMX))
    assert QUESTION in body
    assert 'Respuesta: <span class="on-record">registrada</span>' in body
    assert ">Cambiar respuesta</a>" in body and 'hx-get="/cambiar-contrasena/respuesta"' in body
    assert 'name="question"' not in body and 'name="answer"' not in body


def test_change_step_can_be_reloaded(client, user, way):
    prove_by_answer(client)
    way.assert_answer(way.get(client, "/cambiar-contrasena"), "change-password-step")


def test_cambiar_respuesta_swaps_in_question_and_answer_fields(client, user, way):
    """htmx gets the fields alone; a plain request and a history restore get the whole change
    step with the fields in it."""
    prove_by_answer(client)
    body = way.assert_answer(way.get(client, "/cambiar-contrasena/respuesta"), "secret-answer")
    if way.whole_page:
        assert 'id="change-password-step"' in body
    assert '<select id="question" name="question" required>' in body
    assert f"<option selected>{QUESTION}</option>" in body
    for question in QUESTIONS:
        assert f"<option>{question}</option>" in body or f"<option selected>{question}</option>" in body
    assert '<input id="answer" name="answer" type="text" required' in body
    assert '<input type="hidden" name="change_answer" value="1">' in body


def test_respuesta_1_opens_the_change_step_with_the_answer_fields(client, user):
    prove_by_answer(client)
    body = assert_page(client.get("/cambiar-contrasena?respuesta=1"), "change-password-step")
    assert 'name="question"' in body and 'name="change_answer" value="1"' in body


def test_change_step_without_a_proof_is_not_reachable(client, user):
    assert client.get("/cambiar-contrasena").headers["Location"] == "/recuperar"
    assert client.get("/cambiar-contrasena/respuesta", headers=HTMX).status_code == 404
    assert check(client, NEW_PASSWORD).status_code == 204  # a late check updates nothing
    refused = save(client)
    assert refused.status_code == 303 and refused.headers["Location"] == "/recuperar"
    assert signs_in(client.application, NAME, PASSWORD)


def test_signed_in_user_without_a_proof_cannot_change_the_password(client, user):
    login(client, NAME, PASSWORD)
    assert client.get("/cambiar-contrasena").headers["Location"] == "/recuperar"
    assert save(client).headers["Location"] == "/recuperar"
    assert signs_in(client.application, NAME, PASSWORD)


def test_the_proof_expires(client, user, clock):
    prove_by_answer(client)
    clock.advance(minutes=16)
    assert client.get("/cambiar-contrasena").headers["Location"] == "/recuperar"
    assert save(client).headers["Location"] == "/recuperar"
    assert signs_in(client.application, NAME, PASSWORD)


def test_checklist_is_a_fragment_with_every_rule(client, user):
    prove_by_answer(client)
    response = check(client, NEW_PASSWORD, NEW_PASSWORD)
    body = assert_fragment(response, "password-checklist")
    assert rules_in(response) == {rule: "met" for rule in
                                  ("length", "upper", "digit", "sign", "not_username", "not_common", "confirmed")}
    assert "Al menos 8 caracteres" in body and "Una letra mayúscula" in body and "Un número" in body
    assert "Un signo de puntuación" in body and "Distinta de su usuario y sin su RFC" in body
    assert "No es una contraseña común" in body and "La confirmación coincide" in body


def test_checklist_before_typing_is_pending(client, user):
    prove_by_answer(client)
    assert set(rules_in(client.get("/cambiar-contrasena")).values()) == {"pending"}


@pytest.mark.parametrize("password, confirm, rule", [
    ("Ab.1xyz", "Ab.1xyz", "length"),
    ("nueva.clave.2027", "nueva.clave.2027", "upper"),
    ("Nueva.Clave.dos", "Nueva.Clave.dos", "digit"),
    ("NuevaClave2027", "NuevaClave2027", "sign"),
    ("GOMA800101AB1", "GOMA800101AB1", "not_username"),
    ("Mi.goma800101ab1", "Mi.goma800101ab1", "not_username"),
    ("password", "password", "not_common"),
    (NEW_PASSWORD, "Nueva.Clave.2028", "confirmed"),
])
def test_checklist_marks_the_unmet_rule(client, user, password, confirm, rule):
    prove_by_answer(client)
    rules = rules_in(check(client, password, confirm))
    assert rules[rule] == "unmet"
    if password == "password":
        assert rules["length"] == "met"


@pytest.mark.parametrize("password, unmet", [
    ("xq", {"length", "upper", "digit", "sign", "confirmed"}),
    ("Nueva.Clave.2027", {"confirmed"}),
])
def test_checklist_marks_each_rule_met_or_unmet(client, user, password, unmet):
    prove_by_answer(client)
    rules = rules_in(check(client, password, "otra cosa"))
    assert {rule for rule, state in rules.items() if state == "unmet"} == unmet
    assert all(state == "met" for rule, state in rules.items() if rule not in unmet)


def test_typed_password_never_comes_back_in_the_page(client, user):
    prove_by_answer(client)
    body = text(save(client, new="Secreta.Nueva.77", confirm="Secreta.Nueva.78", htmx=True))
    assert "Secreta.Nueva.7" not in body
    assert CONFIRMATION_TEXT in body


@pytest.mark.parametrize("password", [
    "Ab1." + "x" * 96,                      # 100 characters
    "Contraseña.1 " + "ñandú🦜" * 20,        # well past bcrypt's 72 bytes of UTF-8
])
def test_long_passwords_are_accepted_and_sign_in(client, user, password):
    assert len(password) >= 100
    prove_by_answer(client)
    if len(password.encode()) > 72:
        assert rules_in(check(client, password, password))["long"] == "met"
    assert save(client, new=password).headers["Location"] == "/inicio"
    assert signs_in(client.application, NAME, password)
    assert not signs_in(client.application, NAME, password[:-1] + "!")


def test_password_over_512_characters_gets_a_clear_message(client, user):
    prove_by_answer(client)
    password = "Ab1." + "x" * 600
    checklist = check(client, password, password)
    assert rules_in(checklist)["max_length"] == "unmet"
    assert "Como máximo 512 caracteres (escribió 604)" in text(checklist)
    response = save(client, new=password, htmx=True)
    body = assert_fragment(response, "change-password-step")
    assert 'id="change-password-errors"' in body and POLICY_TEXT in body
    assert "Como máximo 512 caracteres" in body
    assert signs_in(client.application, NAME, PASSWORD)


@pytest.mark.parametrize("changes, message", [
    ({"new": "corta"}, POLICY_TEXT),
    ({"confirm": "Nueva.Clave.2028"}, CONFIRMATION_TEXT),  # the mismatch says so, not "no cumple"
    ({"email": "no-es-correo"}, "Escriba un correo electrónico válido, por ejemplo nombre@empresa.com.mx."),
    ({"email": ""}, "Escriba un correo electrónico válido"),
    ({"change_answer": "1", "question": "", "answer": "Firulais"}, "Elija una pregunta secreta."),
    ({"change_answer": "1", "question": QUESTIONS[0], "answer": " a "},
     "La respuesta secreta debe tener al menos 3 letras o números."),
])
def test_save_refuses_a_bad_change_with_a_message(client, user, changes, message):
    prove_by_answer(client)
    body = assert_fragment(save(client, htmx=True, **changes), "change-password-step")
    assert message in body and 'role="alert"' in body
    assert signs_in(client.application, NAME, PASSWORD)


def test_refused_change_keeps_the_typed_email(client, user):
    prove_by_answer(client)
    body = text(save(client, new="corta", email="nuevo@example.com"))
    assert 'value="nuevo@example.com"' in body


# Saving

def test_saving_signs_in_and_lands_home(client, user):
    prove_by_answer(client)
    response = save(client)
    assert response.status_code == 303 and response.headers["Location"] == "/inicio"
    home = client.get("/inicio")
    assert home.status_code == 200 and "María Gómez" in text(home)


def test_saving_with_htmx_answers_hx_redirect(client, user):
    prove_by_answer(client)
    response = save(client, htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/inicio"
    assert "HX-Request" in response.headers["Vary"]
    assert client.get("/inicio").status_code == 200


def test_new_password_works_and_the_old_one_does_not(app, client, user):
    prove_by_answer(client)
    save(client)
    assert signs_in(app, NAME, NEW_PASSWORD)
    refused = login(app.test_client(), NAME, PASSWORD)
    assert refused.status_code == 200 and LOGIN_ERROR_TEXT in text(refused)


def test_password_is_stored_as_a_bcrypt_hash(app, client, user):
    prove_by_answer(client)
    save(client)
    stored = stored_user(app).password_hash
    assert NEW_PASSWORD not in stored and "$2b$" in stored


def test_recovery_lifts_the_failure_lock(app, client, user):
    fail(app.test_client(), NAME, times=5)
    assert "superó el número máximo de intentos" in text(login(app.test_client(), NAME, PASSWORD, captcha=CAPTCHA))
    prove_by_answer(client)
    assert save(client).headers["Location"] == "/inicio"
    assert client.get("/inicio").status_code == 200
    assert signs_in(app, NAME, NEW_PASSWORD)  # no lock, and no CAPTCHA asked either
    with app.app_context():
        assert db.session.get(LoginThrottle, NAME) is None


def test_saving_signs_out_every_other_session(app, client, user):
    other = app.test_client()
    login(other, NAME, PASSWORD)
    assert other.get("/inicio").status_code == 200
    prove_by_answer(client)
    save(client)
    assert other.get("/inicio").status_code == 302
    assert client.get("/inicio").status_code == 200


def test_saving_by_link_signs_in(mailing, smtp):
    browser = mailing.test_client()
    open_link(browser, reminder_link(mailing, smtp))
    assert save(browser).headers["Location"] == "/inicio"
    assert browser.get("/inicio").status_code == 200
    assert signs_in(mailing, NAME, NEW_PASSWORD)


def test_password_changed_notice_arrives(mailing, smtp):
    client = mailing.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.4"
    prove_by_answer(client)
    save(client)
    [message] = received(smtp, 1)
    assert smtp.messages[0].rcpt_tos == [EMAIL]
    assert message["Subject"] == "Su contraseña de e-Factura cambió"
    assert_text_and_html(message)
    body = plain(message)
    assert f"La contraseña de su usuario {NAME} en e-Factura Acceso cambió el 24/11/2026 a las 12:00" in body
    assert "198.51.100.4" in body and "Se cerraron las demás sesiones" in body
    assert "198.51.100.4" in html(message)
    assert NEW_PASSWORD not in body and NEW_PASSWORD not in html(message)


def test_saving_voids_every_outstanding_link(mailing, smtp):
    link = reminder_link(mailing, smtp)
    client = mailing.test_client()
    prove_by_answer(client)
    save(client)
    assert all(row.voided_at is not None for row in rows(mailing, CodedLink))
    assert open_link(mailing.test_client(), link).headers["Location"] == "/recuperar/enlace?motivo=void"


def test_a_proof_from_before_the_change_is_void(app, user):
    first, second = app.test_client(), app.test_client()
    prove_by_answer(first)
    prove_by_answer(second)
    save(first)
    assert second.get("/cambiar-contrasena").headers["Location"] == "/recuperar"
    assert save(second, new="Otra.Clave.2028").headers["Location"] == "/recuperar"
    assert signs_in(app, NAME, NEW_PASSWORD)


def test_changing_the_answer_replaces_the_old_one(app, client, user):
    prove_by_answer(client)
    new_question = QUESTIONS[0]
    save(client, change_answer="1", question=new_question, answer="Firulais")
    later = app.test_client()
    assert question_in(ask(later)) == new_question
    assert WRONG_ANSWER_TEXT in text(reply(later, ANSWER))
    assert_page(reply(later, " FIRULÁIS "), "change-password-step")
    assert stored_user(app).secret_question == new_question


def test_saving_without_cambiar_respuesta_keeps_the_answer(app, client, user):
    prove_by_answer(client)
    save(client, question="¿Otra?", answer="Otra")  # without change_answer=1 these are ignored
    later = app.test_client()
    assert question_in(ask(later)) == QUESTION
    assert_page(reply(later, ANSWER), "change-password-step")


def test_saving_updates_the_email(app, client, user):
    prove_by_answer(client)
    save(client, email="  maria.gomez@example.com ")
    assert stored_user(app).email == "maria.gomez@example.com"


def test_recovery_events_are_recorded_without_secrets(mailing, smtp):
    client = mailing.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    ask(client)
    reply(client, "Azulado")
    remind(client)
    link = link_in(received(smtp, 1)[0])
    open_link(client, link)
    save(client)
    events = rows(mailing, AuthEvent)
    outcomes = {(event.kind, event.outcome) for event in events}
    assert {("recovery_started", "ok"), ("secret_answer", "wrong"), ("reminder", "sent"),
            ("link_opened", "ok"), ("password_changed", "ok")} <= outcomes
    changed = next(event for event in events if event.kind == "password_changed")
    assert changed.username == NAME and changed.client_ip == "192.0.2.44" and changed.detail == {"via": "link"}
    stored = repr([(e.username, e.kind, e.outcome, e.client_ip, e.detail) for e in events])
    for secret in (NEW_PASSWORD, PASSWORD, "Azulado", "azulado", code_of(link)):
        assert secret not in stored


def test_right_answer_is_recorded_without_the_answer(app, client, user):
    prove_by_answer(client)
    save(client)
    events = rows(app, AuthEvent)
    assert ("secret_answer", "right") in {(event.kind, event.outcome) for event in events}
    assert next(e for e in events if e.kind == "password_changed").detail == {"via": "answer"}
    stored = repr([(e.username, e.kind, e.outcome, e.client_ip, e.detail) for e in events]).casefold()
    assert "verde" not in stored and NEW_PASSWORD.casefold() not in stored


# First sign-in set-up

def test_first_sign_in_goes_to_the_set_up(client, setup_user):
    response = login(client, SETUP_NAME, TEMPORARY)
    assert response.status_code == 303 and response.headers["Location"] == "/cambiar-contrasena"
    body = assert_page(client.get("/cambiar-contrasena"), "change-password-step")
    assert "Configure su cuenta" in body and "Es su primer ingreso" in body
    assert '<option value="">Elija una pregunta</option>' in body
    assert 'value="ana@example.com"' in body
    assert 'form="setup-sign-out"' in body


def test_first_sign_in_with_htmx_redirects_to_the_set_up(client, setup_user):
    response = login(client, SETUP_NAME, TEMPORARY, htmx=True)
    assert response.headers["HX-Redirect"] == "/cambiar-contrasena"
    assert_fragment(client.get("/cambiar-contrasena", headers=HTMX), "change-password-step")


def test_home_sends_back_to_the_set_up_until_it_is_done(client, setup_user):
    login(client, SETUP_NAME, TEMPORARY)
    response = client.get("/inicio")
    assert response.status_code == 302 and response.headers["Location"] == "/cambiar-contrasena"
    assert client.get("/").headers["Location"] == "/inicio"


SETUP = {"new": NEW_PASSWORD, "email": "ana@example.com", "change_answer": "1",
         "question": QUESTIONS[1], "answer": "Monterrey"}


@pytest.mark.parametrize("missing, message", [
    ({"new": TEMPORARY}, "La nueva contraseña debe ser distinta de la actual."),
    ({"new": ""}, POLICY_TEXT),
    ({"question": ""}, "Elija una pregunta secreta."),
    ({"answer": ""}, "La respuesta secreta debe tener al menos 3 letras o números."),
    ({"change_answer": "0", "question": "", "answer": ""}, "Elija una pregunta secreta."),
    ({"email": ""}, "Escriba un correo electrónico válido"),
])
def test_set_up_requires_password_question_answer_and_email(client, setup_user, missing, message):
    login(client, SETUP_NAME, TEMPORARY)
    body = assert_page(save(client, **{**SETUP, **missing}), "change-password-step")
    assert message in body and "Configure su cuenta" in body
    assert client.get("/inicio").headers["Location"] == "/cambiar-contrasena"


def test_completed_set_up_shows_the_home_page(app, client, setup_user):
    login(client, SETUP_NAME, TEMPORARY)
    response = save(client, **SETUP)
    assert response.status_code == 303 and response.headers["Location"] == "/inicio"
    home = client.get("/inicio")
    assert home.status_code == 200 and "Hola, Ana Pérez" in text(home)
    stored = stored_user(app, SETUP_NAME)
    assert stored.secret_question == QUESTIONS[1]
    assert signs_in(app, SETUP_NAME, NEW_PASSWORD) and not signs_in(app, SETUP_NAME, TEMPORARY)


def test_the_answer_chosen_in_the_set_up_unlocks_recovery(app, client, setup_user):
    login(client, SETUP_NAME, TEMPORARY)
    save(client, **SETUP)
    later = app.test_client()
    assert question_in(ask(later, SETUP_NAME)) == QUESTIONS[1]
    assert_page(reply(later, "monterrey"), "change-password-step")


def test_set_up_is_recorded(app, client, setup_user):
    login(client, SETUP_NAME, TEMPORARY)
    save(client, **SETUP)
    changed = [e for e in rows(app, AuthEvent) if e.kind == "password_changed"]
    assert [(e.username, e.detail) for e in changed] == [(SETUP_NAME, {"via": "setup"})]


# Found while writing these tests, fixed since

def test_changing_the_email_also_warns_the_previous_address(mailing, smtp):
    client = mailing.test_client()
    prove_by_answer(client)
    save(client, email="otra.direccion@example.net")
    received(smtp, 2)
    recipients = [address for envelope in smtp.messages for address in envelope.rcpt_tos]
    assert EMAIL in recipients


def test_home_after_the_set_up_says_it_is_the_first_sign_in(client, setup_user):
    login(client, SETUP_NAME, TEMPORARY)
    save(client, **SETUP)
    home = text(client.get("/inicio"))
    assert "Este es su primer ingreso al portal." in home
    assert "Su ingreso anterior fue" not in home
