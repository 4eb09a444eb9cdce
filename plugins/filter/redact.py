# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Mask secrets in text the app printed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: redact
short_description: Replace every occurrence of each secret in a text with C(********)
version_added: 2.1.0
description:
  - The app's own code (its import, its migrations) runs with the secret environment, and may print it. What it
    printed is shown only through this filter. Longer secrets are replaced first, so a secret that holds another
    is masked whole.
options:
  _input:
    description: The text.
    type: str
    required: true
  secrets:
    description: The values to mask; empty ones are passed over.
    type: list
    elements: raw
    required: true
"""

EXAMPLES = r"""
- name: Show what the migration printed
  ansible.builtin.debug:
    msg: "{{ migration.stdout | fastapi_gunicorn.deploy.redact(fastapi_gunicorn_secret_environment.values()) }}"
"""

RETURN = r"""
_value:
  description: The text, each secret replaced with C(********).
  type: str
"""


def redact(text, secrets):
    text = str(text)
    for secret in sorted({str(value) for value in secrets if str(value)}, key=len, reverse=True):
        text = text.replace(secret, "********")
    return text


class FilterModule:
    def filters(self):
        return {"redact": redact}
