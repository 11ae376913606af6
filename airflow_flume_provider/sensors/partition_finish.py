"""What the partition sensor does once a partition is ready: JSON markers and the partition-keyed asset event.

Kept apart from the sensor class (which holds its many parameters) so each stays within the size target.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.sdk import Asset

from airflow_flume_provider.hdfs_uri import split_hdfs_uri
from airflow_flume_provider.partition_model import ReadinessReport
from airflow_flume_provider.sensors.partition_window import template_and_naming

__all__ = ["announce_partitions", "write_markers"]


def write_markers(sensor: Any, client: Any, context: Any, report: ReadinessReport) -> None:
    """The JSON marker of each ready partition (revision 1, or the audit's next one), written atomically."""
    from airflow_flume_provider.audit import declare_ready

    ti = context.get("ti")
    announcer = f"{getattr(ti, 'dag_id', sensor.dag_id)}/{getattr(ti, 'run_id', '')}/{sensor.task_id}"
    single = len(report.paths) == 1 and report.event_count is not None
    declare_ready(
        client,
        report.paths,
        template_and_naming(sensor)[1],
        now_ms=int(time.time() * 1000),
        announcer=announcer,
        checks=[c.name for c in report.checks if c.ok],
        event_counts={report.paths[0]: report.event_count} if single else None,
    )
    for path in report.paths:
        sensor.log.info("Wrote the JSON marker %s/_SUCCESS", path.rstrip("/"))


def announce_partitions(sensor: Any, context: Any, report: ReadinessReport) -> None:
    """One event of the sensor's asset per ready partition, keyed by its path below the asset's prefix."""
    from airflow_flume_provider.partition_assets import announce, asset_name, partition_key

    if "outlet_events" not in context:  # plain unit calls without a task context
        sensor.log.warning("No outlet_events in context; asset event for %s not emitted", sensor.asset_uri)
        return
    namenode = getattr(sensor, "_namenode", None)
    extra = {
        "partition_uri": [f"hdfs://{namenode}{p}" if namenode else p for p in report.paths],
        "files": report.files,
        "bytes": report.bytes,
        "event_count": report.event_count,
        "newest_mtime": report.newest_mtime,
    }
    prefix = split_hdfs_uri(sensor.asset_uri)[1]
    asset = next((o for o in sensor.outlets if getattr(o, "uri", None) == sensor.asset_uri), None)
    asset = asset or Asset(uri=sensor.asset_uri, name=asset_name(sensor.asset_uri))
    for path in report.paths:  # add_partitions where this Airflow has it, else the key in extra
        announce(context, asset, partition_key(prefix, path), {**extra, "partition": path})
