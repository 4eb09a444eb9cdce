# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Filters for the roles' input checks: every failure, found in one pass."""

from __future__ import annotations

import ipaddress
import json
import re

DOCUMENTATION = r"""
---
name: format_errors
short_description: Name every value that is not of its kind or does not match its pattern in full
version_added: 1.1.0
description:
  - Takes a list of checks and returns one message per failed check, naming the variable. Every value must be a
    string, or an integer written in ASCII digits; a boolean, a float, a list, a mapping or null never is (a YAML
    number such as C(0.30) would lose its meaning as a string, so the message says to quote it).
  - A check with C(pattern) wants every value to match it in full (a trailing newline does not).
  - A check with C(range) wants every value to be a whole number between its two bounds (C(null) for no upper
    bound), written in ASCII digits; the role writes that canonical integer.
  - A check with C(kind=network) wants IP addresses or networks (C(address/prefix)), or C(*).
  - A check with C(kind=address) wants C(host:port) entries whose host is an IP address (C([ipv6]:port) for IPv6),
    or C(unix:) paths; with C(names=true), a host name is allowed too. Ports are between 1 and 65535.
options:
  _input:
    description: The checks.
    type: list
    elements: dict
    required: true
    suboptions:
      var:
        description: The variable's name, as the message shows it.
        type: str
        required: true
      got:
        description: Its values.
        type: list
        elements: raw
        required: true
      want:
        description: What the variable must be, as the message shows it.
        type: str
        required: true
      pattern:
        description: A regular expression each value must match in full.
        type: str
      range:
        description: The lowest and highest whole number allowed (C(null) for no upper bound).
        type: list
        elements: int
      kind:
        description: A format that needs more than a pattern.
        type: str
        choices: [network, address]
      names:
        description: With C(kind=address), allow host names.
        type: bool
        default: false
      secret:
        description: Do not print the values.
        type: bool
        default: false
"""

EXAMPLES = r"""
- name: Check formats
  ansible.builtin.assert:
    that: _errors == []
    fail_msg: "{{ _errors | join('; ') }}"
  vars:
    _errors: >-
      {{ [{'var': 'my_name', 'got': [my_name], 'pattern': '[a-z]+', 'want': 'lower-case letters'},
          {'var': 'my_workers', 'got': [my_workers], 'range': [1, none], 'want': 'at least 1'},
          {'var': 'my_proxies', 'got': my_proxies, 'kind': 'network', 'want': 'IP addresses or networks'}]
         | fastapi_gunicorn.deploy.format_errors }}
"""

RETURN = r"""
_value:
  description: One message per failed check, naming the variable, what it must be and the values that are not.
  type: list
  elements: str
"""

_DIGITS = re.compile(r"[0-9]+")
_ADDRESS = re.compile(r"(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>[0-9]{1,5})")
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def _kind_problem(value):
    """Why a value is not a string or an ASCII integer, or None."""
    if isinstance(value, bool) or value is None:
        return "a YAML %s: quote it if you mean the text" % ("boolean" if isinstance(value, bool) else "null")
    if isinstance(value, float):
        return "a YAML number, read as %s: quote it to keep it as written" % value
    if isinstance(value, (list, tuple, dict)):
        return "a %s, where one value belongs" % ("mapping" if isinstance(value, dict) else "list")
    if not isinstance(value, (str, int)):
        return "a %s" % type(value).__name__
    return None


def _in_range(value, bounds):
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        return False
    number = int(value)
    low, high = bounds
    return number >= low and (high is None or number <= high)


def _is_network(value):
    if value == "*":
        return True
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_address(value, names):
    if value.startswith("unix:"):
        return value[5:].startswith("/")
    match = _ADDRESS.fullmatch(value)
    if not match or not 1 <= int(match.group("port")) <= 65535:
        return False
    try:
        ip = ipaddress.ip_address(match.group("ipv6") or match.group("host"))
    except ValueError:
        return bool(names and match.group("host") and _HOST_NAME.fullmatch(match.group("host")))
    return (ip.version == 6) == bool(match.group("ipv6"))


def _valid(check, value):
    if "range" in check:
        return _in_range(value, check["range"])
    text = str(value)
    if "pattern" in check and not re.fullmatch(check["pattern"], text):
        return False
    if check.get("kind") == "network":
        return _is_network(text)
    if check.get("kind") == "address":
        return _is_address(text, check.get("names", False))
    return True


def format_errors(checks):
    errors = []
    for check in checks:
        kinds = [problem for problem in map(_kind_problem, check["got"]) if problem]
        bad = [value for value in check["got"] if not _kind_problem(value) and not _valid(check, value)]
        if kinds or bad:
            if check.get("secret"):
                shown = "a value is not valid"
            else:
                shown = "not valid: " + json.dumps([value if isinstance(value, (int, str)) and not isinstance(value, bool) else str(value)
                                                    for value in check["got"] if _kind_problem(value) or value in bad], ensure_ascii=False)
            errors.append("%s must be %s; %s%s" % (check["var"], check["want"], shown, "".join(" (%s)" % kind for kind in sorted(set(kinds)))))
    return errors


class FilterModule:
    def filters(self):
        return {"format_errors": format_errors}
