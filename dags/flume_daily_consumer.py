"""Partition-aware scheduling: one run per announced partition of the events sink, and one more per revision.

``flume_partition_gate`` announces each complete day of the sink's asset (uri ``hdfs://<namenode>/flume/events``,
name ``flume:/flume/events``) with the partition key ``2019-08-01`` and extras ``partition``, ``revision``,
``files``, ``bytes``, ``event_count``; ``flume_late_data_audit`` announces the same key again when late events
arrive (``revision`` 2, 3, ..., ``late_files``, ``late_events``, ``first_late_mtime``). On
``PartitionedAssetTimetable`` this DAG gets one run per key (``dag_run.partition_key``): for a revised day it
re-runs for that day alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_flume_provider.compat import partitioned_asset_schedule
from airflow_flume_provider.flume_config import load_flume_config
from airflow_flume_provider.partition_assets import asset_identity

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[1] / "stack" / "conf" / "flume.conf")
)
# The pipeline these examples drive: FLUME_CONF / FLUME_AGENT / FLUME_SINK (make demo sets the recommended
# KafkaChannel topology: stack/conf/flume-kafka-channel.conf, agent lossless, sink k_lossless).
AGENT = os.environ.get("FLUME_AGENT", "agent")
SINK_NAME = os.environ.get("FLUME_SINK", "k_events")
_SINK = load_flume_config(FLUME_CONF).hdfs_sink(AGENT, SINK_NAME)
_URI, _NAME = asset_identity(_SINK.namenode, _SINK.path_template)
EVENTS_ASSET = Asset(uri=_URI, name=_NAME)  # the gate's and the audit's asset


@task(inlets=[EVENTS_ASSET])
def process_partition(
    dag_run: Any = None, triggering_asset_events: Any = None, inlet_events: Any = None
) -> list[dict[str, Any]]:
    """Return this run's partition (its key's events, latest revision last), or, for a manual run (``airflow
    dags test``, no partition key), the latest event recorded for the asset."""
    key = getattr(dag_run, "partition_key", None)
    events = [
        e
        for e in (triggering_asset_events or {}).get(EVENTS_ASSET, [])
        if key is None or getattr(e, "partition_key", key) == key
    ]
    if not events and inlet_events is not None:
        latest = inlet_events[EVENTS_ASSET]
        events = [latest[-1]] if len(latest) else []
    done = []
    for event in events:
        extra = dict(event.extra or {})
        print(
            f"partition {extra.get('partition')} revision {extra.get('revision')}: "
            f"{extra.get('event_count')} events ({extra.get('late_events') or 0} late)"
        )
        done.append(extra)
    if not done:
        raise ValueError(f"no asset event for {EVENTS_ASSET.uri}: run flume_partition_gate first")
    return done


with DAG(
    dag_id="flume_daily_consumer",
    schedule=partitioned_asset_schedule(EVENTS_ASSET),  # PartitionedAssetTimetable on Airflow >= 3.3
    start_date=pendulum.datetime(2000, 1, 1, tz="UTC"),  # historical runs (backfills, tests) allowed
    catchup=False,
    tags=["flume", "example", "asset"],
    doc_md=__doc__,
) as dag:
    process_partition()
