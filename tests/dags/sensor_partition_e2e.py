"""Test-only DAG (sensor dev): wait for the flume-events partition of the logical date, deferred and poked."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_flume_provider.sensors.partition import FlumePartitionSensor

with DAG(
    dag_id="sensor_partition_e2e",
    schedule="@daily",
    start_date=datetime(2000, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["test"],
) as dag:
    common = {
        "path_template": f"hdfs://{os.environ.get('FLUME_NAMENODE', '127.0.0.1:28020')}/flume/events/%Y-%m-%d",
        "in_use_prefix": "_",
        "file_type": "DataStream",
        "expected_count": "{{ dag_run.conf['expected'] }}",
        "quiet_period": 3,
        "poke_interval": 1,
        "timeout": 180,
    }
    deferred = FlumePartitionSensor(
        task_id="wait_deferred", deferrable=True, write_success_marker=True, **common
    )
    poked = FlumePartitionSensor(task_id="wait_poke", deferrable=False, mode="poke", **common)
    deferred >> poked
