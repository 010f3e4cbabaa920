"""The editable content of the access page (side panel, support contacts), from a TOML file."""
import tomllib
from functools import lru_cache
from pathlib import Path

from flask import current_app

DEFAULT_FILE = Path(__file__).parent / "content" / "acceso.toml"


def load():
    path = Path(current_app.config.get("CONTENT_FILE") or DEFAULT_FILE)
    return _read(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _read(path, _mtime):
    with path.open("rb") as handle:
        return tomllib.load(handle)
