"""Operating the portal: the outbox, the support CLI (import, disable/enable, link, audit), JSON logs."""
import io
import json
import logging
import os
import signal
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from helpers import (
    CAPTCHA,
    PASSWORD,
    QUESTION,
    Inbox,
    client_from,
    deliver,
    fail,
    free_port,
    login,
    make_user,
    open_link,
    request_reminder,
)
from portal.extensions import db
from portal.models import AuthEvent, OutboxMessage, User


def test_mail_is_kept_while_smtp_is_down_and_leaves_with_outbox_send(make_app, clock):
    port = free_port()
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    make_user(app, display_name="", question=QUESTION)
    known = request_reminder(app.test_client(), "GOMA800101AB1")
    unknown = request_reminder(app.test_client(), "XAXX010101000")
    assert known.status_code == unknown.status_code == 200
    deliver(app)  # the worker's pass: the server is down
    with app.app_context():
        queued = db.session.scalar(db.select(OutboxMessage))
        assert queued.sent_at is None and queued.attempts == 1 and "Connection" in queued.last_error
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        runner = app.test_cli_runner()
        early = runner.invoke(args=["outbox", "send"])
        assert "Enviados: 0. En espera: 1." in early.output  # its retry time has not come
        result = runner.invoke(args=["outbox", "send", "--now"])  # it leaves all the same
        assert "Enviados: 1. En espera: 0." in result.output
        [envelope] = inbox.wait_for(1)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert "codedAccess?code=" in message.get_body(("plain",)).get_content()
    finally:
        server.stop()


def test_the_worker_retries_what_could_not_be_sent_after_its_back_off(make_app, clock, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    make_user(app, display_name="", question=QUESTION)
    request_reminder(app.test_client(), "GOMA800101AB1")
    deliver(app)  # the server is down: kept for later
    app.config["MAIL_PORT"] = smtp.port  # the SMTP server is back
    app.extensions["mail"].port = smtp.port
    deliver(app)
    assert smtp.messages == []  # its back-off has not run out
    clock.advance(minutes=2)
    deliver(app)
    assert len(smtp.wait_for(1)) == 1


def write_csv(tmp_path, text):
    path = tmp_path / "legacy.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


LEGACY_HASH = "$2b$04$" + "C" * 53


def test_import_accepts_good_rows_and_reports_the_rest(app, runner, client, tmp_path):
    import bcrypt

    legacy = bcrypt.hashpw(b"Anterior.2020", bcrypt.gensalt(4)).decode()
    path = write_csv(tmp_path, (
        "username,name,email,password_hash,temporary_password,question,answer,last_login\n"
        f"goma800101ab1,María Gómez,maria@example.com,{legacy},,¿Cuál es su platillo favorito?,Verde,2026-09-01\n"
        "CT.PEMA900101QR5,Ana Pérez,ana@example.com,,Temporal.123,,,\n"
        "GOMA-800101-AB1,Otra María,otra@example.com,,Temporal.123,,,\n"
        "LOPJ750315XY2,Juan,no-es-correo,,Temporal.123,,,\n"
        "SIN010203AB4,Servicios,s@example.com,no-es-hash,,,,\n"
        "ABC010203XY4,Sin contraseña,a@example.com,,,,,\n"
        "DEF010203XY4,Fecha mala,d@example.com,,Temporal.123,,,ayer\n"
        "GHI010203XY4,Media pregunta,g@example.com,,Temporal.123,¿Cuál es su platillo favorito?,,\n"
    ))
    result = runner.invoke(args=["users", "import", path])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Fila 2 (GOMA800101AB1): importada" in out
    assert "Fila 3 (CT.PEMA900101QR5): importada" in out
    assert "Fila 4 (GOMA800101AB1): rechazada: usuario repetido (ya está en la fila 2)" in out
    assert "Fila 5 (LOPJ750315XY2): rechazada: correo no válido" in out
    assert "Fila 6 (SIN010203AB4): rechazada: password_hash no es un hash bcrypt" in out
    assert "Fila 7 (ABC010203XY4): rechazada: lleva una de dos" in out
    assert "Fila 8 (DEF010203XY4): rechazada: last_login no es una fecha ISO" in out
    assert "Fila 9 (GHI010203XY4): rechazada" in out
    assert "Importadas: 2. Rechazadas: 6." in out
    with app.app_context():
        assert sorted(db.session.scalars(db.select(User.username))) == ["CT.PEMA900101QR5", "GOMA800101AB1"]
    # the legacy hash signs in (and is upgraded); the temporary password leads to set-up
    assert login(client, "GOMA800101AB1", "Anterior.2020").status_code == 303
    other = app.test_client()
    response = login(other, "CT.PEMA900101QR5", "Temporal.123")
    assert response.headers["Location"] == "/cambiar-contrasena"


def test_import_again_rejects_existing_users_and_dry_run_writes_nothing(app, runner, tmp_path):
    path = write_csv(tmp_path, "username,email,temporary_password\nCT.PEMA900101QR5,ana@example.com,Temporal.123\n")
    dry = runner.invoke(args=["users", "import", "--dry-run", path])
    assert "Válidas: 1. Rechazadas: 0." in dry.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0
    runner.invoke(args=["users", "import", path])
    again = runner.invoke(args=["users", "import", path])
    assert "rechazada: el usuario ya existe en el portal" in again.output


def test_import_keeps_a_legacy_secret_question_as_written(app, runner, tmp_path):
    """The manual shows a question a user wrote ("1+1"): import keeps it; new accounts still
    choose from the portal's list."""
    legacy = "$2b$04$" + "C" * 53
    path = write_csv(tmp_path, "username,email,password_hash,question,answer\n"
                               f"GOMA800101AB1,m@example.com,{legacy},1+1,dos\n"
                               f"LOPJ750315XY2,j@example.com,{legacy},{'¿' * 201},x\n")
    result = runner.invoke(args=["users", "import", path])
    assert "Fila 2 (GOMA800101AB1): importada" in result.output
    assert "Fila 3 (LOPJ750315XY2): rechazada: la pregunta secreta pasa de 200 caracteres" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(User.secret_question)) == "1+1"
    refused = runner.invoke(args=["users", "create", "SIN010203AB4", "--password", PASSWORD, "--email", "s@example.com",
                                  "--question", "1+1", "--answer", "dos"])
    assert refused.exit_code != 0 and "debe ser una de estas" in refused.output


def test_import_refuses_a_hash_whose_cost_is_not_in_ascii_digits(runner, tmp_path):
    """Such a hash would be stored and then break the sign-in (bcrypt refuses it)."""
    arabic_cost = "$2b$\u0661\u0662$" + "C" * 53
    path = write_csv(tmp_path, f"username,email,password_hash\nGOMA800101AB1,m@example.com,{arabic_cost}\n")
    result = runner.invoke(args=["users", "import", path])
    assert "rechazada: password_hash no es un hash bcrypt" in result.output


def test_import_refuses_a_malformed_header(runner, tmp_path):
    result = runner.invoke(args=["users", "import", write_csv(tmp_path, "usuario;correo\nA;B\n")])
    assert result.exit_code != 0 and "Encabezado no válido" in result.output


def test_disable_and_enable(app, runner, client, user):
    login(client, "GOMA800101AB1", PASSWORD)
    result = runner.invoke(args=["users", "disable", "GOMA800101AB1"])
    assert result.exit_code == 0 and "deshabilitado" in result.output
    assert client.get("/inicio").status_code == 302  # its session ended
    assert "deshabilitada" in login(app.test_client(), "GOMA800101AB1", PASSWORD).get_data(as_text=True)
    runner.invoke(args=["users", "enable", "GOMA800101AB1"])
    assert login(app.test_client(), "GOMA800101AB1", PASSWORD, captcha=CAPTCHA).status_code == 303
    assert runner.invoke(args=["users", "disable", "XAXX010101000"]).exit_code != 0


def test_support_link_works_once(runner, client, user):
    result = runner.invoke(args=["users", "link", "GOMA800101AB1"])
    link = result.stdout.strip()  # the JSON log of the event goes to stderr
    assert link.startswith("https://acceso.efactura.example/request/codedAccess?code=")
    assert open_link(client, link).headers["Location"] == "/cambiar-contrasena"
    assert "motivo=used" in open_link(client, link).headers["Location"]


def test_audit_filters_events(app, runner, client, user, clock):
    fail(client, "GOMA800101AB1", times=2)
    clock.advance(hours=1)
    login(client, "GOMA800101AB1", PASSWORD, captcha=CAPTCHA)
    fail(app.test_client(), "XAXX010101000")
    everything = runner.invoke(args=["audit"]).output
    assert "login" in everything and "XAXX010101000" in everything
    mine = runner.invoke(args=["audit", "--user", "goma800101ab1", "--kind", "login"]).output
    assert mine.count("GOMA800101AB1") == 3 and "XAXX010101000" not in mine
    later = runner.invoke(args=["audit", "--kind", "login", "--since", "2026-11-24T18:30"]).output
    assert "2 evento(s)." in later
    failed = runner.invoke(args=["audit", "--outcome", "invalid", "--json"]).output.splitlines()
    assert len(failed) == 3 and all(json.loads(line)["outcome"] == "invalid" for line in failed)


def test_auth_events_are_json_lines_without_secrets(app, client, user):
    from portal.audit import JsonLines, log

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    log.addHandler(handler)
    try:
        fail(client, "GOMA800101AB1")
        request_reminder(client, "GOMA800101AB1")
        deliver(app)
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    kinds = [line["event"] for line in lines]
    assert "login" in kinds and "reminder" in kinds and "recovery_started" in kinds
    assert all({"ts", "event", "outcome", "user", "ip"} <= set(line) for line in lines)
    dumped = stream.getvalue()
    assert "Equivocada" not in dumped and PASSWORD not in dumped and "code=" not in dumped
    with app.app_context():
        stored = db.session.scalars(db.select(AuthEvent)).all()
        # stored: the fixture's account_created too; logged: the reminder twice (requested, then sent)
        assert len(stored) == len(lines) and [line["outcome"] for line in lines if line["event"] == "reminder"] == [
            "requested", "sent"]


def test_the_worker_loop_delivers_keeps_house_hourly_and_outlives_a_failed_pass(app, user, clock, monkeypatch, caplog):
    """portal/outbox.py run(), for four passes in this process: the first delivers the lock
    notice and does the housekeeping, the second fails (the database away for a moment) and
    says so, the loop goes on; the housekeeping waits for its hour."""
    from pathlib import Path

    from portal import lockout, mail, outbox
    from portal.models import LoginThrottle

    login(client_from(app), "XAXX010101000", "Equivocada.1")  # a junk name's counter
    fail(client_from(app), "GOMA800101AB1", times=5)  # the lock notice
    clock.advance(hours=25)
    passes = []
    real = mail.deliver_due

    def deliver_due(**kwargs):
        passes.append(kwargs)
        if len(passes) == 2:
            raise RuntimeError("database gone")
        if len(passes) == 3:  # another junk counter, whose failure is old by the next pass
            lockout.claim_attempt("XEXX010101000")
            db.session.commit()
            clock.advance(hours=25)
        return real(**kwargs)

    monkeypatch.setattr(mail, "deliver_due", deliver_due)

    def rollback():  # after the failed pass, the connection is gone too
        raise RuntimeError("connection gone")

    monkeypatch.setattr(db.session, "rollback", rollback)
    waits = []
    monkeypatch.setattr(outbox.time, "sleep", waits.append)
    handlers = {sign: signal.getsignal(sign) for sign in (signal.SIGTERM, signal.SIGINT)}
    caplog.set_level(logging.INFO, logger="portal.outbox")
    try:
        with app.app_context():
            outbox.run(0.25, stop=lambda: len(passes) == 4)
            assert signal.getsignal(signal.SIGTERM) not in (handlers[signal.SIGTERM], signal.SIG_DFL)
    finally:
        for sign, handler in handlers.items():
            signal.signal(sign, handler)
    assert passes == [{"limit": 50, "everything": False}] * 4
    assert waits == [0.25] * 3  # no wait after a pass that sent something; a wait after a failed one
    assert len(list((Path(app.instance_path) / "outbox").glob("*.eml"))) == 1
    with app.app_context():
        assert db.session.get(LoginThrottle, "XAXX010101000") is None  # purged by the first pass
        assert db.session.get(LoginThrottle, "XEXX010101000") is not None  # the hour is not over
    said = [record.getMessage() for record in caplog.records if record.name == "portal.outbox"]
    assert said == ["outbox worker started (a pass every 0.25 s)", "outbox pass failed; trying again",
                    "rollback after a failed pass failed too", "outbox worker stopped"]


def test_sigterm_ends_the_worker_loop_after_its_pass(app):
    from portal import outbox

    handlers = {sign: signal.getsignal(sign) for sign in (signal.SIGTERM, signal.SIGINT)}
    asked = []

    def stop():
        asked.append(True)
        if len(asked) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # what systemd or docker stop sends
        return len(asked) > 3

    try:
        with app.app_context():
            outbox.run(0, stop=stop)
    finally:
        for sign, handler in handlers.items():
            signal.signal(sign, handler)
    assert len(asked) == 1  # stopped by the signal, not by stop()
