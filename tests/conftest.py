import os
import re
import socket
import threading
import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy
from aiosmtpd.controller import Controller

from config import TestConfig
from portal import create_app
from portal.extensions import db

CAPTCHA = TestConfig.CAPTCHA_TEST_ANSWER
PASSWORD = "Factura.2026"
HTMX = {"HX-Request": "true"}


class FakeClock:
    """A clock the tests move by hand (naive UTC, like the portal's)."""

    def __init__(self):
        self.moment = datetime(2026, 11, 24, 18, 0, 0)

    def __call__(self):
        return self.moment

    def advance(self, **delta):
        self.moment += timedelta(**delta)


@pytest.fixture
def clock():
    return FakeClock()


# The suite runs on SQLite (default) and again on PostgreSQL + Redis (make test sets these).
DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
RATELIMIT_URI = os.environ.get("TEST_RATELIMIT_STORAGE_URI", "memory://")


def empty_database(url):
    """A clean PostgreSQL schema for one test (the app migrates it when it starts)."""
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def make_app(tmp_path, clock):
    """Build an app on a database of its own; keyword arguments override settings."""
    url = DATABASE_URL or f"sqlite:///{tmp_path / 'portal.db'}"
    if DATABASE_URL:
        empty_database(portal_url(DATABASE_URL))
    built = []

    def build(**overrides):
        settings = {"SQLALCHEMY_DATABASE_URI": url, "CLOCK": clock, "RATELIMIT_STORAGE_URI": RATELIMIT_URI,
                    "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
        settings.update(overrides)
        instance = tmp_path / "instance"
        instance.mkdir(exist_ok=True)
        app = create_app(TestConfig, instance_path=str(instance), **settings)
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def portal_url(url):
    from portal.database import engine_url

    return engine_url(url)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def user(app):
    """An active account with a secret question."""
    from portal import accounts

    with app.app_context():
        created = accounts.create_user("GOMA800101AB1", PASSWORD, "maria@example.com", name="María Gómez",
                                       question="¿Color favorito?", answer="Verde")
        return created.username


def csrf_token(client, path="/"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def login(client, username, password, captcha=None, htmx=False, token=None):
    data = {"csrf_token": token or csrf_token(client), "username": username, "password": password}
    if captcha is not None:
        data["captcha"] = captcha
    return finished(client.post("/entrar", data=data, headers=HTMX if htmx else {}))


def finished(response):
    """Read and close the response as a server would (what runs after the response runs)."""
    response.get_data()
    response.close()
    return response


def fail(client, username, times=1, htmx=False):
    """Wrong passwords, solving the CAPTCHA whenever it is shown."""
    response = None
    for _ in range(times):
        response = login(client, username, "Equivocada.1", captcha=CAPTCHA, htmx=htmx)
    return response


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.arrived:
            self.messages.append(envelope)
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count=1, timeout=10):
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return self.messages


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()
