"""Fixtures for tests against a real local Airflow (stack/airflowctl.py) and the real Kafka/HDFS/Flume stack.

The tests drive Airflow only the way users do: the REST API of the API server (runs, task states, logs), the
files the processes write, and a browser. Nothing here imports Airflow or runs a DAG in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import airflowctl
import pytest
import stackctl
from live_support import LiveAirflow


@pytest.fixture(scope="session")
def live() -> Iterator[LiveAirflow]:
    """The running local Airflow and stack (`make test-live` starts both). Started here with the same scripts
    when down, and then stopped again at the end of the session, so a plain `pytest` leaves nothing behind."""
    started_stack = not all(stackctl.pid_of(c) for c in stackctl.COMPONENTS)
    if started_stack:
        stackctl.up()
    started_airflow = not airflowctl.healthy()
    if started_airflow:
        airflowctl.up()
    yield LiveAirflow()
    if started_airflow:
        airflowctl.down()
    if started_stack:
        stackctl.down()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Attach the tail of every Airflow process log to a failing live test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "live" in getattr(item, "fixturenames", ()):
        for component in (*airflowctl.COMPONENTS, "db-migrate"):
            report.sections.append((f"airflow log: {component}", airflowctl.tail(component, 30)))
