"""Replay manifests: what a replay acknowledged per Flume HDFS partition path, and how to merge them.

A manifest is a JSON-serialisable dict pushed to XCom by ``ReplayFlumeEventsOperator`` (one per mapped task):

``partitions``
    ``{hdfs_path: n}`` distinct events acknowledged by Kafka for that partition (path part only, e.g.
    ``/flume/events/2005-03-04``; the NameNode is in ``sink.namenode``).
``duplicates``
    ``{hdfs_path: n}`` extra copies: events acknowledged after the last checkpoint of a failed attempt and
    sent again by the retry. Flume writes both copies, so a partition should finally hold
    ``partitions[p] + duplicates[p]`` events (:func:`expected_counts`).
``totals``
    ``read``, ``acknowledged``, ``failed``, ``in_doubt``, ``dead_lettered``, ``bad_input``,
    ``invalid_time_skipped``, ``time_set_to_now``, ``out_of_window``, ``duplicates``.
``timings``, ``window``, ``sink``, ``sources``, ``topic``, ``dry_run``, ``attempts``, ``parts``.

For a dry run ``partitions`` holds what *would* be sent and ``totals.acknowledged`` is 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_flume_provider.timeutil import iso_ms

MANIFEST_VERSION = 1
TOTAL_KEYS = (
    "read",
    "acknowledged",
    "failed",
    "in_doubt",
    "dead_lettered",
    "bad_input",
    "invalid_time_skipped",
    "time_set_to_now",
    "out_of_window",
    "duplicates",
)


def empty_totals() -> dict[str, int]:
    """A totals dict with every key at zero."""
    return dict.fromkeys(TOTAL_KEYS, 0)


def add_counts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    """Key-wise sum of two count dicts (keys sorted, zeros dropped)."""
    total: Counter[str] = Counter()
    total.update(a)
    total.update(b)
    return {k: v for k, v in sorted(total.items()) if v}


def expected_counts(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Events each partition should finally hold in HDFS: distinct acknowledged plus duplicates."""
    return add_counts(manifest.get("partitions", {}), manifest.get("duplicates", {}))


def merge_manifests(manifests: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Merge the manifests of mapped replay tasks (``None`` entries, e.g. skipped tasks, are ignored).

    Counts add up; the window spans all windows; timings span first start to last finish; ``sources`` are
    concatenated. Manifests of different topics or mixed dry/real runs are refused (their counts do not add).
    """
    items = [m for m in manifests if m]
    if not items:
        raise ValueError("no manifests to merge")
    topics = {m.get("topic") for m in items}
    if len(topics) > 1:
        raise ValueError(f"cannot merge manifests of different topics: {sorted(map(str, topics))}")
    if len({bool(m.get("dry_run")) for m in items}) > 1:
        raise ValueError("cannot merge dry-run and real manifests")
    partitions: dict[str, int] = {}
    duplicates: dict[str, int] = {}
    totals = empty_totals()
    for m in items:
        if m.get("version", MANIFEST_VERSION) != MANIFEST_VERSION:
            raise ValueError(f"unsupported manifest version {m.get('version')!r}")
        partitions = add_counts(partitions, m.get("partitions", {}))
        duplicates = add_counts(duplicates, m.get("duplicates", {}))
        for key in TOTAL_KEYS:
            totals[key] += int(m.get("totals", {}).get(key, 0))
    starts = [m["timings"]["started_at"] for m in items if m.get("timings", {}).get("started_at")]
    ends = [m["timings"]["finished_at"] for m in items if m.get("timings", {}).get("finished_at")]
    seconds = (max(ends) - min(starts)) if starts and ends else 0.0
    win_starts = [
        m["window"]["start_ms"] for m in items if (m.get("window") or {}).get("start_ms") is not None
    ]
    win_ends = [m["window"]["end_ms"] for m in items if (m.get("window") or {}).get("end_ms") is not None]
    sinks = [m.get("sink") for m in items if m.get("sink")]
    return {
        "version": MANIFEST_VERSION,
        "topic": items[0].get("topic"),
        "dry_run": bool(items[0].get("dry_run")),
        "sources": [s for m in items for s in m.get("sources", [])],
        "window": {
            "start_ms": min(win_starts) if win_starts else None,
            "end_ms": max(win_ends) if win_ends else None,
        },
        "sink": sinks[0] if sinks and all(s == sinks[0] for s in sinks) else None,
        "partitions": partitions,
        "duplicates": duplicates,
        "totals": totals,
        "timings": {
            "started_at": min(starts) if starts else None,
            "finished_at": max(ends) if ends else None,
            "seconds": round(seconds, 3),
            "events_per_s": round(totals["acknowledged"] / seconds, 1) if seconds > 0 else 0.0,
        },
        "attempts": max(int(m.get("attempts", 1)) for m in items),
        "parts": sum(int(m.get("parts", 1)) for m in items),
        **_merged_offsets(items),
    }


def _merged_offsets(items: list[Mapping[str, Any]]) -> dict[str, Any]:
    """``kafka_offsets`` of merged manifests: the highest log-end offset per partition; absent when any part
    lacks them (a target missing for one part would let the ``consumed`` check pass before that part is read)."""
    from airflow_flume_provider.consumed import merge_offsets, offsets_from_json, offsets_to_json

    if not all(m.get("kafka_offsets") for m in items):
        return {}
    merged = merge_offsets(offsets_from_json(m["kafka_offsets"], "manifest kafka_offsets") for m in items)
    return {"kafka_offsets": offsets_to_json(merged)}


def describe_source(source: Any) -> str:
    """A replay source as one line (its path, topic, or the spec as text)."""
    if isinstance(source, str):
        return source
    return str(source.get("path") or source.get("topic") or source)


def build_manifest(
    *,
    topic: str,
    dry_run: bool,
    source: Any,
    window_ms: tuple[int, int],
    sink: Mapping[str, Any] | None,
    counts: tuple[Mapping[str, int], Mapping[str, int], Mapping[str, int]],
    timing: tuple[float, float, float, int],
    attempts: int,
    dead_letter: str | None,
    checkpoint: str | None,
    kafka_offsets: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """The manifest of one replay task.

    :param counts: (totals, partitions, duplicates), cumulative over attempts.
    :param timing: (started_at of the first attempt, start and end of this attempt, events it produced).
    :param kafka_offsets: the topic's log-end offsets after the final flush (``{topic: {partition: offset}}``),
        the targets of the ``consumed`` check; omitted from the manifest when unknown.
    """
    totals, partitions, duplicates = counts
    first_started_at, started_at, finished_at, produced = timing
    start_ms, end_ms = window_ms
    seconds = finished_at - started_at  # this attempt
    return {
        "version": MANIFEST_VERSION,
        "topic": topic,
        "dry_run": dry_run,
        "sources": [describe_source(source)],
        "window": {"start_ms": start_ms, "end_ms": end_ms, "start": iso_ms(start_ms), "end": iso_ms(end_ms)},
        "sink": sink,
        "partitions": dict(partitions),
        "duplicates": dict(duplicates),
        "totals": dict(totals),
        "timings": {
            "started_at": round(float(first_started_at), 3),
            "finished_at": round(finished_at, 3),
            "seconds": round(seconds, 3),
            "events_per_s": round(produced / seconds, 1) if seconds > 0 else 0.0,
        },
        "attempts": attempts,
        "parts": 1,
        "dead_letter": dead_letter,
        "checkpoint": checkpoint,
        **({"kafka_offsets": {t: dict(p) for t, p in kafka_offsets.items()}} if kafka_offsets else {}),
    }

