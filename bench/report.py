"""BENCHMARKS.md: the machine, the results table (targets.evaluate), how each case was
measured, the details and problems of the run, the exact commands (journal.Journal) and the
findings written by hand in bench/findings.md."""
import importlib.metadata as metadata
import os
import platform
import subprocess
from pathlib import Path

from cases import LOCKED_USER, PHASES
from load import CONNECTIONS, SIGN_IN_CONNECTIONS, WRK_THREADS
from servers import WORKERS, gunicorn_recycling

MB = 1024 * 1024


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

    return {
        "nproc": version(["nproc"]), "cpu": cpu, "python": platform.python_version(),
        "gunicorn": metadata.version("gunicorn"), "flask": metadata.version("flask"),
        "bcrypt": metadata.version("bcrypt"), "wrk": version(["wrk", "--version"]).split(" [")[0],
        "kernel": platform.release(),
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / MB / 1024:.1f} GB",
    }


def report(bench, rows, started, finished, argv):
    """The text of BENCHMARKS.md: rows from targets.evaluate(bench)."""
    info = machine()
    rows = list(rows.values())
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
        f"rounds, p50/p99 the median of the rounds' own. Compared with: the reference of the row's ratio, "
        f"measured in the same run: the bare Flask page of the same group (\"page\"), the bare bcrypt endpoint "
        f"(\"bcrypt\"), or the floor route measured with the locked user name (\"floor\": what every "
        f"`POST /entrar` does before its rules run). Worker CPU / request: CPU time of "
        f"the server's workers (/proc/<pid>/stat, recycled workers included) over the requests counted; it "
        f"moves less than requests/s when other processes load the machine; in brackets, the reference's CPU "
        f"a request over the case's.",
        "",
        "| Case | Result | p50 | p99 | Compared with | Ratio | Target | Met | Worker CPU / request |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        met = "" if row.met is None else ("met" if row.met else "**not met**")
        lines.append(f"| {row.label} | {row.result} | {row.p50} | {row.p99} | {row.reference} | {row.ratio} "
                     f"| {row.target} | {met} | {row.cpu} |")
    missed = [row.label for row in rows if row.met is False]
    lines += ["", f"Targets: {sum(1 for r in rows if r.met)} met, {len(missed)} not met"
              + (f" ({'; '.join(missed)})." if missed else "."), ""]
    if bench.journal.problems:
        lines += ["**Problems in this run** (the figures above may not measure what they say):", ""]
        lines += [f"- {problem}" for problem in bench.journal.problems] + [""]
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
        "- It is started once per group, each changing only what its cases need: "
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
        "loaded like the locked user name, with the same sessions, in turn with it. It is the reference of the "
        "two refused sign-ins (the locked user name, `POST /entrar` over its limit), which must also run no "
        "hash and have no error (socket errors, answers that were not the case's own).",
        "- **Rate limits** (defaults: `RATELIMIT_CAPTCHA=60/minute`, `RATELIMIT_LOGIN=20/minute;200/hour`): "
        "one-second runs use up every worker's allowance first (memory:// storage counts per worker; the "
        "login's with posts that have no password, refused before any hash), then the measured runs must get "
        "429 with the `rate-limited` fragment. The POST runs send the right password: a request that gets past "
        "the limiter reaches `authenticate()` and leaves an auth event (of outcome `ok` once its password is "
        "checked), a 429 leaves none; no hash may run. A recycled worker (`max_requests`) starts with empty "
        "`memory://` counters and would let a client's allowance through again: its answers are not 429 and "
        "count as errors.",
        "- **CAPTCHA**: one challenge from `/captcha/nuevo`, its PNG fetched under load; its WAV fetched one at a "
        "time until 429.",
        "- **Forward authentication** (`/api/verificar`, what a reverse proxy asks on every request of the "
        "application): one session signed in through the portal, its cookie and an `X-Original-URL` header on "
        "every request; the answer must be 200 with `Remote-User`, or 401 with a `Location` carrying `rd` for "
        "the requests without the cookie. Then the same signed-in case on PostgreSQL (`BENCH_DATABASE_URL`, "
        "default `postgresql://postgres@127.0.0.1:5432/test`; the run works in a schema of its own, made "
        "and dropped by it; the row says \"not run\" when it does not answer), its accounts made again with "
        "the support CLI.",
        "- **OpenID Connect token endpoint** (`POST /oidc/token`): a client registered with the support CLI, one "
        "session signed in through the portal making one authorization code per request beforehand "
        "(`GET /oidc/autorizar` with PKCE S256); each request exchanges one code (client_secret_post, its "
        "`code_verifier`) and must answer 200 with an `id_token`.",
        "- **Transfer**: GET / and every stylesheet, icon, script and image it names, with "
        "`Accept-Encoding: gzip`; **memory**: VmHWM of every worker process seen.",
        "",
        "## Details",
        "",
    ]
    lines += [f"- {text}" for text in bench.journal.details]
    lines += ["", "## Commands", "", "Run from the repository root; `$BENCH_TMP` is the run's temporary directory.",
              "`$PORT` is a free port picked per server; `start=N` the first unused session line; (× n) the "
              "number of runs.", "", "```sh"]
    lines += [command + (f"   # (× {n})" if n > 1 else "") for command, n in bench.journal.commands.items()]
    lines += ["```", "", "## Findings", ""]
    findings = Path(__file__).resolve().parent / "findings.md"
    lines.append(findings.read_text(encoding="utf-8").strip() if findings.exists() else "None recorded.")
    return "\n".join(lines) + "\n"


def fmt_load(values):
    return " / ".join(f"{v:.2f}" for v in values)
