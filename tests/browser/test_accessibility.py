"""Accessibility beyond axe: the keyboard alone, focus after swaps, announcements, labels and
autocomplete, the Caps Lock warning, and the busy state of a slow sign-in."""
import re

from portal_steps import (
    CAPTCHA,
    NEW_PASSWORD,
    fail_once,
    focused_matches,
    is_login_post,
    read_captcha,
    sign_in,
    swapped,
    tab_to,
    wait_for_checklist,
)


def test_sign_in_and_recovery_with_the_keyboard_alone(portal, live):
    """No mouse: Tab, Shift+Tab, Enter, Space and typing only."""
    account = live.account()
    page = portal.page
    keyboard = page.keyboard
    portal.goto("/")
    portal.mark()

    # Olvidé mi contraseña → recovery form, focus in its field
    tab_to(page, "a[href='/recuperar']")
    keyboard.press("Enter")
    swapped(page, "#recovery-form")
    assert focused_matches(page, "#recovery-username")

    # ¿Olvidó su usuario? opens the notice; Space on Cerrar closes it, focus goes back
    tab_to(page, "a[href='/recuperar/usuario']")
    keyboard.press("Enter")
    swapped(page, "#forgot-user-notice[open]")
    assert focused_matches(page, "#forgot-user-notice button")
    keyboard.press("Space")
    page.wait_for_selector("#forgot-user-notice", state="detached")
    assert focused_matches(page, "a[href='/recuperar/usuario']")

    # user name, secret answer
    tab_to(page, "#recovery-username", key="Shift+Tab")
    keyboard.type(account.username)
    keyboard.press("Enter")
    swapped(page, "#secret-question-step")
    assert focused_matches(page, "#answer")
    keyboard.type(account.answer)
    keyboard.press("Enter")

    # change password: type, reveal with Space, hide, confirm, Enter saves
    swapped(page, "#change-password-step")
    assert focused_matches(page, "#new_password")
    portal.assert_not_reloaded()
    keyboard.type(NEW_PASSWORD)
    keyboard.press("Tab")
    assert focused_matches(page, "button.eye[data-reveals='new_password']")
    keyboard.press("Space")
    assert page.get_attribute("#new_password", "type") == "text"
    assert page.get_attribute("button.eye[data-reveals='new_password']", "aria-pressed") == "true"
    keyboard.press("Space")
    assert page.get_attribute("#new_password", "type") == "password"
    keyboard.press("Tab")
    assert focused_matches(page, "#confirm_password")
    keyboard.type(NEW_PASSWORD)
    wait_for_checklist(page, all_met=True)
    assert focused_matches(page, "#confirm_password")  # the live checklist does not take the focus
    keyboard.press("Enter")
    page.wait_for_url("**/inicio")

    # sign out with the keyboard
    tab_to(page, "form[action='/salir'] button")
    keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/$"))
    portal.mark()

    # sign in: a wrong password first, then a new CAPTCHA image, then the right one
    tab_to(page, "#username")
    keyboard.type(account.username)
    keyboard.press("Tab")
    assert focused_matches(page, "#password")
    keyboard.type("Equivocada.1")
    with page.expect_response(is_login_post):
        keyboard.press("Enter")
    swapped(page, "#login-error")
    assert focused_matches(page, "#password")
    keyboard.type(NEW_PASSWORD)
    tab_to(page, "#captcha button")
    before = page.get_attribute("#captcha img", "src")
    keyboard.press("Enter")
    page.wait_for_function("(src) => document.querySelector('#captcha img').getAttribute('src') !== src",
                           arg=before)
    read_captcha(page)
    assert focused_matches(page, "#captcha-answer")
    keyboard.type(CAPTCHA)
    keyboard.press("Enter")
    page.wait_for_url("**/inicio")


FOCUS_RING = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    // the outline is drawn outside the control, over what surrounds it
    let back = e.parentElement;
    while (back && getComputedStyle(back).backgroundColor === "rgba(0, 0, 0, 0)") back = back.parentElement;
    const s = getComputedStyle(e);
    const a = lum(rgb(s.outlineColor));
    const b = lum(rgb(back ? getComputedStyle(back).backgroundColor : "rgb(255, 255, 255)"));
    return {name: e.id || e.textContent.trim().slice(0, 40), outline: s.outlineStyle,
            width: parseFloat(s.outlineWidth), contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
}"""


def test_focus_is_visible_on_every_control(portal, live):
    """Each control reached with Tab shows a focus outline of 2px or more, in at least 3:1
    contrast with what surrounds it (WCAG 2.4.7, 1.4.11)."""
    page = portal.page
    for path in ("/", "/recuperar"):
        portal.goto(path)
        seen = set()
        for _ in range(30):
            page.keyboard.press("Tab")
            ring = page.evaluate(FOCUS_RING)
            if ring is None:  # past the last control
                break
            if ring["name"] in seen:
                continue
            seen.add(ring["name"])
            assert ring["outline"] != "none" and ring["width"] >= 2, (path, ring)
            assert ring["contrast"] >= 3, (path, ring)
        assert len(seen) >= 5, seen


def test_fields_have_real_labels_and_autocomplete(portal, live):
    account = live.account()
    page = portal.page

    def check_labels():
        unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll(
                'input:not([type=hidden]), select, textarea'))
            .filter(e => !e.id || !document.querySelector('label[for="' + e.id + '"]'))
            .map(e => e.outerHTML)""")
        assert unlabelled == []

    portal.goto("/")
    check_labels()
    assert page.get_attribute("#username", "autocomplete") == "username"
    assert page.get_attribute("#password", "autocomplete") == "current-password"
    page.fill("#username", account.username)
    page.fill("#password", "Equivocada.1")
    with page.expect_response(is_login_post):
        page.click("#login-submit")
    swapped(page, "#captcha")
    check_labels()
    assert page.get_attribute("#captcha-answer", "autocomplete") == "off"

    portal.goto("/recuperar")
    check_labels()
    assert page.get_attribute("#recovery-username", "autocomplete") == "username"
    page.fill("#recovery-username", account.username)
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#secret-question-step")
    check_labels()
    page.fill("#answer", account.answer)
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#change-password-step")
    check_labels()
    assert page.get_attribute("#login-name", "autocomplete") == "username"
    assert page.get_attribute("#new_password", "autocomplete") == "new-password"
    assert page.get_attribute("#confirm_password", "autocomplete") == "new-password"
    assert page.get_attribute("#email", "autocomplete") == "email"
    page.get_by_role("link", name="Cambiar respuesta").click()
    swapped(page, "#question")
    check_labels()


def test_changes_are_announced(portal, live):
    """Error and lock messages are alerts inside a live region; the checklist is a live region."""
    account = live.account()
    page = portal.page
    portal.goto("/")
    assert page.get_attribute("#login-status", "aria-live") == "polite"
    page.fill("#username", account.username)
    page.fill("#password", "Equivocada.1")
    with page.expect_response(is_login_post):
        page.click("#login-submit")
    assert page.get_attribute("#login-status #login-error", "role") == "alert"
    assert page.get_attribute("#login-busy", "role") == "status"

    portal.goto("/recuperar")
    page.fill("#recovery-username", "xyz")
    page.get_by_role("button", name="aceptar").click()
    assert page.get_attribute("#recovery-error", "role") == "alert"
    assert page.get_attribute("#recovery-username", "aria-describedby") == "recovery-error"
    page.fill("#recovery-username", account.username)
    page.get_by_role("button", name="aceptar").click()
    page.fill("#answer", "no")
    page.get_by_role("button", name="aceptar").click()
    assert page.get_attribute("#answer-error", "role") == "alert"
    page.get_by_role("button", name="enviar recordatorio").click()
    swapped(page, "#secret-question-step [role=status]")
    page.fill("#answer", account.answer)
    read_captcha(page)
    page.fill("#captcha-answer", CAPTCHA)  # due since the wrong answer
    page.get_by_role("button", name="aceptar").click()
    swapped(page, "#change-password-step")
    assert page.get_attribute("#password-checklist", "aria-live") == "polite"


def test_caps_lock_warning(portal):
    """The warning follows the Caps Lock state of the keys typed in the password field.

    Playwright cannot turn Caps Lock on in Chromium (keyboard.press("CapsLock") leaves
    getModifierState("CapsLock") false), so the keys carrying that state are dispatched in the
    page, as the browser would send them.
    """
    page = portal.page
    portal.goto("/")
    page.click("#password")
    page.keyboard.press("CapsLock")
    page.keyboard.type("a")
    assert page.is_hidden("#caps-warning")  # what Playwright can do: no state, no warning

    def key(caps):
        page.evaluate("""(caps) => {
            const field = document.getElementById('password');
            for (const type of ['keydown', 'keyup']) {
                field.dispatchEvent(new KeyboardEvent(type, {key: 'A', code: 'KeyA', bubbles: true,
                                                             modifierCapsLock: caps}));
            }
        }""", caps)

    key(True)
    assert page.is_visible("#caps-warning")
    assert page.inner_text("#caps-warning") == "Bloq Mayús está activado."
    assert "caps-warning" in page.get_attribute("#password", "aria-describedby")
    portal.axe("caps lock warning")
    portal.shot("04b-caps-lock-warning")
    key(False)
    assert page.is_hidden("#caps-warning")


def test_slow_sign_in_shows_busy_and_disables_the_button(portal, live):
    page = portal.page
    held = []
    page.route(re.compile(r"/entrar$"), lambda route: held.append(route))
    portal.goto("/")
    page.fill("#username", live.active.username)
    page.fill("#password", live.active.password)
    page.click("#login-submit")
    for _ in range(100):  # up to 5 s for the request to reach the route
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the sign-in request never left"
    assert page.is_disabled("#login-submit")
    assert page.is_visible("#login-busy .spinner")
    assert page.text_content("#login-busy") == "Verificando…"  # what the status region announces
    portal.shot("04c-signing-in-busy")
    page.click("a[href='/recuperar']", trial=True)  # the rest of the page stays usable
    held[0].continue_()
    page.wait_for_url("**/inicio")
    page.unroute(re.compile(r"/entrar$"))


def test_lock_message_keeps_the_focus_and_the_countdown_quiet(portal, live):
    """After the swap that replaces the form with the lock, the focus is on the message; the
    countdown is a timer that screen readers do not announce on every tick."""
    account = live.account()
    page = portal.page
    portal.goto("/")
    for _ in range(5):
        fail_once(page, account.username)
    swapped(page, "#lockout")
    assert focused_matches(page, "#lockout, #lockout *")
    page.keyboard.press("Tab")
    assert focused_matches(page, "#lockout a")  # the next stop is inside the message: "Volver al formulario"
    # the countdown ticks inside an alert: it must not be read out again every second
    assert page.get_attribute("#lockout .countdown", "role") == "timer"
    assert page.get_attribute("#lockout .countdown", "aria-live") == "off"


def test_signed_in_user_is_sent_home(portal, live):
    page = portal.page
    portal.goto("/")
    sign_in(page, live.active)
    portal.goto("/")
    assert page.url.endswith("/inicio")
