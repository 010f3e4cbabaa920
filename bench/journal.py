"""What a benchmark run keeps besides its figures, for the report: every command it ran, as one
could type it again from the repository root; details worth reading beside the table; and
problems, where a case did not measure what it should (the run then exits with status 1)."""
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


class BenchError(Exception):
    """The run cannot go on (a server does not start, wrk fails): exit status 1, no report."""


@dataclass
class Journal:
    tmp: Path   # the run's temporary directory, written $BENCH_TMP in the commands
    root: Path  # the repository, written . in the commands
    commands: dict = field(default_factory=dict)  # command -> times run
    details: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    def record(self, command, env=None):
        env = dict(env or {})
        for secret in ("SECRET_KEY", "PASSWORD_PEPPER"):
            if secret in env:
                env[secret] = "<random>"
        words = [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())]
        words += [shlex.quote(str(part)) for part in command]
        line = " ".join(words).replace(str(self.tmp), "$BENCH_TMP").replace(str(self.root) + "/", "")
        line = line.replace(str(self.root), ".")
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:$PORT", line)
        line = re.sub(r"\bstart=\d+", "start=N", line)
        self.commands[line] = self.commands.get(line, 0) + 1

    def say(self, text):
        print(f"[bench] {text}", flush=True)

    def detail(self, text):
        self.details.append(text)

    def check(self, ok, problem):
        if not ok:
            self.problems.append(problem)
            self.say("PROBLEM: " + problem)
