"""The applications that sign people in through the portal (OpenID Connect clients), and the
support CLI that registers them: `flask --app wsgi clients create|list|disable`.

A client is the service's own application, registered by support: no consent screen. A
confidential client gets a secret, shown once and kept as a SHA-256 hash (it is 256 random
bits: a slow hash would add nothing but cost at every token request); a public client (a
native or browser application) has none. Either way PKCE (S256) is required. Redirect URIs
match exactly, and are `https`, or `http` on a loopback address only (RFC 8252, native apps).
"""
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

import click
from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list
from flask.cli import AppGroup
from sqlalchemy import select

from .. import audit, clock
from ..extensions import db
from ..models import OidcClient
from ..return_target import is_loopback
from . import tokens

SCOPES = ("openid", "profile", "email")
clients_cli = AppGroup("clients", help="Aplicaciones que inician sesión con el portal (OpenID Connect).")


def _secret_hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def uri_problem(uri):
    """Why a redirect URI cannot be registered, in words; None when it can."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return f"{uri!r} no es una dirección válida."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{uri!r} debe ser una dirección https://… completa."
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"{uri!r}: http solo se admite en la dirección local (127.0.0.1, [::1], localhost); use https."
    if parts.fragment or "#" in uri:
        return f"{uri!r} no puede llevar un fragmento (#…)."
    if "*" in uri:
        return f"{uri!r}: no se admiten comodines; registre cada dirección completa."
    if parts.username or parts.password:
        return f"{uri!r} no puede llevar usuario ni contraseña."
    return None


class Client(ClientMixin):
    """A registered client as Authlib's grants see it."""

    def __init__(self, row):
        self.row = row
        self.client_id = row.client_id

    @property
    def client_metadata(self):
        return {"post_logout_redirect_uris": list(self.row.post_logout_uris or [])}

    @property
    def is_public(self):
        return self.row.secret_hash is None

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # every authorization request names its redirect URI

    def get_allowed_scope(self, scope):
        """The requested scopes this portal knows; None (refused) without `openid`."""
        asked = scope_to_list(scope) or []
        if "openid" not in asked:
            return None
        return " ".join(s for s in SCOPES if s in asked)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in (self.row.redirect_uris or [])

    def check_client_secret(self, client_secret):
        if self.row.secret_hash is None or not client_secret:
            return False
        return hmac.compare_digest(self.row.secret_hash, _secret_hash(client_secret))

    def check_endpoint_auth_method(self, method, endpoint):
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        if grant_type == "refresh_token":
            return self.row.refresh_tokens
        return grant_type == "authorization_code"


def find(client_id):
    """The enabled client with this id, as Authlib's Client; None otherwise."""
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    row = db.session.get(OidcClient, client_id)
    if row is None or row.disabled_at is not None:
        return None
    return Client(row)


def create(name, redirect_uris, post_logout_uris=(), public=False, refresh=False):
    """Register a client; (its row, its secret or None). ValueError with a message for a bad input."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValueError("El nombre de la aplicación está vacío o es demasiado largo (máximo 120 caracteres).")
    if not redirect_uris:
        raise ValueError("Registre al menos una dirección de regreso (--redirect-uri).")
    for uri in (*redirect_uris, *post_logout_uris):
        problem = uri_problem(uri)
        if problem:
            raise ValueError(problem)
    secret = None if public else secrets.token_urlsafe(32)
    row = OidcClient(client_id=secrets.token_urlsafe(18), name=name,
                     secret_hash=_secret_hash(secret) if secret else None,
                     redirect_uris=list(dict.fromkeys(redirect_uris)),
                     post_logout_uris=list(dict.fromkeys(post_logout_uris)),
                     refresh_tokens=bool(refresh), created_at=clock.now())
    db.session.add(row)
    audit.record("oidc_client_created", "-", "ok", "cli", client_id=row.client_id, client=name,
                 public=bool(public), refresh=bool(refresh))
    db.session.commit()
    return row, secret


def disable(client_id):
    """Disable a client and revoke every token it holds; the number revoked."""
    row = db.session.get(OidcClient, client_id)
    if row is None:
        raise ValueError(f"No hay una aplicación con el id {client_id}.")
    row.disabled_at = row.disabled_at or clock.now()
    revoked = tokens.revoke_client(client_id)
    audit.record("oidc_client_disabled", "-", "ok", "cli", client_id=client_id, tokens_revoked=revoked)
    db.session.commit()
    return revoked


def init_app(app):
    app.cli.add_command(clients_cli)


@clients_cli.command("create")
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="Dirección de regreso exacta (https, o http solo en 127.0.0.1); puede repetirse.")
@click.option("--post-logout-uri", "post_logout_uris", multiple=True,
              help="Dirección a la que se vuelve tras cerrar sesión; puede repetirse.")
@click.option("--public", is_flag=True, help="Aplicación pública (nativa o de navegador): sin secreto.")
@click.option("--refresh", is_flag=True, help="La aplicación recibe tokens de actualización (refresh tokens).")
def create_command(name, redirect_uris, post_logout_uris, public, refresh):
    """Register an application; prints its client_id and, once, its client_secret."""
    try:
        row, secret = create(name, redirect_uris, post_logout_uris, public, refresh)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"client_id: {row.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}")
        click.echo("Guarde el secreto ahora: no se vuelve a mostrar.", err=True)


@clients_cli.command("list")
def list_command():
    """The registered applications."""
    rows = db.session.scalars(select(OidcClient).order_by(OidcClient.created_at)).all()
    for row in rows:
        kind = "pública" if row.secret_hash is None else "confidencial"
        state = "deshabilitada" if row.disabled_at else "activa"
        click.echo(f"{row.client_id}  {row.name}  ({kind}, {state}{', refresh' if row.refresh_tokens else ''})")
        for uri in row.redirect_uris:
            click.echo(f"    regreso: {uri}")
        for uri in row.post_logout_uris:
            click.echo(f"    tras salir: {uri}")
    click.echo(f"{len(rows)} aplicación(es).")


@clients_cli.command("disable")
@click.argument("client_id")
def disable_command(client_id):
    """Disable an application: no more sign-ins through it, and its tokens revoked."""
    try:
        revoked = disable(client_id)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Aplicación {client_id} deshabilitada; {revoked} token(s) revocado(s).")
