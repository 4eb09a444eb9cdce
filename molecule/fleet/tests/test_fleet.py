"""Fleet rollouts through HAProxy under load: no request fails at the client.

The tests run in order on one fleet (3 app hosts on release v1 after converge):
  1. a rolling update to v2, canary first: every host ends on v2, every server UP;
  2. a rollout of a release that fails its health gate: the canary goes back to v2 on its own,
     the rollout stops after the first batch, the other hosts are never touched;
  3. a fleet rollback: every host back on v1, with the drain and enable hooks of users with an
     external balancer: each runs once per host, the drain before the switch, the enable after.
  Each of these ends with a summary table, one row per host: checked against the hosts' state.
  4. the same code with a config, environment or dependency change that fails its gate: the canary
     gets its whole last healthy state back;
  5. TLS at HAProxy: clients cannot forge proxy headers, HTTP redirects, a renewed certificate
     reloads HAProxy under load;
  6. the fullstack example on PostgreSQL, deployed as it is: its prestart runs once per rollout, and
     a failing migration stops the rollout before any host switches.
The load goes over HTTPS through HAProxy. HAProxy's own retry and redispatch counters must stay at
zero too: the drain, not a retry at the load balancer, is what keeps every request whole.
"""

import contextlib
import json
import re
import shutil
import ssl
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from fleet import APPS, BASE, Fleet  # noqa: E402
from harness import ROOT, VERSIONS, Load, check_load, docker_exec, run_playbook  # noqa: E402

BATCH_HEADER = "TASK [fastapi_gunicorn.deploy.fastapi_gunicorn_rollout : Run your own drain step]"  # once per batch
HOOK_LOG = "/var/tmp/rollout-hooks.log"  # written by molecule/fleet/hooks/*.yml
# The lab's certificate (inventory/lab/group_vars/all.yml), made by molecule/shared/create.yml.
LAB_PEM = str(Path.home() / ".cache" / "fastapi_gunicorn_lab" / "haproxy.pem")


@pytest.fixture(scope="module")
def fleet():
    f = Fleet()
    yield f
    f.close()


def check_haproxy(fleet, report):
    servers = fleet.servers()
    assert sorted(servers) == sorted(APPS), report
    for name, row in servers.items():
        assert row["status"] == "UP", f"{name}: {row['status']}\n{report}"
        assert (row["wretr"], row["wredis"]) == ("0", "0"), f"{name} retried at HAProxy\n{report}"


def play_under_load(fleet, playbook, minimum=1000, load=None, **kwargs):
    """The playbook run under the load through HAProxy (the fleet's, or `load`), the load checked
    (more than `minimum` requests, none failed): (the run, the load's results, a report for assertion messages)."""
    measured = (load or fleet.load).during(lambda: fleet.play(playbook, **kwargs))
    play = measured["result"]
    report = f"load={measured['load']}\nplay rc={play.returncode}\n{play.stdout[-5000:]}{play.stderr[-2000:]}"
    check_load(measured, report, minimum)
    return play, measured["load"], report


def summary(output):
    """The table the rollout playbooks print at the end: host -> (before, after, seconds, outcome)."""
    assert output.count("TASK [fastapi_gunicorn.deploy.fastapi_gunicorn_rollout : Summarize the rollout]") >= 1, output[-3000:]
    table = output.rsplit("Summarize the rollout", 1)[1].split("PLAY RECAP", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = line.split(None, 4)
        if cells and cells[0] in APPS:
            rows[cells[0]] = tuple(cells[1:])
    assert sorted(rows) == sorted(APPS), table
    return rows


def check_summary(output, before, after, outcomes):
    """Each host's row names its release before and after, a time, and the outcome expected."""
    rows = summary(output)
    for host, outcome in outcomes.items():
        if outcome.startswith("not reached"):
            assert rows[host][:3] == ("-", "-", "-") and rows[host][3].startswith("not reached"), (host, rows)
            continue
        assert rows[host][0] == before[host]["release"] and rows[host][1] == after[host]["release"], (host, rows)
        assert float(rows[host][2]) > 0 and rows[host][3] == outcome, (host, rows)


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_rolling_update(fleet, tmp_path):
    """v2 from a git branch that moves during the rollout (each drain step commits to it): the branch
    is resolved once, so every host of every batch deploys the commit it named at the start."""
    repo = tmp_path / "repo"
    subprocess.run(["cp", "-r", fleet.apps["v2"], str(repo)], check=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "v2")
    commit = git(repo, "rev-parse", "HEAD")
    extra = {"fastapi_gunicorn_app_git_repo": str(repo), "fastapi_gunicorn_app_git_ref": "main", "fastapi_gunicorn_test_repo": str(repo),
             "fastapi_gunicorn_rollout_drain_tasks": str(ROOT / "molecule" / "fleet" / "hooks" / "move_branch.yml")}
    before = fleet.state()
    play, load, report = play_under_load(fleet, "playbooks/rolling_update.yml", app="v2", extra=extra)
    assert play.returncode == 0, report
    after = fleet.state()
    assert {s["version"] for s in after.values()} == {VERSIONS["v2"]}, after
    assert {s["release"] for s in after.values()} == {commit[:12]}, "the commit the branch named at the start, on every host"
    assert git(repo, "rev-list", "--count", f"{commit}..main") == str(len(APPS)), "the branch moved once per host during the rollout"
    assert all(s["current"].endswith("/" + s["release"]) for s in after.values()), after
    # The clients saw the old release, then the new one: the load crossed the rollout.
    seen = load["seen"]
    assert before[APPS[0]]["release"] in seen and after[APPS[0]]["release"] in seen, seen
    # Default batches [1, "25%", "100%"] on 3 hosts: canary, one more, the last.
    assert play.stdout.count(BATCH_HEADER) == 3, report
    check_haproxy(fleet, report)
    check_summary(play.stdout, before, after, dict.fromkeys(APPS, "switched"))


def test_failing_canary_stops_the_rollout(fleet):
    before = fleet.state()
    play, _load, report = play_under_load(fleet, "playbooks/rolling_update.yml", app="failing_health")
    assert play.returncode != 0, report
    assert play.stdout.count(BATCH_HEADER) == 1, "the rollout stopped after the canary batch\n" + report
    assert "failed its update and the rollout stops" in play.stdout, report
    assert "Rolled back to state" in play.stdout, report
    after = fleet.state()
    canary, others = APPS[0], APPS[1:]
    # The canary went back to the release it ran (the failed one is kept for inspection).
    assert after[canary]["release"] == before[canary]["release"], report
    assert after[canary]["version"] == VERSIONS["v2"], report
    for host in others:
        assert after[host] == before[host], f"{host} was touched\n{report}"
    check_haproxy(fleet, report)
    check_summary(play.stdout, before, after, {canary: "rolled back, failed", **dict.fromkeys(others, "not reached")})


def test_fleet_rollback(fleet):
    before = fleet.state()
    hooks = {
        "fastapi_gunicorn_rollout_drain_tasks": str(ROOT / "molecule" / "fleet" / "hooks" / "drain.yml"),
        "fastapi_gunicorn_rollout_enable_tasks": str(ROOT / "molecule" / "fleet" / "hooks" / "enable.yml"),
    }
    for host in APPS:
        docker_exec(host, "rm", "-f", HOOK_LOG)
    play, _load, report = play_under_load(fleet, "playbooks/rollback.yml", extra=hooks)
    assert play.returncode == 0, report
    after = fleet.state()
    assert {s["version"] for s in after.values()} == {VERSIONS["v1"]}, report
    check_haproxy(fleet, report)
    check_summary(play.stdout, before, after, dict.fromkeys(APPS, "switched"))
    for host in APPS:
        ran = docker_exec(host, "cat", HOOK_LOG).stdout.splitlines()
        assert ran == [f"drain {before[host]['current']}", f"enable {after[host]['current']}"], f"{host}: {ran}"


# Changes that keep the code and pass the pre-switch check, but fail the health gate: a request
# line limit every request exceeds (config), the same through GUNICORN_CMD_ARGS (environment), and
# an auto-instrumenting package whose start-up hook (a .pth file, as APM agents ship) does the same
# in every process of the new venv (dependencies). The canary is drained, so no client sees it; it
# goes back to its last healthy state: code, venv, config, environment and unit.
BREAKER_WHEEL = "fastapi_gunicorn_gate_breaker-0.1-py3-none-any.whl"
FAILING_CHANGES = {
    "config": {"fastapi_gunicorn_limit_request_line": 10},
    "environment": {"fastapi_gunicorn_environment": {"GUNICORN_CMD_ARGS": "--limit-request-line 10"}},
    "dependencies": {"fastapi_gunicorn_requirements": [f"fastapi-gunicorn-gate-breaker @ file:///opt/{BREAKER_WHEEL}"]},
}


@pytest.fixture(scope="module")
def breaker_wheel(fleet):
    """The breaking package as a wheel, on every app host."""
    info = "fastapi_gunicorn_gate_breaker-0.1.dist-info"
    files = {
        "fastapi_gunicorn_gate_breaker.pth": 'import os; os.environ["GUNICORN_CMD_ARGS"] = "--limit-request-line 10"\n',
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: fastapi-gunicorn-gate-breaker\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test_fleet\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    wheel = fleet.workdir / BREAKER_WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    for host in APPS:
        subprocess.run(["docker", "cp", str(wheel), f"{host}:/opt/{BREAKER_WHEEL}"], check=True)
    return wheel


@pytest.mark.parametrize("kind", FAILING_CHANGES)
def test_failing_change_with_the_same_code_rolls_the_canary_back(fleet, breaker_wheel, kind):
    before = fleet.state()
    extra = {**FAILING_CHANGES[kind], "fastapi_gunicorn_health_retries": 8}
    play, _load, report = play_under_load(fleet, "playbooks/rolling_update.yml", extra=extra)
    assert play.returncode != 0, report
    assert play.stdout.count(BATCH_HEADER) == 1, "the rollout stopped after the canary batch\n" + report
    assert f"Rolled back to state {before[APPS[0]]['states'][0]}" in play.stdout, report
    after = fleet.state()
    canary = APPS[0]
    for key in ("release", "current", "states", "exec_start"):
        assert after[canary][key] == before[canary][key], f"{key}\n{report}"
    for host in APPS[1:]:
        assert after[host] == before[host], f"{host} was touched\n{report}"
    check_haproxy(fleet, report)


def curl_through_haproxy(fleet, client, *args):
    """curl from `client` to HAProxy's frontend, verifying its certificate (made for localhost)."""
    return docker_exec(client, "curl", "-sS", "--cacert", "/root/lab-ca.pem", "--connect-to", f"localhost:443:{fleet.lb}:443",
                       "--connect-to", f"localhost:80:{fleet.lb}:80", *args).stdout


def test_clients_cannot_spoof_proxy_headers(fleet):
    """A client on the network sends its own X-Forwarded-For, X-Forwarded-Proto, Forwarded, the other
    scheme headers gunicorn reads and header names with underscores through HAProxy's TLS frontend: every
    app host sees the client's real address and https, and only HAProxy's two headers. Plain HTTP is
    redirected to HTTPS, and HTTPS answers carry HSTS (the lab sets it)."""
    client = APPS[1]  # any container on the network will do as a client
    subprocess.run(["docker", "cp", LAB_PEM, f"{client}:/root/lab-ca.pem"], check=True)
    address = docker_exec(client, "hostname", "-I").stdout.split()[0]
    spoofed = ["-H", "X-Forwarded-For: 203.0.113.66", "-H", "X-Forwarded-Proto: http",
               "-H", "Forwarded: for=203.0.113.66;proto=http", "-H", "X-Real-IP: 203.0.113.66",
               "-H", "X-Forwarded-Ssl: on", "-H", "X-Forwarded-Protocol: ssl", "-H", "SCRIPT_NAME: /admin", "-H", "X_Forwarded_For: 203.0.113.66"]
    seen = [json.loads(curl_through_haproxy(fleet, client, *spoofed, "https://localhost/client")) for _attempt in range(6)]
    assert seen == [{"client": address, "scheme": "https", "proxy_headers": ["x-forwarded-for", "x-forwarded-proto"]}] * 6, seen
    redirect = curl_through_haproxy(fleet, client, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://localhost/client")
    assert redirect == "301 https://localhost/client", redirect
    headers = curl_through_haproxy(fleet, client, "-D", "-", "-o", "/dev/null", "https://localhost/health").lower()
    assert "strict-transport-security: max-age=300" in headers, headers


def test_tls_refuses_old_protocols_and_ciphers_and_serves_a_modern_client(fleet):
    """HAProxy's TLS frontend uses the intermediate profile: a client offering only a CBC/SHA1 cipher or
    TLS 1.1 is refused; TLS 1.2 with an ECDHE AEAD cipher (without a session ticket) and TLS 1.3 are served."""
    def handshake(*options):
        return docker_exec(fleet.lb, "sh", "-c", "openssl s_client -connect 127.0.0.1:443 -servername localhost %s </dev/null 2>&1" % " ".join(options),
                           check=False).stdout
    # The lab's certificate is ECDSA. SECLEVEL=0 makes the client offer what OpenSSL's own policy would
    # drop, so a refusal is the server's.
    for refused in (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA@SECLEVEL=0"), ("-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384@SECLEVEL=0"),
                    ("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")):
        said = handshake(*refused)
        assert "Cipher is (NONE)" in said and "alert" in said, (refused, said)
    assert "TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" in handshake("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert "TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" in handshake("-tls1_3")
    modern = handshake("-tls1_2")
    assert "Cipher is ECDHE-" in modern and "TLS session ticket" not in modern, modern  # no-tls-tickets


def served_certificate(fleet):
    pem = docker_exec(fleet.lb, "python3", "-c", "import ssl; print(ssl.get_server_certificate(('127.0.0.1', 443)))").stdout
    return ssl.PEM_cert_to_DER_cert(pem.strip())


def test_certificate_renewal_reloads_haproxy_without_a_failed_request(fleet, tmp_path):
    """A renewed certificate (a new file) lands through site.yml under HTTPS load: HAProxy reloads,
    serves the new certificate, and no request fails; then the lab's certificate comes back the same way.
    The load trusts both certificates, as clients trust the CA that signs both."""
    key, cert, renewed = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "renewed.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                    "-subj", "/CN=fastapi-gunicorn-lab-renewed", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    renewed.write_text(cert.read_text() + key.read_text())
    renewed.chmod(0o600)
    bundle = tmp_path / "both.pem"
    bundle.write_text(Path(LAB_PEM).read_text() + cert.read_text())
    subprocess.run(["docker", "cp", str(bundle), f"{fleet.lb}:/root/both.pem"], check=True)
    load = Load(fleet.lb, port=443, tls_ca="/root/both.pem")
    original = served_certificate(fleet)
    for pem, expected in ((renewed, ssl.PEM_cert_to_DER_cert(cert.read_text())), (Path(LAB_PEM), original)):
        play, _load, report = play_under_load(fleet, "playbooks/site.yml", minimum=300, load=load,
                                              extra={"fastapi_gunicorn_haproxy_tls_pem": str(pem)}, limit="lb")
        assert play.returncode == 0, report
        assert "RUNNING HANDLER [fastapi_gunicorn.deploy.fastapi_gunicorn_haproxy : Reload haproxy]" in play.stdout, report
        assert served_certificate(fleet) == expected, report
    check_haproxy(fleet, "after the renewal")


@pytest.mark.parametrize("tag", ["fastapi_gunicorn_haproxy_install", "fastapi_gunicorn_haproxy_configure", "fastapi_gunicorn_haproxy_run"])
def test_each_haproxy_tag_works_alone(fleet, tag):
    play = run_playbook(fleet.inventory, "playbooks/site.yml", {"fastapi_gunicorn_app_src": fleet.apps["v1"]}, tags=tag)
    assert play.returncode == 0, play.stdout[-4000:]
    changed = [int(n) for n in re.findall(r"changed=(\d+)", play.stdout.split("PLAY RECAP")[-1])]
    assert len(changed) == len(APPS) + 1 and set(changed) == {0}, play.stdout[-4000:]


def test_load_test_playbook_reports_throughput_latency_and_errors(fleet):
    """playbooks/load_test.yml: wrk from the load balancer against its own HTTPS frontend, bounded,
    reporting requests per second, latency percentiles and errors (none, on a healthy fleet)."""
    play = fleet.play("playbooks/load_test.yml", extra={"fastapi_gunicorn_load_duration": 2, "fastapi_gunicorn_load_connections": 8})
    assert play.returncode == 0, play.stdout[-3000:]
    report = play.stdout.rsplit("TASK [Report]", 1)[1]
    rate = re.search(r"https://127\.0\.0\.1:443/health: (\d+) requests in 2 s, ([0-9.]+) requests/s", report)
    assert rate and int(rate.group(1)) > 0 and float(rate.group(2)) > 0, report
    assert re.search(r"latency p50 [0-9.]+m?s, p75 [0-9.]+m?s, p90 [0-9.]+m?s, p99 [0-9.]+m?s", report), report
    assert "errors: 0 non-2xx/3xx responses, socket errors none" in report, report
    refused = fleet.play("playbooks/load_test.yml", extra={"fastapi_gunicorn_load_duration": 3600})
    assert refused.returncode != 0 and "fastapi_gunicorn_load_duration must be 1-600 s" in refused.stdout, refused.stdout[-2000:]


def network_namespace(host, *command):
    """A command in the container's network namespace, run from the Docker host (the container may not change its routes)."""
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", host], check=True, capture_output=True, text=True).stdout.strip()
    return subprocess.run(["nsenter", "-t", pid, "-n", *command], check=True, capture_output=True, text=True).stdout


@contextlib.contextmanager
def without_a_route_to_the_index(host):
    """The host loses its default route: it still reaches HAProxy, the database and the other hosts,
    but no package index. Its uv goes too, so uv must come from the wheelhouse."""
    default_route = network_namespace(host, "ip", "route", "show", "default").strip()
    assert default_route.startswith("default via "), default_route
    docker_exec(host, "rm", "-rf", f"{BASE}/tools")
    network_namespace(host, "ip", "route", "del", "default")
    try:
        # No name resolution outside, and no route to any outside address (pypi.org's, say).
        reach = docker_exec(host, "python3", "-c", "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/', timeout=5)",
                            check=False)
        assert reach.returncode != 0 and "name resolution" in reach.stderr, reach.stderr[-500:]
        reach = docker_exec(host, "python3", "-c", "import socket; socket.create_connection(('151.101.0.223', 443), timeout=5)", check=False)
        assert reach.returncode != 0 and "Network is unreachable" in reach.stderr, reach.stderr[-500:]
        yield
    finally:
        network_namespace(host, "ip", "route", "add", *default_route.split())


def check_wheelhouse(fleet, wheelhouses, output, offline, package):
    """One wheelhouse per interpreter (Debian 12 and 13), each built once, on the first host of its
    kind; every host installed the set (the offline one from the wheelhouse, uv included) and keeps
    no wheels."""
    names = sorted(p.name for p in wheelhouses.iterdir())
    assert ".fastapi_gunicorn-cache" in names, names  # the role claimed the directory as its cache
    archives = [name for name in names if name != ".fastapi_gunicorn-cache"]
    assert len(archives) == 2 and all(re.fullmatch(r"[0-9a-f]{12}-\w+\.tar", a) for a in archives), archives
    for host in APPS:
        venv = re.search(rf"{BASE}/venvs/[0-9a-f]+", fleet.host_state(host)["exec_start"]).group(0)
        files = docker_exec(host, "sh", "-c", f"ls -A {venv} {venv}/lib/python3*/site-packages").stdout.split()
        assert package in files and ".wheels" not in files and ".wheelhouse.tar" not in files, (host, files)
    assert docker_exec(offline, "test", "-x", f"{BASE}/tools/uv-0.13.9/bin/uv", check=False).returncode == 0, "uv from the wheelhouse"
    # The offline host built nothing itself: each wheelhouse task ran for it only to unpack.
    builds = re.findall(r"TASK \[[^]]*Build the wheelhouse as the build account, in its sandbox\][^\n]*\n((?:(?:changed|ok|skipping|fatal): .*\n)+)", output)
    assert any(f"changed: [{APPS[0]}]" in b for b in builds) and any(f"changed: [{APPS[2]}]" in b for b in builds), builds
    assert not any(f"changed: [{offline}]" in b for b in builds), builds


FULLSTACK = ROOT / "examples" / "fullstack"


def database(fleet, sql):
    """One value from the lab database on the load balancer host, as its owner sees it."""
    return docker_exec(fleet.lb, "runuser", "-u", "postgres", "--", "psql", "-tA", "-d", "fastapi_app", "-c", sql).stdout.strip()


def test_the_fullstack_example_deploys_as_it_is_and_its_prestart_runs_once_per_rollout(fleet, tmp_path):
    """The fullstack example (examples/fullstack: a uv workspace with the app in backend/, a lock without
    gunicorn, Alembic importing the app's models, settings from the environment, a three-step prestart) on
    the lab's PostgreSQL, with only the variables of its lab.yml and its source unchanged:
    - site.yml deploys it (every host at once); the role joins gunicorn to the lock and says so. The new dependency
      set also reaches a host without a route to the package index, through the wheelhouse: app1 (Debian
      12) builds it, app2 (Debian 12, offline, without uv) installs from it, app3 (Debian 13) builds its own.
      The prestart ran once, on the play's first host, and seeded the first user, which the app serves.
    - a new release rolls out under load in three batches: the prestart runs once, on the canary;
    - a release whose migration fails (printing the database URL, whose password the play masks) stops
      the rollout at the canary with no host switched and the schema as it was; with site.yml no host
      switches either;
    - with app1's lock held by another controller, site.yml stops app1 before its build, and the
      migrations run on the next host still running before app2 and app3 switch.
    Load through HAProxy sees no failed request in the rollouts or in the failed site.yml run."""
    setup = run_playbook(fleet.inventory, "playbooks/lab_database.yml", {"fastapi_gunicorn_lab_db_hosts": "lb"})
    assert setup.returncode == 0, setup.stdout[-3000:]
    for name in ("fs1", "fs2"):
        shutil.copytree(FULLSTACK, tmp_path / name)
    (tmp_path / "fs2" / "backend" / "VERSION").write_text("2.0.0\n", encoding="utf-8")
    extra = {**yaml.safe_load((FULLSTACK / "lab.yml").read_text(encoding="utf-8")), "fastapi_gunicorn_app_src": str(tmp_path / "fs1"),
             "fastapi_gunicorn_lab_db_host": fleet.lb}
    wheelhouses = tmp_path / "wheelhouses"
    offline = APPS[1]
    # site.yml restarts every host at once for the new venv, as a first deploy does: no load here (a
    # live fleet takes new releases through rolling_update.yml, below).
    with without_a_route_to_the_index(offline):
        play = run_playbook(fleet.inventory, "playbooks/site.yml", {
            **extra, "fastapi_gunicorn_wheelhouse": True, "fastapi_gunicorn_wheelhouse_dir": str(wheelhouses)})
    report = play.stdout[-5000:] + play.stderr[-2000:]
    assert play.returncode == 0, report
    said = " ".join(play.stdout.split()).replace("''", "'")  # the YAML output folds long lines and doubles quotes
    assert "The app's uv.lock lacks server packages: added to its pins on the controller (every other pin kept): gunicorn==27.0.1" in said, report
    after = fleet.state()
    check_wheelhouse(fleet, wheelhouses, play.stdout, offline, "alembic")
    release = after[APPS[0]]["release"]
    assert {s["release"] for s in after.values()} == {release} and {s["version"] for s in after.values()} == {"1.0.0"}, after
    assert database(fleet, "SELECT release || ' ' || host FROM prestart_runs") == f"{release} {APPS[0]}", report
    assert database(fleet, "SELECT version_num FROM alembic_version") == "0001"
    subprocess.run(["docker", "cp", LAB_PEM, f"{APPS[1]}:/root/lab-ca.pem"], check=True)
    first_user = json.loads(curl_through_haproxy(fleet, APPS[1], "https://localhost/api/v1/users/first"))
    assert first_user == {"email": "admin@example.com", "full_name": "First Superuser"}, first_user
    check_haproxy(fleet, report)

    # A new release, rolled out canary first: the prestart runs once, on the canary, before any switch.
    before = fleet.state()
    play, _load, report = play_under_load(fleet, "playbooks/rolling_update.yml", extra={**extra, "fastapi_gunicorn_app_src": str(tmp_path / "fs2")})
    assert play.returncode == 0, report
    assert play.stdout.count(BATCH_HEADER) == 3, report
    after = fleet.state()
    check_summary(play.stdout, before, after, dict.fromkeys(APPS, "switched"))
    new = after[APPS[0]]["release"]
    assert {s["release"] for s in after.values()} == {new} != {release} and {s["version"] for s in after.values()} == {"2.0.0"}, after
    assert database(fleet, "SELECT release || ' ' || host FROM prestart_runs ORDER BY id") == f"{release} {APPS[0]}\n{new} {APPS[0]}", report
    assert database(fleet, "SELECT count(*) FROM \"user\"") == "1"
    check_haproxy(fleet, report)

    # A release whose second migration fails (PostgreSQL rolls its transaction back).
    shutil.copytree(tmp_path / "fs2", tmp_path / "fs3")
    (tmp_path / "fs3" / "backend" / "VERSION").write_text("3.0.0\n", encoding="utf-8")
    (tmp_path / "fs3" / "backend" / "app" / "alembic" / "versions" / "0002_broken.py").write_text(
        '"""A migration that fails."""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\nfrom app.core.config import settings\n\n'
        'revision = "0002"\ndown_revision = "0001"\n\n\n'
        'def upgrade() -> None:\n    print("connecting to", settings.SQLALCHEMY_DATABASE_URI)\n'
        '    op.add_column("user", sa.Column("note", sa.Text))\n'
        '    op.execute("SELECT no_such_column FROM prestart_runs")\n', encoding="utf-8")
    broken = {**extra, "fastapi_gunicorn_app_src": str(tmp_path / "fs3")}
    before = fleet.state()
    play, _load, report = play_under_load(fleet, "playbooks/rolling_update.yml", extra=broken)
    assert play.returncode != 0, report
    assert play.stdout.count(BATCH_HEADER) == 1, "the rollout stopped at the canary\n" + report
    assert "failed its check before the switch (Check that the database migrations passed)" in play.stdout, report
    assert re.search(r"the database migrations failed \(exit status 1\): .*UndefinedColumn", play.stdout), report
    # The migration printed the database URL: the play shows it with the password masked.
    password = (Path.home() / ".cache" / "fastapi_gunicorn_lab" / "db_password").read_text().strip()
    assert password and password not in play.stdout and "postgresql+psycopg://fastapi_app:********@" in play.stdout, report
    after = fleet.state()
    assert {h: (s["release"], s["main_pid"]) for h, s in after.items()} == {h: (s["release"], s["main_pid"]) for h, s in before.items()}, report
    assert database(fleet, "SELECT count(*) FROM prestart_runs") == "2"
    assert database(fleet, "SELECT version_num FROM alembic_version") == "0001"
    assert database(fleet, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'user' AND column_name = 'note'") == "0"
    check_haproxy(fleet, report)

    # site.yml, every host at once: each waits for the one migration and fails before its switch.
    play, _load, report = play_under_load(fleet, "playbooks/site.yml", minimum=500, extra=broken)
    assert play.returncode != 0 and play.stdout.count("the database migrations failed (exit status 1)") >= len(APPS), report
    assert all(re.search(rf"^{host}\s*:.*failed=1\s+skipped=\d+\s+rescued=1", play.stdout, re.M) for host in APPS), report
    assert {h: s["release"] for h, s in fleet.state().items()} == {h: s["release"] for h, s in before.items()}, report
    assert database(fleet, "SELECT count(*) FROM prestart_runs") == "2"

    # site.yml with a good release while another controller holds app1's lock: app1 stops at the lock,
    # before its build; the migrations run on the next host still running, before app2 and app3 switch.
    shutil.copytree(tmp_path / "fs2", tmp_path / "fs4")
    (tmp_path / "fs4" / "backend" / "VERSION").write_text("4.0.0\n", encoding="utf-8")
    lock = "/run/fastapi_gunicorn/fastapi_app.lock"
    docker_exec(APPS[0], "sh", "-c", f"mkdir -p -m 0700 /run/fastapi_gunicorn && echo 'controller=elsewhere:boot pid=1 start=1' > {lock}")
    try:
        play = run_playbook(fleet.inventory, "playbooks/site.yml", {**extra, "fastapi_gunicorn_app_src": str(tmp_path / "fs4"),
                                                                    "fastapi_gunicorn_lock_timeout": 0})
    finally:
        docker_exec(APPS[0], "rm", "-f", lock)
    report = play.stdout[-5000:] + play.stderr[-2000:]
    assert play.returncode != 0 and "holds the lock of fastapi_app" in " ".join(play.stdout.split()), report
    after = fleet.state()
    latest = after[APPS[1]]["release"]
    assert after[APPS[0]]["release"] == before[APPS[0]]["release"] != latest == after[APPS[2]]["release"], after
    assert {after[host]["version"] for host in APPS[1:]} == {"4.0.0"}, after
    assert database(fleet, "SELECT release || ' ' || host FROM prestart_runs ORDER BY id DESC LIMIT 1") == f"{latest} {APPS[1]}", report
