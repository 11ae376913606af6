"""Readiness checks for a Flume-written HDFS partition, shared by the sensor (poke) and the trigger (async).

The logic is split into the pure decision, :func:`~airflow_flume_provider.partition_decision.evaluate`
(listings + cached counts + state -> report + new state), and the thin I/O drivers here,
:func:`poke_partition` (sync, one :class:`~airflow_flume_provider.hdfs_client.HdfsClient`) and
:func:`apoke_partition` (runs the sync driver in a worker thread, off the event loop). All state is JSON-serialisable so it can travel
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
               counted once, cached by path, length and mtime);
``consumed``   Flume's Kafka consumer group(s) committed offsets at or past the targets: the manifest's
               ``kafka_offsets``, else the topics' log-end offsets snapshotted once the clock passes the
               partition end + ``allowed_lateness`` (see :mod:`~airflow_flume_provider.partition_consumed`; on a
               KafkaSource topology it is only valid together with ``no_in_use`` and ``quiet``). Kafka is read
               before HDFS is listed, so on a KafkaChannel everything committed is already in the listing.

An in-use file unchanged for longer than ``stale_in_use_after`` is reported as a *stale* in-use file (a writer
that died); ``on_stale_in_use="fail"`` raises :class:`PartitionCheckFailed` with the file list and the repair,
``"finalize"`` recovers the lease and renames each one (:func:`~airflow_flume_provider.stale_files.finalize_stale`).

Default combination (:data:`DEFAULT_CHECKS`): exists, no_in_use, quiet, watermark; ``count`` is added when an
expected count or manifest is given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_flume_provider.hdfs_client import FileStatus, HdfsClient, HdfsNotFound, HdfsTransientError
from airflow_flume_provider.hdfs_formats import count_events
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.partition_consumed import observe_consumed
from airflow_flume_provider.partition_decision import Observation, cache_key, evaluate
from airflow_flume_provider.partition_faults import finalize, stale_failure
from airflow_flume_provider.partition_model import (
    ALL_CHECKS,
    DEFAULT_CHECKS,
    CheckResult,
    PartitionCheckFailed,
    PartitionSpec,
    PartitionState,
    ReadinessReport,
    TransientFailureLimitExceeded,
    expected_counts_from,
)

__all__ = [
    "ALL_CHECKS",
    "DEFAULT_CHECKS",
    "CheckResult",
    "FileNaming",
    "Observation",
    "PartitionCheckFailed",
    "PartitionSpec",
    "PartitionState",
    "ReadinessReport",
    "TransientFailureLimitExceeded",
    "apoke_partition",
    "evaluate",
    "expected_counts_from",
    "poke_partition",
    "resolve_partitions",
    "success_marker_path",
]


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


def _list(client: HdfsClient, path: str) -> list[FileStatus] | None:
    try:
        return client.list_status(path)
    except HdfsNotFound:
        return None


def poke_partition(
    client: HdfsClient,
    spec: PartitionSpec,
    state: PartitionState,
    now: float | None = None,
    *,
    admin: Any = None,
) -> tuple[ReadinessReport, PartitionState]:
    """One poll: Kafka offsets (``consumed``, through ``admin``), then WebHDFS: list the partition(s), the next
    partition when needed, count new files.

    Transient WebHDFS errors give a not-ready report (``error`` set) until they have lasted longer than
    ``spec.max_transient_failure_s``, then :class:`TransientFailureLimitExceeded`. Kafka faults are a not-ready
    ``consumed``. Permission errors, corrupt files, impossible counts and (``on_stale_in_use="fail"``) stale
    in-use files raise at once.
    """
    t0 = time.monotonic()
    now = time.time() if now is None else now
    req0, bytes0 = client.requests, client.bytes_read
    consumed, consumed_state = None, state.consumed_state
    if "consumed" in spec.checks:
        if admin is None:
            raise ValueError("check 'consumed' needs a Kafka admin client (admin=)")
        consumed, consumed_state = observe_consumed(admin, spec, state.consumed_state, now)
    state = replace(state, consumed_state=consumed_state)
    try:
        obs = Observation({p: _list(client, p) for p in spec.paths}, consumed=consumed)
        if (
            "watermark" in spec.checks
            and spec.end_ts is not None
            and now < spec.end_ts + spec.allowed_lateness
        ):
            obs.next_listings = {p: _list(client, p) for p in spec.next_paths}
        if "count" in spec.checks:
            obs.counts = _count_new_files(client, spec, obs, state)
    except HdfsTransientError as exc:
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
        if report.stale_in_use and spec.on_stale_in_use == "fail":
            raise PartitionCheckFailed(stale_failure(spec, report))
        if report.stale_in_use and spec.on_stale_in_use == "finalize":
            report.repairs = finalize(client, spec, obs.listings, report.stale_in_use)
    report.requests = client.requests - req0
    report.bytes_read = client.bytes_read - bytes0
    report.elapsed_s = round(time.monotonic() - t0, 4)
    return report, new_state


def _count_new_files(
    client: HdfsClient, spec: PartitionSpec, obs: Observation, state: PartitionState
) -> dict[str, int]:
    """Stream and count finished files not in the cache (same path, length and mtime); bounded memory."""
    out: dict[str, int] = {}
    n = spec.naming
    for path, listing in obs.listings.items():
        for st in listing or ():
            if not st.is_file or n.classify(st.name) != "finished":
                continue
            key = cache_key(path, st)
            if key in state.counts:
                continue
            full = f"{path.rstrip('/')}/{st.name}"
            if not st.length:
                out[key] = count_events(
                    b"", file_type=n.file_type, serializer=n.serializer, codec=n.codec, name=full
                )
                continue
            with client.open(full) as stream:
                out[key] = count_events(
                    stream, file_type=n.file_type, serializer=n.serializer, codec=n.codec, name=full
                )
    return out


async def apoke_partition(
    client_factory: Callable[[], HdfsClient],
    spec: PartitionSpec,
    state: PartitionState,
    now: float | None = None,
    *,
    admin_factory: Callable[[], Any] | None = None,
) -> tuple[ReadinessReport, PartitionState]:
    """Async wrapper for the trigger: builds a client (and the Kafka admin for ``consumed``), runs
    :func:`poke_partition` in a worker thread: no Kafka or HDFS read happens on the event loop."""

    def run() -> tuple[ReadinessReport, PartitionState]:
        client = client_factory()
        try:
            admin = admin_factory() if admin_factory is not None and "consumed" in spec.checks else None
            return poke_partition(client, spec, state, now, admin=admin)
        finally:
            client.close()

    return await asyncio.to_thread(run)


def success_marker_path(paths: Sequence[str]) -> list[str]:
    """Where ``_SUCCESS`` markers go (one per partition directory)."""
    return [f"{p.rstrip('/')}/_SUCCESS" for p in paths]
