"""Which Kafka consumer inside a Flume 1.11 agent feeds an HDFS sink: the topics, group and brokers it reads.

No Airflow imports. The ``consumed`` check compares this consumer group's committed offsets with target offsets, so
the facts follow Flume 1.11.0 exactly (apache/logging-flume at tag ``release-1.11.0-rc2``):

* **KafkaChannel** (``org.apache.flume.channel.kafka.KafkaChannel``) feeding the sink, no source: the channel's own
  consumer. ``kafka.topic`` (legacy ``topic``) defaults to ``flume-channel``, ``kafka.consumer.group.id`` (legacy
  ``groupId``) to ``flume``, ``parseAsFlumeEvent`` to true; ``kafka.bootstrap.servers`` (legacy ``brokerList``) is
  required; a legacy name counts only when the new key is absent (``KafkaChannelConfiguration.java:40-41,49-50``;
  ``KafkaChannel.java:200-216,221,241-269``). Offsets
  are committed when the sink's take transaction commits (``KafkaChannel.java:620-625``), i.e. after the HDFS sink
  flushed: a committed offset means "in HDFS".
* **KafkaSource** (``org.apache.flume.source.kafka.KafkaSource``) listing the sink's channel in ``channels``:
  ``kafka.topics.regex`` wins over ``kafka.topics``, which wins over the legacy ``topic``; one of them is required;
  ``kafka.consumer.group.id`` (legacy ``groupId``) defaults to ``flume``; ``useFlumeEventFormat`` to false;
  ``kafka.bootstrap.servers`` is required (``KafkaSourceConstants.java:31-32,38,44-45``;
  ``KafkaSource.java:395-405,410,420-449,469-484``). Offsets are committed right after the batch is put into the
  channel (``KafkaSource.java:347-356``): a committed offset means only "in the channel".

Several KafkaSources may feed one channel: :func:`kafka_consumers` returns all of them (the sink is complete only
when every one has caught up); ``FlumeConfig.kafka_consumer`` insists on exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from airflow_flume_provider.flume_config import (
    DEFAULT_CHANNEL_TOPIC,
    DEFAULT_GROUP_ID,
    DEFAULT_PARSE_AS_FLUME_EVENT,
    DEFAULT_USE_FLUME_EVENT_FORMAT,
    KAFKA_CHANNEL,
    KAFKA_SOURCE,
    FlumeConfig,
    FlumeConfigError,
    channel_kind,
)

__all__ = [
    "FlumeKafkaConsumer",
    "kafka_consumers",
]


@dataclass(frozen=True)
class FlumeKafkaConsumer:
    """The Kafka consumer of a Flume agent that feeds one HDFS sink (Flume 1.11 defaults filled in).

    ``topology`` is ``kafka_channel`` (a KafkaChannel is the sink's channel) or ``kafka_source`` (a KafkaSource
    puts into the sink's channel). ``component`` names that channel or source; ``key_prefix`` is its config prefix
    (``a1.channels.c1.``). ``topics`` is empty when ``topics_regex`` is set. ``flume_event_format`` is
    ``parseAsFlumeEvent`` (channel) or ``useFlumeEventFormat`` (source): whether values are Flume envelopes.
    """

    agent: str
    sink: str
    topology: Literal["kafka_channel", "kafka_source"]
    component: str
    channel: str
    channel_type: str
    bootstrap_servers: str
    group_id: str
    topics: tuple[str, ...]
    topics_regex: str | None
    flume_event_format: bool
    key_prefix: str
    source_file: str = "<string>"

    @property
    def committed_means_in_hdfs(self) -> bool:
        """True when a committed offset means the event was flushed to HDFS (KafkaChannel), False when it
        only means "in the channel" (KafkaSource: a memory channel loses what it holds on a crash)."""
        return self.topology == "kafka_channel"


def _value(cfg: FlumeConfig, key: str) -> str:
    return (cfg.get(key) or "").strip()


def _first(cfg: FlumeConfig, *keys: str) -> str:
    """The first non-empty value among ``keys`` (Flume's new-name-then-legacy-name lookups)."""
    for key in keys:
        value = _value(cfg, key)
        if value:
            return value
    return ""


def _unless_set(cfg: FlumeConfig, key: str, legacy: str) -> str:
    """KafkaChannel's legacy lookup: the old name counts only when the new key is absent (``translateOldProps``)."""
    return _value(cfg, key if cfg.get(key) is not None else legacy)


def _bootstrap(cfg: FlumeConfig, prefix: str, what: str, legacy: str | None) -> str:
    """``kafka.bootstrap.servers`` (or the channel's legacy ``brokerList``); Flume refuses to start without it."""
    key = f"{prefix}kafka.bootstrap.servers"
    servers = _unless_set(cfg, key, f"{prefix}{legacy}") if legacy else _value(cfg, key)
    if servers:
        return servers
    hint = ""
    if _value(cfg, f"{prefix}zookeeperConnect"):
        hint = " (zookeeperConnect is deprecated, and the brokers are not looked up from ZooKeeper here)"
    raise FlumeConfigError(
        f"{cfg.where(prefix + 'type')}: {what} has no {prefix}kafka.bootstrap.servers: Flume requires it "
        f"('Bootstrap Servers must be specified'){hint}"
    )


def _from_channel(cfg: FlumeConfig, agent: str, sink: str, channel: str) -> FlumeKafkaConsumer:
    p = f"{agent}.channels.{channel}."
    what = f"Kafka channel {channel!r} of agent {agent!r}"
    return FlumeKafkaConsumer(
        agent=agent,
        sink=sink,
        topology="kafka_channel",
        component=channel,
        channel=channel,
        channel_type="kafka",
        bootstrap_servers=_bootstrap(cfg, p, what, "brokerList"),
        group_id=_unless_set(cfg, f"{p}kafka.consumer.group.id", f"{p}groupId") or DEFAULT_GROUP_ID,
        topics=(_unless_set(cfg, f"{p}kafka.topic", f"{p}topic") or DEFAULT_CHANNEL_TOPIC,),
        topics_regex=None,
        flume_event_format=cfg.bool_value(f"{p}parseAsFlumeEvent", DEFAULT_PARSE_AS_FLUME_EVENT),
        key_prefix=p,
        source_file=cfg.source,
    )


def _from_source(cfg: FlumeConfig, agent: str, sink: str, source: str, channel: str) -> FlumeKafkaConsumer:
    p = f"{agent}.sources.{source}."
    what = f"Kafka source {source!r} of agent {agent!r}"
    regex = _value(cfg, f"{p}kafka.topics.regex")
    topics: tuple[str, ...] = ()
    if not regex:
        raw = _first(cfg, f"{p}kafka.topics", f"{p}topic")
        topics = tuple(t.strip() for t in raw.split(",") if t.strip())
        if not topics:
            raise FlumeConfigError(
                f"{cfg.where(p + 'type')}: {what} has neither {p}kafka.topics nor {p}kafka.topics.regex: "
                "Flume requires one ('At least one Kafka topic must be specified.')"
            )
    return FlumeKafkaConsumer(
        agent=agent,
        sink=sink,
        topology="kafka_source",
        component=source,
        channel=channel,
        channel_type=channel_kind(_value(cfg, f"{agent}.channels.{channel}.type")),
        bootstrap_servers=_bootstrap(cfg, p, what, None),
        group_id=_first(cfg, f"{p}kafka.consumer.group.id", f"{p}groupId") or DEFAULT_GROUP_ID,
        topics=topics,
        topics_regex=regex or None,
        flume_event_format=cfg.bool_value(f"{p}useFlumeEventFormat", DEFAULT_USE_FLUME_EVENT_FORMAT),
        key_prefix=p,
        source_file=cfg.source,
    )


def kafka_consumers(cfg: FlumeConfig, agent: str, sink: str) -> tuple[FlumeKafkaConsumer, ...]:
    """Every Kafka consumer feeding HDFS sink ``sink`` of ``agent`` (one KafkaChannel, or 1+ KafkaSources).

    :raises FlumeConfigError: naming the file, agent, sink and property when the sink has no channel or no Kafka
        consumer feeds it, or when a consumer lacks its bootstrap servers or topics.
    """
    p = cfg.sink_prefix(agent, sink)
    channel = _value(cfg, f"{p}channel")
    if not channel:
        raise FlumeConfigError(f"{cfg.where(p + 'type')}: sink {sink!r} of agent {agent!r} has no {p}channel")
    ctype = _value(cfg, f"{agent}.channels.{channel}.type")
    if channel_kind(ctype) == "kafka":
        return (_from_channel(cfg, agent, sink, channel),)
    feeding = [s for s in cfg.sources(agent) if channel in cfg.source_channels(agent, s)]
    kafka = [s for s in feeding if _value(cfg, f"{agent}.sources.{s}.type") == KAFKA_SOURCE]
    if not kafka:
        others = ", ".join(f"{s} ({_value(cfg, f'{agent}.sources.{s}.type') or 'no type'})" for s in feeding)
        raise FlumeConfigError(
            f"{cfg.where(p + 'channel')}: no Kafka consumer feeds sink {sink!r} of agent {agent!r}: its channel "
            f"{channel!r} is type {ctype or 'unset'!r}, not {KAFKA_CHANNEL}, and no {KAFKA_SOURCE} listed in "
            f"{agent}.sources puts into it (sources feeding it: {others or 'none'})"
        )
    return tuple(_from_source(cfg, agent, sink, s, channel) for s in kafka)
