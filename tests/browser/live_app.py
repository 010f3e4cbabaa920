"""The portal as the browser tests serve it: `gunicorn live_app:app` (tests/browser on the path).

TestConfig (fixed CAPTCHA answer "PRUEBA", fast bcrypt) on a SQLite file, mail to a local SMTP
server, and a one-minute failure lock so the lock can be watched ending. The fixture in
conftest.py sets these environment variables before it starts gunicorn:

  LIVE_DATABASE_URI   SQLAlchemy URL of the SQLite file (required)
  LIVE_MAIL_PORT      port of the aiosmtpd server on 127.0.0.1 (required)
  LIVE_BASE_URL       the server's own address, written into e-mailed links (required)
  LIVE_INSTANCE       instance folder (schema lock, outbox); default: the app's own
  LIVE_LOCKOUT_MINUTES, LIVE_LOGIN_MAX_ATTEMPTS   the failure lock (default 1 minute, 5 tries)
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config import TestConfig  # noqa: E402
from portal import create_app  # noqa: E402


def settings(env=os.environ):
    """The overrides of TestConfig, read from the environment variables above."""
    return {
        "SQLALCHEMY_DATABASE_URI": env["LIVE_DATABASE_URI"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": int(env["LIVE_MAIL_PORT"]),
        "MAIL_USE_TLS": False,
        "PUBLIC_BASE_URL": env["LIVE_BASE_URL"],
        "LOCKOUT_MINUTES": int(env.get("LIVE_LOCKOUT_MINUTES", "1")),
        "LOGIN_MAX_ATTEMPTS": int(env.get("LIVE_LOGIN_MAX_ATTEMPTS", "5")),
    }


def build(env=os.environ):
    return create_app(TestConfig, instance_path=env.get("LIVE_INSTANCE"), **settings(env))


app = build() if "LIVE_DATABASE_URI" in os.environ else None
