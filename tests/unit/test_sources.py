"""Streaming readers: JSON Lines (plain/gz), Avro container files; bad input for both policies; resume."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from airflow_flume_provider.sources import (
    AvroFileSource,
    BadInputError,
    DeadLetterWriter,
    JsonLinesSource,
    detect_format,
    open_source,
)

SCHEMA = {
    "type": "record",
    "name": "Ev",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "ts", "type": "long"},
        {"name": "b", "type": "bytes"},
    ],
}


def lines(n: int) -> list[bytes]:
    return [json.dumps({"id": f"e{i}", "ts": 1_000_000_000_000 + i}).encode() for i in range(n)]


def write_jsonl(path: Path, rows: list[bytes], gz: bool = False) -> Path:
    data = b"".join(r + b"\n" for r in rows)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_avro(path: Path, n: int, codec: str = "deflate", block: int = 10) -> Path:
    recs = [{"id": f"a{i}", "ts": 1_000_000_000_000 + i, "b": bytes([i % 256])} for i in range(n)]
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(SCHEMA), recs, codec=codec, sync_interval=block * 30)
    return path


def read_all(reader: Any) -> list[Any]:
    return list(reader)


@pytest.mark.parametrize("gz", [False, True])
def test_jsonl_bodies_are_original_bytes_with_positions(tmp_path: Path, gz: bool) -> None:
    rows = [b'{"id":"a",  "ts": 1}', b'{"id":"b","ts":2,"u":"\xc3\xa9"}', b"", b'{"id":"c","ts":3}']
    path = write_jsonl(tmp_path / ("x.jsonl.gz" if gz else "x.jsonl"), rows, gz)
    reader = JsonLinesSource(str(path))
    recs = read_all(reader)
    assert [r.body for r in recs] == [rows[0], rows[1], rows[3]]
    assert [r.position for r in recs] == [f"{path}:1", f"{path}:2", f"{path}:4"]
    assert recs[1].value["u"] == "é" and reader.blank_lines == 1
    assert reader.completed_units == [str(path)] and reader.fraction_done() == 1.0


def test_crlf_terminator_is_not_part_of_the_body(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a":1}\r\n{"a":2}')
    assert [r.body for r in JsonLinesSource(str(path))] == [b'{"a":1}', b'{"a":2}']


def test_glob_reads_files_in_order(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "b.jsonl", lines(2))
    write_jsonl(tmp_path / "a.jsonl.gz", lines(3), gz=True)
    recs = read_all(JsonLinesSource(str(tmp_path / "*.jsonl*")))
    assert [r.unit.rsplit("/", 1)[1] for r in recs] == ["a.jsonl.gz"] * 3 + ["b.jsonl"] * 2


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing"):
        read_all(JsonLinesSource(str(tmp_path / "nothing*.jsonl")))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [(b'{"id": "x", ', "invalid JSON"), (b'{"id": "\xff\xfe"}', "invalid UTF-8")],
)
def test_bad_lines_fail_naming_file_and_line(tmp_path: Path, bad: bytes, reason: str) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [*lines(2), bad, *lines(1)])
    with pytest.raises(BadInputError, match=rf"x\.jsonl:3: {reason}"):
        read_all(JsonLinesSource(str(path)))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [(b'{"id": "x", ', "invalid JSON"), (b'{"id": "\xff\xfe"}', "invalid UTF-8")],
)
def test_bad_lines_skip_to_dead_letter(tmp_path: Path, bad: bytes, reason: str) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [*lines(2), bad, *lines(1)])
    dl = DeadLetterWriter(tmp_path / "dl.jsonl")
    reader = JsonLinesSource(str(path), on_bad_input="skip", dead_letter=dl)
    assert len(read_all(reader)) == 3 and reader.bad_input == 1
    dl.close()
    (entry,) = DeadLetterWriter.read(tmp_path / "dl.jsonl")
    assert entry["position"] == f"{path}:3" and entry["reason"].startswith(reason)
    raw = (
        entry.get("body", "").encode()
        if "body" in entry
        else __import__("base64").b64decode(entry["body_base64"])
    )
    assert raw == bad


def truncated_gz(tmp_path: Path) -> Path:
    data = gzip.compress(b"".join(r + b"\n" for r in lines(2000)))
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_gzip_fails_naming_the_file(tmp_path: Path) -> None:
    path = truncated_gz(tmp_path)
    with pytest.raises(BadInputError, match=r"t\.jsonl\.gz:\d+: truncated gzip after line \d+"):
        read_all(JsonLinesSource(str(path)))


def test_truncated_gzip_skip_counts_and_continues_with_next_file(tmp_path: Path) -> None:
    truncated_gz(tmp_path)
    write_jsonl(tmp_path / "u.jsonl", lines(2))
    dl = DeadLetterWriter(tmp_path / "dl.jsonl")
    reader = JsonLinesSource(str(tmp_path / "*.jsonl*"), on_bad_input="skip", dead_letter=dl)
    recs = read_all(reader)
    assert 0 < len(recs) - 2 < 2000 and recs[-1].unit.endswith("u.jsonl")
    assert reader.bad_input == 1
    dl.close()
    assert "truncated gzip" in DeadLetterWriter.read(tmp_path / "dl.jsonl")[0]["reason"]


@pytest.mark.parametrize("gz", [False, True])
def test_resume_after_token(tmp_path: Path, gz: bool) -> None:
    path = write_jsonl(tmp_path / ("x.jsonl.gz" if gz else "x.jsonl"), lines(10), gz)
    first = read_all(JsonLinesSource(str(path)))
    resumed = read_all(JsonLinesSource(str(path), resume={"units": {str(path): first[3].token}}))
    assert [r.body for r in resumed] == [r.body for r in first[4:]]
    assert resumed[0].position == f"{path}:5"
    done = read_all(JsonLinesSource(str(path), resume={"done": [str(path)]}))
    assert done == []


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_avro_records_as_json_bodies(tmp_path: Path, codec: str) -> None:
    path = write_avro(tmp_path / "x.avro", 35, codec)
    recs = read_all(AvroFileSource(str(path)))
    assert len(recs) == 35
    assert json.loads(recs[0].body) == {"id": "a0", "ts": 1_000_000_000_000, "b": "\x00"}
    assert recs[0].value["ts"] == 1_000_000_000_000
    assert ":block@" in recs[0].position


def test_avro_body_as_avro_datum(tmp_path: Path) -> None:
    path = write_avro(tmp_path / "x.avro", 3)
    recs = read_all(AvroFileSource(str(path), body_format="avro"))
    decoded = fastavro.schemaless_reader(io.BytesIO(recs[1].body), fastavro.parse_schema(SCHEMA), None)
    assert decoded == {"id": "a1", "ts": 1_000_000_000_001, "b": b"\x01"}


def test_avro_resume_mid_block(tmp_path: Path) -> None:
    path = write_avro(tmp_path / "x.avro", 35)
    first = read_all(AvroFileSource(str(path)))
    for k in (4, 9, 20):
        resumed = read_all(AvroFileSource(str(path), resume={"units": {str(path): first[k].token}}))
        assert [r.value["id"] for r in resumed] == [r.value["id"] for r in first[k + 1 :]]


def corrupt_avro(tmp_path: Path) -> tuple[Path, int]:
    path = write_avro(tmp_path / "c.avro", 40, codec="deflate", block=3)
    with open(path, "rb") as fh:
        blocks = list(fastavro.block_reader(fh))
    assert len(blocks) >= 3
    data = bytearray(path.read_bytes())
    # corrupt the compressed payload of the second block
    second = blocks[1].offset
    for i in range(second + 4, second + 12):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path, blocks[1].num_records


def test_unreadable_avro_block_fails_naming_the_block(tmp_path: Path) -> None:
    path, _ = corrupt_avro(tmp_path)
    with pytest.raises(BadInputError, match=r"c\.avro:block@\d+: unreadable Avro block"):
        read_all(AvroFileSource(str(path)))


def test_unreadable_avro_block_skip_resyncs_on_next_block(tmp_path: Path) -> None:
    path, lost = corrupt_avro(tmp_path)
    dl = DeadLetterWriter(tmp_path / "dl.jsonl")
    reader = AvroFileSource(str(path), on_bad_input="skip", dead_letter=dl)
    recs = read_all(reader)
    assert len(recs) == 40 - lost and reader.bad_input == 1
    assert recs[-1].value["id"] == "a39"
    dl.close()
    assert "unreadable Avro block" in DeadLetterWriter.read(tmp_path / "dl.jsonl")[0]["reason"]


def test_not_avro_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.avro"
    path.write_bytes(b"hello")
    with pytest.raises(BadInputError, match="not an Avro"):
        read_all(AvroFileSource(str(path)))


def test_format_detection_and_factory(tmp_path: Path) -> None:
    assert detect_format("a/b.jsonl.gz") == "jsonl"
    assert detect_format("hdfs://nn/x.avro") == "avro"
    assert detect_format("kafka://raw") == "kafka"
    with pytest.raises(ValueError, match="cannot tell"):
        detect_format("x.parquet")
    with pytest.raises(ValueError, match="window"):
        open_source("kafka://raw")
    with pytest.raises(ValueError, match="dead-letter"):
        open_source("x.jsonl", on_bad_input="skip")


def test_dead_letter_truncate_drops_entries_after_checkpoint(tmp_path: Path) -> None:
    dl = DeadLetterWriter(tmp_path / "dl.jsonl")
    dl.write("a:1", "r1", b"x")
    size = dl.size()
    dl.write("a:2", "r2", b"\xff")
    dl.truncate(size)
    assert [e["position"] for e in DeadLetterWriter.read(tmp_path / "dl.jsonl")] == ["a:1"]
