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
* Dates use Java ``SimpleDateFormat`` patterns with English names in the configured zone (the Java time
  semantics live in :mod:`java_time`); ``%s`` is ``ts / 1000`` (Java truncation), ``%t`` the raw header text,
  ``%%`` is ``%``.
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
import time
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from airflow_flume_provider.java_time import (
    DAY_MS,
    PARENT_MS,
    ROUND_MAX,
    ROUND_UNITS,
    instant_ms,
    java_div,
    java_format,
    java_resolve,
    java_time_zone,
    local,
    offset_ms,
    round_block,
    wall_ms,
    wall_to_instant,
)
from airflow_flume_provider.path_escapes import LIT, TIME, TIME_ESCAPES, compile_template

__all__ = [
    "ROUND_UNITS",
    "TIME_ESCAPES",
    "PathTemplate",
    "TimestampHeaderError",
    "UnsafePathError",
    "java_time_zone",
    "render_path",
]

_LONG_RE = re.compile(r"[+-]?\d+")  # Unicode decimal digits, like Java's Character.digit
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


class UnsafePathError(ValueError):
    """A header value would make an unsafe or ambiguous path (strict rendering)."""


class TimestampHeaderError(ValueError):
    """The ``timestamp`` header is missing or not a Java ``long`` (Flume would retry the event forever)."""


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
            if not 0 < round_value <= ROUND_MAX[unit]:
                raise ValueError(
                    f"round_value for round_unit {unit!r} must be > 0 and <= {ROUND_MAX[unit]}, "
                    f"got {round_value}"
                )
        self.round_unit = unit
        self.round_value = round_value
        if host_values is not None:
            host_values = {k.lower(): v for k, v in host_values.items()}
        self._c = compile_template(template, host_values)
        self._windows: list[tuple[int, int, tuple[str, ...]]] = []
        self._fmt: str | None = None  # str.format pattern for header-free templates (hot path)
        if not self._c.header_names:
            self._fmt = "".join(
                text.replace("{", "{{").replace("}", "}}") if kind == LIT else "{}"
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
        wall = wall_ms(local(ms, self.zone))
        start, _ = round_block(wall, self.round_unit, self.round_value)
        return java_resolve(start, self.zone)

    def _time_parts(self, ms: int, raw: str) -> tuple[str, ...]:
        """Texts of the time segments for epoch ms ``ms`` (``raw`` is the header text for ``%t``)."""
        ts = self._rounded(ms)
        dt: datetime | None = None
        parts = []
        for kind, text in self._c.segments:
            if kind != TIME:
                continue
            if text == "t":
                parts.append(raw)
            elif text == "s":
                parts.append(str(java_div(ts, 1000)))
            else:
                if dt is None:
                    dt = local(ts, self.zone)
                parts.append(java_format(text, dt))
        return tuple(parts)

    def _assemble(self, time_parts: tuple[str, ...], headers: Mapping[str, str] | None, strict: bool) -> str:
        out: list[str] = []
        it = iter(time_parts)
        for kind, text in self._c.segments:
            if kind == LIT:
                out.append(text)
            elif kind == TIME:
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
        off = offset_ms(ms, self.zone)
        wall = ms + off
        if self.need_rounding and gran < PARENT_MS[self.round_unit]:
            wlo, whi = round_block(wall, self.round_unit, self.round_value)
        else:
            wlo = wall - wall % gran
            whi = wlo + gran
        lo, hi = wlo - off, whi - off
        if offset_ms(lo - DAY_MS, self.zone) != off or offset_ms(hi + DAY_MS, self.zone) != off:
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
        return self.for_timestamp_ms(instant_ms(instant), headers)

    def _bounds_ms(self, ms: int) -> tuple[int, int]:
        gran = self._c.granularity
        if gran == 0:
            raise ValueError(f"path template {self.template!r} has no time escape: it has a single partition")
        if gran == 1:
            return ms, ms + 1
        wall = wall_ms(local(ms, self.zone))
        if self.need_rounding and gran < PARENT_MS[self.round_unit]:
            wlo, whi = round_block(wall, self.round_unit, self.round_value)
        else:
            wlo = wall - wall % gran
            whi = wlo + gran
        lo, hi = wall_to_instant(wlo, self.zone), wall_to_instant(whi, self.zone)
        if not lo <= ms < hi:  # DST overlap: the bucket's wall start resolves past the instant
            lo, hi = min(lo, ms), max(hi, ms + 1)
        return lo, hi

    def partition_bounds(self, instant: datetime | int) -> tuple[datetime, datetime]:
        """[start, end) of the wall-clock partition holding ``instant`` (e.g. its local day), in the zone."""
        lo, hi = self._bounds_ms(instant_ms(instant))
        return local(lo, self.zone), local(hi, self.zone)

    def partitions_between(
        self, start: datetime | int, end: datetime | int, headers: Mapping[str, str] | None = None
    ) -> list[str]:
        """Unique partition paths, in time order, for event times in ``[start, end)``."""
        lo, hi = instant_ms(start), instant_ms(end)
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
