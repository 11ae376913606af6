# The project's commands. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STACK := $(PY) stack/stackctl.py
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: setup stack-setup stack-up stack-down stack-status test test-unit lint demo bench clean

$(VENV)/.installed: pyproject.toml
	@command -v krb5-config >/dev/null || { echo "installing libkrb5-dev (needed to build gssapi/krb5 for the hdfs provider)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libkrb5-dev; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq libkrb5-dev; fi; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip wheel
	$(PY) -m pip install -q -e '.[test]' 'apache-airflow==3.3.2'
	@touch $@

setup: $(VENV)/.installed stack-setup ## venv, pip packages, libkrb5-dev, Maven jars

stack-setup: $(VENV)/.installed
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

# The whole suite against the real stack; the stack is stopped even when tests fail.
test: setup
	$(STACK) up || { $(STACK) down; exit 1; }
	$(PY) -m pytest tests -q; rc=$$?; $(STACK) down; exit $$rc

demo: setup ## the 23:59:59 story on the real stack
	$(STACK) up
	$(PY) stack/demo.py

bench: setup
	$(STACK) up
	$(PY) benchmarks/run.py; rc=$$?; $(STACK) down; exit $$rc

clean: stack-down
	rm -rf .stack .airflow
