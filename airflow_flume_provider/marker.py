"""The ``_SUCCESS`` marker of a Flume partition as JSON: what was declared ready, at which revision, what was
announced. No Airflow imports.

A marker written here is one JSON object (UTF-8)::

    {"format": "airflow-flume-marker", "version": 1, "partition": "/flume/events/2019-08-01",
     "revision": 2, "ready_at": "2019-08-02T01:00:03.120Z", "revised_at": "2019-08-03T01:00:00.500Z",
     "files": [{"name": "FlumeData.1564703999000", "length": 812, "mtime": 1564704050000, "events": 9}],
     "event_count": 10, "checks": ["exists", "no_in_use", "quiet", "watermark"],
     "announced_revision": 2, "announced_by": "flume_late_data_audit/scheduled__2019-08-03/audit",
     "history": [{"revision": 1, "at": "...", "late_files": 0, "late_events": 0}, ...]}

``revision`` 1 is the partition as the gate declared it; each audit that finds late files adds one.
``announced_revision`` is the last revision an asset event was emitted for, so a second gate (e.g. the replay
DAG's sensor and the daily gate) does not announce the same revision twice.

**An empty ``_SUCCESS``** (Hadoop's ``FileOutputCommitter``, ``hdfs dfs -touchz``, this provider before 0.2)
is read as revision 0 in an unknown state: no file list, and the marker's own modification time as the moment
it was declared. The audit then treats finished files modified after that moment as late (see
:mod:`airflow_flume_provider.audit`). Anything else that is not a valid marker (not UTF-8, not JSON, a wrong
field, a newer format version) raises :class:`MarkerError` naming the path and the fault: never a silent
"revision 1".

**Atomic writes** (:func:`write_marker`): the JSON goes to ``_SUCCESS.<random>.tmp`` in the same directory,
then one NameNode RENAME replaces ``_SUCCESS``. WebHDFS ``op=RENAME`` without options is the old
``rename``: it refuses (``{"boolean": false}``) an existing destination. With ``renameoptions=OVERWRITE`` it is
``rename2``, which replaces the destination file in one NameNode operation (one edit-log record), so a reader
sees either the old complete marker or the new complete one, never none and never half of one. The client's
``rename(src, dst, overwrite=True)`` must map to that option; a client without ``overwrite`` falls back to
delete + rename, which has a short window without a marker (logged as such).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from airflow_flume_provider.timeutil import iso_ms

try:  # H2's HDFS layer; the old WebHDFS client's errors until it lands
    from airflow_flume_provider.hdfs_client import HdfsNotFound
except ImportError:  # pragma: no cover - transitional
    from airflow_flume_provider.webhdfs import WebHdfsNotFound as HdfsNotFound  # type: ignore[assignment]

__all__ = [
    "MARKER_FORMAT",
    "MARKER_NAME",
    "MARKER_VERSION",
    "Marker",
    "MarkerError",
    "MarkerFile",
    "marker_path",
    "parse_marker",
    "read_marker",
    "write_marker",
]

log = logging.getLogger(__name__)

MARKER_NAME = "_SUCCESS"
MARKER_FORMAT = "airflow-flume-marker"
MARKER_VERSION = 1
HISTORY_KEEP = 20  # revisions kept in ``history`` (the marker stays small; older ones are in task logs)


class MarkerError(ValueError):
    """A ``_SUCCESS`` marker that cannot be trusted: unreadable, not JSON, or a field is wrong."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path}: invalid partition marker: {what}")
        self.path = path
        self.what = what


class MarkerClient(Protocol):
    """The HDFS client methods the marker needs (``airflow_flume_provider.hdfs_client.HdfsClient``)."""

    def read(self, path: str) -> bytes: ...
    def create(self, path: str, data: bytes, overwrite: bool = True) -> Any: ...
    def rename(self, src: str, dst: str, *args: Any, **kwargs: Any) -> bool: ...
    def delete(self, path: str, recursive: bool = False) -> bool: ...
    def list_status(self, path: str) -> list[Any]: ...


@dataclass(frozen=True)
class MarkerFile:
    """One finished file as declared: name, length, mtime (ms) and its event count when it was counted."""

    name: str
    length: int
    mtime: int | None = None
    events: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (None fields left out)."""
        d: dict[str, Any] = {"name": self.name, "length": self.length}
        if self.mtime is not None:
            d["mtime"] = self.mtime
        if self.events is not None:
            d["events"] = self.events
        return d


@dataclass(frozen=True)
class Marker:
    """A partition's declared state. ``files is None`` means unknown (an empty ``_SUCCESS``)."""

    partition: str
    revision: int
    files: tuple[MarkerFile, ...] | None
    ready_at: str | None = None
    revised_at: str | None = None
    event_count: int | None = None
    checks: tuple[str, ...] = ()
    announced_revision: int | None = None
    announced_by: str | None = None
    history: tuple[dict[str, Any], ...] = ()
    declared_mtime: int | None = None  # the marker file's own mtime (what an empty marker gives)

    @property
    def legacy(self) -> bool:
        """True for an empty ``_SUCCESS`` written by another tool (revision 0, no file list)."""
        return self.files is None

    def file_map(self) -> dict[str, MarkerFile]:
        """Declared files by name ({} for a legacy marker)."""
        return {f.name: f for f in self.files or ()}

    def needs_announcement(self, announcer: str | None = None) -> bool:
        """True unless this revision was already announced (by someone else than ``announcer``).

        The same announcer (dag/run/task) announcing again is a retry of a try whose asset events were never
        registered (Airflow registers them only when the task succeeds), so it announces again.
        """
        if self.announced_revision is None or self.announced_revision < self.revision:
            return True
        return announcer is not None and announcer == self.announced_by

    def to_json(self) -> bytes:
        """The marker file's bytes."""
        if self.files is None:
            raise ValueError(f"{self.partition}: cannot write a marker without a file list")
        body = {
            "format": MARKER_FORMAT,
            "version": MARKER_VERSION,
            "partition": self.partition,
            "revision": self.revision,
            "ready_at": self.ready_at,
            "revised_at": self.revised_at,
            "files": [f.to_dict() for f in self.files],
            "event_count": self.event_count,
            "checks": list(self.checks),
            "announced_revision": self.announced_revision,
            "announced_by": self.announced_by,
            "history": list(self.history[-HISTORY_KEEP:]),
        }
        return json.dumps(body, indent=1, sort_keys=False).encode()


def marker_path(partition: str) -> str:
    """``<partition>/_SUCCESS``."""
    return f"{partition.rstrip('/')}/{MARKER_NAME}"


def declare(
    partition: str,
    files: Iterable[MarkerFile],
    *,
    now_ms: int,
    event_count: int | None = None,
    checks: Sequence[str] = (),
    announced_by: str | None = None,
) -> Marker:
    """Revision 1 of a partition the gate found ready (``announced_by`` set when it emits the asset event)."""
    return Marker(
        partition=partition,
        revision=1,
        files=tuple(sorted(files, key=lambda f: f.name)),
        ready_at=iso_ms(now_ms),
        revised_at=iso_ms(now_ms),
        event_count=event_count,
        checks=tuple(checks),
        announced_revision=1 if announced_by is not None else None,
        announced_by=announced_by,
        history=({"revision": 1, "at": iso_ms(now_ms), "late_files": 0, "late_events": 0},),
    )


def announced(marker: Marker, announcer: str) -> Marker:
    """The marker with its current revision recorded as announced by ``announcer`` (dag/run/task)."""
    return replace(marker, announced_revision=marker.revision, announced_by=announcer)


# -- parsing ------------------------------------------------------------------------------------------------
def _int(
    obj: Mapping[str, Any], key: str, path: str, *, optional: bool = False, where: str = ""
) -> int | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MarkerError(path, f"{where}{key!r} must be a non-negative integer, got {value!r}")
    return value


def _str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise MarkerError(path, f"{key!r} must be a string, got {value!r}")
    return value


def _files(value: Any, path: str) -> tuple[MarkerFile, ...]:
    if not isinstance(value, list):
        raise MarkerError(path, f"'files' must be a list, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        where = f"files[{i}]."
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise MarkerError(path, f"files[{i}] must be an object with a non-empty 'name', got {item!r}")
        out.append(
            MarkerFile(
                name=item["name"],
                length=_int(item, "length", path, where=where),  # type: ignore[arg-type]
                mtime=_int(item, "mtime", path, optional=True, where=where),
                events=_int(item, "events", path, optional=True, where=where),
            )
        )
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        raise MarkerError(path, "'files' names a file twice")
    return tuple(out)


def parse_marker(data: bytes, path: str, *, mtime: int | None = None) -> Marker:
    """Parse a marker file's bytes (``path`` = the marker's path, for errors; ``mtime`` = its HDFS mtime).

    Empty (or whitespace-only) data is a legacy marker: revision 0, files unknown.

    :raises MarkerError: naming ``path`` and what is wrong.
    """
    partition = path.rsplit("/", 1)[0] if "/" in path else path
    if not data.strip():
        return Marker(partition=partition, revision=0, files=None, declared_mtime=mtime)
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MarkerError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise MarkerError(path, f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise MarkerError(path, f"expected a JSON object, got {type(obj).__name__}")
    if obj.get("format") != MARKER_FORMAT:
        raise MarkerError(path, f"'format' is {obj.get('format')!r}, expected {MARKER_FORMAT!r}")
    version = _int(obj, "version", path)
    if version != MARKER_VERSION:
        raise MarkerError(
            path, f"marker version {version} is not supported (this provider reads {MARKER_VERSION})"
        )
    revision = _int(obj, "revision", path)
    announced_rev = _int(obj, "announced_revision", path, optional=True)
    if revision == 0 or (announced_rev is not None and announced_rev > revision):  # type: ignore[operator]
        raise MarkerError(path, f"revision {revision} / announced_revision {announced_rev} are inconsistent")
    checks, history = obj.get("checks") or [], obj.get("history") or []
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise MarkerError(path, f"'checks' must be a list of strings, got {checks!r}")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise MarkerError(path, "'history' must be a list of objects")
    return Marker(
        partition=_str(obj, "partition", path) or partition,
        revision=revision,  # type: ignore[arg-type]
        files=_files(obj.get("files"), path),
        ready_at=_str(obj, "ready_at", path),
        revised_at=_str(obj, "revised_at", path),
        event_count=_int(obj, "event_count", path, optional=True),
        checks=tuple(checks),
        announced_revision=announced_rev,
        announced_by=_str(obj, "announced_by", path),
        history=tuple(history),
        declared_mtime=mtime,
    )


# -- I/O ----------------------------------------------------------------------------------------------------
def _entry(listing: Iterable[Any], name: str) -> Any | None:
    return next((st for st in listing if st.name == name), None)


def read_marker(client: MarkerClient, partition: str, listing: Sequence[Any] | None = None) -> Marker | None:
    """The partition's marker, or None when it has none.

    ``listing`` (the partition's ``list_status``, when the caller has it) saves a request and gives an empty
    marker's mtime. Read errors other than "not found" propagate; a bad marker raises :class:`MarkerError`.
    """
    path = marker_path(partition)
    if listing is None:
        try:
            listing = client.list_status(partition)
        except HdfsNotFound:
            return None
    st = _entry(listing, MARKER_NAME)
    if st is None:
        return None
    if st.type != "FILE":
        raise MarkerError(path, f"is a {st.type.lower()}, not a file")
    if st.length == 0:
        return Marker(partition=partition, revision=0, files=None, declared_mtime=st.modification_time)
    try:
        data = client.read(path)
    except HdfsNotFound:  # replaced between the listing and the read: read the new one
        data = client.read(path)
    return parse_marker(data, path, mtime=st.modification_time)


def write_marker(client: MarkerClient, marker: Marker) -> str:
    """Write ``marker`` atomically (temp file + RENAME with OVERWRITE); returns the marker's path."""
    path = marker_path(marker.partition)
    tmp = f"{marker.partition.rstrip('/')}/{MARKER_NAME}.{uuid.uuid4().hex[:12]}.tmp"
    client.create(tmp, marker.to_json(), overwrite=False)
    try:
        try:
            ok = client.rename(tmp, path, overwrite=True)
        except TypeError:  # a client without rename options: delete + rename (a short window without marker)
            log.warning("%s: HDFS client has no rename overwrite; replacing the marker non-atomically", path)
            client.delete(path)
            ok = client.rename(tmp, path)
        if not ok:
            raise MarkerError(path, f"RENAME {tmp} -> {path} was refused by the NameNode")
    except BaseException:
        _cleanup(client, tmp)
        raise
    return path


def _cleanup(client: MarkerClient, tmp: str) -> None:
    try:
        client.delete(tmp)
    except Exception as exc:  # the original error matters more; the temp file is hidden (_ prefix)
        log.warning("could not delete %s: %s", tmp, exc)


def files_from_listing(
    listing: Iterable[Any], classify: Any, counts: Mapping[str, int] | None = None
) -> list[MarkerFile]:
    """Finished files of a listing as :class:`MarkerFile` (``classify`` = ``FileNaming.classify``)."""
    counts = counts or {}
    return [
        MarkerFile(st.name, st.length, st.modification_time, counts.get(st.name))
        for st in listing
        if st.type == "FILE" and classify(st.name) == "finished"
    ]
