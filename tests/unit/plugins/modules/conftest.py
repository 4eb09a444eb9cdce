"""Run a module's main() in-process with its arguments, as Ansible would, and catch its result."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class Exit(Exception):
    def __init__(self, result, failed):
        super().__init__(result)
        self.result, self.failed = result, failed


def _exit(self, **result):
    raise Exit(result, False)


def _fail(self, msg, **result):
    raise Exit(dict(result, msg=msg, failed=True), True)


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args, check=False, diff=False) -> the module's result, as JSON would carry it
    (secrets it printed would be in it), with failed=True when it failed."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail)

    def run(main, args, check=False, diff=False):
        with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
            try:
                main()
            except Exit as result:
                return json.loads(json.dumps(result.result, default=str))
        raise AssertionError("the module neither exited nor failed")

    return run
