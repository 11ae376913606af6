"""The partition sensor's Kafka side (the ``consumed`` check) and its timeout message, kept apart from the sensor.

Thin glue: the consumers come from the Flume config (:meth:`FlumeConfig.kafka_consumers`) or from the sensor's
``kafka_topic`` / ``kafka_group_id``; the librdkafka base config from ``FlumeKafkaHook(kafka_conn_id)`` or the
Flume config's bootstrap servers. The logic is in :mod:`~airflow_flume_provider.partition_consumed` and
:mod:`~airflow_flume_provider.partition_faults`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_flume_provider.consumed import MANIFEST_KEY
from airflow_flume_provider.partition_consumed import (
    consumed_checks,
    consumer_ref,
    explicit_consumer_ref,
    kafka_base_for,
    targets_from_manifests,
)
from airflow_flume_provider.partition_faults import incomplete_message
from airflow_flume_provider.partition_model import PartitionSpec, ReadinessReport
from airflow_flume_provider.timeutil import iso_s

__all__ = ["consumed_fields", "count_free", "materialized", "open_kafka_admin", "timeout_message"]


def materialized(value: Any) -> Any:
    """A lazily resolved mapped XCom (``replay.output`` of a mapped task) as a plain list, read once by slice.

    Iterating such a sequence, or comparing it (``x in (None, "")`` compares with a string), reads one item past
    its end, which Airflow logs as ``XCom not found`` at error level; a slice is one request for all of them.
    """
    if value is None or isinstance(value, str | bytes | list | tuple | Mapping):
        return value
    if isinstance(value, Sequence):
        return list(value[:])
    return value


def count_free(manifest: Any) -> bool:
    """True when the manifest(s) hold only Kafka offsets (a publish without per-partition counts): it gives the
    ``consumed`` targets but no expected count, so it must not add a ``count`` check expecting 0 events."""
    items = manifest if isinstance(manifest, list) else [manifest]
    items = [json.loads(i) if isinstance(i, str | bytes) else i for i in items]
    return all(isinstance(i, Mapping) and set(i) <= {MANIFEST_KEY} for i in items)


def _consumers(sensor: Any) -> tuple[dict[str, Any], ...]:
    """The Flume consumers whose group the ``consumed`` check reads."""
    topic, group = sensor.kafka_topic, sensor.kafka_group_id
    if topic or group:
        if not (topic and group):
            raise ValueError(f"{sensor.task_id}: kafka_topic and kafka_group_id go together")
        return (explicit_consumer_ref(topic, group, topology=sensor.kafka_topology or "kafka_source"),)
    if not sensor.flume_conf:
        raise ValueError(
            f"{sensor.task_id}: check 'consumed' needs flume_conf (agent, sink) or kafka_topic + kafka_group_id"
        )
    from airflow_flume_provider.flume_config import load_flume_config

    found = load_flume_config(sensor.flume_conf).kafka_consumers(sensor.agent, sensor.sink)
    return tuple(consumer_ref(c) for c in found)


def consumed_fields(sensor: Any, checks: Sequence[str]) -> dict[str, Any]:
    """PartitionSpec fields for ``checks`` (``checks``, ``kafka_consumers``, ``kafka_targets``); logs the checks
    added beside ``consumed`` on a topology that commits before HDFS."""
    if "consumed" not in checks:
        return {"checks": tuple(checks)}
    consumers = _consumers(sensor)
    checks, note = consumed_checks(checks, consumers)
    if note:
        sensor.log.warning("%s: %s", sensor.task_id, note)
    targets = targets_from_manifests(sensor.manifest) if sensor.manifest not in (None, "") else None
    if targets is None and sensor.manifest not in (None, ""):
        sensor.log.warning(
            "%s: the manifest (or one of the merged manifests) records no kafka_offsets; 'consumed' uses the live "
            "snapshot after the partition end + allowed_lateness",
            sensor.task_id,
        )
    return {"checks": checks, "kafka_consumers": consumers, "kafka_targets": targets}


def open_kafka_admin(kafka_conn_id: str | None, spec: PartitionSpec) -> Any:
    """An AdminClient for the ``consumed`` reads: the connection's config (secrets never logged), else the
    bootstrap servers of the Flume config."""
    from airflow_flume_provider.kafka_offsets import open_admin

    conn_config = None
    if kafka_conn_id:
        from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook

        conn_config = FlumeKafkaHook(kafka_conn_id=kafka_conn_id).get_client_config()
    return open_admin(kafka_base_for(spec, conn_config), name=kafka_conn_id or "flume-config")


def _status_command(sensor: Any, spec: PartitionSpec, start: str) -> str | None:
    """An ``airflow-flume partition-status`` line that re-checks the partition (Flume-config sensors only)."""
    if not sensor.flume_conf:
        return None
    cmd = ["airflow-flume", "partition-status", "--flume-conf", sensor.flume_conf, "--agent", sensor.agent]
    cmd += ["--sink", sensor.sink, "--date", start, "--checks", ",".join(spec.checks)]
    if spec.expected is not None:
        cmd += ["--expected", str(spec.expected)]
    return shlex.join(cmd)


def timeout_message(
    sensor: Any, context: Any, spec: PartitionSpec, report: ReadinessReport | None
) -> str | None:
    """The sensor's timeout error when it had something exact to wait for (a count or manifest offsets): the
    partition, the missing count and the remedy with its command lines. None otherwise (Airflow's own text)."""
    if report is None or (spec.expected is None and spec.kafka_targets is None):
        return None
    start = getattr(sensor, "_window_start", None)
    window = (start, iso_s(spec.end_ts)) if start and spec.end_ts is not None else None
    logical = context.get("logical_date") if context else None
    dag = context.get("dag") if context else None
    return incomplete_message(
        spec,
        report,
        window=window,
        dag_id=getattr(dag, "dag_id", None),
        logical_date=logical.isoformat() if logical is not None else None,
        replay_tasks=sorted(getattr(sensor, "upstream_task_ids", ()) or ()),
        status_command=_status_command(sensor, spec, start) if start else None,
    )
