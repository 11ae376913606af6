"""Java time semantics Flume's HDFS sink relies on, in Python: ``java.util.TimeZone`` IDs, English
``SimpleDateFormat`` fields, ``java.util.Calendar`` wall-time resolution and ``TimestampRoundDownUtil``'s field floor.

No Airflow imports. Used by :mod:`bucketpath` (which renders Flume paths with it) and the Flume config linter.
Dates are proleptic Gregorian (Java switches to Julian before 1582-10-15); years must be within 1..9999.

SimpleDateFormat patterns behind Flume's escapes: ``%a EEE  %A EEEE  %b MMM  %B MMMM
%c "EEE MMM d HH:mm:ss yyyy"  %d dd  %e d  %D MM/dd/yy  %H HH  %I hh  %j DDD  %k H  %l h  %m MM  %M mm  %n M
%p a  %S ss  %y yy  %Y yyyy  %z ZZZ (+0530)``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DAY_MS",
    "EPOCH",
    "PARENT_MS",
    "ROUND_MAX",
    "ROUND_UNITS",
    "UTC",
    "instant_ms",
    "java_div",
    "java_format",
    "java_resolve",
    "java_time_zone",
    "local",
    "offset_ms",
    "round_block",
    "wall_ms",
    "wall_to_instant",
]

UTC = timezone(timedelta(0))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
DAY_MS = 86_400_000

ROUND_UNITS = ("second", "minute", "hour")
_UNIT_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000}
PARENT_MS = {"second": 60_000, "minute": 3_600_000, "hour": DAY_MS}
ROUND_MAX = {"second": 60, "minute": 60, "hour": 24}

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

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


@lru_cache(maxsize=256)
def java_time_zone(name: str | None) -> tzinfo:
    """The zone Flume uses for ``hdfs.timeZone``: tz IDs, Java short IDs, ``GMT+hh:mm``; ``None`` is UTC.

    Unknown names raise ``ValueError`` (Flume itself silently falls back to GMT).
    """
    if name is None or name in ("UTC", "GMT", "Z"):
        return UTC
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


def local(ms: int, zone: tzinfo) -> datetime:
    """Epoch ms as an aware datetime in ``zone``; ``ValueError`` outside the years 1..9999."""
    try:
        return (EPOCH + ms * _MS).astimezone(zone)
    except OverflowError:
        raise ValueError(f"timestamp {ms} ms is outside the supported years 1..9999") from None


def wall_ms(dt: datetime) -> int:
    """Milliseconds of the local wall-clock fields of ``dt`` counted from 1970-01-01T00:00 (no zone)."""
    return (dt.replace(tzinfo=UTC) - EPOCH) // _MS


def java_resolve(wall: int, zone: tzinfo) -> int:
    """Instant for a wall time, using the smaller offset in a DST gap/overlap (java.util.Calendar's rule)."""
    naive = datetime(1970, 1, 1) + wall * _MS
    off0 = naive.replace(tzinfo=zone, fold=0).utcoffset() or timedelta(0)
    off1 = naive.replace(tzinfo=zone, fold=1).utcoffset() or timedelta(0)
    return wall - min(off0, off1) // _MS


def wall_to_instant(wall: int, zone: tzinfo) -> int:
    """Earliest instant whose wall time is >= ``wall`` (first occurrence in overlaps, gap end in gaps)."""
    naive = datetime(1970, 1, 1) + wall * _MS
    aware = naive.replace(tzinfo=zone, fold=0)
    return (aware - EPOCH) // _MS


def offset_ms(ms: int, zone: tzinfo) -> int:
    """The zone's UTC offset at instant ``ms``, in ms."""
    return (local(ms, zone).utcoffset() or timedelta(0)) // _MS


def round_block(wall: int, unit: str, value: int) -> tuple[int, int]:
    """Wall-time [start, end) of the rounding block holding ``wall`` (TimestampRoundDownUtil's field floor)."""
    unit_ms, parent_ms = _UNIT_MS[unit], PARENT_MS[unit]
    parent_start = wall - wall % parent_ms
    field = (wall - parent_start) // unit_ms
    start = parent_start + (field - field % value) * unit_ms
    return start, min(start + value * unit_ms, parent_start + parent_ms)


def java_format(letter: str, dt: datetime) -> str:
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


def java_div(a: int, b: int) -> int:
    """Java's integer division (truncates toward zero)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def instant_ms(instant: datetime | int) -> int:
    """Epoch ms of an aware datetime (or an int epoch ms, returned as is); naive datetimes raise."""
    if isinstance(instant, datetime):
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"naive datetime {instant!r}: give an aware datetime or epoch ms")
        # Via a plain timedelta: subclasses such as pendulum's DateTime (Airflow's context dates) return
        # their own interval types, whose floor division does not accept a timedelta.
        delta = instant - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if isinstance(instant, bool) or not isinstance(instant, int):
        raise TypeError(f"instant must be an aware datetime or int epoch ms, got {instant!r}")
    return instant
