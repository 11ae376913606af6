"""Partition keys, stable asset names and the announcement of a ready or revised partition. No Airflow imports.

**One asset per sink location, one partition key per partition.** The asset of a Flume HDFS sink is
``uri = hdfs://<namenode><static prefix>`` (the directories of ``hdfs.path`` before its first escape, as
before) and ``name = flume:<static prefix>`` (e.g. ``flume:/flume/events``): the same whether a task is
configured from the Flume config file or from a path template, and independent of the NameNode's spelling in
the name. Each partition is announced with the partition key = its path relative to that prefix:
``/flume/events/2019-08-01`` -> ``2019-08-01``, ``/flume/tz/2019-08-01/0530`` -> ``2019-08-01/0530``.

A downstream DAG points at one sink's partitions with
``PartitionedAssetTimetable(assets=Asset.ref(name="flume:/flume/events"))`` (or the same ``Asset(uri=...,
name=...)``, see :func:`asset_identity`) and gets one run per partition key, with ``dag_run.partition_key``.

**Once per revision.** Airflow 3.3.2 (``AssetManager._get_or_create_apdr``) folds events for a key into the
consumer's pending ``AssetPartitionDagRun`` until the scheduler creates the run, and starts a new one for the
same key afterwards. So the same key emitted for revision 2 after revision 1's run was created gives a second
consumer run; a key emitted twice before that gives one run (that sees both events). A second announcement of
the *same* revision is prevented by the marker's ``announced_revision`` (see
:func:`airflow_flume_provider.audit.on_ready`), not by Airflow.

:func:`announce` works on the task context's ``outlet_events`` duck-typed, so it needs no Airflow import:
``add_partitions(key)`` where the accessor has it (Airflow >= 3.3), else only ``extra`` (one event for the
asset, as before). An accessor has one ``extra`` for all of its keys, so per-partition extras go under
``extra["partitions"][key]``; the partition's fields are also at the top level when the task announced one key.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_flume_provider.hdfs_uri import split_hdfs_uri, static_prefix

__all__ = [
    "ASSET_NAME_PREFIX",
    "announce",
    "announce_ready",
    "announcer_of",
    "asset_identity",
    "asset_name",
    "partition_key",
    "supports_partitions",
]

ASSET_NAME_PREFIX = "flume:"


def asset_name(uri: str) -> str:
    """The stable name of the asset with ``uri`` (``hdfs://nn/flume/events`` -> ``flume:/flume/events``).

    Airflow keeps one active asset per URI: every task announcing a sink's partitions must use this name.
    """
    return f"{ASSET_NAME_PREFIX}{split_hdfs_uri(uri)[1]}"


def asset_identity(namenode: str | None, path_template: str) -> tuple[str, str]:
    """``(uri, name)`` of the asset for a sink's ``hdfs.path`` (``hdfs://nn/x/%Y`` or ``/x/%Y`` + namenode).

    :raises ValueError: no NameNode is known (the ``hdfs://`` URI needs a host).
    """
    nn, path = split_hdfs_uri(path_template)
    nn = nn or namenode
    if not nn:
        raise ValueError(
            f"asset for {path_template!r}: no NameNode (hdfs://host:port) in the path or namenode"
        )
    prefix = static_prefix(path)
    return f"hdfs://{nn}{prefix}", f"{ASSET_NAME_PREFIX}{prefix}"


def partition_key(prefix: str, partition: str) -> str:
    """The partition's path relative to the asset's prefix: ``("/flume/events", "/flume/events/2019-08-01")``
    -> ``2019-08-01``. A partition equal to the prefix (template without escapes) has key ``/``.

    :raises ValueError: the partition is not under the prefix.
    """
    prefix_path = split_hdfs_uri(prefix)[1].rstrip("/") or "/"
    part = posixpath.normpath(split_hdfs_uri(partition)[1])
    if part == prefix_path:
        return "/"
    base = prefix_path if prefix_path.endswith("/") else prefix_path + "/"
    if not part.startswith(base):
        raise ValueError(f"partition {partition!r} is not under the asset prefix {prefix!r}")
    return part[len(base) :]


def supports_partitions(context: Mapping[str, Any], asset: Any) -> bool:
    """True when this Airflow's outlet accessor can carry partition keys (``add_partitions``, Airflow >= 3.3)."""
    return hasattr(context["outlet_events"][asset], "add_partitions")


def announce(context: Mapping[str, Any], asset: Any, key: str, extra: Mapping[str, Any]) -> str:
    """Emit ``asset``'s event for partition ``key`` with ``extra`` from the running task; returns the mode.

    ``"partition"``: the key went to ``add_partitions`` (one asset event per key at task success);
    ``"extra"``: this Airflow has no partition keys, the key is in ``extra["partition_key"]``. The asset must
    be one of the task's outlets. Called again for another key of the same asset, the extras of every key stay
    under ``extra["partitions"]`` and the top-level fields are dropped (they would belong to one key only).
    """
    accessor = context["outlet_events"][asset]
    mode = "partition" if hasattr(accessor, "add_partitions") else "extra"
    if mode == "partition":
        accessor.add_partitions(key)
    merged = dict(accessor.extra or {})
    partitions = dict(merged.get("partitions") or {})
    partitions[key] = {**dict(extra), "partition_key": key}
    if len(partitions) == 1:
        merged = {**partitions[key], "partitions": partitions}
    else:
        merged = {"partitions": partitions, "partition_keys": sorted(partitions)}
    accessor.extra = merged
    return mode


def announcer_of(context: Mapping[str, Any]) -> str:
    """``dag_id/run_id/task_id`` of the running task: who announced a revision (kept in the marker)."""
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}"


def announce_ready(
    context: Mapping[str, Any],
    asset: Any,
    client: Any,
    partitions: Sequence[str],
    naming: Any,
    *,
    now_ms: int,
    checks: Sequence[str] = (),
    counts: Mapping[str, Mapping[str, int]] | None = None,
    event_counts: Mapping[str, int] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Any]:
    """A gate's whole announcement: JSON markers for the ready ``partitions`` (written atomically), then one
    :func:`announce` per revision not announced yet; returns those markers (empty: nothing to announce).

    ``counts`` = ``{partition: {file name: events}}`` the gate counted (or only ``event_counts`` =
    ``{partition: total}``), ``extra`` = ``{partition: extras}``
    (files, bytes, ...). The asset's prefix comes from its URI. See
    :func:`airflow_flume_provider.audit.declare_ready` for the once-per-revision rule.
    """
    from airflow_flume_provider.audit import declare_ready

    markers = declare_ready(
        client,
        partitions,
        naming,
        now_ms=now_ms,
        announcer=announcer_of(context),
        checks=checks,
        counts=counts,
        event_counts=event_counts,
    )
    prefix = split_hdfs_uri(asset.uri)[1]
    for m in markers:
        fields = {**(extra or {}).get(m.partition, {}), "partition": m.partition, "revision": m.revision}
        fields.setdefault("event_count", m.event_count)
        announce(context, asset, partition_key(prefix, m.partition), fields)
    return markers
