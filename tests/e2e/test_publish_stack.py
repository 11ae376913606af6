"""PublishFlumeEventsOperator / FlumeKafkaHook on the real broker: SASL secrets never logged, wrong credentials fail,
the record timestamp (produce time by default, event time on request), produce_batch's accounting of refused records."""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.envelope import decode_event
from airflow_flume_provider.hooks.flume_kafka import (
    FlumeKafkaHook,
    FlumePublishError,
    InvalidRecordError,
    PublishReport,
)
from airflow_flume_provider.operators.publish import PublishFlumeEventsOperator

pytestmark = pytest.mark.e2e

TIMESTAMP_CREATE_TIME = 1  # confluent_kafka.TIMESTAMP_CREATE_TIME


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


DAY_2019 = 1_564_617_600_000  # 2019-08-01T00:00:00Z


def _read_topic(stack: Any, topic: str, n: int) -> list[Any]:
    """The first ``n`` records of partition 0 of ``topic`` (fails the test when fewer arrive)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"h-{uuid.uuid4().hex}"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        got: list[Any] = []
        deadline = time.monotonic() + 60
        while len(got) < n and time.monotonic() < deadline:
            got += [m for m in consumer.consume(n - len(got), 1.0) if m.error() is None]
        assert len(got) == n, f"{topic}: {len(got)} of {n} records"
        return got
    finally:
        consumer.close()


def _log_end(stack: Any, topic: str) -> int:
    from airflow_flume_provider import kafka_offsets

    admin = kafka_offsets.open_admin({"bootstrap.servers": stack.bootstrap})
    return kafka_offsets.log_end_offsets(admin, [(topic, 0)])[(topic, 0)]


@pytest.mark.parametrize(
    ("kafka_timestamp", "send_mode"), [("producer", "produce_batch"), ("event", "produce")]
)
def test_record_timestamp_is_the_produce_time_unless_event_is_asked(
    stack: Any, kafka_timestamp: str, send_mode: str
) -> None:
    topic = f"hookdev-ts-{uuid.uuid4().hex[:10]}"
    stack.create_topic(topic)
    records = [{"id": i, "time": DAY_2019 + i * 1000} for i in range(2500)]
    before = int(time.time() * 1000)
    report = FlumeKafkaHook().publish(
        records, topic=topic, event_time="time", kafka_timestamp=kafka_timestamp
    )
    after = int(time.time() * 1000)
    assert (report.acknowledged, report.send_mode, report.kafka_offsets) == (
        2500,
        send_mode,
        {topic: {"0": 2500}},
    )
    got = _read_topic(stack, topic, 2500)
    assert [int(decode_event(m.value()).headers["timestamp"]) for m in got] == [r["time"] for r in records]
    assert {m.timestamp()[0] for m in got} == {TIMESTAMP_CREATE_TIME}
    stamps = [m.timestamp()[1] for m in got]
    if kafka_timestamp == "event":
        assert stamps == [r["time"] for r in records]
    else:  # 2019 events stamped now: a CreateTime topic's retention sees today's records
        assert all(before <= ts <= after for ts in stamps)


def _big_in_the_middle(n: int, big_at: int) -> list[dict[str, Any]]:
    """``n`` records, the one at ``big_at`` with a body the producer/broker refuse (incompressible 60 kB)."""
    import base64
    import os

    return [
        {
            "id": i,
            "time": DAY_2019 + i,
            **({"blob": base64.b64encode(os.urandom(45_000)).decode()} if i == big_at else {}),
        }
        for i in range(n)
    ]


def test_message_too_large_in_a_batch_is_dead_lettered_and_the_rest_acknowledged(
    stack: Any, tmp_path: Path
) -> None:
    """librdkafka refuses the entry (message.max.bytes) inside one produce_batch; the other 1,999 go through."""
    topic = f"hookdev-big-{uuid.uuid4().hex[:10]}"
    stack.create_topic(topic)
    hook = FlumeKafkaHook(producer_config={"message.max.bytes": 20_000})
    dead = tmp_path / "dead.jsonl"
    report = hook.publish(
        _big_in_the_middle(2000, 1234),
        topic=topic,
        event_time="time",
        on_invalid="skip",
        dead_letter=dead,
        path_template="/flume/events/%Y-%m-%d",
    )
    assert report.send_mode == "produce_batch"
    assert (report.read, report.produced, report.acknowledged, report.failed, report.dead_lettered) == (
        2000,
        1999,
        1999,
        0,
        1,
    )
    assert report.partitions == {"/flume/events/2019-08-01": 1999} and _log_end(stack, topic) == 1999
    (entry,) = DeadLetterWriter.read(dead)
    assert entry["position"] == "record 1235" and "MSG_SIZE_TOO_LARGE" in entry["reason"]
    ids = [json.loads(decode_event(m.value()).body)["id"] for m in _read_topic(stack, topic, 1999)]
    assert ids == [i for i in range(2000) if i != 1234]
    with pytest.raises(
        InvalidRecordError, match=r"record 1235: rejected by the Kafka producer: .*MSG_SIZE_TOO_LARGE"
    ):
        hook.publish(_big_in_the_middle(2000, 1234), topic=topic, event_time="time")


def test_broker_refusing_a_batch_fails_the_publish_with_exact_counts(stack: Any) -> None:
    """The topic's max.message.bytes refuses the record batch holding the big record: FlumePublishError, and
    acknowledged = what the topic holds, failed = the rest of what was produced; nothing after it is sent."""
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"hookdev-brk-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    new = NewTopic(topic, num_partitions=1, replication_factor=1, config={"max.message.bytes": "30000"})
    admin.create_topics([new])[topic].result(30)
    checkpoints: list[int] = []
    report = PublishReport(topic=topic)
    with pytest.raises(FlumePublishError, match="MSG_SIZE_TOO_LARGE") as info:
        FlumeKafkaHook().publish(
            _big_in_the_middle(5000, 1500),
            topic=topic,
            event_time="time",
            checkpoint=lambda p: checkpoints.append(p.report.acknowledged),
            checkpoint_every=1000,
            path_template="/flume/events/%Y-%m-%d",
            report=report,
        )
    assert info.value.report is report and report.send_mode == "produce_batch"
    assert checkpoints == [1000]  # the first 1000 were acknowledged before the big record was sent
    assert report.produced == 2000 and report.read == 2000  # stopped at the checkpoint that saw the error
    assert report.failed >= 1 and report.acknowledged + report.failed == report.produced
    assert report.acknowledged == _log_end(stack, topic) >= 1000
    assert report.partitions == {"/flume/events/2019-08-01": report.acknowledged}
