# The two commands a newcomer needs: `make lab` and `make test`. Both set everything up.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PY_COLORS := 1

.PHONY: setup lab lab-down lint test test-preflight test-molecule bench

setup:
	bash scripts/setup.sh

## Deploy the example app to the local container lab and show it answering.
lab: setup
	ansible-playbook playbooks/lab.yml

lab-down:
	-docker rm -f $$(ansible-inventory --list | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["_meta"]["hostvars"]))')
	-docker network rm fastapi_gunicorn_lab

lint: setup
	yamllint -s .
	ansible-lint --profile production

test-preflight: setup
	pytest -v -p no:cacheprovider tests/

test-molecule: setup
	molecule test --all

## Every test: lint, static and bad-input tests, then each molecule scenario.
test: lint test-preflight test-molecule

## Zero-downtime benchmark: every change path and two baselines under load (table + docs/benchmark.png).
bench: setup
	molecule create -s zero_downtime
	molecule converge -s zero_downtime
	cd tests && python benchmark.py; status=$$?; cd .. && molecule destroy -s zero_downtime; exit $$status
