"""Event time extraction and the on_invalid policies."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import airflow_flume_provider.epoch_ms as et
from airflow_flume_provider.event_time import (
    MAX_EVENT_MS,
    MIN_EVENT_MS,
    ON_INVALID_POLICIES,
    EventTimeResolver,
    InvalidEventTime,
    timestamp_header,
    to_epoch_ms,
)

T = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z


def test_constants() -> None:
    assert MIN_EVENT_MS == 0
    assert datetime.fromtimestamp(MAX_EVENT_MS / 1000, timezone.utc) == datetime(
        2100, 1, 1, tzinfo=timezone.utc
    )
    assert ON_INVALID_POLICIES == ("fail", "skip", "now")


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1_700_000_000, "s", 1_700_000_000_000),
        (T, "ms", T),
        (T * 1000 + 999, "us", T),
        (T * 1_000_000 + 999_999, "ns", T),
        (1_700_000_000.123, "s", T),
        (1_700_000_000.1239, "s", T),
        (Decimal("1700000000.123"), "s", T),
        (1_700_000_000, "auto", 1_700_000_000_000),
        (T, "auto", T),
        (T * 1000, "auto", T),
        (T * 1_000_000, "auto", T),
        (99_999_999_999, "auto", 99_999_999_999_000),  # just below 1e11: seconds (year 5138 -> range)
        (100_000_000_000, "auto", 100_000_000_000),  # 1e11: milliseconds (1973-03-03)
        ("1700000000", "auto", 1_700_000_000_000),
        (" 1700000000123 ", "auto", T),
        ("1.700000000123e9", "s", T),
        ("+1700000000", "s", 1_700_000_000_000),
        (0, "ms", 0),
    ],
)
def test_numbers_and_units(value: object, unit: str, expected: int) -> None:
    if expected >= MAX_EVENT_MS:
        with pytest.raises(InvalidEventTime, match="outside the allowed range"):
            to_epoch_ms(value, unit=unit)
    else:
        assert to_epoch_ms(value, unit=unit) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20.123Z", T),
        ("2023-11-14T22:13:20.123z", T),
        ("2023-11-15T03:43:20.123+05:30", T),
        ("2023-11-14T17:13:20.123-05:00", T),
        ("2023-11-14T22:13:20.123456Z", T),
        ("2023-11-14T22:13:20.1239Z", T),  # 4 fraction digits (needs normalising on 3.10)
        ("2023-11-15T07:13:20.123+0900", T),  # offset without colon
        ("2023-11-14 22:13:20.123+00:00", T),
        ("2023-11-14T22:13:20Z", T - 123),
    ],
)
def test_iso_strings(text: str, expected: int) -> None:
    assert to_epoch_ms(text) == expected


def test_datetimes_aware_naive_and_dates() -> None:
    aware = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
    assert to_epoch_ms(aware) == T
    assert to_epoch_ms(aware.astimezone(ZoneInfo("Asia/Kolkata"))) == T
    naive = datetime(2023, 11, 15, 3, 43, 20, 123000)
    with pytest.raises(InvalidEventTime, match=r"naive date-time .* set assume_tz"):
        to_epoch_ms(naive)
    assert to_epoch_ms(naive, assume_tz="Asia/Kolkata") == T
    assert to_epoch_ms(naive, assume_tz=ZoneInfo("Asia/Kolkata")) == T
    assert to_epoch_ms("2023-11-14T22:13:20.123", assume_tz="UTC") == T
    with pytest.raises(InvalidEventTime, match="naive"):
        to_epoch_ms("2023-11-14T22:13:20.123")
    assert to_epoch_ms(date(2024, 1, 1), assume_tz="UTC") == 1_704_067_200_000
    with pytest.raises(InvalidEventTime, match="unknown assume_tz 'Mars/Base'"):
        to_epoch_ms(naive, assume_tz="Mars/Base")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (True, "bool"),
        (False, "bool"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (Decimal("NaN"), "finite"),
        (None, "missing"),
        ("", "empty"),
        ("   ", "empty"),
        ("yesterday", "not an epoch number or ISO-8601"),
        ("12:00", "not an epoch number or ISO-8601"),
        ([1], "unsupported event time type list"),
        (-1, "outside the allowed range"),
        ("1969-12-31T23:59:59.999Z", "outside the allowed range"),
        ("2100-01-01T00:00:00Z", "outside the allowed range"),
        (MAX_EVENT_MS, "outside the allowed range"),
    ],
)
def test_invalid_values(value: object, match: str) -> None:
    with pytest.raises(InvalidEventTime, match=match):
        to_epoch_ms(value, unit="ms" if isinstance(value, int) else "auto")


def test_range_is_configurable_and_half_open() -> None:
    assert to_epoch_ms(MAX_EVENT_MS - 1, unit="ms") == MAX_EVENT_MS - 1
    assert to_epoch_ms(-5000, unit="ms", min_ms=-10_000) == -5000
    with pytest.raises(InvalidEventTime, match=r"\[1000 \(1970-01-01T00:00:01Z\)"):
        to_epoch_ms(999, unit="ms", min_ms=1000)
    with pytest.raises(ValueError, match="unit must be one of"):
        to_epoch_ms(1, unit="minutes")


def test_invalid_event_time_is_value_error() -> None:
    assert issubclass(InvalidEventTime, ValueError)


def test_timestamp_header() -> None:
    assert timestamp_header(T) == "1700000000123"
    assert timestamp_header(0) == "0"
    for bad in (True, 1.5, "1"):
        with pytest.raises(TypeError):
            timestamp_header(bad)  # type: ignore[arg-type]


def test_resolver_dotted_path_and_fail_policy() -> None:
    r = EventTimeResolver("activity.time")
    assert r.resolve({"activity": {"time": "2023-11-14T22:13:20.123Z"}}, position="rec 0") == T
    with pytest.raises(InvalidEventTime) as exc_info:
        r.resolve({"activity": {"time": "garbage"}}, position="file a.jsonl line 7")
    msg = str(exc_info.value)
    assert "file a.jsonl line 7" in msg and "'activity.time'" in msg and "'garbage'" in msg
    with pytest.raises(InvalidEventTime, match=r"line 8.*field 'activity\.time' is missing"):
        r.resolve({"activity": {}}, position="line 8")
    with pytest.raises(InvalidEventTime, match="activity is str, not a mapping"):
        r.resolve({"activity": "x"}, position="line 9")
    assert r.counts == {"valid": 1, "skipped": 0, "now": 0}


def test_resolver_skip_policy_counts_and_reason() -> None:
    r = EventTimeResolver("ts", on_invalid="skip", unit="s")
    assert r.resolve({"ts": 1_700_000_000}, position="#1") == 1_700_000_000_000
    assert r.resolve({"ts": None}, position="#2") is None
    assert r.last_error is not None and "#2" in r.last_error and "'ts'" in r.last_error
    assert r.resolve({}, position="#3") is None
    assert "missing" in (r.last_error or "")
    assert r.counts == {"valid": 1, "skipped": 2, "now": 0}
    assert r.summary() == "event times: 1 valid, 2 skipped, 0 set to now"


def test_resolver_now_policy_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    r = EventTimeResolver(lambda rec: rec["when"], on_invalid="now", clock=lambda: 1_700_000_000.5)
    with caplog.at_level(logging.WARNING):
        assert r.resolve({"when": "bad"}, position="#1") == 1_700_000_000_500
        assert r.resolve({}, position="#2") == 1_700_000_000_500  # callable raised KeyError
        assert r.resolve({"when": T}, position="#3") == T
    warnings = [rec for rec in caplog.records if "on_invalid='now'" in rec.getMessage()]
    assert len(warnings) == 1
    assert r.counts == {"valid": 1, "skipped": 0, "now": 2}


def test_resolver_kafka_timestamp() -> None:
    for source in (None, "kafka"):
        r = EventTimeResolver(source, on_invalid="skip")
        assert r.uses_kafka_timestamp
        assert r.resolve(b"raw", position="p0@5", kafka_timestamp_ms=T) == T
        assert r.resolve(b"raw", position="p0@6", kafka_timestamp_ms=None) is None
        assert "p0@6" in (r.last_error or "")
        # Kafka timestamps are always milliseconds: a small value is not reinterpreted as seconds.
        assert r.resolve(b"raw", position="p0@7", kafka_timestamp_ms=5_000) == 5_000


def test_resolver_callable_with_assume_tz_and_custom_range() -> None:
    r = EventTimeResolver(
        lambda rec: rec[0], assume_tz="Asia/Kolkata", min_ms=0, max_ms=T + 1, on_invalid="skip"
    )
    assert r.resolve((datetime(2023, 11, 15, 3, 43, 20, 123000),), position="0") == T
    assert r.resolve((datetime(2023, 11, 15, 3, 43, 20, 124000),), position="1") is None
    assert r.resolve((datetime(2023, 11, 15, 3, 43, 20) - timedelta(days=1),), position="2") is not None


def test_resolver_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="on_invalid"):
        EventTimeResolver("a", on_invalid="ignore")
    with pytest.raises(ValueError, match="unit"):
        EventTimeResolver("a", unit="days")
    with pytest.raises(ValueError, match="empty segment"):
        EventTimeResolver("a..b")
    with pytest.raises(ValueError, match="min_ms"):
        EventTimeResolver("a", min_ms=10, max_ms=10)
    with pytest.raises(TypeError, match="source"):
        EventTimeResolver(42)  # type: ignore[arg-type]


# -- fast paths: every value they accept must give exactly what the general path gives ------------------------
_DIGITS = "0123456789"


def _general_str_ms(text: str) -> int | None:
    """The general ISO path of to_epoch_ms (no range check), or None when it rejects the text."""
    try:
        return et._datetime_to_ms(et._parse_iso(text.strip()), None, text)
    except (InvalidEventTime, ValueError, OverflowError):
        return None


@st.composite
def _iso_like(draw: st.DrawFn) -> str:
    """Strings near the fast form: valid ones, and ones off by a digit, a separator or a length."""
    year = draw(st.integers(0, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, sec = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    frac = draw(st.text(_DIGITS, max_size=11))
    dot = draw(st.sampled_from([".", ".", ",", ""]))
    end = draw(st.sampled_from(["Z", "Z", "z", "+00:00", "", " "]))
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{sec:02d}{dot}{frac}{end}"
    if draw(st.booleans()):  # mutate one character
        i = draw(st.integers(0, len(text) - 1))
        text = (
            text[:i]
            + draw(st.sampled_from([*_DIGITS, " ", "T", ":", "-", ".", "Z", "\u0663", "\u00b2"]))
            + text[i + 1 :]
        )
    return text


@settings(max_examples=3000, deadline=None)
@given(_iso_like())
def test_fast_iso_path_equals_general_path(text: str) -> None:
    et.MINUTE_CACHE.clear()
    fast = et.fast_iso_ms(text)
    if fast is not None:
        assert fast == _general_str_ms(text), text
        assert et.fast_iso_ms(text) == fast  # cached prefix gives the same
    expected = _general_str_ms(text)
    if expected is not None and MIN_EVENT_MS <= expected < MAX_EVENT_MS:
        assert to_epoch_ms(text) == expected
    else:
        with pytest.raises(InvalidEventTime):
            to_epoch_ms(text)


def test_fast_iso_path_covers_the_common_forms() -> None:
    assert et.fast_iso_ms("2023-11-14T22:13:20.123Z") == T
    assert et.fast_iso_ms("2023-11-14T22:13:20Z") == T - 123
    assert et.fast_iso_ms("2023-11-14T22:13:20.1239Z") == T
    assert et.fast_iso_ms("2023-11-14T22:13:20.1Z") == T - 23
    assert et.fast_iso_ms("2023-11-14T22:13:20.123+00:00") is None  # general path
    assert et.fast_iso_ms("2023-02-30T22:13:20.123Z") is None
    with pytest.raises(InvalidEventTime, match="not an epoch number or ISO-8601"):
        to_epoch_ms("2023-02-30T22:13:20.123Z")


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.integers(-(10**19), 10**19),
        st.integers(-(10**14), 10**14),
        st.sampled_from([10**11 - 1, 10**11, 10**14 - 1, 10**14, 10**17 - 1, 10**17, -(10**11), -1, 0]),
    ),
    st.sampled_from(["auto", "s", "ms", "us", "ns"]),
)
def test_fast_int_path_equals_decimal_path(value: int, unit: str) -> None:
    fast = et.fast_int_ms(value, unit)
    if fast is not None:
        assert fast == et._number_to_ms(Decimal(value), unit)


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        _iso_like(),
        st.integers(-(10**19), 10**19),
        st.floats(allow_nan=True),
        st.none(),
        st.booleans(),
        st.text(max_size=30),
    ),
    st.sampled_from(["auto", "s", "ms"]),
    st.sampled_from(["ts", "a.ts"]),
)
def test_resolve_fast_agrees_with_resolve(value: object, unit: str, field: str) -> None:
    record: dict[str, object] = {"ts": value} if field == "ts" else {"a": {"ts": value}}
    fast = EventTimeResolver(field, unit=unit, on_invalid="skip")
    slow = EventTimeResolver(field, unit=unit, on_invalid="skip")
    slow.resolve_fast = lambda *a, **k: None  # type: ignore[method-assign]  # force the general path
    got = fast.resolve_fast(record)
    expected = slow.resolve(record, position="p")
    if got is not None:
        assert got == expected
        assert fast.counts == {"valid": 1, "skipped": 0, "now": 0}
    assert fast.resolve(record, position="p") == expected


def test_resolve_fast_kafka_timestamp_and_limits() -> None:
    r = EventTimeResolver("kafka")
    assert r.resolve_fast(b"raw", 5_000) == 5_000
    assert r.resolve_fast(b"raw", None) is None
    assert r.resolve_fast(b"raw", -1) is None  # out of range: resolve() names the error
    assert EventTimeResolver(lambda rec: rec).resolve_fast(T) is None  # callables: general path
    assert EventTimeResolver("ts", max_ms=T).resolve_fast({"ts": T}) is None
