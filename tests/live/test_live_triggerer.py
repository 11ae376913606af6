"""The triggerer under load: 50 FlumePartitionTriggers deferred at once, on a real local Airflow.

Each trigger polls its partition through WebHDFS from the triggerer's one event loop. Airflow's watchdog logs
"Triggerer's async thread was blocked" when its 0.1 s sleep overran by 0.1 s, but it cannot say why: a trigger
holding the loop, or a machine too busy to run the loop's thread (another engineer's JVMs and test runs on two
cores; airflowctl gives the triggerer a higher CPU priority when it can, as a deployed triggerer has its own
CPUs). airflowctl runs the triggerer in asyncio's debug mode, as that warning advises: every loop step over
0.1 s is logged with its task, named ``<dag>/<run>/<task>/<map index>/<try> (ID n)`` for a trigger. The test
asserts that no step of these 50 triggers held the loop that long (the watchdog's own margin), and records the
watchdog's warnings with the machine's load and the triggerer's CPU use in ``run/triggerer-load.json``.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import airflowctl
import pytest
from live_support import LiveAirflow, free_days, log_from, log_size, produce_events, wait_for

from airflow_flume_provider.envelope import encode_event

pytestmark = pytest.mark.live

DAG_ID = "live_many_partitions"
N = 50
BLOCKED = re.compile(r"async thread was blocked for ([0-9.]+) seconds")
# asyncio debug mode: "Executing <Task pending name='<trigger name>' coro=<...> ...> took 0.130 seconds"
SLOW_STEP = re.compile(r"Executing <Task \w+ name='([^']*)'.*? took ([0-9.]+) seconds")


def _cpu_seconds(component: str) -> float:
    """CPU seconds (user + system) used so far by a component's process group (the triggerer and its runner)."""
    pid = airflowctl.pid_of(component)
    total = 0
    for p in airflowctl._group(pid) if pid else ():
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def test_fifty_deferred_partition_triggers_do_not_block_the_triggerer(live: LiveAirflow) -> None:
    # 1980s days no earlier run wrote (only this test writes there): each partition gets only this test's event.
    first = free_days(date(1980, 1, 1), 3650, N)
    triggerer_log = live.process_logs / "triggerer.log"
    log_start, cpu_start, t0 = log_size(triggerer_log), _cpu_seconds("triggerer"), time.monotonic()
    wait_for(lambda: live.call(f"/api/v2/dags/{DAG_ID}"), 180, f"the dag-processor to parse {DAG_ID}")
    live.unpause(DAG_ID)
    run_id = live.trigger(DAG_ID, {"first_day": first.isoformat(), "days": N, "expected_count": 1})

    def all_deferred() -> bool:
        states = live.states(DAG_ID, run_id).get("wait", [])
        return len(states) == N and all(s == "deferred" for s in states)

    wait_for(all_deferred, 600, f"{N} deferred sensors (states {live.states(DAG_ID, run_id)})", interval=2)
    events = []
    for i in range(N):
        noon = datetime(first.year, first.month, first.day, 12, tzinfo=timezone.utc) + timedelta(days=i)
        events.append(
            encode_event({"timestamp": str(int(noon.timestamp() * 1000))}, f"{run_id}-{i}".encode())
        )
    produce_events(events)

    assert live.wait_finished(DAG_ID, run_id, timeout=600) == "success", live.states(DAG_ID, run_id)
    assert live.states(DAG_ID, run_id)["wait"] == ["success"] * N
    during = log_from(triggerer_log, log_start)
    steps = [(name, float(took)) for name, took in SLOW_STEP.findall(during)]
    mine = [(name, took) for name, took in steps if name.startswith(f"{DAG_ID}/{run_id}/")]
    record = {
        "triggers": N,
        "seconds": round(time.monotonic() - t0, 1),
        "triggerer_cpu_s": round(_cpu_seconds("triggerer") - cpu_start, 1),
        "watchdog_blocked_s": [float(x) for x in BLOCKED.findall(during)],
        "slow_loop_steps": steps,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "triggerer_nice": _nice_of("triggerer"),
    }
    (airflowctl.RUN / "triggerer-load.json").write_text(json.dumps(record, indent=2))
    assert "PYTHONASYNCIODEBUG=1" in _environ_of("triggerer"), "the triggerer must run in asyncio debug mode"
    assert not mine, f"{len(mine)} loop steps of these triggers took over 0.1 s: {mine[:10]}; {record}"


def _environ_of(component: str) -> str:
    """The environment the component was started with (NUL-separated)."""
    pid = airflowctl.pid_of(component)
    return Path(f"/proc/{pid}/environ").read_text(errors="replace").replace("\0", " ") if pid else ""


def _nice_of(component: str) -> int | None:
    """The component's nice value (airflowctl raises the triggerer's priority when run as root)."""
    pid = airflowctl.pid_of(component)
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16]) if pid else None
