"""Flume 1.11.0 HDFS path templates (``BucketPath.escapeString`` + ``TimestampRoundDownUtil``), in Python.

This predicts the directory Flume's HDFS sink writes an event to, so the producer, the sensor and the manifest
agree with Flume exactly. Semantics follow Flume 1.11.0 (read from its sources, re-implemented here):

* Escapes are found with Flume's pattern ``%(\\w|%)|%\\{([\\w.-]+)\\}|%\\[(\\w+)\\]`` (ASCII ``\\w``);
  anything else (``%{a b}``, a trailing ``%``) stays literal.
* ``%{name}`` is the header value, or ``""`` when the header is missing.
* ``%[localhost]``, ``%[IP]``, ``%[FQDN]`` (any case) are host facts; any other ``%[x]`` raises ``ValueError``.
* Every ``%x`` escape - even ``%%`` and unknown letters - first needs the ``timestamp`` header (Flume parses
  it before looking at the letter): missing raises, and it must parse like Java's ``Long.valueOf``
  (optional ``+``/``-``, digits only). Unknown letters render ``""``.
* Dates use Java ``SimpleDateFormat`` patterns with English names in the configured zone:
  ``%a EEE  %A EEEE  %b MMM  %B MMMM  %c "EEE MMM d HH:mm:ss yyyy"  %d dd  %e d  %D MM/dd/yy  %H HH
  %I hh  %j DDD  %k H  %l h  %m MM  %M mm  %n M  %p a  %S ss  %y yy  %Y yyyy  %z ZZZ (+0530)``;
  ``%s`` is ``ts / 1000`` (Java truncation), ``%t`` the raw header text, ``%%`` is ``%``.
* Rounding (``hdfs.round``) works on the calendar fields in the configured zone: the unit field loses
  ``field % round_value`` and the smaller fields are zeroed; the timestamp must be > 0. The rounded wall time is
  turned back into an instant like ``java.util.Calendar`` does: in a DST gap or overlap the smaller
  (standard-time) offset is used - so in the first hour of a fall-back overlap Flume's rounded time jumps an
  hour ahead, and so does ours.

Differences: dates are proleptic Gregorian (Java switches to Julian before 1582-10-15) and years must be
within 1..9999.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ROUND_UNITS",
    "TIME_ESCAPES",
    "PathTemplate",
    "TimestampHeaderError",
    "UnsafePathError",
    "java_time_zone",
    "render_path",
]

_TAG_RE = re.compile(r"%(\w|%)|%\{([\w.-]+)\}|%\[(\w+)\]", re.ASCII)
_LONG_RE = re.compile(r"[+-]?\d+")  # Unicode decimal digits, like Java's Character.digit
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1

ROUND_UNITS = ("second", "minute", "hour")
_UNIT_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000}
_PARENT_MS = {"second": 60_000, "minute": 3_600_000, "hour": 86_400_000}
_ROUND_MAX = {"second": 60, "minute": 60, "hour": 24}
_DAY_MS = 86_400_000

# Letters Flume formats from the timestamp, with the finest granularity (ms) their text depends on.
_GRANULARITY = {
    **dict.fromkeys("sSc", 1000),
    "M": 60_000,
    **dict.fromkeys("HIklp", 3_600_000),
    **dict.fromkeys("aAbBdeDjmnyY", _DAY_MS),
    "z": _DAY_MS,  # depends on the offset only; windows never span an offset change
    "t": 1,
}
TIME_ESCAPES = frozenset(_GRANULARITY)

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

_UTC = timezone(timedelta(0))
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_MS = timedelta(milliseconds=1)

# java.util.TimeZone's legacy three-letter IDs (ZoneId.SHORT_IDS) that tzdata does not have.
_JAVA_SHORT_IDS = {
    "ACT": "Australia/Darwin", "AET": "Australia/Sydney", "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo", "AST": "America/Anchorage", "BET": "America/Sao_Paulo", "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare", "CNT": "America/St_Johns", "CST": "America/Chicago", "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa", "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "MIT": "Pacific/Apia", "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland", "PLT": "Asia/Karachi", "PNT": "America/Phoenix", "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles", "SST": "Pacific/Guadalcanal", "VST": "Asia/Ho_Chi_Minh",
    "EST": "-05:00", "MST": "-07:00", "HST": "-10:00",
}  # fmt: skip
_CUSTOM_ID_RE = re.compile(r"GMT([+-])(\d{1,2})(?::?(\d\d))?", re.ASCII)


class UnsafePathError(ValueError):
    """A header value would make an unsafe or ambiguous path (strict rendering)."""


class TimestampHeaderError(ValueError):
    """The ``timestamp`` header is missing or not a Java ``long`` (Flume would retry the event forever)."""


@lru_cache(maxsize=256)
def java_time_zone(name: str | None) -> tzinfo:
    """The zone Flume uses for ``hdfs.timeZone``: tz IDs, Java short IDs, ``GMT+hh:mm``; ``None`` is UTC.

    Unknown names raise ``ValueError`` (Flume itself silently falls back to GMT).
    """
    if name is None or name in ("UTC", "GMT", "Z"):
        return _UTC
    alias = _JAVA_SHORT_IDS.get(name, name)
    fixed = re.fullmatch(r"([+-])(\d\d):(\d\d)", alias) or _CUSTOM_ID_RE.fullmatch(alias)
    if fixed:
        sign = -1 if fixed.group(1) == "-" else 1
        hours, minutes = int(fixed.group(2)), int(fixed.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ValueError(f"invalid time zone offset {name!r}")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(alias)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (Flume would silently use GMT)") from None


@lru_cache(maxsize=1)
def _local_host_values() -> dict[str, str]:
    host = socket.gethostname()
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        ip = "127.0.0.1"
    return {"localhost": host, "ip": ip, "fqdn": socket.getfqdn(host)}


def parse_java_long(text: str | None) -> int:
    """Parse the ``timestamp`` header like Java's ``Long.valueOf``; raise :class:`TimestampHeaderError`."""
    if text is None:
        raise TimestampHeaderError("Expected timestamp in the Flume event headers, but it was null")
    if not isinstance(text, str) or not _LONG_RE.fullmatch(text):
        raise TimestampHeaderError(f"Flume wasn't able to parse timestamp header {text!r}: not a Java long")
    value = int(text)
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise TimestampHeaderError(f"Flume wasn't able to parse timestamp header {text!r}: out of long range")
    return value


def _local(ms: int, zone: tzinfo) -> datetime:
    try:
        return (_EPOCH + ms * _MS).astimezone(zone)
    except OverflowError:
        raise ValueError(f"timestamp {ms} ms is outside the supported years 1..9999") from None


def _wall_ms(dt: datetime) -> int:
    """Milliseconds of the local wall-clock fields of ``dt`` counted from 1970-01-01T00:00 (no zone)."""
    return (dt.replace(tzinfo=_UTC) - _EPOCH) // _MS


def _java_resolve(wall_ms: int, zone: tzinfo) -> int:
    """Instant for a wall time, using the smaller offset in a DST gap/overlap (java.util.Calendar's rule)."""
    naive = datetime(1970, 1, 1) + wall_ms * _MS
    off0 = naive.replace(tzinfo=zone, fold=0).utcoffset() or timedelta(0)
    off1 = naive.replace(tzinfo=zone, fold=1).utcoffset() or timedelta(0)
    return wall_ms - min(off0, off1) // _MS


def _offset_ms(ms: int, zone: tzinfo) -> int:
    return (_local(ms, zone).utcoffset() or timedelta(0)) // _MS


def _round_block(wall: int, unit: str, value: int) -> tuple[int, int]:
    """Wall-time [start, end) of the rounding block holding ``wall`` (TimestampRoundDownUtil's field floor)."""
    unit_ms, parent_ms = _UNIT_MS[unit], _PARENT_MS[unit]
    parent_start = wall - wall % parent_ms
    field = (wall - parent_start) // unit_ms
    start = parent_start + (field - field % value) * unit_ms
    return start, min(start + value * unit_ms, parent_start + parent_ms)


def _java_format(letter: str, dt: datetime) -> str:
    """One SimpleDateFormat-equivalent date escape, English locale."""
    if letter == "Y":
        return f"{dt.year:04d}"
    if letter == "m":
        return f"{dt.month:02d}"
    if letter == "d":
        return f"{dt.day:02d}"
    if letter == "H":
        return f"{dt.hour:02d}"
    if letter == "M":
        return f"{dt.minute:02d}"
    if letter == "S":
        return f"{dt.second:02d}"
    if letter == "y":
        return f"{dt.year % 100:02d}"
    if letter == "e":
        return str(dt.day)
    if letter == "n":
        return str(dt.month)
    if letter == "k":
        return str(dt.hour)
    if letter in "Il":
        h12 = dt.hour % 12 or 12
        return f"{h12:02d}" if letter == "I" else str(h12)
    if letter == "p":
        return "AM" if dt.hour < 12 else "PM"
    if letter == "a":
        return _DAYS[dt.weekday()][:3]
    if letter == "A":
        return _DAYS[dt.weekday()]
    if letter == "b":
        return _MONTHS[dt.month - 1][:3]
    if letter == "B":
        return _MONTHS[dt.month - 1]
    if letter == "j":
        return f"{dt.timetuple().tm_yday:03d}"
    if letter == "D":
        return f"{dt.month:02d}/{dt.day:02d}/{dt.year % 100:02d}"
    if letter == "c":
        return (
            f"{_DAYS[dt.weekday()][:3]} {_MONTHS[dt.month - 1][:3]} {dt.day} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} {dt.year:04d}"
        )
    if letter == "z":
        minutes = int((dt.utcoffset() or timedelta(0)).total_seconds() / 60)  # Java truncates
        sign = "-" if minutes < 0 else "+"
        return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    raise AssertionError(letter)  # pragma: no cover


def _java_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


# Segment kinds of a compiled template.
_LIT, _HDR, _TIME = 0, 1, 2


@dataclass(frozen=True)
class _Compiled:
    segments: tuple[tuple[int, str], ...]
    header_names: frozenset[str]
    needs_timestamp: bool
    granularity: int  # finest time granularity in ms; 0 = no time-dependent text


def _compile(template: str, host_values: Mapping[str, str] | None) -> _Compiled:
    segments: list[tuple[int, str]] = []
    pos, names, needs_ts, gran = 0, set(), False, 0
    for m in _TAG_RE.finditer(template):
        if m.start() > pos:
            segments.append((_LIT, template[pos : m.start()]))
        pos = m.end()
        letter, header, static = m.group(1), m.group(2), m.group(3)
        if header is not None:
            segments.append((_HDR, header))
            names.add(header)
        elif static is not None:
            key = static.lower()
            values = host_values if host_values is not None else _local_host_values()
            if key not in ("localhost", "ip", "fqdn"):
                raise ValueError(
                    f"path template {template!r}: the static escape string '{static}' was provided but does "
                    "not match any of (localhost,IP,FQDN)"
                )
            segments.append((_LIT, values[key]))
        else:
            needs_ts = True
            g = _GRANULARITY.get(letter)
            if letter == "%":
                segments.append((_LIT, "%"))
            elif g is None:
                segments.append((_LIT, ""))  # unknown letter: empty, but still needs a timestamp
            else:
                segments.append((_TIME, letter))
                gran = g if gran == 0 else min(gran, g)
    if pos < len(template):
        segments.append((_LIT, template[pos:]))
    merged: list[tuple[int, str]] = []
    for kind, text in segments:  # join adjacent literals
        if kind == _LIT and merged and merged[-1][0] == _LIT:
            merged[-1] = (_LIT, merged[-1][1] + text)
        elif not (kind == _LIT and not text):
            merged.append((kind, text))
    return _Compiled(tuple(merged), frozenset(names), needs_ts, gran)


class PathTemplate:
    """A compiled Flume ``hdfs.path`` (or ``hdfs.filePrefix``) template with its sink's zone and rounding.

    ``host_values`` optionally sets what ``%[localhost]``/``%[IP]``/``%[FQDN]`` render to (keys
    ``localhost``, ``ip``, ``fqdn``) - Flume uses the Flume host's names, by default this machine's.
    """

    _WINDOW_SLOTS = 8

    def __init__(
        self,
        template: str,
        *,
        time_zone: str | None = "UTC",
        need_rounding: bool = False,
        round_unit: str = "second",
        round_value: int = 1,
        host_values: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(template, str):
            raise TypeError(f"path template must be str, got {type(template).__name__}")
        self.template = template
        self.time_zone = time_zone or "UTC"
        self.zone = java_time_zone(time_zone)
        self.need_rounding = bool(need_rounding)
        unit = round_unit.lower() if isinstance(round_unit, str) else round_unit
        if self.need_rounding:
            if unit not in ROUND_UNITS:
                raise ValueError(f"round_unit must be one of {ROUND_UNITS}, got {round_unit!r}")
            if isinstance(round_value, bool) or not isinstance(round_value, int):
                raise TypeError(f"round_value must be int, got {round_value!r}")
            if not 0 < round_value <= _ROUND_MAX[unit]:
                raise ValueError(
                    f"round_value for round_unit {unit!r} must be > 0 and <= {_ROUND_MAX[unit]}, "
                    f"got {round_value}"
                )
        self.round_unit = unit
        self.round_value = round_value
        if host_values is not None:
            host_values = {k.lower(): v for k, v in host_values.items()}
        self._c = _compile(template, host_values)
        self._windows: list[tuple[int, int, tuple[str, ...]]] = []
        self._fmt: str | None = None  # str.format pattern for header-free templates (hot path)
        if not self._c.header_names:
            self._fmt = "".join(
                text.replace("{", "{{").replace("}", "}}") if kind == _LIT else "{}"
                for kind, text in self._c.segments
            )

    def __repr__(self) -> str:
        rounding = f", round={self.round_value} {self.round_unit}" if self.need_rounding else ""
        return f"PathTemplate({self.template!r}, time_zone={self.time_zone!r}{rounding})"

    @property
    def has_time_escape(self) -> bool:
        """True when the rendered text depends on the event time (a date/time escape, ``%s`` or ``%t``)."""
        return self._c.granularity > 0

    @property
    def needs_timestamp(self) -> bool:
        """True when Flume needs a ``timestamp`` header for this template (any ``%x`` escape, even ``%%``)."""
        return self._c.needs_timestamp

    @property
    def header_names(self) -> frozenset[str]:
        """Names used as ``%{name}``."""
        return self._c.header_names

    # -- exact rendering ---------------------------------------------------------------------------

    def _rounded(self, ms: int) -> int:
        if not self.need_rounding:
            return ms
        if ms <= 0:
            raise ValueError(
                f"timestamp {ms} must be > 0 when rounding (Flume: 'Timestamp must be positive')"
            )
        wall = _wall_ms(_local(ms, self.zone))
        start, _ = _round_block(wall, self.round_unit, self.round_value)
        return _java_resolve(start, self.zone)

    def _time_parts(self, ms: int, raw: str) -> tuple[str, ...]:
        """Texts of the time segments for epoch ms ``ms`` (``raw`` is the header text for ``%t``)."""
        ts = self._rounded(ms)
        dt: datetime | None = None
        parts = []
        for kind, text in self._c.segments:
            if kind != _TIME:
                continue
            if text == "t":
                parts.append(raw)
            elif text == "s":
                parts.append(str(_java_div(ts, 1000)))
            else:
                if dt is None:
                    dt = _local(ts, self.zone)
                parts.append(_java_format(text, dt))
        return tuple(parts)

    def _assemble(self, time_parts: tuple[str, ...], headers: Mapping[str, str] | None, strict: bool) -> str:
        out: list[str] = []
        it = iter(time_parts)
        for kind, text in self._c.segments:
            if kind == _LIT:
                out.append(text)
            elif kind == _TIME:
                out.append(next(it))
            else:
                value = headers.get(text) if headers is not None else None
                if value is None:
                    value = ""
                elif not isinstance(value, str):
                    raise TypeError(f"header {text!r} must be str, got {type(value).__name__}")
                if strict:
                    _check_safe(text, value)
                out.append(value)
        path = "".join(out)
        if strict and self._c.header_names:
            bad = [seg for seg in path.split("/") if seg in (".", "..")]
            if bad:
                raise UnsafePathError(
                    f"path {path!r} from template {self.template!r} has a {bad[0]!r} segment"
                )
        return path

    def render(self, headers: Mapping[str, str], *, strict: bool = False, now_ms: int | None = None) -> str:
        """Render for an event's headers, like Flume; ``now_ms`` stands in for the timestamp
        (``hdfs.useLocalTimeStamp=true``). ``strict`` rejects unsafe ``%{header}`` values."""
        parts: tuple[str, ...] = ()
        if self._c.needs_timestamp:
            if now_ms is not None:
                ms, raw = now_ms, str(now_ms)
            else:
                raw_header = headers.get("timestamp")
                ms = parse_java_long(raw_header)
                raw = raw_header  # type: ignore[assignment]
            parts = self._time_parts(ms, raw)
        return self._assemble(parts, headers, strict)

    # -- fast path ---------------------------------------------------------------------------------

    def _window(self, ms: int) -> tuple[int, int] | None:
        """UTC-ms [lo, hi) around ``ms`` over which the time texts cannot change, or None when irregular.

        Windows are only built where the zone's offset is constant from a day before to a day after, so
        no wall time inside is in a DST gap or overlap; near transitions every call takes the exact path.
        """
        gran = self._c.granularity
        if gran <= 1:
            return None
        off = _offset_ms(ms, self.zone)
        wall = ms + off
        if self.need_rounding and gran < _PARENT_MS[self.round_unit]:
            wlo, whi = _round_block(wall, self.round_unit, self.round_value)
        else:
            wlo = wall - wall % gran
            whi = wlo + gran
        lo, hi = wlo - off, whi - off
        if _offset_ms(lo - _DAY_MS, self.zone) != off or _offset_ms(hi + _DAY_MS, self.zone) != off:
            return None
        if self.need_rounding and lo <= 0:
            return None
        return lo, hi

    def for_timestamp_ms(self, ms: int, headers: Mapping[str, str] | None = None) -> str:
        """Flume's path for an event with ``timestamp`` header ``str(ms)`` (fast: cached per time window)."""
        if not self._c.needs_timestamp:
            return self._assemble((), headers, False)
        for i, (lo, hi, parts) in enumerate(self._windows):
            if lo <= ms < hi:
                if i:
                    self._windows.insert(0, self._windows.pop(i))
                if self._fmt is not None:
                    return self._fmt.format(*parts)
                return self._assemble(parts, headers, False)
        if isinstance(ms, bool) or not isinstance(ms, int):
            raise TypeError(f"timestamp must be int epoch ms, got {ms!r}")
        parts = self._time_parts(ms, str(ms))
        win = self._window(ms)
        if win is not None:
            self._windows.insert(0, (win[0], win[1], parts))
            del self._windows[self._WINDOW_SLOTS :]
        return self._assemble(parts, headers, False)

    # -- partitions --------------------------------------------------------------------------------

    def partition_for(self, instant: datetime | int, headers: Mapping[str, str] | None = None) -> str:
        """The rendered path for an event at ``instant`` (aware datetime or epoch ms)."""
        return self.for_timestamp_ms(_instant_ms(instant), headers)

    def _bounds_ms(self, ms: int) -> tuple[int, int]:
        gran = self._c.granularity
        if gran == 0:
            raise ValueError(f"path template {self.template!r} has no time escape: it has a single partition")
        if gran == 1:
            return ms, ms + 1
        wall = _wall_ms(_local(ms, self.zone))
        if self.need_rounding and gran < _PARENT_MS[self.round_unit]:
            wlo, whi = _round_block(wall, self.round_unit, self.round_value)
        else:
            wlo = wall - wall % gran
            whi = wlo + gran
        lo, hi = _wall_to_instant(wlo, self.zone), _wall_to_instant(whi, self.zone)
        if not lo <= ms < hi:  # DST overlap: the bucket's wall start resolves past the instant
            lo, hi = min(lo, ms), max(hi, ms + 1)
        return lo, hi

    def partition_bounds(self, instant: datetime | int) -> tuple[datetime, datetime]:
        """[start, end) of the wall-clock partition holding ``instant`` (e.g. its local day), in the zone."""
        lo, hi = self._bounds_ms(_instant_ms(instant))
        return _local(lo, self.zone), _local(hi, self.zone)

    def partitions_between(
        self, start: datetime | int, end: datetime | int, headers: Mapping[str, str] | None = None
    ) -> list[str]:
        """Unique partition paths, in time order, for event times in ``[start, end)``."""
        lo, hi = _instant_ms(start), _instant_ms(end)
        if hi <= lo:
            return []
        if self._c.granularity == 0:
            return [self.for_timestamp_ms(lo, headers)]
        if self._c.granularity < 60_000:
            raise ValueError(
                f"path template {self.template!r} changes every second or faster; refusing to list partitions"
            )
        seen: dict[str, None] = {}
        t = lo
        while t < hi:
            seen.setdefault(self.for_timestamp_ms(t, headers))
            _, nxt = self._bounds_ms(t)
            t = max(nxt, t + 1)
        return list(seen)


def _wall_to_instant(wall_ms: int, zone: tzinfo) -> int:
    """Earliest instant whose wall time is >= ``wall_ms`` (first occurrence in overlaps, gap end in gaps)."""
    naive = datetime(1970, 1, 1) + wall_ms * _MS
    aware = naive.replace(tzinfo=zone, fold=0)
    return (aware - _EPOCH) // _MS


def _instant_ms(instant: datetime | int) -> int:
    if isinstance(instant, datetime):
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"naive datetime {instant!r}: give an aware datetime or epoch ms")
        # Via a plain timedelta: subclasses such as pendulum's DateTime (Airflow's context dates) return
        # their own interval types, whose floor division does not accept a timedelta.
        delta = instant - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if isinstance(instant, bool) or not isinstance(instant, int):
        raise TypeError(f"instant must be an aware datetime or int epoch ms, got {instant!r}")
    return instant


def _check_safe(name: str, value: str) -> None:
    if value == "":
        raise UnsafePathError(f"header {name!r} is missing or empty: it would render an empty path part")
    if "/" in value:
        raise UnsafePathError(f"header {name!r} value {value!r} contains '/'")
    if value in (".", ".."):
        raise UnsafePathError(f"header {name!r} value {value!r} is a relative path segment")


@lru_cache(maxsize=128)
def _cached_template(
    template: str, time_zone: str, need_rounding: bool, round_unit: str, round_value: int
) -> PathTemplate:
    return PathTemplate(
        template,
        time_zone=time_zone,
        need_rounding=need_rounding,
        round_unit=round_unit,
        round_value=round_value,
    )


def render_path(
    template: str,
    headers: Mapping[str, str],
    *,
    time_zone: str = "UTC",
    need_rounding: bool = False,
    round_unit: str = "second",
    round_value: int = 1,
    use_local_timestamp: bool = False,
) -> str:
    """Flume 1.11.0's ``BucketPath.escapeString`` for an event's headers and the sink's ``hdfs.*`` settings.

    ``use_local_timestamp`` uses this machine's clock instead of the ``timestamp`` header, as Flume does
    with ``hdfs.useLocalTimeStamp=true``.
    """
    tpl = _cached_template(template, time_zone, bool(need_rounding), round_unit, round_value)
    now = int(time.time() * 1000) if use_local_timestamp else None
    return tpl.render(headers, now_ms=now)
