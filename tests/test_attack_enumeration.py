"""Attack: user-name enumeration. Can someone tell a user name that exists from one that does not?

For each step that takes a user name (the login POST /entrar, the recovery form POST /recuperar,
the secret question POST /recuperar/respuesta, the reminder POST /recuperar/recordatorio) an
attacker compares what a known and an unknown name get back:

- the body, byte for byte, once the CSRF token, the CAPTCHA id (/captcha/<id>.png|wav) and the
  typed user name are masked (both names have the same length, so nothing else moves);
- the status and every header, name and value. Set-Cookie is compared apart from its value:
  the session cookie is signed and carries the typed name, a fresh CSRF secret and a fresh
  CAPTCHA id, so its bytes always differ (even between two tries of one name). Its attributes
  are compared, and its decoded content is compared with the same masks. Content-Length is
  compared as it is (the names have the same length);
- the response time: medians of 50 interleaved tries each, with a realistic bcrypt cost, must
  differ by less than 10 %. A machine shared with other jobs is noisy, so a round that misses
  is measured again, up to three rounds; a real leak shows in every round.
"""
import gc
import re
import statistics
import time
from datetime import timedelta

import pytest

from helpers import (
    CAPTCHA,
    HTMX,
    PASSWORD,
    QUESTIONS,
    UNKNOWN,
    WRONG,
    ask,
    csrf_token,
    finished,
    make_user,
    masked,
    post,
    text,
)
from portal import passwords, secret_question
from portal.extensions import db
from portal.models import User

KNOWN = "GOMA800101AB1"  # as long as UNKNOWN, so Content-Length may be compared as it is

TIMING_ROUNDS = 9      # bcrypt cost for the timing tests: hashing dominates, ~30-60 ms a check
TRIES = 50
MAX_GAP = 0.10


def headers_without_cookies(response):
    return sorted((key, value) for key, value in response.headers.items() if key != "Set-Cookie")


def cookies(app, response, name):
    """Every Set-Cookie: its name, its attributes, and the decoded session with the masks."""
    serializer = app.session_interface.get_signing_serializer(app)
    found = []
    for header in response.headers.getlist("Set-Cookie"):
        pair, _, attributes = header.partition(";")
        cookie_name, _, value = pair.partition("=")
        attributes = re.sub(r"Expires=[^;]+", "Expires=WHEN", attributes)
        content = serializer.loads(value) if value else {}
        shown = {key: ("RANDOM" if key in ("csrf_token", "captcha_id") else
                       "USER-NAME" if val == name else val) for key, val in content.items()}
        found.append((cookie_name, attributes, sorted(shown.items())))
    return found


def assert_indistinguishable(app, known, unknown, step):
    assert known.status_code == unknown.status_code, step
    assert masked(text(known), KNOWN) == masked(text(unknown), UNKNOWN), step
    assert headers_without_cookies(known) == headers_without_cookies(unknown), step
    assert cookies(app, known, KNOWN) == cookies(app, unknown, UNKNOWN), step


def make_account(app, state, question=None):
    """The known name in one of the states an attacker could hope to single out."""
    make_user(app, KNOWN, question=None if state == "first-sign-in" else question or QUESTIONS[0])
    with app.app_context():
        user = db.session.scalar(db.select(User))
        if state == "inactive":
            user.created_at = user.created_at - timedelta(days=400)
            user.last_login_at = user.created_at
        if state == "disabled":
            user.disabled = True
        db.session.commit()


# The answers

@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("state", ["active", "first-sign-in", "inactive", "disabled"])
def test_login_answers_a_known_and_an_unknown_name_alike(app, state, htmx):
    """Seven wrong passwords in a row (CAPTCHA from the second, the lock at the fifth, refusals
    while locked): every answer is the same for an existing account, whatever its state, and
    for a name that does not exist; so are the page and the lock poll afterwards."""
    make_account(app, state)
    known, unknown = app.test_client(), app.test_client()
    for attempt in range(1, 8):
        solved = {"captcha": CAPTCHA} if attempt > 1 else {}
        a = post(known, "/entrar", {"username": KNOWN, "password": WRONG, **solved}, htmx, page="/")
        b = post(unknown, "/entrar", {"username": UNKNOWN, "password": WRONG, **solved}, htmx, page="/")
        assert_indistinguishable(app, a, b, f"attempt {attempt}")
    assert 'id="lockout"' in text(a)
    for path in ("/", "/bloqueo"):
        headers = HTMX if htmx else {}
        assert_indistinguishable(app, known.get(path, headers=headers), unknown.get(path, headers=headers), path)


def known_with_the_decoy_question(app, state="active"):
    """An account whose question is the decoy the unknown name draws: the question on the
    page is then the same text, and the two pages can be compared byte for byte. (An attacker
    sees one question from the same list either way; the decoy is stable for its name.)"""
    with app.app_context():
        decoy = secret_question.question_for(UNKNOWN)
    make_account(app, state, question=decoy)
    return decoy


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_recovery_user_name_step_answers_alike(app, htmx):
    known_with_the_decoy_question(app)
    known, unknown = app.test_client(), app.test_client()
    a = post(known, "/recuperar", {"username": KNOWN}, htmx, page="/")
    b = post(unknown, "/recuperar", {"username": UNKNOWN}, htmx, page="/")
    assert 'id="secret-question-step"' in text(a)
    assert_indistinguishable(app, a, b, "POST /recuperar")
    headers = HTMX if htmx else {}
    a, b = known.get("/recuperar/pregunta", headers=headers), unknown.get("/recuperar/pregunta", headers=headers)
    assert_indistinguishable(app, a, b, "GET /recuperar/pregunta")


def test_an_account_without_a_question_is_not_singled_out_by_the_question_step(app):
    """First sign-in pending (no question yet): the step shows a decoy, like for nobody."""
    make_account(app, "first-sign-in")
    a = post(app.test_client(), "/recuperar", {"username": KNOWN}, page="/")
    b = post(app.test_client(), "/recuperar", {"username": UNKNOWN}, page="/")
    with app.app_context():
        decoy_known, decoy_unknown = secret_question.question_for(KNOWN), secret_question.question_for(UNKNOWN)
    assert decoy_known in QUESTIONS
    assert masked(text(a), KNOWN, decoy_known) == masked(text(b), UNKNOWN, decoy_unknown)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_wrong_secret_answers_answer_alike(app, htmx):
    """Three wrong answers, then the limit, then the right answer of the real account while
    limited: the same answers for the account and for the unknown name."""
    known_with_the_decoy_question(app)
    known, unknown = app.test_client(), app.test_client()
    post(known, "/recuperar", {"username": KNOWN}, page="/")
    post(unknown, "/recuperar", {"username": UNKNOWN}, page="/")
    for attempt, answer in enumerate(("Azul", "", "Rojo", "Negro", "Verde"), start=1):
        a = post(known, "/recuperar/respuesta", {"answer": answer}, htmx, page="/")
        b = post(unknown, "/recuperar/respuesta", {"answer": answer}, htmx, page="/")
        assert_indistinguishable(app, a, b, f"answer {attempt}")
    assert "Se alcanzó el número máximo de respuestas incorrectas" in text(a)


@pytest.mark.parametrize("state", ["active", "disabled"])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_reminder_answers_alike(app, htmx, state):
    """Four reminders (three sent to the account, then its hourly limit): the same page."""
    known_with_the_decoy_question(app, state)
    known, unknown = app.test_client(), app.test_client()
    post(known, "/recuperar", {"username": KNOWN}, page="/")
    post(unknown, "/recuperar", {"username": UNKNOWN}, page="/")
    for attempt in range(1, 5):
        a = post(known, "/recuperar/recordatorio", {}, htmx, page="/")
        b = post(unknown, "/recuperar/recordatorio", {}, htmx, page="/")
        assert_indistinguishable(app, a, b, f"reminder {attempt}")
    assert "Si el usuario está registrado" in text(a)


# The timing

def medians(app, path, form, prepare=None, known=KNOWN, unknown=UNKNOWN, tries=TRIES):
    """Median seconds of `tries` POSTs for each name, interleaved (ABBA), after a warm-up.
    Only the request is timed: the outbox is flushed when the response is closed, after the
    client has its answer, as a WSGI server does."""
    clients = {}
    for name in (known, unknown):
        client = app.test_client()
        token = csrf_token(client)
        if prepare:
            prepare(client, name, token=token)
        clients[name] = (client, token)
    times = {known: [], unknown: []}
    gc.disable()
    try:
        for attempt in range(tries + 3):
            for name in ((known, unknown) if attempt % 2 else (unknown, known)):
                client, token = clients[name]
                start = time.perf_counter()
                response = client.post(path, data={"csrf_token": token, **form(name)})
                elapsed = time.perf_counter() - start
                finished(response)
                assert response.status_code == 200, text(response)[:300]
                if attempt >= 3:
                    times[name].append(elapsed)
    finally:
        gc.enable()
    return statistics.median(times[known]), statistics.median(times[unknown])


def assert_same_timing(measure):
    rounds = []
    for _ in range(3):
        known, unknown = measure()
        gap = abs(known - unknown) / min(known, unknown)
        rounds.append(f"known {known * 1000:.2f} ms, unknown {unknown * 1000:.2f} ms ({gap:.0%})")
        if gap < MAX_GAP:
            return
    pytest.fail("medians differ by 10 % or more: " + "; ".join(rounds))


@pytest.fixture
def timed_app(make_app):
    """Realistic hashing, and no lock or limit that would change the path midway."""
    return make_app(BCRYPT_ROUNDS=TIMING_ROUNDS, LOGIN_MAX_ATTEMPTS=10**6, ANSWER_MAX_ATTEMPTS=10**6,
                    REMINDERS_PER_HOUR=10**6)


def test_login_timing_does_not_tell_a_known_name(timed_app):
    make_account(timed_app, "active")
    assert_same_timing(lambda: medians(
        timed_app, "/entrar", lambda name: {"username": name, "password": WRONG, "captcha": CAPTCHA}))


def test_recovery_user_name_timing_does_not_tell_a_known_name(timed_app):
    known_with_the_decoy_question(timed_app)
    assert_same_timing(lambda: medians(timed_app, "/recuperar", lambda name: {"username": name}))


def test_secret_answer_timing_does_not_tell_a_known_name(timed_app):
    known_with_the_decoy_question(timed_app)
    assert_same_timing(lambda: medians(timed_app, "/recuperar/respuesta", lambda name: {"answer": "Rojo"},
                                       prepare=ask))


def test_reminder_timing_does_not_tell_a_known_name(timed_app):
    known_with_the_decoy_question(timed_app)
    assert_same_timing(lambda: medians(timed_app, "/recuperar/recordatorio", lambda name: {}, prepare=ask))


def test_login_timing_does_not_tell_an_account_whose_hash_has_an_older_cost(timed_app):
    make_account(timed_app, "active")
    with timed_app.app_context():
        user = db.session.scalar(db.select(User))
        user.password_hash = passwords.hash_password(PASSWORD, rounds=TIMING_ROUNDS - 3)  # as before a cost raise
        db.session.commit()
    assert_same_timing(lambda: medians(
        timed_app, "/entrar", lambda name: {"username": name, "password": WRONG, "captcha": CAPTCHA}, tries=20))
