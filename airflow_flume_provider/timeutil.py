"""Time formatting and parsing shared by every module: the one owner of epoch ms <-> ISO-8601 text.

No Airflow imports. Formats are fixed so logs, manifests and markers compare as text:
``iso_ms`` gives ``2019-08-01T23:59:59.123Z`` and ``iso_s`` gives ``2019-08-01T23:59:59Z``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["iso_ms", "iso_s", "to_ms"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def iso_ms(ms: int | None) -> str | None:
    """Epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC); None stays None."""
    if ms is None:
        return None
    try:
        moment = _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return f"{ms} ms (out of datetime range)"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_s(seconds: float | None) -> str | None:
    """Epoch seconds (e.g. ``time.time()`` or an HDFS mtime / 1000) as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    if seconds is None:
        return None
    try:
        moment = _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:
        return f"{seconds} s (out of datetime range)"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_ms(value: Any, what: str) -> int:
    """Epoch ms from an int (ms), datetime or ISO-8601 string (UTC when no offset).

    :param what: the parameter's name, used in the error (e.g. ``"start"``).
    :raises ValueError: naming ``what`` and the value.
    """
    from airflow_flume_provider.event_time import InvalidEventTime, to_epoch_ms

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return to_epoch_ms(value, unit="ms", assume_tz="UTC")
    except (InvalidEventTime, ValueError, TypeError) as exc:
        raise ValueError(f"{what}: {exc}") from None
