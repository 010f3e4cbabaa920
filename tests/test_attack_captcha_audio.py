"""Attack: the audio CAPTCHA, as a script hears it.

The audio is the answer said in Spanish by espeak-ng, made anew for each challenge
(portal/captcha_audio.py), kept with the challenge and served as it was made.
"""
import io
import wave

import pytest

from helpers import shown_challenge
from portal import captcha, captcha_audio
from portal.extensions import db
from portal.models import CaptchaChallenge


def fresh_challenge(client):
    """A new challenge, as «No entiendo el texto» hands it out."""
    return shown_challenge(client.get("/captcha/nuevo"))


def test_the_audio_is_a_wav_of_a_few_seconds(app, espeak):
    client = app.test_client()
    response = client.get(f"/captcha/{fresh_challenge(client)}.wav")
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    with wave.open(io.BytesIO(response.data)) as sound:
        assert (sound.getnchannels(), sound.getsampwidth(), sound.getframerate()) == (1, 2, captcha_audio.RATE)
        seconds = sound.getnframes() / sound.getframerate()
    assert 2.5 <= seconds <= 8


def test_a_challenge_serves_one_audio_however_often_it_is_fetched(app, espeak):
    client = app.test_client()
    challenge = fresh_challenge(client)
    first, second = (client.get(f"/captcha/{challenge}.wav").data for _ in range(2))
    assert first[:4] == b"RIFF" and first == second
    assert app.test_client().get(f"/captcha/{challenge}.wav").data == first  # whoever asks


def test_two_challenges_with_the_same_answer_sound_different(app, espeak):
    """TestConfig gives every challenge the same answer: nothing but the making differs."""
    client = app.test_client()
    challenges = [fresh_challenge(client) for _ in range(2)]
    with app.app_context():
        assert captcha.solution(challenges[0]) == captcha.solution(challenges[1])
    first, second = (client.get(f"/captcha/{challenge}.wav").data for challenge in challenges)
    assert first != second


def spoken(monkeypatch):
    """Record what each espeak-ng call says: (text, voice, speed, pitch)."""
    calls = []
    real = captcha_audio._espeak
    monkeypatch.setattr(captcha_audio, "_espeak", lambda *args: calls.append(args) or real(*args))
    return calls


def test_each_character_is_said_by_its_spanish_name_in_a_voice_drawn_for_it(app, espeak, monkeypatch):
    calls = spoken(monkeypatch)
    client = app.test_client()
    with app.app_context():
        answer = captcha.solution(fresh_challenge(client))
    heard = []
    for _ in range(2):
        calls.clear()
        assert client.get(f"/captcha/{fresh_challenge(client)}.wav").status_code == 200
        characters = calls[:len(answer)]  # then the quieter words behind them
        assert [text for text, *_ in characters] == [captcha_audio.NAMES[c] for c in answer]
        languages = {voice.split("+")[0] for _, voice, *_ in characters}
        assert len(languages) == 1 and languages <= {"es", "es-419"}  # one Spanish per challenge
        assert len(calls) > len(answer)
        heard.append(characters)
    assert heard[0] != heard[1]  # voices, speeds and pitches drawn again


def test_every_name_is_spanish():
    assert set(captcha_audio.NAMES) == set(captcha.ALPHABET)
    assert captcha_audio.NAMES["W"] == "doble uve" and captcha_audio.NAMES["9"] == "nueve"


# Without espeak-ng: a clear answer, no stack trace, nothing kept

def hanging(tmp_path):
    script = tmp_path / "espeak-ng"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    return str(script)


def failing(tmp_path):
    script = tmp_path / "espeak-ng"
    script.write_text("#!/bin/sh\necho 'Error: voice not found' >&2\nexit 1\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("program", [None, "/nonexistent/espeak-ng", hanging, failing],
                         ids=["not installed", "gone", "hangs", "fails"])
def test_without_espeak_ng_the_audio_answers_503_with_a_clear_message(app, monkeypatch, tmp_path, program):
    program = program(tmp_path) if callable(program) else program
    monkeypatch.setattr(captcha_audio, "_program", lambda: program)
    monkeypatch.setattr(captcha_audio, "ESPEAK_TIMEOUT", 0.5)
    client = app.test_client()
    challenge = fresh_challenge(client)
    response = client.get(f"/captcha/{challenge}.wav")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "Audio no disponible" in page and "«No entiendo el texto»" in page
    assert "Traceback" not in page and "espeak" not in page
    assert client.get(f"/captcha/{challenge}.png").status_code == 200  # the image still serves
    with app.app_context():
        row = db.session.get(CaptchaChallenge, challenge.split(".")[0])
        assert row is not None and row.audio is None and row.used_at is None
