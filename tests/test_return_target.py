"""The return target (`rd`): where a sign-in sends the browser, driven through the real sign-in.

Every refused form lands on the home page; every accepted one is where the browser goes. The
refused list holds the forms of the public advisories on the same rule: oauth2-proxy
CVE-2020-5233 ("/\\"), CVE-2020-11053 (tabs in "/\\t/"), CVE-2021-21291 (".example.com"
matching "evilexample.com"), mod_auth_mellon CVE-2019-3877 ("/\\"), Keycloak CVE-2023-6134
("javascript:") and CVE-2024-1132 ("..;/"), and Authelia's malformed URLs (CVE-2021-32637).
"""
import pytest

from helpers import (
    CAPTCHA,
    EMAIL,
    NAME,
    NEW_PASSWORD,
    PASSWORD,
    SETUP_NAME,
    TEMPORARY,
    csrf_token,
    fail,
    login,
    open_link,
    prove_by_answer,
    reminder_link,
    save,
    text,
)
from portal import return_target
from portal.secret_question import QUESTIONS

ALLOWED = "factura.efactura.example, .clientes.example, 127.0.0.1:8081, facturas.example:8443, [::1]:8082"
HOME = "/inicio"
APP_URL = "https://factura.efactura.example/facturas?mes=11#lista"

ACCEPTED = [
    "/inicio",
    "/cuenta?x=1#y",
    "/",
    APP_URL,
    "https://factura.efactura.example",
    "https://factura.efactura.example:443/",
    "https://mx.clientes.example/panel",
    "https://a.b.clientes.example/",
    "http://127.0.0.1:8081/facturas",
    "http://[::1]:8082/",
    "https://facturas.example:8443/x",
    "https://factura.efactura.example/buscar?q=a%2Bb",
    "https://factura.efactura.example/buscar?q=a%20b",  # an encoded space in the query only
    "/oidc/autorizar?scope=openid%20email&state=x%2Fy",
]

REFUSED = {
    # another host through the path form
    "scheme-relative": "//evil.example/",
    "three slashes": "///evil.example",
    "slash backslash (CVE-2020-5233, CVE-2019-3877)": "/\\evil.example",
    "backslash": "\\evil.example",
    "two backslashes": "\\\\evil.example",
    "slash tab slash (CVE-2020-11053)": "/\t/evil.example",
    "encoded tab (CVE-2020-11053)": "/%09/evil.example",
    "encoded backslash": "/%5c%5cevil.example",
    "encoded slashes": "/%2f%2fevil.example",
    "encoded CRLF": "/%0d%0aSet-Cookie:%20x=1",
    "double-encoded space": "/%2520/evil.example",
    "encoded NUL": "/inicio%00",
    "encoded CRLF in the query": "/inicio?x=%0d%0aSet-Cookie:x",
    "encoded NUL in the fragment": "/inicio#%00",
    "encoded space in the host": "https://factura.efactura.example%20.evil.example/",
    "plain space": "/in icio",
    "newline": "/inicio\nLocation: https://evil.example",
    # dot segments
    "dot-dot": "/..//evil.example",
    "dot-dot inside": "/inicio/../..//evil.example",
    "encoded dot-dot": "/%2e%2e/%2e%2e//evil.example",
    "dot-dot semicolon (CVE-2024-1132)": "https://factura.efactura.example/..;/admin",
    "single dot": "/./inicio",
    # userinfo
    "userinfo, allowed host first": "https://factura.efactura.example@evil.example/",
    "userinfo, allowed host last": "https://evil.example@factura.efactura.example/",
    "several @": "https://a@b@factura.efactura.example/",
    "encoded @": "https://factura.efactura.example%40evil.example/",
    "backslash before @": "https://factura.efactura.example\\@evil.example/",
    # schemes
    "javascript (CVE-2023-6134)": "javascript:alert(1)",
    "javascript with slashes": "JavaScript://factura.efactura.example/%0aalert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "vbscript": "vbscript:msgbox(1)",
    "ftp": "ftp://factura.efactura.example/",
    "https without slashes": "https:evil.example",
    "https with one slash": "https:/evil.example",
    "https with no host": "https:///evil.example",
    "bare host": "evil.example",
    # hosts and ports
    "http to a listed non-loopback host": "http://factura.efactura.example/",
    "http to a loopback port not listed": "http://127.0.0.1:9999/",
    "http to an unlisted loopback name": "http://localhost:8081/",
    "port not listed": "https://factura.efactura.example:8443/",
    "listed port missing": "https://facturas.example/x",
    "invalid port": "https://factura.efactura.example:99999/",
    "hex port": "https://factura.efactura.example:0x1bb/",
    "look-alike suffix (CVE-2021-21291)": "https://evilclientes.example/",
    "bare parent of a subdomain entry": "https://clientes.example/",
    "allowed host as a prefix": "https://factura.efactura.example.evil.example/",
    "allowed host in the path": "https://evil.example/factura.efactura.example",
    "allowed host in the query": "https://evil.example?.clientes.example",
    "allowed host in the fragment": "https://evil.example#.clientes.example",
    "trailing dot": "https://factura.efactura.example./",
    "Cyrillic look-alike": "https://f\u0430ctura.efactura.example/",
    "fullwidth dot": "https://factura\uff0eefactura.example/",
    "unlisted IPv6": "https://[::2]:8082/",
    "empty": "",
    "too long": "/" + "a" * 3000,
}


@pytest.fixture
def app(make_app):
    return make_app(ALLOWED_RETURN_HOSTS=ALLOWED)


def going_to(client, raw):
    """The access page asked with `rd`, as a proxy or an application sends the browser there."""
    return client.get("/", query_string={"rd": raw})


def landed(response):
    return response.headers.get("HX-Redirect") or response.headers["Location"]


@pytest.mark.parametrize("raw", ACCEPTED)
def test_an_accepted_target_is_where_the_sign_in_goes(client, user, raw):
    going_to(client, raw)
    assert landed(login(client, NAME, PASSWORD)) == raw


@pytest.mark.parametrize("raw", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_target_lands_on_the_home_page(client, user, raw):
    page = going_to(client, raw)
    assert page.status_code == 200
    assert landed(login(client, NAME, PASSWORD)) == HOME


@pytest.mark.parametrize("raw", REFUSED.values(), ids=REFUSED.keys())
def test_the_rule_refuses_each_form(raw):
    assert return_target.parse(raw, ALLOWED) is None


def test_htmx_sign_in_is_sent_on_with_hx_redirect(client, user):
    going_to(client, APP_URL)
    response = login(client, NAME, PASSWORD, htmx=True)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == APP_URL


def test_the_target_is_never_written_into_the_page(client, user):
    page = text(going_to(client, APP_URL))
    assert "factura.efactura.example" not in page and "mes=11" not in page
    refused = text(login(client, NAME, "Equivocada.1"))
    assert "factura.efactura.example" not in refused


def test_a_refused_target_drops_one_kept_before(client, user):
    going_to(client, APP_URL)
    going_to(client, "//evil.example/")
    assert landed(login(client, NAME, PASSWORD)) == HOME


def test_the_target_serves_one_sign_in(client, user):
    going_to(client, APP_URL)
    login(client, NAME, PASSWORD)
    client.post("/salir", data={"csrf_token": csrf_token(client, HOME)})
    assert landed(login(client, NAME, PASSWORD)) == HOME


def test_it_survives_a_wrong_password_and_the_captcha(client, user):
    going_to(client, APP_URL)
    assert "captcha" in text(fail(client, NAME))
    wrong_captcha = login(client, NAME, PASSWORD, captcha="NOPE")
    assert wrong_captcha.status_code == 200
    assert landed(login(client, NAME, PASSWORD, captcha=CAPTCHA)) == APP_URL


def test_it_survives_the_lock(app, client, user, clock):
    going_to(client, APP_URL)
    fail(client, NAME, times=app.config["LOGIN_MAX_ATTEMPTS"])
    assert "lockout" in text(client.get("/"))
    clock.advance(minutes=app.config["LOCKOUT_MINUTES"], seconds=1)
    assert landed(login(client, NAME, PASSWORD, captcha=CAPTCHA)) == APP_URL


def test_it_waits_for_the_first_sign_in_set_up(client, setup_user):
    going_to(client, APP_URL)
    assert landed(login(client, SETUP_NAME, TEMPORARY)) == "/cambiar-contrasena"
    assert client.get("/").headers["Location"] == HOME  # not before the set-up is done
    done = save(client, new=NEW_PASSWORD, email="ana@example.com", change_answer="1", question=QUESTIONS[1],
                answer="Monterrey")
    assert landed(done) == APP_URL


def test_it_survives_a_recovery_by_answer(client, user):
    going_to(client, APP_URL)
    prove_by_answer(client)
    assert landed(save(client)) == APP_URL


def test_it_survives_a_recovery_by_coded_link(app, client, user):
    going_to(client, APP_URL)
    link = reminder_link(app, client=client)
    assert landed(open_link(client, link)) == "/cambiar-contrasena"
    assert landed(save(client, email=EMAIL)) == APP_URL


def test_signed_in_already_goes_straight_to_the_target(client, user):
    login(client, NAME, PASSWORD)
    response = going_to(client, APP_URL)
    assert response.status_code == 302 and response.headers["Location"] == APP_URL


def test_a_kept_target_is_checked_again_against_the_settings_of_the_day(make_app, user):
    first = make_app(ALLOWED_RETURN_HOSTS=ALLOWED)
    client = first.test_client()
    going_to(client, APP_URL)
    second = make_app(ALLOWED_RETURN_HOSTS="otra.example")
    second_client = second.test_client()
    second_client.set_cookie("efactura_sesion", client.get_cookie("efactura_sesion").value)
    assert landed(login(second_client, NAME, PASSWORD)) == HOME


def test_without_javascript_the_form_may_post_to_an_allowed_host(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert ("form-action 'self' https://factura.efactura.example https://*.clientes.example "
            "https://127.0.0.1:8081 http://127.0.0.1:8081") in policy


def test_no_setting_no_other_host(make_app, user):
    client = make_app().test_client()
    going_to(client, APP_URL)
    assert landed(login(client, NAME, PASSWORD)) == HOME
    assert "form-action 'self';" in client.get("/").headers["Content-Security-Policy"]


def test_the_target_is_kept_through_an_htmx_recovery(client, user):
    going_to(client, APP_URL)
    prove_by_answer(client, htmx=True)
    assert save(client, htmx=True, email=EMAIL).headers["HX-Redirect"] == APP_URL

