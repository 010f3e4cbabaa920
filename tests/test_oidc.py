"""The portal as an OpenID Connect provider (SPEC section 6), as a relying party and an
attacker see it through the endpoints: the code flow with PKCE, the ID token and its keys,
and the negative cases a certification suite tries."""
import base64
import json
import re
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from authlib.oidc.rpinitiated import OpenIDProviderMetadata as LogoutMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

from helpers import (
    BASE_URL,
    CAPTCHA,
    EMAIL,
    NAME,
    NEW_PASSWORD,
    NONCE,
    PASSWORD,
    QUESTION,
    RP_LOGOUT,
    RP_REDIRECT,
    STATE,
    authorization_path,
    console_act,
    console_sign_in,
    exchange,
    login,
    make_staff,
    make_user,
    pkce_pair,
    prove_by_answer,
    query_of,
    register_client,
    rows,
    save,
    text,
)
from portal import accounts
from portal.models import AuthEvent, OidcCode, OidcToken, SigningKey


@pytest.fixture
def rp(app, user):
    """A confidential application (the invoicing service's), registered by support."""
    return register_client(app)


@pytest.fixture
def browser(app, user):
    """A browser signed in as NAME."""
    client = app.test_client()
    assert login(client, NAME, PASSWORD).status_code == 303
    return client


def authorize(browser, client_id, **extra):
    verifier, challenge = pkce_pair()
    response = browser.get(authorization_path(client_id, challenge, **extra))
    return response, verifier


def code_for(browser, client_id, **extra):
    response, verifier = authorize(browser, client_id, **extra)
    assert response.status_code == 302, text(response)
    query = query_of(response)
    assert response.headers["Location"].startswith(RP_REDIRECT + "?")
    return query["code"], verifier


def tokens_for(app, browser, rp, **extra):
    client_id, secret = rp
    code, verifier = code_for(browser, client_id, **extra)
    response = exchange(app.test_client(), client_id, secret, code, verifier)
    assert response.status_code == 200, text(response)
    return response.get_json()


def key_set(client):
    return KeySet.import_key_set(client.get("/oidc/jwks").get_json())


def id_token_claims(client, id_token):
    return jwt.decode(id_token, key_set(client), algorithms=["RS256"])


def userinfo(client, access_token):
    return client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def error_of(response):
    return response.get_json()["error"]


# Discovery and keys

def test_discovery_document_validates_and_lives_under_the_public_base_url(client):
    response = client.get("/.well-known/openid-configuration", headers={"Host": "evil.example"})
    assert response.status_code == 200
    document = response.get_json()
    metadata = OpenIDProviderMetadata(document)
    metadata.validate(metadata_classes=[LogoutMetadata])
    assert document["issuer"] == BASE_URL
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"):
        assert document[name].startswith(BASE_URL + "/"), name
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"preferred_username", "rfc", "user_kind", "email", "name", "sub"} <= set(document["claims_supported"])
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"):
        path = urlsplit(document[name]).path
        assert client.open(path, method="OPTIONS").status_code != 404, path


def test_jwks_publishes_public_keys_only(client):
    keys = client.get("/oidc/jwks").get_json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig" and keys[0]["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0])
    assert client.get("/oidc/jwks").get_json()["keys"] == keys  # made once, kept


def test_signing_keys_are_stored_encrypted(app, client):
    client.get("/oidc/jwks")
    (row,) = rows(app, SigningKey)
    assert b"PRIVATE KEY" not in row.private_key
    from cryptography.fernet import Fernet, InvalidToken

    with pytest.raises(InvalidToken):
        Fernet(Fernet.generate_key()).decrypt(row.private_key)


def test_keys_rotate_publishes_the_current_and_the_previous(app, browser, rp):
    runner = app.test_cli_runner()
    first = tokens_for(app, browser, rp)
    first_kid = jwt.decode(first["id_token"], key_set(browser)).header["kid"]
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    second_kid = result.output.split()[-1]
    published = [key["kid"] for key in browser.get("/oidc/jwks").get_json()["keys"]]
    assert published == [second_kid, first_kid]
    id_token_claims(browser, first["id_token"])  # signed before the rotation, still verifies
    second = tokens_for(app, browser, rp, nonce="otro-nonce-2")
    assert jwt.decode(second["id_token"], key_set(browser)).header["kid"] == second_kid
    runner.invoke(args=["keys", "rotate"])
    assert first_kid not in [key["kid"] for key in browser.get("/oidc/jwks").get_json()["keys"]]


# The code flow

def test_code_flow_gives_an_id_token_with_the_portal_claims(app, browser, rp):
    client_id, _ = rp
    code, verifier = code_for(browser, client_id)
    location = browser.get(authorization_path(client_id, pkce_pair()[1], nonce="n2")).headers["Location"]
    assert parse_qs(urlsplit(location).query)["state"] == [STATE]
    response = exchange(app.test_client(), client_id, rp[1], code, verifier)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"].lower() == "bearer" and body["expires_in"] <= 300
    assert "refresh_token" not in body  # not registered for refresh tokens
    token = jwt.decode(body["id_token"], key_set(browser), algorithms=["RS256"])
    assert token.header["alg"] == "RS256" and token.header["kid"]
    claims = token.claims
    assert claims["iss"] == BASE_URL and claims["aud"] == client_id and claims["nonce"] == NONCE
    assert claims["preferred_username"] == NAME and claims["rfc"] == NAME and claims["user_kind"] == "customer"
    assert claims["email"] == EMAIL and claims["name"] == "María Gómez"
    assert claims["amr"] == ["pwd"] and isinstance(claims["auth_time"], int)
    assert NAME not in claims["sub"] and len(claims["sub"]) >= 16
    assert claims["exp"] - claims["iat"] <= 300
    info = userinfo(app.test_client(), body["access_token"])
    assert info.status_code == 200
    assert info.get_json()["sub"] == claims["sub"] and info.get_json()["preferred_username"] == NAME


def test_sub_is_stable_and_the_kind_follows_the_prefix(app, rp):
    make_user(app, "CT.PEMA900101QR5", PASSWORD, email="ana@example.com", question=QUESTION)
    subjects = []
    for _ in range(2):
        browser = app.test_client()
        login(browser, "CT.PEMA900101QR5", PASSWORD)
        claims = id_token_claims(browser, tokens_for(app, browser, rp, nonce=f"n-{len(subjects)}")["id_token"]).claims
        subjects.append(claims["sub"])
        assert claims["preferred_username"] == "CT.PEMA900101QR5"
        assert claims["rfc"] == "PEMA900101QR5" and claims["user_kind"] == "employee"
    assert subjects[0] == subjects[1]


def test_a_visitor_not_signed_in_meets_the_access_page_with_the_request_as_return_target(app, rp):
    client_id, _ = rp
    response, _ = authorize(app.test_client(), client_id)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/"
    target = parse_qs(location.query)["rd"][0]
    assert target.startswith("/oidc/autorizar?") and f"client_id={client_id}" in target
    assert not rows(app, OidcCode)


def test_after_signing_in_the_visitor_comes_back_to_the_authorization_request(app, user, rp):
    """Through every sign-in rule: a wrong password, then the CAPTCHA with the right one."""
    client_id, secret = rp
    browser = app.test_client()
    verifier, challenge = pkce_pair()
    access = browser.get(authorization_path(client_id, challenge)).headers["Location"]
    assert browser.get(access).status_code == 200  # the access page, with the request kept
    assert login(browser, NAME, "Equivocada.1").status_code == 200
    signed_in = login(browser, NAME, PASSWORD, captcha=CAPTCHA)
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"].startswith("/oidc/autorizar?")
    back = browser.get(signed_in.headers["Location"])
    assert back.headers["Location"].startswith(RP_REDIRECT + "?") and query_of(back)["state"] == STATE
    assert exchange(app.test_client(), client_id, secret, query_of(back)["code"], verifier).status_code == 200


def test_prompt_none_without_a_session_answers_login_required(app, rp):
    response, _ = authorize(app.test_client(), rp[0], prompt="none")
    assert response.headers["Location"].startswith(RP_REDIRECT + "?")
    assert query_of(response)["error"] == "login_required" and query_of(response)["state"] == STATE


def test_prompt_login_asks_for_the_password_again(app, browser, rp):
    response, _ = authorize(browser, rp[0], prompt="login")
    location = urlsplit(response.headers["Location"])
    assert location.path == "/"
    target = parse_qs(location.query)["rd"][0]
    assert "prompt" not in target and target.startswith("/oidc/autorizar?")
    assert browser.get("/inicio").status_code == 302  # the session ended
    assert not rows(app, OidcCode)


def test_max_age_older_than_the_sign_in_asks_for_the_password_again(app, clock, browser, rp):
    code, _ = code_for(browser, rp[0], max_age="600")
    clock.advance(minutes=11)
    browser.get("/inicio")  # still signed in (idle limit not reached)
    clock.advance(minutes=1)
    response, _ = authorize(browser, rp[0], max_age="600", nonce="n-3")
    assert urlsplit(response.headers["Location"]).path == "/"
    assert "max_age" not in parse_qs(urlsplit(response.headers["Location"]).query)["rd"][0]


def test_first_sign_in_set_up_comes_before_the_code(app, setup_user, rp):
    from helpers import SETUP_NAME, TEMPORARY

    browser = app.test_client()
    login(browser, SETUP_NAME, TEMPORARY)
    response, _ = authorize(browser, rp[0])
    waiting = browser.get(response.headers["Location"])  # the request kept as the return target
    assert urlsplit(browser.get(waiting.headers["Location"]).headers["Location"]).path == "/cambiar-contrasena"
    assert not rows(app, OidcCode)


def test_public_client_uses_pkce_without_a_secret(app, browser):
    client_id, secret = register_client(app, "App móvil", redirect_uris=("http://127.0.0.1:8765/cb",), public=True)
    assert secret is None
    response, verifier = authorize(browser, client_id, redirect_uri="http://127.0.0.1:8765/cb")
    code = query_of(response)["code"]
    answer = exchange(app.test_client(), client_id, None, code, verifier, redirect_uri="http://127.0.0.1:8765/cb")
    assert answer.status_code == 200, text(answer)
    assert "id_token" in answer.get_json()


# Negative cases a certification suite tries

def test_missing_code_verifier_is_refused(app, browser, rp):
    code, _ = code_for(browser, rp[0])
    response = exchange(app.test_client(), *rp, code, None)
    assert response.status_code == 400 and error_of(response) == "invalid_request"


def test_wrong_code_verifier_is_refused(app, browser, rp):
    code, _ = code_for(browser, rp[0])
    response = exchange(app.test_client(), *rp, code, pkce_pair()[0])
    assert response.status_code == 400 and error_of(response) == "invalid_grant"
    assert "id_token" not in response.get_json()


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
@pytest.mark.parametrize("params", [
    {"code_challenge_method": "plain"},
    {"code_challenge_method": None},
    {"code_challenge": None, "code_challenge_method": None},
], ids=["plain", "no method (plain by default)", "no PKCE"])
def test_authorization_without_s256_is_refused(app, browser, public, params):
    client_id, _ = register_client(app, public=public)
    response, _ = authorize(browser, client_id, **params)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(RP_REDIRECT + "?")
    assert query_of(response)["error"] == "invalid_request" and "code" not in query_of(response)
    assert query_of(response)["state"] == STATE
    assert not rows(app, OidcCode)


def test_a_reused_code_is_refused_and_its_tokens_revoked(app, browser, rp):
    code, verifier = code_for(browser, rp[0])
    first = exchange(app.test_client(), *rp, code, verifier)
    assert first.status_code == 200
    access = first.get_json()["access_token"]
    assert userinfo(app.test_client(), access).status_code == 200
    again = exchange(app.test_client(), *rp, code, verifier)
    assert again.status_code == 400 and error_of(again) == "invalid_grant"
    assert userinfo(app.test_client(), access).status_code == 401
    assert all(row.revoked_at is not None for row in rows(app, OidcToken))


def test_a_code_is_exchanged_once_under_concurrency(app, browser, rp):
    code, verifier = code_for(browser, rp[0])
    start, answers = threading.Barrier(4), []

    def attempt():
        client = app.test_client()
        start.wait()
        answers.append(exchange(client, *rp, code, verifier).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 400, 400, 400]


def test_a_code_of_another_client_is_refused(app, browser, rp):
    other = register_client(app, "Otra aplicación")
    code, verifier = code_for(browser, rp[0])
    response = exchange(app.test_client(), *other, code, verifier)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"
    assert exchange(app.test_client(), *rp, code, verifier).status_code == 200  # still its own client's


@pytest.mark.parametrize("redirect_uri", [
    RP_REDIRECT + "/extra", RP_REDIRECT + "?next=/x", RP_REDIRECT.upper(), RP_REDIRECT.replace("https", "http"),
    "https://evil.example/oidc/callback", RP_REDIRECT + "#frag",
], ids=["extra path", "extra query", "other case", "http", "other host", "fragment"])
def test_a_redirect_uri_not_registered_exactly_gets_a_page_not_a_redirect(app, browser, rp, redirect_uri):
    response, _ = authorize(browser, rp[0], redirect_uri=redirect_uri)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert 'id="oidc-error"' in text(response) and "no está registrada" in text(response)
    assert not rows(app, OidcCode)


def test_the_token_request_must_repeat_the_redirect_uri(app, browser, rp):
    code, verifier = code_for(browser, rp[0])
    response = exchange(app.test_client(), *rp, code, verifier, redirect_uri=RP_REDIRECT + "/otra")
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token"])
def test_other_response_types_are_refused(app, browser, rp, response_type):
    response, _ = authorize(browser, rp[0], response_type=response_type)
    assert response.headers["Location"].startswith(RP_REDIRECT + "?")
    assert query_of(response)["error"] in ("unsupported_response_type", "unauthorized_client")
    assert "access_token" not in response.headers["Location"] and "#" not in response.headers["Location"]
    unregistered, _ = authorize(browser, rp[0], response_type=response_type, redirect_uri="https://evil.example/cb")
    assert unregistered.status_code == 400 and "Location" not in unregistered.headers


def test_an_unknown_client_gets_a_page(app, browser):
    response, _ = authorize(browser, "desconocido")
    assert response.status_code == 400 and "Location" not in response.headers
    assert "no está registrada" in text(response)


def test_nonce_is_required(app, browser, rp):
    response, _ = authorize(browser, rp[0], nonce=None)
    assert query_of(response)["error"] == "invalid_request"


def test_scope_without_openid_is_refused(app, browser, rp):
    response, _ = authorize(browser, rp[0], scope="profile email")
    assert query_of(response)["error"] == "invalid_scope"


def test_an_expired_code_is_refused(app, clock, browser, rp):
    code, verifier = code_for(browser, rp[0])
    clock.advance(seconds=61)
    response = exchange(app.test_client(), *rp, code, verifier)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


def test_a_code_is_stored_hashed(app, browser, rp):
    code, _ = code_for(browser, rp[0])
    (row,) = rows(app, OidcCode)
    assert code not in row.code_hash


def test_a_wrong_client_secret_is_refused(app, browser, rp):
    code, verifier = code_for(browser, rp[0])
    response = exchange(app.test_client(), rp[0], "no-es-el-secreto", code, verifier)
    assert response.status_code == 401 and error_of(response) == "invalid_client"
    assert exchange(app.test_client(), *rp, code, verifier).status_code == 200  # the code was not spent


def test_a_confidential_client_cannot_skip_its_secret(app, browser, rp):
    code, verifier = code_for(browser, rp[0])
    response = exchange(app.test_client(), rp[0], None, code, verifier)
    assert response.status_code in (400, 401) and error_of(response) == "invalid_client"


def test_a_disabled_client_gets_nothing(app, browser, rp):
    code, verifier = code_for(browser, rp[0])
    result = app.test_cli_runner().invoke(args=["clients", "disable", rp[0]])
    assert result.exit_code == 0, result.output
    assert exchange(app.test_client(), *rp, code, verifier).status_code == 401
    response, _ = authorize(browser, rp[0])
    assert response.status_code == 400 and "Location" not in response.headers


def _forged(header, claims, key=b""):
    import hashlib
    import hmac

    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    if header["alg"] == "none":
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def test_id_tokens_are_never_unsigned_or_hmac_and_forged_ones_are_refused(app, browser, rp):
    body = tokens_for(app, browser, rp)
    header = json.loads(base64.urlsafe_b64decode(body["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    claims = id_token_claims(browser, body["id_token"]).claims
    public_jwk = browser.get("/oidc/jwks").get_json()["keys"][0]
    from joserfc.jwk import RSAKey

    public_pem = RSAKey.import_key(public_jwk).as_pem(private=False)
    for forged in (_forged({"alg": "none", "typ": "JWT"}, claims),
                   _forged({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}, claims, public_pem),
                   _forged({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}, claims,
                           json.dumps(public_jwk).encode())):
        response = browser.get("/oidc/salir", query_string={"id_token_hint": forged,
                                                            "post_logout_redirect_uri": RP_LOGOUT})
        assert response.status_code == 400 and "Location" not in response.headers
        assert browser.get("/inicio").status_code == 200  # still signed in


# Tokens after the account changes

def test_tokens_are_revoked_when_the_password_changes(app, browser, rp):
    client_id, secret = register_client(app, "Con refresh", refresh=True)
    body = tokens_for(app, browser, (client_id, secret))
    assert userinfo(app.test_client(), body["access_token"]).status_code == 200
    recovering = app.test_client()
    prove_by_answer(recovering)
    assert save(recovering).status_code == 303
    assert userinfo(app.test_client(), body["access_token"]).status_code == 401
    refreshed = app.test_client().post("/oidc/token", data={"grant_type": "refresh_token",
                                                            "refresh_token": body["refresh_token"]},
                                       headers=_basic(client_id, secret))
    assert refreshed.status_code == 400 and error_of(refreshed) == "invalid_grant"


def test_a_code_issued_before_the_password_changed_gets_no_token(app, browser, rp):
    code, verifier = code_for(browser, rp[0])
    recovering = app.test_client()
    prove_by_answer(recovering)
    save(recovering)
    response = exchange(app.test_client(), *rp, code, verifier)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


def test_tokens_are_revoked_when_support_disables_the_account(app, browser, rp):
    body = tokens_for(app, browser, rp)
    code, verifier = code_for(browser, rp[0], nonce="n-9")
    result = app.test_cli_runner().invoke(args=["users", "disable", NAME])
    assert result.exit_code == 0
    assert userinfo(app.test_client(), body["access_token"]).status_code == 401
    assert exchange(app.test_client(), *rp, code, verifier).status_code == 400
    assert all(row.revoked_at is not None for row in rows(app, OidcToken))


def test_tokens_are_revoked_when_the_console_disables_the_account(app, clock, browser, rp):
    body = tokens_for(app, browser, rp)
    make_staff(app, "ana", "soporte")
    desk = app.test_client()
    console_sign_in(desk, clock)
    with app.app_context():
        customer = accounts.find(NAME).id
    console_act(desk, f"/soporte/clientes/{customer}/deshabilitar")
    assert userinfo(app.test_client(), body["access_token"]).status_code == 401
    assert all(row.revoked_at is not None for row in rows(app, OidcToken))


def test_an_access_token_expires(app, clock, browser, rp):
    body = tokens_for(app, browser, rp)
    clock.advance(seconds=301)
    assert userinfo(app.test_client(), body["access_token"]).status_code == 401


def test_userinfo_without_a_token_is_refused(client):
    response = client.get("/oidc/userinfo")
    assert response.status_code == 401
    assert client.get("/oidc/userinfo", headers={"Authorization": "Bearer nada"}).status_code == 401


# Refresh tokens

def _basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _refresh(app, client_id, secret, refresh_token):
    return app.test_client().post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                                  headers=_basic(client_id, secret))


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_line(app, browser):
    client_id, secret = register_client(app, "Con refresh", refresh=True)
    body = tokens_for(app, browser, (client_id, secret))
    first = _refresh(app, client_id, secret, body["refresh_token"])
    assert first.status_code == 200, text(first)
    rotated = first.get_json()
    assert rotated["refresh_token"] != body["refresh_token"]
    assert userinfo(app.test_client(), rotated["access_token"]).status_code == 200
    reused = _refresh(app, client_id, secret, body["refresh_token"])
    assert reused.status_code == 400 and error_of(reused) == "invalid_grant"
    assert userinfo(app.test_client(), rotated["access_token"]).status_code == 401
    assert _refresh(app, client_id, secret, rotated["refresh_token"]).status_code == 400


def test_refresh_tokens_only_for_clients_registered_for_them(app, browser, rp):
    body = tokens_for(app, browser, rp)
    assert "refresh_token" not in body
    response = _refresh(app, *rp, "cualquiera")
    assert response.status_code == 400 and error_of(response) == "unauthorized_client"


# Logout

def test_logout_with_the_id_token_signs_out_and_returns_to_the_registered_address(app, browser, rp):
    body = tokens_for(app, browser, rp)
    response = browser.get("/oidc/salir", query_string={"id_token_hint": body["id_token"],
                                                        "post_logout_redirect_uri": RP_LOGOUT, "state": "s1"})
    assert response.status_code == 302 and response.headers["Location"] == RP_LOGOUT + "?state=s1"
    assert browser.get("/inicio").status_code == 302


def test_logout_to_an_unregistered_address_does_not_redirect_there(app, browser, rp):
    body = tokens_for(app, browser, rp)
    response = browser.get("/oidc/salir", query_string={"id_token_hint": body["id_token"],
                                                        "post_logout_redirect_uri": "https://evil.example/"})
    assert "evil.example" not in response.headers.get("Location", "")
    assert urlsplit(response.headers["Location"]).path == "/"


def test_logout_without_a_hint_asks_first(app, browser, rp):
    page = browser.get("/oidc/salir")
    assert page.status_code == 200 and 'id="oidc-logout"' in text(page)
    assert browser.get("/inicio").status_code == 200
    from helpers import csrf_token

    assert browser.post("/oidc/salir").status_code == 400  # no CSRF token
    token = csrf_token(browser, "/oidc/salir")
    assert browser.post("/oidc/salir", data={"csrf_token": token}).status_code == 303
    assert browser.get("/inicio").status_code == 302


# Support CLI and events

def test_clients_cli_prints_the_id_and_the_secret_once(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["clients", "create", "Facturación", "--redirect-uri", RP_REDIRECT,
                                 "--post-logout-uri", RP_LOGOUT])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert set(lines) == {"client_id", "client_secret"}
    listed = runner.invoke(args=["clients", "list"])
    assert lines["client_id"] in listed.output and lines["client_secret"] not in listed.output
    public = runner.invoke(args=["clients", "create", "Móvil", "--redirect-uri", "http://127.0.0.1/cb", "--public"])
    assert public.exit_code == 0 and "client_secret" not in public.output


@pytest.mark.parametrize("uri, message", [
    ("http://facturacion.example/cb", "http solo se admite"),
    ("https://*.example/cb", "comodines"),
    ("facturacion/cb", "https://"),
    ("https://facturacion.example/cb#x", "fragmento"),
])
def test_clients_cli_refuses_unsafe_redirect_uris(app, uri, message):
    result = app.test_cli_runner().invoke(args=["clients", "create", "Mala", "--redirect-uri", uri])
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_every_token_issued_and_refused_is_an_auth_event(app, browser, rp):
    code, verifier = code_for(browser, rp[0])
    exchange(app.test_client(), *rp, code, verifier)
    exchange(app.test_client(), *rp, code, verifier)
    exchange(app.test_client(), rp[0], "mal", "x" * 43, verifier)
    events = [(e.kind, e.outcome, e.username) for e in rows(app, AuthEvent) if e.kind == "oidc_token"]
    assert events == [("oidc_token", "ok", NAME), ("oidc_token", "refused", NAME), ("oidc_token", "refused", "-")]
    stored = json.dumps([e.detail for e in rows(app, AuthEvent)])
    assert code not in stored and verifier not in stored and rp[1] not in stored


def test_the_token_endpoint_needs_no_csrf_token_and_the_rest_keep_it(app, browser):
    assert app.test_client().post("/oidc/token", data={"grant_type": "authorization_code"}).status_code in (400, 401)
    assert browser.post("/salir").status_code == 400  # the portal's own forms still check it


def test_the_provider_refuses_to_start_in_production_without_its_key(tmp_path):
    from config import Config
    from portal import create_app

    class Production(Config):
        SECRET_KEY = PASSWORD_PEPPER = "k" * 40
        PORTAL_ENV = "production"
        OIDC_KEY_ENCRYPTION_KEY = None
        OIDC_KEY_ENCRYPTION_KEY_FILE = None

    with pytest.raises(RuntimeError, match="OIDC_KEY_ENCRYPTION_KEY"):
        create_app(Production, instance_path=str(tmp_path / "i"), SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/p.db")
    key_file = tmp_path / "oidc.key"
    from cryptography.fernet import Fernet

    key_file.write_bytes(Fernet.generate_key())
    app = create_app(Production, instance_path=str(tmp_path / "i"), SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/p.db",
                     OIDC_KEY_ENCRYPTION_KEY_FILE=str(key_file))
    assert len(rows(app, SigningKey)) == 1  # made at the first start, before any request
    assert app.test_client().get("/oidc/jwks").status_code == 200
    from portal.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()



def test_housekeeping_forgets_old_codes_and_dead_tokens(app, clock, browser, rp):
    from portal import outbox

    code, verifier = code_for(browser, rp[0])
    tokens_for(app, browser, rp, nonce="n-10")
    clock.advance(days=2)
    with app.app_context():
        outbox.housekeeping()
    assert not rows(app, OidcCode) and not rows(app, OidcToken)
    assert exchange(app.test_client(), *rp, code, verifier).status_code == 400


def test_a_password_changed_on_the_account_page_revokes_the_tokens(app, browser, rp):
    from helpers import csrf_token

    body = tokens_for(app, browser, rp)
    token = csrf_token(browser, "/inicio")
    changed = browser.post("/cuenta/contrasena", data={"csrf_token": token, "current_password": PASSWORD,
                                                        "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert changed.status_code == 303, text(changed)
    assert userinfo(app.test_client(), body["access_token"]).status_code == 401


def test_behind_a_proxy_that_ends_tls_the_provider_works_at_its_public_address(app, user, rp):
    """The request reaches the portal over plain http with the proxy's Host (TRUSTED_PROXIES 0):
    the provider reads it at PUBLIC_BASE_URL, neither refusing it nor answering 500."""
    behind = {"base_url": "http://10.0.0.5:8000"}
    browser = app.test_client()
    page = text(browser.get("/", **behind))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed_in = browser.post("/entrar", data={"csrf_token": token, "username": NAME, "password": PASSWORD}, **behind)
    assert signed_in.status_code == 303
    verifier, challenge = pkce_pair()
    response = browser.get(authorization_path(rp[0], challenge), **behind)
    assert response.status_code == 302 and response.headers["Location"].startswith(RP_REDIRECT + "?")
    client_id, secret = rp
    token = app.test_client().post("/oidc/token", data={
        "grant_type": "authorization_code", "code": query_of(response)["code"], "redirect_uri": RP_REDIRECT,
        "code_verifier": verifier, "client_id": client_id, "client_secret": secret}, **behind)
    assert token.status_code == 200, text(token)
    assert app.test_client().get("/oidc/userinfo", headers={"Authorization": "Bearer " + token.get_json()[
        "access_token"]}, **behind).status_code == 200
    assert app.test_client().get("/oidc/salir", **behind).status_code == 303


def test_the_first_exchange_with_the_signing_key_already_made_answers_at_once(app, browser, rp):
    """On SQLite the first `sub` of a process made its key in a transaction of its own while the
    request's token row held the write lock: the exchange waited 30 s and answered 503."""
    assert browser.get("/oidc/jwks").status_code == 200  # the signing key exists before any exchange
    started = time.monotonic()
    tokens_for(app, browser, rp)
    assert time.monotonic() - started < 10
