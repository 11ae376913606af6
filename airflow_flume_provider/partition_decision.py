"""The one readiness decision, shared by the sensor (poke) and the trigger: observation + state -> report.

:func:`evaluate` is pure: it sees what one poll listed and counted (:class:`Observation`), the state kept
from earlier polls, and the clock, and returns the report and the next state. Check semantics are
described in :mod:`airflow_flume_provider.partition_check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from airflow_flume_provider.hdfs_types import FileStatus
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
        keys = [cache_key(p, st) for p, files in finished.items() for st in files]
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
