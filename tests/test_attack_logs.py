"""Attack: what the logs and the audit trail keep. They must tell support what happened
(every authentication event, even one cut short) and must not keep what an attacker who
reads them could use: a password typed into the user-name field, a coded link's code.
(The access log of gunicorn, with the shipped configuration, is checked against a live
server in test_attack_timing.py.)"""
import io
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from helpers import CAPTCHA, NAME, PASSWORD, WRONG, fail, login, make_user
from portal import outbox, passwords
from portal.audit import JsonLines, log
from portal.extensions import db
from portal.models import AuthEvent, LoginThrottle

LOOKS_LIKE_A_PASSWORD = "Primavera.2026!"


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    log.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    log.removeHandler(handler)


def stored_names(app):
    with app.app_context():
        return (set(db.session.scalars(select(AuthEvent.username)).all())
                | set(db.session.scalars(select(LoginThrottle.username)).all()))


def test_a_password_typed_as_the_user_name_is_not_stored_nor_logged(app, json_log):
    """Found by the outside review: the typed user name was stored as it was, even when it was
    obviously a password typed into the wrong field. A name of no known kind that matches no
    account is kept masked (its length and a keyed fingerprint) in the events, the counters
    and the JSON log; and it is still counted and locked like any other name."""
    make_user(app)
    client = app.test_client()
    body = fail(client, LOOKS_LIKE_A_PASSWORD, times=5).get_data(as_text=True)
    assert 'id="lockout"' in body  # counted and locked as before
    names = stored_names(app)
    assert not any(LOOKS_LIKE_A_PASSWORD in name or "Primavera" in name for name in names)
    masked = {name for name in names if name.startswith("(oculto")}
    assert masked == {f"(oculto: {len(LOOKS_LIKE_A_PASSWORD)} caracteres, {next(iter(masked))[-13:-1]})"}
    assert LOOKS_LIKE_A_PASSWORD not in json.dumps(json_log())


def test_user_names_of_the_four_kinds_and_real_accounts_are_kept_as_they_are(app):
    make_user(app)
    make_user(app, "soporte-legado", email="legado@example.com")  # an account of no known kind
    client = app.test_client()
    for name in (NAME, "XAXX010101000", "soporte-legado"):
        login(client, name, WRONG, captcha=CAPTCHA)
    assert {NAME, "XAXX010101000", "soporte-legado"} <= stored_names(app)


def test_a_sign_in_cut_short_reaches_the_json_log(make_app, clock, json_log, monkeypatch):
    """Found by the fault-injection run: "interrupted" sign-in events reached the table but
    not the JSON audit log. The outbox worker's housekeeping logs them, once, as cut short."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    make_user(app)

    def killed(*args):
        raise RuntimeError("the worker was killed here")

    monkeypatch.setattr(passwords, "verify_evenly", killed)
    assert login(app.test_client(), NAME, PASSWORD).status_code == 500
    monkeypatch.undo()
    clock.advance(minutes=5)
    with app.app_context():
        outbox.housekeeping()
        outbox.housekeeping()  # once only
    cut = [line for line in json_log() if line["outcome"] == "interrupted"]
    assert len(cut) == 1 and cut[0]["event"] == "login" and cut[0]["user"] == NAME and cut[0]["cut_short"]


def test_a_sign_in_in_progress_is_not_logged_as_cut_short(make_app, clock, json_log):
    app = make_app()
    make_user(app)
    login(app.test_client(), NAME, WRONG)
    clock.advance(minutes=5)
    with app.app_context():
        outbox.housekeeping()
    assert [line for line in json_log() if line["outcome"] == "interrupted"] == []


def test_old_events_are_left_alone_by_the_housekeeping(make_app, clock, json_log):
    app = make_app()
    with app.app_context():
        db.session.add(AuthEvent(at=clock() - timedelta(days=3), username=NAME, kind="login", outcome="ok",
                                 client_ip="192.0.2.1"))
        db.session.commit()
        outbox.housekeeping()
    assert json_log() == []
