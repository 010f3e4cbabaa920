"""The portal as the front door of the application, through Debian's real nginx and Caddy
(tests/front_door.py): what reaches the application, and what a client cannot make reach it."""
import itertools
import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from front_door import CaddyDoor, caddy_program

from helpers import PASSWORD, Visitor, make_user, unavailable

serials = itertools.count(1)


@pytest.fixture
def account(front_door):
    """A new customer account on the live portal (its own user name: a valid RFC)."""
    return make_user(front_door.app, f"PUER8001{next(serials):02d}A1B", PASSWORD)


def signed_in(front_door, username):
    visitor = Visitor()
    visitor.start(front_door.portal.url)
    status, _, headers = visitor.request(front_door.portal.url + "/entrar",
                                         {"username": username, "password": PASSWORD})
    assert status == 303 and headers["Location"] == "/inicio"
    return visitor


def fresh_token(visitor, page_url):
    """The CSRF token of a page of this session (a sign-in begins a new session: new tokens)."""
    _, page, _ = visitor.request(page_url)
    visitor.token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def shown(page, header):
    """What the stand-in application shows it received in a Remote-* header."""
    return re.search(f'<dd id="{header.lower()}">([^<]*)</dd>', page).group(1)


def test_without_a_session_nginx_sends_the_browser_to_the_portal_and_back(front_door):
    status, _, headers = Visitor().request(front_door.door.url + "/facturas?mes=11")
    assert status == 302
    location = urlsplit(headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == front_door.portal.url + "/"
    assert parse_qs(location.query)["rd"] == [front_door.door.url + "/facturas?mes=11"]


def test_a_live_session_reaches_the_application_with_who_it_is(front_door, account):
    visitor = signed_in(front_door, account)
    status, page, _ = visitor.request(front_door.door.url + "/facturas")
    assert status == 200
    assert shown(page, "Remote-User") == account
    assert shown(page, "Remote-Name") == "María Gómez"  # UTF-8 from the portal to the application
    assert shown(page, "Remote-Email") == "maria@example.com"
    assert shown(page, "Remote-Groups") == "cliente"


def test_a_post_to_the_application_is_checked_too(front_door, account):
    visitor = signed_in(front_door, account)
    status, page, _ = visitor.request(front_door.door.url + "/facturas", data={"folio": "A-1"})
    assert status == 200 and '<p id="method">POST</p>' in page and shown(page, "Remote-User") == account
    anonymous, _, _ = Visitor().request(front_door.door.url + "/facturas", data={"folio": "A-1"})
    assert anonymous == 302


SPOOFED = {"Remote-User": "CT.ADMI800101AAA", "Remote-Name": "Administrador", "Remote-Email": "admin@evil.example",
           "Remote-Groups": "empleado"}
UNDERSCORED = {name.replace("-", "_"): value for name, value in SPOOFED.items()}  # the same WSGI variable


@pytest.mark.parametrize("spoofed", [SPOOFED, UNDERSCORED], ids=["dashes", "underscores"])
def test_the_application_never_receives_a_header_the_client_sent(front_door, account, spoofed):
    visitor = signed_in(front_door, account)
    status, page, _ = visitor.request(front_door.door.url + "/", headers=spoofed)
    assert status == 200
    assert shown(page, "Remote-User") == account and shown(page, "Remote-Groups") == "cliente"
    assert "ADMI" not in page and "evil.example" not in page and "Administrador" not in page
    status, page, _ = Visitor().request(front_door.door.url + "/", headers=spoofed)
    assert status == 302 and "ADMI" not in page  # no session: nothing reaches the application


def test_signing_out_at_the_portal_ends_access_to_the_application_at_once(front_door, account):
    visitor = signed_in(front_door, account)
    assert visitor.request(front_door.door.url + "/")[0] == 200
    fresh_token(visitor, front_door.portal.url + "/inicio")
    status, _, headers = visitor.request(front_door.portal.url + "/salir", {})
    assert status == 303
    assert visitor.request(front_door.door.url + "/")[0] == 302


def test_the_sign_out_link_of_the_application_asks_then_goes_back(front_door, account):
    visitor = signed_in(front_door, account)
    _, page, _ = visitor.request(front_door.door.url + "/")
    link = page[page.index('id="salir" href="') + 17:].split('"', 1)[0].replace("&amp;", "&")
    assert link == f"{front_door.portal.url}/salir?rd={quote(front_door.door.url + '/', safe='')}"
    status, confirm, _ = visitor.request(link)
    fresh_token(visitor, link)
    assert status == 200 and 'id="sign-out-confirm"' in confirm
    assert visitor.request(front_door.door.url + "/")[0] == 200  # the GET signed nobody out
    status, _, headers = visitor.request(link, {})
    assert status == 303 and headers["Location"] == front_door.door.url + "/"
    assert visitor.request(front_door.door.url + "/")[0] == 302


# Caddy's forward_auth passes the portal's answer on to the browser: a 302 for a page

@pytest.fixture(scope="module")
def caddy(front_door):
    if caddy_program() is None:
        message = "caddy no está instalado (apt-get install caddy): forward_auth de Caddy no se puede probar"
        unavailable(message)
    with CaddyDoor(front_door.folder / "caddy", front_door.portal.url, front_door.application.url,
                   port=front_door.caddy_port) as door:
        yield door


def test_caddy_sends_a_page_to_the_portal_and_a_script_gets_401(front_door, caddy):
    status, _, headers = Visitor().request(caddy.url + "/facturas?mes=11")
    assert status == 302
    assert parse_qs(urlsplit(headers["Location"]).query)["rd"] == [caddy.url + "/facturas?mes=11"]
    status, _, _ = Visitor().request(caddy.url + "/facturas", headers={"X-Requested-With": "XMLHttpRequest"})
    assert status == 401
    status, _, _ = Visitor().request(caddy.url + "/facturas", data={"folio": "A-1"})
    assert status == 401


@pytest.mark.parametrize("spoofed", [{}, SPOOFED, UNDERSCORED], ids=["plain", "dashes", "underscores"])
def test_caddy_passes_on_who_it_is_and_nothing_the_client_sent(front_door, caddy, account, spoofed):
    visitor = signed_in(front_door, account)
    status, page, _ = visitor.request(caddy.url + "/facturas", headers=spoofed)
    assert status == 200
    assert shown(page, "Remote-User") == account and shown(page, "Remote-Groups") == "cliente"
    assert shown(page, "Remote-Name") == "María Gómez"
    assert "ADMI" not in page and "evil.example" not in page and "Administrador" not in page
