"""The access page: whole page, fragments for htmx, history restore, headers, side panel."""
from helpers import HTMX


def test_plain_request_gets_the_whole_page(client):
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<!doctype html>" in page
    assert 'id="login-form"' in page
    assert 'name="username"' in page and 'name="password"' in page
    assert ">Entrar<" in page and "Olvidé mi contraseña" in page
    assert 'data-reveals="password"' in page  # the eye button
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_request_gets_the_bare_fragment(client):
    response = client.get("/", headers=HTMX)
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<form id="login-form"')
    assert "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_history_restore_gets_the_whole_page(client):
    response = client.get("/", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<!doctype html>" in response.get_data(as_text=True)


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
