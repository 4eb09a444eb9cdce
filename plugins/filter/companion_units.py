# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The systemd units of a service's companion workers and jobs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: companion_units
short_description: The units of a fastapi_gunicorn service's companion workers and scheduled jobs
version_added: 2.0.0
description:
  - Fills in each companion's defaults (an empty C(schedule), a C(stop_timeout) of 30 seconds) and names its units
    after the service and itself. A worker is C(<service>-<name>.service); a scheduled job is that service and the
    C(<service>-<name>.timer) that starts it.
options:
  _input:
    description: The companions (C(name), C(command), optional C(schedule) and C(stop_timeout)).
    type: list
    elements: dict
    required: true
  service:
    description: The service's unit name, without C(.service).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show the units of a worker and a job of orders
  ansible.builtin.debug:
    msg: >-
      {{ [{'name': 'worker', 'command': ['celery', '-A', 'orders', 'worker']},
          {'name': 'cleanup', 'command': ['python', '-m', 'orders.cleanup'], 'schedule': '*:0/15'}]
         | fastapi_gunicorn.deploy.companion_units(service='orders') }}
"""

RETURN = r"""
_value:
  description:
    - C(companions), the companions with their defaults; C(units), one entry per unit file (C(key), its file name,
      and C(companion)); C(started), the units the service's wanted state applies to (the workers' services and the
      jobs' timers).
  type: dict
"""

from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def companion_units(companions, service):
    return state.companion_units(list(companions), service)


class FilterModule:
    def filters(self):
        return {"companion_units": companion_units}
