"""The one clock of the portal: naive UTC datetimes, replaceable in tests."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def system_now():
    return datetime.now(UTC).replace(tzinfo=None)


def now():
    return current_app.config.get("CLOCK", system_now)()


def local(moment):
    """A stored UTC moment in the service's time zone (DISPLAY_TIMEZONE)."""
    zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
    return moment.replace(tzinfo=UTC).astimezone(zone)
