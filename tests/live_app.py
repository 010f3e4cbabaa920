"""The portal as a live server serves it: `gunicorn 'live_app:build()'` with tests/ on the path.

Every live server serves this one module: the two-server tests, the browser tests and the
benchmark, each through the launcher in live_server.py, which sets these variables:

  LIVE_CONFIG      the settings class of config.py: TestConfig (the default: fixed CAPTCHA
                   answer, fast bcrypt) for tests; Config (production, read from the
                   environment) for the benchmark
  LIVE_INSTANCE    the instance folder: schema lock, outbox (required)
  LIVE_SETTINGS    a JSON object of settings over the class's (default: none)
  LIVE_POST_FLOOR  "1" adds the benchmark's /bench/post-floor route

/bench/post-floor does what every POST /entrar does before the sign-in rules run (the CSRF
check, the login rate limit, parsing the form) and nothing else: the floor of a sign-in
attempt, which the benchmark measures beside the refusals.
"""
import json
import os

from flask import request

from config import Config, TestConfig
from portal import create_app
from portal.extensions import limit, limiter
from portal.forms import LoginForm

CONFIG_CLASSES = {"TestConfig": TestConfig, "Config": Config}


def variables(instance, settings=None, config="TestConfig", post_floor=False):
    """The environment variables that make build() serve these settings."""
    if config not in CONFIG_CLASSES:
        raise ValueError(f"config must be one of {sorted(CONFIG_CLASSES)}, not {config!r}")
    env = {"LIVE_CONFIG": config, "LIVE_INSTANCE": str(instance), "LIVE_SETTINGS": json.dumps(settings or {})}
    if post_floor:
        env["LIVE_POST_FLOOR"] = "1"
    return env


def build(env=None):
    """The app those variables describe (os.environ by default)."""
    env = os.environ if env is None else env
    app = create_app(CONFIG_CLASSES[env.get("LIVE_CONFIG", "TestConfig")], instance_path=env["LIVE_INSTANCE"],
                     **json.loads(env.get("LIVE_SETTINGS") or "{}"))
    if env.get("LIVE_POST_FLOOR") == "1":
        app.add_url_rule("/bench/post-floor", view_func=post_floor, methods=["POST"])
    return app


@limiter.limit(limit("RATELIMIT_LOGIN"))
def post_floor():
    LoginForm(request.form).validate()
    return "floor"
