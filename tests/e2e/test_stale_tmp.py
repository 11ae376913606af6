"""A real abandoned in-use file: a Java HDFS writer SIGKILLed while it holds the file open (issue 13).

The writer (``StaleWriter`` below, the Hadoop 3.4.1 client of the stack) creates
``/flume/events/<day>/_FlumeData.<ms>.tmp`` as Flume's sink would (stack flume.conf: ``inUsePrefix = _``),
writes lines, hflushes them, writes a tail it never flushes, and is killed with ``kill -9``: its lease stays
with the NameNode, as after a ``kill -9`` of a Flume agent. ``airflow-flume repair-stale`` (the real CLI,
in a subprocess) then detects it, lists the repair commands in a dry run, and with ``--apply`` recovers the
lease through WebHDFS and renames the file; the finished file must hold exactly the flushed bytes.

The one long wait: HDFS lets another client recover a lease only after the soft limit (60 s since the
writer's last renewal, not configurable). The ``--apply --wait`` step waits for it once (measured about
60 s after the kill); everything else is quick.
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

from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.stale_files import LEASE_SOFT_LIMIT_S, finalize_stale, stale_in_use

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

CLI = [str(Path(sys.executable).with_name("airflow-flume"))]
WEBHDFS = stackctl.WEBHDFS_URL.replace("://", f"://{stackctl.HDFS_USER}@")
STACK_NAMING = FileNaming(in_use_prefix="_")  # stack/conf/flume.conf k_events
LINES = 2000
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


def _day_dir() -> tuple[str, str]:
    day = datetime(1980, 1, 1, tzinfo=timezone.utc) + timedelta(days=random.randrange(15 * 365))
    return f"{day:%Y-%m-%d}", f"/flume/events/{day:%Y-%m-%d}"


def test_killed_writer_file_is_detected_listed_recovered_and_renamed(stack, tmp_path: Path) -> None:
    day, directory = _day_dir()
    client = HdfsClient([stack.webhdfs_url], user=stack.user)
    client.mkdirs(directory)
    counter = int(time.time() * 1000)
    held = f"{directory}/_FlumeData.{counter}.tmp"
    empty = f"{directory}/_FlumeData.{counter + 1}.tmp"
    client.create(empty, b"")  # a 0-byte in-use file whose writer closed it (e.g. after a callTimeout)
    expected, killed = _abandon(tmp_path, held, LINES)
    time.sleep(2.5)
    by_conf = ["--flume-conf", str(stack.flume_conf), "--agent", stack.agent, "--sink", "k_events"]

    # Detection: nothing is stale for a 1 h threshold; both in-use files are for 2 s.
    fresh = cli(
        "repair-stale", directory, "--in-use-prefix", "_", "--older-than", "3600", "--webhdfs", WEBHDFS
    )
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "2 in-use file(s), 0 stale" in fresh.stdout
    found = stale_in_use(
        client.list_status(directory), STACK_NAMING, now_ms=int(time.time() * 1000), stale_after_s=2
    )
    assert sorted(st.name for st in found) == sorted([held.rsplit("/", 1)[1], empty.rsplit("/", 1)[1]])

    # Dry run (partition from the Flume config and the date): lists the repair commands, changes nothing.
    dry = cli("repair-stale", *by_conf, "--date", day, "--older-than", "2", "--webhdfs", WEBHDFS)
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert f"hdfs debug recoverLease -path {held} -retries 5" in dry.stdout
    assert f"hdfs dfs -mv {held} {directory}/FlumeData.{counter}" in dry.stdout
    assert f"hdfs dfs -mv {empty} {directory}/FlumeData.{counter + 1}" in dry.stdout
    assert {st.name for st in client.list_status(directory)} == {
        held.rsplit("/", 1)[1],
        empty.rsplit("/", 1)[1],
    }

    # --apply within the soft limit: the closed empty file is renamed, the killed writer's lease is respected.
    early = cli(
        "repair-stale",
        *by_conf,
        "--date",
        day,
        "--older-than",
        "2",
        "--apply",
        "--wait",
        "0",
        "--webhdfs",
        WEBHDFS,
    )
    assert time.monotonic() - killed < LEASE_SOFT_LIMIT_S, "too slow to observe the soft limit"
    assert early.returncode == 1, early.stdout + early.stderr
    assert f"renamed {empty} -> {directory}/FlumeData.{counter + 1} (0 bytes" in early.stdout
    assert f"wait {held}: not closed yet, its lease was renewed within the last 60 s" in early.stdout

    # --apply with a wait: the one long wait of this test (the soft limit, about 60 s after the kill).
    applied = cli(
        "repair-stale",
        directory,
        "--in-use-prefix",
        "_",
        "--older-than",
        "2",
        "--apply",
        "--wait",
        "150",
        "--webhdfs",
        WEBHDFS,
    )
    recovered_after = time.monotonic() - killed
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (
        f"renamed {held} -> {directory}/FlumeData.{counter} ({len(expected)} bytes, lease recovered"
        in applied.stdout
    )
    logging.getLogger(__name__).warning(
        "lease recovered and file renamed %.1f s after the kill: %s",
        recovered_after,
        applied.stdout.strip().splitlines()[-1],
    )

    # Every hflushed byte is readable under the finished name; the unflushed tail died with the writer.
    assert client.read(f"{directory}/FlumeData.{counter}") == expected
    assert client.read(f"{directory}/FlumeData.{counter + 1}") == b""
    assert sorted(st.name for st in client.list_status(directory)) == [
        f"FlumeData.{counter}",
        f"FlumeData.{counter + 1}",
    ]
    again = cli("repair-stale", directory, "--in-use-prefix", "_", "--older-than", "0", "--webhdfs", WEBHDFS)
    assert again.returncode == 0 and "0 in-use file(s), 0 stale" in again.stdout, again.stdout


def test_finalize_never_overwrites_an_existing_finished_file(stack) -> None:
    directory = f"/stale-tmp/{uuid.uuid4().hex[:10]}"
    client = HdfsClient([stack.webhdfs_url], user=stack.user)
    client.create(f"{directory}/_FlumeData.7.tmp", b"new")
    client.create(f"{directory}/FlumeData.7", b"old")
    statuses = [st for st in client.list_status(directory) if st.name.startswith("_")]
    actions = finalize_stale(client, directory, statuses, STACK_NAMING, log=logging.getLogger(__name__))
    assert actions == [
        f"skip {directory}/_FlumeData.7.tmp: {directory}/FlumeData.7 already exists; "
        "not overwritten (compare them, then remove one)"
    ]
    assert client.read(f"{directory}/_FlumeData.7.tmp") == b"new"
    assert client.read(f"{directory}/FlumeData.7") == b"old"
    # and HDFS itself refuses the rename without overwrite, should the file appear in between
    assert client.rename(f"{directory}/_FlumeData.7.tmp", f"{directory}/FlumeData.7") is False
    client.delete(directory, recursive=True)
