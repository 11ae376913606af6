"""kill -9 of a Flume agent mid-stream, on both stack topologies (issues 11 and 13), with real processes.

- ``flume-lossless`` (stack/conf/flume-kafka-channel.conf): a KafkaChannel feeding the HDFS sink. Its offsets
  are committed when the sink's take transaction commits, after hflush, so a crash loses nothing.
- ``flume`` (stack/conf/flume.conf, ``s_events`` -> memory channel -> ``k_events``): the KafkaSource commits
  once events are in the memory channel, so a crash loses what the channel held, while the consumer group
  shows lag 0 afterwards.

Both crashes run at once (one publish per topology, one kill each, one restart each) to keep the suite short.
Each run uses its own day in 2016..2025 and its own event ids. The files each killed agent held open are
reported and asserted: they stay in-use ``_FlumeData.<n>.tmp`` files (never renamed by the restarted agent);
their hflushed content is readable through WebHDFS but hidden from readers that skip ``_`` files.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import stackctl

from airflow_flume_provider.envelope import EnvelopeEncoder

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

EVENTS = 250_000  # per topology; the memory channel holds up to 100,000 of them (flume.conf c_events)
IN_USE = re.compile(r"^_FlumeData\.(\d+)\.tmp$")
COUNTER = re.compile(r"^_?FlumeData\.(\d+)")  # Flume's file counter starts at the file's creation time in ms
SINK_BATCH = 1000  # hdfs.batchSize of both sinks
QUIET = logging.getLogger(
    "tests.e2e.rdkafka"
)  # librdkafka's logs, through Python logging (pytest shows them)


@dataclass
class Topology:
    """One Flume pipeline under test: where it reads, which group commits, where it writes."""

    component: str
    topic: str
    group: str
    base: str
    kill_at: float  # kill once the group has committed this fraction of the run's events
    day: datetime = field(default_factory=lambda: datetime(2016, 1, 1, tzinfo=timezone.utc))
    ids: list[str] = field(default_factory=list)
    killed_ms: int = 0
    committed_at_kill: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # seconds from the start of the publish
    error: BaseException | None = None

    @property
    def directory(self) -> str:
        return f"{self.base}/{self.day:%Y-%m-%d}"


@dataclass
class Outcome:
    """What HDFS and Kafka show after the crash and the restart."""

    topology: Topology
    finished: Counter  # event id -> times seen in finished (renamed) files
    orphaned: Counter  # event id -> times seen in in-use files (orphan_files + leaked_files)
    before_kill: set[str]  # ids in files the agent created before it was killed
    orphan_files: list[str]  # in-use files the killed agent held open
    leaked_files: list[str]  # in-use files the restarted agent never closed (e.g. an open that timed out)
    lag: int
    replication: set[int]

    @property
    def everywhere(self) -> Counter:
        return self.finished + self.orphaned

    @property
    def duplicates(self) -> int:
        return sum(self.everywhere.values()) - len(self.everywhere)

    @property
    def committed_not_written(self) -> int:
        """Events whose offset was committed at the kill but that no file created before the kill holds."""
        return len(set(self.topology.ids[: self.topology.committed_at_kill]) - self.before_kill)

    @property
    def lost(self) -> int:
        return len(set(self.topology.ids) - set(self.everywhere))


# ---------------------------------------------------------------------------------------------- Kafka
def _offsets(consumer: Any, topic: str) -> tuple[int, int]:
    """(committed, log end) of the consumer's group, summed over the topic's partitions."""
    from confluent_kafka import TopicPartition

    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    tps = [TopicPartition(topic, p) for p in parts]
    committed = sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10))
    end = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps)
    return committed, end


def _group_reader(group: str) -> Any:
    """A consumer that never subscribes: it reads the group's committed offsets without joining it."""
    from confluent_kafka import Consumer

    conf = {"bootstrap.servers": stackctl.BOOTSTRAP, "group.id": group, "enable.auto.commit": False}
    return Consumer(conf, logger=QUIET)


def _publish(topology: Topology) -> None:
    """Publish the run's envelopes (eventId header + the id as body, one event time per ms of the day)."""
    from confluent_kafka import Producer

    encode = EnvelopeEncoder({"source": "crash-test"}).encoder_with("eventId")
    day_ms = int(topology.day.timestamp() * 1000)
    conf = {
        "bootstrap.servers": stackctl.BOOTSTRAP,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
    }
    producer = Producer(conf, logger=QUIET)
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for i, event_id in enumerate(topology.ids):
        value = encode(event_id.encode(), str(day_ms + (i * 337) % 86_400_000), event_id)
        while True:
            try:
                producer.produce(topology.topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(120)
    assert left == 0 and not failures, f"{topology.topic}: {left} unacknowledged, errors {failures[:3]}"


# ---------------------------------------------------------------------------------------------- the crash
def _crash(topology: Topology, killed: threading.Barrier) -> None:
    """Publish, kill -9 the agent once its group committed `kill_at` of the run, restart it, wait for lag 0.

    Restarts wait at `killed` until every agent is killed: a start holds the stack's lock until the agent is
    ready, which would delay the other kill.
    """
    reader = _group_reader(topology.group)
    try:
        _, start = _offsets(reader, topology.topic)
        t0 = time.monotonic()
        publisher = threading.Thread(target=_publish, args=(topology,), name=f"publish-{topology.component}")
        publisher.start()
        target = start + int(len(topology.ids) * topology.kill_at)
        deadline = time.monotonic() + 300
        while (committed := _offsets(reader, topology.topic)[0]) < target:
            assert time.monotonic() < deadline, (
                f"{topology.group} never reached offset {target} ({committed})"
            )
            time.sleep(0.1)
        stackctl.kill(topology.component)  # SIGKILL to the agent's process group
        topology.killed_ms = int(time.time() * 1000)
        topology.committed_at_kill = committed - start
        topology.phases["killed"] = time.monotonic() - t0
        killed.wait(300)
        publisher.join(300)
        topology.phases["published"] = time.monotonic() - t0
        stackctl.start(topology.component)
        topology.phases["restarted"] = time.monotonic() - t0
        deadline = time.monotonic() + 300
        while (pair := _offsets(reader, topology.topic))[0] < pair[1]:
            assert time.monotonic() < deadline, f"{topology.group} still behind after restart: {pair}"
            time.sleep(1)
        topology.phases["lag 0"] = time.monotonic() - t0
    finally:
        reader.close()


def _wait_settled(stack: Any, topology: Topology, quiet: float = 8.0, timeout: float = 240) -> None:
    """Wait until the day's listing has not changed for `quiet` s (> rollInterval 5 s): the sink is idle.

    Files left in use are then abandoned: the killed agent's, and any the restarted agent could not open or
    close in time (under load, an HDFS call past hdfs.callTimeout leaves its file open: FLUME-3080).
    """
    last: list[str] = []
    since = deadline = time.monotonic()
    deadline += timeout
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, (
            f"{topology.directory} still changing after {timeout:.0f}s: {last}"
        )
        names = sorted(st["pathSuffix"] for st in stack.hdfs_list(topology.directory))
        if names != last:
            last, since = names, time.monotonic()
        time.sleep(1)


def _outcome(stack: Any, topology: Topology) -> Outcome:
    statuses = stack.hdfs_list(topology.directory)
    finished: Counter = Counter()
    orphaned: Counter = Counter()
    orphan_files, leaked_files = [], []
    before_kill: set[str] = set()
    for st in statuses:
        path = f"{topology.directory}/{st['pathSuffix']}"
        lines = [line.decode() for line in stack.hdfs_read(path).splitlines()]
        in_use = IN_USE.match(st["pathSuffix"])
        if in_use:
            (orphan_files if int(in_use.group(1)) < topology.killed_ms else leaked_files).append(path)
            orphaned.update(lines)
        else:
            finished.update(lines)
        counter = COUNTER.match(st["pathSuffix"])
        if counter and int(counter.group(1)) < topology.killed_ms:
            before_kill.update(lines)
    reader = _group_reader(topology.group)
    try:
        committed, end = _offsets(reader, topology.topic)
    finally:
        reader.close()
    replication = {st["replication"] for st in statuses}
    return Outcome(
        topology, finished, orphaned, before_kill, orphan_files, leaked_files, end - committed, replication
    )


@pytest.fixture(scope="module")
def crashes(stack: Any) -> dict[str, Outcome]:
    """Both topologies crashed at once; their outcomes by component name."""
    run = uuid.uuid4()
    days = [
        datetime(2016, 1, 1, tzinfo=timezone.utc) + timedelta(days=(run.int >> s) % 3650) for s in (0, 64)
    ]
    topologies = [
        Topology(
            "flume-lossless", stackctl.FLUME_LOSSLESS_TOPIC, "flume-channel-events", "/flume/lossless", 0.3
        ),
        Topology("flume", "flume-events", "flume-events", "/flume/events", 0.5),
    ]
    for topology, day in zip(topologies, days, strict=True):
        topology.day = day
        topology.ids = [f"{run.hex[:8]}-{topology.component}-{i}" for i in range(EVENTS)]

    killed = threading.Barrier(len(topologies))

    def crash(topology: Topology) -> None:
        try:
            _crash(topology, killed)
        except BaseException as exc:  # re-raised in the test thread below
            topology.error = exc
            killed.abort()

    threads = [threading.Thread(target=crash, args=(t,)) for t in topologies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    for topology in topologies:
        if topology.error is not None:
            raise topology.error
        _wait_settled(stack, topology)
    outcomes = {t.component: _outcome(stack, t) for t in topologies}
    for o in outcomes.values():
        t = o.topology
        print(
            f"\n{t.component}: {len(t.ids)} published, killed at committed {t.committed_at_kill}; lost {o.lost}; "
            f"finished files hold {len(o.finished)} distinct ({sum(o.finished.values())} lines); "
            f"{len(o.orphan_files)} in-use file(s) left by the kill, {len(o.leaked_files)} by the restarted "
            f"agent, hold {len(o.orphaned)} distinct; "
            f"committed at the kill but in no file: {o.committed_not_written}; duplicates {o.duplicates}; "
            f"lag {o.lag}; replication {o.replication}; phases (s) "
            + ", ".join(f"{k} {v:.1f}" for k, v in t.phases.items())
        )
    return outcomes


def test_kafka_channel_kill_9_loses_nothing(crashes: dict[str, Outcome]) -> None:
    """Every event is in HDFS after kill -9 and restart; what the killed agent held open stays `_...tmp`."""
    o = crashes["flume-lossless"]
    assert o.lag == 0
    assert o.lost == 0, f"{o.lost} of {len(o.topology.ids)} events are nowhere in {o.topology.directory}"
    assert set(o.everywhere) == set(o.topology.ids)  # nothing foreign either
    # Committed means "in HDFS": every event the group had committed when the agent died was already in a file.
    assert o.committed_not_written == 0
    # The agent was killed with files open: they are never renamed (the restarted agent opens new files), and
    # their flushed content was committed, so Kafka does not deliver it again: readers that skip '_' files
    # (Hive, Spark, the sensor's finished-file count) miss exactly those events until the file is recovered.
    assert o.orphan_files, "the kill left no in-use file: it did not hit the agent mid-stream"
    assert set(o.orphaned), "the in-use file left by the kill holds the events flushed to it"
    assert set(o.topology.ids) - set(o.finished) <= set(o.orphaned)
    # Redelivered after the restart: only the take transactions the kill (or a timed-out call) interrupted.
    assert o.duplicates <= SINK_BATCH * (1 + len(o.leaked_files))
    assert o.replication == {1}, "Flume must write with the one-DataNode cluster's replication"


def test_kafka_source_memory_channel_kill_9_loses_events_at_lag_0(crashes: dict[str, Outcome]) -> None:
    """The documented caveat: the group is caught up (lag 0), yet what the memory channel held is gone."""
    o = crashes["flume"]
    assert o.lag == 0
    assert o.lost > 0, (
        f"no loss this run (killed at committed {o.topology.committed_at_kill}): the memory channel was empty"
    )
    # Committed means only "in the channel": the group had committed events that no file ever received. (The
    # offset was read just before the kill, so the source may have committed a few more batches: <=.)
    assert 0 < o.committed_not_written <= o.lost
    assert o.lost <= 100_000 + 1000  # at most the channel's capacity plus one source batch in flight
    assert o.replication == {1}
