"""Static checks on the roles that ansible-lint does not make."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = [ROOT / "roles" / name for name in ("fastapi_gunicorn", "fastapi_gunicorn_haproxy", "fastapi_gunicorn_rollout")]
PLAYBOOKS = [ROOT / "playbooks", ROOT / "molecule"]


def load(role, relative):
    return yaml.safe_load((role / relative).read_text(encoding="utf-8"))


def test_generated_docs_are_current():
    """defaults/main.yml and the roles' README tables are written from meta/argument_specs.yml, the README's
    benchmark tables from docs/*.txt."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "docs.py"), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"run `python scripts/docs.py`: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_entry_point_option_is_documented(role):
    options = load(role, "meta/argument_specs.yml")["argument_specs"]
    for entry, spec in options.items():
        assert spec.get("short_description"), entry
        for name, option in spec.get("options", {}).items():
            assert option.get("description") and "default" in option and option.get("type"), f"{entry}: {name}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_ansible_doc_shows_every_variable(role):
    """Users read the docs with ansible-doc, by the role's fully qualified name."""
    name = f"fastapi_gunicorn.deploy.{role.name}"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    result = subprocess.run(["ansible-doc", "-t", "role", "--json", name], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    shown = json.loads(result.stdout)[name]["entry_points"]
    specs = load(role, "meta/argument_specs.yml")["argument_specs"]
    assert sorted(shown) == sorted(specs)
    for entry, spec in specs.items():
        for option, option_spec in spec.get("options", {}).items():
            assert shown[entry]["options"][option]["description"], f"{entry}: {option}"
    defaults = load(role, "defaults/main.yml")
    assert sorted(shown["main"]["options"]) == sorted(defaults), "every default is documented, and nothing else"


PLUGINS = sorted((path, {"modules": "module"}.get(kind, kind))
                 for kind in ("modules", "lookup", "filter") for path in (ROOT / "plugins" / kind).glob("*.py"))


@pytest.mark.parametrize(("path", "kind"), PLUGINS, ids=lambda p: p.stem if isinstance(p, Path) else p)
def test_ansible_doc_shows_every_plugin(path, kind):
    """A plugin's documentation is YAML that ansible-doc renders: an unquoted colon in a description breaks it."""
    name = f"fastapi_gunicorn.deploy.{path.stem}"  # each file is named after its plugin
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    result = subprocess.run(["ansible-doc", "-t", kind, "--json", name], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "Unable to parse documentation" not in result.stderr, result.stderr
    doc = json.loads(result.stdout)[name]
    assert doc["doc"]["short_description"] and doc["doc"]["description"] and doc["examples"] and doc["return"], name


@pytest.mark.parametrize("role", ROLES + [ROOT / "roles" / "fastapi_gunicorn_common"], ids=lambda r: r.name)
def test_every_variable_is_prefixed(role):
    for relative in ("defaults/main.yml", "vars/main.yml"):
        for name in load(role, relative) if (role / relative).exists() else ():
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


def test_extra_settings_cannot_shadow_what_gunicorn_conf_defines():
    """Every top-level name gunicorn_conf.py.j2 imports, defines or assigns is refused as an extra setting:
    reserved in vars/main.yml, a server hook, or private (a leading '_' is not a setting name)."""
    template = (ROOT / "roles" / "fastapi_gunicorn" / "templates" / "gunicorn_conf.py.j2").read_text(encoding="utf-8")
    names = set()
    for line in template.splitlines():
        match = re.match(r"(?:import (\w+)|from [\w.]+ import (\w+)(?: as (\w+))?|def (\w+)|class (\w+)|(\w+) =)", line)
        if match:
            names.add([group for group in match.groups() if group][-1])
    vars_main = load(ROOT / "roles" / "fastapi_gunicorn", "vars/main.yml")
    refused = set(vars_main["_fastapi_gunicorn_reserved"]["settings"]) | set(vars_main["_fastapi_gunicorn_hooks"]["server"])
    assert len(names) > 10, names
    assert sorted(name for name in names if name not in refused and not name.startswith("_")) == []
