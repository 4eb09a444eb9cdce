# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Who this run is, for the run lock, and whether the run that holds a lock is gone."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: run_owner
short_description: Name this run for the run lock, and tell whether the run holding a lock is gone
version_added: 2.0.0
description:
  - Names this run as C(controller=<machine id>:<boot id> pid=<pid> start=<start> user=<user> host=<name>), where pid and
    start are those of the C(ansible-playbook) process on the controller. The machine and boot ids tell controllers apart
    even when they share a host name.
  - Given O(held), the content of a lock, returns it as the C(stale) of the result when its run is known to be gone. That is
    a run of this controller whose process no longer runs (with that start time), or a run of this controller's
    machine from before its last boot.
options:
  held:
    description: The content of the lock a run found; empty when there is none.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Name this run, and tell whether the holder of the lock is gone
  ansible.builtin.set_fact:
    run_owner: "{{ lookup('fastapi_gunicorn.deploy.run_owner', held=lock_content) }}"
"""

RETURN = r"""
_raw:
  description: One dict with C(owner), this run's line, and C(stale), O(held) when its run is gone, else empty.
  type: list
  elements: dict
"""

import getpass
import os
import socket

from ansible.plugins.lookup import LookupBase


def read(path):
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def start_time(pid):
    """A process's start time (clock ticks since boot), '' when it does not run."""
    stat = read("/proc/%d/stat" % pid)
    return stat.rsplit(") ", 1)[-1].split()[19] if stat else ""


def identity():
    return "%s:%s" % (read("/etc/machine-id") or "unknown", read("/proc/sys/kernel/random/boot_id") or "unknown")


def owner(process=None):
    """This run: the ansible-playbook process is the parent of the worker that runs lookups."""
    pid = process or os.getppid()
    return "controller=%s pid=%d start=%s user=%s host=%s" % (identity(), pid, start_time(pid), getpass.getuser(), socket.gethostname())


def stale(held, me):
    """`held` when its run is known to be gone, else ''."""
    fields = dict(word.split("=", 1) for word in held.split() if "=" in word)
    if "controller" not in fields or "pid" not in fields:
        return ""
    machine, _sep, boot = fields["controller"].partition(":")
    my_machine, _sep, my_boot = me.partition(":")
    if machine != my_machine:
        return ""  # another controller: only it knows whether its run is over
    if boot != my_boot:
        return held  # this machine has booted since: that run is gone
    try:
        alive = start_time(int(fields["pid"])) == fields.get("start")
    except ValueError:
        return ""
    return "" if alive else held


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        held = (self.get_option("held") or "").strip()
        return [{"owner": owner(), "stale": stale(held, identity()) if held else ""}]
