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

from airflow_flume_provider.sensors.partition import FlumePartitionSensor

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[1] / "stack" / "conf" / "flume.conf")
)


@task
def summarize_partition(report: dict[str, Any]) -> dict[str, Any]:
    """Read the ready partition through WebHDFS: files and event (line) counts, as a downstream job would."""
    from airflow.sdk import BaseHook

    from airflow_flume_provider.webhdfs import client_from_connection

    summary: dict[str, Any] = {"paths": report["paths"], "files": 0, "events": 0, "bytes": 0}
    with client_from_connection(BaseHook.get_connection("webhdfs_default")) as client:
        for path in report["paths"]:
            for status in client.list_status(path):
                if not status.is_file or status.name.startswith(("_", ".")):
                    continue
                data = client.open(f"{path}/{status.name}")
                summary["files"] += 1
                summary["bytes"] += len(data)
                summary["events"] += data.count(b"\n")
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
        deferrable=True,
        poke_interval=10,
        timeout=6 * 3600,
    )
    summarize_partition(ready.output)
