"""What the load tests share: app variants, a throwaway inventory, playbook runs, and the load
generator (tests/loadgen.py) started inside a container and stopped after an action.

Used by the single-host change paths (changepaths.py) and the fleet rollouts (fleet.py), their
molecule tests and their benchmarks.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_APP = ROOT / "roles" / "fastapi_gunicorn" / "files" / "example_app"
VERSIONS = {"v1": "1.0.0", "v2": "2.0.0", "v3": "3.0.0"}
# What the tests load (Load's path unless one is given): every connection always has a request in
# flight, held by the app (both example apps honour ?delay_ms), so the hosts under load leave the 2
# cores to the plays. 30 ms on keep-alive connections; 20 ms with a new connection per request, so
# that new connections keep arriving (about 350 a second per host) through a reload or a restart.
# The benchmarks load /version unheld, as fast as the hosts answer.
TEST_LOAD_PATHS = {True: "/version?delay_ms=30", False: "/version?delay_ms=20"}


def docker_exec(container, *args, check=True):
    return subprocess.run(["docker", "exec", container, *args], check=check, capture_output=True, text=True)


# One reading of a service on a host (arguments: the service, its port), a value per line, in the
# order of HOST_FIELDS: the /version answer, the master's pid, its workers, where `current` points,
# the release directories, the record of healthy states, the unit's ExecStart, the live venv (from
# ExecStart) and the interpreter it runs. Each fails the reading when it cannot be read, but the
# workers (none) and the record (none yet).
HOST_READ = r"""
version=$(curl -sS "http://127.0.0.1:$2/version"); echo "$version"
main=$(systemctl show --property MainPID --value "$1.service"); echo "$main"
{ pgrep --parent "$main" || true; } | tr '\n' ' '; echo
readlink "/srv/$1/current"
releases=$(ls "/srv/$1/releases"); printf '%s\n' "$releases" | tr '\n' ' '; echo
{ cat "/etc/ansible/facts.d/$1.fact" 2>/dev/null || true; } | tr -d '\n'; echo
start=$(systemctl show --property ExecStart --value "$1.service"); printf '%s\n' "$start" | tr -d '\n'; echo
venv=$(printf '%s\n' "$start" | grep -o "/srv/$1/venvs/[0-9a-f][0-9a-f]*" | head -n 1); test -n "$venv"; echo "$venv"
readlink -f "$venv/bin/python"
"""
HOST_FIELDS = ("version", "main_pid", "workers", "current", "release_dirs", "record", "exec_start", "venv", "python")


def read_host(container, service="fastapi_app", port=8000):
    """HOST_READ in one call into the container: its values by name, parsed."""
    lines = docker_exec(container, "sh", "-ec", HOST_READ, "read_host", service, str(port)).stdout.split("\n")
    read = dict(zip(HOST_FIELDS, lines))
    answer = json.loads(read["version"])
    return {**read, "version": answer["version"], "release": answer["release"], "workers": sorted(read["workers"].split()),
            "release_dirs": sorted(read["release_dirs"].split()), "history": json.loads(read["record"])["history"] if read["record"] else []}


def app_variants(workdir: Path) -> dict:
    """Example-app variants on the controller: v1 (the example app), v2, v3, broken ones, v1 with a
    hash-locked requirements.txt (tests/fixtures/hash_locked), intact and tampered with, v1 as a uv
    project with a uv.lock and no requirements.txt (tests/fixtures/uv_lock), and v1 with a constraints
    file that pins python-dotenv."""
    variants = {}
    for name in (*VERSIONS, "broken_import", "failing_health", "hash_locked", "tampered_lock", "uv_lock", "constrained"):
        target = workdir / name
        shutil.copytree(EXAMPLE_APP, target)
        variants[name] = str(target) + "/"
        if name in VERSIONS:
            (target / "VERSION").write_text(VERSIONS[name] + "\n", encoding="utf-8")
    lock = (ROOT / "tests" / "fixtures" / "hash_locked" / "requirements.txt").read_text(encoding="utf-8")
    (workdir / "hash_locked" / "requirements.txt").write_text(lock, encoding="utf-8")

    def other_digit(m):
        return "sha256:" + ("1" if m.group(1) == "0" else "0")

    # Every hash of fastapi changed: whichever file the installer fetches, it does not match.
    tampered = re.sub(r"(?m)^fastapi==.*\n(?:\s+--hash=sha256:.*\n)+", lambda m: re.sub(r"sha256:([0-9a-f])", other_digit, m.group(0)), lock)
    assert tampered != lock
    (workdir / "tampered_lock" / "requirements.txt").write_text(tampered, encoding="utf-8")
    (workdir / "constrained" / "constraints.txt").write_text("# the company's pins\npython-dotenv==1.0.1\n", encoding="utf-8")
    (workdir / "uv_lock" / "requirements.txt").unlink()
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / "tests" / "fixtures" / "uv_lock" / name, workdir / "uv_lock" / name)
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


def write_inventory(workdir: Path, groups: dict, group_vars: Path) -> Path:
    """An inventory directory: the given hosts per group, reached with docker exec, and group_vars
    linked from a directory of the repository (the scenario's or the lab's own)."""
    inventory = workdir / "inventory"
    inventory.mkdir()
    hosts = {"all": {"children": {g: {"hosts": {h: None for h in hs}} for g, hs in groups.items()},
                     "vars": {"ansible_connection": "community.docker.docker"}}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts), encoding="utf-8")
    (inventory / "group_vars").symlink_to(group_vars)
    return inventory


def playbook_command(inventory: Path | str, playbook: str, extra_vars: dict, limit: str | None = None, tags: str | None = None,
                     connection: str | None = None, check: bool = False):
    """inventory: a file, or "host," for one container (with connection community.docker.docker)."""
    command = ["ansible-playbook", "-i", str(inventory), "-e", json.dumps(extra_vars), str(ROOT / playbook)]
    if connection:
        command += ["-c", connection]
    if limit:
        command += ["--limit", limit]
    if tags:
        command += ["--tags", tags]
    if check:
        command += ["--check"]
    return command


PLAYBOOK_ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")


def run_playbook(inventory: Path | str, playbook: str, extra_vars: dict, limit: str | None = None, timeout=900, tags: str | None = None,
                 connection: str | None = None, env: dict | None = None, check: bool = False):
    command = playbook_command(inventory, playbook, extra_vars, limit, tags, connection, check)
    return subprocess.run(command, cwd=ROOT, env={**PLAYBOOK_ENV, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False)


class StreamedRun:
    """ansible-playbook in its own process group, its output read line by line with a timestamp
    (time.monotonic()), so a test can stop it at a given task or order two runs' events."""

    def __init__(self, inventory: Path, playbook: str, extra_vars: dict, stop_at: str | None = None):
        self.lines, self.stopped, self.stop_at = [], False, stop_at
        self.process = subprocess.Popen(
            playbook_command(inventory, playbook, extra_vars), cwd=ROOT, env=PLAYBOOK_ENV, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))
            if self.stop_at and not self.stopped and line.startswith(f"TASK [{self.stop_at}]"):
                # Interrupt the whole run at once, as a killed controller would: no rescue, no always.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.stopped = True

    def wait(self, timeout=900):
        self.process.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return self

    @property
    def returncode(self):
        return self.process.returncode

    @property
    def stdout(self):
        return "\n".join(line for _t, line in self.lines)

    def first(self, text):
        """When the first line containing text was printed (None if never)."""
        return next((t for t, line in self.lines if text in line), None)


class Load:
    """tests/loadgen.py inside `container`, against its own loopback, for the span of an action."""

    def __init__(self, container, port=8000, keepalive=True, concurrency=8, tls_ca=None, path=None, settle=1.0, name=None):
        """tls_ca: a PEM file in the container; the load then goes over TLS, verified against it.
        path: what each request asks for (TEST_LOAD_PATHS unless given).
        name: what during_all names its results by (the container unless given: two loads in one
        container need names of their own).
        settle: the seconds of load before and after the action. A test needs one, to see the load
        running before the change and to catch a failure just after it; a benchmark takes longer, for
        the steady state it compares the change window with."""
        self.container, self.port, self.keepalive, self.concurrency, self.tls_ca = container, port, keepalive, concurrency, tls_ca
        self.path, self.settle, self.name = path or TEST_LOAD_PATHS[keepalive], settle, name or container

    def during(self, action):
        """Start the load, wait `settle` s, run action(), wait `settle` s, stop; returns the results."""
        measured, result = during_all([self], action)
        return {**measured[self.name], "result": result}

    def start(self):
        # Copied on every run: the container may be made after this object (the fleet benchmark).
        subprocess.run(["docker", "cp", str(ROOT / "tests" / "loadgen.py"), f"{self.container}:/root/loadgen.py"], check=True)
        tag = uuid.uuid4().hex[:8]
        files = {"out": f"/tmp/load-{tag}.json", "samples": f"/tmp/load-{tag}.samples.json", "stop": f"/tmp/load-{tag}.stop"}
        command = ["python3", "/root/loadgen.py", "--port", str(self.port), "--duration", "900", "--stop-file", files["stop"],
                   "--out", files["out"], "--samples", files["samples"], "--concurrency", str(self.concurrency), "--path", self.path]
        if not self.keepalive:
            command.append("--no-keepalive")
        if self.tls_ca:
            command += ["--tls-ca", self.tls_ca]
        subprocess.run(["docker", "exec", "-d", self.container, *command], check=True)
        return files

    def finish(self, files, started, finished):
        docker_exec(self.container, "touch", files["stop"])
        summary = self._wait_for_json(files["out"])
        rows = json.loads(docker_exec(self.container, "cat", files["samples"]).stdout)
        docker_exec(self.container, "rm", "-f", *files.values())
        window = (started - summary["t0_monotonic"], finished - summary["t0_monotonic"])
        return {"load": summary, "samples": rows, "change_window": window}

    def _wait_for_json(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = docker_exec(self.container, "cat", path, check=False)
            if found.returncode == 0 and found.stdout.strip():
                return json.loads(found.stdout)
            time.sleep(0.1)
        raise AssertionError(f"the load generator wrote no summary to {path}")


def during_all(loads, action):
    """Several loads at once around one action: ({load's name: results}, action())."""
    assert len({load.name for load in loads}) == len(loads), "each load needs a name of its own"
    files = [load.start() for load in loads]
    settle = max(load.settle for load in loads)
    time.sleep(settle)
    # Containers share the kernel's monotonic clock, so these line up with the generators'.
    started = time.monotonic()
    result = action()
    finished = time.monotonic()
    time.sleep(settle)
    return {load.name: load.finish(f, started, finished) for load, f in zip(loads, files)}, result


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


def check_load(measured, report, minimum):
    """The load really ran through the action (more than `minimum` requests), and none failed."""
    assert measured["load"]["sent"] > minimum, report
    assert measured["load"]["failed"] == 0, report


def check_loads(measured, report, minimum):
    """check_load on each host's load ({container: results})."""
    for container, results in measured.items():
        check_load(results, f"{container}: load={results['load']}\n{report}", minimum)


def table(columns, rows):
    """A plain-text table: columns are (name, width) pairs."""
    lines = [" | ".join(name.ljust(width) for name, width in columns), "-|-".join("-" * width for _name, width in columns)]
    lines += [" | ".join(str(v).ljust(width) for v, (_name, width) in zip(row, columns)) for row in rows]
    return "\n".join(lines)
