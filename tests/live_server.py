"""The portal as gunicorn serves it in the multi-instance tests (TestConfig, so that the
CAPTCHA answer is known), with settings from LIVE_* environment variables."""
import os

from config import TestConfig
from portal import create_app

app = create_app(
    TestConfig,
    instance_path=os.environ["LIVE_INSTANCE"],
    SQLALCHEMY_DATABASE_URI=os.environ["LIVE_DATABASE_URL"],
    RATELIMIT_STORAGE_URI=os.environ["LIVE_RATELIMIT_URI"],
    RATELIMIT_KEY_PREFIX=os.environ["LIVE_KEY_PREFIX"],
    RATELIMIT_ENABLED=True,
    RATELIMIT_LOGIN=os.environ.get("LIVE_RATELIMIT_LOGIN", "1000/minute"),
    RATELIMIT_CAPTCHA=os.environ.get("LIVE_RATELIMIT_CAPTCHA", "1000/minute"),
    RATELIMIT_PAGES="1000/minute",
    MAIL_SERVER="127.0.0.1",
    MAIL_PORT=int(os.environ["LIVE_SMTP_PORT"]),
)
