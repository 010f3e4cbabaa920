"""The portal as an OpenID Connect provider (SPEC section 6): keys, clients, codes and
tokens, and Authlib's server wired to them. The endpoints are in portal/views/oidc.py."""
from . import clients, keys, server


def init_app(app):
    keys.init_app(app)
    clients.init_app(app)
    server.init_app(app)
