"""The staff's second factor: a TOTP code (RFC 6238, pyotp) and recovery codes. No HTML.

A code is accepted for the current 30-second step or the one before or after (clock drift),
and once only: the step of the last accepted code is kept per staff member
(StaffMember.totp_last_step), and a code of that step or an earlier one is refused, so a code
seen over someone's shoulder is worth nothing once used. Recovery codes (ten, shown once at
enrolment) are kept hashed and each works once. The QR code is drawn here (segno), never by a
third party: the secret never leaves the server except to the person enrolling.
"""
import hashlib
import hmac
import io
import secrets
from datetime import UTC

import pyotp
import segno
from sqlalchemy import delete, select, update

from . import clock, content, stable_keys
from .extensions import db
from .models import StaffMember, StaffRecoveryCode

RECOVERY_CODES = 10
STEP_SECONDS = 30
ISSUER = "soporte"


def new_secret():
    return pyotp.random_base32()


def provisioning_uri(staff, secret):
    return pyotp.TOTP(secret).provisioning_uri(name=staff.name, issuer_name=f"{content.brand()['name']} {ISSUER}")


def qr_svg(uri):
    """The provisioning address as an SVG QR code (text, made here)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True,
                                    title="Código QR para la aplicación de autenticación")
    return buffer.getvalue().decode()


def _step(moment):
    """The 30-second step of a naive UTC moment (the portal's clock)."""
    return int(moment.replace(tzinfo=UTC).timestamp()) // STEP_SECONDS


def matching_step(secret, code, moment=None):
    """The time step (current, previous or next) whose code this is, or None."""
    code = "".join((code or "").split())
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = _step(moment or clock.now())
    for step in (current - 1, current, current + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def check_code(staff, code):
    """True when code is a TOTP code of staff's secret not used before (its step is then kept;
    the caller commits). A concurrent use of the same code loses the conditional UPDATE."""
    if not staff.totp_secret:
        return False
    step = matching_step(staff.totp_secret, code)
    if step is None:
        return False
    claimed = db.session.execute(update(StaffMember).where(
        StaffMember.id == staff.id,
        (StaffMember.totp_last_step.is_(None)) | (StaffMember.totp_last_step < step),
    ).values(totp_last_step=step)).rowcount == 1
    if claimed:
        staff.totp_last_step = step
    return claimed


def enrol(staff, secret, code):
    """Keep secret as staff's second factor when code proves the app has it; the new recovery
    codes (plain, to be shown once), or None for a wrong code."""
    step = matching_step(secret, code)
    if step is None:
        return None
    _key()
    staff.totp_secret = secret
    staff.totp_last_step = step
    return new_recovery_codes(staff)


def _key():
    """A key the portal keeps for itself (it outlives SECRET_KEY rotations). Asked for before
    any write of the caller's transaction: making it the first time takes a transaction of its own."""
    return stable_keys.get("staff-recovery-codes")


def _hash(code, key):
    normalised = "".join(code.split()).replace("-", "").lower()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def new_recovery_codes(staff):
    """Ten fresh codes (older ones gone); only their hashes are kept."""
    key = _key()
    db.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        db.session.add(StaffRecoveryCode(staff_id=staff.id, code_hash=_hash(code, key)))
    return codes


def use_recovery_code(staff, code):
    """True when code is one of staff's unused recovery codes; it is spent (the caller commits)."""
    if not code or len(code) > 40:
        return False
    row_id = db.session.scalar(select(StaffRecoveryCode.id).where(
        StaffRecoveryCode.staff_id == staff.id, StaffRecoveryCode.code_hash == _hash(code, _key()),
        StaffRecoveryCode.used_at.is_(None)))
    if row_id is None:
        return False
    return db.session.execute(update(StaffRecoveryCode).where(
        StaffRecoveryCode.id == row_id, StaffRecoveryCode.used_at.is_(None)).values(used_at=clock.now())).rowcount == 1


def reset(staff):
    """No second factor: the next sign-in enrols again (an administrator's action)."""
    staff.totp_secret = None
    staff.totp_last_step = None
    db.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff.id))
