"""Attack and bad luck: the services behind the portal fail. The portal neither opens up nor breaks.

- Redis (rate-limit storage) unreachable: Flask-Limiter's default would answer 500 (shown with
  a bare Flask app); the portal keeps its limits in memory and says so in /healthz;
- the SMTP server refuses (550): the user's page is the same as when it accepts, the message
  stays in the outbox and leaves on a later try, the refusal is logged;
- the database locked (SQLite: another connection holds BEGIN EXCLUSIVE) or gone for a moment
  (SQLite: the file replaced; PostgreSQL: the connection cut by a loopback proxy): a clear 503
  fragment (htmx swaps it) or page, no password checked, nothing half-written, sessions kept,
  and what was waiting (an e-mail) is sent once the database is back.
"""
import logging
import os
import re
import shutil
import socket
import sqlite3
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask_limiter import Limiter
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from helpers import (
    CAPTCHA,
    EMAIL,
    HTMX,
    NAME,
    PASSWORD,
    ask,
    client_from,
    csrf_token,
    deliver,
    free_port,
    login,
    make_user,
    masked,
    open_link,
    request_reminder,
    snapshot,
    text,
)
from portal import outbox, passwords
from portal.extensions import db
from portal.models import AuthEvent, OutboxMessage

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")
OTHER = "LOPJ750315XY2"


# Redis unreachable

def test_flask_limiter_alone_would_answer_500_when_its_storage_is_unreachable():
    """The control: what the portal's settings (in-memory fallback, swallowed errors) prevent."""
    bare = Flask("bare")
    limiter = Limiter(key_func=lambda: "client", app=bare, storage_uri=f"redis://127.0.0.1:{free_port()}")

    @bare.get("/")
    @limiter.limit("5/minute")
    def index():
        return "ok"

    assert bare.test_client().get("/").status_code == 500


def test_the_limits_hold_in_memory_while_redis_is_unreachable(make_app, caplog):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="5/minute",
                   RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}")
    make_user(app)
    attacker = client_from(app)
    token = csrf_token(attacker)
    statuses = []
    for i in range(8):
        response = login(attacker, f"XAXX0101010{i:02d}", "x", CAPTCHA, htmx=i % 2 == 1, token=token)
        statuses.append(response.status_code)
        assert "Traceback" not in text(response)
    assert statuses == [200] * 5 + [429] * 3
    assert app.test_client().get("/healthz").json["rate_limit_storage"] == "fallback"
    owner = app.test_client()  # another address still signs in
    assert login(owner, NAME, PASSWORD).status_code == 303


# SMTP refusing

class RefusingInbox:
    """An SMTP server (aiosmtpd) that answers 550 at RCPT or at DATA until told to accept."""

    def __init__(self, stage):
        self.stage, self.refusing, self.messages = stage, True, []
        self.arrived = threading.Condition()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refusing and self.stage == "RCPT":
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refusing and self.stage == "DATA":
            return "550 5.7.1 Message rejected"
        with self.arrived:
            self.messages.append(envelope)
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count, timeout=10):
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return [message_from_bytes(envelope.content, policy=policy.default) for envelope in self.messages]


@pytest.fixture(params=["RCPT", "DATA"])
def refusing_smtp(request):
    inbox = RefusingInbox(request.param)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


def test_a_refusing_smtp_server_changes_nothing_for_the_user_and_loses_no_mail(make_app, refusing_smtp, clock, caplog):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=refusing_smtp.port)
    make_user(app)
    make_user(app, OTHER, email=f"{OTHER.lower()}@example.com")
    with caplog.at_level(logging.WARNING, logger="portal.mail"):
        refused = request_reminder(app.test_client(), NAME)
        deliver(app)  # the outbox worker's pass
    with app.app_context():
        waiting = db.session.scalar(select(OutboxMessage))
        assert waiting.sent_at is None and waiting.attempts == 1 and "550" in waiting.last_error
        assert "codedAccess?code=" in waiting.text_body  # kept whole for the next try
        assert db.session.scalar(select(AuthEvent.outcome).where(AuthEvent.kind == "reminder")) == "sent"
    assert any("550" in record.getMessage() and "not sent" in record.getMessage() for record in caplog.records)
    refusing_smtp.refusing = False
    accepted = request_reminder(app.test_client(), OTHER)
    assert refused.status_code == accepted.status_code == 200
    assert masked(text(refused), NAME) == masked(text(accepted), OTHER)
    deliver(app)
    assert [m["To"] for m in refusing_smtp.wait_for(1)] == [f"{OTHER.lower()}@example.com"]
    clock.advance(minutes=2)  # the retry is due
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert "Enviados: 1. En espera: 0." in result.output
    messages = refusing_smtp.wait_for(2)
    assert messages[-1]["To"] == EMAIL
    link = re.search(r"/request/codedAccess\?code=[\w-]+", messages[-1].get_body(("plain",)).get_content()).group(0)
    assert open_link(app.test_client(), link).headers["Location"] == "/cambiar-contrasena"  # and it works


# The database locked or gone

def short_busy_timeout(app):
    """create_app replaces connect_args for SQLite URLs with {"timeout": 30} (see the xfail below),
    so the short wait is set on each new connection instead, and the pool is emptied."""
    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def busy_timeout(connection, record):
            connection.execute("PRAGMA busy_timeout = 200")

        db.engine.dispose()


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite settings")
def test_sqlite_connect_args_from_the_configuration_are_kept(make_app):
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.2}, "pool_pre_ping": True})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["timeout"] == 0.2


def assert_unavailable(response, htmx):
    body = text(response)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert 'id="service-unavailable"' in body and "No se guardó nada a medias" in body
    assert "Traceback" not in body and "OperationalError" not in body and "sqlite" not in body.lower()
    if htmx:
        assert body.lstrip().startswith('<div id="service-unavailable"')
    else:
        assert body.lstrip().startswith("<!doctype html>")


def outage_requests(app, signed, browser, token, checks, unreachable=True):
    """What users do while the database is away: each gets the clear answer, fast, and no
    password is checked (nothing can be counted, so nothing is evaluated)."""
    for htmx in (False, True):
        headers = HTMX if htmx else {}
        start = time.perf_counter()
        response = login(browser, NAME, PASSWORD, htmx=htmx, token=token)
        assert time.perf_counter() - start < 5
        assert_unavailable(response, htmx)
        if unreachable:
            assert_unavailable(signed.get("/inicio", headers=headers), htmx)
        else:  # SQLite's write-ahead log: pages that only read go on while a writer holds the lock
            assert signed.get("/inicio", headers=headers).status_code == 200
        assert_unavailable(ask(browser, htmx=htmx, token=token), htmx)
    assert checks == []
    if unreachable:  # (a lock is not an outage: /healthz's SELECT 1 reads no table, and passes)
        health = app.test_client().get("/healthz")
        assert health.status_code == 503 and health.json["database"] == "unreachable"


def after_the_outage(app, signed, browser, token, before, caplog):
    assert snapshot(app) == before  # nothing half-written
    assert signed.get("/inicio").status_code == 200  # the signed-in session survived
    response = login(browser, NAME, PASSWORD, token=token)
    assert response.status_code == 303
    with app.app_context():
        logins = db.session.scalars(select(AuthEvent.outcome).where(AuthEvent.kind == "login")).all()
    assert logins == ["ok", "ok"]  # the first sign-in, and the one after the outage: nothing doubled
    assert any("database unavailable" in record.getMessage() for record in caplog.records)
    assert any("outbox pass failed" in record.getMessage() for record in caplog.records)  # the worker said so
    result = app.test_cli_runner().invoke(args=["outbox", "send"])  # it was not lost: it leaves now
    assert "En espera: 0." in result.output
    sent = [path.read_text(encoding="utf-8") for path in (Path(app.instance_path) / "outbox").glob("*.eml")]
    assert sum("codedAccess" in message for message in sent) == 1  # the reminder, once


def test_a_database_gone_after_the_attempt_was_counted_says_so(make_app, monkeypatch):
    """Found by the fault-injection run: the 503 page said nothing was half-saved while the
    attempt had been counted (the claim is committed before the password is checked)."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    make_user(app)

    def gone(*args):
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(passwords, "verify_evenly", gone)
    body = text(login(app.test_client(), NAME, PASSWORD))
    assert 'id="service-unavailable"' in body and "Su intento de ingreso quedó registrado" in body
    assert "No se guardó nada a medias" not in body
    with app.app_context():
        assert db.session.scalar(select(AuthEvent.outcome).where(AuthEvent.kind == "login")) == "interrupted"


def worker_pass_during_the_outage(app):
    """One pass of the outbox worker's loop: the reminder's e-mail cannot be made or sent now;
    the pass fails, says so, and the loop goes on."""
    passes = iter((False, True))
    with app.app_context():
        outbox.run(0, stop=lambda: next(passes))


def prepared(app):
    make_user(app)
    signed = app.test_client()
    assert login(signed, NAME, PASSWORD).status_code == 303
    browser = app.test_client()
    token = csrf_token(browser)
    asking = app.test_client()
    ask_token = csrf_token(asking)
    ask(asking, token=ask_token)
    # a reminder whose e-mail is still to be made and sent when the database goes away
    pending = asking.post("/recuperar/recordatorio", data={"csrf_token": ask_token})
    assert pending.status_code == 200
    return signed, browser, token, pending


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite locking")
def test_a_locked_database_gets_a_clear_answer_and_loses_nothing(make_app, checks, caplog):
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    signed, browser, token, pending = prepared(app)
    short_busy_timeout(app)
    before = snapshot(app)
    checks.clear()
    holder = sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.INFO):
            outage_requests(app, signed, browser, token, checks, unreachable=False)
            worker_pass_during_the_outage(app)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    after_the_outage(app, signed, browser, token, before, caplog)


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite file")
def test_a_database_gone_for_a_moment_gets_a_clear_answer_and_loses_nothing(make_app, checks, caplog):
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    signed, browser, token, pending = prepared(app)
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    before = snapshot(app)
    checks.clear()
    os.rename(path, path + ".away")
    os.mkdir(path)  # where the file was, nothing SQLite can open
    with app.app_context():
        db.engine.dispose()
    try:
        with caplog.at_level(logging.INFO):
            outage_requests(app, signed, browser, token, checks)
            worker_pass_during_the_outage(app)
    finally:
        shutil.rmtree(path)
        os.rename(path + ".away", path)
    after_the_outage(app, signed, browser, token, before, caplog)


class CuttableProxy:
    """A loopback TCP proxy in front of PostgreSQL whose connections can be cut and restored."""

    def __init__(self, target_port):
        self.port, self.target = free_port(), target_port
        self.connections, self.listener = [], None
        self.resume()

    def resume(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
        except OSError:
            pass
        self.listener.close()
        for sock in self.connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.connections = []


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL connection")
def test_a_postgresql_connection_cut_for_a_moment_gets_a_clear_answer_and_loses_nothing(make_app, checks, caplog):
    from sqlalchemy.engine import make_url

    real = make_url(os.environ["TEST_DATABASE_URL"])
    proxy = CuttableProxy(real.port or 5432)
    try:
        app = make_app(PROPAGATE_EXCEPTIONS=False, SQLALCHEMY_DATABASE_URI=real.set(
            host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
        signed, browser, token, pending = prepared(app)
        before = snapshot(app)
        checks.clear()
        proxy.cut()
        with caplog.at_level(logging.INFO):
            outage_requests(app, signed, browser, token, checks)
            worker_pass_during_the_outage(app)
        proxy.resume()
        after_the_outage(app, signed, browser, token, before, caplog)
    finally:
        proxy.cut()
