import re
import socket
import threading
from datetime import datetime, timedelta

import pytest
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


@pytest.fixture
def make_app(tmp_path, clock):
    """Build an app on its own SQLite file; keyword arguments override settings."""
    def build(**overrides):
        settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'portal.db'}", "CLOCK": clock}
        settings.update(overrides)
        app = create_app(TestConfig, **settings)
        app.instance_path = str(tmp_path / "instance")
        return app
    return build


@pytest.fixture
def app(make_app):
    app = make_app()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


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
