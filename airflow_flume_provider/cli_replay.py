"""``airflow-flume replay``: the replay operator's engine from a shell, with a live progress bar.

Each SOURCE is one :class:`~airflow_flume_provider.replay.ReplayRun` (the engine of
``ReplayFlumeEventsOperator``: same window, envelopes, checkpoints, dead letters and manifest), run one after
another; a bar (a terminal) or plain lines (otherwise) show the progress on stderr
(:mod:`~airflow_flume_provider.cli_progress`). At the end the manifest table goes to stdout and, with
``--manifest``, the manifest JSON to a file (several sources: their merged manifest).

Exit codes, as the other commands: 0 every event read was acknowledged (dry run: would be sent) or was out of
the window; 1 done, but records were dead-lettered (``--on-invalid/--on-bad-input skip``: see the dead-letter
file); 2 a usage or input error (``file:line`` with the default ``fail`` policies), an unreachable Kafka or
WebHDFS, or a publish that Kafka did not fully acknowledge (with ``--resume DIR``, run the same command again to
continue after the last checkpoint). Connections: ``--kafka-bootstrap`` or the Airflow connection
``--kafka-conn`` (also for ``kafka://`` sources), ``--webhdfs`` or ``--conn-id`` for ``hdfs://`` sources; the
Airflow hooks are reached through :mod:`airflow_flume_provider.cli`, so no Airflow import here.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from airflow_flume_provider.cli_args import UsageError, _add_template_args, header_pairs
from airflow_flume_provider.cli_progress import PROGRESS_MODES, final_progress, open_progress

if (
    TYPE_CHECKING
):  # the engine (and every source reader) is imported when a replay runs, not for every command
    from airflow_flume_provider.checkpoint import CheckpointStore
    from airflow_flume_provider.publish_report import PublishReport
    from airflow_flume_provider.replay import ReplaySpec

EXIT_OK, EXIT_NEGATIVE, EXIT_BROKEN = 0, 1, 2
#: the unbounded window when --start/--end are not given: 0001-01-01 to 9999-12-31 (UTC)
MIN_MS, MAX_MS = -62_135_596_800_000, 253_402_300_799_999
CHECKPOINT_DAG = "airflow-flume-replay"
#: ``event_time.ON_INVALID_POLICIES`` and ``sources.BAD_INPUT_POLICIES`` (equal, tested; not imported: slow)
ON_INVALID, ON_BAD_INPUT = ("fail", "skip", "now"), ("fail", "skip")
#: flags handed to :class:`ReplaySpec` unchanged (their ``dest`` is the field's name)
_SPEC_FLAGS = (
    "topic",
    "event_time_field",
    "event_time_unit",
    "assume_tz",
    "on_invalid",
    "on_bad_input",
    "event_id_field",
    "event_id_header",
    "key_field",
    "rate_limit",
    "dry_run",
    "checkpoint_every",
)


def add_replay(sub: Any) -> None:
    """Register the ``replay`` sub-command on the ``airflow-flume`` sub-parsers."""
    p = sub.add_parser(
        "replay",
        help="replay stored events into a Flume topic by event time (the replay operator's engine)",
        description="Replay JSON Lines / Avro files (local or hdfs://) or a kafka://topic into the Kafka topic "
        "Flume reads, each event enveloped with its own time. Exit 0 all acknowledged, 1 records "
        "dead-lettered, 2 usage/input error, unreachable service or unacknowledged events.",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="file, glob, hdfs:// URI or kafka://topic")
    p.add_argument("--topic", required=True, help="Kafka topic Flume reads (KafkaSource / KafkaChannel)")
    p.add_argument(
        "--time-field",
        dest="event_time_field",
        default="timestamp",
        help="dotted field with the event time, or 'kafka'",
    )
    p.add_argument(
        "--time-unit", dest="event_time_unit", default="auto", choices=("auto", "s", "ms", "us", "ns")
    )
    p.add_argument("--assume-tz", help="zone for event times without an offset (else they are invalid)")
    p.add_argument("--start", help="window start, inclusive (ISO-8601, UTC when no offset, or epoch ms)")
    p.add_argument("--end", help="window end, exclusive (default: no window for files)")
    p.add_argument("--format", help="source format instead of the file name's (jsonl, avro, kafka, ...)")
    p.add_argument("--on-invalid", default="fail", choices=ON_INVALID)
    p.add_argument("--on-bad-input", default="fail", choices=ON_BAD_INPUT)
    p.add_argument("-H", "--header", action="append", default=[], metavar="KEY=VALUE", help="static header")
    p.add_argument("--event-id-field", help="field sent as header --event-id-header (downstream dedup)")
    p.add_argument("--event-id-header", default="eventId")
    p.add_argument("--key-field", help="field used as the Kafka record key")
    p.add_argument("--rate-limit", type=float, help="max events per second")
    p.add_argument(
        "--dry-run", action="store_true", help="read, validate and count per partition; send nothing"
    )
    p.add_argument("--dead-letter", metavar="F", help="JSON Lines file for skipped records")
    p.add_argument(
        "--resume", metavar="DIR", help="checkpoint directory: run again to continue where it stopped"
    )
    p.add_argument("--checkpoint-every", type=int, default=100_000, help="events between checkpoints")
    p.add_argument("--manifest", metavar="OUT.json", help="write the manifest JSON here")
    p.add_argument("--delivery-timeout", type=float, help="seconds per message (message.timeout.ms)")
    p.add_argument("--progress", default="auto", choices=PROGRESS_MODES, help="auto: a bar on a terminal")
    p.add_argument("--progress-interval", type=float, default=5.0, help="seconds between plain lines (5)")
    _add_template_args(p, positional=False)
    g = p.add_argument_group("connections")
    g.add_argument(
        "--kafka-bootstrap", "--bootstrap", help="Kafka bootstrap servers (instead of --kafka-conn)"
    )
    g.add_argument("--kafka-conn", help="Airflow kafka connection (default kafka_default)")
    g.add_argument("--webhdfs", help="NameNode URL(s) for hdfs:// sources, e.g. http://user@nn:9870")
    g.add_argument(
        "--conn-id", help="Airflow webhdfs connection for hdfs:// sources (default webhdfs_default)"
    )


# --------------------------------------------------------------------------- publishing


def config_publisher(
    base: Mapping[str, Any],
    *,
    name: str,
    delivery_timeout_s: float | None = None,
    producer_factory: Callable[[dict[str, Any]], Any] | None = None,
    offsets_reader: Callable[[str], dict[str, dict[str, int]]] | None = None,
) -> Callable[..., PublishReport]:
    """``FlumeKafkaHook.publish`` over a librdkafka config in hand (``--kafka-bootstrap`` needs no connection).

    Same steps as the hook: producer config (acks=all, idempotence) with the delivery callbacks, preflight
    and retention warning, publish, then the topic's log-end offsets into ``report.kafka_offsets``.
    """
    from airflow_flume_provider import kafka_config, topic_checks
    from airflow_flume_provider.publish_report import PublishSpec
    from airflow_flume_provider.publishing import Publisher

    def publish(records: Iterable[Any], **kwargs: Any) -> PublishReport:
        publisher = Publisher(PublishSpec(**kwargs))
        if publisher.spec.dry_run:
            return publisher.run(records, None)
        config = kafka_config.producer_config(base, delivery_timeout_s=delivery_timeout_s, name=name)
        make = producer_factory or (lambda c: kafka_config.make_producer(c, name=name))
        producer = make(publisher.producer_config(config))
        topic_checks.preflight(producer, publisher.spec.topic, config, publisher.report, name)
        warning = topic_checks.retention_warning(publisher.spec.topic, config, publisher.spec.start_ms, name)
        if warning:
            publisher.report.warnings.append(warning)
        report = publisher.run(records, producer, timeout_ms=kafka_config.delivery_timeout_ms(config))
        try:
            report.kafka_offsets = (offsets_reader or _offsets_reader(base, name))(report.topic)
        except Exception as exc:  # the publish succeeded; only the consumed check's targets are missing
            report.warnings.append(
                f"log-end offsets of topic {report.topic!r} could not be read after the final flush "
                f"({kafka_config.scrub(str(exc), base)}): a `consumed` check cannot use this manifest"
            )
        return report

    return publish


def _offsets_reader(base: Mapping[str, Any], name: str) -> Callable[[str], dict[str, dict[str, int]]]:
    """``topic -> {topic: {partition: log-end offset}}`` through an AdminClient on ``base``."""
    from airflow_flume_provider import kafka_offsets
    from airflow_flume_provider.consumed import offsets_to_json

    def read(topic: str) -> dict[str, dict[str, int]]:
        admin = kafka_offsets.open_admin(base, name=name)
        return offsets_to_json(
            kafka_offsets.log_end_offsets(admin, kafka_offsets.topic_partitions(admin, [topic]))
        )

    return read


def kafka_publisher(args: argparse.Namespace) -> Callable[..., PublishReport]:
    """The publish function for the flags (``--kafka-bootstrap``, else the ``--kafka-conn`` connection)."""
    from airflow_flume_provider.cli import _kafka_base_config

    if args.dry_run:  # sends nothing: no connection needed
        return config_publisher({}, name="dry run")
    base = _kafka_base_config(args.kafka_bootstrap, args.kafka_conn)
    name = args.kafka_conn or ("--kafka-bootstrap" if args.kafka_bootstrap else "kafka_default")
    return config_publisher(base, name=name, delivery_timeout_s=args.delivery_timeout)


# --------------------------------------------------------------------------- specs


def _window(args: argparse.Namespace, sources: list[Any]) -> tuple[int, int]:
    """``[start, end)`` in epoch ms; unbounded for files when not given, required for kafka:// sources."""
    from airflow_flume_provider.timeutil import to_ms

    try:
        start = to_ms(args.start, "--start") if args.start else MIN_MS
        end = to_ms(args.end, "--end") if args.end else MAX_MS
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if start >= end:
        raise UsageError(f"--start {args.start} is not before --end {args.end}")
    kafka = [s for s in sources if str(s if isinstance(s, str) else s.get("topic", "")).startswith("kafka:")]
    if (kafka or args.format == "kafka") and not (args.start and args.end):
        raise UsageError("a kafka:// SOURCE needs --start and --end (the records' time window)")
    return start, end


def _sink(args: argparse.Namespace) -> tuple[Any, dict[str, Any] | None]:
    """The sink's PathTemplate and description from --flume-conf/--agent/--sink or --template (or none)."""
    from airflow_flume_provider.cli_args import path_template, sink_settings
    from airflow_flume_provider.replay import sink_from_flume_config, sink_from_template

    if args.flume_conf:
        settings = sink_settings(args.flume_conf, args.agent, args.sink)  # clear errors for the flags
        return sink_from_flume_config(args.flume_conf, settings.agent, settings.sink)
    if not args.template:
        return None, None
    template = path_template(args)  # validates --tz/--round with the flags' names
    return sink_from_template(
        args.template if "://" in args.template else f"hdfs:///{args.template.lstrip('/')}",
        time_zone=args.tz,
        round=template.need_rounding,
        round_value=template.round_value,
        round_unit=template.round_unit,
    )


def _paths(args: argparse.Namespace, index: int, count: int, scratch: Path) -> tuple[CheckpointStore, Path]:
    """The checkpoint store and dead-letter file of source ``index`` (operator's layout, run id ``cli``)."""
    from airflow_flume_provider.checkpoint import CheckpointStore

    base = Path(args.resume) if args.resume else scratch
    store = CheckpointStore(base, dag_id=CHECKPOINT_DAG, task_id=args.topic, run_id="cli", map_index=index)
    if not args.dead_letter:
        if not args.resume and "skip" in (args.on_invalid, args.on_bad_input):
            raise UsageError("--on-invalid/--on-bad-input skip need --dead-letter F (or --resume DIR)")
        return store, store.dir / f"map_{index}.deadletter.jsonl"
    dead = Path(args.dead_letter)
    if count > 1:
        dead = dead.with_name(f"{dead.stem}.map{index}{dead.suffix}")
    resuming = args.resume and store.path.exists()
    if dead.exists() and dead.stat().st_size and not resuming and not args.dry_run:
        raise UsageError(
            f"--dead-letter {dead}: exists and is not empty; move it away (a new replay truncates it)"
        )
    return store, dead


def _source(args: argparse.Namespace, text: str) -> str | dict[str, Any]:
    if not args.format:
        return text
    key = "topic" if args.format == "kafka" else "path"
    return {"format": args.format, key: text}


def build_specs(args: argparse.Namespace, scratch: Path) -> list[ReplaySpec]:
    """One ReplaySpec per SOURCE, validated before anything is read or sent."""
    from airflow_flume_provider.cli import _hdfs_client, _kafka_base_config
    from airflow_flume_provider.replay import ReplaySpec

    if args.rate_limit is not None and args.rate_limit <= 0:
        raise UsageError(f"--rate-limit must be > 0 events/s (got {args.rate_limit:g})")
    if args.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be >= 1 (got {args.checkpoint_every})")
    sources = [_source(args, s) for s in args.sources]
    window, (template, sink_info) = _window(args, sources), _sink(args)
    headers = header_pairs(args.header) or None
    specs = []
    for i, source in enumerate(sources):
        store, dead = _paths(args, i, len(sources), scratch)
        specs.append(
            ReplaySpec(
                source=source,
                window_ms=window,
                store=store,
                dead_letter_path=dead,
                sink_template=template,
                sink_info=sink_info,
                headers=headers,
                **{name: getattr(args, name) for name in _SPEC_FLAGS},
                resume=bool(args.resume),
                webhdfs_conn_id=args.conn_id or "webhdfs_default",  # named in errors
                source_kafka_conn_id=args.kafka_conn or "kafka_default",
                hdfs_client=lambda: _hdfs_client(args.webhdfs, args.conn_id),
                kafka_base_config=lambda: _kafka_base_config(args.kafka_bootstrap, args.kafka_conn),
            )
        )
    return specs


# --------------------------------------------------------------------------- output


def print_manifest_table(manifest: Mapping[str, Any], out: TextIO) -> None:
    """The manifest as a table: per partition the events sent, duplicates and what HDFS should hold; totals."""
    from airflow_flume_provider.manifest import expected_counts

    dry = manifest.get("dry_run")
    expected, dups = expected_counts(manifest), manifest.get("duplicates", {})
    rows = [(p, manifest["partitions"].get(p, 0), dups.get(p, 0), n) for p, n in expected.items()]
    width = max([len("partition"), *(len(r[0]) for r in rows)])
    sent = "would send" if dry else "acknowledged"
    print(f"{'partition':<{width}}  {sent:>12}  {'duplicates':>10}  {'expected in HDFS':>16}", file=out)
    print("-" * (width + 46), file=out)
    for path, n, d, e in rows:
        print(f"{path:<{width}}  {n:>12,}  {d:>10,}  {e:>16,}", file=out)
    if not rows:
        print(
            "(no partition: give --flume-conf/--agent/--sink or --template to count per partition)", file=out
        )
    t, timing = manifest["totals"], manifest["timings"]
    print(
        f"{t['read']:,} read, {t['acknowledged']:,} acknowledged, {t['dead_lettered']:,} dead-lettered "
        f"({t['bad_input']:,} bad input, {t['invalid_time_skipped']:,} invalid time), "
        f"{t['out_of_window']:,} out of window, {t['failed']:,} failed, {t['in_doubt']:,} in doubt; "
        f"{timing['seconds']:,.1f} s, {timing['events_per_s']:,.0f} events/s" + (" (dry run)" if dry else ""),
        file=out,
    )


# --------------------------------------------------------------------------- command


def _engine(spec: ReplaySpec, publish: Callable[..., PublishReport], label: str) -> dict[str, Any]:
    """Run the engine on one source; its errors become one-line UsageErrors naming the source."""
    from airflow_flume_provider.hdfs_types import HdfsError
    from airflow_flume_provider.publish_report import FlumePublishError
    from airflow_flume_provider.replay import ReplayRun

    engine_log = logging.getLogger("airflow_flume_provider.replay")
    level = engine_log.level
    if not spec.resume:  # its "resent by a retry; checkpoint ..." would name a checkpoint deleted at exit
        engine_log.setLevel(logging.CRITICAL)
    try:
        return ReplayRun(spec, publish).run()
    except FlumePublishError as exc:
        again = f"; run the same command again to resume from {spec.store.path}" if spec.resume else ""
        raise UsageError(f"{label}: {exc}{again}") from exc
    except (ValueError, OSError, HdfsError) as exc:  # bad input (file:line), bad checkpoint, unreadable file
        raise UsageError(f"{label}: {exc}") from exc
    except Exception as exc:  # KafkaException of a kafka:// source and other service failures
        raise UsageError(f"{label}: {type(exc).__name__}: {exc}") from exc
    finally:
        engine_log.setLevel(level)


def _run_one(
    spec: ReplaySpec, publish: Callable[..., PublishReport], display: Any, label: str
) -> dict[str, Any]:
    """One source through the engine with its progress on ``display`` (ending on the manifest's counts)."""
    spec.progress_interval_s = display.interval_s
    spec.on_progress = display.update
    display.start(label)
    try:
        manifest = _engine(spec, publish, label)
        display.update(final_progress(manifest))
    finally:
        display.stop()
    return manifest


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay each SOURCE, then print the manifest table and write ``--manifest``; exit code as documented."""
    from airflow_flume_provider.manifest import merge_manifests

    with tempfile.TemporaryDirectory(prefix="airflow-flume-replay-") as scratch:
        specs = build_specs(args, Path(scratch))
        publish = kafka_publisher(args)
        display = open_progress(args.progress, sys.stderr, args.progress_interval)
        manifests = []
        for i, spec in enumerate(specs):
            label = f"[{i + 1}/{len(specs)}] {args.sources[i]} -> {args.topic}"
            manifest = _run_one(spec, publish, display, label)
            if not args.resume:
                manifest["checkpoint"] = None  # kept only with --resume
            manifests.append(manifest)
    manifest = manifests[0] if len(manifests) == 1 else merge_manifests(manifests)
    print_manifest_table(manifest, sys.stdout)
    if args.manifest:
        Path(args.manifest).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        print(f"manifest: {args.manifest}")
    dead = [m["dead_letter"] for m in manifests if m["totals"]["dead_lettered"] and m.get("dead_letter")]
    for path in dead:
        print(f"dead-lettered records: {path}", file=sys.stderr)
    return EXIT_NEGATIVE if manifest["totals"]["dead_lettered"] else EXIT_OK


__all__ = ["add_replay", "cmd_replay", "config_publisher", "print_manifest_table"]
