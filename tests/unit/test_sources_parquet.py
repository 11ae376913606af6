"""Parquet source: row groups, nulls, time types, resume mid-row-group, dead letters, bounded memory, hdfs://
by ranged reads, fsspec URIs (file://, memory://) and ObjectStoragePath in the operator."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_replay import T0, Broker, ctx, op
from test_sources_io import FakeHdfs

from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.envelope import decode_event
from airflow_flume_provider.event_time import EventTimeResolver
from airflow_flume_provider.hooks.flume_kafka import FlumePublishError
from airflow_flume_provider.manifest import expected_counts
from airflow_flume_provider.operators.replay import ReplayFlumeEventsOperator
from airflow_flume_provider.sources import (
    BadInputError,
    FileSystem,
    avro_json_body,
    detect_format,
    open_source,
)
from airflow_flume_provider.sources.fs import RangedHdfsFile
from airflow_flume_provider.sources.parquet import ParquetSource

DAY = 86_400_000


class RangedFakeHdfs(FakeHdfs):
    """FakeHdfs whose ``read`` honours offset and length, recording each range asked for."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(files)
        self.ranges: list[tuple[int, int | None]] = []

    def read(self, path: str, *, offset: int = 0, length: int | None = None) -> bytes:
        self.ranges.append((offset, length))
        data = self.files[path]
        return data[offset : None if length is None else offset + length]


def write(path: Path | str, table: pa.Table, rows_per_group: int, **kw: Any) -> Path:
    pq.write_table(table, str(path), row_group_size=rows_per_group, **kw)
    return Path(path)


def events(n: int, start_ms: int = T0, step_ms: int = 1000) -> pa.Table:
    return pa.table(
        {
            "id": [f"e{i}" for i in range(n)],
            "ts": pa.array([start_ms + i * step_ms for i in range(n)], pa.timestamp("ms", "UTC")),
            "n": list(range(n)),
        }
    )


def test_detect_format_and_dict_spec(tmp_path: Path) -> None:
    assert detect_format("/d/x.parquet") == detect_format("hdfs://nn/d/*.PARQ") == "parquet"
    src = write(tmp_path / "x.bin", events(3), 2)
    reader = open_source({"format": "parquet", "path": str(src)})
    assert isinstance(reader, ParquetSource) and len(list(reader)) == 3


def test_row_groups_nulls_positions_tokens_and_json_conventions(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", None, "c", "d", "e"],
            "amount": pa.array(
                [decimal.Decimal("1.50"), None] + [decimal.Decimal("2")] * 3, pa.decimal128(6, 2)
            ),
            "raw": [b"\xff\x00", None, b"x", b"y", b"z"],
            "day": pa.array([dt.date(2003, 1, 1)] * 5, pa.date32()),
            "wait": pa.array([1500, None, 0, 0, 0], pa.duration("ms")),
            "tags": [["p", "q"], None, [], ["r"], ["s"]],
            "ctx": [{"k": 1}, None, {"k": 2}, {"k": 3}, {"k": 4}],
        }
    )
    src = write(tmp_path / "x.parquet", table, 2)
    recs = list(open_source(str(src)))
    assert [r.where for r in recs] == [
        "rowgroup0:row0", "rowgroup0:row1", "rowgroup1:row0", "rowgroup1:row1", "rowgroup2:row0"
    ]  # fmt: skip
    assert [tuple(r.token) for r in recs] == [(0, 1), (1, 0), (1, 1), (2, 0), (3, 0)]
    assert recs[0].position == f"{src}:rowgroup0:row0"
    assert json.loads(recs[0].body) == {
        "id": "a", "amount": "1.50", "raw": "\u00ff\u0000", "day": "2003-01-01", "wait": 1500,
        "tags": ["p", "q"], "ctx": {"k": 1},
    }  # fmt: skip
    assert (
        recs[1].body
        == b'{"id":null,"amount":null,"raw":null,"day":"2003-01-01","wait":null,"tags":null,"ctx":null}'
    )
    assert recs[1].value["id"] is None
    assert all(r.body == avro_json_body(r.value) for r in recs)  # the Avro source's JSON conventions


@pytest.mark.parametrize(
    ("array", "unit", "expected"),
    [
        (pa.array([1_041_379_200], pa.timestamp("s")), "auto", T0),  # naive: read as UTC
        (pa.array([T0 + 123], pa.timestamp("ms", "UTC")), "auto", T0 + 123),
        (pa.array([(T0 + 123) * 1000 + 999], pa.timestamp("us", "Europe/Paris")), "auto", T0 + 123),
        (pa.array([(T0 + 123) * 1_000_000 + 999_999], pa.timestamp("ns")), "auto", T0 + 123),
        (pa.array([1_041_379_200], pa.int64()), "s", T0),  # integers: the replay's event_time_unit
        (pa.array([T0], pa.int64()), "ms", T0),
        (pa.array(["2003-01-01T01:00:00+01:00"], pa.string()), "auto", T0),
    ],
)
def test_event_time_of_each_column_type(tmp_path: Path, array: pa.Array, unit: str, expected: int) -> None:
    src = write(tmp_path / "t.parquet", pa.table({"ts": array}), 10)
    (rec,) = list(open_source(str(src)))
    assert EventTimeResolver("ts", unit=unit).resolve(rec.value, position=rec.position) == expected


def test_timestamps_keep_their_precision_in_utc(tmp_path: Path) -> None:
    ns = pa.array([T0 * 1_000_000 + 123_456_789], pa.timestamp("ns", "America/New_York"))
    src = write(tmp_path / "t.parquet", pa.table({"ts": ns}), 10)
    (rec,) = list(open_source(str(src)))
    assert rec.value == {"ts": "2003-01-01T00:00:00.123456789Z"}


def test_resume_mid_row_group_reads_exactly_the_rest(tmp_path: Path) -> None:
    src = write(tmp_path / "x.parquet", events(25), 10)
    first = list(open_source(str(src)))
    for k in (0, 4, 9, 10, 17, 24):  # inside a group, at a group's end, at the file's end
        units = json.loads(json.dumps({str(src): first[k].token}))  # as a checkpoint stores it
        rest = list(open_source(str(src), resume={"units": units}))
        assert [r.body for r in rest] == [r.body for r in first[k + 1 :]]
    done = open_source(str(src), resume={"units": {}, "done": [str(src)]})
    assert list(done) == [] and done.fraction_done() == 1.0


def test_fraction_done_grows_by_row_group(tmp_path: Path) -> None:
    write(tmp_path / "a.parquet", events(30), 10)
    write(tmp_path / "b.parquet", events(30), 10)
    reader = open_source(str(tmp_path / "*.parquet"))
    seen = [reader.fraction_done() for _ in reader]
    assert seen == sorted(seen) and 0 <= seen[0] < 0.2 and 0.4 < seen[30] <= 0.5
    assert len(set(seen)) >= 5 and reader.fraction_done() == 1.0


def test_body_column_binary_or_string_and_its_errors(tmp_path: Path) -> None:
    table = pa.table({"payload": [b'{"a":1}', None, b"\x00"], "text": ["x", "y", None], "n": [1, 2, 3]})
    src = write(tmp_path / "b.parquet", table, 10)
    dead = DeadLetterWriter(tmp_path / "dead.jsonl")
    spec = {"path": str(src), "body_column": "payload"}
    reader = open_source(spec, on_bad_input="skip", dead_letter=dead)
    assert [r.body for r in reader] == [b'{"a":1}', b"\x00"] and reader.bad_input == 1
    dead.close()
    (entry,) = DeadLetterWriter.read(dead.path)
    assert entry["position"] == f"{src}:rowgroup0:row1" and "'payload' is null" in entry["reason"]
    with pytest.raises(BadInputError, match=r"b\.parquet:rowgroup0:row2: body_column 'text' is null"):
        list(open_source({**spec, "body_column": "text"}))
    with pytest.raises(BadInputError, match=r"b\.parquet: body_column 'n' has type int64"):
        list(open_source({**spec, "body_column": "n"}))
    with pytest.raises(BadInputError, match=r"'nope' is not a column \(columns: payload, text, n\)"):
        list(open_source({**spec, "body_column": "nope"}))


def test_not_parquet_and_corrupt_row_group(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(BadInputError, match=r"bad\.parquet: not a readable Parquet file"):
        list(open_source(str(bad)))
    src = write(tmp_path / "x.parquet", events(30), 10, compression="none")
    meta = pq.ParquetFile(src).metadata.row_group(1).column(0)
    data = bytearray(src.read_bytes())
    data[meta.data_page_offset : meta.data_page_offset + 16] = b"\xff" * 16  # the page header of group 1
    src.write_bytes(bytes(data))
    with pytest.raises(BadInputError, match=r"x\.parquet:rowgroup1: unreadable Parquet row group"):
        list(open_source(str(src)))
    dead = DeadLetterWriter(tmp_path / "dead.jsonl")
    reader = open_source(str(src), on_bad_input="skip", dead_letter=dead)
    assert [r.value["n"] for r in reader] == list(range(10)) + list(range(20, 30)) and reader.bad_input == 1


def test_memory_is_bounded_by_one_row_group(tmp_path: Path) -> None:
    rows, per_group = 400_000, 20_000
    table = pa.table({"id": [f"event-{i:012d}" for i in range(rows)], "n": list(range(rows))})
    one_group = table.slice(0, per_group).nbytes
    src = write(tmp_path / "big.parquet", table, per_group)
    del table
    base, peak, count = pa.total_allocated_bytes(), 0, 0
    for i, _ in enumerate(open_source(str(src))):
        count += 1
        if i % 997 == 0:
            peak = max(peak, pa.total_allocated_bytes() - base)
    assert count == rows
    assert 0 < peak < 4 * one_group < rows // per_group * one_group / 4  # a few groups at most, of 20


def test_hdfs_reads_ranges_never_the_whole_file(tmp_path: Path) -> None:
    src = write(tmp_path / "x.parquet", events(20_000), 4000)
    hdfs = RangedFakeHdfs({"/in/x.parquet": src.read_bytes()})
    recs = list(open_source("hdfs://nn/in/x.parquet", fs=FileSystem(hdfs)))
    assert [r.body for r in recs] == [r.body for r in open_source(str(src))]
    assert recs[0].position == "hdfs://nn/in/x.parquet:rowgroup0:row0"
    size = src.stat().st_size
    assert all(length is not None and length < size / 2 for _, length in hdfs.ranges)
    assert len(hdfs.ranges) == 1 + 5  # the footer, then each row group's column chunks in one coalesced read
    units = {"hdfs://nn/in/x.parquet": recs[9999].token}  # resume mid-file: the earlier groups are not read
    hdfs.ranges.clear()
    rest = list(open_source("hdfs://nn/in/x.parquet", fs=FileSystem(hdfs), resume={"units": units}))
    assert len(rest) == 10_000 and min(offset for offset, _ in hdfs.ranges[1:]) > size // 3


def test_ranged_hdfs_file_seeks_and_reads_by_range() -> None:
    hdfs = RangedFakeHdfs({"/f": bytes(range(100))})
    fh = RangedHdfsFile(hdfs, "/f")  # type: ignore[arg-type]
    assert fh.seek(-10, io.SEEK_END) == 90 and fh.read(4) == bytes([90, 91, 92, 93]) and fh.tell() == 94
    fh.seek(5)
    assert fh.read(3) == bytes([5, 6, 7]) and fh.read() == bytes(range(8, 100)) and fh.read(1) == b""
    assert hdfs.ranges == [(90, 4), (5, 3), (8, 92)] and fh.requests == 3
    with pytest.raises(ValueError, match="negative seek"):
        fh.seek(-1)


def test_fsspec_uris_file_and_memory(tmp_path: Path) -> None:
    src = write(tmp_path / "x.parquet", events(7), 3)
    (tmp_path / "y.jsonl").write_bytes(b'{"id":"j1"}\n{"id":"j2"}\n')
    local = [r.body for r in open_source(str(src))]
    assert [r.body for r in open_source(f"file://{src}")] == local
    assert [r.value["id"] for r in open_source(f"file://{tmp_path}/*.jsonl")] == ["j1", "j2"]
    mem = fsspec.filesystem("memory")
    mem.pipe("/h16/x.parquet", src.read_bytes())
    mem.pipe("/h16/y.jsonl", b'{"id":"m1"}\n{"id":"m2"}\n')
    try:
        recs = list(open_source("memory:///h16/*.parquet"))
        assert [r.body for r in recs] == local and recs[0].unit == "memory:///h16/x.parquet"
        resumed = open_source("memory:///h16/y.jsonl", resume={"units": {"memory:///h16/y.jsonl": [12, 1]}})
        assert [r.value["id"] for r in resumed] == ["m2"]
        with pytest.raises(FileNotFoundError, match="memory:///h16/none"):
            list(open_source("memory:///h16/none.parquet"))
    finally:
        mem.rm("/h16", recursive=True)
    with pytest.raises(ValueError, match="nosuchscheme"):
        list(open_source("nosuchscheme://x/y.jsonl"))


def test_without_pyarrow_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write(tmp_path / "x.parquet", events(1), 1)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'airflow-flume-provider\[parquet\]'"):
        open_source(str(src))


def days(broker: Broker) -> Counter[str]:
    out: Counter[str] = Counter()
    for m in broker.log:
        out[
            f"/flume/events/2003-01-0{1 + (int(decode_event(m.value()).headers['timestamp']) - T0) // DAY}"
        ] += 1
    return out


def test_replay_operator_bad_time_dead_letter_and_retry_resumes_mid_row_group(tmp_path: Path) -> None:
    n = 3000
    table = events(n, step_ms=DAY * 3 // n)
    ts = table.column("ts").to_pylist()
    ts[1234] = None
    table = table.set_column(1, "ts", pa.array(ts, pa.timestamp("ms", "UTC")))
    src = write(tmp_path / "ev.parquet", table, 700)
    broker = Broker(fail_after=1500)
    dl = tmp_path / "out" / "dead.jsonl"
    task = op(tmp_path, src, broker, event_time_field="ts", on_invalid="skip", dead_letter_path=str(dl),
              checkpoint_every=400)  # fmt: skip
    with pytest.raises(FlumePublishError):
        task.execute(ctx())
    manifest = task.execute(ctx())
    assert manifest["attempts"] == 2 and dict(days(broker)) == expected_counts(manifest)
    assert sum(manifest["partitions"].values()) == n - 1 and manifest["totals"]["invalid_time_skipped"] == 1
    ids = Counter(json.loads(decode_event(m.value()).body)["id"] for m in broker.log)
    assert len(ids) == n - 1 and 0 < sum(manifest["duplicates"].values()) <= 400
    (entry,) = DeadLetterWriter.read(dl)
    assert entry["position"] == f"{src}:rowgroup1:row534"
    assert "invalid event time in field 'ts'" in entry["reason"] and '"id":"e1234"' in entry["body"]


def test_operator_accepts_object_storage_paths(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    src = write(tmp_path / "ev.parquet", events(50, step_ms=60_000), 20)
    broker = Broker()
    task = op(tmp_path, src, broker, source=ObjectStoragePath(f"file://{src}"), event_time_field="ts")
    assert task.source == f"file://{src}"
    manifest = task.execute(ctx())
    assert manifest["totals"]["acknowledged"] == 50 and manifest["sources"] == [f"file://{src}"]
    with pytest.raises(ValueError, match=r"source: ObjectStoragePath .* bound to connection 'aws_default'"):
        ReplayFlumeEventsOperator(
            task_id="t", source=ObjectStoragePath("s3://aws_default@bucket/x.parquet"), topic="flume"
        )


def test_row_not_encodable_as_json_is_bad_input(tmp_path: Path) -> None:
    nested = pa.array([{"wait": 5}, {"wait": None}], pa.struct([("wait", pa.duration("s"))]))
    src = write(tmp_path / "n.parquet", pa.table({"id": ["a", "b"], "ctx": nested}), 10)
    with pytest.raises(
        BadInputError, match=r"n\.parquet:rowgroup0:row0: row not encodable as JSON: .*timedelta"
    ):
        list(open_source(str(src)))
    dead = DeadLetterWriter(tmp_path / "dead.jsonl")
    reader = open_source(str(src), on_bad_input="skip", dead_letter=dead)
    assert [r.body for r in reader] == [b'{"id":"b","ctx":{"wait":null}}'] and reader.bad_input == 1
