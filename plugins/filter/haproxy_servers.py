# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Each app server as HAProxy reaches it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: haproxy_servers
short_description: How HAProxy reaches each app host of a fastapi_gunicorn fleet
version_added: 3.0.1
description:
  - For each app host, the address HAProxy connects to, the port, and how long the app keeps an idle connection.
  - The address is the host's C(fastapi_gunicorn_haproxy_server_address), else its C(ansible_host), else its
    inventory name.
  - The port is O(port) when it is above 0, else the port of the first TCP address in the host's
    C(fastapi_gunicorn_bind) (or in the app role's default), else 0 when the host binds unix sockets only.
  - The keep-alive is the host's C(fastapi_gunicorn_keepalive), else the app role's default.
options:
  _input:
    description: The app hosts' inventory names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The play's C(hostvars).
    type: dict
    required: true
  port:
    description: The port every server listens on; 0 takes each host's from its bind.
    type: int
    default: 0
  app_defaults:
    description: The app role's defaults, for the variables a host leaves unset.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show where HAProxy sends requests
  ansible.builtin.debug:
    msg: >-
      {{ groups['app'] | fastapi_gunicorn.deploy.haproxy_servers(hostvars,
           app_defaults=lookup('ansible.builtin.file', 'roles/fastapi_gunicorn/defaults/main.yml') | from_yaml) }}
"""

RETURN = r"""
_value:
  description: For each app host, its C(address), C(port) (an int, 0 when none is known) and C(keepalive) (an int, seconds).
  type: dict
"""


def whole_number(value):
    """The value as an int, or 0: the role's checks name a value that is not a whole number."""
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() else 0


def bind_port(binds):
    for bind in binds:
        if not str(bind).startswith("unix:"):
            return whole_number(str(bind).rsplit(":", 1)[-1])
    return 0


def haproxy_servers(hosts, hostvars, app_defaults, port=0):
    servers = {}
    for host in hosts:
        host_vars = hostvars[host]

        def setting(name, fallback, host_vars=host_vars):
            return host_vars[name] if name in host_vars else fallback

        address = setting("fastapi_gunicorn_haproxy_server_address", setting("ansible_host", host))
        binds = setting("fastapi_gunicorn_bind", app_defaults["fastapi_gunicorn_bind"])
        servers[host] = {
            "address": str(address),
            "port": whole_number(port) or bind_port(binds),
            "keepalive": whole_number(setting("fastapi_gunicorn_keepalive", app_defaults["fastapi_gunicorn_keepalive"])),
        }
    return servers


class FilterModule:
    def filters(self):
        return {"haproxy_servers": haproxy_servers}
