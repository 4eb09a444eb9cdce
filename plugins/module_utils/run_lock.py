# -*- coding: utf-8 -*-
# MIT License (see galaxy.yml)
"""The run lock of a service on the host: one file, created with O_EXCL, holding its owner's line
(controller, ansible-playbook process, start time, user, then `since=`). host_state takes it and
state_files gives it back."""

from __future__ import annotations

import fcntl
import os
import time


def held_by(path):
    """The lock's owner line, or '' when there is no lock."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def take(path, owner, stale, timeout):
    """Create the lock file with O_EXCL (waiting up to timeout seconds for its holder), after
    removing a lock whose content is stale: a run known to be gone."""
    result = {"taken": False, "held_by": "", "took_over": ""}
    if stale:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                result["took_over"] = stale if remove_if_stale(handle, path, stale) else ""
        except FileNotFoundError:
            pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if time.monotonic() >= deadline:
                result["held_by"] = held_by(path)
                return result
            time.sleep(0.5)
            continue
        with os.fdopen(handle, "w") as lock:
            lock.write(owner.strip() + "\n")
        result["taken"] = True
        return result


def remove_if_stale(handle, path, stale):
    """Remove the lock opened as `handle` if it holds `stale` and `path` still names it. Runs that
    find the same stale lock take turns (flock on it): the first removes it and may take the lock
    anew; the others then find that `path` names another file, or none, and leave it alone."""
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        same = os.path.samestat(os.stat(path), os.fstat(handle.fileno()))
    except FileNotFoundError:
        return False
    if not same or handle.read().strip() != stale:
        return False
    os.unlink(path)
    return True


def give_back(path, owner):
    """Remove the lock if `owner` holds it (its line starts with the owner and a space); whether it did."""
    if not held_by(path).startswith(owner + " "):
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
