"""Attack: weak credentials and credential storage (ASVS 4.0.3 V2.1, V2.4, V2.5, V3.4).

What an attacker hopes for: truncated or silently altered passwords, common passwords that
pass the rules, unsalted or cheap hashes, default accounts, a password or a hash that leaks
through recovery, a session cookie that travels in clear or to other hosts.
"""
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from config import Config, TestConfig
from helpers import (
    CAPTCHA,
    NAME,
    NEW_PASSWORD,
    PASSWORD,
    check,
    deliver,
    login,
    make_user,
    masked,
    prove_by_answer,
    request_reminder,
    rules_in,
    save,
    text,
)
from portal import create_app, passwords
from portal.extensions import db
from portal.models import AuthEvent, OutboxMessage, User

ROOT = Path(__file__).resolve().parent.parent


def change(app, password):
    """A fresh browser proves the secret answer and saves `password`."""
    client = app.test_client()
    prove_by_answer(client)
    return save(client, new=password)


def checklist(app, password):
    """The policy checklist's rules for `password` (typed twice), in a plain request."""
    client = app.test_client()
    prove_by_answer(client)
    return rules_in(check(client, password, password, htmx=False))


# V2.1 Password security

@pytest.mark.parametrize("length", [72, 100, 300])
def test_a_password_is_never_truncated(app, length):
    """bcrypt alone reads 72 bytes; the portal's HMAC pre-hash makes every byte count."""
    password = ("Frase.Larga.9-" * 40)[:length]
    make_user(app, password=password)
    client = app.test_client()  # one browser, solving the CAPTCHA from the second attempt on
    for variant in (password[:72], password[:72] + "X" * (length - 72), password[:-1], password + " "):
        if variant != password:
            refused = login(client, NAME, variant, captcha=CAPTCHA)
            assert 'data-error="invalid"' in text(refused), len(variant)  # checked, and wrong
    assert login(client, NAME, password, captcha=CAPTCHA).status_code == 303


def test_multibyte_passwords_past_72_bytes_are_not_truncated(app):
    password = "Contraseña.1 " + "ñ" * 40  # 94 bytes
    make_user(app, password=password)
    other = password[:-1] + "n"
    client = app.test_client()
    assert 'data-error="invalid"' in text(login(client, NAME, other))
    assert login(client, NAME, password, captcha=CAPTCHA).status_code == 303


@pytest.mark.parametrize("length", [64, 128, 512])
def test_long_passwords_are_accepted(app, length):
    make_user(app)
    password = ("Mi-Frase-Larga-7 " * 40)[:length].strip() + "Z"
    password = password[:length]
    assert change(app, password).headers["Location"] == "/inicio"
    assert login(app.test_client(), NAME, password).status_code == 303


def test_a_password_past_512_characters_gets_a_clear_refusal(app):
    make_user(app)
    response = change(app, "Aa1." + "x" * 509)
    assert response.status_code == 200 and "Como máximo 512 caracteres" in text(response)
    assert login(app.test_client(), NAME, PASSWORD).status_code == 303


def test_the_minimum_length_is_eight(app):
    """A departure from ASVS 2.1.1 (12): the service's policy; see SECURITY.md for the mitigations."""
    make_user(app)
    assert checklist(app, "Ab1.xyz")["length"] == "unmet"
    assert checklist(app, "Ab1.xyzw")["length"] == "met"


@pytest.mark.parametrize("password", ["Mi perro 🐶 come 3 tamales!", "Ñandú.Veloz 2026", "密码 Contraseña 9!",
                                      "A1.\u00a0\u3000espacios  dobles", "Emoji😀Solo.1"])
def test_any_printable_unicode_is_accepted_as_typed(app, password):
    make_user(app)
    assert change(app, password).headers["Location"] == "/inicio"
    assert login(app.test_client(), NAME, password).status_code == 303
    assert login(app.test_client(), NAME, password.upper()).status_code == 200  # case-sensitive, never altered


@pytest.mark.parametrize("common", ["P@ssw0rd", "Password1!", "Chivas#1"])
def test_a_common_password_is_refused_even_when_it_meets_the_rules(app, common):
    make_user(app)
    rules = checklist(app, common)
    assert rules["not_common"] == "unmet"
    assert all(state == "met" for rule, state in rules.items() if rule != "not_common"), rules
    assert change(app, common).status_code == 200
    assert login(app.test_client(), NAME, common).status_code == 200


def test_the_user_name_cannot_be_the_password(app):
    make_user(app)
    assert checklist(app, "Goma800101ab1.")["not_username"] == "unmet"


def test_a_password_never_expires(app, clock):
    """No rotation (ASVS 2.1.10): months later the same password signs in, no change asked."""
    make_user(app)
    assert login(app.test_client(), NAME, PASSWORD).status_code == 303
    for _ in range(3):
        clock.advance(days=170)
        response = login(app.test_client(), NAME, PASSWORD)
        assert response.headers["Location"] == "/inicio"


def test_password_fields_allow_paste_and_password_managers(app):
    make_user(app)
    page = text(app.test_client().get("/"))
    field = re.search(r'<input id="password"[^>]*>', page).group(0)
    assert 'autocomplete="current-password"' in field and 'type="password"' in field
    assert 'autocomplete="username"' in page
    client = app.test_client()
    prove_by_answer(client)
    step = text(client.get("/cambiar-contrasena"))
    assert step.count('autocomplete="new-password"') == 2
    script = (ROOT / "portal/static/portal.js").read_text()
    for blocker in ("paste", "copy", "cut", "drop", "contextmenu"):
        assert not re.search(rf'addEventListener\(\s*"{blocker}"', script) and f"on{blocker}" not in page + step
    assert "readonly" not in field and "disabled" not in field


def test_the_password_can_be_shown_while_typing(app):
    page = text(app.test_client().get("/"))
    assert re.search(r'<button type="button" class="eye" data-reveals="password"[^>]*aria-pressed="false"', page)
    script = (ROOT / "portal/static/portal.js").read_text()
    assert 'input.type = reveal ? "text" : "password"' in script


# V2.4 Credential storage

def test_every_password_hash_has_its_own_salt(app):
    make_user(app)
    make_user(app, "LOPJ750315XY2", email="juan@example.com")
    with app.app_context():
        hashes = db.session.scalars(select(User.password_hash)).all()
    assert len(set(hashes)) == 2
    salts = {h.removeprefix(passwords.SCHEME)[7:29] for h in hashes}  # bcrypt: 22 characters, 128 bits
    assert len(salts) == 2 and all(len(salt) == 22 for salt in salts)
    assert all(h.startswith(passwords.SCHEME + "$2b$") for h in hashes)


def test_the_hash_is_keyed_by_the_pepper(make_app):
    """The pre-hash is an HMAC keyed with PASSWORD_PEPPER, kept outside the database: a copy of
    the table alone cannot be attacked offline."""
    app = make_app(PASSWORD_PEPPER="pimienta-del-servidor")
    make_user(app)
    assert login(app.test_client(), NAME, PASSWORD).status_code == 303
    app.config["PASSWORD_PEPPER"] = "otra-pimienta"
    assert login(app.test_client(), NAME, PASSWORD).status_code == 200


def production_app(tmp_path, **overrides):
    settings = {"SECRET_KEY": "k" * 48, "PASSWORD_PEPPER": "p" * 48,
                "OIDC_KEY_ENCRYPTION_KEY": TestConfig.OIDC_KEY_ENCRYPTION_KEY,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.db'}",
                "RATELIMIT_ENABLED": False}
    settings.update(overrides)
    return create_app(Config, instance_path=str(tmp_path / "prod"), **settings)


def test_the_bcrypt_cost_is_at_least_ten_in_production(tmp_path):
    assert Config.BCRYPT_ROUNDS >= 10
    app = production_app(tmp_path)
    with app.app_context():
        stored = passwords.hash_password("Factura.2026")
    assert int(stored.removeprefix(passwords.SCHEME)[4:6]) >= 10


# V2.5 Recovery

def test_recovery_never_reveals_a_password_or_its_hash(app):
    make_user(app)
    client = app.test_client()
    prove_by_answer(client)
    new = NEW_PASSWORD
    save(client, new=new)
    request_reminder(app.test_client(), page="/recuperar")
    with app.app_context():
        stored_hash = db.session.scalar(select(User.password_hash))
        details = [repr(event.detail) for event in db.session.scalars(select(AuthEvent))]
        bodies = [m.text_body + m.html_body for m in db.session.scalars(select(OutboxMessage))]  # before sending
    deliver(app)
    written = [path.read_text() for path in (Path(app.instance_path) / "outbox").glob("*.eml")]
    assert len(written) == 2  # the change notice and the reminder
    for secret in (PASSWORD, new, stored_hash, "Verde"):
        for place in details + bodies + written:
            assert secret not in place


def test_the_change_step_tells_nothing_of_the_current_password(app):
    """Found by the outside review: with a recovery proof (a right answer, an opened link), a
    guess of the current password plus an invalid e-mail was answered "debe ser distinta de la
    actual" only when the guess was right, and changed nothing, sent nothing: an oracle for
    the password. No answer of the step depends on the current password now."""
    make_user(app)
    client = app.test_client()
    prove_by_answer(client)
    right = save(client, new=PASSWORD, email="no-es-correo", htmx=True)
    wrong = save(client, new="Otra.Clave.2027", email="no-es-correo", htmx=True)
    assert masked(text(right)) == masked(text(wrong))
    assert "distinta de la actual" not in text(right)


def test_there_is_no_default_account(make_app, tmp_path):
    app = make_app()
    with app.app_context():
        assert db.session.scalar(select(User)) is None
    for name, password in (("admin", "admin"), ("root", "root"), ("GOMA800101AB1", "Factura.2026"),
                           ("soporte", "soporte")):
        assert login(app.test_client(), name, password).status_code == 200
    production = production_app(tmp_path)
    result = production.test_cli_runner().invoke(args=["demo-seed"])
    assert result.exit_code != 0 and "solo existen en desarrollo" in result.output


# V3.4 Cookies

def test_the_session_cookie_is_secure_http_only_same_site_and_host_only_in_production(tmp_path):
    """ASVS 3.4.1-3.4.3 and 3.4.5; 3.4.4 (the __Host- prefix) is a documented departure whose
    effect (sent only to this host, over HTTPS, for the whole path) the attributes give."""
    app = production_app(tmp_path)
    make_user(app)
    response = login(app.test_client(), NAME, PASSWORD)
    assert response.status_code == 303
    cookies = sorted(response.headers.getlist("Set-Cookie"))
    # the session, and the device cookie a browser gets at its first sign-in (new-device notices)
    names = [cookie.split("=", 1)[0] for cookie in cookies]
    assert names == sorted([Config.SESSION_COOKIE_NAME, "efactura_dispositivo"])
    for cookie in cookies:
        attributes = [part.strip() for part in cookie.split(";")[1:]]
        assert "Secure" in attributes and "HttpOnly" in attributes and "SameSite=Lax" in attributes
        assert "Path=/" in attributes
        assert not any(part.lower().startswith("domain") for part in attributes)
