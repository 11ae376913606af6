"""Replays on the real stack: JSONL.gz, Avro files and a raw Kafka topic -> Kafka -> Flume 1.11 -> HDFS.

Every test uses its own random dates (2001..2015) and a unique tag in the bodies, reads back through WebHDFS
what real Flume wrote, and checks each event is in exactly its day (or zone/rounded) directory with
per-partition counts equal to the manifest.
"""

from __future__ import annotations

import gzip
import json
import random
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest

from airflow_flume_provider.hooks.flume_kafka import FlumePublishError
from airflow_flume_provider.kafka_config import make_producer
from airflow_flume_provider.manifest import expected_counts
from airflow_flume_provider.operators.replay import ReplayFlumeEventsOperator

pytestmark = pytest.mark.e2e
DAY = 86_400_000


def unique_day(rng: random.Random) -> datetime:
    """A random UTC midnight in 2001..2015 (distinct per test, so Flume's open files never mix tests)."""
    return datetime(2001, 1, 1, tzinfo=timezone.utc) + timedelta(days=rng.randrange(0, 5400))


def ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def make_events(start: datetime, tag: str, per_day: int = 200) -> list[dict[str, Any]]:
    """3 days of events, including 23:59:59.999 and 00:00:00.000 of each day boundary."""
    t0 = ms(start)
    times = [t0 + d * DAY + i * (DAY // per_day) for d in range(3) for i in range(per_day)]
    times += [t0 + DAY - 1, t0 + DAY, t0 + 2 * DAY - 1, t0 + 2 * DAY, t0 + 3 * DAY - 1]
    return [{"id": f"{tag}-{i}", "tag": tag, "time": t} for i, t in enumerate(times)]


def ctx(run_id: str, map_index: int = -1) -> dict[str, Any]:
    return {"ti": SimpleNamespace(dag_id="e2e_replay", run_id=run_id, map_index=map_index), "run_id": run_id}


def hdfs_lines(stack: Any, directory: str, tag: str) -> list[bytes]:
    return [line for line in stack.read_lines(directory) if tag.encode() in line]


def wait_for_partitions(
    stack: Any, expected: dict[str, int], tag: str, timeout: float = 120
) -> dict[str, list[bytes]]:
    """Wait until every partition directory holds exactly the expected number of tagged lines."""
    found: dict[str, list[bytes]] = {}

    def done() -> bool:
        for path, _n in expected.items():
            found[path] = hdfs_lines(stack, path, tag)
        return all(len(found[p]) >= n for p, n in expected.items())

    stack.wait_for(done, timeout=timeout, interval=2, what=f"Flume to write {expected}")
    time.sleep(6)  # one more roll interval: nothing extra may arrive
    for path in expected:
        found[path] = hdfs_lines(stack, path, tag)
    return found


def day_path(prefix: str, t: int) -> str:
    return f"{prefix}/{datetime.fromtimestamp(t / 1000, tz=timezone.utc):%Y-%m-%d}"


def replay(tmp_path: Path, stack: Any, source: Any, start: datetime, **kw: Any) -> ReplayFlumeEventsOperator:
    args: dict[str, Any] = {
        "task_id": f"replay_{uuid.uuid4().hex[:8]}",
        "source": source,
        "topic": "flume-events",
        "start": start.isoformat(),
        "end": (start + timedelta(days=3)).isoformat(),
        "event_time_field": "time",
        "event_id_field": "id",
        "flume_config_path": str(stack.flume_conf),
        "flume_agent": stack.agent,
        "flume_sink": "k_events",
        "checkpoint_dir": str(tmp_path / "cp"),
        "headers": {"replay": "true"},
        "delivery_timeout_s": 30,
        **kw,
    }
    return ReplayFlumeEventsOperator(**args)


def log_end_offset(stack: Any, topic: str) -> int:
    """The high watermark of partition 0, read by a consumer that joins no group."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def check_days(
    stack: Any, events: list[dict[str, Any]], manifest: dict[str, Any], tag: str, prefix: str
) -> None:
    want = Counter(day_path(prefix, e["time"]) for e in events)
    assert manifest["partitions"] == dict(want)
    found = wait_for_partitions(stack, expected_counts(manifest), tag)
    for path, lines in found.items():
        assert len(lines) == expected_counts(manifest)[path], path
        for line in lines:
            assert day_path(prefix, json.loads(line)["time"]) == path  # every event in exactly its day


def test_replay_jsonl_gz_into_day_directories(stack: Any, tmp_path: Path) -> None:
    rng = random.Random(uuid.uuid4().int)
    start = unique_day(rng)
    tag = uuid.uuid4().hex
    events = make_events(start, tag)
    outside = [
        {"id": f"{tag}-out{i}", "tag": tag, "time": t}
        for i, t in enumerate([ms(start) - 1, ms(start) + 3 * DAY])
    ]
    rows = [json.dumps(e, separators=(", ", ": ")).encode() for e in events + outside]
    src = tmp_path / "events.jsonl.gz"
    src.write_bytes(gzip.compress(b"\n".join(rows) + b"\n"))
    manifest = replay(tmp_path, stack, str(src), start).execute(ctx(tag))
    assert manifest["totals"]["acknowledged"] == len(events) and manifest["totals"]["out_of_window"] == 2
    # the consumed check's targets: the topic's log-end offsets read after the final flush
    assert manifest["kafka_offsets"] == {"flume-events": {"0": log_end_offset(stack, "flume-events")}}
    check_days(stack, events, manifest, tag, "/flume/events")
    # bodies are the original line bytes, unmodified
    written = {
        line
        for lines in wait_for_partitions(stack, expected_counts(manifest), tag).values()
        for line in lines
    }
    assert written == set(rows[: len(events)])


def test_replay_avro_files_into_day_directories(stack: Any, tmp_path: Path) -> None:
    rng = random.Random(uuid.uuid4().int)
    start = unique_day(rng)
    tag = uuid.uuid4().hex
    events = make_events(start, tag, per_day=150)
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "E",
            "fields": [
                {"name": "id", "type": "string"},
                {"name": "tag", "type": "string"},
                {"name": "time", "type": "long"},
            ],
        }
    )
    half = len(events) // 2
    for name, part in (("a.avro", events[:half]), ("b.avro", events[half:])):
        with open(tmp_path / name, "wb") as fh:
            fastavro.writer(fh, schema, part, codec="deflate", sync_interval=2000)
    manifest = replay(tmp_path, stack, str(tmp_path / "*.avro"), start).execute(ctx(tag))
    check_days(stack, events, manifest, tag, "/flume/events")


def test_replay_raw_kafka_topic_into_non_utc_rounded_partitions(stack: Any, tmp_path: Path) -> None:
    """Raw topic -> flume-tz (Asia/Kolkata, rounded down to 30 minutes): paths are local time."""
    rng = random.Random(uuid.uuid4().int)
    start = unique_day(rng)
    tag = uuid.uuid4().hex
    t0 = ms(start)
    local_midnight = t0 + DAY - (5 * 3600 + 1800) * 1000  # 18:30Z = 00:00 IST of the next day
    times = [t0 + i * 600_000 for i in range(3 * 144)]  # every 10 min over 3 days
    times += [
        local_midnight - 1,
        local_midnight,
        local_midnight + 30 * 60_000 - 1,
        local_midnight + 30 * 60_000,
    ]
    events = [{"id": f"{tag}-{i}", "tag": tag, "time": t} for i, t in enumerate(times)]
    topic = f"hookdev-raw-{tag[:12]}"
    stack.create_topic(topic, partitions=2)
    # the raw topic's record timestamps are the event times (CreateTime), plus noise outside the window
    noise = [t0 - DAY, t0 + 4 * DAY]
    stack.produce(
        topic,
        [json.dumps(e).encode() for e in events]
        + [json.dumps({"id": "noise", "tag": tag, "time": t}).encode() for t in noise],
        timestamps_ms=times + noise,
    )
    manifest = replay(
        tmp_path,
        stack,
        f"kafka://{topic}",
        start,
        topic="flume-tz",
        flume_sink="k_tz",
        event_time_field="kafka",
    ).execute(ctx(tag))
    assert manifest["totals"]["acknowledged"] == len(events)
    assert manifest["sink"]["time_zone"] == "Asia/Kolkata"
    assert (
        manifest["partitions"][
            f"/flume/tz/{datetime.fromtimestamp(local_midnight / 1000, tz=timezone(timedelta(hours=5, minutes=30))):%Y-%m-%d}/0000"
        ]
        >= 1
    )
    found = wait_for_partitions(stack, expected_counts(manifest), tag)
    ist = timezone(timedelta(hours=5, minutes=30))
    for path, lines in found.items():
        assert len(lines) == manifest["partitions"][path]
        for line in lines:
            local = datetime.fromtimestamp(json.loads(line)["time"] / 1000, tz=ist)
            assert path == f"/flume/tz/{local:%Y-%m-%d}/{local:%H}{(local.minute // 30) * 30:02d}"


def test_broker_unreachable_fails_within_timeout_nothing_delivered(
    stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_DEAD",
        json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:1"}}),
    )
    src = tmp_path / "e.jsonl"
    start = unique_day(random.Random(uuid.uuid4().int))
    src.write_text("".join(json.dumps(e) + "\n" for e in make_events(start, "dead", per_day=5)))
    began = time.monotonic()
    with pytest.raises(FlumePublishError, match=r"unreachable.*nothing was sent") as info:
        replay(tmp_path, stack, str(src), start, kafka_conn_id="kafka_dead", delivery_timeout_s=5).execute(
            ctx("dead")
        )
    assert time.monotonic() - began < 15
    assert info.value.report.acknowledged == 0 and info.value.report.produced == 0


def test_failure_mid_replay_then_retry_every_event_in_hdfs(stack: Any, tmp_path: Path) -> None:
    """The worker 'crashes' after 700 produced events; the retry resumes from the last checkpoint."""
    rng = random.Random(uuid.uuid4().int)
    start = unique_day(rng)
    tag = uuid.uuid4().hex
    events = make_events(start, tag, per_day=400)
    src = tmp_path / "events.jsonl.gz"
    src.write_bytes(gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in events)))
    state = {"armed": True}

    class Crashing:
        def __init__(self, producer: Any) -> None:
            self._p, self.n = producer, 0

        def produce(self, *a: Any, **k: Any) -> None:
            self.n += 1
            if state["armed"] and self.n > 700:
                raise RuntimeError("injected crash")
            self._p.produce(*a, **k)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._p, name)

    task = replay(
        tmp_path,
        stack,
        str(src),
        start,
        checkpoint_every=250,
        producer_factory=lambda config: Crashing(make_producer(config)),
        kafka_timestamp="event",  # one produce() per message, where Crashing injects (no produce_batch)
    )
    with pytest.raises(Exception, match="injected crash"):
        task.execute(ctx(tag))
    state["armed"] = False
    manifest = task.execute(ctx(tag))
    assert manifest["attempts"] == 2
    assert sum(manifest["partitions"].values()) == len(events)
    dups = sum(manifest["duplicates"].values())
    assert 0 < dups <= 250  # acked after the checkpoint at 500, resent by the retry
    found = wait_for_partitions(stack, expected_counts(manifest), tag)
    ids = Counter(json.loads(line)["id"] for lines in found.values() for line in lines)
    assert set(ids) == {e["id"] for e in events}
    assert sum(n - 1 for n in ids.values()) == dups


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'{"id": "x", "time": ', "invalid JSON"),
        (b'{"id": "\xff", "time": 1}', "invalid UTF-8"),
        (b'{"id": "m"}', "missing"),
        (b'{"id": "u", "time": "yesterday"}', "yesterday"),
        (b'{"id": "y", "time": "9999-01-01T00:00:00Z"}', "outside the allowed range"),
        (b'{"id": "n", "time": -5}', "outside the allowed range"),
    ],
)
def test_bad_input_fail_names_file_and_line(stack: Any, tmp_path: Path, bad: bytes, reason: str) -> None:
    start = unique_day(random.Random(uuid.uuid4().int))
    good = json.dumps({"id": "g", "time": ms(start) + 5}).encode()
    src = tmp_path / "bad.jsonl"
    src.write_bytes(good + b"\n" + bad + b"\n" + good + b"\n")
    with pytest.raises(ValueError, match=rf"bad\.jsonl:2.*{reason}"):
        replay(tmp_path, stack, str(src), start).execute(ctx(uuid.uuid4().hex))


def test_bad_input_skip_dead_letters_each_class_and_delivers_the_rest(stack: Any, tmp_path: Path) -> None:
    start = unique_day(random.Random(uuid.uuid4().int))
    tag = uuid.uuid4().hex
    t = ms(start) + 1000
    good = [json.dumps({"id": f"{tag}-{i}", "tag": tag, "time": t + i}).encode() for i in range(3)]
    bad = [
        b'{"id": "x", "time": ',
        b'{"id": "\xff", "time": 1}',
        b'{"id": "m"}',
        b'{"id": "u", "time": "yesterday"}',
        b'{"id": "y", "time": "9999-01-01T00:00:00Z"}',
        b'{"id": "n", "time": -5}',
    ]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(b"\n".join([good[0], *bad, good[1]]) + b"\n")
    full = gzip.compress(
        b"".join(
            json.dumps({"id": f"{tag}-z{i}", "tag": tag, "time": t}).encode() + b"\n" for i in range(3000)
        )
    )
    (tmp_path / "in" / "b.jsonl.gz").write_bytes(full[: len(full) // 2])  # truncated gzip
    (tmp_path / "in" / "c.jsonl").write_bytes(good[2] + b"\n")
    dl = tmp_path / "out" / "dead.jsonl"
    manifest = replay(
        tmp_path,
        stack,
        {"format": "jsonl", "path": str(tmp_path / "in" / "*")},
        start,
        on_bad_input="skip",
        on_invalid="skip",
        dead_letter_path=str(dl),
    ).execute(ctx(tag))
    totals = manifest["totals"]
    assert totals["bad_input"] == 3 and totals["invalid_time_skipped"] == 4 and totals["dead_lettered"] == 7
    entries = [json.loads(line) for line in dl.read_text().splitlines()]
    assert len(entries) == 7 and any("truncated gzip" in e["reason"] for e in entries)
    partial = totals["acknowledged"] - 3
    assert 0 < partial < 3000  # the readable part of the truncated file was delivered
    found = wait_for_partitions(stack, expected_counts(manifest), tag)
    assert sum(len(v) for v in found.values()) == totals["acknowledged"]
