"""Helpers of the live tests: the deployment's REST API, waiting, and reading HDFS through WebHDFS."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import airflowctl
import pytest
import stackctl

FINISHED = {"success", "failed"}


class LiveAirflow:
    """The running deployment, through its REST API (a fresh admin token per client)."""

    url = airflowctl.API_URL
    task_logs: Path = airflowctl.LOGS / "tasks"
    process_logs: Path = airflowctl.LOGS

    def __init__(self) -> None:
        self.token = airflowctl.token()

    def call(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        return airflowctl.api(path, method, body, token=self.token)

    def unpause(self, dag_id: str) -> None:
        self.call(f"/api/v2/dags/{dag_id}", "PATCH", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any], logical_date: str | None = None) -> str:
        """POST a run with conf; returns its run_id."""
        run = self.call(
            f"/api/v2/dags/{dag_id}/dagRuns", "POST", {"logical_date": logical_date, "conf": conf}
        )
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.call(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances?limit=1000"
        return self.call(path)["task_instances"]

    def states(self, dag_id: str, run_id: str) -> dict[str, list[str | None]]:
        """task_id -> states ordered by map index."""
        out: dict[str, list[str | None]] = {}
        for ti in sorted(self.task_instances(dag_id, run_id), key=lambda t: (t["task_id"], t["map_index"])):
            out.setdefault(ti["task_id"], []).append(ti["state"])
        return out

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task_id}"
            f"/xcomEntries/return_value?map_index={map_index}&deserialize=true"
        )
        return self.call(path)["value"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.call(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=-run_after")["dag_runs"]

    def latest_run(self, dag_id: str, state: str = "success") -> str | None:
        """The run_id of the dag's newest run in `state`, or None."""
        return next((r["dag_run_id"] for r in self.runs(dag_id) if r["state"] == state), None)

    def wait_finished(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """Poll the run's state through the API until success/failed; returns it."""
        state = wait_for(
            lambda: (s := self.run_state(dag_id, run_id)) in FINISHED and s,
            timeout,
            f"{dag_id} {run_id} to finish (task states {self._safe_states(dag_id, run_id)})",
            interval=3,
        )
        return str(state)

    def _safe_states(self, dag_id: str, run_id: str) -> Any:
        try:
            return self.states(dag_id, run_id)
        except (urllib.error.URLError, KeyError) as exc:
            return exc

    def trigger_logs(self, dag_id: str, run_id: str, task_id: str) -> str:
        """All `attempt=N.log.trigger.K.log` files of a task in a run: what its triggers logged in the triggerer."""
        folder = self.task_logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*.log.trigger.*.log")))


def log_size(path: Path) -> int:
    """The current size of a log file: where a test's window of it starts."""
    return path.stat().st_size if path.exists() else 0


def log_from(path: Path, offset: int) -> str:
    """What a process wrote to its log since `offset` (from log_size)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read().decode(errors="replace")


def task_log_records(live: LiveAirflow, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every JSON record of every task log of a run (worker and trigger logs), each with its file as "_file"."""
    folder = live.task_logs / f"dag_id={dag_id}" / f"run_id={run_id}"
    records = []
    for path in sorted(folder.rglob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                records.append({**json.loads(line), "_file": str(path.relative_to(folder))})
    return records


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 2.0) -> Any:
    """Poll until predicate() is truthy and return it; fail the test naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            last = exc
        time.sleep(interval)
    pytest.fail(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last!r})" if last else "")
    )


def _webhdfs(path: str, op: str) -> urllib.request.Request:
    query = urllib.parse.urlencode({"op": op, "user.name": stackctl.HDFS_USER})
    return urllib.request.Request(f"{stackctl.WEBHDFS_URL}/webhdfs/v1{urllib.parse.quote(path)}?{query}")


def hdfs_files(directory: str) -> list[str]:
    """Names in an HDFS directory ([] when it is missing), through WebHDFS."""
    try:
        with urllib.request.urlopen(_webhdfs(directory, "LISTSTATUS"), timeout=10) as resp:
            return [st["pathSuffix"] for st in json.load(resp)["FileStatuses"]["FileStatus"]]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def hdfs_lines(directory: str) -> list[bytes]:
    """The lines of the files Flume has closed in a directory (not in-use `_...tmp`, not markers)."""
    lines: list[bytes] = []
    for name in sorted(hdfs_files(directory)):
        if not name.startswith(("_", ".")) and not name.endswith(".tmp"):
            with urllib.request.urlopen(_webhdfs(f"{directory}/{name}", "OPEN"), timeout=30) as resp:
                lines.extend(resp.read().splitlines())
    return lines


def free_days(first: date, span: int, n: int) -> date:
    """A random day in ``[first, first + span)`` starting ``n`` consecutive days whose ``/flume/events``
    partitions do not exist yet: the stack's HDFS keeps every earlier session's partitions, and a partition
    holding another run's events would be complete (or over-full) before this test writes to it."""
    taken = set(hdfs_files("/flume/events"))
    rng = random.Random(uuid.uuid4().int)
    for _ in range(100):
        start = first + timedelta(days=rng.randrange(span - n))
        if not {f"{start + timedelta(days=i):%Y-%m-%d}" for i in range(n)} & taken:
            return start
    pytest.fail(
        f"no {n} free consecutive days in /flume/events from {first} on ({len(taken)} partitions exist)"
    )


def produce_events(values: list[bytes]) -> None:
    """Produce Flume envelopes to the topic the `k_events` sink reads, and wait until all are acknowledged."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": stackctl.BOOTSTRAP, "acks": "all"})
    for value in values:
        producer.produce("flume-events", value)
    assert producer.flush(30) == 0
