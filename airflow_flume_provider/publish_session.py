"""One publish on a producer built from a librdkafka config: the steps the hook and ``airflow-flume replay`` share.

Preflight (broker and topic), the ``CreateTime`` retention warning when record timestamps are event times, the
engine (:class:`~airflow_flume_provider.publishing.Publisher`), then the topic's log-end offsets after the final
flush into ``report.kafka_offsets`` (the targets of a ``consumed`` check). Core module: no Airflow imports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_flume_provider import kafka_config, topic_checks
from airflow_flume_provider.publish_report import PublishReport
from airflow_flume_provider.publishing import Publisher

__all__ = ["OffsetsReader", "log_end_offsets_reader", "publish_on"]

log = logging.getLogger(__name__)

#: ``topic -> {topic: {partition: log-end offset}}``.
OffsetsReader = Callable[[str], dict[str, dict[str, int]]]


def log_end_offsets_reader(base: Mapping[str, Any], name: str) -> OffsetsReader:
    """An :data:`OffsetsReader` through an AdminClient on the client config ``base`` (never joins a group)."""
    from airflow_flume_provider import kafka_offsets
    from airflow_flume_provider.consumed import offsets_to_json

    def read(topic: str) -> dict[str, dict[str, int]]:
        admin = kafka_offsets.open_admin(base, name=name)
        return offsets_to_json(kafka_offsets.log_end_offsets(admin, kafka_offsets.topic_partitions(admin, [topic])))

    return read


def publish_on(
    publisher: Publisher,
    records: Iterable[Any],
    config: Mapping[str, Any],
    make_producer: Callable[[dict[str, Any]], Any],
    *,
    name: str,
    preflight: bool = True,
    offsets_reader: OffsetsReader | None = None,
) -> PublishReport:
    """Run ``publisher`` on a producer from ``make_producer(publisher.producer_config(config))``.

    ``config`` is the validated producer config (:func:`kafka_config.producer_config`); ``name`` names the
    connection in errors. A failed offsets read is a warning in the report (and the log), never silent.
    """
    spec, report = publisher.spec, publisher.report
    producer = make_producer(publisher.producer_config(config))
    if preflight:
        topic_checks.preflight(producer, spec.topic, config, report, name)
        if spec.kafka_timestamp == "event":  # a record stamped with an old event time can fall to retention
            warning = topic_checks.retention_warning(spec.topic, config, spec.start_ms, name)
            if warning:
                report.warnings.append(warning)
    result = publisher.run(records, producer, timeout_ms=kafka_config.delivery_timeout_ms(config))
    if offsets_reader is not None:
        try:
            result.kafka_offsets = offsets_reader(result.topic)
        except Exception as exc:  # the publish succeeded; only the consumed check's targets are missing
            warning = (
                f"log-end offsets of topic {result.topic!r} could not be read after the final flush "
                f"({kafka_config.scrub(str(exc), config)}): a `consumed` check cannot take its targets from "
                "this report"
            )
            result.warnings.append(warning)
            log.warning("%s", warning)
    return result
