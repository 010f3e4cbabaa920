"""Authentication events: stored with time, user name, client address and outcome, and
written as one JSON line each to the `portal.audit` log for the log pipeline.

Callers never pass a password, an answer, a token or a code."""
import json
import logging
import sys

from sqlalchemy import insert

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
_INSERT = insert(AuthEvent.__table__)  # built once; each event is its parameters


def record(kind, username, outcome, client_ip, **detail):
    """Store an event in the current transaction (the caller commits) and log it. One
    INSERT, no object for the session to track: refusals that come in floods stay cheap."""
    values = {"at": clock.now(), "username": username[:255], "kind": kind, "outcome": outcome,
              "client_ip": client_ip, "detail": detail or None}
    db.session.execute(_INSERT, values)
    _log(values)


def begin(kind, username, client_ip):
    """An event whose outcome is not known yet: stored as "interrupted" until settled."""
    event = AuthEvent(at=clock.now(), username=username[:255], kind=kind, outcome=INTERRUPTED,
                      client_ip=client_ip)
    db.session.add(event)
    return event


def settle(event, outcome, **detail):
    event.outcome = outcome
    event.detail = detail or None
    _log({"at": event.at, "username": event.username, "kind": event.kind, "outcome": outcome,
          "client_ip": event.client_ip, "detail": event.detail})
    return event


def _log(values):
    log.info("%s %s", values["kind"], values["outcome"], extra={"event": {
        "event": values["kind"], "outcome": values["outcome"], "user": values["username"],
        "ip": values["client_ip"], "at": values["at"].isoformat(), **(values["detail"] or {})}})
