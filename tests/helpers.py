"""Helpers shared by the tests: constants, a hand-moved clock, form posts, a real SMTP inbox."""
import re
import socket
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import func, select

from config import TestConfig
from portal import accounts
from portal.extensions import db
from portal.recovery import QUESTIONS

CAPTCHA = TestConfig.CAPTCHA_TEST_ANSWER
PASSWORD = "Factura.2026"
HTMX = {"HX-Request": "true"}

# The account most tests use (make_user), and what its owner types. QUESTIONS: the portal's list.
NAME = "GOMA800101AB1"
EMAIL = "maria@example.com"
QUESTION = "¿Cuál es su platillo favorito?"
ANSWER = "Verde"

CSRF = re.compile(r"[\w-]{20,}\.[\w-]{6}\.[\w-]{20,}")  # a CSRF token (a CAPTCHA id has this shape too)
CAPTCHA_ID = re.compile(r"/captcha/[\w-]+\.")


class FakeClock:
    """A clock the tests move by hand (naive UTC, like the portal's)."""

    def __init__(self):
        self.moment = datetime(2026, 11, 24, 18, 0, 0)

    def __call__(self):
        return self.moment

    def advance(self, **delta):
        self.moment += timedelta(**delta)


def csrf_token(client, path="/"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def login(client, username, password, captcha=None, htmx=False, token=None, captcha_id=None):
    """captcha_id: the challenge the form carries (a refresh puts it there); without it, the
    one the session was given."""
    data = {"csrf_token": token or csrf_token(client), "username": username, "password": password}
    if captcha is not None:
        data["captcha"] = captcha
    if captcha_id is not None:
        data["captcha_id"] = captcha_id
    return finished(client.post("/entrar", data=data, headers=HTMX if htmx else {}))


def shown_challenge(response):
    """The CAPTCHA challenge id a page or fragment carries in its form."""
    return re.search(r'name="captcha_id" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def finished(response):
    """Read and close the response as a server would (what runs after the response runs)."""
    response.get_data()
    response.close()
    return response


# Reading answers

def text(response):
    return response.get_data(as_text=True)


def masked(body, name=None, question=None):
    """A page with what differs between two browsers (CSRF tokens, CAPTCHA ids) and between two
    user names (the name, its question) masked, so that two answers can be compared."""
    body = CAPTCHA_ID.sub("/captcha/ID.", CSRF.sub("TOKEN", body))
    if name:
        body = body.replace(name, "NAME")
    if question:
        body = body.replace(question, "QUESTION")
    return body


# Accounts

def make_user(app, username=NAME, password=PASSWORD, email=EMAIL, display_name="María Gómez",
              question=QUESTIONS[0], answer=ANSWER, **extra):
    """An account as support's CLI makes one; returns its user name. question=None: one that has
    not chosen a secret question yet (first sign-in pending), so no answer either. extra: the
    rest of accounts.create_user's settings (last_login, password_hash)."""
    with app.app_context():
        return accounts.create_user(username, password, email, name=display_name, question=question,
                                    answer=None if question is None else answer, **extra).username


# The database

def snapshot(app, *models):
    """The row count of every table, and the rows of `models` as they are: what a refused
    request must leave as it was."""
    with app.app_context():
        counts = {table.name: db.session.scalar(select(func.count()).select_from(table))
                  for table in db.metadata.sorted_tables}
        kept = {model.__tablename__: sorted(map(tuple, db.session.execute(select(model.__table__)).all()), key=repr)
                for model in models}
    return counts, kept


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


@contextmanager
def smtp_server(handler):
    """A real SMTP server on 127.0.0.1 (aiosmtpd) delivering to handler; handler.port is set."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()
