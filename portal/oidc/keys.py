"""The keys ID tokens are signed with (RS256), kept in the database so that every worker and
machine signs with the same one and publishes the same set.

Each key is a row of its own (SigningKey), numbered by generation: the newest signs, and the
JWKS endpoint publishes it with the one before it, so that an ID token signed just before a
rotation still verifies. The private key is stored encrypted (Fernet) under
OIDC_KEY_ENCRYPTION_KEY, which never enters the database: a copy of the database alone signs
nothing. The first key is made at the first start (or, in the tests, the first time one is
needed); `flask --app wsgi keys rotate` adds the next.
"""
import click
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app, g
from flask.cli import AppGroup
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from config import DEFAULT_OIDC_KEY_ENCRYPTION_KEY

from .. import audit, clock
from ..extensions import db
from ..models import SigningKey

ALG = "RS256"
RSA_BITS = 2048
PUBLISHED = 2  # the current key and the one before it

keys_cli = AppGroup("keys", help="Claves de firma de OpenID Connect.")


def encryption_key(config):
    """The Fernet key the private keys are encrypted under: OIDC_KEY_ENCRYPTION_KEY, or the
    contents of the file OIDC_KEY_ENCRYPTION_KEY_FILE; the development default in development
    only. RuntimeError when it is missing or not a Fernet key."""
    value = config.get("OIDC_KEY_ENCRYPTION_KEY")
    path = config.get("OIDC_KEY_ENCRYPTION_KEY_FILE")
    if not value and path:
        try:
            with open(path, encoding="ascii") as handle:
                value = handle.read().strip()
        except OSError as error:
            raise RuntimeError(f"OIDC_KEY_ENCRYPTION_KEY_FILE cannot be read: {error}") from None
    if not value and config.get("PORTAL_ENV") == "development":
        value = DEFAULT_OIDC_KEY_ENCRYPTION_KEY
    if not value:
        raise RuntimeError("OIDC_KEY_ENCRYPTION_KEY (or OIDC_KEY_ENCRYPTION_KEY_FILE) must be set outside development "
                           "(e.g. python -c 'from cryptography.fernet import Fernet; "
                           "print(Fernet.generate_key().decode())').")
    if not config.get("TESTING") and config.get("PORTAL_ENV") != "development" \
            and value == DEFAULT_OIDC_KEY_ENCRYPTION_KEY:
        raise RuntimeError("OIDC_KEY_ENCRYPTION_KEY is the development default; set a key of your own.")
    try:
        return Fernet(value)
    except (ValueError, TypeError):
        raise RuntimeError("OIDC_KEY_ENCRYPTION_KEY must be a Fernet key (32 bytes in URL-safe base64).") from None


def init_app(app):
    """The encryption key checked, and the first signing key made at the first start (RSA key
    generation takes a moment: not in a relying party's first request). The tests make theirs
    when first needed."""
    app.extensions["portal.oidc_fernet"] = encryption_key(app.config)
    app.cli.add_command(keys_cli)
    if app.config.get("AUTO_MIGRATE", True) and not app.config.get("TESTING"):
        with app.app_context():
            current()
            db.session.remove()


def _fernet():
    return current_app.extensions["portal.oidc_fernet"]


def _newest():
    return db.session.scalar(select(SigningKey).order_by(SigningKey.generation.desc()).limit(1))


def add_key(generation):
    """Add a new key of this generation to the session's transaction (the caller commits), unless
    another process stored it first; whether this call added it. (In the caller's transaction,
    not one of its own: on SQLite a second connection would wait for the caller's writes.)"""
    key = RSAKey.generate_key(RSA_BITS, parameters={"use": "sig", "alg": ALG}, auto_kid=True)
    dialect = sqlite if db.engine.dialect.name == "sqlite" else postgresql
    stored = db.session.scalar(dialect.insert(SigningKey).values(
        generation=generation, kid=key.kid, alg=ALG, private_key=_fernet().encrypt(key.as_pem(private=True)),
        public_jwk=key.as_dict(private=False), created_at=clock.now(),
    ).on_conflict_do_nothing().returning(SigningKey.generation))
    return stored == generation


def current():
    """The newest key's row, made (and committed, with whatever the caller's transaction holds)
    when there is none yet."""
    row = _newest()
    if row is None:
        add_key(1)
        db.session.commit()
        row = _newest()
    return row


def signing_key():
    """The private key that signs now (a joserfc key with its kid); decrypted once per kid and
    process, the newest kid read from the database once per request."""
    if "oidc_signing_key" in g:
        return g.oidc_signing_key
    row = current()
    made = current_app.extensions.setdefault("portal.oidc_private_keys", {})
    if row.kid not in made:
        try:
            pem = _fernet().decrypt(row.private_key)
        except InvalidToken:
            raise RuntimeError("The OIDC signing key does not decrypt with OIDC_KEY_ENCRYPTION_KEY.") from None
        made[row.kid] = RSAKey.import_key(pem, parameters={"kid": row.kid, "use": "sig", "alg": row.alg})
    g.oidc_signing_key = made[row.kid]
    return made[row.kid]


def published():
    """The public keys a relying party verifies ID tokens with: the current and the previous."""
    current()
    rows = db.session.scalars(select(SigningKey).order_by(SigningKey.generation.desc()).limit(PUBLISHED)).all()
    return {"keys": [dict(row.public_jwk) for row in rows]}


def public_key_set():
    return KeySet.import_key_set(published())


def rotate():
    """Add the next key (it signs from now on); its kid."""
    for _ in range(5):  # another process may be adding the same generation
        db.session.rollback()  # see the rows other processes committed
        generation = (db.session.scalar(select(func.max(SigningKey.generation))) or 0) + 1
        if add_key(generation):
            audit.record("oidc_key_rotated", "-", "ok", "cli", generation=generation)
            db.session.commit()
            return db.session.scalar(select(SigningKey.kid).where(SigningKey.generation == generation))
    raise RuntimeError("Another process keeps adding signing keys at the same time; try again.")


@keys_cli.command("rotate")
def rotate_command():
    """Add a new signing key; JWKS keeps publishing the previous one beside it."""
    kid = rotate()
    click.echo(f"Nueva clave de firma: {kid}")


@keys_cli.command("list")
def list_command():
    """The signing keys, newest first (the first two are published)."""
    current()
    for number, row in enumerate(db.session.scalars(select(SigningKey).order_by(SigningKey.generation.desc()))):
        state = "firma" if number == 0 else "publicada" if number < PUBLISHED else "retirada"
        click.echo(f"{row.generation:>4}  {row.kid}  {row.alg}  {row.created_at:%Y-%m-%d %H:%M}  {state}")
