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
- the work done: the number and the cost of the bcrypt checks (their total work must be the
  same whatever the account's stored hash) and the SQL statements sent. Counting cannot flake on
  a busy machine and sees a leak of any size; the response time over real sockets, against
  gunicorn, is measured in test_attack_timing.py.
"""
import re
from datetime import timedelta

import bcrypt
import pytest
import sqlalchemy

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
from portal import accounts, passwords, secret_question, stable_keys
from portal.extensions import db
from portal.models import User

KNOWN = "GOMA800101AB1"  # as long as UNKNOWN, so Content-Length may be compared as it is



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
        shown = {key: ("RANDOM" if key in ("csrf_token", "captcha_id", "answer_captcha_id") else
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


UNKNOWN_NAMES = [f"XAXX0101{day:02d}{n:03d}"[:13] for day in range(1, 29) for n in (100, 200)][:40]


def decoys(app, names=UNKNOWN_NAMES):
    with app.app_context():
        return [secret_question.question_for(name) for name in names]


def test_rotating_secret_key_changes_no_decoy(make_app):
    """Found by the outside review: decoy questions were an HMAC under SECRET_KEY, so after a
    rotation unknown names changed question and real ones did not. The decoys' key is the
    portal's own now, made once and never rotated."""
    app = make_app()
    before = decoys(app)
    assert len(set(before)) > 1
    rotated = make_app(SECRET_KEY="a-new-secret-key-after-the-rotation")  # same database
    assert decoys(rotated) == before
    with rotated.app_context():
        assert len(stable_keys.get("decoy-questions")) == 32  # 256 random bits


LEGACY = "1+1"  # a question a user wrote in the legacy system (the manual shows it)


def import_legacy_accounts(app, count):
    with app.app_context():
        for i in range(count):
            accounts.create_user(f"LEG{chr(65 + i // 26)}{chr(65 + i % 26)}800101AB{i % 10}", "Anterior.2020!",
                                 f"leg{i}@example.com", question=LEGACY, answer="2", legacy=True)


def test_a_legacy_question_is_never_a_decoy_while_few_accounts_share_it(make_app):
    """Import keeps a legacy question as written; a decoy never shows one account's own text (nor
    a text too few accounts share: it would single out a real name)."""
    app = make_app(DECOY_MIN_ACCOUNTS=5, DECOY_POOL_SECONDS=0)
    import_legacy_accounts(app, 4)
    assert LEGACY not in decoys(app, [f"XEXX0101{n:05d}"[:13] for n in range(300)])


def test_a_legacy_question_many_accounts_share_is_a_decoy_as_often_as_it_is_real(make_app):
    app = make_app(DECOY_MIN_ACCOUNTS=5, DECOY_POOL_SECONDS=0)
    import_legacy_accounts(app, 30)  # 30 of 30 accounts: the decoys must show it most of the time
    shown = decoys(app, [f"XEXX0101{n:05d}"[:13] for n in range(300)])
    share = shown.count(LEGACY) / len(shown)
    assert 0.6 < share < 0.95  # 30 accounts against the list's seven questions weighted 1 each


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_wrong_secret_answers_answer_alike(app, htmx):
    """Three wrong answers, then the limit, then the right answer of the real account while
    limited: the same answers for the account and for the unknown name."""
    known_with_the_decoy_question(app)
    known, unknown = app.test_client(), app.test_client()
    post(known, "/recuperar", {"username": KNOWN}, page="/")
    post(unknown, "/recuperar", {"username": UNKNOWN}, page="/")
    for attempt, answer in enumerate(("Azul", "", "Rojo", "Negro", "Verde"), start=1):
        solved = {"captcha": CAPTCHA} if attempt > 1 else {}  # required once an answer was wrong
        a = post(known, "/recuperar/respuesta", {"answer": answer, **solved}, htmx, page="/")
        b = post(unknown, "/recuperar/respuesta", {"answer": answer, **solved}, htmx, page="/")
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


# The work done: the same for a known and an unknown name

WORK_ROUNDS = 6  # the configured cost; older and legacy hashes of an account are cheaper


def work(checks):
    """bcrypt work of the checks counted: the time of a check doubles with each cost step."""
    return sum(2 ** cost for cost in checks)


@pytest.fixture
def statements(app):
    """Every SQL statement the portal sends, as text without its parameters."""
    sent = []
    with app.app_context():
        sqlalchemy.event.listen(db.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def work_of(app, checks, statements, path, form, prepare=None):
    """(bcrypt costs, SQL statements) of one POST for each name, after the same preparation."""
    found = {}
    for name in (KNOWN, UNKNOWN):
        client = app.test_client()
        token = csrf_token(client)
        if prepare:
            prepare(client, name, token=token)
        checks.clear()
        statements.clear()
        response = finished(client.post(path, data={"csrf_token": token, **form(name)}))
        assert response.status_code == 200, text(response)[:300]
        found[name] = (list(checks), list(statements))
    return found[KNOWN], found[UNKNOWN]


@pytest.fixture
def counted_app(make_app):
    """No lock or limit that would change the path midway."""
    return make_app(BCRYPT_ROUNDS=WORK_ROUNDS, LOGIN_MAX_ATTEMPTS=10**6, ANSWER_MAX_ATTEMPTS=10**6,
                    REMINDERS_PER_HOUR=10**6)


def wrong_password(password=WRONG):
    return lambda name: {"username": name, "password": password, "captcha": CAPTCHA}


def test_login_does_the_same_work_for_a_known_and_an_unknown_name(counted_app, checks, statements):
    make_account(counted_app, "active")
    known, unknown = work_of(counted_app, checks, statements, "/entrar", wrong_password())
    assert known == unknown and known[0] == [WORK_ROUNDS]


def test_the_recovery_user_name_step_does_the_same_work(counted_app, checks, statements):
    known_with_the_decoy_question(counted_app)
    known, unknown = work_of(counted_app, checks, statements, "/recuperar", lambda name: {"username": name})
    assert known == unknown and known[0] == []


def test_a_wrong_secret_answer_does_the_same_work(counted_app, checks, statements):
    known_with_the_decoy_question(counted_app)
    known, unknown = work_of(counted_app, checks, statements, "/recuperar/respuesta", lambda name: {"answer": "Rojo"},
                             prepare=ask)
    assert known == unknown and known[0] == [WORK_ROUNDS]


def test_a_reminder_does_the_same_work_in_the_request(counted_app, checks, statements):
    known_with_the_decoy_question(counted_app)
    known, unknown = work_of(counted_app, checks, statements, "/recuperar/recordatorio", lambda name: {}, prepare=ask)
    assert known == unknown and known[0] == []


def legacy_hash(password, cost):
    """A plain bcrypt hash as the legacy system made them (imported as they are)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


@pytest.mark.parametrize("stored, password", [
    pytest.param(lambda: passwords.hash_password(PASSWORD, rounds=WORK_ROUNDS - 2), WRONG,
                 id="portal hash of an older cost"),
    pytest.param(lambda: legacy_hash(PASSWORD, WORK_ROUNDS), WRONG, id="legacy hash"),
    pytest.param(lambda: legacy_hash(PASSWORD, WORK_ROUNDS - 2), WRONG, id="legacy hash of an older cost"),
    pytest.param(lambda: legacy_hash(PASSWORD, WORK_ROUNDS), "Equivocada." + "x" * 70,
                 id="legacy hash, a password over 72 bytes"),
    pytest.param(lambda: legacy_hash(PASSWORD, WORK_ROUNDS - 2), "ñ" * 40,
                 id="legacy hash of an older cost, 80 bytes of UTF-8"),
])
def test_every_failed_check_costs_the_same_whatever_the_stored_hash(counted_app, checks, statements, stored, password):
    """Found by the outside review: an imported legacy hash answered a password over 72 bytes
    at once (no check), so imported accounts could be told from unknown names."""
    make_account(counted_app, "active")
    with counted_app.app_context():
        db.session.scalar(db.select(User)).password_hash = stored()
        db.session.commit()
    known, unknown = work_of(counted_app, checks, statements, "/entrar", wrong_password(password))
    assert work(known[0]) == work(unknown[0]) == 2 ** WORK_ROUNDS
    assert known[1] == unknown[1]
