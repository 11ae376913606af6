"""Replaying old days into a CreateTime topic with time-based retention is flagged before anything is lost.

Only when the record timestamps are the event times (``kafka_timestamp="event"``): by default they are the
produce time, which retention measures from now.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook

pytestmark = pytest.mark.e2e

START_2005 = 1_104_537_600_000  # 2005-01-01T00:00:00Z


def _topic(stack, config: dict[str, str]) -> str:
    name = f"retention-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1, config=config)])[name].result(
        30
    )
    return name


def _publish(topic: str, kafka_timestamp: str = "event") -> list[str]:
    records = [{"id": "a", "t": START_2005 + 1000}]
    report = FlumeKafkaHook().publish(
        records,
        topic=topic,
        event_time="t",
        window_ms=(START_2005, START_2005 + 86_400_000),
        kafka_timestamp=kafka_timestamp,
    )
    assert report.acknowledged == 1
    return report.warnings


def test_create_time_topic_with_retention_warns_for_event_record_timestamps(stack) -> None:
    topic = _topic(stack, {"retention.ms": "604800000", "message.timestamp.type": "CreateTime"})
    warnings = _publish(topic)
    assert len(warnings) == 1
    assert "retention.ms=604800000" in warnings[0] and "LogAppendTime" in warnings[0]
    assert _publish(topic, kafka_timestamp="producer") == []  # the default: stamped now, nothing to warn about


@pytest.mark.parametrize(
    "config",
    [{"retention.ms": "604800000", "message.timestamp.type": "LogAppendTime"}, {"retention.ms": "-1"}],
)
def test_log_append_time_or_infinite_retention_is_quiet(stack, config: dict[str, str]) -> None:
    assert _publish(_topic(stack, config)) == []
