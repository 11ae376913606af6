"""The sensor's ``consumed`` check and its fault side on the real stack (Kafka, Flume 1.11, HDFS).

Both topologies of the stack: ``flume`` (KafkaSource + memory channel, stack/conf/flume.conf, sink ``k_events``)
and ``flume-lossless`` (KafkaChannel feeding the sink, flume-kafka-channel.conf, sink ``k_lossless``).

- Replay-style manifest (``kafka_offsets`` = log-end offsets after the final flush, as the engines record them):
  NOT ready while the agent is stopped with records pending; after the restart, ``consumed`` passes exactly when
  the group's committed offsets reach the targets (checked around every poke), and ``count`` agrees; on the
  KafkaChannel every event is already readable in HDFS at that moment. ``airflow-flume partition-status`` gives
  the same verdicts (exit 1, then 0), with the manifest and with the live snapshot kept in ``--state-file``.
- Live window: not ready before end + lateness even when the group is caught up; one snapshot afterwards; records
  written after it are late data and do not move the target.
- Deferred: the trigger reads Kafka in its worker thread and reports success.
- A stale in-use file (a real HDFS file, unchanged for 3 h) is reported apart; ``on_stale_in_use="fail"`` fails.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import stackctl
from airflow.sdk.execution_time.context import OutletEventAccessors
from test_sensor_partition import envelopes, first_event, make_sensor, unique_day

from airflow_flume_provider.consumed import offsets_to_json
from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.kafka_offsets import log_end_offsets, open_admin, read_group, topic_partitions
from airflow_flume_provider.partition_check import PartitionCheckFailed, PartitionState, poke_partition
from airflow_flume_provider.sensors.partition import FlumePartitionSensor
from airflow_flume_provider.triggers.partition import FlumePartitionTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # pragma: no cover
    from airflow.exceptions import TaskDeferred  # type: ignore

pytestmark = pytest.mark.e2e
CLI = [str(Path(sys.executable).with_name("airflow-flume"))]
N = 400
TOPOLOGIES = {  # component -> (Flume config, agent, sink, topic, group, HDFS directory)
    "flume": (stackctl.FLUME_CONF, "agent", "k_events", "flume-events", "flume-events", "/flume/events"),
    "flume-lossless": (
        stackctl.FLUME_LOSSLESS_CONF,
        stackctl.FLUME_LOSSLESS_AGENT,
        "k_lossless",
        stackctl.FLUME_LOSSLESS_TOPIC,
        "flume-channel-events",
        "/flume/lossless",
    ),
}


def sensor_for(component: str, day: datetime, **kw: Any) -> FlumePartitionSensor:
    """``make_sensor``'s settings, with the sink (path, naming) read from the component's Flume config."""
    conf, agent, sink, *_ = TOPOLOGIES[component]
    from_conf = {"path_template": None, "in_use_prefix": None, "file_type": None, "serializer": None}
    args = {"flume_conf": str(conf), "agent": agent, "sink": sink, "checks": ["exists", "consumed"], **kw}
    return make_sensor(
        "flume-events", day, task_id=f"wait_{component.replace('-', '_')}", **from_conf, **args
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def status_args(component: str, day: datetime, stack: Any, *extra: str) -> list[str]:
    conf, agent, sink, *_ = TOPOLOGIES[component]
    base = ["partition-status", "--flume-conf", str(conf), "--agent", agent, "--sink", sink]
    base += ["--date", day.date().isoformat(), "--quiet-period", "3"]
    return [*base, "--webhdfs", stack.webhdfs_url.replace("://", "://root@"), *extra]


def all_lines(stack: Any, directory: str) -> int:
    """Lines in every file of the directory, in-use files included (what a reader sees after hflush)."""
    files = [st["pathSuffix"] for st in stack.hdfs_list(directory) if st["type"] == "FILE"]
    return sum(len(stack.hdfs_read(f"{directory}/{name}").splitlines()) for name in files)


class Poker:
    """Pokes a spec through the real WebHDFS and Kafka, keeping the state like the sensor does."""

    def __init__(self, spec: Any, stack: Any) -> None:
        self.spec, self.state, self.stack = spec, PartitionState(), stack
        self.admin = open_admin({"bootstrap.servers": stack.bootstrap})

    def poke(self, now: float | None = None) -> Any:
        with HdfsClient([self.stack.webhdfs_url], user="root", timeout=(2, 10)) as client:
            report, self.state = poke_partition(client, self.spec, self.state, now, admin=self.admin)
        return report


def verdict(report: Any, name: str) -> bool:
    return next(c.ok for c in report.checks if c.name == name)


def stopped_with_pending(stack: Any, admin: Any, component: str, day: datetime) -> dict:
    """Stop the agent once caught up, publish N events for ``day``; returns the log-end targets (the manifest's)."""
    *_, topic, group, _dir = TOPOLOGIES[component]
    parts = topic_partitions(admin, [topic])
    stack.wait_for(
        lambda: all(
            read_group(admin, group, parts).committed.get(tp, 0) >= e
            for tp, e in log_end_offsets(admin, parts).items()
        ),
        120,
        what=f"{group} to catch up before the test",
    )
    stack.stop(component)
    stack.wait_for(lambda: read_group(admin, group, parts).members == 0, 60, what=f"{group} without members")
    stack.produce(topic, envelopes(day, N, uuid.uuid4().hex))
    return log_end_offsets(admin, parts)


@pytest.mark.faults
def test_manifest_offsets_not_ready_while_stopped_then_exactly_when_the_group_passes_them(
    stack: Any, tmp_path: Path
) -> None:
    """Both topologies at once: each flow mostly waits on its own agent."""
    with ThreadPoolExecutor(max_workers=len(TOPOLOGIES)) as pool:
        futures = {c: pool.submit(manifest_flow, stack, c, tmp_path / c) for c in TOPOLOGIES}
    for future in futures.values():
        future.result()  # a topology's failure is raised here


def manifest_flow(stack: Any, component: str, tmp_path: Path) -> None:
    """Stopped with records pending -> not ready (sensor spec and CLI); restarted -> ready exactly when the group
    passes the manifest's offsets; the count and the CLI agree."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    *_, group, directory = TOPOLOGIES[component]
    day = unique_day()
    path = f"{directory}/{day.date().isoformat()}"
    admin = open_admin({"bootstrap.servers": stack.bootstrap})
    targets = stopped_with_pending(stack, admin, component, day)
    manifest = {"partitions": {path: N}, "kafka_offsets": offsets_to_json(targets)}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    try:
        sensor = sensor_for(component, day, manifest=manifest, checks=["exists", "consumed", "count"])
        poker = Poker(sensor.build_spec({"outlet_events": OutletEventAccessors()}), stack)
        if component == "flume":  # KafkaSource: consumed only with no_in_use and quiet beside it
            assert poker.spec.checks == ("exists", "consumed", "count", "no_in_use", "quiet")
        else:
            assert poker.spec.checks == ("exists", "consumed", "count")
        report = poker.poke()
        assert not report.ready and not verdict(report, "consumed")
        assert "partitions caught up" in report.summary() and "of" in report.summary(), report.summary()
        manifest_cli = status_args(
            component,
            day,
            stack,
            "--checks",
            "exists,consumed",
            "--manifest",
            str(tmp_path / "manifest.json"),
        )
        live_cli = status_args(
            component, day, stack, "--checks", "exists,consumed", "--state-file", str(tmp_path / "state.json")
        )
        for argv in (manifest_cli, live_cli):
            done = cli(*argv)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "FAIL consumed" in done.stdout and done.stdout.endswith("NOT READY\n")
        kept = json.loads((tmp_path / "state.json").read_text())
        assert kept["kafka_offsets"] == offsets_to_json(
            targets
        )  # the CLI's live snapshot, kept for the next run
    finally:
        stack.start(component)
    parts = sorted(targets)
    consumed_seen = False
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        before = read_group(admin, group, parts)
        report = poker.poke()
        after = read_group(admin, group, parts)
        ok = verdict(report, "consumed")
        if all(before.committed.get(tp, -1) >= n for tp, n in targets.items()) and before.members:
            assert ok, report.summary()  # passed before the poke: consumed must say so
        if not all(after.committed.get(tp, -1) >= n for tp, n in targets.items()):
            assert not ok, report.summary()  # not passed after the poke: consumed must not say so
        if ok and not consumed_seen:
            consumed_seen = True
            if component == "flume-lossless":  # committed means flushed to HDFS: every event is readable now
                assert all_lines(stack, path) == N
        if report.ready:
            break
        time.sleep(0.5)
    assert report.ready, report.summary()
    assert report.event_count == N  # the count check agrees with consumed
    for argv in (manifest_cli, live_cli):
        done = cli(*argv)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "PASS consumed" in done.stdout and done.stdout.endswith("READY\n")
    assert json.loads((tmp_path / "state.json").read_text())["kafka_offsets"] == offsets_to_json(targets)


@pytest.mark.faults
def test_live_window_waits_for_end_plus_lateness_then_one_snapshot_and_later_records_are_late(
    stack: Any,
) -> None:
    component = "flume-lossless"
    *_, topic, group, _dir = TOPOLOGIES[component]
    day = unique_day()
    admin = open_admin({"bootstrap.servers": stack.bootstrap})
    spec = sensor_for(component, day).build_spec({"outlet_events": OutletEventAccessors()})
    # The day's real partition, with its end moved to a few seconds from now (a live day would take a day).
    close = time.time() + 6
    poker = Poker(replace(spec, end_ts=close - 2, allowed_lateness=2), stack)
    stack.produce(topic, envelopes(day, 10, uuid.uuid4().hex))
    parts = topic_partitions(admin, [topic])
    stack.wait_for(
        lambda: read_group(admin, group, parts).committed == log_end_offsets(admin, parts),
        120,
        what="caught up",
    )
    report = poker.poke()
    assert not verdict(report, "consumed") and "waiting for the window to close" in report.summary()
    assert poker.state.consumed_state is None  # caught up, but the window is open: nothing snapshotted
    try:
        stack.stop(component)
        stack.wait_for(
            lambda: read_group(admin, group, parts).members == 0, 60, what=f"{group} without members"
        )
        stack.produce(topic, envelopes(day, N, uuid.uuid4().hex))  # in the window
        time.sleep(max(0.0, close - time.time()))
        report = poker.poke()
        snapshot = poker.state.consumed_state
        assert snapshot and snapshot["kafka_offsets"] == offsets_to_json(log_end_offsets(admin, parts))
        assert not verdict(report, "consumed"), (
            report.summary()
        )  # Flume stopped with the window's records pending
        stack.produce(topic, envelopes(day, N, uuid.uuid4().hex))  # after the snapshot: late data
    finally:
        stack.start(component)
    report = stack.wait_for(lambda: (r := poker.poke()).ready and r, 120, what="consumed after the restart")
    assert poker.state.consumed_state == snapshot  # one snapshot per window, kept across pokes
    late_end = offsets_to_json(log_end_offsets(admin, parts))
    assert late_end != snapshot["kafka_offsets"]  # the late records moved the log end, not the target


def test_deferred_sensor_with_consumed_on_the_kafka_channel(stack: Any) -> None:
    day = unique_day()
    topic = TOPOLOGIES["flume-lossless"][3]
    stack.produce(topic, envelopes(day, N, uuid.uuid4().hex))
    admin = open_admin({"bootstrap.servers": stack.bootstrap})
    manifest = {"kafka_offsets": offsets_to_json(log_end_offsets(admin, topic_partitions(admin, [topic])))}
    sensor = sensor_for(
        "flume-lossless",
        day,
        manifest=manifest,
        deferrable=True,
        expected_count=N,
        checks=["exists", "consumed", "count"],
    )
    context = {"outlet_events": OutletEventAccessors()}
    try:
        first = sensor.execute(context)  # ready at the first poke if Flume was quick
        result = first
    except TaskDeferred as info:
        _classpath, kwargs = info.trigger.serialize()
        assert "bootstrap.servers" not in json.dumps(kwargs)
        event = asyncio.run(asyncio.wait_for(first_event(FlumePartitionTrigger(**kwargs)), 120))
        assert event["status"] == "success", event
        result = sensor.execute_complete(context, event)
    assert result["ready"] and result["event_count"] == N
    assert next(c for c in result["checks"] if c["name"] == "consumed")["ok"]


def test_stale_in_use_file_on_real_hdfs_is_reported_and_fail_names_it(stack: Any) -> None:
    day = unique_day()
    directory = f"/flume/lossless/{day.date().isoformat()}"
    with HdfsClient([stack.webhdfs_url], user="root") as client:
        client.create(f"{directory}/FlumeData.1", b"a\n", overwrite=True)
        client.create(f"{directory}/_FlumeData.2.tmp", b"b\n", overwrite=True)
        three_hours_ago = int((time.time() - 3 * 3600) * 1000)
        url = f"{stack.webhdfs_url}/webhdfs/v1{directory}/_FlumeData.2.tmp"
        url += f"?op=SETTIMES&modificationtime={three_hours_ago}&user.name=root"
        urllib.request.urlopen(urllib.request.Request(url, method="PUT"), timeout=10).close()
        spec = sensor_for("flume-lossless", day, checks=["exists", "no_in_use"]).build_spec({})
        report, _ = poke_partition(client, spec, PartitionState())
        assert not report.ready and report.stale_in_use == [f"{directory}/_FlumeData.2.tmp"]
        assert f"stale in-use file {directory}/_FlumeData.2.tmp, open for 3.0 h" in report.summary()
        with pytest.raises(PartitionCheckFailed, match=r"hdfs debug recoverLease -path \S+_FlumeData.2.tmp"):
            poke_partition(client, replace(spec, on_stale_in_use="fail"), PartitionState())


def test_timeout_with_an_expected_count_names_the_missing_events_and_the_replay_command(stack: Any) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    try:
        from airflow.sdk.exceptions import AirflowSensorTimeout
    except ImportError:  # pragma: no cover
        from airflow.exceptions import AirflowSensorTimeout  # type: ignore

    day = unique_day()
    stack.produce(TOPOLOGIES["flume-lossless"][3], envelopes(day, N, uuid.uuid4().hex))
    with DAG("replay_window", schedule=None) as dag:
        sensor = sensor_for("flume-lossless", day, checks=None, expected_count=N + 25, timeout=20)
        EmptyOperator(task_id="replay") >> sensor
    logical = datetime(2026, 1, 2, tzinfo=timezone.utc)
    with pytest.raises(AirflowSensorTimeout) as info:
        sensor.execute({"outlet_events": OutletEventAccessors(), "dag": dag, "logical_date": logical})
    text = str(info.value)
    path = f"/flume/lossless/{day.date().isoformat()}"
    assert f"Partition {path} is not complete" in text
    assert f"25 of {N + 25:,} expected events are missing from HDFS" in text  # all N arrived: 25 never will
    assert f"airflow tasks clear replay_window -t '^(replay)$' -s {logical.isoformat()}" in text
    assert (
        "then check with: airflow-flume partition-status --flume-conf" in text
        and f"--expected {N + 25}" in text
    )


def test_the_replay_operators_manifest_drives_consumed_and_count(stack: Any, tmp_path: Path) -> None:
    """The real ReplayFlumeEventsOperator's XCom (with the kafka_offsets it read after its final flush) is the
    sensor's ``manifest``: ``consumed`` (KafkaSource: with no_in_use and quiet) and ``count`` agree."""
    import gzip

    from test_replay_stack import ctx as replay_ctx
    from test_replay_stack import make_events, replay

    tag = uuid.uuid4().hex
    start = unique_day()
    events = make_events(start, tag, per_day=50)
    src = tmp_path / "events.jsonl.gz"
    src.write_bytes(gzip.compress(b"\n".join(json.dumps(e).encode() for e in events) + b"\n"))
    manifest = replay(tmp_path, stack, str(src), start).execute(replay_ctx(tag))
    assert manifest["kafka_offsets"]["flume-events"]
    sensor = sensor_for("flume", start, manifest=manifest, checks=["exists", "consumed", "count"])
    poker = Poker(sensor.build_spec({"outlet_events": OutletEventAccessors()}), stack)
    assert poker.spec.kafka_targets == manifest["kafka_offsets"]
    report = stack.wait_for(lambda: (r := poker.poke()).ready and r, 120, what="the replayed day")
    assert report.event_count == report.expected_count == manifest["partitions"][poker.spec.paths[0]]
