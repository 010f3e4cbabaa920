"""The administrators' console: staff (create, disable, reset the second factor), the legacy
CSV import with its preview, the audit trail with filters and CSV export."""
import csv
import io
import re

import pytest

from helpers import (
    STAFF_PASSWORD,
    console_act,
    console_password,
    console_sign_in,
    make_staff,
    make_user,
    post,
    text,
)
from portal import accounts, staff
from portal.extensions import db
from portal.models import AuthEvent

LEGACY_HASH = "$2b$12$" + "a" * 53


@pytest.fixture
def admin(app, clock):
    make_staff(app, "jefa", "administrador")
    client = app.test_client()
    console_sign_in(client, clock, "jefa")
    return client


def staff_id(app, name):
    with app.app_context():
        return staff.find(name).id


def test_create_staff_shows_the_setup_link_once(app, admin):
    bad = post(admin, "/soporte/admin/personal", {"name": "Luis Pérez", "email": "luis@soporte.example",
                                                  "role": "soporte"}, page="/soporte/admin/personal")
    assert "letras minúsculas" in text(bad)
    done = post(admin, "/soporte/admin/personal", {"name": "luis", "email": "luis@soporte.example", "role": "soporte"},
                page="/soporte/admin/personal")
    link = re.search(r"/soporte/alta\?codigo=[\w-]+", text(done))
    assert link
    assert link.group(0) not in text(admin.get("/soporte/admin/personal"))
    with app.app_context():
        event = db.session.query(AuthEvent).filter_by(kind="staff_created", username="soporte:luis").one()
        assert (event.username, event.detail["agent"]) == ("soporte:luis", "soporte:jefa")


def test_disable_staff_ends_their_sessions(app, admin, clock):
    make_staff(app, "ana")
    agent = app.test_client()
    clock.advance(seconds=30)
    console_sign_in(agent, clock)
    path = f"/soporte/admin/personal/{staff_id(app, 'ana')}/deshabilitar"
    assert "Escriba el motivo" in text(console_act(admin, path, reason=""))
    assert agent.get("/soporte/clientes").status_code == 200
    console_act(admin, path, reason="Dejó el área de soporte")
    assert agent.get("/soporte/clientes").status_code == 303
    assert "deshabilitada" in text(console_password(app.test_client()))


def test_reset_second_factor_means_enrolling_again(app, admin, clock):
    make_staff(app, "ana")
    console_act(admin, f"/soporte/admin/personal/{staff_id(app, 'ana')}/factor", reason="Perdió su teléfono")
    client = app.test_client()
    console_password(client)
    assert client.get("/soporte").headers["Location"].endswith("/soporte/factor")
    with app.app_context():
        assert staff.find("ana").totp_secret is None
        event = db.session.query(AuthEvent).filter_by(kind="staff_second_factor_reset").one()
        assert event.detail == {"reason": "Perdió su teléfono", "agent": "soporte:jefa"}


def upload(client, content, name="usuarios.csv"):
    token = re.search(r'"X-CSRFToken": "([^"]+)"', text(client.get("/soporte/admin/importar"))).group(1)
    return client.post("/soporte/admin/importar", data={"csrf_token": token,
                                                        "archivo": (io.BytesIO(content.encode()), name)},
                       content_type="multipart/form-data")


CSV_TEXT = ("username,name,email,password_hash,temporary_password,question,answer,last_login\n"
            f"GOMA800101AB1,María,maria@example.com,{LEGACY_HASH},,¿Color?,Verde,2026-01-05\n"
            "usr.LOPJ750315XY2,Juan,no-es-correo,,Temporal.2026,,,\n"
            "CT.PEMA900101QR5,Ana,ana@example.com,,Temporal.2026,,,\n")


def test_import_previews_then_commits_with_the_rules_of_users_import(app, admin):
    preview = upload(admin, CSV_TEXT)
    body = text(preview)
    assert "Filas que se aceptarían: <strong>2</strong>" in body and "correo no válido" in body
    with app.app_context():
        assert accounts.find("GOMA800101AB1") is None  # nothing written by the preview
    carried = re.search(r'name="contenido" value="([^"]+)"', body).group(1)
    done = post(admin, "/soporte/admin/importar/confirmar", {"contenido": carried}, page="/soporte/admin/importar")
    assert done.status_code == 303
    assert "Importados: 2. Rechazados: 1." in text(admin.get("/soporte/admin/importar"))
    with app.app_context():
        assert accounts.find("GOMA800101AB1").password_hash == LEGACY_HASH
        assert accounts.find("usr.LOPJ750315XY2") is None


def test_import_refuses_a_bad_file_in_spanish(admin):
    assert "Encabezado no válido" in text(upload(admin, "usuario,correo\nx,y\n"))
    assert "UTF-8" in text(admin.post("/soporte/admin/importar", data={
        "csrf_token": re.search(r'"X-CSRFToken": "([^"]+)"', text(admin.get("/soporte/admin/importar"))).group(1),
        "archivo": (io.BytesIO("usuario,ñ".encode("latin-1")), "x.csv")}, content_type="multipart/form-data"))
    assert "Vuelva a elegir" in text(post(admin, "/soporte/admin/importar/confirmar", {"contenido": "%%%"},
                                          page="/soporte/admin/importar"))


def test_audit_search_filters_paginates_and_exports(app, admin, clock):
    make_user(app)
    with app.app_context():
        for n in range(25):
            from portal import audit

            audit.record("login", "GOMA800101AB1", "invalid", f"10.0.0.{n}")
        db.session.commit()
    page = text(admin.get("/soporte/admin/auditoria?usuario=GOMA800101AB1&tipo=login"))
    assert page.count("<td>invalid</td>") == 20 and "pagina=2" in page
    assert text(admin.get("/soporte/admin/auditoria?usuario=GOMA800101AB1&tipo=login&pagina=2")).count(
        "<td>invalid</td>") == 5
    assert "no es una fecha" in text(admin.get("/soporte/admin/auditoria?desde=ayer"))
    export = admin.get("/soporte/admin/auditoria?usuario=GOMA800101AB1&tipo=login&formato=csv")
    assert export.mimetype == "text/csv" and "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(text(export))))
    assert rows[0][:4] == ["fecha_utc", "usuario", "tipo", "resultado"] and len(rows) == 26


def test_export_never_writes_a_formula(app, admin):
    with app.app_context():
        from portal import audit

        audit.record("login", "=HYPERLINK(\"http://x\")", "invalid", "10.0.0.1")
        db.session.commit()
    rows = list(csv.reader(io.StringIO(text(admin.get("/soporte/admin/auditoria?tipo=login&formato=csv")))))
    assert rows[1][1].startswith("'=")


def test_an_admin_cannot_act_on_their_own_staff_record_by_accident(app, admin):
    page = text(admin.get("/soporte/admin/personal"))
    assert "(usted)" in page


def test_staff_password_is_never_shown(app, admin):
    assert STAFF_PASSWORD not in text(admin.get("/soporte/admin/personal"))
