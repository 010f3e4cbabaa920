"""Attack: the audio CAPTCHA, as a script hears it.

The audio is the answer said in Spanish by espeak-ng, made anew for each challenge
(portal/captcha_audio.py), kept with the challenge and served as it was made. The library's
English audio was assembled from one bundled recording per character, and a matched filter
built from those files read it; the last test plays that attacker, with templates of the
Spanish names as well, against challenges fetched through the portal with real answers.
"""
import io
import subprocess
import wave
from pathlib import Path

import captcha as captcha_library
import numpy as np
import pytest
from captcha.audio import change_speed

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


# The attacker who listens: templates and a matched filter
#
# What the review used against the library's English audio, and what anyone has at hand: the
# captcha library's bundled recordings (one per character, played by the library at 31 speeds
# from 0.90 to 1.20, so a template for each) and espeak-ng's own renderings of the Spanish
# names at its default settings, in both Spanish voices (espeak-ng is free software: the
# attacker has it too). The score of a character at a moment is the best normalised
# cross-correlation of any of its templates starting there. Two readings of the scores:
#   peaks   - the review's: the five best scores at least GUARD apart, in time order;
#   loudest - an attacker who first finds where the characters are (the five loudest
#             stretches: a listener must hear them, so they stand out) and takes the best
#             character within each.
# Against the library's English audio, fetched through the portal, `peaks` read all 80
# characters and all 16 challenges whole (and so the test below failed there).

RATE = 8000          # the attacker works at telephone quality, the rate of the library's recordings
LIBRARY = Path(captcha_library.__file__).parent / "data"
LIBRARY_SPEEDS = [n / 100 for n in range(90, 121)]
GUARD = 0.4          # seconds: two characters never start closer (a name, then a pause of 0.3 s or more)
CHALLENGES = 16
BLOCK = 64           # templates correlated at once


def samples_of(wav_bytes):
    """(floats in -1..1, rate) of an 8-bit or 16-bit mono WAV."""
    with wave.open(io.BytesIO(wav_bytes)) as sound:
        rate, width, frames = sound.getframerate(), sound.getsampwidth(), sound.readframes(-1)
    if width == 1:
        return (np.frombuffer(frames, np.uint8).astype(np.float32) - 128) / 128, rate
    return np.frombuffer(frames[:len(frames) // 2 * 2], "<i2").astype(np.float32) / 32768, rate


def at_attacker_rate(signal, rate):
    if rate == RATE:
        return signal
    width = round(rate / RATE)  # a moving average first, so that little above 4 kHz folds back
    smooth = np.convolve(signal, np.ones(width) / width, mode="same") if width > 1 else signal
    return np.interp(np.arange(int(len(signal) * RATE / rate)) * rate / RATE, np.arange(len(signal)),
                     smooth).astype(np.float32)


def trimmed(signal):
    loud = np.nonzero(np.abs(signal) > 0.02 * np.abs(signal).max())[0]
    return signal[loud[0]:loud[-1] + 1]


class TemplateSolver:
    def __init__(self, program):
        templates = []
        for character in captcha.ALPHABET:
            for voice in ("es", "es-419"):
                said = subprocess.run([program, "-v", voice, "--stdout", captcha_audio.NAMES[character]],
                                      capture_output=True, timeout=30, check=True).stdout
                templates.append((character, trimmed(at_attacker_rate(*samples_of(said)))))
            with wave.open(str(LIBRARY / character / "default.wav")) as sound:
                recording, rate = bytearray(sound.readframes(-1)), sound.getframerate()
            for speed in LIBRARY_SPEEDS:
                played = np.frombuffer(bytes(change_speed(recording, speed)), np.uint8)
                templates.append((character, trimmed(at_attacker_rate((played.astype(np.float32) - 128) / 128, rate))))
        self.characters = [character for character, _ in templates]
        self.templates = [template - template.mean() for _, template in templates]
        self.norms = [float(np.linalg.norm(template)) for template in self.templates]
        self.kept = {}

    def scores(self, signal):
        """{character: best normalised cross-correlation of its templates at each start}."""
        n = len(signal)
        size = 1 << (n + max(map(len, self.templates))).bit_length()
        spectrum = np.fft.rfft(signal, size)
        sums = np.concatenate(([0.0], np.cumsum(signal, dtype=np.float64)))
        squares = np.concatenate(([0.0], np.cumsum(signal.astype(np.float64) ** 2)))
        best = {character: np.full(n, -1.0, dtype=np.float32) for character in captcha.ALPHABET}
        spread = {}  # the signal's spread over each template length
        for first, spectra in self.spectra(size):
            correlations = np.fft.irfft(spectrum * spectra, size, axis=1)
            for index, correlation in enumerate(correlations, first):
                m = len(self.templates[index])
                if m >= n:
                    continue
                if m not in spread:
                    total, energy = sums[m:] - sums[:-m], squares[m:] - squares[:-m]
                    spread[m] = np.sqrt(np.maximum(energy - total * total / m, 1e-9)).astype(np.float32)
                score = correlation[:n - m + 1] / (spread[m] * self.norms[index])
                target = best[self.characters[index]][:n - m + 1]
                np.maximum(target, score, out=target)
        return best

    def spectra(self, size):
        """(first index, conjugate spectra) of the templates, BLOCK at a time; kept for one size
        (every Spanish audio fits one; the library's longer English audio is done on the fly)."""
        if not self.kept:
            self.kept[size] = list(self._spectra(size))
        return self.kept.get(size) or self._spectra(size)

    def _spectra(self, size):
        for first in range(0, len(self.templates), BLOCK):
            padded = np.zeros((len(self.templates[first:first + BLOCK]), size), dtype=np.float32)
            for row, template in enumerate(self.templates[first:first + BLOCK]):
                padded[row, :len(template)] = template
            yield first, np.conj(np.fft.rfft(padded, axis=1))

    def solve(self, wav_bytes):
        """(peaks, loudest): the two readings of one audio."""
        signal = at_attacker_rate(*samples_of(wav_bytes))
        best = self.scores(signal)
        table = np.stack([best[c] for c in captcha.ALPHABET])
        top, which = table.max(axis=0), table.argmax(axis=0)
        guard, found = int(GUARD * RATE), []
        for _ in range(captcha.LENGTH):
            start = int(np.argmax(top))
            found.append((start, captcha.ALPHABET[which[start]]))
            top[max(0, start - guard):start + guard] = -np.inf
        peaks = "".join(character for _, character in sorted(found))
        loudest = "".join(captcha.ALPHABET[int(np.argmax(table[:, max(0, start - RATE // 20):end].max(axis=1)))]
                          for start, end in loud_stretches(signal, captcha.LENGTH))
        return peaks, loudest


def loud_stretches(signal, count, frame=RATE // 50):
    """The count longest stretches whose 20 ms loudness passes a third of the loudest, in time order."""
    frames = len(signal) // frame
    level = np.sqrt((signal[:frames * frame].reshape(frames, frame).astype(np.float64) ** 2).mean(axis=1))
    level = np.convolve(level, np.ones(3) / 3, mode="same")
    loud = level > 0.35 * np.sort(level)[-max(1, frames // 10)]
    stretches, start = [], None
    for index, is_loud in enumerate([*loud, False]):
        if is_loud and start is None:
            start = index
        elif not is_loud and start is not None:
            if stretches and start - stretches[-1][1] < 5:  # a break under 100 ms: one stretch
                stretches[-1] = (stretches[-1][0], index)
            else:
                stretches.append((start, index))
            start = None
    longest = sorted(stretches, key=lambda stretch: stretch[0] - stretch[1])[:count]
    return sorted((start * frame, end * frame) for start, end in longest)


@pytest.fixture(scope="module")
def solver(espeak):
    return TemplateSolver(espeak)


def right(answer, guess):
    return sum(a == b for a, b in zip(answer, guess, strict=False))


def test_a_template_solver_reads_no_answer_and_hardly_a_character(make_app, solver):
    """Sixteen fresh challenges with real answers, fetched as a client fetches them.

    Chance is one character in 31 (3 %), 2.6 of 80. Measured with this solver over 160
    challenges while the audio was built: `peaks` read 66 of 800 characters (8 %), `loudest`
    68 (8.5 %), never more than two of one challenge; the lone vowels "u" and "a" are found
    about half the time, the other names near chance; sixteen challenges at a time scored from
    2 to 13. The bound, one character in four (20 of 80), stays clear of that spread (a
    simulation from the measured rates, rounded up, crosses it once in several thousand runs),
    and any audio that templates can read fails it by far: the English audio gave 80 of 80 and
    16 answers whole.
    """
    app = make_app(CAPTCHA_TEST_ANSWER=None)
    client = app.test_client()
    answers, readings = [], []
    for _ in range(CHALLENGES):
        challenge = fresh_challenge(client)
        response = client.get(f"/captcha/{challenge}.wav")
        assert response.status_code == 200
        with app.app_context():
            answers.append(captcha.solution(challenge))
        readings.append(solver.solve(response.data))
    for way, guesses in zip(("peaks", "loudest"), zip(*readings, strict=True), strict=True):
        report = list(zip(answers, guesses, strict=True))
        assert sum(answer == guess for answer, guess in report) == 0, (way, report)
        assert sum(right(answer, guess) for answer, guess in report) <= CHALLENGES * captcha.LENGTH // 4, (way, report)
