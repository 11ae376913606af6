"""The core codec and path engine against real Flume 1.11.0: each envelope lands where render_path says."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from airflow_flume_provider.bucketpath import render_path
from airflow_flume_provider.envelope import encode_event
from airflow_flume_provider.flume_config import load_flume_config

pytestmark = pytest.mark.e2e


def _unique_day(rng: random.Random) -> datetime:
    return datetime(2001, 1, 1, tzinfo=timezone.utc) + timedelta(days=rng.randrange(15 * 365))


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _boundary_times(day: datetime, zone_offset: timedelta) -> list[int]:
    """Instants at and around the local midnight that ends `day`, and around local hour and :30 marks."""
    midnight = day + timedelta(days=1) - zone_offset  # local midnight, as a UTC instant
    out = []
    for base in (midnight, midnight - timedelta(hours=5), midnight + timedelta(hours=13, minutes=30)):
        out += [_ms(base) - 1, _ms(base), _ms(base) + 1, _ms(base) - 1000, _ms(base) + 999]
    out += [_ms(midnight - timedelta(minutes=30)) - 1, _ms(midnight - timedelta(minutes=30))]
    return out


@pytest.mark.parametrize(
    ("sink", "topic", "offset"),
    [("k_events", "flume-events", timedelta(0)), ("k_tz", "flume-tz", timedelta(hours=5, minutes=30))],
)
def test_envelopes_land_where_render_path_predicts(stack, sink: str, topic: str, offset: timedelta) -> None:
    settings = load_flume_config(stack.flume_conf).hdfs_sink(stack.agent, sink)
    run = uuid.uuid4().hex[:10]
    rng = random.Random(run)
    times = _boundary_times(_unique_day(rng), offset)
    assert len(times) >= 8
    expected: dict[bytes, str] = {}
    values = []
    for i, ms in enumerate(times):
        headers = {"timestamp": str(ms), "eventId": f"{run}-{i}"}
        body = f"{run}-{i} {ms}".encode()
        expected[body] = render_path(
            settings.path_template,
            headers,
            time_zone=settings.time_zone or "UTC",
            need_rounding=settings.round,
            round_unit=settings.round_unit,
            round_value=settings.round_value,
        )
        values.append(encode_event(headers, body))
    stack.produce(topic, values)
    directories = sorted(set(expected.values()))
    # The zone and rounding really matter here: distinct directories across the boundaries.
    assert len(directories) >= 2, directories

    def found() -> dict[bytes, list[str]] | None:
        where: dict[bytes, list[str]] = {}
        for d in directories:
            for line in stack.read_lines(d):
                if line in expected:
                    where.setdefault(line, []).append(d)
        return where if len(where) == len(expected) else None

    where = stack.wait_for(found, timeout=120, what=f"{len(expected)} events in {directories}")
    assert {body: dirs for body, dirs in where.items()} == {body: [d] for body, d in expected.items()}


def test_tz_sink_example_matches_flume() -> None:
    """A fixed example for the README: 2019-08-01T23:59:59Z in Asia/Kolkata, rounded down to 30 minutes."""
    assert (
        render_path(
            "/flume/tz/%Y-%m-%d/%H%M",
            {"timestamp": "1564703999000"},
            time_zone="Asia/Kolkata",
            need_rounding=True,
            round_unit="minute",
            round_value=30,
        )
        == "/flume/tz/2019-08-02/0500"
    )
