"""Flume config reader (Java properties) and the event-time linter."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flume_provider.flume_config import (
    FlumeConfigError,
    HdfsSinkSettings,
    lint,
    load_flume_config,
    parse_properties,
)
from airflow_flume_provider.flume_consumer import FlumeKafkaConsumer

DATA = Path(__file__).parent / "data"
CLEAN = DATA / "flume_clean.conf"
BAD = DATA / "flume_bad.conf"


def test_properties_syntax() -> None:
    text = (
        "# comment\n"
        "! bang comment\n"
        "   \n"
        "a = 1\n"
        "b:2\n"
        "c 3\n"
        "  d=  spaced value  \n"
        "e = one \\\n"
        "     two\\\n"
        "three\n"
        "f = ends with backslash \\\\\n"
        "g\\ key = x\\ty\\u0041\n"
        "h =\n"
        "a = 9\n"
        "i\n"
        "j = \\\n"
    )
    props = parse_properties(text, "x.conf")
    values = {k: v for k, (v, _) in props.items()}
    assert values == {
        "a": "9",
        "b": "2",
        "c": "3",
        "d": "spaced value  ",
        "e": "one twothree",
        "f": "ends with backslash \\",
        "g key": "x\tyA",
        "h": "",
        "i": "",
        "j": "",
    }
    assert props["a"][1] == 14 and props["e"][1] == 8


def test_properties_errors_name_file_and_line() -> None:
    with pytest.raises(FlumeConfigError, match=r"x\.conf:2: malformed \\uxxxx"):
        parse_properties("a=1\nb=\\u12G4\n", "x.conf")
    with pytest.raises(FlumeConfigError, match=r"x\.conf:1: line has no key"):
        parse_properties("=value\n", "x.conf")


def test_clean_config_settings_and_no_findings() -> None:
    cfg = load_flume_config(CLEAN)
    assert cfg.agents() == ["a1"]
    assert cfg.sinks("a1") == ["k1", "k2"]
    k1 = cfg.hdfs_sink("a1", "k1")
    assert (k1.path, k1.namenode, k1.path_template) == (
        "hdfs://nn1:8020/flume/%{topic}/%Y-%m-%d",
        "nn1:8020",
        "/flume/%{topic}/%Y-%m-%d",
    )
    assert k1.time_zone == "UTC" and not k1.round and not k1.use_local_timestamp
    # Flume 1.11.0 defaults
    assert (k1.file_prefix, k1.file_suffix, k1.in_use_prefix, k1.in_use_suffix) == (
        "FlumeData",
        "",
        "_",
        ".tmp",
    )
    assert (k1.roll_interval, k1.roll_size, k1.roll_count, k1.idle_timeout, k1.batch_size) == (
        30,
        1024,
        10,
        0,
        100,
    )
    assert (k1.file_type, k1.serializer, k1.codec) == ("DataStream", "TEXT", None)
    assert k1.channel is not None and k1.channel.type == "file" and k1.channel.parse_as_flume_event is None
    (src,) = k1.sources
    assert src.name == "src1" and src.is_kafka and src.use_flume_event_format
    assert src.topics == ("orders", "payments")
    assert [(i.name, i.is_timestamp, i.preserve_existing) for i in src.interceptors] == [
        ("ts", True, True),
        ("host", False, False),
    ]
    assert lint(k1) == []
    tpl = k1.path_template_obj()
    assert tpl.for_timestamp_ms(1_700_000_000_123, {"topic": "orders"}) == "/flume/orders/2023-11-14"

    k2 = cfg.hdfs_sink("a1", "k2")
    assert k2.path == "/flume/tz/%Y-%m-%d/%H%M" and k2.namenode is None
    assert (k2.time_zone, k2.round, k2.round_unit, k2.round_value) == ("Asia/Kolkata", True, "Minute", 30)
    assert (k2.roll_interval, k2.roll_size, k2.roll_count, k2.batch_size, k2.idle_timeout) == (
        5,
        0,
        0,
        1000,
        60,
    )
    assert (k2.file_prefix, k2.file_suffix, k2.codec, k2.file_type) == (
        "events",
        ".seq",
        "gzip",
        "SequenceFile",
    )
    assert k2.channel is not None and k2.channel.is_kafka and k2.channel.parse_as_flume_event is True
    assert k2.channel.topic == "clicks-channel"
    assert [s.name for s in k2.sources] == ["src2"] and k2.sources[0].use_flume_event_format
    assert lint(k2) == []
    # 2023-11-14T22:13:20Z = 2023-11-15 03:43:20 IST -> rounded to 03:30
    assert k2.path_template_obj().for_timestamp_ms(1_700_000_000_000) == "/flume/tz/2023-11-15/0330"


def test_bad_config_reports_every_finding_with_key_and_fix() -> None:
    cfg = load_flume_config(BAD)
    k1 = cfg.hdfs_sink("bad", "k1")
    findings = lint(k1)
    by_code = {f.code: f for f in findings}
    assert set(by_code) == {
        "use-local-timestamp",
        "time-zone-unset",
        "round-unit-invalid",
        "round-value-invalid",
        "in-use-visible",
        "timestamp-interceptor-overwrites",
        "kafka-source-raw",
        "kafka-channel-raw",
    }
    assert by_code["use-local-timestamp"].key == "bad.sinks.k1.hdfs.useLocalTimeStamp"
    assert by_code["time-zone-unset"].key == "bad.sinks.k1.hdfs.timeZone"
    assert by_code["round-unit-invalid"].key == "bad.sinks.k1.hdfs.roundUnit"
    assert by_code["in-use-visible"].key == "bad.sinks.k1.hdfs.inUsePrefix"
    assert by_code["kafka-source-raw"].key == "bad.sources.s1.useFlumeEventFormat"
    assert by_code["kafka-channel-raw"].key == "bad.channels.c1.parseAsFlumeEvent"
    overwrites = [f for f in findings if f.code == "timestamp-interceptor-overwrites"]
    assert [f.key for f in overwrites] == [
        "bad.sources.s1.interceptors.i1.preserveExisting",  # FQCN type, preserveExisting defaults to false
        "bad.sources.s1.interceptors.i2.preserveExisting",
    ]
    for f in findings:
        assert f.message and f.fix and f.severity in ("warning", "error")
        assert f.key in str(f) and "Fix:" in str(f)
    # s2 (useFlumeEventFormat=true) also feeds c1 and is fine.
    assert [s.name for s in k1.sources] == ["s1", "s2"]
    assert sum(f.code == "kafka-source-raw" for f in findings) == 1
    # Flume disables rounding for an invalid unit: the template does not round.
    assert not k1.path_template_obj().need_rounding

    k2 = cfg.hdfs_sink("bad", "k2")
    codes = {f.code for f in lint(k2)}
    # c2 is a memory channel fed by Kafka source s2: events it holds are lost on a crash.
    assert codes == {"time-zone-unknown", "round-value-invalid", "memory-channel-loses-events"}
    with pytest.raises(ValueError, match="<= 24"):
        k2.path_template_obj()


def test_unset_zone_template_defaults_to_utc() -> None:
    cfg = load_flume_config(BAD)
    tpl = cfg.hdfs_sink("bad", "k1").path_template_obj()
    assert tpl.time_zone == "UTC"
    assert tpl.for_timestamp_ms(1_700_000_000_000) == "/flume/bad/2023-11-14"


def test_missing_things_raise_errors_naming_file_agent_sink(tmp_path: Path) -> None:
    cfg = load_flume_config(BAD)
    with pytest.raises(
        FlumeConfigError, match=r"flume_bad\.conf: agent 'bad' has no sink 'nope'.*k1, k2, k3"
    ):
        cfg.hdfs_sink("bad", "nope")
    with pytest.raises(
        FlumeConfigError, match=r"flume_bad\.conf:\d+: sink 'k3' of agent 'bad' is type 'logger'"
    ):
        cfg.hdfs_sink("bad", "k3")
    with pytest.raises(FlumeConfigError, match=r"agent 'other' has no sink 'k1'.*none"):
        cfg.hdfs_sink("other", "k1")
    with pytest.raises(FlumeConfigError, match="cannot read Flume config"):
        load_flume_config(tmp_path / "missing.conf")
    conf = tmp_path / "x.conf"
    conf.write_text(
        "a.sinks = k\na.sinks.k.type = hdfs\na.sinks.k.hdfs.path = /p\na.sinks.k.hdfs.rollSize = 1MB\n"
    )
    with pytest.raises(FlumeConfigError, match=r"x\.conf:4: a\.sinks\.k\.hdfs\.rollSize must be an integer"):
        load_flume_config(conf).hdfs_sink("a", "k")
    conf.write_text("a.sinks = k\na.sinks.k.type = hdfs\n")
    with pytest.raises(FlumeConfigError, match=r"sink 'k' of agent 'a' has no hdfs\.path"):
        load_flume_config(conf).hdfs_sink("a", "k")


def test_empty_in_use_suffix_and_boolean_parsing(tmp_path: Path) -> None:
    conf = tmp_path / "y.conf"
    conf.write_text(
        "a.sinks = k\na.sinks.k.type = hdfs\na.sinks.k.hdfs.path = /p/%Y\n"
        "a.sinks.k.hdfs.emptyInUseSuffix = true\na.sinks.k.hdfs.inUseSuffix = .tmp\n"
        "a.sinks.k.hdfs.useLocalTimeStamp = yes\na.sinks.k.hdfs.timeZone = UTC\n"
    )
    s = load_flume_config(conf).hdfs_sink("a", "k")
    assert s.in_use_suffix == ""
    assert s.use_local_timestamp is False  # Boolean.valueOf("yes") is false
    assert lint(s) == []


STACK_CONF = Path(__file__).resolve().parents[2] / "stack" / "conf"


def _expected_durability(settings: HdfsSinkSettings) -> list[str]:
    """The memory-channel warning exactly where a KafkaSource puts into a memory channel."""
    volatile = settings.channel is not None and settings.channel.kind == "memory"
    return ["memory-channel-loses-events"] if volatile and any(s.is_kafka for s in settings.sources) else []


def test_stack_config_has_no_finding() -> None:
    """The stack's agent is configured for event-time partitioning: every sink lints clean, except the warning
    that its memory channels (the KafkaSource topology) lose what they hold on a crash."""
    cfg = load_flume_config(STACK_CONF / "flume.conf")
    assert cfg.sinks("agent"), "no sinks in the stack's flume.conf"
    for sink in cfg.sinks("agent"):
        settings = cfg.hdfs_sink("agent", sink)
        assert [f.code for f in lint(settings)] == _expected_durability(settings), sink


def test_stack_ingest_time_agent_is_flagged() -> None:
    """The contrast agent (plain values, filed by ingestion time) is exactly what the linter warns about."""
    settings = load_flume_config(STACK_CONF / "flume-ingest-time.conf").hdfs_sink("ingest", "k_raw")
    assert [f.code for f in lint(settings)] == ["kafka-source-raw", *_expected_durability(settings)]


# -- the Kafka consumer feeding a sink (issue 11) ---------------------------------------------------------------

TOPOLOGIES = DATA / "flume_kafka_topologies.conf"


def test_kafka_channel_consumer_takes_flume_1_11_defaults() -> None:
    cfg = load_flume_config(TOPOLOGIES)
    c = cfg.kafka_consumer("chan", "k_defaults")
    assert c == FlumeKafkaConsumer(
        agent="chan",
        sink="k_defaults",
        topology="kafka_channel",
        component="c_defaults",
        channel="c_defaults",
        channel_type="kafka",
        bootstrap_servers="b1:9092,b2:9092",
        group_id="flume",  # KafkaChannelConfiguration.DEFAULT_GROUP_ID
        topics=("flume-channel",),  # KafkaChannelConfiguration.DEFAULT_TOPIC
        topics_regex=None,
        flume_event_format=True,  # DEFAULT_PARSE_AS_FLUME_EVENT
        key_prefix="chan.channels.c_defaults.",
        source_file=str(TOPOLOGIES),
    )
    assert c.committed_means_in_hdfs
    assert lint(cfg.hdfs_sink("chan", "k_defaults")) == []


def test_kafka_channel_consumer_explicit_and_legacy_names() -> None:
    cfg = load_flume_config(TOPOLOGIES)
    c = cfg.kafka_consumer("chan", "k_explicit")
    assert (c.topics, c.group_id, c.flume_event_format) == (("events-channel",), "flume-events", False)
    legacy = cfg.kafka_consumer("chan", "k_legacy")
    assert (legacy.bootstrap_servers, legacy.topics, legacy.group_id) == (
        "old:9092",
        ("old-topic",),
        "old-group",
    )
    # parseAsFlumeEvent=false drops the envelope, and with it the timestamp header
    (finding,) = lint(cfg.hdfs_sink("chan", "k_explicit"))
    assert (finding.code, finding.key) == ("kafka-channel-raw", "chan.channels.c_explicit.parseAsFlumeEvent")


def test_kafka_source_consumer_defaults_and_memory_channel_warning() -> None:
    cfg = load_flume_config(TOPOLOGIES)
    c = cfg.kafka_consumer("src", "k_list")
    assert (c.topology, c.component, c.channel, c.channel_type) == (
        "kafka_source",
        "s_list",
        "c_mem",
        "memory",
    )
    assert (c.bootstrap_servers, c.topics, c.topics_regex) == ("b1:9092", ("orders", "payments"), None)
    assert c.group_id == "flume"  # KafkaSourceConstants.DEFAULT_GROUP_ID
    assert c.flume_event_format is False  # KafkaSourceConstants.DEFAULT_AVRO_EVENT
    assert not c.committed_means_in_hdfs
    by_code = {f.code: f for f in lint(cfg.hdfs_sink("src", "k_list"))}
    assert set(by_code) == {"kafka-source-raw", "memory-channel-loses-events"}
    loss = by_code["memory-channel-loses-events"]
    assert loss.severity == "warning" and loss.key == "src.channels.c_mem.type"
    assert "'s_list'" in loss.message and "crash" in loss.message and "no lag" in loss.message
    assert "KafkaChannel" in loss.fix and "remove the source" in loss.fix


def test_kafka_source_regex_wins_and_file_channel_is_durable() -> None:
    cfg = load_flume_config(TOPOLOGIES)
    c = cfg.kafka_consumer("src", "k_regex")
    assert (c.topics, c.topics_regex, c.group_id) == ((), "^clicks-.*", "flume-clicks")
    assert (c.channel_type, c.flume_event_format) == ("file", True)
    assert lint(cfg.hdfs_sink("src", "k_regex")) == []


def test_kafka_source_legacy_names_and_spillable_memory() -> None:
    cfg = load_flume_config(TOPOLOGIES)
    c = cfg.kafka_consumer("src", "k_spill")
    assert (c.topics, c.group_id, c.channel_type) == (("old-topic",), "old-group", "spillablememory")
    assert [f.code for f in lint(cfg.hdfs_sink("src", "k_spill"))] == ["memory-channel-loses-events"]


def test_several_kafka_sources_are_all_returned() -> None:
    cfg = load_flume_config(TOPOLOGIES)
    found = cfg.kafka_consumers("src", "k_two")
    assert [(c.component, c.group_id, c.bootstrap_servers, c.topics) for c in found] == [
        ("s_a", "group-a", "b1:9092", ("a",)),
        ("s_b", "group-b", "b2:9092", ("b",)),
    ]
    assert {c.channel_type for c in found} == {"memory"}  # the class name maps to the alias
    with pytest.raises(FlumeConfigError, match=r"fed by 2 Kafka sources.*s_a \(group 'group-a'\), s_b"):
        cfg.kafka_consumer("src", "k_two")
    (finding,) = lint(cfg.hdfs_sink("src", "k_two"))
    assert finding.code == "memory-channel-loses-events" and "'s_a', 's_b'" in finding.message


def test_sinks_without_a_kafka_consumer_raise_naming_agent_sink_and_property() -> None:
    cfg = load_flume_config(TOPOLOGIES)
    with pytest.raises(
        FlumeConfigError,
        match=r"flume_kafka_topologies\.conf:\d+: no Kafka consumer feeds sink 'k_exec' of agent 'src': its "
        r"channel 'c_exec' is type 'memory'.*sources feeding it: s_exec \(exec\)",
    ):
        cfg.kafka_consumer("src", "k_exec")
    with pytest.raises(
        FlumeConfigError, match=r"sink 'k_nochannel' of agent 'src' has no src\.sinks\.k_nochannel\.channel"
    ):
        cfg.kafka_consumers("src", "k_nochannel")
    with pytest.raises(FlumeConfigError, match=r"agent 'src' has no sink 'nope'"):
        cfg.kafka_consumer("src", "nope")


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        (
            "a.channels.c.type = org.apache.flume.channel.kafka.KafkaChannel\n",
            r"x\.conf:1: Kafka channel 'c' of agent 'a' has no a\.channels\.c\.kafka\.bootstrap\.servers",
        ),
        (
            "a.sources = s\na.sources.s.type = org.apache.flume.source.kafka.KafkaSource\na.sources.s.channels = c\n"
            "a.sources.s.kafka.topics = t\na.sources.s.zookeeperConnect = zk:2181\na.channels.c.type = memory\n",
            r"x\.conf:2: Kafka source 's' of agent 'a' has no a\.sources\.s\.kafka\.bootstrap\.servers.*ZooKeeper",
        ),
        (
            "a.sources = s\na.sources.s.type = org.apache.flume.source.kafka.KafkaSource\na.sources.s.channels = c\n"
            "a.sources.s.kafka.bootstrap.servers = b:9092\na.sources.s.kafka.topics = ,\na.channels.c.type = memory\n",
            r"x\.conf:2: Kafka source 's' of agent 'a' has neither a\.sources\.s\.kafka\.topics nor .*regex",
        ),
    ],
)
def test_kafka_consumer_missing_brokers_or_topics(tmp_path: Path, lines: str, error: str) -> None:
    conf = tmp_path / "x.conf"
    conf.write_text(
        lines + "a.sinks = k\na.sinks.k.type = hdfs\na.sinks.k.channel = c\na.sinks.k.hdfs.path = /p\n"
    )
    with pytest.raises(FlumeConfigError, match=error):
        load_flume_config(conf).kafka_consumer("a", "k")


def test_stack_consumers_for_both_topologies() -> None:
    """The stack's KafkaSource pipeline and its lossless KafkaChannel agent, read from the committed configs."""
    source = load_flume_config(STACK_CONF / "flume.conf").kafka_consumer("agent", "k_events")
    assert (source.topology, source.topics, source.group_id) == (
        "kafka_source",
        ("flume-events",),
        "flume-events",
    )
    assert source.bootstrap_servers == "127.0.0.1:29092" and source.flume_event_format
    lossless_conf = load_flume_config(STACK_CONF / "flume-kafka-channel.conf")
    channel = lossless_conf.kafka_consumer("lossless", "k_lossless")
    assert (channel.topology, channel.topics, channel.group_id) == (
        "kafka_channel",
        ("flume-channel-events",),
        "flume-channel-events",
    )
    assert channel.committed_means_in_hdfs and channel.flume_event_format
    assert lint(lossless_conf.hdfs_sink("lossless", "k_lossless")) == []


def test_kafka_channel_legacy_names_count_only_when_the_new_key_is_absent(tmp_path: Path) -> None:
    """KafkaChannel.translateOldProps: an empty new key is not replaced by the old one; the default applies."""
    conf = tmp_path / "x.conf"
    conf.write_text(
        "a.channels = c\na.channels.c.type = org.apache.flume.channel.kafka.KafkaChannel\n"
        "a.channels.c.kafka.bootstrap.servers = b:9092\na.channels.c.kafka.consumer.group.id =\n"
        "a.channels.c.groupId = old\na.channels.c.kafka.topic =\na.channels.c.topic = old-topic\n"
        "a.sinks = k\na.sinks.k.type = hdfs\na.sinks.k.channel = c\na.sinks.k.hdfs.path = /p\n"
    )
    c = load_flume_config(conf).kafka_consumer("a", "k")
    assert (c.group_id, c.topics) == ("flume", ("flume-channel",))
