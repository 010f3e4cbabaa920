"""Forward authentication: what the portal tells a reverse proxy (nginx `auth_request`, Traefik
`forwardAuth`, Caddy `forward_auth`) about the person behind a request to the application.

The proxy says which request it is asking about in its headers: nginx in `X-Original-URL`
(set by its config), Traefik and Caddy in `X-Forwarded-Proto`, `X-Forwarded-Host`,
`X-Forwarded-Uri` (and `X-Forwarded-Method`). original_url() reads them; identity() is what the
application gets for a signed-in person. No HTML, no request: the view passes the headers.
"""
import re
from dataclasses import dataclass

from . import usernames

# The kind of user (usernames.KINDS) as the application reads it in Remote-Groups.
GROUPS = {"customer": "cliente", "employee": "empleado", "free": "gratuito", "supplier": "proveedor"}
MAX_URL = 4096
_VISIBLE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no space: nothing else belongs in a URL
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


class Malformed(ValueError):
    """The proxy's description of the original request does not make a URL."""


@dataclass(frozen=True)
class Original:
    url: str | None     # None: the proxy did not say (a plain check of the session)
    method: str = "GET"
    via_forwarded: bool = False  # told with X-Forwarded-* (Traefik, Caddy), not X-Original-URL (nginx)


def original(headers):
    """The original request the proxy asks about; Malformed when its headers make no sane URL."""
    method = headers.get("X-Forwarded-Method") or headers.get("X-Original-Method") or "GET"
    if not re.fullmatch(r"[A-Z]{3,10}", method):
        raise Malformed("method")
    url = headers.get("X-Original-URL")
    if url is not None:
        return Original(_checked(url), method)
    proto, host, uri = (headers.get(f"X-Forwarded-{part}") for part in ("Proto", "Host", "Uri"))
    if proto is None and host is None and uri is None:
        return Original(None, method)
    if proto not in ("http", "https") or host is None or not _HOST.match(host):
        raise Malformed("host")
    uri = uri if uri is not None else "/"
    if not uri.startswith("/") or uri.startswith("//"):
        raise Malformed("uri")
    return Original(_checked(f"{proto}://{host}{uri}"), method, via_forwarded=True)


def _checked(url):
    if not url or len(url) > MAX_URL or not _VISIBLE.match(url):
        raise Malformed("url")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise Malformed("scheme")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not _HOST.match(host):
        raise Malformed("host")
    return url


def identity(user):
    """The headers the application gets for `user`: the canonical user name, name, e-mail and
    kind. Values are UTF-8 (as Authelia sends them); line breaks never reach a header."""
    parsed = usernames.parse(user.username)
    group = GROUPS[parsed.kind] if parsed is not None else ""
    return {"Remote-User": user.username, "Remote-Name": _header(user.display_name),
            "Remote-Email": _header(user.email), "Remote-Groups": group}


def _header(value):
    """A header value whose bytes on the wire are the UTF-8 of `value` (WSGI headers are
    latin-1 strings: PEP 3333), control characters dropped."""
    clean = "".join(ch for ch in (value or "") if ch >= " " and ch != "\x7f")
    return clean.encode("utf-8").decode("latin-1")
