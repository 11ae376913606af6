"""Epoch milliseconds from a time value: epoch numbers in any unit, ISO-8601 text, datetimes. No Airflow imports.

The general :func:`to_epoch_ms` plus the fast paths the publish loop depends on (:func:`fast_iso_ms`,
:func:`fast_int_ms` and the caches they share with ``event_time.EventTimeResolver.resolve_fast``). Values that would
land in absurd partitions are refused with :class:`InvalidEventTime`.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "MAX_EVENT_MS",
    "MILLI",
    "MINUTE_CACHE",
    "MIN_EVENT_MS",
    "SECOND_MS",
    "UNITS",
    "InvalidEventTime",
    "as_tz",
    "fast_int_ms",
    "fast_iso_ms",
    "to_epoch_ms",
]

MIN_EVENT_MS = 0
"""Default lower bound (inclusive): 1970-01-01T00:00:00Z."""
MAX_EVENT_MS = 4102444800000
"""Default upper bound (exclusive): 2100-01-01T00:00:00Z."""
UNITS = ("auto", "s", "ms", "us", "ns")

_UTC = timezone(timedelta(0))
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_MS = timedelta(milliseconds=1)
_PER_MS = {"s": Decimal(1000), "ms": Decimal(1), "us": Decimal("0.001"), "ns": Decimal("0.000001")}
_NUMERIC_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_FRACTION_RE = re.compile(r"(T\d\d:\d\d:\d\d)[.,](\d+)", re.ASCII)
_OFFSET_RE = re.compile(r"([+-]\d\d):?(\d\d)(?::?(\d\d))?$", re.ASCII)
_MINUTE_RE = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d", re.ASCII)
MINUTE_CACHE: dict[str, int] = {}
_MINUTE_CACHE_MAX = 1 << 16
_FAST_INT_LIMIT = 10**18  # beyond it the Decimal path (28 digits) decides
_INT_DIVISOR = {"ms": 1, "us": 1000, "ns": 1_000_000}
SECOND_MS = {f"{i:02d}": i * 1000 for i in range(60)}  # "SS" -> ms; a lookup both validates and converts
MILLI = {f"{i:03d}": i for i in range(1000)}  # "fff" -> ms


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


def as_tz(assume_tz: str | tzinfo | None) -> tzinfo | None:
    """A ``tzinfo`` for ``assume_tz`` (IANA name, ``"UTC"``/``"Z"`` or a tzinfo); unknown names raise."""
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
    if len(MINUTE_CACHE) >= _MINUTE_CACHE_MAX:
        MINUTE_CACHE.clear()
    MINUTE_CACHE[prefix] = ms
    return ms


def fast_iso_ms(text: str) -> int | None:
    """Epoch ms of the common ``YYYY-MM-DDTHH:MM:SS[.f]Z`` form (1-9 fraction digits), else None.

    Equal to :func:`to_epoch_ms` for every string it accepts (tested against it); the minute prefix is
    parsed once and cached, the seconds and milliseconds are added. Anything else returns None so the
    caller takes the general path (which also produces the error messages).
    """
    n = len(text)
    if n < 20 or text[-1] != "Z" or text[16] != ":":
        return None
    sec_ms = SECOND_MS.get(text[17:19])
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
    base = MINUTE_CACHE.get(prefix)
    if base is None:
        base = _minute_ms(prefix)
        if base is None:
            return None
    return base + sec_ms + frac


def fast_int_ms(value: int, unit: str) -> int | None:
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
        fast = fast_iso_ms(value)
        if fast is not None and min_ms <= fast < max_ms:
            return fast
    ms = _any_to_ms(value, unit, assume_tz)
    if not min_ms <= ms < max_ms:
        raise InvalidEventTime(
            f"event time {value!r} = {ms} ms ({_describe(ms)}) is outside the allowed range "
            f"[{min_ms} ({_describe(min_ms)}), {max_ms} ({_describe(max_ms)}))"
        )
    return ms


def _text_to_ms(value: str, unit: str, assume_tz: str | tzinfo | None) -> int:
    text = value.strip()
    if not text:
        raise InvalidEventTime("empty string is not an event time")
    if _NUMERIC_RE.fullmatch(text):
        try:
            return _number_to_ms(Decimal(text), unit)
        except InvalidOperation:  # pragma: no cover - regex admits only valid decimals
            raise InvalidEventTime(f"not a number: {value!r}") from None
    return _datetime_to_ms(_parse_iso(text), as_tz(assume_tz), value)


def _any_to_ms(value: Any, unit: str, assume_tz: str | tzinfo | None) -> int:
    """Epoch ms of any accepted value, before the range check (the general path of :func:`to_epoch_ms`)."""
    if isinstance(value, bool):
        raise InvalidEventTime(f"bool is not an event time: {value!r}")
    if isinstance(value, int):
        return value if unit == "ms" else _number_to_ms(Decimal(value), unit)
    if isinstance(value, (float, Decimal)):
        if not math.isfinite(value):
            raise InvalidEventTime(f"not a finite number: {value!r}")
        return _number_to_ms(Decimal(repr(value)) if isinstance(value, float) else value, unit)
    if isinstance(value, datetime):
        return _datetime_to_ms(value, as_tz(assume_tz), value)
    if isinstance(value, date):
        return _datetime_to_ms(datetime(value.year, value.month, value.day), as_tz(assume_tz), value)
    if isinstance(value, str):
        return _text_to_ms(value, unit, assume_tz)
    if value is None:
        raise InvalidEventTime("missing event time (None)")
    raise InvalidEventTime(f"unsupported event time type {type(value).__name__}: {value!r}")


def _describe(ms: int) -> str:
    try:
        return (_EPOCH + ms * _MS).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return "out of datetime range"
