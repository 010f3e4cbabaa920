"""The support console in Chromium: an agent signs in with a TOTP code, finds a locked
customer, unlocks the account with a reason, and the customer then signs in; an
administrator enrols the second factor and sees the staff, import and audit screens; the
console without JavaScript. axe checks every console screen."""
import re
from datetime import timedelta
from itertools import count

import pyotp
from portal_steps import sign_in

from helpers import STAFF_PASSWORD, make_staff

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_names = count(1)
LEGACY_CSV = ("username,name,email,password_hash,temporary_password,question,answer,last_login\n"
              "LEGA800101AB1,Cliente Anterior,anterior@example.com,,Temporal.2026,,,\n"
              "usr.LEGB800101AB1,Otra Cuenta,sin-arroba,,Temporal.2026,,,\n"
              "PRV.LEGC800101AB1,Proveedor,prov@example.com,$2b$12$,,,,\n")


def new_staff(live, role="soporte", secret=SECRET):
    name = f"personal{next(_names)}"
    make_staff(live.app, name, role, secret=secret)
    return name


def lock(live, account):
    """The customer's name locked for an hour after five failures (as the sign-in leaves it)."""
    from portal import clock
    from portal.extensions import db
    from portal.models import LoginThrottle

    with live.app.app_context():
        now = clock.now()
        db.session.add(LoginThrottle(username=account.username, failures=5, last_failure_at=now,
                                     locked_until=now + timedelta(hours=1)))
        db.session.commit()
        db.session.remove()


def console_sign_in(portal, name, secret=SECRET, shots=False):
    page = portal.page
    portal.goto("/soporte")
    page.wait_for_url("**/soporte/entrar")
    if shots:
        portal.axe("console sign-in")
        portal.shot("30-console-sign-in")
    page.fill("#name", name)
    page.fill("#password", STAFF_PASSWORD)
    page.get_by_role("button", name="Entrar", exact=True).last.click()
    if secret is None:
        page.wait_for_url("**/soporte/factor")
        return
    page.wait_for_url("**/soporte/codigo")
    if shots:
        portal.axe("console second factor")
        portal.shot("31-console-code")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verificar").click()
    page.wait_for_url("**/soporte/clientes")


def test_agent_unlocks_a_locked_customer_who_then_signs_in(portal, make_portal, live):
    account = live.account(name="Cliente Bloqueado")
    lock(live, account)
    agent = new_staff(live)
    page = portal.page
    console_sign_in(portal, agent, shots=True)
    portal.axe("console search")

    portal.mark()
    page.fill("#q", account.username[4:] if account.username.startswith("usr.") else account.username)
    page.get_by_role("button", name="Buscar").click()
    page.wait_for_selector(f"#results a:text('{account.username}')")
    portal.assert_not_reloaded()  # htmx swapped the results in
    assert "Bloqueada por intentos fallidos" in page.inner_text("#results")
    portal.axe("console results")
    portal.shot("32-console-results")

    page.get_by_role("link", name=account.username).click()
    page.wait_for_url(re.compile(r"/soporte/clientes/\d+$"))
    facts = page.inner_text("#console-customer-facts")
    assert "Bloqueada por intentos fallidos" in facts and "(5 intentos fallidos)" in facts
    portal.axe("console customer")
    portal.shot("33-console-customer")

    page.get_by_role("link", name="Desbloquear").click()
    page.wait_for_url("**/desbloquear")
    assert "Se borran los intentos fallidos" in page.inner_text("#console-confirm")
    portal.axe("console confirm")
    portal.shot("34-console-confirm")
    page.fill("#reason", "Llamada del cliente, ticket 5150")
    page.get_by_role("button", name="Confirmar: desbloquear").click()
    page.wait_for_url(re.compile(r"/soporte/clientes/\d+$"))
    assert "desbloqueada" in page.inner_text(".notices")
    assert "Activa" in page.inner_text("#console-customer-facts")
    assert "Llamada del cliente, ticket 5150" in page.inner_text("#console-events")

    customer = make_portal()
    customer.goto("/")
    sign_in(customer.page, account)
    assert "Mi cuenta" in customer.page.inner_text("main")


def test_administrator_enrols_and_sees_every_admin_screen(portal, live):
    admin = new_staff(live, "administrador", secret=None)
    page = portal.page
    console_sign_in(portal, admin, secret=None)
    assert page.is_visible(".qr svg")
    portal.axe("console enrolment")
    portal.shot("35-console-enrol")
    secret = page.get_attribute("#totp-secret", "data-secret")
    assert secret.replace(" ", "") in page.inner_text("#totp-secret").replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Activar").click()
    page.wait_for_selector("#console-recovery-codes")
    assert len(page.locator(".recovery-codes li").all()) == 10
    portal.axe("console recovery codes")
    portal.shot("36-console-recovery-codes")
    page.get_by_role("link", name="Ya los guardé: ir a la consola").click()
    page.wait_for_url("**/soporte/clientes")
    for link, step, shot in (("Personal", "console staff", "37-console-staff"),
                             ("Importar usuarios", "console import", None),
                             ("Auditoría", "console audit", "39-console-audit")):
        page.get_by_role("link", name=link).click()
        page.wait_for_load_state()
        page.wait_for_selector("main h1")
        portal.axe(step)
        if shot is None:  # the import's preview
            page.set_input_files("#archivo", files=[{"name": "usuarios.csv", "mimeType": "text/csv",
                                                     "buffer": LEGACY_CSV.encode()}])
            page.get_by_role("button", name="Revisar el archivo").click()
            page.wait_for_selector("text=Vista previa")
            assert "correo no válido" in page.inner_text("#console-import")
            portal.axe("console import preview")
            shot = "38-console-import"
        portal.shot(shot)
    assert "staff_second_factor_enrolled" in page.inner_text("#console-audit")


def submit(page, button_name):
    with page.expect_navigation():
        page.get_by_role("button", name=button_name).click()


def test_console_without_javascript(no_js, live):
    account = live.account(name="Cliente Sin JS")
    agent = new_staff(live)
    page = no_js.page
    no_js.goto("/soporte")
    assert page.url.endswith("/soporte/entrar")
    page.fill("#name", agent)
    page.fill("#password", STAFF_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Entrar", exact=True).last.click()
    assert page.url.endswith("/soporte/codigo")
    page.fill("#code", pyotp.TOTP(SECRET).now())
    submit(page, "Verificar")
    assert page.url.endswith("/soporte/clientes")
    page.fill("#q", account.username)
    submit(page, "Buscar")
    assert account.username in page.inner_text("#results")
    with page.expect_navigation():
        page.get_by_role("link", name=account.username).click()
    with page.expect_navigation():
        page.get_by_role("link", name="Deshabilitar").click()
    page.fill("#reason", "Pedido del titular, ticket 77")
    submit(page, "Confirmar: deshabilitar")
    assert "deshabilitada" in page.inner_text(".notices")
    assert "Deshabilitada" in page.inner_text("#console-customer-facts")
    no_js.shot("nojs-33-console-customer")
    submit(page, "Salir")
    assert page.url.endswith("/soporte/entrar")
    assert "Salió de la consola" in page.inner_text(".notices")
