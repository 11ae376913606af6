"""A daily job that starts only when Flume's HDFS partition for its day is complete.

Each run covers one day (its data interval) and starts once the day has ended. The first task is a deferrable ``FlumePartitionSensor``: it reads the partition layout (path template, time
zone, file naming) from the same Flume agent config the pipeline runs, and waits on the triggerer, holding no
worker slot, until the day's directory has finished files, no in-progress ``.tmp`` file, no change for
``quiet_period`` seconds, and Flume has moved on to the next day (or the day ended ``allowed_lateness`` ago).
When ready it emits an Asset event for ``hdfs://<namenode>/flume/events`` with the partition's facts, which
``flume_daily_consumer`` is scheduled on. The downstream task then reads the partition.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flume_provider.flume_config import load_flume_config
from airflow_flume_provider.hdfs_uri import static_prefix
from airflow_flume_provider.sensors.partition import FlumePartitionSensor

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[1] / "stack" / "conf" / "flume.conf")
)
# The sensor reads the Flume config only when it runs; the asset it emits (which flume_daily_consumer is
# scheduled on) must be known when the DAG is parsed, so this DAG file names it from the same config.
_SINK = load_flume_config(FLUME_CONF).hdfs_sink("agent", "k_events")
EVENTS_ASSET_URI = f"hdfs://{_SINK.namenode}{static_prefix(_SINK.path_template)}"


@task
def summarize_partition(report: dict[str, Any]) -> dict[str, Any]:
    """Read the ready partition through WebHDFS: files and event (line) counts, as a downstream job would."""
    from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook

    summary: dict[str, Any] = {"paths": report["paths"], "files": 0, "events": 0, "bytes": 0}
    with FlumeHdfsHook("webhdfs_default").get_client() as client:
        for path in report["paths"]:
            for status in client.list_status(path):
                if not status.is_file or status.name.startswith(("_", ".")):
                    continue
                summary["files"] += 1
                with client.open(f"{path}/{status.name}") as stream:  # streamed, never whole in memory
                    while chunk := stream.read(1 << 20):
                        summary["bytes"] += len(chunk)
                        summary["events"] += chunk.count(b"\n")
    return summary


with DAG(
    dag_id="flume_partition_gate",
    # A run covers the day [D, D+1) and starts after it ends: `airflow dags test flume_partition_gate 2019-08-02`
    # gates partition 2019-08-01 (the data interval that ended at that logical date).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2000, 1, 1, tz="UTC"),  # historical runs (backfills, tests) allowed
    catchup=False,
    tags=["flume", "example", "sensor"],
    doc_md=__doc__,
    params={
        "quiet_period": Param(120, type="number", minimum=0),
        "expected_count": Param(None, type=["null", "integer"]),
    },
) as dag:
    ready = FlumePartitionSensor(
        task_id="wait_for_partition",
        flume_conf=FLUME_CONF,
        agent="agent",
        sink="k_events",
        expected_count="{{ params.expected_count if params.expected_count is not none else '' }}",
        quiet_period="{{ params.quiet_period }}",
        allowed_lateness=3600,
        write_success_marker=True,
        asset_uri=EVENTS_ASSET_URI,
        deferrable=True,
        poke_interval=10,
        timeout=6 * 3600,
    )
    summarize_partition(ready.output)
