"""The triggerer under load: 50 FlumePartitionTriggers deferred at once, on a real local Airflow.

Each trigger polls its partition through WebHDFS from the triggerer's one event loop; Airflow's watchdog logs
"Triggerer's async thread was blocked" when a trigger holds the loop for more than 0.2 s.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from live_support import LiveAirflow, produce_events, wait_for

from airflow_flume_provider.envelope import encode_event

pytestmark = pytest.mark.live

DAG_ID = "live_many_partitions"
N = 50
BLOCKED = "async thread was blocked"


def _triggerer_log_from(offset: int, live: LiveAirflow) -> str:
    with open(live.process_logs / "triggerer.log", "rb") as fh:
        fh.seek(offset)
        return fh.read().decode(errors="replace")


def test_fifty_deferred_partition_triggers_do_not_block_the_triggerer(live: LiveAirflow) -> None:
    # 1980s days: no other live or e2e test writes there, so each partition holds only this test's event.
    first = date(1980, 1, 1) + timedelta(days=random.Random(uuid.uuid4().int).randrange(3000))
    log_start = (live.process_logs / "triggerer.log").stat().st_size
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
    during = _triggerer_log_from(log_start, live)
    blocked = [line.split(BLOCKED)[1][:20] for line in during.splitlines() if BLOCKED in line]
    # A starved machine (e.g. 2 busy cores) delays the loop too: the message says how busy this one was.
    load = Path("/proc/loadavg").read_text().split()[:3]
    assert not blocked, (
        f"{len(blocked)} warnings ({blocked[:10]}) while {N} triggers ran; load average {load}"
    )
