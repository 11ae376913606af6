"""The replay engine: source -> event-time window -> publish with checkpoints -> manifest.

Guarantees (precisely):

* **At-least-once.** A replay succeeds only when every event it produced was acknowledged by Kafka
  (``acks=all``, idempotent producer); otherwise it fails with the counts.
* **Checkpoints.** Every ``checkpoint_every`` produced events the producer is flushed; once *all* of them are
  acknowledged, the position of the last one per source unit (file byte offset / Avro block, or Kafka
  partition offset) and the cumulative counts are saved atomically (:mod:`~airflow_flume_provider.checkpoint`).
  A retry resumes after that position.
* **Duplicates** come only from the in-flight window of a failed attempt: events acknowledged after its last
  checkpoint (at most ``checkpoint_every`` per failure) are sent again by the retry. They are counted per
  partition in the manifest's ``duplicates`` (exactly, from the delivery reports), so a partition finally holds
  ``partitions[p] + duplicates[p]`` events. Messages whose delivery timed out (``totals.in_doubt``) may or
  may not have been written by the broker; they are resent, so each may add one more copy.
* **Nothing is dropped uncounted**: out-of-window events, invalid event times, bad input lines/blocks and
  dead-lettered records are all in ``totals``; skipped records are in the dead-letter file with the reason.
* A completed replay keeps its checkpoint: running it again returns the stored manifest without sending
  anything (``resume=False`` forces a new replay).

The engine does not know Kafka connections: it calls ``publish`` (``FlumeKafkaHook.publish``, which owns the
producer). Core module: no Airflow imports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_flume_provider.checkpoint import CheckpointStore, new_state, resumable_state
from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.manifest import TOTAL_KEYS, add_counts, build_manifest, describe_source
from airflow_flume_provider.publish_report import FlumePublishError, PublishProgress, PublishReport
from airflow_flume_provider.sources import FileReader, SourceRecord, open_source

__all__ = ["ReplayProgress", "ReplayRun", "ReplaySpec", "sink_from_flume_config", "sink_from_template"]

log = logging.getLogger(__name__)


@dataclass
class ReplaySpec:
    """One replay task: what to read, the window, where checkpoints and skipped records go, how to publish."""

    source: str | dict[str, Any]
    topic: str
    window_ms: tuple[int, int]
    store: CheckpointStore
    dead_letter_path: Path
    sink_template: Any = None
    sink_info: dict[str, Any] | None = None
    event_time_field: str = "timestamp"
    event_time_unit: str = "auto"
    assume_tz: str | None = None
    on_invalid: str = "fail"
    on_bad_input: str = "fail"
    headers: dict[str, str] | None = None
    event_id_field: str | None = None
    event_id_header: str = "eventId"
    key_field: str | None = None
    rate_limit: float | None = None
    dry_run: bool = False
    resume: bool = True
    checkpoint_every: int = 100_000
    avro_body: str = "json"
    avro_body_schema: dict[str, Any] | None = None
    webhdfs_conn_id: str = "webhdfs_default"
    source_kafka_conn_id: str = "kafka_default"
    progress_interval_s: float = 5.0
    #: HDFS client (or a factory of one) for ``hdfs://`` sources; see ``sources.open_source``.
    hdfs_client: Any = None
    #: the source Kafka connection's librdkafka config (or a factory of it) for ``kafka://`` sources.
    kafka_base_config: Any = None
    #: called every ``progress_interval_s`` with a :class:`ReplayProgress` instead of the progress log line
    #: (e.g. the CLI's progress bar); None: the engine logs the line.
    on_progress: Callable[[ReplayProgress], None] | None = None


@dataclass(frozen=True)
class ReplayProgress:
    """One progress snapshot of the current attempt, for a caller's display (counts of this attempt)."""

    read: int
    produced: int
    acknowledged: int
    dead_lettered: int
    out_of_window: int
    #: share of input bytes (Kafka sources: of offsets) read so far; None when unknown
    fraction_done: float | None
    elapsed_s: float


def sink_from_template(
    uri: str, *, time_zone: str = "UTC", round: bool = False, round_value: int = 1, round_unit: str = "second"
) -> tuple[Any, dict[str, Any]]:
    """The core ``PathTemplate`` of a Flume ``hdfs.path`` and its description for the manifest."""
    from airflow_flume_provider.bucketpath import PathTemplate
    from airflow_flume_provider.hdfs_uri import split_hdfs_uri

    namenode, path = split_hdfs_uri(uri)
    template = PathTemplate(
        path, time_zone=time_zone, need_rounding=round, round_unit=round_unit, round_value=round_value
    )
    info = {"path_template": path, "namenode": namenode, "time_zone": time_zone}
    return template, {**info, "round": round, "round_value": round_value, "round_unit": round_unit}


def sink_from_flume_config(config_path: str, agent: str, sink: str) -> tuple[Any, dict[str, Any]]:
    """The ``PathTemplate`` of an HDFS sink in a Flume properties file (lint findings logged), described."""
    from airflow_flume_provider.flume_config import lint, load_flume_config

    settings = load_flume_config(config_path).hdfs_sink(agent, sink)
    for finding in lint(settings):
        log.warning("Flume sink %s: [%s] %s", settings.sink, finding.code, finding.message)
    return settings.path_template_obj(), {
        "path_template": settings.path_template,
        "namenode": settings.namenode,
        "time_zone": settings.time_zone or "UTC",
        "round": settings.round,
        "round_value": settings.round_value,
        "round_unit": settings.round_unit,
        "flume_config": str(config_path),
        "agent": settings.agent,
        "sink": settings.sink,
    }


def attempt_totals(report: PublishReport, bad_input: int, dry_run: bool) -> dict[str, int]:
    """Manifest totals of one attempt (bad input lines/blocks count as read and dead-lettered)."""
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


class ReplayRun:
    """One attempt of a replay task; :meth:`run` returns the manifest.

    :param publish: ``FlumeKafkaHook.publish`` (or anything with its signature and semantics).
    """

    def __init__(self, spec: ReplaySpec, publish: Callable[..., PublishReport]) -> None:
        self.spec = spec
        self.publish = publish
        self.identity = {
            "source": spec.source,
            "topic": spec.topic,
            "window": list(spec.window_ms),
            "sink": spec.sink_info,
        }
        self.state: dict[str, Any] = {}
        self.units: dict[str, Any] = {}
        self.last_checkpoint_partitions: dict[str, int] = {}
        self.reader: Any = None
        self.dead: DeadLetterWriter | None = None

    def run(self) -> dict[str, Any]:
        """Replay (or resume) and return the manifest; a completed replay returns its stored manifest."""
        spec, started = self.spec, time.time()
        saved = resumable_state(spec.store, self.identity) if (spec.resume and not spec.dry_run) else None
        if saved is not None and saved.get("complete"):
            log.info("Replay already completed (checkpoint %s); nothing sent again", spec.store.path)
            return saved["manifest"]
        if saved is not None:
            log.info("Resuming from checkpoint %s (attempt %d)", spec.store.path, saved.get("attempts", 1) + 1)
        self.state = saved or new_state(self.identity, started)
        self.state["attempts"] = int(self.state.get("attempts", 0)) + 1
        self.dead = DeadLetterWriter(spec.dead_letter_path)
        self.dead.truncate(int(self.state.get("dead_letter_bytes", 0)))
        report = PublishReport(topic=spec.topic)
        try:
            self._publish(report)
        except BaseException as exc:
            if not spec.dry_run and (report.started_at or isinstance(exc, FlumePublishError)):
                self._record_failure(report)
            raise
        finally:
            self.dead.close()
        return self._complete(report, started)

    def _publish(self, report: PublishReport) -> None:
        """Open the source where the last checkpoint left it and publish it through ``self.publish``."""
        spec = self.spec
        self.reader = open_source(
            spec.source,
            window_ms=spec.window_ms,
            on_bad_input=spec.on_bad_input,
            dead_letter=self.dead,
            resume=self.state["resume"],
            webhdfs_conn_id=spec.webhdfs_conn_id,
            kafka_conn_id=spec.source_kafka_conn_id,
            avro_body=spec.avro_body,
            avro_body_schema=spec.avro_body_schema,
            hdfs_client=spec.hdfs_client,
            kafka_base_config=spec.kafka_base_config,
        )
        self.units = dict(self.state["resume"]["units"])
        self.publish(
            self.reader if self._sequential else self._tracked(),
            topic=spec.topic,
            event_time=None if spec.event_time_field == "kafka" else spec.event_time_field,
            event_time_unit=spec.event_time_unit,
            on_invalid=spec.on_invalid,
            assume_tz=spec.assume_tz,
            headers=spec.headers,
            key=spec.key_field,
            event_id=spec.event_id_field,
            event_id_header=spec.event_id_header,
            path_template=spec.sink_template,
            window_ms=spec.window_ms,
            dead_letter=self.dead,
            dry_run=spec.dry_run,
            rate_limit=spec.rate_limit,
            checkpoint=None if spec.dry_run else self._on_checkpoint,
            checkpoint_every=spec.checkpoint_every,
            progress=self._on_progress,
            progress_interval_s=spec.progress_interval_s,
            report=report,
        )

    @property
    def _sequential(self) -> bool:
        # File readers go through their units one after another, so at a checkpoint the last record handed
        # over holds the only position that moved; Kafka partitions interleave and are tracked per record.
        return isinstance(self.reader, FileReader)

    def _tracked(self) -> Iterator[SourceRecord]:
        units = self.units
        for rec in self.reader:
            units[rec.unit] = rec.token
            yield rec

    def _cumulative(self, report: PublishReport) -> tuple[dict[str, int], dict[str, int]]:
        """Totals and per-partition counts over all attempts so far."""
        base = self.state["base"]
        now = attempt_totals(report, self.reader.bad_input, self.spec.dry_run)
        totals = {k: base["totals"].get(k, 0) + now.get(k, 0) for k in TOTAL_KEYS}
        totals["duplicates"] = sum(self.state["duplicates"].values())
        return totals, add_counts(base["partitions"], report.partitions)

    def _on_checkpoint(self, progress: PublishProgress) -> None:
        last = progress.last_record
        if self._sequential and isinstance(last, SourceRecord):
            self.units[last.unit] = last.token
        totals, partitions = self._cumulative(progress.report)
        state = self.state
        state["resume"] = {"units": dict(self.units), "done": list(self.reader.completed_units)}
        state["base_at_checkpoint"] = {"totals": totals, "partitions": partitions}
        state["dead_letter_bytes"] = self.dead.size()  # type: ignore[union-attr]
        self.last_checkpoint_partitions = dict(progress.report.partitions)
        self.spec.store.save({**state, "base": state["base_at_checkpoint"]})

    def _on_progress(self, progress: PublishProgress) -> None:
        frac, report = self.reader.fraction_done(), progress.report
        if self.spec.on_progress is not None:
            self.spec.on_progress(
                ReplayProgress(
                    read=report.read + self.reader.bad_input,
                    produced=report.produced,
                    acknowledged=report.acknowledged,
                    dead_lettered=report.dead_lettered + self.reader.bad_input,
                    out_of_window=report.out_of_window,
                    fraction_done=frac,
                    elapsed_s=progress.elapsed_s,
                )
            )
            return
        log.info(
            "replay %s -> %s: %d events done (%.0f events/s), %s of input, %d dead-lettered, %d out of window",
            describe_source(self.spec.source),
            self.spec.topic,
            report.produced,
            report.produced / progress.elapsed_s if progress.elapsed_s else 0.0,
            f"{frac:.1%}" if frac is not None else "?",
            report.dead_lettered + self.reader.bad_input,
            report.out_of_window,
        )

    def _record_failure(self, report: PublishReport) -> None:
        """Count, per partition, the events acknowledged after the last checkpoint: a retry resends them."""
        done = self.last_checkpoint_partitions
        resent = {p: n - done.get(p, 0) for p, n in report.partitions.items() if n > done.get(p, 0)}
        self.spec.store.save_failure(self.state, resent, self.identity)
        log.error(
            "Replay failed after %d acknowledged events in this attempt; %d of them (after the last "
            "checkpoint) will be resent by a retry; checkpoint %s",
            report.acknowledged,
            sum(resent.values()),
            self.spec.store.path,
        )

    def _complete(self, report: PublishReport, started: float) -> dict[str, Any]:
        """Build the manifest, mark the checkpoint complete (real runs) and log the summary."""
        spec, state = self.spec, self.state
        totals, partitions = self._cumulative(report)
        dead_path = spec.dead_letter_path
        manifest = build_manifest(
            topic=spec.topic,
            dry_run=spec.dry_run,
            source=spec.source,
            window_ms=spec.window_ms,
            sink=spec.sink_info,
            counts=(totals, partitions, state["duplicates"]),
            timing=(float(state.get("started_at", started)), started, time.time(), report.produced),
            attempts=state["attempts"],
            dead_letter=str(dead_path) if self.dead.count or dead_path.exists() else None,  # type: ignore[union-attr]
            checkpoint=None if spec.dry_run else str(spec.store.path),
            kafka_offsets=report.kafka_offsets,
        )
        if not spec.dry_run:
            base = {"totals": totals, "partitions": partitions}
            spec.store.save({**state, "base": base, "complete": True, "manifest": manifest})
        log.info(
            "Replay done: %d acknowledged in %d partition(s), %d dead-lettered, %d out of window, %.0f events/s",
            totals["acknowledged"],
            len(partitions),
            totals["dead_lettered"],
            totals["out_of_window"],
            manifest["timings"]["events_per_s"],
        )
        return manifest
