"""Kafka topic source: the records of a topic over an event-time window, and the topic scan it shares with the CLI.

The consumer's config comes from :func:`airflow_flume_provider.kafka_config.consumer_config` over the ``kafka``
connection's base librdkafka config, which the caller passes in (the replay operator: its hook's
``get_client_config()``); the consumer is built by ``kafka_config.make_consumer``. No Airflow imports here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from airflow_flume_provider.sources.base import Reader
from airflow_flume_provider.sources.record import BadInputError, SourceRecord

_PARTITION_EOF = -191
#: Consumer settings every scan needs: no commits, partition-EOF events, offsets from the earliest kept record.
SCAN_CONSUMER_SETTINGS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.partition.eof": True,
    "auto.offset.reset": "earliest",
}


def make_scan_consumer(
    base_config: Mapping[str, Any],
    *,
    group_prefix: str,
    overrides: Mapping[str, Any] | None = None,
    consumer_factory: Callable[[dict[str, Any]], Any] | None = None,
) -> Any:
    """A consumer with a fresh group id (``group_prefix-<hex>``) for a one-off scan, from the connection's config."""
    from airflow_flume_provider import kafka_config

    config = kafka_config.consumer_config(
        base_config,
        group_id=f"{group_prefix}-{uuid.uuid4().hex}",
        overrides={**SCAN_CONSUMER_SETTINGS, **(overrides or {})},
    )
    return (consumer_factory or kafka_config.make_consumer)(config)


def plan_ranges(
    consumer: Any,
    topic: str,
    *,
    start_ms: int | None,
    end_ms: int | None,
    seek: str = "timestamp",
    timeout_s: float = 30.0,
) -> dict[int, tuple[int, int]]:
    """``{partition: (first offset, end offset)}`` to read, as of now.

    ``seek="timestamp"``: from the first record at or after ``start_ms`` to the first at or after ``end_ms``
    (None: the end of the partition). ``seek="beginning"``: each partition from its start to its end.

    :raises BadInputError: the topic does not exist (or has no partitions).
    """
    from confluent_kafka import TopicPartition

    info = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise BadInputError(f"Kafka topic {topic!r} not found ({info.error if info else 'no metadata'})")
    parts = sorted(info.partitions)

    def offsets_at(ms: int | None) -> list[int]:
        if ms is None or seek == "beginning":
            return [-1] * len(parts)
        found = consumer.offsets_for_times([TopicPartition(topic, p, ms) for p in parts], timeout=timeout_s)
        return [tp.offset for tp in found]

    ranges: dict[int, tuple[int, int]] = {}
    for p, begin, end in zip(parts, offsets_at(start_ms), offsets_at(end_ms), strict=True):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
        if seek == "beginning":
            ranges[p] = (low, high)
        else:
            ranges[p] = (begin if begin >= 0 else high, end if end >= 0 else high)
    return ranges


def scan(
    consumer: Any,
    topic: str,
    ranges: Mapping[int, tuple[int, int]],
    *,
    timeout_s: float = 30.0,
    on_partition_done: Callable[[int], None] | None = None,
) -> Iterator[Any]:
    """The messages of ``ranges`` (``{partition: (begin, end)}``, empty ranges left out), partitions interleaved.

    Ends when every partition reached its end offset; ``on_partition_done(p)`` is called as each one does.

    :raises BadInputError: a consume error, or no progress for ``timeout_s`` before the end offsets.
    """
    from confluent_kafka import TopicPartition

    ends = {p: end for p, (begin, end) in ranges.items() if begin < end}
    if not ends:
        return
    consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in ends])
    pending = set(ends)

    def finish(p: int) -> None:
        pending.discard(p)
        if on_partition_done is not None:
            on_partition_done(p)

    idle_since = time.monotonic()
    while pending:
        batch = consumer.consume(num_messages=1000, timeout=1.0)
        if not batch:
            if time.monotonic() - idle_since > timeout_s:
                # covers offsets never delivered as messages (transaction markers, compaction)
                for tp in consumer.position([TopicPartition(topic, p) for p in sorted(pending)]):
                    if tp.offset >= ends[tp.partition]:
                        finish(tp.partition)
                if pending:
                    raise BadInputError(
                        f"Kafka topic {topic!r}: no progress for {timeout_s:.0f} s on "
                        f"partition(s) {sorted(pending)} before their end offsets"
                    )
            continue
        idle_since = time.monotonic()
        for msg in batch:
            err, p = msg.error(), msg.partition()
            if err is not None:
                if err.code() != _PARTITION_EOF:
                    raise BadInputError(f"Kafka topic {topic!r} partition {p}: {err}")
                if p in pending and (msg.offset() or 0) >= ends[p]:
                    finish(p)
                continue
            if p not in pending:
                continue
            off = msg.offset()
            if off < ends[p]:
                yield msg
            if off + 1 >= ends[p]:
                finish(p)


class KafkaTopicSource(Reader):
    """Records of a Kafka topic whose record timestamps fall in ``[start_ms, end_ms)``.

    Seeks each partition with ``offsets_for_times(start_ms)`` and reads up to the first offset at or after
    ``end_ms`` (or the end of the partition); with ``seek="beginning"`` (record timestamps that are not event
    times) it reads each partition from its start to its end as of the start of the read. Token per
    ``topic:partition``: next offset to read. The body is the original value; the Kafka record timestamp is
    passed on for ``event_time="kafka"``. A null value (tombstone) is bad input.

    :param kafka_base_config: the ``kafka`` connection's librdkafka config (or a zero-argument factory of it).
    :param consumer_factory: builds the consumer from its config (default ``kafka_config.make_consumer``).
    :param consumer_config: librdkafka overrides on top of the scan settings.
    :param kafka_conn_id: the connection ``kafka_base_config`` comes from (named in errors only).
    """

    def __init__(
        self,
        topic: str,
        *,
        start_ms: int,
        end_ms: int,
        kafka_base_config: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        consumer_factory: Callable[[dict[str, Any]], Any] | None = None,
        consumer_config: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
        seek: str = "timestamp",
        kafka_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kafka_conn_id = kafka_conn_id
        if seek not in ("timestamp", "beginning"):
            raise ValueError(f"seek must be 'timestamp' or 'beginning' (got {seek!r})")
        self.seek = seek
        self.topic = topic
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.kafka_base_config = kafka_base_config
        self.consumer_factory = consumer_factory
        self.consumer_config = dict(consumer_config or {})
        self.timeout_s = timeout_s
        self._read = 0

    def _consumer(self) -> Any:
        base = self.kafka_base_config
        if callable(base):
            base = base()
        if base is None:
            conn = f" (connection {self.kafka_conn_id!r})" if self.kafka_conn_id else ""
            raise ValueError(
                f"Kafka source {self.topic!r} needs kafka_base_config, the kafka connection's config{conn}"
            )
        return make_scan_consumer(
            base,
            group_prefix="flume-replay",
            overrides=self.consumer_config,
            consumer_factory=self.consumer_factory,
        )

    def _ranges(self, consumer: Any) -> dict[int, tuple[int, int]]:
        """The window's offset ranges, less what a checkpoint completed or read."""
        ranges = plan_ranges(
            consumer, self.topic, start_ms=self.start_ms, end_ms=self.end_ms, seek=self.seek,
            timeout_s=self.timeout_s,
        )  # fmt: skip
        out = {}
        for p, (begin, end) in ranges.items():
            unit = f"{self.topic}:{p}"
            if unit in self.resume_units:
                begin = max(begin, int(self.resume_units[unit]))
            if unit not in self.completed_units and begin < end:
                out[p] = (begin, end)
        return out

    def __iter__(self) -> Iterator[SourceRecord]:
        consumer = self._consumer()
        try:
            ranges = self._ranges(consumer)
            self.total_bytes = sum(e - b for b, e in ranges.values())  # offsets, for % done
            done = self.completed_units.append
            for msg in scan(
                consumer, self.topic, ranges, timeout_s=self.timeout_s,
                on_partition_done=lambda p: done(f"{self.topic}:{p}"),
            ):  # fmt: skip
                unit, off = f"{self.topic}:{msg.partition()}", msg.offset()
                self._read += 1
                value = msg.value()
                if value is None:
                    self.bad(f"{unit}:{off}", "null value (tombstone)")
                    continue
                ts_type, ts = msg.timestamp()
                yield SourceRecord(value, None, unit, off, off + 1, ts if ts_type else None, msg.key())
        finally:
            consumer.close()

    def fraction_done(self) -> float | None:
        """Share of the window's offsets read so far."""
        return min(1.0, self._read / self.total_bytes) if self.total_bytes else None


def read_messages(
    base_config: Mapping[str, Any],
    topic: str,
    *,
    start_ms: int | None = None,
    limit: int,
    timeout_s: float = 10.0,
    consumer_factory: Callable[[dict[str, Any]], Any] | None = None,
) -> Iterator[Any]:
    """Up to ``limit`` messages of ``topic`` as of now, from ``start_ms`` (None: each partition's start).

    For tooling (``airflow-flume inspect --topic``): every message as consumed, tombstones included.
    """
    consumer = make_scan_consumer(
        base_config, group_prefix="airflow-flume-inspect", consumer_factory=consumer_factory
    )
    try:
        seek = "beginning" if start_ms is None else "timestamp"
        ranges = plan_ranges(consumer, topic, start_ms=start_ms, end_ms=None, seek=seek, timeout_s=timeout_s)
        for n, msg in enumerate(scan(consumer, topic, ranges, timeout_s=timeout_s)):
            if n >= limit:
                return
            yield msg
    finally:
        consumer.close()
