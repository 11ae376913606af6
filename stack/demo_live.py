#!/usr/bin/env python3
"""`make demo-live`: the 23:59:59 story of `make demo`, on the live local Airflow (stack/airflowctl.py).

Same dataset and checks as stack/demo.py, but the runs go through the API server as a user's would: the replay
backfill and the two daily gates are triggered with REST calls, their sensors wait in the real triggerer, and
the UI shows them afterwards (its address is printed; Airflow stays up until `make airflow-down`).
"""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import airflowctl
import demo


class Api:
    """The few REST calls the demo needs, with one admin token."""

    def __init__(self) -> None:
        self.token = airflowctl.token()

    def __call__(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        return airflowctl.api(path, method, body, token=self.token)

    def run(self, dag_id: str, logical_date: str, conf: dict, timeout: float = 900) -> tuple[str, str]:
        """Trigger a run, wait until it finishes; returns (run_id, state)."""
        self(f"/api/v2/dags/{dag_id}", "PATCH", {"is_paused": False})
        run_id = self(f"/api/v2/dags/{dag_id}/dagRuns", "POST", {"logical_date": logical_date, "conf": conf})[
            "dag_run_id"
        ]
        print(f"triggered {dag_id} {run_id}", flush=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}")["state"]
            if state in ("success", "failed"):
                return run_id, state
            time.sleep(3)
        return run_id, "timed out"

    def xcoms(self, dag_id: str, run_id: str, task_id: str) -> list:
        base = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task_id}"
        out = []
        for ti in self(
            f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances?limit=1000"
        )["task_instances"]:
            if ti["task_id"] == task_id:
                path = f"{base}/xcomEntries/return_value?map_index={ti['map_index']}&deserialize=true"
                out.append(self(path)["value"])
        return out


def main() -> int:
    api = Api()
    t0 = time.monotonic()
    events = demo.make_dataset()
    demo.clear_partitions()
    conf = {"source_glob": str(demo.DATA / "events-*.jsonl.gz"), "start": "2019-08-01T00:00:00Z",
            "end": "2019-08-03T00:00:00Z", "quiet_period": 10}  # fmt: skip
    failures = []
    replay_id, state = api.run("flume_replay_backfill", "2019-08-01T00:00:00Z", conf)
    if state != "success":
        failures.append(f"flume_replay_backfill {replay_id}: {state}")
    gate: dict[str, str] = {}
    for day in demo.DAYS:  # the gate for day D runs at D+1 (data interval [D, D+1))
        run_at = (datetime.fromisoformat(day) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
        run_id, state = api.run("flume_partition_gate", run_at, {"quiet_period": 10})
        if state != "success":
            failures.append(f"flume_partition_gate {day}: {state}")
            gate[day] = f"no ({state})"
            continue
        report = api.xcoms("flume_partition_gate", run_id, "wait_for_partition")[-1]
        gate[day] = f"yes: {report['files']} file(s); " + ", ".join(
            c["name"] for c in report["checks"] if c["ok"]
        )

    expected: Counter[str] = Counter()
    for m in api.xcoms("flume_replay_backfill", replay_id, "replay"):
        for counts in (m.get("partitions") or {}, m.get("duplicates") or {}):
            expected.update({path.rsplit("/", 1)[-1]: n for path, n in counts.items()})
    found = {day: demo.read_partition(day) for day in demo.DAYS}
    by_ingestion = Counter(demo.by_ingestion_day(e) for e in events)
    header = (
        f"{'partition':<26} {'expected':>8} {'in HDFS':>8}  {'ready':<48} {'ingestion-time would have':>25}"
    )
    print(f"\n{header}\n{'-' * len(header)}")
    for day in demo.DAYS:
        print(f"{demo.PARTITION_ROOT + '/' + day:<26} {expected.get(day, 0):>8} {len(found[day]):>8}  "
              f"{gate[day]:<48} {by_ingestion.get(day, 0):>25}")  # fmt: skip
        if expected.get(day, 0) != len(found[day]):
            failures.append(f"{day}: manifest says {expected.get(day, 0)}, HDFS holds {len(found[day])}")
        failures += [
            f"{e['id']} ({e['activity_time']}) is in {day}"
            for e in found[day]
            if e["activity_time"][:10] != day
        ]
    print(f"\nfinished in {time.monotonic() - t0:.0f}s. The UI: {airflowctl.API_URL} (simple auth manager, every "
          f"user is admin); runs: {airflowctl.API_URL}/dags/flume_replay_backfill; `make airflow-down` stops it.")  # fmt: skip
    if failures:
        print("\nDEMO FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
