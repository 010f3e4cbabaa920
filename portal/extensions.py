"""Extensions, created once and bound to the app in create_app()."""
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


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
mail = Mail()
migrate = Migrate()
limiter = Limiter(key_func=client_address)


def limit(setting):
    """A limit string read from the app's config when the request is made."""
    return lambda: current_app.config[setting]
