"""Streaming readers for stored events (JSON Lines, Avro container files, a Kafka topic) and the dead-letter file.

Every reader yields :class:`SourceRecord` objects in input order, in constant memory, each with a position
for error messages (``file:line``, ``file:block N:i``, ``topic:partition:offset``) and a resume *token*
(byte offset / block offset / Kafka offset) for checkpoints. A reader resumes from ``resume`` =
``{"units": {unit: token}, "done": [unit, ...]}``, as saved by the replay operator.

Bad input (invalid JSON, invalid UTF-8, truncated or corrupt gzip, unreadable Avro block, a null Kafka value)
raises :class:`BadInputError` naming the position with ``on_bad_input="fail"``; with ``"skip"`` it is written
to the dead-letter file with the reason and counted in ``reader.bad_input``. Nothing is dropped uncounted.

JSON Lines bodies are the original line bytes without the line terminator, never re-serialised.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import fnmatch
import glob as globmod
import gzip
import io
import json
import os
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

BAD_INPUT_POLICIES = ("fail", "skip")
_READ_BUFFER = 1 << 20
_PARTITION_EOF = -191


class BadInputError(ValueError):
    """Unreadable input; the message names the file and line/block (or topic:partition:offset)."""


class SourceRecord:
    """One stored event: the body to publish, its parsed value and where it came from."""

    __slots__ = ("body", "kafka_timestamp_ms", "key", "token", "unit", "value", "where")

    def __init__(
        self,
        body: bytes,
        value: Any,
        unit: str,
        where: int | str,
        token: Any,
        kafka_timestamp_ms: int | None = None,
        key: bytes | None = None,
    ) -> None:
        self.body = body
        self.value = value
        self.unit = unit
        self.where = where
        self.token = token
        self.kafka_timestamp_ms = kafka_timestamp_ms
        self.key = key

    @property
    def position(self) -> str:
        """Human-readable position: ``file:line``, ``file:block N:i`` or ``topic:partition:offset``."""
        return f"{self.unit}:{self.where}"

    def __repr__(self) -> str:
        return f"SourceRecord({self.position}, {len(self.body)} bytes)"


class DeadLetterWriter:
    """Append-only JSON Lines file of records that were not published, each with its position and reason.

    Line format: ``{"position": ..., "reason": ..., "body": <utf-8 text>}`` or ``"body_base64"`` when the body
    is not valid UTF-8. The file is opened on the first write; ``count`` is the number of entries written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._fh: BinaryIO | None = None

    def write(self, position: str, reason: str, body: bytes = b"") -> None:
        """Record one rejected record."""
        entry: dict[str, Any] = {"position": position, "reason": reason}
        try:
            entry["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            entry["body_base64"] = base64.b64encode(body).decode("ascii")
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open across writes, closed in close()
        self._fh.write(json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
        self.count += 1

    def flush(self) -> None:
        """Make written entries durable (called before a checkpoint is saved)."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def size(self) -> int:
        """Current file size in bytes (0 if absent)."""
        self.flush()
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> None:
        """Drop entries written after a checkpoint (a resumed run writes them again)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self.path.exists() and self.path.stat().st_size > size:
            with open(self.path, "r+b") as fh:
                fh.truncate(size)

    def close(self) -> None:
        """Flush and close the file."""
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    @staticmethod
    def read(path: str | Path) -> list[dict[str, Any]]:
        """All entries of a dead-letter file (for tests and tooling)."""
        p = Path(path)
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_bytes().splitlines() if line.strip()]


# -- file access (local or HDFS through WebHDFS) -------------------------------------------------------------
class _CountingReader(io.RawIOBase):
    """Raw stream wrapper counting the bytes read (the % of input done in progress logs)."""

    def __init__(self, raw: Any, owner: Any = None) -> None:
        self.raw = raw
        self.count = 0
        # The context manager that produced ``raw`` (hdfs' ``client.read``): it must live as long as the
        # stream, or its cleanup closes the HTTP response mid-read (IncompleteRead).
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n

    def close(self) -> None:
        try:
            self.raw.close()
            if self._owner is not None:
                owner, self._owner = self._owner, None
                owner.__exit__(None, None, None)
        finally:
            super().close()


class FileSystem:
    """Lists and opens input files, locally or on HDFS (``hdfs://`` paths, via the webhdfs connection)."""

    def __init__(self, webhdfs_conn_id: str = "webhdfs_default", client: Any = None) -> None:
        self.webhdfs_conn_id = webhdfs_conn_id
        self._client = client

    @staticmethod
    def is_hdfs(path: str) -> bool:
        """True for ``hdfs://`` URIs."""
        return path.startswith("hdfs://")

    @property
    def client(self) -> Any:
        """hdfs ``InsecureClient``/``KerberosClient`` from Airflow's WebHDFSHook (created once)."""
        if self._client is None:
            from airflow.providers.apache.hdfs.hooks.webhdfs import WebHDFSHook

            self._client = WebHDFSHook(webhdfs_conn_id=self.webhdfs_conn_id).get_conn()
        return self._client

    @staticmethod
    def _hdfs_path(path: str) -> str:
        rest = path[len("hdfs://") :]
        slash = rest.find("/")
        return "/" if slash < 0 else rest[slash:]

    def expand(self, pattern: str) -> list[tuple[str, int]]:
        """Sorted ``(path, size)`` for a path or glob (``*?[`` in the last component for HDFS)."""
        if self.is_hdfs(pattern):
            prefix = pattern[: len(pattern) - len(self._hdfs_path(pattern))]
            hpath = self._hdfs_path(pattern)
            parent, _, name = hpath.rpartition("/")
            if any(c in name for c in "*?["):
                listing = self.client.list(parent or "/", status=True)
                found = [
                    (f"{prefix}{parent}/{n}", int(st["length"]))
                    for n, st in listing
                    if st["type"] == "FILE" and fnmatch.fnmatchcase(n, name)
                ]
            else:
                st = self.client.status(hpath, strict=False)
                found = [] if st is None else [(pattern, int(st["length"]))]
            if not found:
                raise FileNotFoundError(f"no input file matches {pattern!r}")
            return sorted(found)
        paths = sorted(globmod.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        paths = [p for p in paths if os.path.isfile(p)]
        if not paths:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        return [(p, os.path.getsize(p)) for p in paths]

    def open(self, path: str, offset: int = 0) -> _CountingReader:
        """Raw byte stream from ``offset`` (counting bytes read)."""
        if self.is_hdfs(path):
            ctx = self.client.read(self._hdfs_path(path), offset=offset)
            reader = _CountingReader(ctx.__enter__(), owner=ctx)
            reader.count = offset
            return reader
        fh = open(path, "rb", buffering=0)  # noqa: SIM115 - returned to the caller, closed by it
        if offset:
            fh.seek(offset)
        reader = _CountingReader(fh)
        reader.count = offset
        return reader


class _Reader:
    """Base of the readers: bad-input policy, dead letters, progress and resume bookkeeping."""

    def __init__(
        self,
        *,
        on_bad_input: str = "fail",
        dead_letter: DeadLetterWriter | None = None,
        resume: dict[str, Any] | None = None,
    ) -> None:
        if on_bad_input not in BAD_INPUT_POLICIES:
            raise ValueError(f"on_bad_input must be one of {BAD_INPUT_POLICIES} (got {on_bad_input!r})")
        if on_bad_input == "skip" and dead_letter is None:
            raise ValueError("on_bad_input='skip' needs a dead-letter file")
        self.on_bad_input = on_bad_input
        self.dead_letter = dead_letter
        self.resume_units: dict[str, Any] = dict((resume or {}).get("units", {}))
        self.completed_units: list[str] = list((resume or {}).get("done", []))
        self.bad_input = 0
        self.total_bytes: int | None = None
        self._done_bytes = 0
        self._current: _CountingReader | None = None

    def bad(self, position: str, reason: str, body: bytes = b"") -> None:
        """Apply the bad-input policy: raise, or dead-letter and count."""
        if self.on_bad_input == "fail":
            raise BadInputError(f"{position}: {reason}")
        assert self.dead_letter is not None
        self.dead_letter.write(position, reason, body)
        self.bad_input += 1

    def fraction_done(self) -> float | None:
        """Share of input bytes read so far (None when unknown)."""
        if not self.total_bytes:
            return None
        current = self._current.count if self._current is not None else 0
        return min(1.0, (self._done_bytes + current) / self.total_bytes)

    def __iter__(self) -> Iterator[SourceRecord]:
        raise NotImplementedError


# -- JSON Lines ----------------------------------------------------------------------------------------------
class _FileReader(_Reader):
    """A reader of files matched by ``pattern`` (local or hdfs://): skips files a checkpoint completed."""

    pattern: str
    fs: FileSystem

    def __iter__(self) -> Iterator[SourceRecord]:
        files = self.fs.expand(self.pattern)
        self.total_bytes = sum(size for _, size in files)
        for path, size in files:
            if path in self.completed_units:
                self._done_bytes += size
                continue
            yield from self._read_file(path)
            self._done_bytes += size
            self._current = None
            self.completed_units.append(path)

    def _read_file(self, path: str) -> Iterator[SourceRecord]:
        raise NotImplementedError


class JsonLinesSource(_FileReader):
    """JSON Lines, plain or gzip (``.gz``), from local paths/globs or ``hdfs://`` paths.

    Token: ``[uncompressed byte offset after the line, line number]``. Resuming a ``.gz`` file decompresses
    (without publishing) up to the offset. Blank lines are skipped and counted in ``blank_lines``.
    """

    def __init__(self, pattern: str, *, fs: FileSystem | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pattern = pattern
        self.fs = fs or FileSystem()
        self.blank_lines = 0

    def _read_file(self, path: str) -> Iterator[SourceRecord]:
        offset, lineno = self.resume_units.get(path, (0, 0))
        gz = path.endswith(".gz")
        raw = self.fs.open(path, 0 if gz else offset)
        self._current = raw
        try:
            if gz:
                stream: Any = gzip.GzipFile(fileobj=io.BufferedReader(raw, _READ_BUFFER), mode="rb")
                if offset:
                    _skip(stream, offset, path)
            else:
                stream = io.BufferedReader(raw, _READ_BUFFER)
            try:
                parse = parse_json_line
                fast_loads, fast_error, exact = _FAST_JSON or (None, ValueError, None)
                record = SourceRecord
                for lines, newline in _line_batches(stream.read1):
                    for line in lines:
                        lineno += 1
                        offset += len(line) + newline
                        body = line[:-1] if line[-1:] == b"\r" else line
                        if fast_loads is not None:  # parse_json_line inlined for the common case
                            try:
                                value = fast_loads(body)
                            except fast_error:
                                value = _BAD_LINE
                            if type(value) is dict:
                                for v in value.values():
                                    t = type(v)
                                    if t is not str and t is not int and not exact(v):  # type: ignore[misc]
                                        value = _BAD_LINE
                                        break
                            elif value is not _BAD_LINE and not exact(value):  # type: ignore[misc]
                                value = _BAD_LINE
                            if value is _BAD_LINE:
                                value = parse(body)  # the reference path decides
                        else:
                            value = parse(body)
                        if value is _BAD_LINE:
                            self._bad_line(path, lineno, body)
                            continue
                        yield record(body, value, path, lineno, (offset, lineno))
            except (EOFError, OSError, zlib.error) as exc:
                kind = "truncated gzip" if isinstance(exc, EOFError) else "unreadable gzip"
                self.bad(
                    f"{path}:{lineno + 1}",
                    f"{kind} after line {lineno} (uncompressed byte {offset}): {exc}; rest of file not read",
                )
        finally:
            raw.close()

    def _bad_line(self, path: str, lineno: int, body: bytes) -> None:
        """Blank line (counted) or invalid UTF-8/JSON (bad-input policy), with the reference parser's reason."""
        try:
            json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            self.bad(f"{path}:{lineno}", f"invalid UTF-8 at byte {exc.start}: {exc.reason}", body)
        except ValueError as exc:
            if not body.strip():
                self.blank_lines += 1
                return
            self.bad(f"{path}:{lineno}", f"invalid JSON: {exc}", body)


def _line_batches(read1: Callable[[int], bytes]) -> Iterator[tuple[list[bytes], int]]:
    """``(lines, 1)`` per large ``read1`` chunk (lines without their ``\\n``), then ``([last], 0)`` for a
    final line without ``\\n``.

    The same lines as iterating the binary stream; a read error surfaces after exactly the complete lines
    read before it, as with ``readline``.
    """
    carry: list[bytes] = []
    while True:
        chunk = read1(_READ_BUFFER)
        if not chunk:
            break
        if carry:
            if b"\n" not in chunk:  # a long line: keep its pieces, join them once it ends
                carry.append(chunk)
                continue
            carry.append(chunk)
            chunk = b"".join(carry)
            carry = []
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if tail:
            carry.append(tail)
        yield lines, 1
    if carry:
        yield [b"".join(carry)], 0


_BAD_LINE = object()


def _json_loads_reference(body: bytes) -> Any:
    """The reference line parser: strict UTF-8, then the standard library's JSON."""
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        return _BAD_LINE


def _exact_nested(value: Any) -> bool:
    """False when orjson may have turned an integer outside 64 bits into a float (json keeps it an int)."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is dict:
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
        elif t is float and not -9.2e18 < v < 9.2e18:
            return False
    return True


def _make_line_parser() -> Callable[[bytes], Any]:
    """``parse(body) -> value`` or ``_BAD_LINE``; identical results to :func:`_json_loads_reference`.

    With orjson installed it parses first (3x faster); whatever orjson rejects (NaN, lone surrogates,
    invalid input...) or may have changed (integers beyond 64 bits) goes through the reference parser.
    """
    try:
        import orjson
    except ImportError:
        return _json_loads_reference
    fast_loads = orjson.loads
    fast_error = orjson.JSONDecodeError
    reference = _json_loads_reference
    exact = _exact_nested

    def parse(body: bytes) -> Any:
        try:
            value = fast_loads(body)
        except fast_error:
            return reference(body)
        if type(value) is dict:
            for v in value.values():
                t = type(v)
                if t is not str and t is not int and not exact(v):
                    return reference(body)
            return value
        return value if exact(value) else reference(body)

    return parse


#: Parse one JSON Lines body: the value, or ``_BAD_LINE`` (then ``_bad_line`` gives the reason).
parse_json_line = _make_line_parser()


def _fast_json() -> tuple[Callable[[bytes], Any], type[Exception], Callable[[Any], bool]] | None:
    """orjson's loads, its error and the exactness check, when orjson is installed (else None)."""
    try:
        import orjson
    except ImportError:
        return None
    return orjson.loads, orjson.JSONDecodeError, _exact_nested


_FAST_JSON = _fast_json()


def _skip(stream: Any, count: int, path: str) -> None:
    """Read and discard ``count`` bytes (resuming inside a compressed file)."""
    while count > 0:
        chunk = stream.read(min(count, _READ_BUFFER))
        if not chunk:
            raise BadInputError(f"{path}: shorter than the checkpointed offset; was the file replaced?")
        count -= len(chunk)


# -- Avro object container files ------------------------------------------------------------------------------
_AVRO_MAGIC = b"Obj\x01"


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")  # Avro's JSON encoding of bytes/fixed
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def avro_json_body(record: Any) -> bytes:
    """Compact JSON body for an Avro record (bytes as ISO-8859-1 text, times as ISO-8601)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()


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


class _BlockBytes:
    """Adapter giving fastavro's block decompressors the block payload."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read_bytes(self) -> bytes:
        return self.data


class AvroFileSource(_FileReader):
    """Avro object container files (any fastavro codec), local paths/globs or ``hdfs://`` paths.

    Blocks are framed here (so a corrupt block is reported as ``file:block N`` and, with ``skip``, the reader
    resynchronises on the next sync marker); records are decoded with fastavro. Token: ``[block byte offset,
    records of that block already done]``. Body: ``body_format="json"`` (compact JSON, see
    :func:`avro_json_body`) or ``"avro"`` (schemaless Avro datum with ``body_schema``, default the writer's).
    """

    def __init__(
        self,
        pattern: str,
        *,
        body_format: str = "json",
        body_schema: dict[str, Any] | None = None,
        fs: FileSystem | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if body_format not in ("json", "avro"):
            raise ValueError(f"body_format must be 'json' or 'avro' (got {body_format!r})")
        self.pattern = pattern
        self.body_format = body_format
        self.body_schema = body_schema
        self.fs = fs or FileSystem()

    def _header(self, path: str) -> tuple[dict[str, Any], str, bytes, int]:
        raw = self.fs.open(path, 0)
        try:
            s = _Stream(raw, 0)
            if s.read(4) != _AVRO_MAGIC:
                raise BadInputError(f"{path}: not an Avro object container file (bad magic)")
            meta: dict[str, bytes] = {}
            while True:
                n = s.read_long()
                if n is None:
                    raise BadInputError(f"{path}: truncated Avro header")
                if n == 0:
                    break
                if n < 0:
                    s.read_long()
                    n = -n
                for _ in range(n):
                    key = s.read(s.read_long() or 0).decode()
                    meta[key] = s.read(s.read_long() or 0)
            sync = s.read(16)
            if len(sync) != 16:
                raise BadInputError(f"{path}: truncated Avro header")
            schema = json.loads(meta["avro.schema"])
            codec = meta.get("avro.codec", b"null").decode() or "null"
            return schema, codec, sync, s.pos
        except (KeyError, ValueError, EOFError) as exc:
            if isinstance(exc, BadInputError):
                raise
            raise BadInputError(f"{path}: unreadable Avro header: {exc}") from None
        finally:
            raw.close()

    def _read_file(self, path: str) -> Iterator[SourceRecord]:
        import fastavro
        from fastavro._read_py import BLOCK_READERS  # pure-Python codecs: take the payload via read_bytes()

        schema, codec, sync, data_start = self._header(path)
        parsed = fastavro.parse_schema(schema)
        out_schema = fastavro.parse_schema(self.body_schema) if self.body_schema else parsed
        decompress = BLOCK_READERS.get(codec)
        if decompress is None:
            raise BadInputError(f"{path}: unsupported Avro codec {codec!r}")
        start, skip_records = self.resume_units.get(path, (data_start, 0))
        block_no = 0
        raw = self.fs.open(path, start)
        self._current = raw
        s = _Stream(io.BufferedReader(raw, _READ_BUFFER), start)
        reader = fastavro.schemaless_reader
        writer = fastavro.schemaless_writer
        try:
            while True:
                s.mark()
                block_start = s.pos
                block_no += 1
                where = f"block@{block_start}"
                try:
                    count = s.read_long()
                    if count is None:
                        return
                    size = s.read_long()
                    if size is None or count < 0 or size < 0 or size > 1 << 31:
                        raise ValueError(f"implausible block header (count {count}, size {size})")
                    data = s.read(size)
                    if len(data) != size:
                        raise EOFError(f"file ends inside the block ({len(data)} of {size} bytes)")
                    marker = s.read(16)
                    if marker != sync:
                        raise ValueError("sync marker mismatch")
                    block = decompress(_BlockBytes(data))
                    records = [reader(block, parsed, None) for _ in range(count)]
                    if block.read(1):
                        raise ValueError("trailing bytes after the block's records")
                except Exception as exc:  # any decode failure makes the block unreadable
                    self.bad(f"{path}:{where}", f"unreadable Avro block: {type(exc).__name__}: {exc}")
                    skip_records = 0
                    if not s.resync(sync):
                        return
                    continue
                for i, rec in enumerate(records):
                    if i < skip_records:
                        continue
                    if self.body_format == "json":
                        body = avro_json_body(rec)
                    else:
                        buf = io.BytesIO()
                        writer(buf, out_schema, rec)
                        body = buf.getvalue()
                    token = (block_start, i + 1) if i + 1 < count else (s.pos, 0)
                    yield SourceRecord(body, rec, path, f"{where}:{i}", token)
                skip_records = 0
        finally:
            raw.close()


# -- Kafka topic over an event-time window --------------------------------------------------------------------
class KafkaTopicSource(_Reader):
    """Records of a Kafka topic whose record timestamps fall in ``[start_ms, end_ms)``.

    Seeks each partition with ``offsets_for_times(start_ms)`` and reads up to the first offset at or after
    ``end_ms`` (or the end of the partition); with ``seek="beginning"`` (record timestamps that are not event
    times) it reads each partition from its start to its end as of the start of the read. Token per ``topic:partition``: next offset to read. The body is
    the original value; the Kafka record timestamp is passed on for ``event_time="kafka"``.
    """

    def __init__(
        self,
        topic: str,
        *,
        start_ms: int,
        end_ms: int,
        kafka_conn_id: str = "kafka_default",
        consumer_factory: Callable[[dict[str, Any]], Any] | None = None,
        consumer_config: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
        seek: str = "timestamp",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if seek not in ("timestamp", "beginning"):
            raise ValueError(f"seek must be 'timestamp' or 'beginning' (got {seek!r})")
        self.seek = seek
        self.topic = topic
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.kafka_conn_id = kafka_conn_id
        self.consumer_factory = consumer_factory
        self.consumer_config = dict(consumer_config or {})
        self.timeout_s = timeout_s
        self._read = 0

    def _consumer(self) -> Any:
        from airflow.sdk import BaseHook

        extra = dict(BaseHook.get_connection(self.kafka_conn_id).extra_dejson)
        if not extra.get("bootstrap.servers"):
            raise ValueError(
                f"Kafka connection {self.kafka_conn_id!r} has no 'bootstrap.servers' in its extra"
            )
        for k in ("on_delivery", "delivery.report.only.error", "acks", "enable.idempotence", "linger.ms"):
            extra.pop(k, None)
        config = {
            **extra,
            "group.id": f"flume-replay-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            **self.consumer_config,
        }
        if self.consumer_factory is not None:
            return self.consumer_factory(config)
        from confluent_kafka import Consumer

        return Consumer(config)

    def __iter__(self) -> Iterator[SourceRecord]:
        from confluent_kafka import TopicPartition

        consumer = self._consumer()
        try:
            meta = consumer.list_topics(self.topic, timeout=self.timeout_s)
            info = meta.topics.get(self.topic)
            if info is None or info.error is not None or not info.partitions:
                raise BadInputError(
                    f"Kafka topic {self.topic!r} not found ({info.error if info else 'no metadata'})"
                )
            parts = sorted(info.partitions)
            starts = consumer.offsets_for_times(
                [TopicPartition(self.topic, p, self.start_ms) for p in parts], timeout=self.timeout_s
            )
            ends = consumer.offsets_for_times(
                [TopicPartition(self.topic, p, self.end_ms) for p in parts], timeout=self.timeout_s
            )
            ranges: dict[int, tuple[int, int]] = {}
            for s_tp, e_tp in zip(starts, ends, strict=True):
                p = s_tp.partition
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=self.timeout_s
                )
                if self.seek == "beginning":
                    begin, end = low, high
                else:
                    begin = s_tp.offset if s_tp.offset >= 0 else high
                    end = e_tp.offset if e_tp.offset >= 0 else high
                unit = f"{self.topic}:{p}"
                if unit in self.resume_units:
                    begin = max(begin, int(self.resume_units[unit]))
                if unit in self.completed_units or begin >= end:
                    continue
                ranges[p] = (begin, end)
            self.total_bytes = sum(e - b for b, e in ranges.values())  # offsets, for % done
            if not ranges:
                return
            consumer.assign([TopicPartition(self.topic, p, b) for p, (b, _) in ranges.items()])
            pending = set(ranges)

            def finish(p: int) -> None:
                pending.discard(p)
                self.completed_units.append(f"{self.topic}:{p}")

            idle_since = time.monotonic()
            while pending:
                batch = consumer.consume(num_messages=1000, timeout=1.0)
                if not batch:
                    if time.monotonic() - idle_since > self.timeout_s:
                        # covers offsets never delivered as messages (transaction markers, compaction)
                        for tp in consumer.position([TopicPartition(self.topic, p) for p in pending]):
                            if tp.offset >= ranges[tp.partition][1]:
                                finish(tp.partition)
                        if pending:
                            raise BadInputError(
                                f"Kafka topic {self.topic!r}: no progress for {self.timeout_s:.0f} s on "
                                f"partition(s) {sorted(pending)} before their end offsets"
                            )
                    continue
                idle_since = time.monotonic()
                for msg in batch:
                    err = msg.error()
                    p = msg.partition()
                    if err is not None:
                        if err.code() == _PARTITION_EOF:
                            if p in pending and (msg.offset() or 0) >= ranges[p][1]:
                                finish(p)
                            continue
                        raise BadInputError(f"Kafka topic {self.topic!r} partition {p}: {err}")
                    if p not in pending:
                        continue
                    off = msg.offset()
                    end = ranges[p][1]
                    if off >= end:
                        finish(p)
                        continue
                    unit = f"{self.topic}:{p}"
                    self._read += 1
                    value = msg.value()
                    if value is None:
                        self.bad(f"{unit}:{off}", "null value (tombstone)")
                    else:
                        ts_type, ts = msg.timestamp()
                        yield SourceRecord(
                            value, None, unit, off, off + 1, ts if ts_type else None, msg.key()
                        )
                    if off + 1 >= end:
                        finish(p)
        finally:
            consumer.close()

    def fraction_done(self) -> float | None:
        """Share of the window's offsets read so far."""
        return min(1.0, self._read / self.total_bytes) if self.total_bytes else None


# -- factory ---------------------------------------------------------------------------------------------------
def detect_format(source: str) -> str:
    """``jsonl``, ``avro`` or ``kafka`` from a source string (``kafka://topic`` or a file name)."""
    if source.startswith("kafka://") or source.startswith("kafka:"):
        return "kafka"
    name = source.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".avro"):
        return "avro"
    if name.endswith((".jsonl", ".json", ".ndjson", ".txt", ".log")):
        return "jsonl"
    raise ValueError(
        f"cannot tell the format of source {source!r}: use a .jsonl[.gz]/.ndjson/.json/.avro name, "
        "kafka://topic, or a dict with 'format'"
    )


def open_source(
    source: str | dict[str, Any],
    *,
    window_ms: tuple[int, int] | None = None,
    on_bad_input: str = "fail",
    dead_letter: DeadLetterWriter | None = None,
    resume: dict[str, Any] | None = None,
    webhdfs_conn_id: str = "webhdfs_default",
    kafka_conn_id: str = "kafka_default",
    avro_body: str = "json",
    avro_body_schema: dict[str, Any] | None = None,
    fs: FileSystem | None = None,
) -> _Reader:
    """Build the reader for a source spec: a path/glob/URI string, or ``{"format": ..., "path"|"topic": ...}``."""
    spec = {"path": source} if isinstance(source, str) else dict(source)
    location = spec.get("path") or spec.get("topic")
    if not location:
        raise ValueError(f"source {source!r} has no 'path' or 'topic'")
    fmt = spec.get("format") or detect_format(str(location))
    common: dict[str, Any] = {"on_bad_input": on_bad_input, "dead_letter": dead_letter, "resume": resume}
    fs = fs or FileSystem(spec.get("webhdfs_conn_id", webhdfs_conn_id))
    if fmt == "jsonl":
        return JsonLinesSource(str(location), fs=fs, **common)
    if fmt == "avro":
        return AvroFileSource(
            str(location),
            body_format=spec.get("body_format", avro_body),
            body_schema=spec.get("body_schema", avro_body_schema),
            fs=fs,
            **common,
        )
    if fmt == "kafka":
        topic = str(location).removeprefix("kafka://").removeprefix("kafka:")
        if window_ms is None or window_ms[0] is None or window_ms[1] is None:
            raise ValueError(f"Kafka source {topic!r} needs an event-time window [start, end)")
        return KafkaTopicSource(
            topic,
            start_ms=window_ms[0],
            end_ms=window_ms[1],
            kafka_conn_id=spec.get("kafka_conn_id", kafka_conn_id),
            seek=spec.get("seek", "timestamp"),
            **common,
        )
    raise ValueError(f"unknown source format {fmt!r} (expected jsonl, avro or kafka)")
