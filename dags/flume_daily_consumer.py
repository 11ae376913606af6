"""Data-aware scheduling: runs whenever FlumePartitionSensor reports a complete partition of the events sink.

``flume_partition_gate``'s sensor emits an Asset event for ``hdfs://<namenode>/flume/events`` (the sink's
path up to the first time escape) with extras: the partition ``paths``, ``files``, ``bytes``,
``event_count`` and ``newest_mtime``. This DAG is scheduled on that asset, so it starts once per completed
day, without knowing Flume's file naming or timing, and reads which partition it is for from the event.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_flume_provider.flume_config import load_flume_config
from airflow_flume_provider.hdfs_uri import static_prefix

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[1] / "stack" / "conf" / "flume.conf")
)
_SINK = load_flume_config(FLUME_CONF).hdfs_sink("agent", "k_events")
EVENTS_ASSET = Asset(f"hdfs://{_SINK.namenode}{static_prefix(_SINK.path_template)}")  # the sensor's default asset


@task(inlets=[EVENTS_ASSET])
def process_partition(triggering_asset_events: Any = None, inlet_events: Any = None) -> list[dict[str, Any]]:
    """Return the partitions that became complete: from the asset events that triggered this run, or, for a
    manual run (``airflow dags test``), the latest one recorded for the asset."""
    events = list((triggering_asset_events or {}).get(EVENTS_ASSET, []))
    if not events and inlet_events is not None:
        latest = inlet_events[EVENTS_ASSET]
        events = [latest[-1]] if len(latest) else []
    done = []
    for event in events:
        extra = dict(event.extra or {})
        print(f"partition complete: {extra.get('partition')} with {extra.get('event_count')} events")
        done.append(extra)
    if not done:
        raise ValueError(f"no asset event for {EVENTS_ASSET.uri}: run flume_partition_gate first")
    return done


with DAG(
    dag_id="flume_daily_consumer",
    schedule=[EVENTS_ASSET],
    start_date=pendulum.datetime(2000, 1, 1, tz="UTC"),  # historical runs (backfills, tests) allowed
    catchup=False,
    tags=["flume", "example", "asset"],
    doc_md=__doc__,
) as dag:
    process_partition()
