"""Example companion worker (fastapi_gunicorn_companions): runs jobs one after another, each
JOB_SECONDS long (default 3), and on SIGTERM finishes the job in hand before it exits, as a queue
worker (rq, celery) does. Every event is logged with the worker's pid and release to
worker.log in the service's state directory (STATE_DIRECTORY, set by systemd).
"""

import os
import signal
import time
from pathlib import Path

RELEASE = Path(__file__).resolve().parent.name
LOG = Path(os.environ["STATE_DIRECTORY"]) / "worker.log"
stopping = False


def note(event: str) -> None:
    with LOG.open("a", encoding="utf-8") as log:
        log.write(f"{time.time():.3f} {os.getpid()} {RELEASE} {event}\n")


def stop(signum, frame) -> None:
    global stopping
    stopping = True
    note("sigterm")


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    seconds = float(os.environ.get("JOB_SECONDS", "3"))
    note("start")
    job = 0
    while not stopping:
        job += 1
        note(f"job {job} begin")
        # The job's work: it does not stop halfway when SIGTERM arrives.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        note(f"job {job} done")
    note("stop")


if __name__ == "__main__":
    main()
