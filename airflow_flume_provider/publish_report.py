"""What a publish is asked to do (the spec) and what it did (the report, progress, and the errors carrying it).

Core module: no Airflow imports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "KAFKA_TIMESTAMPS",
    "FlumePublishError",
    "InvalidRecordError",
    "PublishProgress",
    "PublishReport",
    "PublishSpec",
    "check_kafka_timestamp",
]

#: What the Kafka record timestamp of a published message is: "producer" (not set: librdkafka stamps the
#: produce time; the default) or "event" (the event time, as the envelope's ``timestamp`` header).
KAFKA_TIMESTAMPS = ("producer", "event")


def check_kafka_timestamp(value: str, param: str = "kafka_timestamp") -> str:
    """``value`` if it is one of :data:`KAFKA_TIMESTAMPS`; else a ValueError naming ``param``."""
    if value not in KAFKA_TIMESTAMPS:
        raise ValueError(f"{param} must be one of {KAFKA_TIMESTAMPS} (got {value!r})")
    return value


@dataclass
class PublishReport:
    """What happened to every record handed to a publish (JSON-serialisable)."""

    topic: str
    dry_run: bool = False
    read: int = 0
    produced: int = 0
    acknowledged: int = 0
    failed: int = 0
    in_doubt: int = 0
    dead_lettered: int = 0
    invalid_time_skipped: int = 0
    time_set_to_now: int = 0
    out_of_window: int = 0
    partitions: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: log-end offset of each partition of the topic after the final flush, ``{topic: {partition: offset}}``
    #: (``consumed.offsets_to_json``): the targets of the ``consumed`` check. Empty for dry runs.
    kafka_offsets: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the Kafka record timestamps sent: "producer" (the produce time) or "event" (the event time)
    kafka_timestamp: str = "producer"
    #: how messages were handed to the producer: "produce_batch", "produce", or "" (dry run)
    send_mode: str = ""
    started_at: float = 0.0
    seconds: float = 0.0
    events_per_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy."""
        return asdict(self)


@dataclass
class PublishProgress:
    """Snapshot passed to the ``checkpoint`` and ``progress`` callbacks of a publish.

    At a checkpoint, every record handed over before it (up to and including ``last_record``) is either
    acknowledged, dead-lettered or filtered: its position is safe to resume after.
    """

    report: PublishReport
    last_record: Any
    elapsed_s: float


class FlumePublishError(RuntimeError):
    """Not every message was acknowledged by Kafka; ``report`` holds the counts and the first errors."""

    def __init__(self, message: str, report: PublishReport) -> None:
        super().__init__(message)
        self.report = report

    @property
    def counts(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict."""
        return self.report.to_dict()


class InvalidRecordError(ValueError):
    """A record could not be published (with ``on_invalid="fail"``); the message names its position."""


@dataclass
class PublishSpec:
    """The options of one publish (see ``FlumeKafkaHook.publish`` for their meaning).

    ``report``, when given, is the report the publish fills in: a caller holding it can read the counts
    even when the publish raises something other than :class:`FlumePublishError` (e.g. its source failed).
    """

    topic: str
    event_time: str | Callable[[Any], Any] | None
    event_time_unit: str = "auto"
    on_invalid: str = "fail"
    assume_tz: str | None = None
    headers: Mapping[str, str] | None = None
    key: str | Callable[[Any], Any] | None = None
    event_id: str | Callable[[Any], Any] | None = None
    event_id_header: str = "eventId"
    path_template: Any = None
    window_ms: tuple[int | None, int | None] | None = None
    dead_letter: Any = None  # DeadLetterWriter | str | Path | None
    dry_run: bool = False
    rate_limit: float | None = None
    flush_timeout_s: float | None = None
    checkpoint: Callable[[PublishProgress], None] | None = None
    checkpoint_every: int = 100_000
    progress: Callable[[PublishProgress], None] | None = None
    progress_interval_s: float = 5.0
    report: PublishReport | None = None
    kafka_timestamp: str = "producer"

    @property
    def start_ms(self) -> int | None:
        """Window start in epoch ms, if any."""
        return self.window_ms[0] if self.window_ms else None

