"""The example DAGs are documentation that runs: they must all import cleanly."""

from __future__ import annotations

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"flume_publish_hourly", "flume_replay_backfill", "flume_partition_gate", "flume_daily_consumer"}


def test_example_dags_parse_without_errors() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0 and 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= EXPECTED


def test_example_dags_use_the_stack_flume_config() -> None:
    conf = str(DAGS.parent / "stack" / "conf" / "flume.conf")
    for name in ("flume_publish_hourly", "flume_replay_backfill", "flume_partition_gate", "flume_daily_consumer"):
        text = (DAGS / f"{name}.py").read_text()
        assert 'stack" / "conf" / "flume.conf"' in text, name
    assert Path(conf).is_file()
