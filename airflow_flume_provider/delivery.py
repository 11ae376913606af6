"""Delivery accounting of a publish: which messages Kafka acknowledged, which failed, and why.

Core module: no Airflow imports.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from airflow_flume_provider.envelope import decode_event
from airflow_flume_provider.publish_report import PublishReport

__all__ = ["MAX_ERRORS", "DeliveryTracker", "fill_report", "purge"]

log = logging.getLogger(__name__)

#: Error names of messages that may or may not have been written by the broker.
IN_DOUBT_CODES = frozenset({"_MSG_TIMED_OUT", "_TIMED_OUT", "REQUEST_TIMED_OUT"})
#: Errors kept verbatim in a report.
MAX_ERRORS = 10


class DeliveryTracker:
    """Delivery-report accounting shared by the producer callbacks and the publish loop.

    The producer runs with ``delivery.report.only.error``: librdkafka reports only failed messages, so no
    Python callback runs per acknowledged message. Acknowledged is then exact as
    ``produced - failed - outstanding``, where ``outstanding`` is ``len(producer)``: messages queued, in
    flight, or whose (failure) report is not served yet. A producer without ``len()`` is counted from its
    success reports instead (``acked``).

    :param path_of: HDFS partition path of a failed message (envelope bytes, event time), or None.
    :param id_header: envelope header naming the event in error messages.
    """

    __slots__ = (
        "acked",
        "errors",
        "failed",
        "failed_paths",
        "fatal",
        "id_header",
        "in_doubt",
        "outstanding",
        "path_of",
    )

    def __init__(
        self, path_of: Callable[[bytes, int | None], str | None], id_header: str | None = None
    ) -> None:
        self.id_header = id_header
        self.acked = 0
        self.outstanding: Callable[[], int] | None = None
        self.failed = 0
        self.in_doubt = 0
        self.errors: list[str] = []
        self.failed_paths: Counter[str] = Counter()
        self.fatal: str | None = None
        self.path_of = path_of

    def attach(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` with this tracker's delivery and error callbacks (only failures reported)."""
        return {
            **config,
            "on_delivery": self.on_delivery,
            "delivery.report.only.error": True,  # acks are counted, not called back
            "error_cb": self.on_error,
        }

    def acknowledged(self, produced: int) -> int:
        """Messages acknowledged so far, of ``produced`` handed to the producer."""
        if self.outstanding is None:
            return self.acked
        return produced - self.failed - self.outstanding()

    @property
    def first_problem(self) -> str | None:
        """The fatal client error or the first delivery error, if any (publishing stops at it)."""
        return self.fatal or (self.errors[0] if self.errors else None)

    def on_delivery(self, err: Any, msg: Any) -> None:
        """librdkafka delivery report (called from poll/flush)."""
        if err is None:
            self.acked += 1
            return
        self.failed += 1
        name = err.name() if hasattr(err, "name") else str(err)
        if name in IN_DOUBT_CODES:
            self.in_doubt += 1
        ts, headers = self._failed_message_details(msg)
        if len(self.errors) < MAX_ERRORS:
            where = ""
            with contextlib.suppress(Exception):  # a report without message details is still an error
                ident = headers.get(self.id_header) if self.id_header else None
                where = f" (partition {msg.partition()}, event time {ts}" + (
                    f", {self.id_header} {ident!r})" if ident is not None else ")"
                )
            self.errors.append(f"{name}: {err.str() if hasattr(err, 'str') else err}{where}")
        try:
            path = self.path_of(msg.value(), ts)
        except Exception:  # path only feeds the per-partition count
            path = None
        if path is not None:
            self.failed_paths[path] += 1

    @staticmethod
    def _failed_message_details(msg: Any) -> tuple[int | None, Mapping[str, str]]:
        """Event time and envelope headers of a failed message, from its envelope.

        Not from the Kafka record timestamp: by default that is the produce time, not the event time.
        """
        headers: Mapping[str, str] = {}
        ts: int | None = None
        with contextlib.suppress(Exception):  # a report without a decodable envelope is still counted
            headers = decode_event(msg.value()).headers
            ts = int(headers["timestamp"])
        return ts, headers

    def on_error(self, err: Any) -> None:
        """librdkafka client-level error callback: fatal errors abort the publish."""
        text = f"{err.name()}: {err.str()}" if hasattr(err, "name") else str(err)
        if getattr(err, "fatal", lambda: False)():
            self.fatal = text
        log.warning("Kafka client error: %s", text)


def purge(producer: Any) -> None:
    """Drop what is still queued so its failure is reported (counted as failed) instead of hanging."""
    try:
        producer.purge()
        producer.flush(5)
    except Exception:  # best effort; the counts already show the gap
        log.warning("Could not purge the Kafka producer queue", exc_info=True)


def fill_report(
    report: PublishReport, delivery: DeliveryTracker, produced: Counter[str], dry_run: bool, t0: float
) -> None:
    """Copy the delivery accounting (and the per-partition counts of ``produced``) into the report."""
    if dry_run:
        report.acknowledged = 0
        report.partitions = {k: v for k, v in sorted(produced.items()) if v}
    else:
        report.acknowledged = delivery.acknowledged(report.produced)
        report.failed = delivery.failed
        report.in_doubt = delivery.in_doubt
        acked = produced - delivery.failed_paths
        report.partitions = {k: v for k, v in sorted(acked.items()) if v}
    errors = [e for e in delivery.errors if e not in report.first_errors]
    report.first_errors = (report.first_errors + errors)[:MAX_ERRORS]
    if delivery.fatal and delivery.fatal not in report.first_errors:
        report.first_errors.append(delivery.fatal)
    report.seconds = round(time.monotonic() - t0, 3)
    done = report.produced if not dry_run else report.read
    report.events_per_s = round(done / report.seconds, 1) if report.seconds > 0 else 0.0
