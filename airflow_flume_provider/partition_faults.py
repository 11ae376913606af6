"""What a partition check tells the user when it cannot finish: stale in-use files and incomplete partitions.

Core module (no Airflow): messages and shell commands only, shared by the sensor, the trigger and the CLI.

- **Stale in-use file**: an in-use file (``_FlumeData.1.tmp``) unchanged for longer than ``stale_in_use_after``.
  Its writer died (Flume killed, a DataNode lost while the file was open: FLUME-3080, FLUME-3223), so Flume will
  never close and rename it. The repair (:mod:`~airflow_flume_provider.stale_files`) is lease recovery, then the
  rename Flume's ``BucketWriter`` would have done; ``on_stale_in_use="finalize"`` runs it through WebHDFS
  (:func:`finalize`), otherwise the ``hdfs debug recoverLease`` + ``hdfs dfs -mv`` commands are given.
- **Incomplete partition at the sensor's timeout** (a manifest or an expected count): the partition, how many
  events are missing, and the remedy: replay that window again (the replay's checkpoint and Flume's duplicates
  are counted by the manifest), with the command lines.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.partition_model import PartitionSpec, ReadinessReport
from airflow_flume_provider.stale_files import finalize_stale, repair_commands

__all__ = ["finalize", "incomplete_message", "stale_failure", "stale_repair_commands"]

MAX_FILES_SHOWN = 20
log = logging.getLogger(__name__)


def stale_repair_commands(paths: Sequence[str], naming: FileNaming) -> list[str]:
    """The shell commands that close stale in-use files by hand (``stale_files.repair_commands`` for each)."""
    return [cmd for path in paths for cmd in repair_commands(path, naming)]


def stale_failure(spec: PartitionSpec, report: ReadinessReport) -> str:
    """The error of ``on_stale_in_use="fail"``: the stale files and the repair commands."""
    stale = report.stale_in_use
    shown = stale[:MAX_FILES_SHOWN]
    more = f" (and {len(stale) - len(shown)} more)" if len(stale) > len(shown) else ""
    hours = spec.stale_in_use_after / 3600
    return (
        f"{', '.join(spec.paths)}: {len(stale)} stale in-use file(s), unchanged for more than {hours:g} h "
        f"(their writer died; Flume will not close them): {', '.join(shown)}{more}. To repair, run: "
        + "; ".join(stale_repair_commands(shown, spec.naming))
    )


def incomplete_message(
    spec: PartitionSpec,
    report: ReadinessReport,
    *,
    window: tuple[str, str] | None = None,
    dag_id: str | None = None,
    logical_date: str | None = None,
    replay_tasks: Sequence[str] = (),
    status_command: str | None = None,
) -> str:
    """The sensor's timeout error: the partition, what is missing, and how to replay the window again.

    ``window`` is the partition's ``(start, end)`` ISO instants; ``replay_tasks`` the upstream task ids that
    wrote it, cleared with their downstream tasks for the run at ``logical_date`` (``airflow tasks clear``);
    ``status_command`` an ``airflow-flume partition-status`` line.
    """
    parts = [f"Partition {', '.join(spec.paths)} is not complete: {report.summary()}"]
    expected = spec.expected
    if expected is not None and report.event_count is not None and report.event_count < expected:
        missing = expected - report.event_count
        parts.append(f"{missing:,} of {expected:,} expected events are missing from HDFS")
    if report.stale_in_use:
        parts.append(
            "stale in-use files (repair: "
            + "; ".join(stale_repair_commands(report.stale_in_use[:3], spec.naming))
            + ")"
        )
    remedy = "Remedy: replay that window again"
    if window:
        remedy += f" ({window[0]} .. {window[1]})"
    if dag_id and replay_tasks and logical_date:
        regex = "^(" + "|".join(replay_tasks) + ")$"
        cmd = [
            "airflow",
            "tasks",
            "clear",
            dag_id,
            "-t",
            regex,
            "-s",
            logical_date,
            "-e",
            logical_date,
            "-d",
            "-y",
        ]
        remedy += f": {shlex.join(cmd)}"
    parts.append(remedy)
    if status_command:
        parts.append(f"then check with: {status_command}")
    return ". ".join(parts)


def finalize(
    client: Any, spec: PartitionSpec, listings: Mapping[str, Any], stale: Sequence[str]
) -> list[str]:
    """``on_stale_in_use="finalize"``: recover and rename the stale in-use files (one recovery attempt each per
    poke; a file still held is retried at the next poke). Returns the actions, each also logged."""
    actions: list[str] = []
    for path in spec.paths:
        base = path.rstrip("/")
        statuses = [st for st in listings.get(path) or () if f"{base}/{st.name}" in stale]
        if statuses:
            actions += finalize_stale(client, path, statuses, spec.naming, log=log)
    return actions
