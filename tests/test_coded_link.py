"""«enviar recordatorio» and the e-mailed coded link (SPEC section 3): the reminder's answer and its
e-mail, the hourly limit, and the single-use link that expires and is void once the password changes."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from helpers import (
    BASE_URL,
    EMAIL,
    HTMX,
    LIMITED_TEXT,
    NAME,
    PASSWORD,
    QUESTION,
    SETUP_NAME,
    TEMPORARY,
    UNKNOWN,
    ask,
    assert_fragment,
    assert_page,
    assert_text_and_html,
    code_of,
    csrf_token,
    finished,
    follow,
    html,
    link_in,
    login,
    make_user,
    masked,
    open_link,
    plain,
    prove_by_answer,
    question_in,
    received,
    remind,
    reminder_link,
    reply,
    rows,
    save,
    text,
)
from portal import coded_link
from portal.extensions import db
from portal.models import CodedLink, OutboxMessage

SENT_TEXT = "Si el usuario está registrado, enviamos a su correo un aviso con un enlace para cambiar la contraseña."


# enviar recordatorio

def test_reminder_answer_is_the_same_for_a_known_and_an_unknown_name(mailing, smtp):
    known, unknown = mailing.test_client(), mailing.test_client()
    ask(known, NAME)
    decoy = question_in(ask(unknown, UNKNOWN))
    a, b = remind(known), remind(unknown)
    assert a.status_code == b.status_code == 200
    assert SENT_TEXT in text(a)
    assert_page(a, "secret-question-step")
    assert masked(text(a), NAME, QUESTION) == masked(text(b), UNKNOWN, decoy)
    received(smtp, 1)


def test_reminder_for_htmx_is_the_question_step_with_the_notice(mailing, smtp):
    client = mailing.test_client()
    ask(client)
    body = assert_fragment(remind(client, htmx=True), "secret-question-step")
    assert SENT_TEXT in body and "El enlace vale 24 horas y una sola vez." in body


def test_reminder_reaches_the_registered_address_as_text_and_html(mailing, smtp):
    client = mailing.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.8"
    ask(client)
    remind(client)
    [message] = received(smtp, 1)
    assert smtp.messages[0].rcpt_tos == [EMAIL]
    assert message["To"] == EMAIL
    assert message["Subject"] == "Aviso de cambio de contraseña de e-Factura"
    assert_text_and_html(message)
    body, page = plain(message), html(message)
    assert body.startswith("Estimado(a) María Gómez:")
    assert f"su usuario {NAME}" in body and "203.0.113.8" in body and "24/11/2026 12:00" in body
    link = link_in(message)
    assert link.startswith(f"{BASE_URL}/request/codedAccess?code=")
    assert "cópielo completo y péguelo en la barra de direcciones de su navegador" in body
    assert "Deja de valer en cuanto su contraseña cambie por cualquier medio" in body
    assert "vence en 24 horas" in body
    assert f'<a href="{link}">' in page and f"<code>{link}</code>" in page
    assert "copie esta dirección completa y péguela en la barra de direcciones de su navegador" in page
    assert "Deja de valer en cuanto su contraseña cambie por cualquier medio" in page


def test_reminder_link_ignores_the_host_header(mailing, smtp):
    client = mailing.test_client()
    evil = {"Host": "evil.example"}
    ask(client, headers=evil)
    assert SENT_TEXT in text(remind(client, headers=evil))
    [message] = received(smtp, 1)
    assert link_in(message).startswith(f"{BASE_URL}/request/codedAccess?code=")
    assert "evil.example" not in plain(message) and "evil.example" not in html(message)


def test_reminder_leaves_after_the_response(mailing, smtp):
    client = mailing.test_client()
    ask(client)
    response = client.post("/recuperar/recordatorio", data={"csrf_token": csrf_token(client, "/recuperar")})
    assert response.status_code == 200
    assert smtp.messages == []  # nothing was sent while the answer was being made
    with mailing.app_context():  # nor even prepared: known and unknown names cost the same
        assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 0
    finished(response)
    received(smtp, 1)
    [queued] = rows(mailing, OutboxMessage)
    assert queued.sent_at is not None


def test_unknown_name_receives_nothing(mailing, smtp):
    client = mailing.test_client()
    ask(client, UNKNOWN)
    assert SENT_TEXT in text(remind(client))
    assert smtp.messages == []
    assert rows(mailing, OutboxMessage) == []
    assert rows(mailing, CodedLink) == []


def test_at_most_three_reminders_an_hour(mailing, smtp, clock):
    client = mailing.test_client()
    ask(client)
    answers = []
    for _ in range(4):
        answers.append(remind(client))
        clock.advance(minutes=5)
    received(smtp, 3)
    assert len(smtp.messages) == 3
    assert answers[3].status_code == answers[2].status_code == 200
    assert masked(text(answers[3]), NAME, QUESTION) == masked(text(answers[2]), NAME, QUESTION)
    assert len(rows(mailing, CodedLink)) == 3


def test_the_reminder_limit_is_per_user_name_not_per_browser(mailing, smtp):
    for _ in range(4):
        client = mailing.test_client()
        ask(client)
        remind(client)
    received(smtp, 3)
    assert len(smtp.messages) == 3


def test_reminders_are_allowed_again_after_an_hour(mailing, smtp, clock):
    client = mailing.test_client()
    ask(client)
    for _ in range(3):
        remind(client)
    received(smtp, 3)  # the worker carries them out as they come
    clock.advance(hours=1, seconds=1)
    remind(client)
    received(smtp, 4)


def test_reminder_works_while_answers_are_limited(mailing, smtp):
    client = mailing.test_client()
    ask(client)
    for wrong in ("Azul", "Rojo", "Negro"):
        reply(client, wrong)
    body = text(remind(client))
    assert SENT_TEXT in body and LIMITED_TEXT in body
    subjects = sorted(str(message["Subject"]) for message in received(smtp, 2))
    assert "bloqueadas" in subjects[1] and "cambio de contraseña" in subjects[0]  # the owner hears of the lock too


def test_reminder_without_a_user_name_goes_back_to_the_form(mailing, smtp):
    response = remind(mailing.test_client())
    assert response.status_code == 303 and response.headers["Location"] == "/recuperar"
    assert smtp.messages == []


def test_a_newer_link_voids_the_older_one(mailing, smtp):
    client = mailing.test_client()
    older = reminder_link(mailing, smtp, client, count=1)
    newer = reminder_link(mailing, smtp, client, count=2)
    assert code_of(older) != code_of(newer)
    refused = open_link(mailing.test_client(), older)
    assert refused.status_code == 303 and refused.headers["Location"].startswith("/recuperar/enlace")
    assert "se pidió un enlace más reciente" in text(follow(client, refused))
    assert open_link(mailing.test_client(), newer).headers["Location"] == "/cambiar-contrasena"


# The coded link

def test_valid_link_redirects_to_the_change_step_without_the_code(mailing, smtp):
    link = reminder_link(mailing, smtp)
    browser = mailing.test_client()
    response = open_link(browser, link)
    assert response.status_code == 303
    assert response.headers["Location"] == "/cambiar-contrasena"
    assert code_of(link) not in response.headers["Location"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    body = assert_page(follow(browser, response), "change-password-step")
    assert f'value="{NAME}"' in body and code_of(link) not in body


def test_link_works_only_once(mailing, smtp):
    link = reminder_link(mailing, smtp)
    assert open_link(mailing.test_client(), link).headers["Location"] == "/cambiar-contrasena"
    second = mailing.test_client()
    refused = open_link(second, link)
    assert refused.status_code == 303
    assert refused.headers["Location"] == "/recuperar/enlace?motivo=used"
    body = assert_page(follow(second, refused), "link-error")
    assert "Este enlace ya se usó. Cada enlace sirve una sola vez." in body
    assert second.get("/cambiar-contrasena").headers["Location"] == "/recuperar"


def test_tampered_link_is_refused(mailing, smtp):
    link = reminder_link(mailing, smtp)
    code = code_of(link)
    tampered = link.replace(code, code[:-1] + ("A" if code[-1] != "A" else "B"))
    browser = mailing.test_client()
    refused = open_link(browser, tampered)
    assert refused.status_code == 303
    body = assert_page(follow(browser, refused), "link-error")
    assert "El enlace no es válido. Si lo copió del correo, asegúrese de copiarlo completo." in body
    assert browser.get("/cambiar-contrasena").status_code == 302
    assert open_link(mailing.test_client(), link).headers["Location"] == "/cambiar-contrasena"  # still good


@pytest.mark.parametrize("query", ["", "?code=", "?code=nada", "?code=" + "A" * 5000])
def test_missing_or_made_up_code_is_refused(client, query):
    response = client.get("/request/codedAccess" + query)
    assert response.status_code == 303
    assert "El enlace no es válido" in text(follow(client, response))


def test_link_is_valid_until_just_before_it_expires(mailing, smtp, clock):
    link = reminder_link(mailing, smtp)
    clock.advance(hours=23, minutes=59)
    assert open_link(mailing.test_client(), link).headers["Location"] == "/cambiar-contrasena"


def test_expired_link_is_refused(mailing, smtp, clock):
    link = reminder_link(mailing, smtp)
    clock.advance(hours=24, seconds=1)
    browser = mailing.test_client()
    refused = open_link(browser, link)
    assert refused.headers["Location"] == "/recuperar/enlace?motivo=expired"
    body = assert_page(follow(browser, refused), "link-error")
    assert "Este enlace venció: vale 24 horas desde que se envió." in body


def test_link_issued_before_a_password_change_is_refused(mailing, smtp):
    link = reminder_link(mailing, smtp)
    changer = mailing.test_client()
    prove_by_answer(changer)
    assert save(changer).headers["Location"] == "/inicio"
    browser = mailing.test_client()
    refused = open_link(browser, link)
    assert refused.headers["Location"] == "/recuperar/enlace?motivo=void"
    body = assert_page(follow(browser, refused), "link-error")
    assert "Este enlace ya no es válido: la contraseña cambió después de enviarlo" in body


def test_link_error_answers_each_way(client, way):
    body = way.assert_answer(way.get(client, "/recuperar/enlace?motivo=used"), "link-error")
    assert 'role="alert"' in body and "Este enlace ya se usó." in body
    assert 'href="/recuperar"' in body and "Pedir un enlace nuevo" in body
    way.assert_answer(way.get(client, "/recuperar/enlace?motivo=expired"), "link-error")


def test_link_error_with_a_made_up_reason_says_the_link_is_not_valid(client):
    body = text(client.get("/recuperar/enlace?motivo=<script>", headers=HTMX))
    assert "El enlace no es válido." in body and "<script>" not in body


def test_the_database_keeps_no_code_in_clear(mailing, smtp):
    link = reminder_link(mailing, smtp)
    code = code_of(link)
    [stored] = rows(mailing, CodedLink)
    columns = [getattr(stored, column.key) for column in CodedLink.__table__.columns]
    assert all(code not in str(value) for value in columns)
    assert stored.code_hash != code


def test_opening_a_link_signs_out_whoever_was_signed_in_in_that_browser(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    make_user(app, question=QUESTION)
    make_user(app, "LOPJ750315XY2", email="juan@example.com", display_name="Juan López", question=QUESTION,
              answer="Azul")
    link = reminder_link(app, smtp)
    shared = app.test_client()
    login(shared, "LOPJ750315XY2", PASSWORD)
    open_link(shared, link)
    assert shared.get("/inicio").status_code == 302
    assert f'value="{NAME}"' in text(shared.get("/cambiar-contrasena"))


# Found while writing these tests, fixed since

def test_concurrent_reminders_never_exceed_the_hourly_limit(mailing, smtp, monkeypatch):
    attempts = 6
    all_counted = threading.Barrier(attempts, timeout=1)
    real = coded_link.void_all

    def after_the_count(*args):
        """Every request has counted the recent links before any of them adds its own."""
        try:
            all_counted.wait()
        except threading.BrokenBarrierError:
            pass
        return real(*args)

    monkeypatch.setattr(coded_link, "void_all", after_the_count)
    clients = [mailing.test_client() for _ in range(attempts)]
    for client in clients:
        ask(client)
    tokens = [csrf_token(client, "/recuperar") for client in clients]

    def send(i):
        return finished(clients[i].post("/recuperar/recordatorio", data={"csrf_token": tokens[i]})).status_code

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        assert list(pool.map(send, range(attempts))) == [200] * attempts
    assert len(rows(mailing, CodedLink)) <= 3
    assert len(rows(mailing, OutboxMessage)) <= 3


def test_no_table_keeps_the_code_once_the_reminder_is_sent(mailing, smtp):
    code = code_of(reminder_link(mailing, smtp))
    with mailing.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                assert code not in repr(tuple(row)), f"the code is stored in clear in {table.name}"


def test_link_for_an_account_without_a_question_asks_for_one(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    make_user(app, SETUP_NAME, TEMPORARY, email="ana@example.com", display_name="Ana Pérez", question=None)
    browser = app.test_client()
    ask(browser, SETUP_NAME)
    remind(browser)
    open_link(browser, link_in(received(smtp, 1)[0]))
    body = assert_page(browser.get("/cambiar-contrasena"), "change-password-step")
    assert "<p>None</p>" not in body
    assert "registrada" not in body
    assert '<select id="question" name="question" required>' in body
