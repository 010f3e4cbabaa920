"""The targets of the benchmark (the issue "Benchmark"; the refused sign-ins re-based on the
floor of a sign-in attempt by "A house that is easy to live in") and the table's rows: each
case's figure against the reference it is compared with, and whether it meets its target."""
from dataclasses import dataclass

from load import Load
from servers import WORKERS

KB = 1024

# Targets.
PAGE_RATIO, PAGE_P99_MS = 0.5, 25.0  # pages and fragments, to the bare Flask page
SIGN_IN_RATIO = 0.9                  # sign-in, to the bare bcrypt check
REFUSAL_RATIO = 0.5                  # the CAPTCHA refresh over its limit, to the bare Flask page
LOCKED_RATIO = 0.5                   # attempts on a locked user name, to the floor route
LOGIN_LIMITED_RATIO = 0.8            # POST /entrar over its limit, to the floor route
CAPTCHA_PER_WORKER = 100.0
TRANSFER_GZIP_KB = 40.0
WORKER_RSS_MB = 100.0
FORWARD_AUTH_RATIO, FORWARD_AUTH_P99_MS = 0.5, 10.0  # the proxy asks on every request of the application
OIDC_TOKEN_BCRYPT_RATIO = 10.0  # a code exchange costs database writes and an RS256 signature, never a hash
AUDIO_CACHED_FRACTION = 0.2  # a second fetch of the same audio costs at most this share of the first

# What a row is compared with (the column "Compared with").
PAGE = "bare Flask page ({} group)"
BCRYPT = "bare bcrypt check"
FLOOR = "floor route (locked group)"
FIRST_FETCH = "first fetch of the same audio"
ABSOLUTE = "none: an absolute target"

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
    "forward_auth": "GET /api/verificar, signed in (200), SQLite",
    "forward_auth_anonymous": "GET /api/verificar, not signed in (401), SQLite",
    "forward_auth_pg": "GET /api/verificar, signed in (200), PostgreSQL",
    "oidc_token": "POST /oidc/token (OpenID Connect code exchange, SQLite)",
}


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
    reference: str = ""       # what the ratio (and the CPU figure) compares the case with

    @property
    def label(self):
        return ROWS[self.key]


def evaluate(bench):
    """The table's rows, by key in the order of ROWS: each case's figure against its reference
    and its target."""
    rows = {}

    def add(row):
        rows[row.key] = row

    refs = bench.references
    page_groups = [group for group in ("pages", "locked", "rate-limit") if group in refs]
    all_pages = Load.combine([refs[group] for group in page_groups])
    bcrypt = refs["sign-in"]
    per_group = ", ".join(f"{group} {refs[group].rps:.0f}" for group in page_groups)
    add(Row("ref_page", f"{all_pages.rps:.0f} req/s ({per_group})", ms(all_pages.p50_ms),
            ms(all_pages.p99_ms), "1.00", cpu=ms(all_pages.cpu_ms, 2), reference="itself, in each group"))
    add(Row("ref_bcrypt", f"{bcrypt.rps:.2f} checks/s", ms(bcrypt.p50_ms), ms(bcrypt.p99_ms), "1.00",
            cpu=ms(bcrypt.cpu_ms), reference="itself"))
    for key in ("page", "captcha_refresh", "forgot_user", "recovery_form"):
        load = bench.loads[key]
        ratio = per(load.rps, refs["pages"].rps)
        met = ratio >= PAGE_RATIO and load.p99_ms <= PAGE_P99_MS
        add(Row(key, f"{load.rps:.0f} req/s", ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × page",
                f"≥ {PAGE_RATIO} × page, p99 ≤ {PAGE_P99_MS:.0f} ms", met,
                cpu_vs(load, refs["pages"], "page"), PAGE.format("pages")))
    for key in ("sign_in_right", "sign_in_wrong"):
        load = bench.loads[key]
        ratio = per(load.rps, bcrypt.rps)
        add(Row(key, f"{load.rps:.2f} logins/s", ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × bcrypt",
                f"≥ {SIGN_IN_RATIO} × bcrypt", ratio >= SIGN_IN_RATIO, cpu_vs(load, bcrypt, "bcrypt"), BCRYPT))
    floor = bench.loads["post_floor"]
    add(Row("post_floor", f"{floor.rps:.0f} req/s", ms(floor.p50_ms), ms(floor.p99_ms),
            f"{per(floor.rps, refs['locked'].rps):.2f} × page", "none: the reference of the refused sign-ins",
            cpu=cpu_vs(floor, refs["locked"], "page"), reference=PAGE.format("locked")))
    # Refused sign-ins, against the floor every POST /entrar pays before its rules run: they
    # must run no hash (sign-in events whose password was checked, warm-up included) and
    # have no error (socket errors, answers that were not the case's own).
    for key, events, minimum in (("locked", bench.locked_events, LOCKED_RATIO),
                                 ("login_limited", bench.login_limited_events, LOGIN_LIMITED_RATIO)):
        load = bench.loads[key]
        ratio = per(load.rps, floor.rps)
        hashes, errors = hashes_run(events), errors_of(load)
        note = f"; hashes run: {hashes}; errors: {errors}"
        if key == "login_limited":
            note += f"; sign-in events: {sum(events.values())}{not_429(bench, key, load)}"
        add(Row(key, f"{load.rps:.0f} req/s ({per(load.rps, bcrypt.rps):.0f} × the bcrypt rate{note})",
                ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × floor",
                f"≥ {minimum} × floor, 0 hashes, 0 errors", ratio >= minimum and hashes == 0 and errors == 0,
                cpu_vs(load, floor, "floor"), FLOOR))
    load = bench.loads["captcha_limited"]
    ratio = per(load.rps, refs["rate-limit"].rps)
    add(Row("captcha_limited", f"{load.rps:.0f} req/s ({per(load.rps, bcrypt.rps):.0f} × the bcrypt rate"
                               f"{not_429(bench, 'captcha_limited', load)})",
            ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × page", f"≥ {REFUSAL_RATIO} × page, no hash",
            ratio >= REFUSAL_RATIO, cpu_vs(load, refs["rate-limit"], "page"), PAGE.format("rate-limit")))
    image = bench.loads["captcha_image"]
    per_worker = image.rps / WORKERS
    capacity = 1000 / image.cpu_ms if image.cpu_ms else 0
    add(Row("captcha_image", f"{per_worker:.0f} images/s per worker ({image.rps:.0f}/s, {WORKERS} workers; "
                             f"{capacity:.0f}/s for a worker with a core to itself, from its CPU time)",
            ms(image.p50_ms), ms(image.p99_ms), f"{per(image.rps, refs['pages'].rps):.2f} × page",
            f"≥ {CAPTCHA_PER_WORKER:.0f}/s per worker", per_worker >= CAPTCHA_PER_WORKER,
            cpu_vs(image, refs["pages"], "page"), PAGE.format("pages") + "; the target is absolute"))
    audio = bench.audio_result
    cached = audio["second_ms"] <= AUDIO_CACHED_FRACTION * audio["first_ms"]
    add(Row("audio_cached", f"{audio['second_ms']:.1f} ms (first fetch {audio['first_ms']:.0f} ms)", "", "",
            f"{per(audio['second_ms'], audio['first_ms']):.2f} × first",
            f"≤ {AUDIO_CACHED_FRACTION} × the first fetch", cached, reference=FIRST_FETCH))
    limited = audio["limited"] and audio["friendly"] and audio["ok"] <= 6 * WORKERS
    add(Row("audio_limited", f"429 at fetch {audio['fetches']} after {audio['ok']} × 200" if audio["limited"]
            else f"no 429 in {audio['fetches']} fetches", target=f"429 after ≤ 6 × {WORKERS} fetches",
            met=limited, reference=ABSOLUTE))
    transfer = bench.transfer_result
    add(Row("transfer", f"{transfer['gzip'] / KB:.1f} KB gzip ({transfer['raw'] / KB:.1f} KB raw, "
                        f"{len(transfer['files'])} files)", target=f"≤ {TRANSFER_GZIP_KB:.0f} KB gzip",
            met=transfer["gzip"] / KB <= TRANSFER_GZIP_KB, reference=ABSOLUTE))
    add(Row("rss", f"{bench.rss_kb / KB:.1f} MB (VmHWM)", target=f"≤ {WORKER_RSS_MB:.0f} MB",
            met=bench.rss_kb / KB <= WORKER_RSS_MB, reference=ABSOLUTE))
    target = f"≥ {FORWARD_AUTH_RATIO} × page, p99 ≤ {FORWARD_AUTH_P99_MS:.0f} ms"
    for key, group in (("forward_auth", "forward-auth"), ("forward_auth_anonymous", "forward-auth"),
                       ("forward_auth_pg", "forward-auth-pg")):
        load = bench.loads.get(key)
        if load is None:
            add(Row(key, getattr(bench, "forward_auth_pg", None) or "not run", target=target))
            continue
        ratio = load.rps / refs[group].rps
        add(Row(key, f"{load.rps:.0f} req/s", ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × page", target,
                ratio >= FORWARD_AUTH_RATIO and load.p99_ms <= FORWARD_AUTH_P99_MS,
                cpu_vs(load, refs[group], "page"), PAGE.format(group)))
    load = bench.loads.get("oidc_token")
    if load is not None:
        ratio = load.rps / bcrypt.rps
        add(Row("oidc_token", f"{load.rps:.0f} exchanges/s ({load.rps / refs['oidc'].rps:.2f} × the bare page of "
                              f"its group)", ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.0f} × bcrypt",
                f"≥ {OIDC_TOKEN_BCRYPT_RATIO:.0f} × bcrypt (no hash)", ratio >= OIDC_TOKEN_BCRYPT_RATIO,
                cpu_vs(load, refs["oidc"], "page"), BCRYPT))
    return {key: rows[key] for key in ROWS if key in rows}


def errors_of(load):
    """Socket errors and answers that were not the case's own (wrk's "status" errors are every
    answer outside 2xx and 3xx, so a case expecting 429 is not judged by them)."""
    return load.unexpected + sum(n for kind, n in load.errors.items() if kind != "status")


def not_429(bench, key, load):
    """A note of the answers that were not 429, warm-up included (a recycled worker, max_requests,
    starts with empty memory:// counters and lets a client's allowance through again)."""
    passed = load.unexpected + bench.warmup_unexpected.get(key, 0)
    return f"; {passed} answers not 429, warm-up included" if passed else ""


def ms(value, digits=1):
    return f"{value:.{digits}f} ms"


def per(value, reference):
    """value / reference; 0 when the reference got no answer at all (the run has reported
    that as a problem already, and a ratio of 0 meets no target)."""
    return value / reference if reference else 0.0


def cpu_vs(load, reference, name):
    """Worker CPU a request, and the reference's share of it (steadier than requests/s)."""
    if not load.cpu_ms or not reference.cpu_ms:
        return ms(load.cpu_ms, 2)
    return f"{ms(load.cpu_ms, 2)} ({reference.cpu_ms / load.cpu_ms:.2f} × {name})"


NO_HASH_OUTCOMES = ("locked", "captcha")  # refused before a claim: no password checked


def hashes_run(events):
    """Sign-in events whose password was checked (or was being checked: "interrupted")."""
    return sum(n for outcome, n in events.items() if outcome not in NO_HASH_OUTCOMES)
