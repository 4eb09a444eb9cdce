"""Zero-downtime benchmark: each change path and two baselines under load, as a table and a plot.

Run with `make bench` (it creates and converges molecule/zero_downtime first). For every path it
prints requests sent and failed, p50/p99 latency inside the change window, throughput during the
change against the steady state before it, and how long the change took; then the floor of a code
deploy (a minimal play that is not the role), a control (the play with nothing to change) and two
baselines (a raw restart and a raw HUP on a plain layout). Then, without load, the goals: a code deploy
by the role against the floor and a run with nothing to change, each also under Mitogen (opt-in), and
a dependency change with pip and with uv. Last, throughput with 1, vCPU (the
default) and 2 x vCPU + 1 workers on /version and on a CPU-bound endpoint, measured with wrk. The plot shows every
request's latency over time with the change window shaded and failed requests in red.
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import ansible_mitogen
from changepaths import BASELINES, CONTAINERS, CONTROLS, FLOOR, PATHS, Harness
from harness import docker_exec, run_playbook, table, window_stats

# One host (the scenario's Debian 12 one): the numbers are for one host, as the goals are.
CONTAINER = CONTAINERS[0]
COLUMNS = [
    ("path", 18), ("keep-alive", 10), ("sent", 7), ("failed", 6), ("p50 ms", 7), ("p99 ms", 7),
    ("max ms", 7), ("rps steady", 10), ("rps change", 10), ("ratio", 5), ("change s", 8),
]


def row(result):
    stats = window_stats(result)
    ratio = stats["during_rps"] / stats["steady_rps"] if stats["steady_rps"] else 0
    return [
        result["path"].name, "on" if result["keepalive"] else "off", result["load"]["sent"], result["load"]["failed"],
        stats["during_p50_ms"], stats["during_p99_ms"], stats["during_max_ms"], stats["steady_rps"],
        stats["during_rps"], f"{ratio:.2f}", stats["change_seconds"],
    ]


def plot(results, target):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(11, 2.1 * len(results)), sharex=False)
    for ax, result in zip(axes, results):
        rows = result["samples"]
        ok = [(r[0], r[1]) for r in rows if r[2]]
        bad = [(r[0], r[1]) for r in rows if not r[2]]
        ax.scatter([t for t, _ms in ok], [ms for _t, ms in ok], s=1, color="tab:blue")
        if bad:
            ax.scatter([t for t, _ms in bad], [ms for _t, ms in bad], s=6, color="tab:red", label=f"{len(bad)} failed")
            ax.legend(loc="upper right")
        start, end = result["change_window"]
        ax.axvspan(start, end, color="tab:orange", alpha=0.2)
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        keepalive = "keep-alive" if result["keepalive"] else "no keep-alive"
        ax.set_title(f"{result['path'].name} ({keepalive}): {result['path'].what}", fontsize=9, loc="left")
    axes[-1].set_xlabel("seconds since the load started (orange: the change)")
    fig.tight_layout()
    fig.savefig(target, dpi=80)


def timed(run, unchanged=False):
    start = time.monotonic()
    result = run()
    assert result.returncode == 0, result.stdout[-3000:]
    if unchanged:
        assert re.search(r"changed=0\s", result.stdout) and not re.search(r"changed=[1-9]", result.stdout), result.stdout[-3000:]
    return time.monotonic() - start


# Mitogen, the opt-in controller accelerator (requirements.txt pins it): its linear strategy, which
# takes over the docker connection when it is named `docker` (the short name of community.docker.docker).
MITOGEN_ENV = {"ANSIBLE_STRATEGY_PLUGINS": str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"),
               "ANSIBLE_STRATEGY": "mitogen_linear"}
MITOGEN_VARS = {"ansible_connection": "docker"}


def goals(harness, results, rounds=5):
    """Without load: the role's code deploy against the floor, and a run with nothing to change, each
    also under Mitogen (medians of `rounds`); under load, the throughput ratio of the config and code paths."""
    role, floor, noop, role_mitogen, noop_mitogen = [], [], [], [], []
    for i in range(rounds):
        # Each deploy below is a code change from the base state (v1), to a release new to the host:
        # the role and the floor both copy the code every round.
        harness.play()
        role.append(timed(lambda: harness.play({"app": harness.new_release(f"role-{i}")})))
        harness.play()
        floor.append(timed(lambda: harness.play({"app": harness.new_release(f"floor-{i}")}, "tests/playbooks/floor.yml")))
        harness.play()
        noop.append(timed(harness.play, unchanged=True))
        role_mitogen.append(timed(lambda: harness.play({"app": harness.new_release(f"mitogen-{i}"), **MITOGEN_VARS}, env=MITOGEN_ENV)))
        harness.play(MITOGEN_VARS, env=MITOGEN_ENV)
        noop_mitogen.append(timed(lambda: harness.play(MITOGEN_VARS, env=MITOGEN_ENV), unchanged=True))
    ratios = {r["path"].name: window_stats(r) for r in results if r["keepalive"]}
    role_s, floor_s, noop_s, role_mitogen_s, noop_mitogen_s = (statistics.median(v) for v in (role, floor, noop, role_mitogen, noop_mitogen))
    rows = [
        ["code deploy, role / floor (1 host, no load)", f"{role_s:.1f} s / {floor_s:.1f} s", f"{role_s / floor_s:.2f}x", "<= 1.5x"],
        ["the same with Mitogen (opt-in)", f"{role_mitogen_s:.1f} s / {floor_s:.1f} s", f"{role_mitogen_s / floor_s:.2f}x", "<= 1.5x"],
        ["nothing to change (1 host, no load)", f"{noop_s:.1f} s", "changed=0", "<= 5 s"],
        ["the same with Mitogen (opt-in)", f"{noop_mitogen_s:.1f} s", "changed=0", "<= 5 s"],
    ]
    if "dependencies" in ratios:
        rows.append(["dependency change under load (uv)", f"{ratios['dependencies']['change_seconds']} s", "", "<= 15 s"])
    for name in ("config", "code"):
        if name in ratios and ratios[name]["steady_rps"]:
            ratio = ratios[name]["during_rps"] / ratios[name]["steady_rps"]
            rows.append([f"throughput during the {name} change", f"{ratios[name]['during_rps']} / {ratios[name]['steady_rps']} rps",
                         f"{ratio:.2f}", ">= 0.80"])
    return table([("goal", 44), ("measured", 22), ("ratio", 9), ("target", 8)], rows)


def venv_builds(harness):
    """Without load: a dependency change (a new venv, then the restart) with each installer. Each first
    builds another new set once, so both start from a warm cache, as a fleet's second host does. Then
    with the wheelhouse: a new set whose wheels this host builds and brings to the controller (a
    canary), and the same set again on a host that has neither the venv nor a cache (an offline host:
    the venv and the build cache are removed first), installed from the controller's wheelhouse."""
    rows = []
    wheelhouse = {"fastapi_gunicorn_wheelhouse": True, "fastapi_gunicorn_wheelhouse_dir": str(harness.workdir / "wheelhouses")}
    for installer, versions in (("pip", ("1.0.0", "1.0.1", "0.21.0")), ("uv", ("1.1.0", "1.1.1", "0.21.1"))):
        seconds = []
        for version in versions[:2]:
            harness.play()
            change = {"fastapi_gunicorn_requirements": [f"python-dotenv=={version}"], "fastapi_gunicorn_installer": installer}
            seconds.append(timed(lambda: harness.play(change)))
        change = {"fastapi_gunicorn_requirements": [f"python-dotenv=={versions[2]}"], "fastapi_gunicorn_installer": installer, **wheelhouse}
        harness.play()
        seconds.append(timed(lambda: harness.play(change)))  # this host builds the wheelhouse
        venv = harness.live_venv(CONTAINER)
        harness.play()
        docker_exec(CONTAINER, "rm", "-rf", venv, "/var/cache/fastapi_gunicorn/fastapi_app")
        seconds.append(timed(lambda: harness.play(change)))  # the same set, from the controller's wheelhouse
        rows.append([installer] + [f"{s:.1f}" for s in seconds])
    harness.play()
    return table([("installer", 9), ("first new set s", 15), ("warm cache s", 12), ("builds wheelhouse s", 19),
                  ("from wheelhouse s", 17)], rows)


CPU_ROUTE = '''

@app.get("/cpu")
def cpu() -> dict[str, str]:
    # A CPU-bound handler: key stretching, about 10 ms of one core.
    import hashlib

    return {"digest": hashlib.pbkdf2_hmac("sha256", b"fastapi", b"gunicorn", 20000).hex()[:16]}
'''


def wrk(container, path, seconds=5, connections=16):
    """wrk (Debian's package) inside the container against its loopback: requests/s and p99 latency."""
    out = subprocess.run(["docker", "exec", container, "wrk", "--latency", "-t2", f"-c{connections}", f"-d{seconds}s",
                          f"http://127.0.0.1:8000{path}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    p99 = re.search(r"\n\s+99%\s+(\S+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert not errors and "Socket errors" not in out, out
    return rps, p99


def workers(harness):
    """Requests/s for 1, vCPU (the default) and 2 x vCPU + 1 workers, on /version and a CPU-bound /cpu."""
    vcpus = int(subprocess.run(["docker", "exec", CONTAINER, "nproc"], capture_output=True, text=True, check=True).stdout)
    app = Path(harness.workdir) / "cpu"
    shutil.copytree(Path(harness.apps["v1"]), app)
    (app / "main.py").write_text((app / "main.py").read_text() + CPU_ROUTE)
    subprocess.run(["docker", "exec", CONTAINER, "sh", "-c", "command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)"],
                   check=True, capture_output=True)
    counts = {"1": 1, f"vCPU = {vcpus} (default)": vcpus, f"2 x vCPU + 1 = {2 * vcpus + 1}": 2 * vcpus + 1}
    measured = {}
    for label, count in counts.items():
        extra = {"fastapi_gunicorn_workers": count, "fastapi_gunicorn_app_src": str(app) + "/"}
        deployed = run_playbook(harness.inventory, "molecule/zero_downtime/change.yml", extra, timeout=600)
        assert deployed.returncode == 0, deployed.stdout[-3000:]
        for path in ("/version", "/cpu"):
            measured[(path, label)] = wrk(CONTAINER, path)
    harness.play()  # back to the base state
    rows = []
    for path in ("/version", "/cpu"):
        best = max(rps for (p, _workers), (rps, _p99) in measured.items() if p == path)
        for label in counts:
            rps, p99 = measured[(path, label)]
            rows.append([path, label, f"{rps:.0f}", p99, f"{rps / best:.2f}"])
    return table([("endpoint", 9), ("workers", 24), ("req/s", 7), ("p99", 9), ("of best", 7)], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs"))
    parser.add_argument("--only", nargs="*", help="path names to run")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ordered = PATHS[:2] + [FLOOR] + PATHS[2:] + CONTROLS + BASELINES
    selected = [p for p in ordered if not args.only or p.name in args.only]
    plan = [(p, True) for p in selected] + [(p, False) for p in selected if p.name in ("code", "dependencies", "baseline_hup", "baseline_restart")]
    harness = Harness([CONTAINER], load_path="/version", settle=2.0)  # as fast as the host answers
    results = []
    try:
        for path, keepalive in plan:
            print(f"running {path.name} (keep-alive {'on' if keepalive else 'off'}) ...", file=sys.stderr, flush=True)
            result = harness.run(path, keepalive=keepalive)
            results.append({**result, **result.pop("hosts")[CONTAINER]})
        goal_text = goals(harness, results)
        venv_text = venv_builds(harness)
        worker_text = workers(harness)
    finally:
        harness.close()
    text = "\n\n".join([table(COLUMNS, [row(r) for r in results]), goal_text, venv_text, worker_text])
    print(text)
    (out / "benchmark.txt").write_text(text + "\n", encoding="utf-8")
    plot(results, out / "benchmark.png")
    print(f"\nwrote {out / 'benchmark.txt'} and {out / 'benchmark.png'}")


if __name__ == "__main__":
    main()
