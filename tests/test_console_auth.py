"""The support console's door: staff set-up, sign-in with password, CAPTCHA and lock, the TOTP
second factor (enrolment, wrong code, reused code, recovery code once), its own session."""
import re
from datetime import UTC

import pyotp
import pytest

from helpers import (
    CAPTCHA,
    HTMX,
    PASSWORD,
    STAFF_PASSWORD,
    TOTP_SECRET,
    console_code,
    console_password,
    console_sign_in,
    csrf_token,
    login,
    make_staff,
    post,
    text,
    totp,
)
from portal import staff
from portal.extensions import db
from portal.models import AuthEvent, StaffMember


@pytest.fixture
def agent(app):
    return make_staff(app, "ana", "soporte")


def events(app, kind):
    with app.app_context():
        return [(e.username, e.outcome, e.detail) for e in db.session.query(AuthEvent).filter_by(kind=kind)]


def test_create_prints_a_one_time_setup_link_and_the_password_is_chosen_there(app, runner, client):
    result = runner.invoke(args=["staff", "create", "luis", "--email", "luis@soporte.example", "--role", "soporte"])
    assert result.exit_code == 0, result.output
    link = re.search(r"https?://\S+/soporte/alta\?codigo=([\w-]+)", result.output)
    assert link
    code = link.group(1)
    page = client.get(f"/soporte/alta?codigo={code}")
    assert "Hola, <strong>luis</strong>" in text(page)
    weak = post(client, "/soporte/alta", {"codigo": code, "password": "corta", "confirmation": "corta"},
                page=f"/soporte/alta?codigo={code}")
    assert "La contraseña no cumple" in text(weak)
    done = post(client, "/soporte/alta", {"codigo": code, "password": STAFF_PASSWORD,
                                          "confirmation": STAFF_PASSWORD}, page=f"/soporte/alta?codigo={code}")
    assert done.status_code == 303 and done.headers["Location"].endswith("/soporte/entrar")
    again = client.get(f"/soporte/alta?codigo={code}")
    assert "no es válido" in text(again)  # spent
    assert console_password(client, "luis").headers["Location"].endswith("/soporte")


def test_create_refuses_bad_input_in_spanish(runner, agent):
    assert "no es válido" in runner.invoke(args=["staff", "create", "luis", "--email", "x", "--role",
                                                 "soporte"]).output
    assert "Ya existe" in runner.invoke(args=["staff", "create", "ana", "--email", "a@b.mx", "--role",
                                              "soporte"]).output
    assert runner.invoke(args=["staff", "create", "luis", "--email", "a@b.mx", "--role", "jefe"]).exit_code != 0


def test_first_sign_in_enrols_the_second_factor_with_a_local_qr_and_recovery_codes_once(app, client, clock):
    make_staff(app, "ana", secret=None)
    assert console_password(client).headers["Location"].endswith("/soporte")
    assert client.get("/soporte").headers["Location"].endswith("/soporte/factor")
    page = text(client.get("/soporte/factor"))
    assert "<svg" in page and "Código QR" in page  # drawn here, no image from elsewhere
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    wrong = post(client, "/soporte/factor", {"token": token, "code": "000000"}, page="/soporte/factor")
    assert "El código no es correcto" in text(wrong)
    done = post(client, "/soporte/factor", {"token": token, "code": pyotp.TOTP(secret).at(
        int(clock().replace(tzinfo=UTC).timestamp()))}, page="/soporte/factor")
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", text(done))
    assert len(codes) == 10
    assert client.get("/soporte/clientes").status_code == 200  # signed in
    with app.app_context():
        assert db.session.query(StaffMember).one().totp_secret == secret
    # The codes are never shown again
    assert not any(code in text(client.get("/soporte/clientes")) for code in codes)


def test_wrong_code_then_right_code(app, client, clock, agent):
    console_password(client)
    wrong = console_code(client, "123456" if totp(clock()) != "123456" else "654321")
    assert wrong.status_code == 200 and "El código no es correcto" in text(wrong)
    assert client.get("/soporte/clientes").headers["Location"].endswith("/soporte")  # not signed in yet
    right = console_code(client, totp(clock()))
    assert right.headers["Location"].endswith("/soporte/clientes")
    assert ("soporte:ana", "invalid", {"via": "totp"}) in events(app, "staff_second_factor")


def test_a_code_is_accepted_once(app, clock, agent):
    first = app.test_client()
    console_sign_in(first, clock)
    second = app.test_client()
    console_password(second)
    reused = console_code(second, totp(clock()))
    assert "ya se usó" in text(reused)
    assert second.get("/soporte/clientes").status_code == 303
    clock.advance(seconds=30)
    assert console_code(second, totp(clock())).headers["Location"].endswith("/soporte/clientes")


def test_a_recovery_code_works_once(app, client, clock):
    make_staff(app, "ana", secret=None)
    with app.app_context():
        from portal import second_factor

        member = staff.find("ana")
        member.totp_secret = TOTP_SECRET
        codes = second_factor.new_recovery_codes(member)
        db.session.commit()
    console_password(client)
    assert console_code(client, codes[0], recovery=True).headers["Location"].endswith("/soporte/clientes")
    other = app.test_client()
    console_password(other)
    assert "no es correcto" in text(console_code(other, codes[0], recovery=True))
    assert console_code(other, codes[1], recovery=True).headers["Location"].endswith("/soporte/clientes")


def test_wrong_passwords_bring_the_captcha_then_the_lock(app, client, agent):
    first = console_password(client, password="Equivocada.1")
    assert "no son correctos" in text(first) and 'name="captcha_id"' in text(first)
    # Without the CAPTCHA now, even the right password is refused
    refused = console_password(client)
    assert "Escriba el texto de la imagen" in text(refused)
    challenge = re.search(r'name="captcha_id" value="([^"]+)"', text(refused)).group(1)
    for _ in range(app.config["LOGIN_MAX_ATTEMPTS"] - 1):
        answer = console_password(client, password="Equivocada.1", captcha=CAPTCHA, captcha_id=challenge)
        challenge = re.search(r'name="captcha_id" value="([^"]+)"', text(answer)).group(1)
    assert "quedó bloqueado" in text(answer)
    locked = console_password(client, captcha=CAPTCHA, captcha_id=challenge)
    assert "quedó bloqueado" in text(locked)  # the right password does not open a lock
    assert ("soporte:ana", "locked") in [(u, o) for u, o, _ in events(app, "lock")]


def test_wrong_codes_count_against_the_same_lock(app, client, clock, agent):
    console_password(client)
    wrong = "000000" if totp(clock()) != "000000" else "111111"
    for _ in range(app.config["LOGIN_MAX_ATTEMPTS"] - 1):
        assert "no es correcto" in text(console_code(client, wrong))
    last = console_code(client, wrong)
    assert last.headers["Location"].endswith("/soporte/entrar")  # the half-open session ended
    assert "quedó bloqueado" in text(client.get("/soporte/entrar"))


def test_staff_never_sign_in_on_the_customer_page_nor_customers_on_the_console(app, client, agent, user):
    assert login(client, "ana", STAFF_PASSWORD).status_code != 303
    assert "no son correctos" in text(console_password(client, "GOMA800101AB1", PASSWORD))


def test_a_customer_session_never_reaches_the_console(app, client, user):
    assert login(client, "GOMA800101AB1", PASSWORD).status_code == 303
    assert client.get("/inicio").status_code == 200
    for path in ("/soporte/clientes", "/soporte/admin/personal", "/soporte/admin/auditoria"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["Location"].endswith("/soporte/entrar")


def test_the_session_cookie_is_its_own(app, client, clock, agent):
    console_password(client)
    response = console_code(client, totp(clock()))
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("efactura_soporte="))
    for attribute in ("Path=/soporte", "HttpOnly", "SameSite=Strict"):
        assert attribute in cookie
    assert "efactura_sesion=" not in "".join(response.headers.getlist("Set-Cookie"))


def test_idle_limit_ends_the_session(app, client, clock, agent):
    console_sign_in(client, clock)
    clock.advance(minutes=app.config["STAFF_IDLE_MINUTES"] - 1)
    assert client.get("/soporte/clientes").status_code == 200
    clock.advance(minutes=app.config["STAFF_IDLE_MINUTES"] + 1)
    assert client.get("/soporte/clientes").headers["Location"].endswith("/soporte/entrar")


def test_sign_out_ends_the_session_on_the_server(app, client, clock, agent):
    console_sign_in(client, clock)
    cookie = client.get_cookie("efactura_soporte", path="/soporte").value
    post(client, "/soporte/salir", page="/soporte/clientes")
    replay = app.test_client()
    replay.set_cookie("efactura_soporte", cookie, path="/soporte")
    assert replay.get("/soporte/clientes").status_code == 303


def test_allowed_networks(make_app, clock):
    app = make_app(STAFF_ALLOWED_NETWORKS="10.1.0.0/16, 192.168.5.0/24")
    make_staff(app)
    outside = app.test_client()
    outside.environ_base["REMOTE_ADDR"] = "10.2.0.1"
    assert outside.get("/soporte/entrar").status_code == 404
    assert outside.get("/").status_code == 200  # the customers' side is not restricted
    inside = app.test_client()
    inside.environ_base["REMOTE_ADDR"] = "10.1.3.4"
    assert inside.get("/soporte/entrar").status_code == 200
    console_sign_in(inside, clock)


def test_a_malformed_network_refuses_to_start(make_app):
    with pytest.raises(RuntimeError, match="STAFF_ALLOWED_NETWORKS"):
        make_app(STAFF_ALLOWED_NETWORKS="10.0.0.0/8, oficina")


def test_disabled_staff_cannot_sign_in(app, client, agent):
    with app.app_context():
        staff.find("ana").disabled = True
        db.session.commit()
    assert "deshabilitada" in text(console_password(client))


def test_sign_in_form_three_ways(client, way):
    response = way.get(client, "/soporte/entrar")
    way.assert_answer(response, "console-sign-in", tag="section")


def test_htmx_sign_in_redirects_with_hx_redirect(client, agent):
    token = csrf_token(client, "/soporte/entrar")
    response = client.post("/soporte/entrar", data={"csrf_token": token, "name": "ana", "password": STAFF_PASSWORD},
                           headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Redirect"].endswith("/soporte")


def test_demo_seed_makes_an_agent_and_an_administrator_who_sign_in(make_app, clock):
    from portal.database import DEMO_STAFF, DEMO_STAFF_PASSWORD

    app = make_app(PORTAL_ENV="development")
    result = app.test_cli_runner().invoke(args=["demo-seed"])
    assert result.exit_code == 0, result.output
    for name, role, secret in DEMO_STAFF:
        assert f"{name:<8} {role:<14} clave TOTP {secret}" in result.output
        client = app.test_client()
        console_password(client, name, DEMO_STAFF_PASSWORD)
        assert console_code(client, totp(clock(), secret)).headers["Location"].endswith("/soporte/clientes")
    assert DEMO_STAFF_PASSWORD in result.output and "/soporte" in result.output
