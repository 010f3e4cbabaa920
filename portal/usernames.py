"""The four kinds of user name (SPEC section 4) and their canonical form."""
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

# Prefix as written canonically; matched case-insensitively.
PREFIXES = {"ct.": "CT.", "usr.": "usr.", "prv.": "PRV."}
KINDS = {"": "customer", "CT.": "employee", "usr.": "free", "PRV.": "supplier"}
_RFC = re.compile(r"^([A-ZÑ&]{3,4})(\d{2})(\d{2})(\d{2})([A-Z0-9]{3})$")
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
