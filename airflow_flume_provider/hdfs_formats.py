"""Count the events in files written by Flume's HDFS sink.

Supported outputs:

* ``DataStream`` + ``TEXT`` serializer: one event per line (Flume writes ``body + "\\n"``; a body holding
  newlines is counted once per line — that is a property of the format, not of this counter).
* ``DataStream`` + ``avro_event`` serializer: Avro container files; records are counted per block via
  fastavro without decoding them.
* ``SequenceFile``: Hadoop SequenceFile (versions 4-6), uncompressed, RECORD- and BLOCK-compressed. Counting
  needs no decompression; :func:`iter_sequence_file` decompresses with DefaultCodec (zlib), GzipCodec and
  BZip2Codec and raises :class:`UnsupportedCodecError` naming the file and codec for others (Snappy, Lz4...).
* ``CompressedStream``: the stream is decompressed (gzip, bzip2, deflate) and counted as above.
"""

from __future__ import annotations

import bz2
import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import fastavro

__all__ = [
    "FormatError",
    "SequenceFileHeader",
    "UnsupportedCodecError",
    "count_avro_container",
    "count_events",
    "count_sequence_file",
    "count_text_lines",
    "iter_sequence_file",
    "read_sequence_header",
]

SEQ_MAGIC = b"SEQ"
SYNC_ESCAPE = -1
SYNC_SIZE = 16

DEFAULT_CODEC = "org.apache.hadoop.io.compress.DefaultCodec"
GZIP_CODEC = "org.apache.hadoop.io.compress.GzipCodec"
BZIP2_CODEC = "org.apache.hadoop.io.compress.BZip2Codec"
DEFLATE_CODEC = "org.apache.hadoop.io.compress.DeflateCodec"

AVRO_SERIALIZERS = ("avro_event", "org.apache.flume.serialization.FlumeEventAvroEventSerializer$Builder")
TEXT_SERIALIZERS = ("text", "org.apache.flume.serialization.BodyTextEventSerializer$Builder")


class FormatError(ValueError):
    """A file is not valid in the format it should be in (names the file and the offset)."""


class UnsupportedCodecError(FormatError):
    """A compression codec has no Python implementation here (e.g. SnappyCodec, Lz4Codec)."""


def _decompress_zlib(data: bytes) -> bytes:
    out = bytearray()
    while data:
        d = zlib.decompressobj()
        out += d.decompress(data)
        out += d.flush()
        data = d.unused_data
    return bytes(out)


def _decompress_bzip2(data: bytes) -> bytes:
    # Hadoop's BZip2Codec streams start with "BZh"; tolerate headerless (pure Java writer) blocks too.
    if not data.startswith(b"BZh"):
        data = b"BZ" + data if data.startswith(b"h") else data
    return bz2.decompress(data)


_CODECS = {
    DEFAULT_CODEC: _decompress_zlib,
    DEFLATE_CODEC: lambda b: zlib.decompress(b, -15),
    GZIP_CODEC: gzip.decompress,
    BZIP2_CODEC: _decompress_bzip2,
}
_CODEC_ALIASES = {
    "default": DEFAULT_CODEC,
    "deflate": DEFAULT_CODEC,
    "zlib": DEFAULT_CODEC,
    "gzip": GZIP_CODEC,
    "gz": GZIP_CODEC,
    "bzip2": BZIP2_CODEC,
    "bz2": BZIP2_CODEC,
}


def decompressor(codec: str, name: str) -> object:
    """Return the decompress function for a Hadoop codec class (or Flume alias) or raise naming the file."""
    cls = _CODEC_ALIASES.get(codec.lower(), codec)
    try:
        return _CODECS[cls]
    except KeyError:
        raise UnsupportedCodecError(
            f"{name}: compression codec {codec!r} has no Python implementation here "
            f"(supported: {', '.join(sorted(_CODECS))})"
        ) from None


# -- Hadoop primitive encodings ---------------------------------------------------------------------------
class _Reader:
    """Cursor over a byte buffer with Hadoop's DataInput primitives; errors name the file and offset."""

    __slots__ = ("data", "name", "pos")

    def __init__(self, data: bytes, name: str) -> None:
        self.data = memoryview(data)
        self.name = name
        self.pos = 0

    def fail(self, what: str) -> FormatError:
        return FormatError(f"{self.name}: {what} at byte {self.pos} (file has {len(self.data)} bytes)")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated {what} (need {n} bytes)")
        b = self.data[self.pos : self.pos + n].tobytes()
        self.pos += n
        return b

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated {what} (need {n} bytes)")
        self.pos += n

    def int32(self, what: str) -> int:
        return struct.unpack(">i", self.take(4, what))[0]

    def boolean(self, what: str) -> bool:
        return self.take(1, what) != b"\x00"

    def vlong(self, what: str) -> int:
        """Hadoop ``WritableUtils.readVLong`` (zero-compressed encoding)."""
        first = struct.unpack(">b", self.take(1, what))[0]
        if first >= -112:
            return first
        negative = first < -120
        size = (-119 - first) if negative else (-111 - first)
        value = int.from_bytes(self.take(size - 1, what), "big")
        return ~value if negative else value

    def text(self, what: str) -> str:
        n = self.vlong(f"{what} length")
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what} is not UTF-8") from exc

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.data)


@dataclass(frozen=True)
class SequenceFileHeader:
    """The parsed header of a Hadoop SequenceFile."""

    version: int
    key_class: str
    value_class: str
    compressed: bool
    block_compressed: bool
    codec: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    sync: bytes = b""
    header_size: int = 0


def _read_header(r: _Reader) -> SequenceFileHeader:
    magic = r.take(3, "SequenceFile magic")
    if magic != SEQ_MAGIC:
        raise FormatError(f"{r.name}: not a SequenceFile (starts with {magic!r}, expected b'SEQ')")
    version = r.take(1, "SequenceFile version")[0]
    if not 4 <= version <= 6:
        raise FormatError(f"{r.name}: unsupported SequenceFile version {version} (supported: 4-6)")
    key_class = r.text("key class name")
    value_class = r.text("value class name")
    compressed = r.boolean("compression flag")
    block = r.boolean("block-compression flag") if version >= 5 else False
    codec = r.text("codec class name") if compressed else None
    metadata: dict[str, str] = {}
    if version >= 6:
        n = r.int32("metadata entry count")
        if n < 0:
            raise r.fail(f"negative metadata entry count {n}")
        for _ in range(n):
            k = r.text("metadata key")
            metadata[k] = r.text("metadata value")
    sync = r.take(SYNC_SIZE, "sync marker")
    return SequenceFileHeader(
        version, key_class, value_class, compressed, block, codec, metadata, sync, r.pos
    )


def read_sequence_header(data: bytes, name: str = "<bytes>") -> SequenceFileHeader:
    """Parse only the header of a SequenceFile."""
    return _read_header(_Reader(data, name))


def _expect_sync(r: _Reader, header: SequenceFileHeader) -> None:
    if r.take(SYNC_SIZE, "sync marker") != header.sync:
        r.pos -= SYNC_SIZE
        raise r.fail("sync marker does not match the header's (corrupt file)")


def _walk(data: bytes, name: str, decode: bool) -> Iterator[tuple[bytes, bytes] | int]:
    """Yield records ``(key, value)`` when ``decode`` else record counts per record/block."""
    r = _Reader(data, name)
    h = _read_header(r)
    decomp = decompressor(h.codec, name) if decode and h.codec else None
    while not r.at_end:
        n = r.int32("record length")
        if n == SYNC_ESCAPE:
            _expect_sync(r, h)
            if h.block_compressed and not r.at_end:
                records = r.vlong("block record count")
                if records < 0:
                    raise r.fail(f"negative block record count {records}")
                bufs = []
                for what in ("key lengths", "keys", "value lengths", "values"):
                    size = r.vlong(f"{what} buffer size")
                    bufs.append(r.take(size, f"{what} buffer") if decode else r.skip(size, f"{what} buffer"))
                if not decode:
                    yield records
                    continue
                yield from _block_records(bufs, records, decomp, name)  # type: ignore[arg-type]
            continue
        if h.block_compressed:
            raise r.fail(f"expected a sync escape before a block, found {n}")
        if n < 0:
            raise r.fail(f"negative record length {n}")
        key_len = r.int32("key length")
        if key_len < 0 or key_len > n:
            raise r.fail(f"key length {key_len} outside record length {n}")
        if not decode:
            r.skip(n, "record")
            yield 1
            continue
        key = r.take(key_len, "record key")
        value = r.take(n - key_len, "record value")
        if h.compressed and decomp is not None:
            value = _run_codec(decomp, value, name, h.codec)
        yield key, value


def _run_codec(decomp: object, data: bytes, name: str, codec: str | None) -> bytes:
    try:
        return decomp(data)  # type: ignore[operator]
    except (OSError, zlib.error, EOFError, ValueError) as exc:
        raise FormatError(f"{name}: cannot decompress with {codec}: {exc}") from exc


def _block_records(
    bufs: list[bytes], records: int, decomp: object, name: str
) -> Iterator[tuple[bytes, bytes]]:
    plain = [_run_codec(decomp, b, name, "block codec") for b in bufs]
    key_lens, keys, val_lens, vals = (_Reader(p, f"{name} (block)") for p in plain)
    for _ in range(records):
        k = keys.take(key_lens.vlong("key length"), "block key")
        v = vals.take(val_lens.vlong("value length"), "block value")
        yield k, v


def iter_sequence_file(data: bytes, name: str = "<bytes>") -> Iterator[tuple[bytes, bytes]]:
    """Yield the raw serialized ``(key, value)`` of every record, decompressing values/blocks."""
    for item in _walk(data, name, decode=True):
        assert isinstance(item, tuple)
        yield item


def count_sequence_file(data: bytes, name: str = "<bytes>") -> int:
    """Count the records of a SequenceFile without decompressing them."""
    return sum(n for n in _walk(data, name, decode=False) if isinstance(n, int))


def count_text_lines(data: bytes) -> int:
    """Count ``\\n``-terminated lines (a final unterminated line counts too)."""
    n = data.count(b"\n")
    return n + 1 if data and not data.endswith(b"\n") else n


def count_avro_container(data: bytes, name: str = "<bytes>") -> int:
    """Count the records of an Avro container file block by block (records are not decoded)."""
    try:
        return sum(block.num_records for block in fastavro.block_reader(io.BytesIO(data)))
    except Exception as exc:  # fastavro raises assorted types for corrupt input
        raise FormatError(f"{name}: not a readable Avro container file: {type(exc).__name__}: {exc}") from exc


def _is_avro_serializer(serializer: str | None) -> bool:
    return (serializer or "TEXT").strip().lower() in (s.lower() for s in AVRO_SERIALIZERS)


def count_events(
    data: bytes,
    *,
    file_type: str = "SequenceFile",
    serializer: str | None = "TEXT",
    codec: str | None = None,
    name: str = "<bytes>",
) -> int:
    """Count the Flume events in one finished sink file, given the sink's ``fileType``/``serializer``/``codeC``."""
    ft = (file_type or "SequenceFile").strip().lower()
    if ft == "sequencefile":
        return count_sequence_file(data, name)
    if ft == "compressedstream":
        if not codec:
            raise FormatError(f"{name}: fileType CompressedStream needs a codec (hdfs.codeC)")
        data = _run_codec(decompressor(codec, name), data, name, codec)
    elif ft != "datastream":
        raise FormatError(f"{name}: unknown Flume fileType {file_type!r}")
    if _is_avro_serializer(serializer):
        return count_avro_container(data, name)
    if (serializer or "TEXT").strip().lower() not in TEXT_SERIALIZERS:
        raise FormatError(f"{name}: cannot count events for serializer {serializer!r} (TEXT or avro_event)")
    return count_text_lines(data)
