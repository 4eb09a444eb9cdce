# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Action of the state_install module: sends the archive from the controller to the host in the same task."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        archive = args.get("archive")
        try:
            if archive and not self._task.check_mode:
                local = archive.get("src") or ""
                if not os.path.isabs(local) or not os.path.isfile(local):
                    raise AnsibleActionFail("archive.src %s is not a file on the controller" % local)
                remote = self._connection._shell.join_path(self._make_tmp_path(), "archive.tar")
                self._transfer_file(local, remote)
                self._fixup_perms2((self._connection._shell.tmpdir, remote))
                args["archive"] = dict(archive, src=remote)
            result.update(self._execute_module(module_name="fastapi_gunicorn.deploy.state_install", module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
