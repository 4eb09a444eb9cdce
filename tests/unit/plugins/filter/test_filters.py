"""The filters as the role calls them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fastapi_gunicorn.deploy.plugins.filter import (companion_units, format_errors, instance_dirs, paths_within,
                                                                        requirement_lines, state_files, state_history, state_plan,
                                                                        switch_actions, systemd_run, venv_argv, venv_name)


def test_every_filter_file_registers_its_filter():
    for module, name in ((companion_units, "companion_units"), (format_errors, "format_errors"), (instance_dirs, "instance_dirs"),
                         (paths_within, "paths_within"), (requirement_lines, "requirement_lines"), (state_files, "state_files"),
                         (state_history, "state_history"), (state_plan, "state_plan"), (switch_actions, "switch_actions"),
                         (systemd_run, "systemd_run"), (venv_argv, "venv_argv"), (venv_name, "venv_name")):
        assert name in module.FilterModule().filters(), module


@pytest.mark.parametrize("path,inside", [("/run", True), ("/run/app", True), ("/runner", False), ("/srv/./app", False),
                                         ("/var/lib/app/x", True), ("/var/lib/apps", False), ("/srv/../run/x", True), ("//tmp//a/", True)])
def test_paths_within_compares_components(path, inside):
    assert bool(paths_within.paths_within([path], ["/run", "/tmp", "/var/lib/app"])) == inside


def test_paths_within_with_overlap_counts_a_containing_path():
    assert paths_within.paths_within(["/srv"], ["/srv/other"]) == []
    assert paths_within.paths_within(["/srv"], ["/srv/other"], overlap=True) == [["/srv", "/srv/other"]]


def test_requirement_lines_joins_continuations_and_drops_comments():
    text = "# pins\nfastapi==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n\nuvicorn  # the server\nx @ https://h/p.whl#sha256=1\n"
    assert requirement_lines.requirement_lines(text) == ["fastapi==1.0  --hash=sha256:aa  --hash=sha256:bb", "uvicorn",
                                                         "x @ https://h/p.whl#sha256=1"]


def test_venv_argv_takes_a_bare_program_from_the_venv():
    assert venv_argv.venv_argv(["alembic", "upgrade"], "/v") == ["/v/bin/alembic", "upgrade"]
    assert venv_argv.venv_argv(["/usr/bin/env", "python3"], "/v") == ["/usr/bin/env", "python3"]


def test_format_errors_names_each_variable_and_hides_secrets():
    checks = [{"var": "a", "got": ["ok", "bad\n"], "pattern": "[a-z]+", "want": "letters"},
              {"var": "s", "got": ["x y"], "pattern": r"\S+", "want": "no spaces", "secret": True}]
    assert format_errors.format_errors(checks) == ['a must be letters; not valid: ["bad\\n"]', "s must be no spaces; a value does not match"]


def test_state_files_names_a_bad_key():
    with pytest.raises(AnsibleFilterError):
        state_files.state_files(["nope"], "app", "app", "/etc/app")


def test_state_plan_names_an_unreadable_record():
    read = {"files": {"record": '{"history": 1}'}, "digests": {}, "drift": {}}
    with pytest.raises(AnsibleFilterError, match="record of healthy states"):
        state_plan.state_plan({"conf": ""}, "r", "h", "/r", "/v", "/p", [], read, "/s", "app")


def test_systemd_run_merges_the_spec_and_the_extras():
    spec = {"user": "app", "group": "app", "properties": ["ProtectSystem=strict"], "environment": {"N": 1}}
    argv = systemd_run.systemd_run(spec, ["EnvironmentFile=/e"], working_directory="/w")
    assert argv[-5:] == ["--property=ProtectSystem=strict", "--property=EnvironmentFile=/e", "--setenv=N=1", "--working-directory=/w", "--"]


def test_switch_actions_and_companion_units_wrappers():
    assert switch_actions.switch_actions(None, {"release": "r", "digests": {"conf": "a"}}, [], False)["reload"]
    assert companion_units.companion_units([], "app") == {"companions": [], "units": [], "started": []}
    assert len(venv_name.venv_name(["a==1"], "/p", "3")) == 12
