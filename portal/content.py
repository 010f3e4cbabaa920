"""The editable content of the access page (side panel, support contacts), from a TOML file."""
import tomllib
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from flask import current_app

from . import clock

DEFAULT_FILE = Path(__file__).parent / "content" / "acceso.toml"
# The file is looked at (stat) at most this often: an edit shows within a second.
CHECK_EVERY = timedelta(seconds=1)
_seen = {}  # path -> (when it was looked at, its modification time)


def load():
    return _read(*version())


def version():
    """The content file and its modification time: changes whenever the file does."""
    path = current_app.config.get("CONTENT_FILE") or DEFAULT_FILE
    now = clock.now()
    seen = _seen.get(path)
    if seen is None or not now - CHECK_EVERY < seen[0] <= now:
        seen = _seen[path] = (now, Path(path).stat().st_mtime_ns)
    return path, seen[1]


@lru_cache(maxsize=4)
def _read(path, _mtime):
    with Path(path).open("rb") as handle:
        return tomllib.load(handle)


def display_date(value):
    """An ISO date of the content file as the site shows dates: dd/mm/aaaa."""
    try:
        return date.fromisoformat(str(value)).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)
