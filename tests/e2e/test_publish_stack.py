"""PublishFlumeEventsOperator / FlumeKafkaHook on the real broker: SASL secrets never logged, wrong credentials fail."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook, FlumePublishError
from airflow_flume_provider.operators.publish import PublishFlumeEventsOperator

pytestmark = pytest.mark.e2e


def test_sasl_publish_at_debug_never_logs_the_password(
    stack: Any, caplog: pytest.LogCaptureFixture, capfd: Any
) -> None:
    import stackctl

    caplog.set_level(logging.DEBUG)
    topic = f"hookdev-sasl-{uuid.uuid4().hex[:10]}"
    stack.create_topic(topic)
    task = PublishFlumeEventsOperator(
        task_id="p",
        topic=topic,
        kafka_conn_id="kafka_sasl",
        event_time_field="time",
        records=[{"id": i, "time": 1_000_000_000_000 + i} for i in range(20)],
        producer_config={"debug": "security,broker"},
    )
    report = task.execute({})
    assert report["acknowledged"] == 20
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, json.dumps(report)):
        assert stackctl.KAFKA_SASL_PASSWORD not in text


def test_wrong_sasl_password_fails_clearly_without_echoing_it(
    stack: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import stackctl

    wrong = f"wrong-{uuid.uuid4().hex}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_BADPW",
        json.dumps(
            {
                "conn_type": "kafka",
                "extra": {
                    "bootstrap.servers": f"{stackctl.HOST}:{stackctl.KAFKA_SASL_PORT}",
                    "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanisms": "PLAIN",
                    "sasl.username": stackctl.KAFKA_SASL_USER,
                    "sasl.password": wrong,
                },
            }
        ),
    )
    hook = FlumeKafkaHook("kafka_badpw", delivery_timeout_s=5)
    with pytest.raises(FlumePublishError) as info:
        hook.publish([{"time": 1_000_000_000_000}], topic="flume-events", event_time="time")
    assert info.value.report.acknowledged == 0
    assert wrong not in str(info.value) and wrong not in caplog.text
