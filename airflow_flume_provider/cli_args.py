"""Arguments of ``airflow-flume``: the parser and the conversions of argument text into core objects.

Split from :mod:`airflow_flume_provider.cli` (the commands) to keep both short. No Airflow imports.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A user mistake or an unreachable service: reported as one line and exit code 2."""


def parse_time(text: str, what: str = "--time") -> datetime:
    """An ISO-8601 instant (``Z`` or offset) or epoch milliseconds, as an aware UTC datetime."""
    from airflow_flume_provider.event_time import InvalidEventTime, to_epoch_ms

    try:
        ms = to_epoch_ms(text, unit="ms" if text.lstrip("-").isdigit() else "auto")
    except InvalidEventTime as exc:
        raise UsageError(f"{what}: {exc}") from exc
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def header_pairs(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"-H {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        out[key] = value
    return out


def load_config(path: str) -> Any:
    from airflow_flume_provider.flume_config import FlumeConfigError, load_flume_config

    if not Path(path).is_file():
        raise UsageError(f"{path}: no such file")
    try:
        return load_flume_config(path)
    except FlumeConfigError as exc:
        raise UsageError(str(exc)) from exc


def sink_settings(conf: str, agent: str | None, sink: str | None) -> Any:
    from airflow_flume_provider.flume_config import FlumeConfigError

    if not Path(conf).is_file():
        raise UsageError(f"--flume-conf {conf}: no such file")
    config = load_config(conf)
    agents = config.agents()
    if agent is None:
        if len(agents) != 1:
            raise UsageError(f"{conf}: give --agent (agents: {', '.join(agents) or 'none'})")
        agent = agents[0]
    if sink is None:
        raise UsageError(f"{conf}: give --sink (sinks of {agent}: {', '.join(config.sinks(agent))})")
    try:
        return config.hdfs_sink(agent, sink)
    except FlumeConfigError as exc:
        raise UsageError(str(exc)) from exc


def path_template(args: argparse.Namespace) -> Any:
    """The PathTemplate from TEMPLATE/--tz/--round or from --flume-conf/--agent/--sink."""
    from airflow_flume_provider.bucketpath import PathTemplate
    from airflow_flume_provider.hdfs_uri import split_hdfs_uri

    if getattr(args, "flume_conf", None):
        return sink_settings(args.flume_conf, args.agent, args.sink).path_template_obj()
    if not getattr(args, "template", None):
        raise UsageError("give a TEMPLATE or --flume-conf FILE --agent A --sink K")
    need_rounding, unit, value = False, "second", 1
    if args.round:
        parts = args.round.split()
        try:
            value, unit = int(parts[0]), parts[1]
        except (IndexError, ValueError) as exc:
            raise UsageError(f"--round {args.round!r}: expected 'N unit', e.g. '30 minute'") from exc
        need_rounding = True
    try:
        return PathTemplate(
            split_hdfs_uri(args.template)[1] if "://" in args.template else args.template,
            time_zone=args.tz,
            need_rounding=need_rounding,
            round_unit=unit,
            round_value=value,
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--round/--tz: {exc}") from exc


def read_json(path: str, what: str) -> Any:
    """A JSON file's content; an unreadable or invalid file is a UsageError naming ``what`` and the path."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{what} {path}: {exc}") from exc


def consumed_fields(args: argparse.Namespace, checks: tuple[str, ...]) -> dict[str, Any]:
    """``checks`` (+ no_in_use/quiet on a KafkaSource), the consumers, manifest targets and counts."""
    from airflow_flume_provider.partition_consumed import (
        consumed_checks,
        consumer_ref,
        explicit_consumer_ref,
        targets_from_manifests,
    )
    from airflow_flume_provider.partition_model import expected_counts_from

    manifest = read_json(args.manifest, "--manifest") if args.manifest else None
    counts = expected_counts_from(manifest) if manifest and "partitions" in manifest else None
    fields: dict[str, Any] = {"checks": checks, "manifest": counts if "count" in checks else None}
    if "consumed" not in checks:
        return fields
    if args.kafka_topic or args.kafka_group:
        if not (args.kafka_topic and args.kafka_group):
            raise UsageError("--kafka-topic and --kafka-group go together")
        refs = [explicit_consumer_ref(args.kafka_topic, args.kafka_group, topology=args.kafka_topology)]
    elif args.flume_conf:
        config = load_config(args.flume_conf)
        refs = [consumer_ref(c) for c in config.kafka_consumers(args.agent, args.sink)]
    else:
        raise UsageError(
            "--checks consumed needs --flume-conf/--agent/--sink or --kafka-topic + --kafka-group"
        )
    fields["checks"], note = consumed_checks(checks, refs)
    if note:
        print(f"airflow-flume partition-status: note: {note}", file=sys.stderr)  # stdout stays the report
    fields["kafka_consumers"] = tuple(refs)
    fields["kafka_targets"] = targets_from_manifests(manifest) if manifest is not None else None
    return fields


def parse_date(text: str, template: Any) -> datetime:
    """A date (YYYY-MM-DD, midnight in the sink's zone) or an ISO instant."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return parse_time(text, "--date")
    return day.replace(tzinfo=template.zone)


def _add_template_args(p: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        p.add_argument("template", nargs="?", help="Flume hdfs.path template, e.g. /flume/events/%%Y-%%m-%%d")
    else:
        p.add_argument("--template", help="Flume hdfs.path template (instead of --flume-conf)")
    p.add_argument("--tz", default="UTC", help="hdfs.timeZone (default UTC)")
    p.add_argument("--round", help="hdfs.round as 'N unit', e.g. '30 minute' (units: second, minute, hour)")
    p.add_argument("--flume-conf", help="Flume agent properties file (instead of a template)")
    p.add_argument("--agent", help="agent name in --flume-conf")
    p.add_argument("--sink", help="HDFS sink name in --flume-conf")


def _add_inspect(sub: Any) -> None:
    p = sub.add_parser(
        "inspect", help="decode AvroFlumeEvents from a topic, a file of envelopes or Flume output"
    )
    p.add_argument(
        "file", nargs="?", help="local or hdfs:// file (SequenceFile, avro_event, envelopes, text)"
    )
    p.add_argument("--topic", help="Kafka topic to read envelopes from")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (instead of --conn-id)")
    p.add_argument("--conn-id", help="Airflow connection: kafka (for --topic) or webhdfs (for hdfs://)")
    p.add_argument("--from-time", help="start reading the topic at this time (ISO-8601 or epoch ms)")
    p.add_argument("-n", type=int, default=20, help="events to show (default 20)")
    p.add_argument("--raw", action="store_true", help="write bodies as raw bytes")
    p.add_argument("--width", type=int, default=200, help="body characters to show (default 200)")
    _add_template_args(p, positional=False)


def _add_partition_status(sub: Any) -> None:
    p = sub.add_parser(
        "partition-status", help="run the partition sensor's checks once; exit 0 ready, 1 not yet, 2 broken"
    )
    _add_template_args(p, positional=False)
    p.add_argument(
        "--date", required=True, help="partition date (YYYY-MM-DD in the sink's zone) or ISO instant"
    )
    p.add_argument("--end", help="end of a multi-partition range (exclusive)")
    p.add_argument("--expected", type=int, help="expected event count (adds the 'count' check)")
    p.add_argument("--checks", help="comma-separated checks (default exists,no_in_use,quiet,watermark)")
    p.add_argument("--min-files", type=int, default=1)
    p.add_argument("--quiet-period", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--allowed-lateness", type=float, default=3600.0, help="seconds (default 3600)")
    p.add_argument("--file-type", default="DataStream", help="with --template: the sink's hdfs.fileType")
    p.add_argument(
        "--webhdfs", help="NameNode URL(s), e.g. http://root@127.0.0.1:29870 (instead of --conn-id)"
    )
    p.add_argument("--conn-id", help="Airflow webhdfs connection (default webhdfs_default)")
    p.add_argument("--json", action="store_true", help="print the readiness report as JSON")
    g = p.add_argument_group("consumed check (Kafka offsets of Flume's consumer group)")
    g.add_argument(
        "--kafka-conn", help="Airflow kafka connection (default: bootstrap servers of --flume-conf)"
    )
    g.add_argument("--kafka-bootstrap", help="Kafka bootstrap servers (instead of --kafka-conn)")
    g.add_argument("--kafka-topic", action="append", help="topic Flume reads (repeat; with --kafka-group)")
    g.add_argument("--kafka-group", help="Flume's consumer group id (with --kafka-topic)")
    g.add_argument(
        "--kafka-topology",
        choices=("kafka_channel", "kafka_source"),
        default="kafka_source",
        help="with --kafka-topic: how Flume consumes (default kafka_source: commits before HDFS)",
    )
    g.add_argument("--manifest", help="publish/replay manifest JSON file: its kafka_offsets are the targets")
    g.add_argument(
        "--state-file",
        help="JSON file keeping the live offset snapshot between runs (without it, each run snapshots anew)",
    )
    p.add_argument(
        "--stale-in-use-after",
        type=float,
        default=7200.0,
        help="seconds before an in-use file is stale (7200)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``airflow-flume`` argument parser (one sub-command per tool)."""
    parser = argparse.ArgumentParser(
        prog="airflow-flume",
        description="Tools for Kafka -> Flume -> HDFS pipelines that file events by event time.",
        epilog="Exit codes: 0 ok/ready, 1 not ready / findings / invalid or dead-lettered events, "
        "2 usage or input error, an unreachable service, or events Kafka did not acknowledge.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("render-path", help="print the HDFS directory Flume files an event into")
    _add_template_args(p)
    p.add_argument("--time", required=True, help="event time: ISO-8601 with Z/offset, or epoch ms")
    p.add_argument("-H", "--header", action="append", default=[], metavar="KEY=VALUE", help="event header")
    p.add_argument("--strict", action="store_true", help="refuse %%{header} values with '/' or '..'")
    _add_inspect(sub)
    _add_partition_status(sub)
    from airflow_flume_provider.cli_repair import add_repair_stale  # here: cli_repair imports this module
    from airflow_flume_provider.cli_replay import add_replay  # likewise

    add_repair_stale(sub)
    add_replay(sub)
    p = sub.add_parser(
        "lint-flume-conf", help="check a Flume config for settings that break event-time partitioning"
    )
    p.add_argument("file")
    p.add_argument("--agent")
    p.add_argument("--sink")
    return parser
