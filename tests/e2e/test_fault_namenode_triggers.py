"""NameNode killed and restarted under many deferred partition sensors on one triggerer loop (issue 13).

``TRIGGERS`` real :class:`FlumePartitionTrigger`s run in one asyncio loop, as Airflow's triggerer runs them, each
polling its own real HDFS partition (finished files plus one in-use ``.tmp`` file, Flume's names) every second.
The real NameNode is killed with SIGKILL (``stackctl.kill``) while they poll, and started again with the stack's
own control. Asserted: no trigger yields anything while the NameNode is down or while its partition still holds
the in-use file; every trigger saw the outage (a transient error in its state) and recovered from it (the same
trigger, its reused HTTP session); once the in-use files are renamed to their finished names, every trigger
yields ``success`` with all files.

50 triggers, not the benchmark's 200: a restart is one event for every trigger alike, the poke cap
(``MAX_CONCURRENT_POKES``) makes 50 as concurrent on the NameNode as 200, and 50 keeps the wall time under
~90 s on a loaded 2-core machine (``benchmarks/bench_triggers.py`` keeps 200 for the loop-lag figure).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import stackctl

from airflow_flume_provider.bucketpath import PathTemplate
from airflow_flume_provider.hdfs_client import HdfsClient
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.partition_check import PartitionSpec, resolve_partitions
from airflow_flume_provider.triggers.partition import FlumePartitionTrigger

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

TRIGGERS = 50
POKE_INTERVAL = 1.0
CONN_ID = "h13_nn_restart_webhdfs"
IN_USE = "_FlumeData.1700000000099.tmp"
FINISHED = ("FlumeData.1700000000001", "FlumeData.1700000000002")


def _partitions(client: HdfsClient, root: str) -> list[str]:
    """``TRIGGERS`` hourly partitions, each with two finished files and one in-use file (not ready)."""
    template = PathTemplate(root + "/%Y-%m-%d/%H")
    start = datetime(2002, 3, 4, tzinfo=timezone.utc)
    dirs = [resolve_partitions(template, start + timedelta(hours=h))[0][0] for h in range(TRIGGERS)]
    files = [f"{d}/{name}" for d in dirs for name in (*FINISHED, IN_USE)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: client.create(p, b'{"id":"x"}\n'), files))
    return dirs


def _trigger(partition: str) -> FlumePartitionTrigger:
    spec = PartitionSpec(
        paths=(partition,),
        naming=FileNaming(in_use_prefix="_", file_type="DataStream"),
        quiet_period=1.0,
        max_transient_failure_s=600.0,
    )
    return FlumePartitionTrigger(spec=spec.to_dict(), webhdfs_conn_id=CONN_ID, poke_interval=POKE_INTERVAL)


async def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


def _polls(t: FlumePartitionTrigger) -> int:
    return int((t.state or {}).get("polls", 0))


async def _scenario(client: HdfsClient, dirs: list[str]) -> dict[str, Any]:
    """Run the triggers through kill, restart and completion; what happened and when."""
    triggers = [_trigger(d) for d in dirs]
    events: dict[int, tuple[float, dict[str, Any]]] = {}
    saw_outage: set[int] = set()

    async def consume(i: int) -> None:
        async for ev in triggers[i].run():
            events[i] = (time.monotonic(), ev.payload)

    async def watch_outage() -> None:
        while True:
            saw_outage.update(i for i, t in enumerate(triggers) if (t.state or {}).get("transient_since"))
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(consume(i)) for i in range(TRIGGERS)]
    watcher = asyncio.create_task(watch_outage())
    try:
        await _until(lambda: all(_polls(t) >= 2 for t in triggers), 60, "every trigger to poll twice")
        before_kill = [_polls(t) for t in triggers]
        await asyncio.to_thread(stackctl.kill, "namenode")
        down_at = time.monotonic()
        await _until(lambda: len(saw_outage) == TRIGGERS, 30, "every trigger to see the NameNode down")
        events_while_down = dict(events)
        await asyncio.to_thread(stackctl.start, "namenode", 180)
        up_at = time.monotonic()
        after_up = [_polls(t) for t in triggers]
        await _until(
            lambda: all(_polls(t) >= n + 2 for t, n in zip(triggers, after_up, strict=True)),
            60,
            "polls after restart",
        )
        recovered = [not (t.state or {}).get("transient_since") for t in triggers]
        events_before_complete = dict(events)
        completed_at = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            renamed = list(
                pool.map(lambda d: client.rename(f"{d}/{IN_USE}", f"{d}/FlumeData.1700000000099"), dirs)
            )
        await _until(lambda: len(events) == TRIGGERS, 60, "every trigger to yield its event")
    finally:
        watcher.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(watcher, *tasks, return_exceptions=True)
    return {
        "events": events,
        "events_while_down": events_while_down,
        "events_before_complete": events_before_complete,
        "before_kill": before_kill,
        "recovered": recovered,
        "renamed": renamed,
        "down_s": up_at - down_at,
        "completed_at": completed_at,
    }


def test_namenode_restart_under_many_triggers(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = stackctl.WEBHDFS_URL.rsplit("//", 1)[1].split(":")
    conn = {"conn_type": "webhdfs", "host": host, "port": int(port), "login": stackctl.HDFS_USER}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    root = f"/faults/nn-restart-{uuid.uuid4().hex[:8]}"
    client = HdfsClient([stackctl.WEBHDFS_URL], user=stackctl.HDFS_USER)
    t0 = time.monotonic()
    try:
        dirs = _partitions(client, root)
        got = asyncio.run(asyncio.wait_for(_scenario(client, dirs), 300))
    finally:
        if not stackctl.pid_of("namenode"):
            stackctl.start("namenode", 180)
        client.delete(root, recursive=True)
        client.close()
    assert got["events_while_down"] == {}, "a trigger yielded while the NameNode was down"
    assert got["events_before_complete"] == {}, "a trigger yielded while its partition held an in-use file"
    assert all(got["recovered"]), "a trigger still reports the outage after the restart"
    assert all(got["renamed"]) and all(n >= 2 for n in got["before_kill"])
    events = got["events"]
    assert sorted(events) == list(range(TRIGGERS))
    for i, (at, payload) in events.items():
        assert payload["status"] == "success", payload
        assert payload["report"]["files"] == 3 and payload["report"]["paths"] == [dirs[i]], payload
        assert at > got["completed_at"], f"trigger {i} ready before its partition was complete"
    print(
        f"{TRIGGERS} triggers: NameNode down {got['down_s']:.1f} s, all ready "
        f"{max(at for at, _ in events.values()) - got['completed_at']:.1f} s after completion, "
        f"test {time.monotonic() - t0:.1f} s"
    )
