"""The ``consumed`` check inside a partition poke: which Flume consumers, which targets, one verdict.

Core module (no Airflow), used by :func:`~airflow_flume_provider.partition_check.poke_partition` (sensor, trigger
through a worker thread, ``airflow-flume partition-status``). The decision itself is
:func:`~airflow_flume_provider.consumed.decide_consumed`; the reads are in :mod:`~airflow_flume_provider.kafka_offsets`.

- **Consumers** come from the Flume config that feeds the sink (``FlumeConfig.kafka_consumers``), or from explicit
  ``kafka_topic`` + ``kafka_group_id``. They travel in :class:`PartitionSpec` as plain dicts (:func:`consumer_ref`),
  without any connection secret: the librdkafka base config is built where the poke runs.
- **Targets**: the manifest's ``kafka_offsets`` (publish/replay, exact), else the live snapshot of the topics'
  log-end offsets once the clock passes the partition end + ``allowed_lateness``, kept in
  ``PartitionState.consumed_state`` (sensor state store, trigger kwargs).
- **Topology decision.** On a KafkaSource (+ memory channel) a committed offset only means "in the channel": a
  crash after the commit loses events while the group shows lag 0. ``consumed`` is therefore *enforced* together
  with ``no_in_use`` and ``quiet`` there: :func:`consumed_checks` adds them (and says so, for the log), and
  :class:`PartitionSpec` refuses a spec without them. On a KafkaChannel feeding the sink, the offset is committed
  after the sink's HDFS flush, so ``consumed`` alone proves the events are readable in HDFS.
- Faults (unreachable broker, missing group, Flume stopped = no members) are "not ready" with their reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_flume_provider.consumed import (
    MANIFEST_KEY,
    ConsumedResult,
    Offsets,
    OffsetsFault,
    combine_results,
    decide_consumed,
    live_targets,
    merge_offsets,
    offsets_from_json,
    offsets_to_json,
)
from airflow_flume_provider.partition_model import COMMITS_BEFORE_HDFS_NEEDS, PartitionSpec

__all__ = [
    "BROKEN_FAULTS",
    "consumed_checks",
    "consumer_ref",
    "explicit_consumer_ref",
    "fault_of",
    "kafka_base_for",
    "observe_consumed",
    "targets_from_manifests",
]

TOPOLOGIES = ("kafka_channel", "kafka_source")
#: Faults that waiting alone does not fix (Kafka down or refusing us, a topic that is not there): the CLI's exit 2.
BROKEN_FAULTS = ("unreachable", "unreadable", "unknown_topic", "foreign_topic")


def fault_of(result: ConsumedResult) -> str | None:
    """The fault behind a not-ready verdict (``unreachable``, ``unknown_group``, ``no_members``...), or None when
    the group was read and is just behind. A broken fault wins over the others."""
    kinds = [d.get("fault") for d in result.details.get("consumers", [result.details])]
    found = [k for k in kinds if k]
    return next((k for k in found if k in BROKEN_FAULTS), found[0] if found else None)


def consumer_ref(consumer: Any) -> dict[str, Any]:
    """A ``flume_consumer.FlumeKafkaConsumer`` as the JSON dict a :class:`PartitionSpec` carries."""
    return {
        "group_id": consumer.group_id,
        "topics": list(consumer.topics),
        "topics_regex": consumer.topics_regex,
        "bootstrap_servers": consumer.bootstrap_servers,
        "topology": consumer.topology,
        "committed_means_in_hdfs": bool(consumer.committed_means_in_hdfs),
    }


def explicit_consumer_ref(
    topics: str | Sequence[str],
    group_id: str,
    *,
    bootstrap_servers: str | None = None,
    topology: str = "kafka_source",
) -> dict[str, Any]:
    """A consumer given by parameters (``kafka_topic``, ``kafka_group_id``). Without a Flume config the
    topology is unknown, so it defaults to the cautious ``kafka_source`` (commits before HDFS)."""
    names = [topics] if isinstance(topics, str) else list(topics)
    if not names or not all(isinstance(t, str) and t for t in names):
        raise ValueError(f"kafka_topic must be a topic name or a list of names, got {topics!r}")
    if not isinstance(group_id, str) or not group_id:
        raise ValueError(f"kafka_group_id must be a non-empty string, got {group_id!r}")
    if topology not in TOPOLOGIES:
        raise ValueError(f"kafka_topology must be one of {TOPOLOGIES}, got {topology!r}")
    return {
        "group_id": group_id,
        "topics": names,
        "topics_regex": None,
        "bootstrap_servers": bootstrap_servers,
        "topology": topology,
        "committed_means_in_hdfs": topology == "kafka_channel",
    }


def consumed_checks(
    checks: Sequence[str], consumers: Iterable[Mapping[str, Any]]
) -> tuple[tuple[str, ...], str | None]:
    """``checks`` with ``no_in_use`` and ``quiet`` added when ``consumed`` is asked on a consumer that commits
    before HDFS; the second value says what was added and why (log it as a warning), or None."""
    out = tuple(checks)
    if "consumed" not in out:
        return out, None
    early = sorted({c["group_id"] for c in consumers if not c.get("committed_means_in_hdfs")})
    missing = [c for c in COMMITS_BEFORE_HDFS_NEEDS if c not in out]
    if not early or not missing:
        return out, None
    note = (
        f"check 'consumed' on group(s) {', '.join(map(repr, early))} (KafkaSource: offsets are committed once "
        f"events are in the channel, not in HDFS) is combined with {', '.join(missing)}"
    )
    return out + tuple(missing), note


def kafka_base_for(spec: PartitionSpec, conn_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The librdkafka base config: the Kafka connection's (when given), else the consumers' bootstrap servers."""
    if conn_config:
        return dict(conn_config)
    servers = sorted({c["bootstrap_servers"] for c in spec.kafka_consumers if c.get("bootstrap_servers")})
    if not servers:
        raise ValueError("check 'consumed' needs kafka_conn_id or bootstrap servers from the Flume config")
    if len(servers) > 1:
        raise ValueError(f"the sink's consumers read different clusters {servers}: pass kafka_conn_id")
    return {"bootstrap.servers": servers[0]}


def targets_from_manifests(value: Any) -> dict[str, dict[str, int]] | None:
    """Merged ``kafka_offsets`` of one or more manifests (mapping, JSON text, or a list: mapped tasks' XCom).

    None when any manifest lacks them (an engine whose final offset read failed, or an older manifest): as
    :func:`manifest.merge_manifests` does, ``consumed`` then uses the live snapshot. :raises ValueError: a malformed entry.
    """
    found: list[Offsets] = []
    missing: list[str] = []

    def walk(item: Any, where: str) -> None:
        if item is None:
            return
        if isinstance(item, str | bytes):
            walk(json.loads(item), where)
        elif isinstance(item, Mapping):
            if MANIFEST_KEY in item:
                found.append(offsets_from_json(item[MANIFEST_KEY], f"{where}.{MANIFEST_KEY}"))
            else:
                missing.append(where)
        elif isinstance(item, Iterable):
            for i, sub in enumerate(item):
                walk(sub, f"{where}[{i}]")

    walk(value, "manifest")
    return offsets_to_json(merge_offsets(found)) if found and not missing else None


def _reads(consumer: Mapping[str, Any], topic: str) -> bool:
    regex = consumer.get("topics_regex")
    return topic in consumer.get("topics", ()) or bool(regex and re.fullmatch(regex, topic))


def observe_consumed(
    admin: Any, spec: PartitionSpec, state: dict[str, Any] | None, now: float, *, timeout: float = 10.0
) -> tuple[ConsumedResult, dict[str, Any] | None]:
    """Read and decide ``consumed`` for every consumer of the spec; returns the verdict and the state to keep."""
    from airflow_flume_provider import kafka_offsets as ko

    consumers = spec.kafka_consumers
    if spec.kafka_targets is not None:
        targets = offsets_from_json(spec.kafka_targets, "kafka_targets")
        foreign = sorted({t for t, _ in targets if not any(_reads(c, t) for c in consumers)})
        if foreign:
            reason = f"the manifest has offsets of topic(s) {', '.join(foreign)}, which no consumer of this sink reads"
            return ConsumedResult(False, reason, {"fault": "foreign_topic"}), state
    else:

        def read_log_end() -> Offsets:
            parts: set[tuple[str, int]] = set()
            for c in consumers:
                parts.update(ko.topic_partitions(admin, c["topics"], c.get("topics_regex"), timeout=timeout))
            return ko.log_end_offsets(admin, sorted(parts), timeout=timeout)

        try:
            live = live_targets(
                state,
                now_ms=int(now * 1000),
                window_end_ms=int(float(spec.end_ts or 0) * 1000),
                allowed_lateness_ms=int(spec.allowed_lateness * 1000),
                read_log_end=read_log_end,
            )
        except OffsetsFault as fault:
            results = [decide_consumed(c["group_id"], {}, fault) for c in consumers]
            return combine_results(results), state
        if live.targets is None:
            return ConsumedResult(False, live.reason, {"waiting": True}), state
        targets, state = live.targets, live.state
    per_consumer = [(c, {tp: n for tp, n in targets.items() if _reads(c, tp[0])}) for c in consumers]
    # A consumer none of whose topics got a target (a manifest writing to one of two sources) has nothing to prove.
    chosen = [(c, mine) for c, mine in per_consumer if mine] or per_consumer[:1]
    results = [
        ko.check_consumed(
            admin, c["group_id"], mine, timeout=timeout, require_members=spec.consumed_require_members
        )
        for c, mine in chosen
    ]
    return combine_results(results), state
