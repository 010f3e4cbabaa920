"""Authentication events: stored with time, user name, client address and outcome."""
import logging

from . import clock
from .extensions import db
from .models import AuthEvent

log = logging.getLogger("portal.audit")


def record(kind, username, outcome, client_ip, **detail):
    """Add an event to the current transaction (the caller commits); never pass secrets."""
    event = AuthEvent(
        at=clock.now(), username=username[:255], kind=kind, outcome=outcome,
        client_ip=client_ip, detail=detail or None,
    )
    db.session.add(event)
    log.info("%s %s user=%r ip=%s %s", kind, outcome, username, client_ip, detail or "")
    return event
