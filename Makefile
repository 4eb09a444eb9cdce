# The two commands a newcomer needs: `make lab` and `make test`. Both set everything up.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PY_COLORS := 1

.PHONY: setup lab lab-rollout lab-rollout-db lab-load lab-down lint docs changelog test test-sanity test-units test-preflight test-molecule bench bench-fleet

# Runs a command and prints its time; the first that fails stops the run.
timed = start=$$(date +%s); $(1) || exit 1; echo "== $(2): passed in $$(( $$(date +%s) - start )) s"

setup:
	bash scripts/setup.sh

## Deploy the example app to the local container lab and show it answering.
lab: setup
	ansible-playbook playbooks/lab.yml

## Roll a new release (the example app with VERSION=$(VERSION)) across the lab, canary first.
VERSION ?= 2.0.0
lab-rollout: setup
	rm -rf .lab/app && mkdir -p .lab && cp -r roles/fastapi_gunicorn/files/example_app .lab/app && echo $(VERSION) > .lab/app/VERSION
	ansible-playbook playbooks/rolling_update.yml -e fastapi_gunicorn_app_src=$(CURDIR)/.lab/app/

## Roll the fullstack example (examples/fullstack, on the lab's PostgreSQL) across the lab: its prestart runs once, on the canary.
lab-rollout-db: setup
	ansible-playbook playbooks/rolling_update.yml -e @examples/fullstack/lab.yml

## Load the lab's HAProxy frontend with wrk for DURATION seconds (run it beside lab-rollout to watch a rollout).
DURATION ?= 10
lab-load: setup
	ansible-playbook playbooks/load_test.yml -e fastapi_gunicorn_load_duration=$(DURATION)

lab-down: setup
	ansible-playbook playbooks/lab_down.yml

lint: setup
	@$(call timed,yamllint -s . && ansible-lint --profile production,lint)

## Write the roles' defaults/main.yml and README variable tables from their meta/argument_specs.yml, and the
## README's benchmark tables from docs/*.txt.
docs: setup
	python scripts/docs.py

## The changelog (CHANGELOG.md) from changelogs/: add a fragment to changelogs/fragments/ with each change.
changelog: setup
	antsibull-changelog lint && antsibull-changelog generate

## ansible-test's sanity tests, and the plugins' unit tests (tests/unit/), on a copy of this checkout.
test-sanity: setup
	@$(call timed,scripts/ansible_test.sh sanity,sanity)

test-units: setup
	@$(call timed,scripts/ansible_test.sh units,units)

## The docs, the plugins through Ansible, and bad input against a container (tests/).
test-preflight: setup
	@$(call timed,pytest -v -p no:cacheprovider tests/ --ignore=tests/unit,pytest)

## Each scenario's `molecule test` in turn, with its time; the first that fails stops the run.
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
test-molecule: setup
	@for scenario in $(SCENARIOS); do \
	  start=$$(date +%s); \
	  molecule test -s $$scenario || exit 1; \
	  echo "== $$scenario: passed in $$(( $$(date +%s) - start )) s"; \
	done

## Every test: lint, sanity and unit tests, static and bad-input tests, and each molecule scenario
## (scripts/test.sh: the container-free parts beside the default scenario, then the load-tested ones).
test: setup
	bash scripts/test.sh

## Zero-downtime benchmark: every change path and two baselines under load (docs/benchmark.txt and .png,
## and the README's tables from them).
bench: setup
	molecule create -s zero_downtime
	molecule converge -s zero_downtime
	cd tests && python benchmark.py; status=$$?; cd .. && molecule destroy -s zero_downtime; exit $$status
	python scripts/docs.py

## Fleet benchmark: rollout and no-op time for 1, 5, 10 and 20 app hosts behind HAProxy (docs/fleet_benchmark.txt, docs/fleet_growth.png).
bench-fleet: setup
	cd tests && python fleet_benchmark.py
	python scripts/docs.py
