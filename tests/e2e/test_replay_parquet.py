"""Parquet replays on the real stack: local files (a path and an ObjectStoragePath file:// URI) and hdfs:// files
(read by ranged WebHDFS reads) -> Kafka -> Flume 1.11 -> HDFS, read back from what Flume wrote."""

from __future__ import annotations

import io
import json
import random
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import stackctl
from test_replay_stack import ctx, day_path, make_events, replay, unique_day, wait_for_partitions

from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.manifest import expected_counts
from airflow_flume_provider.sources import open_source

pytestmark = pytest.mark.e2e


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _table(events: list[dict[str, Any]], time_type: str) -> pa.Table:
    times = [e["time"] for e in events]
    time = (
        pa.array([t * 1000 for t in times], pa.timestamp("us"))  # naive: read as UTC
        if time_type == "timestamp"
        else pa.array(times, pa.int64())
    )
    return pa.table({"id": [e["id"] for e in events], "tag": [e["tag"] for e in events], "time": time})


def _body(event: dict[str, Any], time_type: str) -> dict[str, Any]:
    return {**event, "time": _iso(event["time"]) if time_type == "timestamp" else event["time"]}


def _parquet(events: list[dict[str, Any]], time_type: str) -> bytes:
    buf = io.BytesIO()
    pq.write_table(_table(events, time_type), buf, row_group_size=97)  # several row groups
    return buf.getvalue()


def _check_flume_wrote(
    stack: Any, events: list[dict[str, Any]], manifest: dict[str, Any], tag: str, time_type: str
) -> None:
    """Every event in exactly its day directory, with the body the Parquet source made of its row."""
    want = {day_path("/flume/events", e["time"]) for e in events}
    assert set(manifest["partitions"]) == want and manifest["totals"]["acknowledged"] == len(events)
    found = wait_for_partitions(stack, expected_counts(manifest), tag)
    written = {path: [json.loads(line) for line in lines] for path, lines in found.items()}
    expected: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        expected.setdefault(day_path("/flume/events", e["time"]), []).append(_body(e, time_type))
    key = lambda b: b["id"]  # noqa: E731
    assert {p: sorted(b, key=key) for p, b in written.items()} == {
        p: sorted(b, key=key) for p, b in expected.items()
    }


@pytest.mark.parametrize("form", ["path", "object_storage_path"])
def test_replay_local_parquet_into_day_directories(stack: Any, tmp_path: Path, form: str) -> None:
    from airflow.sdk import ObjectStoragePath

    start = unique_day(random.Random(uuid.uuid4().int))
    tag = uuid.uuid4().hex
    events = make_events(start, tag, per_day=120)
    src = tmp_path / "events.parquet"
    src.write_bytes(_parquet(events, "timestamp"))
    source = str(src) if form == "path" else ObjectStoragePath(f"file://{src}")
    manifest = replay(tmp_path, stack, source, start).execute(ctx(f"parquet_{form}_{tag[:6]}"))
    _check_flume_wrote(stack, events, manifest, tag, "timestamp")


def test_replay_hdfs_parquet_and_resume_by_row_group(stack: Any, tmp_path: Path) -> None:
    start = unique_day(random.Random(uuid.uuid4().int))
    tag = uuid.uuid4().hex
    events = make_events(start, tag, per_day=120)
    path = f"/replay-input/{tag}/events.parquet"
    with HdfsClient([stackctl.WEBHDFS_URL], user=stackctl.HDFS_USER) as client:
        client.create(path, _parquet(events, "int"))
        uri = f"hdfs://{stack.namenode}{path}"
        records = list(open_source(uri, hdfs_client=client))  # the source layer alone, over real WebHDFS
        assert [r.value["id"] for r in records] == [e["id"] for e in events]
        cut = records[250]  # inside row group 2
        assert cut.where == "rowgroup2:row56"
        resumed = list(open_source(uri, hdfs_client=client, resume={"units": {cut.unit: cut.token}}))
        assert [r.body for r in resumed] == [r.body for r in records[251:]]
    manifest = replay(tmp_path, stack, uri, start, event_time_unit="ms").execute(
        ctx(f"parquet_hdfs_{tag[:6]}")
    )
    _check_flume_wrote(stack, events, manifest, tag, "int")
