"""The editable content of the access page (side panel, support contacts), from a TOML file."""
import tomllib
from functools import lru_cache
from pathlib import Path

from flask import current_app

DEFAULT_FILE = Path(__file__).parent / "content" / "acceso.toml"


def load():
    return _read(*version())


def version():
    """The content file and its modification time: changes whenever the file does."""
    path = Path(current_app.config.get("CONTENT_FILE") or DEFAULT_FILE)
    return path, path.stat().st_mtime_ns


@lru_cache(maxsize=4)
def _read(path, _mtime):
    with path.open("rb") as handle:
        return tomllib.load(handle)
