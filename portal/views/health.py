"""/healthz for load balancers: database and rate-limit storage reachability, no secrets.

It answers for the worker that serves it: `rate_limit_storage` is "ok" while this worker
counts in the shared storage (Redis), "fallback" while it counts in its own memory (Redis was
unreachable; Flask-Limiter checks it again with back-off and switches back, within about 30
seconds, logging both switches), "disabled" when limits are off; `shared_storage` says
whether the shared storage answers now.
"""
from flask import Blueprint, jsonify
from sqlalchemy import text

from ..extensions import db, limiter
from ..rate_limits import storage_in_use

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    checks = {"database": _database(), **_rate_limit_storage()}
    healthy = checks["database"] == "ok"
    return jsonify(status="ok" if healthy else "error", **checks), 200 if healthy else 503


def _database():
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except Exception:
        db.session.rollback()
        return "unreachable"


def _rate_limit_storage():
    in_use = storage_in_use()
    if in_use == "disabled":
        return {"rate_limit_storage": "disabled"}
    try:
        answers = limiter.storage.check()
    except Exception:
        answers = False
    return {"rate_limit_storage": "ok" if in_use == "shared" and answers else "fallback",
            "shared_storage": "ok" if answers else "unreachable"}
