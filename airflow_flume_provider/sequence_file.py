"""Hadoop SequenceFile reading (versions 4-6; uncompressed, RECORD- and BLOCK-compressed), from bytes or a stream.

Counting needs no decompression; :func:`iter_sequence_file` decompresses with DefaultCodec (zlib), GzipCodec
and BZip2Codec and raises :class:`UnsupportedCodecError` naming the file and codec for others. Streams are
read forward only, in bounded chunks (see :class:`_Reader`). Re-exported by
:mod:`airflow_flume_provider.hdfs_formats`.
"""

from __future__ import annotations

import bz2
import gzip
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = [
    "BZIP2_CODEC",
    "DEFAULT_CODEC",
    "DEFLATE_CODEC",
    "GZIP_CODEC",
    "FormatError",
    "SequenceFileHeader",
    "UnsupportedCodecError",
    "count_sequence_file",
    "decompressor",
    "iter_sequence_file",
    "read_sequence_header",
]

CHUNK = 1 << 20
SEQ_MAGIC = b"SEQ"
SYNC_ESCAPE = -1
SYNC_SIZE = 16

DEFAULT_CODEC = "org.apache.hadoop.io.compress.DefaultCodec"
GZIP_CODEC = "org.apache.hadoop.io.compress.GzipCodec"
BZIP2_CODEC = "org.apache.hadoop.io.compress.BZip2Codec"
DEFLATE_CODEC = "org.apache.hadoop.io.compress.DeflateCodec"


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
    """Cursor over bytes or a binary stream with Hadoop's DataInput primitives; errors name file and offset.

    A stream is read in chunks of at least :data:`CHUNK` bytes; only the unread part of the current chunk
    (or of one record/block being taken) is held, so memory stays bounded whatever the file size.
    """

    __slots__ = ("base", "buf", "eof", "name", "off", "stream")

    def __init__(self, source: bytes | bytearray | memoryview | BinaryIO, name: str) -> None:
        self.name = name
        self.base = 0
        self.off = 0
        if isinstance(source, bytes | bytearray | memoryview):
            self.stream: BinaryIO | None = None
            self.buf = bytes(source)
            self.eof = True
        else:
            self.stream = source
            self.buf = b""
            self.eof = False

    @property
    def pos(self) -> int:
        """Absolute offset of the next byte."""
        return self.base + self.off

    def _fill(self, n: int) -> bool:
        """Make ``n`` bytes available at ``off``; False when the input ends first."""
        if self.off + n <= len(self.buf):
            return True
        if self.eof or self.stream is None:
            return False
        chunks = [self.buf[self.off :]]
        have = len(chunks[0])
        while have < n:
            chunk = self.stream.read(max(CHUNK, n - have))
            if not chunk:
                self.eof = True
                break
            chunks.append(chunk)
            have += len(chunk)
        self.base += self.off
        self.buf, self.off = b"".join(chunks), 0
        return have >= n

    def fail(self, what: str) -> FormatError:
        size = f"file has {self.base + len(self.buf)} bytes" if self.eof else "streamed"
        return FormatError(f"{self.name}: {what} at byte {self.pos} ({size})")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or not self._fill(n):
            raise self.fail(f"truncated {what} (need {n} bytes)")
        b = self.buf[self.off : self.off + n]
        self.off += n
        return b

    def skip(self, n: int, what: str) -> None:
        if n < 0:
            raise self.fail(f"truncated {what} (need {n} bytes)")
        while n > len(self.buf) - self.off:
            n -= len(self.buf) - self.off
            self.base += len(self.buf)
            self.buf, self.off = b"", 0
            if not self._fill(min(n, CHUNK)):
                raise self.fail(f"truncated {what} (need {n} more bytes)")
        self.off += n

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
        return not self._fill(1)


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


def read_sequence_header(data: bytes | BinaryIO, name: str = "<bytes>") -> SequenceFileHeader:
    """Parse only the header of a SequenceFile."""
    return _read_header(_Reader(data, name))


def _expect_sync(r: _Reader, header: SequenceFileHeader) -> None:
    if r.take(SYNC_SIZE, "sync marker") != header.sync:
        r.off -= SYNC_SIZE  # report the offset where the marker starts
        raise r.fail("sync marker does not match the header's (corrupt file)")


def _walk(data: bytes | BinaryIO, name: str, decode: bool) -> Iterator[tuple[bytes, bytes] | int]:
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


def iter_sequence_file(data: bytes | BinaryIO, name: str = "<bytes>") -> Iterator[tuple[bytes, bytes]]:
    """Yield the raw serialized ``(key, value)`` of every record (bytes or a stream), decompressing values/blocks."""
    for item in _walk(data, name, decode=True):
        assert isinstance(item, tuple)
        yield item


def count_sequence_file(data: bytes | BinaryIO, name: str = "<bytes>") -> int:
    """Count the records of a SequenceFile (bytes or a stream) without decompressing them."""
    return sum(n for n in _walk(data, name, decode=False) if isinstance(n, int))
