# hermes-dash — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HERMES_VENV := .venv-hermes
HERMES_PY := $(HERMES_VENV)/bin/python
PIP_QUIET := --quiet --disable-pip-version-check

.DEFAULT_GOAL := help
.PHONY: help dashboards generate lint demo venv hermes-venv wheel system-deps test test-fast test-rules test-hermes bench bench-store bench-overhead docs check-generated clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

HD := $(PY) -m hermes_dash.cli

dashboards: venv ## build dashboards/*.json (Grafana JSON) from the catalogue and config (env HERMES_DASH_CONFIG)
	$(HD) build --only dashboards

generate: venv ## build every generated file: dashboards/, rules/, deploy/ (config: env HERMES_DASH_CONFIG)
	$(HD) build

lint: venv system-deps ## hermes-dash lint: rule files and dashboards (PromQL, catalogue names, alert style, promtool)
	$(HD) lint rules dashboards

$(VENV)/.stamp: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -e '.[test]'
	@touch $@

venv: $(VENV)/.stamp ## create .venv with hermes-dash and its test tools (re-run when pyproject changes)

$(HERMES_VENV)/.stamp: pyproject.toml
	@test -x $(HERMES_PY) || $(PYTHON) -m venv $(HERMES_VENV)
	$(HERMES_PY) -m pip install $(PIP_QUIET) -e '.[hermes]' pytest==9.2.0 opentelemetry-sdk==1.45.2
	@touch $@

hermes-venv: $(HERMES_VENV)/.stamp ## create .venv-hermes: the real hermes-agent 0.19.0 with this plugin installed

wheel: venv ## build dist/hermes_dash-<version>-py3-none-any.whl (the plugin, and the default dashboards, rules, deploy files)
	$(PY) -m pip wheel $(PIP_QUIET) --no-deps -w dist .

system-deps: ## install promtool/prometheus/alertmanager/victoria-metrics (Debian/Ubuntu, as root) when missing
	@bash scripts/system-deps.sh

test: venv hermes-venv system-deps ## install what is missing, then run every test (test-rules included)
	$(HD) lint rules dashboards
	$(PY) -m pytest -q tests
	$(HERMES_PY) -m pytest -q tests_hermes
	$(MAKE) --no-print-directory test-rules

test-fast: venv ## the tests in tests/ only (no hermes-agent venv; promtool still needed)
	$(PY) -m pytest -q tests

test-rules: venv system-deps ## promtool: hand-written, seed-defect and regression cases, >=300 generated scenarios (env HERMES_DASH_SCENARIOS), mutants
	promtool test rules rule_tests/*.yml rule_tests/seed_defects/*.yml $(wildcard rule_tests/regressions/*.yml)
	$(HD) scenarios --mutants

test-hermes: hermes-venv ## only the end-to-end tests with the real hermes-agent
	$(HERMES_PY) -m pytest -q tests_hermes

demo: venv system-deps ## simulated fleet + Prometheus + Alertmanager on 127.0.0.1 with the generated config (Ctrl-C stops)
	$(HD) demo $(DEMO_ARGS)

bench: venv hermes-venv system-deps ## run every benchmark under bench/ and print medians (bench_scale: about 15 minutes, bench_scale_out: about 12)
	$(PY) bench/bench_instrumentation.py
	$(PY) bench/bench_dashboards.py
	$(PY) bench/bench_scenarios.py
	$(PY) bench/bench_store.py
	$(HERMES_PY) bench/bench_overhead.py
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_scale_out.py

bench-store: venv ## the metrics directory over 1,000 one-shot runs, with and without hermes-dash serve (about 2 minutes)
	$(PY) bench/bench_store.py

bench-overhead: hermes-venv ## the plugin's cost per turn of a real `hermes -z`, against no plugin (about 4 minutes)
	$(HERMES_PY) bench/bench_overhead.py

docs: venv ## regenerate the generated tables of README.md and docs/*.md (metrics, alerts, recording rules)
	$(HD) docs --write

check-generated: venv ## fail when a committed generated file is stale
	$(HD) docs --check
	$(HD) build --check

clean: ## remove virtualenvs and caches
	rm -rf $(VENV) $(HERMES_VENV) .pytest_cache .hypothesis build dist *.egg-info
