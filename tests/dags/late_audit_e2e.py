"""Test-only DAGs (late-data audit): the audit of the k_seq sink, a partition-aware consumer of its asset, and a
mapped task announcing two partitions of another asset (two keys emitted milliseconds apart)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG, Asset, PartitionedAssetTimetable, task

from airflow_flume_provider.operators.audit import FlumeLateDataAuditOperator
from airflow_flume_provider.partition_assets import announce, asset_identity

FLUME_CONF = os.environ.get("FLUME_CONF", "stack/conf/flume.conf")
SEQ_URI, SEQ_NAME = asset_identity(os.environ.get("FLUME_NAMENODE", "127.0.0.1:28020"), "/flume/seq/%Y-%m-%d")
SEQ_ASSET = Asset(uri=SEQ_URI, name=SEQ_NAME)
PAIR_ASSET = Asset(uri="hdfs://test-namenode/late-audit/pair", name="flume:/late-audit/pair")
START = datetime(1970, 1, 1, tzinfo=timezone.utc)  # before every test day: a later start_date skips the task

with DAG(dag_id="late_audit_e2e", schedule=None, start_date=START, catchup=False, tags=["test"]) as audit_dag:
    FlumeLateDataAuditOperator(
        task_id="audit",
        flume_conf=FLUME_CONF,
        agent="agent",
        sink="k_seq",
        lookback="{{ dag_run.conf.get('lookback', 1) }}",
        audit_end="{{ dag_run.conf['audit_end'] }}",
    )


def partition_consumer(dag_id: str, asset: Asset) -> DAG:
    """A DAG with one run per partition key of ``asset``; its task returns the run's key."""
    with DAG(
        dag_id=dag_id,
        schedule=PartitionedAssetTimetable(assets=asset),
        start_date=START,
        catchup=False,
        tags=["test"],
    ) as consumer:

        @task
        def consume(dag_run: object = None) -> str:
            """Record which partition this run is for."""
            return str(getattr(dag_run, "partition_key", None))

        consume()
    return consumer


consumer_dag = partition_consumer("late_audit_consumer_e2e", SEQ_ASSET)
pair_consumer_dag = partition_consumer("late_audit_pair_consumer_e2e", PAIR_ASSET)

with DAG(
    dag_id="late_audit_pair_e2e", schedule=None, start_date=START, catchup=False, tags=["test"]
) as pair_dag:

    @task(outlets=[PAIR_ASSET])
    def emit(index: int, **context: object) -> str:
        """Announce partition ``conf["keys"][index]`` of PAIR_ASSET (mapped: one task per key, back to back)."""
        key = context["dag_run"].conf["keys"][index]  # type: ignore[attr-defined]
        return announce(context, PAIR_ASSET, key, {"revision": 1})

    emit.expand(index=[0, 1])
