"""ReplayFlumeEventsOperator: republish stored events to Kafka so Flume files each one by its original time.

The operator resolves the templated arguments and the run's context (window, checkpoint and dead-letter
paths) and calls the core replay engine (:mod:`airflow_flume_provider.replay`, where the guarantees are
stated: at-least-once, checkpoints and resume, counted duplicates, nothing dropped uncounted).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_flume_provider.checkpoint import CheckpointStore, default_checkpoint_dir
from airflow_flume_provider.compat import storage_conn_id
from airflow_flume_provider.event_time import check_on_invalid
from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook
from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook
from airflow_flume_provider.publish_report import check_kafka_timestamp
from airflow_flume_provider.replay import ReplayRun, ReplaySpec, sink_from_flume_config, sink_from_template
from airflow_flume_provider.sources import BAD_INPUT_POLICIES, source_conn_ids
from airflow_flume_provider.timeutil import iso_ms, to_ms

try:
    from airflow.sdk import ObjectStoragePath
except ImportError:  # pragma: no cover - older SDKs kept it in airflow.io
    from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]

#: Operator arguments handed to the replay engine unchanged (same names in :class:`ReplaySpec`).
_ENGINE_ARGS = (
    "source",
    "topic",
    "event_time_field",
    "event_time_unit",
    "assume_tz",
    "on_invalid",
    "on_bad_input",
    "headers",
    "event_id_field",
    "event_id_header",
    "key_field",
    "rate_limit",
    "dry_run",
    "resume",
    "checkpoint_every",
    "avro_body",
    "avro_body_schema",
    "webhdfs_conn_id",
    "progress_interval_s",
)

#: The other operator arguments, kept as attributes of the same name.
_OPERATOR_ARGS = (
    "start",
    "end",
    "sink_path_template",
    "sink_time_zone",
    "sink_round",
    "sink_round_value",
    "sink_round_unit",
    "flume_config_path",
    "flume_agent",
    "flume_sink",
    "dead_letter_path",
    "checkpoint_dir",
    "kafka_conn_id",
    "source_kafka_conn_id",
    "delivery_timeout_s",
    "producer_config",
    "producer_factory",
    "kafka_timestamp",
)


class ReplayFlumeEventsOperator(BaseOperator):
    """Replay stored events (JSON Lines, Avro or Parquet files, or a Kafka topic) into a Flume topic, by event time.

    :param source: ``/path/*.jsonl.gz``, ``hdfs://nn/path/x.avro``, ``/data/*.parquet``, ``kafka://raw-topic``, a
        URI of another fsspec scheme (``file:///data/x.jsonl``, ``memory://...``, or an ``ObjectStoragePath``
        without a connection id), or a dict ``{"format": "jsonl"|"avro"|"parquet"|"kafka", "path"|"topic": ...,
        ...}`` (Parquet: optional ``"body_column"``) (expandable with ``.expand``).
    :param topic: the Kafka topic Flume's KafkaSource reads.
    :param start: window start (inclusive), default the run's data interval start; ISO string, datetime or ms.
    :param end: window end (exclusive), default the data interval end.
    :param event_time_field: dotted field with the event time, or "kafka" (the record timestamp; Kafka sources).
    :param event_time_unit: unit of numeric times ("auto", "s", "ms", "us", "ns").
    :param assume_tz: zone for offset-less times (else they are invalid).
    :param on_invalid: invalid event time: "fail", "skip" (dead letter) or "now".
    :param on_bad_input: unreadable input (invalid JSON/UTF-8, truncated gzip, bad Avro block): "fail" or "skip".
    :param headers: static envelope headers (e.g. ``{"replay": "true", "run": "{{ run_id }}"}``).
    :param event_id_field: field sent as header ``event_id_header`` for downstream dedup.
    :param key_field: field used as the Kafka record key (None: no key).
    :param rate_limit: max events per second.
    :param dry_run: read and validate, count per target partition, send nothing.
    :param sink_path_template: Flume ``hdfs.path`` (``%Y-%m-%d`` escapes), with ``sink_time_zone`` and rounding.
    :param flume_config_path: alternatively a Flume properties file with ``flume_agent``/``flume_sink``.
    :param dead_letter_path: JSON Lines file for skipped records (mapped tasks get ``.map<i>`` added).
    :param checkpoint_dir: where checkpoints live (default: beside the dead-letter file, else
        ``$AIRFLOW__FLUME_PROVIDER__CHECKPOINT_DIR`` or ``$AIRFLOW_HOME/flume_replay``).
    :param resume: resume from an existing checkpoint (default True).
    :param checkpoint_every: events between checkpoints (the bound on duplicates after a failure).
    :param avro_body: body of Avro records: "json" or "avro" (with ``avro_body_schema``).
    :param delivery_timeout_s: per-message delivery timeout (``message.timeout.ms``).
    :param producer_config: librdkafka overrides on top of the connection's extra.
    :param progress_interval_s: seconds between progress log lines.
    :param producer_factory: builds the Kafka producer from its config (see :class:`FlumeKafkaHook`).
    :param kafka_timestamp: Kafka record timestamp: "producer" (the produce time, batched sends) or "event".
    """

    template_fields: Sequence[str] = (
        "source",
        "topic",
        "start",
        "end",
        "headers",
        "event_time_field",
        "dead_letter_path",
        "checkpoint_dir",
        "sink_path_template",
        "flume_config_path",
        "kafka_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"headers": "json", "source": "json"}
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        source: str | dict[str, Any] | ObjectStoragePath,
        topic: str,
        start: Any = None,
        end: Any = None,
        event_time_field: str = "timestamp",
        event_time_unit: str = "auto",
        assume_tz: str | None = None,
        on_invalid: str = "fail",
        on_bad_input: str = "fail",
        headers: dict[str, str] | None = None,
        event_id_field: str | None = None,
        event_id_header: str = "eventId",
        key_field: str | None = None,
        rate_limit: float | None = None,
        dry_run: bool = False,
        sink_path_template: str | None = None,
        sink_time_zone: str = "UTC",
        sink_round: bool = False,
        sink_round_value: int = 1,
        sink_round_unit: str = "second",
        flume_config_path: str | None = None,
        flume_agent: str | None = None,
        flume_sink: str | None = None,
        dead_letter_path: str | None = None,
        checkpoint_dir: str | None = None,
        resume: bool = True,
        checkpoint_every: int = 100_000,
        avro_body: str = "json",
        avro_body_schema: dict[str, Any] | None = None,
        kafka_conn_id: str = "kafka_default",
        source_kafka_conn_id: str | None = None,
        webhdfs_conn_id: str = "webhdfs_default",
        delivery_timeout_s: float | None = None,
        producer_config: dict[str, Any] | None = None,
        progress_interval_s: float = 5.0,
        producer_factory: Callable[[dict[str, Any]], Any] | None = None,
        kafka_timestamp: str = "producer",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_on_invalid(on_invalid)
        check_kafka_timestamp(kafka_timestamp)
        if on_bad_input not in BAD_INPUT_POLICIES:
            raise ValueError(f"on_bad_input must be one of {BAD_INPUT_POLICIES} (got {on_bad_input!r})")
        if sink_path_template and flume_config_path:
            raise ValueError("give sink_path_template or flume_config_path, not both")
        if flume_config_path and not (flume_agent and flume_sink):
            raise ValueError("flume_config_path needs flume_agent and flume_sink")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1 (got {checkpoint_every})")
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError(f"rate_limit must be > 0 events/s (got {rate_limit})")
        if avro_body not in ("json", "avro"):
            raise ValueError(f"avro_body must be 'json' or 'avro' (got {avro_body!r})")
        args = {**locals(), "source": source_uri(source)}
        for name in (*_ENGINE_ARGS, *_OPERATOR_ARGS):
            setattr(self, name, args[name])

    # -- resolution of parameters -----------------------------------------------------------------------------
    def window_ms(self, context: Mapping[str, Any]) -> tuple[int, int]:
        """``[start, end)`` in epoch ms from the parameters or the run's data interval."""
        start = self.start if self.start not in (None, "") else context.get("data_interval_start")
        end = self.end if self.end not in (None, "") else context.get("data_interval_end")
        if start is None or end is None:
            raise ValueError("no replay window: set start and end (the run has no data interval)")
        start_ms, end_ms = to_ms(start, "start"), to_ms(end, "end")
        if start_ms >= end_ms:
            raise ValueError(f"empty replay window: start {iso_ms(start_ms)} is not before end {iso_ms(end_ms)}")
        return start_ms, end_ms

    def sink(self) -> tuple[Any, dict[str, Any] | None]:
        """The core ``PathTemplate`` of the Flume sink (or None) and its description for the manifest."""
        if self.flume_config_path:
            return sink_from_flume_config(self.flume_config_path, self.flume_agent, self.flume_sink)  # type: ignore[arg-type]
        if not self.sink_path_template:
            return None, None
        return sink_from_template(
            self.sink_path_template,
            time_zone=self.sink_time_zone,
            round=self.sink_round,
            round_value=self.sink_round_value,
            round_unit=self.sink_round_unit,
        )

    def _paths(self, context: Mapping[str, Any]) -> tuple[CheckpointStore, Path]:
        ti = context.get("ti") or context.get("task_instance")
        dag_id = getattr(ti, "dag_id", None) or self.dag_id
        run_id = context.get("run_id") or getattr(ti, "run_id", "manual")
        map_index = getattr(ti, "map_index", -1)
        map_index = map_index if isinstance(map_index, int) else -1
        dead = Path(self.dead_letter_path) if self.dead_letter_path else None
        if dead is not None and map_index >= 0:
            dead = dead.with_name(f"{dead.stem}.map{map_index}{dead.suffix}")
        base = Path(self.checkpoint_dir) if self.checkpoint_dir else (dead.parent if dead else None)
        store = CheckpointStore(
            base or default_checkpoint_dir(),
            dag_id=dag_id,
            task_id=self.task_id,
            run_id=run_id,
            map_index=map_index,
        )
        if dead is None:
            dead = store.dir / f"map_{map_index}.deadletter.jsonl"
        return store, dead

    # -- execution ---------------------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        """Replay the source; return the manifest (also to XCom)."""
        window = self.window_ms(context)
        template, sink_info = self.sink()
        store, dead_path = self._paths(context)
        webhdfs_id, kafka_id = source_conn_ids(
            self.source,
            webhdfs_conn_id=self.webhdfs_conn_id,
            kafka_conn_id=self.source_kafka_conn_id or self.kafka_conn_id,
        )
        spec = ReplaySpec(
            **{name: getattr(self, name) for name in _ENGINE_ARGS},
            window_ms=window,
            store=store,
            dead_letter_path=dead_path,
            sink_template=template,
            sink_info=sink_info,
            source_kafka_conn_id=kafka_id,
            hdfs_client=FlumeHdfsHook(webhdfs_id).get_client,  # factories: called only when needed
            kafka_base_config=FlumeKafkaHook(kafka_id).get_client_config,
        )
        hook = FlumeKafkaHook(
            self.kafka_conn_id,
            producer_config=self.producer_config,
            delivery_timeout_s=self.delivery_timeout_s,
            producer_factory=self.producer_factory,
        )
        return ReplayRun(spec, functools.partial(hook.publish, kafka_timestamp=self.kafka_timestamp)).run()


def source_uri(source: Any) -> Any:
    """The replay's source as the core reads it: an ``ObjectStoragePath`` becomes its URI string (``file://...``).

    The core opens such URIs with fsspec's own filesystem for the scheme, so a path bound to an Airflow connection
    (``s3://aws_default@bucket/...``) is refused here rather than read with other credentials.
    """
    if not isinstance(source, ObjectStoragePath):
        return source
    conn_id = storage_conn_id(source)  # Airflow 3.0 has no .conn_id
    if conn_id:
        raise ValueError(
            f"source: ObjectStoragePath {str(source)!r} is bound to connection {conn_id!r}; the replay reads "
            "object storage with fsspec's own credentials only: pass a path without a connection id"
        )
    return str(source)
