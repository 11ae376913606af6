"""Daily late-data audit of the events sink: every partition of the last 7 days that was declared ready is
compared with its ``_SUCCESS`` marker.

Events keep arriving for days already declared complete (Flume files each one under the day it happened).
``FlumeLateDataAuditOperator`` finds them: new or grown finished files since the marker are late, their events
are counted, the partition's ``revision`` goes up by one, the marker is rewritten atomically, and one asset
event is emitted for that partition with its partition key (``2019-08-01``) and extras ``revision``,
``late_files``, ``late_events``, ``first_late_mtime``. A consumer on
``PartitionedAssetTimetable(assets=EVENTS_ASSET)`` then re-runs for that day alone. Partitions with nothing new
emit nothing; when no partition changed, the task ends skipped (a succeeding task would emit a key-less event).
Run it by hand: ``airflow dags test flume_late_data_audit 2019-08-03`` audits 2019-07-27 .. 2019-08-02.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Asset, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flume_provider.flume_config import load_flume_config
from airflow_flume_provider.operators.audit import FlumeLateDataAuditOperator
from airflow_flume_provider.partition_assets import asset_identity

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[1] / "stack" / "conf" / "flume.conf")
)
# The pipeline these examples drive: FLUME_CONF / FLUME_AGENT / FLUME_SINK (make demo sets the recommended
# KafkaChannel topology: stack/conf/flume-kafka-channel.conf, agent lossless, sink k_lossless).
AGENT = os.environ.get("FLUME_AGENT", "agent")
SINK_NAME = os.environ.get("FLUME_SINK", "k_events")
_SINK = load_flume_config(FLUME_CONF).hdfs_sink(AGENT, SINK_NAME)
# One asset per sink location, announced by the gate and the audit alike (Airflow keeps one active asset per
# uri): uri hdfs://<namenode>/flume/events, name "flume:/flume/events". A downstream DAG points at this sink's
# partitions with PartitionedAssetTimetable(assets=Asset.ref(name="flume:/flume/events")).
_URI, _NAME = asset_identity(_SINK.namenode, _SINK.path_template)
EVENTS_ASSET = Asset(uri=_URI, name=_NAME)

with DAG(
    dag_id="flume_late_data_audit",
    # A run at D 00:00 audits the 7 days that ended then: [D-7, D).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2000, 1, 1, tz="UTC"),  # historical runs (backfills, tests) allowed
    catchup=False,
    tags=["flume", "example", "audit"],
    doc_md=__doc__,
    params={"lookback_days": Param(7, type="integer", minimum=1)},
) as dag:
    FlumeLateDataAuditOperator(
        task_id="audit_late_data",
        flume_conf=FLUME_CONF,
        agent=AGENT,
        sink=SINK_NAME,
        lookback="{{ params.lookback_days }}",
        asset=EVENTS_ASSET,
    )
