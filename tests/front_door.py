"""Debian's nginx (and Caddy) as the front door of the application (tests only).

nginx: `auth_request` to the portal's /api/verificar, the Remote-* headers of its answer passed
on to the application (and none the client sent), a 401 turned into the redirect the portal
names (`error_page 401 =302`). Caddy: `forward_auth`, which passes the portal's 302 or 401 on
to the browser, after taking the client's Remote-* headers off.

The same configurations are shown in README.md ("Putting the portal in front of e-Factura").
Everything a proxy writes (pid, logs, temporary files, Caddy's data) stays in the folder it is
given; it runs in the foreground as a child process, stopped by its pid.
"""
import os
import shutil
import signal
import subprocess
from pathlib import Path

from live_server import HOST, end, launch

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


CADDYFILE = """\
{{
    admin off
    auto_https off
    storage file_system {folder}/data
}}
http://{host}:{port} {{
    bind {host}
    route {{
        # What a client sent under these names never reaches the application.
        request_header -Remote-User
        request_header -Remote-Name
        request_header -Remote-Email
        request_header -Remote-Groups
        request_header -Remote_User
        request_header -Remote_Name
        request_header -Remote_Email
        request_header -Remote_Groups
        forward_auth {portal} {{
            uri /api/verificar
            copy_headers Remote-User Remote-Name Remote-Email Remote-Groups
        }}
        reverse_proxy {application}
    }}
}}
"""


def nginx_program():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def caddy_program():
    return shutil.which("caddy")


class FrontDoor:
    """nginx on 127.0.0.1:port in front of `application`, asking `portal` (base URLs)."""

    name = "nginx"

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

    def commands(self):
        """(the command that checks the configuration, the one that runs the proxy)."""
        config = self.folder / "nginx.conf"
        config.write_text(self.config_text())
        command = [self.program, "-p", str(self.folder), "-c", str(config), "-e", str(self.folder / "error.log")]
        return [*command, "-t"], command

    def environment(self):
        return None

    def start(self, timeout=15):
        self.folder.mkdir(parents=True, exist_ok=True)
        check_command, command = self.commands()
        check = subprocess.run(check_command, capture_output=True, text=True, env=self.environment())
        if check.returncode != 0:
            raise RuntimeError(f"{self.name} refused its configuration:\n{check.stderr}{check.stdout}")
        self.process = launch(self.name, command, self.folder / "proxy.out", self.environment(), self.port, self.log,
                              timeout)
        return self

    def stop(self, timeout=10):
        end(self.process, signal.SIGQUIT if self.name == "nginx" else signal.SIGTERM, timeout)  # graceful

    def log(self):
        text = ""
        for name in ("error.log", "proxy.out"):
            try:
                text += (self.folder / name).read_text(errors="replace")[-4000:]
            except OSError:
                pass
        return text

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class CaddyDoor(FrontDoor):
    """Caddy on 127.0.0.1:port in front of `application`, asking `portal` with `forward_auth`."""

    name = "caddy"

    def __init__(self, folder, portal, application, port=None, program=None):
        super().__init__(folder, portal, application, port, program or caddy_program())

    def config_text(self):
        return CADDYFILE.format(folder=self.folder, host=HOST, port=self.port, portal=self.portal.split("://", 1)[1],
                                application=self.application.split("://", 1)[1])

    def commands(self):
        config = self.folder / "Caddyfile"
        config.write_text(self.config_text())
        return ([self.program, "validate", "--config", str(config), "--adapter", "caddyfile"],
                [self.program, "run", "--config", str(config), "--adapter", "caddyfile"])

    def environment(self):
        """Caddy's home, data and configuration folders in the test's folder."""
        folder = str(self.folder)
        return {**os.environ, "HOME": folder, "XDG_DATA_HOME": folder, "XDG_CONFIG_HOME": folder}
