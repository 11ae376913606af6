"""A DAG run through dag.test(): the deferrable sensor (trigger inline) and the poking sensor, asset events."""

from __future__ import annotations

import importlib.util
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import stackctl

from airflow_flume_provider.envelope import encode_event

pytestmark = pytest.mark.e2e

ASSET_URI = f"hdfs://{stackctl.NAMENODE}/flume/events"
DAGS = Path(__file__).resolve().parents[1] / "dags"
DAG_FILE = DAGS / "sensor_partition_e2e.py"


def _load_dag(path: Path = DAG_FILE) -> Any:
    """Import a test DAG from tests/dags (a dag bundle, so dag.test() can serialise it)."""
    spec = importlib.util.spec_from_file_location(f"_dag_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_dag_run_with_deferred_and_poking_sensor(stack: Any, airflow_db: None) -> None:
    day = datetime(2001, 1, 1, tzinfo=timezone.utc) + timedelta(
        days=random.Random(uuid.uuid4().int).randrange(5478)
    )
    partition = f"/flume/events/{day:%Y-%m-%d}"
    n = 640
    base = int(day.timestamp() * 1000)
    tag = uuid.uuid4().hex
    stack.produce(
        "flume-events",
        [encode_event({"timestamp": str(base + i * 100_000)}, f"{tag}-{i}".encode()) for i in range(n)],
    )
    dr = _load_dag().test(logical_date=day, run_conf={"expected": n})
    assert dr.state == "success", dr.state

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = {
            ti.task_id: ti
            for ti in session.scalars(select(TaskInstance).where(TaskInstance.run_id == dr.run_id))
        }
        assert {t: ti.state for t, ti in tis.items()} == {"wait_deferred": "success", "wait_poke": "success"}
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == ASSET_URI, AssetEvent.source_run_id == dr.run_id)
        ).all()
    assert {e.source_task_id for e in events} == {"wait_deferred", "wait_poke"}
    for e in events:
        assert e.extra["partition"] == partition and e.extra["event_count"] == n, e.extra
        assert e.extra["files"] >= 1 and e.extra["bytes"] > 0 and e.extra["newest_mtime"]
    assert any(s["pathSuffix"] == "_SUCCESS" for s in stack.hdfs_list(partition))


def test_reschedule_mode_keeps_quiet_and_count_state(stack: Any, airflow_db: None) -> None:
    """mode="reschedule", trust_mtime=False: each poke is a new process; the state store carries the state."""
    from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401  (Airflow >= 3.3)

    day = datetime(2001, 1, 1, tzinfo=timezone.utc) + timedelta(
        days=random.Random(uuid.uuid4().int).randrange(5478)
    )
    n = 300
    base = int(day.timestamp() * 1000)
    tag = uuid.uuid4().hex
    stack.produce(
        "flume-events",
        [encode_event({"timestamp": str(base + i * 100_000)}, f"{tag}-{i}".encode()) for i in range(n)],
    )
    dr = _load_dag(DAGS / "sensor_reschedule_e2e.py").test(logical_date=day, run_conf={"expected": n})
    assert dr.state == "success", dr.state

    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        ti = session.scalars(select(TaskInstance).where(TaskInstance.run_id == dr.run_id)).one()
        reschedules = session.scalar(select(func.count()).where(TaskReschedule.ti_id == ti.id))
        report = session.scalars(
            select(XComModel.value).where(XComModel.run_id == dr.run_id, XComModel.key == "return_value")
        ).one()
    assert ti.state == "success" and ti.try_number == 1
    assert reschedules >= 2, "the sensor must have been rescheduled (new process) before it was ready"
    report = report if isinstance(report, dict) else json.loads(report)
    assert report["event_count"] == n and report["ready"]
    # Each file was counted once: the poke that became ready read no byte (counts came from the store).
    assert report["bytes_read"] == 0, report
