"""The portal as bench/run.py serves it: wsgi.py's app, with the instance folder (outbox,
schema lock) in the benchmark's temporary directory instead of the repository.

One route is added for the benchmark only, to measure the floor of a sign-in attempt:
/bench/post-floor does what every POST /entrar does before the sign-in rules run (the CSRF
check, the login rate limit, parsing the form) and nothing else."""
import os

from portal import create_app
from portal.extensions import limit, limiter
from portal.forms import LoginForm

app = create_app(instance_path=os.environ["BENCH_INSTANCE"])


@limiter.limit(limit("RATELIMIT_LOGIN"))
def post_floor():
    LoginForm().validate()
    return "floor"


app.add_url_rule("/bench/post-floor", view_func=post_floor, methods=["POST"])
