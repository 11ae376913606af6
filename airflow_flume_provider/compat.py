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
- An ``ObjectStoragePath``'s connection: ``conn_id``, or 3.0's ``storage_options`` (:func:`storage_conn_id`).
- ``task_state_store`` (3.3) is looked up in the task context (sensors/reschedule_state.py).
- Airflow 3.0 logs "Connection Retrieved ..." at INFO to stdout, before the CLI's ``--json`` output:
  :func:`quiet_connection_log` keeps it at DEBUG's level as 3.1+ do.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk.execution_time.context import OutletEventAccessor

try:  # Airflow >= 3.2: the task runner catches the SDK's
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 3.0 and 3.1
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef,attr-defined]

__all__ = ["AirflowSkipException", "has_partition_keys", "partitioned_asset_schedule", "quiet_connection_log", "storage_conn_id"]


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


def storage_conn_id(path: Any) -> str | None:
    """The Airflow connection an ``ObjectStoragePath`` is bound to (``s3://aws_default@bucket/...``), else None.

    Newer Airflows give it as ``conn_id``; Airflow 3.0 keeps it only in ``storage_options["conn_id"]``.
    """
    options = getattr(path, "storage_options", None) or {}
    return getattr(path, "conn_id", None) or options.get("conn_id") or None


def quiet_connection_log() -> None:
    """Log Airflow 3.0's "Connection Retrieved" line at DEBUG's level, as Airflow >= 3.1 does.

    Airflow 3.0's ``BaseHook.get_connection`` logs it at INFO through its console handler, which writes to
    stdout: the line would come before the CLI's ``--json`` output. Only that logger (``airflow.hooks.base``,
    which newer Airflows no longer use) is raised to WARNING, and only when nobody set its level.
    """
    logger = logging.getLogger("airflow.hooks.base")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
