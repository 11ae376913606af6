"""The seed's story on the real stack: event time vs ingestion time, as real Flume 1.11.0 files it."""

from __future__ import annotations

import io
import time
import uuid
from datetime import datetime, timezone

import fastavro
import pytest

pytestmark = pytest.mark.e2e

# The reference encoding of Flume's AvroFlumeEvent, straight from fastavro: independent of our codec.
_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "AvroFlumeEvent",
        "namespace": "org.apache.flume.source.avro",
        "fields": [{"name": "headers", "type": {"type": "map", "values": "string"}}, {"name": "body", "type": "bytes"}],
    }
)


def _fastavro_envelope(headers: dict[str, str], body: bytes) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, _SCHEMA, {"headers": headers, "body": body})
    return buf.getvalue()


def test_envelope_with_event_time_lands_in_the_day_it_happened(stack) -> None:
    body = f"order-created {uuid.uuid4()} at 2019-08-01T23:59:59Z".encode()
    stack.produce("flume-events", [_fastavro_envelope({"timestamp": "1564703999000"}, body)])

    lines = stack.wait_for(
        lambda: body in stack.read_lines("/flume/events/2019-08-01") and stack.read_lines("/flume/events/2019-08-01"),
        timeout=90,
        what="Flume to write the 23:59:59 event under /flume/events/2019-08-01",
    )
    assert lines.count(body) == 1
    # And not in the next day's directory, where ingestion time would have put it.
    assert body not in stack.read_lines("/flume/events/2019-08-02")


def test_plain_message_is_filed_by_ingestion_time(stack) -> None:
    body = f"plain {uuid.uuid4()} happened 2019-08-01T23:59:59Z".encode()
    before = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    stack.produce("flume-raw", [body])
    after = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    days = sorted({before, after})

    def where() -> list[str]:
        return [d for d in days if body in stack.read_lines(f"/flume/raw/{d}")]

    found = stack.wait_for(where, timeout=90, what="Flume to write the plain message under today's directory")
    assert found and found[0] in days
    assert body not in stack.read_lines("/flume/raw/2019-08-01")


def test_flume_keeps_every_header_timestamp_even_for_a_late_batch(stack) -> None:
    """Twenty events 10 ms apart straddling midnight: each goes to its own day, none by arrival time."""
    run = uuid.uuid4().hex[:8]
    midnight_ms = int(datetime(2019, 8, 2, tzinfo=timezone.utc).timestamp() * 1000)
    events = [(midnight_ms + (i - 10) * 10, f"{run}-{i}".encode()) for i in range(20)]
    stack.produce("flume-events", [_fastavro_envelope({"timestamp": str(ts)}, b) for ts, b in events])
    time.sleep(1)

    def both_days() -> tuple[list[bytes], list[bytes]] | None:
        d1 = [x for x in stack.read_lines("/flume/events/2019-08-01") if x.startswith(run.encode())]
        d2 = [x for x in stack.read_lines("/flume/events/2019-08-02") if x.startswith(run.encode())]
        return (d1, d2) if len(d1) + len(d2) == 20 else None

    d1, d2 = stack.wait_for(both_days, timeout=90, what="all 20 midnight events in HDFS")
    assert sorted(d1) == sorted(b for ts, b in events if ts < midnight_ms)
    assert sorted(d2) == sorted(b for ts, b in events if ts >= midnight_ms)
