"""Debian's Apache httpd with mod_auth_openidc: a relying party nobody here wrote, configured
against the portal's discovery document, protecting a tiny page (tests only).

The page (/protegida/, a CGI script) shows the claims mod_auth_openidc passes to what it
protects (OIDC_CLAIM_* environment variables); /adios is the page the provider sends the
browser back to after logging out. Apache listens on 127.0.0.1, with everything it writes
(pid, logs, mutexes, the CGI socket) in a folder of its own, in the foreground as a child
process stopped by its pid.

Plain HTTP on loopback: mod_auth_openidc reads the discovery document over http when
OIDCProviderMetadataURL says http (OIDCSSLValidateServer only concerns https), and the
portal registers http redirect URIs only on loopback addresses. README.md ("Registering an
application") says what changes over TLS.
"""
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

from live_server import HOST, end, launch

from helpers import free_port

MODULES = Path("/usr/lib/apache2/modules")
NEEDED = ("mod_mpm_event.so", "mod_authz_core.so", "mod_authz_user.so", "mod_authn_core.so", "mod_auth_openidc.so",
          "mod_cgid.so", "mod_alias.so")

CONFIG = """\
ServerRoot "{folder}"
ServerName {host}
Listen {host}:{port}
PidFile {folder}/httpd.pid
DefaultRuntimeDir {folder}
Mutex file:{folder} default
ErrorLog {folder}/error.log
LogLevel warn auth_openidc:info
{user}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule alias_module {modules}/mod_alias.so
LoadModule cgid_module {modules}/mod_cgid.so
LoadModule auth_openidc_module {modules}/mod_auth_openidc.so
ScriptSock {pages}/cgid.sock
StartServers 1
ServerLimit 2
MaxRequestWorkers 32
ThreadsPerChild 16

OIDCProviderMetadataURL {portal}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI {url}/protegida/redirect_uri
OIDCCryptoPassphrase {passphrase}
OIDCPKCEMethod S256
OIDCScope "openid profile email"
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCPassClaimsAs environment
OIDCRemoteUserClaim preferred_username
OIDCDefaultLoggedOutURL {url}/adios
OIDCCacheType shm

ScriptAlias /protegida/ {pages}/claims.sh
ScriptAlias /adios {pages}/adios.sh
<Location /protegida/>
    AuthType openid-connect
    Require valid-user
</Location>
"""

# CGI scripts in sh: the user Apache serves as may not reach this Python.
CLAIMS_PAGE = """\
#!/bin/sh
escape() {{ printf '%s' "$1" | sed -e 's/&/\\&amp;/g' -e 's/</\\&lt;/g' -e 's/>/\\&gt;/g' -e 's/"/\\&quot;/g'; }}
printf 'Content-Type: text/html; charset=utf-8\\r\\n\\r\\n'
printf '<!doctype html><html lang="es"><head><meta charset="utf-8"><title>Protegida</title>'
printf '<link rel="icon" href="data:,"></head><body>'
printf '<h1>P&aacute;gina protegida</h1><p id="remote-user">%s</p><table>' "$(escape "$REMOTE_USER")"
env | grep '^OIDC_CLAIM_' | sort | while IFS='=' read -r name value; do
  printf '<tr><th>%s</th><td id="%s">%s</td></tr>' "$name" "$name" "$(escape "$value")"
done
printf '</table><p><a id="logout" href="%s">Salir</a></p></body></html>' '/protegida/redirect_uri?logout={logged_out}'
"""

LOGGED_OUT_PAGE = """\
#!/bin/sh
printf 'Content-Type: text/html; charset=utf-8\\r\\n\\r\\n'
printf '<!doctype html><html lang="es"><head><meta charset="utf-8"><title>Adios</title>'
printf '<link rel="icon" href="data:,"></head>'
printf '<body><h1 id="adios">Sesi&oacute;n cerrada</h1></body></html>'
"""


def apache_program():
    program = shutil.which("apache2") or ("/usr/sbin/apache2" if Path("/usr/sbin/apache2").exists() else None)
    if program is None or not all((MODULES / module).exists() for module in NEEDED):
        return None
    return program


def _user_line():
    """Apache started as root serves as www-data (it never serves as root)."""
    if os.geteuid() != 0:
        return ""
    for name in ("www-data", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return f"User {entry.pw_name}\nGroup #{entry.pw_gid}"
    return ""


class RelyingParty:
    """Apache with mod_auth_openidc on 127.0.0.1:port, a client of the portal at `portal`
    (its base URL) registered with client_id and client_secret."""

    def __init__(self, folder, portal, client_id, client_secret, port=None, program=None):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.redirect_uri = self.url + "/protegida/redirect_uri"
        self.logged_out_uri = self.url + "/adios"
        self.portal, self.client_id, self.client_secret = portal, client_id, client_secret
        self.program = program or apache_program()
        self.process = None
        self.pages = None

    def _write_pages(self):
        """The CGI scripts, in a folder the serving user can read (pytest's folders are private)."""
        self.pages = Path(tempfile.mkdtemp(prefix="relying-party-"))
        self.pages.chmod(0o755)
        for name, text in (("claims.sh", CLAIMS_PAGE), ("adios.sh", LOGGED_OUT_PAGE)):
            path = self.pages / name
            path.write_text(text.format(logged_out=urllib.parse.quote(self.logged_out_uri, safe="")))
            path.chmod(0o755)

    def config_text(self):
        return CONFIG.format(folder=self.folder, host=HOST, port=self.port, url=self.url, portal=self.portal,
                             client_id=self.client_id, client_secret=self.client_secret,
                             passphrase=secrets.token_urlsafe(32), pages=self.pages, modules=MODULES,
                             user=_user_line())

    def environment(self):
        return {**os.environ, "APACHE_RUN_DIR": str(self.folder), "APACHE_LOCK_DIR": str(self.folder),
                "APACHE_PID_FILE": str(self.folder / "httpd.pid"), "APACHE_LOG_DIR": str(self.folder)}

    def start(self, timeout=20):
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_pages()
        config = self.folder / "httpd.conf"
        config.write_text(self.config_text())
        command = [self.program, "-f", str(config), "-DFOREGROUND"]
        check = subprocess.run([self.program, "-f", str(config), "-t"], capture_output=True, text=True,
                               env=self.environment())
        if check.returncode != 0:
            raise RuntimeError(f"apache2 refused its configuration:\n{check.stderr}")
        try:
            self.process = launch("apache2", command, self.folder / "apache.out", self.environment(), self.port,
                                  self.log, timeout)
        except RuntimeError:
            self.stop()  # the pages go too
            raise
        return self

    def stop(self, timeout=10):
        end(self.process, signal.SIGTERM, timeout)  # the parent stops its children
        if self.pages is not None:
            shutil.rmtree(self.pages, ignore_errors=True)
            self.pages = None

    def log(self):
        try:
            return (self.folder / "error.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
