"""Fault and bad-input tests of issue 6 on the real stack (Kafka 3.9 + Flume 1.11.0 + HDFS).

These tests stop and kill stack components: run them on a stack of their own, e.g.
``FLUME_STACK_PORT_OFFSET=200 FLUME_STACK_WORK=/tmp/stack-faults pytest tests/e2e/test_faults.py``.
Every test uses its own random day (2001..2015), its own ids, and (for bad inputs) its own topic.

Coverage of the issue's fault / bad-input classes (class -> test):

Faults
- Kafka broker killed mid-replay: fails clearly, the retry resumes from the checkpoint, HDFS holds every id,
  duplicates counted and within ``checkpoint_every``
  -> ``test_kafka_killed_mid_replay_then_retry_resumes_from_checkpoint`` (here).
  Related, already covered: broker unreachable from the start
  -> test_replay_stack.py::test_broker_unreachable_fails_within_timeout_nothing_delivered; a worker crash
  (injected exception) mid-replay + retry -> test_replay_stack.py::test_failure_mid_replay_then_retry_every_event_in_hdfs.
- NameNode stopped while the sensor waits (never a false ready; ready after it returns)
  -> test_sensor_partition.py::test_namenode_stopped_while_sensing (already covered, not repeated);
  CLI side: test_cli_stack.py::test_partition_status_namenode_unreachable_is_exit_2.
- Flume agent stopped while events are in Kafka: not ready; after restart ready with the exact count
  -> ``test_flume_stopped_sensor_not_ready_then_exact_count_after_restart`` (here).

Bad inputs
- truncated gzip -> test_replay_stack.py::test_bad_input_skip_dead_letters_each_class_and_delivers_the_rest
- invalid JSON, invalid UTF-8, missing event time, unparsable event time
  -> test_replay_stack.py::test_bad_input_fail_names_file_and_line (fail: file:line named) and
  ::test_bad_input_skip_dead_letters_each_class_and_delivers_the_rest (skip: dead letters + counts)
- year 9999, negative time: covered for replayed JSONL files by the two tests above; the publish path
  (PublishFlumeEventsOperator, ISO and epoch-ms values, both policies, counts in the report, nothing of the bad
  record in Kafka) -> ``test_out_of_range_event_time_on_publish`` (here)
- non-string header value -> ``test_non_string_header_value_refused_before_sending`` (here)
- message larger than the broker's ``message.max.bytes``
  -> ``test_message_larger_than_the_client_limit_is_named_or_dead_lettered`` and
  ``test_message_larger_than_the_broker_limit_fails_with_counts`` (here)
- unknown topic (auto-create off) -> ``test_unknown_topic_refused_nothing_sent_nothing_created`` (here)
- wrong SASL credentials -> test_publish_stack.py::test_wrong_sasl_password_fails_clearly_without_echoing_it
- ``%{header}`` value with ``/`` or ``..``: static header -> ``test_unsafe_static_template_header_refused_before_sending``;
  per-record header (``eventId``) -> ``test_unsafe_per_record_template_header_refused_or_dead_lettered`` (here)

Secrets at DEBUG -> test_publish_stack.py::test_sasl_publish_at_debug_never_logs_the_password.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_flume_provider.envelope import decode_event
from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.hooks.flume_kafka import (
    FlumeKafkaHook,
    FlumePublishError,
    InvalidRecordError,
    PublishReport,
)
from airflow_flume_provider.kafka_config import make_producer
from airflow_flume_provider.manifest import expected_counts
from airflow_flume_provider.operators.publish import PublishFlumeEventsOperator
from airflow_flume_provider.operators.replay import ReplayFlumeEventsOperator
from airflow_flume_provider.partition_check import PartitionState, ReadinessReport, poke_partition
from airflow_flume_provider.sensors.partition import FlumePartitionSensor

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

DAY = 86_400_000
EVENTS_TEMPLATE = "/flume/events/%Y-%m-%d"


# ---------------------------------------------------------------------------------------------- helpers
def unique_day() -> datetime:
    """A random UTC midnight in 2001..2015, from a fresh uuid (so tests never share a partition)."""
    rnd = random.Random(uuid.uuid4().int)
    return datetime(2001, 1, 1, tzinfo=timezone.utc) + timedelta(days=rnd.randrange(15 * 365))


def ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def day_path(t: int) -> str:
    return f"/flume/events/{datetime.fromtimestamp(t / 1000, tz=timezone.utc):%Y-%m-%d}"


def ctx(run_id: str) -> dict[str, Any]:
    return {"ti": SimpleNamespace(dag_id="e2e_faults", run_id=run_id, map_index=-1), "run_id": run_id}


def own_topic(stack: Any, what: str) -> str:
    topic = f"faults-{what}-{uuid.uuid4().hex[:10]}"
    stack.create_topic(topic)
    return topic


def end_offset(stack: Any, topic: str, partition: int = 0) -> int:
    """The topic partition's high watermark (how many messages reached Kafka)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"faults-probe-{uuid.uuid4().hex}"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    finally:
        c.close()


def committed_offset(stack: Any, topic: str, group: str, partition: int = 0) -> int:
    """The offset a consumer group (e.g. Flume's KafkaSource) has committed; -1001 when none."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return c.committed([TopicPartition(topic, partition)], timeout=10)[0].offset
    finally:
        c.close()


def read_topic(stack: Any, topic: str) -> list[Any]:
    """Every envelope in a (small, one-partition) topic, decoded."""
    from confluent_kafka import Consumer, TopicPartition

    high = end_offset(stack, topic)
    if high == 0:
        return []
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"faults-read-{uuid.uuid4().hex}"})
    out: list[Any] = []
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 30
        while len(out) < high and time.monotonic() < deadline:
            msg = c.poll(1)
            if msg is not None and msg.error() is None:
                out.append(decode_event(msg.value()))
    finally:
        c.close()
    assert len(out) == high, f"read {len(out)} of {high} messages of {topic}"
    return out


def ids_in_hdfs(stack: Any, expected: dict[str, int], tag: str, timeout: float = 120) -> Counter[str]:
    """Wait until every partition holds its expected number of tagged lines; return the ids found (with copies)."""

    def lines(path: str) -> list[bytes]:
        return [line for line in stack.read_lines(path) if tag.encode() in line]

    stack.wait_for(
        lambda: all(len(lines(p)) >= n for p, n in expected.items()),
        timeout=timeout,
        interval=2,
        what=f"Flume to write {expected}",
    )
    time.sleep(6)  # one more roll interval: nothing extra may arrive
    found: Counter[str] = Counter()
    for path, n in expected.items():
        got = lines(path)
        assert len(got) == n, f"{path}: {len(got)} lines, expected {n}"
        for line in got:
            event = json.loads(line)
            assert day_path(event["time"]) == path, f"{event} filed under {path}"
            found[event["id"]] += 1
    return found


class Probe:
    """Polls FlumePartitionSensor's checks through the shared partition_check logic, keeping every report."""

    def __init__(self, stack: Any, day: datetime, **kw: Any) -> None:
        sensor = FlumePartitionSensor(
            task_id="wait_events",
            path_template=f"hdfs://{stack.namenode}{EVENTS_TEMPLATE}",
            in_use_prefix="_",
            file_type="DataStream",
            serializer="TEXT",
            partition_date=day.date().isoformat(),
            quiet_period=3,
            poke_interval=1,
            timeout=120,
            deferrable=False,
            **kw,
        )
        self.spec = sensor.build_spec({"outlet_events": OutletEventAccessors()})
        self.state = PartitionState()
        self.url = stack.webhdfs_url
        self.user = stack.user
        self.reports: list[ReadinessReport] = []

    def poke(self) -> ReadinessReport:
        with HdfsClient([self.url], user=self.user, timeout=(2, 10)) as client:
            report, self.state = poke_partition(client, self.spec, self.state)
        self.reports.append(report)
        return report


# ------------------------------------------------------------------------------------------------ faults
def test_kafka_killed_mid_replay_then_retry_resumes_from_checkpoint(stack: Any, tmp_path: Path) -> None:
    """SIGKILL the broker after 1,250 acknowledged events (checkpoint_every=500: last checkpoint at 1,000).

    The attempt fails naming the topic and the counts; the retry (same dag/task/run) resumes after event
    1,000, so the 250 events acknowledged after the checkpoint are sent twice, and the manifest says so.
    """
    every, kill_after, total = 500, 1250, 3000
    start = unique_day()
    tag = uuid.uuid4().hex
    t0 = ms(start)
    events = [{"id": f"{tag}-{i}", "tag": tag, "time": t0 + (i * 57_600) % (2 * DAY)} for i in range(total)]
    src = tmp_path / "events.jsonl.gz"
    src.write_bytes(gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in events)))

    state = {"armed": True, "killed": False}

    class KillBrokerAfter:
        """Wraps the real producer: once `kill_after` events are acknowledged, SIGKILL the broker."""

        def __init__(self, producer: Any) -> None:
            self._p, self.n = producer, 0

        def produce(self, *a: Any, **k: Any) -> None:
            self._p.produce(*a, **k)
            self.n += 1
            if state["armed"] and self.n == kill_after:
                assert self._p.flush(30) == 0, "events before the kill must all be acknowledged"
                # Let Flume commit what it consumed, so HDFS copies are exactly what the manifest counts.
                stack.wait_for(
                    lambda: (
                        committed_offset(stack, "flume-events", "flume-events")
                        == end_offset(stack, "flume-events")
                    ),
                    timeout=60,
                    interval=0.5,
                    what="Flume to consume flume-events up to its end",
                )
                stack.kill("kafka")
                state["killed"] = True

        def __getattr__(self, name: str) -> Any:
            return getattr(self._p, name)

    task = ReplayFlumeEventsOperator(
        task_id="replay_kill_kafka",
        source=str(src),
        topic="flume-events",
        start=start.isoformat(),
        end=(start + timedelta(days=2)).isoformat(),
        event_time_field="time",
        event_id_field="id",
        flume_config_path=str(stack.flume_conf),
        flume_agent=stack.agent,
        flume_sink="k_events",
        checkpoint_dir=str(tmp_path / "cp"),
        checkpoint_every=every,
        delivery_timeout_s=8,
        producer_factory=lambda config: KillBrokerAfter(make_producer(config)),
        kafka_timestamp="event",  # one produce() per message, where KillBrokerAfter counts (no produce_batch)
    )
    try:
        began = time.monotonic()
        with pytest.raises(FlumePublishError) as info:
            task.execute(ctx(tag))
        assert state["killed"]
        assert time.monotonic() - began < 60, (
            "a dead broker must fail the attempt within the delivery timeout"
        )
    finally:
        stack.start("kafka")
    report = info.value.report
    message = str(info.value)
    # what failed (the topic, the delivery errors) and the counts
    assert "'flume-events'" in message and "acknowledged" in message, message
    assert f"{report.acknowledged} of {report.produced} message(s) acknowledged" in message
    assert report.acknowledged == kill_after and report.produced == every * 3, report
    assert report.failed == report.produced - report.acknowledged, report
    assert "timed out" in message.lower() or "transport" in message.lower(), message
    assert sum(report.partitions.values()) == kill_after, "per-partition counts are acknowledged events only"
    checkpoint = next((tmp_path / "cp").rglob("*.checkpoint.json"))
    saved = json.loads(checkpoint.read_text())  # the last checkpoint: after 1,000 acknowledged events
    assert saved["base"]["totals"]["acknowledged"] == 2 * every and saved["attempts"] == 1, saved["base"]

    state["armed"] = False
    manifest = task.execute(ctx(tag))  # the retry: same dag/task/run/map index
    assert manifest["attempts"] == 2
    totals = manifest["totals"]
    assert sum(manifest["partitions"].values()) == total
    dups = sum(manifest["duplicates"].values())
    assert dups == kill_after - 2 * every, manifest["duplicates"]  # acknowledged after the last checkpoint
    assert 0 < dups <= every  # the documented bound: checkpoint_every per failure
    assert totals["acknowledged"] == total and totals["duplicates"] == dups, totals
    assert manifest["partitions"] == dict(Counter(day_path(e["time"]) for e in events))

    found = ids_in_hdfs(stack, expected_counts(manifest), tag)
    assert set(found) == {e["id"] for e in events}, "every event id is in HDFS"
    assert sum(n - 1 for n in found.values()) == dups
    copies = {i for i, n in found.items() if n > 1}
    assert copies == {f"{tag}-{i}" for i in range(2 * every, kill_after)}, (
        "exactly the in-flight window twice"
    )


def test_flume_stopped_sensor_not_ready_then_exact_count_after_restart(stack: Any) -> None:
    day = unique_day()
    tag = uuid.uuid4().hex
    n = 432
    base = ms(day)
    records = [{"id": f"{tag}-{i}", "tag": tag, "time": base + (i * 199_999) % DAY} for i in range(n)]
    probe = Probe(stack, day, expected_count=n, exact_count=True)
    partition = probe.spec.paths[0]
    assert partition == day_path(base)

    stack.stop("flume")
    try:
        before = end_offset(stack, "flume-events")
        report = FlumeKafkaHook(delivery_timeout_s=30).publish(
            records,
            topic="flume-events",
            event_time="time",
            event_id="id",
            path_template=f"hdfs://{stack.namenode}{EVENTS_TEMPLATE}",
        )
        assert report.acknowledged == n and report.partitions == {partition: n}
        assert end_offset(stack, "flume-events") - before == n
        assert committed_offset(stack, "flume-events", "flume-events") <= before, "nobody consumed them"
        down: list[ReadinessReport] = []
        for _ in range(6):  # longer than the quiet period: a missing partition never turns ready
            down.append(probe.poke())
            time.sleep(1)
        assert not any(r.ready for r in down), [r.summary() for r in down]
        assert all("exists" in {c.name for c in r.failing()} for r in down), [r.summary() for r in down]
        assert stack.hdfs_list(partition) == []
    finally:
        stack.start("flume")

    ready = stack.wait_for(lambda: (r := probe.poke()).ready and r, timeout=120, what=f"{partition} ready")
    assert ready.event_count == n and ready.paths == [partition], ready.summary()
    assert not ready.in_use
    lines = [json.loads(line) for line in stack.read_lines(partition) if tag.encode() in line]
    assert sorted(e["id"] for e in lines) == sorted(r["id"] for r in records)
    # a not-ready report before the restart never claimed the full count
    assert all(not r.ready for r in probe.reports[: len(down)])


# -------------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("9999-12-31T23:59:59Z", "9999"),
        (253_402_300_799_000, "253402300799000"),  # 9999-12-31T23:59:59Z in epoch ms
        (-1, "-1"),
        ("1969-12-31T23:59:59.999Z", "1969"),
    ],
    ids=["year9999-iso", "year9999-ms", "negative-ms", "negative-iso"],
)
def test_out_of_range_event_time_on_publish(stack: Any, tmp_path: Path, value: Any, shown: str) -> None:
    # epoch numbers in ms: with the default "auto" unit, 253402300799000 (>= 1e14) would be read as µs (1978)
    unit = "ms"
    day = unique_day()
    tag = uuid.uuid4().hex
    good = [{"id": f"{tag}-g{i}", "time": ms(day) + i} for i in range(3)]
    bad = {"id": f"{tag}-bad", "time": value}

    # fail: the error names the record, the field and the value; the bad record never reaches Kafka
    topic = own_topic(stack, "range")
    task = PublishFlumeEventsOperator(
        task_id="publish_range",
        topic=topic,
        event_time_field="time",
        event_time_unit=unit,
        records=[bad, *good],
    )
    with pytest.raises(InvalidRecordError) as info:
        task.execute({})
    msg = str(info.value)
    assert "record 1" in msg and "time" in msg and shown in msg and "range" in msg, msg
    assert end_offset(stack, topic) == 0

    # skip: a dead-letter record with the reason, the counts in the report, the good records delivered
    topic = own_topic(stack, "range-skip")
    dl = tmp_path / "dead.jsonl"
    report = PublishFlumeEventsOperator(
        task_id="publish_range_skip",
        topic=topic,
        event_time_field="time",
        event_time_unit=unit,
        records=[good[0], bad, *good[1:]],
        on_invalid="skip",
        dead_letter_path=str(dl),
    ).execute({})
    assert report["read"] == 4 and report["acknowledged"] == 3
    assert report["invalid_time_skipped"] == 1 and report["dead_lettered"] == 1
    entries = [json.loads(line) for line in dl.read_text().splitlines()]
    assert len(entries) == 1 and "record 2" in json.dumps(entries[0]) and "range" in entries[0]["reason"], (
        entries
    )
    assert f"{tag}-bad" in json.dumps(entries[0])
    sent = read_topic(stack, topic)
    assert sorted(json.loads(e.body)["id"] for e in sent) == sorted(g["id"] for g in good)


def test_epoch_zero_for_a_rounding_sink_follows_on_invalid(stack: Any, tmp_path: Path) -> None:
    """Flume's TimestampRoundDownUtil throws on a timestamp <= 0: for a rounding sink (k_tz) epoch 0 is a
    poison pill, so it is invalid there: named with ``fail``, dead-lettered with ``skip``, never sent."""
    from airflow_flume_provider.flume_config import load_flume_config
    from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook

    template = load_flume_config(stack.flume_conf).hdfs_sink(stack.agent, "k_tz").path_template_obj()
    assert template.need_rounding
    tag = uuid.uuid4().hex
    records = [{"id": f"{tag}-zero", "time": 0}, *({"id": f"{tag}-g{i}", "time": 1 + i} for i in range(3))]
    hook = FlumeKafkaHook()
    topic = own_topic(stack, "round-zero")
    with pytest.raises(InvalidRecordError, match=r"record 1: .*outside the allowed range"):
        hook.publish(records, topic=topic, event_time="time", event_time_unit="ms", path_template=template)
    assert end_offset(stack, topic) == 0
    dl = tmp_path / "dead.jsonl"
    report = hook.publish(
        records, topic=topic, event_time="time", event_time_unit="ms", path_template=template,
        on_invalid="skip", dead_letter=str(dl),
    )  # fmt: skip
    assert report.acknowledged == 3 and report.dead_lettered == 1 and sum(report.partitions.values()) == 3
    (entry,) = [json.loads(line) for line in dl.read_text().splitlines()]
    assert f"{tag}-zero" in json.dumps(entry) and "range" in entry["reason"]
    assert sorted(json.loads(e.body)["id"] for e in read_topic(stack, topic)) == [f"{tag}-g{i}" for i in range(3)]


def test_non_string_header_value_refused_before_sending(stack: Any, tmp_path: Path) -> None:
    day = unique_day()
    topic = own_topic(stack, "hdrtype")
    records = [{"id": "a", "time": ms(day)}]
    for headers in ({"source": 5}, {"replay": True}, {"batch": None}):
        name = next(iter(headers))
        with pytest.raises(TypeError, match=rf"header '{name}'.*must be str"):
            PublishFlumeEventsOperator(
                task_id="publish_hdr", topic=topic, event_time_field="time", records=records, headers=headers
            ).execute({})
    src = tmp_path / "e.jsonl"
    src.write_text(json.dumps({"id": "r", "time": ms(day) + 1}) + "\n")
    with pytest.raises(TypeError, match=r"header 'replay'.*must be str.*bool"):
        ReplayFlumeEventsOperator(
            task_id="replay_hdr",
            source=str(src),
            topic=topic,
            start=day.isoformat(),
            end=(day + timedelta(days=1)).isoformat(),
            event_time_field="time",
            headers={"replay": True},
            checkpoint_dir=str(tmp_path / "cp"),
        ).execute(ctx(uuid.uuid4().hex))
    assert end_offset(stack, topic) == 0, "nothing may be sent with an invalid header"


def test_message_larger_than_the_client_limit_is_named_or_dead_lettered(stack: Any, tmp_path: Path) -> None:
    """With the default producer config, librdkafka refuses a > 1 MB message itself (the broker allows ~1 MiB)."""
    day = unique_day()
    big = {"id": "big", "time": ms(day) + 1, "blob": os.urandom(700_000).hex()}  # 1.4 MB body
    good = [{"id": f"g{i}", "time": ms(day) + 10 + i} for i in range(3)]

    topic = own_topic(stack, "big")
    partial = PublishReport(topic=topic)  # filled in by publish, readable after it raised
    with pytest.raises(InvalidRecordError) as info:
        FlumeKafkaHook(delivery_timeout_s=15).publish(
            [good[0], big, good[1]], topic=topic, event_time="time", report=partial
        )
    msg = str(info.value)
    assert "record 2" in msg and "MSG_SIZE_TOO_LARGE" in msg, msg
    # produce_batch (the default) hands the three over together: the refused one is named, the others are sent
    assert partial.read == 3 and partial.produced == 2 and partial.acknowledged == 2, partial
    assert [json.loads(e.body)["id"] for e in read_topic(stack, topic)] == ["g0", "g1"]

    topic = own_topic(stack, "big-skip")
    dl = tmp_path / "dead.jsonl"
    report = FlumeKafkaHook(delivery_timeout_s=15).publish(
        [good[0], big, *good[1:]], topic=topic, event_time="time", on_invalid="skip", dead_letter=dl
    )
    assert report.read == 4 and report.acknowledged == 3 and report.dead_lettered == 1, report
    entries = [json.loads(line) for line in dl.read_text().splitlines()]
    assert len(entries) == 1 and "MSG_SIZE_TOO_LARGE" in entries[0]["reason"], entries
    assert "record 2" in json.dumps(entries[0])
    assert sorted(json.loads(e.body)["id"] for e in read_topic(stack, topic)) == ["g0", "g1", "g2"]


def test_message_larger_than_the_broker_limit_fails_with_counts(stack: Any) -> None:
    """Client limit raised above the broker's message.max.bytes (1 MiB + 1 KiB): the broker rejects it."""
    day = unique_day()
    t = ms(day)
    big = {"id": "big", "time": t + DAY // 2, "blob": os.urandom(1_500_000).hex()}  # 3 MB, ~1.5 MB lz4
    good = [{"id": f"g{i}", "time": t + i} for i in range(3)]
    topic = own_topic(stack, "big-broker")
    hook = FlumeKafkaHook(producer_config={"message.max.bytes": 10_000_000}, delivery_timeout_s=15)
    with pytest.raises(FlumePublishError) as info:
        hook.publish(
            [good[0], big, *good[1:]],
            topic=topic,
            event_time="time",
            event_id="id",
            path_template=f"hdfs://{stack.namenode}/flume/x/%Y-%m-%d/%H",
        )
    msg = str(info.value)
    report = info.value.report
    assert f"Kafka topic '{topic}': 3 of 4 message(s) acknowledged, 1 failed" in msg, msg
    assert "MSG_SIZE_TOO_LARGE" in msg, msg
    assert f"event time {big['time']}, eventId 'big'" in msg, f"the error names the rejected event: {msg}"
    assert report.acknowledged == 3 and report.failed == 1 and report.in_doubt == 0, report
    # per-partition counts hold acknowledged events only (the rejected one is in hour 12)
    assert report.partitions == {f"/flume/x/{day:%Y-%m-%d}/00": 3}, report.partitions
    assert sorted(json.loads(e.body)["id"] for e in read_topic(stack, topic)) == ["g0", "g1", "g2"]


def test_unknown_topic_refused_nothing_sent_nothing_created(stack: Any) -> None:
    from confluent_kafka.admin import AdminClient

    topic = f"faults-missing-{uuid.uuid4().hex[:10]}"
    began = time.monotonic()
    with pytest.raises(FlumePublishError) as info:
        PublishFlumeEventsOperator(
            task_id="publish_missing",
            topic=topic,
            event_time_field="time",
            records=[{"id": i, "time": ms(unique_day())} for i in range(5)],
            delivery_timeout_s=10,
        ).execute({})
    msg = str(info.value)
    assert f"Kafka topic '{topic}' is not available" in msg and "nothing was sent" in msg, msg
    assert "UNKNOWN_TOPIC" in msg, msg
    report = info.value.report
    assert report.produced == 0 and report.acknowledged == 0 and report.read == 0, report
    assert time.monotonic() - began < 20
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    assert topic not in admin.list_topics(timeout=10).topics, "auto-create is off: the topic must not appear"


@pytest.mark.parametrize("value", ["a/b", "..", ".", "../etc"])
def test_unsafe_static_template_header_refused_before_sending(stack: Any, value: str) -> None:
    topic = own_topic(stack, "unsafe")
    with pytest.raises(ValueError, match=r"header 'tenant' value") as info:
        PublishFlumeEventsOperator(
            task_id="publish_unsafe",
            topic=topic,
            event_time_field="time",
            records=[{"id": i, "time": ms(unique_day())} for i in range(5)],
            headers={"tenant": value},
            sink_path_template=f"hdfs://{stack.namenode}/flume/%{{tenant}}/%Y-%m-%d",
        ).execute({})
    assert repr(value) in str(info.value)
    assert end_offset(stack, topic) == 0, "refused before anything was sent"


def test_unsafe_per_record_template_header_refused_or_dead_lettered(stack: Any, tmp_path: Path) -> None:
    """%{eventId} in the sink path, with ids from the records: an unsafe id is refused, the rest delivered."""
    day = unique_day()
    tag = uuid.uuid4().hex[:8]
    template = f"hdfs://{stack.namenode}/flume/byid/%{{eventId}}/%Y-%m-%d"
    good = [{"id": f"{tag}-{i}", "time": ms(day) + i} for i in range(3)]

    for bad_id in ("../escape", "x/y"):
        bad = {"id": bad_id, "time": ms(day) + 99}
        topic = own_topic(stack, "unsafe-id")
        with pytest.raises(InvalidRecordError) as info:
            FlumeKafkaHook(delivery_timeout_s=15).publish(
                [bad, *good], topic=topic, event_time="time", event_id="id", path_template=template
            )
        assert "record 1" in str(info.value) and repr(bad_id) in str(info.value), str(info.value)
        assert end_offset(stack, topic) == 0, "the first record was unsafe: nothing reached Kafka"

    topic = own_topic(stack, "unsafe-id-skip")
    dl = tmp_path / "dead.jsonl"
    report = FlumeKafkaHook(delivery_timeout_s=15).publish(
        [good[0], {"id": "..", "time": ms(day) + 5}, *good[1:]],
        topic=topic,
        event_time="time",
        event_id="id",
        path_template=template,
        on_invalid="skip",
        dead_letter=dl,
    )
    assert report.read == 4 and report.acknowledged == 3 and report.dead_lettered == 1, report
    assert report.partitions == {f"/flume/byid/{g['id']}/{day:%Y-%m-%d}": 1 for g in good}
    entries = [json.loads(line) for line in dl.read_text().splitlines()]
    assert len(entries) == 1 and "unsafe path" in entries[0]["reason"] and "'..'" in entries[0]["reason"]
    sent = read_topic(stack, topic)
    assert sorted(e.headers["eventId"] for e in sent) == sorted(g["id"] for g in good)
