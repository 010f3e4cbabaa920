"""The outbox worker: the process that does what requests leave for later.

`flask --app wsgi outbox worker` runs beside the web server (several may run, on one machine
or several: each message still leaves once). It loops: carries out the requested reminders
(the producers handed to init_app), delivers the e-mail that is due, and now and then does
the housekeeping (counters whose locks and failures are over, old sent rows, sign-in events a
killed worker left "interrupted"). Between passes it waits OUTBOX_POLL_SECONDS for new rows.

`flask --app wsgi outbox send [--now]` does one pass and exits (cron, or after an outage:
--now sends everything pending at once, whatever its back-off).
"""
import logging
import signal
import threading
import time

import click
from flask import current_app
from flask.cli import AppGroup

from . import audit, lockout, mail, sessions
from .oidc import tokens as oidc_tokens

log = logging.getLogger("portal.outbox")
HOUSEKEEPING_SECONDS = 3600
outbox_cli = AppGroup("outbox", help="Correos pendientes (cola de salida) y el proceso que los envía.")


def init_app(app, producers=()):
    """producers: functions that queue e-mail out of the request (the recovery reminders),
    run before each delivery."""
    app.extensions["portal.outbox_producers"] = tuple(producers)
    app.cli.add_command(outbox_cli)


def work_once(everything=False, limit=50):
    """One pass: reminders carried out, due mail delivered. Returns the number sent."""
    for produce in current_app.extensions["portal.outbox_producers"]:
        produce()
    return mail.deliver_due(limit=limit, everything=everything)


def housekeeping():
    purged = lockout.purge()
    sessions.purge()
    oidc_tokens.purge()
    mail.purge_sent()
    audit.log_interrupted()
    return purged


def run(poll_seconds, stop=lambda: False):
    """The worker's loop, until stop() or SIGTERM/SIGINT; a failed pass (the database away for
    a moment) is logged and tried again at the next one."""
    stopping = []
    if threading.current_thread() is threading.main_thread():
        for sign in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sign, lambda *_: stopping.append(True))
    next_housekeeping = 0.0
    log.info("outbox worker started (a pass every %s s)", poll_seconds)
    while not stopping and not stop():
        busy = False
        try:
            busy = work_once() > 0
            if time.monotonic() >= next_housekeeping:
                housekeeping()
                next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        except Exception:
            log.exception("outbox pass failed; trying again")
            _rollback()
        if not busy:
            time.sleep(poll_seconds)
    log.info("outbox worker stopped")


def _rollback():
    from .extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the next pass opens a new one
        log.warning("rollback after a failed pass failed too")


@outbox_cli.command("worker")
@click.option("--poll", type=float, default=None, help="Segundos entre pasadas (OUTBOX_POLL_SECONDS).")
def worker_command(poll):
    """Deliver e-mail continuously (run it beside the web server)."""
    run(poll if poll is not None else current_app.config["OUTBOX_POLL_SECONDS"])


@outbox_cli.command("send")
@click.option("--now", "everything", is_flag=True, help="También lo que espera su siguiente intento.")
def send_command(everything):
    """Send what is due once and exit (with --now, everything pending)."""
    sent = 0
    while True:
        batch = work_once(everything=everything, limit=1000)
        sent += batch
        if batch == 0:
            break
    click.echo(f"Enviados: {sent}. En espera: {mail.pending()}.")


@outbox_cli.command("housekeeping")
def housekeeping_command():
    """Purge what is no longer needed (the worker does it every hour)."""
    purged = housekeeping()
    click.echo(f"Contadores purgados: {purged}.")
