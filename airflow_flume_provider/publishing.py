"""The publishing engine: records -> Flume envelopes -> a Kafka producer, with every message accounted for.

:class:`Publisher` drives one publish: the :class:`~airflow_flume_provider.message_builder.MessageBuilder`
turns each record into a message, the loop produces it (retrying on a full queue), stops at the first
delivery error, flushes at checkpoints, honours a rate limit and reports progress; at the end it flushes
(purging what cannot be delivered) and raises :class:`FlumePublishError` unless every produced message was
acknowledged. The producer is built by the caller (the hook owns the connection and the client) from
:meth:`Publisher.producer_config`. Core module: no Airflow imports.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_flume_provider.delivery import DeliveryTracker, fill_report, purge
from airflow_flume_provider.message_builder import Message, MessageBuilder
from airflow_flume_provider.publish_report import (
    FlumePublishError,
    PublishProgress,
    PublishReport,
    PublishSpec,
    check_kafka_timestamp,
)

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

#: Messages handed to the producer at once (one ``produce_batch`` call or a ``produce()`` loop); the producer is
#: polled after each chunk, so a delivery error stops the publish within one chunk.
_CHUNK = 1000


def _error_name(err: Any) -> str | None:
    """``KafkaError.name()`` of a ``produce_batch`` entry's ``_error`` (None when there is none)."""
    if err is None:
        return None
    return err.name() if hasattr(err, "name") else str(err)


def _throttle(done: int, rate: float, t0: float, poll: Callable[[float], Any] | None) -> None:
    """Wait until ``done`` events are within the ``rate`` budget (serving delivery reports meanwhile)."""
    ahead = done / rate - (time.monotonic() - t0)
    if ahead > 0:
        if poll is not None:
            poll(ahead)
        else:
            time.sleep(ahead)


class Publisher:
    """One publish of records to ``spec.topic``; validates the spec on construction (nothing sent yet)."""

    def __init__(self, spec: PublishSpec) -> None:
        check_kafka_timestamp(spec.kafka_timestamp)
        self.spec = spec
        self.report = spec.report if spec.report is not None else PublishReport(topic=spec.topic)
        self.report.topic, self.report.dry_run = spec.topic, spec.dry_run
        self.report.kafka_timestamp = spec.kafka_timestamp
        self.builder = MessageBuilder(spec, self.report)
        id_header = spec.event_id_header if spec.event_id is not None else None
        self.delivery = DeliveryTracker(self.builder.path_of, id_header)
        self._paths: Counter[str] = Counter()
        self._producer: Any = None
        self._t0 = time.monotonic()

    def producer_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` with the delivery-report and error callbacks this publish counts with."""
        return self.delivery.attach(config)

    def run(self, records: Iterable[Any], producer: Any, *, timeout_ms: int = 0) -> PublishReport:
        """Publish ``records`` through ``producer`` (None for a dry run); return the report.

        :param timeout_ms: the producer's per-message delivery timeout (bounds the flushes).
        :raises FlumePublishError: anything produced was not acknowledged (the report is attached).
        :raises InvalidRecordError: a record was invalid with ``on_invalid="fail"``.
        """
        spec, report = self.spec, self.report
        if producer is not None:
            self.delivery.outstanding = getattr(producer, "__len__", None)
        self._producer = producer
        report.started_at, self._t0 = time.time(), time.monotonic()
        aborted: str | None = None
        try:
            aborted, last_record = self._loop(records, producer, timeout_ms)
        finally:
            self._finish(producer, timeout_ms, aborted)
        delivery = self.delivery
        if not spec.dry_run and (report.acknowledged != report.produced or aborted or delivery.fatal):
            raise FlumePublishError(
                f"Kafka topic {spec.topic!r}: {report.acknowledged} of {report.produced} message(s) "
                f"acknowledged, {report.failed} failed"
                + (" (publishing stopped at the first delivery error)" if aborted else "")
                + f"; first errors: {report.first_errors[:3]}",
                report,
            )
        if spec.checkpoint is not None and report.read and not spec.dry_run:
            spec.checkpoint(PublishProgress(report, last_record, time.monotonic() - self._t0))
        log.info(
            "Published to %s: %d acknowledged, %d dead-lettered, %d out of window, %.0f events/s",
            spec.topic,
            report.acknowledged,
            report.dead_lettered,
            report.out_of_window,
            report.events_per_s,
        )
        return report

    def _loop(self, records: Iterable[Any], producer: Any, timeout_ms: int) -> tuple[str | None, Any]:
        """The hot loop: build messages, hand them over in chunks; returns (why it stopped early, last record)."""
        spec, report, t0 = self.spec, self.report, self._t0
        build, progress = self.builder.bind(), spec.progress
        send = self._sender(producer)
        size = _CHUNK if not spec.rate_limit else max(1, min(_CHUNK, int(spec.rate_limit / 20)))
        due: float = spec.checkpoint_every if spec.checkpoint is not None else float("inf")
        room = min(size, due)  # messages to collect before the next hand-over (a checkpoint ends a chunk)
        next_progress = t0 + spec.progress_interval_s
        messages: list[Message] = []
        origins: list[tuple[Any, int]] = []  # (record, its number) of each message, to name refused ones
        add, add_origin = messages.append, origins.append
        item: Any = None
        try:
            for item in records:
                report.read += 1
                if progress is not None and not report.read & 1023:
                    next_progress = self._progress(next_progress, item)
                message = build(item)
                if message is None:
                    continue
                add(message)
                add_origin((item, report.read))
                if len(messages) >= room:
                    chunk, chunk_origins, messages, origins = messages, origins, [], []
                    add, add_origin = messages.append, origins.append
                    send(chunk, chunk_origins)
                    problem, due = self._after_chunk(producer, timeout_ms, item, due)
                    if problem:
                        return problem, item
                    room = min(size, due - report.produced)
        except BaseException:
            if messages:  # the records failed (or the task was stopped): what was built is still sent
                send(messages, origins)
            raise
        if messages:
            send(messages, origins)
            return self._after_chunk(producer, timeout_ms, item, float("inf"))[0], item
        return None, item

    def _after_chunk(self, producer: Any, timeout_ms: int, last: Any, due: float) -> tuple[str | None, float]:
        """Serve delivery reports, checkpoint when due, honour the rate limit; returns (problem, next due)."""
        spec = self.spec
        if producer is not None:
            producer.poll(0)
            if self.delivery.errors or self.delivery.fatal:
                return self.delivery.first_problem, due
        if self.report.produced >= due:
            due = self.report.produced + spec.checkpoint_every
            problem = self._checkpoint(producer, timeout_ms, last)
            if problem:
                return problem, due
        if spec.rate_limit:
            _throttle(self.report.produced, spec.rate_limit, self._t0, producer.poll if producer else None)
        return None, due

    def _sender(self, producer: Any) -> Callable[[list[Message], list[tuple[Any, int]]], None]:
        """How chunks reach Kafka: ``produce_batch`` unless a record timestamp is wanted, else ``produce()``."""
        if producer is None:
            return self._count_dry
        if self.spec.kafka_timestamp == "producer" and callable(getattr(producer, "produce_batch", None)):
            self.report.send_mode = "produce_batch"
            return self._send_batch
        self.report.send_mode = "produce"
        return self._send_each

    def _count(self, messages: list[Message]) -> None:
        """Count ``messages`` (all handed over) as produced, per partition path."""
        self.report.produced += len(messages)
        if self.builder.template is not None:
            self._paths.update(m[3] for m in messages)

    def _count_dry(self, messages: list[Message], origins: list[tuple[Any, int]]) -> None:
        self._count(messages)

    def _send_each(self, messages: list[Message], origins: list[tuple[Any, int]]) -> None:
        """``produce()`` per message (with ``timestamp=`` the event time when asked); refusals handled."""
        produce, topic, report, paths = self._producer.produce, self.spec.topic, self.report, self._paths
        event_ts = self.spec.kafka_timestamp == "event"
        for j, message in enumerate(messages):
            envelope, rkey, ts, path = message
            try:
                produce(topic, envelope, rkey, timestamp=ts if event_ts else 0)  # 0: the produce time
            except Exception as exc:  # BufferError (queue full) or a rejected message
                if not self._produce_again(exc, origins[j], message):
                    continue
            report.produced += 1
            if path is not None:
                paths[path] += 1

    def _send_batch(self, messages: list[Message], origins: list[tuple[Any, int]]) -> None:
        """One ``produce_batch`` (no record timestamp: the produce time); full-queue entries sent again.

        confluent-kafka marks each entry librdkafka did not enqueue with ``_error`` and returns the number
        enqueued (no delivery report will come for the others). A full queue (``_QUEUE_FULL``, that entry and
        every later one) is waited out and those entries are sent again, in order; any other refusal (e.g.
        ``MSG_SIZE_TOO_LARGE``) goes to :meth:`MessageBuilder.rejected` like a refused ``produce()``.
        """
        producer, topic = self._producer, self.spec.topic
        entries = [{"value": m[0], "key": m[1]} for m in messages]
        todo, clean = entries, True
        while todo:
            try:
                queued = producer.produce_batch(topic, todo)
            except BufferError:  # documented by confluent-kafka; 2.16 reports a full queue per entry instead
                producer.poll(0.05)
                continue
            if queued == len(todo):
                break
            clean = False
            todo = [e for e in todo if _error_name(e.get("_error")) == "_QUEUE_FULL"]
            for entry in todo:
                del entry["_error"]
            if todo:
                producer.poll(0.05)
        if clean:
            self._count(messages)
            return
        self._count([m for m, e in zip(messages, entries, strict=True) if "_error" not in e])
        for j, entry in enumerate(entries):
            if "_error" in entry:
                item, index = origins[j]
                self.builder.rejected(item, entry["value"], entry["_error"], index)

    def _produce_again(self, exc: Exception, origin: tuple[Any, int], message: Message) -> bool:
        """Retry a message the producer refused: wait while the queue is full; dead-letter or raise otherwise.

        :returns: True once produced, False when dead-lettered.
        """
        envelope, rkey, ts, _ = message
        producer = self._producer
        stamp = ts if self.spec.kafka_timestamp == "event" else 0
        while isinstance(exc, BufferError):
            producer.poll(0.05)
            try:
                producer.produce(self.spec.topic, envelope, rkey, timestamp=stamp)
                return True
            except Exception as again:
                exc = again
        self.builder.rejected(origin[0], envelope, exc, origin[1])
        return False

    def _checkpoint(self, producer: Any, timeout_ms: int, last_record: Any) -> str | None:
        """Flush; once everything so far is acknowledged, call the checkpoint; else return why not."""
        delivery = self.delivery
        if producer is not None:
            left = producer.flush(timeout_ms / 1000 + 10)
            if left or delivery.errors or delivery.fatal:
                return delivery.first_problem or "flush timed out"
        fill_report(self.report, delivery, self._paths, self.spec.dry_run, self._t0)
        self.spec.checkpoint(  # type: ignore[misc]  # only called with a checkpoint
            PublishProgress(self.report, last_record, time.monotonic() - self._t0)
        )
        return None

    def _progress(self, next_progress: float, last_record: Any) -> float:
        """Call the progress callback when its interval has passed; return the next due time."""
        now = time.monotonic()
        if now < next_progress:
            return next_progress
        fill_report(self.report, self.delivery, self._paths, self.spec.dry_run, self._t0)
        self.spec.progress(PublishProgress(self.report, last_record, now - self._t0))  # type: ignore[misc]
        return now + self.spec.progress_interval_s

    def _finish(self, producer: Any, timeout_ms: int, aborted: str | None) -> None:
        """Final flush (purging what cannot be delivered), dead-letter flush and report counts."""
        report = self.report
        if producer is not None:
            bound = timeout_ms / 1000 + 10
            wait = self.spec.flush_timeout_s if self.spec.flush_timeout_s is not None else bound
            if aborted:
                wait = min(wait, bound)
            left = producer.flush(wait)
            if left:
                purge(producer)
                report.first_errors.append(f"{left} message(s) still unacknowledged after {wait:.0f} s")
        if self.builder.dead is not None:
            self.builder.dead.flush()
        report.time_set_to_now = self.builder.resolver.counts["now"]
        fill_report(report, self.delivery, self._paths, self.spec.dry_run, self._t0)
