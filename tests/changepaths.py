"""Change paths run under load: shared by the zero-downtime test and the benchmark.

Each path changes the service through the real role (playbook molecule/zero_downtime/change.yml)
or, for the baselines, through a raw systemctl command, while tests/loadgen.py runs inside the
same container against its loopback. The result holds the load summary, the play's outcome and
the state of the host before and after.
"""

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness import ROOT, Load, app_variants, docker_exec, run_playbook, write_inventory

SCENARIO = ROOT / "molecule" / "zero_downtime"
CONTAINER = "fastapi-gunicorn-zdt"
BASE = "/srv/fastapi_app"
# A plain layout, for the baselines: the uvicorn worker and no socket activation.
PLAIN_LAYOUT = {"fastapi_gunicorn_worker_class": "uvicorn_worker.UvicornWorker", "fastapi_gunicorn_socket_activation": False}


@dataclass
class ChangePath:
    name: str
    what: str  # the change, as the README's table names it
    change: dict = field(default_factory=dict)  # extra vars for change.yml
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
    ChangePath(
        "dependencies", "a new dependency (new venv, socket-held restart)",
        change={"fastapi_gunicorn_requirements": ["python-dotenv==1.0.1"]}, expect_new_master=True,
    ),
    ChangePath(
        "gunicorn_upgrade", "gunicorn 27.0.0 -> 27.0.1 (new venv, socket-held restart)",
        change={"fastapi_gunicorn_gunicorn_version": "27.0.1"}, expect_new_master=True,
    ),
    ChangePath(
        "unit", "unit file (daemon-reload, socket-held restart)",
        change={"fastapi_gunicorn_unit_extra_options": {"LimitNOFILE": 65536}}, expect_new_master=True,
    ),
    ChangePath("preload", "preload_app on (socket-held restart)", change={"fastapi_gunicorn_preload_app": True}, expect_new_master=True,
               restore=True),
    ChangePath(
        "rollback", "playbooks/rollback.yml back to the previous healthy state", playbook="playbooks/rollback.yml",
        setup={"app": "v2"}, expect_release="v1",
    ),
    ChangePath("broken_import", "a release that does not import: stopped before the switch", change={"app": "broken_import"}, expect_ok=False),
    ChangePath("failing_health", "a release failing its health gate: automatic rollback", change={"app": "failing_health"}, expect_ok=False),
    ChangePath(
        "failing_pip", "a dependency pip cannot install: stopped before the switch",
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


class Harness:
    def __init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="fastapi-gunicorn-zdt-"))
        self.apps = app_variants(self.workdir)
        # The scenario's own group_vars, so playbooks/rollback.yml sees the base state too.
        self.inventory = write_inventory(self.workdir, {"app": [CONTAINER]}, SCENARIO / "group_vars")
        self.load = {keepalive: Load(CONTAINER, keepalive=keepalive) for keepalive in (True, False)}

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def extra_vars(self, change=None):
        change = change or {}
        extra = {k: v for k, v in change.items() if k != "app"}
        extra["fastapi_gunicorn_app_src"] = self.apps[change.get("app", "v1")]
        return extra

    def play(self, change=None, playbook="molecule/zero_downtime/change.yml", tags=None):
        return run_playbook(self.inventory, playbook, self.extra_vars(change), timeout=600, tags=tags)

    def state(self, service="fastapi_app", port=8000):
        """What serves on the host: the release the workers answer with, the master and its workers,
        where `current` points and the record of healthy states (ids, newest first)."""
        version = json.loads(docker_exec(CONTAINER, "curl", "-sS", f"http://127.0.0.1:{port}/version").stdout)
        main_pid = docker_exec(CONTAINER, "systemctl", "show", "--property", "MainPID", "--value", f"{service}.service").stdout.strip()
        workers = sorted(docker_exec(CONTAINER, "pgrep", "--parent", main_pid, check=False).stdout.split())
        current = docker_exec(CONTAINER, "readlink", f"/srv/{service}/current").stdout.strip()
        record = docker_exec(CONTAINER, "cat", f"/etc/ansible/facts.d/{service}.fact", check=False).stdout
        history = json.loads(record)["history"] if record else []
        return {"version": version["version"], "release": version["release"], "main_pid": main_pid, "workers": workers,
                "current": current, "states": [h["state"] for h in history], "releases": [h["release"] for h in history]}

    def run(self, path: ChangePath, keepalive=True):
        """Apply one change under load; returns the measurements and the host state around it."""
        if path.setup is not None:
            setup = self.play(path.setup)
            assert setup.returncode == 0, setup.stdout[-3000:]
        before = self.state()
        if path.command:
            measured = self.load[keepalive].during(lambda: docker_exec(CONTAINER, "sh", "-c", path.command, check=False))
        else:
            measured = self.load[keepalive].during(lambda: self.play(path.change, path.playbook))
        result = measured.pop("result")
        after = self.state()
        restored = self.play() if path.restore else None
        return {
            **measured, "path": path, "keepalive": keepalive,
            "rc": result.returncode, "output": (result.stdout or "") + (result.stderr or ""),
            "before": before, "after": after,
            "restore_rc": restored.returncode if restored else 0,
            "restore_output": restored.stdout[-3000:] if restored else "",
        }
