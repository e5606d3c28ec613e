# Custodian: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/custodian
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint services venv bench clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py demo_admin
	@echo "Custodian is at http://127.0.0.1:8000/admin/ (Ctrl-C stops it)"
	$(PY) manage.py runserver 127.0.0.1:8000

services:
	@bash .ci/services.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) services lint
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest

bench: $(STAMP) services
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/import_bench.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/schema_bench.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
