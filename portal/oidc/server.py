"""The OpenID Connect provider on Authlib's public API: the authorization code grant with
PKCE (S256 only, for every client) and OpenID Connect's ID token, refresh tokens with
rotation, the userinfo endpoint behind a bearer-token check, and RP-initiated logout.

What Authlib leaves to the application lives beside it: the clients (clients.py), codes and
tokens in the database (tokens.py), the signing keys (keys.py) and the claims (claims.py).
"""
import time
from datetime import datetime

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oidc.core import OpenIDCode, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app, g
from flask import request as flask_request

from .. import audit, clock, sessions
from ..extensions import db
from ..models import OidcClient, User
from . import claims, clients, keys, tokens

EPOCH = datetime(1970, 1, 1)
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def issuer():
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def epoch(moment):
    """Seconds since 1970 of a naive UTC datetime (the portal's clock)."""
    return int((moment - EPOCH).total_seconds())


class S256Only(CodeChallenge):
    """PKCE for every client, confidential or public, and only with S256: Authlib's
    CodeChallenge also takes `plain` (its default when no method is named) and asks a
    confidential client for nothing."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with 'code_challenge_method=S256'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is accepted.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class Code:
    """A claimed authorization code as Authlib's grants read it."""

    def __init__(self, row):
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self):
        return self.row.redirect_uri

    def get_scope(self):
        return self.row.scope

    def get_nonce(self):
        return self.row.nonce

    def get_auth_time(self):
        return epoch(self.row.auth_time)

    def get_acr(self):
        return None

    def get_amr(self):
        return list(claims.AMR)


def _note(username=None, client_id=None, why=None):
    """What the token endpoint learned of this request, for its auth event."""
    if username is not None:
        g.oidc_username = username
    if client_id is not None:
        g.oidc_client_id = client_id
    if why is not None:
        g.oidc_refused = why


def _refused(row, why):
    """Note why a code or refresh token was refused, and whose it was (for the event)."""
    _note(why=why)
    user = db.session.get(User, row.user_id) if row is not None else None
    if user is not None:
        _note(username=user.username)


def _user_for(user_id, password_marker):
    user = db.session.get(User, user_id)
    if user is not None:
        _note(username=user.username)
    if not tokens.user_may_have_tokens(user, password_marker):
        _note(why="account")
        return None
    return user


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, request):
        data = request.payload.data
        tokens.save_code(code, request.client.client_id, request.user, request.payload.redirect_uri, request.scope,
                         data.get("nonce"), data.get("code_challenge"), data.get("code_challenge_method"),
                         self.auth_time)

    def query_authorization_code(self, code, client):
        _note(client_id=client.client_id)
        row, why = tokens.claim_code(code, client.client_id)
        if why is not None:
            _refused(row, why)
            return None
        return Code(row)

    def delete_authorization_code(self, authorization_code):
        """Nothing to do: the code was claimed when it was looked up (tokens.claim_code)."""

    def authenticate_user(self, authorization_code):
        return _user_for(authorization_code.row.user_id, authorization_code.row.password_marker)


class RefreshToken:
    """A claimed refresh token's row as Authlib's refresh grant reads it."""

    def __init__(self, row):
        self.row = row

    def get_scope(self):
        return self.row.scope

    def check_client(self, client):
        return client.client_id == self.row.client_id


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotated on every use

    def authenticate_refresh_token(self, refresh_token):
        client = self.request.client
        _note(client_id=client.client_id)
        row, why = tokens.claim_refresh(refresh_token, client.client_id)
        if why is not None:
            _refused(row, why)
            return None
        return RefreshToken(row)

    def authenticate_user(self, refresh_token):
        return _user_for(refresh_token.row.user_id, refresh_token.row.password_marker)

    def revoke_old_credential(self, refresh_token):
        """Nothing to do: the old one was revoked when it was claimed (tokens.claim_refresh)."""


class OpenIDConnect(OpenIDCode):
    """The ID token: signed RS256 with the current key, with the portal's claims."""

    def exists_nonce(self, nonce, request):
        return tokens.nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client):
        return keys.signing_key()

    def get_client_algorithm(self, client):
        return keys.ALG

    def get_encode_header(self, client):
        return {"alg": keys.ALG, "kid": keys.signing_key().kid, "typ": "JWT"}

    def get_client_claims(self, client):
        now = int(time.time())
        return {"iss": issuer(), "aud": client.get_client_id(), "iat": now,
                "exp": now + current_app.config["OIDC_ID_TOKEN_SECONDS"]}

    def generate_user_info(self, user, scope):
        return claims.user_info(user)


class UserInfo(UserInfoEndpoint):
    def generate_user_info(self, user, scope):
        return claims.user_info(user)

    def get_issuer(self):
        return issuer()


class AccessToken:
    """An access token's row as Authlib's resource protector reads it."""

    def __init__(self, row):
        self.row = row
        self.scope = row.scope

    def is_expired(self):
        return self.row.expires_at <= clock.now()

    def is_revoked(self):
        return not tokens.usable(self.row)

    def get_scope(self):
        return self.row.scope

    def get_user(self):
        return db.session.get(User, self.row.user_id)

    def get_client(self):
        return clients.Client(db.session.get(OidcClient, self.row.client_id))


class AccessTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        row = tokens.find_access(token_string)
        return AccessToken(row) if row is not None else None


class EndSession(EndSessionEndpoint):
    """RP-initiated logout: the portal's session ends when the ID token named in id_token_hint
    is the signed-in user's; the client's post_logout_redirect_uri is followed only when it is
    registered for that client (and the hint is valid)."""

    def get_server_jwks(self):
        return keys.published()

    def get_algorithms(self):
        return [keys.ALG]

    def end_session(self, end_session_request):
        user = g.get("user")
        hinted = (end_session_request.id_token_claims or {}).get("sub")
        if user is not None and hinted == claims.subject(user):
            audit.record("oidc_logout", user.username, "ok", g.get("client_ip", "-"),
                         client_id=end_session_request.client.client_id if end_session_request.client else None)
            sessions.end(user)
            g.user = None
            g.oidc_signed_out = True


def save_token(token, request):
    """Store the tokens Authlib made: from a code, or from a refresh token (which keeps the
    line, the sign-in time and the password marker of the one it replaces)."""
    client_id = request.client.client_id
    if getattr(request, "authorization_code", None) is not None:
        code = request.authorization_code.row
        tokens.save_token(token, client_id, request.user, token.get("scope"), code.id, code.auth_time,
                          code.password_marker)
    else:
        old = request.refresh_token.row
        tokens.save_token(token, client_id, request.user, token.get("scope"), old.code_id or old.id, old.auth_time,
                          old.password_marker)
    g.oidc_issued = True


def _expires_in(client, grant_type):
    return current_app.config["OIDC_ACCESS_TOKEN_SECONDS"]


class AtPublicAddress:
    """The Flask request as Authlib reads it, at the portal's public address (PUBLIC_BASE_URL)
    rather than the one the request names: behind a reverse proxy that ends TLS the request
    itself says http (Authlib would refuse it as insecure transport), and its Host header is
    the client's to choose."""

    def __init__(self, request):
        self._request = request
        self.url = issuer() + (request.full_path if request.query_string else request.path)

    def __getattr__(self, name):
        return getattr(self._request, name)


class Provider(AuthorizationServer):
    def create_oauth2_request(self, request):
        return FlaskOAuth2Request(AtPublicAddress(flask_request))


def init_app(app):
    """The provider of this app (each app its own: its settings, its grants)."""
    provider = Provider()
    provider.init_app(app, query_client=clients.find, save_token=save_token)
    provider.register_token_generator("default", BearerTokenGenerator(
        lambda **_: generate_token(43), lambda **_: generate_token(48), _expires_in))
    provider.register_grant(AuthorizationCodeGrant, [S256Only(), OpenIDConnect(require_nonce=True)])
    provider.register_grant(RefreshTokenGrant)
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator())
    provider.register_endpoint(UserInfo(resource_protector=protector))
    provider.register_endpoint(EndSession)
    app.extensions["portal.oidc_server"] = provider


def provider():
    return current_app.extensions["portal.oidc_server"]
