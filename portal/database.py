"""The database: its URL, its schema (Alembic migrations, brought up to date on start under a
lock, so several workers and machines can start at once), and the `demo-seed` command."""
import fcntl
import os
from contextlib import contextmanager
from datetime import timedelta

import click
import flask_migrate
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import event, text

from . import clock
from .extensions import db, migrate
from .models import LoginThrottle

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
ADVISORY_LOCK = 731_2026  # any fixed number: one schema upgrade at a time on PostgreSQL


def engine_url(url):
    """SQLAlchemy URL for a DATABASE_URL as hosting services write it (psycopg 3 driver)."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def init_app(app):
    migrate.init_app(app, db, directory=MIGRATIONS)
    app.cli.add_command(demo_seed)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        if app.config.get("AUTO_MIGRATE", True):
            upgrade_schema()


def _sqlite_pragmas(connection, _record):
    """Write-ahead log: readers never wait for the writer, and a commit costs one sync, not
    several (the embedded default serves several gunicorn workers too)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upgrade_schema():
    """Apply pending migrations; concurrent starters wait for each other."""
    with _schema_lock():
        flask_migrate.upgrade(directory=MIGRATIONS)


@contextmanager
def _schema_lock():
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK})
                connection.commit()
        return
    path = os.path.join(current_app.instance_path, "schema.lock")
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


DEMO_PASSWORD = "Factura.2026"  # development only  # noqa: S105  # nosec B105
DEMO_ANSWER = "Firulais"  # the answer to the demo accounts' secret question (development only)
DEMO_ACCOUNTS = (
    ("GOMA800101AB1", "María Gómez Alonso", "activa: entra con la contraseña"),
    ("usr.LOPJ750315XY2", "Juan López Pérez", "a un fallo del bloqueo: una contraseña errónea lo bloquea"),
    ("PRV.SIN010203AB4", "Servicios Integrales del Norte", "inactiva: más de seis meses sin entrar"),
    ("CT.PEMA900101QR5", "Ana Pérez Martínez", "primer ingreso: sin pregunta secreta"),
)


@click.command("demo-seed")
@with_appcontext
def demo_seed():
    """Create one demo account per state (development only) and print them."""
    from . import accounts, lockout, secret_question

    if current_app.config["PORTAL_ENV"] != "development":
        raise click.ClickException("Las cuentas de demostración solo existen en desarrollo (PORTAL_ENV=development).")
    now = clock.now()
    for username, name, _ in DEMO_ACCOUNTS:
        user = accounts.find(username)
        if user is None:
            question, answer = (secret_question.QUESTIONS[0], DEMO_ANSWER)
            if username.startswith("CT."):
                question = answer = None
            user = accounts.create_user(username, DEMO_PASSWORD, f"{username.lower()}@demo.efactura.example",
                                        name=name, question=question, answer=answer)
        user.disabled = False
        user.reactivated_at = None
        inactive = username.startswith("PRV.")
        user.created_at = now - timedelta(days=400) if inactive else now
        user.last_login_at = now - timedelta(days=200) if inactive else None
    lockout.clear("usr.LOPJ750315XY2")
    db.session.add(LoginThrottle(username="usr.LOPJ750315XY2", failures=current_app.config["LOGIN_MAX_ATTEMPTS"] - 1,
                                 last_failure_at=now))
    db.session.commit()
    click.echo(f"\nCuentas de demostración (contraseña de todas: {DEMO_PASSWORD}; respuesta secreta: {DEMO_ANSWER}):")
    for username, _, state in DEMO_ACCOUNTS:
        click.echo(f"  {username:<20} {state}")
    click.echo("Los correos (avisos, enlaces de recuperación) quedan en instance/outbox/.\n")
    _seed_staff()


DEMO_STAFF_PASSWORD = "Soporte.Demo.2026"  # development only  # noqa: S105  # nosec B105
# Fixed TOTP secrets of the demo staff (development only): add them to an authenticator app.
DEMO_STAFF = (("agente", "soporte", "DEMOAGENTEDEMOAGENTEDEMOAGENTE22"),  # nosec B105
              ("admin", "administrador", "DEMOADMINDEMOADMINDEMOADMINDEMO2"))  # nosec B105


def _seed_staff():
    """One agent and one administrator of the support console, with fixed TOTP secrets."""
    from . import lockout, passwords, staff

    for name, role, secret in DEMO_STAFF:
        member = staff.find(name)
        if member is None:
            member, _link = staff.create(name, f"{name}@soporte.demo.efactura.example", role, "demo-seed")
        member.password_hash = passwords.hash_password(DEMO_STAFF_PASSWORD)
        member.setup_code_hash = member.setup_expires_at = None
        member.totp_secret, member.totp_last_step, member.disabled = secret, None, False
        lockout.clear(staff.key(name))
    db.session.commit()
    click.echo(f"Consola de soporte: {current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/soporte "
               f"(contraseña de ambos: {DEMO_STAFF_PASSWORD}; segundo factor TOTP):")
    for name, role, secret in DEMO_STAFF:
        click.echo(f"  {name:<8} {role:<14} clave TOTP {secret}  (código de ahora: "
                   f"{PYTHON_TOTP.format(secret=secret)})")
    click.echo("")


PYTHON_TOTP = ".venv/bin/python -c \"import pyotp; print(pyotp.TOTP('{secret}').now())\""
