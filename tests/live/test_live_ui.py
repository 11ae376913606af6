"""The UI of the live Airflow in headless Chromium: the example DAGs' finished runs and the sensor's log.

Logs in through the simple auth manager (all users are admins here), opens the grid and the graph of the
newest successful `flume_replay_backfill` and `flume_partition_gate` runs (made by test_live_dags.py, which
runs first), saves PNG screenshots under .airflow/screenshots/, and asserts from the DOM that the pages show
the DAG and its tasks, and that the sensor's task log page shows why the partition was not ready yet.
"""

from __future__ import annotations

import urllib.parse

import airflowctl
import pytest
from cdp import Chromium
from live_support import LiveAirflow

pytestmark = pytest.mark.live

DAGS = {
    "flume_replay_backfill": ("plan_sources", "replay", "partitions_touched", "wait_for_partition"),
    "flume_partition_gate": ("wait_for_partition", "summarize_partition"),
}


def _run_page(dag_id: str, run_id: str, suffix: str = "") -> str:
    return f"{airflowctl.API_URL}/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')}{suffix}"


@pytest.mark.parametrize("dag_id", sorted(DAGS))
def test_ui_shows_the_finished_run_in_grid_and_graph_and_the_sensor_log(
    live: LiveAirflow, dag_id: str
) -> None:
    run_id = live.latest_run(dag_id)
    assert run_id, f"no successful {dag_id} run to look at: run tests/live/test_live_dags.py first"
    tasks = DAGS[dag_id]
    shots = airflowctl.SCREENSHOTS
    with Chromium() as browser:
        # The all-admins login sets the session cookie, then redirects to the run's page (grid view).
        login = f"{airflowctl.API_URL}/auth/token/login?next={urllib.parse.quote(_run_page(dag_id, run_id), safe='')}"
        text = browser.open(login, expect=(dag_id, *tasks))
        assert "Success" in text
        browser.screenshot(shots / f"{dag_id}-grid.png")
        assert all(t in browser.dom() for t in (dag_id, *tasks))

        browser.evaluate("localStorage.setItem('default_dag_view', JSON.stringify('graph'))")
        browser.open(_run_page(dag_id, run_id), expect=(dag_id, *tasks, "React Flow"))
        nodes = f"document.querySelectorAll('.react-flow__node').length >= {len(tasks)}"
        browser.wait_until(nodes)  # the graph is laid out after the page's text is there
        assert all(t in browser.evaluate("document.querySelector('.react-flow').innerText") for t in tasks)
        browser.screenshot(shots / f"{dag_id}-graph.png")

        # The sensor's log page: what the trigger logged in the triggerer while the partition was not ready.
        suffix = "/tasks/wait_for_partition" + ("/mapped/0" if dag_id == "flume_replay_backfill" else "")
        log_text = browser.open(_run_page(dag_id, run_id, suffix), expect=("not ready:", "ready:", "quiet"))
        browser.screenshot(shots / f"{dag_id}-sensor-log.png")
    assert "in-use file" in log_text or "quiet for" in log_text, log_text[-3000:]


def test_no_secret_in_any_log(live: LiveAirflow) -> None:
    """After the runs and the browser sessions: neither the deployment's JWT secret nor an API token issued
    by it appears in a process log or a task log."""
    secrets = {"JWT secret": airflowctl.jwt_secret(), "API token": live.token}
    logs = sorted(p for p in airflowctl.LOGS.rglob("*.log") if p.is_file())
    assert len(logs) > 10, logs  # the process logs and the task logs of the runs above
    found = [
        f"{what} in {p}"
        for p in logs
        for what, value in secrets.items()
        if value in p.read_text(errors="replace")
    ]
    assert not found, found
