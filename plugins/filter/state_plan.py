# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The state a fastapi_gunicorn run makes live, and what differs on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: state_plan
short_description: Plan the state a fastapi_gunicorn run makes live, from what it rendered and what it read
version_added: 2.0.0
description:
  - Digests the rendered files (the secret environment by the host's keyed digest) and names the state after its
    release, its code, its virtualenv and those digests.
  - Reads the record of healthy states from the read of the host, and lists what differs from the planned state by
    phase, the read's own differences included. A run whose plan has none changes nothing.
options:
  _input:
    description: The rendered files, by key (the secret environment's content is not used).
    type: dict
    required: true
  release:
    description: The release id.
    type: str
    required: true
  source_hash:
    description: The content hash of the release's code.
    type: str
    required: true
  release_dir:
    description: The release's directory on the host.
    type: str
    required: true
  venv:
    description: The virtualenv's directory on the host.
    type: str
    required: true
  python:
    description: The interpreter it is made from.
    type: str
    required: true
  files:
    description: The state's files (P(fastapi_gunicorn.deploy.state_files#filter)).
    type: list
    elements: dict
    required: true
  read:
    description:
      - The read of the host (P(fastapi_gunicorn.deploy.host_facts#module)), with the record and the release marker among its
        files, and the kept states' service units among its globs (C(units)).
    type: dict
    required: true
extends_documentation_fragment:
  - fastapi_gunicorn.deploy.module.STATES
"""

EXAMPLES = r"""
- name: Plan the state
  ansible.builtin.set_fact:
    orders_plan: >-
      {{ orders_rendered | fastapi_gunicorn.deploy.state_plan(release='v42', source_hash=orders_source.hash,
         release_dir='/srv/orders/releases/v42', venv=orders_venv, python='/usr/bin/python3', files=orders_files, read=orders_host,
         states_dir='/etc/orders/states', service='orders') }}
"""

RETURN = r"""
_value:
  description:
    - C(state), C(release), C(release_dir), C(venv), C(python) and C(digests) of the planned state; C(history) and C(live),
      the record's healthy states and the live one; C(is_new), whether the planned state is not live; C(release_free),
      whether the release id is free for this code; C(release_found), whether the release is on the host; C(preload);
      C(drift), the differences by phase; C(converged), whether there are none.
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def state_plan(rendered, release, source_hash, release_dir, venv, python, files, read, states_dir, service):
    try:
        return state.plan(release, source_hash, venv, python, dict(rendered), read.get("secret_digest", ""), list(files), read, release_dir,
                          states_dir, service)
    except ValueError as error:
        raise AnsibleFilterError("the record of healthy states cannot be read: %s" % error) from None


class FilterModule:
    def filters(self):
        return {"state_plan": state_plan}
