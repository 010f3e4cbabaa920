"""wrk runs: one run of a path on a server, bounded in time, with bench/stats.lua (GETs) or
bench/form.lua (form posts) checking every answer; its BENCH_JSON line parsed into a Load, with
the workers' CPU time over the run; Load.combine sums the runs of one case."""
import json
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from journal import BenchError

BENCH = Path(__file__).resolve().parent
CONNECTIONS = 16
SIGN_IN_CONNECTIONS = 4  # two per worker keep both busy; more would only queue (latency, not throughput)
WRK_THREADS = 1  # the server is the bottleneck; one wrk thread leaves it the most CPU


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


def wrk(journal, server, path, seconds, *, script="stats.lua", headers=(), checks=(), connections=CONNECTIONS,
        timeout=30):
    """One wrk run on server (a servers.Server) at path; checks: the script's arguments (status=N,
    body=TEXT, header=Name:TEXT, sessions=FILE, start=N)."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", f"{timeout}s",
               "-s", str(BENCH / script)]
    for header in headers:
        command += ["-H", header]
    command += [server.url + path, "--", f"threads={WRK_THREADS}", *checks]
    journal.record(command)
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
    drain(server, settle=0.5 if connections == SIGN_IN_CONNECTIONS else 0.15)
    return Load(
        requests=data["requests"], seconds=data["duration_us"] / 1e6, p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000, statuses={int(k): v for k, v in data["statuses"].items()},
        expected=data["expected"], unexpected=data["unexpected"], errors=data["errors"], sample=data["sample"],
        cpu_s=cpu,
    )


def drain(server, settle):
    """Wait for what wrk left queued (the workers serve closed connections too) to be served,
    then for the other worker's last request (settle: seconds)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not server.answers(timeout=60):
        time.sleep(0.1)
    time.sleep(settle)
