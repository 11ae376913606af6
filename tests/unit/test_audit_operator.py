"""FlumeLateDataAuditOperator's configuration: which sink, which asset, which window (no stack needed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_flume_provider.operators.audit import FlumeLateDataAuditOperator

CONF = str(Path(__file__).resolve().parents[2] / "stack" / "conf" / "flume.conf")
UTC = timezone.utc


def test_sink_and_asset_from_the_flume_config() -> None:
    op = FlumeLateDataAuditOperator(task_id="a", flume_conf=CONF, agent="agent", sink="k_seq")
    assert (
        op.asset is not None and op.asset.name == "flume:/flume/seq" and op.asset.uri.endswith("/flume/seq")
    )
    assert op.outlets == [op.asset]
    _, naming, namenode, path = op._sink()
    assert (naming.file_type, naming.in_use_prefix, path) == ("SequenceFile", "_", "/flume/seq/%Y-%m-%d")
    assert namenode and op.asset.uri == f"hdfs://{namenode}/flume/seq"


def test_templated_path_has_no_parse_time_asset_and_naming_overrides_apply() -> None:
    op = FlumeLateDataAuditOperator(
        task_id="a",
        path_template="hdfs://nn:8020/flume/{{ var.value.x }}/%Y-%m-%d",
        file_naming={"in_use_prefix": "_", "file_type": "DataStream"},
    )
    assert op.asset is None and op.outlets == []
    plain = FlumeLateDataAuditOperator(
        task_id="b",
        path_template="hdfs://nn:8020/flume/events/%Y-%m-%d",
        file_naming={"file_type": "DataStream"},
    )
    assert plain.asset is not None and (plain.asset.uri, plain.asset.name) == (
        "hdfs://nn:8020/flume/events",
        "flume:/flume/events",
    )
    assert plain._sink()[1].file_type == "DataStream"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of path_template or flume_conf"),
        ({"path_template": "/a/%Y", "flume_conf": CONF, "agent": "a", "sink": "s"}, "exactly one"),
        ({"flume_conf": CONF}, "flume_conf needs agent and sink"),
        (
            {"path_template": "/a/%Y", "file_naming": {"prefix": "x"}},
            r"unknown file_naming keys \['prefix'\]",
        ),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FlumeLateDataAuditOperator(task_id="a", **kwargs)


def test_window_from_lookback_and_end() -> None:
    op = FlumeLateDataAuditOperator(
        task_id="a", path_template="/a/%Y-%m-%d", lookback="7", audit_end="2019-08-08"
    )
    assert op._window({}) == (datetime(2019, 8, 1, tzinfo=UTC), datetime(2019, 8, 8, tzinfo=UTC))
    op.audit_end, op.lookback = None, timedelta(hours=6)
    end = datetime(2019, 8, 2, tzinfo=UTC)
    assert op._window({"data_interval_end": end}) == (end - timedelta(hours=6), end)  # type: ignore[arg-type]
    op.lookback = "a week"
    with pytest.raises(ValueError, match="lookback 'a week' is not a number of days"):
        op._window({"data_interval_end": end})  # type: ignore[arg-type]
    op.lookback, op.audit_end = 1, "yesterday"
    with pytest.raises(ValueError, match="audit_end 'yesterday' is not ISO-8601"):
        op._window({})  # type: ignore[arg-type]


class _Ti:
    dag_id, task_id = "audit_dag", "audit"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id


class _Accessor:
    def __init__(self) -> None:
        self.extra: dict = {}
        self.partition_keys: set[str] = set()

    def add_partitions(self, key: str) -> None:
        self.partition_keys.add(key)


class _Outlets:
    """``outlet_events`` with one asset (a dict cannot hold it: Airflow 3.0's ``Asset`` is unhashable)."""

    def __init__(self, asset: object, accessor: _Accessor) -> None:
        self.asset, self.accessor = asset, accessor

    def __getitem__(self, asset: object) -> _Accessor:
        assert asset == self.asset, asset
        return self.accessor


def _run(op: FlumeLateDataAuditOperator, hdfs: object, run_id: str) -> tuple[_Accessor, list[dict]]:
    from unittest import mock

    acc = _Accessor()
    context = {"ti": _Ti(run_id), "outlet_events": _Outlets(op.asset, acc)}
    with mock.patch("airflow_flume_provider.operators.audit.FlumeHdfsHook") as hook:
        hook.return_value.get_client.return_value.__enter__.return_value = hdfs
        return acc, op.execute(context)  # type: ignore[arg-type]


def test_execute_announces_once_retries_reannounce_and_bad_markers_stop_everything() -> None:
    try:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
    except ImportError:  # Airflow < 3.2
        from airflow.exceptions import AirflowFailException, AirflowSkipException  # type: ignore[no-redef]
    from test_marker_audit import NOW, FakeHdfs, P

    from airflow_flume_provider.marker import MarkerFile, declare, read_marker, write_marker

    hdfs = FakeHdfs()
    hdfs.put(f"{P}/FlumeData.1", b"a\n", mtime=NOW)
    write_marker(hdfs, declare(P, [MarkerFile("FlumeData.1", 2, NOW, 1)], now_ms=NOW, announced_by="gate"))
    hdfs.put(f"{P}/FlumeData.2", b"b\nc\n", mtime=NOW + 7)
    op = FlumeLateDataAuditOperator(
        task_id="audit",
        path_template="hdfs://nn:8020/flume/events/%Y-%m-%d",
        file_naming={"in_use_prefix": "_", "file_type": "DataStream"},
        lookback=1,
        audit_end="2019-08-02",
    )
    acc, results = _run(op, hdfs, "r1")
    assert acc.partition_keys == {"2019-08-01"}
    assert (acc.extra["revision"], acc.extra["late_events"], acc.extra["late_files"]) == (
        2,
        2,
        ["FlumeData.2"],
    )
    assert [r["status"] for r in results] == ["revised"]
    assert read_marker(hdfs, P).announced_by == "audit_dag/r1/audit"  # type: ignore[union-attr]
    # a retry of the same task instance (its first try's event was never registered) announces again
    acc, _ = _run(op, hdfs, "r1")
    assert acc.partition_keys == {"2019-08-01"} and acc.extra["revision"] == 2
    # the next day's run: nothing new, skipped (so Airflow emits no key-less event either)
    with pytest.raises(AirflowSkipException, match="No late data"):
        _run(op, hdfs, "r2")
    hdfs.put(f"{P}/FlumeData.3", b"d\n", mtime=NOW + 9)
    hdfs.put("/flume/events/2019-07-31/_SUCCESS", b"{", mtime=NOW)
    op.lookback = 2
    before = dict(hdfs.files)
    with pytest.raises(
        AirflowFailException,
        match=r"1 unreadable partition marker\(s\), nothing written: "
        r"/flume/events/2019-07-31/_SUCCESS: invalid partition marker: not JSON",
    ):
        _run(op, hdfs, "r3")
    assert hdfs.files == before
