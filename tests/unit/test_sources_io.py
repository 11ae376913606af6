"""Sources over injected clients: hdfs:// files through an HDFS client, a Kafka topic through kafka_config."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from kafka_fakes import FakeConsumer

import airflow_flume_provider.kafka_config as kafka_config
from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.hdfs_client import FileStatus, HdfsNotFound
from airflow_flume_provider.sources import (
    BadInputError,
    FileSystem,
    JsonLinesSource,
    KafkaTopicSource,
    open_source,
    source_conn_ids,
)
from airflow_flume_provider.sources.kafka_topic import read_messages


class FakeHdfs:
    """The HdfsClient calls the file sources make, over an in-memory tree; records what was asked."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.calls: list[str] = []
        self.closed = False

    def list_status(self, path: str) -> list[FileStatus]:
        self.calls.append(f"list {path}")
        kids = [p for p in self.files if p.rsplit("/", 1)[0] == path.rstrip("/")]
        if not kids:
            raise HdfsNotFound(f"{path} does not exist", path=path, status=404)
        return [FileStatus(p.rsplit("/", 1)[1], "FILE", len(self.files[p]), 0) for p in kids]

    def status(self, path: str) -> FileStatus:
        self.calls.append(f"status {path}")
        if path not in self.files:
            raise HdfsNotFound(f"{path} does not exist", path=path, status=404)
        return FileStatus(path.rsplit("/", 1)[1], "FILE", len(self.files[path]), 0)

    def open(self, path: str, *, offset: int = 0, length: int | None = None) -> Any:
        self.calls.append(f"open {path}@{offset}")
        return io.BytesIO(self.files[path][offset:])

    def close(self) -> None:
        self.closed = True


def _rows(n: int) -> bytes:
    return b"".join(json.dumps({"id": f"e{i}"}).encode() + b"\n" for i in range(n))


def test_hdfs_glob_reads_through_the_client_in_name_order() -> None:
    hdfs = FakeHdfs({"/in/b.jsonl": _rows(2), "/in/a.jsonl.gz": gzip.compress(_rows(3)), "/in/x.avro": b""})
    recs = list(JsonLinesSource("hdfs://nn:8020/in/*.jsonl*", fs=FileSystem(hdfs)))
    assert [r.position for r in recs] == [f"hdfs://nn:8020/in/a.jsonl.gz:{i}" for i in (1, 2, 3)] + [
        f"hdfs://nn:8020/in/b.jsonl:{i}" for i in (1, 2)
    ]
    assert hdfs.calls[0] == "list /in" and not hdfs.closed  # a client passed in stays the caller's


def test_hdfs_resume_opens_at_the_checkpointed_byte_offset() -> None:
    hdfs = FakeHdfs({"/in/x.jsonl": _rows(10)})
    first = list(JsonLinesSource("hdfs://nn/in/x.jsonl", fs=FileSystem(hdfs)))
    token = first[6].token
    resumed = list(
        JsonLinesSource(
            "hdfs://nn/in/x.jsonl", fs=FileSystem(hdfs), resume={"units": {"hdfs://nn/in/x.jsonl": token}}
        )
    )
    assert [r.body for r in resumed] == [r.body for r in first[7:]]
    assert hdfs.calls[-1] == f"open /in/x.jsonl@{token[0]}"


def test_hdfs_missing_input_names_the_pattern() -> None:
    hdfs = FakeHdfs({"/in/a.jsonl": b"{}\n"})
    for pattern in ("hdfs://nn/in/nope.jsonl", "hdfs://nn/other/*.jsonl", "hdfs://nn/in/*.avro"):
        with pytest.raises(FileNotFoundError, match="no input file matches"):
            list(JsonLinesSource(pattern, fs=FileSystem(hdfs)))


def test_open_source_calls_the_client_factory_once_and_closes_what_it_made() -> None:
    made: list[FakeHdfs] = []

    def factory() -> FakeHdfs:
        made.append(FakeHdfs({"/in/a.jsonl": _rows(2)}))
        return made[-1]

    local_reader = open_source("/nonexistent/x.jsonl", hdfs_client=factory)
    with pytest.raises(FileNotFoundError):
        list(local_reader)
    assert made == []  # local input: no HDFS client made
    reader = open_source({"format": "jsonl", "path": "hdfs://nn/in/a.jsonl"}, hdfs_client=factory)
    assert len(list(reader)) == 2
    assert len(made) == 1 and made[0].closed


def test_hdfs_input_without_a_client_is_a_clear_error() -> None:
    reader = open_source("hdfs://nn/in/a.jsonl", webhdfs_conn_id="my_hdfs")
    with pytest.raises(
        ValueError, match="hdfs:// input needs an HDFS client \\(webhdfs connection 'my_hdfs'\\)"
    ):
        list(reader)


def test_source_conn_ids_prefer_the_spec() -> None:
    ids = {"webhdfs_conn_id": "w", "kafka_conn_id": "k"}
    assert source_conn_ids("x.jsonl", **ids) == ("w", "k")
    assert source_conn_ids({"path": "x", "webhdfs_conn_id": "w2"}, **ids) == ("w2", "k")


# -- Kafka topic ------------------------------------------------------------------------------------------------
TOPIC = "raw"
PARTS: dict[int, list[tuple[bytes | None, int]]] = {
    0: [(b"a0", 1000), (b"a1", 2000), (None, 2500), (b"a3", 3000), (b"a4", 4000)],
    1: [(b"b0", 1500), (b"b1", 2600), (b"b2", 5000)],
}


@pytest.fixture
def consumers(monkeypatch: pytest.MonkeyPatch) -> list[FakeConsumer]:
    """Consumers made through kafka_config.make_consumer (replaced by the fake), with their configs."""
    made: list[FakeConsumer] = []

    def make(config: dict[str, Any], *, name: str = "kafka") -> FakeConsumer:
        made.append(FakeConsumer(TOPIC, PARTS, config))
        return made[-1]

    monkeypatch.setattr(kafka_config, "make_consumer", make)
    return made


def test_topic_window_reads_timestamps_in_range(consumers: list[FakeConsumer], tmp_path: Path) -> None:
    dl = DeadLetterWriter(tmp_path / "dl.jsonl")
    base = {"bootstrap.servers": "b:9092", "acks": "all", "linger.ms": 5}
    source = KafkaTopicSource(
        TOPIC, start_ms=2000, end_ms=4000, kafka_base_config=base, on_bad_input="skip", dead_letter=dl
    )
    recs = list(source)
    assert sorted(r.body for r in recs) == [b"a1", b"a3", b"b1"]
    assert {r.position for r in recs} == {"raw:0:1", "raw:0:3", "raw:1:1"}
    assert next(r for r in recs if r.body == b"a3").kafka_timestamp_ms == 3000
    assert source.bad_input == 1 and sorted(source.completed_units) == ["raw:0", "raw:1"]
    dl.close()
    assert DeadLetterWriter.read(dl.path)[0]["position"] == "raw:0:2"
    (consumer,) = consumers
    cfg = consumer.config
    assert cfg["bootstrap.servers"] == "b:9092" and "acks" not in cfg and "linger.ms" not in cfg
    assert cfg["group.id"].startswith("flume-replay-") and cfg["enable.partition.eof"] is True
    assert cfg["enable.auto.commit"] is False and consumer.closed


def test_topic_tombstone_fails_by_default(consumers: list[FakeConsumer]) -> None:
    source = KafkaTopicSource(
        TOPIC, start_ms=0, end_ms=10_000, kafka_base_config=lambda: {"bootstrap.servers": "b"}
    )
    with pytest.raises(BadInputError, match=r"raw:0:2: null value \(tombstone\)"):
        list(source)


def test_topic_resume_and_beginning_seek(consumers: list[FakeConsumer], tmp_path: Path) -> None:
    dl = DeadLetterWriter(tmp_path / "dl.jsonl")
    resume = {"units": {"raw:0": 3}, "done": ["raw:1"]}
    source = open_source(
        {"topic": "kafka://raw", "seek": "beginning"},
        window_ms=(10**12, 10**12 + 1),  # ignored by seek="beginning"
        kafka_base_config={"bootstrap.servers": "b"},
        on_bad_input="skip",
        dead_letter=dl,
        resume=resume,
    )
    assert [r.body for r in source] == [b"a3", b"a4"]


def test_topic_unknown_or_without_config_is_a_clear_error(consumers: list[FakeConsumer]) -> None:
    with pytest.raises(BadInputError, match="Kafka topic 'nope' not found"):
        list(KafkaTopicSource("nope", start_ms=0, end_ms=1, kafka_base_config={"bootstrap.servers": "b"}))
    with pytest.raises(ValueError, match=r"needs kafka_base_config.*connection 'kc'"):
        list(open_source("kafka://raw", window_ms=(0, 1), kafka_conn_id="kc"))


def test_read_messages_limit_and_start(consumers: list[FakeConsumer]) -> None:
    base = {"bootstrap.servers": "b"}
    assert len(list(read_messages(base, TOPIC, limit=100))) == 8  # tombstones included
    assert len(list(read_messages(base, TOPIC, limit=3))) == 3
    later = list(read_messages(base, TOPIC, start_ms=3000, limit=100))
    assert sorted(m.value() for m in later) == [b"a3", b"a4", b"b2"]
    assert all(c.closed for c in consumers) and consumers[0].config["group.id"].startswith(
        "airflow-flume-inspect-"
    )
