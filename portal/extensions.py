"""Extensions, created once and bound to the app in create_app()."""
import ipaddress

from flask import current_app, request
from flask_limiter import Limiter
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def client_address():
    """The client's address: the peer, or X-Forwarded-For behind TRUSTED_PROXIES (ProxyFix)."""
    return request.remote_addr or "unknown"


def client_key():
    """Who a per-client rate limit counts: the IPv4 address, or the /64 network of an IPv6
    address (one subscriber holds a whole /64 and can rotate through it); an IPv4 address
    written as IPv6 (::ffff:a.b.c.d) is that IPv4 address."""
    address = client_address()
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
mail = Mail()
migrate = Migrate()
limiter = Limiter(key_func=client_key)


def limit(setting):
    """A limit string read from the app's config when the request is made."""
    return lambda: current_app.config[setting]
