"""The administrators' part of the console: staff (create, disable or enable, reset the second
factor), importing legacy users from a CSV with a preview (the rules of `users import`), and
the audit trail searched with filters and exported as CSV. Every route is for the
administrator role alone."""
import base64
import binascii
import csv
import io

from flask import Blueprint, abort, flash, make_response, request, url_for

from .. import audit, clock, customer_record, legacy_import, staff, support_actions
from ..extensions import client_address, db
from ..htmx import redirect_to, render
from . import console_access
from .console_access import staff_only

bp = Blueprint("console_admin", __name__, url_prefix="/soporte/admin")
console_access.init_blueprint(bp)
PAGE = "console.html"
ADMIN = staff.ADMIN
STAFF_ACTIONS = {
    "deshabilitar": ("Deshabilitar", "No podrá entrar a la consola, y sus sesiones abiertas se cierran ahora."),
    "habilitar": ("Habilitar", "Podrá volver a entrar a la consola con su contraseña y su segundo factor."),
    "factor": ("Restablecer el segundo factor",
               "Su aplicación de autenticación y sus códigos de recuperación dejan de servir; sus sesiones se "
               "cierran, y en su próximo ingreso dará de alta un segundo factor nuevo."),
}
EXPORT_LIMIT = 10_000


# Staff

@bp.get("/personal")
@staff_only(ADMIN)
def staff_list():
    return _staff_page()


def _staff_page(error=None, form=None, link=None, created=None):
    return render("console/staff", template=PAGE, title="Personal", members=staff.everyone(), error=error,
                  form=form or {}, link=link, created=created, roles=staff.ROLE_NAMES)


@bp.post("/personal")
@staff_only(ADMIN)
def staff_create():
    form = {key: (request.form.get(key) or "").strip()[:254] for key in ("name", "email", "role")}
    try:
        member, link = staff.create(form["name"], form["email"], form["role"], client_address(),
                                    agent=console_access.agent())
    except ValueError as error:
        return _staff_page(str(error), form)
    return _staff_page(link=link, created=member)


def _member_or_404(staff_id):
    member = staff.by_id(staff_id)
    if member is None:
        abort(404)
    return member


@bp.get("/personal/<int:staff_id>/<action>")
@staff_only(ADMIN)
def staff_confirm(staff_id, action):
    member = _member_or_404(staff_id)
    if action not in STAFF_ACTIONS:
        abort(404)
    return _staff_confirm_page(member, action)


def _staff_confirm_page(member, action, error=None, reason=""):
    title, effect = STAFF_ACTIONS[action]
    return render("console/staff-confirm", template=PAGE, title=title, member=member, action=action,
                  action_title=title, effect=effect, error=error, reason=reason,
                  token=console_access.confirmation("staff-" + action, member.id))


@bp.post("/personal/<int:staff_id>/<action>")
@staff_only(ADMIN)
def staff_act(staff_id, action):
    member = _member_or_404(staff_id)
    if action not in STAFF_ACTIONS:
        abort(404)
    reason = (request.form.get("reason") or "").strip()
    if not console_access.confirmed("staff-" + action, member.id, request.form.get("confirmation")):
        return _staff_confirm_page(member, action, "Confirme la acción en esta página (la confirmación venció o "
                                                   "no corresponde a este miembro).", reason)
    problem = support_actions.reason_problem(reason)
    if problem:
        return _staff_confirm_page(member, action, problem, reason)
    by, agent = client_address(), console_access.agent()
    if action == "deshabilitar":
        staff.disable(member, by, reason, agent)
    elif action == "habilitar":
        staff.enable(member, by, reason, agent)
    else:
        staff.reset_second_factor(member, by, reason, agent)
    flash(f"{STAFF_ACTIONS[action][0]}: hecho para {member.name}.")
    return redirect_to("console_admin.staff_list")


# Importing legacy users

@bp.get("/importar")
@staff_only(ADMIN)
def import_form():
    return render("console/import", template=PAGE, title="Importar usuarios", review=None, error=None)


def _read_upload():
    upload = request.files.get("archivo")
    if upload is None or not upload.filename:
        return None, "Elija el archivo CSV exportado del sistema anterior."
    try:
        return upload.read().decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return None, "El archivo no está en UTF-8. Guárdelo como «CSV UTF-8» y vuelva a intentarlo."


def _review(text):
    try:
        return legacy_import.review(io.StringIO(text, newline="")), None
    except (legacy_import.BadHeader, csv.Error) as error:
        return None, str(error)


@bp.post("/importar")
@staff_only(ADMIN)
def import_preview():
    """The preview: which rows would be accepted, which rejected and why; nothing is written."""
    text, error = _read_upload()
    review = None
    if text is not None:
        review, error = _review(text)
    return render("console/import", template=PAGE, title="Importar usuarios", review=review, error=error,
                  carried=base64.b64encode((text or "").encode()).decode() if review else None)


@bp.post("/importar/confirmar")
@staff_only(ADMIN)
def import_commit():
    """Import the accepted rows of the previewed file (reviewed again now: the same rules)."""
    try:
        text = base64.b64decode(request.form.get("contenido") or "", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = None
    review, error = _review(text) if text else (None, "Vuelva a elegir el archivo.")
    if review is None:
        return render("console/import", template=PAGE, title="Importar usuarios", review=None, error=error)
    if review.accepted:
        try:
            legacy_import.commit(review.accepted)
        except Exception as failure:  # a row that became invalid meanwhile: nothing is written
            return render("console/import", template=PAGE, title="Importar usuarios", review=None,
                          error=f"No se importó nada: {failure}")
    audit.record("users_imported", console_access.agent(), "ok", client_address(), accepted=len(review.accepted),
                 rejected=len(review.rejected))
    db.session.commit()
    flash(f"Importados: {len(review.accepted)}. Rechazados: {len(review.rejected)}.")
    return redirect_to("console_admin.import_form")


# The audit trail

def _filters():
    args = request.args
    filters = {key: (args.get(key) or "").strip()[:255] for key in ("usuario", "tipo", "resultado", "desde", "hasta")}
    problems = []
    moments = {}
    for key in ("desde", "hasta"):
        try:
            moments[key] = clock.parse_utc(filters[key]) if filters[key] else None
        except ValueError:
            problems.append(f"«{filters[key]}» no es una fecha (use por ejemplo 2026-05-31 o 2026-05-31T14:30).")
            moments[key] = None
    return filters, moments, problems


@bp.get("/auditoria")
@staff_only(ADMIN)
def audit_search():
    filters, moments, problems = _filters()
    number = customer_record.page_number(request.args.get("pagina"))
    size = customer_record.PAGE_SIZE
    query = dict(username=filters["usuario"] or None, kind=filters["tipo"] or None,
                 outcome=filters["resultado"] or None, since=moments["desde"], until=moments["hasta"])
    if request.args.get("formato") == "csv" and not problems:
        return _export(audit.search(**query, limit=EXPORT_LIMIT))
    found = [] if problems else list(reversed(audit.search(**query, limit=size + 1, offset=(number - 1) * size)))
    page = customer_record.Page(found[:size], number, len(found) > size)
    return render("console/audit", template=PAGE, title="Auditoría", events=page, filters=filters,
                  problems=problems, local=clock.local,
                  export=url_for("console_admin.audit_search", formato="csv",
                                 **{key: value for key, value in filters.items() if value}))


def _cell(value):
    """A spreadsheet never runs a cell as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _export(events):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["fecha_utc", "usuario", "tipo", "resultado", "direccion", "detalle"])
    for event in reversed(events):  # newest first
        detail = "; ".join(f"{key}={value}" for key, value in (event.detail or {}).items())
        writer.writerow([_cell(v) for v in (event.at.isoformat(), event.username, event.kind, event.outcome,
                                            event.client_ip, detail)])
    response = make_response(buffer.getvalue())
    response.mimetype = "text/csv"
    response.headers["Content-Disposition"] = "attachment; filename=auditoria.csv"
    audit.record("audit_exported", console_access.agent(), "ok", client_address(), rows=len(events))
    db.session.commit()
    return response
