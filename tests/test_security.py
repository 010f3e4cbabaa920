"""CSRF, cookies, sessions (rotation, expiry, revocation), rate limits, client address, startup."""
import time

import pytest

from config import Config, TestConfig
from helpers import CAPTCHA, HTMX, PASSWORD, csrf_token, fail, login
from portal import create_app
from portal.extensions import db, limiter
from portal.models import AuthEvent, User


def test_post_without_csrf_token_is_refused_with_a_friendly_fragment(client, user):
    plain = client.post("/entrar", data={"username": "GOMA800101AB1", "password": PASSWORD})
    assert plain.status_code == 400
    body = plain.get_data(as_text=True)
    assert "<!doctype html>" in body and 'id="session-expired"' in body and "caducó" in body
    htmx = client.post("/entrar", data={"username": "GOMA800101AB1", "password": PASSWORD}, headers=HTMX)
    assert htmx.get_data(as_text=True).lstrip().startswith('<div id="session-expired"')
    assert client.get("/inicio").status_code == 302  # not signed in


def test_csrf_token_from_another_session_is_refused(app, user):
    stolen = csrf_token(app.test_client())
    victim = app.test_client()
    victim.get("/")
    assert login(victim, "GOMA800101AB1", PASSWORD, token=stolen).status_code == 400


def test_htmx_sends_the_token_in_a_header(client, user):
    token = csrf_token(client)
    response = client.post("/entrar", data={"username": "GOMA800101AB1", "password": PASSWORD},
                           headers={**HTMX, "X-CSRFToken": token})
    assert response.headers["HX-Redirect"] == "/inicio"


def test_sign_out_requires_post_and_csrf(client, user):
    login(client, "GOMA800101AB1", PASSWORD)
    confirm = client.get("/salir")  # the page that asks (the applications' sign-out link): it signs nobody out
    assert confirm.status_code == 200 and 'id="sign-out-confirm"' in confirm.get_data(as_text=True)
    assert client.post("/salir").status_code == 400
    assert client.get("/inicio").status_code == 200


def test_session_cookie_flags(make_app, user):
    client = make_app().test_client()
    login(client, "GOMA800101AB1", PASSWORD)
    header = client.get("/inicio").headers.get("Set-Cookie", "")
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_cookies_are_secure_outside_development():
    assert Config.SESSION_COOKIE_SECURE is True


def test_session_is_rotated_on_sign_in(client, user):
    client.get("/")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        before = dict(session)
    login(client, "GOMA800101AB1", PASSWORD)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["uid"] and session["sid"]
        assert session.get("csrf_token") != before.get("csrf_token")


def test_sign_out_voids_a_replayed_cookie(app, user):
    client = app.test_client()
    login(client, "GOMA800101AB1", PASSWORD)
    copied = client.get_cookie("efactura_sesion").value
    client.post("/salir", data={"csrf_token": csrf_token(client, "/inicio")})
    assert client.get("/inicio").status_code == 302
    thief = app.test_client()
    thief.set_cookie("efactura_sesion", copied)
    assert thief.get("/inicio").status_code == 302


def test_raising_the_epoch_signs_out_every_session(app, user):
    first, second = app.test_client(), app.test_client()
    login(first, "GOMA800101AB1", PASSWORD)
    login(second, "GOMA800101AB1", PASSWORD)
    with app.app_context():
        from portal import sessions

        sessions.revoke_all(db.session.scalar(db.select(User)))
        db.session.commit()
    assert first.get("/inicio").status_code == 302
    assert second.get("/inicio").status_code == 302


def test_idle_session_expires(client, user, clock):
    login(client, "GOMA800101AB1", PASSWORD)
    clock.advance(minutes=14)
    assert client.get("/inicio").status_code == 200
    clock.advance(minutes=14)
    assert client.get("/inicio").status_code == 200  # activity keeps it alive
    clock.advance(minutes=16)
    response = client.get("/inicio")
    assert response.status_code == 302
    assert "Su sesión terminó" in client.get("/").get_data(as_text=True)


def test_session_has_an_absolute_limit(client, user, clock):
    login(client, "GOMA800101AB1", PASSWORD)
    for _ in range(8 * 6):
        clock.advance(minutes=10)
        client.get("/inicio")
    clock.advance(minutes=1)
    assert client.get("/inicio").status_code == 302


def test_disabling_an_account_ends_its_sessions(app, client, user):
    login(client, "GOMA800101AB1", PASSWORD)
    with app.app_context():
        db.session.scalar(db.select(User)).disabled = True
        db.session.commit()
    assert client.get("/inicio").status_code == 302


def test_home_needs_a_session(client):
    response = client.get("/inicio")
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.fixture
def limited_app(make_app):
    return make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3/minute", RATELIMIT_CAPTCHA="2/minute")


def test_rate_limit_answers_429_with_a_friendly_fragment(limited_app):
    client = limited_app.test_client()
    token = csrf_token(client)
    for _ in range(3):
        assert login(client, "XAXX010101000", "x", token=token, captcha=CAPTCHA).status_code == 200
    plain = login(client, "XAXX010101000", "x", token=token)
    assert plain.status_code == 429
    assert 'id="rate-limited"' in plain.get_data(as_text=True)
    assert "<!doctype html>" in plain.get_data(as_text=True)
    htmx = login(client, "XAXX010101000", "x", token=token, htmx=True)
    assert htmx.status_code == 429
    assert htmx.get_data(as_text=True).lstrip().startswith('<div id="rate-limited"')
    assert "Traceback" not in htmx.get_data(as_text=True)


def test_rate_limit_on_captcha_refresh(limited_app):
    client = limited_app.test_client()
    assert client.get("/captcha/nuevo").status_code == 200
    assert client.get("/captcha/nuevo").status_code == 200
    assert client.get("/captcha/nuevo", headers=HTMX).status_code == 429


def test_a_new_secret_key_voids_the_sessions_signed_with_the_old_one(app, client, user):
    assert login(client, "GOMA800101AB1", PASSWORD).status_code == 303
    assert client.get("/inicio").status_code == 200
    app.secret_key = app.config["SECRET_KEY"] = "another-test-secret-key"  # noqa: S105
    assert client.get("/inicio").status_code == 302  # the cookie no longer verifies


def test_memory_limits_expire(make_app):
    """memory:// counters (the embedded default): a spent allowance comes back when its window
    ends, and the counters of clients that went away are dropped."""
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", RATELIMIT_CAPTCHA="2/second")
    client = app.test_client()

    def refresh(address="192.0.2.1"):
        return client.get("/captcha/nuevo", headers=HTMX, environ_base={"REMOTE_ADDR": address}).status_code

    statuses = [refresh() for _ in range(3)] + [refresh(f"198.51.100.{i}") for i in range(20)]
    assert len(limiter.storage.storage) >= 21
    time.sleep(1.2)
    statuses.append(refresh())
    assert statuses == [200, 200, 429] + [200] * 20 + [200]
    deadline = time.monotonic() + 2  # the storage sweeps expired counters shortly after a hit
    while len(limiter.storage.storage) > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(limiter.storage.storage) == 1  # only the client that just came back


def test_forwarded_for_is_ignored_without_trusted_proxies(limited_app):
    client = limited_app.test_client()
    token = csrf_token(client)
    for i in range(4):
        response = login_from(client, token, f"198.51.100.{i}")
    assert response.status_code == 429  # a forged header does not buy new attempts


def test_forwarded_for_is_used_behind_a_trusted_proxy(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3/minute", TRUSTED_PROXIES=1)
    client = app.test_client()
    token = csrf_token(client)
    for i in range(4):
        assert login_from(client, token, f"198.51.100.{i}").status_code == 200
    with app.app_context():
        ips = db.session.scalars(db.select(AuthEvent.client_ip)).all()
    assert ips == [f"198.51.100.{i}" for i in range(4)]


def login_from(client, token, address):
    return login(client, "XAXX010101000", "x", CAPTCHA, token=token, headers={"X-Forwarded-For": address})


def test_unreachable_rate_limit_storage_falls_back_to_memory(make_app):
    from helpers import free_port

    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3/minute",
                   RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}")
    client = app.test_client()
    token = csrf_token(client)
    statuses = [login(client, "XAXX010101000", "x", token=token, captcha=CAPTCHA).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_refuses_to_start_with_the_default_secret_key_outside_development():
    class Production(Config):
        SECRET_KEY = "dev-only-change-me"
        PORTAL_ENV = "production"

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Production)


STRONG_KEY = "k" * 32  # noqa: S105


@pytest.mark.parametrize("secret_key, pepper, refused", [
    pytest.param("a", STRONG_KEY, "SECRET_KEY", id="a one-byte SECRET_KEY"),
    pytest.param("", STRONG_KEY, "SECRET_KEY", id="an empty SECRET_KEY"),
    pytest.param("k" * 31, STRONG_KEY, "SECRET_KEY", id="31 bytes"),
    pytest.param(STRONG_KEY, "", "PASSWORD_PEPPER", id="no PASSWORD_PEPPER"),
    pytest.param(STRONG_KEY, "corta", "PASSWORD_PEPPER", id="a short PASSWORD_PEPPER"),
])
def test_refuses_to_start_with_a_weak_key_outside_development(tmp_path, secret_key, pepper, refused):
    """Found by the outside review: only the exact development default was refused;
    SECRET_KEY=a started, an empty one started and answered 500, and without PASSWORD_PEPPER the
    pre-hash fell back to a constant in the source."""
    class Production(Config):
        SECRET_KEY = secret_key
        PASSWORD_PEPPER = pepper
        PORTAL_ENV = "production"

    with pytest.raises(RuntimeError, match=refused):
        create_app(Production, instance_path=str(tmp_path / "instance"),
                   SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'portal.db'}")


def test_starts_with_strong_keys_outside_development(tmp_path):
    class Production(Config):
        SECRET_KEY = STRONG_KEY
        PASSWORD_PEPPER = STRONG_KEY
        OIDC_KEY_ENCRYPTION_KEY = TestConfig.OIDC_KEY_ENCRYPTION_KEY
        PORTAL_ENV = "production"

    app = create_app(Production, instance_path=str(tmp_path / "instance"),
                     SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'portal.db'}")
    assert app.test_client().get("/").status_code == 200
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_captcha_test_answer_only_under_testing():
    class NotTesting(TestConfig):
        TESTING = False

    with pytest.raises(RuntimeError, match="CAPTCHA_TEST_ANSWER"):
        create_app(NotTesting)


def test_real_captcha_answers_are_random(make_app):
    from portal import captcha

    app = make_app(CAPTCHA_TEST_ANSWER=None)
    with app.app_context():
        answers = {captcha.solution(captcha.new_challenge()) for _ in range(5)}
        made = captcha.new_challenge()
        forged = ("B" if made[0] == "A" else "A") + made[1:]  # another nonce, the same signature
        assert captcha.solution(made) and captcha.solution(forged) is None
    assert len(answers) == 5 and all(len(a) == 5 and set(a) <= set(captcha.ALPHABET) for a in answers)


def test_wrong_answer_after_failure_is_not_a_stack_trace(client, user):
    fail(client, "GOMA800101AB1")
    response = login(client, "GOMA800101AB1", PASSWORD, captcha="x" * 5000)
    assert response.status_code == 200
    assert "Traceback" not in response.get_data(as_text=True)
