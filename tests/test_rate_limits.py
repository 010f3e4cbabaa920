"""portal/rate_limits.py takes Flask-Limiter's before_request pass off (the portal has route
limits only). These fail when the pinned Flask-Limiter changes what that relies on."""
from flask import Flask
from flask_limiter import Limiter

from helpers import HTMX
from portal.extensions import limiter


def test_the_pinned_flask_limiter_registers_its_pass_as_rate_limits_expects():
    app = Flask(__name__)
    own = Limiter(key_func=lambda: "client", storage_uri="memory://")
    own.init_app(app)
    assert own._check_request_limit in app.before_request_funcs[None]


def test_the_portal_has_no_before_request_pass_and_its_route_limits_still_hold(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", RATELIMIT_CAPTCHA="2/minute")
    assert limiter._check_request_limit not in app.before_request_funcs.get(None, [])
    client = app.test_client()
    for _ in range(3):
        assert client.get("/").status_code == 200  # a page with no limit counts nothing
    statuses = [client.get("/captcha/nuevo", headers=HTMX).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
