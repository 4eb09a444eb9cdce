# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Requirement lines of a requirements or constraints file."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: requirement_lines
short_description: The requirement lines of a pip requirements or constraints file
version_added: 1.3.0
description:
  - Joins continued lines (a backslash at the end), drops comments and blank lines, and trims each line,
    so a hash-locked entry (C(name==1.0 --hash=sha256:...)) is one line.
options:
  _input:
    description: The file's text.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Read the app's requirements
  ansible.builtin.debug:
    msg: "{{ lookup('ansible.builtin.file', 'requirements.txt') | fastapi_gunicorn.deploy.requirement_lines }}"
"""

RETURN = r"""
_value:
  description: One entry per requirement.
  type: list
  elements: str
"""


from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import requirements


def requirement_lines(text):
    return requirements.requirement_lines(text)


class FilterModule:
    def filters(self):
        return {"requirement_lines": requirement_lines}
