"""Live-test DAG: many deferrable partition sensors waiting in the triggerer at once (dynamically mapped).

One mapped ``FlumePartitionSensor`` per day of ``[first_day, first_day + days)``, each waiting until Flume has
written ``expected_count`` events to that day's partition of the ``k_events`` sink. The live test triggers it
over empty partitions, checks they are all deferred together, then fills them.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_flume_provider.sensors.partition import FlumePartitionSensor

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[3] / "stack" / "conf" / "flume.conf")
)


@task
def partition_days(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """One sensor per day of the run's range."""
    assert params is not None
    first = date.fromisoformat(params["first_day"])
    return [{"partition_date": (first + timedelta(days=i)).isoformat()} for i in range(int(params["days"]))]


with DAG(
    dag_id="live_many_partitions",
    schedule=None,
    start_date=pendulum.datetime(2000, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test", "live"],
    params={
        "first_day": Param("1980-01-01", type="string"),
        "days": Param(50, type="integer", minimum=1),
        "expected_count": Param(1, type="integer", minimum=0),
    },
) as dag:
    FlumePartitionSensor.partial(
        task_id="wait",
        flume_conf=FLUME_CONF,
        agent="agent",
        sink="k_events",
        expected_count="{{ params.expected_count }}",
        quiet_period=3,
        poke_interval=5,
        timeout=900,
        deferrable=True,
        emit_asset=False,
        max_active_tis_per_dagrun=64,
    ).expand_kwargs(partition_days())
