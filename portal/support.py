"""The support CLI: `flask --app wsgi users ...` and `flask --app wsgi audit`."""
import csv
import json
import re
from datetime import UTC, datetime

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from . import accounts, audit, clock, coded_link, lockout, sessions, usernames
from .extensions import db
from .models import AuthEvent, LoginThrottle

users_cli = AppGroup("users", help="Cuentas de usuario (soporte).")
IMPORT_COLUMNS = ("username", "name", "email", "password_hash", "temporary_password", "question", "answer",
                  "last_login")
LEGACY_HASH = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")


def init_app(app):
    app.cli.add_command(users_cli)
    app.cli.add_command(audit_command)


def _when(moment):
    return f"{clock.local(moment):%Y-%m-%d %H:%M %Z}" if moment else "nunca"


def _utc(text):
    """A naive UTC datetime from an ISO date or date-time (local times are taken as UTC)."""
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _iso_option(value, option):
    try:
        return _utc(value) if value else None
    except ValueError:
        raise click.BadParameter("use una fecha ISO, p. ej. 2026-05-31 o 2026-05-31T14:30", param_hint=option) from None


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
@click.option("--last-login", "last_login", default=None, help="Último ingreso, fecha ISO (migraciones).")
def create_command(username, password, email, name, question, answer, last_login):
    """Create an account."""
    when = _iso_option(last_login, "--last-login")
    try:
        user = accounts.create_user(username, password, email, name, question, answer, when)
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
    user.disabled = True
    sessions.revoke_all(user)
    audit.record("account_disabled", user.username, "ok", "cli")
    db.session.commit()
    click.echo(f"Usuario {user.username} deshabilitado; sus sesiones se cerraron.")


@users_cli.command("enable")
@click.argument("username")
def enable_command(username):
    """Enable a disabled account again."""
    user = _existing(username)
    user.disabled = False
    audit.record("account_enabled", user.username, "ok", "cli")
    db.session.commit()
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
    reader = csv.DictReader(csv_file)
    missing = [c for c in ("username", "email") if c not in (reader.fieldnames or ())]
    unknown = [c for c in (reader.fieldnames or ()) if c not in IMPORT_COLUMNS]
    if missing or unknown:
        raise click.ClickException(
            f"Encabezado no válido. Faltan: {', '.join(missing) or '-'}; sobran: {', '.join(unknown) or '-'}. "
            f"Columnas: {', '.join(IMPORT_COLUMNS)}.")
    accepted, rejected, seen = [], [], {}
    for number, row in enumerate(reader, start=2):
        row = {key: (value or "").strip() for key, value in row.items() if key}
        reason = _import_problem(row, seen, number)
        name = usernames.canonical(row.get("username", "")) or "-"
        if reason:
            rejected.append((number, name, reason))
            continue
        seen[name] = number
        accepted.append((number, name, row))
    if not dry_run and accepted:
        try:
            for _number, name, row in accepted:
                temporary = row.get("temporary_password")
                accounts.create_user(
                    name, temporary, row["email"], row.get("name", ""),
                    row.get("question") or None, row.get("answer") or None,
                    _utc(row["last_login"]) if row.get("last_login") else None,
                    password_hash=None if temporary else row["password_hash"], commit=False)
            db.session.commit()
        except Exception as error:
            db.session.rollback()
            raise click.ClickException(f"No se importó nada: {error}") from error
    for number, name, _ in accepted:
        click.echo(f"Fila {number} ({name}): {'válida' if dry_run else 'importada'}")
    for number, name, reason in rejected:
        click.echo(f"Fila {number} ({name}): rechazada: {reason}")
    verb = "Válidas" if dry_run else "Importadas"
    click.echo(f"{verb}: {len(accepted)}. Rechazadas: {len(rejected)}.")


def _import_problem(row, seen, number):
    """Why a CSV row cannot be imported, or None."""
    typed = row.get("username", "")
    name = usernames.canonical(typed)
    if not name:
        return "falta el usuario"
    if len(name) > usernames.MAX_LENGTH:
        return f"el usuario pasa de {usernames.MAX_LENGTH} caracteres"
    if name in seen:
        return f"usuario repetido (ya está en la fila {seen[name]})"
    if accounts.find(name) is not None:
        return "el usuario ya existe en el portal"
    if not accounts.valid_email(row.get("email", "")):
        return f"correo no válido: {row.get('email', '')!r}"
    legacy, temporary = row.get("password_hash", ""), row.get("temporary_password", "")
    if bool(legacy) == bool(temporary):
        return "lleva una de dos: password_hash (bcrypt del sistema anterior) o temporary_password"
    if legacy and not LEGACY_HASH.match(legacy):
        return "password_hash no es un hash bcrypt ($2a$/$2b$/$2y$)"
    question, answer = row.get("question", ""), row.get("answer", "")
    if temporary and (question or answer):
        return ("con contraseña temporal la pregunta secreta la elige el usuario al entrar: "
                "deje question y answer vacías")
    if bool(question) != bool(answer):
        return "la pregunta secreta y su respuesta van juntas"
    if row.get("last_login"):
        try:
            _utc(row["last_login"])
        except ValueError:
            return f"last_login no es una fecha ISO: {row['last_login']!r}"
    return None


@click.command("audit")
@click.option("--user", "username", default=None, help="Usuario (se normaliza).")
@click.option("--kind", default=None, help="Tipo de evento: login, lock, reminder, link_opened, password_changed…")
@click.option("--outcome", default=None, help="Resultado: ok, invalid, locked…")
@click.option("--since", default=None, help="Desde (fecha ISO, UTC).")
@click.option("--until", default=None, help="Hasta (fecha ISO, UTC).")
@click.option("--limit", default=100, show_default=True, help="Máximo de eventos (los más recientes).")
@click.option("--json", "as_json", is_flag=True, help="Una línea JSON por evento.")
@with_appcontext
def audit_command(username, kind, outcome, since, until, limit, as_json):
    """Authentication events, filtered by user, kind, outcome and time."""
    query = select(AuthEvent).order_by(AuthEvent.at.desc(), AuthEvent.id.desc()).limit(limit)
    if username:
        query = query.where(AuthEvent.username == usernames.canonical(username))
    if kind:
        query = query.where(AuthEvent.kind == kind)
    if outcome:
        query = query.where(AuthEvent.outcome == outcome)
    if since:
        query = query.where(AuthEvent.at >= _iso_option(since, "--since"))
    if until:
        query = query.where(AuthEvent.at <= _iso_option(until, "--until"))
    events = list(reversed(db.session.scalars(query).all()))
    for event in events:
        if as_json:
            click.echo(json.dumps({"at": event.at.isoformat(), "user": event.username, "kind": event.kind,
                                   "outcome": event.outcome, "ip": event.client_ip, "detail": event.detail},
                                  ensure_ascii=False))
        else:
            detail = f" {event.detail}" if event.detail else ""
            click.echo(f"{event.at:%Y-%m-%d %H:%M:%S}  {event.kind:<18} {event.outcome:<12} "
                       f"{event.username:<22} {event.client_ip}{detail}")
    if not as_json:
        click.echo(f"{len(events)} evento(s).")
