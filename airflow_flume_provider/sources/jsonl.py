"""JSON Lines source, plain or gzip, local or ``hdfs://``.

Bodies are the original line bytes without the line terminator, never re-serialised. Lines are parsed with
orjson (a hard dependency); whatever orjson rejects or may have changed goes through the standard library's
``json``, so the values and the accepted lines are exactly those of ``json.loads``.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from airflow_flume_provider.sources.base import FileReader
from airflow_flume_provider.sources.record import BadInputError, SourceRecord

_READ_BUFFER = 1 << 20

#: What :func:`parse_json_line` returns for a line that is not a JSON value (blank, invalid UTF-8 or JSON).
BAD_LINE: Any = object()


def _json_loads_reference(body: bytes) -> Any:
    """The reference line parser: strict UTF-8, then the standard library's JSON."""
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        return BAD_LINE


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


def parse_json_line(
    body: bytes,
    _loads: Callable[[bytes], Any] = orjson.loads,
    _error: type[Exception] = orjson.JSONDecodeError,
    _exact: Callable[[Any], bool] = _exact_nested,
) -> Any:
    """The value of one JSON Lines body, or :data:`BAD_LINE`; identical results to ``json.loads``.

    orjson parses first (3x faster); what it rejects (NaN, lone surrogates, invalid input...) or may have changed
    (integers beyond 64 bits) goes through the reference parser. (Defaults bind the globals for speed.)
    """
    try:
        value = _loads(body)
    except _error:
        return _json_loads_reference(body)
    if type(value) is dict:
        for v in value.values():
            t = type(v)
            if t is not str and t is not int and not _exact(v):
                return _json_loads_reference(body)
        return value
    return value if _exact(value) else _json_loads_reference(body)


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


def _skip(stream: Any, count: int, path: str) -> None:
    """Read and discard ``count`` bytes (resuming inside a compressed file)."""
    while count > 0:
        chunk = stream.read(min(count, _READ_BUFFER))
        if not chunk:
            raise BadInputError(f"{path}: shorter than the checkpointed offset; was the file replaced?")
        count -= len(chunk)


class JsonLinesSource(FileReader):
    """JSON Lines, plain or gzip (``.gz``), from local paths/globs or ``hdfs://`` paths.

    Token: ``[uncompressed byte offset after the line, line number]``. Resuming a ``.gz`` file decompresses
    (without publishing) up to the offset. Blank lines are skipped and counted in ``blank_lines``.
    """

    def __init__(self, pattern: str, **kwargs: Any) -> None:
        super().__init__(pattern, **kwargs)
        self.blank_lines = 0

    @staticmethod
    def _decoded(raw: Any, path: str, offset: int) -> Any:
        """The file's (decompressed) byte stream over ``raw``, positioned at uncompressed ``offset``."""
        if not path.endswith(".gz"):
            return io.BufferedReader(raw, _READ_BUFFER)
        stream = gzip.GzipFile(fileobj=io.BufferedReader(raw, _READ_BUFFER), mode="rb")
        if offset:
            _skip(stream, offset, path)
        return stream

    def _read_file(self, path: str) -> Iterator[SourceRecord]:
        offset, lineno = self.resume_units.get(path, (0, 0))
        raw = self.fs.open(path, 0 if path.endswith(".gz") else offset)
        self._current = raw
        parse, record, bad = parse_json_line, SourceRecord, BAD_LINE
        try:
            stream = self._decoded(raw, path, offset)
            try:
                for lines, newline in _line_batches(stream.read1):
                    for line in lines:
                        lineno += 1
                        offset += len(line) + newline
                        body = line[:-1] if line[-1:] == b"\r" else line
                        value = parse(body)
                        if value is bad:
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
