"""Shared fixtures: a throwaway container from the project's test image."""

import os
import subprocess
import uuid

import pytest

IMAGE = os.environ.get("FASTAPI_GUNICORN_TEST_IMAGE_DEBIAN12", "fastapi-gunicorn-debian12-systemd:latest")


@pytest.fixture(scope="session")
def plain_container():
    """A container with Python but no running systemd: enough for checks that must stop early."""
    name = f"fastapi-gunicorn-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, IMAGE, "sleep", "infinity"], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)
