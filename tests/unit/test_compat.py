"""The fallbacks for what older Airflows lack, on the Airflow installed (CI runs these on 3.0.6 and 3.3.2)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from airflow.sdk import DAG, Asset
from airflow.sdk.execution_time.context import OutletEventAccessor, OutletEventAccessors

from airflow_flume_provider import compat
from airflow_flume_provider.partition_assets import announce

ASSET = Asset(uri="hdfs://nn.example:8020/flume/events", name="flume:/flume/events")
DAGS = Path(__file__).resolve().parents[2] / "dags"
NEW = hasattr(OutletEventAccessor, "add_partitions")  # Airflow >= 3.3


def test_partition_keys_are_detected_from_the_outlet_accessor() -> None:
    assert compat.has_partition_keys() is NEW


def test_partitioned_schedule_on_this_airflow() -> None:
    schedule = compat.partitioned_asset_schedule(ASSET)
    if NEW:
        from airflow.sdk import PartitionedAssetTimetable

        assert isinstance(schedule, PartitionedAssetTimetable)
    else:
        assert schedule == [ASSET]


def test_partitioned_schedule_falls_back_to_the_plain_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(OutletEventAccessor, "add_partitions", raising=False)
    schedule = compat.partitioned_asset_schedule(ASSET)
    assert schedule == [ASSET]
    dag = DAG(dag_id="fallback_consumer", schedule=schedule)  # asset-triggered on every supported Airflow
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"


def test_daily_consumer_is_scheduled_on_its_asset() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0 and 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(DAGS / "flume_daily_consumer.py"))
    assert bag.import_errors == {}
    timetable = bag.dags["flume_daily_consumer"].timetable
    want = "PartitionedAssetTimetable" if NEW else "AssetTriggeredTimetable"
    assert type(timetable).__name__ == want


def test_gate_skips_with_the_exception_this_task_runner_catches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 3.0's task runner catches ``airflow.exceptions.AirflowSkipException`` (3.0's SDK has none);
    on newer Airflow that name is the SDK's class."""
    import contextlib
    import importlib.util

    import airflow.exceptions

    from airflow_flume_provider import partition_assets
    from airflow_flume_provider.hooks import flume_hdfs

    spec = importlib.util.spec_from_file_location("gate_dag", DAGS / "flume_partition_gate.py")
    gate = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(gate)  # type: ignore[union-attr]

    class Hook:
        def __init__(self, conn_id: str) -> None:
            pass

        def get_client(self) -> contextlib.nullcontext[None]:
            return contextlib.nullcontext()

    monkeypatch.setattr(flume_hdfs, "FlumeHdfsHook", Hook)
    monkeypatch.setattr(partition_assets, "announce_ready", lambda *a, **k: [])  # already announced
    report = {"files": 1, "bytes": 2, "event_count": 3, "newest_mtime": 4, "checks": [], "paths": ["/flume/events/x"]}
    with pytest.raises(airflow.exceptions.AirflowSkipException, match="already announced"):
        gate.announce_partition.function(report)


def test_announce_with_the_real_outlet_accessor() -> None:
    """Airflow >= 3.3 keys the event (``add_partitions``); older ones get the key in ``extra``."""
    context = {"outlet_events": OutletEventAccessors()}
    mode = announce(context, ASSET, "2019-08-01", {"revision": 1})
    accessor = context["outlet_events"][ASSET]
    assert mode == ("partition" if NEW else "extra")
    assert accessor.extra["partition_key"] == "2019-08-01" and accessor.extra["revision"] == 1
    if NEW:
        assert accessor.partition_keys == {"2019-08-01"}


def test_storage_conn_id_of_object_storage_paths() -> None:
    from airflow.sdk import ObjectStoragePath

    assert compat.storage_conn_id(ObjectStoragePath("s3://aws_default@bucket/x.parquet")) == "aws_default"
    assert compat.storage_conn_id(ObjectStoragePath("file:///data/x.parquet")) is None
    assert compat.storage_conn_id("/data/x.parquet") is None


def test_connection_log_is_quiet_unless_its_level_was_set(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("airflow.hooks.base")  # Airflow 3.0's BaseHook logs "Connection Retrieved" here
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    compat.quiet_connection_log()
    assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(logging.WARNING)
    monkeypatch.setattr(logger, "level", logging.DEBUG)  # set by the user: kept
    compat.quiet_connection_log()
    assert logger.level == logging.DEBUG
