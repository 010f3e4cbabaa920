"""Forward authentication (/api/verificar): what the reverse proxy hears for each session state,
for each way a proxy describes the original request, and for malformed descriptions (a 401,
never an error: Authelia's CVE-2021-32637 let a malformed URI pass its check)."""
import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from sqlalchemy import event, select, update

from config import TestConfig
from helpers import (
    BASE_URL,
    NAME,
    PASSWORD,
    SETUP_NAME,
    TEMPORARY,
    csrf_token,
    finished,
    login,
    make_user,
    text,
)
from portal import sessions
from portal.extensions import db
from portal.models import User

VERIFY = "/api/verificar"
APP_HOST = "factura.efactura.example"
APP_URL = f"https://{APP_HOST}/facturas?mes=11"
COOKIE = TestConfig.SESSION_COOKIE_NAME
NGINX = {"X-Original-URL": APP_URL}
TRAEFIK = {"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": APP_HOST,
           "X-Forwarded-Uri": "/facturas?mes=11"}


@pytest.fixture
def app(make_app):
    return make_app(ALLOWED_RETURN_HOSTS=APP_HOST)


@pytest.fixture
def signed_in(client, user):
    login(client, NAME, PASSWORD)
    return client


def ask(client, headers=None, method="get"):
    return finished(getattr(client, method)(VERIFY, headers=headers or {}))


def sent_to_sign_in(response, status=401):
    """The answer for someone not signed in: the status and the access page in Location; the rd it carries."""
    assert response.status_code == status, response.status_code
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == BASE_URL + "/"
    assert "Remote-User" not in response.headers
    return parse_qs(location.query).get("rd", [None])[0]


def utf8(value):
    """A header as the application reads it: the UTF-8 bytes on the wire (WSGI gives them as latin-1)."""
    return value.encode("latin-1").decode("utf-8")


# A live session

def test_a_live_session_is_told_with_who_it_is(signed_in):
    response = ask(signed_in, NGINX)
    assert response.status_code == 200
    assert response.headers["Remote-User"] == NAME
    assert utf8(response.headers["Remote-Name"]) == "María Gómez"
    assert response.headers["Remote-Email"] == "maria@example.com"
    assert response.headers["Remote-Groups"] == "cliente"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("username, group", [
    ("CT.PEMA900101QR5", "empleado"), ("usr.LOPE850315AB2", "gratuito"), ("PRV.ABC010203XY4", "proveedor"),
])
def test_the_group_is_the_kind_of_user(app, client, username, group):
    make_user(app, username, PASSWORD)
    login(client, username, PASSWORD)
    response = ask(client, NGINX)
    assert response.headers["Remote-User"] == username and response.headers["Remote-Groups"] == group


def test_it_answers_head_and_without_a_description_of_the_request(signed_in):
    assert ask(signed_in).headers["Remote-User"] == NAME
    assert ask(signed_in, NGINX, method="head").headers["Remote-User"] == NAME


# Not signed in, for each reason

def test_no_session_is_sent_to_sign_in_and_back(client):
    assert sent_to_sign_in(ask(client, NGINX)) == APP_URL


def test_a_person_who_opens_the_address_reads_where_to_sign_in(client):
    response = ask(client)
    assert response.mimetype == "text/plain" and text(response) == f"Necesita ingresar: {BASE_URL}/\n"


def test_a_target_not_allowed_is_not_carried(client):
    assert sent_to_sign_in(ask(client, {"X-Original-URL": "https://evil.example/"})) is None
    assert sent_to_sign_in(ask(client)) is None


def test_signing_out_ends_access_at_once_even_for_a_copy_of_the_cookie(app, signed_in):
    copy = signed_in.get_cookie(COOKIE).value
    signed_in.post("/salir", data={"csrf_token": csrf_token(signed_in, "/inicio")})
    other = app.test_client()
    other.set_cookie(COOKIE, copy)
    sent_to_sign_in(ask(other, NGINX))
    sent_to_sign_in(ask(signed_in, NGINX))


def test_idle_limit(signed_in, clock):
    clock.advance(minutes=TestConfig.SESSION_IDLE_MINUTES, seconds=1)
    sent_to_sign_in(ask(signed_in, NGINX))


def test_absolute_limit(make_app, user, clock):
    client = make_app(ALLOWED_RETURN_HOSTS=APP_HOST, SESSION_IDLE_MINUTES=24 * 60).test_client()
    login(client, NAME, PASSWORD)
    clock.advance(hours=TestConfig.SESSION_MAX_HOURS - 1)
    assert ask(client, NGINX).status_code == 200
    clock.advance(hours=1, seconds=1)
    sent_to_sign_in(ask(client, NGINX))


def test_asking_does_not_keep_the_session_alive(signed_in, clock):
    """Only the portal's own pages count as use: the check writes nothing, so it cannot."""
    clock.advance(minutes=10)
    assert ask(signed_in, NGINX).status_code == 200
    clock.advance(minutes=TestConfig.SESSION_IDLE_MINUTES - 9)
    sent_to_sign_in(ask(signed_in, NGINX))


def test_every_session_ended_elsewhere(app, signed_in):
    with app.app_context():
        sessions.revoke_all(db.session.scalar(select(User).where(User.username == NAME)))
        db.session.commit()
    sent_to_sign_in(ask(signed_in, NGINX))


def test_a_disabled_account(app, signed_in):
    with app.app_context():
        db.session.execute(update(User).where(User.username == NAME).values(disabled=True))
        db.session.commit()
    sent_to_sign_in(ask(signed_in, NGINX))


def test_first_sign_in_set_up_pending_is_not_signed_in(client, setup_user):
    login(client, SETUP_NAME, TEMPORARY)
    assert client.get("/inicio").headers["Location"] == "/cambiar-contrasena"  # signed in, set-up pending
    sent_to_sign_in(ask(client, NGINX))


@pytest.mark.parametrize("cookie", ["basura", "a.b.c", "eyJ1aWQiOjF9.AAAA.BBBB", "x" * 4000])
def test_a_forged_cookie(client, user, cookie):
    client.set_cookie(COOKIE, cookie)
    sent_to_sign_in(ask(client, NGINX))


# Traefik and Caddy pass the answer on to the browser

def test_traefik_and_caddy_get_a_redirect_for_a_page(client):
    assert sent_to_sign_in(ask(client, TRAEFIK), status=302) == APP_URL


@pytest.mark.parametrize("extra", [{"X-Forwarded-Method": "POST"}, {"X-Requested-With": "XMLHttpRequest"},
                                   {"HX-Request": "true"}], ids=["post", "xhr", "htmx"])
def test_traefik_and_caddy_get_a_401_for_a_script_or_a_post(client, extra):
    assert sent_to_sign_in(ask(client, {**TRAEFIK, **extra})) == APP_URL


def test_traefik_and_caddy_with_a_live_session(signed_in):
    assert ask(signed_in, TRAEFIK).headers["Remote-User"] == NAME


# Malformed descriptions of the original request: 401 (no rd), whatever the session

MALFORMED = {
    "empty URL": {"X-Original-URL": ""},
    "not a URL": {"X-Original-URL": "no es una URL"},
    "relative URL": {"X-Original-URL": "/facturas"},
    "javascript": {"X-Original-URL": "javascript:alert(1)"},
    "no host": {"X-Original-URL": "https://"},
    "space in URL": {"X-Original-URL": "https://factura.efactura.example/a b"},
    "control character": {"X-Original-URL": "https://factura.efactura.example/\x01"},
    "latin-1 text": {"X-Original-URL": "https://factura.efactura.example/año"},
    "userinfo": {"X-Original-URL": "https://x@factura.efactura.example/"},
    "bad port": {"X-Original-URL": "https://factura.efactura.example:puerto/"},
    "too long": {"X-Original-URL": "https://factura.efactura.example/" + "a" * 5000},
    "bad method": {**TRAEFIK, "X-Forwarded-Method": "G E T"},
    "bad proto": {**TRAEFIK, "X-Forwarded-Proto": "gopher"},
    "no host header": {"X-Forwarded-Proto": "https", "X-Forwarded-Uri": "/"},
    "host with a path": {**TRAEFIK, "X-Forwarded-Host": "evil.example/x"},
    "host with userinfo": {**TRAEFIK, "X-Forwarded-Host": "a@factura.efactura.example"},
    "empty host": {**TRAEFIK, "X-Forwarded-Host": ""},
    "uri without slash": {**TRAEFIK, "X-Forwarded-Uri": "facturas"},
    "scheme-relative uri": {**TRAEFIK, "X-Forwarded-Uri": "//evil.example/"},
    "space in uri": {**TRAEFIK, "X-Forwarded-Uri": "/a b"},
}


@pytest.mark.parametrize("headers", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_is_a_401_even_with_a_live_session(signed_in, headers):
    response = ask(signed_in, headers)
    assert sent_to_sign_in(response) is None


@pytest.mark.parametrize("headers", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_without_a_session(client, headers):
    assert sent_to_sign_in(ask(client, headers)) is None


# It writes nothing and sends no cookie

def test_no_cookie_is_sent_back(make_app, user, clock):
    app = make_app(ALLOWED_RETURN_HOSTS=APP_HOST, SESSION_REFRESH_EACH_REQUEST=True)
    client = app.test_client()
    login(client, NAME, PASSWORD)
    clock.advance(minutes=1)
    assert "Set-Cookie" in client.get("/inicio").headers  # a page of the portal refreshes the session
    for headers, status in ((NGINX, 200), (TRAEFIK, 200), (MALFORMED["not a URL"], 401)):
        response = ask(client, headers)
        assert response.status_code == status and "Set-Cookie" not in response.headers
    clock.advance(minutes=TestConfig.SESSION_IDLE_MINUTES, seconds=1)
    expired = ask(client, NGINX)  # a void session is not cleared here either: the portal does it
    assert expired.status_code == 401 and "Set-Cookie" not in expired.headers


def test_no_database_write(app, signed_in):
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split(None, 1)[0].upper())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for headers in (NGINX, TRAEFIK, MALFORMED["not a URL"], {}):
            ask(signed_in, headers)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements and set(statements) <= {"SELECT"}, statements


def test_not_limited_per_client(make_app, user):
    limited = {f"RATELIMIT_{name}": "3/minute" for name in ("LOGIN", "CAPTCHA", "CAPTCHA_AUDIO", "PAGES", "RECOVERY")}
    app = make_app(ALLOWED_RETURN_HOSTS=APP_HOST, RATELIMIT_ENABLED=True, **limited)
    client = app.test_client()
    answers = {ask(client, NGINX).status_code for _ in range(30)}
    assert answers == {401}
    assert client.get("/bloqueo").status_code == 200  # the limits are on: a limited page meets them
    assert {client.get("/bloqueo").status_code for _ in range(5)} == {200, 429}


# The session cookie across the application's host

def test_the_cookie_domain_shares_the_session_with_the_application(make_app, user):
    app = make_app(ALLOWED_RETURN_HOSTS=APP_HOST, SESSION_COOKIE_DOMAIN="efactura.example")
    client = app.test_client()
    portal = "http://acceso.efactura.example"
    token = csrf_token_at(client, portal)
    response = finished(client.post("/entrar", base_url=portal,
                                    data={"csrf_token": token, "username": NAME, "password": PASSWORD}))
    assert response.status_code == 303
    assert "Domain=efactura.example" in response.headers["Set-Cookie"]
    at_application = finished(client.get(VERIFY, base_url=f"http://{APP_HOST}", headers=NGINX))
    assert at_application.headers["Remote-User"] == NAME
    elsewhere = finished(client.get(VERIFY, base_url="http://factura.otro.example", headers=NGINX))
    assert elsewhere.status_code == 401


def csrf_token_at(client, base_url):
    page = client.get("/", base_url=base_url).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


# Signing out from the application: /salir?rd=... asks first, then goes back

def sign_out_page(client, rd, way=None):
    path = f"/salir?rd={quote(rd, safe='')}" if rd is not None else "/salir"
    return way.get(client, path) if way else client.get(path)


def test_the_sign_out_link_asks_first_and_signs_out_nobody(signed_in, way):
    body = way.assert_answer(sign_out_page(signed_in, APP_URL, way), "sign-out-confirm")
    action = re.search(r'<form action="([^"]+)" method="post">', body).group(1)
    assert urlsplit(action).path == "/salir" and parse_qs(urlsplit(action).query)["rd"] == [APP_URL]
    assert f'href="{APP_URL.replace("&", "&amp;")}"' in body  # cancelar: back to the application
    assert ask(signed_in, NGINX).status_code == 200


def test_confirming_signs_out_and_goes_back_to_the_application(signed_in):
    token = csrf_token(signed_in, "/salir")
    out = finished(signed_in.post(f"/salir?rd={quote(APP_URL, safe='')}", data={"csrf_token": token}))
    assert out.status_code == 303 and out.headers["Location"] == APP_URL
    assert sent_to_sign_in(ask(signed_in, NGINX)) == APP_URL


@pytest.mark.parametrize("rd", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"])
def test_a_sign_out_target_not_allowed_is_dropped(signed_in, rd):
    body = text(sign_out_page(signed_in, rd))
    assert 'action="/salir"' in body and 'href="/inicio"' in body and "evil" not in body
    token = csrf_token(signed_in, "/salir")
    out = finished(signed_in.post(f"/salir?rd={quote(rd, safe='')}", data={"csrf_token": token}))
    assert out.headers["Location"] == "/"


def test_the_sign_out_link_without_a_session_goes_on(client):
    assert sign_out_page(client, APP_URL).headers["Location"] == APP_URL
    assert sign_out_page(client, "https://evil.example/").headers["Location"] == "/"


def test_a_get_never_signs_out(signed_in):
    for _ in range(2):
        sign_out_page(signed_in, APP_URL)
        sign_out_page(signed_in, None)
    assert signed_in.get("/inicio").status_code == 200


def test_the_first_sign_in_set_up_can_be_left_by_signing_out(client, setup_user):
    login(client, SETUP_NAME, TEMPORARY)
    body = text(client.get("/cambiar-contrasena"))
    assert 'id="setup-sign-out" action="/salir"' in body
    out = finished(client.post("/salir", data={"csrf_token": csrf_token(client, "/cambiar-contrasena")}))
    assert out.status_code == 303 and out.headers["Location"] == "/"
    assert client.get("/cambiar-contrasena").headers["Location"] == "/recuperar"  # signed out
