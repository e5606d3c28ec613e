# Custodian: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/custodian
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint services venv bench clean screenshots

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# make run: the demo data stores shop and warehouse share one local PostgreSQL database (schemas shop and
# analytics), created when PostgreSQL is reachable; set DEMO_DATABASE_URL (or CUSTODIAN_SHOP_URL and
# CUSTODIAN_WAREHOUSE_URL) to use another. Without PostgreSQL the server still starts.
DEMO_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/custodian_demo

run: export CUSTODIAN_SHOP_URL ?= $(DEMO_DATABASE_URL)
run: export CUSTODIAN_WAREHOUSE_URL ?= $(DEMO_DATABASE_URL)
run: $(STAMP)
	@bash .ci/services.sh || true
	@bash .ci/graphviz.sh || echo "No Graphviz: ER and lineage diagrams will show an error; the rest works."
	@$(PY) manage.py demo_database "$(DEMO_DATABASE_URL)"
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
	bash .ci/graphviz.sh
	bash .ci/chromium.sh
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest

bench: $(STAMP) services
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/import_bench.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/schema_bench.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/etl_bench.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/quality_bench.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/dashboard_bench.py

screenshots: $(STAMP) services
	bash .ci/chromium.sh
	bash .ci/graphviz.sh
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) tools/screenshots.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
