"""The one readiness decision, shared by the sensor (poke) and the trigger: observation + state -> report.

:func:`evaluate` is pure: it sees what one poll listed and counted (:class:`Observation`), the state kept
from earlier polls, and the clock, and returns the report and the next state. Check semantics are
described in :mod:`airflow_flume_provider.partition_check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from airflow_flume_provider.consumed import ConsumedResult
from airflow_flume_provider.hdfs_types import FileStatus
from airflow_flume_provider.partition_consumed import fault_of
from airflow_flume_provider.partition_model import (
    CheckResult,
    PartitionSpec,
    PartitionState,
    ReadinessReport,
)
from airflow_flume_provider.timeutil import iso_s

__all__ = ["Observation", "cache_key", "evaluate"]


def cache_key(path: str, st: FileStatus) -> str:
    return f"{path}/{st.name}|{st.length}|{st.modification_time}"


@dataclass
class Observation:
    """What one poll saw: listings (None = directory missing), next-partition listings, file counts."""

    listings: dict[str, list[FileStatus] | None]
    next_listings: dict[str, list[FileStatus] | None] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    consumed: ConsumedResult | None = None


@dataclass
class _Seen:
    """One poll's listings sorted by kind: finished files per path, in-use names, missing paths, snapshot,
    and the in-use files unchanged for longer than ``stale_in_use_after`` (path -> age in seconds)."""

    finished: dict[str, list[FileStatus]]
    in_use: list[str]
    missing: list[str]
    snapshot: dict[str, list[int]]
    stale: dict[str, float] = field(default_factory=dict)


def _sort(spec: PartitionSpec, obs: Observation, now: float) -> _Seen:
    # One pass per listed file (100,000 for a big partition): locals instead of attribute lookups.
    seen = _Seen({}, [], [], {})
    classify, stale_after, snapshot = spec.naming.classify, spec.stale_in_use_after, seen.snapshot
    for path in spec.paths:
        listing = obs.listings.get(path)
        finished: list[FileStatus] = []
        seen.finished[path] = finished
        if listing is None:
            seen.missing.append(path)
            continue
        for st in listing:
            if st.type != "FILE":  # directories, symlinks
                continue
            kind = classify(st.name)
            if kind == "finished":
                finished.append(st)
            elif kind == "other":
                continue
            else:
                seen.in_use.append(st.name)
                age = now - st.modification_time / 1000.0
                if age > stale_after:
                    seen.stale[f"{path.rstrip('/')}/{st.name}"] = age
            snapshot[f"{path}/{st.name}"] = [st.length, st.modification_time]
    return seen


def evaluate(
    spec: PartitionSpec, obs: Observation, state: PartitionState, now: float
) -> tuple[ReadinessReport, PartitionState]:
    """Judge readiness from one observation; returns the report and the state for the next poll."""
    seen = _sort(spec, obs, now)
    all_finished = [st for files in seen.finished.values() for st in files]
    newest = max((v[1] for v in seen.snapshot.values()), default=None)
    new_state = replace(state, polls=state.polls + 1, counts=dict(state.counts))
    if seen.snapshot != state.snapshot:
        first = state.snapshot is None
        new_state.snapshot = seen.snapshot
        new_state.changed_at = None if (first and spec.trust_mtime) else now
    new_state.transient_since = None

    results: list[CheckResult] = []
    if "exists" in spec.checks:
        results.append(_exists(spec, seen, len(all_finished)))
    if "no_in_use" in spec.checks:
        results.append(_no_in_use(seen.in_use, seen.stale))
    if "quiet" in spec.checks:
        results.append(_quiet(spec, new_state, seen.snapshot, newest, now))
    if "watermark" in spec.checks:
        results.append(_watermark(spec, obs, now))
    if "consumed" in spec.checks:
        got = obs.consumed
        results.append(CheckResult("consumed", bool(got and got.ok), got.reason if got else "not checked"))
    event_count: int | None = None
    expected = spec.expected
    if "count" in spec.checks or obs.counts:
        keys = [cache_key(p, st) for p, files in seen.finished.items() for st in files]
        new_state.counts.update(obs.counts)
        new_state.counts = {k: new_state.counts[k] for k in keys if k in new_state.counts}
        uncounted = [k for k in keys if k not in new_state.counts]
        event_count = sum(new_state.counts.values())
        if "count" in spec.checks:
            results.append(_count(spec, event_count, expected or 0, uncounted))

    report = ReadinessReport(
        ready=bool(results) and all(r.ok for r in results),
        paths=list(spec.paths),
        checks=results,
        files=len(all_finished),
        bytes=sum(st.length for st in all_finished),
        in_use=sorted(seen.in_use),
        stale_in_use=sorted(seen.stale),
        kafka_fault=fault_of(obs.consumed) if obs.consumed and not obs.consumed.ok else None,
        event_count=event_count,
        expected_count=expected if "count" in spec.checks else None,
        newest_mtime=newest,
    )
    return report, new_state


def _exists(spec: PartitionSpec, seen: _Seen, n_finished: int) -> CheckResult:
    if seen.missing:
        return CheckResult("exists", False, f"missing: {', '.join(seen.missing)}")
    short = [p for p in spec.paths if len(seen.finished[p]) < spec.min_files]
    if short:
        detail = ", ".join(f"{p} has {len(seen.finished[p])}" for p in short)
        return CheckResult("exists", False, f"fewer than {spec.min_files} finished files: {detail}")
    return CheckResult("exists", True, f"{n_finished} finished files")


def _no_in_use(in_use: list[str], stale: dict[str, float]) -> CheckResult:
    if not in_use:
        return CheckResult("no_in_use", True, "no in-use files")
    shown = ", ".join(sorted(in_use)[:3]) + (" ..." if len(in_use) > 3 else "")
    text = f"{len(in_use)} in-use files: {shown}"
    if stale:  # a writer that died: Flume will never close these (partition_faults has the repair)
        oldest = max(stale, key=stale.__getitem__)
        more = f" (and {len(stale) - 1} more stale)" if len(stale) > 1 else ""
        text += f"; stale in-use file {oldest}, open for {stale[oldest] / 3600:.1f} h{more}"
    return CheckResult("no_in_use", False, text)


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
        return CheckResult("watermark", True, f"clock past partition end + lateness ({iso_s(deadline)})")
    for path, listing in (obs.next_listings or {}).items():
        if listing and any(st.is_file and spec.naming.classify(st.name) == "finished" for st in listing):
            return CheckResult("watermark", True, f"next partition {path} has a finished file")
    nxt = ", ".join(spec.next_paths) or "(none)"
    return CheckResult(
        "watermark",
        False,
        f"next partition {nxt} has no finished file; clock reaches {iso_s(deadline)} later",
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
