"""«Mi cuenta» (SPEC section 7): the signed-in page where people look after their account: the
previous sign-in and the last ones, the sessions that are open (each closable, and "close all
the others"), the password, the secret question, the e-mail (confirmed through a link to the
new address), and a notice for a sign-in from a new device. Every change needs a recent
sign-in, is CSRF-protected (test_attack_sessions.py checks every POST route), audited, and
works without JavaScript."""
import re

import pytest
from sqlalchemy import select

from helpers import (
    CAPTCHA,
    EMAIL,
    HTMX,
    NAME,
    NEW_PASSWORD,
    PASSWORD,
    WRONG,
    assert_fragment,
    csrf_token,
    deliver,
    finished,
    login,
    make_user,
    parsed,
    text,
    text_of,
)
from portal.extensions import db
from portal.models import AuthEvent, User, UserSession

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/156.0.0.0 Safari/537.36")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/18.0 Mobile/15E148 Safari/604.1")


@pytest.fixture
def account(mailing):
    return mailing


def browser(app, user_agent=CHROME_WINDOWS, address="203.0.113.7"):
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": address})
    return client


def sign_in(client, password=PASSWORD):
    """Signs in, solving the CAPTCHA when the name is due one (after failures elsewhere)."""
    response = login(client, NAME, password, captcha=CAPTCHA)
    if response.status_code == 200 and 'data-error="captcha"' in text(response):
        response = login(client, NAME, password, captcha=CAPTCHA)
    return response


def signed_in_browser(app, **kwargs):
    client = browser(app, **kwargs)
    assert sign_in(client).status_code == 303
    return client


def page(client):
    response = client.get("/inicio")
    assert response.status_code == 200, response.headers.get("Location")
    return text(response)


def post(client, path, data=None, htmx=False):
    form = {"csrf_token": csrf_token(client, "/inicio"), **(data or {})}
    return finished(client.post(path, data=form, headers=HTMX if htmx else {}))


def session_ids(app, open_only=True):
    with app.app_context():
        query = select(UserSession.id)
        if open_only:
            query = query.where(UserSession.revoked_at.is_(None))
        return set(db.session.scalars(query).all())


def mail_subjects(smtp, count):
    deliver()
    return [str(parsed(envelope)["Subject"]) for envelope in smtp.wait_for(count)]


# The page

def test_the_page_shows_the_previous_sign_in_with_its_device_and_the_last_sign_ins(account):
    first = signed_in_browser(account, user_agent=SAFARI_IPHONE, address="198.51.100.20")
    login(browser(account), NAME, WRONG)  # a failure, shown too
    second = signed_in_browser(account)
    body = page(second)
    assert "desde la dirección 198.51.100.20, con Safari en iOS" in body
    events = re.findall(r"<tr><td><time[^>]*>[^<]*</time></td>\s*<td>([^<]*)</td>", body)
    # newest first: this sign-in, its first try refused for the CAPTCHA the failure made due,
    # the failure, the first sign-in
    assert events[:4] == ["Ingreso correcto", "Falta el texto de la imagen", "Contraseña incorrecta",
                          "Ingreso correcto"]
    assert page(first)  # both are signed in


def test_at_most_ten_sign_ins_are_listed(account):
    for _ in range(12):
        login(browser(account), NAME, WRONG, captcha=CAPTCHA)
        with account.app_context():  # (no lock: only the list is looked at)
            from portal import lockout
            lockout.clear(NAME)
            db.session.commit()
    body = page(signed_in_browser(account))
    assert len(re.findall(r"<tr><td><time", body)) == 10


# Sessions

def test_each_open_session_is_listed_and_can_be_closed_alone(account):
    laptop = signed_in_browser(account)
    phone = signed_in_browser(account, user_agent=SAFARI_IPHONE, address="198.51.100.20")
    tablet = signed_in_browser(account, user_agent=SAFARI_IPHONE, address="198.51.100.21")
    body = page(laptop)
    assert "Chrome en Windows <strong>(esta sesión)</strong>" in body and "198.51.100.20" in body
    with account.app_context():
        phone_sid = db.session.scalar(select(UserSession.id).where(UserSession.client_ip == "198.51.100.20"))
    closable = set(re.findall(r"/cuenta/sesiones/([\w-]+)/cerrar", body))
    assert len(closable) == 2 and phone_sid in closable  # the two others, not this one
    response = post(laptop, f"/cuenta/sesiones/{phone_sid}/cerrar")
    assert response.status_code == 303 and response.headers["Location"] == "/inicio#account-sessions"
    assert [client.get("/inicio").status_code for client in (laptop, phone, tablet)] == [200, 302, 200]


def test_closing_all_the_others_leaves_this_one(account):
    laptop = signed_in_browser(account)
    others = [signed_in_browser(account, address=f"198.51.100.{i}") for i in range(3)]
    response = post(laptop, "/cuenta/sesiones/cerrar-otras", htmx=True)
    assert "Se cerraron 3 sesiones." in assert_fragment(response, "account-sessions")
    assert laptop.get("/inicio").status_code == 200
    assert all(client.get("/inicio").status_code == 302 for client in others)
    with account.app_context():
        assert db.session.scalar(select(AuthEvent.detail).where(AuthEvent.kind == "sessions_closed")) == {"count": 3}


def test_another_accounts_session_cannot_be_closed_by_its_id(account):
    make_user(account, "LOPJ750315XY2", email="juan@example.com")
    juan = browser(account)
    assert login(juan, "LOPJ750315XY2", PASSWORD).status_code == 303
    [juan_sid] = session_ids(account)
    maria = signed_in_browser(account)
    assert post(maria, f"/cuenta/sesiones/{juan_sid}/cerrar").status_code == 404
    assert juan.get("/inicio").status_code == 200


def test_sign_out_ends_this_session_only(account):
    laptop, phone = signed_in_browser(account), signed_in_browser(account)
    post(laptop, "/salir")
    assert laptop.get("/inicio").status_code == 302 and phone.get("/inicio").status_code == 200


# Recent sign-in

def test_changes_need_a_recent_sign_in_and_the_password_typed_again(account, clock):
    client = signed_in_browser(account)
    clock.advance(minutes=6)
    client.get("/inicio")  # (the idle limit is not the subject)
    body = page(client)
    assert 'id="account-confirm"' in body and "/cuenta/pregunta" not in body.split('id="account-question"')[1]
    refused = post(client, "/cuenta/correo", {"email": "nuevo@example.com"}, htmx=True)
    assert "confirme primero su contraseña" in assert_fragment(refused, "account-email")
    wrong = post(client, "/cuenta/confirmar", {"current_password": WRONG}, htmx=True)
    assert "La contraseña no es correcta." in assert_fragment(wrong, "account-confirm")
    right = post(client, "/cuenta/confirmar", {"current_password": PASSWORD}, htmx=True)
    assert right.headers["HX-Redirect"] == "/inicio"
    assert 'id="account-confirm"' not in page(client)
    with account.app_context():
        outcomes = db.session.scalars(select(AuthEvent.outcome).where(AuthEvent.kind == "reauth")).all()
    assert outcomes == ["invalid", "ok"]


def test_confirming_the_password_counts_against_the_lock(account, clock):
    client = signed_in_browser(account)
    clock.advance(minutes=6)
    for _ in range(4):
        post(client, "/cuenta/confirmar", {"current_password": WRONG})
    locked = post(client, "/cuenta/confirmar", {"current_password": WRONG})
    assert locked.headers["Location"] == "/"  # the fifth locks the name and ends the session
    assert client.get("/inicio").status_code == 302
    assert 'id="lockout"' in text(login(browser(account), NAME, PASSWORD, captcha=CAPTCHA))


# Password

def test_changing_the_password_needs_the_current_one(account):
    client = signed_in_browser(account)
    refused = post(client, "/cuenta/contrasena", {"current_password": WRONG, "new_password": NEW_PASSWORD,
                                                  "confirm_password": NEW_PASSWORD}, htmx=True)
    assert "La contraseña actual no es correcta." in assert_fragment(refused, "account-password")
    assert sign_in(browser(account)).status_code == 303  # unchanged


def test_a_new_password_signs_out_every_other_session_and_the_owner_hears_of_it(account, smtp):
    client = signed_in_browser(account)
    other = signed_in_browser(account, address="198.51.100.20")
    changed = post(client, "/cuenta/contrasena", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                  "confirm_password": NEW_PASSWORD})
    assert changed.status_code == 303 and changed.headers["Location"] == "/inicio#account-password"
    assert "Su contraseña cambió." in page(client)  # this session goes on, and says so
    assert other.get("/inicio").status_code == 302
    assert sign_in(browser(account), NEW_PASSWORD).status_code == 303
    assert "Su contraseña de e-Factura cambió" in mail_subjects(smtp, 1)


def test_a_new_password_follows_the_policy_and_the_confirmation(account):
    client = signed_in_browser(account)
    weak = post(client, "/cuenta/contrasena", {"current_password": PASSWORD, "new_password": "secreto",
                                               "confirm_password": "secreto"}, htmx=True)
    assert "no cumple todos los requisitos" in text(weak)
    mismatch = post(client, "/cuenta/contrasena", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                   "confirm_password": NEW_PASSWORD + "x"}, htmx=True)
    assert "La confirmación no coincide con la nueva contraseña." in text(mismatch)
    checklist = post(client, "/cuenta/requisitos", {"new_password": "corta"}, htmx=True)
    assert '<li class="unmet" data-rule="length">' in text(checklist)


# Secret question

def test_changing_the_secret_question_and_answer(account, smtp):
    from helpers import QUESTIONS, ask, reply

    client = signed_in_browser(account)
    refused = post(client, "/cuenta/pregunta", {"question": "¿Inventada?", "answer": "algo"}, htmx=True)
    assert "Elija una de las preguntas secretas de la lista." in text(refused)
    done = post(client, "/cuenta/pregunta", {"question": QUESTIONS[2], "answer": "Panadería"}, htmx=True)
    assert "Su pregunta secreta y su respuesta cambiaron." in assert_fragment(done, "account-question")
    recovering = browser(account)
    ask(recovering)
    assert 'id="change-password-step"' in text(reply(recovering, "panaderia"))
    assert "pregunta secreta" in mail_subjects(smtp, 1)[0]


# E-mail

def test_a_new_email_is_confirmed_through_a_link_sent_to_it(account, smtp):
    client = signed_in_browser(account)
    asked = post(client, "/cuenta/correo", {"email": "maria.nueva@example.com"}, htmx=True)
    assert "Le enviamos un enlace a maria.nueva@example.com" in text(asked)
    deliver()
    messages = [parsed(envelope) for envelope in smtp.wait_for(2)]
    to = {str(message["To"]): message for message in messages}
    assert set(to) == {"maria.nueva@example.com", EMAIL}  # the link to the new one, a notice to the old one
    link = re.search(r"https?://\S+/cuenta/correo/confirmar\?codigo=[\w-]+", text_of(to["maria.nueva@example.com"]))
    path = link.group(0).split("example", 1)[1].split("/", 1)[1]
    with account.app_context():
        assert db.session.scalar(select(User.email)) == EMAIL  # nothing changed yet
    person = account.test_client()
    for _ in range(2):  # opening it (a mail scanner too) changes nothing
        assert person.get("/" + path).headers["Location"] == "/cuenta/correo/confirmacion"
    with account.app_context():
        assert db.session.scalar(select(User.email)) == EMAIL
    page_body = text(person.get("/cuenta/correo/confirmacion"))
    assert ">confirmar</button>" in page_body and "maria.nueva@example.com" in page_body
    token = csrf_token(person, "/cuenta/correo/confirmacion")
    confirmed = finished(person.post("/cuenta/correo/confirmacion", data={"csrf_token": token}))
    assert "es ahora maria.nueva@example.com" in text(confirmed)
    with account.app_context():
        assert db.session.scalar(select(User.email)) == "maria.nueva@example.com"
    assert "cambió el correo" in mail_subjects(smtp, 3)[-1]  # to the old address
    again = account.test_client().get("/" + path)
    assert "El enlace no se puede usar" in text(again)


# A new device

def test_a_sign_in_from_a_new_device_emails_the_owner(account, smtp):
    home = signed_in_browser(account)  # the very first sign-in: no notice
    post(home, "/salir")
    assert sign_in(home).status_code == 303  # the same browser again: none
    deliver()
    assert smtp.messages == []
    signed_in_browser(account, user_agent=SAFARI_IPHONE, address="198.51.100.20")  # a new one
    [subject] = mail_subjects(smtp, 1)
    assert "nuevo ingreso desde otro dispositivo" in subject
    body = text_of(parsed(smtp.messages[0]))
    assert "Safari en iOS" in body and "198.51.100.20" in body


# Without JavaScript

def test_every_change_works_without_javascript(account):
    from helpers import QUESTIONS

    client = signed_in_browser(account)
    for path, data in (("/cuenta/pregunta", {"question": QUESTIONS[1], "answer": "Monterrey"}),
                       ("/cuenta/correo", {"email": "otra@example.com"}),
                       ("/cuenta/sesiones/cerrar-otras", {})):
        response = post(client, path, data)
        assert response.status_code == 303 and response.headers["Location"].startswith("/inicio#account-")
        assert 'class="notice"' in page(client)
    refused = post(client, "/cuenta/pregunta", {"question": "", "answer": ""})
    assert refused.status_code == 200 and "<!doctype html>" in text(refused) and "Elija una pregunta" in text(refused)


def test_the_page_needs_a_sign_in(account):
    assert account.test_client().get("/inicio").status_code == 302
    anonymous = account.test_client()
    response = finished(anonymous.post("/cuenta/correo", data={"csrf_token": csrf_token(anonymous),
                                                               "email": "x@example.com"}))
    assert response.status_code == 303 and response.headers["Location"] == "/"
