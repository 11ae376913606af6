#!/usr/bin/env python3
"""`make demo`: the 23:59:59 story on the real stack, read back from HDFS.

Events that happened seconds around midnight UTC on 2019-08-01 are published twice:
as Flume envelopes whose `timestamp` header is the event time (topic flume-events), and as plain
values (topic flume-raw), which Flume files by the time they reach it. The demo waits for real
Flume 1.11.0 to write both, reads the HDFS day directories back through WebHDFS, prints where
each event landed, and exits non-zero if any envelope is in the wrong day.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stackctl
from confluent_kafka import Producer

from airflow_flume_provider.envelope import encode_event
from airflow_flume_provider.event_time import timestamp_header

EVENT_ROOT = "/flume/events"
RAW_ROOT = "/flume/raw"
SEED = datetime(2019, 8, 1, 23, 59, 59, tzinfo=timezone.utc)


def _list(path: str) -> list[str]:
    url = f"{stackctl.WEBHDFS_URL}/webhdfs/v1{path}?op=LISTSTATUS&user.name={stackctl.HDFS_USER}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            statuses = json.load(resp)["FileStatuses"]["FileStatus"]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    return [f"{path}/{s['pathSuffix']}" for s in statuses if not s["pathSuffix"].startswith("_")]


def _read(path: str) -> bytes:
    url = f"{stackctl.WEBHDFS_URL}/webhdfs/v1{path}?op=OPEN&user.name={stackctl.HDFS_USER}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read()


def _where(root: str, days: list[str], bodies: set[bytes]) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for day in days:
        for path in _list(f"{root}/{day}"):
            for line in _read(path).splitlines():
                if line in bodies:
                    found[line] = day
    return found


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def main() -> int:
    run = uuid.uuid4().hex[:8]
    offsets = [-2.0, -1.0, -0.001, 0.0, 0.999, 1.0, 2.0]  # seconds around the seed's 23:59:59
    events = []
    for i, off in enumerate(offsets):
        when = SEED + timedelta(seconds=off)
        body = json.dumps({"id": f"{run}-{i}", "activity_time": _iso(when)}).encode()
        events.append((when, body))

    producer = Producer({"bootstrap.servers": stackctl.BOOTSTRAP, "acks": "all", "enable.idempotence": True})
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for when, body in events:
        ms = int(when.timestamp() * 1000)
        producer.produce(
            "flume-events", encode_event({"timestamp": timestamp_header(ms)}, body), on_delivery=on_delivery
        )
        producer.produce("flume-raw", body, on_delivery=on_delivery)
    left = producer.flush(30)
    if left or failures:
        print(f"publishing failed: {left} unacknowledged, errors: {failures[:3]}", file=sys.stderr)
        return 1
    print(f"published {len(events)} events twice (envelope -> flume-events, plain -> flume-raw), run {run}")

    bodies = {b for _, b in events}
    event_days = sorted({w.strftime("%Y-%m-%d") for w, _ in events})
    today = datetime.now(timezone.utc)
    raw_days = sorted({(today + timedelta(days=d)).strftime("%Y-%m-%d") for d in (-1, 0)})
    deadline = time.monotonic() + 120
    while True:
        by_event_time = _where(EVENT_ROOT, event_days, bodies)
        by_ingestion = _where(RAW_ROOT, raw_days, bodies)
        if len(by_event_time) == len(bodies) and len(by_ingestion) == len(bodies):
            break
        if time.monotonic() > deadline:
            print(f"timed out: {len(by_event_time)}/{len(bodies)} envelopes and {len(by_ingestion)}/{len(bodies)} "
                  f"plain events found in HDFS; logs in {stackctl.LOGS}", file=sys.stderr)  # fmt: skip
            return 1
        time.sleep(1)

    wrong = 0
    print()
    print(f"{'event time (UTC)':<26} {'envelope: HDFS dir':<28} {'plain: HDFS dir (ingestion)':<32} ok")
    for when, body in events:
        expected = when.strftime("%Y-%m-%d")
        got = by_event_time[body]
        ok = got == expected
        wrong += not ok
        print(f"{_iso(when):<26} {EVENT_ROOT + '/' + got:<28} "
              f"{RAW_ROOT + '/' + by_ingestion[body]:<32} {'yes' if ok else 'NO'}")  # fmt: skip
    print()
    print(
        f"envelopes in the day they happened: {len(events) - wrong}/{len(events)}; "
        f"plain events filed by arrival: {len(events)} in {sorted(set(by_ingestion.values()))}"
    )
    print(f"read back through WebHDFS {stackctl.WEBHDFS_URL}; stack logs in {stackctl.LOGS}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
