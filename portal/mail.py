"""E-mail: queued in the outbox table inside the request, sent once the response is out.

With MAIL_SERVER set, messages leave through Flask-Mail (SMTP); without it they are written
to the instance folder's outbox/ as .eml files and logged, so development needs no server.
"""
import logging
import time
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app, g, has_request_context, render_template
from flask.cli import AppGroup
from flask_mail import Message
from sqlalchemy import func, select, update

from . import clock
from .extensions import db, mail
from .models import OutboxMessage

log = logging.getLogger("portal.mail")
RETRY_MINUTES = (1, 5, 15, 60, 240)  # then every 4 hours until it leaves: nothing is dropped
SWEEP_SECONDS = 30  # how often a worker also retries what earlier requests could not send
_last_sweep = 0.0


def queue(recipient, subject, template, **context):
    """Queue a multipart (text + HTML) message from mail/<template>.txt and .html."""
    now = clock.now()
    message = OutboxMessage(
        recipient=recipient, subject=subject, created_at=now, next_attempt_at=now,
        text_body=render_template(f"mail/{template}.txt", **context),
        html_body=render_template(f"mail/{template}.html", **context),
    )
    db.session.add(message)
    flush_soon()
    return message


def flush_soon():
    """Have the outbox flushed once this request's response is out."""
    if has_request_context():
        g.outbox_pending = True


def after_request(response):
    """Send what this request queued after the client has its answer; now and then, also
    retry what earlier requests could not send (SMTP was down)."""
    global _last_sweep
    queued = g.pop("outbox_pending", False)
    if queued or time.monotonic() - _last_sweep > SWEEP_SECONDS:
        _last_sweep = time.monotonic()
        app = current_app._get_current_object()
        response.call_on_close(lambda: _flush_in(app))
    return response


def _flush_in(app):
    with app.app_context():
        try:
            _produce()
            send_pending()
        except Exception:  # the database went away: the next request or `flask outbox send` retries
            log.exception("outbox not flushed")


def send_pending(limit=50):
    """Send due messages; a failed one is retried later with back-off. Returns the count sent."""
    now = clock.now()
    due = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id).limit(limit)
    ).all()
    sent = 0
    for message in due:
        if not _claim(message, now):
            continue
        try:
            _deliver(message)
        except Exception as error:  # SMTP refused, network down: keep it for later
            message.attempts += 1
            delay = RETRY_MINUTES[min(message.attempts, len(RETRY_MINUTES)) - 1]
            message.next_attempt_at = now + timedelta(minutes=delay)
            message.last_error = f"{type(error).__name__}: {error}"[:500]
            log.warning("mail to %s not sent (attempt %d): %s", message.recipient, message.attempts, error)
        else:
            message.sent_at = clock.now()
            # What it said (a coded link, say) is the recipient's now: the table keeps no copy.
            message.text_body = message.html_body = ""
            sent += 1
        db.session.commit()
    return sent


def _claim(message, now):
    """Take the message for this process so two workers never send it twice."""
    lease = now + timedelta(minutes=5)
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.sent_at.is_(None),
               OutboxMessage.next_attempt_at == message.next_attempt_at)
        .values(next_attempt_at=lease)
    ).rowcount == 1
    db.session.commit()
    return claimed


def _deliver(message):
    email = Message(
        subject=message.subject, recipients=[message.recipient],
        body=message.text_body, html=message.html_body,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    if current_app.config.get("MAIL_SERVER"):
        mail.send(email)
        log.info("mail sent to %s: %s", message.recipient, message.subject)
        return
    folder = Path(current_app.instance_path) / "outbox"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{message.created_at:%Y%m%d-%H%M%S}-{message.id}.eml"
    path.write_text(email.as_string(), encoding="utf-8")
    log.info("mail to %s written to %s: %s", message.recipient, path, message.subject)


outbox_cli = AppGroup("outbox", help="Correos pendientes (cola de salida).")


def init_app(app, producers=()):
    """producers: functions that queue e-mail out of the request (the recovery reminders),
    run before each flush."""
    app.extensions["portal.outbox_producers"] = tuple(producers)
    app.cli.add_command(outbox_cli)
    app.after_request(after_request)


def _produce():
    for produce in current_app.extensions["portal.outbox_producers"]:
        produce()


@outbox_cli.command("send")
def send_command():
    """Send every message that is due (for cron)."""
    _produce()
    sent = send_pending(limit=1000)
    waiting = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
    click.echo(f"Enviados: {sent}. En espera: {waiting}.")
