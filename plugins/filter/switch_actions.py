# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""What a switch between two fastapi_gunicorn states needs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: switch_actions
short_description: What making one fastapi_gunicorn state live in place of another needs
version_added: 2.0.0
description:
  - Compares the two states' digests, and adds the files the install had to rewrite, so a run interrupted after the
    switch, or a hand-edited file, still gets its reload or restart.
  - A config or code change needs a graceful reload (HUP); a unit, virtualenv or environment change a restart behind
    the held sockets (so does a reload of a preloading state); new listen addresses a rebind; a companion's unit a
    daemon-reload and, for a worker, a restart after the service's health gate.
options:
  _input:
    description: The state that is live (C(release), C(digests)); empty on a first deploy.
    type: dict
    required: true
  target:
    description:
      - The state to make live (C(release), C(digests), and C(preload), whether it preloads the app in the master, so that a
        reload is a restart).
    type: dict
    required: true
  changed_keys:
    description: The keys of the files the install rewrote.
    type: list
    elements: str
    required: true
  link_changed:
    description: Whether the install moved C(current).
    type: bool
    required: true
"""

EXAMPLES = r"""
- name: Work out what the change needs
  ansible.builtin.set_fact:
    orders_switch: >-
      {{ orders_live | fastapi_gunicorn.deploy.switch_actions(target=orders_plan, changed_keys=orders_installed.changed_keys,
         link_changed=orders_installed.link_changed) }}
"""

RETURN = r"""
_value:
  description:
    - C(differs), the keys that differ; C(daemon_reload), C(rebind), C(unsocket), C(reload) and C(restart) (booleans);
      C(companions_removed) (units the target does not have), C(companions_to_jobs) (workers that became scheduled jobs)
      and C(companions_restart) (units to restart after the gate).
  type: dict
"""

from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def switch_actions(source, target, changed_keys, link_changed):
    return state.switch_actions(dict(source or {}), dict(target), list(changed_keys), link_changed)


class FilterModule:
    def filters(self):
        return {"switch_actions": switch_actions}
