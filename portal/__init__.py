"""e-Factura Acceso: the customer access portal (Flask application factory)."""
import logging
import os
import time

import jinja2
from flask import Flask, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.middleware.proxy_fix import ProxyFix

from config import DEFAULT_PASSWORD_PEPPER, DEFAULT_SECRET_KEY, MIN_KEY_BYTES, Config

from . import audit, content, outbox, rate_limits, return_target, sessions
from .extensions import csrf, db, limiter
from .extensions import mail as mail_extension
from .htmx import is_htmx, render

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def create_app(config_class=Config, instance_path=None, **overrides):
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.from_object(config_class)
    app.config.update(overrides)
    # No routing redirect for "//" (Werkzeug would build it from the request's Host header).
    app.url_map.merge_slashes = False
    os.makedirs(app.instance_path, exist_ok=True)
    from .database import engine_url

    url = app.config.get("SQLALCHEMY_DATABASE_URI") or "sqlite:///" + os.path.join(app.instance_path, "portal.db")
    app.config["SQLALCHEMY_DATABASE_URI"] = engine_url(url)
    if url.startswith("sqlite"):  # writers queue for the lock instead of failing after 5 s
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **options, "connect_args": {"timeout": 30, **options.get("connect_args", {})}}
    _refuse_unsafe_settings(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    audit.configure_logging()
    audit.init_app(app)

    if app.config["TRUSTED_PROXIES"] > 0:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)

    app.jinja_loader = jinja2.ChoiceLoader([
        app.jinja_loader,
        jinja2.PrefixLoader({"partials": jinja2.FileSystemLoader(os.path.join(app.root_path, "partials"))}),
    ])
    app.jinja_env.globals.update(content=content.load, brand=content.brand, support=content.support,
                                  is_htmx=is_htmx)
    app.jinja_env.filters.update(fecha=content.display_date)

    db.init_app(app)
    csrf.init_app(app)
    rate_limits.init_app(app)
    mail_extension.init_app(app)

    from . import chrome, coded_link, database, oidc, staff, support
    chrome.init_app(app)
    database.init_app(app)
    support.init_app(app)
    staff.init_app(app)
    oidc.init_app(app)
    outbox.init_app(app, producers=(coded_link.process_reminders,))

    from .views import access, account, brand, captcha, email_confirmation, health, password_change, recovery
    from .views import oidc as oidc_views
    app.register_blueprint(health.bp)
    app.register_blueprint(access.bp)
    app.register_blueprint(brand.bp)
    app.register_blueprint(captcha.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(email_confirmation.bp)
    app.register_blueprint(recovery.bp)
    app.register_blueprint(password_change.bp)
    from .views import console_admin, console_auth, console_customers
    app.register_blueprint(console_auth.bp)
    app.register_blueprint(console_customers.bp)
    app.register_blueprint(console_admin.bp)
    app.register_blueprint(oidc_views.bp)
    from .views import forward_auth  # the reverse proxy's question: who is signed in
    app.register_blueprint(forward_auth.bp)
    if app.config.get("PORTAL_ENV") == "development" or app.config.get("TESTING"):
        from .views import gallery  # designers' gallery of fragments: never in production
        app.register_blueprint(gallery.bp)

    sessions.init_app(app)
    # A form posted without JavaScript may be answered with a redirect to a return target.
    sources = return_target.form_action_sources(app.config.get("ALLOWED_RETURN_HOSTS"))
    app.extensions["portal.csp"] = CSP.replace("form-action 'self'", " ".join(["form-action 'self'", *sources]))
    app.after_request(_security_headers)
    _error_handlers(app)
    return app


def _refuse_unsafe_settings(app):
    """Outside development (and the tests), no start with a guessable or missing key."""
    config = app.config
    if config["PORTAL_ENV"] == "development" and not config["PASSWORD_PEPPER"]:
        config["PASSWORD_PEPPER"] = DEFAULT_PASSWORD_PEPPER
    if config.get("CAPTCHA_TEST_ANSWER") and not config.get("TESTING"):
        raise RuntimeError("CAPTCHA_TEST_ANSWER is only for automated tests (TESTING); unset it.")
    if config["PORTAL_ENV"] == "development" or config.get("TESTING"):
        return
    for name, default in (("SECRET_KEY", DEFAULT_SECRET_KEY), ("PASSWORD_PEPPER", DEFAULT_PASSWORD_PEPPER)):
        value = config[name] or ""
        if value == default or len(value.encode()) < MIN_KEY_BYTES:
            raise RuntimeError(f"{name} must be a secret of at least {MIN_KEY_BYTES} bytes outside development "
                               f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))').")


SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                    ("X-Frame-Options", "DENY"), ("Cross-Origin-Opener-Policy", "same-origin"),
                    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()")]


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.extensions["portal.csp"])
    headers.extend(SECURITY_HEADERS)  # no view sets any of these
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")  # (the brand's files say how long they keep)
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _error_handlers(app):
    @app.errorhandler(CSRFError)
    def csrf_refused(error):
        return render("session-expired", status=400)

    @app.errorhandler(429)
    def too_many(error):
        """The fragment for htmx; a plain request gets a small page with nothing to submit
        (error.html holds no form: no CSRF token, no session cookie)."""
        if is_htmx():
            response = render("rate-limited", status=429)
        else:
            response = app.make_response((render_template("error.html", status=429), 429))
            response.vary.add("HX-Request")
        breached = limiter.current_limit
        if breached is not None:
            response.headers["Retry-After"] = str(max(int(breached.reset_at - time.time()), 1))
        return response

    @app.errorhandler(404)
    def not_found(error):
        return render_template("error.html", status=404), 404

    @app.errorhandler(405)
    def not_allowed(error):
        return render_template("error.html", status=405), 405

    @app.errorhandler(413)
    def too_large(error):
        return render_template("error.html", status=413), 413

    @app.errorhandler(DBAPIError)
    def database_unavailable(error):
        """The database is locked or gone for a moment: nothing was half-written (the
        transaction rolls back), but a sign-in attempt counted before it went away stays
        counted, and the page says so; the user is asked to try again."""
        db.session.rollback()
        app.logger.error("database unavailable: %s", type(error.orig).__name__ if error.orig else error)
        response = render("service-unavailable", status=503, attempt_counted=g.get("attempt_counted", False))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_template("error.html", status=500), 500
