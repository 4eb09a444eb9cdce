"""Example scheduled job (fastapi_gunicorn_companions with a schedule): logs which release ran it
to job.log in the service's state directory (STATE_DIRECTORY, set by systemd)."""

import os
import time
from pathlib import Path

RELEASE = Path(__file__).resolve().parent.name

if __name__ == "__main__":
    with (Path(os.environ["STATE_DIRECTORY"]) / "job.log").open("a", encoding="utf-8") as log:
        log.write(f"{time.time():.3f} {os.getpid()} {RELEASE} ran\n")
