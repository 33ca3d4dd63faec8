# Two commands do all the set-up: `make run` and `make test`. Both are idempotent.
SHELL := /bin/bash
SERVICES := web/bin/services.sh
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= demo
WORKERS ?= 3
SIMULATE ?= 1

.PHONY: run setup serve test bench stop lint migrate seed simulate

setup:
	@$(SERVICES) deps
	@$(SERVICES) venv
	@$(SERVICES) start
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py collectstatic --noinput -v0

run: setup
	@$(PY) manage.py seed_demo --scale $(SCALE) --if-empty
	@$(PY) manage.py demo_users
	@$(SERVICES) ingest
	@$(SERVICES) jobs
	@if [ "$(SIMULATE)" != 0 ]; then $(SERVICES) simulate; fi
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C stops the web server; 'make stop' stops the services)"
	@.venv/bin/gunicorn web.wsgi:application --bind $(HOST):$(PORT) --workers $(WORKERS) \
		--access-logfile - --timeout 120

test:
	@$(SERVICES) deps
	@$(SERVICES) venv
	@$(SERVICES) start
	@.venv/bin/pytest $(PYTEST_ARGS)

bench: setup
	@$(PY) -m bench $(BENCH_ARGS)

lint:
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@$(PY) manage.py makemigrations --check --dry-run

# Demo trackers: vehicles on the roads, equipment in buildings, sensors (see docs/tracking.md).
simulate:
	@$(PY) manage.py simulate_devices --company $(or $(COMPANY),LZCT) --devices 40 --rate 20 --duration $(or $(DURATION),600)

stop:
	@$(SERVICES) stop
