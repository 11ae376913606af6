"""airflow-flume CLI against the real stack: inspect a topic and real Flume output, partition-status."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import stackctl

from airflow_flume_provider.envelope import encode_event

pytestmark = pytest.mark.e2e

CLI = [str(Path(sys.executable).with_name("airflow-flume"))]
WEBHDFS = stackctl.WEBHDFS_URL.replace("://", f"://{stackctl.HDFS_USER}@")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def _day() -> datetime:
    rng = random.Random(uuid.uuid4().hex)
    return datetime(2001, 1, 1, tzinfo=timezone.utc) + timedelta(days=rng.randrange(15 * 365))


def test_inspect_topic_decodes_envelopes_and_flags_a_poison_timestamp(stack) -> None:
    topic = f"cli-inspect-{uuid.uuid4().hex[:8]}"
    stack.create_topic(topic)
    stack.produce(
        topic,
        [
            encode_event({"timestamp": "1564703999000", "eventId": "a1"}, b'{"id":"a1"}'),
            encode_event({"timestamp": "not-a-number"}, b"poison"),
        ],
    )
    out = cli("inspect", "--topic", topic, "--bootstrap", stack.bootstrap, "--flume-conf", str(stack.flume_conf),
              "--agent", "agent", "--sink", "k_events")  # fmt: skip
    assert out.returncode == 1, out.stderr  # one event has an invalid timestamp header
    assert "event time: 2019-08-01T23:59:59.000Z" in out.stdout
    assert "partition: /flume/events/2019-08-01" in out.stdout
    assert "eventId: a1" in out.stdout
    assert "INVALID timestamp header 'not-a-number'" in out.stdout
    assert "2 event(s), 1 with an invalid timestamp header" in out.stdout


def test_inspect_unknown_topic_is_a_usage_error(stack) -> None:
    out = cli("inspect", "--topic", f"no-such-{uuid.uuid4().hex[:6]}", "--bootstrap", stack.bootstrap)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "--topic" in out.stderr


@pytest.mark.parametrize(("topic", "root", "has_headers"), [("flume-seq", "/flume/seq", True),
                                                            ("flume-avro", "/flume/avro", True),
                                                            ("flume-events", "/flume/events", False)])  # fmt: skip
def test_inspect_real_flume_output(stack, topic: str, root: str, has_headers: bool) -> None:
    day = _day()
    ms = int((day + timedelta(hours=12)).timestamp() * 1000)
    body = f"cli-{uuid.uuid4().hex}".encode()
    stack.produce(topic, [encode_event({"timestamp": str(ms), "eventId": "x1"}, body)])
    directory = f"{root}/{day:%Y-%m-%d}"
    files = stack.wait_for(lambda: stack.finished_files(directory), timeout=90, what=f"a finished file in {directory}")
    out = cli("inspect", f"hdfs://{stack.namenode}{files[0]}", "--conn-id", "webhdfs_default", "--flume-conf",
              str(stack.flume_conf), "--agent", "agent", "--sink", "k_events")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert body.decode() in out.stdout
    if has_headers:
        assert f"timestamp: {ms}" in out.stdout
        assert f"partition: /flume/events/{day:%Y-%m-%d}" in out.stdout
    else:
        assert "not stored in this file format" in out.stdout


def test_partition_status_ready_and_not_ready(stack) -> None:
    day = _day()
    run = uuid.uuid4().hex[:8]
    n = 25
    base = int((day + timedelta(hours=6)).timestamp() * 1000)
    stack.produce("flume-events", [encode_event({"timestamp": str(base + i)}, f"{run}-{i}".encode()) for i in range(n)])
    # And one event in the next day, so Flume has moved past the partition (the watermark check).
    nxt = int((day + timedelta(days=1, hours=1)).timestamp() * 1000)
    stack.produce("flume-events", [encode_event({"timestamp": str(nxt)}, f"{run}-next".encode())])
    directory = f"/flume/events/{day:%Y-%m-%d}"
    stack.wait_for(lambda: len(stack.read_lines(directory)) == n, timeout=90, what=f"{n} events in {directory}")
    stack.wait_for(lambda: stack.finished_files(f"/flume/events/{day + timedelta(days=1):%Y-%m-%d}"), timeout=90,
                   what="the next day's file")  # fmt: skip
    common = ["partition-status", "--flume-conf", str(stack.flume_conf), "--agent", "agent", "--sink", "k_events",
              "--date", f"{day:%Y-%m-%d}", "--webhdfs", WEBHDFS, "--quiet-period", "0"]  # fmt: skip

    ready = cli(*common, "--expected", str(n))
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "READY" in ready.stdout and "NOT READY" not in ready.stdout
    assert "PASS count" in ready.stdout

    short = cli(*common, "--expected", str(n + 5))
    assert short.returncode == 1, short.stdout + short.stderr
    assert "FAIL count" in short.stdout and "NOT READY" in short.stdout

    missing = cli(*common[:-6], "--date", f"{day - timedelta(days=400):%Y-%m-%d}", "--webhdfs", WEBHDFS, "--json")
    assert missing.returncode == 1
    report = json.loads(missing.stdout)
    assert report["ready"] is False and any(c["name"] == "exists" and not c["ok"] for c in report["checks"])


def test_partition_status_namenode_unreachable_is_exit_2() -> None:
    out = cli("partition-status", "--template", "/flume/events/%Y-%m-%d", "--date", "2019-08-01",
              "--webhdfs", "http://127.0.0.1:9")  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr  # broken (2), not "not ready yet" (1)
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1
    assert out.stdout.rstrip().endswith("ERROR (WebHDFS failing)")
