"""The database: created on first start, plus the `init-db` and `demo-seed` commands."""
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from . import clock
from .extensions import db
from .models import LoginThrottle


def init_app(app):
    with app.app_context():
        db.create_all()
    app.cli.add_command(init_db)
    app.cli.add_command(demo_seed)


@click.command("init-db")
@with_appcontext
def init_db():
    """Create the tables that do not exist yet."""
    db.create_all()
    click.echo(f"Base de datos lista: {db.engine.url.render_as_string(hide_password=True)}")


DEMO_PASSWORD = "Factura.2026"
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
    from . import accounts

    if current_app.config["PORTAL_ENV"] != "development":
        raise click.ClickException("Las cuentas de demostración solo existen en desarrollo (PORTAL_ENV=development).")
    now = clock.now()
    click.echo(f"Cuentas de demostración (contraseña de todas: {DEMO_PASSWORD}):")
    for username, name, state in DEMO_ACCOUNTS:
        user = accounts.find(username)
        if user is None:
            question, answer = ("¿Nombre de su primera mascota?", "Firulais")
            if username.startswith("CT."):
                question = answer = None
            user = accounts.create_user(username, DEMO_PASSWORD, f"{username.lower()}@demo.efactura.example",
                                        name=name, question=question, answer=answer)
        user.disabled = False
        user.reactivated_at = None
        user.created_at = now - timedelta(days=400) if username.startswith("PRV.") else now
        user.last_login_at = now - timedelta(days=200) if username.startswith("PRV.") else None
        click.echo(f"  {username:<20} {state}")
    _one_failure_from_lock("usr.LOPJ750315XY2", now)
    db.session.commit()


def _one_failure_from_lock(username, now):
    from . import lockout

    lockout.clear(username)
    db.session.add(LoginThrottle(username=username, failures=current_app.config["LOGIN_MAX_ATTEMPTS"] - 1,
                                 last_failure_at=now))
