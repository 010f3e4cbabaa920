"""The portal as bench/run.py serves it: wsgi.py's app, with the instance folder (outbox,
schema lock) in the benchmark's temporary directory instead of the repository."""
import os

from portal import create_app

app = create_app(instance_path=os.environ["BENCH_INSTANCE"])
