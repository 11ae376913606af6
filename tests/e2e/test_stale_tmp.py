"""Real abandoned in-use files (issue 13): a Flume agent and a Java HDFS writer, each killed with ``kill -9``
while holding a file open in one partition directory.

- The stack's Flume agent (``flume``, memory channel, stack flume.conf ``k_events``: ``inUsePrefix = _``)
  is killed (``stackctl kill``) while it writes ``_FlumeData.<n>.tmp`` for a day of its own; what WebHDFS
  reads from that file right after the kill is everything Flume hflushed.
- ``StaleWriter`` below (the stack's Hadoop 3.4.1 client) creates ``_FlumeData.<ms>.tmp`` in the same
  directory, hflushes lines, writes a tail it never flushes, and is SIGKILLed: an exact expectation.
- A 0-byte in-use file that its writer did close (as a callTimeout can leave).

``airflow-flume repair-stale`` (the real CLI, in a subprocess) then detects them, lists the repair commands
in a dry run, and with ``--apply`` recovers the leases through WebHDFS and renames the files; each finished
file must hold exactly the bytes read before. Flume is restarted at the end.

The one long wait: HDFS lets another client recover a lease only after the soft limit (60 s since the
writer's last renewal, not configurable). The ``--apply --wait`` step waits for it once, for both killed
writers (measured about 60 s after the Java writer's kill); everything else is quick.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import stackctl

from airflow_flume_provider.envelope import EnvelopeEncoder
from airflow_flume_provider.hdfs_client import HdfsClient, HdfsNotFound
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.stale_files import (
    LEASE_SOFT_LIMIT_S,
    finalize_stale,
    finished_name,
    stale_in_use,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

CLI = [str(Path(sys.executable).with_name("airflow-flume"))]
WEBHDFS = stackctl.WEBHDFS_URL.replace("://", f"://{stackctl.HDFS_USER}@")
STACK_NAMING = FileNaming(in_use_prefix="_")  # stack/conf/flume.conf k_events
LINES = 2000
LOG = logging.getLogger(__name__)
WRITER_JAVA = """
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

public class StaleWriter {
  public static void main(String[] args) throws Exception {
    FileSystem fs = FileSystem.get(new Configuration());
    FSDataOutputStream out = fs.create(new Path(args[0]));
    for (int i = 0; i < Integer.parseInt(args[1]); i++) {
      out.write(String.format("line-%06d%n", i).getBytes("UTF-8"));
    }
    out.hflush();
    long flushed = out.getPos();
    out.write("never flushed\\n".getBytes("UTF-8"));
    System.out.println("FLUSHED " + flushed);
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE);
  }
}
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def _abandon(tmp_path: Path, path: str, lines: int) -> tuple[bytes, float]:
    """Run the writer until it has hflushed ``lines`` lines, then SIGKILL it; (flushed bytes, kill time)."""
    source = tmp_path / "StaleWriter.java"
    source.write_text(WRITER_JAVA)
    classpath = f"{stackctl.GENCONF / 'hadoop'}:{stackctl.LIB / 'hadoop' / '*'}"
    proc = subprocess.Popen(
        ["java", "-Xmx128m", "-cp", classpath, str(source), path, str(lines)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HADOOP_USER_NAME": stackctl.HDFS_USER},
    )
    watchdog = threading.Timer(180, proc.kill)  # never block the suite on a writer that cannot start
    watchdog.start()
    output = []
    try:
        for line in proc.stdout or ():
            output.append(line)
            if line.startswith("FLUSHED "):
                break
    finally:
        watchdog.cancel()
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(10)
    expected = "".join(f"line-{i:06d}\n" for i in range(lines)).encode()
    assert output and output[-1].split() == ["FLUSHED", str(len(expected))], "".join(output[-20:])
    return expected, killed


def _day_dir() -> tuple[datetime, str]:
    day = datetime(1980, 1, 1, tzinfo=timezone.utc) + timedelta(days=random.randrange(15 * 365))
    return day, f"/flume/events/{day:%Y-%m-%d}"


def _in_use(client: HdfsClient, directory: str) -> list[str]:
    try:
        return [st.name for st in client.list_status(directory) if STACK_NAMING.classify(st.name) == "in_use"]
    except HdfsNotFound:
        return []


def _kill_flume_while_writing(stack, client: HdfsClient, directory: str, day: datetime) -> dict[str, bytes]:
    """Publish events of ``day`` until the stack's Flume holds an in-use file in ``directory``, then kill -9
    the agent; returns each in-use file's bytes read right after the kill (all that Flume hflushed)."""
    from confluent_kafka import Producer

    encode = EnvelopeEncoder({"source": "stale-tmp-test"}).encode
    producer = Producer({"bootstrap.servers": stack.bootstrap, "linger.ms": 5})
    stop = threading.Event()
    day_ms = int(day.timestamp() * 1000)

    def pump() -> None:
        i = 0
        while not stop.is_set():
            for _ in range(500):
                producer.produce("flume-events", encode(f"stale-{i:08d}".encode(), str(day_ms + i)))
                i += 1
            producer.poll(0)
            time.sleep(0.05)
        producer.flush(30)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        stack.wait_for(lambda: _in_use(client, directory), 120, 0.5, f"Flume to open a file in {directory}")
        time.sleep(1.5)  # a few more batches of 1,000 events hflushed
        stack.kill("flume")
    finally:
        stop.set()
        thread.join(60)
    return {name: client.read(f"{directory}/{name}") for name in _in_use(client, directory)}


def test_killed_writers_files_are_detected_listed_recovered_and_renamed(stack, tmp_path: Path) -> None:
    day, directory = _day_dir()
    client = HdfsClient([stack.webhdfs_url], user=stack.user)
    try:
        flume_files = _kill_flume_while_writing(stack, client, directory, day)
        _repair_killed_writers(stack, client, tmp_path, day, directory, flume_files)
    finally:
        stack.start("flume")


def _repair_killed_writers(
    stack, client: HdfsClient, tmp_path: Path, day: datetime, directory: str, flume_files: dict[str, bytes]
) -> None:
    assert len(flume_files) == 1 and all(flume_files.values()), {k: len(v) for k, v in flume_files.items()}
    counter = int(time.time() * 1000)
    held = f"{directory}/_FlumeData.{counter}.tmp"
    empty = f"{directory}/_FlumeData.{counter + 1}.tmp"
    client.create(empty, b"")  # a 0-byte in-use file whose writer closed it (e.g. after a callTimeout)
    expected, killed = _abandon(tmp_path, held, LINES)
    time.sleep(2.5)
    in_use = {*flume_files, held.rsplit("/", 1)[1], empty.rsplit("/", 1)[1]}
    by_conf = ["--flume-conf", str(stack.flume_conf), "--agent", stack.agent, "--sink", "k_events"]
    by_conf += ["--date", f"{day:%Y-%m-%d}", "--webhdfs", WEBHDFS]

    # Detection: nothing is stale for a 1 h threshold; every in-use file is for 2 s.
    fresh = cli("repair-stale", *by_conf, "--older-than", "3600")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "3 in-use file(s), 0 stale" in fresh.stdout
    found = stale_in_use(
        client.list_status(directory), STACK_NAMING, now_ms=int(time.time() * 1000), stale_after_s=2
    )
    assert {st.name for st in found} == in_use

    # Dry run (the partition from a PATH): lists the repair commands, changes nothing.
    dry = cli("repair-stale", directory, "--in-use-prefix", "_", "--older-than", "2", "--webhdfs", WEBHDFS)
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert f"hdfs debug recoverLease -path {held} -retries 5" in dry.stdout
    assert f"hdfs dfs -mv {held} {directory}/FlumeData.{counter}" in dry.stdout
    assert f"hdfs dfs -mv {empty} {directory}/FlumeData.{counter + 1}" in dry.stdout
    assert set(_in_use(client, directory)) == in_use

    # --apply within the soft limit: the closed empty file is renamed, the killed writer's lease is respected.
    early = cli("repair-stale", *by_conf, "--older-than", "2", "--apply", "--wait", "0")
    assert time.monotonic() - killed < LEASE_SOFT_LIMIT_S, "too slow to observe the soft limit"
    assert early.returncode == 1, early.stdout + early.stderr
    assert f"renamed {empty} -> {directory}/FlumeData.{counter + 1} (0 bytes" in early.stdout
    assert f"wait {held}: not closed yet, its lease was renewed within the last 60 s" in early.stdout

    # --apply with a wait: the one long wait of this test (the soft limit, about 60 s after the kills).
    applied = cli("repair-stale", *by_conf, "--older-than", "2", "--apply", "--wait", "150")
    recovered_after = time.monotonic() - killed
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"renamed {held} -> {directory}/FlumeData.{counter} ({len(expected)} bytes" in applied.stdout
    LOG.warning(
        "writer's file recovered and renamed %.1f s after its kill:\n%s", recovered_after, applied.stdout
    )

    # Every hflushed byte is readable under the finished name; the unflushed tail died with the writer.
    # (Flume's batches of 1,000 x 13 bytes are smaller than one 64 KB packet: nothing unflushed reached HDFS.)
    assert client.read(f"{directory}/FlumeData.{counter}") == expected
    assert client.read(f"{directory}/FlumeData.{counter + 1}") == b""
    for name, data in flume_files.items():
        assert client.read(f"{directory}/{finished_name(name, STACK_NAMING)}") == data
    assert _in_use(client, directory) == []
    again = cli("repair-stale", directory, "--in-use-prefix", "_", "--older-than", "0", "--webhdfs", WEBHDFS)
    assert again.returncode == 0 and "0 in-use file(s), 0 stale" in again.stdout, again.stdout


def test_finalize_never_overwrites_an_existing_finished_file(stack) -> None:
    directory = f"/stale-tmp/{uuid.uuid4().hex[:10]}"
    client = HdfsClient([stack.webhdfs_url], user=stack.user)
    client.create(f"{directory}/_FlumeData.7.tmp", b"new")
    client.create(f"{directory}/FlumeData.7", b"old")
    statuses = [st for st in client.list_status(directory) if st.name.startswith("_")]
    actions = finalize_stale(client, directory, statuses, STACK_NAMING, log=LOG)
    assert actions == [
        f"skip {directory}/_FlumeData.7.tmp: {directory}/FlumeData.7 already exists; "
        "not overwritten (compare them, then remove one)"
    ]
    assert client.read(f"{directory}/_FlumeData.7.tmp") == b"new"
    assert client.read(f"{directory}/FlumeData.7") == b"old"
    # and HDFS itself refuses the rename without overwrite, should the file appear in between
    assert client.rename(f"{directory}/_FlumeData.7.tmp", f"{directory}/FlumeData.7") is False
    client.delete(directory, recursive=True)
