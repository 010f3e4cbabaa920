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
import logging

from .extensions import limiter

log = logging.getLogger("flask-limiter")


class _NoRefusalLines(logging.Filter):
    """Flask-Limiter logs each refused request at INFO; the access log has them (429) already,
    and a flood would double it. Its switches to the in-memory fallback (WARNING) and back
    ("Rate limit storage recovered", INFO) are kept."""

    def filter(self, record):
        return not (record.levelno == logging.INFO and str(record.msg).startswith("ratelimit "))


def storage_in_use():
    """What this worker counts in now: "shared" (RATELIMIT_STORAGE_URI), "memory" (its own
    counters, while the shared storage is unreachable), or "disabled"."""
    if not limiter.enabled:
        return "disabled"
    return "shared" if limiter.limiter.storage is limiter.storage else "memory"


def init_app(app):
    log.setLevel(logging.INFO)
    if not any(isinstance(f, _NoRefusalLines) for f in log.filters):
        log.addFilter(_NoRefusalLines())
    limiter.init_app(app)
    checks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in checks:  # not there with RATELIMIT_ENABLED off
        checks.remove(limiter._check_request_limit)
