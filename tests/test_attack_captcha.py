"""Attack: getting past the CAPTCHA without solving a new one each time.

A challenge serves one submission, whoever holds its id; its solution never leaves the server
(no page, header or cookie carries it: Flask's session cookie is signed, not encrypted, so
anything in it can be read by the client). bcrypt.checkpw is counted: a refused CAPTCHA means
no password was evaluated.
"""
import re
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from itsdangerous import base64_decode
from sqlalchemy import select

from helpers import CAPTCHA, HTMX, NAME, PASSWORD, WRONG, csrf_token, login, make_user, shown_challenge, text
from portal import captcha
from portal.extensions import db
from portal.models import CaptchaChallenge

OTHER = "LOPJ750315XY2"


@pytest.fixture
def users(app):
    for username in (NAME, OTHER):
        make_user(app, username, email=f"{username.lower()}@example.com", display_name="")


def browser(app):
    """A client holding its CSRF token. Fetched once: loading the page hands out a fresh
    challenge, which would replace the one the test means to submit."""
    client = app.test_client()
    client.token = csrf_token(client)
    return client


def attempt(client, username, password, captcha=None, htmx=False):
    """A sign-in with the token the browser holds."""
    return login(client, username, password, captcha, htmx, token=client.token)


def challenge_of(client):
    with client.session_transaction() as session:
        return session.get("captcha_id")


def plant(client, challenge_id):
    with client.session_transaction() as session:
        session["captcha_id"] = challenge_id


def refused_for_the_captcha(response):
    return 'data-error="captcha"' in text(response)


def test_a_solved_challenge_cannot_be_replayed(app, users, checks):
    client = browser(app)
    attempt(client, NAME, WRONG)
    solved = challenge_of(client)
    attempt(client, NAME, WRONG, CAPTCHA)  # spends it
    assert len(checks) == 2
    for password in (WRONG, PASSWORD):
        plant(client, solved)
        response = attempt(client, NAME, password, CAPTCHA)
        assert refused_for_the_captcha(response)
    assert len(checks) == 2
    assert client.get("/inicio").status_code == 302


@pytest.mark.parametrize("medium", ["wav", "png"])
def test_a_challenge_whose_audio_or_image_was_fetched_serves_one_submission(app, users, checks, medium, request):
    """Fetching the audio (or the image) gives the challenge its row, which the submission then
    claims: the solved challenge cannot be replayed, and the claim touches no other challenge
    (another browser's, fetched as well, still solves its own sign-in)."""
    if medium == "wav":
        request.getfixturevalue("espeak")
    client, other = browser(app), browser(app)
    attempt(client, NAME, WRONG)
    attempt(other, OTHER, WRONG)
    solved, pending = challenge_of(client), challenge_of(other)
    for challenge in (solved, pending):
        assert client.get(f"/captcha/{challenge}.{medium}").status_code == 200
    assert not refused_for_the_captcha(attempt(client, NAME, WRONG, CAPTCHA))
    assert len(checks) == 3
    for password in (WRONG, PASSWORD):
        plant(client, solved)
        assert refused_for_the_captcha(attempt(client, NAME, password, CAPTCHA))
    assert len(checks) == 3
    assert client.get("/inicio").status_code == 302
    assert attempt(other, OTHER, PASSWORD, CAPTCHA).status_code == 303


def test_a_spent_challenge_stays_spent_until_its_id_expires(app, users, clock, checks):
    """Its row outlives the id: replayed a moment before the id expires, it is still refused."""
    client = browser(app)
    attempt(client, NAME, WRONG)
    solved = challenge_of(client)
    client.get(f"/captcha/{solved}.png")
    attempt(client, NAME, WRONG, CAPTCHA)  # spends it
    clock.advance(seconds=app.config["CAPTCHA_TTL_SECONDS"] - 1)
    plant(client, solved)
    assert refused_for_the_captcha(attempt(client, NAME, PASSWORD, CAPTCHA))
    assert len(checks) == 2


def test_a_challenge_id_copied_into_other_sessions_serves_one_submission(app, users, checks):
    """The attacker solves one challenge and plants its id in ten sessions: one submission gets
    through to a password check, nine are refused."""
    farm = browser(app)
    attempt(farm, NAME, WRONG)
    solved = challenge_of(farm)
    accepted = 0
    for _ in range(10):
        bot = browser(app)
        plant(bot, solved)
        accepted += not refused_for_the_captcha(attempt(bot, NAME, WRONG, CAPTCHA))
    assert accepted == 1
    assert len(checks) == 2


def test_a_challenge_id_used_at_once_from_many_sessions_serves_one_submission(app, users, checks):
    farm = browser(app)
    attempt(farm, OTHER, WRONG)
    solved = challenge_of(farm)
    bots = []
    for _ in range(8):
        bot = browser(app)
        plant(bot, solved)
        bots.append(bot)
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda bot: attempt(bot, OTHER, WRONG, CAPTCHA), bots))
    assert sum(not refused_for_the_captcha(r) for r in responses) == 1
    assert len(checks) == 2


@pytest.mark.parametrize("answer", [None, "", "   ", "\x00", "x" * 32])
def test_a_missing_or_empty_answer_is_refused_without_a_password_check(app, users, checks, answer):
    client = browser(app)
    attempt(client, NAME, WRONG)
    response = attempt(client, NAME, PASSWORD, answer)
    assert response.status_code == 200 and refused_for_the_captcha(response)
    assert len(checks) == 1
    assert client.get("/inicio").status_code == 302


def test_a_missing_answer_from_a_fresh_browser_is_refused_for_a_name_with_failures(app, users, checks):
    attempt(browser(app), NAME, WRONG)
    fresh = browser(app)  # holds no challenge at all
    assert refused_for_the_captcha(attempt(fresh, NAME, PASSWORD, CAPTCHA))
    assert len(checks) == 1


def test_a_solved_captcha_is_not_carried_to_another_user_name(app, users, checks):
    """Both names need the CAPTCHA. The attacker solves one for NAME, then tries OTHER: with
    nothing, with the spent id planted again, or with a fresh browser: refused each time."""
    client = browser(app)
    attempt(client, OTHER, WRONG)  # OTHER now has a recent failure
    attempt(client, NAME, WRONG, CAPTCHA)
    solved = challenge_of(client)
    attempt(client, NAME, WRONG, CAPTCHA)  # solved for NAME: a password was checked
    assert len(checks) == 3
    with client.session_transaction() as session:
        session.pop("captcha_id")
    assert refused_for_the_captcha(attempt(client, OTHER, PASSWORD))
    plant(client, solved)
    assert refused_for_the_captcha(attempt(client, OTHER, PASSWORD, CAPTCHA))
    assert refused_for_the_captcha(attempt(browser(app), OTHER, PASSWORD))
    assert len(checks) == 3


def test_a_spent_or_expired_challenge_cannot_be_shown_again(app, users, clock):
    """So nobody can farm solutions for ids that were already handed out."""
    client = browser(app)
    attempt(client, NAME, WRONG)
    spent = challenge_of(client)
    attempt(client, NAME, WRONG, CAPTCHA)
    assert client.get(f"/captcha/{spent}.png").status_code == 404
    assert client.get(f"/captcha/{spent}.wav").status_code == 404
    current = challenge_of(client)
    assert client.get(f"/captcha/{current}.png").status_code == 200
    clock.advance(seconds=301)
    assert client.get(f"/captcha/{current}.png").status_code == 404
    assert refused_for_the_captcha(attempt(client, NAME, PASSWORD, CAPTCHA))


def test_a_challenge_shows_one_image_however_often_it_is_fetched(app, users):
    """Drawn anew on every fetch, one answer would come in as many renderings as the solver asks
    for, and a vote over them beats the noise; the first drawing is kept and served again."""
    client = browser(app)
    attempt(client, NAME, WRONG)
    shown = challenge_of(client)
    images = [client.get(f"/captcha/{shown}.png") for _ in range(3)]
    assert all(image.status_code == 200 and image.data[:4] == b"\x89PNG" for image in images)
    assert images[0].data == images[1].data == images[2].data
    assert browser(app).get(f"/captcha/{shown}.png").data == images[0].data  # whoever asks
    attempt(client, NAME, WRONG, CAPTCHA)  # spends it
    assert client.get(f"/captcha/{shown}.png").status_code == 404


def test_concurrent_first_fetches_of_a_challenge_get_one_image(app, users):
    client = browser(app)
    attempt(client, NAME, WRONG)
    shown = challenge_of(client)
    bots = [browser(app) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        images = list(pool.map(lambda bot: bot.get(f"/captcha/{shown}.png"), bots))
    assert all(image.status_code == 200 for image in images)
    assert len({image.data for image in images}) == 1
    assert client.get(f"/captcha/{shown}.png").data == images[0].data


def test_a_challenge_whose_image_was_fetched_gets_an_audio_of_its_own(app, users, espeak):
    """The image's row is there when the audio is first asked for: the audio is made and kept
    in that row, and in no other challenge's."""
    client = browser(app)
    attempt(client, NAME, WRONG)
    first = challenge_of(client)
    second = shown_challenge(client.get("/captcha/nuevo", headers=HTMX))
    for challenge in (first, second):
        assert client.get(f"/captcha/{challenge}.png").status_code == 200
    audios = [client.get(f"/captcha/{challenge}.wav") for challenge in (first, second)]
    assert all(audio.status_code == 200 and audio.data[:4] == b"RIFF" for audio in audios)
    assert audios[0].data != audios[1].data  # one answer in TestConfig, said anew for each challenge
    assert client.get(f"/captcha/{first}.wav").data == audios[0].data


def test_concurrent_first_fetches_of_the_image_and_the_audio_get_one_of_each(app, users, espeak):
    client = browser(app)
    attempt(client, NAME, WRONG)
    shown = challenge_of(client)
    paths = [f"/captcha/{shown}.{medium}" for medium in ("wav", "png") for _ in range(3)]  # the slow one first
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda path: browser(app).get(path), paths))
    assert [answer.status_code for answer in answers] == [200] * 6
    assert len({answer.data for answer in answers[:3]}) == 1 and len({answer.data for answer in answers[3:]}) == 1
    with ThreadPoolExecutor(max_workers=4) as pool:  # the audio of a challenge whose image is kept
        second = shown_challenge(client.get("/captcha/nuevo", headers=HTMX))
        client.get(f"/captcha/{second}.png")
        audios = list(pool.map(lambda _: browser(app).get(f"/captcha/{second}.wav"), range(4)))
    assert len({audio.data for audio in audios}) == 1 and audios[0].status_code == 200


def test_the_rows_of_expired_challenges_are_removed(app, users, clock):
    """Fetched and spent challenges leave rows; once their ids have expired the rows go, so a
    flood of fetches does not grow the table for ever."""
    client = browser(app)
    attempt(client, NAME, WRONG)
    old = challenge_of(client)
    client.get(f"/captcha/{old}.png")
    attempt(client, NAME, WRONG, CAPTCHA)  # spends it
    clock.advance(seconds=2 * app.config["CAPTCHA_TTL_SECONDS"] + 1)
    fresh = shown_challenge(client.get("/captcha/nuevo", headers=HTMX))
    assert client.get(f"/captcha/{fresh}.png").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(CaptchaChallenge.id)).all() == [fresh.split(".")[0]]


def test_guessed_challenge_ids_are_not_found(app):
    client = browser(app)
    for guess in ("1", "a" * 32, "../../etc/passwd", "%2e%2e%2f", "' OR '1'='1"):  # NUL: test_attack_fuzz.py
        assert client.get(f"/captcha/{guess}.png").status_code == 404


# The solution never leaves the server

SOLUTION = "ZQXJ7SOLUCION"  # a fixed answer that cannot occur by chance in a page


def decoded_session(response):
    found = []
    for header in response.headers.getlist("Set-Cookie"):
        value = header.split(";")[0].split("=", 1)[1]
        if not value:
            continue
        payload = value.split(".")[0] if not value.startswith(".") else value.split(".")[1]
        raw = base64_decode(payload)
        if value.startswith("."):
            raw = zlib.decompress(raw)
        found.append(raw.decode("utf-8", "replace"))
    return found


def everything_a_client_sees(response):
    """Status line aside: body bytes, every header, and the session cookie decoded."""
    parts = [response.get_data(), *(f"{k}: {v}".encode() for k, v in response.headers.items())]
    parts += [item.encode() for item in decoded_session(response)]
    return parts


def visit_everything(app, client):
    responses = [client.get("/")]
    for i in range(7):  # failures, the CAPTCHA, the lock and its poll
        responses.append(attempt(client, NAME, WRONG, SOLUTION if i else None, htmx=i % 2 == 1))
    responses.append(client.get("/bloqueo", headers=HTMX))
    responses.append(client.get("/captcha/nuevo", headers=HTMX))
    responses.append(client.get("/captcha/nuevo"))
    challenge = challenge_of(client)
    responses.append(client.get(f"/captcha/{challenge}.png"))
    responses.append(client.get(f"/captcha/{challenge}.wav"))
    fresh = browser(app)
    responses.append(attempt(fresh, OTHER, WRONG))
    responses.append(attempt(fresh, OTHER, PASSWORD, "wrong"))
    responses.append(attempt(fresh, OTHER, PASSWORD, SOLUTION, htmx=True))
    return responses


def test_the_solution_is_in_no_response_header_or_cookie(make_app):
    app = make_app(CAPTCHA_TEST_ANSWER=SOLUTION)
    for username in (NAME, OTHER):
        make_user(app, username, email="m@example.com", display_name="")
    client = browser(app)
    responses = visit_everything(app, client)
    assert responses[-1].headers.get("HX-Redirect") == "/inicio"  # the fixed answer does solve it
    for response in responses:
        for part in everything_a_client_sees(response):
            assert SOLUTION.encode() not in part
            assert SOLUTION.lower().encode() not in part


def test_real_random_solutions_are_in_no_response_header_or_cookie(make_app):
    app = make_app(CAPTCHA_TEST_ANSWER=None)
    for username in (NAME, OTHER):
        make_user(app, username, email="m@example.com", display_name="")
    responses = visit_everything(app, browser(app))
    shown = {found for response in responses
             for found in re.findall(rb"/captcha/([A-Za-z0-9_.-]+)\.png", response.get_data())}
    with app.app_context():
        solutions = {captcha.solution(challenge.decode()) for challenge in shown} - {None}
    assert len(solutions) >= 5
    for response in responses:
        for part in everything_a_client_sees(response):
            for solution in solutions:
                assert not re.search(rb"\b" + solution.encode() + rb"\b", part), solution
