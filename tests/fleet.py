"""Fleet rollouts under load through HAProxy: shared by molecule/fleet's test and the fleet benchmark.

The fleet is app containers plus one HAProxy container, using the lab's own group_vars
(inventory/lab/group_vars: TLS at HAProxy). The load generator runs in the HAProxy container against
the HTTPS frontend on its loopback, verifying HAProxy's certificate, so every request crosses the
load balancer to an app host.
"""

import csv
import io
import shutil
import tempfile
from pathlib import Path

from harness import ROOT, Load, app_variants, docker_exec, read_host, run_playbook, write_inventory

APPS = [f"fastapi-gunicorn-fleet-app{i}" for i in (1, 2, 3)]
LB = "fastapi-gunicorn-fleet-lb1"
BASE = "/srv/fastapi_app"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
BACKEND = "fastapi_app"
TLS_PEM = "/etc/haproxy/tls/fastapi_front.pem"  # where the HAProxy role puts the lab's certificate


class Fleet:
    def __init__(self, apps=APPS, lb=LB, keepalive=True, settle=1.0, load_path=None):
        self.apps_hosts, self.lb = list(apps), lb
        self.workdir = Path(tempfile.mkdtemp(prefix="fastapi-gunicorn-fleet-"))
        self.apps = app_variants(self.workdir)
        self.inventory = write_inventory(self.workdir, {"app": self.apps_hosts, "lb": [lb]}, ROOT / "inventory" / "lab" / "group_vars")
        self.load = Load(lb, port=443, keepalive=keepalive, tls_ca=TLS_PEM, path=load_path, settle=settle)

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def play(self, playbook, app="v1", extra=None, limit=None):
        return run_playbook(self.inventory, playbook, {"fastapi_gunicorn_app_src": self.apps[app], **(extra or {})}, limit=limit)

    def host_state(self, host):
        read = read_host(host)
        return {
            "version": read["version"],
            "release": read["release"],
            "current": read["current"],
            "releases": read["release_dirs"],
            "main_pid": read["main_pid"],
            "exec_start": read["exec_start"].split(";")[1],
            "states": [h["state"] for h in read["history"]],
        }

    def state(self):
        return {host: self.host_state(host) for host in self.apps_hosts}

    def servers(self):
        """HAProxy's view of every app server: status, retries and redispatches, from the admin socket."""
        raw = docker_exec(self.lb, "sh", "-c", f"echo 'show stat' | socat stdio {ADMIN_SOCKET}").stdout
        rows = csv.DictReader(io.StringIO(raw.lstrip("# ")))
        return {r["svname"]: r for r in rows if r["pxname"] == BACKEND and r["svname"] not in ("FRONTEND", "BACKEND")}
