# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""A command run from a virtualenv: its first word, when it has no '/', is a program of the venv."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: venv_argv
short_description: A command's argv with a bare program name taken from a virtualenv's bin
version_added: 1.5.0
description:
  - Returns the command with its first word prefixed by O(venv)C(/bin/) when that word has no C(/)
    (C(python), C(alembic), C(celery)); an absolute first word and the other words are kept as they are.
options:
  _input:
    description: The command, one word per entry.
    type: list
    elements: str
    required: true
  venv:
    description: The virtualenv's directory.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Run alembic from the release's virtualenv
  ansible.builtin.command:
    argv: "{{ ['alembic', 'upgrade', 'head'] | fastapi_gunicorn.deploy.venv_argv('/srv/app/venvs/0123456789ab') }}"
  changed_when: true
"""

RETURN = r"""
_value:
  description: The command, its first word resolved in the venv.
  type: list
  elements: str
"""


def venv_argv(command, venv):
    words = list(command)
    if words and "/" not in words[0]:
        words[0] = f"{venv}/bin/{words[0]}"
    return words


class FilterModule:
    def filters(self):
        return {"venv_argv": venv_argv}
