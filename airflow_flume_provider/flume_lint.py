"""Lint an HDFS sink's Flume settings: what breaks event-time partitioning, or loses events on a crash.

No Airflow imports. Each rule returns findings naming the config key, why it matters and the fix; ``lint`` runs
them all. ``airflow-flume lint-flume-conf`` prints them and the replay operator logs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from airflow_flume_provider.java_time import java_time_zone

if TYPE_CHECKING:
    from airflow_flume_provider.flume_config import HdfsSinkSettings

__all__ = ["VOLATILE_CHANNELS", "Finding", "lint"]

# Channels that hold events in memory: a KafkaSource has already committed their offsets (ChannelType.java).
VOLATILE_CHANNELS = ("memory", "spillablememory")


@dataclass(frozen=True)
class Finding:
    """A problem with event-time partitioning or durability: which key, why, and the fix."""

    code: str
    severity: Literal["warning", "error"]
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity.upper()} {self.code} {self.key}: {self.message} Fix: {self.fix}"


def _time_rules(s: HdfsSinkSettings) -> list[Finding]:
    out: list[Finding] = []
    if s.use_local_timestamp:
        out.append(Finding(
            "use-local-timestamp", "error", s.key("hdfs.useLocalTimeStamp"),
            "hdfs.useLocalTimeStamp=true files events by the sink's clock (ingestion time), ignoring the "
            "event's timestamp header; replays land in today's directory.",
            f"set {s.key('hdfs.useLocalTimeStamp')} = false",
        ))  # fmt: skip
    if s.time_zone is None:
        out.append(Finding(
            "time-zone-unset", "warning", s.key("hdfs.timeZone"),
            "hdfs.timeZone is unset: the Flume JVM's default zone decides the day/hour directories, so "
            "paths change with the host's zone.",
            f"set {s.key('hdfs.timeZone')} = UTC (or the zone your partitions are defined in)",
        ))  # fmt: skip
        return out
    try:
        java_time_zone(s.time_zone)
    except ValueError:
        out.append(Finding(
            "time-zone-unknown", "error", s.key("hdfs.timeZone"),
            f"hdfs.timeZone {s.time_zone!r} is not a known zone ID; Flume silently falls back to GMT.",
            f"set {s.key('hdfs.timeZone')} to an IANA zone ID such as UTC or Asia/Kolkata",
        ))  # fmt: skip
    return out


def _rounding_rules(s: HdfsSinkSettings) -> list[Finding]:
    out: list[Finding] = []
    if not s.round:
        return out
    if not s.round_unit_valid:
        out.append(Finding(
            "round-unit-invalid", "error", s.key("hdfs.roundUnit"),
            f"hdfs.roundUnit {s.round_unit!r} is not second, minute or hour; Flume disables rounding "
            "and only logs a warning.",
            f"set {s.key('hdfs.roundUnit')} to second, minute or hour",
        ))  # fmt: skip
    limit = 24 if s.round_unit.lower() == "hour" else 60
    if not 0 < s.round_value <= limit:
        out.append(Finding(
            "round-value-invalid", "error", s.key("hdfs.roundValue"),
            f"hdfs.roundValue {s.round_value} must be > 0 and <= {limit} for roundUnit "
            f"{s.round_unit!r}; the Flume sink fails to start.",
            f"set {s.key('hdfs.roundValue')} to a value in 1..{limit}",
        ))  # fmt: skip
    return out


def _in_use_rule(s: HdfsSinkSettings) -> list[Finding]:
    if not s.in_use_suffix or s.in_use_prefix.startswith(("_", ".")):
        return []
    return [Finding(
        "in-use-visible", "warning", s.key("hdfs.inUsePrefix"),
        f"files being written are named '{s.in_use_prefix}{s.file_prefix}.<n>{s.file_suffix}"
        f"{s.in_use_suffix}': Hadoop's FileInputFormat (Hive, Spark) hides only names starting with "
        "'_' or '.', so half-written files are read.",
        f"set {s.key('hdfs.inUsePrefix')} = _",
    )]  # fmt: skip


def _source_rules(s: HdfsSinkSettings) -> list[Finding]:
    out: list[Finding] = []
    for src in s.sources:
        for ic in src.interceptors:
            if ic.is_timestamp and not ic.preserve_existing and ic.header_name == "timestamp":
                key = f"{src.key_prefix}interceptors.{ic.name}.preserveExisting"
                out.append(Finding(
                    "timestamp-interceptor-overwrites", "error", key,
                    f"source {src.name!r} has a timestamp interceptor {ic.name!r} with preserveExisting=false: "
                    "it overwrites the event's timestamp header with the ingest clock.",
                    f"remove interceptor {ic.name!r} from {src.key_prefix}interceptors or set {key} = true",
                ))  # fmt: skip
        if src.is_kafka and not src.use_flume_event_format:
            key = f"{src.key_prefix}useFlumeEventFormat"
            out.append(Finding(
                "kafka-source-raw", "error", key,
                f"Kafka source {src.name!r} has useFlumeEventFormat=false: each Flume envelope is written as raw "
                "bytes, its timestamp header is lost and the Kafka record time decides the directory.",
                f"set {key} = true",
            ))  # fmt: skip
    return out


def _channel_rules(s: HdfsSinkSettings) -> list[Finding]:
    out: list[Finding] = []
    ch = s.channel
    if ch is None:
        return out
    if ch.is_kafka and ch.parse_as_flume_event is False:
        key = f"{ch.key_prefix}parseAsFlumeEvent"
        out.append(Finding(
            "kafka-channel-raw", "error", key,
            f"Kafka channel {ch.name!r} has parseAsFlumeEvent=false: envelopes are passed on as raw bytes and "
            "the timestamp header is lost.",
            f"set {key} = true (the default)",
        ))  # fmt: skip
    kafka_sources = [src.name for src in s.sources if src.is_kafka]
    if ch.kind in VOLATILE_CHANNELS and kafka_sources:
        names = ", ".join(repr(n) for n in kafka_sources)
        out.append(Finding(
            "memory-channel-loses-events", "warning", f"{ch.key_prefix}type",
            f"Kafka source {names} commits Kafka offsets as soon as a batch is in {ch.kind} channel "
            f"{ch.name!r} (Flume 1.11 KafkaSource: processEventBatch, then commitSync), so the events the channel "
            "holds when the agent crashes or is killed are lost: Kafka never redelivers them and the consumer "
            "group shows no lag. A committed offset means only 'in the channel', not 'in HDFS'.",
            f"feed sink {s.sink!r} from a KafkaChannel instead ({ch.key_prefix}type = "
            "org.apache.flume.channel.kafka.KafkaChannel with kafka.topic = the topic, parseAsFlumeEvent = true) "
            "and remove the source: it commits offsets only after the HDFS sink flushed. A file channel also "
            "keeps the events.",
        ))  # fmt: skip
    return out


_RULES: tuple[Callable[[HdfsSinkSettings], list[Finding]], ...] = (
    _time_rules,
    _rounding_rules,
    _in_use_rule,
    _source_rules,
    _channel_rules,
)


def lint(settings: HdfsSinkSettings) -> list[Finding]:
    """Findings a user must see before trusting this sink's event-time partitioning and its completeness."""
    return [finding for rule in _RULES for finding in rule(settings)]
