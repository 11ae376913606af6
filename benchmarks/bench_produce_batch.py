"""`make bench` part: confluent-kafka's ``Producer.produce_batch`` vs the ``produce()`` loop (issue 13, figure 4).

Same pre-built envelopes, same producer settings (the hook's defaults), fresh single-partition topics, medians of
``runs``, the three loops interleaved in each run (so a load change on a shared machine hits all of them). Each
is timed until every message is acknowledged, as wall time (events/s) and as the process's CPU time per event
(user + system, librdkafka's threads included: the figure that stays comparable when other work shares the CPU):

- ``produce()`` without a timestamp (the hook's default since the record timestamp is the produce time),
- ``produce()`` with ``timestamp=<event time>`` (the hook with ``kafka_timestamp="event"``),
- ``produce_batch`` in chunks of ``BATCH`` (no timestamps: confluent-kafka refuses them in batch mode, checked
  here and recorded; no headers either), the dicts built inside the timed loop, as the publish path does.

``run.py``'s ``raw_producer_events_per_s`` (its own ``produce()`` loop) stays the limit of ``replay_vs_raw``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

BATCH = 1_000  # the publish path's chunk (publishing._CHUNK)


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


def _timed(topic: str, n: int, send: Callable[[Any, str, _Acks], None]) -> tuple[float, float]:
    """(events/s, CPU µs per event) of ``send`` on a fresh producer until every message is acknowledged."""
    import run as base
    from confluent_kafka import Producer

    producer = Producer(base.producer_config())
    acks = _Acks()
    t0, c0 = time.perf_counter(), time.process_time()
    send(producer, topic, acks)
    left = producer.flush(120)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert left == 0 and acks.failed == 0 and acks.ok == n, (left, acks.failed, acks.ok, n)
    return n / dt, cpu / n * 1e6


def _loop(values: list[bytes], stamps: list[int] | None) -> Callable[[Any, str, _Acks], None]:
    """The ``produce()`` loop (as run.py's raw loop), with ``timestamp=`` the event time when ``stamps`` are given."""

    def send(producer: Any, topic: str, acks: _Acks) -> None:
        for i, v in enumerate(values):
            while True:
                try:
                    if stamps is None:
                        producer.produce(topic, v, on_delivery=acks)
                    else:
                        producer.produce(topic, v, timestamp=stamps[i], on_delivery=acks)
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


LOOPS = ("raw_produce", "raw_produce_with_timestamp", "raw_produce_batch")


def run(results: dict[str, Any], lines: list[bytes], runs: int) -> dict[str, Any]:
    """Measure the three loops ``runs`` times each (interleaved, fresh topic per run) and their ratios."""
    import run as base

    values, stamps = _values(lines)
    sends = dict(zip(LOOPS, (_loop(values, None), _loop(values, stamps), _batches(values)), strict=True))
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in LOOPS}
    for _ in range(runs):
        for name, send in sends.items():
            topic = f"bench-batch-{uuid.uuid4().hex[:8]}"
            base.create_topic(topic)
            try:
                samples[name].append(_timed(topic, len(values), send))
            finally:
                base.delete_topic(topic)
    out: dict[str, Any] = {
        "produce_batch_chunk": BATCH,
        "produce_batch_timestamp": batch_refuses_timestamps(),
        "produce_batch_load_avg_1_5_15": os.getloadavg(),
    }
    for name in LOOPS:
        out[f"{name}_events_per_s"] = statistics.median(s[0] for s in samples[name])
        out[f"{name}_cpu_us_per_event"] = statistics.median(s[1] for s in samples[name])
        out[f"{name}_runs"] = samples[name]
    for name in LOOPS[1:]:
        short = name.removeprefix("raw_")
        out[f"{short}_vs_produce"] = out[f"{name}_events_per_s"] / out["raw_produce_events_per_s"]
        out[f"{short}_cpu_vs_produce"] = out[f"{name}_cpu_us_per_event"] / out["raw_produce_cpu_us_per_event"]
    raw = results.get("raw_producer_events_per_s")
    if raw:  # run.py's own produce() loop, measured before this part
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
