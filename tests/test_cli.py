"""The support CLI: users create, show, unlock; demo accounts only in development."""
from datetime import timedelta

from helpers import CAPTCHA, PASSWORD, fail, login
from portal.extensions import db
from portal.models import User


def test_create_with_every_option(app, runner, client):
    result = runner.invoke(args=[
        "users", "create", "ct.goma-800101-ab1", "--password", PASSWORD, "--email", "m@example.com",
        "--name", "María Gómez", "--question", "¿Cuál es su platillo favorito?", "--answer", "Verde",
        "--last-login", "2026-10-01T09:30",
    ])
    assert result.exit_code == 0, result.output
    assert "CT.GOMA800101AB1 creado" in result.output
    with app.app_context():
        user = db.session.scalar(db.select(User))
        assert (user.username, user.display_name, user.email) == ("CT.GOMA800101AB1", "María Gómez", "m@example.com")
        assert user.secret_question == "¿Cuál es su platillo favorito?"
        assert user.answer_hash and "Verde" not in user.answer_hash
        assert user.last_login_at.isoformat() == "2026-10-01T09:30:00"
    assert login(client, "CT.GOMA800101AB1", PASSWORD).status_code == 303


def test_create_refuses_duplicates_and_bad_dates(runner, user):
    again = runner.invoke(args=["users", "create", "GOMA800101AB1", "--password", "x", "--email", "e@example.com"])
    assert again.exit_code != 0 and "ya existe" in again.output
    bad = runner.invoke(args=["users", "create", "LOPJ750315XY2", "--password", "x", "--email", "e@example.com",
                              "--last-login", "ayer"])
    assert bad.exit_code != 0 and "fecha ISO" in bad.output


def test_create_with_an_old_last_login_makes_an_inactive_account(runner, client, clock):
    old = (clock() - timedelta(days=200)).date().isoformat()
    runner.invoke(args=["users", "create", "PRV.SIN010203AB4", "--password", PASSWORD, "--email", "s@example.com",
                        "--last-login", old])
    assert login(client, "PRV.SIN010203AB4", PASSWORD).status_code == 200


def test_show_tells_state_lock_failures_and_last_sign_in(runner, client, user):
    fail(client, "GOMA800101AB1", times=5)
    result = runner.invoke(args=["users", "show", "goma800101ab1"])
    assert result.exit_code == 0
    assert "GOMA800101AB1" in result.output and "activo" in result.output
    assert "Fallos seguidos:   5" in result.output
    assert "hasta 2026-11-24 12:15" in result.output
    assert "Último ingreso:    nunca" in result.output


def test_show_for_a_name_that_does_not_exist(runner):
    result = runner.invoke(args=["users", "show", "XAXX010101000"])
    assert result.exit_code == 0 and "no existe" in result.output


def test_unlock_lifts_the_failure_lock(runner, client, user):
    fail(client, "GOMA800101AB1", times=5)
    result = runner.invoke(args=["users", "unlock", "GOMA800101AB1"])
    assert result.exit_code == 0 and "desbloqueado" in result.output
    assert login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).status_code == 303


def test_unlock_lifts_the_inactivity_lock(app, runner, client, clock):
    runner.invoke(args=["users", "create", "PRV.SIN010203AB4", "--password", PASSWORD, "--email", "s@example.com",
                        "--last-login", "2025-01-01"])
    with app.app_context():
        db.session.scalar(db.select(User)).created_at = clock() - timedelta(days=700)
        db.session.commit()
    assert "bloqueada" in login(client, "PRV.SIN010203AB4", PASSWORD).get_data(as_text=True)
    runner.invoke(args=["users", "unlock", "PRV.SIN010203AB4"])
    assert login(client, "PRV.SIN010203AB4", PASSWORD, captcha=CAPTCHA).status_code == 303


def test_demo_accounts_only_in_development(runner, make_app):
    refused = runner.invoke(args=["demo-seed"])
    assert refused.exit_code != 0 and "desarrollo" in refused.output
    development = make_app(PORTAL_ENV="development").test_cli_runner()
    result = development.invoke(args=["demo-seed"])
    assert result.exit_code == 0, result.output
    for name in ("GOMA800101AB1", "usr.LOPJ750315XY2", "PRV.SIN010203AB4", "CT.PEMA900101QR5"):
        assert name in result.output
    assert "respuesta secreta: Firulais" in result.output  # the first walk-through looked for it
