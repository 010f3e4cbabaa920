"""Authentication events: stored with time, user name, client address and outcome, and
written as one JSON line each to the `portal.audit` log for the log pipeline.

Callers never pass a password, an answer, a token or a code."""
import json
import logging
import sys

from . import clock
from .extensions import db
from .models import AuthEvent

log = logging.getLogger("portal.audit")


class JsonLines(logging.Formatter):
    def format(self, record):
        event = getattr(record, "event", {"message": record.getMessage()})
        return json.dumps({"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                           "logger": record.name, **event}, ensure_ascii=False, default=str)


def configure_logging():
    if not any(isinstance(h.formatter, JsonLines) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines())
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def record(kind, username, outcome, client_ip, **detail):
    """Add an event to the current transaction (the caller commits)."""
    event = AuthEvent(at=clock.now(), username=username[:255], kind=kind, outcome=outcome,
                      client_ip=client_ip, detail=detail or None)
    db.session.add(event)
    log.info("%s %s", kind, outcome, extra={"event": {
        "event": kind, "outcome": outcome, "user": username[:255], "ip": client_ip, "at": event.at.isoformat(),
        **detail}})
    return event
