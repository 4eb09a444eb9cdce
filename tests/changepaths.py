"""Change paths run under load: shared by the zero-downtime test and the benchmark.

Each path changes the service through the real role (playbook molecule/zero_downtime/change.yml)
or, for the baselines, through a raw systemctl command, while tests/loadgen.py runs inside the
same container against its loopback. The result holds the load summary, the play's outcome and
the state of the host before and after.
"""

import json
import os

import yaml
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "molecule" / "zero_downtime"
EXAMPLE_APP = ROOT / "roles" / "fastapi_gunicorn" / "files" / "example_app"
CONTAINER = os.environ.get("FASTAPI_GUNICORN_ZDT_HOST", "fastapi-gunicorn-zdt")
BASE = "/srv/fastapi_app"
# The foundation's layout, for the baselines: the uvicorn worker and no socket activation.
FOUNDATION = {"fastapi_gunicorn_worker_class": "uvicorn_worker.UvicornWorker", "fastapi_gunicorn_socket_activation": False}


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
    restore: bool = True  # apply the base state again afterwards


def app_variants(workdir: Path) -> dict:
    """Example-app variants on the controller: v1, v2, and broken ones."""
    variants = {}
    for name in ("v1", "v2", "broken_import", "failing_health"):
        target = workdir / name
        shutil.copytree(EXAMPLE_APP, target)
        variants[name] = str(target) + "/"
    (workdir / "v2" / "VERSION").write_text("2.0.0\n", encoding="utf-8")
    main = workdir / "broken_import" / "main.py"
    main.write_text(main.read_text(encoding="utf-8") + "\nimport module_that_does_not_exist  # noqa\n", encoding="utf-8")
    main = workdir / "failing_health" / "main.py"
    main.write_text(
        main.read_text(encoding="utf-8").replace(
            'return {"status": "ok"}',
            'from fastapi.responses import JSONResponse\n    return JSONResponse({"status": "broken"}, status_code=503)',
        ),
        encoding="utf-8",
    )
    return variants


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
    ChangePath("preload", "preload_app on (socket-held restart)", change={"fastapi_gunicorn_preload_app": True}, expect_new_master=True),
    ChangePath(
        "rollback", "playbooks/rollback.yml back to the previous release", playbook="playbooks/rollback.yml",
        setup={"app": "v2"}, expect_release="v1", restore=False,
    ),
    ChangePath("broken_import", "a release that does not import: stopped before the switch", change={"app": "broken_import"}, expect_ok=False, restore=False),
    ChangePath("failing_health", "a release failing its health gate: automatic rollback", change={"app": "failing_health"}, expect_ok=False, restore=False),
    ChangePath(
        "failing_pip", "a dependency pip cannot install: stopped before the switch",
        change={"fastapi_gunicorn_requirements": ["fastapi-gunicorn-no-such-package==0.0.1"]}, expect_ok=False, restore=False,
    ),
]

BASELINES = [
    ChangePath("baseline_restart", "naive systemctl restart (foundation layout)", command="systemctl restart fastapi_app.service",
               setup=FOUNDATION, expect_new_master=True),
    ChangePath("baseline_hup", "plain HUP (foundation layout)", command="systemctl reload fastapi_app.service", setup=FOUNDATION),
]


def docker_exec(*args, check=True):
    return subprocess.run(["docker", "exec", CONTAINER, *args], check=check, capture_output=True, text=True)


class Harness:
    def __init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="fastapi-gunicorn-zdt-"))
        self.apps = app_variants(self.workdir)
        subprocess.run(["docker", "cp", str(ROOT / "tests" / "loadgen.py"), f"{CONTAINER}:/root/loadgen.py"], check=True)
        # The scenario's base variables as group vars of `app`, so playbooks/rollback.yml sees them too.
        base_vars = yaml.safe_load((SCENARIO / "group_vars" / "app.yml").read_text(encoding="utf-8"))
        self.inventory = self.workdir / "inventory.json"
        self.inventory.write_text(json.dumps({"app": {
            "hosts": {CONTAINER: {}}, "vars": {**base_vars, "ansible_connection": "community.docker.docker"}}}), encoding="utf-8")

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _extra_vars(self, change):
        extra = {k: v for k, v in change.items() if k != "app"}
        extra["fastapi_gunicorn_app_src"] = self.apps[change.get("app", "v1")]
        return extra

    def play(self, change=None, playbook="molecule/zero_downtime/change.yml"):
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        return subprocess.run(
            ["ansible-playbook", "-i", str(self.inventory), "-e", json.dumps(self._extra_vars(change or {})), str(ROOT / playbook)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )

    def state(self):
        version = json.loads(docker_exec("curl", "-sS", "http://127.0.0.1:8000/version").stdout)
        main_pid = docker_exec("systemctl", "show", "--property", "MainPID", "--value", "fastapi_app.service").stdout.strip()
        current = docker_exec("readlink", f"{BASE}/current").stdout.strip()
        return {"version": version["version"], "release": version["release"], "main_pid": main_pid, "current": current}

    def run(self, path: ChangePath, keepalive=True, concurrency=8, settle=2.0):
        """Apply one change under load; returns the measurements and the host state around it."""
        if path.setup is not None:
            setup = self.play(path.setup)
            assert setup.returncode == 0, setup.stdout[-3000:]
        before = self.state()
        tag = uuid.uuid4().hex[:8]
        out, samples, stop = f"/tmp/load-{tag}.json", f"/tmp/load-{tag}.samples.json", f"/tmp/load-{tag}.stop"
        load = ["python3", "/root/loadgen.py", "--duration", "400", "--stop-file", stop, "--out", out,
                "--samples", samples, "--concurrency", str(concurrency)]
        if not keepalive:
            load.append("--no-keepalive")
        subprocess.run(["docker", "exec", "-d", CONTAINER, *load], check=True)
        time.sleep(settle)
        started = self.monotonic()
        if path.command:
            result = docker_exec("sh", "-c", path.command, check=False)
        else:
            result = self.play(path.change, path.playbook)
        finished = self.monotonic()
        time.sleep(settle)
        docker_exec("touch", stop)
        summary = self._wait_for_json(out)
        rows = json.loads(docker_exec("cat", samples).stdout)
        docker_exec("rm", "-f", out, samples, stop)
        after = self.state()
        restored = self.play() if path.restore else None
        return {
            "path": path, "keepalive": keepalive, "load": summary, "samples": rows,
            "change_window": (started - summary["t0_monotonic"], finished - summary["t0_monotonic"]),
            "rc": result.returncode, "output": (result.stdout or "") + (result.stderr or ""),
            "before": before, "after": after,
            "restore_rc": restored.returncode if restored else 0,
            "restore_output": restored.stdout[-3000:] if restored else "",
        }

    def monotonic(self):
        # Containers share the kernel's monotonic clock, so these line up with the load generator's.
        return time.monotonic()

    def _wait_for_json(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = docker_exec("cat", path, check=False)
            if result.returncode == 0 and result.stdout.strip():
                return json.loads(result.stdout)
            time.sleep(0.5)
        raise AssertionError(f"the load generator wrote no summary to {path}")


def window_stats(result):
    """Throughput and latency inside the change window versus the steady state before it."""
    start, end = result["change_window"]
    rows = result["samples"]
    steady = [r for r in rows if r[0] < start]
    during = [r for r in rows if start <= r[0] <= end]
    steady_span = max(start - (steady[0][0] if steady else start), 1e-9)
    during_span = max(end - start, 1e-9)
    lat = sorted(r[1] for r in during)

    def pct(q):
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None

    return {
        "steady_rps": round(len(steady) / steady_span, 1),
        "during_rps": round(len(during) / during_span, 1),
        "during_p50_ms": pct(0.5),
        "during_p99_ms": pct(0.99),
        "during_max_ms": round(lat[-1], 1) if lat else None,
        "change_seconds": round(end - start, 1),
    }
