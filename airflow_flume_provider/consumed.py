"""The ``consumed`` check: has Flume's Kafka consumer group read everything written for a window?

Pure decision logic (no Airflow, no I/O), shared by the sensor, the trigger and ``airflow-flume partition-status``;
``kafka_offsets`` reads the numbers it decides on.

What a committed offset proves depends on the Flume topology (``../shared/REFERENCE.md``, "Flume 1.11 commit
semantics", read from the 1.11.0 sources):

- **KafkaChannel feeding the HDFS sink** (``stack/conf/flume-kafka-channel.conf``): the channel commits the offsets
  of a take transaction only when the sink commits it, and the HDFS sink commits after ``hflush`` of its bucket
  writers. A committed offset at or past the target means "every event up to the target is readable in HDFS".
  ``consumed`` is then sufficient for completeness (files may still be ``.tmp`` until they roll; renaming is what
  ``no_in_use`` checks).
- **KafkaSource + memory channel** (``stack/conf/flume.conf``): ``KafkaSource.doProcess`` commits right after
  ``processEventBatch``, i.e. once the events are *in the channel*. A crash loses what the channel held while the
  group shows lag 0. Here ``consumed`` is necessary but not sufficient: combine it with ``no_in_use`` and ``quiet``.

Targets (the offsets the group must reach), per ``(topic, partition)``:

- **With a manifest** (publish/replay): the log-end offsets of every partition the operator wrote to, read after
  its final flush, recorded as ``MANIFEST_KEY``::

      {"kafka_offsets": {"<topic>": {"<partition>": <log-end offset>}}}

  Partition numbers are JSON object keys, hence strings; offsets are ints (the offset of the *next* record, so
  a partition with records 0..9 has end offset 10). Mapped tasks merge by taking the maximum per partition
  (:func:`merge_offsets`). For a replay this is exact.
- **Live pipelines** (no manifest): once the wall clock passes window end + ``allowed_lateness``, the topic's
  log-end offsets are snapshotted ONCE and kept in the sensor/trigger state (:func:`live_targets`); later records
  are late data. Before that instant the check is not ready.

Faults (group missing, broker unreachable, offsets unreadable, Flume stopped) are never "ready".

Limit: Flume commits "last record returned + 1". A transactional producer's commit marker takes an offset too, so
a partition whose last entry is a marker stays one short of its log end until a record follows. The project's
producers are idempotent, not transactional.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_flume_provider.timeutil import iso_ms

__all__ = [
    "MANIFEST_KEY",
    "ConsumedResult",
    "GroupOffsets",
    "LiveTargets",
    "OffsetsFault",
    "TopicPartition",
    "combine_results",
    "decide_consumed",
    "live_targets",
    "merge_offsets",
    "offsets_from_json",
    "offsets_to_json",
    "targets_from_manifest",
]

MANIFEST_KEY = "kafka_offsets"
STATE_VERSION = 1
MAX_LAGGING_SHOWN = 3
TopicPartition = tuple[str, int]
Offsets = dict[TopicPartition, int]
FAULT_KINDS = ("unreachable", "unknown_group", "unknown_topic", "unreadable")


class OffsetsFault(Exception):
    """Offsets could not be read; ``kind`` is one of ``FAULT_KINDS``. The message never holds secrets."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"OffsetsFault kind must be one of {FAULT_KINDS}, got {kind!r}")
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class GroupOffsets:
    """What was read about a consumer group: whether it exists, its members and its committed offsets.

    ``committed`` holds only partitions with a committed offset; ``state`` is Kafka's group state
    (e.g. ``STABLE``, ``EMPTY``, ``DEAD``).
    """

    group_id: str
    exists: bool
    state: str | None
    members: int
    committed: Mapping[TopicPartition, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsumedResult:
    """The verdict: ``ok`` only when every target partition is caught up; ``reason`` is one log line."""

    ok: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def _n(value: int) -> str:
    return f"{value:,}"


def _label(tp: TopicPartition, single_topic: bool) -> str:
    return f"p{tp[1]}" if single_topic else f"{tp[0]}/p{tp[1]}"


def _lag_text(tp: TopicPartition, target: int, committed: int | None, low: int | None, single: bool) -> str:
    """Why one partition is not caught up."""
    name = _label(tp, single)
    if committed is not None:
        return f"{name} at {_n(committed)} of {_n(target)}"
    if low is not None and low == target:
        return (
            f"{name} has no committed offset and its records up to {_n(target)} were deleted (log start = end): "
            "they cannot be proven consumed"
        )
    return f"{name} has no committed offset (target {_n(target)})"


def decide_consumed(
    group_id: str,
    targets: Mapping[TopicPartition, int],
    group: GroupOffsets | OffsetsFault,
    *,
    log_start: Mapping[TopicPartition, int] | None = None,
    require_members: bool = True,
) -> ConsumedResult:
    """Decide ``consumed`` from target offsets and the group's committed offsets (or the fault that hid them).

    A partition is caught up when its committed offset is >= its target. Without a committed offset it is caught
    up only when its target is 0: nothing was ever written there (``log_start`` lets the reason explain a
    partition whose records were all deleted by retention before any commit, which stays not caught up).
    With ``require_members`` (default) a group without members -- Flume stopped or crashed -- is not ready even
    when caught up: with a memory channel a crash after the commit loses what the channel held.
    """
    head = f"flume group {group_id!r}"
    if isinstance(group, OffsetsFault):
        return ConsumedResult(
            False, f"{head}: offsets unreadable ({group.kind}): {group}", {"fault": group.kind}
        )
    if not group.exists:
        reason = (
            f"{head} does not exist: no consumer has joined it or committed offsets "
            "(is Flume running with this kafka.consumer.group.id?)"
        )
        return ConsumedResult(False, reason, {"fault": "unknown_group"})
    if not targets:
        return ConsumedResult(
            False, f"{head}: no target offsets (no partition to check)", {"fault": "no_targets"}
        )
    details = _partition_details(targets, group.committed)
    lagging = [tp for tp in sorted(targets) if not details["partitions"][_key(tp)]["caught_up"]]
    details.update(state=group.state, members=group.members)
    caught = len(targets) - len(lagging)
    summary = f"{head}: {caught} of {len(targets)} partitions caught up"
    if lagging:
        single = len({tp[0] for tp in targets}) == 1
        low = log_start or {}
        shown = [_lag_text(tp, targets[tp], group.committed.get(tp), low.get(tp), single) for tp in lagging]
        more = len(lagging) - MAX_LAGGING_SHOWN
        text = "; ".join(shown[:MAX_LAGGING_SHOWN]) + (f"; and {more} more" if more > 0 else "")
        return ConsumedResult(False, f"{summary}; {text}", details)
    if require_members and group.members == 0:
        reason = f"{summary}, but the group has no members (state {group.state}): Flume is not running"
        return ConsumedResult(False, reason, {**details, "fault": "no_members"})
    return ConsumedResult(True, summary, details)


def combine_results(results: Iterable[ConsumedResult]) -> ConsumedResult:
    """One verdict for a sink fed by several consumers (e.g. two KafkaSources into one channel): ok only when
    every one is ok; the reason lists the not-ready ones first."""
    items = list(results)
    if not items:
        return ConsumedResult(False, "no Kafka consumer to check", {"fault": "no_targets"})
    failing = [r for r in items if not r.ok]
    reason = "; ".join(r.reason for r in (failing or items))
    return ConsumedResult(not failing, reason, {"consumers": [r.details for r in items]})


def _key(tp: TopicPartition) -> str:
    return f"{tp[0]}/{tp[1]}"


def _partition_details(
    targets: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int]
) -> dict:
    """Per-partition target, committed offset, lag and verdict (JSON-serialisable)."""
    parts: dict[str, dict[str, Any]] = {}
    for tp in sorted(targets):
        target, done = targets[tp], committed.get(tp)
        caught_up = done >= target if done is not None else target == 0
        lag = max(target - (done or 0), 0)
        parts[_key(tp)] = {"target": target, "committed": done, "lag": lag, "caught_up": caught_up}
    total_lag = sum(p["lag"] for p in parts.values())
    return {"partitions": parts, "total_lag": total_lag}


def offsets_to_json(offsets: Mapping[TopicPartition, int]) -> dict[str, dict[str, int]]:
    """``{(topic, p): n}`` as the JSON form ``{"topic": {"p": n}}`` (manifest and state format)."""
    out: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(offsets.items()):
        out.setdefault(topic, {})[str(partition)] = int(offset)
    return out


def offsets_from_json(obj: Any, what: str) -> Offsets:
    """Parse ``{"topic": {"p": n}}``; errors name ``what`` (e.g. ``"manifest kafka_offsets"``) and the bad entry."""
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"{what}: expected an object {{topic: {{partition: offset}}}}, got {type(obj).__name__}"
        )
    out: Offsets = {}
    for topic, parts in obj.items():
        if not isinstance(topic, str) or not topic or not isinstance(parts, Mapping):
            raise ValueError(
                f"{what}: topic {topic!r} must be a non-empty name mapping partitions to offsets"
            )
        for partition, offset in parts.items():
            try:
                p = int(partition)
            except (TypeError, ValueError):
                raise ValueError(f"{what}: {topic!r} partition {partition!r} is not an integer") from None
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or p < 0:
                raise ValueError(
                    f"{what}: {topic!r} partition {partition!r} offset must be an int >= 0, got {offset!r}"
                )
            out[(topic, p)] = offset
    return out


def merge_offsets(parts: Iterable[Mapping[TopicPartition, int]]) -> Offsets:
    """Merge target offsets of several writers (mapped tasks): the maximum per partition."""
    out: Offsets = {}
    for offsets in parts:
        for tp, offset in offsets.items():
            out[tp] = max(out.get(tp, offset), offset)
    return out


def targets_from_manifest(manifest: Mapping[str, Any]) -> Offsets:
    """Target offsets recorded by a publish/replay manifest under ``MANIFEST_KEY``.

    :raises ValueError: when the manifest has no (or a malformed) ``kafka_offsets``; a manifest written before
        the engine recorded offsets cannot prove consumption.
    """
    if MANIFEST_KEY not in manifest:
        raise ValueError(
            f"manifest has no {MANIFEST_KEY!r}: it was written without Kafka offsets, so 'consumed' cannot use it"
        )
    return offsets_from_json(manifest[MANIFEST_KEY], f"manifest {MANIFEST_KEY}")


@dataclass(frozen=True)
class LiveTargets:
    """Live-pipeline targets: ``targets`` is None while waiting (``reason`` says until when).

    ``state`` is the JSON-serialisable dict to keep in the sensor/trigger state (None until the snapshot).
    """

    targets: Offsets | None
    state: dict[str, Any] | None
    reason: str


def live_targets(
    state: Mapping[str, Any] | None,
    *,
    now_ms: int,
    window_end_ms: int,
    allowed_lateness_ms: int,
    read_log_end: Callable[[], Mapping[TopicPartition, int]],
) -> LiveTargets:
    """Targets for a live window: snapshot the log-end offsets once the window closes, then keep them.

    ``state`` is what a previous call returned (or None). ``read_log_end`` is called at most once per window,
    and only after ``window_end_ms + allowed_lateness_ms``; an :class:`OffsetsFault` it raises propagates (the
    caller reports it through :func:`decide_consumed`, and the snapshot is retried on the next poke).
    """
    if allowed_lateness_ms < 0:
        raise ValueError(f"allowed_lateness must be >= 0, got {allowed_lateness_ms} ms")
    close_ms = window_end_ms + allowed_lateness_ms
    if state:
        if state.get("version") != STATE_VERSION or state.get("close_ms") != close_ms:
            raise ValueError(
                f"consumed state does not belong to this window (close {iso_ms(close_ms)}): {dict(state)!r}"
            )
        targets = offsets_from_json(state.get(MANIFEST_KEY), "consumed state kafka_offsets")
        return LiveTargets(targets, dict(state), f"targets snapshotted at {iso_ms(state.get('snapshot_ms'))}")
    if now_ms < close_ms:
        lateness = f"{allowed_lateness_ms / 1000:g} s"
        reason = f"waiting for the window to close at {iso_ms(window_end_ms)} + lateness {lateness} ({iso_ms(close_ms)})"
        return LiveTargets(None, None, reason)
    targets = dict(read_log_end())
    if not targets:
        return LiveTargets(
            None, None, "the topic has no partitions to snapshot yet; retrying on the next check"
        )
    new_state = {
        "version": STATE_VERSION,
        "close_ms": close_ms,
        "snapshot_ms": now_ms,
        MANIFEST_KEY: offsets_to_json(targets),
    }
    return LiveTargets(targets, new_state, f"targets snapshotted at {iso_ms(now_ms)}")
