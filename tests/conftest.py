import os
import shutil
import socket
import uuid

import bcrypt
import pytest
import sqlalchemy

import helpers
from config import TestConfig
from helpers import PASSWORD, FakeClock, Inbox, smtp_server
from portal import create_app
from portal.extensions import db

# `make mutate` (MUTATION.md): mutmut runs, against each mutant, the selected tests (setup.cfg)
# that reach the changed function; of those, only the files aimed at the mutant's module run
# here, so that a surviving mutant costs seconds, not the whole selection.
MUTATION_TESTS = {
    "portal.lockout": {"test_lockout.py", "test_secret_question.py", "test_attack_bruteforce.py", "test_cli.py"},
    "portal.captcha": {"test_sign_in.py", "test_attack_captcha.py"},
    "portal.passwords": {"test_sign_in.py", "test_attack_credentials.py", "test_attack_enumeration.py"},
    "portal.usernames": {"test_usernames.py", "test_recovery.py"},
    "portal.outbox": {"test_operations.py", "test_attack_logs.py"},
    "portal.stable_keys": {"test_secret_question.py", "test_attack_enumeration.py"},
}


def pytest_collection_modifyitems(config, items):
    files = MUTATION_TESTS.get(os.environ.get("MUTANT_UNDER_TEST", "").rpartition(".")[0])
    if files is None:
        return
    kept = [item for item in items if item.path.name in files]
    config.hook.pytest_deselected(items=[item for item in items if item.path.name not in files])
    items[:] = kept


@pytest.fixture
def checks(monkeypatch):
    """Every bcrypt evaluation, real or dummy, for any password or answer: the cost (work
    factor) of each, in order. Its length counts the checks; sum(2 ** cost) is the work."""
    counted = []
    real = bcrypt.checkpw

    def check(password, hashed):
        counted.append(int(hashed[4:6]))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", check)
    return counted


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
        helpers.APPS.append(app)
        return app

    yield build
    helpers.APPS.clear()
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


@pytest.fixture(params=["plain", "htmx", "history"])
def way(request):
    """Each way a branching view is asked for, in turn: plain, htmx, htmx's history restore."""
    from helpers import Way

    return Way(request.param)


@pytest.fixture
def mailing(make_app, smtp):
    """An app that sends its mail to the real SMTP server of the `smtp` fixture, with the user."""
    from helpers import QUESTION, make_user

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    make_user(app, password=PASSWORD, question=QUESTION)
    return app


@pytest.fixture
def setup_user(app):
    """An account created by support with a temporary password and no secret question."""
    from helpers import SETUP_NAME, TEMPORARY, make_user

    return make_user(app, SETUP_NAME, TEMPORARY, email="ana@example.com", display_name="Ana Pérez", question=None)


@pytest.fixture
def user(app):
    """An active account with a secret question: helpers.NAME, with PASSWORD and QUESTION."""
    from helpers import QUESTION, make_user

    return make_user(app, password=PASSWORD, question=QUESTION)


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives."""
    with smtp_server(Inbox()) as inbox:
        yield inbox


SERVICE_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SERVICE_REDIS_URL = os.environ.get("TEST_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")


def _reachable(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def services():
    """PostgreSQL and Redis for production-path tests: fail under CI=true when missing, else skip."""
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not _reachable("127.0.0.1", port)]
    if missing:
        message = f"{' y '.join(missing)} no responde en 127.0.0.1"
        helpers.unavailable(message)
    empty_database(portal_url(SERVICE_DATABASE_URL))
    return portal_url(SERVICE_DATABASE_URL), SERVICE_REDIS_URL


@pytest.fixture(scope="session")
def espeak():
    """Debian's espeak-ng, which speaks the CAPTCHA's audio: fail under CI=true when missing, else skip."""
    program = shutil.which("espeak-ng")
    if program is None:
        message = "espeak-ng no está instalado (apt-get install espeak-ng): el audio del CAPTCHA no se puede probar"
        helpers.unavailable(message)
    return program


@pytest.fixture(scope="session")
def front_door(tmp_path_factory):
    """The application behind Debian's nginx, the portal as its front door (tests/front_door.py):
    a live portal (gunicorn, TestConfig on an SQLite file, its outbox worker mailing a real SMTP
    inbox), the stand-in application (tests/stand_in_app.py) and nginx in front of it, each on a
    127.0.0.1 port. ALLOWED_RETURN_HOSTS is nginx's address (and `caddy_port`'s, where a test may
    start Caddy: front_door.CaddyDoor). `app`: the same portal in this process, for making
    accounts (helpers.make_user). nginx missing: fail under CI=true, else skip."""
    from types import SimpleNamespace

    from front_door import FrontDoor, nginx_program
    from live_server import LiveServer

    if nginx_program() is None:
        message = "nginx no está instalado (apt-get install nginx): el portal frente a la aplicación no se puede probar"
        helpers.unavailable(message)
    folder = tmp_path_factory.mktemp("front-door")
    door_port, caddy_port, portal_port = helpers.free_port(), helpers.free_port(), helpers.free_port()
    with smtp_server(Inbox()) as inbox:
        settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'portal.db'}", "MAIL_SERVER": "127.0.0.1",
                    "MAIL_PORT": inbox.port, "PUBLIC_BASE_URL": f"http://127.0.0.1:{portal_port}",
                    "ALLOWED_RETURN_HOSTS": f"127.0.0.1:{door_port},127.0.0.1:{caddy_port}"}
        portal = LiveServer.portal(folder / "portal.log", folder / "instance", settings, port=portal_port, outbox=True)
        app = portal.build_app()  # the schema, before any worker starts
        application = LiveServer(folder / "application.log", "stand_in_app:application", workers=1, ready_path="/",
                                 env={"PORTAL_URL": portal.url})
        door = FrontDoor(folder / "nginx", portal.url, application.url, port=door_port)
        try:
            portal.start()
            application.start()
            door.start()
            yield SimpleNamespace(portal=portal, application=application, door=door, inbox=inbox, app=app,
                                  folder=folder, caddy_port=caddy_port)
        finally:
            door.stop()
            application.stop()
            portal.stop()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(scope="session")
def relying_party(tmp_path_factory):
    """A relying party nobody here wrote: Debian's Apache with mod_auth_openidc
    (tests/relying_party.py) protecting a tiny page, registered with a live portal (gunicorn,
    TestConfig on an SQLite file, PUBLIC_BASE_URL its own address: the issuer) as support's
    CLI registers an application. `app`: the same portal in this process, for making accounts.
    Apache or the module missing: fail under CI=true, else skip."""
    from types import SimpleNamespace

    from live_server import LiveServer
    from relying_party import RelyingParty, apache_program

    from portal.oidc import clients

    if apache_program() is None:
        message = ("apache2 con mod_auth_openidc no está instalado (apt-get install apache2 "
                   "libapache2-mod-auth-openidc): el proveedor OpenID Connect no se puede probar con él")
        helpers.unavailable(message)
    folder = tmp_path_factory.mktemp("relying-party")
    portal_port, rp_port = helpers.free_port(), helpers.free_port()
    with smtp_server(Inbox()) as inbox:
        # ALLOWED_RETURN_HOSTS: the application's address, for the sign-in form posted without
        # JavaScript (its redirect to the application passes the access page's CSP form-action).
        settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'portal.db'}", "MAIL_SERVER": "127.0.0.1",
                    "MAIL_PORT": inbox.port, "PUBLIC_BASE_URL": f"http://127.0.0.1:{portal_port}",
                    "ALLOWED_RETURN_HOSTS": f"127.0.0.1:{rp_port}"}
        portal = LiveServer.portal(folder / "portal.log", folder / "instance", settings, port=portal_port, outbox=True)
        app = portal.build_app()  # the schema, before any worker starts
        rp = RelyingParty(folder / "apache", portal.url, None, None, port=rp_port)
        with app.app_context():
            row, secret = clients.create("Aplicación de prueba (Apache)", [rp.redirect_uri], [rp.logged_out_uri])
            rp.client_id, rp.client_secret = row.client_id, secret
            db.session.remove()
        try:
            portal.start()
            rp.start()
            yield SimpleNamespace(portal=portal, rp=rp, inbox=inbox, app=app)
        finally:
            rp.stop()
            portal.stop()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
