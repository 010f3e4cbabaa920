"""The secret-question step (SPEC section 3): the account's own question or a stable decoy that
no answer unlocks, answers compared loosely and kept as a slow hash, the limit on wrong answers."""
import re

import pytest

from helpers import (
    ANSWER,
    LIMITED_TEXT,
    NAME,
    QUESTION,
    QUESTIONS,
    SETUP_NAME,
    TEMPORARY,
    UNKNOWN,
    WRONG_ANSWER_TEXT,
    ask,
    assert_fragment,
    assert_page,
    make_user,
    masked,
    question_in,
    reply,
    stored_user,
    text,
)


def answer_input(response):
    return re.search(r'<input id="answer" name="answer"[^>]*>', text(response)).group(0)


# The step

def test_the_question_step_can_be_reloaded(client, user, way):
    ask(client)
    way.assert_answer(way.get(client, "/recuperar/pregunta"), "secret-question-step")


def test_question_step_without_a_user_name_goes_back_to_the_form(client):
    response = client.get("/recuperar/pregunta")
    assert response.status_code == 302 and response.headers["Location"] == "/recuperar"


def test_known_user_sees_their_own_question(client, user):
    body = assert_fragment(ask(client, htmx=True), "secret-question-step")
    assert question_in(ask(client)) == QUESTION
    assert 'name="answer"' in body and ">aceptar</button>" in body
    assert ">cancelar</a>" in body and ">enviar recordatorio</button>" in body


# Answers

@pytest.mark.parametrize("typed", ["Verde", "verde", "VERDE", "  vÉRde ", "V e r d e", "vérdé"])
def test_answer_ignores_case_accents_and_spaces(client, user, typed):
    ask(client)
    assert_fragment(reply(client, typed, htmx=True), "change-password-step")


def test_right_answer_without_htmx_shows_the_change_step_in_the_whole_page(client, user):
    ask(client)
    assert_page(reply(client, ANSWER), "change-password-step")


def test_wrong_answer_gives_an_error(client, user):
    ask(client)
    body = assert_fragment(reply(client, "Azul", htmx=True), "secret-question-step")
    assert WRONG_ANSWER_TEXT in body
    assert 'aria-invalid="true"' in answer_input(reply(client, "Rojo"))
    assert "change-password-step" not in body


def test_a_different_word_with_the_same_letters_is_wrong(client, user):
    ask(client)
    assert WRONG_ANSWER_TEXT in text(reply(client, "Verdes"))


def test_empty_answer_asks_for_it_and_does_not_count(client, user):
    ask(client)
    for _ in range(4):
        body = text(reply(client, "   "))
        assert "Escriba su respuesta." in body and LIMITED_TEXT not in body
    assert_page(reply(client, ANSWER), "change-password-step")


def test_answer_without_a_user_name_goes_back_to_the_form(client, user):
    response = reply(client, ANSWER)
    assert response.status_code == 303 and response.headers["Location"] == "/recuperar"
    htmx = reply(client, ANSWER, htmx=True)
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"] == "/recuperar"


def test_third_wrong_answer_leaves_only_the_email_route(client, user):
    ask(client)
    assert LIMITED_TEXT not in text(reply(client, "Azul"))
    assert LIMITED_TEXT not in text(reply(client, "Rojo"))
    third = reply(client, "Negro", htmx=True)
    body = assert_fragment(third, "secret-question-step")
    assert LIMITED_TEXT in body
    assert re.search(r"\bdisabled\b", answer_input(third))
    assert re.search(r'<button type="submit" class="button button-primary" disabled>aceptar</button>', body)
    assert re.search(r'<button type="submit" class="button" formnovalidate[^>]*>enviar recordatorio</button>', body)


def test_right_answer_is_refused_while_answers_are_limited(client, user):
    ask(client)
    for wrong in ("Azul", "Rojo", "Negro"):
        reply(client, wrong)
    body = assert_fragment(reply(client, ANSWER, htmx=True), "secret-question-step")
    assert LIMITED_TEXT in body
    assert client.get("/cambiar-contrasena").status_code == 302


def test_answer_limit_is_per_user_name_not_per_browser(app, user):
    attacker = app.test_client()
    ask(attacker)
    for wrong in ("Azul", "Rojo", "Negro"):
        reply(attacker, wrong)
    fresh = app.test_client()
    body = text(ask(fresh))
    assert LIMITED_TEXT in body and re.search(r"\bdisabled\b", answer_input(ask(fresh)))
    assert LIMITED_TEXT in text(reply(fresh, ANSWER))


def test_answer_limit_lifts_after_the_lock_minutes(client, user, clock):
    ask(client)
    for wrong in ("Azul", "Rojo", "Negro"):
        reply(client, wrong)
    clock.advance(minutes=59)
    assert LIMITED_TEXT in text(reply(client, ANSWER))
    clock.advance(minutes=1, seconds=1)
    assert LIMITED_TEXT not in text(ask(client))
    assert_page(reply(client, ANSWER), "change-password-step")


def test_right_answer_clears_the_wrong_ones(client, user):
    ask(client)
    reply(client, "Azul")
    reply(client, "Rojo")
    reply(client, ANSWER)
    ask(client)  # again, in the same browser
    assert WRONG_ANSWER_TEXT in text(reply(client, "Negro"))
    assert LIMITED_TEXT not in text(reply(client, "Blanco"))


def test_answer_is_stored_only_as_a_slow_hash(app, user):
    stored = stored_user(app).answer_hash
    assert "verde" not in stored.casefold() and "$2b$" in stored


def test_only_questions_of_the_list_can_be_stored(app):
    with pytest.raises(ValueError, match="debe ser una de estas"):
        make_user(app, question="<script>alert(1)</script>")


# Decoys: an unknown name, or an account without a question, looks like any other

def test_unknown_user_gets_the_same_decoy_question_every_time(app):
    first = question_in(ask(app.test_client(), UNKNOWN))
    second = question_in(ask(app.test_client(), UNKNOWN))
    assert first == second
    assert first in QUESTIONS


def test_decoy_questions_differ_among_user_names(app):
    names = ["XAXX010101000", "XEXX010101000", "AAAA010101AAA", "BBBB020202BBB", "CCCC030303CC3",
             "DDD040404DD4", "EEEE050505EE5", "FFFF060606FF6"]
    decoys = {question_in(ask(app.test_client(), name)) for name in names}
    assert len(decoys) > 1


@pytest.mark.parametrize("answer", [ANSWER, "Firulais", "Guadalajara"])
def test_no_answer_unlocks_a_decoy(client, user, answer):
    ask(client, UNKNOWN)
    body = text(reply(client, answer))
    assert WRONG_ANSWER_TEXT in body and 'id="change-password-step"' not in body


def test_account_without_a_question_gets_a_decoy_that_nothing_unlocks(app, client, setup_user):
    assert question_in(ask(client, SETUP_NAME)) in QUESTIONS
    assert WRONG_ANSWER_TEXT in text(reply(client, TEMPORARY))


@pytest.mark.parametrize("htmx", [False, True])
def test_question_step_is_the_same_for_a_known_and_an_unknown_name(app, user, htmx):
    known = ask(app.test_client(), NAME, htmx=htmx)
    unknown = ask(app.test_client(), UNKNOWN, htmx=htmx)
    assert known.status_code == unknown.status_code == 200
    assert masked(text(known), NAME, QUESTION) == masked(text(unknown), UNKNOWN, question_in(unknown))


def test_wrong_answers_look_the_same_for_a_known_and_an_unknown_name(app, user):
    known, unknown = app.test_client(), app.test_client()
    ask(known, NAME)
    decoy = question_in(ask(unknown, UNKNOWN))
    for attempt, wrong in enumerate(("Azul", "Rojo", "Negro", ANSWER)):
        a, b = reply(known, wrong), reply(unknown, wrong)
        assert a.status_code == b.status_code
        assert masked(text(a), NAME, QUESTION) == masked(text(b), UNKNOWN, decoy), f"attempt {attempt + 1}"
    assert LIMITED_TEXT in text(b)


def test_a_question_set_by_support_does_not_reveal_the_account(app, client, user):
    # The `user` account was made as support's CLI makes one, with a question of its own;
    # unknown names only ever get one of QUESTIONS.
    assert question_in(ask(client, NAME)) in QUESTIONS
