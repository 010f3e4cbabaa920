"""Helpers shared by the tests: constants, a hand-moved clock, form posts, a real SMTP inbox."""
import re
import socket
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta

from config import TestConfig

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
    """aiosmtpd handler keeping every envelope it receives, in order of arrival.

    Two ways to wait, for the two kinds of test: by count (`wait_for`: the raw envelopes, for a
    test that knows how many e-mails its steps send) and by address and subject
    (`wait_for_message`: one parsed message, for a server whose other mail is none of the
    test's business, such as the browser tests' shared server)."""

    def __init__(self):
        self.messages = []  # aiosmtpd envelopes: .mail_from, .rcpt_tos, .content (bytes)
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.arrived:
            self.messages.append(envelope)
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count=1, timeout=10):
        """Every envelope so far, once at least count have arrived (or timeout seconds passed)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return self.messages

    def wait_for_message(self, recipient, subject_contains="", timeout=15):
        """The first message to recipient whose subject contains the text, parsed; fails after timeout."""
        def found():
            return next((message for message in map(parsed, self.messages)
                         if recipient in str(message["To"]) and subject_contains in str(message["Subject"])), None)

        with self.arrived:
            self.arrived.wait_for(found, timeout)
            message = found()
        assert message is not None, f"no e-mail to {recipient} ({subject_contains!r}) in {timeout} s"
        return message


def parsed(envelope):
    """An envelope's message as an email.message.EmailMessage."""
    from email import message_from_bytes, policy

    return message_from_bytes(envelope.content, policy=policy.default)


def text_of(message):
    """The plain-text body of a parsed message."""
    return message.get_body(preferencelist=("plain",)).get_content()


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
