"""Helpers shared by the tests: constants, a hand-moved clock, form posts, a real SMTP inbox."""
import http.cookiejar
import os
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import TestConfig
from portal import accounts
from portal.extensions import db
from portal.models import User
from portal.secret_question import QUESTIONS

CAPTCHA = TestConfig.CAPTCHA_TEST_ANSWER
PASSWORD = "Factura.2026"
HTMX = {"HX-Request": "true"}
HISTORY = {**HTMX, "HX-History-Restore-Request": "true"}  # htmx restoring a page it has no copy of
BASE_URL = TestConfig.PUBLIC_BASE_URL

# The account most tests use (make_user), and what its owner types. QUESTIONS: the portal's list.
NAME = "GOMA800101AB1"
EMAIL = "maria@example.com"
QUESTION = "¿Cuál es su platillo favorito?"
ANSWER = "Verde"
NEW_PASSWORD = "Nueva.Clave.2027"
WRONG = "Equivocada.1"
UNKNOWN = "XAXX010101000"  # no account has it; as long as NAME, so pages of the two have one length
SETUP_NAME = "CT.PEMA900101QR5"  # made by support: a temporary password, no secret question yet
TEMPORARY = "Temporal.2026"

# What the secret-question step says after a wrong answer, and once wrong answers are limited
WRONG_ANSWER_TEXT = "La respuesta no es correcta. Revísela o pida un recordatorio por correo."
LIMITED_TEXT = "Se alcanzó el número máximo de respuestas incorrectas."

CSRF = re.compile(r"[\w-]{20,}\.[\w-]{6}\.[\w-]{20,}")  # a CSRF token (a CAPTCHA id has this shape too)
CAPTCHA_ID = re.compile(r"/captcha/[\w-]+\.")
LINK = re.compile(r"(https?://[^\s\"'<>]+/request/codedAccess\?code=([\w-]+))")  # (the link, its code)


class FakeClock:
    """A clock the tests move by hand (naive UTC, like the portal's)."""

    def __init__(self):
        self.moment = datetime(2026, 11, 24, 18, 0, 0)

    def __call__(self):
        return self.moment

    def advance(self, **delta):
        self.moment += timedelta(**delta)


def csrf_token(client, path="/", headers=None):
    """The token the page at `path` carries, read with the headers the next request will carry
    (the test client keeps cookies per host, so a forged Host has a session of its own)."""
    page = client.get(path, headers=headers or {}).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def login(client, username, password, captcha=None, htmx=False, token=None, captcha_id=None, headers=None):
    """captcha_id: the challenge the form carries (a refresh puts it there); without it, the
    one the session was given. headers: more request headers (forwarded addresses ...)."""
    data = {"csrf_token": token or csrf_token(client), "username": username, "password": password}
    if captcha is not None:
        data["captcha"] = captcha
    if captcha_id is not None:
        data["captcha_id"] = captcha_id
    return finished(client.post("/entrar", data=data, headers={**(HTMX if htmx else {}), **(headers or {})}))


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


def question_in(response):
    """The question the secret-question step shows."""
    return re.search(r'<p class="question" id="question-text">([^<]*)</p>', text(response)).group(1)


def rules_in(response):
    """{rule: "met" | "unmet" | "pending"} from the password-checklist fragment."""
    return {rule: state for state, rule in re.findall(r'<li class="(\w+)" data-rule="(\w+)"', text(response))}


# The three ways a branching view is asked for (STYLE 13); the `way` fixture gives each in turn.

WAYS = {"plain": {}, "htmx": HTMX, "history": HISTORY}


def assert_fragment(response, fragment_id, status=200, tag=None):
    """An htmx answer: the bare fragment whose root element (a `tag`, when given) has the id."""
    body = text(response)
    assert response.status_code == status
    assert re.match(rf'\s*<{tag or "[a-z]+"} id="{fragment_id}"', body), body[:300]
    assert "<html" not in body
    assert "HX-Request" in response.headers.get("Vary", "")
    return body


def assert_page(response, fragment_id, status=200, tag=None):
    """A plain (or history-restore) answer: the whole page with the fragment (a `tag`) inside."""
    body = text(response)
    assert response.status_code == status
    assert body.lstrip().startswith("<!doctype html>")
    assert f'{"<" + tag + " " if tag else ""}id="{fragment_id}"' in body
    assert "HX-Request" in response.headers.get("Vary", "")
    return body


class Way:
    """A plain request, an htmx request, or htmx's history restore (which wants the whole page)."""

    def __init__(self, name):
        self.name, self.headers = name, WAYS[name]
        self.whole_page = name != "htmx"

    def __repr__(self):
        return self.name

    def get(self, client, path):
        return client.get(path, headers=self.headers)

    def assert_answer(self, response, fragment_id, status=200, tag=None):
        """The bare fragment for htmx, the whole page with the fragment inside otherwise; each
        with Vary: HX-Request. Returns the body."""
        return (assert_page if self.whole_page else assert_fragment)(response, fragment_id, status, tag)


# Accounts and clients

def make_user(app, username=NAME, password=PASSWORD, email=EMAIL, display_name="María Gómez",
              question=QUESTIONS[0], answer=ANSWER, **extra):
    """An account as support's CLI makes one; returns its user name. question=None: one that has
    not chosen a secret question yet (first sign-in pending), so no answer either. extra: the
    rest of accounts.create_user's settings (last_login, password_hash)."""
    with app.app_context():
        return accounts.create_user(username, password, email, name=display_name, question=question,
                                    answer=None if question is None else answer, **extra).username


_addresses = count(1)


def fresh_address():
    """A client address no other test uses (rate-limit counters may live in a shared Redis)."""
    n = next(_addresses)
    return f"10.{77 + n // 65536}.{n // 256 % 256}.{n % 256}"


def client_from(app, address=None):
    """A browser whose requests come from `address` (a fresh one by default)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address or fresh_address()
    return client


def signs_in(app, username, password):
    """Whether a fresh browser gets in with this password."""
    return login(app.test_client(), username, password).status_code == 303


# The recovery steps, as the browser's forms post them

def post(client, path, data=None, htmx=False, headers=None, token=None, page="/recuperar"):
    """A form POST with the CSRF token, read from `page` unless given (see csrf_token)."""
    form = {"csrf_token": token or csrf_token(client, page, headers), **(data or {})}
    return finished(client.post(path, data=form, headers={**(HTMX if htmx else {}), **(headers or {})}))


def ask(client, username=NAME, htmx=False, headers=None, token=None):
    """The recovery form's aceptar: the user name, for its secret question."""
    return post(client, "/recuperar", {"username": username}, htmx, headers, token)


def reply(client, answer, htmx=False, token=None, captcha=CAPTCHA):
    """The secret question's aceptar, solving the CAPTCHA whenever it is shown (captcha=None:
    leaving it empty)."""
    data = {"answer": answer} if captcha is None else {"answer": answer, "captcha": captcha}
    return post(client, "/recuperar/respuesta", data, htmx, token=token)


def remind(client, htmx=False, headers=None):
    """enviar recordatorio, from the secret question's form (its answer field empty)."""
    return post(client, "/recuperar/recordatorio", {"answer": ""}, htmx, headers)


def request_reminder(client, username=NAME, page="/"):
    """The user name, then enviar recordatorio, with one token read from `page`."""
    token = csrf_token(client, page)
    ask(client, username, token=token)
    return post(client, "/recuperar/recordatorio", token=token)


def prove_by_answer(client, username=NAME, htmx=False):
    """A recovery proof in the session: the user name, then the right answer."""
    ask(client, username)
    return reply(client, ANSWER, htmx=htmx)


def save(client, new=NEW_PASSWORD, confirm=None, email=EMAIL, htmx=False, **extra):
    """The change-password step's aceptar; extra: change_answer, question, answer."""
    data = {"new_password": new, "confirm_password": new if confirm is None else confirm, "email": email, **extra}
    return post(client, "/cambiar-contrasena", data, htmx)


def check(client, new, confirm="", htmx=True):
    """The live checklist of the password policy for what is typed."""
    return post(client, "/cambiar-contrasena/requisitos", {"new_password": new, "confirm_password": confirm}, htmx)


def open_link(client, link, **kwargs):
    """What a person does with an e-mailed link: opens it (a GET, which spends nothing) and, on
    the page it leads to, presses «continuar» (a POST). The answer to that POST, or the GET's
    when the link is refused."""
    opened = client.get(link.removeprefix(BASE_URL), **kwargs)
    if opened.headers.get("Location") != "/recuperar/enlace/continuar":
        return opened
    token = csrf_token(client, "/recuperar/enlace/continuar")
    return client.post("/recuperar/enlace/continuar", data={"csrf_token": token}, **kwargs)


def follow(client, response, headers=None):
    return client.get(response.headers["Location"], headers=headers or {})


# E-mail: received by the SMTP server of the `smtp` fixture, or written to the outbox folder

# The outbox worker. A request only queues e-mail; the worker, a process of its own in
# production, delivers it. Where a test reads mail, one pass of the worker runs first, for
# every app the test built (conftest's make_app lists them here).
APPS = []


def deliver(app=None):
    """One pass of the outbox worker (portal/outbox.py) for app, or for every app of the test."""
    from portal import outbox

    for each in [app] if app is not None else APPS:
        with each.app_context():
            outbox.work_once()


def received(smtp, count):
    """Exactly `count` messages, parsed, once the worker has delivered them."""
    deliver()
    envelopes = smtp.wait_for(count)
    assert len(envelopes) == count
    return [message_from_bytes(envelope.content, policy=policy.default) for envelope in envelopes]


def written(app):
    """Every message the portal wrote to its outbox folder (no MAIL_SERVER), oldest first, once
    the worker has delivered them."""
    deliver(app)
    folder = Path(app.instance_path) / "outbox"
    files = sorted(folder.glob("*.eml"), key=lambda path: int(path.stem.rsplit("-", 1)[1])) if folder.exists() else []
    return [message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]


def plain(message):
    return message.get_body(("plain",)).get_content()


def html(message):
    return message.get_body(("html",)).get_content()


def assert_text_and_html(message):
    """Multipart with a text and an HTML alternative of the same message."""
    assert message.is_multipart()
    assert "multipart/alternative" in {part.get_content_type() for part in message.walk()}
    assert plain(message).strip() and "<html" in html(message)


def link_in(message):
    return LINK.search(plain(message)).group(1)


def code_of(link):
    return LINK.search(link).group(2)


def reminder_link(app, smtp=None, client=None, count=1, headers=None):
    """Ask for NAME's reminder (in `client`, or a fresh browser) and return the link it brings:
    in the `count`-th message to reach `smtp`, or, without an SMTP server, in the newest one
    written to the outbox folder."""
    client = client or app.test_client()
    ask(client, headers=headers)
    remind(client, headers=headers)
    return link_in(received(smtp, count)[-1] if smtp is not None else written(app)[-1])


# The database

def stored_user(app, username=NAME):
    with app.app_context():
        return db.session.scalar(select(User).where(User.username == username))


def rows(app, model):
    with app.app_context():
        return db.session.scalars(select(model)).all()


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


# A browser without JavaScript against a live server (tests/live_server.py)

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Visitor:
    """One browser without JavaScript: its own cookies, no redirects followed."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        self.token = None

    def request(self, url, data=None, timeout=30, headers=None):
        """(status, body, headers); data: a form POST with the token start() read."""
        body = urllib.parse.urlencode({**data, "csrf_token": self.token}).encode() if data is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=body, headers=headers or {}),
                                  timeout=timeout) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers

    def start(self, base):
        status, page, _ = self.request(base + "/")
        self.token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
        return status


def unavailable(message):
    """A program or service a test needs is missing: the test fails under CI=true (CI installs
    and starts all of them), and is skipped elsewhere, with the message."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


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


# The support console

STAFF_PASSWORD = "Soporte.Clave.2026"  # tests only  # noqa: S105  # nosec B105
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # tests only  # noqa: S105  # nosec B105


def make_staff(app, name="ana", role="soporte", secret=TOTP_SECRET, email=None):
    """A staff member who has finished the set-up (password STAFF_PASSWORD) and, unless
    secret=None, enrolled the second factor with `secret`; returns the member's id."""
    from portal import staff

    with app.app_context():
        member, _link = staff.create(name, email or f"{name}@soporte.example", role, "cli")
        staff.finish_setup(member, STAFF_PASSWORD, "cli")
        member.totp_secret = secret
        db.session.commit()
        return member.id


def totp(moment, secret=TOTP_SECRET, steps=0):
    """The code an authenticator app shows at `moment` (naive UTC), `steps` steps later."""
    import pyotp

    return pyotp.TOTP(secret).at(int(moment.replace(tzinfo=UTC).timestamp()) + 30 * steps)


def console_password(client, name="ana", password=STAFF_PASSWORD, captcha=None, captcha_id=None, headers=None):
    """The console's password step (captcha_id: the challenge the previous answer showed)."""
    data = {"name": name, "password": password}
    if captcha is not None:
        data.update(captcha=captcha, captcha_id=captcha_id or "")
    return post(client, "/soporte/entrar", data, page="/soporte/entrar", headers=headers)


def console_code(client, code, recovery=False):
    field = "recovery_code" if recovery else "code"
    return post(client, "/soporte/codigo", {field: code}, page="/soporte/codigo")


def console_sign_in(client, clock, name="ana", secret=TOTP_SECRET):
    """Password and TOTP code: the client is signed in to the console (asserted)."""
    assert console_password(client, name).headers["Location"].endswith("/soporte")
    response = console_code(client, totp(clock(), secret))
    assert response.status_code == 303 and response.headers["Location"].endswith("/soporte/clientes"), text(response)
    return response


def console_confirm(client, path):
    """The confirmation token of an action's confirm step (GET path)."""
    return re.search(r'name="confirmation" value="([^"]+)"', text(client.get(path))).group(1)


def console_act(client, path, reason="Ticket 4711: lo pidió el cliente por teléfono", **fields):
    """An action through its confirm step: the confirm page, then the POST with the reason."""
    data = {"confirmation": console_confirm(client, path), "reason": reason, **fields}
    return post(client, path, data, page=path)


# OpenID Connect: registered applications and the requests they make

RP_REDIRECT = "https://facturacion.efactura.example/oidc/callback"
RP_LOGOUT = "https://facturacion.efactura.example/adios"
NONCE = "n-0S6_WzA2Mj"
STATE = "af0ifjsldkj"


def register_client(app, name="Facturación", redirect_uris=(RP_REDIRECT,), post_logout_uris=(RP_LOGOUT,),
                    public=False, refresh=False):
    """An application registered as support's CLI does it; (client_id, client_secret or None)."""
    from portal.oidc import clients

    with app.app_context():
        row, secret = clients.create(name, list(redirect_uris), list(post_logout_uris), public, refresh)
        return row.client_id, secret


def pkce_pair():
    """(code_verifier, its S256 code_challenge)."""
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_path(client_id, challenge, redirect_uri=RP_REDIRECT, **extra):
    """The authorization request a relying party sends the browser to; extra parameters replace
    or add to the usual ones (None drops one)."""
    from urllib.parse import urlencode

    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": "openid profile email", "state": STATE, "nonce": NONCE, "code_challenge": challenge,
              "code_challenge_method": "S256", **extra}
    return "/oidc/autorizar?" + urlencode({k: v for k, v in params.items() if v is not None})


def query_of(response):
    """The query parameters of a redirect's Location, as a dict."""
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def exchange(client, client_id, secret, code, verifier, redirect_uri=RP_REDIRECT, **extra):
    """The relying party's token request (HTTP Basic for a confidential client)."""
    import base64

    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, **extra}
    data = {k: v for k, v in data.items() if v is not None}
    headers = {}
    if secret is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    else:
        data["client_id"] = client_id
    return client.post("/oidc/token", data=data, headers=headers)
