"""Streaming readers for stored events: JSON Lines, Avro container files, Parquet files and a Kafka topic.

Every reader yields :class:`SourceRecord` objects in input order, in constant memory, each with a position
for error messages (``file:line``, ``file:block@N:i``, ``topic:partition:offset``) and a resume *token*
(byte offset / block offset / Kafka offset) for checkpoints. A reader resumes from ``resume`` =
``{"units": {unit: token}, "done": [unit, ...]}``, as saved by the replay engine.

Bad input (invalid JSON, invalid UTF-8, truncated or corrupt gzip, unreadable Avro block, a null Kafka value)
raises :class:`BadInputError` naming the position with ``on_bad_input="fail"``; with ``"skip"`` it is written
to the dead-letter file with the reason and counted in ``reader.bad_input``. Nothing is dropped uncounted.

Modules: ``record`` (what readers yield), ``fs`` (local and hdfs:// files), ``base`` (policy, resume, file loop),
``jsonl``, ``avro``, ``parquet`` (pyarrow, imported when a Parquet file is read), ``kafka_topic``,
``objstore`` (fsspec URIs such as ``file://``), ``factory`` (:func:`open_source`). Core: no Airflow imports; the caller
passes the HDFS client and the Kafka connection's config.
"""

from __future__ import annotations

from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.sources.avro import AvroFileSource, avro_json_body
from airflow_flume_provider.sources.base import BAD_INPUT_POLICIES, FileReader, Reader
from airflow_flume_provider.sources.factory import detect_format, open_source, source_conn_ids
from airflow_flume_provider.sources.fs import FileSystem
from airflow_flume_provider.sources.jsonl import JsonLinesSource, parse_json_line
from airflow_flume_provider.sources.kafka_topic import KafkaTopicSource
from airflow_flume_provider.sources.parquet import ParquetSource
from airflow_flume_provider.sources.record import BadInputError, SourceRecord

__all__ = [
    "BAD_INPUT_POLICIES",
    "AvroFileSource",
    "BadInputError",
    "DeadLetterWriter",
    "FileReader",
    "FileSystem",
    "JsonLinesSource",
    "KafkaTopicSource",
    "ParquetSource",
    "Reader",
    "SourceRecord",
    "avro_json_body",
    "detect_format",
    "open_source",
    "parse_json_line",
    "source_conn_ids",
]
