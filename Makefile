# leadflow — the user-facing commands. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATE ?= 2026-11-22
DAG ?= leadflow_nightly
DEMO_LEADS ?= 2000
DEMO_DAYS ?= 120
# the demo's earlier nights, a week apart (one CRM export each), so the report has history and a cohort to calibrate
DEMO_NIGHTS := $(shell for w in 5 4 3 2 1; do date -d "$(DATE) -$$((7 * w)) days" +%F; done)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# pytest-xdist: one worker per CPU (at most 4); `make test PYTEST_WORKERS=0` runs in one process. The
# Airflow `dags test` runs stay on one worker (xdist_group), each module with its own metadata database.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := $(if $(filter 0,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --maxprocesses 4 --dist loadgroup)

export LEADFLOW_HOME := $(CURDIR)
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP := leadflow\..*
export GX_ANALYTICS_ENABLED := False
export AIRFLOW_CONN_LEADFLOW_WAREHOUSE ?= {"conn_type": "duckdb", "host": "$(CURDIR)/data/warehouse.duckdb"}

.PHONY: help venv airflow-init browser demo test test-fast test-slow test-all dag lint bench bench-quick lock clean

help:
	@echo "make demo   — install, generate sample data, run both DAGs for $(DATE), print a summary"
	@echo "make test   — install, then every test not marked slow, on DuckDB and PostgreSQL (about 6 min on 2 cores)"
	@echo "make test-slow — the suites marked slow: whole Airflow runs, the report in Chromium, the native stack,"
	@echo "             the benchmark harness, the deep property runs (about 9 min; CI runs both)"
	@echo "make test-all — make test, then make test-slow: what .ci/run runs"
	@echo "make dag DAG=<dag_id> DATE=<YYYY-MM-DD> — (re)run one DAG for one date"
	@echo "make lint | make bench | make bench-quick | make lock"

venv: $(VENV)/.installed

# --compile-bytecode: every task, command and test is a fresh interpreter, and with PYTHONDONTWRITEBYTECODE
# set (as here and in the image) each would compile Great Expectations, Airflow and pandas from source again
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

airflow-init: venv $(AIRFLOW_HOME)/airflow.db

$(AIRFLOW_HOME)/airflow.db:
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/migrate.log; exit 1)

# headless Chromium for the report's browser tests (tests/report): Debian's package, installed where missing
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium fonts-ipafont-gothic; }

demo: airflow-init
	rm -rf data/landing data/outbox data/warehouse.duckdb data/reports
	$(BIN)/leadflow generate --leads $(DEMO_LEADS) --days $(DEMO_DAYS) --seed 7 --end-date $(DATE) \
		--daily-from $(firstword $(DEMO_NIGHTS)) --export-every 7 --out data/landing
	for night in $(DEMO_NIGHTS); do echo "== night $$night"; $(BIN)/leadflow run --date $$night > /dev/null || exit 1; done
	$(MAKE) --no-print-directory dag DAG=leadflow_nightly DATE=$(DATE)
	$(MAKE) --no-print-directory dag DAG=leadflow_nurture DATE=$(DATE)
	$(BIN)/leadflow summary --date $(DATE)
	@echo "report: data/reports/$(DATE)/index.html"

dag: airflow-init
	@echo "== $(DAG) for $(DATE)"
	LEADFLOW_DEADLINE_ALERTS=off $(BIN)/airflow dags test $(DAG) $(DATE) -c '{"as_of_date": "$(DATE)"}' \
		> $(AIRFLOW_HOME)/last_dag_test.log 2>&1 \
		|| (tail -n 60 $(AIRFLOW_HOME)/last_dag_test.log; exit 1)
	@state=$$(grep "DagRun Finished" $(AIRFLOW_HOME)/last_dag_test.log | grep -o "state=[a-z_]*" | tail -n 1); \
		echo "   $(DAG) $(DATE): $${state:-state=unknown} (log: $(AIRFLOW_HOME)/last_dag_test.log)"; \
		test "$$state" = "state=success" || (grep -E "\[error|Traceback|Error:" $(AIRFLOW_HOME)/last_dag_test.log | tail -n 20; exit 1)

# `make test` leaves out the suites marked slow (a test over ~20 s, or a module of whole runs); `make test-slow`
# runs just those, and CI (.ci/run) runs both, so every test still runs there.
test: airflow-init
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) -m "not slow"

# the same as `make test` now that it leaves out the slow suites; kept for scripts that call it
test-fast: test

test-slow: airflow-init browser
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) -m slow

test-all: test test-slow

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python tools/lint_sql.py

# issue 8's matrix: 100k and 1M leads x 20 and 50 events/lead, both backends, 10k and 100k emails (hours, ~70 GB
# of generated files under $TMPDIR); at 1M PostgreSQL starts from DuckDB's first night (--pg-seed copy)
bench: airflow-init
	$(BIN)/python -m benchmarks.bench --leads 100000 --events-per-lead 20,50 --repeat 3 --emails 10000,100000 --out BENCHMARKS.md
	$(BIN)/python -m benchmarks.bench --leads 1000000 --events-per-lead 20,50 --pg-seed copy --repeat 3 --emails 0 --out BENCHMARKS.md

bench-quick: airflow-init
	$(BIN)/python -m benchmarks.bench --leads 100000 --events-per-lead 20 --repeat 1 --emails 10000 --out BENCHMARKS.md

lock:
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --no-header -o requirements.txt
	sed -i "1i # Generated by \`make lock\` from requirements.in (uv pip compile, Python 3.11). Do not edit by hand." requirements.txt

clean:
	rm -rf data .airflow $(VENV)
