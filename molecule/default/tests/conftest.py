"""Dump the service journal when a verify test fails, so the failure explains itself."""

import pytest

SERVICE = "fastapi_app.service"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    host = item.funcargs.get("host") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and host is not None:
        journal = host.run(f"journalctl --unit {SERVICE} --lines 40 --no-pager").stdout
        report.sections.append((f"journal of {SERVICE}", journal))
