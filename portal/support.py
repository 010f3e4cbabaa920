"""The support CLI for accounts: `flask --app wsgi users ...`."""
import click
from flask.cli import AppGroup

from . import accounts, audit, clock, coded_link, legacy_import, lockout, usernames
from .extensions import db
from .models import LoginThrottle
from .oidc import tokens as oidc_tokens

users_cli = AppGroup("users", help="Cuentas de usuario (soporte).")


def init_app(app):
    app.cli.add_command(users_cli)


def _when(moment):
    return f"{clock.local(moment):%Y-%m-%d %H:%M %Z}" if moment else "nunca"




def _existing(username):
    user = accounts.find(username)
    if user is None:
        raise click.ClickException(f"El usuario {usernames.canonical(username)} no existe.")
    return user


@users_cli.command("create")
@click.argument("username")
@click.option("--password", required=True, help="Contraseña inicial.")
@click.option("--email", required=True, help="Correo electrónico registrado.")
@click.option("--name", default="", help="Nombre para mostrar.")
@click.option("--question", default=None, help="Pregunta secreta (sin ella, el primer ingreso la pide).")
@click.option("--answer", default=None, help="Respuesta a la pregunta secreta.")
@click.option("--last-login", "last_login", default=None, callback=clock.option,
              help="Último ingreso, fecha ISO (migraciones).")
def create_command(username, password, email, name, question, answer, last_login):
    """Create an account."""
    try:
        user = accounts.create_user(username, password, email, name, question, answer, last_login)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Usuario {user.username} creado.")


@users_cli.command("show")
@click.argument("username")
def show_command(username):
    """State, locks, failures and last sign-in of an account."""
    name = usernames.canonical(username)
    user = accounts.find(name)
    until = lockout.locked_until(name)
    throttle = db.session.get(LoginThrottle, name)
    if user is None:
        click.echo(f"Usuario {name}: no existe.")
    else:
        state = ("deshabilitado" if user.disabled else "inactivo (bloqueo por inactividad)"
                 if accounts.is_inactive(user, clock.now()) else "activo")
        click.echo(f"Usuario:           {user.username}")
        click.echo(f"Nombre:            {user.display_name}")
        click.echo(f"Correo:            {user.email}")
        click.echo(f"Estado:            {state}")
        click.echo(f"Pregunta secreta:  {'registrada' if user.secret_question else 'pendiente (primer ingreso)'}")
        click.echo(f"Último ingreso:    {_when(user.last_login_at)} desde {user.last_login_ip or '-'}")
    click.echo(f"Fallos seguidos:   {throttle.failures if throttle else 0}")
    click.echo(f"Bloqueo por fallos: {'hasta ' + _when(until) if until else 'no'}")


@users_cli.command("unlock")
@click.argument("username")
def unlock_command(username):
    """Lift the failure lock and the inactivity lock."""
    user = accounts.unlock(username)
    name = user.username if user else usernames.canonical(username)
    click.echo(f"Usuario {name} desbloqueado." if user else f"Usuario {name}: no existe; se borraron sus fallos.")


@users_cli.command("disable")
@click.argument("username")
def disable_command(username):
    """Disable an account: it cannot sign in and its sessions end at once."""
    user = _existing(username)
    revoked = oidc_tokens.revoke_user(user)  # in the same transaction as the rest
    accounts.disable(user, tokens_revoked=revoked)
    click.echo(f"Usuario {user.username} deshabilitado; sus sesiones se cerraron.")


@users_cli.command("enable")
@click.argument("username")
def enable_command(username):
    """Enable a disabled account again."""
    user = _existing(username)
    accounts.enable(user)
    click.echo(f"Usuario {user.username} habilitado.")


@users_cli.command("link")
@click.argument("username")
def link_command(username):
    """Print a fresh coded link for support to send (older links become void)."""
    user = _existing(username)
    link = coded_link.issue(user)
    audit.record("link_issued", user.username, "ok", "cli")
    db.session.commit()
    click.echo(link)


@users_cli.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Solo revisar el archivo; no importar nada.")
def import_command(csv_file, dry_run):
    """Import legacy users from CSV (columns: username, name, email, password_hash,
    temporary_password, question, answer, last_login). Accepted rows go in one transaction;
    a rejected row imports nothing of itself; a report lists both."""
    try:
        review = legacy_import.review(csv_file)
    except legacy_import.BadHeader as error:
        raise click.ClickException(str(error)) from None
    if not dry_run and review.accepted:
        try:
            legacy_import.commit(review.accepted)
        except Exception as error:
            raise click.ClickException(f"No se importó nada: {error}") from error
    for number, name, _ in review.accepted:
        click.echo(f"Fila {number} ({name}): {'válida' if dry_run else 'importada'}")
    for number, name, reason in review.rejected:
        click.echo(f"Fila {number} ({name}): rechazada: {reason}")
    verb = "Válidas" if dry_run else "Importadas"
    click.echo(f"{verb}: {len(review.accepted)}. Rechazadas: {len(review.rejected)}.")
