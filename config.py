"""Settings: defaults here, overridden by the environment variables of SPEC section 5."""
import os
from datetime import timedelta

DEFAULT_SECRET_KEY = "dev-only-change-me"  # refused outside development  # noqa: S105  # nosec B105
# The pre-hash key of development (it was the built-in one, so databases made then still work).
DEFAULT_PASSWORD_PEPPER = "e-factura-acceso/password/v1"  # refused outside development  # noqa: S105  # nosec B105
# The key the OpenID Connect signing keys are encrypted under in development (a Fernet key).
DEFAULT_OIDC_KEY_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQtb25seS1vaWRjLWtleXMtMDAwMDA="  # noqa: S105  # nosec B105
MIN_KEY_BYTES = 32  # SECRET_KEY and PASSWORD_PEPPER outside development


def _int(name, default):
    return int(os.environ.get(name, default))


def _bool(name, default):
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


class Config:
    # "development" (make run) or "production" (everything else).
    PORTAL_ENV = os.environ.get("PORTAL_ENV", "production")
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
    # Key of the HMAC pre-hash in front of bcrypt (OWASP "pre-hashing with a pepper").
    PASSWORD_PEPPER = os.environ.get("PASSWORD_PEPPER", "")  # development: DEFAULT_PASSWORD_PEPPER

    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")  # None: SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Bring the schema up to date (Alembic) when the app starts, under a lock.
    AUTO_MIGRATE = _bool("AUTO_MIGRATE", True)

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_HEADERS_ENABLED = False  # a 429 says when to come back (Retry-After); no X-RateLimit-* on every answer
    RATELIMIT_KEY_PREFIX = "efactura"
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "20/minute;200/hour")
    RATELIMIT_CAPTCHA = os.environ.get("RATELIMIT_CAPTCHA", "60/minute")
    RATELIMIT_CAPTCHA_AUDIO = os.environ.get("RATELIMIT_CAPTCHA_AUDIO", "6/minute;30/hour")
    RATELIMIT_PAGES = os.environ.get("RATELIMIT_PAGES", "120/minute")

    MAIL_SERVER = os.environ.get("MAIL_SERVER")  # None: messages go to the instance outbox folder
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "e-Factura Acceso <no-responder@efactura.example>")
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    MAIL_TIMEOUT = _int("MAIL_TIMEOUT", 10)  # seconds, every SMTP conversation
    MAIL_DAILY_CAP = _int("MAIL_DAILY_CAP", 10)  # messages a recipient gets in 24 hours at most
    OUTBOX_POLL_SECONDS = float(os.environ.get("OUTBOX_POLL_SECONDS", "1"))

    LOGIN_MAX_ATTEMPTS = _int("LOGIN_MAX_ATTEMPTS", 5)
    LOCKOUT_MINUTES = _int("LOCKOUT_MINUTES", 15)
    INACTIVITY_DAYS = _int("INACTIVITY_DAYS", 183)
    BCRYPT_ROUNDS = _int("BCRYPT_ROUNDS", 12)
    RESET_LINK_HOURS = _int("RESET_LINK_HOURS", 24)
    DISPLAY_TIMEZONE = os.environ.get("DISPLAY_TIMEZONE", "America/Mexico_City")
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)

    # Wrong secret answers before only the e-mailed link is left, and for how long.
    ANSWER_MAX_ATTEMPTS = _int("ANSWER_MAX_ATTEMPTS", 3)
    ANSWER_LOCK_MINUTES = _int("ANSWER_LOCK_MINUTES", 60)
    REMINDERS_PER_HOUR = _int("REMINDERS_PER_HOUR", 3)
    # A legacy secret question is shown as a decoy once this many accounts share it.
    DECOY_MIN_ACCOUNTS = _int("DECOY_MIN_ACCOUNTS", 20)
    DECOY_POOL_SECONDS = _int("DECOY_POOL_SECONDS", 600)
    # A right answer or an opened link allows a password change for this long.
    RECOVERY_PROOF_MINUTES = _int("RECOVERY_PROOF_MINUTES", 15)
    RATELIMIT_RECOVERY = os.environ.get("RATELIMIT_RECOVERY", "20/minute;200/hour")

    # A user name keeps needing the CAPTCHA while its last failure is this recent.
    CAPTCHA_FAILURE_HOURS = _int("CAPTCHA_FAILURE_HOURS", 24)
    CAPTCHA_TTL_SECONDS = _int("CAPTCHA_TTL_SECONDS", 300)
    CAPTCHA_TEST_ANSWER = os.environ.get("CAPTCHA_TEST_ANSWER")

    SESSION_IDLE_MINUTES = _int("SESSION_IDLE_MINUTES", 15)
    # A change on the account page needs a sign-in (or the password typed again) this recent.
    RECENT_SIGN_IN_MINUTES = _int("RECENT_SIGN_IN_MINUTES", 5)
    SESSION_MAX_HOURS = _int("SESSION_MAX_HOURS", 8)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=SESSION_MAX_HOURS)
    SESSION_COOKIE_NAME = "efactura_sesion"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = PORTAL_ENV != "development"
    # The parent domain whose hosts share the session (portal and application), e.g. "efactura.example".
    SESSION_COOKIE_DOMAIN = os.environ.get("SESSION_COOKIE_DOMAIN") or None
    # Hosts a sign-in may send the browser back to (portal/return_target.py): "host", "host:port", ".parent".
    ALLOWED_RETURN_HOSTS = os.environ.get("ALLOWED_RETURN_HOSTS", "")

    # The support console (/soporte): networks it answers from (comma-separated, e.g.
    # "10.0.0.0/8,192.168.10.0/24"; empty: any), and its sessions' idle limit.
    STAFF_ALLOWED_NETWORKS = os.environ.get("STAFF_ALLOWED_NETWORKS", "")
    STAFF_IDLE_MINUTES = _int("STAFF_IDLE_MINUTES", 10)

    WTF_CSRF_TIME_LIMIT = 3600 * 2
    MAX_CONTENT_LENGTH = 64 * 1024
    CONTENT_FILE = os.environ.get("CONTENT_FILE")  # None: portal/content/acceso.toml

    # OpenID Connect provider (SPEC section 6). The signing keys are kept in the database,
    # encrypted under this key (a Fernet key), given as is or in a file; required outside
    # development.
    OIDC_KEY_ENCRYPTION_KEY = os.environ.get("OIDC_KEY_ENCRYPTION_KEY")
    OIDC_KEY_ENCRYPTION_KEY_FILE = os.environ.get("OIDC_KEY_ENCRYPTION_KEY_FILE")
    OIDC_ACCESS_TOKEN_SECONDS = _int("OIDC_ACCESS_TOKEN_SECONDS", 300)
    OIDC_REFRESH_TOKEN_DAYS = _int("OIDC_REFRESH_TOKEN_DAYS", 14)
    OIDC_ID_TOKEN_SECONDS = _int("OIDC_ID_TOKEN_SECONDS", 300)
    RATELIMIT_OIDC_TOKEN = os.environ.get("RATELIMIT_OIDC_TOKEN", "600/minute")
    OIDC_CODE_SECONDS = _int("OIDC_CODE_SECONDS", 60)  # an authorization code is valid this long, once


class TestConfig(Config):
    TESTING = True
    PORTAL_ENV = "test"
    SECRET_KEY = "test-secret-key"  # tests only  # noqa: S105  # nosec B105
    PASSWORD_PEPPER = "test-pepper"  # tests only  # noqa: S105  # nosec B105
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    RATELIMIT_STORAGE_URI = os.environ.get("TEST_RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_ENABLED = False
    MAIL_SERVER = None
    MAIL_SUPPRESS_SEND = False  # Flask-Mail would otherwise drop mail under TESTING
    PUBLIC_BASE_URL = "https://acceso.efactura.example"
    BCRYPT_ROUNDS = 4
    CAPTCHA_TEST_ANSWER = "PRUEBA"
    SESSION_COOKIE_SECURE = False
    LOGIN_MAX_ATTEMPTS = 5
    LOCKOUT_MINUTES = 15
    INACTIVITY_DAYS = 183
    TRUSTED_PROXIES = 0
    OIDC_KEY_ENCRYPTION_KEY = "dGVzdHMtb25seS1vaWRjLWtleS1lbmNyeXB0aW9uLTA="  # tests only  # noqa: S105  # nosec B105
