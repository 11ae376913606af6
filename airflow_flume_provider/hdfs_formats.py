"""Count and decode the events in files written by Flume's HDFS sink, streaming with bounded memory.

Supported outputs:

* ``DataStream`` + ``TEXT`` serializer: one event per line (Flume writes ``body + "\\n"``; a body holding
  newlines is counted once per line — that is a property of the format, not of this counter).
* ``DataStream`` + ``avro_event`` serializer: Avro container files; records are counted per block via
  fastavro without decoding them.
* ``SequenceFile``: Hadoop SequenceFile (see :mod:`airflow_flume_provider.sequence_file`).
* ``CompressedStream``: the stream is decompressed on the fly (gzip, bzip2, deflate) and counted as above.

Every counter takes ``bytes`` or a readable binary stream (e.g. :meth:`HdfsClient.open`); a stream is read
once, forward, in chunks, so a 1 GB file costs a few MB. :func:`read_events` decodes what Flume wrote
(or a file of envelopes) into ``(position, headers, body)`` for the CLI.
"""

from __future__ import annotations

import bz2
import io
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import fastavro

from airflow_flume_provider.sequence_file import (
    _CODEC_ALIASES,
    BZIP2_CODEC,
    DEFAULT_CODEC,
    DEFLATE_CODEC,
    GZIP_CODEC,
    FormatError,
    SequenceFileHeader,
    UnsupportedCodecError,
    _Reader,
    count_sequence_file,
    decompressor,
    iter_sequence_file,
    read_sequence_header,
)

__all__ = [
    "FormatError",
    "SequenceFileHeader",
    "UnsupportedCodecError",
    "_Reader",
    "count_avro_container",
    "count_events",
    "count_sequence_file",
    "count_text_lines",
    "decompressor",
    "iter_sequence_file",
    "read_events",
    "read_sequence_header",
]

AVRO_SERIALIZERS = ("avro_event", "org.apache.flume.serialization.FlumeEventAvroEventSerializer$Builder")
TEXT_SERIALIZERS = ("text", "org.apache.flume.serialization.BodyTextEventSerializer$Builder")
TEXT_CHUNK = 1 << 20
COMPRESSED_CHUNK = 1 << 14  # input per decompress call: bounds the output of one call (zlib <= ~1000x)

Source = bytes | bytearray | memoryview | BinaryIO


def _stream(data: Source) -> BinaryIO:
    """A stream whose ``read(n)`` returns n bytes until the end (raw streams may return fewer)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data))
    return io.BufferedReader(data, TEXT_CHUNK) if isinstance(data, io.RawIOBase) else data  # type: ignore[return-value]


# -- streaming decompression (CompressedStream) -------------------------------------------------------------
# codec class -> (new decompressor, several concatenated members allowed, truncation is an error)
_STREAM_CODECS: dict[str, tuple[Callable[[], Any], bool, bool]] = {
    DEFAULT_CODEC: (zlib.decompressobj, True, False),
    DEFLATE_CODEC: (lambda: zlib.decompressobj(-15), False, True),
    GZIP_CODEC: (lambda: zlib.decompressobj(31), True, True),
    BZIP2_CODEC: (bz2.BZ2Decompressor, True, True),
}


class _Decompressed(io.RawIOBase):
    """A readable stream of the decompressed bytes of ``source`` (one or more concatenated members)."""

    def __init__(self, source: BinaryIO, codec: str, name: str) -> None:
        decompressor(codec, name)  # raises UnsupportedCodecError naming the file for unknown codecs
        cls = _CODEC_ALIASES.get(codec.lower(), codec)
        self._make, self._multi, self._strict = _STREAM_CODECS[cls]
        self._src, self._name, self._codec = source, name, codec
        self._d = self._make()
        self._pending = b""
        self._bzip2_start = cls == BZIP2_CODEC
        self._fed = False
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_input(self) -> bytes:
        data = self._src.read(COMPRESSED_CHUNK)
        if self._bzip2_start and data:
            self._bzip2_start = False
            if data.startswith(b"h"):  # Hadoop's BZip2Codec may omit the "BZ" of the stream header
                data = b"BZ" + data
        return data

    def _fail(self, why: object) -> FormatError:
        return FormatError(f"{self._name}: cannot decompress with {self._codec}: {why}")

    def readinto(self, b: Any) -> int:
        while not self._pending and not self._done:
            if self._d.eof:  # one member done: another may follow
                data = (self._d.unused_data or self._next_input()) if self._multi else b""
                if not data:
                    self._done = True
                    break
                self._d = self._make()
            else:
                data = self._next_input()
                if not data:
                    self._done = True
                    if self._strict and self._fed:
                        raise self._fail("truncated stream")
                    break
            self._fed = True
            try:
                self._pending = self._d.decompress(data)
            except (OSError, zlib.error, EOFError, ValueError) as exc:
                raise self._fail(exc) from exc
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


# -- counting -------------------------------------------------------------------------------------------------
def count_text_lines(data: Source) -> int:
    """Count ``\\n``-terminated lines (a final unterminated line counts too)."""
    stream, n, last = _stream(data), 0, b"\n"
    while chunk := stream.read(TEXT_CHUNK):
        n += chunk.count(b"\n")
        last = chunk[-1:]
    return n if last == b"\n" else n + 1


class _Positioned:
    """``read`` + ``tell`` over a forward-only stream (fastavro asks for ``tell``; HTTP bodies cannot seek)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream, self._pos = stream, 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos


def count_avro_container(data: Source, name: str = "<bytes>") -> int:
    """Count the records of an Avro container file block by block (records are not decoded)."""
    try:
        return sum(block.num_records for block in fastavro.block_reader(_Positioned(_stream(data))))
    except Exception as exc:  # fastavro raises assorted types for corrupt input
        raise FormatError(f"{name}: not a readable Avro container file: {type(exc).__name__}: {exc}") from exc


def _is_avro_serializer(serializer: str | None) -> bool:
    return (serializer or "TEXT").strip().lower() in (s.lower() for s in AVRO_SERIALIZERS)


def count_events(
    data: Source,
    *,
    file_type: str = "SequenceFile",
    serializer: str | None = "TEXT",
    codec: str | None = None,
    name: str = "<bytes>",
) -> int:
    """Count the Flume events in one finished sink file (bytes or a stream), given the sink's
    ``fileType``/``serializer``/``codeC``."""
    ft = (file_type or "SequenceFile").strip().lower()
    if ft == "sequencefile":
        return count_sequence_file(data, name)
    if ft == "compressedstream":
        if not codec:
            raise FormatError(f"{name}: fileType CompressedStream needs a codec (hdfs.codeC)")
        data = io.BufferedReader(_Decompressed(_stream(data), codec, name), TEXT_CHUNK)  # type: ignore[arg-type]
    elif ft != "datastream":
        raise FormatError(f"{name}: unknown Flume fileType {file_type!r}")
    if _is_avro_serializer(serializer):
        return count_avro_container(data, name)
    if (serializer or "TEXT").strip().lower() not in TEXT_SERIALIZERS:
        raise FormatError(f"{name}: cannot count events for serializer {serializer!r} (TEXT or avro_event)")
    return count_text_lines(data)


# -- decoding (the CLI's ``inspect``) -------------------------------------------------------------------------
def bytes_writable(value: bytes) -> bytes:
    """A Hadoop BytesWritable is a 4-byte big-endian length then the bytes (Text is a vint + bytes)."""
    if len(value) >= 4 and int.from_bytes(value[:4], "big") == len(value) - 4:
        return value[4:]
    return value


def _envelopes(data: bytes, name: str) -> list[tuple[str, dict[str, str] | None, bytes]]:
    """``data`` decoded as back-to-back AvroFlumeEvent datums with a timestamp, else []."""
    from airflow_flume_provider.envelope import FLUME_EVENT_SCHEMA

    schema = fastavro.parse_schema(FLUME_EVENT_SCHEMA)
    buf = io.BytesIO(data)
    out = []
    try:
        while buf.tell() < len(data):
            rec = fastavro.schemaless_reader(buf, schema)
            if not all(isinstance(v, str) for v in rec["headers"].values()):  # type: ignore[index,union-attr]
                return []
            out.append(rec)
    except Exception:  # not envelopes: any decode failure means "read it as text"
        return []
    if not any("timestamp" in r["headers"] for r in out):  # type: ignore[index,operator]
        return []
    return [(f"{name}:envelope {i}", r["headers"], r["body"]) for i, r in enumerate(out, 1)]  # type: ignore[index,misc]


def read_events(stream: Source, name: str) -> Iterator[tuple[str, dict[str, str] | None, bytes]]:
    """Yield ``(position, headers or None, body)`` from a Flume output file or a file of envelopes.

    Recognised by content: Hadoop SequenceFile (``SEQ``; key = the event's timestamp as a LongWritable,
    value unwrapped from BytesWritable) and Avro container (``Obj\\x01``, Flume's avro_event) are streamed;
    otherwise the rest is read whole and decoded as back-to-back AvroFlumeEvent datums if it is that, else
    as text lines (DataStream/TEXT keeps bodies only: headers None).
    """
    src = _stream(stream)
    buffered = src if hasattr(src, "peek") else io.BufferedReader(src)  # type: ignore[arg-type]
    head = buffered.peek(4)[:4]  # type: ignore[attr-defined]
    if head[:3] == b"SEQ":
        for i, (key, value) in enumerate(iter_sequence_file(buffered, name), 1):
            ts = {"timestamp": str(int.from_bytes(key[:8], "big", signed=True))} if len(key) >= 8 else None
            yield f"{name}:record {i}", ts, bytes_writable(value)
        return
    if head == b"Obj\x01":
        for i, rec in enumerate(fastavro.reader(_Positioned(buffered)), 1):
            assert isinstance(rec, dict)
            yield f"{name}:record {i}", dict(rec.get("headers") or {}), bytes(rec.get("body") or b"")
        return
    data = buffered.read()
    envelopes = _envelopes(data, name)
    if envelopes:
        yield from envelopes
        return
    for i, line in enumerate(data.splitlines(), 1):
        yield f"{name}:{i}", None, line
