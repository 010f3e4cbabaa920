"""Debian's nginx as the front door of the application (tests only): `auth_request` to the
portal's /api/verificar, the Remote-* headers of its answer passed on to the application (and
none the client sent), a 401 turned into the redirect the portal names (`error_page 401 =302`).

The same configuration is shown in README.md ("Putting the portal in front of e-Factura").
Everything nginx writes (pid, logs, temporary files) stays in the folder it is given; it runs
in the foreground as a child process, stopped by its pid.
"""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from live_server import HOST, _die_with_parent

from helpers import free_port

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;

    server {{
        listen {host}:{port};

        # The question to the portal: who is behind this request?
        location = /_portal_verificar {{
            internal;
            proxy_pass {portal}/api/verificar;
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        }}

        location / {{
            auth_request /_portal_verificar;
            auth_request_set $portal_user $upstream_http_remote_user;
            auth_request_set $portal_name $upstream_http_remote_name;
            auth_request_set $portal_email $upstream_http_remote_email;
            auth_request_set $portal_groups $upstream_http_remote_groups;
            auth_request_set $portal_location $upstream_http_location;
            error_page 401 =302 $portal_location;

            # Only the portal's answer: whatever the client sent under these names is replaced.
            proxy_set_header Remote-User $portal_user;
            proxy_set_header Remote-Name $portal_name;
            proxy_set_header Remote-Email $portal_email;
            proxy_set_header Remote-Groups $portal_groups;
            proxy_set_header Host $http_host;
            proxy_pass {application};
        }}
    }}
}}
"""


def nginx_program():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


class FrontDoor:
    """nginx on 127.0.0.1:port in front of `application`, asking `portal` (base URLs)."""

    def __init__(self, folder, portal, application, port=None, program=None):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.portal, self.application = portal, application
        self.program = program or nginx_program()
        self.process = None

    def config_text(self):
        return CONFIG.format(folder=self.folder, host=HOST, port=self.port, portal=self.portal,
                             application=self.application)

    def start(self, timeout=15):
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "nginx.conf"
        config.write_text(self.config_text())
        command = [self.program, "-p", str(self.folder), "-c", str(config), "-e", str(self.folder / "error.log")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused its configuration:\n{check.stderr}")
        with (self.folder / "nginx.out").open("ab") as out:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited ({self.process.returncode}):\n{self.log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.url} within {timeout} s:\n{self.log()}")

    def stop(self, timeout=10):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the master and its workers
            self.process.wait()

    def log(self):
        try:
            return (self.folder / "error.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
