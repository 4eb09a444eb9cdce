# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Filters for the roles' input checks: every failure, found in one pass."""

from __future__ import annotations

import json
import re

DOCUMENTATION = r"""
---
name: format_errors
short_description: Name every value that does not match its pattern in full
version_added: 1.1.0
description:
  - Takes a list of checks, each with C(var) (the variable's name), C(got) (its values), C(pattern) (a regular
    expression every value must match in full; a trailing newline does not), C(want) (what the variable must
    be) and optional C(secret) (do not print the values). Returns one message per failed check.
options:
  _input:
    description: The checks.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Check formats
  ansible.builtin.assert:
    that: _errors == []
    fail_msg: "{{ _errors | join('; ') }}"
  vars:
    _errors: "{{ [{'var': 'my_name', 'got': [my_name], 'pattern': '[a-z]+', 'want': 'lower-case letters'}] | fastapi_gunicorn.deploy.format_errors }}"
"""

RETURN = r"""
_value:
  description: One message per failed check, naming the variable, what it must be and the values that do not match.
  type: list
  elements: str
"""


def format_errors(checks):
    errors = []
    for check in checks:
        pattern = re.compile(check["pattern"])
        bad = [str(value) for value in check["got"] if not pattern.fullmatch(str(value))]
        if bad:
            shown = "a value does not match" if check.get("secret") else "not valid: " + json.dumps(bad)
            errors.append("%s must be %s; %s" % (check["var"], check["want"], shown))
    return errors


class FilterModule:
    def filters(self):
        return {"format_errors": format_errors}
