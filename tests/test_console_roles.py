"""The console's role matrix: every console route × nobody, a signed-in customer, an agent
(soporte) and an administrator. Roles are checked on the server: a customer's session counts
for nothing, an agent reaches no administrator route by its address, and every answer is
no-store. A new console route must be added here (the last test fails otherwise)."""
import pytest

from helpers import (
    NAME,
    PASSWORD,
    console_act,
    console_sign_in,
    csrf_token,
    finished,
    login,
    make_staff,
    make_user,
    text,
)
from portal import accounts, staff
from portal.extensions import db

AGENT_ROUTES = [
    ("GET", "/soporte/clientes"),
    ("GET", "/soporte/clientes/{user}"),
    ("GET", "/soporte/clientes/{user}/desbloquear"),
    ("POST", "/soporte/clientes/{user}/desbloquear"),
]
ADMIN_ROUTES = [
    ("GET", "/soporte/admin/personal"),
    ("POST", "/soporte/admin/personal"),
    ("GET", "/soporte/admin/personal/{staff}/deshabilitar"),
    ("POST", "/soporte/admin/personal/{staff}/deshabilitar"),
    ("GET", "/soporte/admin/importar"),
    ("POST", "/soporte/admin/importar"),
    ("POST", "/soporte/admin/importar/confirmar"),
    ("GET", "/soporte/admin/auditoria"),
]
# The door: open to everybody (within STAFF_ALLOWED_NETWORKS).
OPEN_ROUTES = ["/soporte", "/soporte/entrar", "/soporte/entrar/captcha", "/soporte/codigo", "/soporte/factor",
               "/soporte/alta", "/soporte/salir"]


@pytest.fixture
def world(app, clock):
    make_user(app)
    make_staff(app, "ana", "soporte")
    make_staff(app, "jefa", "administrador")
    make_staff(app, "otro", "soporte")
    with app.app_context():
        ids = {"user": accounts.find(NAME).id, "staff": staff.find("otro").id}
    browsers = {"nobody": app.test_client(), "customer": app.test_client(), "agent": app.test_client(),
                "admin": app.test_client()}
    assert login(browsers["customer"], NAME, PASSWORD).status_code == 303
    console_sign_in(browsers["agent"], clock, "ana")
    console_sign_in(browsers["admin"], clock, "jefa")
    return ids, browsers


def ask(client, method, path):
    if method == "GET":
        return finished(client.get(path))
    token = csrf_token(client, "/soporte/alta")
    return finished(client.post(path, data={"csrf_token": token}))


@pytest.mark.parametrize("who", ["nobody", "customer", "agent", "admin"])
def test_role_matrix(world, who):
    ids, browsers = world
    client = browsers[who]
    for routes, allowed in ((AGENT_ROUTES, {"agent", "admin"}), (ADMIN_ROUTES, {"admin"})):
        for method, template in routes:
            path = template.format(**ids)
            response = ask(client, method, path)
            assert response.headers["Cache-Control"] == "no-store", (who, method, path)
            if who in ("nobody", "customer"):
                assert response.status_code == 303, (who, method, path, response.status_code)
                assert response.headers["Location"].endswith("/soporte/entrar")
            elif who in allowed:
                assert response.status_code == 200, (who, method, path, response.status_code)
            else:
                assert response.status_code == 403, (who, method, path, response.status_code)
                assert "Acceso no permitido" in response.get_data(as_text=True)


def test_an_agent_acts_on_nothing_by_an_admin_address(app, world):
    ids, browsers = world
    path = f"/soporte/admin/personal/{ids['staff']}/deshabilitar"
    answer = console_act(browsers["admin"], path, reason="Prueba de permisos")  # a token made by an admin...
    assert answer.status_code == 303
    with app.app_context():
        staff.find("otro").disabled = False
        db.session.commit()
    token = text(browsers["admin"].get(path)).split('name="confirmation" value="')[1].split('"')[0]
    agent = browsers["agent"]
    refused = finished(agent.post(path, data={"csrf_token": csrf_token(agent, "/soporte/alta"),
                                              "confirmation": token, "reason": "Me lo pasaron"}))
    assert refused.status_code == 403  # ...is nothing in an agent's hands
    with app.app_context():
        assert not staff.find("otro").disabled


def test_every_console_route_is_in_the_matrix(app):
    listed = {template for _, template in AGENT_ROUTES + ADMIN_ROUTES} | set(OPEN_ROUTES)
    generic = {path.replace("{user}", "<int:user_id>").replace("{staff}", "<int:staff_id>")
               .replace("/desbloquear", "/<action>").replace("/deshabilitar", "/<action>") for path in listed}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/soporte"):
            assert rule.rule in generic, f"{rule.rule} is not in the role matrix"
