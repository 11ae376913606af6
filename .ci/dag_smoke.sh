#!/usr/bin/env bash
# `airflow dags test` of the example DAG flume_replay_backfill in the venv $1 (default .venv), needing no stack:
# a dry run of a local JSON Lines file (read, validate, count per partition, send nothing; the mapped sensors
# expand to none). It checks the run succeeded and the replay counted 2 partitions and 1 event out of window.
# Own AIRFLOW_HOME and SQLite DB under .airflow/smoke-<venv>, so runs on several Airflow versions never share one.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
home=$PWD/.airflow/smoke-$(basename "$venv")
rm -rf "$home" && mkdir -p "$home/data"
export AIRFLOW_HOME=$home AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$home/airflow.db FLUME_CONF=$PWD/stack/conf/flume.conf
cat >"$home/data/events.jsonl" <<'EOF'
{"id": "a", "activity_time": "2019-08-01T10:00:00Z"}
{"id": "b", "activity_time": "2019-08-02T23:59:59.999Z"}
{"id": "c", "activity_time": "2019-09-01T00:00:00Z"}
EOF
airflow=$venv/bin/airflow
echo "dag smoke: Airflow $("$airflow" version 2>/dev/null | tail -1) in $venv"
"$airflow" db migrate >"$home/migrate.log" 2>&1 || { tail -30 "$home/migrate.log"; exit 1; }
conf="{\"source_glob\": \"$home/data/*.jsonl\", \"dry_run\": true}"
rc=0
"$airflow" dags test flume_replay_backfill -c "$conf" >"$home/dags-test.log" 2>&1 || rc=$?
if [ $rc -ne 0 ] \
  || ! grep -q "Replay done: 0 acknowledged in 2 partition(s), 0 dead-lettered, 1 out of window" "$home/dags-test.log" \
  || ! grep -q "DagRun Finished: dag_id=flume_replay_backfill.*state=success" "$home/dags-test.log"; then
  tail -60 "$home/dags-test.log"
  echo "dag smoke FAILED in $venv (exit $rc; log: $home/dags-test.log)"
  exit 1
fi
echo "dag smoke passed in $venv: flume_replay_backfill succeeded (dry run, 2 partitions, 1 out of window)"
