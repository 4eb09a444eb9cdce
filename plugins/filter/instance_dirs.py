# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The directories of the other instances of the role on a host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: instance_dirs
short_description: The directories of the other fastapi_gunicorn services on a host, from their records
version_added: 2.0.0
description:
  - Each service's record of healthy states names the service and its base and configuration directories. For every
    record of another service, returns those, and the state, runtime and build cache directories systemd gives it.
    Files that are not such a record are passed over.
options:
  _input:
    description: The records' text, by path (P(fastapi_gunicorn.deploy.host_facts#module)'s RV(globbed)).
    type: dict
    required: true
  service:
    description: This service's unit name (its own record is passed over).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse a base directory of another service
  ansible.builtin.assert:
    that: >-
      ['/srv/orders'] | fastapi_gunicorn.deploy.paths_within(orders_host.globbed.records
                                                             | fastapi_gunicorn.deploy.instance_dirs(service='orders'), overlap=true) == []
"""

RETURN = r"""
_value:
  description: The directories.
  type: list
  elements: str
"""

from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def instance_dirs(records, service):
    return state.instance_dirs(dict(records), service)


class FilterModule:
    def filters(self):
        return {"instance_dirs": instance_dirs}
