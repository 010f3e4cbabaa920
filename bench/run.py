#!/usr/bin/env python3
"""`make bench`: load-test the portal against two bare references and write BENCHMARKS.md.

    .venv/bin/python bench/run.py [--smoke] [--output FILE] [--keep]

One run serves, each with gunicorn and the project's gunicorn.conf.py (2 workers, on
127.0.0.1 only):

- the portal (tests/live_app.py on the production Config, its instance folder in a temporary
  directory, with the benchmark's /bench/post-floor route) in production settings:
  PORTAL_ENV=production, a random SECRET_KEY, BCRYPT_ROUNDS=12, a SQLite file, rate limits on
  with memory:// storage, no MAIL_SERVER; it is started four times with a few settings changed
  per group of cases (see cases.PHASES);
- a bare Flask app rendering a small Jinja template (bench/reference_app.py:page_app);
- a bare endpoint doing one bcrypt check at cost 12 (bench/reference_app.py:bcrypt_app);

drives them with wrk (bench/stats.lua, bench/form.lua), checks every response is the one
the case is about, and writes the results, the machine, the exact commands and the
findings (bench/findings.md) to BENCHMARKS.md. --smoke runs the same code paths for about
a second per case and writes nothing unless --output is given.

Every server is started and stopped by the launcher the tests use (tests/live_server.py:
terminate, then kill; it dies with this script); wrk runs are bounded in time, Python loops
in count and time. Exit status: 0 when every case ran and measured what it should (missed
targets are reported, not failures), 1 otherwise, 2 when wrk is missing.

This file wires the parts, each a module of bench/ named after its job:
  servers.py  the portal and the references, started and stopped with the tests' launcher
  load.py     wrk runs and what they measure
  cases.py    the cases, measured phase by phase with their references
  targets.py  the targets, and each case's row against its reference
  report.py   BENCHMARKS.md
  journal.py  the commands, details and problems a run keeps for the report
"""
import argparse
import shutil
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# config.py and the portal at the root; the live-server launcher and the app it serves in
# tests/ (tests/live_server.py, tests/live_app.py), which the benchmark shares with the tests.
sys.path[1:1] = [str(ROOT), str(ROOT / "tests")]

from cases import Bench, Plan  # noqa: E402
from journal import BenchError, Journal  # noqa: E402
from report import report  # noqa: E402
from targets import evaluate  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a second per case, tiny counts; writes no file "
                                                             "unless --output is given")
    parser.add_argument("--output", type=Path, help="where to write the report (default BENCHMARKS.md, "
                                                    "none with --smoke)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs, database)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian/Ubuntu: apt-get install wrk).", file=sys.stderr)
        return 2
    output = args.output or (None if args.smoke else ROOT / "BENCHMARKS.md")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the servers are stopped (finally)
    tmp = Path(tempfile.mkdtemp(prefix="efactura-bench-"))
    bench = Bench(Plan.quick() if args.smoke else Plan.full(), tmp, Journal(tmp, ROOT))
    started = datetime.now(UTC)
    status = 0
    try:
        bench.run()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        bench.servers.stop_all()
        if args.keep:
            print(f"[bench] kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = evaluate(bench)
    text = report(bench, rows, started, datetime.now(UTC),
                  ["bench/run.py", *(["--smoke"] if args.smoke else []),
                   *(["--output", str(args.output)] if args.output else [])])
    for row in rows.values():
        verdict = "" if row.met is None else ("met" if row.met else "NOT MET")
        print(f"[bench] {row.label:<52} {row.result:<58} {row.p99:>10}  {row.target} {verdict}")
    if output:
        output.write_text(text, encoding="utf-8")
        print(f"[bench] wrote {output}")
    if bench.journal.problems:
        print(f"bench: {len(bench.journal.problems)} problem(s): the run did not measure what it should.",
              file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
