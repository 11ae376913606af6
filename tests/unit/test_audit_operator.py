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
