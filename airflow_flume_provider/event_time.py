"""Event time extraction: turn a record's time field into epoch milliseconds for Flume's ``timestamp`` header.

Flume's HDFS sink reads the ``timestamp`` header with ``Long.valueOf`` as epoch milliseconds and files the
event by it; this module produces that number from whatever the record holds, and refuses values that
would land in absurd partitions.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "MAX_EVENT_MS",
    "MIN_EVENT_MS",
    "ON_INVALID_POLICIES",
    "UNITS",
    "EventTimeResolver",
    "InvalidEventTime",
    "check_on_invalid",
    "timestamp_header",
    "to_epoch_ms",
]

log = logging.getLogger(__name__)

MIN_EVENT_MS = 0
"""Default lower bound (inclusive): 1970-01-01T00:00:00Z."""
MAX_EVENT_MS = 4102444800000
"""Default upper bound (exclusive): 2100-01-01T00:00:00Z."""
UNITS = ("auto", "s", "ms", "us", "ns")
ON_INVALID_POLICIES = ("fail", "skip", "now")


def check_on_invalid(value: str, param: str = "on_invalid") -> str:
    """Validate an invalid-event-time policy (``fail``, ``skip`` or ``now``); the error names ``param``."""
    if value not in ON_INVALID_POLICIES:
        raise ValueError(f"{param} must be one of {', '.join(ON_INVALID_POLICIES)} (got {value!r})")
    return value

_UTC = timezone(timedelta(0))
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_MS = timedelta(milliseconds=1)
_PER_MS = {"s": Decimal(1000), "ms": Decimal(1), "us": Decimal("0.001"), "ns": Decimal("0.000001")}
_NUMERIC_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_FRACTION_RE = re.compile(r"(T\d\d:\d\d:\d\d)[.,](\d+)", re.ASCII)
_OFFSET_RE = re.compile(r"([+-]\d\d):?(\d\d)(?::?(\d\d))?$", re.ASCII)
_MINUTE_RE = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d", re.ASCII)
_MINUTE_CACHE: dict[str, int] = {}
_MINUTE_CACHE_MAX = 1 << 16
_FAST_INT_LIMIT = 10**18  # beyond it the Decimal path (28 digits) decides
_INT_DIVISOR = {"ms": 1, "us": 1000, "ns": 1_000_000}
_SECOND_MS = {f"{i:02d}": i * 1000 for i in range(60)}  # "SS" -> ms; a lookup both validates and converts
_MILLI = {f"{i:03d}": i for i in range(1000)}  # "fff" -> ms


class InvalidEventTime(ValueError):
    """A value cannot be turned into a valid event time."""


def _auto_unit(magnitude: Decimal | int) -> str:
    if magnitude < 100_000_000_000:  # 1e11
        return "s"
    if magnitude < 100_000_000_000_000:  # 1e14
        return "ms"
    if magnitude < 100_000_000_000_000_000:  # 1e17
        return "us"
    return "ns"


def _number_to_ms(value: Decimal, unit: str) -> int:
    if unit == "auto":
        unit = _auto_unit(abs(value))
    return int((value * _PER_MS[unit]).to_integral_value(rounding="ROUND_FLOOR"))


def _as_tz(assume_tz: str | tzinfo | None) -> tzinfo | None:
    if assume_tz is None or isinstance(assume_tz, tzinfo):
        return assume_tz
    if assume_tz.upper() in ("UTC", "Z"):
        return _UTC
    try:
        return ZoneInfo(assume_tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidEventTime(f"unknown assume_tz {assume_tz!r}: {exc}") from None


def _parse_iso(text: str) -> datetime:
    """ISO-8601 parsing that also works on Python 3.10 (``Z`` suffix, any fraction digits, ``+hhmm``)."""
    s = text
    if s[-1:] in ("Z", "z"):
        s = s[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        pass
    # Python 3.10's fromisoformat only takes 3 or 6 fraction digits and "+hh:mm": normalise and retry.
    s = _FRACTION_RE.sub(lambda m: f"{m.group(1)}.{(m.group(2) + '000000')[:6]}", s)
    m = _OFFSET_RE.search(s)
    if m and "T" in s:
        s = s[: m.start()] + f"{m.group(1)}:{m.group(2)}" + (f":{m.group(3)}" if m.group(3) else "")
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        raise InvalidEventTime(f"not an epoch number or ISO-8601 date-time: {text!r}") from None


def _minute_ms(prefix: str) -> int | None:
    """Epoch ms of ``YYYY-MM-DDTHH:MM`` (UTC), cached; None when it is not exactly that form or invalid."""
    if not _MINUTE_RE.fullmatch(prefix):
        return None
    try:
        ms = (datetime.fromisoformat(prefix + ":00+00:00") - _EPOCH) // _MS
    except ValueError:  # e.g. February 30th, year 0
        return None
    if len(_MINUTE_CACHE) >= _MINUTE_CACHE_MAX:
        _MINUTE_CACHE.clear()
    _MINUTE_CACHE[prefix] = ms
    return ms


def _fast_iso_ms(text: str) -> int | None:
    """Epoch ms of the common ``YYYY-MM-DDTHH:MM:SS[.f]Z`` form (1-9 fraction digits), else None.

    Equal to :func:`to_epoch_ms` for every string it accepts (tested against it); the minute prefix is
    parsed once and cached, the seconds and milliseconds are added. Anything else returns None so the
    caller takes the general path (which also produces the error messages).
    """
    n = len(text)
    if n < 20 or text[-1] != "Z" or text[16] != ":":
        return None
    sec_ms = _SECOND_MS.get(text[17:19])
    if sec_ms is None:
        return None
    if n == 20:
        frac = 0
    elif n <= 29 and text[19] == "." and n >= 22:
        digits = text[20:-1]
        if not (digits.isascii() and digits.isdigit()):
            return None
        frac = int((digits + "00")[:3])
    else:
        return None
    prefix = text[:16]
    base = _MINUTE_CACHE.get(prefix)
    if base is None:
        base = _minute_ms(prefix)
        if base is None:
            return None
    return base + sec_ms + frac


def _fast_int_ms(value: int, unit: str) -> int | None:
    """Epoch ms of an int epoch number (exact integer arithmetic), or None when the general path decides."""
    if not -_FAST_INT_LIMIT < value < _FAST_INT_LIMIT:
        return None
    if unit == "auto":
        unit = _auto_unit(abs(value))
    if unit == "s":
        return value * 1000
    return value // _INT_DIVISOR[unit]  # floor, like ROUND_FLOOR


def _datetime_to_ms(dt: datetime, tz: tzinfo | None, original: object) -> int:
    if dt.tzinfo is None or dt.utcoffset() is None:
        if tz is None:
            raise InvalidEventTime(
                f"naive date-time {original!r} has no time zone; give an offset or set assume_tz"
            )
        dt = dt.replace(tzinfo=tz)
    return (dt - _EPOCH) // _MS


def to_epoch_ms(
    value: Any,
    *,
    unit: str = "auto",
    assume_tz: str | tzinfo | None = None,
    min_ms: int = MIN_EVENT_MS,
    max_ms: int = MAX_EVENT_MS,
) -> int:
    """Convert an event time to epoch milliseconds, valid when ``min_ms <= ms < max_ms``.

    Accepted values:

    * ``int``/``float``/``Decimal`` epoch numbers, and strings holding one (``"1700000000"``, ``"1.7e9"``),
      in ``unit`` ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``. With ``unit="auto"`` the magnitude decides:
      ``|v| < 1e11`` is seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds, else nanoseconds
      (so milliseconds before 1973-03-03 read as seconds: give ``unit`` explicitly for such data).
      Fractions are floored to the millisecond. ``bool``, NaN and infinities are rejected.
    * ISO-8601 strings with ``Z`` or an offset (``2024-05-01T10:00:00.123+02:00``).
    * aware ``datetime``; a naive ``datetime``, ``date`` or offset-less string only with ``assume_tz``
      (an IANA zone name, ``"UTC"`` or a ``tzinfo``).

    Raises :class:`InvalidEventTime` naming the value and the reason.
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    if type(value) is str:  # fast path for the common ISO form; anything else takes the general path
        fast = _fast_iso_ms(value)
        if fast is not None and min_ms <= fast < max_ms:
            return fast
    if isinstance(value, bool):
        raise InvalidEventTime(f"bool is not an event time: {value!r}")
    ms: int
    if isinstance(value, int):
        ms = value if unit == "ms" else _number_to_ms(Decimal(value), unit)
    elif isinstance(value, (float, Decimal)):
        if not math.isfinite(value):
            raise InvalidEventTime(f"not a finite number: {value!r}")
        ms = _number_to_ms(Decimal(repr(value)) if isinstance(value, float) else value, unit)
    elif isinstance(value, datetime):
        ms = _datetime_to_ms(value, _as_tz(assume_tz), value)
    elif isinstance(value, date):
        ms = _datetime_to_ms(datetime(value.year, value.month, value.day), _as_tz(assume_tz), value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidEventTime("empty string is not an event time")
        if _NUMERIC_RE.fullmatch(text):
            try:
                ms = _number_to_ms(Decimal(text), unit)
            except InvalidOperation:  # pragma: no cover - regex admits only valid decimals
                raise InvalidEventTime(f"not a number: {value!r}") from None
        else:
            ms = _datetime_to_ms(_parse_iso(text), _as_tz(assume_tz), value)
    elif value is None:
        raise InvalidEventTime("missing event time (None)")
    else:
        raise InvalidEventTime(f"unsupported event time type {type(value).__name__}: {value!r}")
    if not min_ms <= ms < max_ms:
        raise InvalidEventTime(
            f"event time {value!r} = {ms} ms ({_describe(ms)}) is outside the allowed range "
            f"[{min_ms} ({_describe(min_ms)}), {max_ms} ({_describe(max_ms)}))"
        )
    return ms


def _describe(ms: int) -> str:
    try:
        return (_EPOCH + ms * _MS).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return "out of datetime range"


def timestamp_header(ms: int) -> str:
    """Flume ``timestamp`` header value for epoch milliseconds (what ``Long.valueOf`` reads)."""
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise TypeError(f"timestamp must be int epoch milliseconds, got {type(ms).__name__}: {ms!r}")
    return str(ms)


_MISSING = object()


class EventTimeResolver:
    """Resolve the event time of each record, applying the ``on_invalid`` policy.

    ``source`` is a dotted field path into a mapping (``"activity.time"``), a callable ``record -> value``,
    or ``None``/``"kafka"`` for the Kafka record timestamp passed to :meth:`resolve`. Policies:
    ``"fail"`` raises :class:`InvalidEventTime`; ``"skip"`` returns ``None`` (reason in ``last_error``);
    ``"now"`` returns the clock time and warns once. ``counts`` tallies valid/skipped/now.
    """

    def __init__(
        self,
        source: str | Callable[[Any], Any] | None,
        *,
        unit: str = "auto",
        on_invalid: str = "fail",
        assume_tz: str | tzinfo | None = None,
        min_ms: int = MIN_EVENT_MS,
        max_ms: int = MAX_EVENT_MS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_on_invalid(on_invalid)
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
        if min_ms >= max_ms:
            raise ValueError(f"min_ms ({min_ms}) must be below max_ms ({max_ms})")
        if isinstance(source, str) and source != "kafka":
            parts = source.split(".")
            if not all(parts):
                raise ValueError(f"invalid field path {source!r}: empty segment")
            self._path: tuple[str, ...] | None = tuple(parts)
        elif source is None or source == "kafka" or callable(source):
            self._path = None
        else:
            raise TypeError(f"source must be a field path, a callable, None or 'kafka', got {source!r}")
        self.source = source
        self.field = source if isinstance(source, str) else ("kafka" if source is None else _name(source))
        self.unit = unit
        self.on_invalid = on_invalid
        self.assume_tz = _as_tz(assume_tz)
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.clock = clock
        self.last_error: str | None = None
        self._counts = {"valid": 0, "skipped": 0, "now": 0}
        self._warned = False
        self._field = self._path[0] if self._path is not None and len(self._path) == 1 else None

    @property
    def counts(self) -> dict[str, int]:
        """Copy of the tallies: ``valid``, ``skipped``, ``now``."""
        return dict(self._counts)

    @property
    def uses_kafka_timestamp(self) -> bool:
        """True when the event time is the Kafka record timestamp."""
        return self.source is None or self.source == "kafka"

    def _extract(self, record: Any, kafka_timestamp_ms: int | None) -> Any:
        if self.uses_kafka_timestamp:
            return kafka_timestamp_ms
        if self._path is None:
            return self.source(record)  # type: ignore[operator]
        cur = record
        for i, part in enumerate(self._path):
            if not isinstance(cur, Mapping):
                where = ".".join(self._path[:i]) or "record"
                raise InvalidEventTime(f"{where} is {type(cur).__name__}, not a mapping")
            cur = cur.get(part, _MISSING)
            if cur is _MISSING:
                raise InvalidEventTime(f"field {'.'.join(self._path[: i + 1])!r} is missing")
        return cur

    def resolve_fast(self, record: Any, kafka_timestamp_ms: int | None = None) -> int | None:
        """The valid event time of ``record`` for the common cases (counted as valid), else None.

        Covers a top-level field of a dict holding an int epoch number or a ``...THH:MM:SS[.fff]Z`` string,
        and int Kafka timestamps; the result equals :meth:`resolve`'s. None means "not decided here": call
        :meth:`resolve` (which handles every other value, the policies and the error messages).
        """
        if self._field is not None:
            if type(record) is not dict:
                return None
            value = record.get(self._field)
            if type(value) is str and len(value) == 24 and value[19] == "." and value[23] == "Z":
                # the most common form, inlined: YYYY-MM-DDTHH:MM:SS.fffZ with a cached minute
                base = _MINUTE_CACHE.get(value[:16])
                sec_ms = _SECOND_MS.get(value[17:19])
                milli = _MILLI.get(value[20:23])
                if base is not None and sec_ms is not None and milli is not None and value[16] == ":":
                    ms = base + sec_ms + milli
                    if self.min_ms <= ms < self.max_ms:
                        self._counts["valid"] += 1
                        return ms
            unit = self.unit
        elif self.source is None or self.source == "kafka":
            value = kafka_timestamp_ms
            unit = "ms"
        else:
            return None
        kind = type(value)
        if kind is str:
            ms = _fast_iso_ms(value)
        elif kind is int:
            ms = _fast_int_ms(value, unit)
        else:
            return None
        if ms is None or not self.min_ms <= ms < self.max_ms:
            return None
        self._counts["valid"] += 1
        return ms

    def resolve(self, record: Any, *, position: str, kafka_timestamp_ms: int | None = None) -> int | None:
        """Event time of ``record`` in epoch ms, or ``None`` when skipped; ``position`` names it in errors."""
        fast = self.resolve_fast(record, kafka_timestamp_ms)
        if fast is not None:
            return fast
        value: Any = _MISSING
        try:
            value = self._extract(record, kafka_timestamp_ms)
            unit = "ms" if self.uses_kafka_timestamp else self.unit
            ms = to_epoch_ms(
                value, unit=unit, assume_tz=self.assume_tz, min_ms=self.min_ms, max_ms=self.max_ms
            )
        except Exception as exc:  # a callable source may raise anything
            shown = "<missing>" if value is _MISSING else repr(value)
            reason = f"{position}: invalid event time in field {self.field!r} (value {shown}): {exc}"
            return self._invalid(reason, exc)
        self._counts["valid"] += 1
        return ms

    def _invalid(self, reason: str, exc: Exception) -> int | None:
        self.last_error = reason
        if self.on_invalid == "fail":
            raise InvalidEventTime(reason) from exc
        if self.on_invalid == "skip":
            self._counts["skipped"] += 1
            return None
        self._counts["now"] += 1
        if not self._warned:
            self._warned = True
            log.warning(
                "Using the current time for records without a valid event time (on_invalid='now'); "
                "they will be filed by ingestion time. First: %s",
                reason,
            )
        return int(self.clock() * 1000)

    def summary(self) -> str:
        """One line with the counts, for the end-of-task log."""
        c = self._counts
        return f"event times: {c['valid']} valid, {c['skipped']} skipped, {c['now']} set to now"


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
