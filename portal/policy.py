"""The password policy of the change-password step (SPEC section 3), as a checklist."""
import gzip
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import usernames

CONTENT = Path(__file__).parent / "content"
MIN_LENGTH = 8
MAX_LENGTH = 512   # bcrypt's 72 bytes do not limit it: passwords are pre-hashed
BCRYPT_BYTES = 72


@dataclass(frozen=True)
class Rule:
    key: str
    text: str
    met: bool


@cache
def common_passwords():
    with gzip.open(CONTENT / "common-passwords.txt.gz", "rt", encoding="utf-8") as handle:
        words = {line.strip().casefold() for line in handle if line.strip()}
    extra = (CONTENT / "common-passwords-es.txt").read_text(encoding="utf-8").split()
    return frozenset(words | {word.casefold() for word in extra})


def _is_sign(char):
    return unicodedata.category(char)[0] in "PS"


def checklist(password, username, confirmation=None):
    """Every rule with whether password meets it; the last ones only when they apply."""
    password = password or ""
    parsed = usernames.parse(username or "")
    lowered = password.casefold()
    own_name = bool(password) and (
        lowered == (username or "").casefold() or (parsed is not None and parsed.rfc.casefold() in lowered))
    rules = [
        Rule("length", f"Al menos {MIN_LENGTH} caracteres", len(password) >= MIN_LENGTH),
        Rule("upper", "Una letra mayúscula", any(c.isupper() for c in password)),
        Rule("digit", "Un número", any(c.isdigit() for c in password)),
        Rule("sign", "Un signo de puntuación (por ejemplo . , ; : ! ? - _ @ #)", any(_is_sign(c) for c in password)),
        Rule("not_username", "Distinta de su usuario y sin su RFC", bool(password) and not own_name),
        Rule("not_common", "No es una contraseña común", bool(password) and lowered not in common_passwords()),
    ]
    if len(password) > MAX_LENGTH:
        rules.append(Rule("max_length", f"Como máximo {MAX_LENGTH} caracteres (escribió {len(password)})", False))
    elif len(password.encode("utf-8")) > BCRYPT_BYTES:
        rules.append(Rule("long", "Frase larga de más de 72 bytes: se acepta y se usa completa", True))
    if confirmation is not None:
        rules.append(Rule("confirmed", "La confirmación coincide", bool(password) and password == confirmation))
    return rules


def acceptable(password, username, confirmation):
    return all(rule.met for rule in checklist(password, username, confirmation))
