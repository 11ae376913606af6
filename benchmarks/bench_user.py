"""The figures users feel (issue 13), registered into ``run.py``: each part by name, its figure and its goal.

``run.py`` calls :func:`run_parts` after its own parts (skip any with ``--skip e2e triggers hdfs batch``) and
:func:`print_figures` after its table. Every figure is reported as a ratio to its limit or goal from this run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

PARTS = ("batch", "hdfs", "triggers", "e2e")

# (label, value key, goal text, ratio key)
FIGURES = (
    ("e2e time to ready (consumed check)", "e2e_time_to_ready_s", "s", "e2e_ready_vs_flume_drain"),
    ("  limit: Flume draining pre-loaded envelopes", "flume_drain_s", "s", None),
    ("  replay acknowledged", "e2e_replay_s", "s", None),
    ("  last event readable in HDFS (drain)", "e2e_drain_s", "s", None),
    ("  all files closed + count = manifest", "e2e_finished_files_s", "s", "e2e_finished_vs_flume_finished"),
    ("  limit: same, pre-loaded", "flume_drain_finished_files_s", "s", None),
    ("200 triggers, max loop lag", "triggerer_200_max_loop_lag_ms", "ms", "triggerer_200_lag_vs_goal"),
    ("200 triggers, peak RSS", "triggerer_200_peak_rss_mb", "MB", "triggerer_200_rss_vs_goal"),
    ("200 triggers, WebHDFS requests/s", "triggerer_200_webhdfs_requests_per_s", "req/s", None),
    ("poke, 100k-file partition", "poke_100k_files_s", "s", "poke_100k_files_vs_goal"),
    ("count 1 GB file, peak RSS (max of 2)", "count_1gb_file_peak_rss_mb", "MB", "count_1gb_file_vs_goal"),
    (
        "produce_batch, pre-built envelopes",
        "raw_produce_batch_events_per_s",
        "events/s",
        "produce_batch_vs_raw",
    ),
    ("produce() with timestamp=event time", "raw_produce_with_timestamp_events_per_s", "events/s", None),
)


def run_parts(
    results: dict[str, Any], data: Path, lines: list[bytes], events: int, runs: int, skip: list[str]
) -> None:
    """Run every part not in ``skip`` and merge its figures into ``results`` (with each part's wall time)."""
    import bench_hdfs
    import bench_produce_batch
    import bench_triggers

    parts = {
        "batch": lambda: bench_produce_batch.run(results, lines, runs),
        "hdfs": bench_hdfs.run,
        "triggers": bench_triggers.run,
        "e2e": lambda: _e2e(data, lines, events),
    }
    for name in PARTS:
        if name in skip:
            continue
        t0 = time.time()
        results.update(parts[name]())
        results[f"wall_{name}_s"] = time.time() - t0


def _e2e(data: Path, lines: list[bytes], events: int) -> dict[str, Any]:
    """The e2e part on ``events`` events (run.py's file when the sizes match, else one of its own)."""
    import bench_e2e
    import run as base

    if events != len(lines):
        data = base.make_jsonl(base.WORK / f"events-{events}.jsonl", events)
        lines = data.read_bytes().splitlines()
    return bench_e2e.run(data, lines, events)


def print_figures(r: dict[str, Any]) -> None:
    """The issue-13 figures with their ratio to the goal/limit (ratio <= 1 meets it; for batch, vs raw)."""
    print(f"\n{'figure (issue 13)':<48} {'value':>14}  {'unit':<8} ratio")
    for label, key, unit, ratio in FIGURES:
        if key not in r:
            continue
        v = r[key]
        text = f"{v:,.2f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}"
        rtext = f"{r[ratio]:.2f}x" if ratio and ratio in r else ""
        print(f"{label:<48} {text:>14}  {unit:<8} {rtext}")
