"""Replay stored events into Kafka with their original event times, then wait until HDFS holds them all.

Trigger it with params (UI "Trigger DAG w/ config", or ``airflow dags test flume_replay_backfill -c '{...}'``):

- ``source_glob``: local or ``hdfs://`` JSON Lines (``.jsonl``/``.jsonl.gz``) or Avro files; one mapped replay
  task per file, so a large replay fans out over Airflow workers;
- or ``source_topic``: a raw Kafka topic to republish over the window (``kafka://<topic>``);
- ``start`` / ``end``: the event-time window ``[start, end)`` (ISO-8601); events outside are counted, not sent;
- ``rate_limit``: events per second per task (0 = unlimited); ``dry_run``: read, validate and count per
  target partition without producing anything;
- ``quiet_period``: seconds with no file change before a partition counts as complete.

Each replay task returns a manifest (events acknowledged per HDFS partition). The manifests are merged, and
one ``FlumePartitionSensor`` per touched partition waits until Flume has written exactly that many events
there (plus counted duplicates from retries), with no in-progress file left.
"""

from __future__ import annotations

import glob
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_flume_provider.flume_config import load_flume_config
from airflow_flume_provider.operators.replay import ReplayFlumeEventsOperator
from airflow_flume_provider.sensors.partition import FlumePartitionSensor

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[1] / "stack" / "conf" / "flume.conf")
)
# The pipeline these examples drive: FLUME_CONF / FLUME_AGENT / FLUME_SINK (make demo sets the recommended
# KafkaChannel topology: stack/conf/flume-kafka-channel.conf, agent lossless, sink k_lossless).
AGENT = os.environ.get("FLUME_AGENT", "agent")
SINK_NAME = os.environ.get("FLUME_SINK", "k_events")
# The topic Flume reads for that sink (its KafkaChannel topic or KafkaSource topics), from the same config.
TOPIC = load_flume_config(FLUME_CONF).kafka_consumer(AGENT, SINK_NAME).topics[0]


@task
def plan_sources(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One replay task per input file (or one for the topic), with the run's rate limit and dry-run flag."""
    assert params is not None
    if params.get("source_topic"):
        sources = [f"kafka://{params['source_topic']}"]
    elif str(params.get("source_glob", "")).startswith("hdfs://"):
        sources = [params["source_glob"]]  # expanded by the reader through WebHDFS
    else:
        sources = sorted(glob.glob(params.get("source_glob") or ""))
        if not sources:
            raise ValueError(f"param source_glob {params.get('source_glob')!r} matches no file")
    rate = float(params.get("rate_limit") or 0)
    return [
        {"source": s, "rate_limit": rate or None, "dry_run": bool(params.get("dry_run"))} for s in sources
    ]


@task
def partitions_touched(
    manifests: Any, params: dict[str, Any] | None = None, ti: Any = None
) -> list[dict[str, Any]]:
    """The partitions the replay wrote to (from the merged manifests), as sensor arguments; the manifests
    themselves as a plain list under the XCom key ``manifests``, for the sensors' ``manifest``."""
    from airflow_flume_provider.partition_check import expected_counts_from

    assert params is not None
    if params.get("dry_run"):
        return []  # nothing was sent: nothing to wait for
    # One slice request: iterating (or comparing) the lazy sequence of mapped XComs reads one past its end,
    # which the task runner logs as an "XCom not found ... offset=N" error.
    manifests = manifests[:]
    ti.xcom_push(key="manifests", value=manifests)
    counts = expected_counts_from(manifests)
    template = load_flume_config(FLUME_CONF).hdfs_sink(AGENT, SINK_NAME).path_template_obj()
    start = datetime.fromisoformat(params["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(params["end"].replace("Z", "+00:00"))
    touched, instant = [], start
    while instant < end:
        part_start, part_end = template.partition_bounds(instant)
        if counts.get(template.partition_for(instant), 0) > 0:
            touched.append(
                {"partition_date": part_start.isoformat(), "quiet_period": float(params["quiet_period"])}
            )
        instant = part_end
    return touched


with DAG(
    dag_id="flume_replay_backfill",
    schedule=None,
    start_date=pendulum.datetime(2000, 1, 1, tz="UTC"),  # historical runs (backfills, tests) allowed
    catchup=False,
    tags=["flume", "example", "replay"],
    doc_md=__doc__,
    params={
        "source_glob": Param("/data/events/*.jsonl.gz", type="string"),
        "source_topic": Param("", type="string"),
        "start": Param("2019-08-01T00:00:00Z", type="string"),
        "end": Param("2019-08-03T00:00:00Z", type="string"),
        "rate_limit": Param(0, type="number", minimum=0),
        "dry_run": Param(False, type="boolean"),
        "quiet_period": Param(60, type="number", minimum=0),
    },
) as dag:
    replay = ReplayFlumeEventsOperator.partial(
        task_id="replay",
        topic=TOPIC,
        start="{{ params.start }}",
        end="{{ params.end }}",
        event_time_field="activity_time",
        event_id_field="id",
        headers={"replay": "true", "run": "{{ run_id }}"},
        flume_config_path=FLUME_CONF,
        flume_agent=AGENT,
        flume_sink=SINK_NAME,
        retries=2,
    ).expand_kwargs(plan_sources())

    touched = partitions_touched(replay.output)
    FlumePartitionSensor.partial(
        task_id="wait_for_partition",
        flume_conf=FLUME_CONF,
        agent=AGENT,
        sink=SINK_NAME,
        manifest=touched["manifests"],  # a plain list: the mapped replay.output would be a lazy sequence
        exact_count=True,
        poke_interval=5,
        timeout=3600,
        deferrable=True,
    ).expand_kwargs(touched)
