"""Cost of one sensor poke on real HDFS: a 10,000-file partition, listed in LISTSTATUS_BATCH pages."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.partition_check import FileNaming, PartitionSpec, PartitionState, poke_partition

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
N_FILES = 10_000
LS_LIMIT = 1000  # the NameNode's dfs.ls.limit (Hadoop's default): entries per LISTSTATUS_BATCH page
PARTITION = "/bench/sensor-10k/2003-01-01"  # not a Flume path: written once here, reused by later runs
NAMING = FileNaming(in_use_prefix="_", file_type="DataStream", serializer="TEXT")


def _fs_shell(*args: str) -> None:
    """Run Hadoop's FsShell (one JVM, NameNode RPC) with the stack's client config."""
    import stackctl  # the stack under test (FLUME_STACK_WORK / FLUME_STACK_PORT_OFFSET), not always .stack/

    cp = f"{stackctl.GENCONF / 'hadoop'}:{stackctl.LIB / 'hadoop' / '*'}"
    env = {**os.environ, "HADOOP_USER_NAME": "root"}
    subprocess.run(
        ["java", "-Xmx512m", "-cp", cp, "org.apache.hadoop.fs.FsShell", *args],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )


def _ensure_10k(client: HdfsClient) -> None:
    try:
        have = {s.name for s in client.list_status(PARTITION)}
    except Exception:
        have = set()
    missing = [f"{PARTITION}/FlumeData.{i:05d}" for i in range(N_FILES) if f"FlumeData.{i:05d}" not in have]
    if not missing:
        return
    _fs_shell("-mkdir", "-p", PARTITION)
    for i in range(0, len(missing), 2000):
        _fs_shell("-touchz", *missing[i : i + 2000])


def test_poke_10k_files_cost(stack: Any) -> None:
    client = HdfsClient([stack.webhdfs_url], user="root", timeout=(5, 60))
    _ensure_10k(client)
    spec = PartitionSpec(
        paths=(PARTITION,),
        naming=NAMING,
        checks=("exists", "no_in_use", "quiet"),
        quiet_period=0,
    )
    timings = []
    for _ in range(5):
        with HdfsClient([stack.webhdfs_url], user="root", timeout=(5, 60)) as c:
            t0 = time.perf_counter()
            report, _ = poke_partition(c, spec, PartitionState())
            timings.append(time.perf_counter() - t0)
        assert report.ready and report.files >= N_FILES
        assert report.requests == -(-report.files // LS_LIMIT)  # one request per page, nothing else
    median = sorted(timings)[len(timings) // 2]
    print(f"\nsensor_poke_10k_files_s={median:.3f} sensor_poke_10k_files_webhdfs_calls={report.requests}")
    assert median < 5.0  # design goal is <= 1 s; the bound here only guards against regressions


def test_count_poke_after_one_new_file_reads_only_it(stack: Any) -> None:
    client = HdfsClient([stack.webhdfs_url], user="root", timeout=(5, 60))
    _ensure_10k(client)
    extra = f"{PARTITION}/FlumeData.x{uuid.uuid4().hex}"
    spec = PartitionSpec(paths=(PARTITION,), naming=NAMING, checks=("exists", "count"), expected_count=0)
    report, state = poke_partition(client, spec, PartitionState())
    assert len(state.counts) >= N_FILES
    body = b"one\ntwo\nthree\n"
    client.create(extra, body)
    try:
        with HdfsClient([stack.webhdfs_url], user="root", timeout=(5, 60)) as c:
            report, state = poke_partition(c, spec, state)
        print(f"\ncount_poke_after_one_new_file_bytes_read={report.bytes_read} requests={report.requests}")
        assert (
            report.bytes_read == len(body) and report.requests == -(-report.files // LS_LIMIT) + 2
        )  # pages + OPEN (NN, DN)
        assert report.event_count == 3
    finally:
        client.delete(extra)
