# e-Factura Acceso. `make run` serves the portal on the embedded default; `make test` tests it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi

PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379

.PHONY: run serve test test-sqlite test-production mutate bench install install-dev clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

ESPEAK_CHECK = @command -v espeak-ng >/dev/null || echo "espeak-ng is missing: the CAPTCHA audio will answer 503 (apt-get install espeak-ng)."

# The development server and, beside it, the outbox worker that delivers the e-mail (to
# instance/outbox/ without a MAIL_SERVER); stopping the server stops the worker.
run: install
	$(ESPEAK_CHECK)
	PORTAL_ENV=development $(FLASK) db upgrade
	PORTAL_ENV=development $(FLASK) demo-seed
	PORTAL_ENV=development $(FLASK) outbox worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	PORTAL_ENV=development $(FLASK) run --host 127.0.0.1 --port 5000

serve: install
	@test -n "$$SECRET_KEY" || { echo "Set SECRET_KEY (and DATABASE_URL, RATELIMIT_STORAGE_URI, MAIL_SERVER...) first."; exit 1; }
	$(ESPEAK_CHECK)
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# The whole suite on the embedded default (SQLite, in-memory limits, browser included), then
# again on PostgreSQL + Redis with the multi-server and outage tests. Under CI=true a missing
# service fails the run; elsewhere that second pass is skipped with a message.
test: test-sqlite test-production

test-sqlite: install-dev
	$(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS)

test-production: install-dev
	@if $(BIN)/python tests/check_services.py; then \
	  TEST_DATABASE_URL=$(PG_URL) TEST_RATELIMIT_STORAGE_URI=$(REDIS_URL) \
	    $(BIN)/python -m pytest --ignore=tests/browser --ignore=tests/test_bench_smoke.py $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then echo "CI: PostgreSQL and Redis are required."; exit 1; \
	else echo "Skipping the PostgreSQL + Redis pass (start them to run it)."; fi

# Mutation testing of the security rules (mutmut, settings in setup.cfg; about an hour on one
# core): the rules are copied to mutants/, changed one small way at a time, and the fast tests
# that reach each change are run against it. One worker process (MUTATE_CHILDREN), so the
# machine stays usable. MUTATION.md holds the last scores and the judged survivors.
MUTATE_CHILDREN ?= 1
mutate: install-dev
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN) > mutants.log 2>&1 || { tail -c 3000 mutants.log; exit 1; }
	mv mutants.log mutants/run.log
	$(BIN)/mutmut results --all true > mutants/results.txt
	@awk -F': ' '{ sub(/^ +/, "", $$1); split($$1, name, "."); module = name[1] "." name[2]; \
	  total[module]++; count[module, $$2]++ } \
	  END { for (m in total) printf "%-20s %4d killed, %3d survived, %3d without a test, %3d not run, of %4d\n", \
	  m, count[m, "killed"], count[m, "survived"], count[m, "no tests"], count[m, "not checked"], total[m] }' \
	  mutants/results.txt | sort
	@grep -E ': survived$$' mutants/results.txt | sed 's/:.*//' | while read -r mutant; do \
	  $(BIN)/mutmut show "$$mutant"; done > mutants/survivors.txt
	@echo "Every mutant's verdict: mutants/results.txt; the survivors' diffs: mutants/survivors.txt."

# Load test on 127.0.0.1 (wrk, about 6 minutes): the portal against a bare Flask page and a bare
# bcrypt check; bench/run.py starts and stops every server itself and writes BENCHMARKS.md.
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache mutants
