"""``airflow-flume replay`` against the real stack, in a pseudo-terminal: a JSONL file -> Kafka -> Flume 1.11 -> HDFS.

The console script runs as a user runs it from a shell (a terminal, ``--kafka-bootstrap``, the stack's Flume
config); the live bar must show real acknowledgements, the manifest must match what Flume wrote in HDFS (each
event in exactly its day), and running it again with the same ``--resume DIR`` sends nothing.
"""

from __future__ import annotations

import json
import os
import pty
import random
import re
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import stackctl
from test_replay_stack import check_days, day_path, make_events, unique_day

from airflow_flume_provider.hdfs_client import HdfsClient

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).with_name("airflow-flume"))
WEBHDFS = stackctl.WEBHDFS_URL.replace("://", f"://{stackctl.HDFS_USER}@")


def run_in_pty(argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdout and stderr; its exit code and everything it wrote."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(TERM="xterm-256color", COLUMNS="200")
        os.execv(argv[0], argv)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", errors="replace")


def test_cli_replay_jsonl_through_real_flume_with_a_progress_bar(stack: Any, tmp_path: Path) -> None:
    start, tag = unique_day(random.Random(uuid.uuid4().hex)), f"cli-{uuid.uuid4().hex[:10]}"
    events = make_events(start, tag, per_day=2000)  # 6,005 events over three days, incl. 23:59:59.999
    src = tmp_path / "events.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in events))
    manifest_path, resume = tmp_path / "manifest.json", tmp_path / "cp"
    argv = [CLI, "replay", str(src), "--topic", "flume-events", "--time-field", "time",
            "--start", start.isoformat(), "--end", (start + timedelta(days=3)).isoformat(),
            "--flume-conf", str(stack.flume_conf), "--agent", stack.agent, "--sink", "k_events",
            "--kafka-bootstrap", stack.bootstrap, "--event-id-field", "id", "-H", "replay=cli",
            "--rate-limit", "2500", "--resume", str(resume), "--manifest", str(manifest_path)]  # fmt: skip
    rc, text = run_in_pty(argv)
    assert rc == 0, text[-3000:]
    frames = [f for f in text.split("\r") if "events/s" in f and "ETA" in f]
    assert len(frames) >= 4, text[-3000:]  # redrawn while running (~2.4 s at 2,500 events/s)
    assert "\x1b[" in text and all(k in frames[-1] for k in ("acknowledged", "dead-lettered", "%"))
    assert f"{len(events):,} acknowledged" in frames[-1]
    acked = [
        int(m.group(1).replace(",", "")) for f in frames if (m := re.search(r"([\d,]+) acknowledged", f))
    ]
    assert any(0 < n < len(events) for n in acked), acked  # live counts, not only the final one

    manifest = json.loads(manifest_path.read_text())
    assert manifest["totals"]["acknowledged"] == len(events) and manifest["totals"]["dead_lettered"] == 0
    assert manifest["kafka_offsets"][
        "flume-events"
    ]  # the consumed check's targets, read after the final flush
    for path, n in manifest["partitions"].items():
        assert f"{path}  {n:>12,}" in text  # the manifest table
    check_days(stack, events, manifest, tag, "/flume/events")  # what Flume wrote: every event in its day
    assert Counter(day_path("/flume/events", e["time"]) for e in events) == Counter(manifest["partitions"])
    status = subprocess.run(  # the manifest drives the sensor's count check
        [CLI, "partition-status", "--flume-conf", str(stack.flume_conf), "--agent", stack.agent, "--sink", "k_events",
         "--date", f"{start:%Y-%m-%d}", "--checks", "exists,no_in_use,count", "--manifest", str(manifest_path),
         "--webhdfs", WEBHDFS],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert status.returncode == 0 and "READY" in status.stdout, status.stdout + status.stderr

    rc, again = run_in_pty(argv)  # completed checkpoint: the stored manifest, nothing sent again
    assert rc == 0, again[-3000:]
    assert json.loads(manifest_path.read_text())["totals"] == manifest["totals"]
    check_days(stack, events, manifest, tag, "/flume/events")


def test_cli_replay_dry_run_of_an_hdfs_file_through_webhdfs_in_plain_logs(stack: Any, tmp_path: Path) -> None:
    """``hdfs://`` SOURCE read through ``--webhdfs`` (no Airflow connection); not a TTY: plain lines only."""
    tag = uuid.uuid4().hex[:10]
    start = unique_day(random.Random(tag))
    events = make_events(start, tag, per_day=50)
    with HdfsClient([stackctl.WEBHDFS_URL], user=stackctl.HDFS_USER) as client:
        client.create(f"/replay-input/{tag}/e.jsonl", "".join(json.dumps(e) + "\n" for e in events).encode())
    proc = subprocess.run(
        [CLI, "replay", f"hdfs://{stack.namenode}/replay-input/{tag}/e.jsonl", "--topic", "flume-events",
         "--time-field", "time", "--flume-conf", str(stack.flume_conf), "--agent", stack.agent, "--sink", "k_events",
         "--webhdfs", WEBHDFS, "--dry-run", "--manifest", str(tmp_path / "m.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["dry_run"] and manifest["totals"]["read"] == len(events)
    assert manifest["partitions"] == dict(Counter(day_path("/flume/events", e["time"]) for e in events))
    assert "replay [1/1] hdfs://" in proc.stderr and "(dry run)" in proc.stdout
    assert "\x1b" not in proc.stdout + proc.stderr and "\r" not in proc.stdout + proc.stderr
