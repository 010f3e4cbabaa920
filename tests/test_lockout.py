"""The failure lock, the inactivity lock, and the lock notice e-mail."""
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_bytes, policy

from helpers import (
    CAPTCHA,
    HTMX,
    PASSWORD,
    csrf_token,
    deliver,
    fail,
    login,
    make_user,
    masked,
    shown_challenge,
    text,
)
from portal import lockout, passwords
from portal.extensions import db
from portal.models import AuthEvent, LoginThrottle, OutboxMessage, User

LOCK_TEXT = "superó el número máximo de intentos"


def test_lock_at_exactly_the_maximum(client, user):
    for _ in range(4):
        assert LOCK_TEXT not in fail(client, "GOMA800101AB1").get_data(as_text=True)
    fifth = fail(client, "GOMA800101AB1")
    body = fifth.get_data(as_text=True)
    assert fifth.status_code == 200
    assert 'id="lockout"' in body and LOCK_TEXT in body
    assert "15 minutos" in body
    assert "12:15" in body  # next attempt, local time (18:15 UTC)


def test_lock_for_htmx_replaces_the_form_and_counts_down(client, user):
    fail(client, "GOMA800101AB1", times=4)
    response = fail(client, "GOMA800101AB1", htmx=True)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="lockout"')
    assert response.headers["HX-Retarget"] == "#login-form"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert 'role="alert"' in body
    assert 'hx-trigger="load delay:901s"' in body
    assert 'data-seconds="901"' in body


def test_right_password_is_refused_while_locked_without_checking_it(client, user, checks):
    fail(client, "GOMA800101AB1", times=5)
    evaluated = len(checks)
    body = login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).get_data(as_text=True)
    assert LOCK_TEXT in body
    assert len(checks) == evaluated


def test_attempts_while_locked_do_not_extend_the_lock(app, client, user, clock):
    fail(client, "GOMA800101AB1", times=5)
    clock.advance(minutes=10)
    fail(client, "GOMA800101AB1", times=3)
    clock.advance(minutes=5, seconds=1)
    assert login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).status_code == 303


def test_lock_lifts_after_the_lockout_minutes(client, user, clock):
    fail(client, "GOMA800101AB1", times=5)
    clock.advance(minutes=14, seconds=59)
    assert LOCK_TEXT in login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).get_data(as_text=True)
    clock.advance(seconds=2)
    assert login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).status_code == 303


def test_the_lock_ends_at_the_very_second_it_said(client, user, clock):
    fail(client, "GOMA800101AB1", times=5)
    clock.advance(minutes=15)
    assert login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).status_code == 303


def test_count_starts_again_after_a_lock_ends(client, user, clock):
    fail(client, "GOMA800101AB1", times=5)
    clock.advance(minutes=16)
    for _ in range(4):
        assert LOCK_TEXT not in fail(client, "GOMA800101AB1").get_data(as_text=True)
    assert LOCK_TEXT in fail(client, "GOMA800101AB1").get_data(as_text=True)


def test_failures_of_one_name_leave_another_names_counter_untouched(app, user):
    """Each claim counts against its own name only: otherwise one attacker's wrong passwords
    would lock every name that has a counter."""
    make_user(app, "LOPJ750315XY2", email="juan@example.com", display_name="", question=None)
    fail(app.test_client(), "LOPJ750315XY2")
    fail(app.test_client(), "GOMA800101AB1", times=5)
    with app.app_context():
        other = db.session.get(LoginThrottle, "LOPJ750315XY2")
        assert (other.failures, other.locked_until) == (1, None)
    other_browser = app.test_client()
    assert LOCK_TEXT not in text(login(other_browser, "LOPJ750315XY2", "Equivocada.1", captcha=CAPTCHA))
    assert login(other_browser, "LOPJ750315XY2", PASSWORD, captcha=CAPTCHA).status_code == 303
    assert LOCK_TEXT in text(login(app.test_client(), "GOMA800101AB1", PASSWORD, captcha=CAPTCHA))


def test_a_claim_after_the_lock_ran_out_starts_a_new_count(app, user, clock):
    """claim_attempt ends a lock whose time is over by itself, at the very minute it ends, even
    when nothing read the lock first (two requests racing past the end of a lock)."""
    with app.app_context():
        claims = [lockout.claim_attempt("GOMA800101AB1") for _ in range(6)]
        db.session.commit()
        assert [(c.granted, c.locks) for c in claims] == [(True, False)] * 4 + [(True, True), (False, False)]
        end = claims[4].locked_until
        assert end == clock() + timedelta(minutes=app.config["LOCKOUT_MINUTES"])
        clock.advance(minutes=app.config["LOCKOUT_MINUTES"])  # exactly at its end
        again = [lockout.claim_attempt("GOMA800101AB1") for _ in range(6)]
        db.session.commit()
        assert [(c.granted, c.locks) for c in again] == [(True, False)] * 4 + [(True, True), (False, False)]
        assert again[4].locked_until == end + timedelta(minutes=app.config["LOCKOUT_MINUTES"])
        assert again[5].locked_until == again[4].locked_until


def test_the_captcha_is_due_for_exactly_captcha_failure_hours_after_a_failure(app, user, clock):
    """Each check from a fresh browser, which has been shown no CAPTCHA: only the name's last
    failure decides."""
    fail(app.test_client(), "GOMA800101AB1")
    hours = app.config["CAPTCHA_FAILURE_HOURS"]
    clock.advance(hours=hours, seconds=-1)  # the failure is still inside the window
    inside = login(app.test_client(), "GOMA800101AB1", PASSWORD)
    assert 'data-error="captcha"' in text(inside)
    clock.advance(seconds=1)  # exactly CAPTCHA_FAILURE_HOURS ago: the window is over
    assert login(app.test_client(), "GOMA800101AB1", PASSWORD).status_code == 303


def test_success_clears_the_failures(app, client, user):
    fail(client, "GOMA800101AB1", times=4)
    assert login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).status_code == 303
    with app.app_context():
        assert db.session.get(LoginThrottle, "GOMA800101AB1") is None


def test_lock_poll_gives_the_form_back_when_the_lock_ends(client, user, clock):
    fail(client, "GOMA800101AB1", times=5)
    still = client.get("/bloqueo", headers=HTMX).get_data(as_text=True)
    assert still.lstrip().startswith('<section id="lockout"')
    clock.advance(minutes=15, seconds=1)
    back = client.get("/bloqueo", headers=HTMX).get_data(as_text=True)
    assert back.lstrip().startswith('<form id="login-form"')
    assert 'id="captcha"' in back  # recent failures: the CAPTCHA comes with it
    assert "hx-trigger" not in back.split('id="captcha"')[0]  # the polling has ended
    assert 'value="GOMA800101AB1"' in back


def test_lock_page_without_htmx(client, user, clock):
    fail(client, "GOMA800101AB1", times=5)
    page = client.get("/").get_data(as_text=True)
    assert "<!doctype html>" in page and 'id="lockout"' in page and "Volver al formulario" in page
    clock.advance(minutes=16)
    assert 'id="login-form"' in client.get("/").get_data(as_text=True)


def test_unknown_user_name_is_locked_the_same_way(app, user):
    known, unknown = app.test_client(), app.test_client()
    for attempt in range(5):
        a = fail(known, "GOMA800101AB1").get_data(as_text=True)
        b = fail(unknown, "XAXX010101000").get_data(as_text=True).replace("XAXX010101000", "GOMA800101AB1")
        assert masked(a) == masked(b), f"attempt {attempt + 1} differs"
    assert LOCK_TEXT in b
    a = login(known, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).get_data(as_text=True)
    b = login(unknown, "XAXX010101000", PASSWORD, captcha=CAPTCHA).get_data(as_text=True)
    assert masked(a) == masked(b.replace("XAXX010101000", "GOMA800101AB1"))


def test_concurrent_wrong_attempts_never_exceed_the_maximum(app, user, checks):
    with app.app_context():  # a slower hash, so that the attempts overlap in time
        db.session.scalar(db.select(User)).password_hash = passwords.hash_password(PASSWORD, rounds=10)
        db.session.commit()
    clients = [app.test_client() for _ in range(20)]
    tokens = [csrf_token(c) for c in clients]
    # each attacker holds a solved CAPTCHA: only the lock can stop them
    challenges = [shown_challenge(c.get("/captcha/nuevo", headers=HTMX)) for c in clients]

    def attempt(i):
        return login(clients[i], "GOMA800101AB1", "Equivocada.1", token=tokens[i], captcha=CAPTCHA,
                     captcha_id=challenges[i]).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, range(20)))
    assert statuses == [200] * 20
    assert len(checks) == app.config["LOGIN_MAX_ATTEMPTS"]
    with app.app_context():
        row = db.session.get(LoginThrottle, "GOMA800101AB1")
        assert row.failures == 5 and row.locked_until is not None
        evaluated = db.session.scalar(db.select(db.func.count()).select_from(AuthEvent).where(
            AuthEvent.kind == "login", AuthEvent.outcome == "invalid"))
        assert evaluated == 5


def supplier(app, clock, days):
    """PRV.SIN010203AB4, an account made long ago, whose last sign-in was `days` ago."""
    make_user(app, "PRV.SIN010203AB4", email="s@example.com", display_name="", question=None,
              last_login=clock() - timedelta(days=days))
    with app.app_context():
        db.session.get(User, 1).created_at = clock() - timedelta(days=400)
        db.session.commit()


def test_inactivity_lock_only_with_the_right_password(app, client, clock):
    supplier(app, clock, days=184)
    wrong = login(client, "PRV.SIN010203AB4", "Equivocada.1").get_data(as_text=True)
    assert "La combinación de usuario y contraseña no es correcta." in wrong and "bloqueada" not in wrong
    right = login(client, "PRV.SIN010203AB4", PASSWORD, captcha=CAPTCHA)
    body = right.get_data(as_text=True)
    assert right.status_code == 200
    assert 'id="account-blocked"' in body and 'data-lock="inactive"' in body
    assert "soporte técnico" in body and 'id="captcha"' in body
    assert client.get("/inicio").status_code == 302  # not signed in


def test_inactivity_lock_for_htmx_comes_with_the_captcha(app, client, clock):
    supplier(app, clock, days=200)
    body = login(client, "PRV.SIN010203AB4", PASSWORD, htmx=True).get_data(as_text=True)
    assert body.lstrip().startswith('<div id="account-blocked"')
    assert 'hx-swap-oob="innerHTML"' in body and 'id="captcha"' in body


def test_recent_sign_in_is_not_inactive(app, client, clock):
    make_user(app, "PRV.SIN010203AB4", email="s@example.com", display_name="", question=None,
              last_login=clock() - timedelta(days=182))
    assert login(client, "PRV.SIN010203AB4", PASSWORD).status_code == 303


def test_disabled_account_is_refused_with_the_right_password(app, client, user):
    with app.app_context():
        db.session.scalar(db.select(User)).disabled = True
        db.session.commit()
    body = login(client, "GOMA800101AB1", PASSWORD).get_data(as_text=True)
    assert 'data-lock="disabled"' in body and "deshabilitada" in body


def test_lock_notice_reaches_a_real_smtp_server(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    make_user(app, question=None)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    fail(client, "GOMA800101AB1", times=5)
    deliver()
    [envelope] = smtp.wait_for(1)
    assert envelope.rcpt_tos == ["maria@example.com"]
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert "bloqueado" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "203.0.113.5" in text and "24/11/2026 12:00" in text and "Olvidé mi contraseña" in text
    assert "https://acceso.efactura.example/" in text
    assert "203.0.113.5" in html
    with app.app_context():
        assert db.session.scalar(db.select(OutboxMessage)).sent_at is not None


def test_no_notice_for_a_user_name_that_does_not_exist(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    fail(app.test_client(), "XAXX010101000", times=5)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 0
    assert smtp.messages == []


def test_without_mail_server_the_notice_is_written_to_the_outbox_folder(app, client, user):
    fail(client, "GOMA800101AB1", times=5)
    from pathlib import Path

    deliver(app)
    written = list((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(written) == 1
    text = written[0].read_text(encoding="utf-8")
    assert "maria@example.com" in text and "multipart/alternative" in text


def test_smtp_down_keeps_the_notice_for_later(make_app):
    from helpers import free_port

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    make_user(app, display_name="", question=None)
    body = fail(app.test_client(), "GOMA800101AB1", times=5).get_data(as_text=True)
    assert LOCK_TEXT in body
    deliver(app)
    with app.app_context():
        queued = db.session.scalar(db.select(OutboxMessage))
        assert queued.sent_at is None and queued.attempts == 1 and queued.last_error
