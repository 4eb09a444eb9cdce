"""An sdist whose build code tries to escape: pip runs it when the role builds the venv."""

from setuptools import setup

probe = {}
exec(open("probe.py", encoding="utf-8").read(), probe)  # noqa: S102  (probe.py sits beside this file in the sdist)
probe["probe"]("build", "/var/cache/fastapi_gunicorn/fastapi_app/escape-probe.log")

setup(name="escape-probe", version="0.1", py_modules=[])
