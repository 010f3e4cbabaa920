"""The console's customer desk (SPEC section 8): finding a customer, the account at a glance,
and the actions, each through a confirm step with a required reason and audited with the agent."""
import re
from datetime import timedelta

import pytest

from helpers import (
    EMAIL,
    NAME,
    PASSWORD,
    console_act,
    console_confirm,
    console_sign_in,
    fail,
    login,
    make_staff,
    make_user,
    post,
    signs_in,
    text,
)
from portal import accounts
from portal.extensions import db
from portal.models import AuthEvent, OutboxMessage, User


@pytest.fixture
def desk(app, clock):
    """A signed-in agent's browser."""
    make_staff(app, "ana", "soporte")
    client = app.test_client()
    console_sign_in(client, clock)
    return client


def user_id(app, name=NAME):
    with app.app_context():
        return accounts.find(name).id


def stored(app, name=NAME):
    with app.app_context():
        user = accounts.find(name)
        db.session.expunge(user)
        return user


def last_event(app, kind):
    with app.app_context():
        event = db.session.query(AuthEvent).filter_by(kind=kind).order_by(AuthEvent.id.desc()).first()
        return event and (event.username, event.outcome, event.detail)


def test_search_by_user_name_bare_rfc_name_and_email(app, desk):
    for name, email, display in (("GOMA800101AB1", "maria@example.com", "María Gómez"),
                                 ("usr.GOMA800101AB1", "libre@example.com", "María Libre"),
                                 ("PRV.SIN010203AB4", "prov@example.com", "Servicios Integrales")):
        make_user(app, name, email=email, display_name=display)
    rows = lambda response: re.findall(r'/soporte/clientes/\d+">([^<]+)</a>', text(response))  # noqa: E731
    assert rows(desk.get("/soporte/clientes?q=goma800101ab1")) == ["GOMA800101AB1", "usr.GOMA800101AB1"]
    assert rows(desk.get("/soporte/clientes?q=usr.goma800101ab1")) == ["usr.GOMA800101AB1"]
    assert rows(desk.get("/soporte/clientes?q=integrales")) == ["PRV.SIN010203AB4"]
    assert rows(desk.get("/soporte/clientes?q=libre@example")) == ["usr.GOMA800101AB1"]
    assert "Ninguna cuenta coincide" in text(desk.get("/soporte/clientes?q=nadie"))
    assert rows(desk.get("/soporte/clientes?q=%25")) == []  # a LIKE wildcard is a plain character


def test_results_are_paginated(app, desk):
    for n in range(25):
        make_user(app, f"usr.AAA{n:02d}0101AB1".replace("AAA", "ABC" if n < 10 else "ABD"), email=f"u{n}@lote.mx",
                  display_name=f"Lote {n:02d}")
    first = text(desk.get("/soporte/clientes?q=lote"))
    assert len(re.findall(r'/soporte/clientes/\d+">', first)) == 20
    assert "pagina=2" in first
    second = text(desk.get("/soporte/clientes?q=lote&pagina=2"))
    assert len(re.findall(r'/soporte/clientes/\d+">', second)) == 5
    assert "pagina=1" in second and "pagina=3" not in second


def test_search_three_ways(app, desk, way):
    make_user(app)
    response = way.get(desk, "/soporte/clientes?q=GOMA800101AB1")
    if way.whole_page:
        way.assert_answer(response, "console-search", tag="section")
    assert "GOMA800101AB1" in text(response)


def test_search_results_alone_for_htmx(app, desk):
    make_user(app)
    response = desk.get("/soporte/clientes?q=GOMA800101AB1", headers={"HX-Request": "true", "HX-Target": "results"})
    assert text(response).lstrip().startswith('<div id="results"')
    assert response.headers["HX-Push-Url"] == "/soporte/clientes?q=GOMA800101AB1"


def test_customer_page_shows_the_lock_with_failures_and_never_a_secret(app, desk, clock):
    make_user(app)
    fail(app.test_client(), NAME, times=app.config["LOGIN_MAX_ATTEMPTS"])
    page = text(desk.get(f"/soporte/clientes/{user_id(app)}"))
    assert "Bloqueada por intentos fallidos" in page and "hasta las 12:15" in page  # 18:15 UTC in Mexico City
    assert f"({app.config['LOGIN_MAX_ATTEMPTS']} intentos fallidos)" in page
    assert "Registrada" in page and EMAIL in page
    assert "Verde" not in page and "$2b$" not in page and "hmac" not in page  # no answer, no hash
    assert "lock_notice" in page  # the notice sent, by kind
    assert "codedAccess" not in page


def test_customer_page_states(app, desk, clock):
    make_user(app)
    make_user(app, "CT.PEMA900101QR5", email="ana@example.com", question=None)
    with app.app_context():
        accounts.find(NAME).last_login_at = clock() - timedelta(days=200)
        accounts.find(NAME).created_at = clock() - timedelta(days=400)
        db.session.commit()
    assert "Inactiva (bloqueo por inactividad)" in text(desk.get(f"/soporte/clientes/{user_id(app)}"))
    setup = text(desk.get(f"/soporte/clientes/{user_id(app, 'CT.PEMA900101QR5')}"))
    assert "Primer ingreso pendiente" in setup and "No registrada" in setup
    with app.app_context():
        accounts.find("CT.PEMA900101QR5").disabled = True
        db.session.commit()
    assert "Deshabilitada" in text(desk.get(f"/soporte/clientes/{user_id(app, 'CT.PEMA900101QR5')}"))


def test_events_are_filtered_and_paginated(app, desk):
    make_user(app)
    client = app.test_client()
    fail(client, NAME, times=3)
    page = text(desk.get(f"/soporte/clientes/{user_id(app)}?tipo=login&resultado=invalid"))
    assert page.count("<td>invalid</td>") == 3
    assert "<td>account_created</td>" not in page
    assert "No hay eventos con ese filtro" in text(desk.get(f"/soporte/clientes/{user_id(app)}?tipo=unlock"))


def test_unlock_needs_the_confirm_step_and_a_reason_then_the_customer_signs_in(app, desk):
    make_user(app)
    fail(app.test_client(), NAME, times=app.config["LOGIN_MAX_ATTEMPTS"])
    path = f"/soporte/clientes/{user_id(app)}/desbloquear"
    confirm_page = text(desk.get(path))
    assert "Se borran los intentos fallidos" in confirm_page  # what will happen
    # No confirm step (no token): nothing happens
    skipped = post(desk, path, {"reason": "Ticket 1"}, page=path)
    assert "Confirme la acción" in text(skipped) and not signs_in(app, NAME, PASSWORD)
    # No reason: nothing happens
    no_reason = console_act(desk, path, reason="  ")
    assert "Escriba el motivo" in text(no_reason) and not signs_in(app, NAME, PASSWORD)
    done = console_act(desk, path)
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/soporte/clientes/{user_id(app)}")
    assert "desbloqueada" in text(desk.get(done.headers["Location"]))
    assert last_event(app, "unlock") == (NAME, "ok", {"agent": "soporte:ana",
                                                       "reason": "Ticket 4711: lo pidió el cliente por teléfono"})
    assert signs_in(app, NAME, PASSWORD)


def test_a_confirmation_is_for_one_account_and_one_action(app, desk):
    make_user(app)
    make_user(app, "usr.GOMA800101AB1", email="otro@example.com")
    mine, other = user_id(app), user_id(app, "usr.GOMA800101AB1")
    token = console_confirm(desk, f"/soporte/clientes/{mine}/desbloquear")
    for path in (f"/soporte/clientes/{other}/deshabilitar", f"/soporte/clientes/{mine}/deshabilitar"):
        refused = post(desk, path, {"confirmation": token, "reason": "Ticket 1234"}, page=path)
        assert "Confirme la acción" in text(refused)
    assert not stored(app).disabled and not stored(app, "usr.GOMA800101AB1").disabled


def test_unknown_records_and_actions_are_404(app, desk):
    make_user(app)
    assert desk.get("/soporte/clientes/99999").status_code == 404
    assert desk.get(f"/soporte/clientes/{user_id(app)}/borrar").status_code == 404
    assert desk.get(f"/soporte/clientes/{user_id(app)}/contrasena").status_code == 404


def test_disable_ends_the_customer_sessions_and_enable_lets_them_in(app, desk):
    make_user(app)
    customer = app.test_client()
    assert login(customer, NAME, PASSWORD).status_code == 303
    console_act(desk, f"/soporte/clientes/{user_id(app)}/deshabilitar")
    assert stored(app).disabled
    assert customer.get("/inicio").status_code != 200
    assert last_event(app, "account_disabled")[2]["agent"] == "soporte:ana"
    console_act(desk, f"/soporte/clientes/{user_id(app)}/habilitar")
    assert signs_in(app, NAME, PASSWORD)
    assert last_event(app, "account_enabled")[2]["reason"].startswith("Ticket")


def test_send_a_recovery_link_to_the_registered_address(app, desk):
    make_user(app)
    page = console_act(desk, f"/soporte/clientes/{user_id(app)}/enlace")
    assert "codedAccess" not in text(desk.get(page.headers["Location"]))
    with app.app_context():
        message = db.session.query(OutboxMessage).filter_by(kind="reminder").one()
        assert message.recipient == EMAIL and "/request/codedAccess?code=" in message.text_body
    assert last_event(app, "link_issued")[2]["agent"] == "soporte:ana"


def test_change_the_email_tells_the_old_and_the_new_address(app, desk):
    make_user(app)
    path = f"/soporte/clientes/{user_id(app)}/correo"
    bad = console_act(desk, path, new_email="no-es-correo")
    assert "Escriba un correo electrónico válido" in text(bad) and stored(app).email == EMAIL
    console_act(desk, path, new_email="nuevo@example.com")
    assert stored(app).email == "nuevo@example.com"
    with app.app_context():
        recipients = {m.recipient for m in db.session.query(OutboxMessage).filter_by(kind="account_changed")}
    assert recipients == {EMAIL, "nuevo@example.com"}
    assert last_event(app, "email_changed")[2]["agent"] == "soporte:ana"


def test_clear_the_secret_question_sends_the_customer_to_set_up(app, desk):
    make_user(app)
    console_act(desk, f"/soporte/clientes/{user_id(app)}/pregunta")
    user = stored(app)
    assert user.secret_question is None and user.answer_hash is None
    assert login(app.test_client(), NAME, PASSWORD).headers["Location"].endswith("/cambiar-contrasena")
    assert last_event(app, "question_cleared")[2]["agent"] == "soporte:ana"


def test_support_never_sees_or_sets_a_password(app, desk):
    make_user(app)
    page = text(desk.get(f"/soporte/clientes/{user_id(app)}"))
    assert 'type="password"' not in page and "Contraseña" not in page.split("console-customer-facts")[1]
    before = stored(app).password_hash
    for action in ("desbloquear", "deshabilitar", "habilitar", "enlace", "pregunta"):
        console_act(desk, f"/soporte/clientes/{user_id(app)}/{action}", password="Otra.Clave.99")
    assert stored(app).password_hash == before


def test_every_console_answer_is_no_store(app, desk):
    make_user(app)
    for path in ("/soporte/entrar", "/soporte/clientes", f"/soporte/clientes/{user_id(app)}",
                 f"/soporte/clientes/{user_id(app)}/desbloquear"):
        assert desk.get(path).headers["Cache-Control"] == "no-store"
    with app.app_context():
        assert db.session.query(User).count() == 1


def test_customer_page_three_ways(app, desk, way):
    make_user(app)
    response = way.get(desk, f"/soporte/clientes/{user_id(app)}")
    way.assert_answer(response, "console-customer", tag="div")


def test_a_signed_in_member_skips_the_sign_in_form(desk):
    assert desk.get("/soporte/entrar").headers["Location"].endswith("/soporte/clientes")
