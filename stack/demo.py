#!/usr/bin/env python3
"""`make demo`: the 23:59:59 story, end to end on the real stack, through the example DAGs.

1. Generates a small stored dataset around 2019-08-01 23:59:59 UTC: events seconds either side of
   midnight, plus some that reached the pipeline minutes late (two JSON Lines .gz files).
2. Runs ``flume_replay_backfill`` with ``airflow dags test``: one mapped replay task per file publishes each
   event as a Flume envelope whose ``timestamp`` header is its event time, then mapped
   ``FlumePartitionSensor``s wait until real Flume 1.11.0 has written exactly the manifest's counts to HDFS.
3. Runs ``flume_partition_gate`` for 2019-08-01 and 2019-08-02 (the daily gate downstream jobs use; the run
   for day D has logical date D+1 and data interval [D, D+1)).
4. One more event stamped 2019-08-01 23:59:58 arrives late, after the day was announced. The late-data audit
   ``flume_late_data_audit`` finds it: 2019-08-01 goes to revision 2 and is announced again with its partition
   key, and one scheduler pass creates the consumer runs (``flume_daily_consumer`` on
   ``PartitionedAssetTimetable``): one per day, and one more for 2019-08-01 alone.
5. Reads the partitions back through WebHDFS and prints, per day: events expected (manifest + late), events
   found in HDFS, ready (and why), the marker's revision, next to what ingestion-time partitioning would have
   filed there.

The pipeline is the recommended topology: a KafkaChannel feeding the HDFS sink (agent ``lossless``).

Exits non-zero if a DAG run fails, any event is in the wrong day, or a count differs.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stackctl

from airflow_flume_provider.hdfs_client import FileStatus, HdfsClient, HdfsNotFound

ROOT = stackctl.ROOT
HOME = ROOT / ".airflow" / "demo"
DATA = HOME / "data"
LOGS = HOME / "logs"
DAYS = ("2019-08-01", "2019-08-02")
PARTITION_ROOT = "/flume/lossless"  # the KafkaChannel agent's sink k_lossless
LATE_EVENT = {"id": "late-after-ready", "activity_time": "2019-08-01T23:59:58.000Z", "arrival_lag_s": 86400}
MIDNIGHT = datetime(2019, 8, 2, tzinfo=timezone.utc)


def airflow_env() -> dict[str, str]:
    """The demo's Airflow: its own home and sqlite DB, the repo's dags/, connections to the local stack."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(LOGS),
            "AIRFLOW__FLUME_PROVIDER__CHECKPOINT_DIR": str(HOME / "checkpoints"),
            "FLUME_CONF": str(stackctl.FLUME_LOSSLESS_CONF),
            "FLUME_AGENT": stackctl.FLUME_LOSSLESS_AGENT,
            "FLUME_SINK": "k_lossless",
            "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps(
                {"conn_type": "kafka", "extra": {"bootstrap.servers": stackctl.BOOTSTRAP}}
            ),
            "AIRFLOW_CONN_WEBHDFS_DEFAULT": json.dumps(
                {
                    "conn_type": "webhdfs",
                    "host": stackctl.HOST,
                    "port": stackctl.NAMENODE_HTTP_PORT,
                    "login": stackctl.HDFS_USER,
                }
            ),
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        }
    )
    return env


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_dataset() -> list[dict]:
    """Events around midnight (arriving 2 s after they happened) and late ones (arriving minutes later)."""
    events = []
    for i, offset_ms in enumerate((-5000, -2000, -1001, -1000, -1, 0, 1, 999, 2000, 5000)):
        when = MIDNIGHT + timedelta(milliseconds=offset_ms)
        events.append({"id": f"ontime-{i:02d}", "activity_time": _iso(when), "arrival_lag_s": 2})
    for i, (offset_s, lag_s) in enumerate(((-300, 420), (-60, 180), (-1, 90), (-0.5, 600))):
        when = MIDNIGHT + timedelta(seconds=offset_s)
        events.append({"id": f"late-{i:02d}", "activity_time": _iso(when), "arrival_lag_s": lag_s})
    DATA.mkdir(parents=True, exist_ok=True)
    for name, part in (("ontime", [e for e in events if e["id"].startswith("ontime")]),
                       ("late", [e for e in events if e["id"].startswith("late")])):  # fmt: skip
        with gzip.open(DATA / f"events-{name}.jsonl.gz", "wt") as fh:
            for event in part:
                fh.write(json.dumps(event, separators=(",", ":")) + "\n")
    return events


def _hdfs() -> HdfsClient:
    return HdfsClient([stackctl.WEBHDFS_URL], user=stackctl.HDFS_USER, timeout=30)


def list_dir(path: str) -> list[FileStatus]:
    with _hdfs() as client:
        try:
            return client.list_status(path)
        except HdfsNotFound:
            return []


def clear_partitions() -> None:
    """Remove earlier demo output for the two days, once Flume has no file open there."""
    deadline = time.monotonic() + 60
    while any(s.name.endswith(".tmp") for d in DAYS for s in list_dir(f"{PARTITION_ROOT}/{d}")):
        if time.monotonic() > deadline:
            raise SystemExit("Flume still holds files open in the demo partitions after 60 s")
        time.sleep(1)
    with _hdfs() as client:
        for d in DAYS:
            client.delete(f"{PARTITION_ROOT}/{d}", recursive=True)


def read_partition(day: str) -> list[dict]:
    events = []
    with _hdfs() as client:
        for status in list_dir(f"{PARTITION_ROOT}/{day}"):
            if not status.is_file or status.name.startswith(("_", ".")):
                continue
            with client.open(f"{PARTITION_ROOT}/{day}/{status.name}") as stream:
                events.extend(json.loads(line) for line in stream if line.strip())
    return events


def publish_late_event() -> None:
    """The event that arrives after its day was announced, through the provider's hook; wait until it is in a
    finished file of 2019-08-01."""
    from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook

    os.environ.update({k: v for k, v in airflow_env().items() if k.startswith("AIRFLOW_CONN_")})
    FlumeKafkaHook().publish(
        [LATE_EVENT], topic=stackctl.FLUME_LOSSLESS_TOPIC, event_time="activity_time", event_id="id"
    )
    deadline = time.monotonic() + 120
    while LATE_EVENT["id"] not in {e["id"] for e in read_partition(DAYS[0])}:
        if time.monotonic() > deadline:
            raise SystemExit("the late event did not reach a finished file of 2019-08-01 within 120 s")
        time.sleep(2)


def revision(day: str) -> int | None:
    """The revision in the day's JSON ``_SUCCESS`` marker (None without one)."""
    from airflow_flume_provider.marker import read_marker

    with _hdfs() as client:
        marker = read_marker(client, f"{PARTITION_ROOT}/{day}")
    return None if marker is None else marker.revision


def consumer_runs(env: dict[str, str]) -> list[str]:
    """One scheduler pass creating partition-keyed runs of ``flume_daily_consumer``; their keys, oldest first."""
    code = (
        "import json\n"
        "from airflow.jobs.job import Job\n"
        "from airflow.jobs.scheduler_job_runner import SchedulerJobRunner\n"
        "from airflow.models.dagrun import DagRun\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        "    SchedulerJobRunner(job=Job())._create_dagruns_for_partitioned_asset_dags(s)\n"
        "with create_session() as s:\n"
        "    runs = s.query(DagRun).filter(DagRun.dag_id == 'flume_daily_consumer').order_by(DagRun.id).all()\n"
        "    print(json.dumps([r.partition_key for r in runs if r.partition_key]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"cannot create the consumer runs: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(cmd: list[str], env: dict[str, str], log_name: str) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{log_name}.log"
    print(f"$ {' '.join(cmd)}   (log: {log_path.relative_to(ROOT)})", flush=True)
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        rc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    print(f"  -> exit {rc} in {time.monotonic() - t0:.0f}s", flush=True)
    return rc


def xcom_values(env: dict[str, str], dag_id: str, task_id: str) -> list:
    """The return values of a task's (mapped) instances in the latest run of a DAG, from the demo's DB."""
    code = (
        "import json, sys\n"
        "from airflow.models.dagrun import DagRun\n"
        "from airflow.models.xcom import XComModel\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        f"    dr = s.query(DagRun).filter(DagRun.dag_id == {dag_id!r}).order_by(DagRun.id.desc()).first()\n"
        f"    rows = s.query(XComModel).filter(XComModel.dag_id == {dag_id!r}, XComModel.task_id == {task_id!r},\n"
        "        XComModel.run_id == dr.run_id, XComModel.key == 'return_value').order_by(XComModel.map_index).all()\n"
        "    print(json.dumps([XComModel.deserialize_value(r) for r in rows]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"cannot read XComs of {dag_id}.{task_id}: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    env = airflow_env()
    airflow = str(Path(sys.executable).with_name("airflow"))
    t_start = time.monotonic()
    HOME.mkdir(parents=True, exist_ok=True)
    if run([airflow, "db", "reset", "-y"], env, "db-reset") != 0:  # a fresh demo DB: runs and keys of this demo only
        return 1
    if run([airflow, "dags", "reserialize"], env, "dags-reserialize") != 0:  # the consumer must be known
        return 1
    # Airflow queues asset-triggered runs only for unpaused DAGs (new DAGs start paused)
    if run([airflow, "dags", "unpause", "flume_daily_consumer"], env, "unpause-consumer") != 0:
        return 1
    events = make_dataset()
    clear_partitions()
    print(f"dataset: {len(events)} events around {_iso(MIDNIGHT)} in {DATA.relative_to(ROOT)}/", flush=True)

    conf = {
        "source_glob": str(DATA / "events-*.jsonl.gz"),
        "start": "2019-08-01T00:00:00Z",
        "end": "2019-08-03T00:00:00Z",
        "quiet_period": 10,
    }
    failures = []
    if run([airflow, "dags", "test", "flume_replay_backfill", "2019-08-01", "-c", json.dumps(conf)], env,
           "flume_replay_backfill") != 0:  # fmt: skip
        failures.append("flume_replay_backfill run failed")
    gate: dict[str, str] = {}
    for day in DAYS:
        # The daily gate for day D runs once D has ended: its logical date is D+1, its data interval [D, D+1).
        run_at = (datetime.fromisoformat(day) + timedelta(days=1)).strftime("%Y-%m-%d")
        rc = run([airflow, "dags", "test", "flume_partition_gate", run_at, "-c", json.dumps({"quiet_period": 10})],
                 env, f"flume_partition_gate-{day}")  # fmt: skip
        if rc != 0:
            failures.append(f"flume_partition_gate {day} failed")
            gate[day] = "no (gate run failed)"
        else:
            report = xcom_values(env, "flume_partition_gate", "wait_for_partition")[-1]
            passed = ", ".join(c["name"] for c in report["checks"] if c["ok"])
            gate[day] = f"yes: {report['files']} file(s); {passed}"

    keys_before = consumer_runs(env)
    publish_late_event()
    if run([airflow, "dags", "test", "flume_late_data_audit", "2019-08-03"], env, "flume_late_data_audit") != 0:
        failures.append("flume_late_data_audit run failed")
    keys_after = consumer_runs(env)
    revisions = {day: revision(day) for day in DAYS}

    manifests = xcom_values(env, "flume_replay_backfill", "replay")
    expected: Counter[str] = Counter()
    for m in manifests:
        for path, n in (m.get("partitions") or {}).items():
            expected[path.rsplit("/", 1)[-1]] += n
        for path, n in (m.get("duplicates") or {}).items():
            expected[path.rsplit("/", 1)[-1]] += n
    expected[DAYS[0]] += 1  # the late event
    found = {day: read_partition(day) for day in DAYS}
    by_ingestion = Counter(by_ingestion_day(e) for e in events)
    misfiled = [
        (day, e["id"], e["activity_time"]) for day in DAYS for e in found[day] if not e["activity_time"].startswith(day)
    ]
    ids_found = Counter(e["id"] for day in DAYS for e in found[day])
    missing = sorted({e["id"] for e in events} - set(ids_found))

    print()
    header = (
        f"{'partition':<28} {'expected':>8} {'in HDFS':>8}  {'ready':<48} {'revision':>8} "
        f"{'ingestion-time would have':>25}"
    )
    print(header)
    print("-" * len(header))
    for day in DAYS:
        print(
            f"{PARTITION_ROOT + '/' + day:<28} {expected.get(day, 0):>8} {len(found[day]):>8}  {gate[day]:<48} "
            f"{revisions[day] or '-':>8} {by_ingestion.get(day, 0):>25}"
        )
    print()
    for day in DAYS:
        if expected.get(day, 0) != len(found[day]):
            failures.append(f"{day}: manifest says {expected.get(day, 0)}, HDFS holds {len(found[day])}")
    failures += [f"{eid} ({t}) is in {day}" for day, eid, t in misfiled]
    failures += [f"{eid} is missing from HDFS" for eid in missing]
    if revisions != {DAYS[0]: 2, DAYS[1]: 1}:
        failures.append(f"marker revisions {revisions}, expected 2019-08-01 at 2 and 2019-08-02 at 1")
    new_keys = keys_after[len(keys_before) :]
    if sorted(keys_before) != sorted(DAYS) or new_keys != [DAYS[0]]:
        failures.append(f"consumer runs by key: {keys_before} after the gates, then {new_keys} after the audit")
    print(f"consumer runs (flume_daily_consumer, by partition key): {', '.join(keys_before)} after the gates; "
          f"{', '.join(new_keys) or 'none'} after the audit found the late event (revision 2)")  # fmt: skip
    moved = sum(1 for e in events if by_ingestion_day(e) != e["activity_time"][:10])
    print(f"{len(events)} events; by event time every one is in the day it happened "
          f"({'yes' if not misfiled and not missing else 'NO'}); ingestion time would have filed {moved} "
          f"of them in the wrong day.")  # fmt: skip
    print(f"finished in {time.monotonic() - t_start:.0f}s; DAG logs in {LOGS.relative_to(ROOT)}/, "
          f"stack logs in {stackctl.LOGS.relative_to(ROOT)}/")  # fmt: skip
    if failures:
        print("\nDEMO FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def by_ingestion_day(event: dict) -> str:
    happened = datetime.fromisoformat(event["activity_time"].replace("Z", "+00:00"))
    return (happened + timedelta(seconds=event["arrival_lag_s"])).strftime("%Y-%m-%d")


if __name__ == "__main__":
    sys.exit(main())
