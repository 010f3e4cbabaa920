"""Browser tests: the portal served by gunicorn, driven by a real Chromium (Playwright).

Fixtures
  live      session: the portal (tests/live_app.py) served by gunicorn on 127.0.0.1 through the
            launcher of tests/live_server.py, an SQLite file in a temporary folder, an
            aiosmtpd server that keeps every e-mail (helpers.Inbox), and a factory of accounts
  browser   session: Debian's Chromium through Playwright (no downloaded browser)
  portal    one test: a fresh browser context (desktop size) wrapped in PortalPage, which
            records console errors and CSP violations and fails the test on any of them
  no_js     one test: the same with JavaScript disabled

Chromium missing (or Playwright not installed): the tests are skipped, except under CI=true,
where they fail. CHROMIUM_PATH points to another Chromium binary.
"""
import itertools
import os
import re
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import live_app
import pytest
from live_server import LiveServer
from portal_steps import ANSWER, DESKTOP, PASSWORD, PHONE, QUESTION

from helpers import Inbox, free_port, smtp_server, text_of, unavailable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end test in a real Chromium (tests/browser)")


@pytest.hookimpl(tryfirst=True)  # before -m selects: `-m "not browser"` leaves these out
def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason):
    unavailable(f"browser tests cannot run: {reason}")


# The server

@dataclass
class Account:
    username: str
    password: str
    email: str
    question: str | None = None
    answer: str | None = None


class LivePortal(LiveServer):
    """The live server of the browser tests (TestConfig on an SQLite file, mail to the inbox, a
    one-minute failure lock so the lock can be watched ending), and accounts made through the
    same portal in this process, on the same database."""

    def __init__(self, folder, inbox):
        port = free_port()
        settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'portal.db'}", "MAIL_SERVER": "127.0.0.1",
                    "MAIL_PORT": inbox.port, "MAIL_USE_TLS": False, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                    "LOCKOUT_MINUTES": 1, "LOGIN_MAX_ATTEMPTS": 5}
        super().__init__(folder / "gunicorn.log", env=live_app.variables(folder / "instance", settings), port=port,
                         outbox=True)
        self.inbox = inbox
        self._serial = itertools.count(1)
        self.app = None

    def prepare(self):
        self.app = self.build_app()  # creates the schema before any worker starts
        self.active = self.account(name="María Gómez")
        self.inactive = self.account(name="Proveedora Inactiva", inactive=True)
        self.first_sign_in = self.account(name="Ana Primer Ingreso", question=None)

    def account(self, name="Cuenta de prueba", question=QUESTION, answer=ANSWER, inactive=False,
                prefix=""):
        """A new account with a user name of its own (a valid RFC), created as support would."""
        from portal import accounts, clock
        from portal.extensions import db

        serial = next(self._serial)
        username = f"{prefix}PRUE8001{serial // 100 % 28 + 1:02d}{serial % 100:02d}A"
        created = Account(username, PASSWORD, f"cuenta{serial}@prueba.example",
                          question, answer if question else None)
        with self.app.app_context():
            user = accounts.create_user(created.username, created.password, created.email, name=name,
                                        question=created.question, answer=created.answer)
            if inactive:
                now = clock.now()
                user.created_at = now - timedelta(days=400)
                user.last_login_at = now - timedelta(days=200)
                db.session.commit()
            db.session.remove()
        return created

    def stop(self):
        super().stop()
        if self.app is not None:
            from portal.extensions import db
            with self.app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(scope="session")
def inbox():
    with smtp_server(Inbox()) as inbox:
        yield inbox


@pytest.fixture(scope="session")
def live(tmp_path_factory, inbox):
    server = LivePortal(tmp_path_factory.mktemp("live"), inbox)
    try:
        server.prepare()
        server.start()
        yield server
    finally:
        server.stop()
    logs = ARTIFACTS / "gunicorn.log"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(server.log_path, logs)


# The browser

@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -r requirements-dev.txt)")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
    except Exception as error:  # a broken binary, missing libraries
        playwright.stop()
        _unavailable(f"Chromium at {CHROMIUM} does not start: {error}")
    yield browser
    browser.close()
    playwright.stop()


CSP_TEXT = "Content Security Policy"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


class PortalPage:
    """One browser context and page on the live portal, with what the tests check on every step."""

    def __init__(self, context, live, name):
        self.context = context
        self.live = live
        self.name = name
        self.page = context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.set_default_navigation_timeout(15_000)
        self.console_errors = []
        self.csp_violations = []
        self.page_errors = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.axe_runs = 0
        self.javascript = True

    def _console(self, message):
        text = message.text
        if CSP_TEXT in text:
            self.csp_violations.append(text)
        elif message.type == "error":
            self.console_errors.append(text)

    @property
    def url(self):
        return self.live.url

    def goto(self, path="/"):
        response = self.page.goto(self.url + path)
        return response

    # the checks

    def mark(self):
        """Mark the document: a full reload loses the mark, an htmx swap keeps it."""
        self.page.evaluate("window.__marker = 1")

    def assert_not_reloaded(self):
        assert self.page.evaluate("window.__marker") == 1, "the page reloaded instead of an htmx swap"

    def assert_clean(self):
        assert not self.csp_violations, f"CSP violations: {self.csp_violations}"
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.page_errors, f"uncaught errors in the page: {self.page_errors}"

    def focused(self):
        """id (or tag) of the element that has the focus."""
        return self.page.evaluate("document.activeElement && "
                                  "(document.activeElement.id || document.activeElement.tagName)")

    def axe(self, step):
        """axe-core on the whole page: no WCAG 2.1 A/AA violation."""
        from axe_playwright_python.sync_playwright import Axe

        # axe.run() never settles in a page without JavaScript: evaluate would wait forever.
        assert self.javascript, "axe needs JavaScript: check the same step in a JavaScript context"

        results = Axe().run(self.page, options={"runOnly": {"type": "tag", "values": AXE_TAGS},
                                                "resultTypes": ["violations"]})
        self.axe_runs += 1
        assert results.violations_count == 0, f"axe on {step}:\n{results.generate_report()}"

    def shot(self, step):
        """Full-page screenshots at desktop and phone size, into test-artifacts/screenshots/.

        caret="initial": Playwright's default caret hiding injects an inline <style>, which the
        page's CSP refuses (and reports on the console).
        """
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(viewport)
            self.page.screenshot(path=SCREENSHOTS / f"{step}-{label}.png", full_page=True, caret="initial")
            if self.javascript:  # nothing sticks out sideways, at either size
                overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{step} at {label} size is {overflow}px wider than the screen"
        self.page.set_viewport_size(size)

    def wait_for_mail(self, recipient, subject_contains=""):
        return self.live.inbox.wait_for_message(recipient, subject_contains)

    def coded_link(self, account):
        """The coded access link of the last reminder e-mailed to the account."""
        message = self.live.inbox.wait_for_message(account.email, "cambio de contraseña")
        links = re.findall(r"https?://\S+/request/codedAccess\?code=[\w-]+", text_of(message))
        assert links, text_of(message)
        return links[-1]


def _context(browser, **options):
    options = {"viewport": DESKTOP, "locale": "es-MX", "timezone_id": "America/Mexico_City", **options}
    return browser.new_context(**options)


@pytest.fixture
def make_portal(browser, request):
    """PortalPage factory, on the live portal of these tests or on `live` (anything with its url
    and inbox: a portal behind a proxy); keyword arguments go to browser.new_context(); each page
    is checked for console errors and CSP violations, and closed."""
    made = []

    def make(live=None, **options):
        live = live or request.getfixturevalue("live")
        wrapped = PortalPage(_context(browser, **options), live, request.node.name)
        wrapped.javascript = options.get("java_script_enabled", True)
        made.append(wrapped)
        return wrapped

    yield make
    try:
        for wrapped in made:
            wrapped.assert_clean()
    finally:
        for wrapped in made:
            wrapped.context.close()


@pytest.fixture
def portal(make_portal):
    return make_portal()


@pytest.fixture
def no_js(make_portal):
    return make_portal(java_script_enabled=False)
