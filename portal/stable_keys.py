"""Secrets the portal makes for itself, once, and keeps in the database: they never rotate.

SECRET_KEY signs sessions and may be rotated; what must look the same before and after a
rotation (the decoy question of an unknown name, the masked form of a typed name) is keyed
by one of these instead, so that a rotation tells nobody which names are real.
"""
import secrets

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db
from .models import StableKey


def get(name):
    """The key called name (32 random bytes), made the first time it is asked for; every
    process and machine gets the same one."""
    kept = current_app.extensions.setdefault("portal.stable_keys", {})
    if name not in kept:
        dialect = sqlite if db.engine.dialect.name == "sqlite" else postgresql
        with db.engine.begin() as connection:  # its own transaction: the caller's is left alone
            connection.execute(dialect.insert(StableKey).values(name=name, value=secrets.token_bytes(32))
                               .on_conflict_do_nothing())
            kept[name] = connection.scalar(select(StableKey.value).where(StableKey.name == name))
    return kept[name]
