"""The access page: whole page, fragments for htmx, history restore, headers, side panel."""
import os
import re

from helpers import HTMX, PASSWORD, login, shown_challenge
from portal.content import DEFAULT_FILE as DEFAULT_CONTENT


def test_the_login_form_answers_each_way(client, way):
    """A plain request and a history restore get the whole page, htmx the bare form."""
    body = way.assert_answer(way.get(client, "/"), "login-form", tag="form")
    assert 'name="username"' in body and 'name="password"' in body
    assert ">Entrar<" in body and "Olvidé mi contraseña" in body
    assert 'data-reveals="password"' in body  # the eye button


def test_legacy_address_redirects_to_the_page(client):
    response = client.get("/jsp/acceso.jsp")
    assert response.status_code == 301
    assert response.headers["Location"] == "/"


def test_side_panel_comes_from_the_content_file(make_app, tmp_path):
    content = tmp_path / "acceso.toml"
    content.write_text(
        '[panel]\ntitle = "Noticias del servicio"\n'
        '[[panel.news]]\ndate = "2026-11-20"\ntitle = "Nueva versión 4.0"\ntext = "Ya disponible."\n'
        '[[panel.links]]\nlabel = "Manual de usuario"\nurl = "https://example.com/manual.pdf"\n'
        '[support]\noffice_hours = "9 a 18"\noffice_phone = "1"\nafter_hours_phone = "2"\n'
        'email = "a@example.com"\npayroll_email = "b@example.com"\n', encoding="utf-8")
    page = make_app(CONTENT_FILE=str(content)).test_client().get("/").get_data(as_text=True)
    assert "Noticias del servicio" in page
    assert "Nueva versión 4.0" in page
    assert 'href="https://example.com/manual.pdf"' in page


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_page_has_no_inline_script_or_style(client):
    page = client.get("/").get_data(as_text=True)
    assert "<style" not in page
    assert " style=" not in page
    assert "hx-on" not in page
    for tag in page.split("<script")[1:]:
        assert tag.lstrip().startswith("src=")


def test_htmx_is_vendored_and_configured_for_the_csp(client):
    page = client.get("/").get_data(as_text=True)
    assert 'src="/static/htmx-2.0.11.min.js"' in page
    assert '"allowEval": false' in page and '"includeIndicatorStyles": false' in page
    assert '"historyCacheSize": 0' in page and '"historyRestoreAsHxRequest": false' in page
    script = client.get("/static/htmx-2.0.11.min.js")
    assert script.status_code == 200 and b'version:"2.0.11"' in script.data
    assert script.headers.get("Cache-Control") != "no-store"


def test_unknown_address_gets_a_friendly_page(client):
    response = client.get("/no-existe")
    assert response.status_code == 404
    assert "Página no encontrada" in response.get_data(as_text=True)


# A first visit is the same page for everyone but its CSRF token: rendered once, then reused.

TOKENS = re.compile(r'(?:"X-CSRFToken": "|name="csrf_token" value=")([^"]+)"')


def test_first_visits_share_the_page_but_each_gets_its_own_working_token(client, app, user):
    pages = [app.test_client().get("/").get_data(as_text=True) for _ in range(2)]
    tokens = [set(TOKENS.findall(page)) for page in pages]
    assert all(len(found) == 1 for found in tokens) and tokens[0] != tokens[1]
    assert TOKENS.sub("TOKEN", pages[0]) == TOKENS.sub("TOKEN", pages[1])
    assert "slot-" not in pages[0]
    signed_in = login(client, "GOMA800101AB1", PASSWORD)
    assert signed_in.status_code == 303  # the token of a reused page works


def test_a_changed_content_file_shows_on_the_next_first_visit(make_app, tmp_path, clock):
    content = tmp_path / "acceso.toml"
    base = DEFAULT_CONTENT.read_text(encoding="utf-8")
    content.write_text(base, encoding="utf-8")
    client = make_app(CONTENT_FILE=str(content)).test_client()
    assert "Aviso de mantenimiento" not in app_page(client)
    content.write_text(base.replace('[[panel.news]]', '[[panel.news]]\ndate = "2026-11-25"\n'
                                    'title = "Aviso de mantenimiento"\ntext = "Domingo de 2 a 4."\n'
                                    '[[panel.news]]', 1), encoding="utf-8")
    stat = content.stat()
    os.utime(content, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    clock.advance(seconds=1)  # the file is looked at once a second at most
    assert "Aviso de mantenimiento" in app_page(client)


def app_page(client):
    return client.get("/").get_data(as_text=True)


def test_a_message_to_flash_is_shown_on_the_access_page(client):
    app_page(client)  # the shared page is made
    with client.session_transaction() as session:
        session["_flashes"] = [("message", "Salió de e-Factura Acceso.")]
    assert "Salió de e-Factura Acceso." in app_page(client)
    assert "Salió de e-Factura Acceso." not in app_page(client)  # shown once


def test_each_captcha_refresh_shows_its_own_challenge(client):
    shown = []
    for _ in range(3):
        refreshed = client.get("/captcha/nuevo", headers=HTMX)
        body, challenge = refreshed.get_data(as_text=True), shown_challenge(refreshed)
        assert f'src="/captcha/{challenge}.png"' in body and f'src="/captcha/{challenge}.wav"' in body
        assert client.get(f"/captcha/{challenge}.png").mimetype == "image/png"
        shown.append(challenge)
    assert len(set(shown)) == 3
