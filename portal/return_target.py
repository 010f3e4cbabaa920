"""Where a person goes after signing in: the return target (`rd`, as Authelia and oauth2-proxy
call it), kept server-side in the session and never echoed into a page.

The whole API:
    remember(raw)   keep `raw` in the session when it is a safe target; a refused one drops any
                    target kept before (the person then lands on the home page). True when kept.
    take()          the kept target, removed from the session; None when there is none.
    parse(raw, allowed_hosts)   the rule alone: `raw` when it is safe, else None (no session).
    CARRIED         session keys a new session keeps (sessions.begin, a spent coded link): the
                    target survives the sign-in, the first sign-in set-up and the recovery.

A safe target is
  - a path on the portal: starts with exactly one "/" (not "//", not "/\\"), or
  - an absolute URL "https://host[:port]/..." whose host (and port, when one is given) is in
    ALLOWED_RETURN_HOSTS: a comma-separated list of "host" or "host:port" entries, ".example.com"
    for the subdomains of example.com; "http://" only to a loopback host (127.0.0.0/8, ::1,
    localhost) listed with its port, for local set-ups and tests.
Refused whatever the host: backslashes, whitespace and control characters (also percent-encoded,
at any depth of encoding, before the query; in the query and fragment, control characters),
userinfo ("@" before the host), "%" in the host, non-ASCII text, "." and ".." path segments
(also ";"-suffixed ones such as "..;"), other schemes (javascript:, data:, ...), and anything
over MAX_LENGTH characters. It is a list of what is accepted: an
entry matches its host exactly, or a whole label suffix (".example.com" never matches
"evilexample.com").
"""
import ipaddress
import re
from urllib.parse import unquote, urlsplit

from flask import current_app, session

KEY = "return_to"
CARRIED = (KEY,)
MAX_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # control characters, space, backslash
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST = re.compile(r"^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$")


def remember(raw):
    """Keep `raw` as the target when safe; a refused target drops any kept before."""
    target = parse(raw, current_app.config.get("ALLOWED_RETURN_HOSTS", ""))
    if target is None:
        session.pop(KEY, None)
        return False
    session[KEY] = target
    return True


def take():
    """The kept target (checked again against today's settings), removed from the session."""
    if KEY not in session:
        return None
    return parse(session.pop(KEY), current_app.config.get("ALLOWED_RETURN_HOSTS", ""))


def parse(raw, allowed_hosts):
    """`raw` when it is a safe target under `allowed_hosts` (the ALLOWED_RETURN_HOSTS text), else None."""
    if (not isinstance(raw, str) or not raw or len(raw) > MAX_LENGTH or not raw.isascii()
            or _UNSAFE.search(raw)):
        return None
    cut = min((i for i in (raw.find("?"), raw.find("#")) if i >= 0), default=len(raw))
    decoded, query = _fully_decoded(raw[:cut]), _fully_decoded(raw[cut:])
    if decoded is None or query is None or _UNSAFE.search(decoded) or _CONTROL.search(query):
        return None  # (an encoded space may stay in the query: "scope=openid%20email")
    if any(segment.split(";", 1)[0] in (".", "..") for segment in decoded.split("/")):
        return None
    if raw.startswith("/"):
        return raw if not decoded.startswith("//") else None
    scheme, sep, _rest = raw.partition("://")
    if not sep or scheme.lower() not in DEFAULT_PORTS:
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    netloc = parts.netloc.lower()
    if not netloc or "@" in netloc or "%" in netloc or not parts.hostname:
        return None
    host = netloc.rsplit(":", 1)[0] if port is not None else netloc
    if not _HOST.match(host):
        return None
    return raw if _allowed(parts.scheme.lower(), parts.hostname, port, allowed_hosts) else None


def _fully_decoded(raw):
    """raw with its percent-encoding undone until nothing changes (a few rounds at most)."""
    text = raw
    for _ in range(4):
        try:
            decoded = unquote(text, errors="strict") if "%" in text else text
        except UnicodeDecodeError:
            return None
        if decoded == text:
            return decoded
        text = decoded
    return None  # still encoded after four rounds: no honest URL is


def _allowed(scheme, hostname, port, allowed_hosts):
    port = port if port is not None else DEFAULT_PORTS[scheme]
    for entry_host, entry_port in entries(allowed_hosts):
        if entry_host.startswith("."):
            matches = hostname.endswith(entry_host) and len(hostname) > len(entry_host)
        else:
            matches = hostname == entry_host
        if not matches:
            continue
        if scheme == "http":
            if entry_port is not None and port == entry_port and is_loopback(hostname):
                return True
        elif port == (entry_port if entry_port is not None else DEFAULT_PORTS["https"]):
            return True
    return False


def entries(allowed_hosts):
    """[(host, port or None)] of the ALLOWED_RETURN_HOSTS text; IPv6 hosts without brackets."""
    found = []
    for item in (allowed_hosts or "").split(","):
        item = item.strip().lower()
        if not item:
            continue
        match = re.fullmatch(r"(\[[0-9a-f:.]+\]|[^:]+)(?::([0-9]{1,5}))?", item)
        if match is None:
            continue
        host, port = match.group(1).strip("[]"), int(match.group(2)) if match.group(2) else None
        found.append((host, port))
    return found


def is_loopback(hostname):
    """localhost, 127.0.0.0/8 or ::1."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def form_action_sources(allowed_hosts):
    """The CSP form-action sources of the allowed hosts: a form posted without JavaScript may be
    answered with a redirect to one of them, which the browser checks against form-action."""
    sources = []
    for host, port in entries(allowed_hosts):
        shown = f"[{host}]" if ":" in host else host
        shown = "*" + shown if shown.startswith(".") else shown
        suffix = f":{port}" if port is not None else ""
        sources.append(f"https://{shown}{suffix}")
        if port is not None and is_loopback(host):
            sources.append(f"http://{shown}{suffix}")
    return sources
