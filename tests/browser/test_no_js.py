"""The same paths with JavaScript off: every step is a whole page (SPEC section 1)."""
import re

from portal_steps import CAPTCHA, NEW_PASSWORD


def submit(page, button_name):
    with page.expect_navigation():
        page.get_by_role("button", name=button_name).click()


def test_sign_in_and_sign_out_without_javascript(no_js, live):
    page = no_js.page
    no_js.goto("/")
    assert page.is_visible("#login-form")
    page.fill("#username", live.active.username)
    page.fill("#password", live.active.password)
    submit(page, "Entrar")
    assert page.url == live.url + "/inicio"
    assert page.inner_text("#account-title") == "Mi cuenta" and "Hola," in page.inner_text("main")
    no_js.shot("nojs-14-home")
    submit(page, "Salir")
    assert page.url == live.url + "/"
    assert "Salió de e-Factura Acceso." in page.inner_text(".notices")


def test_wrong_password_and_captcha_without_javascript(no_js, live):
    account = live.account()
    page = no_js.page
    no_js.goto("/")
    page.fill("#username", account.username)
    page.fill("#password", "Equivocada.1")
    submit(page, "Entrar")
    assert page.url == live.url + "/entrar"  # the whole page, answered by the POST
    assert page.is_visible("#login-error")
    assert "no es correcta" in page.inner_text("#login-error")
    assert page.is_visible("#captcha img")
    assert page.evaluate("document.querySelector('#captcha img').naturalWidth") > 0
    no_js.shot("nojs-02-login-error-captcha")

    # "No entiendo el texto" is a button of the form: a whole page with a new image, and the
    # user name as it was typed (the eye button, which would do nothing, is not shown)
    assert not page.is_visible("button.eye")
    page.fill("#username", account.username.lower())
    before = page.get_attribute("#captcha img", "src")
    with page.expect_navigation():
        page.get_by_role("button", name="No entiendo el texto").click()
    assert page.get_attribute("#captcha img", "src") != before
    assert page.input_value("#username") == account.username.lower()

    page.fill("#password", account.password)
    page.fill("#captcha-answer", CAPTCHA)
    submit(page, "Entrar")
    assert page.url == live.url + "/inicio"


def test_recovery_by_answer_without_javascript(no_js, live):
    account = live.account()
    page = no_js.page
    no_js.goto("/")
    with page.expect_navigation():
        page.get_by_role("link", name="Olvidé mi contraseña").click()
    assert page.url == live.url + "/recuperar"
    assert page.is_visible("#recovery-form")
    no_js.shot("nojs-08-recovery-form")
    page.fill("#recovery-username", account.username)
    submit(page, "aceptar")
    assert page.is_visible("#secret-question-step")
    page.fill("#answer", account.answer)
    submit(page, "aceptar")
    assert page.is_visible("#change-password-step")
    no_js.shot("nojs-13-change-password")
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    submit(page, "aceptar")
    assert page.url == live.url + "/inicio"


def test_change_answer_without_javascript(no_js, live):
    """"Cambiar respuesta" is a link to the whole step with the question fields."""
    account = live.account()
    page = no_js.page
    no_js.goto("/recuperar")
    page.fill("#recovery-username", account.username)
    submit(page, "aceptar")
    page.fill("#answer", account.answer)
    submit(page, "aceptar")
    with page.expect_navigation():
        page.get_by_role("link", name="Cambiar respuesta").click()
    assert page.is_visible("#question") and page.is_visible("#answer")
    page.select_option("#question", label="¿Cuál es su platillo favorito?")
    page.fill("#answer", "Mole")
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    submit(page, "aceptar")
    assert page.url == live.url + "/inicio"


def test_forgot_user_notice_without_javascript(no_js):
    page = no_js.page
    no_js.goto("/recuperar")
    with page.expect_navigation():
        page.get_by_role("link", name="¿Olvidó su usuario?").click()
    assert page.url == no_js.url + "/recuperar/usuario"
    assert page.is_visible("#forgot-user-notice")
    assert page.get_attribute("#forgot-user-notice", "open") is not None
    assert "soporte@efactura.example" in page.inner_text("#forgot-user-notice")
    assert page.is_visible("#recovery-form")  # the form stays on the page behind it
    no_js.shot("nojs-10-forgot-user-notice")
    page.get_by_role("button", name="Cerrar").click()  # <form method="dialog">: no script needed
    page.wait_for_selector("#forgot-user-notice", state="hidden")


def test_inactivity_lock_without_javascript(no_js, live):
    page = no_js.page
    no_js.goto("/")
    page.fill("#username", live.inactive.username)
    page.fill("#password", live.inactive.password)
    submit(page, "Entrar")
    assert page.get_attribute("#account-blocked", "data-lock") == "inactive"
    assert page.is_visible("#captcha")


def test_cancel_without_javascript(no_js):
    page = no_js.page
    no_js.goto("/recuperar")
    with page.expect_navigation():
        page.get_by_role("link", name="cancelar").click()
    assert re.search(r"/recuperar/cancelar$", page.url)
    assert page.is_visible("#login-form")
