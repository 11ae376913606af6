"""Which partition a :class:`~airflow_flume_provider.sensors.partition.FlumePartitionSensor` watches.

The sink's path template and file naming (from ``flume_conf`` or the explicit parameters) and the run's window.
Split from the sensor module to keep it short; functions take the sensor for its parameters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from airflow_flume_provider.hdfs_uri import split_hdfs_uri
from airflow_flume_provider.naming import FileNaming

__all__ = ["instant", "sink_settings", "template_and_naming", "window"]


def sink_settings(sensor: Any) -> Any:
    """The HDFS sink's settings from the sensor's Flume config (read at execute only)."""
    from airflow_flume_provider.flume_config import load_flume_config

    return load_flume_config(sensor.flume_conf).hdfs_sink(sensor.agent, sensor.sink)  # type: ignore[arg-type]


def template_and_naming(sensor: Any) -> tuple[Any, FileNaming, str | None]:
    """The PathTemplate, file naming and namenode from the sink config or the explicit parameters."""
    from airflow_flume_provider.bucketpath import PathTemplate

    if sensor.flume_conf:
        s = sink_settings(sensor)
        naming = FileNaming.from_settings(s)
        if naming.file_type.lower() == "compressedstream" and not naming.codec:
            naming = FileNaming(**{**naming.__dict__, "codec": getattr(s, "codec", None)})
        template = s.path_template_obj()
        namenode = s.namenode
    else:
        namenode, path = split_hdfs_uri(sensor.path_template or "")
        template = PathTemplate(
            path,
            time_zone=sensor.time_zone,
            need_rounding=sensor.need_rounding,
            round_unit=sensor.round_unit,
            round_value=sensor.round_value,
        )
        naming = FileNaming()
    if sensor.naming_overrides:
        naming = FileNaming(**{**naming.__dict__, **sensor.naming_overrides})
    return template, naming, namenode or sensor.namenode


def instant(task_id: str, value: str | datetime | date, zone: str) -> datetime:
    """Parse a templated date/datetime; naive values are wall time in the template's zone."""
    if isinstance(value, str):
        value = value.strip()
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{task_id}: partition date {value!r} is not ISO-8601") from exc
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value


def window(sensor: Any, context: Any, zone: str) -> tuple[datetime, datetime | None]:
    """``partition_date`` (+ ``partition_end``), else the run's data interval, else its logical date."""
    if sensor.partition_date not in (None, ""):
        start = instant(sensor.task_id, sensor.partition_date, zone)  # type: ignore[arg-type]
        end = (
            instant(sensor.task_id, sensor.partition_end, zone)
            if sensor.partition_end not in (None, "")
            else None
        )
        return start, end
    dis, die = context.get("data_interval_start"), context.get("data_interval_end")
    if dis is not None and die is not None and die > dis:
        return dis, die
    at = context.get("logical_date") or dis or context.get("dag_run").run_after  # type: ignore[union-attr]
    return at, None
