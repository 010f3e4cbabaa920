"""The cases of a benchmark run, measured phase by phase, and what they measured.

A phase starts the portal with the settings its cases need (PHASES) and measures its cases in
turn with the reference they are compared with (load.wrk), so that whatever else loads the
machine weighs on a case and its reference alike:

1. pages: GET /, the htmx fragments, the CAPTCHA image (and its audio, the page's transfer);
2. sign-in: right and wrong passwords, beside the bare bcrypt check;
3. locked: attempts on a locked user name, beside the floor of a sign-in attempt
   (/bench/post-floor);
4. defaults: the CAPTCHA refresh and the sign-in over their rate limits;
5. forward-auth: the reverse proxy's question (/api/verificar) for a signed-in session and for
   none, on the SQLite file, then for a signed-in session on PostgreSQL (BENCH_DATABASE_URL)
   when it answers.

Set-up requests go through http.client with no cookie jar (the session cookie is Secure in
production, so it is handled by hand); the portal's SQLite file is read for the sign-in
events the runs left (a checked password leaves one).
"""
import base64
import concurrent.futures
import gzip
import hashlib
import html.parser
import http.client
import os
import re
import secrets
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from journal import BenchError, Journal
from live_server import HOST
from load import CONNECTIONS, SIGN_IN_CONNECTIONS, Load, wrk
from servers import WORKERS, Servers, gunicorn_recycling
from targets import ROWS

KB = 1024

USER = "GOMA800101AB1"           # signs in (right password) and fails (wrong password)
LOCKED_USER = "usr.LOPJ750315XY2"  # locked with five wrong passwords, then tried with the right one
FORWARD_USER = "PRV.BEN800101AB1"  # signs in once for the forward-auth cases (no failures on record)
PASSWORD = "Factura.2026"
SECRET_QUESTION = "¿Cuál es el nombre de su primera mascota?"  # one of portal.accounts.SECRET_QUESTIONS
WRONG_PASSWORD = "Equivocada.1"
SESSION_COOKIE = "efactura_sesion"
HTMX = ("HX-Request: true",)

# The portal's settings per group of cases; everything else is production as configured.
HIGH = "1000000/minute"  # "off" for limits that are not the subject of the case (still checked)
PHASES = {
    "pages": {"RATELIMIT_CAPTCHA": HIGH},
    "sign-in": {"RATELIMIT_LOGIN": "100000/minute",
                "LOGIN_MAX_ATTEMPTS": "1000000", "CAPTCHA_FAILURE_HOURS": "0"},
    "locked": {"RATELIMIT_LOGIN": "100000/minute", "CAPTCHA_FAILURE_HOURS": "0"},
    "defaults": {},
    "forward-auth": {"ALLOWED_RETURN_HOSTS": "factura.efactura.example"},
    # codes made beforehand must outlive the runs that exchange them
    "oidc": {"RATELIMIT_PAGES": HIGH, "RATELIMIT_OIDC_TOKEN": HIGH, "OIDC_CODE_SECONDS": "900"},
}
# The PostgreSQL database of the forward-auth case: the run works in a schema of its own, made
# and dropped by it. The default is used only when it answers; else the row says "not run".
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL")
DEFAULT_BENCH_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
FORWARD_AUTH = "/api/verificar"
OIDC_USER = "CT.OIDC800101AB1"  # signs in once; its session makes the codes of the token case
OIDC_REDIRECT = "https://facturacion.bench.example/oidc/callback"
ORIGINAL_URL = "X-Original-URL: https://factura.efactura.example/facturas?mes=11"


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
        return cls(True, warmup=0, rounds=1, page_slice=1, login_slice=4, refusal_slice=1, sessions=24,
                   audio_fetches=40)


@dataclass
class Case:
    """One thing wrk loads: a server, a path, and what every answer must be."""
    key: str
    server: object  # a servers.Server
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


class Bench:
    """One run: its servers, its cases phase by phase, and what they measured (read by
    targets.evaluate and report.report)."""

    def __init__(self, plan: Plan, tmp: Path, journal: Journal):
        self.plan, self.tmp, self.journal = plan, tmp, journal
        self.servers = Servers(tmp, journal)
        self.loads = {}              # case key -> Load
        self.references = {}         # group -> Load of its reference
        self.warmup_unexpected = {}  # case key -> unexpected answers in its warm-up

    def run_case(self, case, seconds):
        checks = case.checks
        if case.sessions:
            checks = (*checks, f"start={case.used}")
        load = wrk(self.journal, case.server, case.path, seconds, script=case.script, headers=case.headers,
                   checks=checks, connections=case.connections)
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
            self.journal.say(f"{case.label}: {load.rps:.1f}/s p50 {load.p50_ms:.1f} ms p99 {load.p99_ms:.1f} ms; "
                             f"{load.describe()}")
            self.journal.check(load.expected > 0, f"{case.label}: no expected answer at all ({load.describe()})")
            if case.sessions and case.used > case.sessions:
                self.journal.detail(f"**{case.label}**: {case.used - case.sessions} session lines were used a second "
                                    f"time.")
            yield case, load

    def form_file(self, name, lines):
        path = self.tmp / f"{name}.tsv"
        path.write_text("".join(lines), encoding="utf-8")
        return path

    def strict(self, label, load):
        """Every answer (but a stray one) must be the case's own."""
        self.journal.check(load.unexpected <= max(1, load.requests // 100),
                           f"{label}: {load.unexpected} of {load.requests} answers were not the expected one "
                           f"(first: {load.sample})")
        self.journal.detail(f"**{label}**: {load.describe()}.")

    # -- the run --------------------------------------------------------------------------

    def run(self):
        self.load_start = os.getloadavg()
        self.page_ref = self.servers.reference("page", "reference_app:page_app")
        self.bcrypt_ref = self.servers.reference("bcrypt", "reference_app:bcrypt_app")
        with self.page_ref, self.bcrypt_ref:
            self.seed()
            self.phase_pages()
            self.phase_sign_in()
            self.phase_locked()
            self.phase_defaults()
            self.phase_forward_auth()
            self.phase_oidc()
        self.ref_rss_kb = max([*self.page_ref.peak_hwm_kb.values(), *self.bcrypt_ref.peak_hwm_kb.values()], default=0)
        self.load_end = os.getloadavg()
        self.memory()

    def page_reference(self):
        return Case("reference page", self.page_ref, "/", checks=("status=200", "body=<h1>"))

    def keep_reference(self, group, load):
        self.references[group] = load
        self.strict(f"Reference page ({group} group)", load)

    def seed(self, env=None):
        """The accounts, with the support CLI (bcrypt cost 12), before the portal serves (env:
        settings over the portal's, such as another DATABASE_URL)."""
        for username, name in ((USER, "María Gómez Alonso"), (LOCKED_USER, "Juan López Pérez"),
                               (FORWARD_USER, "Proveedora de Prueba")):
            self.servers.support_cli("users", "create", username, "--password", PASSWORD, "--email",
                                     f"{username.lower()}@bench.example", "--name", name,
                                     "--question", SECRET_QUESTION, "--answer", "Firulais", env=env)

    def portal(self, phase):
        self.journal.say(f"portal, {phase} settings: {PHASES[phase] or 'all defaults'}")
        return self.servers.portal(phase, PHASES[phase])

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
        self.journal.record(["GET", "/captcha/nuevo", "(Python http.client, HX-Request: true: one challenge)"])
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
            self.journal.check(status == 200 and body[:4] == b"RIFF", f"audio fetch {len(statuses)}: status {status}")
        self.journal.record(["GET", path, f"(Python http.client, up to {self.plan.audio_fetches} times, until 429)"])
        ok = statuses.count(200)
        first, second = timings[0] * 1000, timings[1] * 1000 if len(timings) > 1 else float("nan")
        served = [t * 1000 for t, s in zip(timings[1:], statuses[1:], strict=True) if s == 200]
        cached_ms = sorted(served)[len(served) // 2] if served else float("nan")
        limited_body = body if statuses[-1] == 429 else b""
        self.audio_result = {"first_ms": first, "second_ms": second, "cached_median_ms": cached_ms, "ok": ok,
                             "fetches": len(statuses), "limited": statuses[-1] == 429,
                             "friendly": b'id="rate-limited"' in limited_body}
        self.journal.detail(f"**CAPTCHA audio**: first fetch {first:.0f} ms (made), second {second:.1f} ms, median "
                            f"of the later 200s {cached_ms:.1f} ms; {ok} answers 200 then "
                            f"{'429 (fragment rate-limited)' if self.audio_result['limited'] else 'no 429'} at fetch "
                            f"{len(statuses)} (limit RATELIMIT_CAPTCHA_AUDIO=6/minute;30/hour per client, kept per "
                            f"worker with memory:// storage, so up to 6 × {WORKERS} workers answer 200).")

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
            self.journal.check(status == 200, f"{path}: status {status}")
            files.append((path, body, headers))
        self.journal.record(["GET", "/", "and", *links.found, "(Python http.client, Accept-Encoding: gzip)"])
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
        self.journal.detail(f"**Transfer** (KB raw/gzip -6, 1 KB = 1024 B): {parts}; response headers "
                            f"{header_bytes / KB:.1f} KB more (not in the total). The server {verb} "
                            f"(gzip sizes computed with Python's gzip module, level 6). eye-off.svg loads only when "
                            f"the password is revealed and is not counted.")

    # -- 2: sign-in ---------------------------------------------------------------------------

    def phase_sign_in(self):
        with self.portal("sign-in") as server:
            count = self.plan.sessions
            started = time.monotonic()
            visitors = [new_visitor(server.port) for _ in range(2 * count)]
            self.journal.record(["GET", "/", f"(Python http.client, {2 * count} times: one session cookie + CSRF "
                                             f"token each)"])
            self.journal.detail(f"**Sign-in set-up**: {2 * count} fresh sessions with their CSRF tokens made by GET / "
                                f"in {time.monotonic() - started:.1f} s, {count} for each sign-in case, each request "
                                f"takes the next one.")
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
            self.journal.detail(f"**Sign-in events** stored during the sign-in runs (warm-up included): "
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
            self.journal.record(["POST", "/entrar", f"(Python http.client: {LOCKED_USER} with a wrong password until "
                                                    f"the lockout answer)"])
            self.journal.check(b'id="lockout"' in answer, f"{LOCKED_USER} not locked after {attempt} wrong passwords")
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
            self.journal.detail(f"**Locked user name** `{LOCKED_USER}`: locked through the portal by {attempt} "
                                f"wrong passwords, then tried with its right password; sign-in events stored during "
                                f"these runs (warm-up included): {self.locked_events}.")

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
                    self.journal.check(load.unexpected <= max(1, load.requests // 10),
                                       f"{case.label}: {load.unexpected} of {load.requests} answers were not 429")
                    self.journal.detail(f"**{case.label}**: {load.describe()}.")
            self.login_limited_events = self.events_since(before)
            passed = self.loads["login_limited"].unexpected + self.warmup_unexpected.get("login_limited", 0)
            self.journal.detail(f"**Rate-limited sign-in**: a post that gets past the limiter reaches authenticate() "
                                f"and leaves a sign-in event (`ok` if its right password was checked; `captcha` here "
                                f"when the wrong-password runs left the account with recent failures), a 429 leaves "
                                f"none; events stored during these runs (warm-up included): "
                                f"{self.login_limited_events}, for {passed} answers that were not 429.")
            self.journal.detail(f"**Worker recycling** (gunicorn.conf.py: {gunicorn_recycling()}): the rate-limit "
                                f"server ran {len(server.seen_workers)} worker processes for {WORKERS} slots; the "
                                f"pages server {len(self.servers.portals[0].seen_workers)}.")

    # -- 5: forward authentication -----------------------------------------------------------

    def phase_forward_auth(self):
        """The question nginx asks on every request of the application, on SQLite and PostgreSQL."""
        with self.portal("forward-auth") as server:
            self.forward_auth(server, "forward-auth", anonymous=True)
        url, reason = postgresql_url()
        self.forward_auth_pg = reason
        if url is None:
            self.journal.detail(f"**Forward authentication on PostgreSQL**: not run ({reason}).")
            return
        schema = f"bench_{secrets.token_hex(6)}"  # this run's own: nothing else in the database is touched
        postgres(url, f"CREATE SCHEMA {schema}")
        try:
            env = {"DATABASE_URL": in_schema(url, schema)}
            self.seed(env)
            self.journal.say(f"portal, forward-auth settings on PostgreSQL ({redacted(url)}, schema {schema})")
            with self.servers.portal("forward-auth-pg", {**PHASES["forward-auth"], **env}) as server:
                self.forward_auth(server, "forward-auth-pg", anonymous=False)
        finally:
            postgres(url, f"DROP SCHEMA {schema} CASCADE")

    def forward_auth(self, server, group, anonymous):
        """A session signed in through the portal, then GET /api/verificar with its cookie (and
        without one), in turn with the bare Flask page."""
        cookie, token = new_visitor(server.port)
        body = urllib.parse.urlencode({"csrf_token": token, "username": FORWARD_USER, "password": PASSWORD})
        status, headers, _ = request(server.port, "POST", "/entrar", {
            "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, body.encode())
        signed_in = session_cookie(headers)
        self.journal.record(["POST", "/entrar", f"(Python http.client: {FORWARD_USER} signs in once; its session "
                                                f"cookie is sent with every {FORWARD_AUTH})"])
        if status != 303 or signed_in is None:
            raise BenchError(f"{group}: the sign-in for the forward-auth case failed (status {status})")
        suffix = "_pg" if group.endswith("-pg") else ""
        cases = [self.page_reference(),
                 Case("forward_auth" + suffix, server, FORWARD_AUTH,
                      ("status=200", f"header=Remote-User:{FORWARD_USER}"), (f"Cookie: {signed_in}", ORIGINAL_URL))]
        if anonymous:
            cases.append(Case("forward_auth_anonymous", server, FORWARD_AUTH,
                              ("status=401", "header=Location:/?rd="), (ORIGINAL_URL,)))
        for case, load in self.interleave(cases, self.plan.page_slice):
            if case.server is self.page_ref:
                self.keep_reference(group, load)
            else:
                self.loads[case.key] = load
                self.strict(case.label, load)

    def exhaust(self, server, path, checks=(), **kwargs):
        """One-second runs until one gets nothing but 429 (at most 10): every worker is over."""
        for _ in range(10):
            load = wrk(self.journal, server, path, 1, checks=(*checks, "status=429"), **kwargs)
            if load.unexpected == 0 and load.expected > 0:
                return
        self.journal.check(False, f"{path}: the rate limit never answered 429 to everything")

    # -- the database's view ------------------------------------------------------------

    def _database(self):
        return sqlite3.connect(f"file:{self.servers.db_path}?mode=ro", uri=True, timeout=30)

    def last_event_id(self):
        with self._database() as connection:
            return connection.execute("SELECT coalesce(max(id), 0) FROM auth_events").fetchone()[0]

    def events_since(self, event_id):
        """{outcome: count} of sign-in events after event_id."""
        with self._database() as connection:
            rows = connection.execute("SELECT outcome, count(*) FROM auth_events WHERE id > ? AND kind = 'login' "
                                      "GROUP BY outcome", (event_id,)).fetchall()
        return dict(rows)

    # -- 6: the OpenID Connect token endpoint ------------------------------------------------

    def phase_oidc(self):
        """A relying party's code exchange, POST /oidc/token: the code claimed, PKCE checked, the
        tokens stored, the ID token signed (RS256); no password hash. One signed-in session
        makes the codes beforehand (GET /oidc/autorizar), one for every request of the runs."""
        self.servers.support_cli("users", "create", OIDC_USER, "--password", PASSWORD, "--email",
                                 f"{OIDC_USER.lower()}@bench.example", "--name", "Cliente OIDC",
                                 "--question", SECRET_QUESTION, "--answer", "Firulais")
        registered = self.servers.support_cli("clients", "create", "Banco de pruebas", "--redirect-uri", OIDC_REDIRECT)
        client = dict(line.split(": ", 1) for line in registered.splitlines() if ": " in line)
        with self.portal("oidc") as server:
            cookie, token = new_visitor(server.port)
            body = urllib.parse.urlencode({"csrf_token": token, "username": OIDC_USER, "password": PASSWORD})
            status, headers, _ = request(server.port, "POST", "/entrar", {
                "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, body.encode())
            signed_in = session_cookie(headers)
            if status != 303 or signed_in is None:
                raise BenchError(f"oidc: the sign-in for the token case failed (status {status})")
            count = 400 if self.plan.smoke else 4000  # more than the runs exchange (about 300/s at most here)
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(max_workers=2 * WORKERS) as pool:
                lines = list(pool.map(lambda n: oidc_exchange_line(server.port, signed_in, client, n), range(count)))
            self.journal.record(["GET", "/oidc/autorizar", f"(Python http.client, {count} times with the session of "
                                                           f"{OIDC_USER}: one code each)"])
            self.journal.detail(f"**Token endpoint set-up**: {count} authorization codes made in "
                                f"{time.monotonic() - started:.1f} s (GET /oidc/autorizar, PKCE S256), each exchanged "
                                f"once by POST /oidc/token with client_secret_post.")
            codes = self.form_file("oidc-token", lines)
            cases = [self.page_reference(),
                     Case("oidc_token", server, "/oidc/token", (f"sessions={codes}", "status=200", 'body="id_token"'),
                          script="form.lua", sessions=count)]
            for case, load in self.interleave(cases, self.plan.page_slice):
                if case.server is self.page_ref:
                    self.keep_reference("oidc", load)
                else:
                    self.loads[case.key] = load
                    self.strict(case.label, load)

    # -- 5: memory ----------------------------------------------------------------------------

    def memory(self):
        peaks = {pid: kb for server in self.servers.portals for pid, kb in server.peak_hwm_kb.items()}
        self.rss_kb = max(peaks.values(), default=0)
        self.journal.detail(f"**Worker memory**: VmHWM sampled every 0.2 s from /proc/<pid>/status of the workers "
                            f"(`pgrep -P <master>`) of the four portal servers, {len(peaks)} worker processes in all; "
                            f"the highest of the reference workers: {self.ref_rss_kb / KB:.1f} MB.")


def oidc_exchange_line(port, cookie, client, serial):
    """A form line of the token case: a fresh code (an authorization request with the signed-in
    cookie), exchanged with its PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": OIDC_REDIRECT,
        "scope": "openid profile email", "state": f"s{serial}", "nonce": f"bench-{serial}-{secrets.token_hex(8)}",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    status, headers, _ = request(port, "GET", "/oidc/autorizar?" + query, {"Cookie": cookie})
    location = headers.get("Location") or ""
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code")
    if status != 302 or not code:
        raise BenchError(f"oidc: no code from /oidc/autorizar (status {status}, Location {location[:200]})")
    return "\t" + urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code[0], "redirect_uri": OIDC_REDIRECT, "code_verifier": verifier,
        "client_id": client["client_id"], "client_secret": client["client_secret"]}) + "\n"


def request(port, method, path, headers=None, body=None, timeout=30):
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def postgresql_url():
    """(url, None) for the PostgreSQL database of the forward-auth case, or (None, why not)."""
    import sqlalchemy

    from portal.database import engine_url

    url = BENCH_DATABASE_URL or DEFAULT_BENCH_DATABASE_URL
    try:
        engine = sqlalchemy.create_engine(engine_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception:  # noqa: BLE001  # any failure to connect: the case is reported as not run
        return None, "not run: PostgreSQL unreachable"
    return url, None


def postgres(url, statement):
    """One statement of the run's own (its schema made or dropped), in a transaction."""
    import sqlalchemy

    from portal.database import engine_url

    engine = sqlalchemy.create_engine(engine_url(url))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(statement))
    engine.dispose()


def in_schema(url, schema):
    """The database URL whose connections work in `schema` (libpq's `options`: search_path)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def redacted(url):
    """The URL without its password, for the report."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    return urllib.parse.urlunsplit(parts)


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
