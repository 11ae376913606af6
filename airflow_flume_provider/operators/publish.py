"""PublishFlumeEventsOperator: publish events from a producer function or XCom as Flume envelopes."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_flume_provider.event_time import check_on_invalid
from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook
from airflow_flume_provider.publish_report import check_kafka_timestamp


def _import_callable(path: str) -> Callable[..., Any]:
    """Import ``pkg.module.func`` (error names the path)."""
    module, _, name = path.rpartition(".")
    if not module:
        raise ValueError(f"producer_function {path!r} is not a dotted path 'module.function'")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import producer_function {path!r}: {exc}") from None
    if not callable(fn):
        raise ValueError(f"producer_function {path!r} is not callable")
    return fn


class PublishFlumeEventsOperator(BaseOperator):
    """Publish records to a Flume topic, each filed by its own event time; returns the report to XCom.

    Records come from ``producer_function`` (a callable or dotted path called with ``producer_function_args``
    and ``producer_function_kwargs``, returning/yielding records) or from ``records`` (a list, an XComArg
    such as ``other_task.output``, or a JSON string from a template). Records may be dicts (body = compact
    JSON), ``bytes``/``str`` bodies, or ``(key, record)`` tuples like the Kafka provider's producer functions.
    The task fails if any message is not acknowledged (see :class:`FlumeKafkaHook`).

    :param topic: Kafka topic read by Flume's KafkaSource.
    :param event_time_field: dotted field (or callable) holding the event time.
    :param on_invalid: invalid event time: "fail", "skip" (needs ``dead_letter_path``) or "now".
    :param headers: static envelope headers; :param key_field: Kafka key field (None: no key).
    :param event_id_field: field sent as header ``event_id_header``.
    :param sink_path_template: Flume ``hdfs.path`` for per-partition counts in the report.
    :param producer_factory: builds the Kafka producer from its config (see :class:`FlumeKafkaHook`).
    :param kafka_timestamp: Kafka record timestamp: "producer" (the produce time, batched sends) or "event".
    """

    template_fields: Sequence[str] = (
        "topic",
        "records",
        "producer_function_args",
        "producer_function_kwargs",
        "event_time_field",
        "headers",
        "dead_letter_path",
        "sink_path_template",
        "kafka_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "headers": "json",
        "producer_function_kwargs": "json",
    }
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        topic: str,
        event_time_field: str | Callable[[Any], Any],
        producer_function: str | Callable[..., Iterable[Any]] | None = None,
        producer_function_args: Sequence[Any] | None = None,
        producer_function_kwargs: dict[str, Any] | None = None,
        records: Any = None,
        event_time_unit: str = "auto",
        assume_tz: str | None = None,
        on_invalid: str = "fail",
        headers: dict[str, str] | None = None,
        key_field: str | None = None,
        event_id_field: str | None = None,
        event_id_header: str = "eventId",
        sink_path_template: str | None = None,
        sink_time_zone: str = "UTC",
        dead_letter_path: str | None = None,
        kafka_conn_id: str = "kafka_default",
        delivery_timeout_s: float | None = None,
        producer_config: dict[str, Any] | None = None,
        producer_factory: Callable[[dict[str, Any]], Any] | None = None,
        kafka_timestamp: str = "producer",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_kafka_timestamp(kafka_timestamp)
        if (producer_function is None) == (records is None):
            raise ValueError("give exactly one of producer_function or records")
        if producer_function is not None and not (
            callable(producer_function) or isinstance(producer_function, str)
        ):
            raise TypeError("producer_function must be a callable or a dotted path string")
        check_on_invalid(on_invalid)
        if on_invalid == "skip" and not dead_letter_path:
            raise ValueError("on_invalid='skip' needs dead_letter_path (skipped records are kept there)")
        if headers is not None and not isinstance(headers, dict):
            raise TypeError("headers must be a dict of str to str")
        self.topic = topic
        self.event_time_field = event_time_field
        self.producer_function = producer_function
        self.producer_function_args = list(producer_function_args or [])
        self.producer_function_kwargs = dict(producer_function_kwargs or {})
        self.records = records
        self.event_time_unit = event_time_unit
        self.assume_tz = assume_tz
        self.on_invalid = on_invalid
        self.headers = headers
        self.key_field = key_field
        self.event_id_field = event_id_field
        self.event_id_header = event_id_header
        self.sink_path_template = sink_path_template
        self.sink_time_zone = sink_time_zone
        self.dead_letter_path = dead_letter_path
        self.kafka_conn_id = kafka_conn_id
        self.delivery_timeout_s = delivery_timeout_s
        self.producer_config = producer_config
        self.producer_factory = producer_factory
        self.kafka_timestamp = kafka_timestamp

    def _records(self) -> Iterable[Any]:
        if self.producer_function is not None:
            fn = (
                _import_callable(self.producer_function)
                if isinstance(self.producer_function, str)
                else self.producer_function
            )
            return fn(*self.producer_function_args, **self.producer_function_kwargs)
        records = self.records
        if isinstance(records, str):
            try:
                records = json.loads(records)
            except ValueError as exc:
                raise ValueError(f"records is a string but not a JSON list: {exc}") from None
        if isinstance(records, dict) or not isinstance(records, Iterable):
            raise TypeError(f"records must be a list of records (got {type(records).__name__})")
        return records

    def _template(self) -> Any:
        if not self.sink_path_template:
            return None
        from airflow_flume_provider.bucketpath import PathTemplate
        from airflow_flume_provider.hdfs_uri import split_hdfs_uri

        return PathTemplate(split_hdfs_uri(self.sink_path_template)[1], time_zone=self.sink_time_zone)

    def execute(self, context: Any) -> dict[str, Any]:
        """Publish and return the report (JSON-serialisable)."""
        hook = FlumeKafkaHook(
            self.kafka_conn_id,
            producer_config=self.producer_config,
            delivery_timeout_s=self.delivery_timeout_s,
            producer_factory=self.producer_factory,
        )
        report = hook.publish(
            self._records(),
            topic=self.topic,
            event_time=self.event_time_field,
            event_time_unit=self.event_time_unit,
            assume_tz=self.assume_tz,
            on_invalid=self.on_invalid,
            headers=self.headers,
            key=self.key_field,
            event_id=self.event_id_field,
            event_id_header=self.event_id_header,
            path_template=self._template(),
            dead_letter=self.dead_letter_path,
            kafka_timestamp=self.kafka_timestamp,
        )
        return report.to_dict()
