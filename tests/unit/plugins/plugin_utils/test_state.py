"""The plan, the files of a state and what a switch needs, as plain Python."""

from __future__ import annotations

import hashlib
import json

import pytest
from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def test_file_meta_of_every_key():
    keys = ["conf", "env", "service", "socket", "app-worker.service", "app-job.timer"]
    files = {f["key"]: f for f in state.state_files(keys, "app", "appgroup", "/etc/app")}
    assert files["conf"] == {"key": "conf", "name": "gunicorn_conf.py", "dest": "/etc/app/gunicorn_conf.py", "owner": "root",
                             "group": "appgroup", "mode": "0640", "secret": False, "template": "gunicorn_conf.py.j2"}
    assert (files["env"]["mode"], files["env"]["group"], files["env"]["secret"]) == ("0600", "root", True)
    assert files["socket"]["dest"] == "/etc/systemd/system/app.socket"
    assert files["app-worker.service"]["template"] == "companion.service.j2"
    assert files["app-job.timer"]["template"] == "companion.timer.j2" and files["app-job.timer"]["dest"] == "/etc/systemd/system/app-job.timer"
    with pytest.raises(ValueError):
        state.file_meta("../etc/passwd", "app", "g", "/etc/app")


def test_companion_units_fill_defaults_and_name_units():
    parts = state.companion_units([{"name": "worker", "command": ["celery"]},
                                   {"name": "job", "command": ["python"], "schedule": "daily", "stop_timeout": 5}], "app")
    assert parts["companions"][0] == {"name": "worker", "command": ["celery"], "schedule": "", "stop_timeout": 30}
    assert [u["key"] for u in parts["units"]] == ["app-worker.service", "app-job.service", "app-job.timer"]
    assert parts["started"] == ["app-worker.service", "app-job.timer"]


def test_venv_name_is_the_hash_of_interpreter_version_and_set():
    requirements = ["gunicorn==27.0.1", "fastapi==0.165.0"]
    expected = hashlib.sha256("\n".join(["/usr/bin/python3", "3.11.2 (main)"] + requirements).encode()).hexdigest()[:12]
    assert state.venv_name("/usr/bin/python3", "3.11.2 (main)", requirements) == expected
    assert state.venv_name("/usr/bin/python3", "3.13.0", requirements) != expected


FILES = state.state_files(["conf", "env", "service"], "app", "app", "/etc/app")
RENDERED = {"conf": "workers = 2\n", "env": 'TOKEN="x"\n', "service": "[Service]\nExecStart=/x/bin/gunicorn\n"}


def read(record=None, digests=None, drift=None, marker="", units=None):
    return {"files": {"record": json.dumps(record) if record is not None else "", "marker": marker}, "digests": digests or {},
            "drift": drift or {"install": [], "live": [], "units": []}, "secret_digest": "k" * 16, "globbed": {"units": units or {}}}


def plan(**kwargs):
    return state.plan("r1", "c0ffee", "/srv/app/venvs/v1", "/usr/bin/python3", RENDERED, "k" * 16, FILES, read(**kwargs),
                      "/srv/app/releases/r1", "/etc/app/states", "app")


def test_plan_of_a_fresh_host_lists_what_differs():
    fresh = plan()
    assert fresh["digests"] == {"conf": state.digest(RENDERED["conf"]), "env": "k" * 16, "service": state.digest(RENDERED["service"])}
    assert fresh["is_new"] and fresh["live"] == {} and fresh["history"] == [] and not fresh["converged"]
    assert fresh["release_free"] and not fresh["release_found"] and not fresh["preload"]
    assert "/etc/app/gunicorn_conf.py differs from the planned state" in fresh["drift"]["live"]
    assert fresh["drift"]["live"][-1] == "state %s (release r1) is not live; the live one is none (release none)" % fresh["state"]


def test_plan_of_a_converged_host_changes_nothing():
    first = plan()
    live = {"state": first["state"], "release": "r1", "venv": "/srv/app/venvs/v1", "digests": first["digests"]}
    found = {meta["dest"]: first["digests"][meta["key"]] for meta in FILES}
    converged = plan(record={"history": [live]}, digests=found, marker="c0ffee\n")
    assert converged["converged"] and not converged["is_new"] and converged["state"] == first["state"]
    assert converged["release_found"] and converged["release_free"]


def test_plan_notices_a_release_id_taken_by_other_code_and_a_preloading_live_state():
    other = plan(marker="beef\n", record={"history": [{"state": "s0", "release": "r0", "digests": {}}]},
                 units={"/etc/app/states/s0/app.service": "ExecStart=/v/bin/gunicorn --config x --preload\n"})
    assert not other["release_free"] and other["live"]["preload"] and other["live"]["state"] == "s0"


def test_plan_state_id_changes_with_each_input():
    base = plan()["state"]
    assert state.plan("r2", "c0ffee", "/srv/app/venvs/v1", "/usr/bin/python3", RENDERED, "k" * 16, FILES, read(), "/x", "/e", "app")["state"] != base
    changed = dict(RENDERED, conf="workers = 3\n")
    assert state.plan("r1", "c0ffee", "/srv/app/venvs/v1", "/usr/bin/python3", changed, "k" * 16, FILES, read(), "/x", "/e", "app")["state"] != base


def test_record_history_refuses_a_history_that_is_not_a_list():
    with pytest.raises(ValueError):
        state.record_history(read(record={"history": "no"}), "/etc/app/states", "app")
    with pytest.raises(ValueError):
        state.record_history({"files": {"record": "{not json"}}, "/etc/app/states", "app")


LIVE = {"release": "r1", "digests": {"conf": "a", "env": "b", "service": "c", "socket": "d", "app-worker.service": "w"}}


def actions(changes=None, drop=(), release="r1", changed_keys=(), link=False, preload=False):
    digests = {k: v for k, v in dict(LIVE["digests"], **(changes or {})).items() if k not in drop}
    return state.switch_actions(LIVE, {"release": release, "digests": digests, "preload": preload}, list(changed_keys), link)


@pytest.mark.parametrize("case,expected", [
    ({"changes": {"conf": "A"}}, {"reload": True, "restart": False, "daemon_reload": False}),
    ({"release": "r2"}, {"reload": True, "restart": False}),
    ({"link": True}, {"reload": True, "restart": False}),
    ({"changed_keys": ["conf"]}, {"reload": True, "restart": False}),
    ({"release": "r2", "preload": True}, {"reload": True, "restart": True}),
    ({"changes": {"env": "B"}}, {"reload": False, "restart": True, "daemon_reload": False}),
    ({"changes": {"service": "C"}}, {"restart": True, "daemon_reload": True, "rebind": False}),
    ({"changes": {"socket": "D"}}, {"restart": True, "daemon_reload": True, "rebind": True}),
    ({"drop": ["socket"]}, {"restart": True, "unsocket": True, "rebind": False}),
    ({}, {"reload": False, "restart": False, "daemon_reload": False, "companions_restart": []}),
])
def test_switch_actions(case, expected):
    found = actions(**case)
    assert {key: found[key] for key in expected} == expected, found


def test_switch_actions_of_companions():
    found = actions(changes={"app-worker.service": "W2"})
    assert found["daemon_reload"] and found["companions_restart"] == ["app-worker.service"] and not found["restart"]
    removed = actions(drop=["app-worker.service"])
    assert removed["companions_removed"] == ["app-worker.service"] and removed["daemon_reload"]
    # The worker became a scheduled job: stopped now, its timer restarted, its own service not.
    to_job = actions(changes={"app-worker.service": "J", "app-worker.timer": "T"})
    assert to_job["companions_to_jobs"] == ["app-worker.service"] and to_job["companions_restart"] == ["app-worker.timer"]


def test_systemd_run_builds_the_argv_prefix():
    argv = state.systemd_run("app", "app", ["ProtectSystem=strict"], {"A": "1 2"}, "/srv/app/current")
    assert argv == ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec", "--uid=app", "--gid=app",
                    "--property=ProtectSystem=strict", "--setenv=A=1 2", "--working-directory=/srv/app/current", "--"]


def test_instance_dirs_of_other_services_only():
    records = {"/etc/ansible/facts.d/a.fact": json.dumps({"fastapi_gunicorn": {"service": "a", "base_dir": "/srv/a", "config_dir": "/etc/a"}}),
               "/etc/ansible/facts.d/me.fact": json.dumps({"fastapi_gunicorn": {"service": "me", "base_dir": "/srv/me", "config_dir": "/etc/me"}}),
               "/etc/ansible/facts.d/other.fact": "[section]\nini = not json\n",
               "/etc/ansible/facts.d/old.fact": json.dumps({"history": []})}
    assert state.instance_dirs(records, "me") == ["/srv/a", "/etc/a", "/var/lib/a", "/run/a", "/var/cache/fastapi_gunicorn/a"]
