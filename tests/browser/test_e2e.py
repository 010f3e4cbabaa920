"""Every path of SPEC sections 1-3 in a real Chromium, as a person would take it.

Each step is checked with axe-core (WCAG 2.1 A/AA), photographed at desktop and phone size
(test-artifacts/screenshots/), and every test fails on a console error or a CSP violation
(conftest.PortalPage). htmx steps must not reload the page: window.__marker survives them.
"""
import re

from portal_steps import (
    CAPTCHA,
    NEW_PASSWORD,
    PHONE,
    QUESTION,
    attempt,
    fail_once,
    focused_matches,
    is_login_post,
    read_captcha,
    sign_in,
    sign_out,
    swapped,
    wait_for_checklist,
)

from helpers import text_of


def test_sign_in_and_sign_out(portal, live):
    account = live.account(name="María Gómez")
    page = portal.page
    portal.goto("/")
    assert page.title() == "e-Factura Acceso"
    assert page.is_visible("#login-form") and page.is_visible("#side-panel")
    assert page.get_by_role("link", name="Olvidé mi contraseña").is_visible()
    portal.axe("login form")
    portal.shot("01-login")

    sign_in(page, account)
    assert page.inner_text("#account-title") == "Mi cuenta"
    assert "Hola, María Gómez" in page.inner_text("main")
    assert "Este es su primer ingreso al portal." in page.inner_text("main")
    portal.axe("home")
    portal.shot("14-home")

    sign_out(page)
    assert page.is_visible("#login-form")
    portal.axe("signed out")
    portal.shot("15-signed-out")

    sign_in(page, account)  # the second time the home page shows the previous sign-in
    assert "Su ingreso anterior fue el" in page.inner_text("main")
    assert "127.0.0.1" in page.inner_text("main")
    sign_out(page)


def test_mi_cuenta_sessions_password_question_and_email(make_portal, live):
    """The account page, walked as a person: the previous sign-in with its device, the open
    sessions (one closed from the other browser), the password changed with the live
    checklist, the question changed, a new e-mail confirmed through its link, and the
    password confirmed again once the sign-in is no longer recent."""
    account = live.account(name="Mario Cuenta")
    phone = make_portal(viewport=PHONE, user_agent=(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.0 Mobile/15E148 Safari/604.1"))
    phone.goto("/")
    sign_in(phone.page, account)
    portal = make_portal()
    page = portal.page
    portal.goto("/")
    sign_in(page, account)
    main = page.inner_text("main")
    assert "con Safari en iOS" in main and "Sesiones abiertas" in main
    portal.axe("mi cuenta")
    portal.shot("20-mi-cuenta")

    # the other session, closed from here: the phone is signed out at its next step
    portal.mark()
    page.locator("#account-sessions button", has_text="cerrar esta sesión").click()
    swapped(page, "#account-sessions [role=status]")
    portal.assert_not_reloaded()
    phone.goto("/inicio")
    phone.page.wait_for_url("**/")
    portal.axe("session closed")

    # the password: the current one, the live checklist, then saved
    page.fill("#account-current-password", account.password)
    page.fill("#new_password", "Otra.Clave.2027")
    page.fill("#confirm_password", "Otra.Clave.2027")
    wait_for_checklist(page, all_met=True)
    portal.shot("21-mi-cuenta-contrasena")
    page.get_by_role("button", name="Cambiar contraseña").click()
    swapped(page, "#account-password [role=status]")
    assert "Su contraseña cambió" in page.inner_text("#account-password")
    portal.axe("password changed")
    account.password = "Otra.Clave.2027"

    # the secret question
    page.select_option("#account-question-select", label="¿Cuál fue su primer empleo?")
    page.fill("#account-answer", "Panadería")
    page.get_by_role("button", name="Cambiar pregunta y respuesta").click()
    swapped(page, "#account-question [role=status]")

    # the e-mail: a link to the new address; opening it spends nothing, «confirmar» does
    page.fill("#account-new-email", "mario.nuevo@prueba.example")
    page.get_by_role("button", name="Cambiar correo").click()
    swapped(page, "#account-email [role=status]")
    message = live.inbox.wait_for_message("mario.nuevo@prueba.example", "Confirme su nuevo correo")
    link = re.search(r"https?://\S+/cuenta/correo/confirmar\?codigo=[\w-]+", text_of(message)).group(0)
    page.goto(link)
    swapped(page, "#email-confirm")
    portal.axe("confirm new e-mail")
    portal.shot("22-confirmar-correo")
    page.get_by_role("button", name="confirmar").click()
    swapped(page, "#email-confirm [role=status]")
    assert "mario.nuevo@prueba.example" in page.inner_text("#email-confirm")
    live.inbox.wait_for_message(account.email, "cambió el correo")  # the old address hears of it
    portal.goto("/inicio")
    assert "mario.nuevo@prueba.example" in page.inner_text("#account-email")
    sign_out(page)


def test_legacy_address_opens_the_access_page(portal):
    portal.goto("/jsp/acceso.jsp")
    assert portal.page.url == portal.url + "/"
    assert portal.page.is_visible("#login-form")


def test_wrong_password_shows_the_error_and_the_captcha(portal, live):
    account = live.account()
    page = portal.page
    portal.goto("/")
    portal.mark()
    attempt(page, account.username, "Equivocada.1")
    error = swapped(page, "#login-error")
    swapped(page, "#captcha")
    portal.assert_not_reloaded()
    assert error.get_attribute("role") == "alert"
    assert "La combinación de usuario y contraseña no es correcta." in error.inner_text()
    assert "Bloq Mayús" in error.inner_text()
    assert page.input_value("#username") == account.username
    assert page.input_value("#password") == ""       # to be typed again
    assert focused_matches(page, "#password")
    assert page.is_visible("#captcha img.captcha-image")
    portal.axe("error and captcha")
    portal.shot("02-login-error-captcha")

    # "No entiendo el texto": a fresh image, still no reload
    before = page.get_attribute("#captcha img", "src")
    page.get_by_role("button", name="No entiendo el texto").click()
    page.wait_for_function("(src) => { const i = document.querySelector('#captcha img'); "
                           "return i && i.getAttribute('src') !== src; }", arg=before)
    portal.assert_not_reloaded()
    page.wait_for_function("() => document.querySelector('#captcha img').complete && "
                           "document.querySelector('#captcha img').naturalWidth > 0")  # the image loads
    assert focused_matches(page, "#captcha-answer")
    portal.axe("new captcha")
    portal.shot("03-captcha-new-image")

    # the right password without the CAPTCHA text is refused with its own message
    page.fill("#password", account.password)
    with page.expect_response(is_login_post):
        page.evaluate("document.getElementById('captcha-answer').removeAttribute('required')")
        page.click("#login-submit")
    swapped(page, "#login-error[data-error='captcha']")
    assert "escriba también el texto de la imagen" in page.inner_text("#login-error")
    portal.assert_not_reloaded()

    # right password and CAPTCHA: signed in
    sign_in(page, account)


def test_eye_button_reveals_and_hides_the_password(portal):
    page = portal.page
    portal.goto("/")
    page.fill("#password", "Secreta.123")
    eye = page.locator("button.eye[data-reveals='password']")
    assert eye.get_attribute("aria-pressed") == "false"
    assert eye.get_attribute("aria-label") == "Mostrar contraseña"
    eye.click()
    assert page.get_attribute("#password", "type") == "text"
    assert eye.get_attribute("aria-pressed") == "true"
    assert eye.get_attribute("aria-label") == "Ocultar contraseña"
    assert page.input_value("#password") == "Secreta.123"
    portal.axe("password revealed")
    portal.shot("04-password-revealed")
    eye.click()
    assert page.get_attribute("#password", "type") == "password"
    assert eye.get_attribute("aria-pressed") == "false"


def test_lock_after_five_failures_counts_down_and_gives_the_form_back(portal, live):
    """The only test that waits for a lock to end (LOCKOUT_MINUTES=1 on the live server)."""
    account = live.account()
    page = portal.page
    portal.goto("/")
    portal.mark()
    for _ in range(4):
        fail_once(page, account.username)
        swapped(page, "#login-error[data-error='invalid']")
    fail_once(page, account.username)
    lock = swapped(page, "#lockout", timeout=10_000)
    portal.assert_not_reloaded()
    assert page.locator("#login-form").count() == 0
    assert lock.get_attribute("role") == "alert"
    assert lock.get_attribute("data-lock") == "attempts"
    text = lock.inner_text()
    assert "bloqueado" in text and "número máximo de intentos" in text
    assert re.fullmatch(r"\d{2}:\d{2}", page.inner_text("#lockout time"))
    assert focused_matches(page, "#lockout, #lockout *")  # the focus follows the message
    first = page.inner_text("#lockout .countdown")
    page.wait_for_function("(t) => document.querySelector('#lockout .countdown').textContent !== t",
                           arg=first, timeout=5_000)
    portal.axe("lockout")
    portal.shot("05-lockout")

    notice = live.inbox.wait_for_message(account.email, "bloqueado")
    assert "bloqueado" in notice["Subject"]

    # the fragment asks again when the time is up and gets the form back, without a reload
    swapped(page, "#login-form", timeout=75_000)
    portal.assert_not_reloaded()
    assert page.locator("#lockout").count() == 0
    assert page.input_value("#username") == account.username
    assert page.is_visible("#captcha")  # recent failures: the CAPTCHA stays
    portal.axe("form back after the lock")
    portal.shot("06-login-after-lock")
    sign_in(page, account)


def test_inactive_account_is_blocked_with_support_contacts(portal, live):
    page = portal.page
    portal.goto("/")
    portal.mark()
    attempt(page, live.inactive.username, live.inactive.password)
    lock = swapped(page, "#login-status #account-blocked[data-lock='inactive']")
    portal.assert_not_reloaded()
    assert lock.get_attribute("role") == "alert"
    text = lock.inner_text()
    assert "Su cuenta está bloqueada" in text and "más de seis meses" in text
    assert "soporte técnico" in text
    assert page.is_visible("#captcha")  # lock messages come with the CAPTCHA
    assert page.url == portal.url + "/"
    portal.axe("inactivity lock")
    portal.shot("07-inactivity-lock")


def test_recovery_by_secret_answer(portal, live):
    account = live.account()
    page = portal.page
    portal.goto("/")
    portal.mark()
    page.get_by_role("link", name="Olvidé mi contraseña").click()
    swapped(page, "#recovery-form")
    portal.assert_not_reloaded()
    assert focused_matches(page, "#recovery-username")
    assert "CT." in page.inner_text("#recovery-form") and "PRV." in page.inner_text("#recovery-form")
    portal.axe("recovery form")
    portal.shot("08-recovery-form")

    # a near miss: lower case and hyphens; the form says what it expected
    near_miss = account.username.lower()[:4] + "-" + account.username.lower()[4:]
    page.fill("#recovery-username", near_miss)
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#recovery-error")
    assert account.username in page.inner_text("#recovery-error")
    assert page.get_attribute("#recovery-username", "aria-invalid") == "true"
    assert focused_matches(page, "#recovery-username")
    portal.axe("recovery form with a shape problem")
    portal.shot("09-recovery-shape-problem")

    page.fill("#recovery-username", account.username)
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#secret-question-step")
    portal.assert_not_reloaded()
    assert page.inner_text("#question-text") == QUESTION
    assert focused_matches(page, "#answer")
    portal.axe("secret question")
    portal.shot("11-secret-question")

    page.fill("#answer", "Otra cosa")
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#answer-error")
    assert "La respuesta no es correcta" in page.inner_text("#answer-error")
    assert focused_matches(page, "#answer")
    assert page.is_visible("#captcha")  # a wrong answer brings the CAPTCHA, as at the sign-in
    portal.axe("wrong answer")
    portal.shot("12-secret-question-wrong")

    page.fill("#answer", "  FIRULÁIS ")  # case, accents and spaces do not matter
    read_captcha(page)
    page.fill("#captcha-answer", CAPTCHA)
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#change-password-step")
    portal.assert_not_reloaded()
    assert page.input_value("#login-name") == account.username
    assert page.get_attribute("#login-name", "readonly") is not None
    assert focused_matches(page, "#new_password")
    assert page.inner_text("#secret-answer .on-record") == "registrada"
    portal.axe("change password")

    # the live checklist: not met, then met
    page.fill("#new_password", "secreto")
    wait_for_checklist(page, all_met=False)
    portal.assert_not_reloaded()
    portal.axe("checklist partly met")
    portal.shot("13-change-password-checklist")

    # a weak password is refused with a message, not a crash
    page.fill("#confirm_password", "secreto")
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#change-password-errors")
    assert "no cumple todos los requisitos" in page.inner_text("#change-password-errors")
    assert focused_matches(page, "#new_password")
    portal.axe("change password with errors")
    portal.shot("13b-change-password-errors")

    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    wait_for_checklist(page, all_met=True)
    portal.axe("checklist all met")
    portal.shot("13c-change-password-ready")
    page.get_by_role("button", name="aceptar").click()
    page.wait_for_url("**/inicio")
    assert page.is_visible("#account-title")

    changed = live.inbox.wait_for_message(account.email, "contraseña de e-Factura cambió")
    assert changed is not None
    sign_out(page)
    sign_in(page, account, password=NEW_PASSWORD)


def test_recovery_by_emailed_link(portal, live):
    account = live.account()
    page = portal.page
    portal.goto("/recuperar")
    page.fill("#recovery-username", account.username)
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#secret-question-step")
    portal.mark()
    page.get_by_role("button", name="enviar recordatorio").click()
    sent = swapped(page, "#secret-question-step .alert-info")
    portal.assert_not_reloaded()
    assert sent.get_attribute("role") == "status"
    assert "enviamos a su correo" in sent.inner_text()
    portal.axe("reminder sent")
    portal.shot("16-reminder-sent")

    link = portal.coded_link(account)
    assert link.startswith(live.url + "/request/codedAccess?code=")  # PUBLIC_BASE_URL, not Host
    page.goto(link)
    swapped(page, "#link-continue")
    assert page.url == live.url + "/recuperar/enlace/continuar"  # the code left the address bar
    assert account.username in page.inner_text("#link-continue")
    portal.axe("opened link")
    portal.shot("16b-link-continue")
    page.get_by_role("button", name="continuar").click()
    swapped(page, "#change-password-step")
    page.wait_for_url("**/cambiar-contrasena")
    portal.mark()

    page.get_by_role("link", name="Cambiar respuesta").click()
    swapped(page, "#secret-answer select#question")
    portal.assert_not_reloaded()
    assert focused_matches(page, "#secret-answer select, #secret-answer input")
    portal.axe("change answer")
    portal.shot("17-change-password-new-answer")
    page.select_option("#question", label="¿Cuál fue su primer empleo?")
    page.fill("#answer", "Panadería")
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    wait_for_checklist(page, all_met=True)
    page.get_by_role("button", name="aceptar").click()
    page.wait_for_url("**/inicio")

    # the link served once
    page.goto(link)
    swapped(page, "#link-error")
    assert "ya se usó" in page.inner_text("#link-error")
    portal.axe("used link")
    portal.shot("18-link-used")

    # still signed in; the new answer opens the change step next time
    portal.goto("/inicio")
    sign_out(page)
    portal.goto("/recuperar")
    page.fill("#recovery-username", account.username)
    page.get_by_role("button", name="aceptar").click()
    assert page.inner_text("#question-text") == "¿Cuál fue su primer empleo?"
    page.fill("#answer", "panaderia")
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#change-password-step")


def test_saving_at_once_sends_no_late_checklist_request(portal, live):
    """Enter pressed before the checklist's 250 ms delay: no check is sent after the save
    (it would answer 404 for a step that is gone, and show the connection error)."""
    account = live.account()
    page = portal.page
    portal.goto("/recuperar")
    page.fill("#recovery-username", account.username)
    page.get_by_role("button", name="aceptar").click()
    page.fill("#answer", account.answer)
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#change-password-step")
    sent = []
    page.on("request", lambda request: sent.append((request.method, request.url.split("?")[0])))
    page.click("#new_password")
    page.keyboard.type(NEW_PASSWORD)
    page.click("#confirm_password")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/inicio")
    page.wait_for_timeout(400)
    save = sent.index(("POST", live.url + "/cambiar-contrasena"))
    assert ("POST", live.url + "/cambiar-contrasena/requisitos") not in sent[save:], sent


def test_forgot_user_notice_opens_and_closes(portal):
    page = portal.page
    portal.goto("/")
    portal.mark()
    page.get_by_role("link", name="Olvidé mi contraseña").click()
    swapped(page, "#recovery-form")
    link = page.get_by_role("link", name="¿Olvidó su usuario?")
    link.click()
    dialog = swapped(page, "#forgot-user-notice[open]")
    portal.assert_not_reloaded()
    assert page.evaluate("document.getElementById('forgot-user-notice').matches(':modal')")
    text = dialog.inner_text()
    for contact in ("55 5000 1234", "800 123 4567", "soporte@efactura.example", "nomina@efactura.example"):
        assert contact in text
    assert "lunes a viernes de 9:00 a 18:00" in text
    assert focused_matches(page, "#forgot-user-notice button")
    portal.axe("forgot-user notice")
    portal.shot("10-forgot-user-notice")

    page.get_by_role("button", name="Cerrar").click()
    page.wait_for_selector("#forgot-user-notice", state="detached")
    assert focused_matches(page, "a[href='/recuperar/usuario']")  # back where the user was
    portal.assert_not_reloaded()

    link.click()  # Escape closes it as well
    swapped(page, "#forgot-user-notice[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("#forgot-user-notice", state="detached")


def test_cancel_returns_to_the_login_form(portal):
    page = portal.page
    portal.goto("/")
    portal.mark()
    page.get_by_role("link", name="Olvidé mi contraseña").click()
    swapped(page, "#recovery-form")
    page.get_by_role("link", name="cancelar").click()
    swapped(page, "#login-form")
    portal.assert_not_reloaded()
    assert page.locator("#recovery-form").count() == 0
    assert focused_matches(page, "#username")


def test_first_sign_in_sets_up_the_account(portal, live):
    account = live.first_sign_in
    page = portal.page
    portal.goto("/")
    attempt(page, account.username, account.password, settle=False)
    page.wait_for_url("**/cambiar-contrasena")
    assert page.inner_text("#change-title") == "Configure su cuenta"
    assert page.input_value("#email") == account.email
    portal.axe("first sign-in set-up")
    portal.shot("19-first-sign-in-setup")
    page.select_option("#question", label=QUESTION)
    page.fill("#answer", "Firulais")
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    wait_for_checklist(page, all_met=True)
    page.get_by_role("button", name="aceptar").click()
    page.wait_for_url("**/inicio")
    assert page.is_visible("#account-title")


def test_sign_in_on_a_phone(make_portal, live):
    portal = make_portal(viewport=PHONE, is_mobile=True, has_touch=True)
    account = live.account()
    page = portal.page
    portal.goto("/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    portal.mark()
    page.fill("#username", account.username)
    page.fill("#password", "Equivocada.1")
    with page.expect_response(is_login_post):
        page.tap("#login-submit")
    swapped(page, "#captcha")
    portal.assert_not_reloaded()
    page.fill("#password", account.password)
    page.fill("#captcha-answer", CAPTCHA)
    page.tap("#login-submit")
    page.wait_for_url("**/inicio")


def test_the_csp_check_sees_a_violation(portal):
    """The console watch is not blind: an inline handler is refused and reported."""
    page = portal.page
    portal.goto("/")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', "
                  "'<img alt=\"\" src=\"/static/icons/logo.svg\" onload=\"window.__ran = 1\">')")
    page.wait_for_function("() => document.querySelector('img[onload]').complete")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran") is None
    assert any("Content Security Policy" in text for text in portal.csp_violations)
    portal.csp_violations.clear()
