"""What the portal stores: accounts, failure counters and locks, CAPTCHAs, e-mails, events."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # canonical form
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    secret_question: Mapped[str | None] = mapped_column(String(200), nullable=True)
    answer_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Support lifted the inactivity lock at this time (counts as activity).
    reactivated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_login_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_login_device: Mapped[str | None] = mapped_column(String(120), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised to sign out every session of the user (sessions carry the epoch they began in).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)


class LoginThrottle(db.Model):
    """Consecutive failures and the failure lock of one canonical user name, existing or not."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Wrong secret answers, limited the same way (then only the e-mailed link is left).
    answer_failures: Mapped[int] = mapped_column(Integer, default=0)
    answer_locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_answer_failure_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Answer locks counted since answer_locks_since (a 24-hour window); a second one in the
    # window closes the answer route (answers_closed) until the e-mailed link or a sign-in.
    answer_locks: Mapped[int] = mapped_column(Integer, default=0)
    answer_locks_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    answers_closed: Mapped[bool] = mapped_column(Boolean, default=False)


class CodedLink(db.Model):
    """An e-mailed single-use recovery link; only a hash of its code is stored."""

    __tablename__ = "coded_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The password the link was issued against: a change by any route voids it.
    password_marker: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class CaptchaChallenge(db.Model):
    """A challenge that was submitted, or whose image or audio was made (see portal/captcha.py)."""

    __tablename__ = "captcha_challenges"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)  # the nonce of its signed id
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    image: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    audio: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)


class OutboxMessage(db.Model):
    """An e-mail: queued inside the request's transaction, delivered by the outbox worker.
    Sent rows keep their kind, recipient and times (the bodies are blanked) for a while: the
    daily cap per recipient counts them."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), default="notice")  # reminder, lock_notice, ...
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                index=True)
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    # Taken by one delivering process (its claim) until this time, or held by the request
    # that queued it (claim "held") until it knows the message must go.
    leased_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class AuthEvent(db.Model):
    """One authentication event; never a password, answer or token."""

    __tablename__ = "auth_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    outcome: Mapped[str] = mapped_column(String(40))
    client_ip: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class StableKey(db.Model):
    """A secret the portal makes for itself once and never rotates (the decoy questions'
    key: it must outlive SECRET_KEY rotations)."""

    __tablename__ = "stable_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


class UserSession(db.Model):
    """One signed-in session (its id is in the session cookie): listed on the account page and
    closed one by one. User.session_epoch still ends every session at once."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    client_ip: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(120))  # the browser and system, in words
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class KnownDevice(db.Model):
    """A browser an account has signed in from (a long-lived device cookie, kept hashed): a
    sign-in from any other sends the owner a notice."""

    __tablename__ = "known_devices"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    device_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)


class EmailChange(db.Model):
    """A change of e-mail address waiting for the link sent to the new address; only a hash of
    its code is kept."""

    __tablename__ = "email_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    new_email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class StaffMember(db.Model):
    """A person of the support desk (SPEC section 8): never a customer account. Signs in at
    /soporte with a password and a TOTP code (portal/staff.py, portal/second_factor.py)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the sign-in name, lower case
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))  # "soporte" or "administrador"
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)  # None: set-up pending
    # The one-time set-up link (only a hash of its code) and when it stops working.
    setup_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    setup_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: enrolment pending
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a code is accepted once
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_sign_in_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class StaffRecoveryCode(db.Model):
    """A second-factor recovery code of a staff member (a hash), good once."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class StaffSession(db.Model):
    """A console session: the cookie holds a random token, the row its hash (portal/staff.py)."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    # "second_factor" (password right, code pending), "enrol" (no second factor yet), "signed_in"
    stage: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    seen_at: Mapped[datetime] = mapped_column(DateTime)
    client_ip: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OidcClient(db.Model):
    """An application that signs people in through the portal (OpenID Connect), registered by
    support. Only a hash of a confidential client's secret is kept; a public client has none."""

    __tablename__ = "oidc_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    redirect_uris: Mapped[list] = mapped_column(JSON)
    post_logout_uris: Mapped[list] = mapped_column(JSON)
    refresh_tokens: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OidcCode(db.Model):
    """An authorization code: single-use, valid for a minute, kept hashed. A used code stays
    (used_at) so that a replay is recognised and the tokens issued from it revoked."""

    __tablename__ = "oidc_codes"
    __table_args__ = (Index("ix_oidc_codes_client_nonce", "client_id", "nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.client_id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[str] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    auth_time: Mapped[datetime] = mapped_column(DateTime)
    # The password the code was issued under: a change in between voids it.
    password_marker: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OidcToken(db.Model):
    """An access token (and the refresh token issued with it, if the client may have one),
    kept hashed. Tokens issued from one code share its code_id: a replayed code, or a refresh
    token used twice, revokes them all."""

    __tablename__ = "oidc_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    scope: Mapped[str] = mapped_column(String(200))
    auth_time: Mapped[datetime] = mapped_column(DateTime)
    password_marker: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SigningKey(db.Model):
    """A key the ID tokens are signed with: the newest signs, the one before it is still
    published (JWKS) for tokens signed before a rotation. The private key is kept encrypted
    under OIDC_KEY_ENCRYPTION_KEY."""

    __tablename__ = "oidc_signing_keys"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(10))
    private_key: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of the PEM
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
