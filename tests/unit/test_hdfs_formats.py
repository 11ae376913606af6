"""Counting Flume output formats; the SequenceFile reader is checked against a tiny writer built from the spec."""

from __future__ import annotations

import bz2
import gzip
import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_flume_provider.hdfs_formats import (
    BZIP2_CODEC,
    DEFAULT_CODEC,
    GZIP_CODEC,
    FormatError,
    UnsupportedCodecError,
    count_avro_container,
    count_events,
    count_sequence_file,
    count_text_lines,
    iter_sequence_file,
    read_sequence_header,
)

SYNC = bytes(range(16))
LONG_KEY = "org.apache.hadoop.io.LongWritable"
BYTES_VALUE = "org.apache.hadoop.io.BytesWritable"


# -- a minimal SequenceFile writer following Hadoop's SequenceFile javadoc ------------------------------
def vlong(i: int) -> bytes:
    """Hadoop WritableUtils.writeVLong."""
    if -112 <= i <= 127:
        return struct.pack(">b", i)
    length = -112
    if i < 0:
        i = ~i
        length = -120
    tmp = i
    while tmp:
        tmp >>= 8
        length -= 1
    n = -(length + 120) if length < -120 else -(length + 112)
    return struct.pack(">b", length) + i.to_bytes(n, "big")


def text(s: str) -> bytes:
    b = s.encode()
    return vlong(len(b)) + b


def long_writable(v: int) -> bytes:
    return struct.pack(">q", v)


def bytes_writable(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    DEFAULT_CODEC: zlib.compress,
    GZIP_CODEC: gzip.compress,
    BZIP2_CODEC: bz2.compress,
}


def write_seq(
    records: list[tuple[bytes, bytes]],
    *,
    mode: str = "none",
    codec: str = DEFAULT_CODEC,
    metadata: dict[str, str] | None = None,
    sync_every: int = 3,
    block_size: int = 4,
) -> bytes:
    """Write a version-6 SequenceFile: mode none | record | block."""
    out = io.BytesIO()
    out.write(b"SEQ\x06" + text(LONG_KEY) + text(BYTES_VALUE))
    out.write(bytes([mode != "none", mode == "block"]))
    if mode != "none":
        out.write(text(codec))
    meta = metadata or {}
    out.write(struct.pack(">i", len(meta)))
    for k, v in meta.items():
        out.write(text(k) + text(v))
    out.write(SYNC)
    comp = COMPRESSORS.get(codec, zlib.compress)
    if mode == "block":
        for start in range(0, len(records), block_size):
            chunk = records[start : start + block_size]
            out.write(struct.pack(">i", -1) + SYNC + vlong(len(chunk)))
            bufs = [
                b"".join(vlong(len(k)) for k, _ in chunk),
                b"".join(k for k, _ in chunk),
                b"".join(vlong(len(v)) for _, v in chunk),
                b"".join(v for _, v in chunk),
            ]
            for buf in bufs:
                c = comp(buf)
                out.write(vlong(len(c)) + c)
        return out.getvalue()
    for i, (k, v) in enumerate(records):
        if i and i % sync_every == 0:
            out.write(struct.pack(">i", -1) + SYNC)
        if mode == "record":
            v = comp(v)
        out.write(struct.pack(">ii", len(k) + len(v), len(k)) + k + v)
    return out.getvalue()


def flume_records(n: int) -> list[tuple[bytes, bytes]]:
    return [
        (long_writable(1_000_000 + i), bytes_writable(f"event-{i}".encode() * (i % 5 + 1))) for i in range(n)
    ]


# -- tests ------------------------------------------------------------------------------------------------
def test_vlong_known_vectors() -> None:
    # Values from Hadoop's WritableUtils zero-compressed encoding.
    assert vlong(127) == b"\x7f" and vlong(-112) == b"\x90"
    assert vlong(128) == b"\x8f\x80" and vlong(256) == b"\x8e\x01\x00"
    assert vlong(-113) == b"\x87\x70"


@pytest.mark.parametrize("v", [0, 1, -1, 127, -112, 128, -113, 255, 65535, -65536, 2**31, -(2**40), 2**62])
def test_vlong_round_trip(v: int) -> None:
    data = write_seq([(vlong(v), b"")])
    ((key, _),) = list(iter_sequence_file(data))
    from airflow_flume_provider.hdfs_formats import _Reader

    assert _Reader(key, "x").vlong("v") == v


def test_header_fields() -> None:
    data = write_seq(flume_records(2), mode="block", codec=GZIP_CODEC, metadata={"a": "b", "c": "d"})
    h = read_sequence_header(data, "f.seq")
    assert (h.version, h.key_class, h.value_class) == (6, LONG_KEY, BYTES_VALUE)
    assert h.compressed and h.block_compressed and h.codec == GZIP_CODEC
    assert h.metadata == {"a": "b", "c": "d"} and h.sync == SYNC


@pytest.mark.parametrize("mode", ["none", "record", "block"])
@pytest.mark.parametrize("codec", [DEFAULT_CODEC, GZIP_CODEC, BZIP2_CODEC])
@pytest.mark.parametrize("n", [0, 1, 7, 50])
def test_sequence_file_round_trip(mode: str, codec: str, n: int) -> None:
    recs = flume_records(n)
    data = write_seq(recs, mode=mode, codec=codec)
    assert count_sequence_file(data, "f") == n
    assert list(iter_sequence_file(data, "f")) == recs
    assert count_events(data, file_type="SequenceFile", name="f") == n


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.binary(max_size=30), st.binary(max_size=300)), max_size=40),
    st.sampled_from(["none", "record", "block"]),
    st.integers(1, 7),
)
def test_sequence_file_property(recs: list[tuple[bytes, bytes]], mode: str, every: int) -> None:
    data = write_seq(recs, mode=mode, sync_every=every, block_size=every)
    assert count_sequence_file(data) == len(recs)
    assert list(iter_sequence_file(data)) == recs


def test_unsupported_codec_names_file_and_codec() -> None:
    snappy = "org.apache.hadoop.io.compress.SnappyCodec"
    data = write_seq(flume_records(3), mode="block", codec=snappy)
    assert count_sequence_file(data, "/flume/x/FlumeData.1") == 3  # counting needs no codec
    with pytest.raises(UnsupportedCodecError, match=r"/flume/x/FlumeData.1.*SnappyCodec"):
        list(iter_sequence_file(data, "/flume/x/FlumeData.1"))


def test_truncated_file_names_file_and_offset() -> None:
    data = write_seq(flume_records(5))
    with pytest.raises(FormatError, match=r"^/p/FlumeData.2: truncated .* at byte \d+"):
        count_sequence_file(data[:-3], "/p/FlumeData.2")


def test_bad_magic_and_version() -> None:
    with pytest.raises(FormatError, match="not a SequenceFile"):
        count_sequence_file(b"PAR1....", "f")
    with pytest.raises(FormatError, match="version 9"):
        count_sequence_file(b"SEQ\x09" + b"\x00" * 40, "f")


def test_corrupt_sync_is_reported() -> None:
    data = bytearray(write_seq(flume_records(7), sync_every=3))
    pos = data.index(SYNC, 30)  # first in-stream sync after the header
    data[pos] ^= 0xFF
    with pytest.raises(FormatError, match="sync marker"):
        count_sequence_file(bytes(data), "f")


def test_text_lines() -> None:
    assert count_text_lines(b"") == 0
    assert count_text_lines(b"a\nb\n") == 2
    assert count_text_lines(b"a\nb") == 2
    assert count_events(b"x\ny\nz\n", file_type="DataStream", serializer="TEXT") == 3


def test_compressed_stream() -> None:
    assert count_events(gzip.compress(b"a\nb\n"), file_type="CompressedStream", codec="gzip") == 2
    assert count_events(bz2.compress(b"a\nb\nc\n"), file_type="CompressedStream", codec="bzip2") == 3
    with pytest.raises(FormatError, match="needs a codec"):
        count_events(b"", file_type="CompressedStream")


def test_avro_container_counts_records() -> None:
    schema = {
        "type": "record",
        "name": "Event",
        "fields": [
            {"name": "headers", "type": {"type": "map", "values": "string"}},
            {"name": "body", "type": "bytes"},
        ],
    }
    buf = io.BytesIO()
    fastavro.writer(
        buf, schema, ({"headers": {"t": str(i)}, "body": b"x" * i} for i in range(123)), sync_interval=200
    )
    data = buf.getvalue()
    assert count_avro_container(data) == 123
    assert count_events(data, file_type="DataStream", serializer="avro_event") == 123
    with pytest.raises(FormatError, match=r"f\.avro: not a readable Avro"):
        count_avro_container(b"garbage", "f.avro")


def test_unknown_file_type_and_serializer() -> None:
    with pytest.raises(FormatError, match="fileType 'Parquet'"):
        count_events(b"", file_type="Parquet", name="f")
    with pytest.raises(FormatError, match=r"serializer 'custom\.Builder'"):
        count_events(b"", file_type="DataStream", serializer="custom.Builder", name="f")


# -- streaming: same results from a stream as from bytes, with bounded memory ------------------------------
FLUME_SCHEMA = {
    "type": "record",
    "name": "Event",
    "fields": [
        {"name": "headers", "type": {"type": "map", "values": "string"}},
        {"name": "body", "type": "bytes"},
    ],
}


class TrickleStream(io.RawIOBase):
    """A forward-only stream handing out at most ``step`` bytes per read (like an HTTP body)."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.step, len(self.data) - self.pos)
        b[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize("mode", ["none", "record", "block"])
def test_sequence_file_from_a_stream_matches_bytes(mode: str) -> None:
    recs = flume_records(40)
    data = write_seq(recs, mode=mode, codec=GZIP_CODEC)
    assert count_sequence_file(TrickleStream(data), "f") == 40
    assert list(iter_sequence_file(TrickleStream(data), "f")) == list(iter_sequence_file(data, "f")) == recs
    with pytest.raises(FormatError, match=r"^f: truncated .* at byte \d+ \(file has \d+ bytes\)"):
        count_sequence_file(TrickleStream(data[:-3]), "f")


@pytest.mark.parametrize(
    ("codec", "compress"),
    [("gzip", gzip.compress), ("bzip2", bz2.compress), ("default", zlib.compress)],
)
def test_compressed_stream_from_a_stream(codec: str, compress: Callable[[bytes], bytes]) -> None:
    body = b"".join(b"line %d\n" % i for i in range(5000))
    two_members = compress(body) + compress(b"last\n")
    assert count_events(TrickleStream(two_members, 1000), file_type="CompressedStream", codec=codec) == 5001
    assert count_events(two_members, file_type="CompressedStream", codec=codec) == 5001
    if codec != "default":  # zlib streams were never checked for truncation
        with pytest.raises(FormatError, match="truncated"):
            count_events(compress(body)[:-20], file_type="CompressedStream", codec=codec, name="f")


def test_text_and_avro_from_a_stream() -> None:
    assert count_events(TrickleStream(b"a\nb\nc"), file_type="DataStream") == 3
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(FLUME_SCHEMA), [{"headers": {}, "body": b"x"}] * 50)
    assert (
        count_events(TrickleStream(out.getvalue(), 100), file_type="DataStream", serializer="avro_event")
        == 50
    )


class GeneratedStream(io.RawIOBase):
    """``total`` bytes made of ``unit`` repeated, produced on the fly (never held whole)."""

    def __init__(self, head: bytes, unit: bytes, repeats: int) -> None:
        self.parts = iter([head, *([unit] * repeats)])
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.parts)
            except StopIteration:
                return 0
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def test_counting_large_streams_uses_bounded_memory() -> None:
    import tracemalloc

    block = write_seq(flume_records(4000), mode="block", codec=DEFAULT_CODEC, block_size=4000)
    header_end = len(read_sequence_header(block).sync) + read_sequence_header(block).header_size - 16
    head, one_block = block[:header_end], block[header_end:]
    line = b"x" * 99 + b"\n"
    tracemalloc.start()
    try:
        n_text = count_events(GeneratedStream(b"", line * 10_000, 64), file_type="DataStream")  # 64 MB
        n_seq = count_events(GeneratedStream(head, one_block, 2000), file_type="SequenceFile")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n_text == 640_000 and n_seq == 8_000_000
    assert peak < 16 * 2**20, (
        f"peak {peak / 2**20:.1f} MB while counting streams of {2000 * len(one_block) / 2**20:.0f} MB and 64 MB"
    )


def test_read_events_decodes_what_flume_wrote() -> None:
    from airflow_flume_provider.envelope import encode_event
    from airflow_flume_provider.hdfs_formats import read_events

    seq = write_seq(
        [(long_writable(1_564_703_999_000), bytes_writable(b"body-1"))], mode="block", codec=GZIP_CODEC
    )
    assert list(read_events(TrickleStream(seq), "f")) == [
        ("f:record 1", {"timestamp": "1564703999000"}, b"body-1")
    ]
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(FLUME_SCHEMA), [{"headers": {"timestamp": "5"}, "body": b"b"}])
    assert list(read_events(io.BytesIO(out.getvalue()), "a")) == [("a:record 1", {"timestamp": "5"}, b"b")]
    env = encode_event({"timestamp": "7"}, b"e1") + encode_event({"timestamp": "8"}, b"e2")
    assert [p for p, _, _ in read_events(io.BytesIO(env), "e")] == ["e:envelope 1", "e:envelope 2"]
    assert list(read_events(io.BytesIO(b"one\ntwo\n"), "t")) == [("t:1", None, b"one"), ("t:2", None, b"two")]
