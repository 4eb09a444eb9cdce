# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The healthy states a host's record lists."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: state_history
short_description: The healthy states of a fastapi_gunicorn service, from a read of its host
version_added: 2.0.0
description:
  - Returns the record's healthy states, newest (live) first, each with C(preload), whether its service unit (read from
    its state's directory) preloads the app in the master, so a switch to it knows a reload must be a restart.
options:
  _input:
    description:
      - The read of the host (P(fastapi_gunicorn.deploy.host_facts#module)), with the record among its files and the kept
        states' service units among its globs (C(units)).
    type: dict
    required: true
extends_documentation_fragment:
  - fastapi_gunicorn.deploy.module.STATES
"""

EXAMPLES = r"""
- name: Show the kept states of orders
  ansible.builtin.debug:
    msg: "{{ orders_host | fastapi_gunicorn.deploy.state_history(states_dir='/etc/orders/states', service='orders') }}"
"""

RETURN = r"""
_value:
  description: The states (C(state), C(release), C(venv), C(python), C(digests), C(since), C(preload)), newest first.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def state_history(read, states_dir, service):
    try:
        return state.record_history(dict(read), states_dir, service)
    except ValueError as error:
        raise AnsibleFilterError("the record of healthy states cannot be read: %s" % error) from None


class FilterModule:
    def filters(self):
        return {"state_history": state_history}
