"""Test-only DAG: the partition sensor in mode="reschedule" with trust_mtime=False and a count check."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_flume_provider.sensors.partition import FlumePartitionSensor

with DAG(
    dag_id="sensor_reschedule_e2e",
    schedule="@daily",
    start_date=datetime(2000, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["test"],
) as dag:
    FlumePartitionSensor(
        task_id="wait_rescheduled",
        path_template=f"hdfs://{os.environ.get('FLUME_NAMENODE', '127.0.0.1:28020')}/flume/events/%Y-%m-%d",
        in_use_prefix="_",
        file_type="DataStream",
        expected_count="{{ dag_run.conf['expected'] }}",
        checks=["exists", "no_in_use", "quiet", "count"],
        trust_mtime=False,  # the quiet period can only pass if the snapshot survives reschedules
        quiet_period=4,
        mode="reschedule",
        poke_interval=1,
        timeout=240,
        deferrable=False,
    )
