"""Build the reader for a source spec: ``/path/*.jsonl.gz``, ``hdfs://nn/x.avro``, ``file:///x.parquet``,
``kafka://topic`` or a dict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.sources.avro import AvroFileSource
from airflow_flume_provider.sources.base import Reader
from airflow_flume_provider.sources.fs import FileSystem, HdfsClientArg
from airflow_flume_provider.sources.jsonl import JsonLinesSource
from airflow_flume_provider.sources.kafka_topic import KafkaTopicSource
from airflow_flume_provider.sources.objstore import ObjectFsResolver
from airflow_flume_provider.sources.parquet import ParquetSource

FILE_FORMATS = ("jsonl", "avro", "parquet")


def detect_format(source: str) -> str:
    """``jsonl``, ``avro``, ``parquet`` or ``kafka`` from a source string (``kafka://topic`` or a file name)."""
    if source.startswith("kafka://") or source.startswith("kafka:"):
        return "kafka"
    name = source.lower()
    if name.endswith((".parquet", ".parq")):
        return "parquet"
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".avro"):
        return "avro"
    if name.endswith((".jsonl", ".json", ".ndjson", ".txt", ".log")):
        return "jsonl"
    raise ValueError(
        f"cannot tell the format of source {source!r}: use a .jsonl[.gz]/.ndjson/.json/.avro/.parquet name, "
        "kafka://topic, or a dict with 'format'"
    )


def source_conn_ids(
    source: str | Mapping[str, Any], *, webhdfs_conn_id: str, kafka_conn_id: str
) -> tuple[str, str]:
    """The ``(webhdfs, kafka)`` connection ids a source reads through: a dict spec's own ids win.

    For the Airflow layer, which builds the HDFS client / Kafka config that :func:`open_source` receives.
    """
    spec: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
    return spec.get("webhdfs_conn_id", webhdfs_conn_id), spec.get("kafka_conn_id", kafka_conn_id)


def open_source(
    source: str | dict[str, Any],
    *,
    window_ms: tuple[int, int] | None = None,
    on_bad_input: str = "fail",
    dead_letter: DeadLetterWriter | None = None,
    resume: dict[str, Any] | None = None,
    webhdfs_conn_id: str = "webhdfs_default",
    kafka_conn_id: str = "kafka_default",
    avro_body: str = "json",
    avro_body_schema: dict[str, Any] | None = None,
    fs: FileSystem | None = None,
    hdfs_client: HdfsClientArg | None = None,
    object_fs: ObjectFsResolver | None = None,
    kafka_base_config: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    consumer_factory: Callable[[dict[str, Any]], Any] | None = None,
) -> Reader:
    """Build the reader for a source spec: a path/glob/URI string, or ``{"format": ..., "path"|"topic": ...}``.

    Parquet dicts may name a ``body_column`` (binary/string) to publish instead of the row as JSON.
    Core code reads no Airflow connection: ``hdfs://`` sources read through ``hdfs_client`` (an HDFS client or a
    zero-argument factory, called only if an hdfs:// file is read) or ``fs``; other ``scheme://`` URIs
    (``file://``, ``memory://``...) through ``object_fs`` (``uri -> (fsspec filesystem, path)``, default fsspec's
    own, see :mod:`.objstore`); Kafka sources consume with ``kafka_base_config`` (the connection's librdkafka
    config, or a zero-argument factory of it). The ``webhdfs_conn_id``/``kafka_conn_id`` arguments (and a dict
    spec's own) only name the connections in errors; use :func:`source_conn_ids` to pick the connection the
    client and config come from.
    """
    spec = {"path": source} if isinstance(source, str) else dict(source)
    location = spec.get("path") or spec.get("topic")
    if not location:
        raise ValueError(f"source {source!r} has no 'path' or 'topic'")
    fmt = spec.get("format") or detect_format(str(location))
    webhdfs_conn_id, kafka_conn_id = source_conn_ids(
        spec, webhdfs_conn_id=webhdfs_conn_id, kafka_conn_id=kafka_conn_id
    )
    common: dict[str, Any] = {"on_bad_input": on_bad_input, "dead_letter": dead_letter, "resume": resume}
    if fmt in FILE_FORMATS:
        fs = fs or FileSystem(hdfs_client, conn_id=webhdfs_conn_id, object_fs=object_fs)
        return _file_source(fmt, str(location), spec, fs, common, avro_body, avro_body_schema)
    if fmt == "kafka":
        topic = str(location).removeprefix("kafka://").removeprefix("kafka:")
        if window_ms is None or window_ms[0] is None or window_ms[1] is None:
            raise ValueError(f"Kafka source {topic!r} needs an event-time window [start, end)")
        return KafkaTopicSource(
            topic,
            start_ms=window_ms[0],
            end_ms=window_ms[1],
            kafka_base_config=kafka_base_config,
            kafka_conn_id=kafka_conn_id,
            consumer_factory=consumer_factory,
            seek=spec.get("seek", "timestamp"),
            **common,
        )
    raise ValueError(f"unknown source format {fmt!r} (expected jsonl, avro, parquet or kafka)")


def _file_source(
    fmt: str,
    location: str,
    spec: Mapping[str, Any],
    fs: FileSystem,
    common: dict[str, Any],
    avro_body: str,
    avro_body_schema: dict[str, Any] | None,
) -> Reader:
    """The reader of a file format (``jsonl``, ``avro``, ``parquet``) over ``fs``."""
    if fmt == "parquet":
        return ParquetSource(location, body_column=spec.get("body_column"), fs=fs, **common)
    if fmt == "avro":
        return AvroFileSource(
            location,
            body_format=spec.get("body_format", avro_body),
            body_schema=spec.get("body_schema", avro_body_schema),
            fs=fs,
            **common,
        )
    return JsonLinesSource(location, fs=fs, **common)
