"""The servers of a benchmark run: the portal in production settings (started once per phase,
see cases.PHASES) and the two references of bench/reference_app.py, each `gunicorn -c
gunicorn.conf.py` with WORKERS workers on 127.0.0.1, whose workers' memory and CPU time are
watched; and the support CLI run with the portal's settings.

Every server is started and stopped by the launcher the tests use (tests/live_server.py) and
serves the tests' app shim (tests/live_app.py, on the production Config): run.py puts tests/
on the import path, so that the benchmark has no launcher of its own.
"""
import os
import runpy
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import live_app
from cryptography.fernet import Fernet
from journal import BenchError
from live_server import PORTAL, LiveServer, child_environment

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = Path(sys.executable)
WORKERS = 2
GUNICORN_CONF = ROOT / "gunicorn.conf.py"


def gunicorn_recycling():
    """gunicorn.conf.py's worker recycling, read from the file as gunicorn reads it."""
    settings = runpy.run_path(str(GUNICORN_CONF))
    return f"max_requests {settings.get('max_requests', '?')} ± {settings.get('max_requests_jitter', 0)}"


class Server(LiveServer):
    """One app served with gunicorn.conf.py and WORKERS workers, its command recorded, its
    workers' peak memory sampled and their CPU time summed."""

    def __init__(self, journal, name, log_path, app, env=None, ready_path="/healthz"):
        super().__init__(log_path, app, env=env, options=("-c", str(GUNICORN_CONF)), workers=WORKERS,
                         ready_path=ready_path, pythonpath=(BENCH,))
        self.journal, self.name = journal, name
        self.seen_workers = set()
        self.peak_hwm_kb = {}  # worker pid -> VmHWM (kB)
        self._sampling = None

    def start(self):
        self.journal.record(self.command, self.variables)
        try:
            super().start()
        except RuntimeError as error:
            raise BenchError(f"{self.name}: {error}") from error
        self._sampling = threading.Event()
        threading.Thread(target=self._sample_memory, daemon=True).start()
        return self

    def stop(self):
        if self._sampling is not None:
            self._sampling.set()
        super().stop()

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


class Servers:
    """Every server of one run, and what the portal's share: production settings, a random
    SECRET_KEY and PASSWORD_PEPPER, one SQLite file and one instance folder in the run's temporary directory."""

    def __init__(self, tmp, journal):
        self.tmp, self.journal = tmp, journal
        self.db_path = tmp / "portal.db"
        instance = tmp / "instance"
        instance.mkdir()
        # The production Config reads these (live_app.py with LIVE_CONFIG=Config).
        self.portal_env = {
            **live_app.variables(instance, config="Config", post_floor=True),
            "PORTAL_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
            "PASSWORD_PEPPER": secrets.token_urlsafe(48), "BCRYPT_ROUNDS": "12",
            "OIDC_KEY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": f"sqlite:///{self.db_path}", "RATELIMIT_STORAGE_URI": "memory://",
        }
        self.made = []     # every server, for stop_all()
        self.portals = []  # the portal's, one per phase, in order

    def _server(self, name, app, env=None, ready_path="/healthz"):
        server = Server(self.journal, name, self.tmp / f"{name}.log", app, env, ready_path)
        self.made.append(server)
        return server

    def reference(self, name, app):
        """A reference of bench/reference_app.py (app: "reference_app:page_app" or ":bcrypt_app")."""
        return self._server(f"reference-{name}", app, ready_path="/")

    def portal(self, phase, settings):
        """The portal with these settings (environment variables) over the production ones."""
        server = self._server(f"portal-{phase}", PORTAL, {**self.portal_env, **settings})
        self.portals.append(server)
        return server

    def support_cli(self, *args, env=None):
        """`flask users ...` on the portal's database and settings (env: some of them changed),
        before the portal serves."""
        command = [str(PYTHON), "-m", "flask", "--app", "tests/live_app.py:build()", *args]
        variables = {**self.portal_env, **(env or {})}
        self.journal.record(command, variables)
        done = subprocess.run(command, cwd=ROOT, env=child_environment(variables), capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"flask {' '.join(args[:3])} failed: {done.stderr[-2000:]}")
        return done.stdout

    def stop_all(self):
        for server in self.made:
            server.stop()


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
