"""Readiness checks for a Flume-written HDFS partition, shared by the sensor (poke) and the trigger (async).

The logic is split into a pure part, :func:`evaluate` (listings + cached counts + state -> report + new state),
and thin I/O drivers, :func:`poke_partition` (sync, one :class:`~airflow_flume_provider.webhdfs.WebHdfsClient`)
and :func:`apoke_partition` (runs the sync driver in a thread). All state is JSON-serialisable so it can travel
in trigger kwargs and survive between trigger polls.

Checks (names used in ``checks=``):

``exists``     every partition directory exists and holds at least ``min_files`` finished files;
``no_in_use``  no in-use file (``inUsePrefix`` + name + ``inUseSuffix``, e.g. ``_FlumeData.1.tmp``) remains;
``quiet``      no file added, removed, grown or re-stamped for ``quiet_period`` seconds (names, lengths and
               modification times are compared across polls; with ``trust_mtime`` the newest HDFS mtime also
               counts as the last change, so an old complete partition is ready at the first poll);
``watermark``  Flume has moved past the partition: the next partition holds a finished file, or the wall
               clock is past the partition end + ``allowed_lateness``;
``count``      the events in the finished files equal ``expected_count`` / the manifest's count (files are
               counted once, cached by path, length and mtime).

Default combination (:data:`DEFAULT_CHECKS`): exists, no_in_use, quiet, watermark; ``count`` is added when an
expected count or manifest is given.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_flume_provider.hdfs_formats import count_events
from airflow_flume_provider.manifest import add_counts
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.webhdfs import (
    FileStatus,
    WebHdfsClient,
    WebHdfsNotFound,
    WebHdfsTransientError,
)

__all__ = [
    "ALL_CHECKS",
    "DEFAULT_CHECKS",
    "CheckResult",
    "FileNaming",
    "PartitionCheckFailed",
    "PartitionSpec",
    "PartitionState",
    "ReadinessReport",
    "TransientFailureLimitExceeded",
    "apoke_partition",
    "evaluate",
    "merge_manifests",
    "poke_partition",
    "resolve_partitions",
]

ALL_CHECKS = ("exists", "no_in_use", "quiet", "watermark", "count")
DEFAULT_CHECKS = ("exists", "no_in_use", "quiet", "watermark")


class PartitionCheckFailed(RuntimeError):
    """The partition can never become ready as configured (e.g. more events than an exact expectation)."""


class TransientFailureLimitExceeded(RuntimeError):
    """WebHDFS kept failing for longer than ``max_transient_failure_s``."""


@dataclass(frozen=True)
class PartitionSpec:
    """What to check: the partition directories and how readiness is judged. JSON-serialisable."""

    paths: tuple[str, ...]
    naming: FileNaming = field(default_factory=FileNaming)
    next_paths: tuple[str, ...] = ()
    end_ts: float | None = None
    checks: tuple[str, ...] = DEFAULT_CHECKS
    min_files: int = 1
    quiet_period: float = 60.0
    allowed_lateness: float = 3600.0
    expected_count: int | None = None
    manifest: dict[str, int] | None = None
    exact_count: bool = False
    trust_mtime: bool = True
    max_transient_failure_s: float = 600.0
    batched_listing: bool = False

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("PartitionSpec.paths is empty")
        unknown = set(self.checks) - set(ALL_CHECKS)
        if unknown:
            raise ValueError(f"unknown checks {sorted(unknown)}; valid: {', '.join(ALL_CHECKS)}")
        if "count" in self.checks and self.expected_count is None and self.manifest is None:
            raise ValueError("check 'count' needs expected_count or manifest")
        if self.min_files < 0 or self.quiet_period < 0 or self.allowed_lateness < 0:
            raise ValueError("min_files, quiet_period and allowed_lateness must be >= 0")

    @property
    def expected(self) -> int | None:
        """Expected event count over all paths (manifest entries for these paths, else expected_count)."""
        if self.manifest is not None:
            return sum(self.manifest.get(_norm(p), 0) for p in self.paths)
        return self.expected_count

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for trigger kwargs)."""
        d = asdict(self)
        d["paths"], d["next_paths"], d["checks"] = list(self.paths), list(self.next_paths), list(self.checks)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PartitionSpec:
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        kw["naming"] = FileNaming(**kw.get("naming", {}))
        for k in ("paths", "next_paths", "checks"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


@dataclass
class PartitionState:
    """What a check remembers between polls (quiet-period snapshot, count cache, log throttling)."""

    snapshot: dict[str, list[int]] | None = None
    changed_at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    polls: int = 0
    last_log_key: str | None = None
    transient_since: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> PartitionState:
        """Inverse of :meth:`to_dict` (None -> fresh state)."""
        return cls(**dict(d)) if d else cls()

    def should_log(self, report: ReadinessReport, every: int = 10) -> bool:
        """True when the set of failing checks changed, or every ``every`` polls: logs without flooding."""
        key = report.log_key()
        due = key != self.last_log_key or (every > 0 and self.polls % every == 0)
        self.last_log_key = key
        return due


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict and its human reason."""

    name: str
    ok: bool
    reason: str


@dataclass
class ReadinessReport:
    """The outcome of one poll: overall verdict, every check, and what was seen."""

    ready: bool
    paths: list[str]
    checks: list[CheckResult] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    in_use: list[str] = field(default_factory=list)
    event_count: int | None = None
    expected_count: int | None = None
    newest_mtime: int | None = None
    error: str | None = None
    requests: int = 0
    bytes_read: int = 0
    elapsed_s: float = 0.0

    def failing(self) -> list[CheckResult]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.ok]

    def log_key(self) -> str:
        """A key that changes when the reason for (not) being ready changes kind."""
        if self.error:
            return "error"
        return ",".join(c.name for c in self.failing()) or "ready"

    def summary(self) -> str:
        """One line: ready, or why not."""
        if self.error:
            return f"not ready: WebHDFS error: {self.error}"
        if self.ready:
            n = "" if self.event_count is None else f", {self.event_count:,} events"
            return f"ready: {self.files} files, {self.bytes:,} bytes{n} in {', '.join(self.paths)}"
        return "not ready: " + "; ".join(f"{c.name}: {c.reason}" for c in self.failing())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (XCom, trigger events)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReadinessReport:
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        kw["checks"] = [CheckResult(**c) for c in kw.get("checks", [])]
        return cls(**kw)


# -- helpers ----------------------------------------------------------------------------------------------
def _norm(path: str) -> str:
    """Strip an ``hdfs://authority`` and trailing slashes from a path (manifest keys, spec paths)."""
    if "://" in path:
        rest = path.split("://", 1)[1]
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path.rstrip("/") or "/"


def merge_manifests(value: Any) -> dict[str, int]:
    """Merge replay manifests into one ``{partition path: event count}``.

    Accepts a mapping, a JSON string, or a list of either (the XCom of mapped replay tasks). A replay
    manifest (see :mod:`airflow_flume_provider.manifest`) contributes ``partitions`` + ``duplicates`` (Flume
    writes both copies); a dry-run manifest is refused. Counts for the same path are summed.
    """
    merged: dict[str, int] = {}

    def add(item: Any, where: str) -> None:
        if item is None:
            return
        if isinstance(item, str | bytes):
            add(json.loads(item), where)
            return
        if isinstance(item, Mapping):
            if isinstance(item.get("partitions"), Mapping):  # a ReplayFlumeEventsOperator manifest
                if item.get("dry_run"):
                    raise ValueError(f"manifest {where} is from a dry run: nothing was sent to wait for")
                add(add_counts(item["partitions"], item.get("duplicates") or {}), f"{where}.partitions")
                return
            if isinstance(item.get("counts"), Mapping):
                add(item["counts"], f"{where}.counts")
                return
            for path, count in item.items():
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    raise ValueError(
                        f"manifest {where}: count for {path!r} is not a non-negative int: {count!r}"
                    )
                merged[_norm(str(path))] = merged.get(_norm(str(path)), 0) + count
            return
        if isinstance(item, Iterable):
            for i, sub in enumerate(item):
                add(sub, f"{where}[{i}]")
            return
        raise ValueError(f"manifest {where}: expected a mapping of path -> count, got {type(item).__name__}")

    add(value, "manifest")
    return merged


def _plain_datetime(value: datetime) -> datetime:
    """A stdlib aware datetime for any datetime subclass (Airflow passes pendulum's); naive means UTC."""
    tz = value.tzinfo or timezone.utc
    return datetime.fromtimestamp(value.replace(tzinfo=tz).timestamp(), tz=timezone.utc)


def resolve_partitions(
    template: Any, start: datetime, end: datetime | None = None
) -> tuple[tuple[str, ...], tuple[str, ...], float | None]:
    """Partition paths for ``[start, end)`` (or the one holding ``start``), the next partition, and its end.

    ``template`` is a core ``bucketpath.PathTemplate``. Without a time escape the template names one fixed
    directory, and there is no next partition and no end.
    """
    start = _plain_datetime(start)
    end = _plain_datetime(end) if end is not None else None
    if not getattr(template, "has_time_escape", True):
        return (template.render({}),), (), None
    if end is not None and end > start:
        paths = tuple(template.partitions_between(start, end))
        last_instant = end - timedelta(milliseconds=1)
    else:
        paths = (template.partition_for(start),)
        last_instant = start
    part_end = template.partition_bounds(last_instant)[1]
    next_path = template.partition_for(part_end)
    return paths, (next_path,), part_end.timestamp()


def _ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cache_key(path: str, st: FileStatus) -> str:
    return f"{path}/{st.name}|{st.length}|{st.modification_time}"


@dataclass
class Observation:
    """What one poll saw: listings (None = directory missing), next-partition listings, file counts."""

    listings: dict[str, list[FileStatus] | None]
    next_listings: dict[str, list[FileStatus] | None] | None = None
    counts: dict[str, int] = field(default_factory=dict)


# -- the pure evaluation ------------------------------------------------------------------------------------
def evaluate(
    spec: PartitionSpec, obs: Observation, state: PartitionState, now: float
) -> tuple[ReadinessReport, PartitionState]:
    """Judge readiness from one observation; returns the report and the state for the next poll."""
    naming = spec.naming
    finished: dict[str, list[FileStatus]] = {}
    in_use: list[str] = []
    missing: list[str] = []
    snapshot: dict[str, list[int]] = {}
    for path in spec.paths:
        listing = obs.listings.get(path)
        if listing is None:
            missing.append(path)
            finished[path] = []
            continue
        finished[path] = []
        for st in listing:
            if not st.is_file:
                continue
            kind = naming.classify(st.name)
            if kind == "other":
                continue
            snapshot[f"{path}/{st.name}"] = [st.length, st.modification_time]
            if kind == "in_use":
                in_use.append(st.name)
            else:
                finished[path].append(st)

    all_finished = [st for files in finished.values() for st in files]
    newest = max((v[1] for v in snapshot.values()), default=None)
    new_state = replace(state, polls=state.polls + 1, counts=dict(state.counts))
    if snapshot != state.snapshot:
        first = state.snapshot is None
        new_state.snapshot = snapshot
        new_state.changed_at = None if (first and spec.trust_mtime) else now
    new_state.transient_since = None

    results: list[CheckResult] = []
    if "exists" in spec.checks:
        short = [p for p in spec.paths if p not in missing and len(finished[p]) < spec.min_files]
        if missing:
            results.append(CheckResult("exists", False, f"missing: {', '.join(missing)}"))
        elif short:
            detail = ", ".join(f"{p} has {len(finished[p])}" for p in short)
            results.append(
                CheckResult("exists", False, f"fewer than {spec.min_files} finished files: {detail}")
            )
        else:
            results.append(CheckResult("exists", True, f"{len(all_finished)} finished files"))
    if "no_in_use" in spec.checks:
        if in_use:
            shown = ", ".join(sorted(in_use)[:3]) + (" ..." if len(in_use) > 3 else "")
            results.append(CheckResult("no_in_use", False, f"{len(in_use)} in-use files: {shown}"))
        else:
            results.append(CheckResult("no_in_use", True, "no in-use files"))
    if "quiet" in spec.checks:
        results.append(_quiet(spec, new_state, snapshot, newest, now))
    if "watermark" in spec.checks:
        results.append(_watermark(spec, obs, now))
    event_count: int | None = None
    expected = spec.expected
    if "count" in spec.checks or obs.counts:
        keys = [_cache_key(p, st) for p, files in finished.items() for st in files]
        new_state.counts.update(obs.counts)
        new_state.counts = {k: new_state.counts[k] for k in keys if k in new_state.counts}
        uncounted = [k for k in keys if k not in new_state.counts]
        event_count = sum(new_state.counts.values())
        if "count" in spec.checks:
            results.append(_count(spec, event_count, expected or 0, uncounted))

    ready = bool(results) and all(r.ok for r in results)
    report = ReadinessReport(
        ready=ready,
        paths=list(spec.paths),
        checks=results,
        files=len(all_finished),
        bytes=sum(st.length for st in all_finished),
        in_use=sorted(in_use),
        event_count=event_count,
        expected_count=expected if "count" in spec.checks else None,
        newest_mtime=newest,
    )
    return report, new_state


def _quiet(
    spec: PartitionSpec, state: PartitionState, snapshot: dict[str, list[int]], newest: int | None, now: float
) -> CheckResult:
    if not snapshot:
        return CheckResult("quiet", False, "no files yet")
    marks = [t for t in (state.changed_at, newest / 1000.0 if (spec.trust_mtime and newest) else None) if t]
    since = max(marks) if marks else now
    age = max(0.0, now - since)
    if age >= spec.quiet_period:
        return CheckResult("quiet", True, f"quiet for {age:.0f} s (>= {spec.quiet_period:.0f} s)")
    return CheckResult("quiet", False, f"quiet for {age:.0f} s of {spec.quiet_period:.0f} s")


def _watermark(spec: PartitionSpec, obs: Observation, now: float) -> CheckResult:
    if spec.end_ts is None:
        return CheckResult("watermark", True, "template has no time escape: no partition end")
    deadline = spec.end_ts + spec.allowed_lateness
    if now >= deadline:
        return CheckResult("watermark", True, f"clock past partition end + lateness ({_ts(deadline)})")
    for path, listing in (obs.next_listings or {}).items():
        if listing and any(st.is_file and spec.naming.classify(st.name) == "finished" for st in listing):
            return CheckResult("watermark", True, f"next partition {path} has a finished file")
    nxt = ", ".join(spec.next_paths) or "(none)"
    return CheckResult(
        "watermark", False, f"next partition {nxt} has no finished file; clock reaches {_ts(deadline)} later"
    )


def _count(spec: PartitionSpec, counted: int, expected: int, uncounted: list[str]) -> CheckResult:
    pending = f" ({len(uncounted)} files not counted yet)" if uncounted else ""
    if counted < expected or uncounted:
        return CheckResult("count", False, f"counted {counted:,} of {expected:,} events{pending}")
    if counted > expected:
        msg = f"counted {counted:,} events, {counted - expected:,} more than the expected {expected:,}"
        if spec.exact_count:
            return CheckResult("count", False, msg + " (exact_count)")
        return CheckResult("count", True, msg + " (duplicates?)")
    return CheckResult("count", True, f"counted {counted:,} of {expected:,} events")


# -- I/O drivers --------------------------------------------------------------------------------------------
def _list(client: WebHdfsClient, path: str, batched: bool) -> list[FileStatus] | None:
    try:
        return client.list_status(path, batched=batched)
    except WebHdfsNotFound:
        return None


def poke_partition(
    client: WebHdfsClient, spec: PartitionSpec, state: PartitionState, now: float | None = None
) -> tuple[ReadinessReport, PartitionState]:
    """One poll over WebHDFS: list the partition(s), the next partition when needed, count new files.

    Transient WebHDFS errors give a not-ready report (``error`` set) until they have lasted longer than
    ``spec.max_transient_failure_s``, then :class:`TransientFailureLimitExceeded`. Permission errors, corrupt
    files and impossible counts raise at once.
    """
    t0 = time.monotonic()
    now = time.time() if now is None else now
    req0, bytes0 = client.requests, client.bytes_read
    try:
        obs = Observation({p: _list(client, p, spec.batched_listing) for p in spec.paths})
        if (
            "watermark" in spec.checks
            and spec.end_ts is not None
            and now < spec.end_ts + spec.allowed_lateness
        ):
            obs.next_listings = {p: _list(client, p, spec.batched_listing) for p in spec.next_paths}
        if "count" in spec.checks:
            obs.counts = _count_new_files(client, spec, obs, state)
    except WebHdfsTransientError as exc:
        since = state.transient_since or now
        if now - since > spec.max_transient_failure_s:
            raise TransientFailureLimitExceeded(
                f"WebHDFS failing for {now - since:.0f} s (> max_transient_failure_s="
                f"{spec.max_transient_failure_s:.0f}): {exc}"
            ) from exc
        new_state = replace(state, polls=state.polls + 1, transient_since=since)
        report = ReadinessReport(ready=False, paths=list(spec.paths), error=str(exc))
    else:
        report, new_state = evaluate(spec, obs, state, now)
        if spec.exact_count and any(
            c.name == "count" and "exact_count" in c.reason for c in report.failing()
        ):
            raise PartitionCheckFailed(f"{', '.join(spec.paths)}: {report.summary()}")
    report.requests = client.requests - req0
    report.bytes_read = client.bytes_read - bytes0
    report.elapsed_s = round(time.monotonic() - t0, 4)
    return report, new_state


def _count_new_files(
    client: WebHdfsClient, spec: PartitionSpec, obs: Observation, state: PartitionState
) -> dict[str, int]:
    """Read and count finished files not in the cache (same path, length and mtime)."""
    out: dict[str, int] = {}
    n = spec.naming
    for path, listing in obs.listings.items():
        for st in listing or ():
            if not st.is_file or n.classify(st.name) != "finished":
                continue
            key = _cache_key(path, st)
            if key in state.counts:
                continue
            full = f"{path.rstrip('/')}/{st.name}"
            data = client.open(full) if st.length else b""
            out[key] = count_events(
                data, file_type=n.file_type, serializer=n.serializer, codec=n.codec, name=full
            )
    return out


async def apoke_partition(
    client_factory: Any, spec: PartitionSpec, state: PartitionState, now: float | None = None
) -> tuple[ReadinessReport, PartitionState]:
    """Async wrapper for the trigger: builds a client, runs :func:`poke_partition` in a worker thread."""

    def run() -> tuple[ReadinessReport, PartitionState]:
        client = client_factory()
        try:
            return poke_partition(client, spec, state, now)
        finally:
            client.close()

    return await asyncio.to_thread(run)


def success_marker_path(paths: Sequence[str]) -> list[str]:
    """Where ``_SUCCESS`` markers go (one per partition directory)."""
    return [f"{p.rstrip('/')}/_SUCCESS" for p in paths]
