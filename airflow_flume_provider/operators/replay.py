"""ReplayFlumeEventsOperator: republish stored events to Kafka so Flume files each one by its original time.

Guarantees (precisely):

* **At-least-once.** The task succeeds only when every event it produced was acknowledged by Kafka
  (``acks=all``, idempotent producer); otherwise it fails with the counts.
* **Checkpoints.** Every ``checkpoint_every`` produced events the producer is flushed; once *all* of them are
  acknowledged, the position of the last one per source unit (file byte offset / Avro block, or Kafka
  partition offset) and the cumulative counts are saved atomically (keyed by dag/task/run/map index).
  A retry resumes after that position.
* **Duplicates** come only from the in-flight window of a failed attempt: events acknowledged after its last
  checkpoint (at most ``checkpoint_every`` per failure) are sent again by the retry. They are counted per
  partition in the manifest's ``duplicates`` (exactly, from the delivery reports), so a partition finally holds
  ``partitions[p] + duplicates[p]`` events. Messages whose delivery timed out (``totals.in_doubt``) may or
  may not have been written by the broker; they are resent, so each may add one more copy.
* **Nothing is dropped uncounted**: out-of-window events, invalid event times, bad input lines/blocks and
  dead-lettered records are all in ``totals``; skipped records are in the dead-letter file with the reason.
* A completed run keeps its checkpoint: running the same dag/task/run/map index again returns the stored
  manifest without sending anything (``resume=False`` forces a new replay).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook, PublishProgress, PublishReport
from airflow_flume_provider.manifest import MANIFEST_VERSION, TOTAL_KEYS, add_counts, empty_totals
from airflow_flume_provider.sources import (
    BAD_INPUT_POLICIES,
    AvroFileSource,
    DeadLetterWriter,
    JsonLinesSource,
    SourceRecord,
    open_source,
)

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
CHECKPOINT_DIR_ENV = "AIRFLOW__FLUME_PROVIDER__CHECKPOINT_DIR"


def default_checkpoint_dir() -> Path:
    """``$AIRFLOW__FLUME_PROVIDER__CHECKPOINT_DIR``, else ``$AIRFLOW_HOME/flume_replay``."""
    configured = os.environ.get(CHECKPOINT_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow")) / "flume_replay"


def _safe(part: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", str(part)) or "_"


class CheckpointStore:
    """One JSON checkpoint file per dag/task/run/map index, written atomically."""

    def __init__(
        self, directory: str | Path, *, dag_id: str, task_id: str, run_id: str, map_index: int
    ) -> None:
        self.key = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index}
        self.dir = Path(directory) / _safe(dag_id) / _safe(task_id) / _safe(run_id)
        self.path = self.dir / f"map_{map_index}.checkpoint.json"

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None."""
        if not self.path.exists():
            return None
        try:
            state = json.loads(self.path.read_text())
        except ValueError as exc:
            raise ValueError(
                f"checkpoint {self.path} is unreadable ({exc}); delete it to start over"
            ) from None
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint {self.path} has unsupported version {state.get('version')!r}")
        return state

    def save(self, state: Mapping[str, Any]) -> None:
        """Write atomically (temp file, fsync, rename)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump({**state, "version": CHECKPOINT_VERSION, "key": self.key}, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def to_ms(value: Any, what: str) -> int:
    """Epoch ms from an int (ms), datetime or ISO-8601 string (UTC when no offset); error names ``what``."""
    from airflow_flume_provider.event_time import InvalidEventTime, to_epoch_ms

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return to_epoch_ms(value, unit="ms", assume_tz="UTC")
    except (InvalidEventTime, ValueError, TypeError) as exc:
        raise ValueError(f"{what}: {exc}") from None


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")


class ReplayFlumeEventsOperator(BaseOperator):
    """Replay stored events (JSON Lines, Avro files or a Kafka topic) into a Flume topic, by event time.

    :param source: ``/path/*.jsonl.gz``, ``hdfs://nn/path/x.avro``, ``kafka://raw-topic`` or a dict
        ``{"format": "jsonl"|"avro"|"kafka", "path"|"topic": ..., ...}`` (expandable with ``.expand``).
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
        source: str | dict[str, Any],
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_invalid not in ("fail", "skip", "now"):
            raise ValueError(f"on_invalid must be 'fail', 'skip' or 'now' (got {on_invalid!r})")
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
        self.source = source
        self.topic = topic
        self.start = start
        self.end = end
        self.event_time_field = event_time_field
        self.event_time_unit = event_time_unit
        self.assume_tz = assume_tz
        self.on_invalid = on_invalid
        self.on_bad_input = on_bad_input
        self.headers = headers
        self.event_id_field = event_id_field
        self.event_id_header = event_id_header
        self.key_field = key_field
        self.rate_limit = rate_limit
        self.dry_run = dry_run
        self.sink_path_template = sink_path_template
        self.sink_time_zone = sink_time_zone
        self.sink_round = sink_round
        self.sink_round_value = sink_round_value
        self.sink_round_unit = sink_round_unit
        self.flume_config_path = flume_config_path
        self.flume_agent = flume_agent
        self.flume_sink = flume_sink
        self.dead_letter_path = dead_letter_path
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.checkpoint_every = checkpoint_every
        self.avro_body = avro_body
        self.avro_body_schema = avro_body_schema
        self.kafka_conn_id = kafka_conn_id
        self.source_kafka_conn_id = source_kafka_conn_id
        self.webhdfs_conn_id = webhdfs_conn_id
        self.delivery_timeout_s = delivery_timeout_s
        self.producer_config = producer_config
        self.progress_interval_s = progress_interval_s

    # -- resolution of parameters -----------------------------------------------------------------------------
    def window_ms(self, context: Mapping[str, Any]) -> tuple[int, int]:
        """``[start, end)`` in epoch ms from the parameters or the run's data interval."""
        start = self.start if self.start not in (None, "") else context.get("data_interval_start")
        end = self.end if self.end not in (None, "") else context.get("data_interval_end")
        if start is None or end is None:
            raise ValueError("no replay window: set start and end (the run has no data interval)")
        start_ms, end_ms = to_ms(start, "start"), to_ms(end, "end")
        if start_ms >= end_ms:
            raise ValueError(f"empty replay window: start {_iso(start_ms)} is not before end {_iso(end_ms)}")
        return start_ms, end_ms

    def sink(self) -> tuple[Any, dict[str, Any] | None]:
        """The core ``PathTemplate`` of the Flume sink (or None) and its description for the manifest."""
        if self.flume_config_path:
            from airflow_flume_provider.flume_config import lint, load_flume_config

            settings = load_flume_config(self.flume_config_path).hdfs_sink(self.flume_agent, self.flume_sink)
            for finding in lint(settings):
                log.warning("Flume sink %s: [%s] %s", settings.sink, finding.code, finding.message)
            template = settings.path_template_obj()
            return template, {
                "path_template": settings.path_template,
                "namenode": settings.namenode,
                "time_zone": settings.time_zone or "UTC",
                "round": settings.round,
                "round_value": settings.round_value,
                "round_unit": settings.round_unit,
                "flume_config": str(self.flume_config_path),
                "agent": settings.agent,
                "sink": settings.sink,
            }
        if not self.sink_path_template:
            return None, None
        from airflow_flume_provider.bucketpath import PathTemplate
        from airflow_flume_provider.hdfs_uri import split_hdfs_uri

        namenode, path = split_hdfs_uri(self.sink_path_template)
        template = PathTemplate(
            path,
            time_zone=self.sink_time_zone,
            need_rounding=self.sink_round,
            round_unit=self.sink_round_unit,
            round_value=self.sink_round_value,
        )
        return template, {
            "path_template": path,
            "namenode": namenode,
            "time_zone": self.sink_time_zone,
            "round": self.sink_round,
            "round_value": self.sink_round_value,
            "round_unit": self.sink_round_unit,
        }

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
        started = time.time()
        start_ms, end_ms = self.window_ms(context)
        template, sink_info = self.sink()
        store, dead_path = self._paths(context)
        identity = {
            "source": self.source,
            "topic": self.topic,
            "window": [start_ms, end_ms],
            "sink": sink_info,
        }
        state = store.load() if (self.resume and not self.dry_run) else None
        if state is not None:
            if state.get("identity") != json.loads(json.dumps(identity)):
                raise ValueError(
                    f"checkpoint {store.path} was written for {state.get('identity')}, not {identity}; "
                    "delete it or set resume=False"
                )
            if state.get("complete"):
                self.log.info("Replay already completed (checkpoint %s); nothing sent again", store.path)
                return state["manifest"]
            self.log.info(
                "Resuming from checkpoint %s (attempt %d)", store.path, state.get("attempts", 1) + 1
            )
        state = state or {
            "identity": identity,
            "resume": {"units": {}, "done": []},
            "base": {"totals": empty_totals(), "partitions": {}},
            "duplicates": {},
            "dead_letter_bytes": 0,
            "attempts": 0,
            "started_at": started,
        }
        state["attempts"] = int(state.get("attempts", 0)) + 1
        dead = DeadLetterWriter(dead_path)
        dead.truncate(int(state.get("dead_letter_bytes", 0)))
        reader = open_source(
            self.source,
            window_ms=(start_ms, end_ms),
            on_bad_input=self.on_bad_input,
            dead_letter=dead,
            resume=state["resume"],
            webhdfs_conn_id=self.webhdfs_conn_id,
            kafka_conn_id=self.source_kafka_conn_id or self.kafka_conn_id,
            avro_body=self.avro_body,
            avro_body_schema=self.avro_body_schema,
        )
        units: dict[str, Any] = dict(state["resume"]["units"])
        # File readers go through their units one after another, so at a checkpoint the last record handed
        # over holds the only position that moved; Kafka partitions interleave and are tracked per record.
        sequential = isinstance(reader, (JsonLinesSource, AvroFileSource))

        def tracked() -> Iterator[SourceRecord]:
            for rec in reader:
                units[rec.unit] = rec.token
                yield rec

        base_totals: dict[str, int] = dict(state["base"]["totals"])
        base_partitions: dict[str, int] = dict(state["base"]["partitions"])
        bad_at_start = 0
        last_cp: dict[str, Any] = {"partitions": {}}

        def cumulative(report: PublishReport) -> tuple[dict[str, int], dict[str, int]]:
            now = _attempt_totals(report, reader.bad_input - bad_at_start, self.dry_run)
            totals = {k: base_totals.get(k, 0) + now.get(k, 0) for k in TOTAL_KEYS}
            totals["duplicates"] = sum(state["duplicates"].values())
            return totals, add_counts(base_partitions, report.partitions)

        def on_checkpoint(progress: PublishProgress) -> None:
            last = progress.last_record
            if sequential and isinstance(last, SourceRecord):
                units[last.unit] = last.token
            totals, partitions = cumulative(progress.report)
            state["resume"] = {"units": dict(units), "done": list(reader.completed_units)}
            state["base_at_checkpoint"] = {"totals": totals, "partitions": partitions}
            state["dead_letter_bytes"] = dead.size()
            last_cp["partitions"] = dict(progress.report.partitions)
            store.save({**state, "base": state["base_at_checkpoint"]})

        def on_progress(progress: PublishProgress) -> None:
            frac = reader.fraction_done()
            self.log.info(
                "replay %s -> %s: %d events done (%.0f events/s), %s of input, %d dead-lettered, %d out of window",
                _describe_source(self.source),
                self.topic,
                progress.report.produced,
                progress.report.produced / progress.elapsed_s if progress.elapsed_s else 0.0,
                f"{frac:.1%}" if frac is not None else "?",
                progress.report.dead_lettered + reader.bad_input,
                progress.report.out_of_window,
            )

        hook = FlumeKafkaHook(
            self.kafka_conn_id,
            producer_config=self.producer_config,
            delivery_timeout_s=self.delivery_timeout_s,
        )
        try:
            report = hook.publish(
                reader if sequential else tracked(),
                topic=self.topic,
                event_time=None if self.event_time_field == "kafka" else self.event_time_field,
                event_time_unit=self.event_time_unit,
                on_invalid=self.on_invalid,
                assume_tz=self.assume_tz,
                headers=self.headers,
                key=self.key_field,
                event_id=self.event_id_field,
                event_id_header=self.event_id_header,
                path_template=template,
                window_ms=(start_ms, end_ms),
                dead_letter=dead,
                dry_run=self.dry_run,
                rate_limit=self.rate_limit,
                checkpoint=None if self.dry_run else on_checkpoint,
                checkpoint_every=self.checkpoint_every,
                progress=on_progress,
                progress_interval_s=self.progress_interval_s,
            )
        except BaseException as exc:
            failed_report = getattr(exc, "publish_report", None) or getattr(exc, "report", None)
            if failed_report is not None and not self.dry_run:
                # Events acknowledged after the last checkpoint will be sent again by the retry.
                resent = {
                    p: n - last_cp["partitions"].get(p, 0)
                    for p, n in failed_report.partitions.items()
                    if n > last_cp["partitions"].get(p, 0)
                }
                saved = store.load() or {**state, "base": state["base"]}
                saved["duplicates"] = add_counts(saved.get("duplicates", {}), resent)
                saved["attempts"] = state["attempts"]
                saved["identity"] = identity
                saved.setdefault("started_at", state["started_at"])
                store.save(saved)
                self.log.error(
                    "Replay failed after %d acknowledged events in this attempt; %d of them (after the last "
                    "checkpoint) will be resent by a retry; checkpoint %s",
                    failed_report.acknowledged,
                    sum(resent.values()),
                    store.path,
                )
            dead.close()
            raise
        dead.close()
        totals, partitions = cumulative(report)
        finished = time.time()
        seconds = finished - started
        manifest = {
            "version": MANIFEST_VERSION,
            "topic": self.topic,
            "dry_run": self.dry_run,
            "sources": [_describe_source(self.source)],
            "window": {"start_ms": start_ms, "end_ms": end_ms, "start": _iso(start_ms), "end": _iso(end_ms)},
            "sink": sink_info,
            "partitions": partitions,
            "duplicates": dict(state["duplicates"]),
            "totals": totals,
            "timings": {
                "started_at": round(float(state.get("started_at", started)), 3),
                "finished_at": round(finished, 3),
                "seconds": round(seconds, 3),
                "events_per_s": round(report.produced / seconds, 1) if seconds > 0 else 0.0,
            },
            "attempts": state["attempts"],
            "parts": 1,
            "dead_letter": str(dead_path) if dead.count or dead_path.exists() else None,
            "checkpoint": None if self.dry_run else str(store.path),
        }
        if not self.dry_run:
            store.save(
                {
                    **state,
                    "base": {"totals": totals, "partitions": partitions},
                    "complete": True,
                    "manifest": manifest,
                }
            )
        self.log.info(
            "Replay done: %d acknowledged in %d partition(s), %d dead-lettered, %d out of window, %.0f events/s",
            totals["acknowledged"],
            len(partitions),
            totals["dead_lettered"],
            totals["out_of_window"],
            manifest["timings"]["events_per_s"],
        )
        return manifest


def _attempt_totals(report: PublishReport, bad_input: int, dry_run: bool) -> dict[str, int]:
    return {
        "read": report.read + bad_input,
        "acknowledged": 0 if dry_run else report.acknowledged,
        "failed": report.failed,
        "in_doubt": report.in_doubt,
        "dead_lettered": report.dead_lettered + bad_input,
        "bad_input": bad_input,
        "invalid_time_skipped": report.invalid_time_skipped,
        "time_set_to_now": report.time_set_to_now,
        "out_of_window": report.out_of_window,
    }


def _describe_source(source: Any) -> str:
    if isinstance(source, str):
        return source
    return str(source.get("path") or source.get("topic") or source)
