"""Authentication events: stored with time, user name, client address and outcome, written as
one JSON line each to the `portal.audit` log for the log pipeline, and searched by support
(`flask --app wsgi audit`).

Callers never pass a password, an answer, a token or a code."""
import hashlib
import hmac
import json
import logging
import sys
from datetime import timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import insert, select

from . import clock, stable_keys, usernames
from .extensions import db
from .models import AuthEvent

log = logging.getLogger("portal.audit")


class JsonLines(logging.Formatter):
    def format(self, record):
        event = getattr(record, "event", {"message": record.getMessage()})
        return json.dumps({"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                           "logger": record.name, **event}, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler):
    """Writes to sys.stderr as it is when a record comes, not as it was when the handler was
    made (a process that swaps sys.stderr, as a test runner run twice in one process does,
    would otherwise leave it writing to a closed stream)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure_logging():
    if not any(isinstance(h.formatter, JsonLines) for h in log.handlers):
        handler = _Stderr()
        handler.setFormatter(JsonLines())
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


INTERRUPTED = "interrupted"
CUT_SHORT_AFTER = timedelta(minutes=2)  # an attempt still "interrupted" this long after was cut short


def masked(typed):
    """What is kept of a typed user name of no known kind that matches no account (often a
    password typed into the wrong field): its length and a keyed fingerprint, so that repeated
    attempts with it can still be told apart and counted, and nothing of the text is kept."""
    digest = hmac.new(stable_keys.get("masked-names"), typed.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return f"(oculto: {len(typed)} caracteres, {digest.hexdigest()[:12]})"
_INSERT = insert(AuthEvent.__table__)  # built once; each event is its parameters


def record(kind, username, outcome, client_ip, **detail):
    """Store an event in the current transaction (the caller commits) and log it. One
    INSERT, no object for the session to track: refusals that come in floods stay cheap."""
    values = {"at": clock.now(), "username": username[:255], "kind": kind, "outcome": outcome,
              "client_ip": client_ip, "detail": detail or None}
    db.session.execute(_INSERT, values)
    _log(values)


def log_interrupted():
    """Events still "interrupted" some minutes after they began were cut short (a worker
    killed while it checked a password): they reach the JSON log once, marked as such."""
    cut = [event for event in db.session.scalars(select(AuthEvent).where(
        AuthEvent.outcome == INTERRUPTED, AuthEvent.at < clock.now() - CUT_SHORT_AFTER)) if not event.detail]
    for event in cut:
        event.detail = {"cut_short": True}
        _log({"at": event.at, "username": event.username, "kind": event.kind, "outcome": INTERRUPTED,
              "client_ip": event.client_ip, "detail": event.detail})
    db.session.commit()
    return len(cut)


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


def search(username=None, kind=None, outcome=None, since=None, until=None, limit=100, offset=0):
    """The most recent events that match (skipping the `offset` most recent), oldest first."""
    query = select(AuthEvent).order_by(AuthEvent.at.desc(), AuthEvent.id.desc()).limit(limit).offset(offset)
    if username:
        query = query.where(AuthEvent.username == usernames.canonical(username))
    if kind:
        query = query.where(AuthEvent.kind == kind)
    if outcome:
        query = query.where(AuthEvent.outcome == outcome)
    if since:
        query = query.where(AuthEvent.at >= since)
    if until:
        query = query.where(AuthEvent.at <= until)
    return list(reversed(db.session.scalars(query).all()))


def init_app(app):
    app.cli.add_command(audit_command)


@click.command("audit")
@click.option("--user", "username", default=None, help="Usuario (se normaliza).")
@click.option("--kind", default=None, help="Tipo de evento: login, lock, reminder, link_opened, password_changed…")
@click.option("--outcome", default=None, help="Resultado: ok, invalid, locked…")
@click.option("--since", default=None, callback=clock.option, help="Desde (fecha ISO, UTC).")
@click.option("--until", default=None, callback=clock.option, help="Hasta (fecha ISO, UTC).")
@click.option("--limit", default=100, show_default=True, help="Máximo de eventos (los más recientes).")
@click.option("--json", "as_json", is_flag=True, help="Una línea JSON por evento.")
@with_appcontext
def audit_command(username, kind, outcome, since, until, limit, as_json):
    """Authentication events, filtered by user, kind, outcome and time."""
    events = search(username, kind, outcome, since, until, limit)
    for event in events:
        if as_json:
            click.echo(json.dumps({"at": event.at.isoformat(), "user": event.username, "kind": event.kind,
                                   "outcome": event.outcome, "ip": event.client_ip, "detail": event.detail},
                                  ensure_ascii=False))
        else:
            detail = f" {event.detail}" if event.detail else ""
            click.echo(f"{event.at:%Y-%m-%d %H:%M:%S}  {event.kind:<18} {event.outcome:<12} "
                       f"{event.username:<22} {event.client_ip}{detail}")
    if not as_json:
        click.echo(f"{len(events)} evento(s).")
