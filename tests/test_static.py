"""Static checks on the roles that ansible-lint does not make."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = [ROOT / "roles" / "fastapi_gunicorn", ROOT / "roles" / "fastapi_gunicorn_haproxy"]
PLAYBOOKS = [ROOT / "playbooks", ROOT / "molecule"]


def load(role, relative):
    return yaml.safe_load((role / relative).read_text(encoding="utf-8"))


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_argument_specs_match_defaults(role):
    defaults = load(role, "defaults/main.yml")
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert list(options) == list(defaults), "same variables, same order"
    for name, spec in options.items():
        assert spec["default"] == defaults[name], name
        assert spec.get("description"), name


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_variable_is_prefixed(role):
    for relative in ("defaults/main.yml", "vars/main.yml"):
        for name in load(role, relative):
            assert re.match(r"^_?fastapi_gunicorn_", name), f"{relative}: {name}"
    for path in [*role.rglob("*.yml"), *(p for d in PLAYBOOKS for p in d.rglob("*.yml"))]:
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"^\s*register:\s*(\S+)", text, re.M):
            assert name.startswith(("_fastapi_gunicorn_", "fastapi_gunicorn_")), f"{path.name}: {name}"


def test_worker_class_choices_each_have_a_package_list():
    role = ROLES[0]
    choices = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]["fastapi_gunicorn_worker_class"]["choices"]
    packages = load(role, "vars/main.yml")["_fastapi_gunicorn_worker_packages"]
    assert sorted(choices) == sorted(packages)
