"""FlumeKafkaHook.publish against an in-process fake producer (delivery semantics, envelopes, redaction)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.envelope import decode_event
from airflow_flume_provider.hooks.flume_kafka import (
    DEFAULT_PRODUCER_CONFIG,
    FlumeKafkaHook,
    FlumePublishError,
    InvalidRecordError,
    redact_config,
)
from airflow_flume_provider.sources import SourceRecord

DAY = 86_400_000
T0 = 1_109_894_400_000  # 2005-03-04T00:00:00Z


class FakeError:
    """Stands in for confluent_kafka.KafkaError."""

    def __init__(self, name: str, fatal: bool = False) -> None:
        self._name = name
        self._fatal = fatal

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return f"fake {self._name}"

    def fatal(self) -> bool:
        return self._fatal

    def code(self) -> int:
        return -1

    def __str__(self) -> str:
        return self.str()


class FakeMessage:
    def __init__(self, topic: str, value: bytes, key: Any, timestamp: int, partition: int = 0) -> None:
        self._t, self._v, self._k, self._ts, self._p = topic, value, key, timestamp, partition

    def value(self) -> bytes:
        return self._v

    def key(self) -> Any:
        return self._k

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def partition(self) -> int:
        return self._p

    def topic(self) -> str:
        return self._t


class _Meta:
    def __init__(self, topics: dict[str, Any]) -> None:
        self.topics = topics
        self.brokers = {1: "b"}


class _TopicMeta:
    error = None
    partitions: ClassVar[dict[int, None]] = {0: None}


class FakeKafkaException(Exception):
    """Stands in for confluent_kafka.KafkaException (what ``produce()`` raises for a refused message)."""


def event_ms(msg: FakeMessage) -> int:
    """The event time of a produced message: its envelope's ``timestamp`` header."""
    return int(decode_event(msg.value()).headers["timestamp"])


class FakeProducer:
    """Queues messages; poll/flush deliver them, failing those for which ``fail(msg)`` returns an error name.

    ``produce_batch`` behaves as confluent-kafka 2.16.1's (src/confluent_kafka/src/Producer.c over librdkafka's
    ``rd_kafka_produce_batch``): every entry is checked first (a ``timestamp`` raises NotImplementedError,
    nothing queued); an entry not enqueued gets ``_error`` and no delivery report; a full queue fails that
    entry and every later one (``_QUEUE_FULL``); the return value is the number enqueued. Queued messages
    get record timestamp 0 (= the produce time). ``reject(value)`` names the error of a message the producer
    refuses before queuing (e.g. MSG_SIZE_TOO_LARGE): ``produce()`` raises it, ``produce_batch`` marks it.
    """

    instances: ClassVar[list[FakeProducer]] = []

    def __init__(
        self,
        config: dict[str, Any],
        *,
        fail: Callable[[FakeMessage], str | None] = lambda m: None,
        queue_limit: int = 1_000_000,
        topics: tuple[str, ...] = ("t",),
        unreachable: bool = False,
        stuck: bool = False,
        reports_successes: bool = False,
        reject: Callable[[bytes], str | None] = lambda v: None,
    ) -> None:
        self.config = config
        self.reject = reject
        self.batch_calls = 0
        self.reports_successes = reports_successes
        self.fail = fail
        self.queue_limit = queue_limit
        self.topics = topics
        self.unreachable = unreachable
        self.stuck = stuck
        self.queue: list[FakeMessage] = []
        self.delivered: list[FakeMessage] = []
        self.buffer_errors = 0
        self.flushes = 0
        FakeProducer.instances.append(self)

    def produce(self, topic: str, value: bytes, key: Any = None, timestamp: int = 0, **_: Any) -> None:
        if len(self.queue) >= self.queue_limit:
            self.buffer_errors += 1
            raise BufferError("Local: Queue full")
        refused = self.reject(value)
        if refused:
            raise FakeKafkaException(f"KafkaError{{code={refused}}}")
        self.queue.append(FakeMessage(topic, value, key, timestamp))

    def produce_batch(self, topic: str, messages: list[dict[str, Any]], **_: Any) -> int:
        self.batch_calls += 1
        if any(m.get("timestamp") is not None for m in messages):
            raise NotImplementedError("Message timestamps are not currently supported in batch mode")
        good, full = 0, False
        for m in messages:
            full = full or len(self.queue) >= self.queue_limit
            refused = "_QUEUE_FULL" if full else self.reject(m["value"])
            if refused:
                self.buffer_errors += refused == "_QUEUE_FULL"
                m["_error"] = FakeError(refused)
                continue
            self.queue.append(FakeMessage(topic, m["value"], m.get("key"), 0))
            good += 1
        return good

    def poll(self, timeout: float = 0) -> int:
        if self.stuck:
            return 0
        queue, self.queue = self.queue, []
        only_error = self.config.get("delivery.report.only.error") and not self.reports_successes
        for msg in queue:
            err = self.fail(msg)
            if err is None:
                self.delivered.append(msg)
                if only_error:  # librdkafka: no report for a delivered message
                    continue
            self.config["on_delivery"](None if err is None else FakeError(err), msg)
        return len(queue)

    def flush(self, timeout: float = 0) -> int:
        self.flushes += 1
        self.poll()
        return len(self.queue)

    def purge(self) -> None:
        queue, self.queue = self.queue, []
        for msg in queue:
            self.config["on_delivery"](FakeError("_PURGE_QUEUE"), msg)

    def list_topics(self, topic: str | None = None, timeout: float = 0) -> _Meta:
        if self.unreachable:
            raise RuntimeError(
                'KafkaError{code=_TRANSPORT,val=-195,str="Failed to get metadata: Local: Broker transport failure"}'
            )
        return _Meta({t: _TopicMeta() for t in self.topics})

    def __len__(self) -> int:
        return len(self.queue)


@pytest.fixture
def kafka_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_FAKE_KAFKA",
        json.dumps(
            {"conn_type": "kafka", "extra": {"bootstrap.servers": "fake:9092", "sasl.password": "s3cr3t-pw"}}
        ),
    )
    return "fake_kafka"


def make_hook(conn: str, **fake_kwargs: Any) -> tuple[FlumeKafkaHook, list[FakeProducer]]:
    made: list[FakeProducer] = []

    def factory(config: dict[str, Any]) -> FakeProducer:
        p = FakeProducer(config, **fake_kwargs)
        made.append(p)
        return p

    return FlumeKafkaHook(conn, producer_factory=factory), made


def records(n: int, start: int = T0, step: int = 1000) -> list[dict[str, Any]]:
    return [{"id": f"e{i}", "ts": start + i * step, "v": i} for i in range(n)]


@pytest.mark.parametrize(
    ("kafka_timestamp", "send_mode", "record_ts"),
    [("producer", "produce_batch", [0, 0]), ("event", "produce", [T0 + DAY - 1, T0 + DAY])],
)
def test_envelope_timestamp_header_kafka_timestamp_key_and_body(
    kafka_conn: str, kafka_timestamp: str, send_mode: str, record_ts: list[int]
) -> None:
    hook, made = make_hook(kafka_conn)
    recs = [{"id": "a", "ts": "2005-03-04T23:59:59.999Z"}, {"id": "b", "ts": "2005-03-05T00:00:00.000Z"}]
    report = hook.publish(
        recs,
        topic="t",
        event_time="ts",
        key="id",
        headers={"replay": "true"},
        kafka_timestamp=kafka_timestamp,
    )
    msgs = made[0].delivered
    # the record timestamp: 0 = librdkafka stamps the produce time (default); the event time only on request
    assert [m.timestamp()[1] for m in msgs] == record_ts
    assert (made[0].batch_calls > 0) == (send_mode == "produce_batch")
    assert (report.send_mode, report.kafka_timestamp) == (send_mode, kafka_timestamp)
    assert [m.key() for m in msgs] == ["a", "b"]
    ev = decode_event(msgs[0].value())
    assert ev.headers == {"replay": "true", "timestamp": str(T0 + DAY - 1)}
    assert json.loads(ev.body) == recs[0]
    assert report.produced == report.acknowledged == 2 and report.failed == 0


def test_kafka_timestamp_is_checked_before_anything_is_sent(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    with pytest.raises(
        ValueError, match=r"kafka_timestamp must be one of \('producer', 'event'\) \(got 'now'\)"
    ):
        hook.publish(records(1), topic="t", event_time="ts", kafka_timestamp="now")
    assert not made


class ProduceOnlyProducer(FakeProducer):
    """A producer without ``produce_batch`` (e.g. a user's producer_factory): ``produce()`` per message."""

    produce_batch = None  # type: ignore[assignment]


def test_producer_without_produce_batch_sends_one_by_one_without_record_timestamp(kafka_conn: str) -> None:
    made: list[FakeProducer] = []
    hook = FlumeKafkaHook(
        kafka_conn, producer_factory=lambda c: made.append(ProduceOnlyProducer(c)) or made[-1]
    )
    report = hook.publish(records(2500), topic="t", event_time="ts", path_template="/f/%Y")
    assert (
        report.send_mode == "produce"
        and report.acknowledged == 2500
        and report.partitions == {"/f/2005": 2500}
    )
    assert {m.timestamp()[1] for m in made[0].delivered} == {0}


@pytest.mark.parametrize("kafka_timestamp", ["producer", "event"])
def test_retention_warning_only_when_record_timestamps_are_event_times(
    kafka_conn: str, monkeypatch: pytest.MonkeyPatch, kafka_timestamp: str
) -> None:
    from airflow_flume_provider import topic_checks

    calls: list[int | None] = []

    def warn(topic: str, config: Any, start_ms: int | None, name: str) -> str:
        calls.append(start_ms)
        return "retention may delete these events"

    monkeypatch.setattr(topic_checks, "retention_warning", warn)
    hook, _ = make_hook(kafka_conn)
    report = hook.publish(
        records(1), topic="t", event_time="ts", window_ms=(T0, T0 + DAY), kafka_timestamp=kafka_timestamp
    )
    expected = [T0] if kafka_timestamp == "event" else []
    assert calls == expected and report.warnings == ["retention may delete these events"] * len(expected)


def test_source_record_body_is_kept_byte_for_byte(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    line = b'{"ts": 1109894400000,   "x": "\xc3\xa9"}'
    rec = SourceRecord(line, json.loads(line), "f.jsonl", 1, (len(line), 1))
    hook.publish([rec], topic="t", event_time="ts")
    assert decode_event(made[0].delivered[0].value()).body == line


def test_per_partition_counts_from_the_sink_template(kafka_conn: str) -> None:
    hook, _ = make_hook(kafka_conn)
    recs = [{"ts": T0 + DAY - 1}, {"ts": T0 + DAY}, {"ts": T0 + DAY + 5}]
    report = hook.publish(
        recs, topic="t", event_time="ts", path_template="hdfs://nn:8020/flume/events/%Y-%m-%d"
    )
    assert report.partitions == {"/flume/events/2005-03-04": 1, "/flume/events/2005-03-05": 2}


def test_buffer_error_polls_and_retries(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn, queue_limit=3)
    report = hook.publish(records(50), topic="t", event_time="ts")
    assert made[0].buffer_errors > 0
    assert report.acknowledged == 50 and len(made[0].delivered) == 50


def test_delivery_failure_raises_with_counts_never_success(kafka_conn: str) -> None:
    hook, _ = make_hook(kafka_conn, fail=lambda m: "_MSG_TIMED_OUT" if event_ms(m) % 2000 == 0 else None)
    with pytest.raises(FlumePublishError) as info:
        hook.publish(records(10), topic="t", event_time="ts", path_template="/f/%Y-%m-%d")
    rep = info.value.report
    assert rep.failed == 5 and rep.acknowledged == 5 and rep.in_doubt == 5
    assert rep.partitions == {"/f/2005-03-04": 5}
    assert "_MSG_TIMED_OUT" in rep.first_errors[0]
    assert info.value.counts["failed"] == 5


def test_stuck_broker_purges_and_reports_nothing_delivered(kafka_conn: str) -> None:
    hook, _ = make_hook(kafka_conn, stuck=True)
    with pytest.raises(FlumePublishError) as info:
        hook.publish(records(3), topic="t", event_time="ts", flush_timeout_s=0.1)
    assert info.value.report.acknowledged == 0 and info.value.report.failed == 3


def test_unreachable_broker_fails_before_sending(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn, unreachable=True)
    with pytest.raises(FlumePublishError, match="nothing was sent") as info:
        hook.publish(records(3), topic="t", event_time="ts")
    assert info.value.report.produced == 0 and not made[0].queue


def test_unknown_topic_fails_before_sending(kafka_conn: str) -> None:
    hook, _ = make_hook(kafka_conn, topics=("other",))
    with pytest.raises(FlumePublishError, match="'missing' is not available"):
        hook.publish(records(1), topic="missing", event_time="ts")


def test_invalid_event_time_fail_names_the_record(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    recs = [*records(2), {"ts": "not a time"}]
    with pytest.raises(InvalidRecordError, match=r"record 3.*not a time"):
        hook.publish(recs, topic="t", event_time="ts")
    assert len(made[0].delivered) == 2  # what was produced before the error is still flushed


@pytest.mark.parametrize("bad", [None, "nope", 10**20, -5, "9999-01-01T00:00:00Z"])
def test_invalid_event_time_skip_goes_to_dead_letter(kafka_conn: str, tmp_path: Path, bad: Any) -> None:
    hook, _made = make_hook(kafka_conn)
    dl = tmp_path / "dead.jsonl"
    report = hook.publish(
        [*records(2), {"ts": bad, "id": "x"}], topic="t", event_time="ts", on_invalid="skip", dead_letter=dl
    )
    assert report.acknowledged == 2 and report.invalid_time_skipped == 1 and report.dead_lettered == 1
    entry = DeadLetterWriter.read(dl)[0]
    assert entry["position"] == "record 3" and "ts" in entry["reason"]
    assert json.loads(entry["body"])["id"] == "x"


def test_skip_without_dead_letter_is_refused(kafka_conn: str) -> None:
    hook, _ = make_hook(kafka_conn)
    with pytest.raises(ValueError, match="dead_letter"):
        hook.publish(records(1), topic="t", event_time="ts", on_invalid="skip")


def test_now_policy_counts(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    report = hook.publish([{"x": 1}], topic="t", event_time="ts", on_invalid="now")
    assert report.time_set_to_now == 1
    ts = decode_event(made[0].delivered[0].value()).headers["timestamp"]
    assert ts.isdigit()


def test_window_filters_and_counts(kafka_conn: str) -> None:
    hook, _made = make_hook(kafka_conn)
    report = hook.publish(records(10), topic="t", event_time="ts", window_ms=(T0 + 2000, T0 + 5000))
    assert report.acknowledged == 3 and report.out_of_window == 7


def test_timestamp_header_is_reserved_and_headers_must_be_str(kafka_conn: str) -> None:
    hook, _ = make_hook(kafka_conn)
    with pytest.raises(ValueError, match="reserved"):
        hook.publish(records(1), topic="t", event_time="ts", headers={"timestamp": "1"})
    with pytest.raises(TypeError, match="'n'"):
        hook.publish(records(1), topic="t", event_time="ts", headers={"n": 1})  # type: ignore[dict-item]


def test_unsafe_header_in_path_template_refused_before_sending(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    with pytest.raises(ValueError, match="tenant"):
        hook.publish(
            records(1),
            topic="t",
            event_time="ts",
            headers={"tenant": "../etc"},
            path_template="/f/%{tenant}/%Y",
        )
    assert not made


def test_event_id_header_and_tuple_records(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    hook.publish([("k1", {"id": 7, "ts": T0})], topic="t", event_time="ts", event_id="id")
    msg = made[0].delivered[0]
    assert msg.key() == "k1"
    assert decode_event(msg.value()).headers == {"eventId": "7", "timestamp": str(T0)}


def test_bytes_records_parsed_only_for_fields(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    hook.publish([b'{"ts": 1109894400000}'], topic="t", event_time="ts")
    assert decode_event(made[0].delivered[0].value()).body == b'{"ts": 1109894400000}'


def test_checkpoint_called_only_when_everything_before_is_acked(kafka_conn: str) -> None:
    hook, _made = make_hook(kafka_conn)
    seen: list[tuple[int, int, int]] = []

    def cp(progress: Any) -> None:
        seen.append((progress.report.produced, progress.report.acknowledged, progress.last_record["v"]))

    hook.publish(records(25), topic="t", event_time="ts", checkpoint=cp, checkpoint_every=10)
    assert seen[:2] == [(10, 10, 9), (20, 20, 19)]
    assert seen[-1] == (25, 25, 24)


@pytest.mark.parametrize("kafka_timestamp", ["producer", "event"])
def test_stops_at_first_delivery_error(kafka_conn: str, kafka_timestamp: str) -> None:
    hook, _made = make_hook(kafka_conn, fail=lambda m: "_MSG_TIMED_OUT")
    with pytest.raises(FlumePublishError, match="stopped at the first delivery error") as info:
        hook.publish(records(5000), topic="t", event_time="ts", kafka_timestamp=kafka_timestamp)
    # stopped after the first poll (1000 messages) instead of sending all 5000 into a failing broker
    assert info.value.report.produced == 1000 and info.value.report.failed == 1000


def test_full_queue_in_a_batch_is_waited_out_in_order(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn, queue_limit=7)
    report = hook.publish(records(2500), topic="t", event_time="ts", path_template="/f/%Y")
    assert made[0].buffer_errors > 0 and made[0].batch_calls > 3
    assert [json.loads(decode_event(m.value()).body)["v"] for m in made[0].delivered] == list(range(2500))
    assert report.acknowledged == 2500 and report.partitions == {"/f/2005": 2500}


class BufferErrorOnce(FakeProducer):
    """``produce_batch`` raising BufferError (as its docstring allows) once, before queuing anything."""

    raised = False

    def produce_batch(self, topic: str, messages: list[dict[str, Any]], **kwargs: Any) -> int:
        if not self.raised:
            self.raised = True
            raise BufferError("Local: Queue full")
        return super().produce_batch(topic, messages, **kwargs)


def test_buffer_error_from_produce_batch_is_retried(kafka_conn: str) -> None:
    hook = FlumeKafkaHook(kafka_conn, producer_factory=lambda c: BufferErrorOnce(c))
    assert hook.publish(records(10), topic="t", event_time="ts").acknowledged == 10


def test_rate_limit_paces_small_batches(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    t0 = time.monotonic()
    report = hook.publish(records(300), topic="t", event_time="ts", rate_limit=1000)
    # 300 events at 1000/s: about 0.3 s, sent in batches of 50 (1/20 s of budget each), not one batch of 300
    assert time.monotonic() - t0 >= 0.25 and made[0].batch_calls == 6 and report.acknowledged == 300


def test_defaults_connection_overrides_and_timeout(kafka_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = FlumeKafkaHook(kafka_conn).get_producer_config()
    assert cfg["enable.idempotence"] is True and cfg["acks"] == "all"
    assert cfg["compression.type"] == DEFAULT_PRODUCER_CONFIG["compression.type"]
    cfg = FlumeKafkaHook(kafka_conn, delivery_timeout_s=3).get_producer_config()
    assert cfg["message.timeout.ms"] == 3000
    monkeypatch.setenv(
        "AIRFLOW_CONN_K2",
        json.dumps(
            {
                "conn_type": "kafka",
                "extra": {"bootstrap.servers": "x:1", "delivery.timeout.ms": 500, "acks": "1"},
            }
        ),
    )
    cfg = FlumeKafkaHook("k2").get_producer_config()
    assert cfg["delivery.timeout.ms"] == 500 and "message.timeout.ms" not in cfg and cfg["acks"] == "1"


def test_missing_bootstrap_servers_names_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NOBOOT", json.dumps({"conn_type": "kafka", "extra": {"acks": "all"}}))
    with pytest.raises(ValueError, match=r"'noboot'.*bootstrap.servers"):
        FlumeKafkaHook("noboot").get_producer_config()


def test_secrets_never_logged_or_in_errors(kafka_conn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-pw"
    assert redact_config({"sasl.password": secret, "ssl.key.pem": "k", "x.secret": "y", "a": 1}) == {
        "sasl.password": "***",
        "ssl.key.pem": "***",
        "x.secret": "***",
        "a": 1,
    }
    hook = FlumeKafkaHook(kafka_conn, producer_config={"ssl.keystore.password": "ks-pw"})
    with pytest.raises(ValueError) as info:
        hook._make_producer({**hook.get_producer_config(), "no.such.property": 1})
    assert secret not in str(info.value) and "ks-pw" not in str(info.value)
    hook, _ = make_hook(kafka_conn, fail=lambda m: "_MSG_TIMED_OUT")
    with pytest.raises(FlumePublishError) as err:
        hook.publish(records(2), topic="t", event_time="ts")
    assert secret not in str(err.value) and secret not in json.dumps(err.value.counts)
    assert secret not in repr(hook)
    assert secret not in caplog.text and "ks-pw" not in caplog.text


def test_report_is_json_serialisable(kafka_conn: str) -> None:
    hook, _ = make_hook(kafka_conn)
    report = hook.publish(records(3), topic="t", event_time="ts", path_template="/f/%Y")
    assert json.loads(json.dumps(report.to_dict()))["partitions"] == {"/f/2005": 3}


def test_dry_run_counts_without_producing(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    report = hook.publish(records(3), topic="t", event_time="ts", path_template="/f/%Y", dry_run=True)
    assert not made and report.partitions == {"/f/2005": 3} and report.acknowledged == 0


class LenlessProducer(FakeProducer):
    """A producer without ``len()`` that reports every delivery (e.g. a user's producer_factory)."""

    __len__ = None  # type: ignore[assignment]


@pytest.mark.parametrize("kafka_timestamp", ["producer", "event"])
@pytest.mark.parametrize("mode", ["only_error", "reports_successes", "no_len"])
def test_acknowledged_count_is_exact_in_every_reporting_mode(
    kafka_conn: str, mode: str, kafka_timestamp: str
) -> None:
    made: list[FakeProducer] = []

    def factory(config: dict[str, Any]) -> FakeProducer:
        cls = LenlessProducer if mode == "no_len" else FakeProducer
        p = cls(
            config,
            fail=lambda m: "MSG_SIZE_TOO_LARGE" if event_ms(m) % 7000 == 0 else None,
            reports_successes=mode != "only_error",
        )
        made.append(p)
        return p

    seen: list[tuple[int, int]] = []

    def checkpoint(progress: Any) -> None:
        seen.append((progress.report.produced, progress.report.acknowledged))

    hook = FlumeKafkaHook(kafka_conn, producer_factory=factory)
    with pytest.raises(FlumePublishError) as info:
        hook.publish(
            records(30),
            topic="t",
            event_time="ts",
            path_template="/f/%Y-%m-%d",
            checkpoint=checkpoint,
            checkpoint_every=10,
            kafka_timestamp=kafka_timestamp,
        )
    assert made[0].config["delivery.report.only.error"] is True
    rep = info.value.report
    assert (rep.produced, rep.acknowledged, rep.failed) == (10, 8, 2)  # stops at the first failed checkpoint
    assert rep.partitions == {"/f/2005-03-04": 8}
    assert seen == []
    report = hook.publish(
        records(20, start=T0 + 1),
        topic="t",
        event_time="ts",
        checkpoint=checkpoint,
        checkpoint_every=10,
        kafka_timestamp=kafka_timestamp,
    )
    assert (report.produced, report.acknowledged, report.failed) == (20, 20, 0)
    assert seen == [(10, 10), (20, 20), (20, 20)]


def test_in_flight_messages_are_not_counted_as_acknowledged(kafka_conn: str) -> None:
    hook, made = make_hook(kafka_conn)
    progress_seen: list[int] = []

    def progress(p: Any) -> None:
        progress_seen.append(p.report.acknowledged)
        assert p.report.acknowledged == p.report.produced - len(made[0].queue)

    hook.publish(records(3000), topic="t", event_time="ts", progress=progress, progress_interval_s=0)
    assert progress_seen and progress_seen[0] < 1024


def test_log_end_offsets_recorded_after_the_final_flush(kafka_conn: str) -> None:
    made: list[FakeProducer] = []
    seen: list[tuple[str, int]] = []

    def factory(config: dict[str, Any]) -> FakeProducer:
        made.append(FakeProducer(config))
        return made[-1]

    def reader(topic: str) -> dict[str, dict[str, int]]:
        seen.append((topic, len(made[0].queue)))  # nothing may still be queued when the offsets are read
        return {topic: {"0": 1_310, "1": 7}}

    hook = FlumeKafkaHook(kafka_conn, producer_factory=factory, offsets_reader=reader)
    report = hook.publish(records(3), topic="t", event_time="ts")
    assert seen == [("t", 0)] and report.kafka_offsets == {"t": {"0": 1_310, "1": 7}}
    assert hook.publish(records(2), topic="t", event_time="ts", dry_run=True).kafka_offsets == {}


def test_unreadable_log_end_offsets_are_a_warning_not_a_silent_gap(kafka_conn: str) -> None:
    def reader(topic: str) -> dict[str, dict[str, int]]:
        raise RuntimeError("KafkaError{code=_TRANSPORT} sasl.password=s3cr3t-pw")

    hook = FlumeKafkaHook(kafka_conn, producer_factory=lambda c: FakeProducer(c), offsets_reader=reader)
    report = hook.publish(records(2), topic="t", event_time="ts")
    assert report.acknowledged == 2 and report.kafka_offsets == {}
    assert any("log-end offsets of topic 't' could not be read" in w for w in report.warnings)
    assert not any("s3cr3t-pw" in w for w in report.warnings)


def test_rounding_sink_poison_pill_at_epoch_zero_follows_on_invalid(kafka_conn: str, tmp_path: Any) -> None:
    from airflow_flume_provider.bucketpath import PathTemplate

    rounding = PathTemplate("/t/%Y-%m-%d/%H%M", need_rounding=True, round_unit="minute", round_value=30)
    recs = [{"id": "zero", "ts": "1970-01-01T00:00:00.000Z"}, {"id": "ok", "ts": "1970-01-01T00:00:00.001Z"}]
    hook, made = make_hook(kafka_conn)
    with pytest.raises(InvalidRecordError, match=r"record 1: .*outside the allowed range \[1 "):
        hook.publish(recs, topic="t", event_time="ts", path_template=rounding)
    assert made == [] or made[0].delivered == []  # refused before anything was sent
    hook, made = make_hook(kafka_conn)
    dead = tmp_path / "dead.jsonl"
    report = hook.publish(
        recs, topic="t", event_time="ts", path_template=rounding, on_invalid="skip", dead_letter=str(dead)
    )
    assert report.acknowledged == 1 and report.dead_lettered == 1 and report.invalid_time_skipped == 1
    assert [decode_event(m.value()).headers["timestamp"] for m in made[0].delivered] == ["1"]
    (entry,) = DeadLetterWriter.read(dead)
    assert "outside the allowed range" in entry["reason"] and '"zero"' in entry["body"]
    # a sink that does not round files epoch 0 fine: it stays valid there
    hook, made = make_hook(kafka_conn)
    assert hook.publish(recs, topic="t", event_time="ts", path_template="/t/%Y-%m-%d").acknowledged == 2


@pytest.mark.parametrize("kafka_timestamp", ["producer", "event"])
def test_operators_pass_kafka_timestamp_through(
    kafka_conn: str, tmp_path: Path, kafka_timestamp: str
) -> None:
    from airflow_flume_provider.operators.publish import PublishFlumeEventsOperator
    from airflow_flume_provider.operators.replay import ReplayFlumeEventsOperator

    made: list[FakeProducer] = []

    def factory(config: dict[str, Any]) -> FakeProducer:
        made.append(FakeProducer(config))
        return made[-1]

    common = {"topic": "t", "kafka_conn_id": kafka_conn, "producer_factory": factory}
    report = PublishFlumeEventsOperator(
        task_id="p", records=records(3), event_time_field="ts", kafka_timestamp=kafka_timestamp, **common
    ).execute({})
    src = tmp_path / "e.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records(3)))
    manifest = ReplayFlumeEventsOperator(
        task_id="r",
        source=str(src),
        start=T0,
        end=T0 + DAY,
        event_time_field="ts",
        checkpoint_dir=str(tmp_path / "cp"),
        kafka_timestamp=kafka_timestamp,
        **common,
    ).execute({"run_id": "r1"})
    assert report["kafka_timestamp"] == kafka_timestamp and manifest["totals"]["acknowledged"] == 3
    expected = [r["ts"] for r in records(3)] if kafka_timestamp == "event" else [0, 0, 0]
    assert [[m.timestamp()[1] for m in p.delivered] for p in made] == [expected, expected]
    with pytest.raises(ValueError, match="kafka_timestamp must be one of"):
        ReplayFlumeEventsOperator(task_id="x", source="x", topic="t", kafka_timestamp="log_append")
