"""The editable content of the portal, from a TOML file: the brand (name, logo, colours), the
footer and its legal note, the side panel's news and links, and the support contacts. An
operator makes the portal theirs here, without touching a template."""
import re
import tomllib
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from flask import current_app, g, has_request_context, request, url_for

from . import clock

DEFAULT_FILE = Path(__file__).parent / "content" / "acceso.toml"
# The file is looked at (stat) at most this often: an edit shows within a second.
CHECK_EVERY = timedelta(seconds=1)
_seen = {}  # path -> (when it was looked at, its modification time)


def load():
    return _read(*version())


def version():
    """The content file and its modification time: changes whenever the file does. Within a
    request it is looked up once (every page asks for it several times)."""
    if has_request_context():
        if "content_version" not in g:
            g.content_version = _version()
        return g.content_version
    return _version()


def _version():
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


BRAND_DEFAULTS = {"name": "e-Factura", "product": "Acceso", "logo": "icons/logo.svg",
                  "primary": "#0b5e4a", "primary_dark": "#08483a"}
FOOTER_DEFAULTS = {"text": "e-Factura · Comprobantes Fiscales Digitales por Internet (CFDI)", "legal": ""}
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?$")


def brand():
    """The brand of the content file over the defaults: name, product, full name, logo URL,
    colours (checked: a colour that is not #rgb or #rrggbb is not used), footer, legal note.
    Made once per content version (and script root, which the logo's URL depends on)."""
    path, mtime = version()
    return _brand(path, mtime, request.script_root if has_request_context() else None)


@lru_cache(maxsize=8)
def _brand(path, mtime, script_root):
    loaded = _read(path, mtime)
    made = {**BRAND_DEFAULTS, **loaded.get("brand", {})}
    for colour in ("primary", "primary_dark"):
        if not _COLOUR.match(str(made[colour])):
            made[colour] = BRAND_DEFAULTS[colour]
    footer = {**FOOTER_DEFAULTS, **loaded.get("footer", {})}
    logo = str(made["logo"])
    if not logo.startswith("/") and script_root is not None:
        logo = url_for("static", filename=logo)
    made.update(full=f"{made['name']} {made['product']}".strip(), footer=footer["text"], legal=footer["legal"],
                logo_url=logo, version=mtime)
    return MappingProxyType(made)


def support():
    """The support contacts: office hours, one or several office-hours phones, the after-hours
    phone, the support address and the payroll address."""
    contacts = dict(load().get("support", {}))
    phones = contacts.get("office_phones") or [contacts.get("office_phone", "")]
    contacts["office_phones"] = [str(phone) for phone in phones if phone]
    return contacts
