"""Change paths run under load: shared by the zero-downtime test and the benchmark.

Each path changes the service through the real role (playbook molecule/zero_downtime/change.yml)
or, for the baselines, through a raw systemctl command, on every host of the harness at once (the
scenario's Debian 12 and Debian 13 hosts; the benchmark uses one), while tests/loadgen.py runs
inside each container against its own loopback. The result holds the play's outcome and, per host,
the load summary and the state of the host before and after.
"""

import functools
import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness import ROOT, Load, app_variants, docker_exec, during_all, read_host, run_playbook, write_inventory

SCENARIO = ROOT / "molecule" / "zero_downtime"
# The scenario's hosts (molecule.yml): Debian 12, then Debian 13.
CONTAINERS = ["fastapi-gunicorn-zdt", "fastapi-gunicorn-zdt-debian13"]
BASE = "/srv/fastapi_app"
# A plain layout, for the baselines: the uvicorn worker and no socket activation.
PLAIN_LAYOUT = {"fastapi_gunicorn_worker_class": "uvicorn_worker.UvicornWorker", "fastapi_gunicorn_socket_activation": False}


# The test's own pre- and post-switch task files (tests/playbooks/hooks/).
SWITCH_TASKS = {"fastapi_gunicorn_pre_switch_tasks": str(ROOT / "tests" / "playbooks" / "hooks" / "pre_switch.yml"),
                "fastapi_gunicorn_post_switch_tasks": str(ROOT / "tests" / "playbooks" / "hooks" / "post_switch.yml")}


@dataclass
class ChangePath:
    name: str
    what: str  # the change, as the README's table names it
    change: dict = field(default_factory=dict)  # extra vars for change.yml ("app": a variant, "python": the test interpreter)
    playbook: str = "molecule/zero_downtime/change.yml"  # relative to the repository
    command: str = ""  # a raw command instead of a playbook (baselines)
    setup: dict | None = None  # applied without load before the change
    expect_ok: bool = True
    expect_release: str = "v1"  # app variant live afterwards
    expect_new_master: bool = False  # a restart, not a HUP
    # Apply the base state again afterwards. Each run applies the base state plus its own change, so
    # it reverts the previous path's change itself (another transition, under load too); a restore is
    # only needed where what is left would change the next path's action (preload turns HUPs into restarts).
    restore: bool = False


PATHS = [
    ChangePath("config", "gunicorn_conf.py values (HUP)", change={"fastapi_gunicorn_keepalive": 7}),
    ChangePath("code", "app code, same dependencies (switch, HUP)", change={"app": "v2"}, expect_release="v2"),
    # v2 again with a companion worker (started after the service's gate); the next path, which has
    # none, stops it and removes its unit.
    ChangePath("companions", "app code with a companion worker (switch, HUP, the worker restarted after the gate)",
               change={"app": "v2", "fastapi_gunicorn_companions": [{"name": "worker", "command": ["python", "-m", "worker"]}]},
               expect_release="v2"),
    # v3 with switch tasks, then two failures that must leave v3 live; the next path goes back to v1.
    ChangePath(
        "switch_tasks", "app code with pre- and post-switch tasks (a command as the service in the new release, a smoke test)",
        change={"app": "v3", **SWITCH_TASKS}, expect_release="v3",
    ),
    ChangePath("failing_pre_switch", "pre-switch tasks that fail: stopped before the switch",
               change={"app": "v2", **SWITCH_TASKS, "fastapi_gunicorn_test_refuse": True}, expect_ok=False,
               expect_release="v3"),
    ChangePath("failing_post_switch", "a post-switch smoke test that fails: automatic rollback",
               change={"app": "v2", **SWITCH_TASKS, "fastapi_gunicorn_test_expect_version": "0.0.0"}, expect_ok=False,
               expect_release="v3"),
    ChangePath(
        "dependencies", "a new dependency (new venv by uv, socket-held restart)",
        change={"fastapi_gunicorn_requirements": ["python-dotenv==1.0.1"]}, expect_new_master=True,
    ),
    ChangePath(
        "dependencies_pip", "a new dependency, pip as the installer (new venv, socket-held restart)",
        change={"fastapi_gunicorn_requirements": ["python-dotenv==1.0.0"], "fastapi_gunicorn_installer": "pip"}, expect_new_master=True,
    ),
    ChangePath(
        "constraints", "an unpinned dependency limited by the app's constraints file (new venv, socket-held restart)",
        change={"app": "constrained", "fastapi_gunicorn_app_constraints_file": "constraints.txt", "fastapi_gunicorn_requirements": ["python-dotenv"]},
        expect_new_master=True,
    ),
    ChangePath(
        "python", "a Python other than the system one: CPython 3.13 from an interpreter archive (new venv, socket-held restart)",
        change={"python": True}, expect_new_master=True,
    ),
    ChangePath(
        "gunicorn_upgrade", "gunicorn 27.0.0 -> 27.0.1 (new venv, socket-held restart)",
        change={"fastapi_gunicorn_gunicorn_version": "27.0.1"}, expect_new_master=True,
    ),
    ChangePath(
        "unit", "unit file (daemon-reload, socket-held restart)",
        change={"fastapi_gunicorn_unit_extra_options": {"LimitNPROC": 4096}}, expect_new_master=True,
    ),
    ChangePath("preload", "preload_app on (socket-held restart)", change={"fastapi_gunicorn_preload_app": True}, expect_new_master=True,
               restore=True),
    ChangePath(
        "rollback", "playbooks/rollback.yml back to the previous healthy state", playbook="playbooks/rollback.yml",
        setup={"app": "v2"}, expect_release="v1",
    ),
    ChangePath("hash_locked", "a hash-locked requirements.txt (new venv, --require-hashes, socket-held restart)",
               change={"app": "hash_locked"}, expect_new_master=True, restore=True),
    ChangePath("uv_lock", "a uv project: uv.lock exported on the controller (new venv, --require-hashes, socket-held restart)",
               change={"app": "uv_lock"}, expect_new_master=True, restore=True),
    ChangePath("tampered_lock", "a lock whose hash does not match the package: stopped before the switch",
               change={"app": "tampered_lock"}, expect_ok=False),
    ChangePath("broken_import", "a release that does not import: stopped before the switch", change={"app": "broken_import"}, expect_ok=False),
    ChangePath("failing_health", "a release failing its health gate: automatic rollback", change={"app": "failing_health"}, expect_ok=False),
    ChangePath(
        "failing_install", "a dependency the installer cannot install: stopped before the switch",
        change={"fastapi_gunicorn_requirements": ["fastapi-gunicorn-no-such-package==0.0.1"]}, expect_ok=False,
    ),
]

# What the change window costs with nothing to change: the playbook alone. On a small machine the
# controller, the container and the load generator share the cores, so throughput drops in every
# window; this row shows how much of that is Ansible itself rather than the reload or restart.
# The base state is applied first (setup), so the measured run has nothing to change whatever ran before.
CONTROLS = [ChangePath("no_change", "the same play with nothing to change (Ansible's own cost)", setup={})]

# The floor of the code path: a minimal play that is not the role (tests/playbooks/floor.yml). It
# leaves `current` outside the role's record, so the role's base state is applied again after it.
FLOOR = ChangePath("code_floor", "the floor: copy, import check, switch, HUP, probe (not the role)",
                   playbook="tests/playbooks/floor.yml", change={"app": "v3"}, expect_release="v3", restore=True)

BASELINES = [
    ChangePath("baseline_restart", "naive systemctl restart (plain layout)", command="systemctl restart fastapi_app.service",
               setup=PLAIN_LAYOUT, expect_new_master=True, restore=True),
    ChangePath("baseline_hup", "plain HUP (plain layout)", command="systemctl reload fastapi_app.service", setup=PLAIN_LAYOUT, restore=True),
]


@functools.cache
def python_archive():
    """The test interpreter (scripts/build_python.sh: CPython 3.13 from Debian's source, built once and
    cached), as the role's variables."""
    built = subprocess.run(["bash", str(ROOT / "scripts" / "build_python.sh")], capture_output=True, text=True, timeout=1200, check=False)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    path = Path(built.stdout.split()[-1])
    return {"fastapi_gunicorn_python_archive": str(path),
            "fastapi_gunicorn_python_archive_checksum": "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()}


class Harness:
    def __init__(self, containers=tuple(CONTAINERS), load_path=None, settle=1.0):
        self.containers = list(containers)
        self.workdir = Path(tempfile.mkdtemp(prefix="fastapi-gunicorn-zdt-"))
        self.apps = app_variants(self.workdir)
        # The scenario's own group_vars, so playbooks/rollback.yml sees the base state too.
        self.inventory = write_inventory(self.workdir, {"app": self.containers}, SCENARIO / "group_vars")
        self.loads = {keepalive: [Load(c, keepalive=keepalive, path=load_path, settle=settle) for c in self.containers] for keepalive in (True, False)}

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def new_release(self, name, base="v2"):
        """A copy of app `base` whose code no host has seen (a new release id), as app `name`."""
        path = self.workdir / name
        shutil.copytree(self.apps[base], path)
        with open(path / "main.py", "a", encoding="utf-8") as main:
            main.write(f"\n# release {name}\n")
        self.apps[name] = str(path) + "/"
        return name

    def extra_vars(self, change=None):
        change = change or {}
        extra = {k: v for k, v in change.items() if k not in ("app", "python")}
        extra["fastapi_gunicorn_app_src"] = self.apps[change.get("app", "v1")]
        if change.get("python"):
            extra.update(python_archive())
        return extra

    def play(self, change=None, playbook="molecule/zero_downtime/change.yml", tags=None, env=None, check=False):
        return run_playbook(self.inventory, playbook, self.extra_vars(change), timeout=600, tags=tags, env=env, check=check)

    def during(self, action, keepalive=True):
        """action() under load on every host: ({container: load results}, action's result)."""
        return during_all(self.loads[keepalive], action)

    def state(self, container, service="fastapi_app", port=8000):
        """What serves on the host: the release the workers answer with, the master and its workers,
        where `current` points, the record of healthy states (ids, newest first), the live venv and its interpreter."""
        read = read_host(container, service, port)
        return {**{key: read[key] for key in ("version", "release", "main_pid", "workers", "current", "venv", "python")},
                "states": [h["state"] for h in read["history"]], "releases": [h["release"] for h in read["history"]]}

    def live_venv(self, container, service="fastapi_app"):
        """The venv the unit starts gunicorn from."""
        return read_host(container, service)["venv"]

    def installer(self, container, service="fastapi_app"):
        """What built the live venv: uv writes its version into pyvenv.cfg, pip (python -m venv) does not."""
        venv = self.live_venv(container, service)
        return "uv" if re.search(r"^uv = ", docker_exec(container, "cat", f"{venv}/pyvenv.cfg").stdout, re.M) else "pip"

    def states(self, service="fastapi_app", port=8000):
        return {c: self.state(c, service, port) for c in self.containers}

    def run(self, path: ChangePath, keepalive=True):
        """Apply one change under load on every host; returns the play's outcome and, per host, the
        load results and the host's state before and after."""
        if path.setup is not None:
            setup = self.play(path.setup)
            assert setup.returncode == 0, setup.stdout[-3000:]
        before = self.states()
        if path.change.get("python"):
            python_archive()  # built (once) before the load starts, not inside the change's window
        if path.command:
            def action():
                return [docker_exec(c, "sh", "-c", path.command, check=False) for c in self.containers]
        else:
            def action():
                return self.play(path.change, path.playbook)
        measured, result = self.during(action, keepalive)
        after = self.states()
        restored = self.play() if path.restore else None
        if path.command:
            failed = [r for r in result if r.returncode != 0]
            result = failed[0] if failed else result[0]
        return {
            "path": path, "keepalive": keepalive,
            "hosts": {c: {**measured[c], "before": before[c], "after": after[c]} for c in self.containers},
            "rc": result.returncode, "output": (result.stdout or "") + (result.stderr or ""),
            "restore_rc": restored.returncode if restored else 0,
            "restore_output": restored.stdout[-3000:] if restored else "",
        }
