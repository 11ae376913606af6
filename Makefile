# The project's commands. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STACK := $(PY) stack/stackctl.py
AIRFLOWCTL := $(PY) stack/airflowctl.py
# apt-get install the Debian packages named by $(1): as root directly, otherwise through sudo.
APT_INSTALL = if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(1); \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $(1); fi
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
# The supported Airflow range (pyproject.toml) is what CI tests: its newest in $(VENV) (make test), its oldest
# in a second venv (make test-oldest), with Airflow 3.0's web-stack pins (.ci/constraints-airflow-3.0.txt).
NEWEST_AIRFLOW := 3.3.2
OLDEST_AIRFLOW := 3.0.6
OLDEST_VENV    := .venv-oldest
# libkrb5-dev (krb5-config), needed to build gssapi/krb5 for the hdfs provider, when missing.
KRB5_DEV = command -v krb5-config >/dev/null || { echo "installing libkrb5-dev (needed to build gssapi/krb5 for the hdfs provider)"; \
	  $(call APT_INSTALL,libkrb5-dev); }

.PHONY: setup system-packages stack-setup stack-up stack-down stack-status test test-unit lint demo bench clean \
	dag-smoke test-oldest \
	airflow-up airflow-down test-live demo-live chromium

$(VENV)/.installed: pyproject.toml
	@$(KRB5_DEV)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip wheel
	$(PY) -m pip install -q -e '.[test,live,parquet]' 'apache-airflow==$(NEWEST_AIRFLOW)'
	@touch $@

# Built once and reused while pyproject.toml, the constraints and the version are unchanged.
$(OLDEST_VENV)/.installed-$(OLDEST_AIRFLOW): pyproject.toml .ci/constraints-airflow-3.0.txt
	@$(KRB5_DEV)
	@test -x $(OLDEST_VENV)/bin/python || python3 -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q -U pip wheel
	$(OLDEST_VENV)/bin/python -m pip install -q -e '.[test,parquet]' 'apache-airflow==$(OLDEST_AIRFLOW)' \
	  -c .ci/constraints-airflow-3.0.txt
	@rm -f $(OLDEST_VENV)/.installed-* && touch $@

setup: system-packages $(VENV)/.installed stack-setup ## venv, pip packages, libkrb5-dev, Java 17, Maven, Maven jars

system-packages: ## Java 17 and Maven (the stack's JVMs and its jars) from Debian's packages, when missing
	@need=""; command -v java >/dev/null || need="$$need openjdk-17-jdk-headless"; \
	  command -v mvn >/dev/null || need="$$need maven"; \
	  if [ -n "$$need" ]; then echo "installing$$need"; $(call APT_INSTALL,$$need); fi

stack-setup: system-packages $(VENV)/.installed
	$(STACK) setup

stack-up: setup ## start Kafka, HDFS and Flume on 127.0.0.1 and wait until ready
	$(STACK) up

stack-down: ## stop exactly the processes stack-up started
	@test -x $(PY) && $(STACK) down || true

stack-status:
	@$(STACK) status

lint: setup
	$(VENV)/bin/ruff check airflow_flume_provider tests dags stack benchmarks

test-unit: setup
	$(PY) -m pytest tests/unit -q

dag-smoke: setup ## `airflow dags test` of an example DAG (flume_replay_backfill, dry run: no stack) on the newest Airflow
	.ci/dag_smoke.sh $(VENV)

# The oldest supported Airflow: the unit suite (own test DB) and the same `airflow dags test`. No stack needed.
test-oldest: $(OLDEST_VENV)/.installed-$(OLDEST_AIRFLOW) ## unit suite + dag smoke on Airflow $(OLDEST_AIRFLOW)
	FLUME_TEST_AIRFLOW_HOME=$(CURDIR)/.airflow/tests-oldest $(OLDEST_VENV)/bin/python -m pytest tests/unit -q
	.ci/dag_smoke.sh $(OLDEST_VENV)

# The whole suite against the real stack; the stack is stopped even when tests fail.
test: setup
	$(STACK) up || { $(STACK) down; exit 1; }
	$(PY) -m pytest tests -q -m "not live"; rc=$$?; $(STACK) down; exit $$rc

demo: setup ## the 23:59:59 story on the real stack
	$(STACK) up
	$(PY) stack/demo.py

airflow-up: setup ## a real local Airflow on PostgreSQL: scheduler, triggerer, dag-processor, API server (UI)
	$(AIRFLOWCTL) up

airflow-down: ## stop exactly the processes airflow-up started
	@test -x $(PY) && $(AIRFLOWCTL) down || true

chromium: ## Debian's Chromium, for the live tests' UI checks, when missing
	@command -v chromium >/dev/null || { echo "installing chromium"; $(call APT_INSTALL,chromium); }

# The live tests: the example DAGs on the real stack and a real Airflow, the UI in headless Chromium.
# Both are stopped afterwards, even when tests fail.
test-live: setup chromium
	$(STACK) up || { $(STACK) down; exit 1; }
	$(AIRFLOWCTL) up || { $(AIRFLOWCTL) down; $(STACK) down; exit 1; }
	$(PY) -m pytest tests/live -m live -q; rc=$$?; $(AIRFLOWCTL) down; $(STACK) down; exit $$rc

demo-live: setup ## the 23:59:59 story on the live Airflow (left running: open the UI it prints)
	$(STACK) up
	$(AIRFLOWCTL) up
	$(PY) stack/demo_live.py

bench: setup
	$(STACK) up
	$(PY) benchmarks/run.py; rc=$$?; $(STACK) down; exit $$rc

clean: airflow-down stack-down
	rm -rf .stack .airflow $(OLDEST_VENV)
