"""What differs between the Airflow versions this provider supports (3.0.6 .. 3.3.x), resolved in one place.

Airflow glue, like hooks/ and sensors/: the core modules never import it. Each name that moved and each
feature a newer Airflow added is detected here at run time (never from a version number), with the fallback
the older Airflows get:

- Names that moved (``BaseHook``, ``conf``, the exceptions, ``ObjectStoragePath``: in ``airflow.sdk``
  only in newer versions) are imported with a fallback where they are used; the example DAGs take
  ``AirflowSkipException`` from here.
- Partition keys on asset events (``OutletEventAccessor.add_partitions``, 3.3): without them the gate and
  the audit put the key in the event's ``extra`` (partition_assets.announce), and a consumer DAG is scheduled
  on the plain asset instead of ``PartitionedAssetTimetable`` (:func:`partitioned_asset_schedule`).
- ``task_state_store`` (3.3) is looked up in the task context (sensors/reschedule_state.py).
- Airflow 3.0 logs at INFO to stdout ("Connection Retrieved ..."): :func:`airflow_logs_to_stderr` keeps the
  CLI's stdout for its own output (``--json``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.sdk.execution_time.context import OutletEventAccessor

try:  # Airflow >= 3.2: the task runner catches the SDK's
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 3.0 and 3.1
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef,attr-defined]

__all__ = ["AirflowSkipException", "airflow_logs_to_stderr", "has_partition_keys", "partitioned_asset_schedule"]


def has_partition_keys() -> bool:
    """True when tasks can attach partition keys to their asset events (``add_partitions``, Airflow >= 3.3)."""
    return hasattr(OutletEventAccessor, "add_partitions")


def partitioned_asset_schedule(asset: Any) -> Any:
    """A DAG ``schedule`` with one run per announced partition of ``asset`` where Airflow has partition keys.

    On Airflow >= 3.3 this is ``PartitionedAssetTimetable(assets=asset)`` (``dag_run.partition_key`` set).
    Before, the announcing tasks cannot key their events (3.2's timetable only keys runs of partitioned
    producers), so the schedule is ``[asset]``: a run per asset event, or per batch of events queued
    together, with each partition's key in its event's ``extra["partition_key"]``.
    """
    if has_partition_keys():
        from airflow.sdk import PartitionedAssetTimetable

        return PartitionedAssetTimetable(assets=asset)
    return [asset]


def airflow_logs_to_stderr() -> None:
    """Point the logging handlers that write to stdout at stderr, so stdout carries only a command's output.

    Airflow 3.0's logging config sends its console handler to stdout, and its ``BaseHook.get_connection``
    logs "Connection Retrieved" at INFO there: that line would come before ``--json`` output. Call it after
    Airflow is imported (its logging is configured on import).
    """
    loggers = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for logger in loggers:
        for handler in list(logger.handlers):
            if not isinstance(handler, logging.StreamHandler):
                continue
            if getattr(handler, "stream", None) not in (sys.stdout, sys.__stdout__):
                continue
            # A new handler: Airflow 3.0's RedirectStdHandler has a read-only ``stream``.
            moved = logging.StreamHandler(sys.stderr)
            moved.setLevel(handler.level)
            moved.setFormatter(handler.formatter)
            for f in handler.filters:  # the secrets masker among them
                moved.addFilter(f)
            logger.removeHandler(handler)
            logger.addHandler(moved)
