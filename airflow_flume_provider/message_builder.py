"""Turn one record into one Kafka message: unpack, event time, window, key, event id, path, Flume envelope.

:meth:`MessageBuilder.bind` returns the per-record function of the publish loop. It is hot (hundreds of
thousands of records per second), so everything it needs is bound to locals once, the common cases run
inline (``resolve_fast``, ``for_timestamp_ms``, ``EnvelopeEncoder.encode``) and the rare ones (invalid
time, unsafe path, non-source records) go through helper methods. Core module: no Airflow imports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.envelope import EnvelopeEncoder, decode_event
from airflow_flume_provider.event_time import (
    MIN_EVENT_MS,
    EventTimeResolver,
    InvalidEventTime,
    check_on_invalid,
)
from airflow_flume_provider.publish_report import InvalidRecordError, PublishReport, PublishSpec
from airflow_flume_provider.sources import SourceRecord

__all__ = ["Message", "MessageBuilder", "min_event_ms", "position_of"]

#: (Flume envelope, Kafka key, event time in epoch ms, HDFS partition path or None)
Message = tuple[bytes, Any, int, "str | None"]


def position_of(item: Any, index: int) -> str:
    """Where a record came from: ``file:line`` etc. for source records, else ``record <index>``."""
    return item.position if isinstance(item, SourceRecord) else f"record {index}"


def field_getter(spec: str | Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
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


def to_str(value: Any) -> str:
    """Header/key text for a field value (ints and strings as is, others as compact JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _parse_json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _unpack_other(item: Any, needs_value: bool) -> tuple[Any, bytes, Any, Any]:
    """(record, body, parsed value, key) of a dict, ``bytes``/``str`` body or ``(key, record)`` tuple."""
    rkey: Any = None
    if isinstance(item, tuple) and len(item) == 2:
        rkey, item = item
    if isinstance(item, bytes):
        return item, item, _parse_json_or_none(item) if needs_value else None, rkey
    if isinstance(item, str):
        body = item.encode("utf-8")
        return item, body, _parse_json_or_none(body) if needs_value else None, rkey
    body = json.dumps(item, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
    return item, body, item, rkey


def _static_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header {name!r}: names and values must be str (got {type(value).__name__})")
        if name == "timestamp":
            raise ValueError("header 'timestamp' is reserved: it is always the event time in epoch ms")
        out[name] = value
    return out


def _path_template(spec: Any, static: Mapping[str, str]) -> Any:
    """The core ``PathTemplate`` (from a str or as is), checked against the static headers."""
    if spec is None:
        return None
    template = spec
    if isinstance(spec, str):
        from airflow_flume_provider.bucketpath import PathTemplate
        from airflow_flume_provider.hdfs_uri import split_hdfs_uri

        template = PathTemplate(split_hdfs_uri(spec)[1])
    # Refuse, before sending anything, a static header that would escape its directory in the path.
    present = {name: static[name] for name in template.header_names if name in static}
    if present:
        template.render({**present, "timestamp": "0"}, strict=True)
    return template


def min_event_ms(template: Any) -> int:
    """Lowest event time the sink accepts: 1 ms when it rounds (``hdfs.round = true``), else 1970-01-01.

    Flume 1.11's ``TimestampRoundDownUtil`` throws on a timestamp <= 0, so for a rounding sink such an event is
    a poison pill (the HDFS sink retries it forever). Excluding 0 from the valid range makes it follow
    ``on_invalid`` (an error naming the record, or the dead letter with the reason) before anything is sent.
    """
    return 1 if template is not None and getattr(template, "need_rounding", False) else MIN_EVENT_MS


class MessageBuilder:
    """Validates a :class:`PublishSpec`'s record options and builds the per-record message function.

    Skipped records (invalid time with ``on_invalid="skip"``, unsafe path, rejected by the producer) are
    written to the dead-letter file and counted in ``report``; nothing is dropped silently.
    """

    def __init__(self, spec: PublishSpec, report: PublishReport) -> None:
        self.report = report
        self.static = _static_headers(spec.headers)
        self.template = _path_template(spec.path_template, self.static)
        self.per_record_path_headers = self.template is not None and bool(
            set(self.template.header_names) - set(self.static)
        )
        self.encoder = EnvelopeEncoder(self.static)
        self.on_invalid = check_on_invalid(spec.on_invalid)
        dead = spec.dead_letter
        self.dead: DeadLetterWriter | None = (
            DeadLetterWriter(dead) if isinstance(dead, (str, Path)) else dead
        )
        if self.on_invalid == "skip" and self.dead is None:
            raise ValueError("on_invalid='skip' needs a dead_letter path: skipped records must go somewhere")
        self.time_source = None if spec.event_time in (None, "kafka") else spec.event_time
        time_source = self.time_source
        self.resolver = EventTimeResolver(
            time_source if callable(time_source) or time_source is None else str(time_source),
            unit=spec.event_time_unit,
            on_invalid=self.on_invalid,
            assume_tz=spec.assume_tz,
            min_ms=min_event_ms(self.template),
        )
        self.spec = spec

    def path_of(self, envelope: bytes, ts_ms: int | None) -> str | None:
        """HDFS partition path of an already built message (for failed-delivery counts)."""
        if self.template is None:
            return None
        if self.per_record_path_headers:
            return self.template.render(decode_event(envelope).headers)
        return self.template.for_timestamp_ms(ts_ms)

    def bind(self) -> Callable[[Any], Message | None]:
        """The per-record function: a :data:`Message`, or None when the record was skipped (and counted)."""
        spec, report, template = self.spec, self.report, self.template
        resolve_fast, slow_time, render_path = self.resolver.resolve_fast, self._slow_time, self._render
        needs_value = self.time_source is not None or spec.key is not None or spec.event_id is not None
        time_from_value = self.time_source is not None
        get_key, get_id = field_getter(spec.key), field_getter(spec.event_id)
        event_id = spec.event_id
        id_field = event_id if isinstance(event_id, str) and "." not in event_id else None
        for_ts = template.for_timestamp_ms if template is not None and not self.per_record_path_headers else None
        encode_plain = self.encoder.encode
        encode_with_id = self.encoder.encoder_with(spec.event_id_header) if get_id is not None else None
        start_ms, end_ms = spec.window_ms if spec.window_ms else (None, None)
        lo_ms = start_ms if start_ms is not None else float("-inf")
        hi_ms = end_ms if end_ms is not None else float("inf")
        source_record, parse, unpack_other = SourceRecord, _parse_json_or_none, _unpack_other

        def build(item: Any) -> Message | None:
            if type(item) is source_record or isinstance(item, source_record):
                body, value, kafka_ts, rkey = item.body, item.value, item.kafka_timestamp_ms, None
                if value is None and needs_value:
                    value = parse(body)
            else:
                item, body, value, rkey = unpack_other(item, needs_value)
                kafka_ts = None
            ts = resolve_fast(value if time_from_value else item, kafka_ts)
            if ts is None:
                ts = slow_time(item, value if time_from_value else item, body, kafka_ts)
                if ts is None:
                    return None
            if not lo_ms <= ts < hi_ms:
                report.out_of_window += 1
                return None
            ident: Any = None
            if get_id is not None:
                ident = value.get(id_field) if id_field is not None and type(value) is dict else get_id(value)
                if ident is not None and type(ident) is not str:
                    ident = to_str(ident)
            if get_key is not None:
                kv = get_key(value)
                rkey = None if kv is None else to_str(kv)
            elif rkey is not None and not isinstance(rkey, (str, bytes)):
                rkey = to_str(rkey)
            path = None
            if for_ts is not None:
                path = for_ts(ts)
            elif template is not None:
                path = render_path(item, body, ts, ident)
                if path is None:
                    return None
            if ident is not None:
                return encode_with_id(body, str(ts), ident), rkey, ts, path  # type: ignore[misc]
            return encode_plain(body, str(ts)), rkey, ts, path

        return build

    def _slow_time(self, item: Any, source: Any, body: bytes, kafka_ts: int | None) -> int | None:
        """Event time through the policies (fail / skip to the dead letter / now); None when skipped."""
        report = self.report
        try:
            ts = self.resolver.resolve(
                source, position=position_of(item, report.read), kafka_timestamp_ms=kafka_ts
            )
        except InvalidEventTime as exc:
            raise InvalidRecordError(str(exc)) from None
        if ts is None:
            report.invalid_time_skipped += 1
            self.dead_letter(item, body, str(self.resolver.last_error or "invalid event time"))
            return None
        if type(ts) is not int:  # never send a timestamp header that is not an integer string
            raise InvalidRecordError(f"{position_of(item, report.read)}: event time {ts!r} is not an int")
        return ts

    def _render(self, item: Any, body: bytes, ts: int, ident: Any) -> str | None:
        """Path from the headers of this record; an unsafe header value fails or is dead-lettered."""
        extra = {self.spec.event_id_header: ident} if ident is not None else {}
        try:
            return self.template.render({**self.static, **extra, "timestamp": str(ts)}, strict=True)
        except ValueError as exc:
            if self.on_invalid == "fail":
                raise InvalidRecordError(f"{position_of(item, self.report.read)}: {exc}") from None
            self.dead_letter(item, body, f"unsafe path: {exc}")
            return None

    def rejected(self, item: Any, envelope: bytes, exc: Any, index: int | None = None) -> None:
        """The producer refused a message (e.g. too large): dead-letter it with ``skip``, else raise.

        :param index: the record's number in the input (default: the last one read), for plain records.
        """
        if self.on_invalid == "skip" and self.dead is not None:
            self.dead_letter(item, decode_event(envelope).body, f"rejected by producer: {exc}", index)
            return
        where = position_of(item, self.report.read if index is None else index)
        raise InvalidRecordError(f"{where}: rejected by the Kafka producer: {exc}") from None

    def dead_letter(self, item: Any, body: bytes, reason: str, index: int | None = None) -> None:
        """Write a skipped record to the dead-letter file and count it (``index`` as in :meth:`rejected`)."""
        where = position_of(item, self.report.read if index is None else index)
        if self.dead is None:  # only reachable with on_invalid="now": nothing is ever skipped silently
            raise InvalidRecordError(f"{where}: {reason} (no dead-letter file)")
        self.dead.write(where, reason, body)
        self.report.dead_lettered += 1
