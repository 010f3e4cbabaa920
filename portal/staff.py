"""Staff accounts of the support console (SPEC section 8): apart from customers' accounts, in
a table of their own, so that no staff name ever signs in on the customer page and no customer
account ever reaches the console. No HTML, no request.

A member is created by `flask --app wsgi staff create` (or by an administrator in the console)
with no password: a one-time set-up link, valid SETUP_LINK_HOURS, lets them choose it. Their
sign-in follows the customers' rules (portal/lockout.py counters and locks, the CAPTCHA after a
failure, passwords.py hashing) under the counter key "soporte:<name>", which no customer name
can take (customer names are RFCs, with or without a prefix); a wrong second-factor code counts
against the same lock.
"""
import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from . import accounts, audit, clock, lockout, passwords, second_factor, staff_session
from .extensions import db
from .models import StaffMember

AGENT, ADMIN = "soporte", "administrador"
ROLES = (AGENT, ADMIN)
ROLE_NAMES = {AGENT: "Soporte", ADMIN: "Administrador"}
SETUP_LINK_HOURS = 72
NAME_SHAPE = re.compile(r"^[a-z][a-z0-9._-]{1,39}$")
KEY_PREFIX = "soporte:"  # the lockout and audit key of a staff name

OK, INVALID, CAPTCHA, LOCKED, DISABLED = "ok", "invalid", "captcha", "locked", "disabled"


@dataclass(frozen=True)
class StaffSignIn:
    outcome: str
    staff: StaffMember | None = None
    locked_until: object = None


def canonical(typed):
    return (typed or "").strip().lower()


def key(name):
    return KEY_PREFIX + canonical(name)


def find(name):
    return db.session.scalar(select(StaffMember).where(StaffMember.name == canonical(name)))


def by_id(staff_id):
    return db.session.get(StaffMember, staff_id) if isinstance(staff_id, int) else None


def everyone():
    return db.session.scalars(select(StaffMember).order_by(StaffMember.name)).all()


def name_problem(name):
    if not NAME_SHAPE.match(canonical(name)):
        return ("El nombre de personal lleva de 2 a 40 letras minúsculas sin acentos, números, puntos, "
                "guiones o guiones bajos, y empieza con una letra.")
    if find(name) is not None:
        return f"Ya existe personal con el nombre {canonical(name)}."
    return None


def create(name, email, role, by, **detail):
    """A new staff member with no password; the set-up link (its only copy). ValueError with a
    message in Spanish for a bad input."""
    problem = name_problem(name)
    if problem is None and role not in ROLES:
        problem = "El rol debe ser soporte o administrador."
    if problem is None and not accounts.valid_email(email):
        problem = f"El correo {email!r} no es válido."
    if problem:
        raise ValueError(problem)
    staff = StaffMember(name=canonical(name), email=email, role=role, created_at=clock.now(), disabled=False)
    db.session.add(staff)
    link = _setup_link(staff)
    audit.record("staff_created", key(staff.name), OK, by, role=role, **detail)
    db.session.commit()
    return staff, link


def _code_hash(code):
    return hashlib.sha256(code.encode()).hexdigest()


def _setup_link(staff):
    code = secrets.token_urlsafe(32)
    staff.setup_code_hash = _code_hash(code)
    staff.setup_expires_at = clock.now() + timedelta(hours=SETUP_LINK_HOURS)
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/soporte/alta?codigo={code}"


def awaiting_setup(code):
    """The staff member a set-up code belongs to while it can be used, else None."""
    if not code or len(code) > 100:
        return None
    staff = db.session.scalar(select(StaffMember).where(StaffMember.setup_code_hash == _code_hash(code)))
    if staff is None or staff.disabled or staff.setup_expires_at is None or staff.setup_expires_at <= clock.now():
        return None
    return staff


def finish_setup(staff, password, client_ip):
    """The chosen password; the link is spent."""
    staff.password_hash = passwords.hash_password(password)
    staff.setup_code_hash = staff.setup_expires_at = None
    audit.record("staff_setup", key(staff.name), OK, client_ip)
    db.session.commit()


def setup_pending(staff):
    return staff.password_hash is None


def authenticate(typed_name, password, client_ip, captcha_shown=False, captcha_solved=lambda: False):
    """The password step: the customers' lock and CAPTCHA rules, under the staff name's key."""
    name = canonical(typed_name)[:64]
    counter = KEY_PREFIX + name
    staff = find(name)
    until = lockout.locked_until(counter)
    if until:
        return _refuse(LOCKED, counter, client_ip, locked_until=until)
    if (captcha_shown or lockout.has_recent_failures(counter)) and not captcha_solved():
        return _refuse(CAPTCHA, counter, client_ip)
    event, claim = _claim("staff_login", counter, client_ip)
    if not claim.granted:
        return StaffSignIn(LOCKED, locked_until=claim.locked_until)
    if staff is None or staff.password_hash is None:
        matches = passwords.verify_dummy(password)
    else:
        matches = passwords.verify_evenly(password, staff.password_hash)
    if not matches:
        audit.settle(event, INVALID)
        db.session.commit()
        return StaffSignIn(LOCKED, locked_until=claim.locked_until) if claim.locks else StaffSignIn(INVALID)
    lockout.clear(counter)
    if staff.disabled:
        audit.settle(event, DISABLED)
        db.session.commit()
        return StaffSignIn(DISABLED)
    audit.settle(event, "password_ok")
    db.session.commit()
    return StaffSignIn(OK, staff)


def _claim(kind, counter, client_ip):
    """One attempt counted before it is checked (the customers' rule): (its event, the claim).
    When no claim is granted (the name is locked), the event is settled LOCKED already."""
    event = audit.begin(kind, counter, client_ip)
    claim = lockout.claim_attempt(counter)
    if claim.locks:
        audit.record("lock", counter, "locked", client_ip, until=claim.locked_until.isoformat())
    db.session.commit()
    if not claim.granted:
        audit.settle(event, LOCKED)
        db.session.commit()
    return event, claim


def _refuse(outcome, counter, client_ip, locked_until=None):
    audit.record("staff_login", counter, outcome, client_ip)
    db.session.commit()
    return StaffSignIn(outcome, locked_until=locked_until)


def confirm_second_factor(staff, code, client_ip, recovery=False):
    """OK, INVALID or LOCKED: a TOTP code (or a recovery code), counted against the name's lock."""
    counter = KEY_PREFIX + staff.name
    until = lockout.locked_until(counter)
    if until:
        return _refuse(LOCKED, counter, client_ip, locked_until=until)
    event, claim = _claim("staff_second_factor", counter, client_ip)
    if not claim.granted:
        return StaffSignIn(LOCKED, locked_until=claim.locked_until)
    good = second_factor.use_recovery_code(staff, code) if recovery else second_factor.check_code(staff, code)
    if not good:
        audit.settle(event, INVALID, via="recovery_code" if recovery else "totp")
        db.session.commit()
        return StaffSignIn(LOCKED, locked_until=claim.locked_until) if claim.locks else StaffSignIn(INVALID)
    lockout.clear(counter)
    signed_in(staff, client_ip)
    audit.settle(event, OK, via="recovery_code" if recovery else "totp")
    db.session.commit()
    return StaffSignIn(OK, staff)


def signed_in(staff, client_ip):
    staff.last_sign_in_at, staff.last_sign_in_ip = clock.now(), client_ip


def allowed_address(address, networks):
    """Whether address may reach the console: STAFF_ALLOWED_NETWORKS (comma-separated networks,
    e.g. "10.0.0.0/8, 192.168.1.0/24"); empty: from anywhere."""
    wanted = [part.strip() for part in (networks or "").split(",") if part.strip()]
    if not wanted:
        return True
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return any(parsed in ipaddress.ip_network(network, strict=False) for network in wanted)


def check_networks(networks):
    """Refuse a malformed STAFF_ALLOWED_NETWORKS at start (a typo must not open the console)."""
    for part in (networks or "").split(","):
        if part.strip():
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError:
                raise RuntimeError(f"STAFF_ALLOWED_NETWORKS: {part.strip()!r} no es una red (p. ej. 10.0.0.0/8).") \
                    from None


def disable(staff, by, reason, agent=None):
    staff.disabled = True
    staff_session.revoke_all(staff)
    audit.record("staff_disabled", key(staff.name), OK, by, reason=reason, agent=agent)
    db.session.commit()


def enable(staff, by, reason, agent=None):
    staff.disabled = False
    audit.record("staff_enabled", key(staff.name), OK, by, reason=reason, agent=agent)
    db.session.commit()


def reset_second_factor(staff, by, reason, agent=None):
    """The next sign-in enrols a new second factor; open sessions end."""
    second_factor.reset(staff)
    staff_session.revoke_all(staff)
    audit.record("staff_second_factor_reset", key(staff.name), OK, by, reason=reason, agent=agent)
    db.session.commit()


staff_cli = AppGroup("staff", help="Personal de soporte (consola /soporte).")


def init_app(app):
    check_networks(app.config.get("STAFF_ALLOWED_NETWORKS"))
    app.cli.add_command(staff_cli)


@staff_cli.command("create")
@click.argument("name")
@click.option("--email", required=True, help="Correo del miembro del personal.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="soporte o administrador.")
def create_command(name, email, role):
    """Create a staff member; prints the one-time set-up link."""
    try:
        staff, link = create(name, email, role, "cli")
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Personal {staff.name} ({ROLE_NAMES[role]}) creado. Enlace de alta (un solo uso, "
               f"{SETUP_LINK_HOURS} horas):\n{link}")


@staff_cli.command("list")
def list_command():
    """Staff members, their role and state."""
    for staff in everyone():
        state = "deshabilitado" if staff.disabled else "alta pendiente" if setup_pending(staff) else (
            "sin segundo factor" if staff.totp_secret is None else "activo")
        click.echo(f"{staff.name:<24} {staff.role:<14} {state}")
