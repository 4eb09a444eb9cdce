# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""What the fastapi_gunicorn role plans, as plain Python: the files of a state, the companion units,
the plan made from a read of the host, and what a switch between two states needs. The filter plugins
are thin wrappers around these functions (tests/unit/plugins/ tests them directly)."""

from __future__ import annotations

import hashlib
import json
import re

# The service's own files, by key: name in states/<id>/, where it is installed, its group and mode.
# A companion's unit is keyed by its file name (<service>-<name>.service or .timer), so any kept
# state's companions install and go away by their key alone.
COMPANION_KEY = re.compile(r"[.](service|timer)$")


def digest(text):
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def short_hash(words):
    return hashlib.sha256("\n".join(words).encode("utf-8", "surrogateescape")).hexdigest()[:12]


def file_meta(key, service, group, config_dir, units_dir="/etc/systemd/system"):
    """Where the file of `key` lives in a state and on the host."""
    fixed = {
        "conf": ("gunicorn_conf.py", config_dir + "/gunicorn_conf.py", group, "0640", False, "gunicorn_conf.py.j2"),
        "env": ("secret.env", config_dir + "/secret.env", "root", "0600", True, "secret.env.j2"),
        "service": (service + ".service", "%s/%s.service" % (units_dir, service), "root", "0644", False, "gunicorn.service.j2"),
        "socket": (service + ".socket", "%s/%s.socket" % (units_dir, service), "root", "0644", False, "gunicorn.socket.j2"),
    }
    if key in fixed:
        name, dest, owner_group, mode, secret, template = fixed[key]
    elif COMPANION_KEY.search(key):
        name, dest, owner_group, mode, secret = key, "%s/%s" % (units_dir, key), "root", "0644", False
        template = "companion.timer.j2" if key.endswith(".timer") else "companion.service.j2"
    else:
        raise ValueError("%r is not a state file key" % key)
    return {"key": key, "name": name, "dest": dest, "owner": "root", "group": owner_group, "mode": mode, "secret": secret,
            "template": template}


def state_files(keys, service, group, config_dir):
    return [file_meta(key, service, group, config_dir) for key in keys]


def companion_units(companions, service):
    """Each companion with its defaults, and its units: a worker's <service>-<name>.service, and a job's
    .service with the .timer that starts it. `started` are the units the service's state applies to."""
    filled = [dict({"schedule": "", "stop_timeout": 30}, **companion) for companion in companions]
    units, started = [], []
    for companion in filled:
        stem = "%s-%s" % (service, companion["name"])
        units.append({"key": stem + ".service", "companion": companion})
        if companion["schedule"]:
            units.append({"key": stem + ".timer", "companion": companion})
            started.append(stem + ".timer")
        else:
            started.append(stem + ".service")
    return {"companions": filled, "units": units, "started": started}


def state_keys(socket_activation, units):
    return ["conf", "env", "service"] + (["socket"] if socket_activation else []) + [unit["key"] for unit in units]


def venv_name(python, python_version, requirements):
    """A virtualenv per dependency set: the interpreter, its version and the requirement lines."""
    return short_hash([python, python_version] + list(requirements))


def record_history(read, states_dir, service):
    """The healthy states of the record a read of the host found, newest first ([] for none), each with
    whether it preloads the app in the master (its service unit, read from its state's directory, says)."""
    text = read["files"].get("record", "")
    if not text or not text.strip():
        return []
    history = json.loads(text).get("history", [])
    if not isinstance(history, list):
        raise ValueError("the record's history is not a list")
    units = read.get("globbed", {}).get("units", {})
    return [dict(entry, preload=" --preload" in units.get("%s/%s/%s.service" % (states_dir, entry.get("state"), service), ""))
            for entry in history]


def plan(release, source_hash, venv, python, rendered, secret_digest, files, read, release_dir, states_dir, service):
    """The state a run makes live, from what it rendered and what it read: its id and digests, the
    record's history and live state, whether it is new, whether its release id is free for this code,
    and what differs on the host, by phase (a run with none changes nothing)."""
    digests = {key: digest(rendered[key]) for key in rendered if key != "env"}
    digests["env"] = secret_digest
    digests = {meta["key"]: digests[meta["key"]] for meta in files}
    state = short_hash([release, source_hash, venv, json.dumps(sorted(digests.items()))])
    history = record_history(read, states_dir, service)
    live = history[0] if history else {}
    drift = {phase: list(problems) for phase, problems in read.get("drift", {}).items()}
    found = read.get("digests", {})
    drift.setdefault("live", []).extend(
        "%s differs from the planned state" % meta["dest"] for meta in files if found.get(meta["dest"]) != digests[meta["key"]])
    if state != live.get("state"):
        drift["live"].append("state %s (release %s) is not live; the live one is %s (release %s)"
                             % (state, release, live.get("state", "none"), live.get("release", "none")))
    marker = read["files"].get("marker", "").strip()
    return {
        "state": state, "release": release, "release_dir": release_dir, "venv": venv, "python": python, "digests": digests,
        "history": history, "live": live, "is_new": state != live.get("state"),
        "release_free": marker in ("", source_hash), "release_found": bool(marker),
        "preload": " --preload" in rendered.get("service", ""),
        "drift": drift, "converged": not any(drift.values()),
    }


def switch_actions(source, target, changed_keys, link_changed):
    """What making `target` live in place of `source` needs, from the two states' digests and from what
    the install had to rewrite (so a run interrupted after the switch, or a hand-edited file, still gets
    its reload or restart):
      config or code -> reload (HUP); unit, venv, environment -> restart behind the held sockets;
      new listen addresses -> rebind; a companion's unit -> daemon-reload, and a restart of the workers
      after the service's gate (a job's own unit is used at its next run). A target that preloads the app
      in the master (target['preload']) cannot load new code on a reload: it restarts instead."""
    before = source.get("digests", {})
    after = target["digests"]
    differs = sorted({key for key, value in after.items() if before.get(key) != value} | (set(before) - set(after)) | set(changed_keys))
    companions = [key for key in differs if COMPANION_KEY.search(key)]
    reload = "conf" in differs or source.get("release", "") != target["release"] or bool(link_changed)
    restart = bool({"service", "env", "socket"} & set(differs)) or (reload and bool(target.get("preload")))
    timers_now = {key[:-len(".timer")] + ".service" for key in after if key.endswith(".timer")}
    timers_before = {key[:-len(".timer")] + ".service" for key in before if key.endswith(".timer")}
    return {
        "differs": differs,
        "daemon_reload": bool({"service", "socket"} & set(differs)) or bool(companions),
        "rebind": "socket" in differs and "socket" in after,
        "unsocket": "socket" in before and "socket" not in after,
        "reload": reload,
        "restart": restart,
        "companions_removed": sorted(key for key in before if COMPANION_KEY.search(key) and key not in after),
        # A worker that became a scheduled job: stopped now, run by its timer from now on.
        "companions_to_jobs": sorted(key for key in timers_now if key in before and key not in timers_before),
        # A changed worker, or a changed timer (a job's own unit needs no restart: its next run uses it).
        "companions_restart": [key for key in companions if key in after and key not in timers_now],
    }


def systemd_run(user, group, properties, environment, working_directory=None, command=()):
    """The argv of `command` run by systemd as `user` in a transient unit with `properties`: its exit
    status is the task's, its output the task's. systemd expands $NAME in a transient unit's command
    line as in a unit file, so each $ of the command is written $$."""
    argv = ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec", "--uid=" + user, "--gid=" + group]
    argv += ["--property=" + prop for prop in properties]
    argv += ["--setenv=%s=%s" % (name, value) for name, value in environment.items()]
    if working_directory:
        argv.append("--working-directory=" + working_directory)
    return argv + ["--"] + [str(word).replace("$", "$$") for word in command]


def instance_dirs(records, service):
    """The directories of the other instances of the role on the host, from their records (files that are
    not such a record are passed over): their base and configuration directories, and the state, runtime
    and cache directories systemd gives their service."""
    found = []
    for text in records.values():
        try:
            instance = json.loads(text).get("fastapi_gunicorn")
        except (ValueError, AttributeError):
            continue
        if not isinstance(instance, dict) or instance.get("service") in (None, service):
            continue
        other = instance["service"]
        found += [instance.get("base_dir"), instance.get("config_dir"), "/var/lib/" + other, "/run/" + other,
                  "/var/cache/fastapi_gunicorn/" + other]
    return [directory for directory in found if directory]
