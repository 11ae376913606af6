"""Publish each hour's staged events to Kafka as Flume envelopes, filed by their own event time.

Upstream jobs drop JSON Lines files into ``$FLUME_STAGING_DIR/<YYYY-MM-DDTHH>.jsonl`` (one event per line,
with an ``activity_time`` field and an ``id``). Every hour this DAG publishes the file of the hour that
just ended; each message's ``timestamp`` header is the event's ``activity_time``, so Flume files a
23:59:59 event under that day even when it is published at 00:05. The task fails, with counts, if any
message is not acknowledged by Kafka.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pendulum
from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flume_provider.flume_config import load_flume_config
from airflow_flume_provider.operators.publish import PublishFlumeEventsOperator

FLUME_CONF = os.environ.get(
    "FLUME_CONF", str(Path(__file__).resolve().parents[1] / "stack" / "conf" / "flume.conf")
)
# The pipeline these examples drive: FLUME_CONF / FLUME_AGENT / FLUME_SINK (make demo sets the recommended
# KafkaChannel topology: stack/conf/flume-kafka-channel.conf, agent lossless, sink k_lossless).
AGENT = os.environ.get("FLUME_AGENT", "agent")
SINK_NAME = os.environ.get("FLUME_SINK", "k_events")
TOPIC = load_flume_config(FLUME_CONF).kafka_consumer(AGENT, SINK_NAME).topics[0]
STAGING_DIR = os.environ.get("FLUME_STAGING_DIR", "/tmp/flume-staging")
SINK = load_flume_config(FLUME_CONF).hdfs_sink(AGENT, SINK_NAME)

log = logging.getLogger(__name__)


def read_staging(path: str) -> Iterator[dict]:
    """Yield the events of one staged hour; a missing file means nothing was staged for that hour."""
    staged = Path(path)
    if not staged.exists():
        log.warning("no staged events at %s: nothing to publish for this hour", path)
        return
    with staged.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON: {exc}") from None


with DAG(
    dag_id="flume_publish_hourly",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),  # each run covers the hour that ended
    start_date=pendulum.datetime(2000, 1, 1, tz="UTC"),  # historical runs (backfills, tests) allowed
    catchup=False,
    max_active_runs=1,
    tags=["flume", "example"],
    doc_md=__doc__,
) as dag:
    PublishFlumeEventsOperator(
        task_id="publish_hour",
        topic=TOPIC,
        producer_function=read_staging,
        producer_function_args=[STAGING_DIR + "/{{ data_interval_start.strftime('%Y-%m-%dT%H') }}.jsonl"],
        event_time_field="activity_time",
        event_id_field="id",
        headers={"source": "flume_publish_hourly", "run": "{{ run_id }}"},
        sink_path_template=SINK.path,
        sink_time_zone=SINK.time_zone or "UTC",
        retries=2,
    )
