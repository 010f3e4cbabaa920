"""A stand-in for the invoicing application behind the reverse proxy (tests only).

It trusts the Remote-* headers, as the real application does behind the proxy, and shows them,
with the portal's sign-out link (`PORTAL_URL/salir?rd=<this page>`). Served by the launcher of
live_server.py: `stand_in_app:application`.
"""
import html
import os
from urllib.parse import quote

HEADERS = ("Remote-User", "Remote-Name", "Remote-Email", "Remote-Groups")


def received(environ, name):
    """A header as the proxy sent it, its UTF-8 bytes decoded (WSGI hands them over as latin-1)."""
    value = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
    return value.encode("latin-1").decode("utf-8", errors="replace")


def application(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    here = f"{environ['wsgi.url_scheme']}://{environ['HTTP_HOST']}{environ.get('RAW_URI') or '/'}"
    sign_out = f"{os.environ.get('PORTAL_URL', '')}/salir?rd={quote(here, safe='')}"
    rows = "".join(f'<dt>{name}</dt><dd id="{name.lower()}">{html.escape(received(environ, name))}</dd>'
                   for name in HEADERS)
    body = (f'<!doctype html><html lang="es"><head><meta charset="utf-8"><title>Facturación</title></head>'
            f'<body><h1>Facturación</h1><p id="method">{html.escape(environ["REQUEST_METHOD"])}</p>'
            f'<dl>{rows}</dl><a id="salir" href="{html.escape(sign_out)}">Salir</a></body></html>').encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])
    return [body]
