#!/usr/bin/env python3
"""`make bench`: replay throughput vs the raw producer and the Kafka provider, encode speed, sensor poke cost.

All figures come from one run on the local stack (same broker, same topic config, same producer settings:
the hook's defaults, acks=all, idempotence on), as medians over ``--runs`` repetitions; ratios are computed
from the medians of this run. Results: ``benchmarks/results/latest.json`` and a printed table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "stack"))
import stackctl  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
WORK = Path(os.environ.get("FLUME_BENCH_WORK", ROOT / ".stack" / "bench"))
BODY_BYTES = 200
HEADERS = 3  # timestamp, eventId, replay

os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow" / "bench"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault(
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{ROOT / '.airflow' / 'bench' / 'airflow.db'}"
)
Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"] = json.dumps(
    {"conn_type": "kafka", "extra": {"bootstrap.servers": stackctl.BOOTSTRAP}}
)
os.environ["AIRFLOW_CONN_WEBHDFS_DEFAULT"] = json.dumps(
    {
        "conn_type": "webhdfs",
        "host": stackctl.HOST,
        "port": stackctl.NAMENODE_HTTP_PORT,
        "login": stackctl.HDFS_USER,
    }
)

EPOCH_START = datetime(2019, 7, 30, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- data


def make_jsonl(path: Path, events: int, *, seed: int = 7) -> Path:
    """JSON Lines events of ~200 bytes with an ISO-8601 ``ts`` field, spread over 3 days."""
    count_file = path.with_suffix(".count")
    if path.exists() and count_file.exists() and int(count_file.read_text()) == events:
        return path
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    span_ms = 3 * 86_400_000
    base_ms = int(EPOCH_START.timestamp() * 1000)
    with open(path, "w") as out:
        for i in range(events):
            ms = base_ms + rng.randrange(span_ms)
            ts = (
                datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            )
            rec = {
                "id": f"e{i:09d}",
                "ts": ts,
                "user": f"u{rng.randrange(100000):06d}",
                "action": "click",
                "pad": "",
            }
            line = json.dumps(rec, separators=(",", ":"))
            rec["pad"] = "x" * max(0, BODY_BYTES - len(line))
            out.write(json.dumps(rec, separators=(",", ":")) + "\n")
    path.with_suffix(".count").write_text(str(events))
    return path


def create_topic(name: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": stackctl.BOOTSTRAP})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=30)


def delete_topic(name: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": stackctl.BOOTSTRAP})
    with contextlib.suppress(Exception):  # best-effort cleanup
        admin.delete_topics([name])[name].result(timeout=30)


def producer_config() -> dict[str, Any]:
    from airflow_flume_provider.hooks.flume_kafka import DEFAULT_PRODUCER_CONFIG

    return {"bootstrap.servers": stackctl.BOOTSTRAP, **DEFAULT_PRODUCER_CONFIG}


def _envelope_parts(line: bytes) -> tuple[dict[str, str], bytes]:
    from airflow_flume_provider.event_time import to_epoch_ms

    rec = json.loads(line)
    return {"timestamp": str(to_epoch_ms(rec["ts"])), "eventId": rec["id"], "replay": "true"}, line


# --------------------------------------------------------------------------- measurements


def bench_encode(n: int = 200_000) -> dict[str, float]:
    """ns/event of our encoder vs fastavro.schemaless_writer on the same 3-header, 200-byte events."""
    import fastavro

    from airflow_flume_provider.envelope import FLUME_EVENT_SCHEMA, EnvelopeEncoder, encode_event

    schema = fastavro.parse_schema(FLUME_EVENT_SCHEMA)
    body = b"x" * BODY_BYTES
    events = [(str(1564703999000 + i), f"e{i:09d}") for i in range(n)]
    enc = EnvelopeEncoder({"replay": "true"})
    with_id = enc.encoder_with("eventId")  # the encoder the hook uses per event (static + eventId + timestamp)

    def ours() -> None:
        for ts, eid in events:
            with_id(body, ts, eid)

    def ours_generic() -> None:
        for ts, eid in events:
            encode_event({"replay": "true", "eventId": eid, "timestamp": ts}, body)

    def reference() -> None:
        for ts, eid in events:
            buf = io.BytesIO()
            fastavro.schemaless_writer(
                buf, schema, {"headers": {"replay": "true", "eventId": eid, "timestamp": ts}, "body": body}
            )
            buf.getvalue()

    # Same bytes, or the numbers mean nothing.
    for ts, eid in events[:1000]:
        buf = io.BytesIO()
        hdrs = dict(enc_headers(enc, ts, eid))
        fastavro.schemaless_writer(buf, schema, {"headers": hdrs, "body": body})
        assert with_id(body, ts, eid) == buf.getvalue(), "encoder differs from fastavro"
    return {
        "encode_ns_per_event": _best_ns(ours, n),
        "encode_generic_ns_per_event": _best_ns(ours_generic, n),
        "fastavro_encode_ns_per_event": _best_ns(reference, n),
    }


def enc_headers(enc: Any, ts: str, eid: str) -> list[tuple[str, str]]:
    """The header order EnvelopeEncoder writes (decoded from its own output), for the fastavro reference."""
    from airflow_flume_provider.envelope import decode_event

    return list(decode_event(enc.encode(b"", ts, {"eventId": eid})).headers.items())


def _best_ns(fn: Callable[[], None], n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e9


def bench_raw(lines: list[bytes], topic: str) -> float:
    """The limit: a bare confluent-kafka loop producing pre-built envelopes until every one is acked."""
    from confluent_kafka import Producer

    from airflow_flume_provider.envelope import encode_event

    values = [encode_event(*_envelope_parts(line)) for line in lines]
    producer = Producer(producer_config())
    acked = [0]
    failed = [0]

    def cb(err: Any, _msg: Any) -> None:
        if err is None:
            acked[0] += 1
        else:
            failed[0] += 1

    t0 = time.perf_counter()
    for v in values:
        while True:
            try:
                producer.produce(topic, v, on_delivery=cb)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(120)
    dt = time.perf_counter() - t0
    assert left == 0 and failed[0] == 0 and acked[0] == len(values), (left, failed[0], acked[0])
    return len(values) / dt


def _peer_producer(path: str, limit: int) -> Any:
    """producer_function for ProduceToTopicOperator: parse each line and encode the envelope with fastavro."""
    import fastavro

    from airflow_flume_provider.envelope import FLUME_EVENT_SCHEMA

    schema = fastavro.parse_schema(FLUME_EVENT_SCHEMA)
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            if i >= limit:
                break
            headers, body = _envelope_parts(line.rstrip(b"\n"))
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, {"headers": headers, "body": body})
            yield None, buf.getvalue()


def bench_peer(path: Path, events: int, topic: str, synchronous: bool) -> float:
    """apache-airflow-providers-apache-kafka's ProduceToTopicOperator, executed in-process as a task would."""
    from airflow.providers.apache.kafka.operators.produce import ProduceToTopicOperator

    conn_id = "kafka_bench_peer"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {"conn_type": "kafka", "extra": producer_config()}
    )
    op = ProduceToTopicOperator(
        task_id="peer",
        topic=topic,
        kafka_config_id=conn_id,
        producer_function=_peer_producer,
        producer_function_args=[str(path), events],
        synchronous=synchronous,
    )
    # Its default delivery callback logs every message: keep that cost, but send it to a file, not the terminal.
    with _stdout_to(WORK / "peer-output.log"):
        t0 = time.perf_counter()
        op.execute({})
        dt = time.perf_counter() - t0
    return events / dt


@contextlib.contextmanager
def _stdout_to(path: Path) -> Any:
    sys.stdout.flush()
    saved = os.dup(1)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def bench_replay(path: Path, topic: str, events: int) -> float:
    """ReplayFlumeEventsOperator executed in-process, as a task would, until every message is acknowledged."""
    from airflow_flume_provider.operators.replay import ReplayFlumeEventsOperator

    ckpt = Path(tempfile.mkdtemp(dir=WORK, prefix="ckpt-"))
    op = ReplayFlumeEventsOperator(
        task_id=f"replay_{uuid.uuid4().hex[:6]}",
        source=str(path),
        topic=topic,
        start="2019-07-01T00:00:00Z",
        end="2019-09-01T00:00:00Z",
        event_time_field="ts",
        event_id_field="id",
        headers={"replay": "true"},
        sink_path_template=f"hdfs://{stackctl.NAMENODE}/flume/events/%Y-%m-%d",
        checkpoint_dir=str(ckpt),
        resume=False,
        progress_interval_s=30,
    )
    t0 = time.perf_counter()
    manifest = op.execute({"run_id": f"bench_{uuid.uuid4().hex[:6]}"})
    dt = time.perf_counter() - t0
    acked = _acked(manifest)
    assert acked == events, f"replay acknowledged {acked} of {events}"
    return events / dt


def _acked(manifest: dict[str, Any]) -> int:
    totals = manifest.get("totals", manifest)
    for key in ("acknowledged", "acked"):
        if key in totals:
            return int(totals[key])
    raise KeyError(f"no acknowledged count in manifest keys {sorted(totals)}")


def bench_rss(size_bytes: int) -> float:
    """Peak RSS (MB) of a separate process replaying a JSONL file of ``size_bytes`` (dry run off, real broker)."""
    big = WORK / f"rss-{size_bytes}.jsonl"
    if not big.exists() or big.stat().st_size < size_bytes:
        unit = make_jsonl(WORK / "rss-unit.jsonl", 200_000, seed=11).read_bytes()
        with open(big, "wb") as out:
            written = 0
            while written < size_bytes:
                out.write(unit)
                written += len(unit)
    with open(big, "rb") as f:
        events = sum(1 for _ in f)
    topic = f"bench-rss-{uuid.uuid4().hex[:6]}"
    create_topic(topic)
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        "import run as b; from pathlib import Path;"
        "b.bench_replay(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]));"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across execve.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1];"
        "print(json.dumps({'maxrss_kb': int(hwm)}))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, str(ROOT / "benchmarks"), str(big), topic, str(events)],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        delete_topic(topic)
    return json.loads(out.stdout.strip().splitlines()[-1])["maxrss_kb"] / 1024


def bench_sensor_poke(files: int) -> dict[str, float]:
    """One completeness poke of a partition holding ``files`` finished files on the real HDFS, and count mode.

    The files are created empty by FsShell ``-touchz`` in one JVM per 2,000 (a listing costs the same whatever
    the files hold; writing 10,000 non-empty files through HDFS takes most of an hour here). Measured: the
    median time and WebHDFS request count of a default poke (exists, no_in_use, quiet, watermark), and, in
    count mode, the bytes read by a poke after one new non-empty file appears in the counted partition.
    """
    from airflow_flume_provider.bucketpath import PathTemplate
    from airflow_flume_provider.hdfs_client import HdfsClient
    from airflow_flume_provider.partition_check import (
        FileNaming,
        PartitionSpec,
        PartitionState,
        poke_partition,
        resolve_partitions,
    )

    root = f"/bench/poke-{uuid.uuid4().hex[:8]}"
    template = PathTemplate(root + "/%Y-%m-%d")
    day = datetime(2001, 1, 1, tzinfo=timezone.utc)
    paths, next_paths, end_ts = resolve_partitions(template, day)
    _hdfs_shell("-mkdir", "-p", paths[0])
    names = [f"{paths[0]}/FlumeData.{1_000_000_000_000 + i}" for i in range(files)]
    for i in range(0, files, 2000):
        _hdfs_shell("-touchz", *names[i : i + 2000])
    naming = FileNaming(in_use_prefix="_", file_type="DataStream")
    client = HdfsClient([stackctl.WEBHDFS_URL], user=stackctl.HDFS_USER)
    base = {"paths": paths, "next_paths": next_paths, "end_ts": end_ts, "naming": naming, "quiet_period": 0.0}
    spec = PartitionSpec(**base)
    times, calls = [], []
    for _ in range(5):
        report, _ = poke_partition(client, spec, PartitionState())
        assert report.ready and report.files == files, report.summary()
        times.append(report.elapsed_s)
        calls.append(report.requests)
    count_spec = PartitionSpec(**base, checks=(*spec.checks, "count"), expected_count=1)
    report, state = poke_partition(client, count_spec, PartitionState())  # caches every file's count
    assert report.event_count == 0 and len(state.counts) == files, report.summary()
    _hdfs_put_bytes(f"{paths[0]}/FlumeData.2000000000000", b'{"id":"new"}\n')
    report, state = poke_partition(client, count_spec, state)
    assert report.event_count == 1 and report.ready, report.summary()
    _hdfs_shell("-rm", "-r", "-f", "-skipTrash", root)
    return {
        "sensor_poke_10k_files_s": statistics.median(times),
        "sensor_poke_10k_files_webhdfs_calls": statistics.median(calls),
        "sensor_poke_files": files,
        "count_poke_after_one_new_file_bytes_read": report.bytes_read,
        "count_poke_after_one_new_file_webhdfs_calls": report.requests,
    }


def _hdfs_shell(*args: str) -> None:
    """Run one Hadoop FsShell command in a JVM (bulk file creation is far faster than WebHDFS per file)."""
    cp = ":".join([str(stackctl.GENCONF / "hadoop"), str(stackctl.LIB / "hadoop" / "*")])
    cmd = [stackctl._java(), "-Xmx256m", *stackctl.ADD_OPENS, "-cp", cp, "org.apache.hadoop.fs.FsShell", *args]
    subprocess.run(cmd, check=True, capture_output=True)


def _hdfs_put_bytes(path: str, data: bytes) -> None:
    from airflow_flume_provider.hdfs_client import HdfsClient

    with HdfsClient([stackctl.WEBHDFS_URL], user=stackctl.HDFS_USER) as client:
        client.create(path, data)


# --------------------------------------------------------------------------- driver


def median_of(fn: Callable[[], float], runs: int) -> tuple[float, list[float]]:
    values = [fn() for _ in range(runs)]
    return statistics.median(values), values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--sync-events", type=int, default=20_000, help="events for the peer's synchronous run"
    )
    # The peer runs at ~10k events/s: 1M events x 3 runs were ~6 of the bench's minutes for a rate that 200k
    # events measure as well.
    parser.add_argument(
        "--peer-events", type=int, default=200_000, help="events for the peer's synchronous=False run"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poke-files", type=int, default=10_000)
    parser.add_argument("--rss-bytes", type=int, default=1024**3)  # memory is flat past the first MBs
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        help="parts to skip: encode raw peer replay sensor rss batch hdfs triggers e2e",
    )
    parser.add_argument("--e2e-events", type=int, default=1_000_000, help="events replayed through Flume (e2e)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {os.cpu_count()} cpu {platform.machine()} python {platform.python_version()}",
        "broker_version": stackctl.VERSIONS["kafka"],
        "flume_version": stackctl.VERSIONS["flume"],
        "hadoop_version": stackctl.VERSIONS["hadoop"],
        "events": args.events,
        "runs": args.runs,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    t_start = time.time()
    data = make_jsonl(WORK / f"events-{args.events}.jsonl", args.events)
    lines = data.read_bytes().splitlines()

    def fresh_topic() -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        create_topic(name)
        return name

    def with_topic(fn: Callable[[str], float]) -> Callable[[], float]:
        def run() -> float:
            topic = fresh_topic()
            try:
                return fn(topic)
            finally:
                delete_topic(topic)

        return run

    if "encode" not in args.skip:
        results.update(bench_encode())
    if "raw" not in args.skip:
        results["raw_producer_events_per_s"], results["raw_producer_runs"] = median_of(
            with_topic(lambda t: bench_raw(lines, t)), args.runs
        )
    if "replay" not in args.skip:
        results["replay_events_per_s"], results["replay_runs"] = median_of(
            with_topic(lambda t: bench_replay(data, t, args.events)), args.runs
        )
    if "peer" not in args.skip:
        results["peer_sync_false_events_per_s"], results["peer_sync_false_runs"] = median_of(
            with_topic(lambda t: bench_peer(data, min(args.peer_events, args.events), t, synchronous=False)),
            args.runs,
        )
        results["peer_sync_false_events"] = min(args.peer_events, args.events)
        results["peer_sync_true_events_per_s"], results["peer_sync_true_runs"] = median_of(
            with_topic(lambda t: bench_peer(data, min(args.sync_events, args.events), t, synchronous=True)),
            args.runs,
        )
        results["peer_sync_true_events"] = min(args.sync_events, args.events)
    if "sensor" not in args.skip:
        results.update(bench_sensor_poke(args.poke_files))
    if "rss" not in args.skip:
        results["replay_peak_rss_mb"] = bench_rss(args.rss_bytes)
        results["replay_rss_input_bytes"] = args.rss_bytes
    # The issue-13 figures users feel (benchmarks/bench_user.py; skip: batch hdfs triggers e2e).
    import bench_user

    bench_user.run_parts(results, data, lines, args.e2e_events, args.runs, args.skip)

    replay = results.get("replay_events_per_s")
    if replay:
        for key, name in (
            ("raw_producer_events_per_s", "replay_vs_raw"),
            ("peer_sync_false_events_per_s", "replay_vs_peer_sync_false"),
            ("peer_sync_true_events_per_s", "replay_vs_peer_sync_true"),
        ):
            if results.get(key):
                results[name] = replay / results[key]
    if results.get("encode_ns_per_event"):
        results["encode_speedup_vs_fastavro"] = (
            results["fastavro_encode_ns_per_event"] / results["encode_ns_per_event"]
        )
    results["wall_s"] = time.time() - t_start
    results["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_table(results)
    bench_user.print_figures(results)
    print(f"\nwritten to {args.out}")
    return 0


def print_table(r: dict[str, Any]) -> None:
    rows = [
        ("replay (ReplayFlumeEventsOperator)", "replay_events_per_s", "events/s"),
        ("raw confluent-kafka loop (the limit)", "raw_producer_events_per_s", "events/s"),
        ("peer ProduceToTopicOperator synchronous=False", "peer_sync_false_events_per_s", "events/s"),
        ("peer ProduceToTopicOperator synchronous=True", "peer_sync_true_events_per_s", "events/s"),
        ("replay / raw", "replay_vs_raw", "x"),
        ("replay / peer sync=False", "replay_vs_peer_sync_false", "x"),
        ("replay / peer sync=True", "replay_vs_peer_sync_true", "x"),
        ("encode, ours (EnvelopeEncoder)", "encode_ns_per_event", "ns/event"),
        ("encode, fastavro.schemaless_writer", "fastavro_encode_ns_per_event", "ns/event"),
        ("sensor poke, 10k-file partition", "sensor_poke_10k_files_s", "s"),
        ("sensor poke, WebHDFS requests", "sensor_poke_10k_files_webhdfs_calls", "requests"),
        ("count poke after 1 new file, bytes read", "count_poke_after_one_new_file_bytes_read", "bytes"),
        ("replay peak RSS, 2 GB JSONL", "replay_peak_rss_mb", "MB"),
    ]
    print(f"\n{'measure':<48} {'value':>14}  unit")
    for label, key, unit in rows:
        if key in r:
            v = r[key]
            text = f"{v:,.2f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}"
            print(f"{label:<48} {text:>14}  {unit}")


if __name__ == "__main__":
    sys.exit(main())
