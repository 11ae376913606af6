"""Read a Flume agent properties file: typed HDFS sink settings and the components that feed the sink.

The Flume config is the single source of truth for where events land: this module parses it like Java's
``Properties.load`` (:mod:`flume_properties`) and returns typed HDFS sink settings (with Flume 1.11.0's defaults)
plus the facts about the sources and channel feeding the sink that decide whether our ``timestamp`` header
survives. :mod:`flume_lint` checks those settings (``lint`` is re-exported here); :mod:`flume_consumer` finds the
Kafka consumer that feeds a sink (``FlumeConfig.kafka_consumer``). No Airflow imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_flume_provider import naming
from airflow_flume_provider.bucketpath import PathTemplate
from airflow_flume_provider.flume_lint import Finding, lint
from airflow_flume_provider.flume_properties import FlumeConfigError, parse_properties
from airflow_flume_provider.hdfs_uri import split_hdfs_uri
from airflow_flume_provider.java_time import ROUND_UNITS, java_time_zone

if TYPE_CHECKING:
    from airflow_flume_provider.flume_consumer import FlumeKafkaConsumer

__all__ = [
    "ChannelFacts",
    "Finding",
    "FlumeConfig",
    "FlumeConfigError",
    "HdfsSinkSettings",
    "InterceptorFacts",
    "SourceFacts",
    "channel_kind",
    "lint",
    "load_flume_config",
    "parse_properties",
]

KAFKA_SOURCE = "org.apache.flume.source.kafka.KafkaSource"
KAFKA_CHANNEL = "org.apache.flume.channel.kafka.KafkaChannel"
HDFS_SINK_TYPES = ("hdfs", "org.apache.flume.sink.hdfs.HDFSEventSink")
TIMESTAMP_INTERCEPTOR = "org.apache.flume.interceptor.TimestampInterceptor$Builder"
# Flume 1.11.0 defaults (apache/logging-flume, tag release-1.11.0-rc2)
DEFAULT_GROUP_ID = "flume"  # KafkaSourceConstants.java:38, KafkaChannelConfiguration.java:41
DEFAULT_CHANNEL_TOPIC = "flume-channel"  # KafkaChannelConfiguration.java:40
DEFAULT_PARSE_AS_FLUME_EVENT = True  # KafkaChannelConfiguration.java:50
DEFAULT_USE_FLUME_EVENT_FORMAT = False  # KafkaSourceConstants.java:45

# Flume 1.11's built-in channel aliases (ChannelType.java), matched case-insensitively (DefaultChannelFactory).
_CHANNEL_KINDS = {
    "memory": "memory",
    "org.apache.flume.channel.memorychannel": "memory",
    "file": "file",
    "org.apache.flume.channel.file.filechannel": "file",
    "jdbc": "jdbc",
    "org.apache.flume.channel.jdbc.jdbcchannel": "jdbc",
    "spillablememory": "spillablememory",
    "org.apache.flume.channel.spillablememorychannel": "spillablememory",
}


def channel_kind(channel_type: str | None) -> str:
    """``memory``, ``file``, ``jdbc``, ``spillablememory``, ``kafka``, the custom class name, or "" when unset."""
    if not channel_type:
        return ""
    if channel_type == KAFKA_CHANNEL:  # 1.11 has no alias for it: only the class name loads it
        return "kafka"
    return _CHANNEL_KINDS.get(channel_type.lower(), channel_type)


# -- typed facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterceptorFacts:
    """One source interceptor."""

    name: str
    type: str
    preserve_existing: bool
    header_name: str

    @property
    def is_timestamp(self) -> bool:
        """True for Flume's TimestampInterceptor."""
        return self.type.lower() == "timestamp" or self.type == TIMESTAMP_INTERCEPTOR


@dataclass(frozen=True)
class SourceFacts:
    """A source that feeds the sink's channel."""

    name: str
    type: str
    topics: tuple[str, ...]
    topics_regex: str | None
    use_flume_event_format: bool
    interceptors: tuple[InterceptorFacts, ...]
    key_prefix: str

    @property
    def is_kafka(self) -> bool:
        return self.type == KAFKA_SOURCE


@dataclass(frozen=True)
class ChannelFacts:
    """The sink's channel."""

    name: str
    type: str | None
    topic: str | None
    parse_as_flume_event: bool | None  # None unless a Kafka channel
    key_prefix: str

    @property
    def is_kafka(self) -> bool:
        return self.type == KAFKA_CHANNEL

    @property
    def kind(self) -> str:
        """``memory``, ``file``, ``kafka``, ... (see :func:`channel_kind`)."""
        return channel_kind(self.type)


@dataclass(frozen=True)
class HdfsSinkSettings:
    """An HDFS sink's effective settings (Flume 1.11.0 defaults filled in) and what feeds it."""

    agent: str
    sink: str
    path: str
    namenode: str | None
    path_template: str
    time_zone: str | None
    round: bool
    round_value: int
    round_unit: str
    use_local_timestamp: bool
    file_prefix: str = naming.DEFAULT_FILE_PREFIX
    file_suffix: str = naming.DEFAULT_FILE_SUFFIX
    in_use_prefix: str = naming.DEFAULT_IN_USE_PREFIX
    in_use_suffix: str = naming.DEFAULT_IN_USE_SUFFIX
    file_type: str = naming.DEFAULT_FILE_TYPE
    serializer: str = naming.DEFAULT_SERIALIZER
    write_format: str = "Writable"
    codec: str | None = None
    roll_interval: int = 30
    roll_size: int = 1024
    roll_count: int = 10
    idle_timeout: int = 0
    batch_size: int = 100
    channel: ChannelFacts | None = None
    sources: tuple[SourceFacts, ...] = ()
    source_file: str = "<string>"
    key_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key_prefix(self) -> str:
        return f"{self.agent}.sinks.{self.sink}."

    def key(self, name: str) -> str:
        """Full config key of a sink property, e.g. ``agent.sinks.k1.hdfs.timeZone``."""
        return self.key_prefix + name

    @property
    def round_unit_valid(self) -> bool:
        return self.round_unit.lower() in ROUND_UNITS

    def path_template_obj(self) -> PathTemplate:
        """A :class:`PathTemplate` over the path with the sink's zone and rounding, as Flume applies them.

        Unset zone -> UTC (lint warns: Flume uses the JVM's zone); unknown zone -> GMT (Flume's fallback);
        invalid round unit -> no rounding (Flume disables it with a warning).
        """
        zone = self.time_zone or "UTC"
        try:
            java_time_zone(zone)
        except ValueError:
            zone = "GMT"
        rounding = self.round and self.round_unit_valid
        return PathTemplate(
            self.path_template,
            time_zone=zone,
            need_rounding=rounding,
            round_unit=self.round_unit.lower() if rounding else "second",
            round_value=self.round_value if rounding else 1,
        )


class FlumeConfig:
    """A parsed Flume properties file."""

    def __init__(self, props: dict[str, tuple[str, int]], source: str = "<string>") -> None:
        self.props = props
        self.source = source

    def get(self, key: str, default: str | None = None) -> str | None:
        item = self.props.get(key)
        return default if item is None else item[0]

    def line(self, key: str) -> int | None:
        item = self.props.get(key)
        return None if item is None else item[1]

    def where(self, key: str) -> str:
        """``file:line`` of a key (or just the file when unset)."""
        line = self.line(key)
        return f"{self.source}:{line}" if line else self.source

    def agents(self) -> list[str]:
        """Agent names that declare sources, channels or sinks."""
        names = {
            k.split(".", 1)[0] for k in self.props if re.fullmatch(r"[^.]+\.(sources|channels|sinks)", k)
        }
        return sorted(names)

    def _names(self, key: str) -> list[str]:
        return (self.get(key) or "").split()

    def sinks(self, agent: str) -> list[str]:
        """Sink names listed in ``<agent>.sinks``."""
        return self._names(f"{agent}.sinks")

    def sources(self, agent: str) -> list[str]:
        """Source names listed in ``<agent>.sources``."""
        return self._names(f"{agent}.sources")

    def source_channels(self, agent: str, source: str) -> list[str]:
        """Channels a source puts into (``channels``, or ``channel`` as some configs spell it)."""
        p = f"{agent}.sources.{source}."
        return self._names(f"{p}channels") + self._names(f"{p}channel")

    def _int(self, key: str, default: int) -> int:
        raw = self.get(key)
        if raw is None:
            return default
        try:
            return int(raw.strip())
        except ValueError:
            raise FlumeConfigError(f"{self.where(key)}: {key} must be an integer, got {raw!r}") from None

    def bool_value(self, key: str, default: bool) -> bool:
        """A boolean property as Flume's ``Context.getBoolean`` reads it (trimmed ``Boolean.parseBoolean``)."""
        raw = self.get(key)
        return default if raw is None else raw.strip().lower() == "true"

    def _source(self, agent: str, name: str) -> SourceFacts:
        p = f"{agent}.sources.{name}."
        interceptors = tuple(
            InterceptorFacts(
                name=i,
                type=(self.get(f"{p}interceptors.{i}.type") or "").strip(),
                preserve_existing=self.bool_value(f"{p}interceptors.{i}.preserveExisting", False),
                header_name=(self.get(f"{p}interceptors.{i}.headerName") or "timestamp").strip(),
            )
            for i in self._names(f"{p}interceptors")
        )
        topics_raw = self.get(f"{p}kafka.topics") or self.get(f"{p}topic") or ""
        return SourceFacts(
            name=name,
            type=(self.get(f"{p}type") or "").strip(),
            topics=tuple(t.strip() for t in topics_raw.split(",") if t.strip()),
            topics_regex=self.get(f"{p}kafka.topics.regex"),
            use_flume_event_format=self.bool_value(f"{p}useFlumeEventFormat", DEFAULT_USE_FLUME_EVENT_FORMAT),
            interceptors=interceptors,
            key_prefix=p,
        )

    def _channel(self, agent: str, name: str) -> ChannelFacts:
        p = f"{agent}.channels.{name}."
        ctype = self.get(f"{p}type")
        ctype = ctype.strip() if ctype else None
        is_kafka = ctype == KAFKA_CHANNEL
        return ChannelFacts(
            name=name,
            type=ctype,
            topic=(self.get(f"{p}kafka.topic") or DEFAULT_CHANNEL_TOPIC) if is_kafka else None,
            parse_as_flume_event=(
                self.bool_value(f"{p}parseAsFlumeEvent", DEFAULT_PARSE_AS_FLUME_EVENT) if is_kafka else None
            ),
            key_prefix=p,
        )

    def sink_prefix(self, agent: str, sink: str) -> str:
        """``<agent>.sinks.<sink>.`` after checking the sink is listed and is an HDFS sink (errors name both)."""
        listed = self.sinks(agent)
        if sink not in listed:
            known = ", ".join(listed) or "none"
            raise FlumeConfigError(
                f"{self.source}: agent {agent!r} has no sink {sink!r} in {agent}.sinks (sinks: {known})"
            )
        p = f"{agent}.sinks.{sink}."
        stype = (self.get(f"{p}type") or "").strip()
        if stype not in HDFS_SINK_TYPES:
            raise FlumeConfigError(
                f"{self.where(p + 'type')}: sink {sink!r} of agent {agent!r} is type {stype!r}, not an HDFS sink"
            )
        return p

    def _file_settings(self, p: str) -> dict[str, Any]:
        """The sink's file naming, format and rolling settings, Flume 1.11.0 defaults filled in."""
        empty_in_use_suffix = self.bool_value(f"{p}hdfs.emptyInUseSuffix", False)
        in_use_suffix = self.get(f"{p}hdfs.inUseSuffix", naming.DEFAULT_IN_USE_SUFFIX) or ""
        return {
            "file_prefix": self.get(f"{p}hdfs.filePrefix", naming.DEFAULT_FILE_PREFIX) or "",
            "file_suffix": self.get(f"{p}hdfs.fileSuffix", "") or "",
            "in_use_prefix": self.get(f"{p}hdfs.inUsePrefix", "") or "",
            "in_use_suffix": "" if empty_in_use_suffix else in_use_suffix,
            "file_type": (self.get(f"{p}hdfs.fileType") or naming.DEFAULT_FILE_TYPE).strip(),
            "serializer": (self.get(f"{p}serializer") or naming.DEFAULT_SERIALIZER).strip(),
            "write_format": (self.get(f"{p}hdfs.writeFormat") or "Writable").strip(),
            "codec": (self.get(f"{p}hdfs.codeC") or "").strip() or None,
            "roll_interval": self._int(f"{p}hdfs.rollInterval", 30),
            "roll_size": self._int(f"{p}hdfs.rollSize", 1024),
            "roll_count": self._int(f"{p}hdfs.rollCount", 10),
            "idle_timeout": self._int(f"{p}hdfs.idleTimeout", 0),
            "batch_size": self._int(f"{p}hdfs.batchSize", 100),
        }

    def hdfs_sink(self, agent: str, sink: str) -> HdfsSinkSettings:
        """Typed settings of HDFS sink ``sink`` of ``agent``; errors name the file, agent and sink."""
        p = self.sink_prefix(agent, sink)
        path = self.get(f"{p}hdfs.path")
        if not path:
            raise FlumeConfigError(f"{self.source}: sink {sink!r} of agent {agent!r} has no hdfs.path")
        path = path.strip()
        namenode, path_part = split_hdfs_uri(path)
        channel_name = (self.get(f"{p}channel") or "").strip()
        channel = self._channel(agent, channel_name) if channel_name else None
        sources = tuple(
            self._source(agent, s)
            for s in self.sources(agent)
            if channel_name and channel_name in self.source_channels(agent, s)
        )
        tz = self.get(f"{p}hdfs.timeZone")
        return HdfsSinkSettings(
            agent=agent,
            sink=sink,
            path=path,
            namenode=namenode,
            path_template=path_part,
            time_zone=tz.strip() if tz else None,
            round=self.bool_value(f"{p}hdfs.round", False),
            round_value=self._int(f"{p}hdfs.roundValue", 1),
            round_unit=(self.get(f"{p}hdfs.roundUnit") or "second").strip(),
            use_local_timestamp=self.bool_value(f"{p}hdfs.useLocalTimeStamp", False),
            **self._file_settings(p),
            channel=channel,
            sources=sources,
            source_file=self.source,
            key_lines={k: v[1] for k, v in self.props.items() if k.startswith(p)},
        )

    def kafka_consumers(self, agent: str, sink: str) -> tuple[FlumeKafkaConsumer, ...]:
        """Every Kafka consumer that feeds HDFS sink ``sink`` of ``agent``: its KafkaChannel, or each KafkaSource
        putting into its channel (see :mod:`flume_consumer` for Flume 1.11's defaults and commit semantics).

        :raises FlumeConfigError: naming file, agent, sink and property (no channel, no Kafka consumer, no
            bootstrap servers, no topics).
        """
        from airflow_flume_provider.flume_consumer import kafka_consumers

        return kafka_consumers(self, agent, sink)

    def kafka_consumer(self, agent: str, sink: str) -> FlumeKafkaConsumer:
        """The one Kafka consumer feeding HDFS sink ``sink``; several KafkaSources raise (use
        :meth:`kafka_consumers`, whose every group must catch up)."""
        found = self.kafka_consumers(agent, sink)
        if len(found) > 1:
            names = ", ".join(f"{c.component} (group {c.group_id!r})" for c in found)
            raise FlumeConfigError(
                f"{self.source}: sink {sink!r} of agent {agent!r} is fed by {len(found)} Kafka sources through "
                f"channel {found[0].channel!r}: {names}; use kafka_consumers() and require every group to catch up"
            )
        return found[0]


def load_flume_config(path: str | Path) -> FlumeConfig:
    """Parse a Flume agent properties file (ISO-8859-1 like ``Properties.load``, UTF-8 accepted)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise FlumeConfigError(f"cannot read Flume config {p}: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return FlumeConfig(parse_properties(text, str(p)), str(p))
