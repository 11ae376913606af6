"""Late data on the real stack: a partition declared ready, one late event through Kafka + Flume, the audit's
revision 2 and its asset event with a partition key, the consumer run the scheduler creates for that key; no late
event -> no event; a corrupt marker fails clearly. Plus the scheduler's handling of partition keys (two keys
emitted by mapped tasks milliseconds apart; the same key before and after its consumer run was created)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import stackctl

from airflow_flume_provider.audit import audit_partition, on_ready
from airflow_flume_provider.envelope import encode_event
from airflow_flume_provider.hdfs_formats import count_events
from airflow_flume_provider.marker import MarkerError, read_marker, write_marker
from airflow_flume_provider.naming import FileNaming

pytestmark = pytest.mark.e2e

DAG_FILE = "tests/dags/late_audit_e2e.py"
SEQ = FileNaming(in_use_prefix="_", file_type="SequenceFile")
ASSET_URI = f"hdfs://{stackctl.NAMENODE}/flume/seq"
PAIR_URI = "hdfs://test-namenode/late-audit/pair"


def _client() -> Any:
    from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook

    return FlumeHdfsHook("webhdfs_default").get_client()


def _settled(client: Any, partition: str, expected: int) -> list[Any] | None:
    """The partition's listing once Flume closed every file and they hold ``expected`` events, else None."""
    try:
        listing = client.list_status(partition)
    except Exception:
        return None
    if any(SEQ.classify(st.name) == "in_use" for st in listing):
        return None
    total = sum(
        count_events(client.read(f"{partition}/{st.name}"), file_type="SequenceFile")
        for st in listing
        if SEQ.classify(st.name) == "finished"
    )
    return listing if total == expected else None


def _unpause(*dag_ids: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id.in_(dag_ids)).values(is_paused=False))


def _sync_test_bundle() -> None:
    """Write the test DAGs to the metadata DB (what dag.test() does first), so consumers exist before events."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = manager.get_bundle("test_dags")
    if not bundle.is_initialized:
        bundle.initialize()
    sync_bag_to_db(
        BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
        bundle.name,
        bundle.version,
    )


def _register_concurrently(uri: str, keys: list[str], gap_s: float) -> None:
    """Register one asset event per key, each from its own thread and DB session, ``gap_s`` apart."""
    import threading
    import time

    from airflow.assets.manager import AssetManager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    errors: list[BaseException] = []

    def register(key: str) -> None:
        try:
            with create_session() as session:
                asset = session.scalar(select(AssetModel).where(AssetModel.uri == uri))
                assert AssetManager.register_asset_change(asset=asset, partition_key=key, session=session)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(k,)) for k in keys]
    for t in threads:
        t.start()
        time.sleep(gap_s)
    for t in threads:
        t.join()
    assert not errors, errors


def _scheduler_tick() -> set[str]:
    """One pass of the scheduler's partition-driven DAG-run creation (the real SchedulerJobRunner code)."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.utils.session import create_session

    with create_session() as session:
        return SchedulerJobRunner(job=Job())._create_dagruns_for_partitioned_asset_dags(session)


def _consumer_runs(dag_id: str) -> list[Any]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)).all()
        return [(r.partition_key, r.run_type, len(r.consumed_asset_events)) for r in runs]


def _ti_states(run_id: str) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return {
            ti.task_id: ti.state
            for ti in session.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id))
        }


def _events(run_id: str, uri: str) -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri, AssetEvent.source_run_id == run_id)
            .order_by(AssetEvent.timestamp)
        ).all()
        return [(e.partition_key, dict(e.extra or {}), e.timestamp) for e in rows]


def test_late_event_gives_revision_2_one_event_and_one_consumer_run(
    stack: Any, run_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    day = datetime(1975, 1, 1, tzinfo=timezone.utc) + timedelta(
        days=random.Random(uuid.uuid4().int).randrange(9000)
    )
    key, partition = f"{day:%Y-%m-%d}", f"/flume/seq/{day:%Y-%m-%d}"
    base, tag = int(day.timestamp() * 1000), uuid.uuid4().hex
    stack.produce(
        "flume-seq",
        [encode_event({"timestamp": str(base + i * 60_000)}, f"{tag}-{i}".encode()) for i in range(5)],
    )
    with _client() as client:
        listing = stack.wait_for(
            lambda: _settled(client, partition, 5), timeout=90, what=f"5 events closed in {partition}"
        )
        counts = {
            st.name: count_events(client.read(f"{partition}/{st.name}"), file_type="SequenceFile")
            for st in listing
            if SEQ.classify(st.name) == "finished"
        }
        marker = on_ready(None, partition, listing, SEQ, counts, now_ms=base, announcer="test/gate/wait")
        assert marker is not None and marker.revision == 1
        write_marker(client, marker)

    conf = {"audit_end": (day + timedelta(days=1)).isoformat()}
    dr = run_dag(DAG_FILE, "late_audit_e2e", logical_date=day, conf=conf)
    assert dr.state == "success", dr.state
    assert _ti_states(dr.run_id) == {"audit": "skipped"}  # nothing late: skipped, so no event at all
    assert _events(dr.run_id, ASSET_URI) == []
    _unpause("late_audit_consumer_e2e")

    late_ms = base + 86_400_000 - 2_000  # 23:59:58 of the day, arriving now
    stack.produce("flume-seq", [encode_event({"timestamp": str(late_ms)}, f"{tag}-late".encode())])
    with _client() as client:
        stack.wait_for(
            lambda: _settled(client, partition, 6), timeout=90, what=f"the late event closed in {partition}"
        )
    dr2 = run_dag(DAG_FILE, "late_audit_e2e", logical_date=day + timedelta(seconds=1), conf=conf)
    assert dr2.state == "success", dr2.state
    [(pkey, extra, _)] = _events(dr2.run_id, ASSET_URI)
    assert pkey == key
    assert (extra["revision"], extra["late_events"], len(extra["late_files"]), extra["event_count"]) == (
        2,
        1,
        1,
        6,
    )
    assert extra["first_late_mtime"] > base
    with _client() as client:
        revised = read_marker(client, partition)
    assert revised is not None and revised.revision == 2 and revised.announced_revision == 2
    assert revised.announced_by == f"late_audit_e2e/{dr2.run_id}/audit" and revised.event_count == 6

    assert "late_audit_consumer_e2e" in _scheduler_tick()
    assert [r for r in _consumer_runs("late_audit_consumer_e2e") if r[0] == key] == [
        (key, "asset_triggered", 1)
    ]

    dr3 = run_dag(DAG_FILE, "late_audit_e2e", logical_date=day + timedelta(seconds=2), conf=conf)
    assert (
        dr3.state == "success" and _events(dr3.run_id, ASSET_URI) == []
    )  # revision 2 is not announced again
    _scheduler_tick()
    assert len([r for r in _consumer_runs("late_audit_consumer_e2e") if r[0] == key]) == 1

    with _client() as client:
        client.create(
            f"{partition}/_SUCCESS", b'{"format": "airflow-flume-marker", "version": 1, "revision": "two"}'
        )
        with pytest.raises(
            MarkerError, match=f"{partition}/_SUCCESS: invalid partition marker: 'revision' must be"
        ):
            audit_partition(client, partition, SEQ, now_ms=base)
    capfd.readouterr()
    dr4 = run_dag(DAG_FILE, "late_audit_e2e", logical_date=day + timedelta(seconds=3), conf=conf)
    assert dr4.state == "failed" and _events(dr4.run_id, ASSET_URI) == []
    out = "".join(capfd.readouterr())
    assert f"{partition}/_SUCCESS: invalid partition marker: 'revision' must be a non-negative integer" in out


def test_two_partitions_emitted_ms_apart_each_get_a_consumer_run(airflow_db: None, run_dag: Any) -> None:
    _sync_test_bundle()
    _unpause("late_audit_pair_consumer_e2e")
    k0, k1 = (f"pair-{uuid.uuid4().hex[:8]}" for _ in range(2))
    dr = run_dag(DAG_FILE, "late_audit_pair_e2e", conf={"keys": [k0, k1]})
    assert dr.state == "success", dr.state
    events = _events(dr.run_id, PAIR_URI)
    assert sorted(e[0] for e in events) == sorted([k0, k1])
    gap_ms = abs((events[1][2] - events[0][2]).total_seconds() * 1000)
    print(f"two partition events {gap_ms:.0f} ms apart")
    _scheduler_tick()
    runs = [r for r in _consumer_runs("late_audit_pair_consumer_e2e") if r[0] in (k0, k1)]
    assert sorted(runs) == sorted([(k0, "asset_triggered", 1), (k1, "asset_triggered", 1)])

    # two keys registered from two threads 19 ms apart (the REST/API path of the same AssetManager code)
    k2, k3 = (f"pair-{uuid.uuid4().hex[:8]}" for _ in range(2))
    _register_concurrently(PAIR_URI, [k2, k3], gap_s=0.019)
    _scheduler_tick()
    runs = [r for r in _consumer_runs("late_audit_pair_consumer_e2e") if r[0] in (k2, k3)]
    assert sorted(runs) == sorted([(k2, "asset_triggered", 1), (k3, "asset_triggered", 1)])

    # the same key twice before the scheduler's next pass: one run; after a run was created: a new run
    dr2 = run_dag(DAG_FILE, "late_audit_pair_e2e", conf={"keys": [k0, k0]})
    assert dr2.state == "success"
    _scheduler_tick()
    k0_runs = sorted(r for r in _consumer_runs("late_audit_pair_consumer_e2e") if r[0] == k0)
    assert k0_runs == [(k0, "asset_triggered", 1), (k0, "asset_triggered", 2)], k0_runs


def test_example_dag_audits_a_week_and_revises_a_late_day(stack: Any, run_dag: Any) -> None:
    day = datetime(2000, 1, 8, tzinfo=timezone.utc) + timedelta(  # after the example DAG's start_date
        days=random.Random(uuid.uuid4().int).randrange(9000)
    )
    partition, naming = f"/flume/events/{day:%Y-%m-%d}", FileNaming(in_use_prefix="_", file_type="DataStream")
    base, tag = int(day.timestamp() * 1000), uuid.uuid4().hex
    stack.produce("flume-events", [encode_event({"timestamp": str(base + 1000)}, f"{tag}-0".encode())])
    with _client() as client:
        listing = stack.wait_for(
            lambda: len(stack.read_lines(partition)) == 1 and client.list_status(partition),
            timeout=90,
            what="1 event",
        )
        write_marker(
            client, on_ready(None, partition, listing, naming, {}, now_ms=base, announcer="test/gate/wait")
        )  # type: ignore[arg-type]
    stack.produce(
        "flume-events", [encode_event({"timestamp": str(base + 86_398_000)}, f"{tag}-late".encode())]
    )
    stack.wait_for(
        lambda: (
            len(stack.read_lines(partition)) == 2
            and not any(s["pathSuffix"].endswith(".tmp") for s in stack.hdfs_list(partition))
        ),
        timeout=90,
        what="the late event",
    )
    # the run at day+3 audits the 7 days before it, this day among them
    dr = run_dag(
        "dags/flume_late_data_audit.py", "flume_late_data_audit", logical_date=day + timedelta(days=3)
    )
    assert dr.state == "success" and _ti_states(dr.run_id) == {"audit_late_data": "success"}
    [(pkey, extra, _)] = _events(dr.run_id, f"hdfs://{stackctl.NAMENODE}/flume/events")
    assert pkey == f"{day:%Y-%m-%d}" and extra["revision"] == 2 and extra["late_events"] == 1


def test_marker_rewrite_never_leaves_readers_without_a_marker(stack: Any) -> None:
    import threading

    partition = f"/flume/late-audit-atomic/{uuid.uuid4().hex[:8]}"
    seen: dict[str, int] = {"ok": 0, "missing": 0, "bad": 0}
    stop = threading.Event()
    with _client() as writer, _client() as reader:
        writer.mkdirs(partition)
        marker = on_ready(None, partition, [], SEQ, {}, now_ms=0, announcer="test")
        assert marker is not None
        write_marker(writer, marker)

        def read_loop() -> None:
            while not stop.is_set():
                try:
                    seen["ok" if read_marker(reader, partition) is not None else "missing"] += 1
                except MarkerError:
                    seen["bad"] += 1
                except Exception:  # the marker vanished between the listing and the read
                    seen["missing"] += 1

        thread = threading.Thread(target=read_loop)
        thread.start()
        for revision in range(2, 42):
            write_marker(writer, type(marker)(**{**marker.__dict__, "revision": revision}))
        stop.set()
        thread.join()
        final = read_marker(reader, partition)
        writer.delete(partition, recursive=True)
    print(f"reader saw {seen}")
    assert final is not None and final.revision == 41
    assert seen["ok"] > 0 and seen["missing"] == 0 and seen["bad"] == 0, seen
