"""Flask-Limiter, set up for what the portal has: limits of single routes, each checked by
its route's decorator (`@limiter.limit(limit("RATELIMIT_..."))`), and no default or
application-wide limit.

Flask-Limiter also registers a before_request pass that looks for default and application
limits on every request, including the pages that have no limit; here it never finds one,
and it costs about 12 % of the access page (and a second check on every limited route).
Flask-Limiter 4 has no public switch for it, so init_app() takes it off: the one place the
portal reaches into the library. tests/test_rate_limits.py fails if the pinned Flask-Limiter
stops registering the pass this way, or if taking it off stops the route limits.
"""
from .extensions import limiter


def init_app(app):
    limiter.init_app(app)
    checks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in checks:  # not there with RATELIMIT_ENABLED off
        checks.remove(limiter._check_request_limit)
