#!/usr/bin/env python3
"""Fleet rollout benchmark: rollout time for 1, 3 and 6 app hosts, default batches and serial 1.

Run with `make bench-fleet`. It starts 6 app containers and one HAProxy container with
playbooks/lab.yml (the lab's group_vars, its own network), then for each fleet size rolls a new
release with playbooks/rolling_update.yml, limited to the first N app hosts, while the load
generator sends requests through HAProxy. It prints, per run, the batches, the rollout's wall time,
requests sent and failed, and writes the table to docs/fleet_benchmark.txt. The containers are
removed at the end.
"""

import argparse
import json
import sys
from pathlib import Path

from fleet import Fleet
from harness import ROOT, run_playbook, table, window_stats

APPS = [f"fastapi-gunicorn-bench-app{i}" for i in range(1, 7)]
LB = "fastapi-gunicorn-bench-lb1"
NETWORK = {"fastapi_gunicorn_lab_network": "fastapi_gunicorn_bench"}
DEFAULT_BATCHES = [1, "25%", "100%"]
COLUMNS = [("hosts", 5), ("batches", 18), ("sizes", 11), ("rollout s", 9), ("s/batch", 7), ("sent", 7), ("failed", 6), ("p99 ms", 7)]


def batch_sizes(hosts, batches):
    """Ansible's serial list: each entry a count or a percentage (at least 1), the last one repeats."""
    sizes, left = [], hosts
    for i in range(hosts):
        spec = batches[min(i, len(batches) - 1)]
        size = max(1, int(hosts * int(spec[:-1]) / 100)) if isinstance(spec, str) else spec
        sizes.append(min(size, left))
        left -= sizes[-1]
        if not left:
            return sizes
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--sizes", nargs="*", type=int, default=[1, 3, 6])
    args = parser.parse_args()
    fleet = Fleet(APPS[: max(args.sizes)], LB)
    rows = []
    try:
        print("starting and provisioning the bench fleet ...", file=sys.stderr, flush=True)
        up = run_playbook(fleet.inventory, "playbooks/lab.yml", {"fastapi_gunicorn_app_src": fleet.apps["v1"], **NETWORK}, timeout=1800)
        assert up.returncode == 0, up.stdout[-4000:]
        version = 1
        for hosts in args.sizes:
            for batches in (DEFAULT_BATCHES, [1]):
                version = 3 if version == 2 else 2
                limit = ",".join(fleet.apps_hosts[:hosts])
                print(f"rolling v{version} over {hosts} hosts, batches {batches} ...", file=sys.stderr, flush=True)
                measured = fleet.load.during(lambda: fleet.play(
                    "playbooks/rolling_update.yml", app=f"v{version}",
                    extra={"fastapi_gunicorn_rollout_batches": batches}, limit=limit))
                seconds = measured["change_window"][1] - measured["change_window"][0]
                play = measured["result"]
                assert play.returncode == 0, play.stdout[-4000:]
                sizes = batch_sizes(hosts, batches)
                rows.append([hosts, json.dumps(batches), "+".join(map(str, sizes)), round(seconds, 1),
                             round(seconds / len(sizes), 1), measured["load"]["sent"], measured["load"]["failed"],
                             window_stats(measured)["during_p99_ms"]])
                print(table(COLUMNS, rows[-1:]), file=sys.stderr, flush=True)
    finally:
        run_playbook(fleet.inventory, "playbooks/lab_down.yml", NETWORK)
        fleet.close()
    text = table(COLUMNS, rows)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet_benchmark.txt").write_text(text + "\n", encoding="utf-8")
    print(f"\nwrote {out / 'fleet_benchmark.txt'}")


if __name__ == "__main__":
    main()
