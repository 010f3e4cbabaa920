"""The one launcher of live servers: gunicorn on a free 127.0.0.1 port, for as long as a test
(or the benchmark) needs it.

Used by the two-server tests (tests/test_production.py), the browser tests' `live` fixture
(tests/browser/conftest.py) and the benchmark (bench/servers.py). It serves live_app.py (the
portal, settings from environment variables) unless told another app, such as the
benchmark's references.

It lives in tests/, beside the app it serves and the helpers it shares; the benchmark puts
tests/ on its sys.path to import it rather than keep a launcher of its own, so that starting,
waiting for and stopping a server is written once.

    with LiveServer.portal(tmp_path / "gunicorn.log", tmp_path / "instance", {"MAIL_PORT": 2525}) as server:
        urllib.request.urlopen(server.url + "/")
"""
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import live_app

from config import Config
from helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
HOST = "127.0.0.1"  # a live server listens on the loopback address only
PORTAL = "live_app:build()"
# Options of a test server; the benchmark gives gunicorn.conf.py instead.
TEST_OPTIONS = ("--timeout", "30", "--graceful-timeout", "5", "--access-logfile", "-", "--error-logfile", "-")

# Environment variables that set the portal (the attributes of config.Config, and DATABASE_URL,
# which sets SQLALCHEMY_DATABASE_URI), gunicorn.conf.py, the test suite's settings, the import
# path and live_app.py: a live server has the settings it is given, never the shell's.
SETTINGS = {name for name in vars(Config) if name.isupper()} | {
    "DATABASE_URL", "BIND", "WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "FORWARDED_ALLOW_IPS", "GUNICORN_CMD_ARGS",
    "TEST_DATABASE_URL", "TEST_RATELIMIT_STORAGE_URI", "PYTHONPATH", "FLASK_APP",
    "LIVE_CONFIG", "LIVE_INSTANCE", "LIVE_SETTINGS", "LIVE_POST_FLOOR",
}


def child_environment(variables):
    """This process's environment without SETTINGS, and these variables: what a live server
    (or a command run beside it, such as the support CLI) is started with."""
    return {**{k: v for k, v in os.environ.items() if k not in SETTINGS}, **variables}


def _gunicorn():
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]


def _die_with_parent():
    """In the child before exec: SIGTERM when the process that started it dies, however it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def launch(name, command, out_path, env, port, log, timeout=15):
    """Another server program (nginx, Caddy, Apache) in its own session, ended with this process,
    waited for until it listens on HOST:port; its output goes to out_path. When it exits or does
    not listen within timeout, it is ended and RuntimeError says why, with log()."""
    with out_path.open("ab") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited ({process.returncode}):\n{log()}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    end(process)
    raise RuntimeError(f"{name} did not listen on {HOST}:{port} within {timeout} s:\n{log()}")


def end(process, sign=signal.SIGTERM, timeout=10):
    """Stop a launched program gracefully (sign), then its whole session after timeout."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sign)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the parent and its children
        process.wait()


def _session(pid):
    """The session id of a process (None when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, ValueError, IndexError):
        return None


class LiveServer:
    """gunicorn serving one WSGI app on 127.0.0.1 until stop() (or the end of a `with` block).

    log_path   gunicorn's output (appended), read by log() and shown when it fails to start
    app        gunicorn's APP_MODULE: the portal of live_app.py unless told otherwise
    env        variables set on top of child_environment(); for the portal, portal() makes them
    options    gunicorn's other options (TEST_OPTIONS, or the benchmark's `-c gunicorn.conf.py`);
               the address (127.0.0.1, a free port unless `port` is given) and `workers` are
               always the launcher's, and there is no control socket (gunicorn's default one,
               ~/.gunicorn/gunicorn.ctl, is one path for every server of the user)
    ready_path the server is up once this path answers (any status below 500) and every worker
               has started

    outbox     also run the portal's outbox worker (`flask outbox worker`) beside it, as
               production does: requests only queue e-mail, the worker delivers it

    It is started in a session of its own and dies with the process that started it; stop()
    sends SIGTERM, then SIGKILL after stop_timeout seconds, and SIGKILL to any of its workers
    its master left behind.
    """

    def __init__(self, log_path, app=PORTAL, *, env=None, options=TEST_OPTIONS, workers=2, port=None,
                 ready_path="/healthz", pythonpath=(), start_timeout=60, stop_timeout=30, outbox=False):
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.variables = dict(env or {})
        self.worker_count = workers
        self.ready_path = ready_path
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        path = ",".join(str(folder) for folder in (ROOT, TESTS, *pythonpath))
        self.command = [*_gunicorn(), *options, "--bind", f"{HOST}:{self.port}", "--no-control-socket",
                        "--workers", str(workers), "--chdir", str(ROOT), "--pythonpath", path, app]
        self.outbox_command = [sys.executable, "-m", "flask", "--app", app, "outbox", "worker", "--poll", "0.2"]
        self.pythonpath = os.pathsep.join(str(folder) for folder in (ROOT, TESTS, *pythonpath))
        self.outbox = outbox
        self.process = self.outbox_process = None

    @classmethod
    def portal(cls, log_path, instance, settings=None, *, config="TestConfig", post_floor=False, **kwargs):
        """The portal of live_app.py: the config class of config.py, with these settings over it,
        its instance folder here; post_floor adds the benchmark's /bench/post-floor."""
        env = {**live_app.variables(instance, settings, config, post_floor), **kwargs.pop("env", {})}
        return cls(log_path, env=env, **kwargs)

    def build_app(self):
        """The same portal in this process, on the same settings: for set-up and for looking at its data."""
        return live_app.build(self.variables)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=child_environment(self.variables),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.log()}")
            if self.answers() and len(self.workers()) >= self.worker_count:
                if self.outbox:
                    self._start_outbox()
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer on {self.url} within {self.start_timeout} s:\n{self.log()}")

    def _start_outbox(self):
        with self.log_path.open("ab") as log:
            self.outbox_process = subprocess.Popen(
                self.outbox_command, cwd=ROOT, env=child_environment({**self.variables, "PYTHONPATH": self.pythonpath}),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent)

    def answers(self, timeout=5):
        """Whether ready_path answers now, with a status below 500, within timeout seconds."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            connection.request("GET", self.ready_path)
            return connection.getresponse().status < 500
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def workers(self):
        """The pids of the worker processes running now (gunicorn forks them from its master)."""
        if self.process is None or self.process.poll() is not None:
            return []
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def stop(self):
        if self.outbox_process is not None and self.outbox_process.poll() is None:
            self.outbox_process.terminate()
            try:
                self.outbox_process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.outbox_process.kill()
                self.outbox_process.wait()
        if self.process is None:
            return
        workers = self.workers()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in workers:  # left behind only when the master died first: still in its session
            if _session(pid) == self.process.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def log(self, tail=4000):
        """The last tail characters of gunicorn's output."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""
