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


INTERRUPTED = "interrupted"


def record(kind, username, outcome, client_ip, **detail):
    """Add an event to the current transaction (the caller commits) and log it."""
    return settle(begin(kind, username, client_ip), outcome, **detail)


def begin(kind, username, client_ip):
    """An event whose outcome is not known yet: stored as "interrupted" until settled."""
    event = AuthEvent(at=clock.now(), username=username[:255], kind=kind, outcome=INTERRUPTED,
                      client_ip=client_ip)
    db.session.add(event)
    return event


def settle(event, outcome, **detail):
    event.outcome = outcome
    event.detail = detail or None
    log.info("%s %s", event.kind, outcome, extra={"event": {
        "event": event.kind, "outcome": outcome, "user": event.username, "ip": event.client_ip,
        "at": event.at.isoformat(), **detail}})
    return event
