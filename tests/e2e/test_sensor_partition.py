"""FlumePartitionSensor / FlumePartitionTrigger on the real stack: real Flume 1.11 output in real HDFS."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import stackctl
from airflow.sdk import Asset
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_flume_provider.envelope import encode_event
from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.partition_check import PartitionState, ReadinessReport, poke_partition
from airflow_flume_provider.sensors.partition import FlumePartitionSensor
from airflow_flume_provider.triggers.partition import FlumePartitionTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # pragma: no cover
    from airflow.exceptions import TaskDeferred  # type: ignore

pytestmark = pytest.mark.e2e

NN = stackctl.NAMENODE
SINKS = {  # topic -> (hdfs.path, fileType, serializer)
    "flume-events": ("/flume/events/%Y-%m-%d", "DataStream", "TEXT"),
    "flume-slow": ("/flume/slow/%Y-%m-%d", "DataStream", "TEXT"),
    "flume-seq": ("/flume/seq/%Y-%m-%d", "SequenceFile", "TEXT"),
    "flume-seqz": ("/flume/seqz/%Y-%m-%d", "SequenceFile", "TEXT"),
    "flume-avro": ("/flume/avro/%Y-%m-%d", "DataStream", "avro_event"),
}


def unique_day() -> datetime:
    """A day of its own for one test (2001..2015, from a fresh uuid), at 00:00 UTC."""
    rnd = random.Random(uuid.uuid4().int)
    return datetime(2001, 1, 1, tzinfo=timezone.utc) + timedelta(days=rnd.randrange(15 * 365))


def envelopes(day: datetime, n: int, tag: str, start: int = 0) -> list[bytes]:
    """n envelopes with event times spread over the day and unique bodies."""
    base = int(day.timestamp() * 1000)
    return [
        encode_event({"timestamp": str(base + (i * 7_919_000) % 86_400_000)}, f"{tag}-{i}".encode())
        for i in range(start, start + n)
    ]


async def first_event(trigger: FlumePartitionTrigger) -> dict[str, Any]:
    """The one event a trigger yields (as the triggerer would run it)."""
    async for ev in trigger.run():
        return ev.payload
    raise AssertionError("the trigger ended without an event")


def make_sensor(topic: str, day: datetime, **kw: Any) -> FlumePartitionSensor:
    path, file_type, serializer = SINKS[topic]
    args: dict[str, Any] = {
        "task_id": f"wait_{topic.replace('-', '_')}",
        "path_template": f"hdfs://{NN}{path}",
        "in_use_prefix": "_",
        "file_type": file_type,
        "serializer": serializer,
        "partition_date": day.date().isoformat(),
        "quiet_period": 3,
        "poke_interval": 1,
        "timeout": 120,
        "deferrable": False,
    }
    args.update(kw)
    return FlumePartitionSensor(**args)


def ctx() -> dict[str, Any]:
    return {"outlet_events": OutletEventAccessors()}


class Probe:
    """Polls the sensor's checks through the shared logic, keeping every report."""

    def __init__(self, sensor: FlumePartitionSensor, stack: Any) -> None:
        self.spec = sensor.build_spec(ctx())
        self.state = PartitionState()
        self.url = stack.webhdfs_url
        self.reports: list[ReadinessReport] = []

    def poke(self) -> ReadinessReport:
        with HdfsClient([self.url], user="root", timeout=(2, 10)) as client:
            report, self.state = poke_partition(client, self.spec, self.state)
        self.reports.append(report)
        return report

    def until_ready(self, stack: Any, timeout: float = 90) -> ReadinessReport:
        return stack.wait_for(
            lambda: (r := self.poke()).ready and r, timeout=timeout, what=f"{self.spec.paths}"
        )


@pytest.mark.parametrize("topic", ["flume-events", "flume-seq", "flume-seqz", "flume-avro"])
def test_counts_real_flume_output(stack: Any, topic: str) -> None:
    day = unique_day()
    n = 1234
    stack.produce(topic, envelopes(day, n, uuid.uuid4().hex))
    probe = Probe(make_sensor(topic, day, expected_count=n), stack)
    first = probe.poke()
    assert not first.ready, "ready before Flume could have rolled the file"
    report = probe.until_ready(stack)
    assert report.event_count == n and report.files >= 1
    failing_before = {c.name for r in probe.reports[:-1] for c in r.failing()}
    assert failing_before & {"exists", "no_in_use", "quiet", "count"}
    assert report.requests == 1, "a ready poke with everything counted costs one LISTSTATUS"


def test_not_ready_while_flume_holds_tmp_open(stack: Any) -> None:
    day = unique_day()
    n = 50
    probe = Probe(make_sensor("flume-slow", day, expected_count=n), stack)
    stack.produce("flume-slow", envelopes(day, n, uuid.uuid4().hex))
    partition = probe.spec.paths[0]
    stack.wait_for(
        lambda: any(s["pathSuffix"].endswith(".tmp") for s in stack.hdfs_list(partition)),
        timeout=30,
        what="Flume to open a .tmp file",
    )
    r = probe.poke()
    assert not r.ready and r.in_use and r.in_use[0].startswith("_FlumeData.")
    assert "no_in_use" in {c.name for c in r.failing()}
    assert "in-use files: _FlumeData." in r.summary()
    # the slow sink rolls after 20 s; never ready while the .tmp is listed
    report = probe.until_ready(stack, timeout=60)
    assert report.event_count == n
    for rep in probe.reports[:-1]:
        assert not rep.ready


def test_late_events_within_quiet_period_hold_ready(stack: Any) -> None:
    day = unique_day()
    tag = uuid.uuid4().hex
    probe = Probe(make_sensor("flume-events", day, quiet_period=15, trust_mtime=False), stack)
    partition = probe.spec.paths[0]
    stack.produce("flume-events", envelopes(day, 100, tag))
    stack.wait_for(lambda: stack.finished_files(partition), timeout=40, what="first file rolled")
    r = probe.poke()
    assert not r.ready and [c.name for c in r.failing()] == ["quiet"]
    time.sleep(5)
    stack.produce("flume-events", envelopes(day, 20, tag, start=100))  # late events for the same day
    seen_late_activity = False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        r = probe.poke()
        if r.in_use or len(stack.finished_files(partition)) > 1:
            seen_late_activity = True
        if r.ready:
            break
        time.sleep(1)
    assert r.ready and seen_late_activity
    assert len(stack.read_lines(partition)) == 120
    assert r.files >= 2
    quiet = next(c for c in r.checks if c.name == "quiet")
    assert quiet.ok and "quiet for" in quiet.reason


def test_poke_mode_waits_for_manifest_count(stack: Any) -> None:
    day = unique_day()
    tag = uuid.uuid4().hex
    sensor = make_sensor("flume-events", day, write_success_marker=True)
    path = sensor.build_spec(ctx()).paths[0]
    sensor.manifest = [{f"hdfs://{NN}{path}": 300}, {path: 200}]  # merged across two mapped replay tasks
    stack.produce("flume-events", envelopes(day, 450, tag))
    probe = Probe(sensor, stack)
    stack.wait_for(lambda: (r := probe.poke()).files and not r.in_use and r.event_count == 450, timeout=40)
    time.sleep(4)
    r = probe.poke()
    assert not r.ready and "counted 450 of 500 events" in r.summary()

    timer = threading.Timer(3, lambda: stack.produce("flume-events", envelopes(day, 50, tag, start=450)))
    timer.start()
    context = ctx()
    t0 = time.monotonic()
    result = sensor.execute(context)  # the real poke loop
    timer.join()
    assert result["ready"] and result["event_count"] == 500 and time.monotonic() - t0 > 3
    assert any(s["pathSuffix"] == "_SUCCESS" for s in stack.hdfs_list(path))
    extra = context["outlet_events"][Asset(uri=f"hdfs://{NN}/flume/events", name="flume:/flume/events")].extra
    assert extra["partition"] == path and extra["event_count"] == 500 and extra["files"] >= 2


def test_deferrable_trigger_in_event_loop(stack: Any) -> None:
    day = unique_day()
    n = 777
    sensor = make_sensor(  # the sink's naming, type and path come from the Flume config file
        "flume-seq",
        day,
        expected_count=n,
        deferrable=True,
        path_template=None,
        in_use_prefix=None,
        file_type=None,
        serializer=None,
        flume_conf=str(stack.flume_conf),
        agent=stack.agent,
        sink="k_seq",
    )
    assert sensor.asset_uri is None  # the Flume config is read at execute only: its asset is opt-in
    stack.produce("flume-seq", envelopes(day, n, uuid.uuid4().hex))
    context = ctx()
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context)
    _classpath, kwargs = info.value.trigger.serialize()
    event = asyncio.run(asyncio.wait_for(first_event(FlumePartitionTrigger(**kwargs)), 90))
    assert event["status"] == "success", event
    result = sensor.execute_complete(context, event)
    assert result["event_count"] == n and result["ready"]


@pytest.mark.faults
def test_namenode_stopped_while_sensing(stack: Any) -> None:
    day = unique_day()
    n = 321
    stack.produce("flume-events", envelopes(day, n, uuid.uuid4().hex))
    probe = Probe(make_sensor("flume-events", day, expected_count=n, quiet_period=8), stack)
    partition = probe.spec.paths[0]
    stack.wait_for(lambda: (r := probe.poke()).event_count == n and not r.in_use, timeout=40, what="rolled")
    stack.stop("namenode")
    try:
        down: list[ReadinessReport] = []
        for _ in range(4):
            down.append(probe.poke())
            time.sleep(1)
    finally:
        try:
            stack.start("namenode")
        except Exception:  # another session's fault test may have restarted it already
            stack.wait_for(stackctl.namenode_ready, timeout=120, what="namenode back")
    assert down[0].error and not down[0].ready, down[0].summary()
    assert "ConnectionError" in down[0].error or "Exception" in down[0].error
    # never a false ready: a ready report only ever carries the full, exact count
    assert all(r.error or (r.ready and r.event_count == n) for r in down), [r.summary() for r in down]
    report = probe.until_ready(stack, timeout=120)
    assert report.event_count == n and report.paths == [partition]
    assert probe.state.transient_since is None
