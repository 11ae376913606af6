"""`make bench` part: confluent-kafka's ``Producer.produce_batch`` vs the ``produce()`` loop (issue 13, figure 4).

Same pre-built envelopes, same producer settings (the hook's defaults), fresh single-partition topics, medians of
``runs``. Three loops are timed until every message is acknowledged:

- ``produce()`` with ``timestamp=<event time>`` (what the publish path does today),
- ``produce_batch`` in chunks of ``BATCH`` (no timestamps: confluent-kafka refuses them in batch mode, checked
  here and recorded; no headers either), the dicts built inside the timed loop,
- the plain ``produce()`` loop without timestamps is ``run.py``'s ``raw_producer_events_per_s``.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

BATCH = 10_000


def _values(lines: list[bytes]) -> tuple[list[bytes], list[int]]:
    """The envelopes (as run.py's raw loop builds them) and each event's time in epoch ms."""
    import run as base

    from airflow_flume_provider.envelope import encode_event

    values, stamps = [], []
    for line in lines:
        headers, body = base._envelope_parts(line)
        values.append(encode_event(headers, body))
        stamps.append(int(headers["timestamp"]))
    return values, stamps


class _Acks:
    """Delivery-report tally shared by the loops."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0

    def __call__(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.ok += 1
        else:
            self.failed += 1


def _timed(topic: str, n: int, send: Callable[[Any, str, _Acks], None]) -> float:
    """events/s of ``send`` on a fresh producer until every message is acknowledged."""
    import run as base
    from confluent_kafka import Producer

    producer = Producer(base.producer_config())
    acks = _Acks()
    t0 = time.perf_counter()
    send(producer, topic, acks)
    left = producer.flush(120)
    dt = time.perf_counter() - t0
    assert left == 0 and acks.failed == 0 and acks.ok == n, (left, acks.failed, acks.ok, n)
    return n / dt


def _loop_with_timestamps(values: list[bytes], stamps: list[int]) -> Callable[[Any, str, _Acks], None]:
    def send(producer: Any, topic: str, acks: _Acks) -> None:
        for v, ts in zip(values, stamps, strict=True):
            while True:
                try:
                    producer.produce(topic, v, timestamp=ts, on_delivery=acks)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)

    return send


def _batches(values: list[bytes]) -> Callable[[Any, str, _Acks], None]:
    def send(producer: Any, topic: str, acks: _Acks) -> None:
        for start in range(0, len(values), BATCH):
            pending = [{"value": v} for v in values[start : start + BATCH]]
            while pending:
                queued = producer.produce_batch(topic, pending, on_delivery=acks)
                if queued == len(pending):
                    break
                # Messages the full queue refused carry '_error'; wait for room and send those again.
                pending = [m for m in pending if "_error" in m]
                for m in pending:
                    del m["_error"]
                producer.poll(0.05)
            producer.poll(0)

    return send


def batch_refuses_timestamps() -> str:
    """What ``produce_batch`` does with a per-message ``timestamp`` (REFERENCE.md: NotImplementedError)."""
    import run as base
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": base.stackctl.BOOTSTRAP})
    try:
        producer.produce_batch(f"bench-none-{uuid.uuid4().hex[:6]}", [{"value": b"x", "timestamp": 1}])
    except Exception as exc:  # noqa: BLE001 - recorded, whatever it is
        return f"{type(exc).__name__}: {exc}"
    finally:
        producer.purge()
    return "accepted"


def run(results: dict[str, Any], lines: list[bytes], runs: int) -> dict[str, Any]:
    """Measure both loops ``runs`` times each (fresh topic per run) and the ratios to the raw loop."""
    import run as base

    values, stamps = _values(lines)
    out: dict[str, Any] = {
        "produce_batch_chunk": BATCH,
        "produce_batch_timestamp": batch_refuses_timestamps(),
    }
    for key, send in (
        ("raw_produce_with_timestamp_events_per_s", _loop_with_timestamps(values, stamps)),
        ("raw_produce_batch_events_per_s", _batches(values)),
    ):
        samples = []
        for _ in range(runs):
            topic = f"bench-batch-{uuid.uuid4().hex[:8]}"
            base.create_topic(topic)
            try:
                samples.append(_timed(topic, len(values), send))
            finally:
                base.delete_topic(topic)
        out[key], out[key.replace("_events_per_s", "_runs")] = statistics.median(samples), samples
    raw = results.get("raw_producer_events_per_s")
    if raw:
        out["produce_batch_vs_raw"] = out["raw_produce_batch_events_per_s"] / raw
        out["produce_with_timestamp_vs_raw"] = out["raw_produce_with_timestamp_events_per_s"] / raw
    return out


if __name__ == "__main__":  # stand-alone: python benchmarks/bench_produce_batch.py [events] [runs]
    import sys

    import run as base

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    data = base.make_jsonl(base.WORK / f"events-{n}.jsonl", n).read_bytes().splitlines()
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    raw: list[float] = []
    for _ in range(runs):
        topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
        base.create_topic(topic)
        try:
            raw.append(base.bench_raw(data, topic))
        finally:
            base.delete_topic(topic)
    got = {"raw_producer_events_per_s": statistics.median(raw), "raw_producer_runs": raw}
    print(json.dumps({**got, **run(got, data, runs)}, indent=2))
