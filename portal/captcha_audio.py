"""The CAPTCHA's audio: its answer said in Spanish, made anew for every challenge.

Each character is said by its Spanish name ("be", "hache", "doble uve", "tres") by espeak-ng
(Debian's package `espeak-ng`), one call per character: the challenge draws its Spanish (Spain's
`es` or Latin America's `es-419`), and every character its own voice variant, speed and pitch.
Each spoken character is then stretched by a small random factor (pitch and length together,
on a continuous scale), given a random loudness, and laid out with pauses of random length over
background noise and quieter words that overlap it and each other (Spanish syllables and letter
names, in voices of their own). Every choice comes from `secrets.SystemRandom`, per challenge.

Why: the captcha library built its audio from one bundled English recording per character, so
a matched filter made of those very files read most challenges. Here no two challenges share a
waveform, and templates rendered by espeak-ng at its default settings find no more than a few
characters in a hundred beyond chance (tests/test_attack_captcha_audio.py plays that attacker).
A person hears letter names at a normal pace, some 13 to 16 dB louder than anything behind them.

The standard library only (`wave`, `array`). A challenge's audio, about five seconds at 16 kHz,
takes some twenty espeak-ng runs and about a third of a second in all; it is made once and kept
(captcha.audio). espeak-ng missing, failing or hanging raises Unavailable.
"""
import array
import io
import math
import shutil
import subprocess  # espeak-ng only: a fixed argument list, never a shell  # nosec B404
import wave
from secrets import SystemRandom, token_bytes

RATE = 16000  # samples per second of the audio served
ESPEAK_TIMEOUT = 5  # seconds for one utterance (espeak-ng takes a few milliseconds)
SILENT = 160  # of 32768: below this, espeak-ng's samples are its silence

# The Spanish name of each character of captcha.ALPHABET.
NAMES = {
    "A": "a", "B": "be", "C": "ce", "D": "de", "E": "e", "F": "efe", "G": "ge", "H": "hache",
    "J": "jota", "K": "ka", "M": "eme", "N": "ene", "P": "pe", "Q": "cu", "R": "erre", "S": "ese",
    "T": "te", "U": "u", "V": "uve", "W": "doble uve", "X": "equis", "Y": "i griega", "Z": "zeta",
    "2": "dos", "3": "tres", "4": "cuatro", "5": "cinco", "6": "seis", "7": "siete", "8": "ocho",
    "9": "nueve",
}
VOICES = ("es", "es-419")
# espeak-ng's plain male and female variants: natural enough to be understood at once (the
# whispering, croaking and robot variants are left out).
VARIANTS = ("m1", "m2", "m3", "m4", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
# Said quietly behind the characters: syllables that are no letter's name, and letter names.
SYLLABLES = ("ta", "lo", "mi", "su", "ra", "no", "fe", "gu", "pi", "so", "la", "ne", "mu", "ri", "bo",
             "cha", "ya", "ji", "ro", "sa", "ma", "di")

SPEED = (140, 185)          # words per minute (espeak-ng's default is 175)
PITCH = (25, 75)            # espeak-ng's 0-99 scale (default 50)
STRETCH = (0.93, 1.07)      # resampling factor of each spoken character: pitch and length
LOUDNESS = (0.75, 1.0)      # of each character, relative to the loudest
GAP = (0.30, 0.70)          # seconds of pause before each character
EDGE = (0.25, 0.50)         # seconds before the first character and after the last
SPEECH_RMS = 0.20           # a character's level (full scale is 1.0)
NOISE_RMS = (0.015, 0.03)   # background noise: 16 to 22 dB below the characters
BEHIND = (0.10, 0.20)       # level of the quiet speech behind, relative to a character (-20 to -14 dB)
BEHIND_PER_SECOND = (2.5, 3.5)
PEAK = 0.9                  # of full scale, at most


class Unavailable(RuntimeError):
    """espeak-ng is not installed, failed, or took too long."""


def speak(text):
    """WAV bytes (16 kHz, 16-bit mono) saying the characters of text in Spanish."""
    rng = SystemRandom()
    language = rng.choice(VOICES)
    spoken = [_level(_utterance(NAMES[character], f"{language}+{rng.choice(VARIANTS)}", rng),
                     SPEECH_RMS * rng.uniform(*LOUDNESS))
              for character in text]
    starts, position = [], rng.uniform(*EDGE)
    for index, sound in enumerate(spoken):
        position += rng.uniform(*GAP) if index else 0
        starts.append(int(position * RATE))
        position += len(sound) / RATE
    track = _noise(int((position + rng.uniform(*EDGE)) * RATE), rng)
    for _ in range(round(len(track) / RATE * rng.uniform(*BEHIND_PER_SECOND))):
        _behind(track, rng)
    for start, sound in zip(starts, spoken, strict=True):
        _add(track, sound, start)
    return _wav(track)


def _behind(track, rng):
    """One quiet word somewhere in the track (overlapping is welcome)."""
    other = f"{rng.choice(VOICES)}+{rng.choice(VARIANTS)}"
    word = rng.choice(SYLLABLES + tuple(NAMES.values()))
    sound = _level(_utterance(word, other, rng, speed=(150, 220), pitch=(10, 90)),
                   SPEECH_RMS * rng.uniform(*BEHIND))
    _add(track, sound, rng.randrange(max(1, len(track) - len(sound))))


def _utterance(text, voice, rng, speed=SPEED, pitch=PITCH):
    """text said by espeak-ng with a random speed and pitch, stretched by a random factor."""
    source, rate = _espeak(text, voice, rng.randint(*speed), rng.randint(*pitch))
    return _resample(source, rate / RATE * rng.uniform(*STRETCH))


def _espeak(text, voice, speed, pitch):
    """(samples as floats in -1..1, sample rate) of espeak-ng saying text."""
    program = _program()
    if program is None:
        raise Unavailable("espeak-ng is not installed")
    command = [program, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", "--", text]
    try:
        # A fixed list (program found on PATH at start, words from NAMES/SYLLABLES), no shell.
        done = subprocess.run(command, capture_output=True, timeout=ESPEAK_TIMEOUT, check=True)  # noqa: S603  # nosec B603
        with wave.open(io.BytesIO(done.stdout)) as sound:
            rate, frames = sound.getframerate(), sound.readframes(-1)  # its header gives no length
    except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as error:
        raise Unavailable(f"espeak-ng failed: {type(error).__name__}") from error
    samples = array.array("h")
    samples.frombytes(frames[:len(frames) - len(frames) % 2])
    # espeak-ng ends every utterance with a third of a second of silence: the gaps are ours.
    loud = [i for i, value in enumerate(samples) if abs(value) > SILENT]
    if not loud:
        raise Unavailable("espeak-ng said nothing")
    return [value / 32768 for value in samples[loud[0]:loud[-1] + 1]], rate


def _program():
    """espeak-ng's path, looked up on each use: installing it needs no restart."""
    return shutil.which("espeak-ng")


def _resample(source, step):
    """source read every `step` samples (linear interpolation), after a gentle low-pass that keeps
    what lies above the new Nyquist frequency from folding back; faded in and out."""
    smooth = [(a + 2 * b + c) / 4 for a, b, c in zip(source, source[1:], source[2:], strict=False)]
    out, position, last = [], 0.0, len(smooth) - 1
    while position < last:
        index = int(position)
        fraction = position - index
        out.append(smooth[index] * (1 - fraction) + smooth[index + 1] * fraction)
        position += step
    fade = min(len(out) // 2, RATE // 100)  # 10 ms
    for i in range(fade):
        out[i] *= i / fade
        out[-1 - i] *= i / fade
    return out


def _level(sound, rms):
    """sound scaled to the given root-mean-square level."""
    current = math.sqrt(sum(value * value for value in sound) / len(sound)) or 1.0
    factor = rms / current
    return [value * factor for value in sound]


def _noise(length, rng):
    """Background noise: random samples from the operating system, smoothed by a random amount
    (from hiss to a duller rumble), at a random level."""
    raw = array.array("h")
    raw.frombytes(token_bytes(2 * length))
    keep = rng.uniform(0.2, 0.8)
    out, value = [], 0.0
    for sample in raw:
        value = keep * value + (1 - keep) * sample
        out.append(value)
    return _level(out, rng.uniform(*NOISE_RMS))


def _add(track, sound, start):
    for i, value in enumerate(sound[:len(track) - start]):
        track[start + i] += value


def _wav(track):
    """16-bit mono WAV, scaled down if a peak would pass 90 % of full scale."""
    scale = 32767 * min(1.0, PEAK / max(abs(value) for value in track))
    samples = array.array("h", (int(value * scale) for value in track))
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(RATE)
        sound.writeframes(samples.tobytes())
    return out.getvalue()
