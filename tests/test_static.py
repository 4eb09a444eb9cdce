"""Static checks on the role that ansible-lint does not make."""

import re
from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[1] / "roles" / "fastapi_gunicorn"


def load(relative):
    return yaml.safe_load((ROLE / relative).read_text(encoding="utf-8"))


def test_argument_specs_match_defaults():
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert list(options) == list(defaults), "same variables, same order"
    for name, spec in options.items():
        assert spec["default"] == defaults[name], name
        assert spec.get("description"), name


def test_every_variable_is_prefixed():
    for relative in ("defaults/main.yml", "vars/main.yml"):
        for name in load(relative):
            assert re.match(r"^_?fastapi_gunicorn_", name), f"{relative}: {name}"
    for path in ROLE.rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"^\s*register:\s*(\S+)", text, re.M):
            assert name.startswith("_fastapi_gunicorn_"), f"{path.name}: {name}"


def test_worker_class_choices_each_have_a_package_list():
    choices = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]["fastapi_gunicorn_worker_class"]["choices"]
    packages = load("vars/main.yml")["_fastapi_gunicorn_worker_packages"]
    assert sorted(choices) == sorted(packages)
