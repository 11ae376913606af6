"""ReplayFlumeEventsOperator with a fake producer: window, manifest, checkpoints, resume, duplicates, dry run."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_hook import FakeProducer

from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.envelope import decode_event
from airflow_flume_provider.hooks.flume_kafka import FlumePublishError
from airflow_flume_provider.manifest import expected_counts, merge_manifests
from airflow_flume_provider.operators.publish import PublishFlumeEventsOperator
from airflow_flume_provider.operators.replay import ReplayFlumeEventsOperator

DAY = 86_400_000
T0 = 1_041_379_200_000  # 2003-01-01T00:00:00Z


@pytest.fixture(autouse=True)
def kafka_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_DEFAULT",
        json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": "f:1"}}),
    )


class Broker:
    """Fake producers sharing one log; ``fail_after`` makes the first producer fail after that many acks."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.log: list[Any] = []
        self.fail_after = fail_after
        self.producers = 0

    def factory(self, config: dict[str, Any]) -> FakeProducer:
        """The operators' ``producer_factory``."""
        self.producers += 1
        first = self.producers == 1

        def fail(msg: Any) -> str | None:
            if first and self.fail_after is not None and len(self.log) >= self.fail_after:
                return "_MSG_TIMED_OUT"
            self.log.append(msg)
            return None

        return FakeProducer(config, fail=fail, topics=("flume",))

    def days(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for m in self.log:
            ts = int(decode_event(m.value()).headers["timestamp"])
            out[f"/flume/events/2003-01-0{1 + (ts - T0) // DAY}"] += 1
        return out


def dataset(path: Path, n_per_day: int = 500) -> list[int]:
    """3 days of events incl. 23:59:59.999 and 00:00:00.000, plus one before and one after the window."""
    times = [T0 + d * DAY + i * 1000 for d in range(3) for i in range(n_per_day)]
    times += [T0 + DAY - 1, T0 + DAY, T0 + 2 * DAY - 1, T0 + 2 * DAY]
    outside = [T0 - 1, T0 + 3 * DAY]
    rows = [json.dumps({"id": f"e{i}", "time": t}).encode() for i, t in enumerate(times + outside)]
    path.write_bytes(gzip.compress(b"\n".join(rows) + b"\n"))
    return times


def ctx(map_index: int = -1, run_id: str = "r1") -> dict[str, Any]:
    return {"ti": SimpleNamespace(dag_id="d", run_id=run_id, map_index=map_index), "run_id": run_id}


def op(tmp_path: Path, src: Path, broker: Broker, **kw: Any) -> ReplayFlumeEventsOperator:
    args: dict[str, Any] = {
        "producer_factory": broker.factory,
        "task_id": "replay",
        "source": str(src),
        "topic": "flume",
        "start": "2003-01-01T00:00:00Z",
        "end": "2003-01-04T00:00:00Z",
        "event_time_field": "time",
        "event_id_field": "id",
        "sink_path_template": "hdfs://nn:8020/flume/events/%Y-%m-%d",
        "checkpoint_dir": str(tmp_path / "cp"),
        "headers": {"replay": "true"},
        **kw,
    }
    return ReplayFlumeEventsOperator(**args)


def test_replay_manifest_counts_per_day(tmp_path: Path) -> None:
    broker = Broker()
    times = dataset(tmp_path / "d.jsonl.gz")
    manifest = op(tmp_path, tmp_path / "d.jsonl.gz", broker).execute(ctx())
    assert manifest["partitions"] == dict(broker.days())
    assert manifest["partitions"]["/flume/events/2003-01-01"] == 501
    assert manifest["partitions"]["/flume/events/2003-01-02"] == 502
    assert manifest["totals"]["acknowledged"] == len(times) and manifest["totals"]["out_of_window"] == 2
    assert manifest["duplicates"] == {} and manifest["sink"]["namenode"] == "nn:8020"
    headers = decode_event(broker.log[0].value()).headers
    assert headers["replay"] == "true" and headers["eventId"] == "e0"
    json.dumps(manifest)


def test_failure_then_retry_resumes_with_counted_duplicates(
    tmp_path: Path,
) -> None:
    broker = Broker(fail_after=1234)
    times = dataset(tmp_path / "d.jsonl.gz")
    task = op(tmp_path, tmp_path / "d.jsonl.gz", broker, checkpoint_every=500)
    with pytest.raises(FlumePublishError):
        task.execute(ctx())
    first_attempt = len(broker.log)
    manifest = task.execute(ctx())  # the retry
    assert manifest["attempts"] == 2
    # every event delivered at least once; the broker log equals distinct + counted duplicates, per partition
    assert set(broker.days()) == set(manifest["partitions"])
    assert dict(broker.days()) == expected_counts(manifest)
    assert sum(manifest["partitions"].values()) == len(times)
    dups = sum(manifest["duplicates"].values())
    assert dups == first_attempt - 1000 and dups <= 500  # only the in-flight window since the last checkpoint
    ids = Counter(json.loads(decode_event(m.value()).body)["id"] for m in broker.log)
    assert len(ids) == len(times) and sum(c - 1 for c in ids.values()) == dups
    # a third run of the completed task sends nothing and returns the same manifest
    sent = len(broker.log)
    assert task.execute(ctx()) == manifest and len(broker.log) == sent


def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    broker = Broker()
    dataset(tmp_path / "d.jsonl.gz")
    manifest = op(tmp_path, tmp_path / "d.jsonl.gz", broker, dry_run=True).execute(ctx())
    assert broker.producers == 0 and manifest["dry_run"] is True
    assert (
        manifest["partitions"]["/flume/events/2003-01-03"] == 501 and manifest["totals"]["acknowledged"] == 0
    )


def test_bad_input_skip_counts_and_dead_letters(tmp_path: Path) -> None:
    broker = Broker()
    src = tmp_path / "d.jsonl"
    src.write_bytes(
        b'{"id":"a","time":1041379200000}\n{"id": bad\n{"id":"c","time":"yesterday"}\n{"id":"\xff"}\n'
    )
    dl = tmp_path / "out" / "dead.jsonl"
    manifest = op(
        tmp_path, src, broker, on_bad_input="skip", on_invalid="skip", dead_letter_path=str(dl)
    ).execute(ctx())
    t = manifest["totals"]
    assert t["acknowledged"] == 1 and t["bad_input"] == 2 and t["invalid_time_skipped"] == 1
    assert t["dead_lettered"] == 3
    reasons = [e["reason"] for e in DeadLetterWriter.read(dl)]
    assert reasons[0].startswith("invalid JSON") and reasons[2].startswith("invalid UTF-8")
    assert "invalid event time" in reasons[1] and "yesterday" in reasons[1]


def test_bad_input_fail_names_the_line(tmp_path: Path) -> None:
    broker = Broker()
    src = tmp_path / "d.jsonl"
    src.write_bytes(b'{"id":"a","time":1041379200000}\n{"id": bad\n')
    with pytest.raises(ValueError, match=r"d\.jsonl:2: invalid JSON"):
        op(tmp_path, src, broker).execute(ctx())


def test_mapped_tasks_have_own_checkpoints_and_manifests_merge(
    tmp_path: Path,
) -> None:
    broker = Broker()
    dataset(tmp_path / "a.jsonl.gz", 10)
    dataset(tmp_path / "b.jsonl.gz", 20)
    m0 = op(tmp_path, tmp_path / "a.jsonl.gz", broker).execute(ctx(map_index=0))
    m1 = op(tmp_path, tmp_path / "b.jsonl.gz", broker).execute(ctx(map_index=1))
    assert m0["checkpoint"] != m1["checkpoint"]
    merged = merge_manifests([m0, None, m1])
    assert merged["partitions"]["/flume/events/2003-01-01"] == 11 + 21
    assert merged["totals"]["acknowledged"] == m0["totals"]["acknowledged"] + m1["totals"]["acknowledged"]
    assert merged["parts"] == 2
    with pytest.raises(ValueError, match="different topics"):
        merge_manifests([m0, {**m1, "topic": "x"}])


def test_window_defaults_to_data_interval_and_validation() -> None:
    import datetime as dt

    task = ReplayFlumeEventsOperator(task_id="r", source="x.jsonl", topic="t")
    start = dt.datetime(2003, 1, 1, tzinfo=dt.timezone.utc)
    assert task.window_ms(
        {"data_interval_start": start, "data_interval_end": start + dt.timedelta(days=1)}
    ) == (
        T0,
        T0 + DAY,
    )
    with pytest.raises(ValueError, match="no replay window"):
        task.window_ms({})
    with pytest.raises(ValueError, match="on_invalid"):
        ReplayFlumeEventsOperator(task_id="r", source="x", topic="t", on_invalid="drop")
    with pytest.raises(ValueError, match="flume_agent"):
        ReplayFlumeEventsOperator(task_id="r", source="x", topic="t", flume_config_path="f.conf")


def test_publish_operator_from_dotted_producer_function(
    tmp_path: Path,
) -> None:
    broker = Broker()
    task = PublishFlumeEventsOperator(
        task_id="p",
        topic="flume",
        event_time_field="time",
        producer_function="test_replay.make_records",
        producer_function_kwargs={"n": 3},
        sink_path_template="/flume/events/%Y-%m-%d",
        producer_factory=broker.factory,
    )
    report = task.execute({})
    assert report["acknowledged"] == 3 and report["partitions"] == {"/flume/events/2003-01-01": 3}
    task2 = PublishFlumeEventsOperator(
        task_id="p2",
        topic="flume",
        event_time_field="time",
        records=json.dumps(make_records(2)),
        producer_factory=broker.factory,
    )
    assert task2.execute({})["acknowledged"] == 2
    with pytest.raises(ValueError, match="exactly one"):
        PublishFlumeEventsOperator(task_id="p3", topic="flume", event_time_field="time")


def make_records(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "time": T0 + i} for i in range(n)]


def test_merged_manifest_targets_are_the_highest_log_end_offsets(tmp_path: Path) -> None:
    broker = Broker()
    dataset(tmp_path / "a.jsonl.gz", 5)
    m = op(tmp_path, tmp_path / "a.jsonl.gz", broker).execute(ctx(map_index=0))
    assert "kafka_offsets" not in m  # a custom producer without an offsets_reader records none
    m0 = {**m, "kafka_offsets": {"flume": {"0": 40, "1": 9}}}
    m1 = {**m, "kafka_offsets": {"flume": {"0": 25, "1": 12}}}
    assert merge_manifests([m0, m1])["kafka_offsets"] == {"flume": {"0": 40, "1": 12}}
    # one part without targets: the merged manifest has none (the consumed check must not pass early)
    assert "kafka_offsets" not in merge_manifests([m0, m])
    with pytest.raises(ValueError, match="manifest kafka_offsets"):
        merge_manifests([m0, {**m, "kafka_offsets": {"flume": {"x": 1}}}])
