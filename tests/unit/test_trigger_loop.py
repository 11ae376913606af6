"""FlumePartitionTrigger on a shared event loop: light module imports, start delay, the cap of concurrent pokes,
one WebHDFS client per trigger (in-process fakes, no stack)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import test_partition_sensor
from test_hdfs_client import FakeWebHdfs

from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook
from airflow_flume_provider.partition_check import FileNaming, PartitionSpec
from airflow_flume_provider.triggers import partition as trig
from airflow_flume_provider.triggers.partition import FlumePartitionTrigger, poke_slots, start_delay

hdfs = test_partition_sensor.hdfs  # fixture: the fake WebHDFS behind the connection "fake_hdfs"

HEAVY = (
    "requests",
    "airflow_flume_provider.partition_check",
    "airflow_flume_provider.hdfs_client",
    "airflow_flume_provider.hdfs_formats",
    "airflow_flume_provider.hooks.flume_hdfs",
)


def spec(i: int, root: str = "/flume/events") -> dict[str, Any]:
    naming = FileNaming(in_use_prefix="_", file_type="DataStream")
    return PartitionSpec(paths=(f"{root}/{i:04d}",), naming=naming, quiet_period=0.0).to_dict()


def test_module_imports_nothing_heavy_on_the_loop() -> None:
    code = (
        "import sys, json, airflow.triggers.base; before = set(sys.modules); "
        "import airflow_flume_provider.triggers.partition; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "airflow_flume_provider.triggers.partition" in loaded  # the probe saw the import
    assert not [m for m in loaded if m in HEAVY], loaded


def test_start_delay_is_deterministic_within_one_interval_and_spread() -> None:
    assert start_delay(spec(1), 5.0) == start_delay(json.loads(json.dumps(spec(1))), 5.0)
    delays = [start_delay(spec(i), 5.0) for i in range(200)]
    assert all(0.0 <= d < 5.0 for d in delays)
    buckets = {int(d) for d in delays}  # 200 starts over 5 one-second buckets: every bucket used
    assert buckets == {0, 1, 2, 3, 4} and max(delays) - min(delays) > 4.0
    assert start_delay(spec(1), 0.0) == 0.0 and start_delay(spec(1), 10.0) == 2 * start_delay(spec(1), 5.0)


def test_poke_slots_one_semaphore_per_loop() -> None:
    async def two() -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        return poke_slots(), poke_slots()

    a1, a2 = asyncio.run(two())
    b1, _ = asyncio.run(two())
    assert a1 is a2 and b1 is not a1
    with pytest.raises(RuntimeError):
        poke_slots()  # no running loop


class _FakePoller:
    """Stands in for the worker-thread side: blocks like a poke, records how many run at once."""

    lock = threading.Lock()
    running = peak = pokes = 0

    def __init__(self, trigger: FlumePartitionTrigger) -> None:
        self.trigger, self.n = trigger, 0

    def poke(self, conn: Any) -> Any:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.pokes += 1
            cls.peak = max(cls.peak, cls.running)
        time.sleep(0.02)
        with cls.lock:
            cls.running -= 1
        self.n += 1
        event = {"status": "success", "report": {"n": self.n}} if self.n == 3 else None
        return trig._Outcome({"polls": self.n}, event=event)

    def close(self) -> None:
        pass


def test_at_most_max_concurrent_pokes_run_and_every_trigger_finishes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trig, "_Poller", _FakePoller)

    async def conn(conn_id: str) -> str:
        return "conn"

    monkeypatch.setattr(trig, "_get_connection", conn)
    triggers = [FlumePartitionTrigger(spec=spec(i), poke_interval=0.01) for i in range(40)]

    async def main() -> list[dict[str, Any]]:
        async def first(t: FlumePartitionTrigger) -> dict[str, Any]:
            async for ev in t.run():
                return ev.payload
            raise AssertionError("no event")

        return await asyncio.gather(*(first(t) for t in triggers))

    events = asyncio.run(main())
    assert [e["report"]["n"] for e in events] == [3] * 40 and _FakePoller.pokes == 120
    assert _FakePoller.peak == trig.MAX_CONCURRENT_POKES  # the cap was reached and never exceeded
    assert all(t.state == {"polls": 3} for t in triggers)


def test_one_client_per_trigger_reused_across_polls_and_closed(
    hdfs: FakeWebHdfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Any] = []
    closed: list[Any] = []
    original = FlumeHdfsHook.client_for

    def client_for(self: FlumeHdfsHook, conn: Any, **kw: Any) -> Any:
        client = original(self, conn, **kw)
        made.append(client)
        client.close = lambda c=client: closed.append(c)  # type: ignore[method-assign]
        return client

    monkeypatch.setattr(FlumeHdfsHook, "client_for", client_for)
    hdfs.put("/flume/events/0001/FlumeData.1", b"a\n", 1000)
    hdfs.put("/flume/events/0001/_FlumeData.2.tmp", b"b\n", 1000)

    def finish_after_three_listings() -> None:
        while sum(c.startswith("NN LISTSTATUS_BATCH") for c in list(hdfs.calls)) < 3:
            time.sleep(0.01)
        hdfs.rename("/flume/events/0001/_FlumeData.2.tmp", "/flume/events/0001/FlumeData.2")

    threading.Thread(target=finish_after_three_listings, daemon=True).start()
    t = FlumePartitionTrigger(spec=spec(1), webhdfs_conn_id="fake_hdfs", poke_interval=0.05)

    async def first() -> dict[str, Any]:
        async for ev in t.run():
            return ev.payload
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(first(), 20))
    assert event["status"] == "success" and event["report"]["files"] == 2
    assert t.state is not None and t.state["polls"] >= 3  # several polls ...
    assert len(made) == 1 and closed == made  # ... through one client, closed when the trigger ended
    listings = [c for c in hdfs.calls if c.startswith("NN LISTSTATUS_BATCH /flume/events/0001")]
    assert len(listings) >= t.state["polls"]


@pytest.mark.skipif(
    not hasattr(FlumeHdfsHook, "aget_connection"),
    reason="Airflow 3.0: no aget_connection; the whole fetch (and its imports) runs in sync_to_async's thread",
)
def test_preload_leaves_nothing_for_the_loop_to_import() -> None:
    """After the worker-thread preload, fetching the connection on the loop imports no module."""
    code = (
        "import asyncio, json, os, sys, airflow.triggers.base\n"
        "os.environ['AIRFLOW_CONN_H13_PRELOAD'] = json.dumps({'conn_type': 'webhdfs', 'host': 'nn', 'port': 1})\n"
        "from airflow_flume_provider.triggers import partition as p\n"
        "async def main():\n"
        "    await asyncio.to_thread(p._preload)\n"
        "    before = set(sys.modules)\n"
        "    conn = await p._get_connection('h13_preload')\n"
        "    return conn.host, sorted(set(sys.modules) - before)\n"
        "print(json.dumps(asyncio.run(main())))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    host, imported_on_loop = json.loads(out.stdout.strip().splitlines()[-1])
    assert host == "nn" and imported_on_loop == []
