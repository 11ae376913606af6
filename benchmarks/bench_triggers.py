"""`make bench` part: 200 deferred partition sensors on one triggerer loop (issue 13, figure 2).

200 real ``FlumePartitionTrigger``s run in one asyncio loop, each wrapped in a task as Airflow's triggerer does
(``async for event in trigger.run()``), polling 200 real HDFS partitions every ``POKE_INTERVAL`` s. Every partition
holds finished files and one in-use ``.tmp`` file, so no trigger becomes ready and all keep polling for the whole
run. A 10 ms ticker task measures how late the loop wakes it (the loop's lag; a first pass without triggers gives the machine's own baseline, a pass with the 200 starts
spread over one poke interval gives the lag when sensors defer at different times). Recorded: the max and p99 lag,
the process's RSS (VmHWM, a child process of its own), and WebHDFS requests/s (request lines sent, counted by
an ``http.client.send`` audit hook; the NameNode's ``NameNodeActivity`` ops/s are recorded too, but count every
client of the NameNode). A second, shorter pass runs the loop in asyncio debug mode
with ``slow_callback_duration`` = 50 ms: every step of a trigger that blocks the loop longer is reported with
the coroutine's file:line, and an audit hook lists every blocking call (connect, getaddrinfo, open, sleep,
subprocess) made on the loop's own thread, with the project/Airflow file:line that made it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

TRIGGERS = 200
POKE_INTERVAL = 5.0
FINISHED_PER_PARTITION = 20
TICK_S = 0.010
RUN_S = 30.0
DEBUG_RUN_S = 12.0
BASELINE_S = 10.0
STAGGER_RUN_S = 20.0
LAG_GOAL_MS = 50.0
RSS_GOAL_MB = 300.0
TEMPLATE = "/%Y-%m-%d/%H"


def _vm(field: str) -> float:
    """A /proc/self/status memory field in MB."""
    with open("/proc/self/status") as fh:
        line = next(ln for ln in fh if ln.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _namenode_ops() -> int:
    """Listing + file-info + open operations the NameNode has served (WebHDFS requests land here)."""
    import run as base

    url = f"{base.stackctl.WEBHDFS_URL}/jmx?qry=Hadoop:service=NameNode,name=NameNodeActivity"
    bean = base.stackctl._http_json(url)["beans"][0]
    return int(bean["GetListingOps"]) + int(bean["FileInfoOps"]) + int(bean["GetBlockLocations"])


def make_partitions(root: str, n: int) -> list[str]:
    """``n`` hourly partitions under ``root``, each with finished files and one in-use file (never ready)."""
    import bench_hdfs

    from airflow_flume_provider.bucketpath import PathTemplate
    from airflow_flume_provider.partition_check import resolve_partitions

    template = PathTemplate(root + TEMPLATE)
    start = datetime(2001, 1, 1, tzinfo=timezone.utc)
    dirs = [resolve_partitions(template, start + timedelta(hours=h))[0][0] for h in range(n)]
    rel = [d[len(root) + 1 :] for d in dirs]
    names = [f"{d}/FlumeData.{1_000_000_000_000 + i}" for d in rel for i in range(FINISHED_PER_PARTITION)]
    names += [f"{d}/_FlumeData.{2_000_000_000_000}.tmp" for d in rel]
    bench_hdfs.put_empty_files(root, names)
    return dirs


def _triggers(root: str, n: int) -> list[Any]:
    from airflow_flume_provider.bucketpath import PathTemplate
    from airflow_flume_provider.partition_check import (
        FileNaming,
        PartitionSpec,
        resolve_partitions,
    )
    from airflow_flume_provider.triggers.partition import FlumePartitionTrigger

    template = PathTemplate(root + TEMPLATE)
    start = datetime(2001, 1, 1, tzinfo=timezone.utc)
    naming = FileNaming(in_use_prefix="_", file_type="DataStream")
    out = []
    for h in range(n):
        paths, next_paths, end_ts = resolve_partitions(template, start + timedelta(hours=h))
        spec = PartitionSpec(
            paths=paths, next_paths=next_paths, end_ts=end_ts, naming=naming, quiet_period=60.0
        )
        out.append(FlumePartitionTrigger(spec=spec.to_dict(), poke_interval=POKE_INTERVAL))
    return out


async def _drive(triggers: list[Any], seconds: float, stagger: bool = False) -> dict[str, Any]:
    """Run the triggers and the ticker for ``seconds``; the ticker's lags and what the triggers yielded.

    All triggers start at once (a mapped sensor deferring 200 tasks together), or with ``stagger`` spread evenly
    over one poke interval (sensors deferred at different times).
    """
    loop = asyncio.get_running_loop()
    events: list[Any] = []

    async def consume(trigger: Any, delay: float) -> None:
        await asyncio.sleep(delay)
        async for event in trigger.run():  # as the triggerer's run_trigger does
            events.append(event.payload)

    step = POKE_INTERVAL / max(len(triggers), 1) if stagger else 0.0
    tasks = [asyncio.create_task(consume(t, i * step), name=f"trigger-{i}") for i, t in enumerate(triggers)]
    lags: list[float] = []
    start = loop.time()
    end = start + seconds
    first_cycle = 0.0  # the start: 200 triggers fetch their connection and poke at once
    while loop.time() < end:
        t0 = loop.time()
        await asyncio.sleep(TICK_S)
        lag = loop.time() - t0 - TICK_S
        if t0 - start < POKE_INTERVAL:
            first_cycle = max(first_cycle, lag)
        else:
            lags.append(lag)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lags.sort()
    return {
        "max_lag_ms": max(first_cycle, lags[-1]) * 1000,
        "first_cycle_max_lag_ms": first_cycle * 1000,
        "steady_max_lag_ms": lags[-1] * 1000,
        "p99_lag_ms": lags[int(len(lags) * 0.99)] * 1000,
        "ticks": len(lags),
        "events": events,
    }


BLOCKING_EVENTS = (
    "socket.connect",
    "socket.getaddrinfo",
    "socket.sendto",
    "open",
    "time.sleep",
    "subprocess.Popen",
)


DEBUG_MODE_READS = ("tokenize.py", "linecache.py")


class _LoopIo:
    """An audit hook: blocking I/O calls made ON the loop's thread, with the project/Airflow frame making them."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.found: dict[str, int] = {}
        self.webhdfs_requests = 0
        sys.addaudithook(self)

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "http.client.send":
            data = args[1]
            if isinstance(data, bytes | bytearray) and b"/webhdfs/v1/" in data[:200]:
                self.webhdfs_requests += 1  # every thread: one per WebHDFS request line sent
            return
        if self.thread is None or event not in BLOCKING_EVENTS or threading.get_ident() != self.thread:
            return
        inner = frame = sys._getframe(1)
        if inner.f_code.co_filename.endswith(DEBUG_MODE_READS):
            return  # asyncio debug mode itself reads source lines for its tracebacks
        while frame is not None and not any(
            k in frame.f_code.co_filename for k in ("airflow_flume_provider", "/airflow/")
        ):
            frame = frame.f_back
        where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "(no project/Airflow frame)"
        what = str(args[0])[:80] if args else ""
        key = f"{event} {what} at {where} (in {inner.f_code.co_filename}:{inner.f_lineno})"
        self.found[key] = self.found.get(key, 0) + 1


class _SlowSteps(logging.Handler):
    """Collects asyncio's "Executing <Task ...> took N seconds" debug-mode warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "took" in msg and "Executing" in msg:
            self.lines.append(msg[:400])


class _GcPauses:
    """CPython's garbage-collection pauses (ms) per generation, while ``active``: a full (gen 2) collection walks
    every object of the process (Airflow's ~200k and more) and stops every thread, the loop's too."""

    def __init__(self) -> None:
        self.active = False
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._t0 = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self.active:
            self.pauses[info["generation"]].append((time.perf_counter() - self._t0) * 1000)

    def summary(self) -> dict[str, Any]:
        return {f"gen{g}": {"count": len(v), "max_ms": max(v, default=0.0)} for g, v in self.pauses.items()}


def _module_import_ms() -> float:
    """What importing the trigger module costs the loop (the triggerer imports it there; Airflow is loaded)."""
    import airflow.triggers.base  # noqa: F401 - loaded in any triggerer before a trigger class

    t0 = time.perf_counter()
    import airflow_flume_provider.triggers.partition  # noqa: F401

    return (time.perf_counter() - t0) * 1000


def child(root: str) -> dict[str, Any]:
    """Inside the child process: the measured pass, then the debug pass."""
    import airflow.jobs.triggerer_job_runner  # noqa: F401 - loaded in a real triggerer before any trigger

    import_ms = _module_import_ms()
    from airflow_flume_provider.triggers import partition as trigger_module

    gc.collect()
    gc_pauses = _GcPauses()
    loop_io = _LoopIo()
    rss_before = _vm("VmRSS")
    baseline = asyncio.run(
        _drive([], BASELINE_S)
    )  # the same ticker, no trigger: what the machine alone gives
    ops0, t0 = _namenode_ops(), time.monotonic()
    gc_pauses.active = True
    measured = asyncio.run(_drive(_triggers(root, TRIGGERS), RUN_S))
    gc_pauses.active = False
    elapsed = time.monotonic() - t0
    ops_rate = (_namenode_ops() - ops0) / elapsed
    requests_rate = loop_io.webhdfs_requests / elapsed
    staggered = asyncio.run(_drive(_triggers(root, TRIGGERS), STAGGER_RUN_S, stagger=True))
    rss_after, hwm = _vm("VmRSS"), _vm("VmHWM")
    slow = _SlowSteps()
    logging.getLogger("asyncio").addHandler(slow)

    async def debug_pass() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = LAG_GOAL_MS / 1000
        loop_io.thread = threading.get_ident()
        try:
            return await _drive(_triggers(root, TRIGGERS), DEBUG_RUN_S)
        finally:
            loop_io.thread = None

    load = os.getloadavg()
    debug = asyncio.run(debug_pass())
    fired = measured["events"] + debug["events"]  # none expected: every partition holds an in-use file
    return {
        "triggerer_200_max_loop_lag_ms": measured["max_lag_ms"],
        "triggerer_200_p99_loop_lag_ms": measured["p99_lag_ms"],
        "triggerer_200_first_cycle_max_lag_ms": measured["first_cycle_max_lag_ms"],
        "triggerer_200_staggered_max_loop_lag_ms": staggered["max_lag_ms"],
        "triggerer_200_staggered_steady_max_lag_ms": staggered["steady_max_lag_ms"],
        "triggerer_200_staggered_p99_loop_lag_ms": staggered["p99_lag_ms"],
        "triggerer_0_baseline_max_loop_lag_ms": baseline["max_lag_ms"],
        "triggerer_0_baseline_p99_loop_lag_ms": baseline["p99_lag_ms"],
        "triggerer_200_steady_max_lag_ms": measured["steady_max_lag_ms"],
        "triggerer_200_blocking_io_on_loop": loop_io.found,
        "triggerer_200_slow_steps": len(slow.lines),
        "machine_load_avg_1_5_15": load,
        "triggerer_200_ticks": measured["ticks"],
        "triggerer_200_rss_mb": rss_after,
        "triggerer_200_peak_rss_mb": hwm,
        "triggerer_200_rss_before_triggers_mb": rss_before,
        "triggerer_200_webhdfs_requests_per_s": requests_rate,
        "triggerer_200_namenode_ops_per_s": ops_rate,
        "triggerer_200_debug_max_loop_lag_ms": debug["max_lag_ms"],
        "triggerer_200_slow_step_examples": [ln[:200] for ln in slow.lines[:5]],
        "triggerer_200_unexpected_events": [str(e)[:300] for e in fired][:5],
        "triggerer_module_import_ms": import_ms,
        "triggerer_max_concurrent_pokes": trigger_module.MAX_CONCURRENT_POKES,
        "triggerer_200_gc_pauses": gc_pauses.summary(),
    }


def run() -> dict[str, Any]:
    """Create the partitions, run the child, clean up; figures with their goals and ratios."""
    import run as base

    root = f"/bench/trig{uuid.uuid4().hex[:6]}"
    make_partitions(root, TRIGGERS)
    bench_dir = str(Path(__file__).resolve().parent)
    code = f"import sys, json; sys.path.insert(0, {bench_dir!r}); import bench_triggers as t; import run; "
    code += "print(json.dumps(t.child(sys.argv[1])))"
    try:
        out = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True)
    finally:
        base._hdfs_shell("-rm", "-r", "-f", "-skipTrash", root)
    if out.returncode:
        raise RuntimeError(f"trigger bench child failed: {out.stderr[-3000:]}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    got.update(
        triggerer_200_triggers=TRIGGERS,
        triggerer_200_poke_interval_s=POKE_INTERVAL,
        triggerer_200_run_s=RUN_S,
        triggerer_200_lag_goal_ms=LAG_GOAL_MS,
        triggerer_200_rss_goal_mb=RSS_GOAL_MB,
        triggerer_200_lag_vs_goal=got["triggerer_200_max_loop_lag_ms"] / LAG_GOAL_MS,
        triggerer_200_rss_vs_goal=got["triggerer_200_peak_rss_mb"] / RSS_GOAL_MB,
    )
    return got


if __name__ == "__main__":  # python benchmarks/bench_triggers.py
    import run as _base  # noqa: F401 - environment (connections) for the child

    print(json.dumps(run(), indent=2))
