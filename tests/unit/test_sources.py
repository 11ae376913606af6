"""Streaming readers: JSON Lines (plain/gz), Avro container files; bad input for both policies; resume."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import airflow_flume_provider.sources.jsonl as jsonl_mod
from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.sources import (
    AvroFileSource,
    BadInputError,
    JsonLinesSource,
    SourceRecord,
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


@pytest.mark.parametrize("codec", ["null", "deflate", "bzip2", "xz"])
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


@pytest.mark.parametrize(
    ("codec", "message"),
    [(b"\x0csnappy", "needs the 'cramjam' package"), (b"\x06foo", "unsupported Avro codec 'foo'")],
)
def test_avro_codec_without_its_library_or_unknown_is_a_clear_error(
    tmp_path: Path, codec: bytes, message: str
) -> None:
    path = write_avro(tmp_path / "x.avro", 3, codec="null")
    data = path.read_bytes()
    assert data.count(b"\x08null") == 1
    path.write_bytes(data.replace(b"\x08null", codec))
    if codec.endswith(b"snappy") and __import__("importlib.util").util.find_spec("cramjam"):
        pytest.skip("cramjam is installed")
    with pytest.raises(BadInputError, match=rf"x\.avro: .*{message}"):
        read_all(AvroFileSource(str(path)))


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
        detect_format("x.orc")
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


# -- fast JSON Lines path == the reference (readline + json.loads) path -----------------------------------------
class ReferenceJsonLines(JsonLinesSource):
    """The reader as it was before the fast path: readline iteration, strict UTF-8 decode, json.loads."""

    def _read_file(self, path: str) -> Any:
        offset, lineno = self.resume_units.get(path, (0, 0))
        gz = path.endswith(".gz")
        raw = self.fs.open(path, 0 if gz else offset)
        self._current = raw
        try:
            if gz:
                stream: Any = gzip.GzipFile(fileobj=io.BufferedReader(raw, 1 << 20), mode="rb")
                if offset:
                    stream.read(offset)
            else:
                stream = io.BufferedReader(raw, 1 << 20)
            try:
                for line in stream:
                    lineno += 1
                    offset += len(line)
                    body = line[:-1] if line[-1:] == b"\n" else line
                    if body[-1:] == b"\r":
                        body = body[:-1]
                    try:
                        value = json.loads(body.decode("utf-8"))
                    except UnicodeDecodeError as exc:
                        self.bad(f"{path}:{lineno}", f"invalid UTF-8 at byte {exc.start}: {exc.reason}", body)
                        continue
                    except ValueError as exc:
                        if not body.strip():
                            self.blank_lines += 1
                            continue
                        self.bad(f"{path}:{lineno}", f"invalid JSON: {exc}", body)
                        continue
                    yield SourceRecord(body, value, path, lineno, (offset, lineno))
            except (EOFError, OSError, zlib.error) as exc:
                kind = "truncated gzip" if isinstance(exc, EOFError) else "unreadable gzip"
                self.bad(
                    f"{path}:{lineno + 1}",
                    f"{kind} after line {lineno} (uncompressed byte {offset}): {exc}; rest of file not read",
                )
        finally:
            raw.close()


def _json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text()
    )
    return st.recursive(
        scalars,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
        max_leaves=10,
    )


_ODD_LINES = [
    b"",
    b"   ",
    b"\t",
    b"{",
    b'{"a": 1,}',
    b'{"a": NaN, "b": -Infinity}',
    b'{"s": "\\ud800"}',
    b'{"big": 123456789012345678901234567890}',
    b'{"neg": -9223372036854775809, "u": 18446744073709551616}',
    b'{"f": 1e400}',
    b'{"x": "\xff"}',
    b"\xef\xbb\xbf{}",
    b'{"a": 1} x',
    b"[1, 2]",
    b'"just a string"',
    b"12",
    b'{"deep": ' + b"[" * 1100 + b"]" * 1100 + b"}",
    b'{"a": "\x1f"}',
    b'{"e": 9.3e18, "f": -0.0, "g": 1.5}',
]


@st.composite
def _jsonl_bytes(draw: st.DrawFn) -> bytes:
    rows: list[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            row = json.dumps(draw(_json_values()), ensure_ascii=draw(st.booleans())).encode(
                "utf-8", "surrogatepass"
            )
        elif kind == 1:
            row = draw(st.sampled_from(_ODD_LINES))
        elif kind == 2:
            row = draw(st.binary(max_size=30))
            row = row.replace(b"\n", b"")
        else:
            row = json.dumps({"id": draw(st.text(max_size=8)), "ts": draw(st.text(max_size=30))}).encode()
        rows.append(row + draw(st.sampled_from([b"", b"\r"])))
    data = b"\n".join(rows)
    if rows and draw(st.booleans()):
        data += b"\n"
    return data


def _outcome(reader_cls: type, path: Path, policy: str, tmp: Path, tag: str) -> Any:
    dl = DeadLetterWriter(tmp / f"dl-{tag}.jsonl")
    reader = reader_cls(str(path), on_bad_input=policy, dead_letter=dl)
    recs: list[Any] = []
    error = None
    try:
        for r in reader:
            recs.append((r.body, repr(r.value), r.position, r.token))
    except (BadInputError, RecursionError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    dl.close()
    return recs, error, reader.bad_input, reader.blank_lines, DeadLetterWriter.read(dl.path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=_jsonl_bytes(), gz=st.booleans(), cut=st.floats(0.2, 1.0), policy=st.sampled_from(["fail", "skip"])
)
def test_fast_jsonl_reader_equals_reference(
    tmp_path: Path, data: bytes, gz: bool, cut: float, policy: str
) -> None:
    path = tmp_path / ("f.jsonl.gz" if gz else "f.jsonl")
    payload = gzip.compress(data) if gz else data
    if gz and cut < 1.0:  # truncated gzip
        payload = payload[: max(1, int(len(payload) * cut))]
    path.write_bytes(payload)
    assert _outcome(JsonLinesSource, path, policy, tmp_path, "fast") == _outcome(
        ReferenceJsonLines, path, policy, tmp_path, "ref"
    )


def test_fast_jsonl_reader_equals_reference_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines spanning chunk borders (and lines longer than a chunk), plain and gzip, resumed mid-file."""
    monkeypatch.setattr(jsonl_mod, "_READ_BUFFER", 64)
    rows = [json.dumps({"id": f"e{i}", "pad": "x" * (i * 7 % 300)}).encode() for i in range(200)]
    for gz in (False, True):
        path = write_jsonl(tmp_path / ("c.jsonl.gz" if gz else "c.jsonl"), rows, gz)
        fast = _outcome(JsonLinesSource, path, "fail", tmp_path, "f")
        assert fast == _outcome(ReferenceJsonLines, path, "fail", tmp_path, "r")
        assert [json.loads(r[0]) for r in fast[0]] == [json.loads(r) for r in rows]
        token = fast[0][120][3]
        resumed = list(JsonLinesSource(str(path), resume={"units": {str(path): token}}))
        assert [r.body for r in resumed] == rows[121:]


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        _json_values().map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=40),
        st.sampled_from(_ODD_LINES),
    )
)
def test_line_parser_equals_json_loads(body: bytes) -> None:
    try:
        expected = repr(json.loads(body.decode("utf-8")))
    except ValueError:
        expected = "BAD"
    except RecursionError:
        with pytest.raises(RecursionError):
            jsonl_mod.parse_json_line(body)
        return
    got = jsonl_mod.parse_json_line(body)
    assert ("BAD" if got is jsonl_mod.BAD_LINE else repr(got)) == expected
