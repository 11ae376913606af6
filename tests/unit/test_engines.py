"""The core engines without Airflow: Publisher/MessageBuilder (publishing) and checkpoint + ReplayRun (replay)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_hook import FakeProducer

from airflow_flume_provider.checkpoint import CheckpointStore, new_state, resumable_state
from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.envelope import decode_event
from airflow_flume_provider.publish_report import (
    FlumePublishError,
    InvalidRecordError,
    PublishReport,
    PublishSpec,
)
from airflow_flume_provider.publishing import Publisher
from airflow_flume_provider.replay import ReplayRun, ReplaySpec
from airflow_flume_provider.sources import SourceRecord

T0 = 1_109_894_400_000  # 2005-03-04T00:00:00Z
DAY = 86_400_000


def run(records: Any, producer_kwargs: dict[str, Any] | None = None, **spec: Any) -> tuple[Any, list[Any]]:
    publisher = Publisher(PublishSpec(**{"topic": "t", "event_time": "ts", **spec}))
    made: list[FakeProducer] = []
    if not spec.get("dry_run"):
        made.append(FakeProducer(publisher.producer_config({}), **(producer_kwargs or {})))
    return publisher.run(records, made[0] if made else None, timeout_ms=1000), made


def test_publisher_counts_per_partition_from_source_records() -> None:
    recs = [SourceRecord(json.dumps({"ts": T0 + i * DAY // 2}).encode(), None, "f", i, i) for i in range(4)]
    report, made = run(recs, path_template="/e/%Y-%m-%d", headers={"h": "v"})
    assert report.acknowledged == 4 and report.partitions == {"/e/2005-03-04": 2, "/e/2005-03-05": 2}
    assert decode_event(made[0].delivered[0].value()).headers == {"h": "v", "timestamp": str(T0)}


def test_per_record_header_path_and_non_string_keys() -> None:
    recs = [(7, {"ts": T0, "id": 1, "tenant": "a"}), {"ts": T0 + 1, "id": 2}]
    report, made = run(recs, event_id="id", path_template="/e/%{eventId}/%Y")
    assert report.partitions == {"/e/1/2005": 1, "/e/2/2005": 1}
    assert [m.key() for m in made[0].delivered] == ["7", None]


def test_failed_publish_error_carries_typed_report() -> None:
    with pytest.raises(FlumePublishError) as info:
        run([{"ts": T0}, {"ts": T0 + 1}], {"fail": lambda m: "MSG_SIZE_TOO_LARGE"})
    assert isinstance(info.value.report, PublishReport)
    assert (info.value.report.produced, info.value.report.failed) == (2, 2)


def test_other_errors_propagate_unchanged_and_the_given_report_holds_the_counts() -> None:
    def records() -> Any:
        yield {"ts": T0}
        yield {"ts": T0 + 1}
        raise OSError("disk gone")

    report = PublishReport(topic="t")
    with pytest.raises(OSError, match="disk gone") as info:
        run(records(), path_template="/e/%Y", report=report)
    assert not hasattr(info.value, "publish_report") and not hasattr(info.value, "report")
    assert report.read == 2 and report.acknowledged == 2 and report.partitions == {"/e/2005": 2}


@pytest.mark.parametrize("kafka_timestamp", ["producer", "event"])  # produce_batch / produce()
def test_rejected_by_producer_is_dead_lettered_with_skip(tmp_path: Path, kafka_timestamp: str) -> None:
    def too_large(value: bytes) -> str | None:
        return "MSG_SIZE_TOO_LARGE" if b"big" in value else None

    dl = tmp_path / "dl.jsonl"
    recs = [{"ts": T0}, {"ts": T0, "x": "big"}, {"ts": T0}]
    spec = {"topic": "t", "event_time": "ts", "path_template": "/e/%Y", "kafka_timestamp": kafka_timestamp}
    publisher = Publisher(PublishSpec(**spec, on_invalid="skip", dead_letter=dl))
    producer = FakeProducer(publisher.producer_config({}), reject=too_large)
    report = publisher.run(recs, producer, timeout_ms=1000)
    assert (report.read, report.produced, report.acknowledged, report.dead_lettered) == (3, 2, 2, 1)
    assert report.partitions == {"/e/2005": 2} and len(producer.delivered) == 2
    entry = DeadLetterWriter.read(dl)[0]
    assert entry["position"] == "record 2" and "rejected by producer" in entry["reason"]
    assert "MSG_SIZE_TOO_LARGE" in entry["reason"] and json.loads(entry["body"])["x"] == "big"
    # with "fail" the record is named; what was handed over with it is still delivered and counted
    report = PublishReport(topic="t")
    publisher = Publisher(PublishSpec(**spec, report=report))
    producer = FakeProducer(publisher.producer_config({}), reject=too_large)
    with pytest.raises(
        InvalidRecordError, match=r"record 2: rejected by the Kafka producer: .*MSG_SIZE_TOO_LARGE"
    ):
        publisher.run(recs, producer, timeout_ms=1000)
    sent = 2 if kafka_timestamp == "producer" else 1  # produce() stops at the record; a batch holds all three
    assert report.produced == report.acknowledged == len(producer.delivered) == sent


def test_checkpoint_store_round_trip_identity_and_failure(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, dag_id="d/x", task_id="t", run_id="r:1", map_index=2)
    assert store.path.parent == tmp_path / "d_x" / "t" / "r_1" and store.load() is None
    identity = {"source": "s", "window": [1, 2]}
    state = {**new_state(identity, 5.0), "attempts": 1}
    store.save(state)
    assert resumable_state(store, identity)["key"]["map_index"] == 2
    with pytest.raises(ValueError, match="written for"):
        resumable_state(store, {**identity, "window": [1, 3]})
    store.save_failure(state, {"/p": 3}, identity)
    store.save_failure({**state, "attempts": 2}, {"/p": 1, "/q": 2}, identity)
    saved = store.load()
    assert saved["duplicates"] == {"/p": 4, "/q": 2} and saved["attempts"] == 2
    store.path.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="unsupported version 99"):
        store.load()


def test_replay_run_records_resent_events_from_the_typed_report(tmp_path: Path) -> None:
    """A publish failing after a checkpoint: the events acknowledged since are counted as duplicates."""
    src = tmp_path / "e.jsonl"
    src.write_text("".join(json.dumps({"ts": T0 + i}) + "\n" for i in range(5)))
    store = CheckpointStore(tmp_path / "cp", dag_id="d", task_id="t", run_id="r", map_index=-1)

    def publish(records: Any, *, report: PublishReport, checkpoint: Any, **_: Any) -> PublishReport:
        from airflow_flume_provider.publish_report import PublishProgress

        items = list(records)
        report.started_at, report.read, report.produced = 1.0, 5, 5
        report.partitions = {"/e/2005": 2}
        checkpoint(PublishProgress(report, items[1], 0.1))
        report.partitions, report.acknowledged = {"/e/2005": 5}, 5
        raise RuntimeError("worker lost")

    spec = ReplaySpec(
        source=str(src), topic="t", window_ms=(T0, T0 + DAY), store=store, dead_letter_path=tmp_path / "dl"
    )
    with pytest.raises(RuntimeError, match="worker lost"):
        ReplayRun(spec, publish).run()
    saved = store.load()
    assert saved["duplicates"] == {"/e/2005": 3} and saved["attempts"] == 1
    assert saved["base"]["partitions"] == {"/e/2005": 2}
