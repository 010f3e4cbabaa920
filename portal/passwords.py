"""Password hashing: bcrypt over a keyed pre-hash, so any length and any Unicode works.

OWASP Password Storage cheat sheet, "pre-hashing passwords with bcrypt":
bcrypt(base64(hmac-sha384(password, key))). bcrypt 5 refuses inputs past 72 bytes; the
pre-hash is always 64 ASCII characters. Hashes imported from the legacy system are plain
bcrypt and are upgraded on the next successful sign-in.
"""
import base64
import functools
import hashlib
import hmac
import logging
import re

import bcrypt
from flask import current_app

log = logging.getLogger("portal.passwords")

SCHEME = "$hmac-sha384$"
_BCRYPT_COST = re.compile(r"^\$2[aby]\$([0-9]{2})\$")


def _prehash(password):
    key = current_app.config["PASSWORD_PEPPER"].encode()  # never empty: create_app refuses that
    digest = hmac.new(key, password.encode("utf-8", "surrogatepass"), hashlib.sha384).digest()
    return base64.b64encode(digest)


def hash_password(password, rounds=None):
    rounds = rounds or current_app.config["BCRYPT_ROUNDS"]
    return SCHEME + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def verify(password, stored):
    """True when password matches the stored hash (either scheme)."""
    if stored.startswith(SCHEME):
        return _checkpw(_prehash(password), stored[len(SCHEME):])
    if not _BCRYPT_COST.match(stored):
        return False  # not a bcrypt hash: none is ever stored (the import refuses them)
    raw = password.encode("utf-8", "surrogatepass")
    if len(raw) > 72:
        # A legacy hash comes from a password of 72 bytes or less, so this one cannot match;
        # the check is still made (on the pre-hash, which fits), so that it costs what any
        # check of this hash costs and the answer does not come at once.
        _checkpw(_prehash(password), stored)
        return False
    return _checkpw(raw, stored)


def _checkpw(secret, hashed):
    """bcrypt's check; a damaged stored hash (bcrypt cannot read its salt) matches nothing."""
    try:
        return bcrypt.checkpw(secret, hashed.encode())
    except ValueError:
        log.warning("a stored hash is not a valid bcrypt hash: no password matches it")
        return False


def needs_rehash(stored):
    match = _BCRYPT_COST.match(stored.removeprefix(SCHEME))
    cost = int(match.group(1)) if match else 0
    return not stored.startswith(SCHEME) or cost != current_app.config["BCRYPT_ROUNDS"]


@functools.cache
def _dummy_hash(rounds, pepper):
    return hash_password("una contraseña que nadie tiene", rounds)


def verify_dummy(password):
    """Spend the time of a real check, for user names that do not exist."""
    config = current_app.config
    verify(password, _dummy_hash(config["BCRYPT_ROUNDS"], config["PASSWORD_PEPPER"]))
    return False


def verify_evenly(password, stored):
    """verify(), taking as long as a check at the configured cost even when the stored hash
    is cheaper (imported, or made before BCRYPT_ROUNDS rose): bcrypt's time doubles with each
    cost step, so checks at costs c .. BCRYPT_ROUNDS-1 add exactly the missing time and an
    unknown user name (verify_dummy) cannot be told from such an account."""
    matches = verify(password, stored)
    match = _BCRYPT_COST.match(stored.removeprefix(SCHEME))
    config = current_app.config
    for cost in range(max(int(match.group(1)) if match else 4, 4), config["BCRYPT_ROUNDS"]):
        verify(password, _dummy_hash(cost, config["PASSWORD_PEPPER"]))
    return matches


def marker(stored):
    """A short fingerprint of a stored hash: it changes whenever the password does, so a coded
    link or a recovery proof made for one password is void once it changes."""
    return hashlib.sha256(stored.encode()).hexdigest()[:32]
