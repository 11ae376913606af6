"""Read a Flume agent properties file and lint an HDFS sink's settings for event-time partitioning.

The Flume config is the single source of truth for where events land: this module parses it like Java's
``Properties.load`` and returns typed HDFS sink settings (with Flume 1.11.0's defaults) plus the facts about the
sources and channel feeding the sink that decide whether our ``timestamp`` header survives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from airflow_flume_provider import naming
from airflow_flume_provider.bucketpath import ROUND_UNITS, PathTemplate, java_time_zone
from airflow_flume_provider.hdfs_uri import split_hdfs_uri

__all__ = [
    "ChannelFacts",
    "Finding",
    "FlumeConfig",
    "FlumeConfigError",
    "HdfsSinkSettings",
    "InterceptorFacts",
    "SourceFacts",
    "lint",
    "load_flume_config",
    "parse_properties",
]

KAFKA_SOURCE = "org.apache.flume.source.kafka.KafkaSource"
KAFKA_CHANNEL = "org.apache.flume.channel.kafka.KafkaChannel"
HDFS_SINK_TYPES = ("hdfs", "org.apache.flume.sink.hdfs.HDFSEventSink")
TIMESTAMP_INTERCEPTOR = "org.apache.flume.interceptor.TimestampInterceptor$Builder"

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class FlumeConfigError(ValueError):
    """The Flume config is malformed or lacks what was asked for."""


# -- Java properties -------------------------------------------------------------------------------


def _unescape(text: str, where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            hexdigits = text[i + 2 : i + 6]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", hexdigits):
                raise FlumeConfigError(f"{where}: malformed \\uxxxx escape {text[i : i + 6]!r}")
            out.append(chr(int(hexdigits, 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def _split_key_value(line: str) -> tuple[str, str]:
    """Split a logical line at the first unescaped '=', ':' or whitespace (Properties.load rules)."""
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=: \t\f":
            break
        i += 1
    key = line[:i]
    j = i
    while j < n and line[j] in " \t\f":
        j += 1
    if j < n and line[j] in "=:":
        j += 1
        while j < n and line[j] in " \t\f":
            j += 1
    return key, line[j:]


def parse_properties(text: str, source: str = "<string>") -> dict[str, tuple[str, int]]:
    """Parse Java properties text into ``{key: (value, line_number)}``; the last duplicate wins.

    Handles ``#``/``!`` comments, ``key = value``, ``key:value``, ``key value``, trailing-backslash line
    continuations (leading whitespace of the next line dropped) and ``\\t \\n \\uXXXX`` escapes.
    """
    result: dict[str, tuple[str, int]] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            continue
        logical = line
        while _continues(logical):
            logical = logical[:-1]
            if i >= len(lines):
                break
            logical += lines[i].lstrip(" \t\f")
            i += 1
        raw_key, raw_value = _split_key_value(logical)
        where = f"{source}:{start}"
        key = _unescape(raw_key, where)
        if not key:
            raise FlumeConfigError(f"{where}: line has no key: {lines[start - 1]!r}")
        result[key] = (_unescape(raw_value, where), start)
    return result


def _continues(line: str) -> bool:
    backslashes = len(line) - len(line.rstrip("\\"))
    return backslashes % 2 == 1


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

    def _int(self, key: str, default: int) -> int:
        raw = self.get(key)
        if raw is None:
            return default
        try:
            return int(raw.strip())
        except ValueError:
            raise FlumeConfigError(f"{self.where(key)}: {key} must be an integer, got {raw!r}") from None

    def _bool(self, key: str, default: bool) -> bool:
        raw = self.get(key)
        return default if raw is None else raw.strip().lower() == "true"  # Boolean.valueOf

    def _source(self, agent: str, name: str) -> SourceFacts:
        p = f"{agent}.sources.{name}."
        interceptors = tuple(
            InterceptorFacts(
                name=i,
                type=(self.get(f"{p}interceptors.{i}.type") or "").strip(),
                preserve_existing=self._bool(f"{p}interceptors.{i}.preserveExisting", False),
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
            use_flume_event_format=self._bool(f"{p}useFlumeEventFormat", False),
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
            topic=(self.get(f"{p}kafka.topic") or "flume-channel") if is_kafka else None,
            parse_as_flume_event=self._bool(f"{p}parseAsFlumeEvent", True) if is_kafka else None,
            key_prefix=p,
        )

    def hdfs_sink(self, agent: str, sink: str) -> HdfsSinkSettings:
        """Typed settings of HDFS sink ``sink`` of ``agent``; errors name the file, agent and sink."""
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
        path = self.get(f"{p}hdfs.path")
        if not path:
            raise FlumeConfigError(f"{self.source}: sink {sink!r} of agent {agent!r} has no hdfs.path")
        path = path.strip()
        namenode, path_part = split_hdfs_uri(path)
        channel_name = (self.get(f"{p}channel") or "").strip()
        channel = self._channel(agent, channel_name) if channel_name else None
        sources = tuple(
            self._source(agent, s)
            for s in self._names(f"{agent}.sources")
            if channel_name
            and channel_name
            in self._names(f"{agent}.sources.{s}.channels") + self._names(f"{agent}.sources.{s}.channel")
        )
        tz = self.get(f"{p}hdfs.timeZone")
        empty_in_use_suffix = self._bool(f"{p}hdfs.emptyInUseSuffix", False)
        return HdfsSinkSettings(
            agent=agent,
            sink=sink,
            path=path,
            namenode=namenode,
            path_template=path_part,
            time_zone=tz.strip() if tz else None,
            round=self._bool(f"{p}hdfs.round", False),
            round_value=self._int(f"{p}hdfs.roundValue", 1),
            round_unit=(self.get(f"{p}hdfs.roundUnit") or "second").strip(),
            use_local_timestamp=self._bool(f"{p}hdfs.useLocalTimeStamp", False),
            file_prefix=self.get(f"{p}hdfs.filePrefix", naming.DEFAULT_FILE_PREFIX) or "",
            file_suffix=self.get(f"{p}hdfs.fileSuffix", "") or "",
            in_use_prefix=self.get(f"{p}hdfs.inUsePrefix", "") or "",
            in_use_suffix="" if empty_in_use_suffix else (self.get(f"{p}hdfs.inUseSuffix", naming.DEFAULT_IN_USE_SUFFIX) or ""),
            file_type=(self.get(f"{p}hdfs.fileType") or naming.DEFAULT_FILE_TYPE).strip(),
            serializer=(self.get(f"{p}serializer") or naming.DEFAULT_SERIALIZER).strip(),
            write_format=(self.get(f"{p}hdfs.writeFormat") or "Writable").strip(),
            codec=(self.get(f"{p}hdfs.codeC") or "").strip() or None,
            roll_interval=self._int(f"{p}hdfs.rollInterval", 30),
            roll_size=self._int(f"{p}hdfs.rollSize", 1024),
            roll_count=self._int(f"{p}hdfs.rollCount", 10),
            idle_timeout=self._int(f"{p}hdfs.idleTimeout", 0),
            batch_size=self._int(f"{p}hdfs.batchSize", 100),
            channel=channel,
            sources=sources,
            source_file=self.source,
            key_lines={k: v[1] for k, v in self.props.items() if k.startswith(p)},
        )


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


# -- lint ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A problem with event-time partitioning: which key, why, and the fix."""

    code: str
    severity: Literal["warning", "error"]
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity.upper()} {self.code} {self.key}: {self.message} Fix: {self.fix}"


def lint(settings: HdfsSinkSettings) -> list[Finding]:
    """Findings a user must see before trusting event-time partitioning of this sink."""
    s = settings
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
    else:
        try:
            java_time_zone(s.time_zone)
        except ValueError:
            out.append(Finding(
                "time-zone-unknown", "error", s.key("hdfs.timeZone"),
                f"hdfs.timeZone {s.time_zone!r} is not a known zone ID; Flume silently falls back to GMT.",
                f"set {s.key('hdfs.timeZone')} to an IANA zone ID such as UTC or Asia/Kolkata",
            ))  # fmt: skip
    if s.round:
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
    if s.in_use_suffix and not s.in_use_prefix.startswith(("_", ".")):
        out.append(Finding(
            "in-use-visible", "warning", s.key("hdfs.inUsePrefix"),
            f"files being written are named '{s.in_use_prefix}{s.file_prefix}.<n>{s.file_suffix}"
            f"{s.in_use_suffix}': Hadoop's FileInputFormat (Hive, Spark) hides only names starting with "
            "'_' or '.', so half-written files are read.",
            f"set {s.key('hdfs.inUsePrefix')} = _",
        ))  # fmt: skip
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
    ch = s.channel
    if ch is not None and ch.is_kafka and ch.parse_as_flume_event is False:
        key = f"{ch.key_prefix}parseAsFlumeEvent"
        out.append(Finding(
            "kafka-channel-raw", "error", key,
            f"Kafka channel {ch.name!r} has parseAsFlumeEvent=false: envelopes are passed on as raw bytes and "
            "the timestamp header is lost.",
            f"set {key} = true (the default)",
        ))  # fmt: skip
    return out
