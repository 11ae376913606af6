"""Checks of the target topic before publishing: reachable and existing (preflight), retention that may delete.

Core module: no Airflow imports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from airflow_flume_provider import kafka_config
from airflow_flume_provider.publish_report import FlumePublishError, PublishReport
from airflow_flume_provider.timeutil import iso_s

__all__ = ["preflight", "retention_warning"]

log = logging.getLogger(__name__)


def preflight(producer: Any, topic: str, config: Mapping[str, Any], report: PublishReport, name: str) -> None:
    """Fail fast (within the delivery timeout) when the broker is unreachable or the topic is missing.

    :param name: the connection id, named in the error.
    :raises FlumePublishError: with ``report``; nothing was sent.
    """
    wait = min(30.0, max(1.0, kafka_config.delivery_timeout_ms(config) / 1000))
    servers = config.get("bootstrap.servers")
    try:
        meta = producer.list_topics(topic, timeout=wait)
    except Exception as exc:  # KafkaException carries the reason
        text = kafka_config.scrub(str(exc), config)
        report.first_errors.append(f"metadata request failed: {text}")
        raise FlumePublishError(
            f"Kafka unreachable at {servers!r} (connection {name!r}) within {wait:.0f} s: {text}; "
            "nothing was sent",
            report,
        ) from None
    info = meta.topics.get(topic)
    if info is None or info.error is not None:
        reason = info.error if info is not None else "not in metadata"
        report.first_errors.append(f"topic {topic!r}: {reason}")
        raise FlumePublishError(
            f"Kafka topic {topic!r} is not available on {servers!r} ({reason}); "
            "create it first (Flume's KafkaSource must read it); nothing was sent",
            report,
        )


def _topic_retention(topic: str, config: Mapping[str, Any], name: str) -> tuple[str, int]:
    """(``message.timestamp.type``, ``retention.ms``) of a topic, read with DescribeConfigs."""
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource("topic", topic)
    admin = kafka_config.make_admin(kafka_config.admin_config(config), name=name)
    # keep ``admin`` referenced until the result is in: a collected client cancels its futures
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    return entries["message.timestamp.type"].value, int(entries["retention.ms"].value)


def retention_warning(topic: str, config: Mapping[str, Any], start_ms: int | None, name: str) -> str | None:
    """A warning when the topic may delete these events before Flume reads them, else None.

    The record timestamp is the event time. On a ``CreateTime`` topic, the broker's time-based retention
    deletes records older than ``retention.ms`` at its next check (every few minutes), so a replay of old
    days can vanish before a lagging or stopped Flume consumes it, with no error anywhere. Only checked
    when the window start is known and the topic config can be read (DescribeConfigs); never fails.
    """
    if start_ms is None:
        return None
    try:
        ts_type, retention_ms = _topic_retention(topic, config, name)
    except Exception as exc:  # optional check: no ACL, old broker, ...
        log.debug("Could not read the config of topic %s: %s", topic, kafka_config.scrub(str(exc), config))
        return None
    if ts_type != "CreateTime" or retention_ms < 0:
        return None
    cutoff_ms = int(time.time() * 1000) - retention_ms
    if start_ms >= cutoff_ms:
        return None
    message = (
        f"topic {topic!r} keeps records for retention.ms={retention_ms} by their CreateTime, and the record "
        f"timestamp is the event time: events before {iso_s(cutoff_ms / 1000)} may be deleted by the broker "
        "before Flume reads them. Set message.timestamp.type=LogAppendTime on the topic (Flume files by the "
        "envelope header) or raise retention.ms for the replay."
    )
    log.warning("%s", message)
    return message
