"""Signing in: success, the one error box, CAPTCHA, canonical names, long passwords."""

import bcrypt
import pytest
from flask import json
from itsdangerous import base64_decode

from helpers import CAPTCHA, HTMX, PASSWORD, csrf_token, fail, login, make_user, masked, shown_challenge
from portal import captcha, passwords
from portal.extensions import db
from portal.models import AuthEvent, User

ERROR_TEXT = "La combinación de usuario y contraseña no es correcta."


def test_right_password_signs_in_and_lands_home(client, user):
    response = login(client, "GOMA800101AB1", PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/inicio"
    home = client.get("/inicio").get_data(as_text=True)
    assert "María Gómez" in home and "Salir" in home
    assert "primer ingreso" in home


def test_htmx_success_is_a_200_with_hx_redirect(client, user):
    response = login(client, "GOMA800101AB1", PASSWORD, htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/inicio"
    assert "HX-Request" in response.headers["Vary"]


def test_home_shows_the_previous_sign_in(app, client, user, clock):
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    login(client, "GOMA800101AB1", PASSWORD)
    client.post("/salir", data={"csrf_token": csrf_token(client, "/inicio")})
    clock.advance(hours=2)
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    login(client, "GOMA800101AB1", PASSWORD)
    home = client.get("/inicio").get_data(as_text=True)
    # 18:00 UTC is 12:00 in Mexico City
    assert "24/11/2026 a las 12:00" in home
    assert "198.51.100.7" in home
    with app.app_context():
        stored = db.session.scalar(db.select(User))
        assert stored.last_login_ip == "203.0.113.9"


def test_unknown_user_and_wrong_password_get_the_same_answer(app, client, user):
    wrong = login(app.test_client(), "GOMA800101AB1", "Equivocada.1")
    unknown = login(app.test_client(), "XAXX010101000", "Equivocada.1")
    assert wrong.status_code == unknown.status_code == 200
    assert ERROR_TEXT in wrong.get_data(as_text=True)
    assert "Bloq Mayús" in wrong.get_data(as_text=True)
    same_name = unknown.get_data(as_text=True).replace("XAXX010101000", "GOMA800101AB1")
    assert masked(wrong.get_data(as_text=True)) == masked(same_name)


def test_unknown_user_costs_a_hash_check_like_a_known_one(client, user, checks):
    login(client, "XAXX010101000", "Equivocada.1")
    assert len(checks) == 1


def test_error_box_for_htmx_with_the_captcha_out_of_band(client, user):
    body = login(client, "GOMA800101AB1", "Equivocada.1", htmx=True).get_data(as_text=True)
    assert body.lstrip().startswith('<div id="login-error"')
    assert 'role="alert"' in body
    assert '<div id="captcha-slot" hx-swap-oob="innerHTML">' in body
    assert 'id="captcha"' in body
    assert "<html" not in body


def test_error_box_inside_the_whole_page_without_htmx(client, user):
    body = login(client, "GOMA800101AB1", "Equivocada.1").get_data(as_text=True)
    assert "<!doctype html>" in body
    assert 'id="login-form"' in body and 'id="login-error"' in body and 'id="captcha"' in body
    assert 'value="GOMA800101AB1"' in body  # the user name stays typed


def test_password_is_case_sensitive(client, user):
    assert login(client, "GOMA800101AB1", PASSWORD.upper()).status_code == 200
    assert ERROR_TEXT in login(client, "GOMA800101AB1", PASSWORD.swapcase(), captcha=CAPTCHA).get_data(as_text=True)


def test_user_name_is_made_canonical(client, user):
    assert login(client, "goma-800101-ab1", PASSWORD).status_code == 303


def test_empty_fields_get_a_clear_message(client):
    body = login(client, "", "").get_data(as_text=True)
    assert "Escriba su usuario y su contraseña." in body


def test_no_captcha_before_the_first_failure(client):
    assert 'id="captcha"' not in client.get("/").get_data(as_text=True)


def test_captcha_is_required_after_a_failure(client, user):
    fail(client, "GOMA800101AB1")
    assert 'id="captcha"' in client.get("/").get_data(as_text=True)
    refused = login(client, "GOMA800101AB1", PASSWORD)  # no CAPTCHA answer
    assert refused.status_code == 200
    assert "escriba también el texto de la imagen" in refused.get_data(as_text=True)
    wrong_text = login(client, "GOMA800101AB1", PASSWORD, captcha="NOPE")
    assert "El texto de la imagen no coincide" in wrong_text.get_data(as_text=True)  # typed, and wrong
    assert login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA.lower()).status_code == 303


@pytest.mark.parametrize("typed", ["lower case", "spaced"])
def test_a_real_captcha_answer_is_accepted_in_lower_case_and_with_spaces(make_app, typed):
    """No fixed test answer: the one the portal derives for the challenge it showed, typed as
    people type what they read."""
    app = make_app(CAPTCHA_TEST_ANSWER=None)
    make_user(app)
    client = app.test_client()
    shown = shown_challenge(login(client, "GOMA800101AB1", "Equivocada.1"))
    with app.app_context():
        answer = captcha.solution(shown)
        while answer.isdigit():  # one in a thousand has no letter to type in lower case
            shown = shown_challenge(client.get("/captcha/nuevo", headers=HTMX))
            answer = captcha.solution(shown)
        forged = ("B" if shown[0] == "A" else "A") + shown[1:]  # another nonce under the same signature
        assert captcha.solution(forged) is None
    assert len(answer) == captcha.LENGTH and answer != answer.lower()
    typed_answer = answer.lower() if typed == "lower case" else " " + " ".join(answer[:2]) + "  " + answer[2:] + " "
    assert login(client, "GOMA800101AB1", PASSWORD, captcha=typed_answer, captcha_id=shown).status_code == 303


def test_a_real_captcha_answer_with_one_character_changed_is_refused(make_app):
    app = make_app(CAPTCHA_TEST_ANSWER=None)
    make_user(app)
    client = app.test_client()
    shown = shown_challenge(login(client, "GOMA800101AB1", "Equivocada.1"))
    with app.app_context():
        answer = captcha.solution(shown)
    changed = answer[:-1] + ("2" if answer[-1] != "2" else "3")
    refused = login(client, "GOMA800101AB1", PASSWORD, captcha=changed, captcha_id=shown)
    assert "El texto de la imagen no coincide" in refused.get_data(as_text=True)


def test_captcha_is_required_for_the_name_even_from_a_fresh_browser(app, user):
    fail(app.test_client(), "GOMA800101AB1")
    fresh = app.test_client()
    assert 'data-error="captcha"' in login(fresh, "GOMA800101AB1", PASSWORD).get_data(as_text=True)
    assert login(fresh, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).status_code == 303


def test_captcha_is_single_use(app, client, user):
    token = csrf_token(client)
    fail(client, "GOMA800101AB1")
    with client.session_transaction() as session:
        spent = session["captcha_id"]
    login(client, "GOMA800101AB1", "Equivocada.2", captcha=CAPTCHA, token=token)
    with client.session_transaction() as session:
        session["captcha_id"] = spent  # replay the solved challenge
    replay = login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA, token=token)
    assert 'data-error="captcha"' in replay.get_data(as_text=True)


def test_the_refreshed_challenge_is_the_one_answered_and_only_once(client, user):
    token = csrf_token(client)
    fail(client, "GOMA800101AB1")
    shown = shown_challenge(client.get("/captcha/nuevo", headers=HTMX))

    def submit(password, challenge):
        return login(client, "GOMA800101AB1", password, CAPTCHA, htmx=True, token=token, captcha_id=challenge)

    assert 'data-error="captcha"' not in submit("Equivocada.2", shown).get_data(as_text=True)  # solved, wrong password
    assert 'data-error="captcha"' in submit(PASSWORD, shown).get_data(as_text=True)  # spent: not twice
    assert 'data-error="captcha"' in submit(PASSWORD, shown[:-1] + ("A" if shown[-1] != "A" else "B")).get_data(
        as_text=True)  # not a forged one


def test_captcha_expires(client, user, clock):
    token = csrf_token(client)
    fail(client, "GOMA800101AB1")
    clock.advance(minutes=6)
    expired = login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA, token=token)
    assert 'data-error="captcha"' in expired.get_data(as_text=True)


def test_captcha_answer_is_not_in_the_cookie(client, user):
    fail(client, "GOMA800101AB1")
    cookie = client.get_cookie("efactura_sesion").value
    payload = cookie.lstrip(".").split(".")[0]
    decoded = base64_decode(payload)
    if cookie.startswith("."):
        import zlib
        decoded = zlib.decompress(decoded)
    session = json.loads(decoded)
    assert "captcha_id" in session
    assert CAPTCHA not in decoded.decode() and CAPTCHA.lower() not in decoded.decode().lower()


def test_captcha_image_and_fresh_image(client, user):
    fail(client, "GOMA800101AB1")
    with client.session_transaction() as session:
        first = session["captcha_id"]
    image = client.get(f"/captcha/{first}.png")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data[:4] == b"\x89PNG"
    fresh = client.get("/captcha/nuevo", headers=HTMX)
    body = fresh.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="captcha"')
    assert "No entiendo el texto" in body
    shown = shown_challenge(fresh)
    assert shown != first and f'src="/captcha/{shown}.png"' in body
    assert f"/captcha/{first}.png" not in body
    page = client.get("/captcha/nuevo")
    assert "<!doctype html>" in page.get_data(as_text=True) and 'id="login-form"' in page.get_data(as_text=True)


def test_captcha_audio_is_made_once_per_challenge(client, user, monkeypatch, espeak):
    from portal import captcha_audio

    fail(client, "GOMA800101AB1")
    with client.session_transaction() as session:
        challenge = session["captcha_id"]
    made = []
    real = captcha_audio.speak
    monkeypatch.setattr(captcha_audio, "speak", lambda text: made.append(text) or real(text))
    first = client.get(f"/captcha/{challenge}.wav")
    second = client.get(f"/captcha/{challenge}.wav")
    assert first.status_code == 200 and first.data[:4] == b"RIFF" and first.data == second.data
    assert len(made) == 1


def test_unknown_captcha_is_not_found(client):
    assert client.get("/captcha/nada.png").status_code == 404


@pytest.mark.parametrize("password", [
    "Ab1." + "x" * 96,                      # 100 characters
    "Contraseña.1 " + "ñandú🦜" * 20,        # well past 200 bytes of UTF-8
])
def test_long_unicode_passwords_work(app, client, password):
    assert len(password) >= 100
    make_user(app, "LOPJ750315XY2", password, email="juan@example.com", display_name="", question=None)
    assert login(client, "LOPJ750315XY2", password).status_code == 303
    # Past bcrypt's 72 bytes, a password sharing the first 72 bytes is still wrong.
    other = app.test_client()
    assert login(other, "LOPJ750315XY2", password[:-1] + "!").status_code == 200


def test_password_of_200_bytes_is_accepted(app, client):
    password = "Ñ" * 100
    assert len(password.encode()) == 200
    make_user(app, "LOPJ750315XY2", password, email="juan@example.com", display_name="", question=None)
    assert login(client, "LOPJ750315XY2", password).status_code == 303


def test_hash_is_redone_when_the_cost_changes(app, client, user):
    app.config["BCRYPT_ROUNDS"] = 5
    assert login(client, "GOMA800101AB1", PASSWORD).status_code == 303
    with app.app_context():
        stored = db.session.scalar(db.select(User)).password_hash
        assert stored.startswith(passwords.SCHEME + "$2b$05$")


@pytest.mark.parametrize(("stored_cost", "configured_cost", "redone"), [(4, 4, False), (4, 5, True), (5, 4, True)])
def test_only_a_hash_not_at_the_configured_cost_is_redone(app, client, user, stored_cost, configured_cost, redone):
    """An up-to-date hash stays the very same string (a new salt on every sign-in would be a
    write and a full-cost hash for nothing)."""
    with app.app_context():
        db.session.scalar(db.select(User)).password_hash = before = passwords.hash_password(PASSWORD, stored_cost)
        db.session.commit()
    app.config["BCRYPT_ROUNDS"] = configured_cost
    assert login(client, "GOMA800101AB1", PASSWORD).status_code == 303
    with app.app_context():
        after = db.session.scalar(db.select(User)).password_hash
    assert (after != before) is redone
    assert after.startswith(f"{passwords.SCHEME}$2b$0{configured_cost}$")
    assert login(app.test_client(), "GOMA800101AB1", PASSWORD).status_code == 303


@pytest.mark.parametrize("stored", [
    passwords.SCHEME + "basura", passwords.SCHEME + "$2b$04$corto", "$2b$04$corto", "basura", "",
])
def test_a_malformed_stored_hash_is_a_wrong_password_not_a_500(app, client, user, stored, checks, caplog):
    """A damaged row matches no password: the usual error, the row left for support to see, a
    warning in the log, and as much bcrypt work as a check at the configured cost."""
    app.config["BCRYPT_ROUNDS"] = 6
    with app.app_context():
        db.session.scalar(db.select(User)).password_hash = stored
        db.session.commit()
        assert isinstance(passwords.needs_rehash(stored), bool)  # it answers, it does not raise
    refused = login(client, "GOMA800101AB1", PASSWORD)
    assert refused.status_code == 200
    assert "La combinación de usuario y contraseña no es correcta." in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(User)).password_hash == stored
    assert sum(2 ** cost for cost in checks) >= 2 ** 6 - 2 ** 4  # the checks at costs 4 and 5 at least
    if stored.removeprefix(passwords.SCHEME).startswith("$2b$"):  # bcrypt was asked and could not read it
        assert "a stored hash is not a valid bcrypt hash: no password matches it" in caplog.messages


def test_legacy_plain_bcrypt_hash_signs_in_and_is_upgraded(app, client, user):
    with app.app_context():
        stored = db.session.scalar(db.select(User))
        stored.password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        db.session.commit()
    assert login(client, "GOMA800101AB1", PASSWORD).status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(User)).password_hash.startswith(passwords.SCHEME)


def test_a_legacy_hash_of_a_72_byte_password_signs_in_and_73_bytes_are_checked_and_wrong(app, user, caplog):
    """bcrypt reads 72 bytes: a legacy hash was made from at most that many; one byte more is a
    wrong password, checked all the same (on the pre-hash, which fits)."""
    password = "Clave.2026-" + "x" * 61
    assert len(password.encode()) == 72
    with app.app_context():
        db.session.scalar(db.select(User)).password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
        db.session.commit()
    client = app.test_client()
    refused = login(client, "GOMA800101AB1", password + "x")
    assert "La combinación de usuario y contraseña no es correcta." in refused.get_data(as_text=True)
    assert "not a valid bcrypt hash" not in caplog.text
    assert login(client, "GOMA800101AB1", password, captcha=CAPTCHA).status_code == 303


def test_events_are_recorded_without_secrets(app, client, user):
    fail(client, "GOMA800101AB1")
    login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA)
    with app.app_context():
        events = db.session.scalars(db.select(AuthEvent).where(AuthEvent.kind == "login")).all()
        assert [e.outcome for e in events] == ["invalid", "ok"]
        assert all(e.client_ip == "127.0.0.1" and e.username == "GOMA800101AB1" for e in events)
        dumped = repr([(e.detail, e.username, e.outcome) for e in events])
        assert "Equivocada" not in dumped and PASSWORD not in dumped
