"""The parts of every page that depend on no request: the head's links, the site header and
footer, the side panel read from the content file.

`chrome(name)` (a Jinja global) renders such a template once and hands out the markup after
that, until the content file changes (content.version()) or the template itself is reloaded
(development: Jinja gives a new template object). What depends on the request (the CSRF
token, the name typed, a message) is never in these templates: they are rendered with no
request values at all, so nothing in them can be another visitor's.
"""
from flask import current_app, request
from markupsafe import Markup

from . import content

KEPT = 64  # most renders kept per app; a handful are in use


def chrome(name):
    template = current_app.jinja_env.get_template(name)
    kept = current_app.extensions.setdefault("portal.chrome", {})
    key = (template, content.version(), request.script_root)
    markup = kept.get(key)
    if markup is None:
        if len(kept) >= KEPT:
            kept.clear()
        # render(): no context processors, so no request values; its output is escaped
        # already (autoescape), so it is markup as it stands.
        markup = kept[key] = Markup(template.render())  # noqa: S704  # nosec B704
    return markup


def init_app(app):
    app.jinja_env.globals.update(chrome=chrome)
