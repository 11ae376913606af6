"""`make bench` part: big partitions and big files on the real HDFS (issue 13, figure 3).

- ``poke_100k_files_s``: one default poke (exists, no_in_use, quiet, watermark) of a partition holding
  ``files`` empty finished files, listed in ``LISTSTATUS_BATCH`` pages. The partition is built once (one FsShell
  ``-put -d -t 32`` of a local directory of empty files, see :func:`put_empty_files`), kept under
  ``FIXTURE_ROOT`` and reused while its file count is right.
- ``count_1gb_file_peak_rss_mb``: the ``count`` check over one ~1 GB block-compressed SequenceFile and one ~1 GB
  DataStream file, each streamed through WebHDFS, each in its own child process; the figure is the larger
  VmHWM (peak RSS) of the two. The files are generated locally and uploaded with FsShell ``-put``.
"""

from __future__ import annotations

import json
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PUT_THREADS = 32
FIXTURE_ROOT = "/bench/fixture-poke"
SEQ_SYNC = bytes(range(16))  # any 16 bytes; the reader only compares it with the header's
SEQ_LONG_KEY = "org.apache.hadoop.io.LongWritable"
SEQ_BYTES_VALUE = "org.apache.hadoop.io.BytesWritable"
SEQ_CODEC = "org.apache.hadoop.io.compress.DefaultCodec"
RECORDS_PER_BLOCK = 4_000


def _vlong(i: int) -> bytes:
    """Hadoop ``WritableUtils.writeVLong``."""
    if -112 <= i <= 127:
        return struct.pack(">b", i)
    length = -112
    if i < 0:
        i, length = ~i, -120
    n = (i.bit_length() + 7) // 8
    length -= n
    return struct.pack(">b", length) + i.to_bytes(n, "big")


def _text(s: str) -> bytes:
    b = s.encode()
    return _vlong(len(b)) + b


def _seq_block(first: int, rng: random.Random) -> bytes:
    """One block of a block-compressed SequenceFile as Flume writes it: LongWritable keys, BytesWritable values
    (200 random bytes each, so deflate cannot shrink the block much)."""
    keys = [struct.pack(">q", first + i) for i in range(RECORDS_PER_BLOCK)]
    vals = [struct.pack(">i", 200) + rng.randbytes(200) for _ in range(RECORDS_PER_BLOCK)]
    out = [struct.pack(">i", -1), SEQ_SYNC, _vlong(RECORDS_PER_BLOCK)]
    for buf in (
        b"".join(_vlong(len(k)) for k in keys),
        b"".join(keys),
        b"".join(_vlong(len(v)) for v in vals),
        b"".join(vals),
    ):
        packed = zlib.compress(buf)
        out += [_vlong(len(packed)), packed]
    return b"".join(out)


def write_seq_file(path: Path, size: int, _line: bytes) -> int:
    """A block-compressed SequenceFile of about ``size`` bytes; returns its record count.

    16 distinct blocks are built and repeated, which the counter cannot tell apart from distinct blocks (it
    reads the block headers and skips the compressed buffers).
    """
    rng = random.Random(3)
    header = b"SEQ\x06" + _text(SEQ_LONG_KEY) + _text(SEQ_BYTES_VALUE) + b"\x01\x01" + _text(SEQ_CODEC)
    blocks = [_seq_block(i * RECORDS_PER_BLOCK, rng) for i in range(16)]
    written, records = 0, 0
    with open(path, "wb") as out:
        out.write(header + struct.pack(">i", 0) + SEQ_SYNC)
        while written < size:
            block = blocks[(records // RECORDS_PER_BLOCK) % 16]
            out.write(block)
            written += len(block)
            records += RECORDS_PER_BLOCK
    return records


def write_datastream_file(path: Path, size: int, line: bytes) -> int:
    """A DataStream (text, one event per line) file of about ``size`` bytes; returns its line count."""
    chunk = (line + b"\n") * 4096
    per_chunk = 4096
    written, events = 0, 0
    with open(path, "wb") as out:
        while written < size:
            out.write(chunk)
            written += len(chunk)
            events += per_chunk
    return events


def put_empty_files(root: str, names: list[str]) -> None:
    """Create empty files ``root/<name>`` (names may hold ``/``) in one FsShell ``-put -d -t PUT_THREADS``.

    ``root`` must not exist yet. The files are made in a local tree and uploaded by one JVM with
    ``PUT_THREADS`` copy threads: the NameNode syncs its edit log once per create and once per close, and
    concurrent creates share those syncs (measured here under the same load: 5,000 files in 24 s with
    ``-put -t 32`` against 70 s with ``-touchz``, 2.9x).
    """
    import run as base

    parent, leaf = root.rstrip("/").rsplit("/", 1)
    with tempfile.TemporaryDirectory(dir=base.WORK) as tmp:
        local = Path(tmp) / leaf
        for name in names:
            path = local / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        base._hdfs_shell("-mkdir", "-p", parent or "/")
        base._hdfs_shell("-put", "-d", "-t", str(PUT_THREADS), str(local), parent or "/")


def _file_count(path: str) -> int:
    """Files under ``path`` (0 when it does not exist), from the NameNode's content summary."""
    import run as base

    try:
        return int(base.stackctl._webhdfs(path, "GETCONTENTSUMMARY")["ContentSummary"]["fileCount"])
    except Exception:  # noqa: BLE001 - missing directory: build it
        return 0


def poke_fixture(files: int) -> str:
    """The ``files``-file partition, built once and kept between bench runs (see the module docstring)."""
    import run as base

    part = f"{FIXTURE_ROOT}-{files}/20010101"
    if _file_count(part) != files:  # missing, or an interrupted build: rebuild it whole
        base._hdfs_shell("-rm", "-r", "-f", "-skipTrash", part)
        put_empty_files(part, [f"FlumeData.{1_000_000_000_000 + i}" for i in range(files)])
    return part


def bench_poke_many(files: int) -> dict[str, Any]:
    """Median time and WebHDFS requests of a default poke of a ``files``-file partition (5 pokes)."""
    import run as base

    from airflow_flume_provider.bucketpath import PathTemplate
    from airflow_flume_provider.hdfs_client import HdfsClient
    from airflow_flume_provider.partition_check import (
        FileNaming,
        PartitionSpec,
        PartitionState,
        poke_partition,
        resolve_partitions,
    )

    t0 = time.time()
    part = poke_fixture(files)
    built_s = time.time() - t0
    paths, next_paths, end_ts = resolve_partitions(
        PathTemplate(part.rsplit("/", 1)[0] + "/%Y%m%d"), datetime(2001, 1, 1, tzinfo=timezone.utc)
    )
    assert paths == (part,), (paths, part)
    spec = PartitionSpec(
        paths=paths,
        next_paths=next_paths,
        end_ts=end_ts,
        naming=FileNaming(in_use_prefix="_", file_type="DataStream"),
        quiet_period=0.0,
    )
    times, calls = [], []
    with HdfsClient([base.stackctl.WEBHDFS_URL], user=base.stackctl.HDFS_USER) as client:
        for _ in range(5):
            report, _ = poke_partition(client, spec, PartitionState())
            assert report.ready and report.files == files, report.summary()
            times.append(report.elapsed_s)
            calls.append(report.requests)
    return {
        "poke_100k_fixture_build_s": built_s,
        "poke_100k_files_s": statistics.median(times),
        "poke_100k_files_runs": times,
        "poke_100k_files_webhdfs_calls": statistics.median(calls),
        "poke_100k_files_count": files,
        "poke_100k_files_goal_s": 2.0,
        "poke_100k_files_vs_goal": statistics.median(times) / 2.0,
    }


# A child process per measurement: its VmHWM is the peak RSS of exactly one count.
_COUNT_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import run as b
from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.partition_check import FileNaming, PartitionSpec, PartitionState, poke_partition
path, file_type, codec = sys.argv[2], sys.argv[3], sys.argv[4] or None
naming = FileNaming(in_use_prefix="_", file_type=file_type, codec=codec)
spec = PartitionSpec(paths=(path,), next_paths=(), end_ts=None, naming=naming, quiet_period=0.0,
                     checks=("exists", "count"), expected_count=int(sys.argv[5]))
t0 = time.perf_counter()
with HdfsClient([b.stackctl.WEBHDFS_URL], user=b.stackctl.HDFS_USER) as client:
    report, _ = poke_partition(client, spec, PartitionState())
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]
print(json.dumps({"ready": report.ready, "events": report.event_count, "bytes_read": report.bytes_read,
                  "s": time.perf_counter() - t0, "maxrss_kb": int(hwm)}))
"""


def _count_in_child(path: str, file_type: str, codec: str, expected: int) -> dict[str, Any]:
    bench_dir = str(Path(__file__).resolve().parent)
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_CHILD, bench_dir, path, file_type, codec, str(expected)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"count child failed for {path}: {out.stderr[-2000:]}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["ready"] and got["events"] == expected, (path, got, expected)
    return got


def bench_count_big(size: int) -> dict[str, Any]:
    """Peak RSS of counting a ~``size``-byte SequenceFile (block, deflate) and a DataStream file through WebHDFS."""
    import os

    import run as base

    line = json.dumps({"id": "e000000001", "pad": "x" * 160}).encode()
    root = f"/bench/big{uuid.uuid4().hex[:6]}"
    out: dict[str, Any] = {"count_big_file_bytes": size}
    for kind, file_type, codec, payload in (
        ("seq", "SequenceFile", "", line),
        ("stream", "DataStream", "", line),
    ):
        local = base.WORK / f"big-{kind}-{size}"
        writer = write_seq_file if kind == "seq" else write_datastream_file
        expected = writer(local, size, payload)
        part = f"{root}/{kind}"
        try:
            base._hdfs_shell("-mkdir", "-p", part)
            base._hdfs_shell("-put", str(local), f"{part}/FlumeData.1000000000000")
            got = _count_in_child(part, file_type, codec, expected)
        finally:
            os.unlink(local)
            base._hdfs_shell("-rm", "-r", "-f", "-skipTrash", part)
        out[f"count_1gb_{kind}_peak_rss_mb"] = got["maxrss_kb"] / 1024
        out[f"count_1gb_{kind}_s"] = got["s"]
        out[f"count_1gb_{kind}_events"] = expected
        out[f"count_1gb_{kind}_bytes_read"] = got["bytes_read"]
    peak = max(out["count_1gb_seq_peak_rss_mb"], out["count_1gb_stream_peak_rss_mb"])
    out.update(
        count_1gb_file_peak_rss_mb=peak, count_1gb_file_goal_mb=100.0, count_1gb_file_vs_goal=peak / 100.0
    )
    return out


def run(files: int = 100_000, size: int = 1024**3) -> dict[str, Any]:
    """Both measurements."""
    return {**bench_poke_many(files), **bench_count_big(size)}


if __name__ == "__main__":  # python benchmarks/bench_hdfs.py [files] [bytes]
    import run as base  # noqa: F401 - sets up sys.path and the environment

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    b = int(sys.argv[2]) if len(sys.argv) > 2 else 1024**3
    print(json.dumps(run(n, b), indent=2))
