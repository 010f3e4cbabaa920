"""Production footing: PostgreSQL + Redis shared by several gunicorn servers, outages, migrations.

These tests start real servers and services on 127.0.0.1 only, bounded in time and count.
"""
import http.client
import logging
import os
import re
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy

import pytest
import sqlalchemy
from live_server import LiveServer

from helpers import CAPTCHA, PASSWORD, Visitor, free_port
from portal import accounts, passwords
from portal.extensions import db
from portal.models import AuthEvent, LoginThrottle, User

pytestmark = pytest.mark.services


@pytest.fixture
def live(services, make_app, smtp, tmp_path):
    """Two gunicorn servers sharing one PostgreSQL and one Redis, and an app to look at the data."""
    database_url, redis_url = services
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_STORAGE_URI": redis_url,
                "RATELIMIT_KEY_PREFIX": f"live-{uuid.uuid4().hex}", "RATELIMIT_ENABLED": True,
                "RATELIMIT_LOGIN": "1000/minute", "RATELIMIT_CAPTCHA": "10/minute", "RATELIMIT_PAGES": "1000/minute",
                "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port}
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        accounts.create_user("GOMA800101AB1", PASSWORD, "maria@example.com", name="María Gómez",
                             question="¿Cuál es su platillo favorito?", answer="Verde")
        # a slower hash, so that concurrent attempts really overlap
        db.session.scalar(db.select(User)).password_hash = passwords.hash_password(PASSWORD, rounds=10)
        db.session.commit()
    instance = tmp_path / "live"
    with (LiveServer.portal(tmp_path / "first.log", instance, settings, outbox=True) as first,
          LiveServer.portal(tmp_path / "second.log", instance, settings, outbox=True) as second):
        yield app, (first, second)


def prepared_attacker(base):
    visitor = Visitor()
    visitor.start(base)
    # each attacker holds a solved CAPTCHA, while the refresh's rate limit lets it have one
    _, page, _ = visitor.request(base + "/captcha/nuevo")
    shown = re.search(r'name="captcha_id" value="([^"]+)"', page)
    visitor.challenge = shown.group(1) if shown else ""
    return visitor


def test_two_servers_share_locks_links_and_limits(live, smtp):
    app, (first, second) = live
    attackers = [prepared_attacker(first.url if i % 2 else second.url) for i in range(200)]
    bases = [first.url if i % 2 else second.url for i in range(200)]
    wrong = {"username": "GOMA800101AB1", "password": "Equivocada.1", "captcha": CAPTCHA}

    def attack(i):
        try:
            return attackers[i].request(bases[i] + "/entrar", {**wrong, "captcha_id": attackers[i].challenge})[0]
        except (OSError, http.client.HTTPException):
            return "cut"  # the worker serving it was killed (before or while it answered)

    with ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(attack, i) for i in range(200)]
        time.sleep(0.3)
        os.kill(first.workers()[0], signal.SIGKILL)  # a worker dies mid-load
        statuses = [f.result() for f in futures]

    answered = statuses.count(200)
    assert answered >= 150, statuses
    with app.app_context():
        # Evaluated: the wrong passwords, and any attempt whose worker was killed while it hashed.
        evaluated = db.session.scalar(db.select(db.func.count()).select_from(AuthEvent).where(
            AuthEvent.kind == "login", AuthEvent.outcome.in_(["invalid", "interrupted"])))
        assert evaluated == app.config["LOGIN_MAX_ATTEMPTS"]
        row = db.session.get(LoginThrottle, "GOMA800101AB1")
        assert row.failures == 5 and row.locked_until is not None
        recorded = db.session.scalar(db.select(db.func.count()).select_from(AuthEvent).where(AuthEvent.kind == "login"))
        assert answered <= recorded <= 200  # every answered attempt left its event
        assert db.session.scalar(db.select(User)).username == "GOMA800101AB1"

    for server in (first, second):  # the lock is seen by both, even with the right password
        visitor = prepared_attacker(server.url)
        _, page, _ = visitor.request(server.url + "/entrar", {"username": "GOMA800101AB1", "password": PASSWORD,
                                                              "captcha": CAPTCHA, "captcha_id": visitor.challenge})
        assert 'id="lockout"' in page

    # A coded link issued through one server works once, on the other.
    visitor = Visitor()
    visitor.start(first.url)
    visitor.request(first.url + "/recuperar", {"username": "GOMA800101AB1"})
    visitor.request(first.url + "/recuperar/recordatorio", {})
    [envelope] = smtp.wait_for(2)[-1:]
    text = message_from_bytes(envelope.content, policy=policy.default).get_body(("plain",)).get_content()
    code = re.search(r"/request/codedAccess\?code=(\S+)", text).group(1)
    opener = Visitor()
    status, _, headers = opener.request(f"{second.url}/request/codedAccess?code={code}")
    assert status == 303 and headers["Location"].endswith("/recuperar/enlace/continuar")
    _, page, _ = opener.request(f"{second.url}/recuperar/enlace/continuar")
    opener.token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    status, _, headers = opener.request(f"{second.url}/recuperar/enlace/continuar", {})  # «continuar»
    assert status == 303 and headers["Location"].endswith("/cambiar-contrasena")
    status, _, headers = Visitor().request(f"{first.url}/request/codedAccess?code={code}")
    assert status == 303 and "motivo=used" in headers["Location"]

    # One rate limit across both servers (CAPTCHA refresh: 10 a minute per client address).
    visitor = Visitor()
    codes = [visitor.request((first if i % 2 else second).url + "/captcha/nuevo")[0] for i in range(12)]
    assert codes.count(200) <= 10 and codes[-1] == 429


def start_redis(port):
    process = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _answers(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    return process


@pytest.fixture
def private_redis():
    """A Redis of this test's own, so that stopping it disturbs nobody else."""
    port = free_port()
    process = start_redis(port)
    yield process, f"redis://127.0.0.1:{port}"
    process.kill()
    process.wait()


def _answers(port):
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_sign_in_keeps_working_and_limited_when_redis_stops(services, make_app, private_redis, caplog):
    from helpers import login

    process, url = private_redis
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=url, RATELIMIT_LOGIN="4/minute")
    with app.app_context():
        accounts.create_user("GOMA800101AB1", PASSWORD, "maria@example.com")
    client = app.test_client()
    assert login(client, "GOMA800101AB1", PASSWORD).status_code == 303
    assert app.test_client().get("/healthz").json["rate_limit_storage"] == "ok"
    process.kill()
    process.wait()
    statuses = [login(app.test_client(), "GOMA800101AB1", PASSWORD).status_code for _ in range(5)]
    assert statuses[0] == 303  # signing in still works
    assert 429 in statuses  # and the limits hold, in memory
    assert app.test_client().get("/healthz").json["rate_limit_storage"] == "fallback"


def test_the_switches_to_memory_and_back_are_logged_and_healthz_tells_what_is_used(services, make_app, caplog):
    """Found by the fault-injection run: the return to Redis was not logged and /healthz said
    "ok" while the workers still counted in memory. /healthz answers for its worker now; both
    switches are logged (and a refused request is not)."""
    from helpers import login

    port = free_port()
    process = start_redis(port)
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}",
                   RATELIMIT_LOGIN="2/minute")

    def attempt():
        return login(app.test_client(), "XAXX010101000", "x").status_code

    def health():
        return app.test_client().get("/healthz").json

    def until_shared(statuses):
        deadline = time.monotonic() + 40  # Flask-Limiter looks at the storage again with back-off
        while health()["rate_limit_storage"] != "ok" and time.monotonic() < deadline:
            statuses.append(attempt())
            time.sleep(0.5)
        return health()

    statuses = []
    try:
        with caplog.at_level(logging.INFO, logger="flask-limiter"):
            # (an earlier test of this process may have left the module's limiter in fallback)
            assert until_shared(statuses) == {"status": "ok", "database": "ok", "rate_limit_storage": "ok",
                                              "shared_storage": "ok"}
            process.kill()
            process.wait()
            statuses.append(attempt())
            assert health() == {"status": "ok", "database": "ok", "rate_limit_storage": "fallback",
                                "shared_storage": "unreachable"}
            process = start_redis(port)
            assert health()["rate_limit_storage"] == "fallback" and health()["shared_storage"] == "ok"  # not used yet
            assert until_shared(statuses)["rate_limit_storage"] == "ok"
            statuses += [attempt() for _ in range(3)]
        assert 429 in statuses  # some were refused, and:
        messages = [record.getMessage() for record in caplog.records if record.name == "flask-limiter"]
        assert any("falling back to in-memory" in message for message in messages)
        assert any("recovered" in message for message in messages)
        assert not any("exceeded" in message for message in messages)
    finally:
        process.kill()
        process.wait()


def test_healthz_reports_the_database_and_no_secrets(services, make_app):
    database_url, redis_url = services
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_ENABLED=True)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "rate_limit_storage": "ok", "shared_storage": "ok"}
    assert "postgres" not in response.get_data(as_text=True)
    down = make_app(SQLALCHEMY_DATABASE_URI=f"postgresql://postgres@127.0.0.1:{free_port()}/test",
                    AUTO_MIGRATE=False)
    response = down.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["database"] == "unreachable"


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_migrations_build_the_schema_of_the_models(engine, services, tmp_path, make_app):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from portal.database import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'migrated.db'}" if engine == "sqlite" else services[0]
    app = make_app(SQLALCHEMY_DATABASE_URI=url)  # migrates on start
    make_app(SQLALCHEMY_DATABASE_URI=url)  # a second start finds nothing to do
    with app.app_context():
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
            version = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    assert differences == []
    assert version == ScriptDirectory(MIGRATIONS).get_current_head()  # every migration applied


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_kept_captcha_image_migrates_down_and_up(engine, services, tmp_path, make_app):
    import flask_migrate

    from portal.database import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'migrated.db'}" if engine == "sqlite" else services[0]
    app = make_app(SQLALCHEMY_DATABASE_URI=url)  # migrates on start

    def columns():
        return {column["name"] for column in sqlalchemy.inspect(db.engine).get_columns("captcha_challenges")}

    with app.app_context():
        assert "image" in columns()
        flask_migrate.downgrade(directory=MIGRATIONS, revision="0002")
        db.engine.dispose()
        assert "image" not in columns() and "audio" in columns()
        flask_migrate.upgrade(directory=MIGRATIONS)
        db.engine.dispose()
        assert "image" in columns()
