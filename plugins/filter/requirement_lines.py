# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Requirement lines of a requirements or constraints file."""

from __future__ import annotations

import re

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


def requirement_lines(text):
    joined = re.sub(r"\\[ \t]*\r?\n[ \t]*", " ", text or "")
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


class FilterModule:
    def filters(self):
        return {"requirement_lines": requirement_lines}
