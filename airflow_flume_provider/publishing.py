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
from airflow_flume_provider.message_builder import MessageBuilder
from airflow_flume_provider.publish_report import (
    FlumePublishError,
    PublishProgress,
    PublishReport,
    PublishSpec,
)

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

_POLL_EVERY = 1000  # produced messages between polls (delivery reports are served, errors stop the loop)


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
        self.spec = spec
        self.report = spec.report if spec.report is not None else PublishReport(topic=spec.topic)
        self.report.topic, self.report.dry_run = spec.topic, spec.dry_run
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
        """The hot loop; returns (why it stopped early or None, the last record handed over)."""
        spec, report, delivery, paths, t0 = self.spec, self.report, self.delivery, self._paths, self._t0
        build, topic, rate, progress = self.builder.bind(), spec.topic, spec.rate_limit, spec.progress
        produce = producer.produce if producer is not None else None
        poll = producer.poll if producer is not None else None
        next_checkpoint: float = spec.checkpoint_every if spec.checkpoint is not None else float("inf")
        next_progress = t0 + spec.progress_interval_s
        since_poll = 0
        item: Any = None
        for item in records:
            report.read += 1
            if progress is not None and not report.read & 1023:
                next_progress = self._progress(next_progress, item)
            message = build(item)
            if message is None:
                continue
            envelope, rkey, ts, path = message
            if produce is not None:
                try:
                    produce(topic, envelope, rkey, timestamp=ts)
                except Exception as exc:  # BufferError (queue full) or a rejected message
                    if not self._produce_again(exc, item, message):
                        continue
            report.produced += 1
            if path is not None:
                paths[path] += 1
            if produce is not None:
                since_poll += 1
                if since_poll >= _POLL_EVERY:
                    since_poll = 0
                    poll(0)
                    if delivery.errors or delivery.fatal:
                        return delivery.first_problem, item
            if report.produced >= next_checkpoint:
                next_checkpoint = report.produced + spec.checkpoint_every
                problem = self._checkpoint(producer, timeout_ms, item)
                if problem:
                    return problem, item
            if rate and not report.produced & 63:
                _throttle(report.produced, rate, t0, poll)
        return None, item

    def _produce_again(self, exc: Exception, item: Any, message: tuple[bytes, Any, int, Any]) -> bool:
        """Retry a message the producer refused: wait while the queue is full; dead-letter or raise otherwise.

        :returns: True once produced, False when dead-lettered.
        """
        envelope, rkey, ts, _ = message
        producer = self._producer
        while isinstance(exc, BufferError):
            producer.poll(0.05)
            try:
                producer.produce(self.spec.topic, envelope, rkey, timestamp=ts)
                return True
            except Exception as again:
                exc = again
        self.builder.rejected(item, envelope, exc)
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
