# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The files of a fastapi_gunicorn state, by key."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: state_files
short_description: Where each file of a fastapi_gunicorn state lives
version_added: 2.0.0
description:
  - For each key of a state (C(conf), C(env), C(service), C(socket), or a companion's unit file name), returns its
    file's name in the state's directory, where it is installed, its owner, group and mode, whether it is secret, and
    the role template it is rendered from.
options:
  _input:
    description: The keys.
    type: list
    elements: str
    required: true
  service:
    description: The service's unit name, without C(.service).
    type: str
    required: true
  group:
    description: The service's group (it reads C(gunicorn_conf.py)).
    type: str
    required: true
  config_dir:
    description: The service's configuration directory.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show where the files of a state with a socket unit go
  ansible.builtin.debug:
    msg: "{{ ['conf', 'env', 'service', 'socket'] | fastapi_gunicorn.deploy.state_files(service='orders', group='orders', config_dir='/etc/orders') }}"
"""

RETURN = r"""
_value:
  description: One entry per key, with C(key), C(name), C(dest), C(owner), C(group), C(mode), C(secret) and C(template).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def state_files(keys, service, group, config_dir):
    try:
        return state.state_files(list(keys), service, group, config_dir)
    except ValueError as error:
        raise AnsibleFilterError(str(error)) from None


class FilterModule:
    def filters(self):
        return {"state_files": state_files}
