"""A daily job that starts only when Flume's HDFS partition for its day is complete.

Each run covers one day (its data interval) and starts once the day has ended. The first task is a deferrable ``FlumePartitionSensor``: it reads the partition layout (path template, time
zone, file naming) from the same Flume agent config the pipeline runs, and waits on the triggerer, holding no
worker slot, until the day's directory has finished files, no in-progress ``.tmp`` file, no change for
``quiet_period`` seconds, and Flume has moved on to the next day (or the day ended ``allowed_lateness`` ago).
When ready, ``announce_partition`` writes the partition's JSON ``_SUCCESS`` marker (revision 1: its finished
files, the checks that passed) and emits one event of the sink's asset (uri ``hdfs://<namenode>/flume/events``,
name ``flume:/flume/events``) with the partition key ``2019-08-01``, which ``flume_daily_consumer`` gets one run
for. A partition already announced at its current revision by another task (e.g. the replay DAG's gate) is not
announced again: that task is then skipped. Late events found later by ``flume_late_data_audit`` announce the
same key again with ``revision`` 2, 3, ... ``summarize_partition`` reads the partition as a downstream job would.

The schedule stays a data-interval cron, not ``CronPartitionTimetable``: in a run with a partition key, Airflow
gives every outlet event without its own key the run's key, so a gate that decided not to announce would still
announce (under the run's key, formatted from its cron date by ``key_format``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flume_provider.flume_config import load_flume_config
from airflow_flume_provider.partition_assets import asset_identity
from airflow_flume_provider.sensors.partition import FlumePartitionSensor

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[1] / "stack" / "conf" / "flume.conf")
)
# The pipeline these examples drive: FLUME_CONF / FLUME_AGENT / FLUME_SINK (make demo sets the recommended
# KafkaChannel topology: stack/conf/flume-kafka-channel.conf, agent lossless, sink k_lossless).
AGENT = os.environ.get("FLUME_AGENT", "agent")
SINK_NAME = os.environ.get("FLUME_SINK", "k_events")
# The sensor reads the Flume config only when it runs; the asset announce_partition emits (which
# flume_daily_consumer is scheduled on) must be known when the DAG is parsed, so it is named from the same config.
_SINK = load_flume_config(FLUME_CONF).hdfs_sink(AGENT, SINK_NAME)
_URI, _NAME = asset_identity(_SINK.namenode, _SINK.path_template)
EVENTS_ASSET = Asset(uri=_URI, name=_NAME)  # the sink's asset: the audit and the consumer use the same one


@task(outlets=[EVENTS_ASSET])
def announce_partition(report: dict[str, Any], **context: Any) -> list[dict[str, Any]]:
    """Write the JSON ``_SUCCESS`` marker and announce each revision not announced yet (skipped if none)."""
    import time

    from airflow_flume_provider.compat import AirflowSkipException
    from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook
    from airflow_flume_provider.naming import FileNaming
    from airflow_flume_provider.partition_assets import announce_ready

    facts = {k: report[k] for k in ("files", "bytes", "event_count", "newest_mtime")}
    checks = [c["name"] for c in report["checks"] if c["ok"]]
    single = len(report["paths"]) == 1  # the report's facts are totals over all its paths
    with FlumeHdfsHook("webhdfs_default").get_client() as client:
        markers = announce_ready(
            context,
            EVENTS_ASSET,
            client,
            report["paths"],
            FileNaming.from_settings(_SINK),
            now_ms=int(time.time() * 1000),
            checks=checks,
            event_counts={report["paths"][0]: facts["event_count"]}
            if single and facts["event_count"]
            else None,
            extra={report["paths"][0]: facts} if single else None,
        )
    if not markers:
        raise AirflowSkipException(f"{', '.join(report['paths'])}: already announced at this revision")
    return [{"partition": m.partition, "revision": m.revision} for m in markers]


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
        agent=AGENT,
        sink=SINK_NAME,
        expected_count="{{ params.expected_count if params.expected_count is not none else '' }}",
        quiet_period="{{ params.quiet_period }}",
        allowed_lateness=3600,
        emit_asset=False,  # announce_partition writes the marker and announces, once per revision
        deferrable=True,
        poke_interval=10,
        timeout=6 * 3600,
    )
    announce_partition(ready.output)
    summarize_partition(ready.output)
