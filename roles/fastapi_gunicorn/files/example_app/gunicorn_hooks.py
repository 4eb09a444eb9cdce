"""gunicorn server hooks of the example app (fastapi_gunicorn_server_hooks_file: gunicorn_hooks.py).

Each worker logs which release's hooks forked it, so the journal shows that a reload loaded the
new release's hooks.
"""

from pathlib import Path

RELEASE = Path(__file__).resolve().parent.name


def post_fork(server, worker):
    server.log.info("gunicorn_hooks: worker %s forked with the hooks of release %s", worker.pid, RELEASE)
