"""E-mail: queued in the outbox table, in the transaction of the request that has something to
say, and delivered by the outbox worker (portal/outbox.py), a process of its own: no request
ever talks to a mail server, so no answer, and no time an answer takes, depends on one.

With MAIL_SERVER set, messages leave through Flask-Mail (SMTP, every conversation bounded by
MAIL_TIMEOUT); without it they are written to the instance folder's outbox/ as .eml files and
logged, so development needs no server.

Nobody can flood a mailbox: a recipient gets at most MAIL_DAILY_CAP messages in 24 hours
(every kind counts; the notice that the password changed still goes out past the cap: only
the account holder can cause it, and it is the one that says someone else did), and an
account at most one notice of each locking kind an hour.
"""
import logging
import secrets
import socket
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask import current_app, render_template
from flask_mail import Message
from sqlalchemy import delete, func, select, update

from . import clock, content
from .extensions import db, mail
from .models import OutboxMessage

log = logging.getLogger("portal.mail")
RETRY_MINUTES = (1, 5, 15, 60, 240)  # then every 4 hours until it leaves: nothing is dropped
LEASE = timedelta(minutes=5)         # a claimed message is another process's again after this
HELD = "held"                        # the claim of a message its request has not released yet
KEPT_DAYS = 30                       # sent rows (bodies blanked) are kept this long, then purged
# Past the daily cap too: what only the account holder causes (signed in, or with a proof),
# and what tells the owner someone else did.
ALWAYS_SENT = {"password_changed", "account_changed", "new_device"}
ONE_AN_HOUR = {"lock_notice", "answers_locked"}  # per account


def queue(recipient, subject, template, kind, user=None, hold=None, **context):
    """Queue a multipart (text + HTML) message from mail/<template>.txt and .html, in the
    current transaction (the caller commits). None when a cap keeps it from being queued.
    "{marca}" in the subject is the brand's name (the content file).

    hold: a timedelta during which the worker leaves the message alone, until release() (or
    the hold runs out: a request cut short still has its message sent)."""
    now = clock.now()
    if not _allowed(recipient, kind, user, now):
        log.warning("mail to %s not queued (%s): over its cap", recipient, kind)
        return None
    message = OutboxMessage(
        kind=kind, user_id=user.id if user is not None else None, recipient=recipient,
        subject=subject.format(marca=content.brand()["name"]),
        created_at=now, next_attempt_at=now,
        leased_until=now + hold if hold else None, claim=HELD if hold else None,
        text_body=render_template(f"mail/{template}.txt", user=user, **context),
        html_body=render_template(f"mail/{template}.html", user=user, **context),
    )
    db.session.add(message)
    return message


def release(message):
    """A held message may go now."""
    message.leased_until = message.claim = None


def _allowed(recipient, kind, user, now):
    if kind in ONE_AN_HOUR and user is not None and _count(
            OutboxMessage.kind == kind, OutboxMessage.user_id == user.id,
            OutboxMessage.created_at > now - timedelta(hours=1)):
        return False
    if kind in ALWAYS_SENT:
        return True
    recent = _count(OutboxMessage.recipient == recipient, OutboxMessage.created_at > now - timedelta(days=1))
    return recent < current_app.config["MAIL_DAILY_CAP"]


def _count(*conditions):
    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(*conditions))


def deliver_due(limit=50, everything=False):
    """Deliver what is due (everything pending, back-off or not, with everything=True); a
    failed message is retried later with back-off. Returns the number sent.

    Each message is claimed by one atomic UPDATE ... RETURNING that also reads what it says,
    so two delivering processes never send one message twice, and nothing is read that another
    process may change."""
    token = secrets.token_hex(16)
    sent = 0
    for message in _claim(token, limit, everything):
        try:
            _send(message)
        except Exception as error:  # SMTP refused, timed out, network down: keep it for later
            _retry(message, token, error)
        else:
            sent += _mark_sent(message.id, token)
    return sent


def _claim(token, limit, everything):
    now = clock.now()
    due = select(OutboxMessage.id).where(
        OutboxMessage.sent_at.is_(None),
        (OutboxMessage.leased_until.is_(None)) | (OutboxMessage.leased_until <= now),
    ).order_by(OutboxMessage.id).limit(limit)
    if not everything:
        due = due.where(OutboxMessage.next_attempt_at <= now)
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(leased_until=now + LEASE, claim=token)
        .returning(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.text_body,
                   OutboxMessage.html_body, OutboxMessage.attempts, OutboxMessage.created_at)
    ).all()
    db.session.commit()
    return sorted(claimed, key=lambda row: row.id)


def _mark_sent(message_id, token):
    """Sent: what it said (a coded link, say) is the recipient's now; the table keeps no copy."""
    done = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.claim == token)
        .values(sent_at=clock.now(), text_body="", html_body="", leased_until=None, claim=None)
    ).rowcount
    db.session.commit()
    return done


def _retry(message, token, error):
    attempts = message.attempts + 1
    delay = RETRY_MINUTES[min(attempts, len(RETRY_MINUTES)) - 1]
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message.id, OutboxMessage.claim == token)
        .values(attempts=attempts, next_attempt_at=clock.now() + timedelta(minutes=delay),
                last_error=f"{type(error).__name__}: {error}"[:500], leased_until=None, claim=None)
    )
    db.session.commit()
    log.warning("mail to %s not sent (attempt %d): %s", message.recipient, attempts, error)


def _send(message):
    email = Message(
        subject=message.subject, recipients=[message.recipient],
        body=message.text_body, html=message.html_body,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    if current_app.config.get("MAIL_SERVER"):
        with _timeout(current_app.config["MAIL_TIMEOUT"]):
            mail.send(email)
        log.info("mail sent to %s: %s", message.recipient, message.subject)
        return
    folder = Path(current_app.instance_path) / "outbox"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{message.created_at:%Y%m%d-%H%M%S}-{message.id}.eml"
    path.write_text(email.as_string(), encoding="utf-8")
    log.info("mail to %s written to %s: %s", message.recipient, path, message.subject)


@contextmanager
def _timeout(seconds):
    """Every socket of the SMTP conversation gives up after `seconds` (Flask-Mail opens its
    connection with the process's default timeout; the worker sends one message at a time)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def pending():
    return _count(OutboxMessage.sent_at.is_(None))


def purge_sent():
    """Sent rows older than KEPT_DAYS are of no more use (the caps look back a day)."""
    db.session.execute(delete(OutboxMessage).where(
        OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at < clock.now() - timedelta(days=KEPT_DAYS)))
    db.session.commit()
