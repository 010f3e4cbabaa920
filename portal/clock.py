"""The one clock of the portal: naive UTC datetimes, replaceable in tests."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app


def system_now():
    return datetime.now(UTC).replace(tzinfo=None)


def now():
    return current_app.config.get("CLOCK", system_now)()


def local(moment):
    """A stored UTC moment in the service's time zone (DISPLAY_TIMEZONE)."""
    zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
    return moment.replace(tzinfo=UTC).astimezone(zone)


def parse_utc(text):
    """A naive UTC datetime from an ISO date or date-time (one without a zone is taken as UTC)."""
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def option(_context, parameter, value):
    """Click callback for a CLI option holding an ISO date: naive UTC, or a clear error."""
    try:
        return parse_utc(value) if value else None
    except ValueError:
        raise click.BadParameter("use una fecha ISO, p. ej. 2026-05-31 o 2026-05-31T14:30",
                                 param_hint=f"--{parameter.name.replace('_', '-')}") from None
