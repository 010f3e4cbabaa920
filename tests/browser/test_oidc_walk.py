"""The portal as an OpenID Connect provider, walked in Chromium with a relying party nobody
here wrote: Debian's Apache with mod_auth_openidc (the `relying_party` fixture of
tests/conftest.py) protecting a page that shows the claims it received.

Open the protected page → the portal's access page → a wrong password → the CAPTCHA with the
right one → back on the protected page, which shows OIDC_CLAIM_preferred_username = the RFC;
then the application's logout goes through the provider's end-session endpoint, which signs
out of the portal too.
"""
import itertools
import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import PortalPage, _context
from portal_steps import CAPTCHA, attempt, fail_once

from helpers import PASSWORD, make_user

serials = itertools.count(1)


@pytest.fixture
def rp_page(make_portal, relying_party):
    """A fresh browser, checked for console errors and CSP violations on the portal's pages."""
    return make_portal(SimpleNamespace(url=relying_party.portal.url, inbox=relying_party.inbox))


@pytest.fixture
def account(relying_party):
    serial = next(serials)
    username = make_user(relying_party.app, f"OIDC8004{serial:02d}XY9", PASSWORD,
                         email=f"oidc{serial}@prueba.example", display_name="Cliente de la Aplicación")
    return SimpleNamespace(username=username, password=PASSWORD)


def test_sign_in_through_mod_auth_openidc_and_out_again(rp_page, relying_party, account):
    page, rp, portal = rp_page.page, relying_party.rp, relying_party.portal
    page.goto(rp.url + "/protegida/")
    page.wait_for_url(re.compile("^" + re.escape(portal.url) + r"/\?rd="))
    target = parse_qs(urlsplit(page.url).query)["rd"][0]
    assert target.startswith("/oidc/autorizar?") and "code_challenge_method=S256" in target
    assert page.is_visible("#login-form")
    rp_page.shot("oidc-01-access-page")

    fail_once(page, account.username)  # a wrong password: the CAPTCHA comes
    assert page.is_visible("#captcha-answer")
    attempt(page, account.username, account.password, CAPTCHA, settle=False)
    page.wait_for_url(rp.url + "/protegida/")
    assert page.inner_text("h1") == "Página protegida"
    assert page.inner_text("#OIDC_CLAIM_preferred_username") == account.username
    assert page.inner_text("#OIDC_CLAIM_rfc") == account.username
    assert page.inner_text("#OIDC_CLAIM_user_kind") == "customer"
    assert page.inner_text("#OIDC_CLAIM_name") == "Cliente de la Aplicación"
    assert page.inner_text("#OIDC_CLAIM_iss") == portal.url
    assert page.inner_text("#OIDC_CLAIM_sub") not in (account.username, "")
    assert page.inner_text("#remote-user") == account.username

    page.goto(portal.url + "/inicio")  # signed in at the portal too
    assert page.inner_text("#account-title") == "Mi cuenta"

    page.goto(rp.url + "/protegida/")
    page.click("#logout")  # mod_auth_openidc → the portal's end-session endpoint → back to the application
    page.wait_for_url(rp.url + "/adios")
    assert page.inner_text("#adios") == "Sesión cerrada"
    page.goto(portal.url + "/inicio")
    page.wait_for_url(re.compile("^" + re.escape(portal.url) + "/$"))
    assert page.is_visible("#login-form")  # signed out of the portal
    page.goto(rp.url + "/protegida/")
    page.wait_for_url(re.compile("^" + re.escape(portal.url) + r"/\?rd="))  # and of the application



def test_without_javascript_the_sign_in_form_goes_back_to_the_application(browser, relying_party, account, request):
    """A plain form POST answered by redirects that end on the application: the access page's
    CSP (form-action) lists the hosts of ALLOWED_RETURN_HOSTS, where the application's is."""
    live = SimpleNamespace(url=relying_party.portal.url, inbox=relying_party.inbox)
    wrapped = PortalPage(_context(browser, java_script_enabled=False), live, request.node.name)
    try:
        page, rp = wrapped.page, relying_party.rp
        page.goto(rp.url + "/protegida/")
        page.fill("#username", account.username)
        page.fill("#password", account.password)
        page.click("#login-submit")
        page.wait_for_url(rp.url + "/protegida/")
        assert page.inner_text("#OIDC_CLAIM_preferred_username") == account.username
        wrapped.assert_clean()
    finally:
        wrapped.context.close()


def test_the_refusal_page_and_the_logout_question_read_well(rp_page, relying_party, account):
    """What a person may meet of the provider on the portal itself: the page for a request from
    an application that is not registered, and the question a logout without an ID token asks."""
    page, portal = rp_page.page, relying_party.portal
    response = page.goto(portal.url + "/oidc/autorizar?response_type=code&client_id=desconocida"
                                      "&redirect_uri=https%3A%2F%2Fevil.example%2F&scope=openid")
    assert response.status == 400 and page.url.startswith(portal.url)
    # Chromium logs the page's own 400 as a console error: that one is expected, and only that one
    assert rp_page.console_errors == ["Failed to load resource: the server responded with a status of 400 "
                                      "(BAD REQUEST)"]
    rp_page.console_errors.clear()
    assert "no está registrada" in page.inner_text("#oidc-error")
    rp_page.axe("oidc refusal")
    rp_page.shot("oidc-02-refusal")

    page.goto(portal.url + "/")
    attempt(page, account.username, account.password, settle=False)
    page.wait_for_url("**/inicio")
    page.goto(portal.url + "/oidc/salir")
    assert page.is_visible("#oidc-logout")
    rp_page.axe("oidc logout question")
    rp_page.shot("oidc-03-logout-question")
    page.get_by_role("button", name="Cerrar sesión").click()
    page.wait_for_url(re.compile("^" + re.escape(portal.url) + "/$"))
    assert page.is_visible("#login-form")
