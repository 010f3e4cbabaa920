"""`make bench` in miniature: bench/run.py --smoke serves the portal and the two references
with gunicorn, drives every case with wrk for about a second, and writes the full table."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import unavailable

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # six groups of cases, on a machine that may be busy

ROWS = (
    "Reference: bare Flask template page",
    "Reference: bare bcrypt check (cost 12)",
    "GET / (access page)",
    "GET /captcha/nuevo (htmx: CAPTCHA refresh)",
    "GET /recuperar/usuario (htmx: forgot-user notice)",
    "GET /recuperar (htmx: recovery form)",
    "Sign-in, right password",
    "Sign-in, wrong password",
    "Floor of a sign-in attempt: CSRF check, login limit and form only (bench route)",
    "Sign-in attempts, locked user name",
    "GET /captcha/nuevo over the rate limit (429)",
    "POST /entrar over the rate limit (429)",
    "CAPTCHA image",
    "CAPTCHA audio, second fetch of the same challenge",
    "CAPTCHA audio past its limit",
    "Access page with everything it loads",
    "Peak RSS of a gunicorn worker",
    "GET /api/verificar, signed in (200), SQLite",
    "GET /api/verificar, not signed in (401), SQLite",
    "GET /api/verificar, signed in (200), PostgreSQL",
    "POST /oidc/token (OpenID Connect code exchange, SQLite)",
)


@pytest.fixture
def wrk():
    if shutil.which("wrk") is None:
        message = "wrk no está instalado (Debian: apt-get install wrk)"
        unavailable(message)


def run_smoke(output):
    """bench/run.py --smoke in its own process group, so that a timeout ends it and its servers."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(output)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # run.py stops its servers on SIGTERM
        try:
            out, _ = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
        pytest.fail(f"bench/run.py --smoke took more than {TIMEOUT} s:\n{out[-4000:]}")
    return process.returncode, out


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                    reason="the benchmark serves its own SQLite file: the embedded-default pass runs it")
def test_smoke_run_writes_every_row(wrk, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    status, out = run_smoke(output)
    assert status == 0, out[-4000:]
    text = output.read_text(encoding="utf-8")
    assert "Smoke run" in text
    for label in ROWS:
        assert f"| {label} |" in text, f"no row {label!r} in the report"
    for section in ("## Machine", "## Results", "## Commands", "## Findings"):
        assert section in text
    assert "wrk -t1 -c16" in text  # the exact commands are listed
