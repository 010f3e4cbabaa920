"""A relying party nobody here wrote, against the live portal: Debian's Apache with
mod_auth_openidc (the `relying_party` fixture) signs a person in through the portal's
authorization code flow with PKCE and shows the claims it received. Walked here with a plain
HTTP client and a cookie jar; tests/browser/test_oidc_walk.py walks it in Chromium."""
import http.cookiejar
import re
import urllib.parse
import urllib.request
from itertools import count

import pytest

from helpers import PASSWORD, make_user

serials = count(1)


class Visitor:
    """A cookie jar that follows redirects, as a browser without JavaScript."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        # mod_auth_openidc sends only a browser (one that accepts HTML) to the provider; others get a 401
        self.opener.addheaders = [("Accept", "text/html")]

    def get(self, url):
        with self.opener.open(url, timeout=30) as response:
            return response.geturl(), response.read().decode()

    def post(self, url, fields):
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(urllib.request.Request(url, data=data), timeout=30) as response:
            return response.geturl(), response.read().decode()


@pytest.fixture
def account(relying_party):
    serial = next(serials)
    username = make_user(relying_party.app, f"RELY8003{serial:02d}AB1", PASSWORD, email=f"rp{serial}@prueba.example",
                         display_name="Cliente de la Aplicación")
    return username


def sign_in(visitor, relying_party, username):
    url, page = visitor.get(relying_party.rp.url + "/protegida/")
    assert url.startswith(relying_party.portal.url + "/?rd="), url
    target = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["rd"][0]
    assert target.startswith("/oidc/autorizar?") and "code_challenge_method=S256" in target
    assert 'id="login-form"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return visitor.post(relying_party.portal.url + "/entrar",
                        {"csrf_token": token, "username": username, "password": PASSWORD})


def test_mod_auth_openidc_signs_in_through_the_portal(relying_party, account):
    visitor = Visitor()
    url, page = sign_in(visitor, relying_party, account)
    assert url == relying_party.rp.url + "/protegida/", (url, relying_party.rp.log())
    shown = dict(re.findall(r'<td id="(OIDC_CLAIM_\w+)">([^<]*)</td>', page))
    assert shown["OIDC_CLAIM_preferred_username"] == account
    assert shown["OIDC_CLAIM_rfc"] == account and shown["OIDC_CLAIM_user_kind"] == "customer"
    assert shown["OIDC_CLAIM_iss"] == relying_party.portal.url
    assert shown["OIDC_CLAIM_sub"] != account
    assert re.search(r'<p id="remote-user">' + re.escape(account) + "</p>", page)


def test_logout_through_the_provider_signs_out_of_the_portal(relying_party, account):
    visitor = Visitor()
    sign_in(visitor, relying_party, account)
    url, page = visitor.get(relying_party.rp.url + f"/protegida/redirect_uri?logout={relying_party.rp.url}/adios")
    assert url == relying_party.rp.url + "/adios", (url, relying_party.rp.log())
    url, page = visitor.get(relying_party.portal.url + "/inicio")
    assert urllib.parse.urlsplit(url).path == "/"  # signed out of the portal too
    url, _ = visitor.get(relying_party.rp.url + "/protegida/")
    assert url.startswith(relying_party.portal.url + "/?rd=")  # and of the application
