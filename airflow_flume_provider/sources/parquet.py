"""Parquet source (Hive/Spark event archives), local, ``hdfs://`` or another fsspec URI, read with pyarrow.

Files are read one row group at a time (``ParquetFile.read_row_group``), then converted to Python rows in slices
of :data:`ROWS_PER_SLICE`, so memory is bounded by one row group. ``hdfs://`` files are read through
:class:`~.fs.RangedHdfsFile` (WebHDFS ``OPEN`` with offset and length: the footer, then each row group's column
chunks, coalesced by pyarrow's pre-buffering), never downloaded whole.

Rows become ``dict`` values (what ``event_time_field``, ``key_field`` and ``event_id_field`` read) with these
conventions, shared by the JSON body (compact UTF-8 JSON by orjson, with :func:`~.avro.avro_json_body`'s rules for
the types JSON lacks, tested equal to it):

* top-level timestamp columns become ISO-8601 UTC strings ending in ``Z`` with the column's own precision
  (``s``/``ms``/``us``/``ns``); a timestamp without a time zone (``isAdjustedToUTC=false``, Spark's
  ``TIMESTAMP_NTZ``) is read as UTC. The event time of such a column needs no ``assume_tz``;
* top-level durations become integers in their unit; decimals strings; binary ISO-8859-1 text; dates and times
  ISO-8601; integers stay integers (their unit is the replay's ``event_time_unit``), strings stay strings;
  NaN and infinite floats become ``null`` in the body (``json.dumps`` would write invalid JSON).

pyarrow is an optional extra (``pip install 'airflow-flume-provider[parquet]'``), imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import orjson

from airflow_flume_provider.sources.avro import json_default
from airflow_flume_provider.sources.base import FileReader
from airflow_flume_provider.sources.objstore import uri_scheme
from airflow_flume_provider.sources.record import BadInputError, SourceRecord

#: Rows converted to Python objects at a time (bounds the Python-side memory inside a row group).
ROWS_PER_SLICE = 4096


def pyarrow_modules() -> tuple[Any, Any, Any]:
    """``(pyarrow, pyarrow.compute, pyarrow.parquet)``, or a clear error naming the extra to install."""
    try:
        return (
            importlib.import_module("pyarrow"),
            importlib.import_module("pyarrow.compute"),
            importlib.import_module("pyarrow.parquet"),
        )
    except ImportError as exc:
        raise ImportError(
            f"Parquet sources need pyarrow: pip install 'airflow-flume-provider[parquet]' ({exc})"
        ) from None


def _iso_utc(array: Any, unit: str, pa: Any, pc: Any) -> Any:
    """ISO-8601 UTC strings (``...THH:MM:SS[.f]Z``, the unit's digits) of a timestamp array.

    Arrow stores timestamps as UTC instants whatever their zone, so dropping the zone keeps the instant; casting
    that to text is ~7x faster than ``strftime`` (measured: 3.7 vs 25 ms per 4,096 rows).
    """
    text = array.cast(pa.timestamp(unit)).cast(pa.string())  # "YYYY-MM-DD HH:MM:SS[.f]"
    return pc.binary_join_element_wise(pc.utf8_replace_slice(text, 10, 11, "T"), "Z", "")


def _convert_columns(batch: Any, pa: Any, pc: Any) -> Any:
    """``batch`` with top-level timestamps as ISO UTC strings and durations as integers (module conventions)."""
    arrays, changed = list(batch.columns), False
    for i, field in enumerate(batch.schema):
        if pa.types.is_timestamp(field.type):
            arrays[i], changed = _iso_utc(arrays[i], field.type.unit, pa, pc), True
        elif pa.types.is_duration(field.type):
            arrays[i], changed = arrays[i].cast(pa.int64()), True
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch


def _body_column_index(schema: Any, column: str, path: str, pa: Any) -> int:
    """Index of the binary/string ``column`` used as the body; errors name the file, column and type."""
    index = schema.get_field_index(column)
    if index < 0:
        raise BadInputError(
            f"{path}: body_column {column!r} is not a column (columns: {', '.join(schema.names)})"
        )
    kind = schema.field(index).type
    checks = ("is_binary", "is_large_binary", "is_fixed_size_binary", "is_string", "is_large_string")
    if not any(getattr(pa.types, check)(kind) for check in checks):
        raise BadInputError(f"{path}: body_column {column!r} has type {kind}; it must be binary or string")
    return index


class ParquetSource(FileReader):
    """Parquet files (local paths/globs, ``hdfs://`` or fsspec URIs), streamed one row group at a time.

    Body: the row as compact JSON (module conventions), or the bytes of ``body_column`` (binary or UTF-8 string;
    a null there is bad input). Position ``file:rowgroup<G>:row<R>`` (both 0-based, R within the row group).
    Token: ``[row group, rows of it already done]``.
    """

    def __init__(self, pattern: str, *, body_column: str | None = None, **kwargs: Any) -> None:
        super().__init__(pattern, **kwargs)
        self.pa, self.pc, self.pq = pyarrow_modules()
        self.body_column = body_column
        self._file_bytes = 0  # compressed bytes of the current file's row groups done

    def fraction_done(self) -> float | None:
        """Share of input bytes done: whole files, plus the current file's row groups by compressed size
        (without its footer: a file's last percent or so is counted when it ends)."""
        if not self.total_bytes:
            return None
        return min(1.0, (self._done_bytes + self._file_bytes) / self.total_bytes)

    def _open(self, path: str) -> tuple[Any, Any]:
        """``(ParquetFile, file object or None)``; an unreadable footer is a :class:`BadInputError`."""
        fh = None if uri_scheme(path) is None else self.fs.open_seekable(path)
        try:
            return self.pq.ParquetFile(fh or path, pre_buffer=fh is not None), fh
        except (self.pa.ArrowException, OSError) as exc:
            if fh is not None:
                fh.close()
            raise BadInputError(f"{path}: not a readable Parquet file: {exc}") from None

    def _read_file(self, path: str) -> Iterator[SourceRecord]:
        pf, fh = self._open(path)
        try:
            meta = pf.metadata
            body_index = None
            if self.body_column is not None:
                body_index = _body_column_index(pf.schema_arrow, self.body_column, path, self.pa)
            ends = _row_group_ends(meta)
            group, skip = self.resume_units.get(path, (0, 0))
            for g in range(group, meta.num_row_groups):
                self._file_bytes = ends[g - 1] if g else 0
                yield from self._read_group(pf, path, g, skip, body_index, meta.num_row_groups)
                skip = 0
                self._file_bytes = ends[g]
        finally:
            self._file_bytes = 0
            pf.close()
            if fh is not None:
                fh.close()

    def _read_group(
        self, pf: Any, path: str, g: int, skip: int, body_index: int | None, groups: int
    ) -> Iterator[SourceRecord]:
        """The records of row group ``g`` from row ``skip``; an unreadable row group is bad input."""
        where = f"rowgroup{g}"
        try:
            table = pf.read_row_group(g)
        except (self.pa.ArrowException, OSError) as exc:
            self.bad(f"{path}:{where}", f"unreadable Parquet row group: {type(exc).__name__}: {exc}")
            return
        rows = table.num_rows
        last_token = (g + 1, 0) if g + 1 < groups else (groups, 0)
        for batch in table.slice(skip).to_batches(max_chunksize=ROWS_PER_SLICE):
            batch = _convert_columns(batch, self.pa, self.pc)
            bodies = batch.column(body_index).to_pylist() if body_index is not None else None
            for j, row in enumerate(batch.to_pylist()):
                r = skip + j
                token = (g, r + 1) if r + 1 < rows else last_token
                at = f"{where}:row{r}"
                body = self._body(row, bodies[j] if bodies is not None else None, path, at)
                if body is not None:
                    yield SourceRecord(body, row, path, at, token)
            skip += batch.num_rows

    def _body(self, row: dict[str, Any], raw: Any, path: str, at: str) -> bytes | None:
        """The body of the row at ``path:at`` (None after applying the bad-input policy)."""
        if self.body_column is None:
            try:
                return orjson.dumps(row, default=json_default)
            except TypeError as exc:  # orjson.JSONEncodeError included
                self.bad(f"{path}:{at}", f"row not encodable as JSON: {exc}")
                return None
        if raw is None:
            self.bad(f"{path}:{at}", f"body_column {self.body_column!r} is null")
            return None
        return raw.encode() if isinstance(raw, str) else bytes(raw)


def _row_group_ends(meta: Any) -> list[int]:
    """Cumulative compressed bytes at the end of each row group (the progress of a file by row group)."""
    ends, total = [], 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        total += sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))
        ends.append(total)
    return ends
