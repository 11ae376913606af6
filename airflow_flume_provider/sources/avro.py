"""Avro object container file source, local or ``hdfs://``.

Blocks are framed here, not by fastavro's file reader, so that a corrupt block is reported as ``file:block@N``
and skipped by resynchronising on the next sync marker, and so that a reader resumes at a block's byte offset
without reading the file from its start. Block payloads are decompressed here (the spec's codecs; the standard
library covers null, deflate, bzip2 and xz, the others need their optional library) and records decoded with
fastavro's public ``schemaless_reader``.
"""

from __future__ import annotations

import bz2
import datetime as dt
import decimal
import importlib
import io
import json
import lzma
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import fastavro

from airflow_flume_provider.sources.base import FileReader
from airflow_flume_provider.sources.record import BadInputError, SourceRecord

_READ_BUFFER = 1 << 20
_AVRO_MAGIC = b"Obj\x01"
_MAX_BLOCK = 1 << 31


def json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")  # Avro's JSON encoding of bytes/fixed
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def avro_json_body(record: Any) -> bytes:
    """Compact JSON body for an Avro record (bytes as ISO-8859-1 text, times as ISO-8601)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=json_default).encode()


# -- codecs (Avro specification, "Required/Optional Codecs") ---------------------------------------------------
def _snappy(data: bytes) -> bytes:
    """Snappy block: compressed bytes, then the 4-byte big-endian CRC32 of the uncompressed data."""
    snappy = importlib.import_module("cramjam").snappy
    out = bytes(snappy.decompress_raw(data[:-4]))
    if zlib.crc32(out).to_bytes(4, "big") != data[-4:]:
        raise ValueError("snappy block CRC mismatch")
    return out


def _optional(module: str, attr: str) -> Callable[[bytes], bytes]:
    """A decompressor from an optional library, imported on first use."""

    def decompress(data: bytes) -> bytes:
        return bytes(getattr(importlib.import_module(module), attr)(data))

    return decompress


_CODECS: dict[str, Callable[[bytes], bytes]] = {
    "null": bytes,
    "deflate": lambda data: zlib.decompress(data, -15),
    "bzip2": bz2.decompress,
    "xz": lzma.decompress,
    "snappy": _snappy,
    "zstandard": _optional("backports.zstd", "decompress"),
    "lz4": _optional("lz4.block", "decompress"),
}
_CODEC_LIBRARY = {"snappy": "cramjam", "zstandard": "backports.zstd", "lz4": "lz4"}


def _codec(name: str, path: str) -> Callable[[bytes], bytes]:
    """The decompressor of codec ``name``; a clear error for unknown codecs or a missing optional library."""
    decompress = _CODECS.get(name)
    if decompress is None:
        raise BadInputError(f"{path}: unsupported Avro codec {name!r}")
    library = _CODEC_LIBRARY.get(name)
    if library is not None:
        try:
            importlib.import_module(library)
        except ImportError:
            raise BadInputError(
                f"{path}: Avro codec {name!r} needs the {library!r} package (pip install {library})"
            ) from None
    return decompress


class _Stream:
    """Forward-only buffered reader with an absolute offset, able to rewind to a mark (Avro block framing)."""

    def __init__(self, raw: Any, offset: int) -> None:
        self.raw = raw
        self.pos = offset
        self._buf = b""
        self._i = 0
        self._mark: int | None = None
        self._mark_pos = offset
        self._eof = False

    def _fill(self, need: int) -> None:
        while len(self._buf) - self._i < need and not self._eof:
            drop = self._i if self._mark is None else self._mark
            chunk = self.raw.read(max(need, _READ_BUFFER))
            if not chunk:
                self._eof = True
            self._buf = self._buf[drop:] + chunk
            self._i -= drop
            if self._mark is not None:
                self._mark -= drop

    def mark(self) -> None:
        """Remember the current position for :meth:`resync`."""
        self._mark = self._i
        self._mark_pos = self.pos

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at end of file)."""
        self._fill(n)
        data = self._buf[self._i : self._i + n]
        self._i += len(data)
        self.pos += len(data)
        return data

    def read_long(self) -> int | None:
        """Zig-zag varint; None at a clean end of file."""
        shift = result = 0
        while True:
            b = self.read(1)
            if not b:
                if shift:
                    raise EOFError("file ends inside a block header")
                return None
            byte = b[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def resync(self, marker: bytes) -> bool:
        """Go back to the mark and advance just past the next ``marker`` after it; False at end of file."""
        assert self._mark is not None
        self._i, self.pos = self._mark, self._mark_pos
        self._mark = None
        start = self._i + 1
        while True:
            idx = self._buf.find(marker, start)
            if idx >= 0:
                self.pos += idx + len(marker) - self._i
                self._i = idx + len(marker)
                return True
            if self._eof:
                return False
            keep = max(start, len(self._buf) - len(marker) + 1)
            self.pos += keep - self._i
            self._i = keep
            self._fill(len(self._buf) - self._i + _READ_BUFFER)
            start = self._i


def _read_header(s: _Stream, path: str) -> tuple[dict[str, Any], str, bytes]:
    """Schema, codec name and sync marker of a container file whose stream is at byte 0."""
    if s.read(4) != _AVRO_MAGIC:
        raise BadInputError(f"{path}: not an Avro object container file (bad magic)")
    meta: dict[str, bytes] = {}
    try:
        while True:
            n = s.read_long()
            if n is None:
                raise EOFError("file ends inside the header")
            if n == 0:
                break
            if n < 0:  # a negative count is followed by the block's byte size
                s.read_long()
                n = -n
            for _ in range(n):
                key = s.read(s.read_long() or 0).decode()
                meta[key] = s.read(s.read_long() or 0)
        sync = s.read(16)
        if len(sync) != 16:
            raise EOFError("file ends inside the header")
        schema = json.loads(meta["avro.schema"])
        return schema, meta.get("avro.codec", b"null").decode() or "null", sync
    except (KeyError, ValueError, EOFError) as exc:
        raise BadInputError(f"{path}: unreadable Avro header: {type(exc).__name__}: {exc}") from None


class AvroFileSource(FileReader):
    """Avro object container files (the spec's codecs), local paths/globs or ``hdfs://`` paths.

    Token: ``[block byte offset, records of that block already done]``. Body: ``body_format="json"`` (compact
    JSON, see :func:`avro_json_body`) or ``"avro"`` (schemaless Avro datum with ``body_schema``, default the
    writer's).
    """

    def __init__(
        self,
        pattern: str,
        *,
        body_format: str = "json",
        body_schema: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pattern, **kwargs)
        if body_format not in ("json", "avro"):
            raise ValueError(f"body_format must be 'json' or 'avro' (got {body_format!r})")
        self.body_format = body_format
        self.body_schema = body_schema

    def _header(self, path: str) -> tuple[dict[str, Any], str, bytes, int]:
        """Writer schema, codec, sync marker and the offset of the first block."""
        raw = self.fs.open(path, 0)
        try:
            s = _Stream(raw, 0)
            return (*_read_header(s, path), s.pos)
        finally:
            raw.close()

    def _encoder(self, writer_schema: Any) -> Callable[[Any], bytes]:
        """The body encoder: compact JSON, or the schemaless Avro datum in ``body_schema`` (default the writer's)."""
        if self.body_format == "json":
            return avro_json_body
        out_schema = fastavro.parse_schema(self.body_schema) if self.body_schema else writer_schema

        def avro_body(rec: Any) -> bytes:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, out_schema, rec)
            return buf.getvalue()

        return avro_body

    def _read_file(self, path: str) -> Iterator[SourceRecord]:
        schema, codec, sync, data_start = self._header(path)
        decompress = _codec(codec, path)
        parsed = fastavro.parse_schema(schema)
        encode = self._encoder(parsed)
        start, skip_records = self.resume_units.get(path, (data_start, 0))
        raw = self.fs.open(path, start)
        self._current = raw
        s = _Stream(io.BufferedReader(raw, _READ_BUFFER), start)
        try:
            while True:
                s.mark()
                block_start = s.pos
                where = f"block@{block_start}"
                try:
                    records = _read_block(s, sync, decompress, parsed)
                except Exception as exc:  # any decode failure makes the block unreadable
                    self.bad(f"{path}:{where}", f"unreadable Avro block: {type(exc).__name__}: {exc}")
                    skip_records = 0
                    if not s.resync(sync):
                        return
                    continue
                if records is None:
                    return
                count = len(records)
                for i in range(skip_records, count):
                    rec = records[i]
                    token = (block_start, i + 1) if i + 1 < count else (s.pos, 0)
                    yield SourceRecord(encode(rec), rec, path, f"{where}:{i}", token)
                skip_records = 0
        finally:
            raw.close()


def _read_block(
    s: _Stream, sync: bytes, decompress: Callable[[bytes], bytes], schema: Any
) -> list[Any] | None:
    """The records of the block at the stream's position (None at a clean end of file).

    :raises Exception: whatever makes the block unreadable (framing, sync marker, codec or datum errors).
    """
    count = s.read_long()
    if count is None:
        return None
    size = s.read_long()
    if size is None or count < 0 or size < 0 or size > _MAX_BLOCK:
        raise ValueError(f"implausible block header (count {count}, size {size})")
    data = s.read(size)
    if len(data) != size:
        raise EOFError(f"file ends inside the block ({len(data)} of {size} bytes)")
    if s.read(16) != sync:
        raise ValueError("sync marker mismatch")
    block = io.BytesIO(decompress(data))
    reader = fastavro.schemaless_reader
    records = [reader(block, schema, None) for _ in range(count)]
    if block.read(1):
        raise ValueError("trailing bytes after the block's records")
    return records
