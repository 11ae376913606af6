"""FlumePartitionSensor and FlumePartitionTrigger against the fake WebHDFS (no real stack)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from test_hdfs_client import FakeWebHdfs

from airflow_flume_provider.sensors.partition import FlumePartitionSensor
from airflow_flume_provider.triggers.partition import FlumePartitionTrigger

try:
    from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
except ImportError:  # pragma: no cover
    from airflow.exceptions import AirflowFailException, TaskDeferred  # type: ignore

from airflow.sdk import Asset
from airflow.sdk.execution_time.context import OutletEventAccessors

DAY = datetime(2004, 7, 8, tzinfo=timezone.utc)
P = "/flume/events/2004-07-08"
TEMPLATE = "hdfs://nn.example:8020/flume/events/%Y-%m-%d"


@pytest.fixture
def hdfs(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWebHdfs]:
    f = FakeWebHdfs()
    monkeypatch.setenv(
        "AIRFLOW_CONN_FAKE_HDFS",
        json.dumps({"conn_type": "webhdfs", "host": "127.0.0.1", "port": f.port, "login": "root"}),
    )
    yield f
    f.close()


def context() -> dict[str, Any]:
    return {
        "data_interval_start": DAY,
        "data_interval_end": datetime(2004, 7, 9, tzinfo=timezone.utc),
        "logical_date": DAY,
        "outlet_events": OutletEventAccessors(),
    }


def sensor(**kw: Any) -> FlumePartitionSensor:
    base: dict[str, Any] = {
        "task_id": "wait",
        "path_template": TEMPLATE,
        "webhdfs_conn_id": "fake_hdfs",
        "in_use_prefix": "_",
        "file_type": "DataStream",
        "quiet_period": 0.5,
        "poke_interval": 0.05,
        "timeout": 10,
        "deferrable": False,
    }
    base.update(kw)
    return FlumePartitionSensor(**base)


def test_constructor_validation_and_asset() -> None:
    with pytest.raises(ValueError, match="exactly one of path_template or flume_conf"):
        FlumePartitionSensor(task_id="x")
    with pytest.raises(ValueError, match="unknown checks"):
        FlumePartitionSensor(task_id="x", path_template="/a/%Y", checks=["nope"])
    s = sensor()
    assert s.asset_uri == "hdfs://nn.example:8020/flume/events"
    assert [o.uri for o in s.outlets] == ["hdfs://nn.example:8020/flume/events"]


def test_poke_not_ready_then_ready_with_marker_and_asset(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\nb\n", 1000)
    hdfs.put(f"{P}/_FlumeData.2.tmp", b"c\n", 1000)
    s = sensor(expected_count=3, write_success_marker=True)
    ctx = context()
    assert s.poke(ctx) is False
    assert s._spec is not None and s._spec.paths == (P,) and "count" in s._spec.checks
    hdfs.rename(f"{P}/_FlumeData.2.tmp", f"{P}/FlumeData.2")
    hdfs.files[f"{P}/FlumeData.2"][1] = 2000
    result = s.poke(ctx)
    assert not result  # the rename restarts the quiet period
    ret = s.execute(ctx)  # poke loop until quiet
    assert ret["ready"] and ret["event_count"] == 3 and ret["files"] == 2
    assert f"{P}/_SUCCESS" in hdfs.files
    extra = ctx["outlet_events"][Asset(uri="hdfs://nn.example:8020/flume/events", name="flume:/flume/events")].extra
    assert extra["partition"] == P and extra["event_count"] == 3 and extra["bytes"] == 6
    assert extra["partition_uri"] == [f"hdfs://nn.example:8020{P}"]
    assert extra["partition_key"] == P.rsplit("/", 1)[1]  # the partition's path below the asset's prefix
    marker = json.loads(hdfs.files[f"{P}/_SUCCESS"][0])  # the JSON marker: revision 1, what was declared ready
    assert marker["revision"] == 1 and marker["event_count"] == 3 and "count" in marker["checks"]
    assert [f["name"] for f in marker["files"]] == sorted(n.rsplit("/", 1)[1] for n in hdfs.files if "/Flume" in n)


def test_partition_date_templated_string(hdfs: FakeWebHdfs) -> None:
    s = sensor(partition_date="2004-07-09")
    spec = s.build_spec(context())
    assert spec.paths == ("/flume/events/2004-07-09",) and spec.next_paths == ("/flume/events/2004-07-10",)


def test_permission_error_fails_at_once(hdfs: FakeWebHdfs) -> None:
    hdfs.fault = "permission"
    with pytest.raises(AirflowFailException, match="Permission denied"):
        sensor().poke(context())


def test_namenode_down_is_not_ready(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    s = sensor()
    hdfs.fault = "standby"
    assert s.poke(context()) is False
    hdfs.fault = None
    assert s.poke(context())


def test_deferrable_poke_then_trigger(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    hdfs.put(f"{P}/_FlumeData.2.tmp", b"b\n", 1000)
    s = sensor(deferrable=True, expected_count=2)
    ctx = context()
    with pytest.raises(TaskDeferred) as info:
        s.execute(ctx)
    trigger = info.value.trigger
    assert isinstance(trigger, FlumePartitionTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_flume_provider.triggers.partition.FlumePartitionTrigger"
    json.dumps(kwargs)  # kwargs must be serialisable
    assert kwargs["state"]["polls"] == 1 and kwargs["state"]["counts"]
    trigger = FlumePartitionTrigger(**kwargs)

    def finish() -> None:
        hdfs.rename(f"{P}/_FlumeData.2.tmp", f"{P}/FlumeData.2")

    threading.Timer(0.3, finish).start()
    event = asyncio.run(asyncio.wait_for(_first_event(trigger), 10))
    assert event["status"] == "success" and event["report"]["event_count"] == 2
    assert trigger.state is not None and trigger.state["polls"] > 2
    ret = s.execute_complete(ctx, event)
    assert ret["ready"]


def test_trigger_timeout_and_error_events(hdfs: FakeWebHdfs) -> None:
    s = sensor(deferrable=True)
    spec = s.build_spec(context()).to_dict()
    t = FlumePartitionTrigger(spec=spec, webhdfs_conn_id="fake_hdfs", poke_interval=0.05, deadline=0.0)
    event = asyncio.run(_first_event(t))
    assert event["status"] == "timeout" and "missing" in event["message"]
    with pytest.raises(Exception, match="missing"):
        s.execute_complete(context(), event)
    hdfs.fault = "permission"
    t = FlumePartitionTrigger(spec=spec, webhdfs_conn_id="fake_hdfs", poke_interval=0.05)
    event = asyncio.run(_first_event(t))
    assert event["status"] == "error" and event["kind"] == "permission" and not event["retryable"]
    with pytest.raises(AirflowFailException, match="Permission denied"):
        s.execute_complete(context(), event)


async def _first_event(trigger: FlumePartitionTrigger) -> dict[str, Any]:
    async for ev in trigger.run():
        return ev.payload
    raise AssertionError("trigger ended without an event")


def test_partition_from_flume_conf() -> None:
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "stack" / "conf" / "flume.conf"
    s = FlumePartitionSensor(
        task_id="w", flume_conf=str(conf), agent="agent", sink="k_seqz", deferrable=False
    )
    assert s.asset_uri is None  # the config is read at execute only; its asset is opt-in (asset_uri=)
    spec = s.build_spec(context())
    assert spec.paths == ("/flume/seqz/2004-07-08",)
    assert (spec.naming.file_type, spec.naming.in_use_prefix, spec.naming.codec) == (
        "SequenceFile",
        "_",
        "default",
    )
    tz = FlumePartitionSensor(task_id="w", flume_conf=str(conf), agent="agent", sink="k_tz", deferrable=False)
    paths = tz.build_spec(context()).paths  # the UTC day 2004-07-08 in Asia/Kolkata, 30-minute buckets
    assert (
        len(paths) == 48
        and paths[0] == "/flume/tz/2004-07-08/0530"
        and paths[-1] == "/flume/tz/2004-07-09/0500"
    )
    with pytest.raises(ValueError, match="needs agent and sink"):
        FlumePartitionSensor(task_id="w", flume_conf=str(conf))


def test_pendulum_data_interval_from_airflow_context() -> None:
    import pendulum

    ctx = {
        "data_interval_start": pendulum.datetime(2004, 7, 8, tz="UTC"),
        "data_interval_end": pendulum.datetime(2004, 7, 9, tz="UTC"),
        "logical_date": pendulum.datetime(2004, 7, 8, tz="UTC"),
    }
    spec = sensor().build_spec(ctx)
    assert spec.paths == (P,) and spec.next_paths == ("/flume/events/2004-07-09",)
    assert spec.end_ts == datetime(2004, 7, 9, tzinfo=timezone.utc).timestamp()


def test_no_file_io_at_dag_parse(tmp_path: Any) -> None:
    missing = tmp_path / "not-yet-deployed.conf"  # exists only on workers, say
    s = FlumePartitionSensor(
        task_id="w", flume_conf=str(missing), agent="a", sink="k", asset_uri="hdfs://nn/x"
    )
    assert [o.uri for o in s.outlets] == ["hdfs://nn/x"]
    with pytest.raises(Exception, match=r"not-yet-deployed\.conf"):
        s.build_spec(context())  # read when the task runs


class FakeStateStore:
    """The ``get``/``set`` of Airflow 3.3's TaskStateStoreAccessor, in memory (JSON round trip as the API does)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key: str, value: Any) -> None:
        self.data[key] = json.dumps(value)


def test_reschedule_mode_keeps_quiet_and_count_state_in_the_store(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\nb\n", 1000)
    store = FakeStateStore()
    kw = {"mode": "reschedule", "trust_mtime": False, "quiet_period": 0.2, "expected_count": 2}
    first = sensor(**kw)  # every reschedule is a new operator instance in a new process
    assert first.poke({**context(), "task_state_store": store}) is False  # first sight: not quiet yet
    reads = [c for c in hdfs.calls if c.startswith("DN OPEN")]
    import time

    time.sleep(0.3)
    second = sensor(**kw)
    done = second.poke({**context(), "task_state_store": store})
    assert done and done.xcom_value["event_count"] == 2
    assert [c for c in hdfs.calls if c.startswith("DN OPEN")] == reads  # counted once, cached in the store


def test_reschedule_mode_without_store_refuses_what_cannot_work(hdfs: FakeWebHdfs) -> None:
    with pytest.raises(AirflowFailException, match=r"mode='reschedule'.*trust_mtime=False.*task_state_store"):
        sensor(mode="reschedule", trust_mtime=False).poke(context())
    assert (
        sensor(mode="reschedule").poke(context()) is False
    )  # trust_mtime=True: mtimes carry the quiet check


# --- consumed, stale in-use files and the timeout message ------------------------------------------------------

from test_consumed import FakeAdmin  # noqa: E402

CONF_DIR = __import__("pathlib").Path(__file__).resolve().parents[2] / "stack" / "conf"
CT = "flume-channel-events"


def conf_sensor(conf: str, agent: str, sink: str, **kw: Any) -> FlumePartitionSensor:
    """A sensor with check ``consumed`` on a sink of one of the stack's Flume configs (read, not run)."""
    args = {
        "flume_conf": str(CONF_DIR / conf),
        "agent": agent,
        "sink": sink,
        "checks": ["exists", "consumed"],
    }
    return FlumePartitionSensor(task_id="w", deferrable=False, **args, **kw)


def test_consumed_from_the_kafka_channel_config_takes_group_topic_and_manifest_offsets() -> None:
    manifest = [{"partitions": {"/flume/lossless/2004-07-08": 2}, "kafka_offsets": {CT: {"0": 40}}}]
    s = conf_sensor("flume-kafka-channel.conf", "lossless", "k_lossless", manifest=manifest)
    spec = s.build_spec(context())
    assert spec.checks == ("exists", "consumed")  # KafkaChannel: committed means in HDFS, nothing added
    assert (
        spec.kafka_consumers[0]["group_id"] == CT and spec.kafka_consumers[0]["topology"] == "kafka_channel"
    )
    assert spec.kafka_targets == {CT: {"0": 40}}


def test_consumed_on_the_kafka_source_config_adds_no_in_use_and_quiet_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = conf_sensor("flume.conf", "agent", "k_events")
    spec = s.build_spec(context())
    assert spec.checks == ("exists", "consumed", "no_in_use", "quiet")
    assert spec.kafka_targets is None and spec.kafka_consumers[0]["topology"] == "kafka_source"
    assert (
        "'flume-events' (KafkaSource" in capsys.readouterr().out
    )  # the warning (structlog writes to stdout)


def test_sensor_consumed_not_ready_until_the_group_passes_the_manifest(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\nb\n", 1000)
    s = sensor(
        checks=["exists", "consumed"],
        kafka_topic=CT,
        kafka_group_id=CT,
        kafka_topology="kafka_channel",
        manifest={"partitions": {P: 2}, "kafka_offsets": {CT: {"0": 40}}},
    )
    admin = FakeAdmin({CT: 1}, {}, {(CT, 0): 39})
    s._admin = admin
    assert s.poke(context()) is False
    assert "p0 at 39 of 40" in s._report.summary()
    admin.committed[(CT, 0)] = 40
    assert s.poke(context())
    with pytest.raises(ValueError, match="kafka_topic and kafka_group_id go together"):
        sensor(checks=["exists", "consumed"], kafka_topic=CT).build_spec(context())


def test_deferred_consumed_carries_the_snapshot_and_the_conn_id_not_the_config(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    s = sensor(
        deferrable=True,
        checks=["exists", "consumed"],
        kafka_topic=CT,
        kafka_group_id=CT,
        kafka_topology="kafka_channel",
        kafka_conn_id="kafka_sasl",
        allowed_lateness=0,
    )
    s._admin = FakeAdmin({CT: 1}, {(CT, 0): 10}, {(CT, 0): 3})
    with pytest.raises(TaskDeferred) as info:
        s.execute(context())
    _, kwargs = info.value.trigger.serialize()
    assert kwargs["kafka_conn_id"] == "kafka_sasl" and "bootstrap.servers" not in json.dumps(kwargs)
    assert kwargs["state"]["consumed_state"]["kafka_offsets"] == {CT: {"0": 10}}  # the live snapshot travels


def test_poke_mode_timeout_names_missing_events_and_the_replay_command(hdfs: FakeWebHdfs) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    try:
        from airflow.sdk.exceptions import AirflowSensorTimeout
    except ImportError:  # pragma: no cover
        from airflow.exceptions import AirflowSensorTimeout  # type: ignore

    hdfs.put(f"{P}/FlumeData.1", b"a\nb\n", 1000)
    with DAG("replay_day", schedule=None) as dag:
        s = sensor(expected_count=5, timeout=0.3)
        EmptyOperator(task_id="replay") >> s
    ctx = {**context(), "dag": dag}
    with pytest.raises(AirflowSensorTimeout) as info:
        s.execute(ctx)
    text = str(info.value)
    assert f"Partition {P} is not complete" in text and "3 of 5 expected events are missing" in text
    assert "airflow tasks clear replay_day -t '^(replay)$' -s 2004-07-08T00:00:00+00:00" in text


def test_stale_in_use_file_fail_fails_the_sensor_with_the_list(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    hdfs.put(f"{P}/_FlumeData.2.tmp", b"b\n", 1000)
    with pytest.raises(AirflowFailException, match=r"stale in-use file\(s\).*_FlumeData.2.tmp.*recoverLease"):
        sensor(on_stale_in_use="fail", stale_in_use_after=3600).poke(context())
    assert sensor(stale_in_use_after=3600).poke(context()) is False  # "wait": not ready, not failed
    with pytest.raises(ValueError, match="on_stale_in_use must be one of"):
        sensor(on_stale_in_use="ignore")  # refused at DAG parse


def test_a_lazy_mapped_manifest_is_read_once_by_slice_never_past_its_end() -> None:
    """Airflow's LazyXComSequence logs 'XCom not found' when read one past its end (iteration, comparisons)."""
    from collections.abc import Sequence

    from airflow_flume_provider.sensors.partition_kafka import materialized

    class Lazy(Sequence):
        def __init__(self, items: list[Any]) -> None:
            self.items, self.reads = items, []

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, key: Any) -> Any:
            self.reads.append(key)
            if isinstance(key, int) and key >= len(self.items):
                raise AssertionError("read past the end")
            return self.items[key]

    lazy = Lazy([{"partitions": {"/a": 1}}, {"partitions": {"/b": 2}}])
    assert materialized(lazy) == lazy.items
    assert lazy.reads == [slice(None, None, None)]
    for plain in (None, "", "{}", {"partitions": {}}, [1], (1,)):
        assert materialized(plain) is plain
