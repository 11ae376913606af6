"""Replay from files stored in HDFS (JSON Lines .gz and Avro), read through the project's HDFS client."""

from __future__ import annotations

import gzip
import io
import json
import random
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pytest
import stackctl
from test_replay_stack import check_days, ctx, make_events, replay, unique_day

from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.sources import open_source

pytestmark = pytest.mark.e2e

SCHEMA = {
    "type": "record",
    "name": "Event",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "tag", "type": "string"},
        {"name": "time", "type": "long"},
    ],
}


def _client() -> HdfsClient:
    return HdfsClient([stackctl.WEBHDFS_URL], user=stackctl.HDFS_USER)


def _put(path: str, data: bytes) -> None:
    with _client() as client:
        client.create(path, data)


def _encode(events: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "jsonl.gz":
        return gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in events))
    buf = io.BytesIO()
    fastavro.writer(buf, SCHEMA, events, codec="deflate", sync_interval=2000)  # several blocks
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl.gz", "avro"])
def test_sources_read_hdfs_files_and_resume_mid_file(stack: Any, fmt: str) -> None:
    """The source layer alone over real WebHDFS: a glob, every record in order, resume from a token."""
    tag = uuid.uuid4().hex
    events = make_events(unique_day(random.Random(tag)), tag, per_day=40)
    half = len(events) // 2
    _put(f"/replay-input/{tag}/a.{fmt}", _encode(events[:half], fmt))
    _put(f"/replay-input/{tag}/b.{fmt}", _encode(events[half:], fmt))
    pattern = f"hdfs://{stack.namenode}/replay-input/{tag}/*.{fmt}"
    made: list[HdfsClient] = []

    def factory() -> HdfsClient:
        made.append(_client())
        return made[-1]

    records = list(open_source(pattern, hdfs_client=factory))
    assert [json.loads(r.body)["id"] for r in records] == [e["id"] for e in events]
    assert len(made) == 1
    cut = records[half + 7]  # inside b.*: resume re-opens b at the token's byte offset
    resumed = list(
        open_source(
            pattern, hdfs_client=factory, resume={"units": {cut.unit: cut.token}, "done": [records[0].unit]}
        )
    )
    assert [r.body for r in resumed] == [r.body for r in records[half + 8 :]]


@pytest.mark.parametrize("fmt", ["jsonl.gz", "avro"])
def test_replay_from_hdfs_files(stack: Any, tmp_path: Path, fmt: str) -> None:
    rng = random.Random(uuid.uuid4().int)
    start = unique_day(rng)
    tag = uuid.uuid4().hex
    events = make_events(start, tag, per_day=40)
    path = f"/replay-input/{tag}/events.{fmt}"
    _put(path, _encode(events, fmt))

    op = replay(tmp_path, stack, f"hdfs://{stack.namenode}{path}", start)
    manifest = op.execute(ctx(f"hdfs_{fmt}_{tag[:6]}"))
    assert manifest["totals"]["acknowledged"] == len(events)
    check_days(stack, events, manifest, tag, "/flume/events")
