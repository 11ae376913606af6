"""Replay from files stored in HDFS (JSON Lines .gz and Avro), read through the webhdfs connection."""

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

from airflow_flume_provider.webhdfs import WebHdfsClient

pytestmark = pytest.mark.e2e


def _put(path: str, data: bytes) -> None:
    with WebHdfsClient([stackctl.WEBHDFS_URL], user=stackctl.HDFS_USER) as client:
        client.create(path, data)


@pytest.mark.parametrize("fmt", ["jsonl.gz", "avro"])
def test_replay_from_hdfs_files(stack: Any, tmp_path: Path, fmt: str) -> None:
    rng = random.Random(uuid.uuid4().int)
    start = unique_day(rng)
    tag = uuid.uuid4().hex
    events = make_events(start, tag, per_day=40)
    if fmt == "jsonl.gz":
        data = gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in events))
    else:
        schema = {
            "type": "record",
            "name": "Event",
            "fields": [{"name": "id", "type": "string"}, {"name": "tag", "type": "string"}, {"name": "time", "type": "long"}],
        }
        buf = io.BytesIO()
        fastavro.writer(buf, schema, events, codec="deflate")
        data = buf.getvalue()
    path = f"/replay-input/{tag}/events.{fmt}"
    _put(path, data)

    op = replay(tmp_path, stack, f"hdfs://{stack.namenode}{path}", start)
    manifest = op.execute(ctx(f"hdfs_{fmt}_{tag[:6]}"))
    assert manifest["totals"]["acknowledged"] == len(events)
    check_days(stack, events, manifest, tag, "/flume/events")
