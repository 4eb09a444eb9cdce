# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The name of a dependency set's virtualenv."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: venv_name
short_description: Name a virtualenv after its dependency set
version_added: 2.0.0
description:
  - Returns 12 hex digits of SHA-256 over the interpreter, its version and the requirement lines, so a new dependency
    set (or a new interpreter) gets a new virtualenv, and the set a running master uses is never changed.
options:
  _input:
    description: The requirement lines, in order.
    type: list
    elements: str
    required: true
  python:
    description: The interpreter the virtualenv is made from.
    type: str
    required: true
  version:
    description: That interpreter's C(sys.version).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show the virtualenv of a dependency set
  ansible.builtin.debug:
    msg: "/srv/orders/venvs/{{ ['gunicorn==27.0.1', 'fastapi==0.165.0'] | fastapi_gunicorn.deploy.venv_name('/usr/bin/python3', '3.11.2') }}"
"""

RETURN = r"""
_value:
  description: The name, 12 hex digits.
  type: str
"""

from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def venv_name(requirements, python, version):
    return state.venv_name(python, version, [str(line) for line in requirements])


class FilterModule:
    def filters(self):
        return {"venv_name": venv_name}
