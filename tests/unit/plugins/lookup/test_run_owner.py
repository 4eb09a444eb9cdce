"""run_owner names this run by its controller's machine and boot, and knows when a holder is gone."""

from __future__ import annotations

import os

from ansible_collections.fastapi_gunicorn.deploy.plugins.lookup import run_owner


def test_owner_names_the_controller_process_and_start():
    line = run_owner.owner(os.getpid())
    fields = dict(word.split("=", 1) for word in line.split())
    assert fields["controller"] == run_owner.identity() and fields["pid"] == str(os.getpid())
    assert fields["start"] == run_owner.start_time(os.getpid()) and fields["start"]


def test_stale_only_when_the_run_is_known_to_be_gone():
    me = run_owner.identity()
    machine, boot = me.split(":")
    alive = run_owner.owner(os.getpid())
    assert run_owner.stale(alive, me) == ""
    gone = "controller=%s pid=%d start=1 user=x" % (me, os.getpid())
    assert run_owner.stale(gone, me) == gone
    rebooted = "controller=%s:other-boot pid=1 start=1" % machine
    assert run_owner.stale(rebooted, me) == rebooted
    assert run_owner.stale("controller=another-machine:%s pid=1 start=1" % boot, me) == ""
    assert run_owner.stale("not a lock line", me) == ""
