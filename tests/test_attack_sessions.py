"""Attack: e-mailed links, session cookies, redirects, CSRF, framing and the Host header.

- coded links: replayed, tampered with, expired, used after the password changed by another
  route, guessed;
- session cookies: replayed after sign-out or after a password change, tampered with or forged,
  fixed before sign-in, kept alive past the limits, leaked through URLs;
- redirects: no next-like parameter on any route leads off-site, before or after sign-in;
- CSRF: every POST route of app.url_map refuses a missing or foreign token with the friendly
  fragment, changes nothing, and never answers 5xx;
- framing: every answer forbids it (X-Frame-Options DENY and CSP frame-ancestors 'none');
- Host header: e-mailed links come from PUBLIC_BASE_URL and no redirect echoes a forged Host.
"""
import hashlib
import itertools
import re
from urllib.parse import urlsplit

import pytest
from flask import url_for
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from config import TestConfig
from helpers import (
    ANSWER,
    BASE_URL,
    CAPTCHA,
    EMAIL,
    HTMX,
    NAME,
    NEW_PASSWORD,
    PASSWORD,
    WRONG,
    client_from,
    code_of,
    csrf_token,
    finished,
    login,
    make_user,
    open_link,
    post,
    prove_by_answer,
    reminder_link,
    save,
    snapshot,
    text,
    written,
)
from portal import captcha, coded_link
from portal.extensions import db
from portal.models import AuthEvent, CodedLink, User

COOKIE = TestConfig.SESSION_COOKIE_NAME
EVIL = "evil.example"


@pytest.fixture
def account(app):
    return make_user(app)


def body_of(message):
    return message.get_body(("plain",)).get_content() + message.get_body(("html",)).get_content()


def has_proof(client):
    return client.get("/cambiar-contrasena").status_code == 200


def signed_in(client):
    return client.get("/inicio").status_code == 200


def cookie_value(client):
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def with_cookie(app, value):
    """A browser of the attacker's, holding a copied cookie value."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, value)
    return thief


# Coded links

def test_a_link_serves_once_whoever_opens_it(app, account):
    link = reminder_link(app)
    first = app.test_client()
    assert open_link(first, link).headers["Location"] == "/cambiar-contrasena"
    for _ in range(3):
        late = app.test_client()
        assert open_link(late, link).headers["Location"] == "/recuperar/enlace?motivo=used"
        assert not has_proof(late)
    assert has_proof(first)


def tampered_codes(code):
    flipped = code[:-1] + ("A" if code[-1] != "A" else "B")
    variants = [flipped, code[:-1], code + "A", code.swapcase(), code[::-1], code + "%00", code[1:],
                code.replace("-", "+").replace("_", "/"), "", "%20" + code, code.lower(), code.upper()]
    return [variant for variant in variants if variant != code]  # (a code may hold no "-", "_" or capital)


def test_a_tampered_link_opens_nothing(app, account):
    link = reminder_link(app)
    code = code_of(link)
    for tampered in tampered_codes(code):
        client = app.test_client()
        response = client.get("/request/codedAccess?code=" + tampered)
        assert response.status_code == 303
        assert response.headers["Location"] == "/recuperar/enlace?motivo=unknown", tampered
        assert not has_proof(client)
    assert open_link(app.test_client(), link).headers["Location"] == "/cambiar-contrasena"  # the real one still works


def test_an_expired_link_opens_nothing(app, account, clock):
    link = reminder_link(app)
    clock.advance(hours=24, seconds=1)
    client = app.test_client()
    assert open_link(client, link).headers["Location"] == "/recuperar/enlace?motivo=expired"
    assert not has_proof(client)


def test_a_link_is_void_once_the_password_changed_by_the_secret_answer(app, account):
    link = reminder_link(app)
    owner = app.test_client()
    prove_by_answer(owner)
    assert save(owner).headers["Location"] == "/inicio"
    attacker = app.test_client()
    assert open_link(attacker, link).headers["Location"] == "/recuperar/enlace?motivo=void"
    assert not has_proof(attacker)


def test_a_link_opened_before_the_password_changed_cannot_save_after(app, account):
    """The attacker opened the link (proof in their session) but the owner changed the password
    first: the attacker's proof is void."""
    link = reminder_link(app)
    attacker = app.test_client()
    open_link(attacker, link)
    owner = app.test_client()
    prove_by_answer(owner)
    save(owner)
    assert post(attacker, "/cambiar-contrasena", {"new_password": "Atacante.2027", "confirm_password": "Atacante.2027",
                                                  "email": "attacker@evil.example"}).headers["Location"] == "/recuperar"
    assert login(app.test_client(), NAME, NEW_PASSWORD).status_code == 303


def test_link_codes_are_long_random_and_kept_only_as_hashes(app, account):
    """256 random bits per code (secrets.token_urlsafe(32)); the database holds a SHA-256."""
    with app.app_context():
        user = db.session.scalar(select(User))
        codes = [code_of(coded_link.issue(user)) for _ in range(20)]
        db.session.commit()
        stored = db.session.scalars(select(CodedLink.code_hash)).all()
    assert len(set(codes)) == 20 and all(re.fullmatch(r"[\w-]{43}", code) for code in codes)
    assert len(stored) == 20 and not set(codes) & set(stored)
    assert {hashlib.sha256(code.encode()).hexdigest() for code in codes} == set(stored)


def test_guessing_codes_meets_the_rate_limit(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_RECOVERY="5/minute")
    guesser = client_from(app)
    statuses = [guesser.get(f"/request/codedAccess?code=guess{i}").status_code for i in range(8)]
    assert statuses == [303] * 5 + [429] * 3


def test_the_code_leaves_the_address_bar_and_no_referer_carries_it(app, account):
    link = reminder_link(app)
    code = code_of(link)
    client = app.test_client()
    response = open_link(client, link)
    assert code not in response.headers["Location"] and response.headers["Referrer-Policy"] == "no-referrer"
    page = client.get(response.headers["Location"])
    assert code not in text(page) and page.headers["Referrer-Policy"] == "no-referrer"


def link_used(app):
    with app.app_context():
        return db.session.scalar(select(CodedLink.used_at)) is not None


def test_opening_a_link_spends_nothing_until_continuar(app, account):
    """Found by the outside review: opening a coded link (a GET) changed state, so mail
    scanners that prefetch links spent them. The GET shows a page with «continuar», a POST
    with its CSRF token, which spends the link."""
    link = reminder_link(app)
    scanner = app.test_client()
    for _ in range(3):  # a scanner (or a browser's preview) fetches it, and again
        response = scanner.get(link.removeprefix(BASE_URL))
        assert response.headers["Location"] == "/recuperar/enlace/continuar"
        page = scanner.get("/recuperar/enlace/continuar")
        assert 'id="link-continue"' in text(page) and ">continuar</button>" in text(page)
    assert not link_used(app) and not has_proof(scanner)
    forged = finished(scanner.post("/recuperar/enlace/continuar", data={}))  # no CSRF token
    assert forged.status_code == 400 and not link_used(app)
    person = app.test_client()
    assert open_link(person, link).headers["Location"] == "/cambiar-contrasena"
    assert link_used(app) and has_proof(person)


def test_a_signed_in_session_is_not_replaced_by_someone_elses_link_without_choosing(app, account):
    """Found by the outside review: a signed-in person sent to somebody else's link was signed
    out and shown the change step of the other account, its e-mail filled in."""
    make_user(app, "LOPJ750315XY2", email="juan@example.com")
    link = reminder_link(app)  # NAME's
    other = app.test_client()
    assert login(other, "LOPJ750315XY2", PASSWORD).status_code == 303
    other.get(link.removeprefix(BASE_URL))
    page = text(other.get("/recuperar/enlace/continuar"))
    assert "LOPJ750315XY2" in page and "si continúa, esa sesión se cerrará" in page
    assert signed_in(other) and not link_used(app)
    assert EMAIL not in page  # nothing of the link's account but its user name
    token = csrf_token(other, "/recuperar/enlace/continuar")
    chose = finished(other.post("/recuperar/enlace/continuar", data={"csrf_token": token}))
    assert chose.headers["Location"] == "/cambiar-contrasena"
    assert not signed_in(other) and has_proof(other)


# Session cookies

def test_a_cookie_copied_before_sign_out_is_void_on_every_device(app, account):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, NAME, PASSWORD)
    login(phone, NAME, PASSWORD)
    stolen = cookie_value(laptop)
    assert signed_in(with_cookie(app, stolen))
    post(laptop, "/salir", token=csrf_token(laptop, "/inicio"))
    assert not signed_in(with_cookie(app, stolen))
    assert signed_in(phone)  # sign-out ends this session; the account page closes the others


def test_cookies_copied_before_a_password_change_are_void(app, account):
    victim = app.test_client()
    login(victim, NAME, PASSWORD)
    stolen = cookie_value(victim)
    recovering = app.test_client()
    prove_by_answer(recovering)
    with_proof = cookie_value(recovering)
    assert save(recovering).headers["Location"] == "/inicio"
    assert signed_in(recovering)
    assert not signed_in(victim)
    assert not signed_in(with_cookie(app, stolen))
    replay = with_cookie(app, with_proof)  # the recovery proof cannot be spent twice
    assert not has_proof(replay)
    again = {"new_password": "Otra.Clave.2028", "confirm_password": "Otra.Clave.2028", "email": EMAIL}
    assert post(replay, "/cambiar-contrasena", again).headers["Location"] == "/recuperar"


def test_a_planted_cookie_is_not_the_one_after_sign_in(app, account):
    """Session fixation: the attacker gets a cookie of their own and plants it in the victim's
    browser. After the victim signs in, the browser holds another session, and the planted value
    is as anonymous as before."""
    attacker = app.test_client()
    attacker.get("/")
    planted = cookie_value(attacker)
    victim = with_cookie(app, planted)
    assert login(victim, NAME, PASSWORD).status_code == 303
    after = cookie_value(victim)
    assert after != planted
    serializer = app.session_interface.get_signing_serializer(app)
    before, now = serializer.loads(planted), serializer.loads(after)
    assert "uid" not in before and now["uid"]
    assert before.get("csrf_token") != now.get("csrf_token")
    assert not signed_in(with_cookie(app, planted))


def test_every_sign_in_gets_a_new_random_session_id(app, account):
    serializer = app.session_interface.get_signing_serializer(app)
    ids = set()
    for _ in range(5):
        client = app.test_client()
        login(client, NAME, PASSWORD)
        ids.add(serializer.loads(cookie_value(client))["sid"])
    assert len(ids) == 5
    assert all(len(sid) >= 22 for sid in ids)  # token_urlsafe(16): 128 random bits


def test_a_tampered_or_forged_session_cookie_is_anonymous(app, account):
    client = app.test_client()
    login(client, NAME, PASSWORD)
    value = cookie_value(client)
    content = app.session_interface.get_signing_serializer(app).loads(value)
    flipped = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    wrong_key = URLSafeTimedSerializer("guessed-secret", salt="cookie-session",
                                       signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1})
    forged = wrong_key.dumps(content)
    payload_only = value.rsplit(".", 2)[0]
    for bad in (flipped, forged, payload_only, value + "x", "", "null"):
        assert not signed_in(with_cookie(app, bad)), bad[:40]


def test_a_stolen_cookie_dies_after_idle_and_absolute_limits(app, account, clock):
    client = app.test_client()
    login(client, NAME, PASSWORD)
    idle_copy = cookie_value(client)
    clock.advance(minutes=16)
    assert not signed_in(with_cookie(app, idle_copy))
    fresh = app.test_client()
    login(fresh, NAME, PASSWORD)
    kept_alive = with_cookie(app, cookie_value(fresh))
    for _ in range(8 * 5):  # the thief uses it every 12 minutes, for 8 hours
        clock.advance(minutes=12)
        kept_alive.get("/inicio")
    clock.advance(minutes=1)
    assert not signed_in(kept_alive)


def test_no_session_token_appears_in_any_url(app, account):
    """V3.1.1: the session never travels in a URL (no link, form action, redirect or header)."""
    client = app.test_client()
    login(client, NAME, PASSWORD)
    value = cookie_value(client)
    sid = app.session_interface.get_signing_serializer(app).loads(value)["sid"]
    urls = []
    for path in ("/", "/inicio", "/recuperar", "/captcha/nuevo", "/bloqueo"):
        response = client.get(path)
        urls += re.findall(r'(?:href|src|action|hx-get|hx-post)="([^"]*)"', text(response))
        urls += [response.headers.get("Location", ""), response.headers.get("HX-Redirect", "")]
    assert urls
    assert not any(value[:30] in url or sid in url for url in urls)


# Redirects

NEXT_VALUES = [f"https://{EVIL}/", f"//{EVIL}", f"/\\{EVIL}", f"\\\\{EVIL}", f"https:{EVIL}", f"%2F%2F{EVIL}",
               f"http://{EVIL}@127.0.0.1/", f"javascript:alert(1)//{EVIL}"]
NEXT_NAMES = ["next", "url", "redirect", "redirect_uri", "return", "returnTo", "return_to", "continue", "goto",
              "destination", "r", "target", "siguiente"]


def evil_query():
    return "&".join(f"{name}={value}" for name, value in zip(NEXT_NAMES, itertools.cycle(NEXT_VALUES), strict=False))


def assert_stays_on_site(response):
    for header in ("Location", "HX-Redirect"):
        target = response.headers.get(header)
        if target is None:
            continue
        parts = urlsplit(target)
        assert EVIL not in target, (header, target)
        assert parts.netloc in ("", "localhost", urlsplit(BASE_URL).netloc), (header, target)
        assert not target.startswith(("//", "/\\", "\\")), (header, target)
    assert EVIL.encode() not in response.get_data()  # and no page reflects the parameter


CONSOLE_SAMPLES = {"user_id": 1, "staff_id": 1, "action": "desbloquear"}  # the support console's records


def get_urls(app):
    """One URL for every GET route of app.url_map (a new route with a new argument fails here)."""
    with app.app_context():
        challenge = captcha.new_challenge()
    samples = {"filename": "portal.css", "challenge_id": challenge, **CONSOLE_SAMPLES}
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" in rule.methods:
                urls.append(url_for(rule.endpoint, **{argument: samples[argument] for argument in rule.arguments}))
    return urls


def client_in(app, state):
    """A client that is anonymous, signed in, or half-way through recovery (answer proven)."""
    client = app.test_client()
    if state == "signed-in":
        login(client, NAME, PASSWORD)
    if state == "recovering":
        prove_by_answer(client)
    return client


@pytest.mark.parametrize("state", ["anonymous", "signed-in", "recovering"])
def test_no_get_route_redirects_off_site(app, account, state):
    client = client_in(app, state)
    urls = get_urls(app)
    assert len(urls) >= 15
    for url in urls:
        for headers in ({}, HTMX):
            response = client.get(f"{url}{'&' if '?' in url else '?'}{evil_query()}", headers=headers)
            assert response.status_code < 500, url
            assert_stays_on_site(response)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_no_post_redirects_off_site(app, account, htmx):
    headers = HTMX if htmx else {}
    extra = {name: value for name, value in zip(NEXT_NAMES, itertools.cycle(NEXT_VALUES), strict=False)}
    client = app.test_client()
    token = csrf_token(client)
    signed = finished(client.post(f"/entrar?{evil_query()}", headers=headers,
                                  data={"csrf_token": token, "username": NAME, "password": PASSWORD, **extra}))
    assert (signed.headers.get("HX-Redirect") if htmx else signed.headers["Location"]) == "/inicio"
    assert_stays_on_site(signed)
    out = finished(client.post(f"/salir?{evil_query()}", headers=headers,
                               data={"csrf_token": csrf_token(client, "/inicio"), **extra}))
    assert out.headers["Location"] == "/"
    recovering = app.test_client()
    prove_by_answer(recovering)
    saved = finished(recovering.post(f"/cambiar-contrasena?{evil_query()}", headers=headers, data={
        "csrf_token": csrf_token(recovering, "/recuperar"), "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD, "email": EMAIL, **extra}))
    assert (saved.headers.get("HX-Redirect") if htmx else saved.headers["Location"]) == "/inicio"
    assert_stays_on_site(saved)


# CSRF on every POST route

SAMPLE_SID = "s" * 43  # a session id (of nobody): the route exists, the CSRF check comes first


# The OpenID Connect endpoints an application calls with its own credentials (a client secret,
# a bearer token), never with a browser's cookie: no CSRF token (tested below that a victim's
# cookie gets nothing from them).
CLIENT_CREDENTIAL_ROUTES = {"/oidc/token", "/oidc/userinfo"}


def post_routes(app):
    with app.test_request_context():
        return sorted(url_for(rule.endpoint, **{argument: CONSOLE_SAMPLES.get(argument, SAMPLE_SID)
                                                for argument in rule.arguments})
                      for rule in app.url_map.iter_rules() if "POST" in rule.methods
                      and rule.rule not in CLIENT_CREDENTIAL_ROUTES)


def test_the_routes_without_a_csrf_token_give_a_cookie_nothing(app, account):
    """The token and userinfo endpoints take no CSRF token: a signed-in victim's cookie, sent by
    a forged cross-site POST, authenticates nothing there."""
    victim = app.test_client()
    login(victim, NAME, PASSWORD)
    with app.test_request_context():
        every = {rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods and not rule.arguments}
    assert every - set(post_routes(app)) == CLIENT_CREDENTIAL_ROUTES
    token = finished(victim.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x"}))
    assert token.status_code in (400, 401) and "access_token" not in text(token)
    assert finished(victim.post("/oidc/userinfo")).status_code == 401
    assert signed_in(victim)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_every_post_route_refuses_a_missing_or_foreign_csrf_token(app, account, htmx):
    """The victim is signed in and holds a recovery proof, so every route would act; a forged
    request with no token, another session's token (in the form or the header), or garbage
    gets the friendly "page expired" answer, and nothing changes."""
    routes = post_routes(app)
    assert {"/entrar", "/salir", "/recuperar", "/cambiar-contrasena"} <= set(routes)
    attacker = app.test_client()
    foreign = csrf_token(attacker)
    victim = app.test_client()
    login(victim, NAME, PASSWORD)
    prove_by_answer(victim)
    form = {"username": NAME, "password": PASSWORD, "answer": ANSWER, "new_password": "Atacante.2027",
            "confirm_password": "Atacante.2027", "email": "attacker@evil.example"}
    forgeries = [({}, {}), ({"csrf_token": foreign}, {}), ({}, {"X-CSRFToken": foreign}),
                 ({"csrf_token": "garbage"}, {}), ({"csrf_token": ""}, {"X-CSRFToken": ""})]
    before = snapshot(app, User)
    for route in routes:
        for token_field, token_header in forgeries:
            response = finished(victim.post(route, data={**form, **token_field},
                                            headers={**(HTMX if htmx else {}), **token_header}))
            body = text(response)
            assert response.status_code == 400, (route, token_field, token_header)
            assert 'id="session-expired"' in body and "caducó" in body, route
            if htmx:
                assert body.lstrip().startswith('<div id="session-expired"'), route
            else:
                assert body.lstrip().startswith("<!doctype html>"), route
    assert snapshot(app, User) == before
    assert signed_in(victim) and has_proof(victim)


def test_a_token_from_before_sign_out_is_refused(app, account):
    """Sign-out clears the session, CSRF secret included: a token read before it is dead."""
    client = app.test_client()
    login(client, NAME, PASSWORD)
    old = csrf_token(client, "/inicio")
    post(client, "/salir", token=old)
    response = login(client, NAME, PASSWORD, token=old)
    assert response.status_code == 400 and 'id="session-expired"' in text(response)
    assert not signed_in(client)


# Framing

def assert_not_frameable(response, where):
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""), where


@pytest.mark.parametrize("state", ["anonymous", "signed-in", "recovering"])
def test_no_answer_can_be_framed(app, account, state):
    client = client_in(app, state)
    for url in get_urls(app) + ["/no-existe", "/static/no-existe.css"]:
        for headers in ({}, HTMX):
            assert_not_frameable(client.get(url, headers=headers), url)
    for route in post_routes(app):  # refused (CSRF), wrong method, and the real thing
        assert_not_frameable(client.post(route), route)
        assert_not_frameable(client.put(route), route)
    assert_not_frameable(login(app.test_client(), NAME, "Equivocada.1"), "failed sign-in")
    too_large = client.post("/entrar", data={"username": "x" * 70_000})
    assert too_large.status_code == 413
    assert_not_frameable(too_large, "413")


def test_rate_limited_answers_cannot_be_framed(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_CAPTCHA="1/minute")
    client = client_from(app)
    client.get("/captcha/nuevo")
    limited = client.get("/captcha/nuevo")
    assert limited.status_code == 429
    assert_not_frameable(limited, "429")


# The Host header

FORGED = {"Host": EVIL, "X-Forwarded-Host": EVIL, "X-Forwarded-Server": EVIL, "X-Forwarded-Proto": "http",
          "Forwarded": f"host={EVIL};proto=http", "X-Original-Host": EVIL, "X-Host": EVIL}


@pytest.mark.parametrize("proxies", [0, 1])
def test_e_mailed_links_ignore_forged_host_headers(make_app, proxies):
    app = make_app(TRUSTED_PROXIES=proxies)
    make_user(app)
    link = reminder_link(app, headers={**FORGED, "X-Forwarded-For": "203.0.113.7"})
    assert link.startswith(BASE_URL + "/request/codedAccess?code=")
    attacker = app.test_client()
    token = csrf_token(attacker, "/recuperar", FORGED)
    for _ in range(5):  # five failures with forged headers: the lock notice
        login(attacker, NAME, WRONG, CAPTCHA, token=token, headers=FORGED)
    proof = app.test_client()
    post(proof, "/recuperar", {"username": NAME}, headers=FORGED)
    post(proof, "/recuperar/respuesta", {"answer": ANSWER}, headers=FORGED)
    saved = post(proof, "/cambiar-contrasena", {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
                                                "email": EMAIL}, headers=FORGED)
    assert saved.headers["Location"] == "/inicio"
    messages = written(app)
    assert len(messages) == 3  # reminder, lock notice, password changed
    for message in messages:
        assert EVIL not in body_of(message)
    assert BASE_URL in body_of(messages[1])  # the lock notice points to the real portal


def test_no_redirect_echoes_a_forged_host(app, account):
    client = app.test_client()
    locations = []
    for url in get_urls(app) + ["/jsp/acceso.jsp", "/request/codedAccess?code=x"]:
        response = client.get(url, headers=FORGED)
        locations.append(response.headers.get("Location", ""))
    signed = post(client, "/entrar", {"username": NAME, "password": PASSWORD, "captcha": CAPTCHA}, headers=FORGED)
    locations.append(signed.headers["Location"])
    for url in ("/", "/jsp/acceso.jsp", "/cambiar-contrasena"):
        locations.append(client.get(url, headers=FORGED).headers.get("Location", ""))
    locations.append(post(client, "/salir", headers=FORGED).headers["Location"])
    recovering = app.test_client()
    post(recovering, "/recuperar", {"username": NAME}, headers=FORGED)
    post(recovering, "/recuperar/respuesta", {"answer": ANSWER}, headers=FORGED)
    saved = post(recovering, "/cambiar-contrasena", {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
                                                     "email": EMAIL}, headers=FORGED)
    locations.append(saved.headers["Location"])
    assert locations.count("/inicio") >= 2 and "/" in locations
    assert not any(EVIL in location for location in locations), locations


@pytest.mark.parametrize("path", ["/recuperar//usuario", "/jsp//acceso.jsp", "/cambiar-contrasena//respuesta"])
def test_a_doubled_slash_does_not_redirect_to_a_forged_host(app, path):
    response = app.test_client().get("/", environ_overrides={"PATH_INFO": path}, headers={"Host": EVIL})
    assert EVIL not in response.headers.get("Location", "")


def test_sign_in_events_record_the_peer_not_a_forged_header(app, account):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    token = csrf_token(client)
    login(client, NAME, PASSWORD, CAPTCHA, token=token, headers={"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "1.2.3.4"})
    with app.app_context():
        logins = select(AuthEvent.client_ip).where(AuthEvent.kind == "login")
        assert set(db.session.scalars(logins)) == {"198.51.100.20"}
        assert db.session.scalar(select(User.last_login_ip)) == "198.51.100.20"
