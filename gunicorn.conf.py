"""gunicorn settings for e-Factura Acceso (`make serve`, or `gunicorn -c gunicorn.conf.py wsgi:app`)."""
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# Sign-in time is bcrypt time (CPU): about two workers a core keeps the cores busy.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, with jitter so they do not all restart together.
max_requests = 100000
max_requests_jitter = 10000
accesslog = "-"
errorlog = "-"
# The request's method, path and protocol, never its query string: a coded link's code (and
# whatever else an address carries) stays out of the log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
# Only the proxy in front may set X-Forwarded-Proto; client addresses: TRUSTED_PROXIES.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
