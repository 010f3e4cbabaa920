"""/healthz for load balancers: database and rate-limit storage reachability, no secrets."""
from flask import Blueprint, jsonify
from sqlalchemy import text

from ..extensions import db, limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    checks = {"database": _database(), "rate_limit_storage": _rate_limit_storage()}
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
    """ok, or "fallback" when the shared storage is down and limits are kept in memory."""
    if not limiter.enabled:
        return "disabled"
    try:
        return "ok" if limiter.storage.check() else "fallback"
    except Exception:
        return "fallback"
