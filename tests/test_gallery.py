"""The designers' gallery (/galeria): every fragment in each state; never in production."""
import re
from pathlib import Path

import pytest

from config import Config, TestConfig
from portal import create_app
from portal.extensions import db

PARTIALS = Path(__file__).resolve().parents[1] / "portal" / "partials"


def fragment_names():
    return sorted(path.stem for path in PARTIALS.glob("*.html"))


def sections(page):
    """{fragment: number of states shown} from the gallery page."""
    found = {}
    for match in re.finditer(r'<section id="g-([\w-]+)" class="gallery-fragment"', page):
        name = match.group(1)
        start = match.end()
        end = page.find('class="gallery-fragment"', start)
        found[name] = page[start:end if end > 0 else len(page)].count('class="gallery-state"')
    return found


def test_gallery_lists_every_partial(client):
    response = client.get("/galeria")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert set(sections(page)) == set(fragment_names())
    for name in fragment_names():
        assert f'data-fragment="{name}"' in page
        assert f'href="#g-{name}"' in page  # the index links to it


def test_gallery_shows_each_state(client):
    page = client.get("/galeria").get_data(as_text=True)
    counts = sections(page)
    assert counts["login-form"] >= 3            # plain, with error, with CAPTCHA
    assert counts["login-error"] == 4           # invalid, captcha missing, captcha mistyped, missing
    assert counts["lockout"] == 1               # the failure lock with its countdown
    assert counts["account-blocked"] == 2       # inactive, disabled
    assert counts["recovery-form"] == 2         # plain, shape problem
    assert counts["secret-question-step"] >= 4  # plain, wrong, limited, sent
    assert counts["change-password-step"] >= 3  # recovery, set-up, with errors
    assert counts["secret-answer"] == 2
    assert counts["password-checklist"] == 3    # empty, partly, all met
    assert counts["link-error"] == 4            # used, expired, void, unknown
    for error in ("invalid", "captcha", "missing"):
        assert f'data-error="{error}"' in page
    for lock in ("attempts", "inactive", "disabled"):
        assert f'data-lock="{lock}"' in page
    assert 'class="met"' in page and 'class="unmet"' in page and 'class="pending"' in page
    assert "Configure su cuenta" in page and "Cambiar contraseña" in page
    assert 'id="recovery-error"' in page and 'id="answer-error"' in page
    assert "/captcha/" in page  # a real CAPTCHA image


def test_gallery_samples_make_no_htmx_requests(client):
    page = client.get("/galeria").get_data(as_text=True)
    assert page.count('class="gallery-sample" hx-disable') == page.count('class="gallery-state"')


def test_gallery_is_in_development(make_app):
    app = make_app(TESTING=False, CAPTCHA_TEST_ANSWER=None, PORTAL_ENV="development")
    assert app.test_client().get("/galeria").status_code == 200


@pytest.fixture
def production(tmp_path):
    class Production(Config):
        SECRET_KEY = "a-real-secret-for-this-test-of-32-bytes"  # noqa: S105
        PASSWORD_PEPPER = "a-real-pepper-for-this-test-of-32-bytes"  # noqa: S105
        OIDC_KEY_ENCRYPTION_KEY = TestConfig.OIDC_KEY_ENCRYPTION_KEY
        PORTAL_ENV = "production"
        TESTING = False
        CAPTCHA_TEST_ANSWER = None

    app = create_app(Production, instance_path=str(tmp_path / "instance"),
                     SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'portal.db'}")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_gallery_is_404_in_production(production):
    assert "gallery" not in production.blueprints
    response = production.test_client().get("/galeria")
    assert response.status_code == 404
    assert "Galería" not in response.get_data(as_text=True)


def test_gallery_refuses_even_if_registered_outside_development(production):
    from portal.views import gallery

    production.register_blueprint(gallery.bp)
    assert production.test_client().get("/galeria").status_code == 404
