# leadflow — the user-facing commands. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATE ?= 2026-11-22
DAG ?= leadflow_nightly
DEMO_LEADS ?= 2000
DEMO_DAYS ?= 120

export LEADFLOW_HOME := $(CURDIR)
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP := leadflow\..*
export GX_ANALYTICS_ENABLED := False
export AIRFLOW_CONN_LEADFLOW_WAREHOUSE ?= {"conn_type": "duckdb", "host": "$(CURDIR)/data/warehouse.duckdb"}

.PHONY: help venv airflow-init demo test test-fast dag lint bench lock clean

help:
	@echo "make demo   — install, generate sample data, run both DAGs for $(DATE), print a summary"
	@echo "make test   — install, then the whole test suite (DuckDB and PostgreSQL)"
	@echo "make dag DAG=<dag_id> DATE=<YYYY-MM-DD> — (re)run one DAG for one date"
	@echo "make lint | make bench | make lock"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

airflow-init: venv $(AIRFLOW_HOME)/airflow.db

$(AIRFLOW_HOME)/airflow.db:
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/migrate.log; exit 1)

demo: airflow-init
	rm -rf data/landing data/outbox data/warehouse.duckdb
	$(BIN)/leadflow generate --leads $(DEMO_LEADS) --days $(DEMO_DAYS) --seed 7 --end-date $(DATE) --out data/landing
	$(MAKE) --no-print-directory dag DAG=leadflow_nightly DATE=$(DATE)
	$(MAKE) --no-print-directory dag DAG=leadflow_nurture DATE=$(DATE)
	$(BIN)/leadflow summary --date $(DATE)

dag: airflow-init
	@echo "== $(DAG) for $(DATE)"
	$(BIN)/airflow dags test $(DAG) $(DATE) -c '{"as_of_date": "$(DATE)"}' > $(AIRFLOW_HOME)/last_dag_test.log 2>&1 \
		|| (tail -n 60 $(AIRFLOW_HOME)/last_dag_test.log; exit 1)
	@state=$$(grep "DagRun Finished" $(AIRFLOW_HOME)/last_dag_test.log | grep -o "state=[a-z_]*" | tail -n 1); \
		echo "   $(DAG) $(DATE): $${state:-state=unknown} (log: $(AIRFLOW_HOME)/last_dag_test.log)"; \
		test "$$state" = "state=success" || (grep -E "\[error|Traceback|Error:" $(AIRFLOW_HOME)/last_dag_test.log | tail -n 20; exit 1)

test: airflow-init
	$(BIN)/python -m pytest -q

test-fast: airflow-init
	$(BIN)/python -m pytest -q -m "not slow"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: airflow-init
	$(BIN)/leadflow bench

lock:
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --no-header -o requirements.txt

clean:
	rm -rf data .airflow $(VENV)
