"""The targets of the benchmark (the issue "Benchmark") and the table's rows: each case's
figure against the reference it is measured with, and whether it meets its target."""
from dataclasses import dataclass

from load import Load
from servers import WORKERS

KB = 1024

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


def evaluate(bench):
    """The table's rows, by key: each case's figure against its reference and its target."""
    rows = {}

    def add(row):
        rows[row.key] = row

    refs = bench.references
    page_groups = [group for group in ("pages", "locked", "rate-limit") if group in refs]
    all_pages = Load.combine([refs[group] for group in page_groups])
    bcrypt = refs["sign-in"]
    per_group = ", ".join(f"{group} {refs[group].rps:.0f}" for group in page_groups)
    add(Row("ref_page", f"{all_pages.rps:.0f} req/s ({per_group})", ms(all_pages.p50_ms),
            ms(all_pages.p99_ms), "1.00", cpu=ms(all_pages.cpu_ms, 2)))
    add(Row("ref_bcrypt", f"{bcrypt.rps:.2f} checks/s", ms(bcrypt.p50_ms), ms(bcrypt.p99_ms), "1.00",
            cpu=ms(bcrypt.cpu_ms)))
    for key in ("page", "captcha_refresh", "forgot_user", "recovery_form"):
        load = bench.loads[key]
        ratio = load.rps / refs["pages"].rps
        met = ratio >= PAGE_RATIO and load.p99_ms <= PAGE_P99_MS
        add(Row(key, f"{load.rps:.0f} req/s", ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × page",
                f"≥ {PAGE_RATIO} × page, p99 ≤ {PAGE_P99_MS:.0f} ms", met,
                cpu_vs(load, refs["pages"], "page")))
    for key in ("sign_in_right", "sign_in_wrong"):
        load = bench.loads[key]
        ratio = load.rps / bcrypt.rps
        add(Row(key, f"{load.rps:.2f} logins/s", ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × bcrypt",
                f"≥ {SIGN_IN_RATIO} × bcrypt", ratio >= SIGN_IN_RATIO, cpu_vs(load, bcrypt, "bcrypt")))
    floor = bench.loads["post_floor"]
    add(Row("post_floor", f"{floor.rps:.0f} req/s", ms(floor.p50_ms), ms(floor.p99_ms),
            f"{floor.rps / refs['locked'].rps:.2f} × page", "none (what the refusals below cannot go under)",
            cpu=cpu_vs(floor, refs["locked"], "page")))
    for key, group, events in (("locked", "locked", bench.locked_events),
                               ("captcha_limited", "rate-limit", None),
                               ("login_limited", "rate-limit", bench.login_limited_events)):
        load = bench.loads[key]
        ratio = load.rps / refs[group].rps
        hashes = None if events is None else hashes_run(events)
        # Refused answers must run no hash: the locked name's are all refused; over the rate
        # limit, only answers that were not 429 (a recycled worker's fresh allowance) may.
        # Answers that were not 429, in the measured runs and in the warm-up (the events
        # are counted over both): a recycled worker's fresh allowance.
        passed = load.unexpected + bench.warmup_unexpected.get(key, 0)
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
        add(Row(key, f"{load.rps:.0f} req/s ({load.rps / bcrypt.rps:.0f} × the bcrypt rate{note})",
                ms(load.p50_ms), ms(load.p99_ms), f"{ratio:.2f} × page", f"≥ {REFUSAL_RATIO} × page, no hash",
                met, cpu_vs(load, refs[group], "page")))
    image = bench.loads["captcha_image"]
    per_worker = image.rps / WORKERS
    capacity = 1000 / image.cpu_ms if image.cpu_ms else 0
    add(Row("captcha_image", f"{per_worker:.0f} images/s per worker ({image.rps:.0f}/s, {WORKERS} workers; "
                             f"{capacity:.0f}/s for a worker with a core to itself, from its CPU time)",
            ms(image.p50_ms), ms(image.p99_ms), f"{image.rps / refs['pages'].rps:.2f} × page",
            f"≥ {CAPTCHA_PER_WORKER:.0f}/s per worker", per_worker >= CAPTCHA_PER_WORKER,
            cpu_vs(image, refs["pages"], "page")))
    audio = bench.audio_result
    cached = audio["second_ms"] <= AUDIO_CACHED_FRACTION * audio["first_ms"]
    add(Row("audio_cached", f"{audio['second_ms']:.1f} ms (first fetch {audio['first_ms']:.0f} ms)", "", "",
            f"{audio['second_ms'] / audio['first_ms']:.2f} × first",
            f"≤ {AUDIO_CACHED_FRACTION} × the first fetch", cached))
    limited = audio["limited"] and audio["friendly"] and audio["ok"] <= 6 * WORKERS
    add(Row("audio_limited", f"429 at fetch {audio['fetches']} after {audio['ok']} × 200" if audio["limited"]
            else f"no 429 in {audio['fetches']} fetches", target=f"429 after ≤ 6 × {WORKERS} fetches",
            met=limited))
    transfer = bench.transfer_result
    add(Row("transfer", f"{transfer['gzip'] / KB:.1f} KB gzip ({transfer['raw'] / KB:.1f} KB raw, "
                        f"{len(transfer['files'])} files)", target=f"≤ {TRANSFER_GZIP_KB:.0f} KB gzip",
            met=transfer["gzip"] / KB <= TRANSFER_GZIP_KB))
    add(Row("rss", f"{bench.rss_kb / KB:.1f} MB (VmHWM)", target=f"≤ {WORKER_RSS_MB:.0f} MB",
            met=bench.rss_kb / KB <= WORKER_RSS_MB))
    return rows


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
