"""The example DAGs on a real local Airflow (scheduler, triggerer, dag-processor, API server, PostgreSQL).

Runs are triggered and watched only through the REST API, as users do. What `airflow dags test` cannot show:
trigger kwargs serialised through the database to a separate triggerer, the sensor's state `deferred` in the
API, the triggerer's per-task trigger logs, and asset events starting another DAG's runs in the scheduler.
"""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from live_support import (
    LiveAirflow,
    free_days,
    hdfs_files,
    hdfs_lines,
    log_from,
    log_size,
    produce_events,
    task_log_records,
    wait_for,
)

from airflow_flume_provider.envelope import encode_event

pytestmark = pytest.mark.live

CONSUMER = "flume_daily_consumer"


def _day(days: int = 1) -> datetime:
    """A random past day starting `days` days whose partitions no earlier session wrote (their counts are exact)."""
    first = free_days(date(2001, 1, 1), 5000, days)
    return datetime(first.year, first.month, first.day, tzinfo=timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _see_deferred(live: LiveAirflow, dag_id: str, run_id: str, task_id: str) -> None:
    """The sensor reaches `deferred` in the API: it left the worker and waits in the triggerer."""
    wait_for(
        lambda: "deferred" in live.states(dag_id, run_id).get(task_id, []),
        240,
        f"{dag_id}.{task_id} to be deferred (states {live.states(dag_id, run_id)})",
        interval=0.5,
    )


def _consumer_runs_by_key(live: LiveAirflow, after: set[str]) -> dict[str, list[int]]:
    """partition key -> event_count of each finished consumer run not in `after`, as that run reported it for its
    own key (asset-triggered runs of PartitionedAssetTimetable carry ``partition_key`` in the API)."""
    seen: dict[str, list[int]] = {}
    for run in live.runs(CONSUMER):
        if run["dag_run_id"] in after or run["state"] != "success" or not run.get("partition_key"):
            continue
        extras = live.xcom(CONSUMER, run["dag_run_id"], "process_partition") or []
        key = run["partition_key"]
        counts = [e["event_count"] for e in extras if e["partition"].endswith(f"/{key}")]
        seen.setdefault(key, []).extend(counts)
    return seen


def _errors(live: LiveAirflow, dag_id: str, run_id: str) -> list[str]:
    """Task-log records of a run at level error or above (e.g. librdkafka's stderr, which the log shows so)."""
    return [
        f"{r['_file']}: {str(r.get('event'))[:300]}"
        for r in task_log_records(live, dag_id, run_id)
        if r.get("level") in ("error", "critical")
    ]


def test_replay_backfill_through_the_api_defers_in_the_triggerer_and_succeeds(
    live: LiveAirflow, tmp_path: Path
) -> None:
    day = _day(3)  # the day, the next (midnight's), and the one the outside event would go to
    midnight = day + timedelta(days=1)
    run = uuid.uuid4().hex[:8]
    offsets = (-86_000_000, -3_600_000, -1000, -1, 0, 1, 999, 3_600_000, 80_000_000)
    events = [
        {"id": f"{run}-{i}", "activity_time": _iso(midnight + timedelta(milliseconds=o))}
        for i, o in enumerate(offsets)
    ]
    outside = {"id": f"{run}-outside", "activity_time": _iso(midnight + timedelta(days=2))}
    for name, part in (("a", [*events[:5], outside]), ("b", events[5:])):
        with gzip.open(tmp_path / f"events-{name}.jsonl.gz", "wt") as fh:
            fh.writelines(json.dumps(e) + "\n" for e in part)
    tmp_path.chmod(0o755)
    live.unpause("flume_replay_backfill")
    conf = {
        "source_glob": str(tmp_path / "events-*.jsonl.gz"),
        "start": _iso(day),
        "end": _iso(day + timedelta(days=2)),
        "quiet_period": 3,
    }
    scheduler_log = live.process_logs / "scheduler.log"
    scheduler_start = log_size(scheduler_log)
    run_id = live.trigger("flume_replay_backfill", conf, logical_date=_iso(day))

    _see_deferred(live, "flume_replay_backfill", run_id, "wait_for_partition")
    assert live.wait_finished("flume_replay_backfill", run_id) == "success", live.states(
        "flume_replay_backfill", run_id
    )
    states = live.states("flume_replay_backfill", run_id)
    assert states["replay"] == ["success", "success"]  # one mapped replay per file
    assert states["wait_for_partition"] == ["success", "success"]  # one gate per touched day
    manifests = [live.xcom("flume_replay_backfill", run_id, "replay", i) for i in (0, 1)]
    assert sum(m["totals"]["acknowledged"] for m in manifests) == len(events)
    assert sum(m["totals"]["out_of_window"] for m in manifests) == 1
    for d, expected in ((day, 4), (midnight, 5)):
        mine = [json.loads(x) for x in hdfs_lines(f"/flume/events/{d:%Y-%m-%d}") if run.encode() in x]
        assert len(mine) == expected and all(e["activity_time"].startswith(f"{d:%Y-%m-%d}") for e in mine)

    # The trigger ran in the triggerer process (its kwargs came through PostgreSQL) and logged there.
    trigger_log = live.trigger_logs("flume_replay_backfill", run_id, "wait_for_partition")
    assert "ready:" in trigger_log, trigger_log[-2000:]
    assert "FlumePartitionTrigger" in trigger_log, trigger_log[-2000:]
    # librdkafka's transient warnings reach the task log through Python logging at WARNING, not as stderr
    # (ERROR); the mapped replay.output is read as one slice, never one past its end ("XCom not found").
    assert not _errors(live, "flume_replay_backfill", run_id)
    not_found = [x for x in log_from(scheduler_log, scheduler_start).splitlines() if "XCom not found" in x]
    assert not not_found, not_found[:3]


def test_two_partition_gates_wait_in_the_triggerer_then_both_asset_events_start_the_consumer(
    live: LiveAirflow,
) -> None:
    """Two gate runs (two days) finish together: the consumer sees both asset events (apache/airflow#54659)."""
    first = _day(2)
    days = [first, first + timedelta(days=1)]
    n = 37
    for dag_id in ("flume_partition_gate", CONSUMER):
        live.unpause(dag_id)
    consumer_before = {r["dag_run_id"] for r in live.runs(CONSUMER)}
    conf = {"quiet_period": 3, "expected_count": n}
    run_ids = [
        live.trigger("flume_partition_gate", conf, logical_date=_iso(d + timedelta(days=1))) for d in days
    ]
    for run_id in run_ids:
        _see_deferred(live, "flume_partition_gate", run_id, "wait_for_partition")
    tag = uuid.uuid4().hex[:8]
    for day in days:  # fill both partitions only now: the deferred triggers see in-use files, then quiet
        base = int((day + timedelta(hours=3)).timestamp() * 1000)
        produce_events(
            [encode_event({"timestamp": str(base + i * 1000)}, f"{tag}-{i}".encode()) for i in range(n)]
        )

    for day, run_id in zip(days, run_ids, strict=True):
        state = live.wait_finished("flume_partition_gate", run_id)
        assert state == "success", live.states("flume_partition_gate", run_id)
        summary: dict[str, Any] = live.xcom("flume_partition_gate", run_id, "summarize_partition")
        assert summary["paths"] == [f"/flume/events/{day:%Y-%m-%d}"] and summary["events"] == n
        assert "_SUCCESS" in hdfs_files(f"/flume/events/{day:%Y-%m-%d}")
        # While deferred, the trigger said why the partition was not ready yet, in the task's trigger log.
        trigger_log = live.trigger_logs("flume_partition_gate", run_id, "wait_for_partition")
        assert "not ready:" in trigger_log and "ready:" in trigger_log, trigger_log[-3000:]

    # One consumer run per partition key, each seeing its own day's event (no event lost when the two gates
    # announce together: partition keys, not one unkeyed asset event per run, apache/airflow#54659).
    want = {f"{d:%Y-%m-%d}": [n] for d in days}
    seen = wait_for(
        lambda: (got := _consumer_runs_by_key(live, consumer_before)).keys() >= want.keys() and got,
        300,
        f"{CONSUMER} runs for keys {sorted(want)} (seen so far {_consumer_runs_by_key(live, consumer_before)})",
        interval=3,
    )
    assert {k: seen[k] for k in want} == want, seen
    for run_id in run_ids:
        assert not _errors(live, "flume_partition_gate", run_id)
