"""The four kinds of user name (SPEC section 4): their canonical form, and what is wrong with a
name typed on the recovery form."""
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

# Prefix as written canonically; matched case-insensitively.
PREFIXES = {"ct.": "CT.", "usr.": "usr.", "prv.": "PRV."}
KINDS = {"": "customer", "CT.": "employee", "usr.": "free", "PRV.": "supplier"}
_RFC = re.compile(r"^([A-ZÑ&]{3,4})([0-9]{2})([0-9]{2})([0-9]{2})([A-Z0-9]{3})$")  # ASCII digits only
_DROPPED = re.compile(r"[\s\-]+")
MAX_LENGTH = 64


@dataclass(frozen=True)
class UserName:
    prefix: str
    rfc: str

    @property
    def canonical(self):
        return self.prefix + self.rfc

    @property
    def kind(self):
        return KINDS[self.prefix]


def _valid_date(yy, mm, dd):
    # Any century works for the check: 29 February needs a leap year in one of them.
    return any(_is_date(century + int(yy), int(mm), int(dd)) for century in (1900, 2000))


def _is_date(year, month, day):
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def split_prefix(text):
    lowered = text.lower()
    for typed, canonical in PREFIXES.items():
        if lowered.startswith(typed):
            return canonical, text[len(typed):]
    return "", text


def parse(text):
    """The UserName of one of the four kinds, or None when text is not of those shapes."""
    text = unicodedata.normalize("NFC", text).strip()
    prefix, rest = split_prefix(text)
    rfc = _DROPPED.sub("", rest).upper()
    match = _RFC.match(rfc)
    if not match or not _valid_date(*match.group(2, 3, 4)):
        return None
    return UserName(prefix, rfc)


def canonical(text):
    """Canonical form for lookup; a name of no known kind is used as typed (outer spaces off)."""
    parsed = parse(text)
    return parsed.canonical if parsed else unicodedata.normalize("NFC", text).strip()


# The shape check of the recovery form: what was expected, in words, on a near miss.

@dataclass(frozen=True)
class Shape:
    canonical: str | None = None   # set when the name is of one of the four kinds, as typed
    problem: str | None = None     # what is wrong, for the user
    suggestion: str | None = None  # the canonical form of a near miss


def check_shape(typed):
    typed = (typed or "").strip()
    if not typed:
        return Shape(problem="Escriba su usuario.")
    parsed = parse(typed)
    if parsed is not None:
        if parsed.canonical == typed:
            return Shape(canonical=typed)
        return Shape(suggestion=parsed.canonical, problem=(
            f"Escriba su usuario así: {parsed.canonical} (prefijo como se indica, RFC en mayúsculas, "
            "sin guiones ni espacios)."))
    return Shape(problem=_why_not_an_rfc(typed))


def _why_not_an_rfc(typed):
    _prefix, rest = split_prefix(typed)
    rfc = _DROPPED.sub("", rest).upper()
    if len(rfc) not in (12, 13):
        return (f"El RFC tiene 12 caracteres (empresas) o 13 (personas físicas); "
                f"el que escribió tiene {len(rfc)}.")
    letters = len(rfc) - 9
    if not re.fullmatch(r"[A-ZÑ&]+", rfc[:letters]) or not re.fullmatch(r"[0-9]{6}", rfc[letters:letters + 6]):
        return ("El RFC empieza con 3 letras (empresas) o 4 (personas físicas), sigue con la fecha "
                "en 6 dígitos (AAMMDD) y termina con la homoclave de 3 caracteres.")
    if not re.fullmatch(r"[A-Z0-9]{3}", rfc[-3:]):
        return "La homoclave (los 3 últimos caracteres del RFC) solo lleva letras y números."
    return f"La fecha del RFC ({rfc[letters:letters + 6]}, AAMMDD) no es una fecha válida."
