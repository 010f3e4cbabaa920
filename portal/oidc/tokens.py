"""Authorization codes and tokens as the database keeps them: hashed, revocable, and claimed
by one conditional UPDATE each, so that under any concurrency, across workers and machines, a
code or a refresh token is exchanged once.

Authlib's grants save the new token before they delete the code they were given; so the code
is claimed (used_at set where it was still unset) as soon as it is looked up, before anything
is issued: of two exchanges of one code, exactly one finds it unclaimed. A code seen again
after it was claimed is a replay: it is refused and the tokens issued from it are revoked
(RFC 6749 section 4.1.2). A refresh token is claimed the same way (its row revoked), and one
presented again after that revokes every token of its line.

Tokens of a user are revoked when support disables the account or the password changes
(revoke_user), and a token whose user is disabled or whose password changed since it was
issued is refused anyway (usable).
"""
import hashlib
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from .. import accounts, clock, passwords
from ..extensions import db
from ..models import OidcCode, OidcToken, User

KEPT = timedelta(days=1)  # a used code is remembered this long after it expired (replays are refused)


def digest(value):
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def save_code(code, client_id, user, redirect_uri, scope, nonce, challenge, method, auth_time):
    now = clock.now()
    row = OidcCode(code_hash=digest(code), client_id=client_id, user_id=user.id, redirect_uri=redirect_uri,
                   scope=scope, nonce=nonce, code_challenge=challenge, code_challenge_method=method,
                   auth_time=auth_time, password_marker=passwords.marker(user.password_hash), created_at=now,
                   expires_at=now + timedelta(seconds=current_app.config["OIDC_CODE_SECONDS"]))
    db.session.add(row)
    db.session.commit()
    return row


REPLAYED, EXPIRED, UNKNOWN, OTHER_CLIENT = "replayed", "expired", "unknown", "other_client"


def claim_code(code, client_id):
    """(the code's row, None) when this call claimed it, else (the row or None, why): UNKNOWN,
    OTHER_CLIENT (left unclaimed for its own client), EXPIRED, REPLAYED (the tokens issued
    from it revoked)."""
    if not isinstance(code, str) or not code or len(code) > 200:
        return None, UNKNOWN
    row = db.session.scalar(select(OidcCode).where(OidcCode.code_hash == digest(code)))
    if row is None:
        return None, UNKNOWN
    if row.client_id != client_id:
        return row, OTHER_CLIENT
    now = clock.now()
    if row.used_at is None and row.expires_at <= now:
        return row, EXPIRED
    claimed = db.session.execute(update(OidcCode).where(OidcCode.id == row.id, OidcCode.used_at.is_(None))
                                 .values(used_at=now)).rowcount
    db.session.expunge(row)  # what was read stays readable after the commit, without reading it again
    db.session.commit()
    if claimed != 1:
        revoke_line(row.id)
        db.session.commit()
        return row, REPLAYED
    return row, None


def save_token(token, client_id, user, scope, code_id, auth_time, password_marker):
    """Add the tokens' row to the transaction (the caller commits, with its auth event)."""
    now = clock.now()
    refresh = token.get("refresh_token")
    row = OidcToken(client_id=client_id, user_id=user.id, code_id=code_id, access_hash=digest(token["access_token"]),
                    refresh_hash=digest(refresh) if refresh else None, scope=scope or "", auth_time=auth_time,
                    password_marker=password_marker, issued_at=now,
                    expires_at=now + timedelta(seconds=int(token["expires_in"])),
                    refresh_expires_at=now + timedelta(days=current_app.config["OIDC_REFRESH_TOKEN_DAYS"])
                    if refresh else None)
    db.session.add(row)
    return row


def claim_refresh(refresh_token, client_id):
    """(the token row, None) when this call claimed the refresh token (the row is revoked: the
    new tokens replace it), else (the row or None, why); a refresh token presented again after
    it was used revokes its whole line."""
    if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > 200:
        return None, UNKNOWN
    row = db.session.scalar(select(OidcToken).where(OidcToken.refresh_hash == digest(refresh_token)))
    if row is None:
        return None, UNKNOWN
    if row.client_id != client_id:
        return row, OTHER_CLIENT
    now = clock.now()
    if row.revoked_at is None and row.refresh_expires_at is not None and row.refresh_expires_at <= now:
        return row, EXPIRED
    claimed = db.session.execute(update(OidcToken).where(OidcToken.id == row.id, OidcToken.revoked_at.is_(None))
                                 .values(revoked_at=now)).rowcount
    db.session.expunge(row)
    db.session.commit()
    if claimed != 1:
        if row.code_id is not None:
            revoke_line(row.code_id)
            db.session.commit()
        return row, REPLAYED
    return row, None


def find_access(access_token):
    if not isinstance(access_token, str) or not access_token or len(access_token) > 200:
        return None
    return db.session.scalar(select(OidcToken).where(OidcToken.access_hash == digest(access_token)))


def user_may_have_tokens(user, password_marker):
    """Whether tokens issued under this password marker still stand for the user: the account
    exists, is not disabled or inactive, and its password did not change since."""
    return (user is not None and accounts.blocked(user) is None
            and passwords.marker(user.password_hash) == password_marker)


def usable(row):
    """Whether an access token row is good for a request now."""
    if row is None or row.revoked_at is not None or row.expires_at <= clock.now():
        return False
    return user_may_have_tokens(db.session.get(User, row.user_id), row.password_marker)


def _revoke(*conditions):
    return db.session.execute(update(OidcToken).where(OidcToken.revoked_at.is_(None), *conditions)
                              .values(revoked_at=clock.now())).rowcount


def revoke_line(code_id):
    """Every token issued from one code, and from their refresh tokens (the caller commits)."""
    return _revoke(OidcToken.code_id == code_id)


def revoke_user(user):
    """Every token of the user (the caller commits): the account was disabled, or its password changed."""
    return _revoke(OidcToken.user_id == user.id)


def revoke_client(client_id):
    return _revoke(OidcToken.client_id == client_id)


def purge():
    """Codes past their time and tokens that can no longer be used (nor show a replay) go."""
    now = clock.now()
    done = db.session.execute(delete(OidcCode).where(OidcCode.expires_at < now - KEPT)).rowcount
    done += db.session.execute(delete(OidcToken).where(
        OidcToken.expires_at < now - KEPT,
        (OidcToken.refresh_expires_at.is_(None)) | (OidcToken.refresh_expires_at < now - KEPT))).rowcount
    db.session.commit()
    return done


def nonce_used(client_id, nonce):
    """Whether a code was already issued to this client with this nonce (a replayed request)."""
    return db.session.scalar(select(OidcCode.id).where(OidcCode.client_id == client_id, OidcCode.nonce == nonce)
                             .limit(1)) is not None
