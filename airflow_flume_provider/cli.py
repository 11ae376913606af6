"""``airflow-flume``: inspect envelopes and Flume output, render sink paths, check partitions, lint Flume configs.

Exit codes: 0 success (for ``partition-status``: ready; for ``lint-flume-conf``: no finding),
1 a negative answer (not ready, lint findings, events that fail to decode), 2 a usage or input error
(bad argument, missing file, unreachable service) — printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_NEGATIVE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A user mistake: reported as one line and exit code 2."""


# --------------------------------------------------------------------------- shared helpers


def _parse_time(text: str, what: str = "--time") -> datetime:
    """An ISO-8601 instant (``Z`` or offset) or epoch milliseconds, as an aware UTC datetime."""
    from airflow_flume_provider.event_time import InvalidEventTime, to_epoch_ms

    try:
        ms = to_epoch_ms(text, unit="ms" if text.lstrip("-").isdigit() else "auto")
    except InvalidEventTime as exc:
        raise UsageError(f"{what}: {exc}") from exc
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _headers(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"-H {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        out[key] = value
    return out


def _sink_settings(conf: str, agent: str | None, sink: str | None) -> Any:
    from airflow_flume_provider.flume_config import FlumeConfigError, load_flume_config

    if not Path(conf).is_file():
        raise UsageError(f"--flume-conf {conf}: no such file")
    try:
        config = load_flume_config(conf)
        agents = config.agents()
        if agent is None:
            if len(agents) != 1:
                raise UsageError(f"{conf}: give --agent (agents: {', '.join(agents) or 'none'})")
            agent = agents[0]
        if sink is None:
            raise UsageError(f"{conf}: give --sink (sinks of {agent}: {', '.join(config.sinks(agent))})")
        return config.hdfs_sink(agent, sink)
    except FlumeConfigError as exc:
        raise UsageError(str(exc)) from exc


def _template(args: argparse.Namespace) -> Any:
    """The PathTemplate from TEMPLATE/--tz/--round or from --flume-conf/--agent/--sink."""
    from airflow_flume_provider.bucketpath import PathTemplate
    from airflow_flume_provider.hdfs_uri import split_hdfs_uri

    if getattr(args, "flume_conf", None):
        return _sink_settings(args.flume_conf, args.agent, args.sink).path_template_obj()
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


# --------------------------------------------------------------------------- render-path


def cmd_render_path(args: argparse.Namespace) -> int:
    """Print the HDFS directory Flume files an event of ``--time`` into."""
    from airflow_flume_provider.bucketpath import TimestampHeaderError

    template = _template(args)
    headers = _headers(args.header)
    when = _parse_time(args.time)
    headers.setdefault("timestamp", str(int(when.timestamp() * 1000)))
    try:
        print(template.render(headers, strict=args.strict))
    except (TimestampHeaderError, ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    return EXIT_OK


# --------------------------------------------------------------------------- lint-flume-conf


def cmd_lint(args: argparse.Namespace) -> int:
    """Print the linter's findings for each HDFS sink of the config (or the named agent/sink)."""
    from airflow_flume_provider.flume_config import FlumeConfigError, lint, load_flume_config

    if not Path(args.file).is_file():
        raise UsageError(f"{args.file}: no such file")
    try:
        config = load_flume_config(args.file)
        agents = [args.agent] if args.agent else config.agents()
        targets = []
        for agent in agents:
            sinks = [args.sink] if args.sink else config.sinks(agent)
            for sink in sinks:
                if config.get(f"{agent}.sinks.{sink}.type", "").lower() in (
                    "hdfs",
                    "org.apache.flume.sink.hdfs.hdfseventsink",
                ):
                    targets.append(config.hdfs_sink(agent, sink))
                elif args.sink:
                    raise UsageError(f"{args.file}: sink {agent}.{sink} is not an HDFS sink")
    except FlumeConfigError as exc:
        raise UsageError(str(exc)) from exc
    if not targets:
        raise UsageError(f"{args.file}: no HDFS sink found")
    total = 0
    for settings in targets:
        findings = lint(settings)
        total += len(findings)
        status = "ok" if not findings else f"{len(findings)} finding(s)"
        print(f"{settings.agent}.sinks.{settings.sink} ({settings.path}): {status}")
        for f in findings:
            print(f"  [{f.severity}] {f.code} {f.key}: {f.message}")
            print(f"      fix: {f.fix}")
    return EXIT_NEGATIVE if total else EXIT_OK


# --------------------------------------------------------------------------- inspect


def _read_source(path: str, conn_id: str | None) -> bytes:
    """Bytes of a local file or an ``hdfs://`` file (through the webhdfs connection)."""
    if path.startswith(("hdfs://", "webhdfs://")):
        from airflow_flume_provider.hdfs_uri import split_hdfs_uri
        from airflow_flume_provider.webhdfs import WebHdfsError

        client = _webhdfs_client(None, conn_id or "webhdfs_default")
        try:
            return client.open(split_hdfs_uri(path)[1])
        except WebHdfsError as exc:
            raise UsageError(f"{path}: {exc}") from exc
        finally:
            client.close()
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such file")
    return p.read_bytes()


def _events_from_file(data: bytes, name: str) -> Iterator[tuple[str, dict[str, str] | None, bytes]]:
    """Yield (position, headers or None, body) from a Flume output file or a file of envelopes.

    Recognised by content: Hadoop SequenceFile (``SEQ``), Avro container (``Obj\\x01``, Flume's avro_event),
    a concatenation of AvroFlumeEvent datums, else text lines (DataStream/TEXT keeps bodies only).
    """
    from airflow_flume_provider.hdfs_formats import iter_sequence_file

    if data[:3] == b"SEQ":
        for i, (key, value) in enumerate(iter_sequence_file(data, name), 1):
            headers = (
                {"timestamp": str(int.from_bytes(key[:8], "big", signed=True))} if len(key) >= 8 else None
            )
            yield f"{name}:record {i}", headers, _bytes_writable(value)
        return
    if data[:4] == b"Obj\x01":
        import fastavro

        for i, rec in enumerate(fastavro.reader(io.BytesIO(data)), 1):
            yield f"{name}:record {i}", dict(rec.get("headers") or {}), bytes(rec.get("body") or b"")
        return
    envelopes = list(_try_envelopes(data, name))
    if envelopes:
        yield from envelopes
        return
    for i, line in enumerate(data.splitlines(), 1):
        yield f"{name}:{i}", None, line


def _bytes_writable(value: bytes) -> bytes:
    """A Hadoop BytesWritable is a 4-byte big-endian length then the bytes (Text is a vint + bytes)."""
    if len(value) >= 4 and int.from_bytes(value[:4], "big") == len(value) - 4:
        return value[4:]
    return value


def _try_envelopes(data: bytes, name: str) -> Iterator[tuple[str, dict[str, str], bytes]]:
    """Decode ``data`` as back-to-back AvroFlumeEvent datums; yields nothing if it is not that."""
    import fastavro

    from airflow_flume_provider.envelope import FLUME_EVENT_SCHEMA

    schema = fastavro.parse_schema(FLUME_EVENT_SCHEMA)
    buf = io.BytesIO(data)
    out = []
    try:
        while buf.tell() < len(data):
            rec = fastavro.schemaless_reader(buf, schema)
            if not all(isinstance(v, str) for v in rec["headers"].values()):
                return
            out.append(rec)
    except Exception:
        return
    if any("timestamp" in r["headers"] for r in out):
        for i, rec in enumerate(out, 1):
            yield f"{name}:envelope {i}", rec["headers"], rec["body"]


def _show(
    position: str, headers: dict[str, str] | None, body: bytes, template: Any, raw: bool, width: int
) -> bool:
    """Print one event; returns False when its timestamp header would poison Flume's HDFS sink."""
    print(f"--- {position}")
    ok = True
    if headers is None:
        print("  headers: (not stored in this file format: DataStream/TEXT keeps only the body)")
    else:
        for k in sorted(headers):
            print(f"  {k}: {headers[k]}")
        ts = headers.get("timestamp")
        try:
            ms = int(ts) if ts is not None and ts.strip() == ts else None
        except ValueError:
            ms = None
        if ms is None:
            ok = False
            print(
                f"  event time: INVALID timestamp header {ts!r} (Flume's HDFS sink would retry this event forever)"
            )
        else:
            print(f"  event time: {_iso(ms)}")
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
    template = _template(args) if (args.flume_conf or args.template) else None
    bad = 0
    shown = 0
    if args.topic:
        for position, headers, body in _consume(args):
            bad += not _show(position, headers, body, template, args.raw, args.width)
            shown += 1
    else:
        if not args.file:
            raise UsageError("give FILE or --topic T")
        data = _read_source(args.file, args.conn_id)
        for position, headers, body in _events_from_file(data, args.file):
            if shown >= args.n:
                break
            bad += not _show(position, headers, body, template, args.raw, args.width)
            shown += 1
    print(f"--- {shown} event(s)" + (f", {bad} with an invalid timestamp header" if bad else ""))
    return EXIT_NEGATIVE if bad else EXIT_OK


def _consume(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, str] | None, bytes]]:
    """Read up to -n messages of a topic (from --from-time or the beginning) and decode each value."""
    import uuid

    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    from airflow_flume_provider.envelope import decode_event

    config = _kafka_config(args)
    config.update(
        {
            "group.id": f"airflow-flume-inspect-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer = Consumer(config)
    try:
        try:
            meta = consumer.list_topics(args.topic, timeout=10)
        except KafkaException as exc:
            raise UsageError(f"--topic {args.topic}: {exc}") from exc
        tmeta = meta.topics.get(args.topic)
        if tmeta is None or tmeta.error is not None:
            raise UsageError(f"--topic {args.topic}: {tmeta.error if tmeta else 'unknown topic'}")
        parts = [TopicPartition(args.topic, p) for p in sorted(tmeta.partitions)]
        if args.from_time:
            ms = int(_parse_time(args.from_time, "--from-time").timestamp() * 1000)
            parts = consumer.offsets_for_times(
                [TopicPartition(args.topic, p.partition, ms) for p in parts], timeout=10
            )
        else:
            parts = [TopicPartition(args.topic, p.partition, OFFSET_BEGINNING) for p in parts]
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}
        parts = [p for p in parts if p.offset >= 0 or p.offset == OFFSET_BEGINNING]
        consumer.assign(parts)
        done = 0
        idle = 0
        while done < args.n and idle < 5:
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1
                if all(_position(consumer, p) >= ends[p.partition] for p in parts):
                    break
                continue
            if msg.error():
                raise UsageError(f"--topic {args.topic}: {msg.error()}")
            idle = 0
            done += 1
            position = f"{args.topic}:{msg.partition()}:{msg.offset()}"
            try:
                event = decode_event(msg.value() or b"")
            except ValueError as exc:
                yield position, {"(not an AvroFlumeEvent)": str(exc)}, msg.value() or b""
                continue
            yield position, event.headers, event.body
    finally:
        consumer.close()


def _position(consumer: Any, tp: Any) -> int:
    pos = consumer.position([tp])[0].offset
    return pos if pos >= 0 else -1


def _kafka_config(args: argparse.Namespace) -> dict[str, Any]:
    if args.bootstrap:
        return {"bootstrap.servers": args.bootstrap}
    from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook

    try:
        hook = FlumeKafkaHook(kafka_conn_id=args.conn_id or "kafka_default")
        config = hook.get_producer_config()
    except Exception as exc:
        raise UsageError(f"Kafka connection {args.conn_id or 'kafka_default'}: {exc}") from exc
    producer_only = {"enable.idempotence", "acks", "compression.type", "linger.ms", "batch.size",
                     "batch.num.messages", "queue.buffering.max.messages", "queue.buffering.max.kbytes",
                     "message.timeout.ms", "delivery.timeout.ms", "retries", "max.in.flight.requests.per.connection"}  # fmt: skip
    return {k: v for k, v in config.items() if k not in producer_only}


# --------------------------------------------------------------------------- partition-status


def _webhdfs_client(url: str | None, conn_id: str | None) -> Any:
    from airflow_flume_provider.webhdfs import WebHdfsClient, client_from_connection

    if url:
        user = None
        if "@" in url.split("://", 1)[-1]:
            scheme, rest = url.split("://", 1)
            user, host = rest.split("@", 1)
            url = f"{scheme}://{host}"
        return WebHdfsClient([u.strip() for u in url.split(",")], user=user)
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id or "webhdfs_default")
    except Exception as exc:
        raise UsageError(f"WebHDFS connection {conn_id or 'webhdfs_default'}: {exc}") from exc
    return client_from_connection(conn)


def cmd_partition_status(args: argparse.Namespace) -> int:
    """Run the sensor's checks once on one partition and print each verdict; exit 0 only if ready."""
    from airflow_flume_provider.partition_check import (
        ALL_CHECKS,
        DEFAULT_CHECKS,
        FileNaming,
        PartitionSpec,
        PartitionState,
        poke_partition,
        resolve_partitions,
    )
    from airflow_flume_provider.webhdfs import WebHdfsError

    settings = _sink_settings(args.flume_conf, args.agent, args.sink) if args.flume_conf else None
    template = _template(args)
    start = _parse_date(args.date, template)
    end = _parse_date(args.end, template) if args.end else None
    paths, next_paths, end_ts = resolve_partitions(template, start, end)
    checks = tuple(args.checks.split(",")) if args.checks else DEFAULT_CHECKS
    if args.expected is not None and "count" not in checks:
        checks = (*checks, "count")
    bad = set(checks) - set(ALL_CHECKS)
    if bad:
        raise UsageError(f"--checks: unknown {sorted(bad)}; valid: {', '.join(ALL_CHECKS)}")
    naming = FileNaming.from_settings(settings) if settings else FileNaming(file_type=args.file_type)
    try:
        spec = PartitionSpec(
            paths=paths,
            naming=naming,
            next_paths=next_paths,
            end_ts=end_ts,
            checks=checks,
            min_files=args.min_files,
            quiet_period=args.quiet_period,
            allowed_lateness=args.allowed_lateness,
            expected_count=args.expected,
            max_transient_failure_s=0,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    client = _webhdfs_client(args.webhdfs, args.conn_id)
    try:
        report, _ = poke_partition(client, spec, PartitionState())
    except WebHdfsError as exc:
        raise UsageError(f"WebHDFS: {exc}") from exc
    except Exception as exc:
        raise UsageError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        print(f"partition: {', '.join(report.paths)}")
        if report.error:
            print(f"  error: {report.error}")
        for c in report.checks:
            print(f"  {'PASS' if c.ok else 'FAIL'} {c.name:<10} {c.reason}")
        print(
            f"  {report.files} finished file(s), {report.bytes:,} bytes, {report.requests} WebHDFS request(s)"
        )
        print("READY" if report.ready else "NOT READY")
    return EXIT_OK if report.ready else EXIT_NEGATIVE


def _parse_date(text: str, template: Any) -> datetime:
    """A date (YYYY-MM-DD, midnight in the sink's zone) or an ISO instant."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return _parse_time(text, "--date")
    return day.replace(tzinfo=template.zone)


# --------------------------------------------------------------------------- parser


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airflow-flume",
        description="Tools for Kafka -> Flume -> HDFS pipelines that file events by event time.",
        epilog="Exit codes: 0 ok/ready, 1 not ready / findings / invalid events, 2 usage or input error.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("render-path", help="print the HDFS directory Flume files an event into")
    _add_template_args(p)
    p.add_argument("--time", required=True, help="event time: ISO-8601 with Z/offset, or epoch ms")
    p.add_argument("-H", "--header", action="append", default=[], metavar="KEY=VALUE", help="event header")
    p.add_argument("--strict", action="store_true", help="refuse %%{header} values with '/' or '..'")
    p.set_defaults(func=cmd_render_path)

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
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "partition-status", help="run the partition sensor's checks once; exit 0 only if ready"
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
    p.set_defaults(func=cmd_partition_status)

    p = sub.add_parser(
        "lint-flume-conf", help="check a Flume config for settings that break event-time partitioning"
    )
    p.add_argument("file")
    p.add_argument("--agent")
    p.add_argument("--sink")
    p.set_defaults(func=cmd_lint)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"airflow-flume {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
