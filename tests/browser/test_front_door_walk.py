"""The portal as the front door of the application, walked in Chromium as a person walks it:
Debian's nginx in front of the stand-in application (the `front_door` fixture of
tests/conftest.py), the portal answering nginx's question at /api/verificar.

Portal and application listen on two ports of 127.0.0.1: a cookie belongs to a host, whatever
the port, so the browser sends the portal's session cookie to the application's address as it
would across hosts under SESSION_COOKIE_DOMAIN (tested in tests/test_forward_auth.py).
"""
import itertools
import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from portal_steps import CAPTCHA, NEW_PASSWORD, attempt, fail_once, swapped, wait_for_checklist

from helpers import PASSWORD, make_user

serials = itertools.count(1)


@pytest.fixture(params=[True], ids=["javascript"])
def door_page(make_portal, front_door, request):
    """A fresh browser on the portal behind nginx; checked for console errors and CSP violations."""
    return make_portal(SimpleNamespace(url=front_door.portal.url, inbox=front_door.inbox),
                       java_script_enabled=request.param)


@pytest.fixture
def account(front_door):
    serial = next(serials)
    username = make_user(front_door.app, f"PUEB8002{serial:02d}C3D", PASSWORD, email=f"puerta{serial}@prueba.example",
                         display_name="Cliente de la Puerta")
    return SimpleNamespace(username=username, password=PASSWORD, email=f"puerta{serial}@prueba.example")


def sent_to_the_portal(page, front_door, path):
    """The application's address is answered with the access page, which will send the browser back."""
    page.wait_for_url(re.compile("^" + re.escape(front_door.portal.url) + r"/\?rd="))
    assert parse_qs(urlsplit(page.url).query)["rd"] == [front_door.door.url + path]
    assert page.is_visible("#login-form")


def on_the_application(page, front_door, path, account):
    page.wait_for_url(front_door.door.url + path)
    assert page.inner_text("h1") == "Facturación"
    assert page.inner_text("#remote-user") == account.username
    assert page.inner_text("#remote-groups") == "cliente"


def test_sign_in_through_the_front_door_and_out_again(door_page, front_door, account):
    page = door_page.page
    page.goto(front_door.door.url + "/facturas?mes=11")
    sent_to_the_portal(page, front_door, "/facturas?mes=11")

    fail_once(page, account.username)  # a wrong password: the CAPTCHA comes
    assert page.is_visible("#captcha-answer")
    assert f":{front_door.door.port}" not in page.content()  # the target is in the session, not in the page
    attempt(page, account.username, account.password, CAPTCHA, settle=False)
    on_the_application(page, front_door, "/facturas?mes=11", account)
    assert page.inner_text("#remote-name") == "Cliente de la Puerta"

    page.click("#salir")  # the application's sign-out link: the portal asks first
    swapped(page, "#sign-out-confirm")
    door_page.axe("sign-out confirmation")
    door_page.shot("30-sign-out-confirm")
    page.get_by_role("button", name="Salir").click()
    sent_to_the_portal(page, front_door, "/facturas?mes=11")  # back to the application: it sends to sign in
    assert "Salió de e-Factura Acceso." in page.inner_text(".notices")

    page.goto(front_door.door.url + "/facturas")
    sent_to_the_portal(page, front_door, "/facturas")


def test_a_coded_link_recovery_ends_on_the_application(door_page, front_door, account):
    page = door_page.page
    page.goto(front_door.door.url + "/facturas")
    sent_to_the_portal(page, front_door, "/facturas")

    page.get_by_role("link", name="Olvidé mi contraseña").click()
    swapped(page, "#recovery-username")
    page.fill("#recovery-username", account.username)
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#secret-question-step")
    page.get_by_role("button", name="enviar recordatorio").click()
    swapped(page, "#secret-question-step .alert-info")

    page.goto(door_page.coded_link(account))
    swapped(page, "#link-continue")
    page.get_by_role("button", name="continuar").click()
    swapped(page, "#change-password-step")
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    wait_for_checklist(page, all_met=True)
    page.get_by_role("button", name="aceptar").click()
    on_the_application(page, front_door, "/facturas", account)


@pytest.mark.parametrize("door_page", [False], ids=["no-javascript"], indirect=True)
def test_without_javascript_the_sign_in_form_goes_back_to_the_application(door_page, front_door, account):
    """A plain form POST answered with a redirect to the application: the access page's CSP
    (form-action) lists the allowed return hosts, or Chromium would stop there."""
    page = door_page.page
    page.goto(front_door.door.url + "/facturas")
    sent_to_the_portal(page, front_door, "/facturas")
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.click("#login-submit")
    on_the_application(page, front_door, "/facturas", account)
