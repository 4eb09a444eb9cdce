"""Fleet growth benchmark: rollout and no-op time for 1, 5, 10 and 20 app hosts behind HAProxy.

Run with `make bench-fleet`. It starts 20 app containers and one HAProxy container with
playbooks/lab.yml (the lab's group_vars, its own network), then for each fleet size, while the load
generator sends requests through HAProxy: rolls a new release with playbooks/rolling_update.yml
(default batches) over the first N app hosts, and runs playbooks/site.yml over them with nothing to
change. It prints per size the batches, both wall times, the last batch's size and time (from the
rollout's summary table), requests sent and failed, and the machine's memory in use; writes the table to
docs/fleet_benchmark.txt and the growth curve to docs/fleet_growth.png. The containers are removed at
the end.
"""

import argparse
import re
import sys
from pathlib import Path

from fleet import Fleet
from harness import ROOT, run_playbook, table, window_stats

APPS = [f"fastapi-gunicorn-bench-app{i}" for i in range(1, 21)]
LB = "fastapi-gunicorn-bench-lb1"
NETWORK = {"fastapi_gunicorn_lab_network": "fastapi_gunicorn_bench"}
DEFAULT_BATCHES = [1, "25%", "100%"]
COLUMNS = [("hosts", 5), ("sizes", 8), ("rollout s", 9), ("s/batch", 7), ("last batch", 10), ("no-op s", 7), ("sent", 7),
           ("failed", 6), ("p99 ms", 7), ("machine MiB", 11)]


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


def last_batch_seconds(output, hosts):
    """The longest host time of the last batch, from the rollout's summary table."""
    table_text = output.rsplit("Summarize the rollout", 1)[1].split("PLAY RECAP", 1)[0]
    seconds = {cells[0]: float(cells[3]) for cells in (line.split(None, 4) for line in table_text.splitlines())
               if len(cells) == 5 and cells[0] in hosts}
    return max(seconds[host] for host in hosts)


def memory_mib():
    """Memory in use on the machine now, in MiB (MemTotal - MemAvailable): the containers, the
    controller and the load generator. docker stats reports nothing for containers that share the
    host's cgroup namespace, as these do."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return round((int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) / 1024)


def plot(rows, target):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hosts = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(hosts, [r[2] for r in rows], marker="o", label="rollout (default batches)")
    ax.plot(hosts, [r[4] for r in rows], marker="o", label="last batch of the rollout")
    ax.plot(hosts, [r[5] for r in rows], marker="o", label="site.yml with nothing to change")
    for r in rows:
        ax.annotate(r[1], (r[0], r[2]), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xlabel("app hosts behind HAProxy (batch sizes annotated)")
    ax.set_ylabel("seconds, under load through HAProxy")
    ax.set_xticks(hosts)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Fleet growth on 2 cores: every host, the controller and the load share them", fontsize=9)
    fig.tight_layout()
    fig.savefig(target, dpi=90)


def enough_inotify_instances(containers):
    """Each systemd container takes several inotify instances; the kernel's default of 128 per user
    stops the twentieth or so from booting. Raise it for this run (it does not persist a reboot)."""
    path = Path("/proc/sys/fs/inotify/max_user_instances")
    wanted = 16 * containers + 256
    if int(path.read_text()) < wanted:
        print(f"raising fs.inotify.max_user_instances to {wanted} for {containers} systemd containers", file=sys.stderr)
        path.write_text(str(wanted))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--sizes", nargs="*", type=int, default=[1, 5, 10, 20])
    args = parser.parse_args()
    fleet = Fleet(APPS[: max(args.sizes)], LB, settle=2.0, load_path="/version")  # as fast as the fleet answers
    enough_inotify_instances(max(args.sizes) + 1 + 4)  # and the lab's, if it runs
    rows = []
    try:
        print("starting and provisioning the bench fleet ...", file=sys.stderr, flush=True)
        up = run_playbook(fleet.inventory, "playbooks/lab.yml", {"fastapi_gunicorn_app_src": fleet.apps["v1"], **NETWORK}, timeout=3600)
        assert up.returncode == 0, up.stdout[-4000:]
        version = 1
        for hosts in args.sizes:
            version = 3 if version == 2 else 2
            targets = fleet.apps_hosts[:hosts]
            print(f"rolling v{version} over {hosts} hosts ...", file=sys.stderr, flush=True)
            measured = fleet.load.during(lambda: fleet.play(
                "playbooks/rolling_update.yml", app=f"v{version}", extra={"fastapi_gunicorn_rollout_batches": DEFAULT_BATCHES},
                limit=",".join(targets)))
            play = measured["result"]
            assert play.returncode == 0, play.stdout[-4000:]
            seconds = measured["change_window"][1] - measured["change_window"][0]
            sizes = batch_sizes(hosts, DEFAULT_BATCHES)
            last = last_batch_seconds(play.stdout, targets[-sizes[-1]:])
            noop = fleet.load.during(lambda: fleet.play("playbooks/site.yml", app=f"v{version}", limit=",".join(targets)))
            changes = [int(n) for n in re.findall(r"changed=(\d+)", noop["result"].stdout.split("PLAY RECAP", 1)[-1])]
            assert noop["result"].returncode == 0 and changes and not any(changes), noop["result"].stdout[-3000:]
            noop_seconds = noop["change_window"][1] - noop["change_window"][0]
            rows.append([hosts, "+".join(map(str, sizes)), round(seconds, 1), round(seconds / len(sizes), 1),
                         f"{sizes[-1]}: {last:.1f} s", round(noop_seconds, 1), measured["load"]["sent"] + noop["load"]["sent"],
                         measured["load"]["failed"] + noop["load"]["failed"], window_stats(measured)["during_p99_ms"],
                         memory_mib()])
            print(table(COLUMNS, rows[-1:]), file=sys.stderr, flush=True)
    finally:
        run_playbook(fleet.inventory, "playbooks/lab_down.yml", NETWORK)
        fleet.close()
    text = table(COLUMNS, rows)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet_benchmark.txt").write_text(text + "\n", encoding="utf-8")
    plot([[r[0], r[1], r[2], r[3], float(r[4].split(": ")[1][:-2]), r[5]] for r in rows], out / "fleet_growth.png")
    print(f"\nwrote {out / 'fleet_benchmark.txt'} and {out / 'fleet_growth.png'}")


if __name__ == "__main__":
    main()
