"""The example DAGs in dags/ run end to end with dag.test() against the real stack."""

from __future__ import annotations

import gzip
import json
import os
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_flume_provider.envelope import encode_event

pytestmark = pytest.mark.e2e


def _day() -> datetime:
    rng = random.Random(uuid.uuid4().int)
    return datetime(2001, 1, 1, tzinfo=timezone.utc) + timedelta(days=rng.randrange(15 * 365))


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _task_states(dr: Any) -> dict[str, list[str]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    states: dict[str, list[str]] = {}
    with create_session() as session:
        for ti in session.scalars(
            select(TaskInstance).where(TaskInstance.run_id == dr.run_id, TaskInstance.dag_id == dr.dag_id)
        ):
            states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def _xcom(dr: Any, task_id: str) -> list[Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dr.dag_id,
                XComModel.run_id == dr.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
            .order_by(XComModel.map_index)
            .all()
        )
        return [XComModel.deserialize_value(r) for r in rows]


def test_flume_publish_hourly(stack, run_dag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hour = _day() + timedelta(hours=23)  # the last hour of the day: events up to 23:59:59.999
    run = uuid.uuid4().hex[:8]
    events = [
        {"id": f"{run}-{i}", "activity_time": _iso(hour + timedelta(seconds=i * 359.99))} for i in range(11)
    ]
    events[-1]["activity_time"] = _iso(hour + timedelta(minutes=59, seconds=59, milliseconds=999))
    (tmp_path / f"{hour:%Y-%m-%dT%H}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    monkeypatch.setenv("FLUME_STAGING_DIR", str(tmp_path))

    dr = run_dag(
        "dags/flume_publish_hourly.py", "flume_publish_hourly", logical_date=hour + timedelta(hours=1)
    )
    assert dr.state == "success", _task_states(dr)
    report = _xcom(dr, "publish_hour")[0]
    assert report["acknowledged"] == len(events), report

    directory = f"/flume/events/{hour:%Y-%m-%d}"
    ids = {e["id"] for e in events}

    def landed() -> set[str]:
        found = {json.loads(line)["id"] for line in stack.read_lines(directory) if line.startswith(b"{")}
        return ids & found

    assert stack.wait_for(lambda: landed() == ids, timeout=90, what=f"{len(ids)} events in {directory}")


def test_flume_replay_backfill_fans_out_and_gates_on_the_manifest(stack, run_dag, tmp_path: Path) -> None:
    day = _day()
    midnight = day + timedelta(days=1)
    run = uuid.uuid4().hex[:8]
    events = [
        {"id": f"{run}-{i}", "activity_time": _iso(midnight + timedelta(milliseconds=off))}
        for i, off in enumerate((-86_000_000, -3_600_000, -1000, -1, 0, 1, 999, 3_600_000, 80_000_000))
    ]
    outside = {"id": f"{run}-outside", "activity_time": _iso(midnight + timedelta(days=2))}
    for name, part in (("a", [*events[:5], outside]), ("b", events[5:])):
        with gzip.open(tmp_path / f"events-{name}.jsonl.gz", "wt") as fh:
            fh.writelines(json.dumps(e) + "\n" for e in part)
    conf = {
        "source_glob": str(tmp_path / "events-*.jsonl.gz"),
        "start": _iso(day),
        "end": _iso(day + timedelta(days=2)),
        "quiet_period": 3,
    }
    os.environ["AIRFLOW__FLUME_PROVIDER__CHECKPOINT_DIR"] = str(tmp_path / "ckpt")
    dr = run_dag("dags/flume_replay_backfill.py", "flume_replay_backfill", logical_date=day, conf=conf)
    states = _task_states(dr)
    assert dr.state == "success", states
    assert states["replay"] == ["success", "success"]  # one mapped task per file
    assert states["wait_for_partition"] == ["success", "success"]  # one gate per touched day

    manifests = _xcom(dr, "replay")
    assert sum(m["totals"]["acknowledged"] for m in manifests) == len(events)
    assert sum(m["totals"]["out_of_window"] for m in manifests) == 1
    for d, expected in ((day, 4), (midnight, 5)):
        directory = f"/flume/events/{d:%Y-%m-%d}"
        mine = [json.loads(x) for x in stack.read_lines(directory) if run.encode() in x]
        assert len(mine) == expected, directory
        assert all(e["activity_time"].startswith(f"{d:%Y-%m-%d}") for e in mine)


def test_flume_partition_gate_then_daily_consumer(stack, run_dag) -> None:
    day = _day()
    n = 37
    base = int((day + timedelta(hours=3)).timestamp() * 1000)
    tag = uuid.uuid4().hex[:8]
    stack.produce(
        "flume-events",
        [encode_event({"timestamp": str(base + i * 1000)}, f"{tag}-{i}".encode()) for i in range(n)],
    )

    gate = run_dag(
        "dags/flume_partition_gate.py",
        "flume_partition_gate",
        logical_date=day + timedelta(days=1),  # the run for day D starts once D has ended
        conf={"quiet_period": 3, "expected_count": n},
    )
    assert gate.state == "success", _task_states(gate)
    summary = _xcom(gate, "summarize_partition")[0]
    assert summary["paths"] == [f"/flume/events/{day:%Y-%m-%d}"]
    assert summary["events"] == n and summary["files"] >= 1
    assert any(s["pathSuffix"] == "_SUCCESS" for s in stack.hdfs_list(f"/flume/events/{day:%Y-%m-%d}"))

    consumer = run_dag(
        "dags/flume_daily_consumer.py", "flume_daily_consumer", logical_date=day + timedelta(days=1)
    )
    assert consumer.state == "success", _task_states(consumer)
    seen = _xcom(consumer, "process_partition")[0]
    assert seen[-1]["partition"] == f"/flume/events/{day:%Y-%m-%d}" and seen[-1]["event_count"] == n
