"""``airflow-flume``: inspect envelopes and Flume output, render sink paths, check partitions, lint Flume configs.

This module only parses arguments and prints; every command calls the module that does the work:
``render-path`` -> :mod:`~airflow_flume_provider.bucketpath`, ``lint-flume-conf`` ->
:mod:`~airflow_flume_provider.flume_config`'s lint, ``inspect`` -> :func:`hdfs_formats.read_events` (files,
through :class:`~airflow_flume_provider.hdfs_client.HdfsClient` for ``hdfs://``) or the topic scan of
:mod:`~airflow_flume_provider.sources.kafka_topic` (topics), ``partition-status`` ->
:func:`~airflow_flume_provider.partition_check.poke_partition`, ``replay`` -> :mod:`~airflow_flume_provider.cli_replay`
(the replay operator's engine, :class:`~airflow_flume_provider.replay.ReplayRun`).

Exit codes:

* 0 success (``partition-status``: READY; ``lint-flume-conf``: no finding);
* 1 a negative answer: NOT READY yet, lint findings, events whose timestamp header Flume cannot parse,
  records a ``replay`` dead-lettered (skip policies);
* 2 broken: a usage or input error (bad argument, missing file, unreadable input) or an unreachable or failing
  service (Kafka, WebHDFS, including a NameNode that does not answer during ``partition-status``), a ``replay``
  whose events Kafka did not all acknowledge.

So a shell loop ``until airflow-flume partition-status ...; do sleep 60; done`` can tell "not yet" (1) from
"broken" (2). Errors are printed as one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from airflow_flume_provider.cli_args import (
    UsageError,
    build_parser,
    consumed_fields,
    header_pairs,
    load_config,
    parse_date,
    parse_time,
    path_template,
    read_json,
    sink_settings,
)
from airflow_flume_provider.cli_repair import cmd_repair_stale
from airflow_flume_provider.cli_replay import cmd_replay
from airflow_flume_provider.timeutil import iso_ms

EXIT_OK, EXIT_NEGATIVE, EXIT_USAGE = 0, 1, 2
#: Lower-cased ``type`` values of Flume HDFS sinks (Flume matches sink types case-insensitively).
_HDFS_SINK_TYPES = ("hdfs", "org.apache.flume.sink.hdfs.hdfseventsink")


# --------------------------------------------------------------------------- clients


def _hdfs_client(url: str | None, conn_id: str | None) -> Any:
    """An HdfsClient for ``--webhdfs URL[,URL]`` (``http://user@host:port``) or a webhdfs connection."""
    from airflow_flume_provider.hdfs_client import HdfsClient

    if url:
        user = None
        scheme, _, rest = url.partition("://")
        if "@" in rest.split("/", 1)[0]:
            user, rest = rest.split("@", 1)
            url = f"{scheme}://{rest}"
        return HdfsClient([u.strip() for u in url.split(",")], user=user)
    from airflow_flume_provider.compat import quiet_connection_log
    from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook

    quiet_connection_log()  # Airflow 3.0 logs it at INFO to stdout: keep stdout for our output (--json)

    try:
        return FlumeHdfsHook(conn_id or "webhdfs_default").get_client()
    except Exception as exc:
        raise UsageError(f"WebHDFS connection {conn_id or 'webhdfs_default'}: {exc}") from exc


def _kafka_base_config(bootstrap: str | None, conn_id: str | None) -> dict[str, Any]:
    """``{"bootstrap.servers": ...}`` from ``--bootstrap``, else the kafka connection's config (via its hook)."""
    if bootstrap:
        return {"bootstrap.servers": bootstrap}
    from airflow_flume_provider.compat import quiet_connection_log
    from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook

    quiet_connection_log()  # Airflow 3.0 logs it at INFO to stdout: keep stdout for our output (--json)

    try:
        return FlumeKafkaHook(kafka_conn_id=conn_id or "kafka_default").get_client_config()
    except Exception as exc:
        raise UsageError(f"Kafka connection {conn_id or 'kafka_default'}: {exc}") from exc


# --------------------------------------------------------------------------- render-path


def cmd_render_path(args: argparse.Namespace) -> int:
    """Print the HDFS directory Flume files an event of ``--time`` into."""
    from airflow_flume_provider.bucketpath import TimestampHeaderError

    template = path_template(args)
    headers = header_pairs(args.header)
    when = parse_time(args.time)
    headers.setdefault("timestamp", str(int(when.timestamp() * 1000)))
    try:
        print(template.render(headers, strict=args.strict))
    except (TimestampHeaderError, ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    return EXIT_OK


# --------------------------------------------------------------------------- lint-flume-conf


def _lint_targets(config: Any, path: str, agent: str | None, sink: str | None) -> list[Any]:
    """The HDFS sinks to lint: the named ones, else every HDFS sink of every agent."""
    from airflow_flume_provider.flume_config import FlumeConfigError

    targets = []
    try:
        for a in [agent] if agent else config.agents():
            for s in [sink] if sink else config.sinks(a):
                if (config.get(f"{a}.sinks.{s}.type") or "").lower() in _HDFS_SINK_TYPES:
                    targets.append(config.hdfs_sink(a, s))
                elif sink:
                    raise UsageError(f"{path}: sink {a}.{s} is not an HDFS sink")
    except FlumeConfigError as exc:
        raise UsageError(str(exc)) from exc
    if not targets:
        raise UsageError(f"{path}: no HDFS sink found")
    return targets


def cmd_lint(args: argparse.Namespace) -> int:
    """Print the linter's findings for each HDFS sink of the config (or the named agent/sink)."""
    from airflow_flume_provider.flume_config import lint

    total = 0
    for settings in _lint_targets(load_config(args.file), args.file, args.agent, args.sink):
        findings = lint(settings)
        total += len(findings)
        status = "ok" if not findings else f"{len(findings)} finding(s)"
        print(f"{settings.agent}.sinks.{settings.sink} ({settings.path}): {status}")
        for f in findings:
            print(f"  [{f.severity}] {f.code} {f.key}: {f.message}")
            print(f"      fix: {f.fix}")
    return EXIT_NEGATIVE if total else EXIT_OK


# --------------------------------------------------------------------------- inspect


@contextlib.contextmanager
def _open_input(path: str, conn_id: str | None) -> Iterator[BinaryIO]:
    """A local file, or an ``hdfs://`` file streamed through the webhdfs connection."""
    from airflow_flume_provider.hdfs_client import HdfsError
    from airflow_flume_provider.hdfs_uri import is_hdfs_uri, split_hdfs_uri

    if not is_hdfs_uri(path):
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such file")
        with open(path, "rb") as fh:
            yield fh
        return
    with _hdfs_client(None, conn_id) as client:
        try:
            stream = client.open(split_hdfs_uri(path)[1])
        except HdfsError as exc:
            raise UsageError(f"{path}: {exc}") from exc
        with stream:
            yield stream


def _file_events(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, str] | None, bytes]]:
    """Up to -n events of FILE, decoded by :func:`hdfs_formats.read_events`."""
    from airflow_flume_provider.hdfs_formats import FormatError, read_events
    from airflow_flume_provider.hdfs_types import HdfsError

    with _open_input(args.file, args.conn_id) as stream:
        try:
            for n, event in enumerate(read_events(stream, args.file)):
                if n >= args.n:
                    return
                yield event
        except (FormatError, HdfsError) as exc:
            raise UsageError(str(exc)) from exc


def _topic_events(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, str] | None, bytes]]:
    """Up to -n messages of --topic (from --from-time, else the beginning), each decoded as an envelope."""
    from confluent_kafka import KafkaException

    from airflow_flume_provider.envelope import decode_event
    from airflow_flume_provider.sources import BadInputError
    from airflow_flume_provider.sources.kafka_topic import read_messages

    base = _kafka_base_config(args.bootstrap, args.conn_id)
    start_ms = int(parse_time(args.from_time, "--from-time").timestamp() * 1000) if args.from_time else None
    try:
        for msg in read_messages(base, args.topic, start_ms=start_ms, limit=args.n):
            value = msg.value() or b""
            position = f"{args.topic}:{msg.partition()}:{msg.offset()}"
            try:
                event = decode_event(value)
            except ValueError as exc:
                yield position, {"(not an AvroFlumeEvent)": str(exc)}, value
                continue
            yield position, event.headers, event.body
    except (BadInputError, KafkaException, ValueError) as exc:
        raise UsageError(f"--topic {args.topic}: {exc}") from exc


def _show(
    position: str, headers: dict[str, str] | None, body: bytes, template: Any, raw: bool, width: int
) -> bool:
    """Print one event; returns False when its timestamp header would poison Flume's HDFS sink."""
    from airflow_flume_provider.bucketpath import TimestampHeaderError, parse_java_long

    print(f"--- {position}")
    ok = True
    if headers is None:
        print("  headers: (not stored in this file format: DataStream/TEXT keeps only the body)")
    else:
        for k in sorted(headers):
            print(f"  {k}: {headers[k]}")
        ts = headers.get("timestamp")
        try:
            print(f"  event time: {iso_ms(parse_java_long(ts))}")
        except TimestampHeaderError:
            ok = False
            print(
                f"  event time: INVALID timestamp header {ts!r} (Flume's HDFS sink would retry this event forever)"
            )
        else:
            if template is not None:
                try:
                    print(f"  partition: {template.render(headers)}")
                except (ValueError, TypeError) as exc:
                    print(f"  partition: cannot render: {exc}")
    if raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(body + b"\n")
        sys.stdout.buffer.flush()
    else:
        text = body.decode("utf-8", errors="backslashreplace")
        more = f" ... ({len(body):,} bytes)" if len(text) > width else ""
        print(f"  body: {text[:width]}{more}")
    return ok


def cmd_inspect(args: argparse.Namespace) -> int:
    """Decode envelopes from a topic or a file and print headers, event time, partition and body."""
    if not args.topic and not args.file:
        raise UsageError("give FILE or --topic T")
    template = path_template(args) if (args.flume_conf or args.template) else None
    bad = shown = 0
    for position, headers, body in _topic_events(args) if args.topic else _file_events(args):
        bad += not _show(position, headers, body, template, args.raw, args.width)
        shown += 1
    print(f"--- {shown} event(s)" + (f", {bad} with an invalid timestamp header" if bad else ""))
    return EXIT_NEGATIVE if bad else EXIT_OK


# --------------------------------------------------------------------------- partition-status


def _partition_spec(args: argparse.Namespace) -> Any:
    """The sensor's PartitionSpec for the command's arguments."""
    from airflow_flume_provider.naming import FileNaming
    from airflow_flume_provider.partition_check import (
        ALL_CHECKS,
        DEFAULT_CHECKS,
        PartitionSpec,
        resolve_partitions,
    )

    settings = sink_settings(args.flume_conf, args.agent, args.sink) if args.flume_conf else None
    template = path_template(args)
    start = parse_date(args.date, template)
    end = parse_date(args.end, template) if args.end else None
    paths, next_paths, end_ts = resolve_partitions(template, start, end)
    checks = tuple(args.checks.split(",")) if args.checks else DEFAULT_CHECKS
    if args.expected is not None and "count" not in checks:
        checks = (*checks, "count")
    unknown = set(checks) - set(ALL_CHECKS)
    if unknown:
        raise UsageError(f"--checks: unknown {sorted(unknown)}; valid: {', '.join(ALL_CHECKS)}")
    naming = FileNaming.from_settings(settings) if settings else FileNaming(file_type=args.file_type)
    try:
        consumed = consumed_fields(args, checks)
        return PartitionSpec(
            paths=paths,
            naming=naming,
            next_paths=next_paths,
            end_ts=end_ts,
            stale_in_use_after=args.stale_in_use_after,
            **consumed,
            min_files=args.min_files,
            quiet_period=args.quiet_period,
            allowed_lateness=args.allowed_lateness,
            expected_count=args.expected,
            max_transient_failure_s=0,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _kafka_admin(args: argparse.Namespace, spec: Any) -> Any:
    """The AdminClient for ``consumed``: --kafka-bootstrap, --kafka-conn, else the Flume config's servers."""
    from airflow_flume_provider.kafka_offsets import open_admin
    from airflow_flume_provider.partition_consumed import kafka_base_for

    conn = (
        _kafka_base_config(args.kafka_bootstrap, args.kafka_conn)
        if (args.kafka_bootstrap or args.kafka_conn)
        else None
    )
    try:
        return open_admin(kafka_base_for(spec, conn), name=args.kafka_conn or "kafka")
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        return
    print(f"partition: {', '.join(report.paths)}")
    if report.error:
        print(f"  error: {report.error}")
    for c in report.checks:
        print(f"  {'PASS' if c.ok else 'FAIL'} {c.name:<10} {c.reason}")
    print(f"  {report.files} finished file(s), {report.bytes:,} bytes, {report.requests} WebHDFS request(s)")
    print("READY" if report.ready else "ERROR (WebHDFS failing)" if report.error else "NOT READY")


def cmd_partition_status(args: argparse.Namespace) -> int:
    """Run the sensor's checks once on one partition and print each verdict.

    Exit 0 if ready, 1 if not ready yet (Flume behind, stopped or its group not there yet), 2 if WebHDFS or
    Kafka did not answer or refused (the report's ``error`` / ``kafka_fault``). ``--state-file`` keeps the live
    offset snapshot of ``consumed`` between runs (the command is otherwise stateless: each run snapshots anew).
    """
    from airflow_flume_provider.partition_check import PartitionState, poke_partition
    from airflow_flume_provider.partition_consumed import BROKEN_FAULTS

    spec = _partition_spec(args)
    saved = (
        read_json(args.state_file, "--state-file")
        if args.state_file and Path(args.state_file).exists()
        else None
    )
    admin = _kafka_admin(args, spec) if "consumed" in spec.checks else None
    with _hdfs_client(args.webhdfs, args.conn_id) as client:
        try:
            report, state = poke_partition(client, spec, PartitionState(consumed_state=saved), admin=admin)
        except Exception as exc:  # HdfsError (permission...), corrupt files: one line, exit 2
            raise UsageError(f"{type(exc).__name__}: {exc}") from exc
    if args.state_file and state.consumed_state:
        Path(args.state_file).write_text(json.dumps(state.consumed_state, sort_keys=True))
    _print_report(report, args.json)
    if report.error or report.kafka_fault in BROKEN_FAULTS:
        what = report.error or next(c.reason for c in report.checks if c.name == "consumed")
        print(f"airflow-flume partition-status: error: {what}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if report.ready else EXIT_NEGATIVE


COMMANDS = {
    "render-path": cmd_render_path,
    "lint-flume-conf": cmd_lint,
    "inspect": cmd_inspect,
    "partition-status": cmd_partition_status,
    "repair-stale": cmd_repair_stale,
    "replay": cmd_replay,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse exits 2 itself on bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"airflow-flume {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which exited: not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
