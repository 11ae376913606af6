"""FlumeKafkaHook: publish Flume ``AvroFlumeEvent`` envelopes to Kafka, filed by their own event time.

The hook owns the ``kafka`` connection and the producer; the work is done by the core publishing engine
(:mod:`airflow_flume_provider.publishing`). Every event is wrapped in the envelope Flume 1.11's KafkaSource
(``useFlumeEventFormat=true``) decodes, with the ``timestamp`` header set to the event's own time in epoch
milliseconds. The Kafka record timestamp is the produce time (Flume files by the header, and an old record
timestamp lets a ``CreateTime`` topic's retention delete a replay at once), so messages go out in batches
(``Producer.produce_batch``); ``kafka_timestamp="event"`` sets it to the event time instead, one ``produce()``
per message. Delivery is never assumed: the producer runs with ``acks=all`` and idempotence, every message is
accounted for (acknowledged, failed or dead-lettered), and :class:`FlumePublishError` is raised if anything
was not acknowledged.

Connection: the ``kafka`` connection type of apache-airflow-providers-apache-kafka. The hook builds on that
provider's ``KafkaBaseHook``, so the connection behaves exactly as users know it: the extra JSON is the
librdkafka config (``bootstrap.servers`` required), callbacks given as dotted paths are resolved only when
in ``[apache_kafka] callback_allowlist``, and Google Managed Kafka / Amazon MSK IAM get their ``oauth_cb``.

**Why this provider does not declare the ``kafka`` connection type** (checked in Airflow 3.3.2,
``ProvidersManager._discover_hooks_from_connection_types``): providers are visited in sorted package-name
order and the *first* provider declaring a connection type keeps it; a later one only produces the warning
"The connection_type 'kafka' has been already registered by provider ...". ``airflow-flume-provider`` sorts
before ``apache-airflow-providers-apache-kafka``, so declaring ``kafka`` here would silently take the
connection form and "Test connection" away from the Kafka provider for every user who has both installed.
The hook is therefore listed under ``hooks`` only and reuses the Kafka provider's connection type as is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

from airflow_flume_provider import kafka_config, topic_checks
from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.kafka_config import DEFAULT_PRODUCER_CONFIG, redact_config
from airflow_flume_provider.publish_report import (
    FlumePublishError,
    InvalidRecordError,
    PublishProgress,
    PublishReport,
    PublishSpec,
)
from airflow_flume_provider.publishing import Publisher

__all__ = [
    "DEFAULT_PRODUCER_CONFIG",
    "FlumeKafkaHook",
    "FlumePublishError",
    "InvalidRecordError",
    "PublishProgress",
    "PublishReport",
    "redact_config",
]

_SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(PublishSpec))


class FlumeKafkaHook(KafkaBaseHook):
    """Publish records to Kafka as Flume ``AvroFlumeEvent`` envelopes carrying their event time.

    :param kafka_conn_id: Airflow connection of type ``kafka``; its extra JSON is the librdkafka config.
    :param producer_config: overrides applied on top of the defaults and the connection's extra.
    :param delivery_timeout_s: sets ``message.timeout.ms``: a message not acknowledged within it fails.
    :param producer_factory: builds the producer from the final config (tests; default confluent_kafka).
    :param offsets_reader: ``topic -> {topic: {partition: log-end offset}}``, read after the final flush into
        ``report.kafka_offsets`` (the ``consumed`` check's targets). Default: the topic's log-end offsets through
        an AdminClient on the same connection; with a ``producer_factory`` and no reader, none are recorded.
    """

    conn_name_attr = "kafka_conn_id"
    default_conn_name = "kafka_default"
    conn_type = "kafka"
    hook_name = "Flume over Kafka"

    def __init__(
        self,
        kafka_conn_id: str = default_conn_name,
        *,
        producer_config: Mapping[str, Any] | None = None,
        delivery_timeout_s: float | None = None,
        producer_factory: Callable[[dict[str, Any]], Any] | None = None,
        offsets_reader: Callable[[str], dict[str, dict[str, int]]] | None = None,
    ) -> None:
        super().__init__(kafka_config_id=kafka_conn_id)
        self.kafka_conn_id = kafka_conn_id
        self.producer_config = dict(producer_config or {})
        self.delivery_timeout_s = delivery_timeout_s
        self._producer_factory = producer_factory
        if offsets_reader is None and producer_factory is None:
            offsets_reader = self.read_log_end_offsets
        self._offsets_reader = offsets_reader

    def __repr__(self) -> str:
        return f"FlumeKafkaHook(kafka_conn_id={self.kafka_conn_id!r})"

    # -- configuration and client ------------------------------------------------------------------------
    def get_client_config(self) -> dict[str, Any]:
        """The connection's librdkafka config, validated, with the Kafka provider's callbacks resolved.

        Base of every client: ``kafka_config.consumer_config(hook.get_client_config(), ...)`` etc.
        """
        try:
            extra = self.get_connection(self.kafka_conn_id).extra_dejson
        except Exception as exc:  # extra is user input; never echo it
            raise ValueError(f"Connection {self.kafka_conn_id!r}: extra is not valid JSON") from exc
        if not isinstance(extra, dict):
            raise ValueError(f"Connection {self.kafka_conn_id!r}: extra must be a JSON object")
        kafka_config.require_bootstrap(extra, self.kafka_conn_id)
        return self._build_config()  # KafkaBaseHook: allowlisted callbacks, managed-Kafka oauth_cb

    def get_producer_config(self) -> dict[str, Any]:
        """Defaults, then the connection's extra, then ``producer_config``; validated, never logged raw."""
        return kafka_config.producer_config(
            self.get_client_config(),
            self.producer_config,
            delivery_timeout_s=self.delivery_timeout_s,
            name=self.kafka_conn_id,
        )

    def get_conn(self) -> Any:  # type: ignore[override]  # KafkaBaseHook's is an AdminClient property
        """A new producer built from :meth:`get_producer_config`."""
        return self._make_producer(self.get_producer_config())

    def _make_producer(self, config: dict[str, Any]) -> Any:
        if self._producer_factory is not None:
            return self._producer_factory(config)
        return kafka_config.make_producer(config, name=self.kafka_conn_id)

    def read_log_end_offsets(self, topic: str) -> dict[str, dict[str, int]]:
        """Log-end offsets of every partition of ``topic``, as ``{topic: {partition: offset}}``."""
        from airflow_flume_provider import kafka_offsets
        from airflow_flume_provider.consumed import offsets_to_json

        admin = kafka_offsets.open_admin(self.get_client_config(), name=self.kafka_conn_id)
        return offsets_to_json(kafka_offsets.log_end_offsets(admin, kafka_offsets.topic_partitions(admin, [topic])))

    def _record_offsets(self, report: PublishReport) -> None:
        """Fill ``report.kafka_offsets`` after the final flush; a failed read is a warning, never silent."""
        if self._offsets_reader is None:
            return
        try:
            report.kafka_offsets = self._offsets_reader(report.topic)
        except Exception as exc:  # the publish succeeded; only the consumed check's targets are missing
            reason = kafka_config.scrub(str(exc), self.get_client_config())
            warning = (
                f"log-end offsets of topic {report.topic!r} could not be read after the final flush "
                f"({reason}): a `consumed` check cannot take its targets from this report"
            )
            report.warnings.append(warning)
            self.log.warning("%s", warning)

    def _preflight(self, producer: Any, config: dict[str, Any], spec: PublishSpec, report: PublishReport) -> None:
        """Broker and topic checks; the retention warning only when record timestamps are event times."""
        topic_checks.preflight(producer, spec.topic, config, report, self.kafka_conn_id)
        if spec.kafka_timestamp == "event":  # a record stamped with an old event time can fall to retention
            warning = topic_checks.retention_warning(spec.topic, config, spec.start_ms, self.kafka_conn_id)
            if warning:
                report.warnings.append(warning)

    def test_connection(self) -> tuple[bool, str]:
        """Check that the broker answers a metadata request."""
        try:
            meta = self.get_conn().list_topics(timeout=10)
            return True, f"Connected; {len(meta.brokers)} broker(s), {len(meta.topics)} topic(s)"
        except Exception as exc:  # reported to the UI
            return False, kafka_config.scrub(str(exc), {})

    # -- publishing ----------------------------------------------------------------------------------------
    def publish(
        self,
        records: Iterable[Any],
        *,
        topic: str,
        event_time: str | Callable[[Any], Any] | None,
        event_time_unit: str = "auto",
        on_invalid: str = "fail",
        assume_tz: str | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | Callable[[Any], Any] | None = None,
        event_id: str | Callable[[Any], Any] | None = None,
        event_id_header: str = "eventId",
        path_template: Any = None,
        window_ms: tuple[int | None, int | None] | None = None,
        dead_letter: DeadLetterWriter | str | Path | None = None,
        dry_run: bool = False,
        rate_limit: float | None = None,
        flush_timeout_s: float | None = None,
        checkpoint: Callable[[PublishProgress], None] | None = None,
        checkpoint_every: int = 100_000,
        progress: Callable[[PublishProgress], None] | None = None,
        progress_interval_s: float = 5.0,
        preflight: bool = True,
        report: PublishReport | None = None,
        kafka_timestamp: str = "producer",
    ) -> PublishReport:
        """Wrap each record in a Flume envelope and produce it; return when every message is accounted for.

        :param records: dicts (body = compact JSON), ``bytes``/``str`` (body as is; parsed as JSON only when
            a field is needed), ``SourceRecord`` (body kept byte for byte), or ``(key, record)`` tuples.
        :param event_time: dotted field path, callable(record) -> value, or None/"kafka" for the Kafka
            record timestamp of source records (see core ``event_time.EventTimeResolver``).
        :param on_invalid: "fail" (raise naming the record), "skip" (dead-letter, counted) or "now".
        :param headers: static envelope headers (``timestamp`` is reserved).
        :param key: field/callable giving the Kafka record key; :param event_id: field/callable sent in
            header ``event_id_header`` (downstream dedup).
        :param path_template: Flume ``hdfs.path`` (str or core ``PathTemplate``) for per-partition counts.
        :param window_ms: ``[start, end)`` event-time window in epoch ms; events outside are counted, skipped.
        :param dead_letter: where skipped records go (a path or writer); required for ``on_invalid="skip"``.
        :param dry_run: validate and count per partition, produce nothing; :param rate_limit: events/s.
        :param flush_timeout_s: final wait for acknowledgements (default: delivery timeout + 10 s).
        :param checkpoint: called every ``checkpoint_every`` events once all of them are acknowledged;
            :param progress: called every ``progress_interval_s`` seconds.
        :param preflight: check that the topic exists (fails fast when the broker is unreachable).
        :param report: a report to fill in (readable by the caller even when this raises).
        :param kafka_timestamp: the Kafka record timestamp: "producer" (the produce time; sent with
            ``produce_batch``) or "event" (the event time, for time-indexed offsets; one ``produce()`` per
            message, and a warning when the topic's ``CreateTime`` retention could delete the window's events).
        :raises FlumePublishError: anything produced was not acknowledged (``.report`` holds the counts).
        :raises InvalidRecordError: a record was invalid with ``on_invalid="fail"``.
        """
        args = locals()
        publisher = Publisher(PublishSpec(**{name: args[name] for name in _SPEC_FIELDS}))
        if dry_run:
            return publisher.run(records, None)
        config = self.get_producer_config()
        producer = self._make_producer(publisher.producer_config(config))
        if preflight:
            self._preflight(producer, config, publisher.spec, publisher.report)
        result = publisher.run(records, producer, timeout_ms=kafka_config.delivery_timeout_ms(config))
        self._record_offsets(result)
        return result
