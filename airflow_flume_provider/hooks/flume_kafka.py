"""FlumeKafkaHook: publish Flume ``AvroFlumeEvent`` envelopes to Kafka, filed by their own event time.

Every event is wrapped in the envelope Flume 1.11's KafkaSource (``useFlumeEventFormat=true``) decodes, with
the ``timestamp`` header set to the event's own time in epoch milliseconds; the Kafka record timestamp is set
to the same instant. Delivery is never assumed: the producer runs with ``acks=all`` and idempotence, every
message is accounted for (acknowledged, failed or dead-lettered), and :class:`FlumePublishError` is raised if
anything was not acknowledged.

Connection: the ``kafka`` connection type users already have for apache-airflow-providers-apache-kafka (the
librdkafka configuration as the extra JSON, ``bootstrap.servers`` required).

**Why this provider does not declare the ``kafka`` connection type** (checked in Airflow 3.3.2,
``ProvidersManager._discover_hooks_from_connection_types``): providers are visited in sorted package-name
order and the *first* provider declaring a connection type keeps it; a later one only produces the warning
"The connection_type 'kafka' has been already registered by provider ...". ``airflow-flume-provider`` sorts
before ``apache-airflow-providers-apache-kafka``, so declaring ``kafka`` here would silently take the
connection form and "Test connection" away from the Kafka provider for every user who has both installed.
The hook is therefore listed under ``hooks`` only and reuses the Kafka provider's connection type as is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from airflow_flume_provider.sources import DeadLetterWriter, SourceRecord

log = logging.getLogger(__name__)

#: Producer settings used unless the connection's extra (or ``producer_config``) overrides them.
#: Batching values were measured against the local Kafka 3.9 broker (see the README's benchmark table).
DEFAULT_PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.size": 1_000_000,
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "message.timeout.ms": 120_000,
}

#: Keys whose values never appear in a log line, repr or exception.
_SECRET_KEY = re.compile(r"password|secret|passwd|token|credential|jaas|\.pem$|^ssl\.key|private", re.I)
_REDACTED = "***"
_TIMEOUT_KEYS = ("message.timeout.ms", "delivery.timeout.ms")
_IN_DOUBT_CODES = {"_MSG_TIMED_OUT", "_TIMED_OUT", "REQUEST_TIMED_OUT"}
_MAX_ERRORS = 10


def redact_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a librdkafka config safe to log: secret values and callables are replaced."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if _SECRET_KEY.search(str(key)):
            out[key] = _REDACTED
        elif callable(value):
            out[key] = f"<callable {getattr(value, '__name__', type(value).__name__)}>"
        else:
            out[key] = value
    return out


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
class PublishReport:
    """What happened to every record handed to :meth:`FlumeKafkaHook.publish` (JSON-serialisable)."""

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
    started_at: float = 0.0
    seconds: float = 0.0
    events_per_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy."""
        return asdict(self)


@dataclass
class PublishProgress:
    """Snapshot passed to the ``checkpoint`` and ``progress`` callbacks of :meth:`FlumeKafkaHook.publish`.

    At a checkpoint, every record handed over before it (up to and including ``last_record``) is either
    acknowledged, dead-lettered or filtered: its position is safe to resume after.
    """

    report: PublishReport
    last_record: Any
    elapsed_s: float


def _field_getter(spec: str | Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """Turn a dotted field path ("a.b") or a callable into a getter returning None when absent."""
    if spec is None or callable(spec):
        return spec
    parts = spec.split(".")
    if len(parts) == 1:
        name = parts[0]

        def get_one(value: Any) -> Any:
            return value.get(name) if isinstance(value, dict) else None

        return get_one

    def get_path(value: Any) -> Any:
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get_path


def _to_str(value: Any) -> str:
    """Header/key text for a field value (ints and strings as is, others as compact JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _json_body(value: Any) -> bytes:
    """Compact JSON body for a record handed over as a Python object."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


class _Delivery:
    """Delivery-report accounting shared by the producer callback and ``publish``.

    The producer runs with ``delivery.report.only.error``: librdkafka reports only failed messages, so no
    Python callback runs per acknowledged message. Acknowledged is then exact as
    ``produced - failed - outstanding``, where ``outstanding`` is ``len(producer)``: messages queued, in
    flight, or whose (failure) report is not served yet. A producer without ``len()`` is counted from its
    success reports instead (``acked``).
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

    def __init__(self, path_of: Callable[[bytes, int], str | None], id_header: str | None = None) -> None:
        self.id_header = id_header
        self.acked = 0
        self.outstanding: Callable[[], int] | None = None
        self.failed = 0
        self.in_doubt = 0
        self.errors: list[str] = []
        self.failed_paths: Counter[str] = Counter()
        self.fatal: str | None = None
        self.path_of = path_of

    def acknowledged(self, produced: int) -> int:
        """Messages acknowledged so far, of ``produced`` handed to the producer."""
        if self.outstanding is None:
            return self.acked
        return produced - self.failed - self.outstanding()

    def on_delivery(self, err: Any, msg: Any) -> None:
        """librdkafka delivery report (called from poll/flush)."""
        if err is None:
            self.acked += 1
            return
        self.failed += 1
        name = err.name() if hasattr(err, "name") else str(err)
        if name in _IN_DOUBT_CODES:
            self.in_doubt += 1
        # librdkafka reports timestamp -1 for a failed message: the event time comes from the envelope.
        ts: int | None = None
        headers: Mapping[str, str] = {}
        with contextlib.suppress(Exception):
            ts = msg.timestamp()[1]
        if ts is None or ts < 0 or len(self.errors) < _MAX_ERRORS:
            with contextlib.suppress(Exception):
                from airflow_flume_provider.envelope import decode_event

                headers = decode_event(msg.value()).headers
            with contextlib.suppress(Exception):
                if ts is None or ts < 0:
                    ts = int(headers["timestamp"])
        if len(self.errors) < _MAX_ERRORS:
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

    def on_error(self, err: Any) -> None:
        """librdkafka client-level error callback: fatal errors abort the publish."""
        text = f"{err.name()}: {err.str()}" if hasattr(err, "name") else str(err)
        if getattr(err, "fatal", lambda: False)():
            self.fatal = text
        log.warning("Kafka client error: %s", text)


class FlumeKafkaHook(BaseHook):
    """Publish records to Kafka as Flume ``AvroFlumeEvent`` envelopes carrying their event time.

    :param kafka_conn_id: Airflow connection of type ``kafka``; its extra JSON is the librdkafka config.
    :param producer_config: overrides applied on top of the defaults and the connection's extra.
    :param delivery_timeout_s: sets ``message.timeout.ms``: a message not acknowledged within it fails.
    :param producer_factory: builds the producer from the final config (tests; default confluent_kafka).
    """

    conn_name_attr = "kafka_conn_id"
    default_conn_name = "kafka_default"
    conn_type = "kafka"
    hook_name = "Flume over Kafka"

    def __init__(
        self,
        kafka_conn_id: str = default_conn_name,
        *,
        producer_config: Mapping[str, Any] | None = None,
        delivery_timeout_s: float | None = None,
        producer_factory: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        super().__init__()
        self.kafka_conn_id = kafka_conn_id
        self.producer_config = dict(producer_config or {})
        self.delivery_timeout_s = delivery_timeout_s
        self._producer_factory = producer_factory

    def __repr__(self) -> str:
        return f"FlumeKafkaHook(kafka_conn_id={self.kafka_conn_id!r})"

    # -- configuration -----------------------------------------------------------------------------------
    def get_producer_config(self) -> dict[str, Any]:
        """Defaults, then the connection's extra, then ``producer_config``; validated, never logged raw."""
        conn = self.get_connection(self.kafka_conn_id)
        try:
            extra = conn.extra_dejson
        except Exception as exc:  # extra is user input; never echo it
            raise ValueError(f"Connection {self.kafka_conn_id!r}: extra is not valid JSON") from exc
        if not isinstance(extra, dict):
            raise ValueError(f"Connection {self.kafka_conn_id!r}: extra must be a JSON object")
        config: dict[str, Any] = dict(DEFAULT_PRODUCER_CONFIG)
        user = {**extra, **self.producer_config}
        if any(key in user for key in _TIMEOUT_KEYS):
            config.pop("message.timeout.ms", None)
        config.update(user)
        if self.delivery_timeout_s is not None:
            for key in _TIMEOUT_KEYS:
                config.pop(key, None)
            config["message.timeout.ms"] = int(self.delivery_timeout_s * 1000)
        if not config.get("bootstrap.servers"):
            raise ValueError(
                f"Kafka connection {self.kafka_conn_id!r} has no 'bootstrap.servers' in its extra JSON "
                '(expected e.g. {"bootstrap.servers": "broker:9092"})'
            )
        if str(config.get("acks", "all")) not in ("all", "-1") or str(
            config.get("enable.idempotence", True)
        ).lower() in ("false", "0"):
            log.warning(
                "Connection %s weakens delivery guarantees (acks=%s, enable.idempotence=%s)",
                self.kafka_conn_id,
                config.get("acks"),
                config.get("enable.idempotence"),
            )
        return config

    def delivery_timeout_ms(self, config: Mapping[str, Any]) -> int:
        """Effective per-message delivery timeout of ``config`` in ms."""
        for key in _TIMEOUT_KEYS:
            if key in config:
                return int(config[key])
        return 300_000

    def get_conn(self) -> Any:
        """A new producer built from :meth:`get_producer_config`."""
        return self._make_producer(self.get_producer_config())

    def _make_producer(self, config: dict[str, Any]) -> Any:
        if self._producer_factory is not None:
            return self._producer_factory(config)
        from confluent_kafka import Producer

        self.log.info("Kafka producer config: %s", redact_config(config))
        try:
            return Producer(config)
        except Exception as exc:
            # librdkafka config errors name the key but may quote the value: keep only the key.
            raise ValueError(
                f"Kafka connection {self.kafka_conn_id!r}: invalid producer config "
                f"({_scrub(str(exc), config)})"
            ) from None

    def test_connection(self) -> tuple[bool, str]:
        """Check that the broker answers a metadata request."""
        try:
            producer = self.get_conn()
            meta = producer.list_topics(timeout=10)
            return True, f"Connected; {len(meta.brokers)} broker(s), {len(meta.topics)} topic(s)"
        except Exception as exc:  # reported to the UI
            return False, _scrub(str(exc), {})

    # -- publishing ----------------------------------------------------------------------------------------
    def publish(
        self,
        records: Iterable[Any],
        *,
        topic: str,
        event_time: str | Callable[[Any], Any] | None,
        event_time_unit: str = "auto",
        on_invalid: str = "fail",
        assume_tz: str | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | Callable[[Any], Any] | None = None,
        event_id: str | Callable[[Any], Any] | None = None,
        event_id_header: str = "eventId",
        path_template: Any = None,
        window_ms: tuple[int | None, int | None] | None = None,
        dead_letter: DeadLetterWriter | str | Path | None = None,
        dry_run: bool = False,
        rate_limit: float | None = None,
        flush_timeout_s: float | None = None,
        checkpoint: Callable[[PublishProgress], None] | None = None,
        checkpoint_every: int = 100_000,
        progress: Callable[[PublishProgress], None] | None = None,
        progress_interval_s: float = 5.0,
        preflight: bool = True,
    ) -> PublishReport:
        """Wrap each record in a Flume envelope and produce it; return when every message is accounted for.

        :param records: dicts (body = compact JSON), ``bytes``/``str`` (body as is; parsed as JSON only when
            a field is needed), :class:`~airflow_flume_provider.sources.SourceRecord` (body kept byte for
            byte), or ``(key, record)`` tuples as yielded by the Kafka provider's producer functions.
        :param event_time: dotted field path, callable(record) -> value, or None/"kafka" for the Kafka
            record timestamp of source records (see core ``event_time.EventTimeResolver``).
        :param on_invalid: "fail" (raise naming the record), "skip" (dead-letter, counted) or "now".
        :param headers: static envelope headers (``timestamp`` is reserved).
        :param key: field/callable giving the Kafka record key, or None for no key.
        :param event_id: field/callable whose value is sent in header ``event_id_header`` (downstream dedup).
        :param path_template: Flume ``hdfs.path`` template (str or core ``PathTemplate``) for per-partition
            counts; a ``%{header}`` value that is unsafe in a path is refused before anything is sent.
        :param window_ms: ``[start, end)`` event-time window in epoch ms; events outside are counted, skipped.
        :param dead_letter: where skipped records go (a path or writer); required for ``on_invalid="skip"``.
        :param dry_run: validate and count per partition, produce nothing.
        :param rate_limit: maximum events per second.
        :param flush_timeout_s: final wait for acknowledgements (default: delivery timeout + 10 s).
        :param checkpoint: called after every ``checkpoint_every`` events once all of them are acknowledged.
        :param progress: called every ``progress_interval_s`` seconds.
        :param preflight: check that the topic exists (fails fast when the broker is unreachable).
        :raises FlumePublishError: anything produced was not acknowledged (report attached).
        :raises InvalidRecordError: a record was invalid with ``on_invalid="fail"``.
        """
        from airflow_flume_provider.envelope import EnvelopeEncoder
        from airflow_flume_provider.event_time import EventTimeResolver, InvalidEventTime

        report = PublishReport(topic=topic, dry_run=dry_run, started_at=time.time())
        static = _validate_static_headers(headers)
        template = _path_template(path_template)
        per_record_path_headers = False
        if template is not None:
            _check_template_headers(template, static)
            per_record_path_headers = bool(set(template.header_names) - set(static))
        encoder = EnvelopeEncoder(static)
        if on_invalid not in ("fail", "skip", "now"):
            raise ValueError(f"on_invalid must be one of fail, skip, now (got {on_invalid!r})")
        dead = _dead_letter_writer(dead_letter)
        if on_invalid == "skip" and dead is None:
            raise ValueError("on_invalid='skip' needs a dead_letter path: skipped records must go somewhere")
        time_source = None if event_time in (None, "kafka") else event_time
        resolver = EventTimeResolver(
            time_source if callable(time_source) or time_source is None else str(time_source),
            unit=event_time_unit,
            on_invalid=on_invalid,
            assume_tz=assume_tz,
        )
        needs_value = time_source is not None or key is not None or event_id is not None
        get_key = _field_getter(key)
        get_id = _field_getter(event_id)
        start_ms, end_ms = window_ms if window_ms else (None, None)

        def path_of(value: bytes, ts_ms: int) -> str | None:
            if template is None:
                return None
            if per_record_path_headers:
                from airflow_flume_provider.envelope import decode_event

                return template.render(decode_event(value).headers)
            return template.for_timestamp_ms(ts_ms)

        delivery = _Delivery(path_of, event_id_header if event_id is not None else None)
        producer = None
        config: dict[str, Any] = {}
        if not dry_run:
            config = self.get_producer_config()
            config["on_delivery"] = delivery.on_delivery
            config["delivery.report.only.error"] = True  # see _Delivery: acks are counted, not called back
            config["error_cb"] = delivery.on_error
            producer = self._make_producer(config)
            delivery.outstanding = getattr(producer, "__len__", None)
            if preflight:
                self._preflight(producer, topic, config, report)
                self._warn_if_retention_may_delete(topic, config, start_ms, report)
        timeout_ms = self.delivery_timeout_ms(config) if config else 0
        produced_paths: Counter[str] = Counter()
        produce = producer.produce if producer is not None else None
        poll = producer.poll if producer is not None else None
        for_ts = template.for_timestamp_ms if template is not None and not per_record_path_headers else None
        t0 = time.monotonic()
        next_progress = t0 + progress_interval_s
        next_checkpoint: float = checkpoint_every if checkpoint is not None else float("inf")
        since_poll = 0
        last_record: Any = None
        aborted: str | None = None
        skip_reason_of = resolver  # .last_error after a skip
        resolve_fast = resolver.resolve_fast  # common cases; None -> resolver.resolve (policies, errors)
        encode_plain = encoder.encode
        encode_with_id = encoder.encoder_with(event_id_header) if get_id is not None else None
        id_field = event_id if isinstance(event_id, str) and "." not in event_id else None
        is_source_record = SourceRecord
        time_from_value = time_source is not None
        lo_ms = start_ms if start_ms is not None else float("-inf")
        hi_ms = end_ms if end_ms is not None else float("inf")

        try:
            for item in records:
                report.read += 1
                last_record = item
                if progress is not None and not report.read & 1023:
                    now = time.monotonic()
                    if now >= next_progress:
                        next_progress = now + progress_interval_s
                        _fill(report, delivery, produced_paths, dry_run, t0)
                        progress(PublishProgress(report, last_record, now - t0))
                # --- unpack the record -----------------------------------------------------------------
                rkey: Any = None
                if type(item) is is_source_record or isinstance(item, SourceRecord):
                    body = item.body
                    value = item.value
                    kafka_ts = item.kafka_timestamp_ms
                    if value is None and needs_value:
                        value = _parse_json_or_none(body)
                else:
                    kafka_ts = None
                    if isinstance(item, tuple) and len(item) == 2:
                        rkey, item = item
                    if isinstance(item, bytes):
                        body = item
                        value = _parse_json_or_none(body) if needs_value else None
                    elif isinstance(item, str):
                        body = item.encode("utf-8")
                        value = _parse_json_or_none(body) if needs_value else None
                    else:
                        value = item
                        body = _json_body(item)
                # --- event time ------------------------------------------------------------------------
                ts = resolve_fast(value if time_from_value else item, kafka_ts)
                if ts is None:
                    try:
                        ts = resolver.resolve(
                            value if time_source is not None else item,
                            position=_position(item, report.read),
                            kafka_timestamp_ms=kafka_ts,
                        )
                    except InvalidEventTime as exc:
                        raise InvalidRecordError(str(exc)) from None
                    if ts is None:
                        report.invalid_time_skipped += 1
                        _dead(
                            dead, item, body, str(skip_reason_of.last_error or "invalid event time"), report
                        )
                        continue
                    if type(ts) is not int:  # never send a timestamp header that is not an integer string
                        raise InvalidRecordError(
                            f"{_position(item, report.read)}: event time {ts!r} is not an int"
                        )
                if not lo_ms <= ts < hi_ms:
                    report.out_of_window += 1
                    continue
                # --- headers, key, path ----------------------------------------------------------------
                ident: Any = None
                if get_id is not None:
                    ident = (
                        value.get(id_field) if id_field is not None and type(value) is dict else get_id(value)
                    )
                    if ident is not None and type(ident) is not str:
                        ident = _to_str(ident)
                if get_key is not None:
                    kv = get_key(value)
                    rkey = None if kv is None else _to_str(kv)
                elif rkey is not None and not isinstance(rkey, (str, bytes)):
                    rkey = _to_str(rkey)
                path = None
                if for_ts is not None:
                    path = for_ts(ts)
                elif template is not None:
                    extra = {event_id_header: ident} if ident is not None else {}
                    hdrs = {**static, **extra, "timestamp": str(ts)}
                    try:
                        path = template.render(hdrs, strict=True)
                    except ValueError as exc:
                        if on_invalid == "fail":
                            raise InvalidRecordError(f"{_position(item, report.read)}: {exc}") from None
                        _dead(dead, item, body, f"unsafe path: {exc}", report)
                        continue
                if ident is not None:
                    envelope = encode_with_id(body, str(ts), ident)  # type: ignore[misc]
                else:
                    envelope = encode_plain(body, str(ts))
                # --- produce -----------------------------------------------------------------------------
                if produce is not None:
                    while True:
                        try:
                            produce(topic, envelope, rkey, timestamp=ts)
                            break
                        except BufferError:
                            poll(0.05)
                        except Exception as exc:  # KafkaException: e.g. message too large
                            if on_invalid == "skip" and dead is not None:
                                _dead(dead, item, body, f"rejected by producer: {exc}", report)
                                envelope = None
                                break
                            raise InvalidRecordError(
                                f"{_position(item, report.read)}: rejected by the Kafka producer: {exc}"
                            ) from None
                    if envelope is None:
                        continue
                    report.produced += 1
                    if path is not None:
                        produced_paths[path] += 1
                    since_poll += 1
                    if since_poll >= 1000:
                        since_poll = 0
                        poll(0)
                        if delivery.errors or delivery.fatal:
                            aborted = delivery.fatal or delivery.errors[0]
                            break
                else:
                    report.produced += 1
                    if path is not None:
                        produced_paths[path] += 1
                # --- periodic work -----------------------------------------------------------------------
                if report.produced >= next_checkpoint:
                    next_checkpoint = report.produced + checkpoint_every
                    if producer is not None:
                        left = producer.flush(timeout_ms / 1000 + 10)
                        if left or delivery.errors or delivery.fatal:
                            aborted = delivery.fatal or (delivery.errors or ["flush timed out"])[0]
                            break
                    _fill(report, delivery, produced_paths, dry_run, t0)
                    checkpoint(PublishProgress(report, last_record, time.monotonic() - t0))  # type: ignore[misc]
                if rate_limit and not report.produced & 63:
                    _throttle(report.produced, rate_limit, t0, poll)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                exc.publish_report = report  # type: ignore[attr-defined]  # filled in by the finally below
            raise
        finally:
            if producer is not None:
                wait = flush_timeout_s if flush_timeout_s is not None else timeout_ms / 1000 + 10
                if aborted:
                    wait = min(wait, timeout_ms / 1000 + 10)
                left = producer.flush(wait)
                if left:
                    _purge(producer)
                    report.first_errors.append(f"{left} message(s) still unacknowledged after {wait:.0f} s")
            if dead is not None:
                dead.flush()
            report.time_set_to_now = resolver.counts["now"]
            _fill(report, delivery, produced_paths, dry_run, t0)
        if not dry_run and (report.acknowledged != report.produced or aborted or delivery.fatal):
            raise FlumePublishError(
                f"Kafka topic {topic!r}: {report.acknowledged} of {report.produced} message(s) acknowledged, "
                f"{report.failed} failed"
                + (" (publishing stopped at the first delivery error)" if aborted else "")
                + f"; first errors: {report.first_errors[:3]}",
                report,
            )
        if checkpoint is not None and report.read and not dry_run:
            checkpoint(PublishProgress(report, last_record, time.monotonic() - t0))
        self.log.info(
            "Published to %s: %d acknowledged, %d dead-lettered, %d out of window, %.0f events/s",
            topic,
            report.acknowledged,
            report.dead_lettered,
            report.out_of_window,
            report.events_per_s,
        )
        return report

    def _preflight(self, producer: Any, topic: str, config: Mapping[str, Any], report: PublishReport) -> None:
        """Fail fast (within the delivery timeout) when the broker is unreachable or the topic is missing."""
        wait = min(30.0, max(1.0, self.delivery_timeout_ms(config) / 1000))
        try:
            meta = producer.list_topics(topic, timeout=wait)
        except Exception as exc:  # KafkaException carries the reason
            report.first_errors.append(f"metadata request failed: {exc}")
            raise FlumePublishError(
                f"Kafka unreachable at {config.get('bootstrap.servers')!r} (connection "
                f"{self.kafka_conn_id!r}) within {wait:.0f} s: {exc}; nothing was sent",
                report,
            ) from None
        info = meta.topics.get(topic)
        if info is None or info.error is not None:
            reason = info.error if info is not None else "not in metadata"
            report.first_errors.append(f"topic {topic!r}: {reason}")
            raise FlumePublishError(
                f"Kafka topic {topic!r} is not available on {config.get('bootstrap.servers')!r} ({reason}); "
                "create it first (Flume's KafkaSource must read it); nothing was sent",
                report,
            )


    def _warn_if_retention_may_delete(
        self, topic: str, config: Mapping[str, Any], start_ms: int | None, report: PublishReport
    ) -> None:
        """Warn when the topic may delete these events before Flume reads them.

        The record timestamp is the event time. On a ``CreateTime`` topic, the broker's time-based retention
        deletes records older than ``retention.ms`` at its next check (every few minutes), so a replay of old
        days can vanish before a lagging or stopped Flume consumes it, with no error anywhere. Only checked
        when the window start is known and the topic config can be read (DescribeConfigs); never fails.
        """
        if start_ms is None:
            return
        try:
            from confluent_kafka.admin import AdminClient, ConfigResource

            admin_conf = {k: v for k, v in config.items() if k in _ADMIN_KEYS or k.startswith(("sasl.", "ssl."))}
            resource = ConfigResource("topic", topic)
            admin = AdminClient(admin_conf)  # keep a reference: a collected client cancels its futures
            entries = admin.describe_configs([resource])[resource].result(timeout=10)
            ts_type = entries["message.timestamp.type"].value
            retention_ms = int(entries["retention.ms"].value)
        except Exception as exc:  # optional check: no ACL, old broker, ...
            self.log.debug("Could not read the config of topic %s: %s", topic, _scrub(str(exc), config))
            return
        if ts_type != "CreateTime" or retention_ms < 0:
            return
        cutoff_ms = int(time.time() * 1000) - retention_ms
        if start_ms < cutoff_ms:
            message = (
                f"topic {topic!r} keeps records for retention.ms={retention_ms} by their CreateTime, and the record "
                f"timestamp is the event time: events before {_iso_ms(cutoff_ms)} may be deleted by the broker "
                "before Flume reads them. Set message.timestamp.type=LogAppendTime on the topic (Flume files by the "
                "envelope header) or raise retention.ms for the replay."
            )
            report.warnings.append(message)
            self.log.warning("%s", message)


_ADMIN_KEYS = ("bootstrap.servers", "security.protocol", "client.id", "socket.timeout.ms")


def _iso_ms(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


# -- helpers ---------------------------------------------------------------------------------------------------
def _scrub(text: str, config: Mapping[str, Any]) -> str:
    """Remove any secret value of ``config`` that might appear in ``text``."""
    for key, value in config.items():
        if _SECRET_KEY.search(str(key)) and isinstance(value, str) and value:
            text = text.replace(value, _REDACTED)
    return text


def _validate_static_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header {name!r}: names and values must be str (got {type(value).__name__})")
        if name == "timestamp":
            raise ValueError("header 'timestamp' is reserved: it is always the event time in epoch ms")
        out[name] = value
    return out


def _path_template(spec: Any) -> Any:
    if spec is None:
        return None
    if isinstance(spec, str):
        from airflow_flume_provider.bucketpath import PathTemplate
        from airflow_flume_provider.hdfs_uri import split_hdfs_uri

        return PathTemplate(split_hdfs_uri(spec)[1])
    return spec


def _check_template_headers(template: Any, static: Mapping[str, str]) -> None:
    """Refuse, before sending anything, a static header that would escape its directory in the path."""
    present = {name: static[name] for name in template.header_names if name in static}
    if present:
        template.render({**present, "timestamp": "0"}, strict=True)


def _dead_letter_writer(spec: DeadLetterWriter | str | Path | None) -> DeadLetterWriter | None:
    if spec is None or isinstance(spec, DeadLetterWriter):
        return spec
    return DeadLetterWriter(spec)


def _dead(dead: DeadLetterWriter | None, item: Any, body: bytes, reason: str, report: PublishReport) -> None:
    if dead is None:  # only reachable with on_invalid="now": nothing is ever skipped silently
        raise InvalidRecordError(f"{_position(item, report.read)}: {reason} (no dead-letter file)")
    dead.write(_position(item, report.read), reason, body)
    report.dead_lettered += 1


def _position(item: Any, index: int) -> str:
    return item.position if isinstance(item, SourceRecord) else f"record {index}"


def _parse_json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _throttle(done: int, rate: float, t0: float, poll: Callable[[float], Any] | None) -> None:
    """Wait until ``done`` events are within the ``rate`` budget (serving delivery reports meanwhile)."""
    ahead = done / rate - (time.monotonic() - t0)
    if ahead > 0:
        if poll is not None:
            poll(ahead)
        else:
            time.sleep(ahead)


def _purge(producer: Any) -> None:
    """Drop what is still queued so its failure is reported (counted as failed) instead of hanging."""
    try:
        producer.purge()
        producer.flush(5)
    except Exception:  # best effort; the counts already show the gap
        log.warning("Could not purge the Kafka producer queue", exc_info=True)


def _fill(
    report: PublishReport, delivery: _Delivery, produced: Counter[str], dry_run: bool, t0: float
) -> None:
    """Copy the delivery accounting into the report."""
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
    report.first_errors = (report.first_errors + errors)[:_MAX_ERRORS]
    if delivery.fatal and delivery.fatal not in report.first_errors:
        report.first_errors.append(delivery.fatal)
    report.seconds = round(time.monotonic() - t0, 3)
    done = report.produced if not dry_run else report.read
    report.events_per_s = round(done / report.seconds, 1) if report.seconds > 0 else 0.0
