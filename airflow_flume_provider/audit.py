"""The late-data audit: compare a partition's listing with its ``_SUCCESS`` marker. No Airflow imports.

A Flume HDFS sink files every event under the partition of its event time, whenever it arrives, so events keep
landing in a partition after a gate declared it ready. :func:`decide` is the one pure decision: given the
marker (:mod:`airflow_flume_provider.marker`), the partition's current listing and the event counts of the
files it asked for (:func:`late_candidates`), it returns whether the partition changed, its new revision and
marker, and what was late.

What counts as late:

- a finished file the marker does not list (new), or one longer than the marker recorded (grown; Flume
  appends only to in-use files, so this means a file was re-opened or rewritten by something else);
- in-use files (``_FlumeData.123.tmp``) are **not late yet**: they are reported and picked up by the next
  audit once Flume closes them;
- a listed file that is gone or shorter is a removal: the partition is revised too (``removed_files``), but
  it adds no late events;
- for an empty (legacy) ``_SUCCESS`` there is no file list: every finished file modified after the marker
  itself is late, counted whole.

Late events: a new file counts whole; a grown file counts whole minus the events the marker recorded for it
(``files[].events``, written when the gate or an earlier audit counted it). When a count is impossible (a file
type that cannot be counted, or a grown file whose earlier count is unknown) ``late_events`` is None; the
revision still happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_flume_provider.hdfs_formats import FormatError, count_events
from airflow_flume_provider.marker import (
    HdfsNotFound,
    Marker,
    MarkerFile,
    announced,
    declare,
    files_from_listing,
    read_marker,
    write_marker,
)
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.timeutil import iso_ms

__all__ = [
    "AuditResult",
    "LateFile",
    "audit_partition",
    "decide",
    "declare_ready",
    "format_table",
    "late_candidates",
    "on_ready",
]


@dataclass(frozen=True)
class LateFile:
    """A finished file with late events: ``previous_length`` None = new file."""

    name: str
    length: int
    mtime: int
    previous_length: int | None = None
    events: int | None = None


@dataclass
class AuditResult:
    """One partition's verdict. ``marker`` is the marker to write when ``revised``."""

    partition: str
    status: str  # revised, unchanged, unmarked (no _SUCCESS yet), missing (no directory)
    revision: int | None = None
    late: list[LateFile] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    in_use: list[str] = field(default_factory=list)
    marker: Marker | None = None
    previous: Marker | None = None  # the marker as read

    @property
    def revised(self) -> bool:
        """True when the partition changed since its marker (a new revision to write and announce)."""
        return self.status == "revised"

    @property
    def late_files(self) -> list[str]:
        """Names of the new or grown finished files."""
        return [f.name for f in self.late]

    @property
    def late_events(self) -> int | None:
        """Events in the late files, or None when any of them could not be counted."""
        counts = [f.events for f in self.late]
        return None if any(c is None for c in counts) else sum(counts)  # type: ignore[misc]

    @property
    def first_late_mtime(self) -> int | None:
        """The earliest modification time (epoch ms) among the late files."""
        return min((f.mtime for f in self.late), default=None)

    def extra(self) -> dict[str, Any]:
        """The asset-event extras for this revision."""
        return {
            "partition": self.partition,
            "revision": self.revision,
            "late_files": self.late_files,
            "late_events": self.late_events,
            "first_late_mtime": self.first_late_mtime,
            "first_late_mtime_iso": iso_ms(self.first_late_mtime),
            "removed_files": self.removed_files,
            "event_count": self.marker.event_count if self.marker else None,
        }


def _total(values: Iterable[int | None]) -> int | None:
    """The sum, or None when any value is unknown."""
    values = list(values)
    return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


def _finished(listing: Iterable[Any], naming: FileNaming) -> list[Any]:
    return [st for st in listing if st.type == "FILE" and naming.classify(st.name) == "finished"]


def late_candidates(marker: Marker, listing: Sequence[Any], naming: FileNaming) -> list[Any]:
    """Finished files of ``listing`` that are new or grown compared with ``marker`` (the files to count)."""
    finished = _finished(listing, naming)
    if marker.legacy:
        since = marker.declared_mtime or 0
        return [st for st in finished if st.modification_time > since]
    declared = marker.file_map()
    return [st for st in finished if st.name not in declared or st.length > declared[st.name].length]


def _late_events(st: Any, before: MarkerFile | None, counts: Mapping[str, int]) -> int | None:
    whole = counts.get(st.name)
    if whole is None:
        return None
    if before is None:
        return whole
    return whole - before.events if before.events is not None else None


def _new_files(finished: Sequence[Any], marker: Marker, counts: Mapping[str, int]) -> tuple[MarkerFile, ...]:
    declared = marker.file_map()
    out = []
    for st in finished:
        events = counts.get(st.name)
        old = declared.get(st.name)
        if events is None and old is not None and old.length == st.length:
            events = old.events
        out.append(MarkerFile(st.name, st.length, st.modification_time, events))
    return tuple(sorted(out, key=lambda f: f.name))


def _revised_count(
    files: Sequence[MarkerFile], marker: Marker, late: Sequence[LateFile], removed: Sequence[str]
) -> int | None:
    """Events in the revised partition: the per-file counts, else the declared total plus the late events."""
    total = _total(f.events for f in files)
    if total is None and marker.event_count is not None and not removed:
        late_total = _total(f.events for f in late)
        total = None if late_total is None else marker.event_count + late_total
    return total


def decide(
    marker: Marker,
    listing: Sequence[Any],
    naming: FileNaming,
    counts: Mapping[str, int],
    *,
    now_ms: int,
) -> AuditResult:
    """Compare one marked partition with its listing; ``counts`` = whole-file event counts by file name.

    Returns ``unchanged`` (nothing new; no marker to write) or ``revised`` with the next revision, the late
    files and their events, and the new marker (``announced_revision`` left as before: the caller records the
    announcement with :func:`airflow_flume_provider.marker.announced`).
    """
    in_use = sorted(st.name for st in listing if st.type == "FILE" and naming.classify(st.name) == "in_use")
    finished = _finished(listing, naming)
    declared = marker.file_map()
    candidates = late_candidates(marker, listing, naming)
    late = [
        LateFile(
            st.name,
            st.length,
            st.modification_time,
            declared[st.name].length if st.name in declared else None,
            _late_events(st, None if marker.legacy else declared.get(st.name), counts),
        )
        for st in candidates
    ]
    present = {st.name: st.length for st in finished}
    removed = sorted(n for n, f in declared.items() if present.get(n, -1) < f.length)
    result = AuditResult(marker.partition, "unchanged", marker.revision, in_use=in_use, previous=marker)
    if not late and not removed:
        return result
    files = _new_files(finished, marker, counts)
    event_count = _revised_count(files, marker, late, removed)
    revision = marker.revision + 1
    result.status, result.revision, result.late, result.removed_files = "revised", revision, late, removed
    entry = {
        "revision": revision,
        "at": iso_ms(now_ms),
        "late_files": len(late),
        "late_events": result.late_events,
    }
    if removed:
        entry["removed_files"] = len(removed)
    result.marker = replace(
        marker,
        revision=revision,
        files=files,
        ready_at=marker.ready_at or iso_ms(marker.declared_mtime),
        revised_at=iso_ms(now_ms),
        event_count=event_count,
        history=(*marker.history, entry),
    )
    return result


def on_ready(
    existing: Marker | None,
    partition: str,
    listing: Sequence[Any],
    naming: FileNaming,
    counts: Mapping[str, int],
    *,
    now_ms: int,
    announcer: str,
    checks: Sequence[str] = (),
    event_count: int | None = None,
) -> Marker | None:
    """What a gate does when it finds ``partition`` ready: the marker to write and announce, or None.

    ``announcer`` names the gate task (``dag_id/run_id/task_id``); ``event_count`` is the partition's total when
    the gate counted it but not per file. No marker (or an empty legacy one) ->
    revision 1. Files changed since the marker -> the audit's next revision (late data seen by a gate). A
    marker matching the listing -> None (nothing to write, no asset event) when its revision was already
    announced by another task, else the same revision recorded as announced by ``announcer``. A returned
    marker is already marked announced: write it, then emit the asset event in the same task.
    """
    if existing is None or existing.legacy:
        files = files_from_listing(listing, naming.classify, counts)
        total = _total(f.events for f in files)
        total = event_count if total is None else total
        return declare(
            partition, files, now_ms=now_ms, event_count=total, checks=checks, announced_by=announcer
        )
    result = decide(existing, listing, naming, counts, now_ms=now_ms)
    if result.revised and result.marker is not None:
        return announced(result.marker, announcer)
    if existing.needs_announcement(announcer):
        return announced(existing, announcer)
    return None


# -- I/O driver and report ----------------------------------------------------------------------------------
def _count_files(
    client: Any, partition: str, files: Sequence[Any], naming: FileNaming, warn: Any
) -> dict[str, int]:
    """Whole-file event counts of ``files`` (streamed); a file that cannot be counted is left out (warned)."""
    counts: dict[str, int] = {}
    for st in files:
        path = f"{partition.rstrip('/')}/{st.name}"
        try:
            with client.open(path) as stream:
                counts[st.name] = count_events(
                    stream,
                    file_type=naming.file_type,
                    serializer=naming.serializer,
                    codec=naming.codec,
                    name=path,
                )
        except FormatError as exc:
            warn("%s: late events not counted: %s", path, exc)
    return counts


def audit_partition(
    client: Any, partition: str, naming: FileNaming, *, now_ms: int, count: bool = True, warn: Any = print
) -> AuditResult:
    """List one partition, read its marker, count the late files and :func:`decide`. Writes nothing.

    ``unmarked`` (no ``_SUCCESS``: the gate has not declared it; not the audit's business) and ``missing``
    (no directory) are reported, not errors. A bad marker raises :class:`~airflow_flume_provider.marker.MarkerError`.
    """
    try:
        listing = client.list_status(partition)
    except HdfsNotFound:
        return AuditResult(partition, "missing")
    marker = read_marker(client, partition, listing)
    if marker is None:
        return AuditResult(partition, "unmarked")
    candidates = late_candidates(marker, listing, naming)
    counts = _count_files(client, partition, candidates, naming, warn) if count else {}
    return decide(marker, listing, naming, counts, now_ms=now_ms)


def format_table(results: Sequence[AuditResult], key_of: Any = None) -> str:
    """A fixed-width table of audit results for the task log (one line per partition)."""
    rows = [("partition", "status", "revision", "late files", "late events", "first late mtime", "in use")]
    for r in results:
        rows.append(
            (
                key_of(r.partition) if key_of else r.partition,
                r.status,
                "" if r.revision is None else str(r.revision),
                ""
                if r.previous is None
                else str(len(r.late)) + (f" (-{len(r.removed_files)} removed)" if r.removed_files else ""),
                "" if not r.revised else ("?" if r.late_events is None else str(r.late_events)),
                iso_ms(r.first_late_mtime) or "",
                str(len(r.in_use)) if r.in_use else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def declare_ready(
    client: Any,
    partitions: Sequence[str],
    naming: FileNaming,
    *,
    now_ms: int,
    announcer: str,
    checks: Sequence[str] = (),
    counts: Mapping[str, Mapping[str, int]] | None = None,
    event_counts: Mapping[str, int] | None = None,
) -> list[Marker]:
    """The gate's last step: for each ready partition, write its marker per :func:`on_ready`; returns the
    markers to announce (one asset event each, with ``revision``), leaving out revisions already announced.

    ``counts`` = ``{partition: {file name: events}}`` for the files the gate counted (recorded per file, so a
    later audit can count the late events of a grown file); ``event_counts`` = ``{partition: total}`` when only
    totals are known. A bad existing marker raises ``MarkerError``.
    """
    out = []
    for partition in partitions:
        listing = client.list_status(partition)
        existing = read_marker(client, partition, listing)
        per_file = (counts or {}).get(partition, {})
        marker = on_ready(
            existing,
            partition,
            listing,
            naming,
            per_file,
            now_ms=now_ms,
            announcer=announcer,
            checks=checks,
            event_count=(event_counts or {}).get(partition),
        )
        if marker is not None:
            write_marker(client, marker)
            out.append(marker)
    return out
