"""The filters as the role calls them."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fastapi_gunicorn.deploy.plugins.filter import (companion_units, env_file, format_errors, haproxy_servers, instance_dirs,
                                                                        paths_within,
                                                                        redact, requirement_lines, state_files, state_history, state_plan,
                                                                        switch_actions, systemd_run, venv_argv, venv_name)


def test_every_filter_file_registers_its_filter():
    for module, name in ((companion_units, "companion_units"), (env_file, "env_file"), (format_errors, "format_errors"), (haproxy_servers, "haproxy_servers"),
                         (instance_dirs, "instance_dirs"),
                         (paths_within, "paths_within"), (redact, "redact"), (requirement_lines, "requirement_lines"), (state_files, "state_files"),
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


def test_haproxy_servers_take_each_hosts_address_port_and_keepalive():
    defaults = {"fastapi_gunicorn_bind": ["127.0.0.1:8000"], "fastapi_gunicorn_keepalive": 75}
    hostvars = {"a": {"ansible_host": "10.0.0.1", "fastapi_gunicorn_bind": ["unix:/run/a/a.sock", "[::]:9000"]},
                "b": {"fastapi_gunicorn_haproxy_server_address": "10.0.0.2", "ansible_host": "b.example", "fastapi_gunicorn_keepalive": 5},
                "c": {"fastapi_gunicorn_bind": ["unix:/run/c/c.sock"]}}
    assert haproxy_servers.haproxy_servers(["a", "b", "c"], hostvars, defaults) == {
        "a": {"address": "10.0.0.1", "port": 9000, "keepalive": 75},
        "b": {"address": "10.0.0.2", "port": 8000, "keepalive": 5},
        "c": {"address": "c", "port": 0, "keepalive": 75}}
    assert haproxy_servers.haproxy_servers(["c"], hostvars, defaults, port=8080)["c"]["port"] == 8080


def test_haproxy_servers_read_a_value_that_is_not_a_whole_number_as_zero():
    hostvars = {"a": {"fastapi_gunicorn_bind": ["10.0.0.1:\uff18\uff10"], "fastapi_gunicorn_keepalive": "x"}}
    assert haproxy_servers.haproxy_servers(["a"], hostvars, {"fastapi_gunicorn_bind": [], "fastapi_gunicorn_keepalive": 75}, port="y") == {
        "a": {"address": "a", "port": 0, "keepalive": 0}}


def test_requirement_lines_joins_continuations_and_drops_comments():
    text = "# pins\nfastapi==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n\nuvicorn  # the server\nx @ https://h/p.whl#sha256=1\n"
    assert requirement_lines.requirement_lines(text) == ["fastapi==1.0  --hash=sha256:aa  --hash=sha256:bb", "uvicorn",
                                                         "x @ https://h/p.whl#sha256=1"]


def test_venv_argv_puts_the_venv_first_on_path_and_the_app_on_pythonpath():
    assert venv_argv.venv_argv(["alembic", "upgrade"], "/v")[:3] == ["/usr/bin/env", "PATH=/v/bin:" + venv_argv.SYSTEM_PATH, "VIRTUAL_ENV=/v"]
    assert venv_argv.venv_argv(["alembic", "upgrade"], "/v")[3:] == ["alembic", "upgrade"]
    assert venv_argv.venv_argv(["bash", "x.sh"], "/v", app="/r/backend")[3:] == ["PYTHONPATH=/r/backend", "bash", "x.sh"]


def test_format_errors_names_each_variable_and_hides_secrets():
    checks = [{"var": "a", "got": ["ok", "bad\n"], "pattern": "[a-z]+", "want": "letters"},
              {"var": "s", "got": ["x y"], "pattern": r"\S+", "want": "no spaces", "secret": True}]
    assert format_errors.format_errors(checks) == ['a must be letters; not valid: ["bad\\n"]', "s must be no spaces; a value is not valid"]


@pytest.mark.parametrize("value, hint", [(0.3, "a YAML number, read as 0.3: quote it"), (True, "a YAML boolean"), (None, "a YAML null"),
                                         (["x"], "a list"), ({"a": 1}, "a mapping")])
def test_format_errors_refuses_values_that_are_not_text(value, hint):
    [error] = format_errors.format_errors([{"var": "v", "got": [value], "pattern": ".*", "want": "a version"}])
    assert error.startswith("v must be a version; not valid: ") and hint in error


def test_format_errors_takes_ascii_integers_in_range_only():
    checks = [{"var": "w", "got": [4, "4", "\uff16\uff15", "4.0", 0, "0004"], "range": [1, None], "want": "at least 1"}]
    assert format_errors.format_errors(checks) == ['w must be at least 1; not valid: ["\uff16\uff15", "4.0", 0]']
    assert format_errors.format_errors([{"var": "p", "got": [65536, 1], "range": [1, 65535], "want": "a port"}]) == ["p must be a port; not valid: [65536]"]


def test_format_errors_checks_networks_and_addresses():
    networks = [{"var": "n", "got": ["*", "10.0.0.0/8", "::1", "192.0.2.7", ":", "10.0.0.0/33", "host"], "kind": "network", "want": "nets"}]
    assert format_errors.format_errors(networks) == ['n must be nets; not valid: [":", "10.0.0.0/33", "host"]']
    good = ["0.0.0.0:8000", "[::]:8000", "unix:/run/app/app.sock"]
    bad = ["localhost:8000", "::1:8000", "[127.0.0.1]:80", "127.0.0.1:0", "127.0.0.1:70000", "unix:relative"]
    assert format_errors.format_errors([{"var": "b", "got": good + bad, "kind": "address", "want": "addresses"}]) == [
        "b must be addresses; not valid: " + json.dumps(bad)]
    assert format_errors.format_errors([{"var": "b", "got": ["localhost:8000", "-x:80"], "kind": "address", "names": True, "want": "a"}]) == [
        'b must be a; not valid: ["-x:80"]']


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


def test_systemd_run_escapes_dollars_in_the_command():
    argv = systemd_run.systemd_run({"user": "b", "group": "b"}, command=["alembic", "-x", "db=${DATABASE_URL}", "$HOME", "a$$b"])
    assert argv[argv.index("--") + 1:] == ["alembic", "-x", "db=$${DATABASE_URL}", "$$HOME", "a$$$$b"]


def test_switch_actions_and_companion_units_wrappers():
    assert switch_actions.switch_actions(None, {"release": "r", "digests": {"conf": "a"}}, [], False)["reload"]
    assert companion_units.companion_units([], "app") == {"companions": [], "units": [], "started": []}
    assert len(venv_name.venv_name(["a==1"], "/p", "3")) == 12


def test_redact_masks_each_secret_longest_first():
    text = "connecting to postgresql://app:s3cret-pass@db/app as s3cret"
    assert redact.redact(text, ["s3cret", "s3cret-pass", ""]) == "connecting to postgresql://app:********@db/app as ********"


def test_env_file_escapes_what_systemd_would_read_as_syntax():
    text = env_file.env_file({"B": 'a\\b "q" $HOME `x` 100%\nline 2', "A": "ends\\"})
    assert text == 'A="ends\\\\"\nB="a\\\\b \\"q\\" \\$HOME \\`x\\` 100%\nline 2"\n'
