"""Extensions, created once and bound to the app in create_app()."""
import time

from flask import current_app, request
from flask_limiter import Limiter
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from limits.storage import MemoryStorage
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def client_address():
    """The client's address: the peer, or X-Forwarded-For behind TRUSTED_PROXIES (ProxyFix)."""
    return request.remote_addr or "unknown"


class SweptMemoryStorage(MemoryStorage):
    """`memory://` rate-limit counters, swept inline instead of by a timer thread.

    limits' MemoryStorage starts a new `threading.Timer` whenever the last one (10 ms) has
    ended, so under steady traffic nearly every hit starts a thread; that cost more than
    the rest of the limiter together. Here the sweep of expired counters runs in the
    request that finds the last one older than SWEEP_SECONDS (`get()` already drops an
    expired counter when it is read). Registered for the `memory` scheme, so
    RATELIMIT_STORAGE_URI=memory:// uses it. Relies on MemoryStorage's private
    `__schedule_expiry`/`__expire_events`: `limits` is pinned in requirements.txt, and
    tests/test_security.py checks no thread starts and counters do expire.
    """

    STORAGE_SCHEME = ["memory"]
    SWEEP_SECONDS = 1.0
    _next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self):
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
mail = Mail()
migrate = Migrate()
limiter = Limiter(key_func=client_address)


def limit(setting):
    """A limit string read from the app's config when the request is made."""
    return lambda: current_app.config[setting]
