"""Verify the converged host: real systemd, real gunicorn, real HTTP."""

import ast
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import yaml

SERVICE = "fastapi_app.service"
BASE = "/srv/fastapi_app"
CONF = "/etc/fastapi_app/gunicorn_conf.py"
SOCKET = "/run/fastapi_app/gunicorn.sock"
WORKERS = 2  # molecule.yml sets fastapi_gunicorn_workers: 2
GROUP_VARS = yaml.safe_load((Path(__file__).parents[1] / "group_vars" / "app.yml").read_text(encoding="utf-8"))


def unit_property(host, name):
    return host.check_output(f"systemctl show --property {name} --value {SERVICE}")


def live_venv(host):
    """The venv the unit starts gunicorn from."""
    match = re.search(rf"{BASE}/venvs/[0-9a-f]+", unit_property(host, "ExecStart"))
    assert match, unit_property(host, "ExecStart")
    return match.group(0)


def main_pid(host):
    return int(unit_property(host, "MainPID"))


def worker_pids(host, master):
    out = host.run(f"pgrep --parent {master}").stdout.split()
    return sorted(int(pid) for pid in out)


def wait_for_workers(host, master, count, not_in=(), timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(host, master)
        if len(pids) == count and not set(pids) & set(not_in):
            return pids
        time.sleep(0.5)
    raise AssertionError(f"workers of {master} did not settle: {worker_pids(host, master)}")


def test_service_active_and_enabled(host):
    service = host.service(SERVICE)
    assert service.is_running
    assert service.is_enabled


def test_unit_properties(host):
    assert unit_property(host, "Type") == "notify"
    assert unit_property(host, "KillMode") == "mixed"
    assert unit_property(host, "Restart") == "on-failure"
    assert unit_property(host, "User") == "fastapi_app"
    assert "kill -s HUP $MAINPID" in unit_property(host, "ExecReload").replace("; ", " ")
    # graceful_timeout is 20 s in this scenario: systemd must wait longer before SIGKILL.
    assert unit_property(host, "TimeoutStopUSec") == "35s"
    assert unit_property(host, "NoNewPrivileges") == "yes"
    assert unit_property(host, "ProtectSystem") == "strict"


def test_socket_activation_holds_the_listeners(host):
    socket = host.service("fastapi_app.socket")
    assert socket.is_running and socket.is_enabled
    assert "fastapi_app.socket" in unit_property(host, "Requires")
    # systemd, not gunicorn, owns the listening TCP socket: it survives a restart of the service.
    assert 'users:(("systemd",pid=1' in host.check_output("ss -ltnpH 'sport = :8000'")
    listens = host.check_output("systemctl show --property Listen --value fastapi_app.socket")
    assert "127.0.0.1:8000 (Stream)" in listens and f"{SOCKET} (Stream)" in listens


def test_restart_keeps_the_port_open(host):
    master = main_pid(host)
    host.run_expect([0], f"systemctl restart {SERVICE}")
    assert main_pid(host) != master
    assert host.run("curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health").stdout == "200"


def test_unit_exposure_is_low(host):
    # Exits non-zero when the exposure score is above the threshold, given in tenths: 12 is 1.2
    # (an upstream-style gunicorn unit scores about 9). What is left: the host's network and root
    # directory, IP and unix sockets, and no user namespace (README, "The sandbox").
    result = host.run_expect([0], f"systemd-analyze security --threshold=12 --no-pager {SERVICE}")
    print(result.stdout.splitlines()[-1])
    for setting in ("SystemCallFilter", "ProcSubset", "ProtectProc", "SystemCallErrorNumber", "LimitNOFILE", "UMask", "NoExecPaths",
                    "IPAddressDeny", "SocketBindDeny", "RestrictFileSystems"):
        assert unit_property(host, setting), setting
    assert unit_property(host, "LimitNOFILE") == "65536"
    assert unit_property(host, "ProcSubset") == "pid"
    assert "169.254.0.0/16" in unit_property(host, "IPAddressDeny")
    assert unit_property(host, "MemoryMax") == str(1 << 30) and unit_property(host, "TasksMax") == "512"
    # The service may write its runtime and state directories, and run nothing from them.
    assert "/run/fastapi_app" in unit_property(host, "NoExecPaths") and "/var/lib/fastapi_app" in unit_property(host, "NoExecPaths")
    # systemd holds the sockets: the unix socket's directory is not writable by the service as a whole.
    assert "ReadWritePaths" not in host.file("/etc/systemd/system/fastapi_app.service").content_string


def test_master_runs_under_systemd_with_workers(host):
    master = main_pid(host)
    assert master > 0
    proc = host.process.get(pid=master)
    assert proc.user == "fastapi_app"
    assert "gunicorn" in proc.args
    assert f"--config {CONF}" in proc.args
    assert len(wait_for_workers(host, master, WORKERS)) == WORKERS


def test_listens_where_configured(host):
    assert host.socket("tcp://127.0.0.1:8000").is_listening
    assert host.socket(f"unix://{SOCKET}").is_listening
    assert not host.socket("tcp://0.0.0.0:8000").is_listening


def test_health_over_tcp_and_unix_socket(host):
    tcp = host.run("curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health")
    assert tcp.stdout == "200"
    unix = host.run(f"curl -sS --unix-socket {SOCKET} http://localhost/health")
    assert json.loads(unix.stdout) == {"status": "ok"}


def test_version_reports_the_live_release(host):
    live = host.file(f"{BASE}/current").linked_to
    body = json.loads(host.check_output("curl -sS http://127.0.0.1:8000/version"))
    assert body["version"] == "1.0.0"
    assert f"{BASE}/releases/{body['release']}" == live


def test_code_and_venv_owned_by_root_and_read_only_for_the_service(host):
    for path in (BASE, f"{BASE}/releases", f"{BASE}/venvs"):
        d = host.file(path)
        assert d.is_directory and d.user == "root" and d.group == "root" and d.mode == 0o755
    current = host.file(f"{BASE}/current")
    assert current.is_symlink
    main_py = host.file(f"{current.linked_to}/main.py")
    assert main_py.user == "root" and main_py.mode == 0o644
    denied = host.run(f"runuser -u fastapi_app -- touch {current.linked_to}/intruder")
    assert denied.rc != 0


def test_config_and_secret_file_modes(host):
    conf = host.file(CONF)
    assert (conf.user, conf.group, conf.mode) == ("root", "fastapi_app", 0o640)
    secret = host.file("/etc/fastapi_app/secret.env")
    assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600)
    assert host.file("/etc/systemd/system/fastapi_app.service").mode == 0o644


def process_environment(host, pid):
    """A process's environment, byte for byte (values may hold newlines)."""
    raw = host.run(f"base64 -w0 /proc/{pid}/environ").stdout
    import base64

    entries = base64.b64decode(raw).split(b"\0")
    return dict(e.decode("utf-8").split("=", 1) for e in entries if e)


def test_environment_reaches_the_app_byte_for_byte(host):
    # A worker is the app's own process: what it sees is what the app reads from os.environ.
    worker = wait_for_workers(host, main_pid(host), WORKERS)[0]
    environ = process_environment(host, worker)
    wanted = {**GROUP_VARS["fastapi_gunicorn_environment"], **GROUP_VARS["fastapi_gunicorn_secret_environment"]}
    for name, value in wanted.items():
        assert environ.get(name) == str(value), f"{name}: {environ.get(name)!r} != {value!r}"
    # Secrets stay out of the unit, where `systemctl show` would print them.
    unit = host.file("/etc/systemd/system/fastapi_app.service").content_string
    for value in GROUP_VARS["fastapi_gunicorn_secret_environment"].values():
        assert value.splitlines()[0] not in unit


def test_index_credentials_stay_in_a_root_only_file(host):
    """The index URL's credentials reach the installer through a root-only environment file of the build's
    inputs, which the build cannot read and which goes once the state is recorded: never a command line,
    a transient unit (any account may read those), a unit or the journal. The escape probe's build saw
    the file, could not read it, and had the credential in its environment; the app's import had not."""
    credential = "fastapi-gunicorn-test-credential"
    assert host.check_output(f"grep -rl {credential} {BASE} /run/systemd /etc/systemd /etc/fastapi_app || true") == ""
    assert host.run(f"journalctl --no-pager | grep -c {credential}").stdout.strip() == "0"
    build = [line for line in host.file("/var/cache/fastapi_gunicorn/fastapi_app/escape-probe.log").content_string.splitlines()
             if " index_env_files=" in line]
    assert build and all(re.fullmatch(r"build index_env_files=[1-9]\d* index_env_readable=0 credential_in_environment=1", line) for line in build), build
    imported = [line for line in host.file("/var/lib/fastapi_app/escape-probe.log").content_string.splitlines() if " index_env_files=" in line]
    assert imported and all(line.endswith("index_env_readable=0 credential_in_environment=0") for line in imported), imported


def test_service_user_has_no_login_shell(host):
    user = host.user("fastapi_app")
    assert user.shell == "/usr/sbin/nologin"
    assert user.group == "fastapi_app"


def test_rendered_config_values(host):
    # Execute the real file with the venv's Python and read back what gunicorn would read.
    script = (
        f"import json, runpy; c = runpy.run_path('{CONF}'); "
        "print(json.dumps({k: v for k, v in c.items() if not k.startswith('_') and not callable(v) and type(v).__name__ != 'module'}))"
    )
    conf = json.loads(host.check_output(f"{live_venv(host)}/bin/python -c \"{script}\""))
    assert conf["wsgi_app"] == "main:app"
    assert conf["worker_class"] == "asgi"
    assert conf["workers"] == WORKERS
    assert conf["bind"] == ["127.0.0.1:8000", f"unix:{SOCKET}"]
    assert conf["chdir"] == f"{BASE}/current"
    assert (conf["timeout"], conf["graceful_timeout"], conf["keepalive"]) == (30, 20, 75)
    assert conf["accesslog"] == "-" and conf["errorlog"] == "-"
    assert "preload_app" not in conf  # on the unit's command line, off here
    assert "--preload" not in unit_property(host, "ExecStart")
    assert conf["worker_tmp_dir"] == "/dev/shm"
    assert conf["limit_request_line"] == 4094
    assert conf["control_socket"] == "/run/fastapi_app/gunicorn.ctl"
    # fastapi_gunicorn_extra_settings
    assert conf["backlog"] == 1024
    assert conf["proxy_allow_ips"] == "127.0.0.1"
    # fastapi_gunicorn_access_log_format: json
    assert conf["access_log_format"].startswith('{"remote_addr": %(h)s, ')


def installed_packages(host, venv):
    """name==version of every distribution in the venv (uv makes venvs without pip)."""
    script = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] + '==' + d.version for d in m.distributions()))"
    return host.check_output(f"{venv}/bin/python -c \"{script}\"").lower().replace("_", "-").splitlines()


def test_venv_has_the_pinned_server_packages(host):
    frozen = installed_packages(host, live_venv(host))
    assert "gunicorn==27.0.1" in frozen
    assert "uvicorn==0.54.0" in frozen
    assert not any(line.startswith("uvicorn-worker==") for line in frozen)  # asgi does not need it
    assert any(line.startswith("uvloop==") for line in frozen)  # from uvicorn[standard]
    assert "fastapi==0.165.0" in frozen


def test_hup_reload_replaces_workers_and_keeps_master(host):
    master = main_pid(host)
    before = wait_for_workers(host, master, WORKERS)
    host.run_expect([0], f"systemctl reload {SERVICE}")
    after = wait_for_workers(host, master, WORKERS, not_in=before)
    assert main_pid(host) == master
    assert not set(after) & set(before)
    assert host.service(SERVICE).is_running


def journal_lines(host, since="-5min"):
    return host.run(f"journalctl --unit {SERVICE} --no-pager --output cat --since {since}").stdout.splitlines()


def test_journal_holds_the_access_log_as_json(host):
    # A user agent with a quote, a backslash and a percent sign must still give valid JSON.
    agent = 'probe "quoted" back\\slash 100%'
    host.run_expect([0], f"curl -sS -o /dev/null -A '{agent}' 'http://127.0.0.1:8000/health?journal-probe=1'")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in journal_lines(host) if "journal-probe=1" in line]
        if lines:
            break
        time.sleep(0.5)
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert {k: entry[k] for k in ("method", "path", "query", "protocol", "status", "user_agent", "forwarded_for")} == {
        "method": "GET", "path": "/health", "query": "journal-probe=1", "protocol": "HTTP/1.1", "status": 200,
        "user_agent": agent, "forwarded_for": None,
    }
    assert entry["remote_addr"] == "127.0.0.1"
    assert isinstance(entry["duration_us"], int) and isinstance(entry["bytes"], int)


def test_server_hooks_come_from_the_live_release(host):
    # The example app's gunicorn_hooks.py logs each fork with its release: every worker running now
    # was forked by the live release's hooks (the last reload loaded them).
    release = Path(host.file(f"{BASE}/current").linked_to).name
    journal = "\n".join(journal_lines(host, since="-30min"))
    for pid in worker_pids(host, main_pid(host)):
        assert f"gunicorn_hooks: worker {pid} forked with the hooks of release {release}" in journal, pid


def requests_counted(host, route):
    metrics = host.check_output("curl -sS http://127.0.0.1:8000/metrics")
    pattern = re.compile(rf'^app_requests_total{{route="{re.escape(route)}",status="200"}} ([0-9.e+]+)$', re.M)
    return sum(float(value) for value in pattern.findall(metrics))


def send_concurrently(host, count):
    """count requests to /version, 8 at a time, each held 50 ms so they overlap; the workers that answered."""
    out = host.check_output(f"seq {count} | xargs -P 8 -I{{}} curl -sS --fail 'http://127.0.0.1:8000/version?delay_ms=50'")
    decoder, bodies, at = json.JSONDecoder(), [], 0
    while at < len(out):  # the answers, back to back
        body, at = decoder.raw_decode(out, at)
        bodies.append(body)
    assert len(bodies) == count, out
    return {body["pid"] for body in bodies}


def test_metrics_sum_all_workers_and_survive_a_reload(host):
    multiproc_dir = "/run/fastapi_app/prometheus"
    assert f"PROMETHEUS_MULTIPROC_DIR={multiproc_dir}" in unit_property(host, "Environment")
    # Emptied at start: after a restart the count begins again.
    host.run_expect([0], f"systemctl restart {SERVICE}")
    assert requests_counted(host, "/version") == 0
    sent, served_by = 0, set()
    while len(served_by) < 2 and sent < 120:  # until two workers have answered (the kernel spreads connections)
        served_by |= send_concurrently(host, 40)
        sent += 40
    assert len(served_by) >= 2, served_by
    assert requests_counted(host, "/version") == sent
    master = main_pid(host)
    before = worker_pids(host, master)
    host.run_expect([0], f"systemctl reload {SERVICE}")
    after = wait_for_workers(host, master, WORKERS, not_in=before)
    served_after = send_concurrently(host, 40)
    assert served_after <= set(after)
    # The old workers' counts stay; child_exit removed only their live gauges.
    assert requests_counted(host, "/version") == sent + 40
    files = host.check_output(f"ls {multiproc_dir}").split()
    assert {f"counter_{pid}.db" for pid in served_by | served_after} <= set(files), files


def record(host):
    return json.loads(host.file("/etc/ansible/facts.d/fastapi_app.fact").content_string)["history"]


def test_the_record_names_the_live_state(host):
    history = record(host)
    live = history[0]
    assert f"{BASE}/releases/{live['release']}" == host.file(f"{BASE}/current").linked_to
    assert live["venv"] == live_venv(host)
    # The live files are the live state's snapshot.
    state = f"/etc/fastapi_app/states/{live['state']}"
    assert host.file(CONF).content_string == host.file(f"{state}/gunicorn_conf.py").content_string
    assert host.file(f"/etc/systemd/system/{SERVICE}").content_string == host.file(f"{state}/{SERVICE}").content_string
    assert host.file(f"{state}/secret.env").mode == 0o600


def test_old_states_are_pruned(host):
    # side_effect.yml deployed two worker classes, side-1..side-3 and then the converged release;
    # keep_releases is 3: the converged state, side-3's and side-2's, and only what they use.
    history = record(host)
    assert [h["release"] for h in history][1:] == ["side-3", "side-2"], history
    assert sorted(host.file(f"{BASE}/releases").listdir()) == sorted(h["release"] for h in history)
    assert sorted(host.file("/etc/fastapi_app/states").listdir()) == sorted(h["state"] for h in history)


def test_venvs_are_kept_per_dependency_set(host):
    # Every kept state runs on the asgi set: the uvicorn_worker venv of the side effect is pruned.
    venvs = host.file(f"{BASE}/venvs").listdir()
    assert venvs == [live_venv(host).rsplit("/", 1)[1]], venvs
    assert "uvicorn-worker" not in host.file(f"{live_venv(host)}/requirements.txt").content_string


def test_builds_and_imports_cannot_write_outside_their_sandbox(host):
    """side_effect.yml deployed a release whose app import, and whose package build, try to write the
    system, the service's code and venvs and root's home, then every directory they can, and whose build
    plants links, where root writes into a venv after a build, to files of root's
    (molecule/default/escape_probe/). Both ran, each as its own account, and wrote none of what they must
    not: each wrote only in its own writable directories, and root wrote through no planted link."""
    targets = ["/etc/escape-probe", f"{BASE}/escape-probe", f"{BASE}/venvs/escape-probe", f"{BASE}/releases/escape-probe",
               "/etc/fastapi_app/escape-probe", "/root/escape-probe", "/usr/local/lib/escape-probe"]
    for path in targets:
        assert not host.file(path).exists, path
    # The build ran as the build account, the import as the service user: neither is root, nor the other.
    builder, service = host.user("fastapi_app-build").uid, host.user("fastapi_app").uid
    assert 0 not in (builder, service) and builder != service
    for tag, log, uid in (("build", "/var/cache/fastapi_gunicorn/fastapi_app/escape-probe.log", builder),
                          ("import", "/var/lib/fastapi_app/escape-probe.log", service)):
        lines = host.file(log).content_string.splitlines()
        escapes = [line for line in lines if " escaped=" in line]
        assert escapes and all(line == f"{tag} uid={uid} escaped=[]" for line in escapes), (log, lines)
    planted = [line for line in host.file("/var/cache/fastapi_gunicorn/fastapi_app/escape-probe.log").content_string.splitlines()
               if line.startswith("build planted=")]
    # The backend runs the probe more than once (metadata, then the wheel): the first run plants them.
    assert planted and any(int(line.split()[1].split("=")[1]) > 0 for line in planted), planted
    # Each wrote only in its own writable directories: as it logged them, and as the files it left show.
    # /tmp, /var/tmp and /dev/shm are each unit's own (PrivateTmp=, PrivateDevices=).
    allowed = {"build": ["/var/cache/fastapi_gunicorn/fastapi_app", f"{BASE}/venvs/", "/dev/shm", "/tmp", "/var/tmp"],
               "import": ["/var/lib/fastapi_app", "/run/fastapi_app", "/dev/shm", "/tmp", "/var/tmp"]}
    for tag, log in (("build", "/var/cache/fastapi_gunicorn/fastapi_app/escape-probe.log"), ("import", "/var/lib/fastapi_app/escape-probe.log")):
        wrote = [ast.literal_eval(line.split(" wrote=", 1)[1]) for line in host.file(log).content_string.splitlines() if " wrote=" in line]
        assert wrote and all(wrote), f"{tag}: the probe wrote nowhere at all, so it did not walk"
        outside = [d for dirs in wrote for d in dirs if not any((d + "/").startswith(p.rstrip("/") + "/") for p in allowed[tag])]
        assert not outside, (tag, outside)
    left = host.check_output("find / -xdev \\( -name 'escape-probe-build-*' -o -name 'escape-probe-import-*' \\) -print; "
                             "find /run /dev/shm \\( -name 'escape-probe-build-*' -o -name 'escape-probe-import-*' \\) -print").split()
    for path in left:
        assert any(path.startswith(p) for p in allowed[re.search(r"escape-probe-(build|import)-\d+$", path).group(1)]), (path, left)
    # Neither saw another account's processes (the live service's environment holds its secrets) nor
    # reached an address of fastapi_gunicorn_ip_address_deny (the scenario adds 127.0.0.2 to the cloud's
    # metadata range, to try it on loopback).
    for tag, log in (("build", "/var/cache/fastapi_gunicorn/fastapi_app/escape-probe.log"), ("import", "/var/lib/fastapi_app/escape-probe.log")):
        spied = [line for line in host.file(log).content_string.splitlines() if " other_processes=" in line]
        assert spied and all(line == f"{tag} other_processes=0 environments_read=0 denied_address=timeout" for line in spied), (tag, spied)
    # Root wrote through no planted link (side_effect.yml checked the probe's venv while it was live).
    assert host.check_output("ls /etc | grep -c '^escape-probe-link' || true") == "0"


def test_the_built_collection_runs_from_its_installed_copy(tmp_path):
    """What users install: the collection built with ansible-galaxy, installed into an empty collections
    path, and its site playbook run by its fully qualified name from outside the repository (no
    roles_path, no project ansible.cfg), once against every host. Same state as the checkout made:
    nothing changes on any host."""
    root = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_ROLES_PATH=str(tmp_path / "no-roles"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")

    def run(*command):
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    run("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(root))
    archive = next(tmp_path.glob("fastapi_gunicorn-deploy-*.tar.gz"))
    run("ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", str(tmp_path / "collections"), str(archive))
    installed = tmp_path / "collections" / "ansible_collections" / "fastapi_gunicorn" / "deploy"
    assert (installed / "roles" / "fastapi_gunicorn" / "tasks" / "main.yml").is_file()
    assert not (installed / "molecule").exists() and not (installed / "tests").exists()
    # What users get: the license galaxy.yml names, the docs the README links to (images included),
    # and no lab: no lab playbooks, inventory or variables, and no empty directory.
    shipped = sorted(str(p.relative_to(installed)) for p in installed.rglob("*"))
    assert "LICENSE" in shipped and "MIT License" in (installed / "LICENSE").read_text()
    for linked in re.findall(r"\]\(((?:docs|roles|CHANGELOG)[^)#]*)", (installed / "README.md").read_text()):
        assert (installed / linked).exists(), f"the README links {linked}, which is not shipped"
    assert {"docs/benchmark.png", "docs/fleet_growth.png", "docs/guide.md"} <= set(shipped), shipped
    lab = [p for p in shipped if re.search(r"(^inventory|lab[^/]*\.yml$|^playbooks/tasks)", p)]
    assert lab == [], lab
    empty = [p for p in installed.rglob("*") if p.is_dir() and not any(p.iterdir())]
    assert empty == [], empty

    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    out = run("ansible-playbook", "-vv", "-i", str(inventory), "fastapi_gunicorn.deploy.site")
    assert f"task path: {installed}/roles/fastapi_gunicorn/tasks/" in out, out
    assert f"task path: {root}/roles/" not in out, out
    recaps = re.findall(r"^(fastapi-gunicorn-default\S*)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", out, re.M)
    assert sorted(recaps) == [("fastapi-gunicorn-default", "0"), ("fastapi-gunicorn-default-debian13", "0")], out


HOSTS = ["fastapi-gunicorn-default", "fastapi-gunicorn-default-debian13"]


def run_play(playbook="site.yml", *argv):
    """A playbook of the repository against both hosts: the result, each host's changed count, and
    the end of the output for assertion messages."""
    root = Path(__file__).resolve().parents[3]
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    result = subprocess.run(["ansible-playbook", "-i", str(inventory), str(root / "playbooks" / playbook), *argv],
                            cwd=root, capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"})
    changed = dict(re.findall(r"^(fastapi-gunicorn-default\S*)\s*:\s*ok=\d+\s+changed=(\d+)", result.stdout, re.M))
    return result, changed, result.stdout[-4000:] + result.stderr[-2000:]


def on_host(name, command):
    return subprocess.run(["docker", "exec", name, "sh", "-c", command], check=True, capture_output=True, text=True).stdout


def test_git_and_artifact_sources_deploy_once_and_bad_ones_change_nothing(tmp_path):
    """The example app from a git repository and as a tarball on the controller, on both hosts: each
    deploys the release it names (the commit, the checksum), and the same source again changes
    nothing; an unknown ref and a tarball whose checksum does not match fail before any host changes.
    Last, the converged state again (the directory source)."""
    root = Path(__file__).resolve().parents[3]
    repo = tmp_path / "repo"
    subprocess.run(["cp", "-r", str(root / "roles" / "fastapi_gunicorn" / "files" / "example_app"), str(repo)], check=True)
    (repo / "VERSION").write_text("4.0.0-git\n")
    for command in (["init", "--quiet", "--initial-branch=main"], ["add", "."],
                    ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "--quiet", "-m", "git release"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    # The artifact: an sdist-style tarball, every file in one top directory.
    (repo / "VERSION").write_text("5.0.0-artifact\n")
    tarball = tmp_path / "example-5.0.0.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "--exclude=.git", "-C", str(tmp_path), "--transform", "s,^repo,example-5.0.0,", "repo"], check=True)
    checksum = hashlib.sha256(tarball.read_bytes()).hexdigest()
    hosts = HOSTS

    def site(**extra):
        return run_play("site.yml", *[arg for name, value in extra.items() for arg in ("-e", f"fastapi_gunicorn_{name}={value}")])

    def live():
        """Each host's answer without the worker's pid (either worker may answer)."""
        answers = {h: json.loads(on_host(h, "curl -sS http://127.0.0.1:8000/version")) for h in hosts}
        return {h: {k: v for k, v in answer.items() if k != "pid"} for h, answer in answers.items()}

    sources = [({"app_git_repo": str(repo), "app_git_ref": "main"}, commit[:12], "4.0.0-git"),
               ({"app_artifact": str(tarball), "app_artifact_checksum": f"sha256:{checksum}"}, checksum[:12], "5.0.0-artifact")]
    for source, release, version in sources:
        result, changed, report = site(**source)
        assert result.returncode == 0, report
        for host, answer in live().items():
            assert (answer["release"], answer["version"]) == (release, version), (host, answer, report)
        result, changed, report = site(**source)
        assert result.returncode == 0 and changed == dict.fromkeys(hosts, "0"), report

    before = live()
    for source, message in (({"app_git_repo": str(repo), "app_git_ref": "no-such-branch"},
                             "fastapi_gunicorn_app_git_ref no-such-branch is not a branch, tag or commit"),
                            ({"app_artifact": str(tarball), "app_artifact_checksum": "sha256:" + "0" * 64},
                             "fastapi_gunicorn_app_artifact_checksum does not match")):
        result, changed, report = site(**source)
        assert result.returncode != 0 and message in report, report
        assert changed == dict.fromkeys(hosts, "0") and live() == before, report

    result, changed, report = site()
    assert result.returncode == 0, report
    assert {answer["version"] for answer in live().values()} == {"1.0.0"}, report


WORKER = "fastapi_app-worker.service"
TIMER = "fastapi_app-report.timer"
STATE_DIR = "/var/lib/fastapi_app"


def companion(name, unit, prop):
    return on_host(name, f"systemctl show --property {prop} --value {unit}").strip()


def live_release(name):
    return on_host(name, f"readlink {BASE}/current").strip().rsplit("/", 1)[-1]


def worker_log(name):
    """worker.log as (time, pid, release, event) entries."""
    return [(float(t), int(pid), release, event) for t, pid, release, event
            in (line.split(" ", 3) for line in on_host(name, f"cat {STATE_DIR}/worker.log").splitlines())]


def wait_for_job_run(name, release, since, timeout=15):
    """The scheduled job ran on `release` after `since` (it runs every 5 seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [line.split() for line in on_host(name, f"cat {STATE_DIR}/job.log").splitlines()]
        if any(float(t) > since and r == release for t, _pid, r, _event in runs):
            return
        time.sleep(1)
    raise AssertionError(f"{name}: no job run on release {release} since {since}: {runs[-3:]}")


def assert_worker_handed_over(name, old_pid, release):
    """The old worker got SIGTERM during a job, finished that job and stopped; then one new worker
    started on `release`, in its release directory, and runs."""
    log = worker_log(name)
    old = [(t, event) for t, pid, _release, event in log if pid == old_pid]
    events = [event for _t, event in old]
    assert "sigterm" in events, events[-5:]
    job = events[events.index("sigterm") - 1].split()
    assert job[0] == "job" and events[-4:] == [f"job {job[1]} begin", "sigterm", f"job {job[1]} done", "stop"], events[-5:]
    stopped = old[-1][0]
    pid = int(companion(name, WORKER, "MainPID"))
    assert pid != old_pid and companion(name, WORKER, "ActiveState") == "active"
    new = [(t, r, event) for t, p, r, event in log if p == pid]
    assert new and new[0][1:] == (release, "start") and new[0][0] >= stopped, (new[:2], stopped)
    # The release the worker logs is the directory its code was imported from.
    assert companion(name, WORKER, "WorkingDirectory") == f"{BASE}/releases/{release}"


def test_companions_run_on_the_live_release(host):
    release = Path(host.file(f"{BASE}/current").linked_to).name
    worker = host.service(WORKER)
    assert worker.is_running and worker.is_enabled
    props = {p: host.check_output(f"systemctl show --property {p} --value {WORKER}")
             for p in ("Type", "User", "KillMode", "TimeoutStopUSec", "ProtectSystem", "NoNewPrivileges", "MainPID", "WorkingDirectory")}
    assert {k: props[k] for k in ("Type", "User", "KillMode", "TimeoutStopUSec", "ProtectSystem", "NoNewPrivileges")} == {
        "Type": "exec", "User": "fastapi_app", "KillMode": "mixed", "TimeoutStopUSec": "20s", "ProtectSystem": "strict", "NoNewPrivileges": "yes"}
    assert props["WorkingDirectory"] == f"{BASE}/releases/{release}"
    # Run as in an activated venv: `python` found first in the live venv's bin, the release importable.
    argv = host.file(f"/proc/{props['MainPID']}/cmdline").content.split(b"\0")
    assert argv[:3] == [b"python", b"-m", b"worker"], argv
    environ = process_environment(host, props["MainPID"])
    assert environ["PATH"].startswith(f"{live_venv(host)}/bin:") and environ["VIRTUAL_ENV"] == live_venv(host), environ
    assert environ["PYTHONPATH"] == f"{BASE}/releases/{release}", environ
    timer = host.service(TIMER)
    assert timer.is_running and timer.is_enabled
    # The job's own unit is started by its timer only.
    assert host.check_output("systemctl show --property UnitFileState --value fastapi_app-report.service") == "static"
    wait_for_job_run(host.backend.get_hostname(), release, time.time() - 6)


def test_companions_switch_with_the_release_finish_their_job_and_roll_back():
    """A new release restarts the worker after the web service passed its gate: the old worker gets
    SIGTERM in the middle of a job, finishes it, and stops; the new one runs the new release,
    as the next scheduled job does. The rollback playbook puts the old release back the same way. A
    worker that does not stay up fails the switch, and the last healthy state comes back. The worker
    then becomes a scheduled job and back. In the end the converged state is live again, with nothing
    to change."""
    before = {h: (live_release(h), int(companion(h, WORKER, "MainPID"))) for h in HOSTS}
    started = time.time()
    result, changed, report = run_play("site.yml", "-e", "fastapi_gunicorn_release_id=companions-b")
    assert result.returncode == 0, report
    for h in HOSTS:
        assert live_release(h) == "companions-b", report
        assert_worker_handed_over(h, before[h][1], "companions-b")
        wait_for_job_run(h, "companions-b", started)

    moved = {h: int(companion(h, WORKER, "MainPID")) for h in HOSTS}
    started = time.time()
    result, changed, report = run_play("rollback.yml")
    assert result.returncode == 0, report
    for h in HOSTS:
        assert live_release(h) == before[h][0], report
        assert_worker_handed_over(h, moved[h], before[h][0])
        wait_for_job_run(h, before[h][0], started)

    healthy = {h: int(companion(h, WORKER, "MainPID")) for h in HOSTS}
    crashing = [{"name": "worker", "command": ["python", "-c", "raise SystemExit(3)"], "stop_timeout": 20},
                {"name": "report", "command": ["python", "-m", "job"], "schedule": "*:*:0/5"}]
    result, changed, report = run_play("site.yml", "-e", json.dumps({"fastapi_gunicorn_companions": crashing}))
    assert result.returncode != 0, report
    assert "companion workers did not stay up for 1 s: fastapi_app-worker.service" in report, report
    assert "Rolled back to state" in report, report
    for h in HOSTS:
        assert live_release(h) == before[h][0], report
        assert_worker_handed_over(h, healthy[h], before[h][0])
        assert re.search(r'^ExecStart="/usr/bin/env" "PATH=/srv/fastapi_app/venvs/[0-9a-f]+/bin:[^"]*" "VIRTUAL_ENV=[^"]*" "PYTHONPATH=[^"]*" '
                         r'"python" "-m" "worker"$', on_host(h, f"systemctl cat {WORKER}"), re.M)

    # The worker becomes a scheduled job: it finishes its job and stops, and its timer runs the job.
    healthy = {h: int(companion(h, WORKER, "MainPID")) for h in HOSTS}
    as_job = [{"name": "worker", "command": ["python", "-m", "job"], "schedule": "*:*:0/5"}, crashing[1]]
    result, changed, report = run_play("site.yml", "-e", json.dumps({"fastapi_gunicorn_companions": as_job}))
    assert result.returncode == 0, report
    for h in HOSTS:
        events = [event for _t, pid, _release, event in worker_log(h) if pid == healthy[h]]
        assert events[-3:-1] == ["sigterm", events[-4].replace("begin", "done")] and events[-1] == "stop", events[-5:]
        assert (companion(h, "fastapi_app-worker.timer", "ActiveState"), companion(h, WORKER, "Type")) == ("active", "oneshot"), report
        deadline = time.monotonic() + 15
        while companion(h, WORKER, "ExecMainExitTimestampMonotonic") == "0" and time.monotonic() < deadline:
            time.sleep(1)
        assert (companion(h, WORKER, "Result"), companion(h, WORKER, "ExecMainStatus")) == ("success", "0"), h
    # And back: the timer is stopped and removed, the worker runs again.
    result, changed, report = run_play("site.yml")
    assert result.returncode == 0, report
    for h in HOSTS:
        assert companion(h, "fastapi_app-worker.timer", "LoadState") == "not-found", report
        assert (companion(h, WORKER, "Type"), companion(h, WORKER, "ActiveState")) == ("exec", "active"), report

    result, changed, report = run_play("site.yml")
    assert result.returncode == 0 and changed == dict.fromkeys(HOSTS, "0"), report
