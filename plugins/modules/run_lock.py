#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_lock
short_description: Take or give back the run lock of a fastapi_gunicorn service
version_added: 2.0.0
description:
  - One run at a time changes a service. With O(state=present) the run takes the lock, a file created whole
    with O(owner) in it, in a directory only root may write; with O(state=absent) it gives the lock back, only
    if it still holds it.
  - A lock held by another run is waited for, up to O(timeout) seconds; then RV(held_by) names the holder and
    nothing is taken. A lock whose content is O(stale) (a run known to be gone) is taken over at once.
  - Beside the lock, a generation counter goes up each time the lock is taken or given back. A run that read
    the host before it took the lock compares RV(generation) with the counter it read then. When they are
    equal, no run held the lock in between, and its read still stands.
options:
  path:
    description: The lock file. Its directory is made root's (0700) when missing, and refused when another account may write it.
    type: path
    required: true
  state:
    description: C(present) takes the lock, C(absent) gives it back.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - Who takes the lock, on one line (the controller, the C(ansible-playbook) process and its start). O(state=absent)
        gives the lock back only when its content is this, or starts with this and a space.
    type: str
    required: true
  timeout:
    description: Seconds to wait for a lock another run holds.
    type: int
    default: 0
  stale:
    description: The content of a lock whose run is known to be gone; such a lock is taken over. Empty takes over nothing.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description: A dry run takes and gives back nothing; it reports the lock as not taken.
  diff_mode:
    support: none
    description: The lock is not part of what a run deploys.
notes:
  - Taking or giving back the lock is not a change of the host's state, so the module never reports C(changed).
extends_documentation_fragment:
  - fastapi_gunicorn.deploy.module
"""

EXAMPLES = r"""
- name: Take the lock of orders, waiting up to 10 minutes for another run
  fastapi_gunicorn.deploy.run_lock:
    path: /run/fastapi_gunicorn/orders.lock
    owner: "controller=3f2a... pid=4242 start=88123 user=deploy since=2026-12-01T10:00:00+00:00"
    timeout: 600
  register: orders_lock

- name: Give it back
  fastapi_gunicorn.deploy.run_lock:
    path: /run/fastapi_gunicorn/orders.lock
    owner: "controller=3f2a... pid=4242 start=88123 user=deploy"
    state: absent
"""

RETURN = r"""
taken:
  description: Whether this call took the lock.
  returned: O(state=present)
  type: bool
  sample: true
held_by:
  description: The holder's line (printable) when the lock was not taken.
  returned: O(state=present)
  type: str
  sample: ""
took_over:
  description: The content of a stale lock this call replaced (printable), else empty.
  returned: O(state=present)
  type: str
  sample: ""
owner:
  description: The owner line the lock holds when this call took it, to give it back with.
  returned: O(state=present)
  type: str
  sample: "controller=3f2a...:9c1d... pid=4242 start=88123 user=deploy host=ci since=2026-12-01T10:00:00+00:00"
generation:
  description: The generation counter before this call took the lock.
  returned: O(state=present)
  type: int
  sample: 12
released:
  description: Whether this call gave the lock back.
  returned: O(state=absent)
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils import run_lock


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "owner": {"type": "str", "required": True},
            "timeout": {"type": "int", "default": 0},
            "stale": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    if "\n" in params["owner"].strip():
        module.fail_json(msg="owner must be one line")
    try:
        if params["state"] == "absent":
            released = not module.check_mode and run_lock.give_back(params["path"], params["owner"])
            module.exit_json(changed=False, released=released)
        if module.check_mode:
            module.exit_json(changed=False, taken=False, held_by="", took_over="", generation=run_lock.generation(params["path"]),
                             owner=params["owner"].strip())
        module.exit_json(changed=False, **run_lock.take(params["path"], params["owner"], params["stale"], params["timeout"]))
    except (OSError, run_lock.NotRootOnly) as error:
        module.fail_json(msg="the lock %s: %s" % (params["path"], error))


if __name__ == "__main__":
    main()
