# The README's two commands are `make demo` and `make test`; everything else here serves them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup lab-build test unit sanity lint integration demo demo-down build clean

setup: $(VENV)/.done
$(VENV)/.done: requirements.txt requirements-dev.txt requirements.yml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

lab-build: setup
	$(PY) -m lab build
	$(PY) -m lab.prometheus build
	$(PY) -m lab crds >/dev/null

test: setup unit sanity lint integration

unit: setup
	$(PY) -m pytest -q tests/unit

sanity: setup
	bash scripts/sanity.sh

lint: setup
	$(VENV)/bin/ansible-lint --offline --profile production

integration: lab-build
	$(PY) -m lab sandbox -- $(PY) -m pytest -q tests/integration

demo: lab-build
	bash scripts/demo.sh

demo-down: setup
	$(PY) -m lab down

build: setup
	$(VENV)/bin/ansible-galaxy collection build --force --output-path dist .

clean:
	rm -rf dist tests/output .pytest_cache
