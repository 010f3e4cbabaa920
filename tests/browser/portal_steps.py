"""Steps the browser tests share: what a person does on the access page, one call each."""
import re

CAPTCHA = "PRUEBA"  # TestConfig.CAPTCHA_TEST_ANSWER
PASSWORD = "Factura.2026"
ANSWER = "Firulais"
QUESTION = "¿Cuál es el nombre de su primera mascota?"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
NEW_PASSWORD = "Nueva.Clave7"
LOGIN_POST = re.compile(r"/entrar$")


def is_login_post(response):
    return response.request.method == "POST" and LOGIN_POST.search(response.url) is not None


def read_captcha(page):
    """Wait until the CAPTCHA image has loaded, as a person who reads it does. (Once the
    challenge is spent its image is gone: a submission faster than the image would leave the
    browser a 404.)"""
    page.wait_for_function("() => { const i = document.querySelector('#captcha img');"
                           " return !!i && i.complete && i.naturalWidth > 0; }")


def attempt(page, username, password, captcha=None, settle=True):
    """Fill the login form and press Entrar; returns once the answer is on the page.

    settle=False when the answer is a redirect (HX-Redirect): the caller waits for the URL.
    """
    page.fill("#username", username)
    page.fill("#password", password)
    if captcha is not None:
        read_captcha(page)
        page.fill("#captcha-answer", captcha)
    with page.expect_response(is_login_post):
        page.click("#login-submit")
    if settle:
        # Entrar is disabled while the request is in flight and enabled again after the swap.
        page.wait_for_function("() => { const b = document.getElementById('login-submit'); return !b || !b.disabled; }")
        page.wait_for_function("() => !document.querySelector('.htmx-swapping, .htmx-settling, .htmx-added')")


def fail_once(page, username):
    """A wrong password, with the CAPTCHA solved when the form shows it."""
    captcha = CAPTCHA if page.locator("#captcha-answer").count() else None
    attempt(page, username, "Equivocada.1", captcha)


def sign_in(page, account, password=None):
    captcha = CAPTCHA if page.locator("#captcha-answer").count() else None
    attempt(page, account.username, password or account.password, captcha, settle=False)
    page.wait_for_url("**/inicio")


def sign_out(page):
    page.get_by_role("button", name="Salir").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "Salió de e-Factura Acceso." in page.inner_text(".notices")


# Note: wait_for_function() needs "() => ..." here: a bare expression is run with eval(), which
# the page's CSP refuses.

def wait_for_checklist(page, all_met):
    """Wait for the live checklist to show every rule met (or at least one not met)."""
    if all_met:
        page.wait_for_function("() => document.querySelectorAll('#password-checklist li').length > 0 && "
                               "document.querySelectorAll('#password-checklist li:not(.met)').length === 0")
    else:
        page.wait_for_selector("#password-checklist li.unmet")


def tab_to(page, selector, key="Tab", limit=60):
    """Press Tab (or Shift+Tab) until the element matching selector has the focus."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{key} never reached {selector}")


def focused_matches(page, selector, timeout=5_000):
    """True once the focus is on an element matching selector (htmx moves it after settling)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_function("(s) => !!document.activeElement && document.activeElement.matches(s)",
                               arg=selector, timeout=timeout)
    except PlaywrightTimeoutError:
        return False
    return True


def swapped(page, selector, **options):
    """Wait for an element that an htmx swap brings, and for htmx to have settled the swap.

    Until then htmx has not wired up the new content: a click there would be a plain request.
    """
    element = page.wait_for_selector(selector, **options)
    page.wait_for_function("() => !document.querySelector('.htmx-swapping, .htmx-settling, .htmx-added')")
    return element
