"""`make bench` part: time-to-ready end to end through the real Flume (issue 13, figure 1).

A bench-only Flume agent (a KafkaChannel feeding the HDFS sink, the stack's lossless topology, with a realistic
sink batch and roll: see ``SINK``) is generated under the stack's work dir and run in its own JVM, once per phase,
each time on a fresh topic (= consumer group) and a fresh HDFS root.

- **Limit** (``flume_drain_s``): the same envelopes pre-loaded into Kafka, then Flume started; from the moment
  the group has a member until its committed offset reaches the log end. With a KafkaChannel a committed offset
  means "hflushed by the HDFS sink", i.e. readable in HDFS.
- **End to end**: Flume already running; ``ReplayFlumeEventsOperator`` replays the JSONL file (in a worker
  thread, as the task would run; record timestamps = produce time, so it sends with ``produce_batch``), while a
  deferrable-style sensor loop runs on an asyncio loop, its I/O in worker threads. Timed from the replay's
  start: ``replay_s`` (the operator returned: all acknowledged, log-end offsets read, manifest built),
  ``drain_s`` (committed = log end, polled every 0.25 s) and ``ready_s`` (the sensor's ``consumed`` check, as
  ``kafka_offsets.check_consumed`` decides it, says ready; targets = the manifest's ``kafka_offsets``, the
  log-end offsets after the replay's final flush). The sensor polls every ``POKE_INTERVAL`` s from the start;
  until the replay has returned it has no targets, and the replay's end wakes it (its upstream task finished).
  Also from the same 0.25 s polls: when Flume first committed (``first_commit_s``: replay and drain overlap when
  it is well before ``replay_s``) and when the last event was in Kafka (``all_in_kafka_s``).
- Also recorded, from both phases: when every file is closed and the count of finished files equals the manifest
  (``poke_partition`` with exists + no_in_use + count), which waits for the sink's ``rollInterval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

POKE_INTERVAL = 1.0  # a poke costs 2 admin requests; 1 s keeps the sensor's share of ready_s small at 200k events
DRAIN_POLL_S = 0.25
GOAL_RATIO = 1.15
AGENT = "bench"
SINK = {
    "hdfs.batchSize": "10000",
    "hdfs.rollInterval": "30",
    "hdfs.rollSize": str(128 * 1024 * 1024),
    "hdfs.rollCount": "0",
    "hdfs.minBlockReplicas": "1",
    "hdfs.callTimeout": "60000",
    "hdfs.fileType": "DataStream",
    "hdfs.filePrefix": "FlumeData",
    "hdfs.inUsePrefix": "_",
    "hdfs.inUseSuffix": ".tmp",
    "hdfs.timeZone": "UTC",
    "hdfs.useLocalTimeStamp": "false",
}


def _conf(topic: str, root: str) -> str:
    """The bench agent's properties: KafkaChannel on ``topic`` (group = topic) -> HDFS sink under ``root``."""
    import run as base

    ch, sk = f"{AGENT}.channels.c", f"{AGENT}.sinks.k"
    lines = [
        f"{AGENT}.channels = c",
        f"{AGENT}.sinks = k",
        f"{ch}.type = org.apache.flume.channel.kafka.KafkaChannel",
        f"{ch}.kafka.bootstrap.servers = {base.stackctl.BOOTSTRAP}",
        f"{ch}.kafka.topic = {topic}",
        f"{ch}.kafka.consumer.group.id = {topic}",
        f"{ch}.kafka.consumer.auto.offset.reset = earliest",
        f"{ch}.parseAsFlumeEvent = true",
        f"{sk}.type = hdfs",
        f"{sk}.channel = c",
        f"{sk}.hdfs.path = hdfs://{base.stackctl.NAMENODE}{root}/%Y-%m-%d",
    ]
    lines += [f"{sk}.{k} = {v}" for k, v in SINK.items()]
    return "\n".join(lines) + "\n"


class BenchFlume:
    """One bench Flume agent JVM (started and stopped by pid; its log under the stack's work dir)."""

    def __init__(self, topic: str, root: str) -> None:
        import run as base

        self.dir = base.stackctl.WORK / "bench-flume"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / f"{topic}.conf"
        self.conf.write_text(_conf(topic, root))
        self.log = self.dir / f"{topic}.log"
        cmd = base.stackctl._command("flume-lossless")
        self.cmd = [*cmd[: cmd.index("-n")], "-n", AGENT, "-f", str(self.conf)]
        self.cmd = [a if not a.startswith("-Xmx") else "-Xmx512m" for a in self.cmd]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Launch the JVM; returns the launch time (perf_counter)."""
        t = time.perf_counter()
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                self.cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        return t

    def wait_started(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while "Component type: SINK, name: k started" not in self.log.read_text(errors="replace"):
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bench Flume did not start; see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def first_file_at(self) -> float | None:
        """Epoch s of the sink's first ``BucketWriter: Creating`` (its first take); the log is in local time."""
        from datetime import datetime

        for line in self.log.read_text(errors="replace").splitlines():
            if "BucketWriter: Creating" in line:
                return datetime.fromisoformat(line.split(" ", 1)[0].replace(",", ".")).timestamp()
        return None

    def under_replication_rotations(self) -> int:
        return self.log.read_text(errors="replace").count("Block Under-replication detected")


class Kafka:
    """Group progress and log-end offsets of one single-partition topic, read with the project's admin code."""

    def __init__(self, topic: str) -> None:
        import run as base

        from airflow_flume_provider import kafka_offsets

        self.topic = topic
        self.tp = (topic, 0)
        self.admin = kafka_offsets.open_admin({"bootstrap.servers": base.stackctl.BOOTSTRAP})

    def end(self) -> int:
        from airflow_flume_provider import kafka_offsets

        return kafka_offsets.log_end_offsets(self.admin, [self.tp])[self.tp]

    def group(self) -> Any:
        from airflow_flume_provider import kafka_offsets

        return kafka_offsets.read_group(self.admin, self.topic, [self.tp])

    def consumed(self, target: int) -> Any:
        from airflow_flume_provider import kafka_offsets

        return kafka_offsets.check_consumed(self.admin, self.topic, {self.tp: target})


def _wait_until(cond: Callable[[], bool], timeout: float, what: str, every: float = DRAIN_POLL_S) -> float:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return time.perf_counter()


def _finished_poke(counts: dict[str, int]) -> Callable[[], bool]:
    """A count poke (exists, no_in_use, count) against the manifest's per-partition counts."""
    import run as base

    from airflow_flume_provider.hdfs_client import HdfsClient
    from airflow_flume_provider.partition_check import (
        FileNaming,
        PartitionSpec,
        PartitionState,
        poke_partition,
    )

    spec = PartitionSpec(
        paths=tuple(sorted(counts)),
        naming=FileNaming(in_use_prefix="_", file_type="DataStream"),
        checks=("exists", "no_in_use", "count"),
        manifest=dict(counts),
    )
    client = HdfsClient([base.stackctl.WEBHDFS_URL], user=base.stackctl.HDFS_USER)
    box = {"state": PartitionState()}

    def poke() -> bool:
        report, box["state"] = poke_partition(client, spec, box["state"])
        return report.ready

    return poke


def _preload(lines: list[bytes], topic: str) -> int:
    """Pre-load the envelopes with run.py's raw loop (same envelopes as the replay sends); returns the count."""
    import run as base

    base.bench_raw(lines, topic)
    return len(lines)


def limit_phase(lines: list[bytes], counts: dict[str, int], root: str) -> dict[str, Any]:
    """Flume draining pre-loaded envelopes: startup, drain (committed = end) and all-files-finished times."""
    import run as base

    topic = f"bench-e2e-pre-{uuid.uuid4().hex[:6]}"
    base.create_topic(topic)
    kafka, flume = Kafka(topic), BenchFlume(topic, root)
    try:
        _preload(lines, topic)
        end = kafka.end()
        t_launch = flume.start()
        t_member = _wait_until(lambda: kafka.group().members > 0, 120, "the bench Flume to join its group")
        t_drained = _wait_until(lambda: kafka.group().committed.get(kafka.tp, -1) >= end, 900, "the drain")
        t_final = _wait_until(_finished_poke(counts), 300, "all files finished", every=1.0)
        rotations = flume.under_replication_rotations()
    finally:
        flume.stop()
        base.delete_topic(topic)
    return {
        "flume_startup_s": t_member - t_launch,
        "flume_drain_s": t_drained - t_member,
        "flume_drain_finished_files_s": t_final - t_member,
        "flume_under_replication_rotations": rotations,
    }


def _replay(path: Path, topic: str, root: str) -> dict[str, Any]:
    """ReplayFlumeEventsOperator as a task runs it; the bench sink's template, so the manifest names its paths."""
    import tempfile

    import run as base

    from airflow_flume_provider.operators.replay import ReplayFlumeEventsOperator

    op = ReplayFlumeEventsOperator(
        task_id=f"replay_{uuid.uuid4().hex[:6]}",
        source=str(path),
        topic=topic,
        start="2019-07-01T00:00:00Z",
        end="2019-09-01T00:00:00Z",
        event_time_field="ts",
        event_id_field="id",
        headers={"replay": "true"},
        sink_path_template=f"hdfs://{base.stackctl.NAMENODE}{root}/%Y-%m-%d",
        checkpoint_dir=tempfile.mkdtemp(dir=base.WORK, prefix="ckpt-"),
        resume=False,
        progress_interval_s=30,
    )
    return op.execute({"run_id": f"bench_{uuid.uuid4().hex[:6]}"})


async def _sensor(kafka: Kafka, box: dict[str, Any], t0: float, interval: float) -> float:
    """The deferrable-style sensor: a poke every ``interval`` s (I/O in a worker thread) until ``consumed``."""
    loop = asyncio.get_running_loop()
    box["pokes"] = 0
    while True:
        if "target" in box:
            box["pokes"] += 1
            result = await asyncio.to_thread(kafka.consumed, box["target"])
            if result.ok:
                box["reason"] = result.reason
                return time.perf_counter() - t0
        elapsed = time.perf_counter() - t0
        wait = interval - elapsed % interval
        manifest_seen = loop.create_future()
        box["wake"] = manifest_seen  # the replay's end wakes the sensor at once (its upstream task finished)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(manifest_seen, wait)


async def _kafka_watch(kafka: Kafka, box: dict[str, Any], t0: float, events: int) -> dict[str, float]:
    """0.25 s polls: Flume's first commit, the last event in Kafka, and ``drain_s`` (committed = final log end)."""
    seen: dict[str, float] = {}
    while True:
        group = await asyncio.to_thread(kafka.group)
        committed = group.committed.get(kafka.tp, -1)
        now = time.perf_counter() - t0
        if committed > 0:
            seen.setdefault("first_commit_s", now)
        if "all_in_kafka_s" not in seen and await asyncio.to_thread(kafka.end) >= events:
            seen["all_in_kafka_s"] = time.perf_counter() - t0
        if "target" in box and committed >= box["target"]:
            return {**seen, "drain_s": now}
        await asyncio.sleep(DRAIN_POLL_S)


async def _e2e(path: Path, kafka: Kafka, root: str, interval: float, events: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    box: dict[str, Any] = {}
    t0 = time.perf_counter()
    sensor = asyncio.create_task(_sensor(kafka, box, t0, interval))
    watch = asyncio.create_task(_kafka_watch(kafka, box, t0, events))
    manifest = await asyncio.to_thread(_replay, path, kafka.topic, root)
    replay_s = time.perf_counter() - t0
    box["target"] = int(manifest["kafka_offsets"][kafka.topic]["0"])  # what a consumed sensor reads
    wake = box.get("wake")
    if wake is not None and not wake.done():
        loop.call_soon(wake.set_result, None)
    ready_s, seen = await asyncio.wait_for(asyncio.gather(sensor, watch), 900)
    return {
        "manifest": manifest,
        "replay_s": replay_s,
        "ready_s": ready_s,
        "sensor_pokes": box["pokes"],
        "sensor_reason": box.get("reason"),
        "target": box["target"],
        **seen,
    }


def e2e_phase(path: Path, events: int, root: str, interval: float) -> dict[str, Any]:
    """Flume running, replay + sensor loop + drain watch; then the all-files-finished time."""
    import run as base

    from airflow_flume_provider.manifest import expected_counts

    topic = f"bench-e2e-{uuid.uuid4().hex[:6]}"
    base.create_topic(topic)
    kafka, flume = Kafka(topic), BenchFlume(topic, root)
    try:
        flume.start()
        flume.wait_started()
        _wait_until(lambda: kafka.group().members > 0, 120, "the bench Flume to join its group")
        import airflow_flume_provider.operators.replay  # noqa: F401 - imported before the clock starts

        t_start, wall_start = time.perf_counter(), time.time()
        got = asyncio.run(_e2e(path, kafka, root, interval, events))
        counts = expected_counts(got["manifest"])
        t_final = _wait_until(_finished_poke(counts), 300, "all files finished", every=1.0)
        rotations = flume.under_replication_rotations()
        first_file = flume.first_file_at()
    finally:
        flume.stop()
        base.delete_topic(topic)
    acked = base._acked(got["manifest"])
    assert acked == events == got["target"], (acked, events, got["target"])
    return {
        "e2e_replay_s": got["replay_s"],
        "e2e_replay_publish_s": got["manifest"]["timings"]["seconds"],
        "e2e_all_in_kafka_s": got["all_in_kafka_s"],
        # an idle Flume 1.11 sink sleeps up to 5 s between empty polls (SinkRunner's maxBackoffSleep, a constant)
        "e2e_flume_first_take_s": None if first_file is None else first_file - wall_start,
        "e2e_flume_first_commit_s": got["first_commit_s"],
        "e2e_drain_s": got["drain_s"],
        "e2e_time_to_ready_s": got["ready_s"],
        "e2e_finished_files_s": t_final - t_start,
        "e2e_sensor_pokes": got["sensor_pokes"],
        "e2e_sensor_reason": got["sensor_reason"],
        "e2e_under_replication_rotations": rotations,
        "counts": counts,
    }


def run(path: Path, lines: list[bytes], events: int, interval: float = POKE_INTERVAL) -> dict[str, Any]:
    """Both phases on fresh topics and HDFS roots; the figure is ``ready_s / flume_drain_s``."""
    import run as base

    tag = uuid.uuid4().hex[:6]
    root_e2e, root_pre = f"/bench/e2e-{tag}", f"/bench/e2e-pre-{tag}"
    try:
        e2e = e2e_phase(path, events, root_e2e, interval)
        counts = {p.replace(root_e2e, root_pre, 1): n for p, n in e2e.pop("counts").items()}
        limit = limit_phase(lines[:events], counts, root_pre)
    finally:
        for root in (root_e2e, root_pre):
            base._hdfs_shell("-rm", "-r", "-f", "-skipTrash", root)
    out = {**e2e, **limit}
    out.update(
        e2e_machine_load_avg_1_5_15=os.getloadavg(),
        e2e_events=events,
        e2e_sensor_check="consumed (kafka_offsets.check_consumed, targets = log end after the replay's flush)",
        e2e_sensor_poke_interval_s=interval,
        e2e_flume_sink=dict(SINK),
        e2e_flume_channel="KafkaChannel (parseAsFlumeEvent=true), 1 partition, consumer group = topic",
        e2e_replay_kafka_timestamp="producer (default: sent with produce_batch)",
        e2e_ready_goal_ratio=GOAL_RATIO,
        e2e_ready_vs_flume_drain=out["e2e_time_to_ready_s"] / out["flume_drain_s"],
        e2e_drain_after_replay_s=out["e2e_drain_s"] - out["e2e_replay_s"],
        e2e_ready_after_drain_s=out["e2e_time_to_ready_s"] - out["e2e_drain_s"],
        e2e_sensor_within_one_poke=out["e2e_time_to_ready_s"] - out["e2e_drain_s"] <= interval + DRAIN_POLL_S,
        e2e_replay_overlaps_drain=(out["e2e_flume_first_take_s"] or float("inf")) < out["e2e_replay_s"],
        e2e_finished_vs_flume_finished=out["e2e_finished_files_s"] / out["flume_drain_finished_files_s"],
    )
    return out


if __name__ == "__main__":  # python benchmarks/bench_e2e.py [events]
    import json
    import sys

    import run as base

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = base.make_jsonl(base.WORK / f"events-{n}.jsonl", n)
    print(json.dumps(run(data, data.read_bytes().splitlines(), n), indent=2, default=str))
