"""Importing legacy users from the previous system's CSV export (support's `users import`).

Columns: username, name, email, password_hash, temporary_password, question, answer,
last_login. Each row has either password_hash (a bcrypt hash of the legacy system, kept and
upgraded at the next sign-in) or temporary_password (the account then goes through the first
sign-in set-up). A legacy secret question is kept as it was written (the portal's list is for
new accounts). review() says which rows would be accepted and why the others are not;
commit() writes the accepted rows in one transaction, or nothing.
"""
import csv
import re
import unicodedata
from dataclasses import dataclass, field

from . import accounts, clock, usernames
from .extensions import db

COLUMNS = ("username", "name", "email", "password_hash", "temporary_password", "question", "answer", "last_login")
LEGACY_HASH = re.compile(r"^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$")


class BadHeader(ValueError):
    """The file's header is not the expected one (the message says what is missing or extra)."""


@dataclass
class Review:
    accepted: list = field(default_factory=list)  # (line number, canonical name, row)
    rejected: list = field(default_factory=list)  # (line number, canonical name or "-", reason)


def review(lines):
    """Read the CSV (an iterable of lines) and sort its rows; nothing is written."""
    reader = csv.DictReader(lines)
    missing = [c for c in ("username", "email") if c not in (reader.fieldnames or ())]
    unknown = [c for c in (reader.fieldnames or ()) if c not in COLUMNS]
    if missing or unknown:
        raise BadHeader(f"Encabezado no válido. Faltan: {', '.join(missing) or '-'}; sobran: "
                        f"{', '.join(unknown) or '-'}. Columnas: {', '.join(COLUMNS)}.")
    result, seen = Review(), {}
    for number, row in enumerate(reader, start=2):
        row = {key: (value or "").strip() for key, value in row.items() if key}
        reason = _problem(row, seen)
        name = usernames.canonical(row.get("username", "")) or "-"
        if reason:
            result.rejected.append((number, name, reason))
            continue
        seen[name] = number
        result.accepted.append((number, name, row))
    return result


def commit(accepted):
    """Create every accepted account in one transaction; on any error nothing is written."""
    try:
        for _number, name, row in accepted:
            temporary = row.get("temporary_password")
            accounts.create_user(
                name, temporary, row["email"], row.get("name", ""),
                row.get("question") or None, row.get("answer") or None,
                clock.parse_utc(row["last_login"]) if row.get("last_login") else None,
                password_hash=None if temporary else row["password_hash"], commit=False, legacy=True)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def _problem(row, seen):
    """Why a CSV row cannot be imported, or None."""
    name = usernames.canonical(row.get("username", ""))
    if not name:
        return "falta el usuario"
    if len(name) > usernames.MAX_LENGTH:
        return f"el usuario pasa de {usernames.MAX_LENGTH} caracteres"
    if name in seen:
        return f"usuario repetido (ya está en la fila {seen[name]})"
    if accounts.find(name) is not None:
        return "el usuario ya existe en el portal"
    if not accounts.valid_email(row.get("email", "")):
        return f"correo no válido: {row.get('email', '')!r}"
    return _password_problem(row) or _question_problem(row) or _date_problem(row)


def _password_problem(row):
    legacy, temporary = row.get("password_hash", ""), row.get("temporary_password", "")
    if bool(legacy) == bool(temporary):
        return "lleva una de dos: password_hash (bcrypt del sistema anterior) o temporary_password"
    if legacy and not LEGACY_HASH.match(legacy):
        return "password_hash no es un hash bcrypt ($2a$/$2b$/$2y$)"
    return None


def _question_problem(row):
    question, answer = row.get("question", ""), row.get("answer", "")
    if row.get("temporary_password") and (question or answer):
        return ("con contraseña temporal la pregunta secreta la elige el usuario al entrar: "
                "deje question y answer vacías")
    if bool(question) != bool(answer):
        return "la pregunta secreta y su respuesta van juntas"
    if len(question) > 200 or any(unicodedata.category(c).startswith("C") for c in question):
        return "la pregunta secreta pasa de 200 caracteres o lleva caracteres de control"
    return None


def _date_problem(row):
    if row.get("last_login"):
        try:
            clock.parse_utc(row["last_login"])
        except ValueError:
            return f"last_login no es una fecha ISO: {row['last_login']!r}"
    return None
