#!/usr/bin/env python3
"""`make bench`: load-test the portal against two bare references and write BENCHMARKS.md.

    .venv/bin/python bench/run.py [--smoke] [--output FILE] [--keep]

One run serves, each with gunicorn and the project's gunicorn.conf.py (2 workers, on
127.0.0.1 only):

- the portal (tests/live_app.py on the production Config, its instance folder in a temporary
  directory, with the benchmark's /bench/post-floor route) in production settings:
  PORTAL_ENV=production, a random SECRET_KEY, BCRYPT_ROUNDS=12, a SQLite file, rate limits on
  with memory:// storage, no MAIL_SERVER; it is started four times with a few settings changed
  per group of cases (see PHASES);
- a bare Flask app rendering a small Jinja template (bench/reference_app.py:page_app);
- a bare endpoint doing one bcrypt check at cost 12 (bench/reference_app.py:bcrypt_app);

drives them with wrk (bench/stats.lua, bench/form.lua), checks every response is the one
the case is about, and writes the results, the machine, the exact commands and the
findings (bench/findings.md) to BENCHMARKS.md. --smoke runs the same code paths for about
a second per case and writes nothing unless --output is given.

Every server is started and stopped by the launcher the tests use (tests/live_server.py:
terminate, then kill; it dies with this script); wrk runs are bounded in
time, Python loops in count and time. Exit status: 0 when every case ran and measured what
it should (missed targets are reported, not failures), 1 otherwise, 2 when wrk is missing.
"""
import argparse
import gzip
import html.parser
import http.client
import json
import os
import platform
import re
import runpy
import secrets
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The live-server launcher and the portal it serves are the tests' (tests/live_server.py,
# tests/live_app.py); config.py and the portal are at the root.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import live_app  # noqa: E402
from live_server import HOST, PORTAL, LiveServer, child_environment  # noqa: E402

PYTHON = Path(sys.executable)
WORKERS = 2
CONNECTIONS = 16
SIGN_IN_CONNECTIONS = 4  # two per worker keep both busy; more would only queue (latency, not throughput)
WRK_THREADS = 1  # the server is the bottleneck; one wrk thread leaves it the most CPU
KB = 1024
MB = 1024 * 1024

USER = "GOMA800101AB1"           # signs in (right password) and fails (wrong password)
LOCKED_USER = "usr.LOPJ750315XY2"  # locked with five wrong passwords, then tried with the right one
PASSWORD = "Factura.2026"
SECRET_QUESTION = "¿Cuál es el nombre de su primera mascota?"  # one of portal.accounts.SECRET_QUESTIONS
WRONG_PASSWORD = "Equivocada.1"
SESSION_COOKIE = "efactura_sesion"
HTMX = ("HX-Request: true",)

# Targets (see the issue "Benchmark").
PAGE_RATIO, PAGE_P99_MS = 0.6, 25.0
SIGN_IN_RATIO = 0.9
REFUSAL_RATIO = 0.5
CAPTCHA_PER_WORKER = 100.0
TRANSFER_GZIP_KB = 40.0
WORKER_RSS_MB = 100.0
AUDIO_CACHED_FRACTION = 0.2  # a second fetch of the same audio costs at most this share of the first

ROWS = {  # the table's rows, in order (tests/test_bench_smoke.py checks each one is there)
    "ref_page": "Reference: bare Flask template page",
    "ref_bcrypt": "Reference: bare bcrypt check (cost 12)",
    "page": "GET / (access page)",
    "captcha_refresh": "GET /captcha/nuevo (htmx: CAPTCHA refresh)",
    "forgot_user": "GET /recuperar/usuario (htmx: forgot-user notice)",
    "recovery_form": "GET /recuperar (htmx: recovery form)",
    "sign_in_right": "Sign-in, right password",
    "sign_in_wrong": "Sign-in, wrong password",
    "post_floor": "Floor of a sign-in attempt: CSRF check, login limit and form only (bench route)",
    "locked": "Sign-in attempts, locked user name",
    "captcha_limited": "GET /captcha/nuevo over the rate limit (429)",
    "login_limited": "POST /entrar over the rate limit (429)",
    "captcha_image": "CAPTCHA image",
    "audio_cached": "CAPTCHA audio, second fetch of the same challenge",
    "audio_limited": "CAPTCHA audio past its limit",
    "transfer": "Access page with everything it loads",
    "rss": "Peak RSS of a gunicorn worker",
}

# The portal's settings per group of cases; everything else is production as configured.
HIGH = "1000000/minute"  # "off" for limits that are not the subject of the case (still checked)
PHASES = {
    "pages": {"RATELIMIT_CAPTCHA": HIGH},
    "sign-in": {"RATELIMIT_LOGIN": "100000/minute",
                "LOGIN_MAX_ATTEMPTS": "1000000", "CAPTCHA_FAILURE_HOURS": "0"},
    "locked": {"RATELIMIT_LOGIN": "100000/minute", "CAPTCHA_FAILURE_HOURS": "0"},
    "defaults": {},
}


@dataclass(frozen=True)
class Plan:
    smoke: bool
    warmup: int          # seconds of load per case before the measured rounds (0: none)
    rounds: int          # the cases of a group are measured in turn, this many times
    page_slice: int      # seconds of one case in one round: pages, fragments, CAPTCHA image
    login_slice: int     # sign-in and the bcrypt reference
    refusal_slice: int   # locked user name, rate-limited requests
    sessions: int        # fresh session + CSRF token pairs made for each sign-in case
    audio_fetches: int   # at most this many audio fetches looking for the 429

    @classmethod
    def full(cls):
        return cls(False, warmup=1, rounds=4, page_slice=2, login_slice=5, refusal_slice=2, sessions=200,
                   audio_fetches=60)

    @classmethod
    def quick(cls):
        return cls(True, warmup=0, rounds=1, page_slice=1, login_slice=2, refusal_slice=1, sessions=24,
                   audio_fetches=40)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Servers


def gunicorn_recycling():
    """gunicorn.conf.py's worker recycling, read from the file as gunicorn reads it."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return f"max_requests {settings.get('max_requests', '?')} ± {settings.get('max_requests_jitter', 0)}"


class Server(LiveServer):
    """gunicorn -c gunicorn.conf.py serving one app with WORKERS workers (the launcher of the
    tests), whose workers' memory and CPU time are watched."""

    def __init__(self, bench, name, app, env=None, ready_path="/healthz"):
        super().__init__(bench.tmp / f"{name}.log", app, env=env, options=("-c", str(ROOT / "gunicorn.conf.py")),
                         workers=WORKERS, ready_path=ready_path, pythonpath=(BENCH,))
        self.bench, self.name = bench, name
        self.seen_workers = set()
        self.peak_hwm_kb = {}  # worker pid -> VmHWM (kB)
        self._sampling = None

    def start(self):
        self.bench.record(self.command, self.variables)
        try:
            super().start()
        except RuntimeError as error:
            raise BenchError(f"{self.name}: {error}") from error
        self.bench.servers.append(self)
        self._sampling = threading.Event()
        threading.Thread(target=self._sample_memory, daemon=True).start()
        return self

    def cpu_seconds(self):
        """CPU time of the workers so far: live ones plus those the master has reaped (recycled)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = _stat_fields(self.process.pid, 13, 14)  # cutime, cstime: reaped workers
        for pid in self.workers():
            total += _stat_fields(pid, 11, 12)  # utime, stime
        return total / ticks

    def _sample_memory(self):
        """Every 0.2 s: the worker pids (recycled workers show up as new ones) and their VmHWM."""
        while not self._sampling.is_set():
            for pid in self.workers():
                self.seen_workers.add(pid)
                hwm = read_status_kb(pid, "VmHWM")
                if hwm:
                    self.peak_hwm_kb[pid] = max(hwm, self.peak_hwm_kb.get(pid, 0))
            self._sampling.wait(0.2)

    def stop(self):
        if self._sampling is not None:
            self._sampling.set()
        super().stop()
        if self in self.bench.servers:
            self.bench.servers.remove(self)


def _stat_fields(pid, *indexes):
    """Sum of /proc/<pid>/stat fields, counted from the one after the command name (0 = state)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(fields[i]) for i in indexes)
    except (OSError, ValueError, IndexError):
        return 0


def read_status_kb(pid, key):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


# ---------------------------------------------------------------------------------------
# HTTP from Python (set-up and the few single requests): http.client, no cookie jar (the
# session cookie is Secure in production, so it is handled by hand).


def request(port, method, path, headers=None, body=None, timeout=30):
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def session_cookie(headers):
    for value in headers.get_all("Set-Cookie") or ():
        if value.startswith(SESSION_COOKIE + "="):
            return value.split(";", 1)[0]
    return None


def new_visitor(port):
    """A fresh session (cookie) and its CSRF token, as a browser gets them from GET /."""
    status, headers, body = request(port, "GET", "/")
    match = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    cookie = session_cookie(headers)
    if status != 200 or not match or not cookie:
        raise BenchError(f"GET / gave no session and CSRF token (status {status})")
    return cookie, match.group(1).decode()


def form_line(cookie, token, **fields):
    return f"{cookie}\t{urllib.parse.urlencode({'csrf_token': token, **fields})}\n"


# ---------------------------------------------------------------------------------------
# Measurements


@dataclass
class Load:
    """wrk runs of one case: one slice, or the sum of its slices (Load.combine)."""
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict
    expected: int
    unexpected: int
    errors: dict
    sample: str
    cpu_s: float = 0.0  # worker CPU time during the run(s)
    slices: int = 1

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self):
        """Worker CPU time per counted request."""
        return 1000 * self.cpu_s / self.requests if self.requests else 0.0

    @classmethod
    def combine(cls, parts):
        """Counts and times summed; p50 and p99 are the medians of the slices' own."""
        statuses, errors = {}, {}
        for part in parts:
            for code, n in part.statuses.items():
                statuses[code] = statuses.get(code, 0) + n
            for kind, n in part.errors.items():
                errors[kind] = errors.get(kind, 0) + n
        return cls(
            requests=sum(p.requests for p in parts), seconds=sum(p.seconds for p in parts),
            p50_ms=statistics.median(p.p50_ms for p in parts), p99_ms=statistics.median(p.p99_ms for p in parts),
            statuses=statuses, expected=sum(p.expected for p in parts), unexpected=sum(p.unexpected for p in parts),
            errors=errors, sample=next((p.sample for p in parts if p.sample), ""), cpu_s=sum(p.cpu_s for p in parts),
            slices=sum(p.slices for p in parts),
        )

    def describe(self):
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        socket_errors = {k: v for k, v in self.errors.items() if v and k != "status"}
        text = (f"{self.requests} requests in {self.seconds:.1f} s ({self.slices} runs; statuses "
                f"{statuses or 'none'}), worker CPU {self.cpu_ms:.2f} ms a request")
        if self.unexpected:
            text += f"; {self.unexpected} not the expected answer (first: `{self.sample}`)"
        if socket_errors:
            text += f"; socket errors {socket_errors}"
        return text


@dataclass
class Case:
    """One thing wrk loads: a server, a path, and what every answer must be."""
    key: str
    server: "Server"
    path: str
    checks: tuple = ()
    headers: tuple = ()
    script: str = "stats.lua"
    connections: int = CONNECTIONS
    sessions: int = 0  # lines in the case's form file (form.lua); 0: not a form case
    used: int = 0      # lines taken so far

    @property
    def label(self):
        return ROWS.get(self.key, self.key)


@dataclass
class Row:
    key: str
    result: str
    p50: str = ""
    p99: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None  # None: no target
    cpu: str = ""             # worker CPU time a request

    @property
    def label(self):
        return ROWS[self.key]


@dataclass
class Bench:
    plan: Plan
    tmp: Path
    commands: dict = field(default_factory=dict)  # command -> times run
    servers: list = field(default_factory=list)
    loads: dict = field(default_factory=dict)     # case key -> Load
    references: dict = field(default_factory=dict)  # group -> Load of its reference
    warmup_unexpected: dict = field(default_factory=dict)  # case key -> unexpected answers in its warm-up
    rows: dict = field(default_factory=dict)
    details: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    portal_servers: list = field(default_factory=list)

    def __post_init__(self):
        self.secret_key = secrets.token_urlsafe(48)
        self.db_path = self.tmp / "portal.db"
        self.instance = self.tmp / "instance"
        self.instance.mkdir()
        # The production Config, read from these variables (live_app.py, LIVE_CONFIG=Config).
        self.portal_env = {
            **live_app.variables(self.instance, config="Config", post_floor=True),
            "PORTAL_ENV": "production", "SECRET_KEY": self.secret_key, "BCRYPT_ROUNDS": "12",
            "DATABASE_URL": f"sqlite:///{self.db_path}", "RATELIMIT_STORAGE_URI": "memory://",
        }

    # -- bookkeeping ---------------------------------------------------------------------

    def record(self, command, env=None):
        env = dict(env or {})
        if "SECRET_KEY" in env:
            env["SECRET_KEY"] = "<random>"
        words = [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())]
        words += [shlex.quote(str(part)) for part in command]
        line = " ".join(words).replace(str(self.tmp), "$BENCH_TMP").replace(str(ROOT) + "/", "")
        line = line.replace(str(ROOT), ".")
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:$PORT", line)
        line = re.sub(r"\bstart=\d+", "start=N", line)
        self.commands[line] = self.commands.get(line, 0) + 1

    def say(self, text):
        print(f"[bench] {text}", flush=True)

    def detail(self, text):
        self.details.append(text)

    def check(self, ok, problem):
        if not ok:
            self.problems.append(problem)
            self.say("PROBLEM: " + problem)

    # -- wrk ------------------------------------------------------------------------------

    def wrk(self, server, path, seconds, *, script="stats.lua", headers=(), checks=(), connections=CONNECTIONS,
            timeout=30):
        command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", f"{timeout}s",
                   "-s", str(BENCH / script)]
        for header in headers:
            command += ["-H", header]
        command += [server.url + path, "--", f"threads={WRK_THREADS}", *checks]
        self.record(command)
        cpu_before = server.cpu_seconds()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout + 30)
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"wrk did not finish: {' '.join(command)}") from error
        cpu = server.cpu_seconds() - cpu_before
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if done.returncode != 0 or line is None:
            raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        data = json.loads(line[len("BENCH_JSON "):])
        self.drain(server, settle=0.5 if connections == SIGN_IN_CONNECTIONS else 0.15)
        return Load(
            requests=data["requests"], seconds=data["duration_us"] / 1e6, p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000, statuses={int(k): v for k, v in data["statuses"].items()},
            expected=data["expected"], unexpected=data["unexpected"], errors=data["errors"], sample=data["sample"],
            cpu_s=cpu,
        )

    def drain(self, server, settle):
        """Wait for what wrk left queued (the workers serve closed connections too) to be served,
        then for the other worker's last request (settle: seconds)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                request(server.port, "GET", server.ready_path, timeout=60)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(settle)

    def run_case(self, case, seconds):
        checks = case.checks
        if case.sessions:
            checks = (*checks, f"start={case.used}")
        load = self.wrk(case.server, case.path, seconds, script=case.script, headers=case.headers, checks=checks,
                        connections=case.connections)
        if case.sessions:  # the counted requests, those in flight at the end, and wrk's trial request()
            case.used += load.requests + case.connections + 1
        return load

    def interleave(self, cases, seconds):
        """A warm-up per case, then rounds of one slice per case in turn, so that whatever else
        loads the machine weighs on every case alike; each case's slices are summed."""
        if self.plan.warmup:
            for case in cases:
                self.warmup_unexpected[case.key] = self.run_case(case, self.plan.warmup).unexpected
        slices = {case.key: [] for case in cases}
        for _ in range(self.plan.rounds):
            for case in cases:
                slices[case.key].append(self.run_case(case, seconds))
        for case in cases:
            load = Load.combine(slices[case.key])
            self.say(f"{case.label}: {load.rps:.1f}/s p50 {load.p50_ms:.1f} ms p99 {load.p99_ms:.1f} ms; "
                     f"{load.describe()}")
            self.check(load.expected > 0, f"{case.label}: no expected answer at all ({load.describe()})")
            if case.sessions and case.used > case.sessions:
                self.detail(f"**{case.label}**: {case.used - case.sessions} session lines were used a second time.")
            yield case, load

    def form_file(self, name, lines):
        path = self.tmp / f"{name}.tsv"
        path.write_text("".join(lines), encoding="utf-8")
        return path

    def strict(self, label, load):
        """Every answer (but a stray one) must be the case's own."""
        self.check(load.unexpected <= max(1, load.requests // 100),
                   f"{label}: {load.unexpected} of {load.requests} answers were not the expected one "
                   f"(first: {load.sample})")
        self.detail(f"**{label}**: {load.describe()}.")

    # -- the run --------------------------------------------------------------------------

    def run(self):
        self.load_start = os.getloadavg()
        self.page_ref = Server(self, "reference-page", "reference_app:page_app", {}, ready_path="/")
        self.bcrypt_ref = Server(self, "reference-bcrypt", "reference_app:bcrypt_app", {},
                                 ready_path="/")
        with self.page_ref, self.bcrypt_ref:
            self.seed()
            self.phase_pages()
            self.phase_sign_in()
            self.phase_locked()
            self.phase_defaults()
        self.ref_rss_kb = max([*self.page_ref.peak_hwm_kb.values(), *self.bcrypt_ref.peak_hwm_kb.values()], default=0)
        self.load_end = os.getloadavg()
        self.memory()
        self.evaluate()

    def page_reference(self):
        return Case("reference page", self.page_ref, "/", checks=("status=200", "body=<h1>"))

    def keep_reference(self, group, load):
        self.references[group] = load
        self.strict(f"Reference page ({group} group)", load)

    def seed(self):
        """The accounts, with the support CLI (bcrypt cost 12), before the portal serves."""
        env = child_environment(self.portal_env)
        for username, name in ((USER, "María Gómez Alonso"), (LOCKED_USER, "Juan López Pérez")):
            command = [str(PYTHON), "-m", "flask", "--app", "tests/live_app.py:build()", "users", "create", username,
                       "--password", PASSWORD, "--email", f"{username.lower()}@bench.example", "--name", name,
                       "--question", SECRET_QUESTION, "--answer", "Firulais"]
            self.record(command, dict(self.portal_env))
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise BenchError(f"users create {username} failed: {done.stderr[-2000:]}")

    def portal(self, phase):
        server = Server(self, f"portal-{phase}", PORTAL, {**self.portal_env, **PHASES[phase]})
        self.portal_servers.append(server)
        self.say(f"portal, {phase} settings: {PHASES[phase] or 'all defaults'}")
        return server

    # -- 1, 4, 5: the page, its fragments, the CAPTCHA, the transfer ----------------------

    def phase_pages(self):
        with self.portal("pages") as server:
            image, audio = self.challenge(server)
            cases = [
                self.page_reference(),
                Case("page", server, "/", checks=("status=200", 'body=id="login-form"')),
                Case("captcha_refresh", server, "/captcha/nuevo", ("status=200", 'body=id="captcha"'), HTMX),
                Case("forgot_user", server, "/recuperar/usuario", ("status=200", 'body=id="forgot-user-notice"'),
                     HTMX),
                Case("recovery_form", server, "/recuperar", ("status=200", 'body=id="recovery-form"'), HTMX),
                Case("captcha_image", server, image, ("status=200", "header=Content-Type:image/png")),
            ]
            for case, load in self.interleave(cases, self.plan.page_slice):
                if case.server is self.page_ref:
                    self.keep_reference("pages", load)
                else:
                    self.loads[case.key] = load
                    self.strict(case.label, load)
            self.audio(server, audio)
            self.transfer(server)

    def challenge(self, server):
        status, _, body = request(server.port, "GET", "/captcha/nuevo", {"HX-Request": "true"})
        image = re.search(rb'src="(/captcha/[^"]+\.png)"', body)
        audio = re.search(rb'src="(/captcha/[^"]+\.wav)"', body)
        if status != 200 or not image or not audio:
            raise BenchError(f"/captcha/nuevo gave no challenge (status {status})")
        self.record(["GET", "/captcha/nuevo", "(Python http.client, HX-Request: true: one challenge)"])
        return image.group(1).decode(), audio.group(1).decode()

    def audio(self, server, path):
        """First fetch (made), second fetch (kept), then fetch until the limit answers 429."""
        timings, statuses = [], []
        deadline = time.monotonic() + 60
        for _ in range(self.plan.audio_fetches):
            started = time.perf_counter()
            status, headers, body = request(server.port, "GET", path)
            timings.append(time.perf_counter() - started)
            statuses.append(status)
            if status == 429 or time.monotonic() > deadline:
                break
            self.check(status == 200 and body[:4] == b"RIFF", f"audio fetch {len(statuses)}: status {status}")
        self.record(["GET", path, f"(Python http.client, up to {self.plan.audio_fetches} times, until 429)"])
        ok = statuses.count(200)
        first, second = timings[0] * 1000, timings[1] * 1000 if len(timings) > 1 else float("nan")
        served = [t * 1000 for t, s in zip(timings[1:], statuses[1:], strict=True) if s == 200]
        cached_ms = sorted(served)[len(served) // 2] if served else float("nan")
        limited_body = body if statuses[-1] == 429 else b""
        self.audio_result = {"first_ms": first, "second_ms": second, "cached_median_ms": cached_ms, "ok": ok,
                             "fetches": len(statuses), "limited": statuses[-1] == 429,
                             "friendly": b'id="rate-limited"' in limited_body}
        self.detail(f"**CAPTCHA audio**: first fetch {first:.0f} ms (made), second {second:.1f} ms, median of the "
                    f"later 200s {cached_ms:.1f} ms; {ok} answers 200 then "
                    f"{'429 (fragment rate-limited)' if self.audio_result['limited'] else 'no 429'} at fetch "
                    f"{len(statuses)} (limit RATELIMIT_CAPTCHA_AUDIO=6/minute;30/hour per client, kept per worker "
                    f"with memory:// storage, so up to 6 × {WORKERS} workers answer 200).")

    def transfer(self, server):
        """Bytes of the access page and what it loads on arrival, raw and gzip -6."""
        accept = {"Accept-Encoding": "gzip, deflate, br"}
        status, headers, page = request(server.port, "GET", "/", accept)
        compressed = headers.get("Content-Encoding")
        links = Resources()
        links.feed(page.decode("utf-8", "replace"))
        files = [("/", page, headers)]
        for path in links.found:
            status, headers, body = request(server.port, "GET", path, accept)
            self.check(status == 200, f"{path}: status {status}")
            files.append((path, body, headers))
        self.record(["GET", "/", "and", *links.found, "(Python http.client, Accept-Encoding: gzip)"])
        if compressed:  # count what a browser downloads; no server here compresses today
            raw = sum(len(gzip.decompress(body)) if h.get("Content-Encoding") == "gzip" else len(body)
                      for _, body, h in files)
        else:
            raw = sum(len(body) for _, body, _ in files)
        zipped = sum(len(gzip.compress(body if not h.get("Content-Encoding") else gzip.decompress(body), 6))
                     for _, body, h in files)
        header_bytes = sum(len(str(h)) for _, _, h in files)
        self.transfer_result = {"raw": raw, "gzip": zipped, "files": [p for p, _, _ in files],
                                "server_gzip": bool(compressed), "headers": header_bytes}
        parts = ", ".join(f"{p} {len(b) / KB:.1f}/{len(gzip.compress(b, 6)) / KB:.1f}" for p, b, _ in files)
        verb = "compresses" if compressed else "does not compress"
        self.detail(f"**Transfer** (KB raw/gzip -6, 1 KB = 1024 B): {parts}; response headers "
                    f"{header_bytes / KB:.1f} KB more (not in the total). The server {verb} "
                    f"(gzip sizes computed with Python's gzip module, level 6). eye-off.svg loads only when the "
                    f"password is revealed and is not counted.")

    # -- 2: sign-in ---------------------------------------------------------------------------

    def phase_sign_in(self):
        with self.portal("sign-in") as server:
            count = self.plan.sessions
            started = time.monotonic()
            visitors = [new_visitor(server.port) for _ in range(2 * count)]
            self.record(["GET", "/", f"(Python http.client, {2 * count} times: one session cookie + CSRF token each)"])
            self.detail(f"**Sign-in set-up**: {2 * count} fresh sessions with their CSRF tokens made by GET / in "
                        f"{time.monotonic() - started:.1f} s, {count} for each sign-in case, each request takes the "
                        f"next one.")
            right = self.form_file("sign-in-right", [form_line(c, t, username=USER, password=PASSWORD)
                                                     for c, t in visitors[:count]])
            wrong = self.form_file("sign-in-wrong", [form_line(c, t, username=USER, password=WRONG_PASSWORD)
                                                     for c, t in visitors[count:]])
            reference = self.form_file("reference-bcrypt",
                                       [f"\t{urllib.parse.urlencode({'password': WRONG_PASSWORD})}\n"])
            cases = [
                Case("reference bcrypt", self.bcrypt_ref, "/", (f"sessions={reference}", "status=200", "body=no"),
                     script="form.lua", connections=SIGN_IN_CONNECTIONS),
                Case("sign_in_right", server, "/entrar", (f"sessions={right}", "status=200",
                                                          "header=HX-Redirect:/inicio"),
                     HTMX, "form.lua", SIGN_IN_CONNECTIONS, sessions=count),
                Case("sign_in_wrong", server, "/entrar", (f"sessions={wrong}", "status=200", 'body=id="login-error"'),
                     HTMX, "form.lua", SIGN_IN_CONNECTIONS, sessions=count),
            ]
            before = self.last_event_id()
            for case, load in self.interleave(cases, self.plan.login_slice):
                if case.server is self.bcrypt_ref:
                    self.references["sign-in"] = load
                    self.strict("Reference bcrypt", load)
                else:
                    self.loads[case.key] = load
                    self.strict(case.label, load)
            self.detail(f"**Sign-in events** stored during the sign-in runs (warm-up included): "
                        f"{self.events_since(before)}.")

    # -- 3: refused without a hash ---------------------------------------------------------

    def phase_locked(self):
        with self.portal("locked") as server:
            visitors = [new_visitor(server.port) for _ in range(8)]
            cookie, token = visitors[0]
            body = urllib.parse.urlencode({"csrf_token": token, "username": LOCKED_USER, "password": WRONG_PASSWORD})
            headers = {"Cookie": cookie, "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"}
            answer, attempt = b"", 0
            while b'id="lockout"' not in answer and attempt < 10:  # five wrong passwords lock it
                attempt += 1
                _, _, answer = request(server.port, "POST", "/entrar", headers, body.encode())
            self.record(["POST", "/entrar", f"(Python http.client: {LOCKED_USER} with a wrong password until "
                                            f"the lockout answer)"])
            self.check(b'id="lockout"' in answer, f"{LOCKED_USER} not locked after {attempt} wrong passwords")
            sessions = self.form_file("locked", [form_line(c, t, username=LOCKED_USER, password=PASSWORD)
                                                 for c, t in visitors])
            cases = [self.page_reference(),
                     Case("locked", server, "/entrar", (f"sessions={sessions}", 'body=id="lockout"'), HTMX, "form.lua"),
                     Case("post_floor", server, "/bench/post-floor", (f"sessions={sessions}", "status=200",
                                                                      "body=floor"), HTMX, "form.lua")]
            before = self.last_event_id()
            for case, load in self.interleave(cases, self.plan.refusal_slice):
                if case.server is self.page_ref:
                    self.keep_reference("locked", load)
                else:
                    self.loads[case.key] = load
                    self.strict(case.label, load)
            self.locked_events = self.events_since(before)
            self.detail(f"**Locked user name** `{LOCKED_USER}`: locked through the portal by {attempt} wrong "
                        f"passwords, then tried with its right password; sign-in events stored during these runs "
                        f"(warm-up included): {self.locked_events}.")

    def phase_defaults(self):
        with self.portal("defaults") as server:
            visitors = [new_visitor(server.port) for _ in range(8)]
            missing = self.form_file("login-missing", [form_line(c, t, username=USER) for c, t in visitors])
            right = self.form_file("login-limited", [form_line(c, t, username=USER, password=PASSWORD)
                                                     for c, t in visitors])
            # Use up every worker's allowance first (memory:// storage: one count per worker),
            # the login's with posts that have no password (refused before any hash).
            self.exhaust(server, "/captcha/nuevo")
            self.exhaust(server, "/entrar", script="form.lua", headers=HTMX, checks=(f"sessions={missing}",))
            cases = [
                self.page_reference(),
                Case("captcha_limited", server, "/captcha/nuevo", ("status=429", 'body=id="rate-limited"')),
                Case("login_limited", server, "/entrar", (f"sessions={right}", "status=429",
                                                          'body=id="rate-limited"'), HTMX, "form.lua"),
            ]
            before = self.last_event_id()
            for case, load in self.interleave(cases, self.plan.refusal_slice):
                if case.server is self.page_ref:
                    self.keep_reference("rate-limit", load)
                else:
                    self.loads[case.key] = load
                    # A recycled worker (max_requests) starts with empty memory:// counters and
                    # lets a client's allowance through again: reported; a problem if not a few.
                    self.check(load.unexpected <= max(1, load.requests // 10),
                               f"{case.label}: {load.unexpected} of {load.requests} answers were not 429")
                    self.detail(f"**{case.label}**: {load.describe()}.")
            self.login_limited_events = self.events_since(before)
            self.detail(f"**Rate-limited sign-in**: a post that gets past the limiter reaches authenticate() and "
                        f"leaves a sign-in event (`ok` if its right password was checked; `captcha` here when the "
                        f"wrong-password runs left the account with recent failures), a 429 leaves none; events "
                        f"stored during these runs (warm-up included): {self.login_limited_events}, for "
                        f"{self.loads['login_limited'].unexpected + self.warmup_unexpected.get('login_limited', 0)} "
                        f"answers that were not 429.")
            self.detail(f"**Worker recycling** (gunicorn.conf.py: {gunicorn_recycling()}): the rate-limit server ran "
                        f"{len(server.seen_workers)} worker processes for {WORKERS} slots; the pages server "
                        f"{len(self.portal_servers[0].seen_workers)}.")

    def exhaust(self, server, path, checks=(), **kwargs):
        """One-second runs until one gets nothing but 429 (at most 10): every worker is over."""
        for _ in range(10):
            load = self.wrk(server, path, 1, checks=(*checks, "status=429"), **kwargs)
            if load.unexpected == 0 and load.expected > 0:
                return
        self.check(False, f"{path}: the rate limit never answered 429 to everything")

    # -- the database's view ------------------------------------------------------------

    def _db(self):
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)

    def last_event_id(self):
        with self._db() as connection:
            return connection.execute("SELECT coalesce(max(id), 0) FROM auth_events").fetchone()[0]

    def events_since(self, event_id):
        """{outcome: count} of sign-in events after event_id."""
        with self._db() as connection:
            rows = connection.execute("SELECT outcome, count(*) FROM auth_events WHERE id > ? AND kind = 'login' "
                                      "GROUP BY outcome", (event_id,)).fetchall()
        return dict(rows)

    # -- 5: memory ----------------------------------------------------------------------------

    def memory(self):
        peaks = {pid: kb for server in self.portal_servers for pid, kb in server.peak_hwm_kb.items()}
        self.rss_kb = max(peaks.values(), default=0)
        self.detail(f"**Worker memory**: VmHWM sampled every 0.2 s from /proc/<pid>/status of the workers "
                    f"(`pgrep -P <master>`) of the four portal servers, {len(peaks)} worker processes in all; "
                    f"the highest of the reference workers: {self.ref_rss_kb / KB:.1f} MB.")

    # -- results --------------------------------------------------------------------------

    def evaluate(self):
        refs = self.references
        page_groups = [group for group in ("pages", "locked", "rate-limit") if group in refs]
        all_pages = Load.combine([refs[group] for group in page_groups])
        bcrypt = refs["sign-in"]
        per_group = ", ".join(f"{group} {refs[group].rps:.0f}" for group in page_groups)
        self.add(Row("ref_page", f"{all_pages.rps:.0f} req/s ({per_group})", ms(all_pages.p50_ms),
                     ms(all_pages.p99_ms), "1.00", cpu=ms(all_pages.cpu_ms, 2)))
        self.add(Row("ref_bcrypt", f"{bcrypt.rps:.2f} checks/s", ms(bcrypt.p50_ms), ms(bcrypt.p99_ms), "1.00",
                     cpu=ms(bcrypt.cpu_ms)))
        for key in ("page", "captcha_refresh", "forgot_user", "recovery_form"):
            load = self.loads[key]
            ratio = load.rps / refs["pages"].rps
            met = ratio >= PAGE_RATIO and load.p99_ms <= PAGE_P99_MS
            self.add(Row(key, f"{load.rps:.0f} req/s", ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × page",
                         f"≥ {PAGE_RATIO} × page, p99 ≤ {PAGE_P99_MS:.0f} ms", met,
                         cpu_vs(load, refs["pages"], "page")))
        for key in ("sign_in_right", "sign_in_wrong"):
            load = self.loads[key]
            ratio = load.rps / bcrypt.rps
            self.add(Row(key, f"{load.rps:.2f} logins/s", ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × bcrypt",
                         f"≥ {SIGN_IN_RATIO} × bcrypt", ratio >= SIGN_IN_RATIO, cpu_vs(load, bcrypt, "bcrypt")))
        floor = self.loads["post_floor"]
        self.add(Row("post_floor", f"{floor.rps:.0f} req/s", ms(floor.p50_ms), ms(floor.p99_ms),
                     f"{floor.rps / refs['locked'].rps:.2f} × page", "none (what the refusals below cannot go under)",
                     cpu=cpu_vs(floor, refs["locked"], "page")))
        for key, group, events in (("locked", "locked", self.locked_events),
                                   ("captcha_limited", "rate-limit", None),
                                   ("login_limited", "rate-limit", self.login_limited_events)):
            load = self.loads[key]
            ratio = load.rps / refs[group].rps
            hashes = None if events is None else hashes_run(events)
            # Refused answers must run no hash: the locked name's are all refused; over the rate
            # limit, only answers that were not 429 (a recycled worker's fresh allowance) may.
            # Answers that were not 429, in the measured runs and in the warm-up (the events
            # are counted over both): a recycled worker's fresh allowance.
            passed = load.unexpected + self.warmup_unexpected.get(key, 0)
            note = "" if hashes is None else f"; hashes run: {hashes}"
            if key != "locked" and passed:
                note += f"; {passed} answers not 429, warm-up included"
            if events is None:
                clean = True
            elif key == "locked":  # every attempt refused: not one password checked
                clean = hashes == 0
            else:  # a post past the limiter leaves an event, a 429 none: events ≤ answers not 429
                note += f"; sign-in events: {sum(events.values())}"
                clean = sum(events.values()) <= passed
            met = ratio >= REFUSAL_RATIO and clean
            self.add(Row(key, f"{load.rps:.0f} req/s ({load.rps / bcrypt.rps:.0f} × the bcrypt rate{note})",
                         ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × page", f"≥ {REFUSAL_RATIO} × page, no hash",
                         met, cpu_vs(load, refs[group], "page")))
        image = self.loads["captcha_image"]
        per_worker = image.rps / WORKERS
        capacity = 1000 / image.cpu_ms if image.cpu_ms else 0
        self.add(Row("captcha_image", f"{per_worker:.0f} images/s per worker ({image.rps:.0f}/s, {WORKERS} workers; "
                                      f"{capacity:.0f}/s for a worker with a core to itself, from its CPU time)",
                     ms(image.p50_ms), ms(image.p99_ms), f"{image.rps / refs['pages'].rps:.2f} × page",
                     f"≥ {CAPTCHA_PER_WORKER:.0f}/s per worker", per_worker >= CAPTCHA_PER_WORKER,
                     cpu_vs(image, refs["pages"], "page")))
        audio = self.audio_result
        cached = audio["second_ms"] <= AUDIO_CACHED_FRACTION * audio["first_ms"]
        self.add(Row("audio_cached", f"{audio['second_ms']:.1f} ms (first fetch {audio['first_ms']:.0f} ms)", "", "",
                     f"{audio['second_ms'] / audio['first_ms']:.2f} × first",
                     f"≤ {AUDIO_CACHED_FRACTION} × the first fetch", cached))
        limited = audio["limited"] and audio["friendly"] and audio["ok"] <= 6 * WORKERS
        self.add(Row("audio_limited", f"429 at fetch {audio['fetches']} after {audio['ok']} × 200" if audio["limited"]
                     else f"no 429 in {audio['fetches']} fetches", target=f"429 after ≤ 6 × {WORKERS} fetches",
                     met=limited))
        transfer = self.transfer_result
        self.add(Row("transfer", f"{transfer['gzip'] / KB:.1f} KB gzip ({transfer['raw'] / KB:.1f} KB raw, "
                                 f"{len(transfer['files'])} files)", target=f"≤ {TRANSFER_GZIP_KB:.0f} KB gzip",
                     met=transfer["gzip"] / KB <= TRANSFER_GZIP_KB))
        self.add(Row("rss", f"{self.rss_kb / KB:.1f} MB (VmHWM)", target=f"≤ {WORKER_RSS_MB:.0f} MB",
                     met=self.rss_kb / KB <= WORKER_RSS_MB))

    def add(self, row):
        self.rows[row.key] = row


def ms(value, digits=1):
    return f"{value:.{digits}f} ms"


def cpu_vs(load, reference, name):
    """Worker CPU a request, and the reference's share of it (steadier than requests/s)."""
    if not load.cpu_ms or not reference.cpu_ms:
        return ms(load.cpu_ms, 2)
    return f"{ms(load.cpu_ms, 2)} ({reference.cpu_ms / load.cpu_ms:.2f} × {name})"


NO_HASH_OUTCOMES = ("locked", "captcha")  # refused before a claim: no password checked


def hashes_run(events):
    """Sign-in events whose password was checked (or was being checked: "interrupted")."""
    return sum(n for outcome, n in events.items() if outcome not in NO_HASH_OUTCOMES)


class Resources(html.parser.HTMLParser):
    """Same-origin files the page loads on arrival: stylesheets, icons, scripts, images."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        url = None
        if tag == "link" and {"stylesheet", "icon"} & set((attrs.get("rel") or "").split()):
            url = attrs.get("href")
        elif tag in ("script", "img"):
            url = attrs.get("src")
        if url and url.startswith("/") and not url.startswith("//") and url not in self.found:
            self.found.append(url)


# ---------------------------------------------------------------------------------------
# The report


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(command):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
            return (done.stdout + done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    import importlib.metadata as metadata

    return {
        "nproc": version(["nproc"]), "cpu": cpu, "python": platform.python_version(),
        "gunicorn": metadata.version("gunicorn"), "flask": metadata.version("flask"),
        "bcrypt": metadata.version("bcrypt"), "wrk": version(["wrk", "--version"]).split(" [")[0],
        "kernel": platform.release(),
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / MB / 1024:.1f} GB",
    }


def report(bench, started, finished, argv):
    info = machine()
    rows = [bench.rows[key] for key in ROWS if key in bench.rows]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{' '.join(argv)}` (`make bench`) on {started:%Y-%m-%d %H:%M} UTC in "
        f"{(finished - started).total_seconds():.0f} s."
        + (" **Smoke run: a second per case, the figures mean nothing.**" if bench.plan.smoke else ""),
        "Ratios compare servers measured in the same run on the same machine; absolute figures move with the "
        "machine and whatever else runs on it.",
        "",
        "## Machine",
        "",
        f"- `nproc`: {info['nproc']}; CPU: {info['cpu']}; memory {info['memory']}; Linux {info['kernel']}",
        f"- Python {info['python']}, gunicorn {info['gunicorn']}, Flask {info['flask']}, bcrypt {info['bcrypt']}, "
        f"{info['wrk']}",
        f"- load average (1/5/15 min) at the start {fmt_load(bench.load_start)}, at the end {fmt_load(bench.load_end)}",
        "",
        "## Results",
        "",
        f"{CONNECTIONS} connections ({SIGN_IN_CONNECTIONS} for the sign-in and bcrypt runs: two per worker keep "
        f"both busy, more would only queue), {WRK_THREADS} wrk thread, {WORKERS} gunicorn sync workers per server. "
        f"The cases of a group and their reference are measured in turn, {bench.plan.rounds} round(s) of "
        f"{bench.plan.page_slice} s each per page case, {bench.plan.login_slice} s per sign-in case, "
        f"{bench.plan.refusal_slice} s per refusal case, after a {bench.plan.warmup} s warm-up each, so that "
        f"other load on the machine weighs on a case and its reference alike; requests/s is the sum over the "
        f"rounds, p50/p99 the median of the rounds' own. Ratio: to the bare Flask page measured in the same "
        f"group (\"page\") or to the bare bcrypt endpoint (\"bcrypt\"). Worker CPU / request: CPU time of "
        f"the server's workers (/proc/<pid>/stat, recycled workers included) over the requests counted; it "
        f"moves less than requests/s when other processes load the machine; in brackets, the reference's CPU "
        f"a request over the case's.",
        "",
        "| Case | Result | p50 | p99 | Ratio | Target | Met | Worker CPU / request |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        met = "" if row.met is None else ("met" if row.met else "**not met**")
        lines.append(f"| {row.label} | {row.result} | {row.p50} | {row.p99} | {row.ratio} | {row.target} | {met} "
                     f"| {row.cpu} |")
    missed = [row.label for row in rows if row.met is False]
    lines += ["", f"Targets: {sum(1 for r in rows if r.met)} met, {len(missed)} not met"
              + (f" ({'; '.join(missed)})." if missed else "."), ""]
    if bench.problems:
        lines += ["**Problems in this run** (the figures above may not measure what they say):", ""]
        lines += [f"- {problem}" for problem in bench.problems] + [""]
    lines += [
        "## How it was measured",
        "",
        "- **Portal**: `gunicorn -c gunicorn.conf.py` (the project's file as is: sync workers, access log, "
        f"{gunicorn_recycling()}; `--workers {WORKERS}` and the address on the command line) started by the "
        "tests' launcher (`tests/live_server.py`), serving `tests/live_app.py` (the portal on the production "
        "`Config`, its instance folder in the temporary directory) with `PORTAL_ENV=production`, a random "
        "`SECRET_KEY`, `BCRYPT_ROUNDS=12`, `DATABASE_URL` a SQLite file in the temporary directory, "
        "`RATELIMIT_STORAGE_URI=memory://`, no `MAIL_SERVER` (mail goes to the outbox folder). Accounts made "
        "with the support CLI (`flask users create`).",
        "- It is started four times, each changing only what its cases need: "
        + "; ".join(f"*{name}*: {', '.join(f'`{k}={v}`' for k, v in env.items()) or 'all defaults'}"
                    for name, env in PHASES.items()) + ". `RATELIMIT_CAPTCHA` is raised for the page cases so that "
        "the CAPTCHA refresh under load is not refused (its limit is still checked on every request; GET /, "
        "`/recuperar` and `/recuperar/usuario` show blank forms and have no limit); the rate-limit cases run on "
        "the defaults.",
        "- **References**: `bench/reference_app.py` served the same way: `page_app` renders "
        "`bench/templates/reference.html` (a small Jinja page with a form and a list); `bcrypt_app` answers a "
        "posted form with one `bcrypt.checkpw` at cost 12.",
        "- **Pages and fragments**: GET without cookies (a new visitor each time: session and CSRF token made "
        "and signed); fragments with `HX-Request: true`. Every answer is checked (status and the fragment's id).",
        "- **Sign-in**: htmx POSTs to `/entrar`; the login POST needs a session cookie and its CSRF token, so "
        f"run.py first makes {bench.plan.sessions} sessions per case with GET / and `bench/form.lua` takes the "
        "next one for each request (a successful sign-in rotates the session; Details says if any was used "
        "twice). "
        "Right password: the answer must carry `HX-Redirect: /inicio`. Wrong password: the same account; the "
        "portal's rules would demand the CAPTCHA after one failure and lock after five, so this server runs "
        "with `LOGIN_MAX_ATTEMPTS=1000000` and `CAPTCHA_FAILURE_HOURS=0` (a password is then checked every "
        "time) and `RATELIMIT_LOGIN=100000/minute`; the answer must be the `login-error` fragment.",
        f"- **Locked user name**: `{LOCKED_USER}` is locked through the portal (five wrong passwords, "
        "`LOGIN_MAX_ATTEMPTS=5`), then tried with its *right* password; every answer must be the `lockout` "
        "fragment, and the auth events the run leaves in the SQLite file are counted: a checked password "
        "shows as an event of outcome `ok`, `invalid` or `interrupted` (only `locked` and `captcha` are "
        "refused before any hash).",
        "- **Floor of a sign-in attempt**: `tests/live_app.py` adds `/bench/post-floor` to the portal when "
        "asked (`LIVE_POST_FLOOR=1`, the benchmark only): it does what every `POST /entrar` does before the "
        "sign-in rules run (the CSRF check, the login rate limit, parsing the form) and answers `floor`; it is "
        "loaded like the locked user name, with the same sessions, in turn with it.",
        "- **Rate limits** (defaults: `RATELIMIT_CAPTCHA=60/minute`, `RATELIMIT_LOGIN=20/minute;200/hour`): "
        "one-second runs use up every worker's allowance first (memory:// storage counts per worker; the "
        "login's with posts that have no password, refused before any hash), then the measured runs must get "
        "429 with the `rate-limited` fragment. The POST runs send the right password: a request that gets past "
        "the limiter reaches `authenticate()` and leaves an auth event, a 429 leaves none, so the events "
        "counted must not outnumber the answers that were not 429 (a recycled worker, `max_requests`, starts "
        "with empty `memory://` counters).",
        "- **CAPTCHA**: one challenge from `/captcha/nuevo`, its PNG fetched under load; its WAV fetched one at a "
        "time until 429.",
        "- **Transfer**: GET / and every stylesheet, icon, script and image it names, with "
        "`Accept-Encoding: gzip`; **memory**: VmHWM of every worker process seen.",
        "",
        "## Details",
        "",
    ]
    lines += [f"- {text}" for text in bench.details]
    lines += ["", "## Commands", "", "Run from the repository root; `$BENCH_TMP` is the run's temporary directory.",
              "`$PORT` is a free port picked per server; `start=N` the first unused session line; (× n) the "
              "number of runs.", "", "```sh"]
    lines += [command + (f"   # (× {n})" if n > 1 else "") for command, n in bench.commands.items()]
    lines += ["```", "", "## Findings", ""]
    findings = BENCH / "findings.md"
    lines.append(findings.read_text(encoding="utf-8").strip() if findings.exists() else "None recorded.")
    return "\n".join(lines) + "\n"


def fmt_load(values):
    return " / ".join(f"{v:.2f}" for v in values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a second per case, tiny counts; writes no file "
                                                             "unless --output is given")
    parser.add_argument("--output", type=Path, help="where to write the report (default BENCHMARKS.md, "
                                                    "none with --smoke)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs, database)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian/Ubuntu: apt-get install wrk).", file=sys.stderr)
        return 2
    output = args.output or (None if args.smoke else ROOT / "BENCHMARKS.md")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the servers are stopped (finally)
    tmp = Path(tempfile.mkdtemp(prefix="efactura-bench-"))
    bench = Bench(Plan.quick() if args.smoke else Plan.full(), tmp)
    started = datetime.now(UTC)
    status = 0
    try:
        bench.run()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        for server in list(bench.servers):
            server.stop()
        if args.keep:
            print(f"[bench] kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    text = report(bench, started, datetime.now(UTC),
                  ["bench/run.py", *(["--smoke"] if args.smoke else []),
                   *(["--output", str(args.output)] if args.output else [])])
    for row in bench.rows.values():
        verdict = "" if row.met is None else ("met" if row.met else "NOT MET")
        print(f"[bench] {row.label:<52} {row.result:<58} {row.p99:>10}  {row.target} {verdict}")
    if output:
        output.write_text(text, encoding="utf-8")
        print(f"[bench] wrote {output}")
    if bench.problems:
        print(f"bench: {len(bench.problems)} problem(s): the run did not measure what it should.", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
