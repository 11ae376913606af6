"""The shared readiness logic: pure evaluation, and polls through the fake WebHDFS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from test_hdfs_client import FakeWebHdfs

from airflow_flume_provider.hdfs_client import FileStatus, HdfsClient, HdfsPermissionError
from airflow_flume_provider.partition_check import (
    CheckResult,
    FileNaming,
    Observation,
    PartitionCheckFailed,
    PartitionSpec,
    PartitionState,
    ReadinessReport,
    TransientFailureLimitExceeded,
    apoke_partition,
    evaluate,
    expected_counts_from,
    poke_partition,
)

NAMING = FileNaming(in_use_prefix="_", in_use_suffix=".tmp", file_type="DataStream", serializer="TEXT")
P = "/flume/events/2003-04-05"
NEXT = "/flume/events/2003-04-06"
END = 1049587200.0  # 2003-04-06T00:00:00Z


def fs(name: str, length: int = 10, mtime_s: float = 1000.0) -> FileStatus:
    return FileStatus(name, "FILE", length, int(mtime_s * 1000))


def spec(**kw: object) -> PartitionSpec:
    base: dict[str, object] = {
        "paths": (P,),
        "next_paths": (NEXT,),
        "end_ts": END,
        "naming": NAMING,
        "quiet_period": 30.0,
        "allowed_lateness": 600.0,
    }
    base.update(kw)
    return PartitionSpec(**base)  # type: ignore[arg-type]


def verdicts(report: ReadinessReport) -> dict[str, bool]:
    return {c.name: c.ok for c in report.checks}


def test_classify_names() -> None:
    assert NAMING.classify("FlumeData.1722") == "finished"
    assert NAMING.classify("_FlumeData.1722.tmp") == "in_use"
    assert NAMING.classify("_SUCCESS") == "other"
    assert NAMING.classify(".hidden") == "other"
    plain = FileNaming(file_suffix=".txt")
    assert plain.classify("FlumeData.1.txt.tmp") == "in_use"
    assert plain.classify("FlumeData.1.txt") == "finished"
    assert plain.classify("FlumeData.1.log") == "other"


def test_missing_partition_not_ready() -> None:
    r, _ = evaluate(spec(), Observation({P: None}), PartitionState(), now=END + 10_000)
    assert not r.ready
    assert verdicts(r)["exists"] is False and "missing" in r.summary()


def test_in_use_file_blocks_ready() -> None:
    obs = Observation({P: [fs("FlumeData.1"), fs("_FlumeData.2.tmp")]})
    r, _ = evaluate(spec(), obs, PartitionState(), now=END + 10_000)
    assert verdicts(r) == {"exists": True, "no_in_use": False, "quiet": True, "watermark": True}
    assert "1 in-use files: _FlumeData.2.tmp" in r.summary()
    assert not r.ready


def test_old_complete_partition_ready_at_first_poll() -> None:
    obs = Observation({P: [fs("FlumeData.1", 5), fs("FlumeData.2", 7), fs("_SUCCESS", 0)]})
    r, state = evaluate(spec(), obs, PartitionState(), now=END + 10_000)
    assert r.ready, r.summary()
    assert (r.files, r.bytes, r.newest_mtime) == (2, 12, 1_000_000)
    assert state.polls == 1 and state.snapshot is not None


def test_quiet_period_restarts_on_change() -> None:
    s = spec(checks=("exists", "quiet"), trust_mtime=False)
    t0 = 5000.0
    obs1 = Observation({P: [fs("FlumeData.1", 5, t0)]})
    r, st = evaluate(s, obs1, PartitionState(), now=t0)
    assert not r.ready and "quiet for 0 s of 30 s" in r.summary()
    r, st = evaluate(s, obs1, st, now=t0 + 20)
    assert not r.ready
    obs2 = Observation({P: [fs("FlumeData.1", 5, t0), fs("FlumeData.2", 3, t0 + 25)]})  # a late file
    r, st = evaluate(s, obs2, st, now=t0 + 25)
    assert not r.ready
    r, st = evaluate(s, obs2, st, now=t0 + 50)
    assert not r.ready and "quiet for 25 s" in r.summary()
    r, st = evaluate(s, obs2, st, now=t0 + 56)
    assert r.ready


def test_quiet_uses_hdfs_mtime_when_trusted() -> None:
    s = spec(checks=("exists", "quiet"))
    obs = Observation({P: [fs("FlumeData.1", 5, 5000.0)]})
    r, _ = evaluate(s, obs, PartitionState(), now=5010.0)
    assert not r.ready and "quiet for 10 s of 30 s" in r.summary()
    r, _ = evaluate(s, obs, PartitionState(), now=5031.0)
    assert r.ready


def test_grown_file_counts_as_change() -> None:
    s = spec(checks=("quiet",), trust_mtime=False)
    _, st = evaluate(s, Observation({P: [fs("FlumeData.1", 5)]}), PartitionState(), now=0.0)
    r, st = evaluate(s, Observation({P: [fs("FlumeData.1", 9)]}), st, now=40.0)
    assert not r.ready and st.changed_at == 40.0


def test_watermark_next_partition_or_clock() -> None:
    s = spec(checks=("watermark",))
    before = END - 100
    r, _ = evaluate(s, Observation({P: []}, {NEXT: None}), PartitionState(), now=before)
    assert not r.ready and "no finished file" in r.summary()
    r, _ = evaluate(s, Observation({P: []}, {NEXT: [fs("_FlumeData.9.tmp")]}), PartitionState(), now=before)
    assert not r.ready
    r, _ = evaluate(s, Observation({P: []}, {NEXT: [fs("FlumeData.9")]}), PartitionState(), now=before)
    assert r.ready
    r, _ = evaluate(s, Observation({P: []}), PartitionState(), now=END + 601)
    assert r.ready


def test_count_against_expected_and_cache_pruning() -> None:
    s = spec(checks=("exists", "count"), expected_count=10)
    f1, f2 = fs("FlumeData.1", 5), fs("FlumeData.2", 7)
    k1, k2 = f"{P}/FlumeData.1|5|1000000", f"{P}/FlumeData.2|7|1000000"
    r, st = evaluate(s, Observation({P: [f1]}, counts={k1: 6}), PartitionState(), now=0)
    assert not r.ready and "counted 6 of 10 events" in r.summary()
    r, st = evaluate(s, Observation({P: [f1, f2]}, counts={k2: 4}), st, now=1)
    assert r.ready and r.event_count == 10
    r, st = evaluate(s, Observation({P: [f2]}), st, now=2)  # a file vanished: its count goes too
    assert not r.ready and st.counts == {k2: 4}


def test_count_excess_accept_or_fail() -> None:
    f1 = fs("FlumeData.1")
    obs = Observation({P: [f1]}, counts={f"{P}/FlumeData.1|10|1000000": 12})
    r, _ = evaluate(spec(checks=("count",), expected_count=10), obs, PartitionState(), now=0)
    assert r.ready and "2 more than" in r.checks[0].reason
    r, _ = evaluate(
        spec(checks=("count",), expected_count=10, exact_count=True), obs, PartitionState(), now=0
    )
    assert not r.ready


def test_spec_validation_and_round_trip() -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        spec(checks=("exists", "bogus"))
    with pytest.raises(ValueError, match="needs expected_count or manifest"):
        spec(checks=("count",))
    s = spec(checks=("exists", "count"), manifest={P: 3})
    assert PartitionSpec.from_dict(s.to_dict()) == s
    st = PartitionState(snapshot={"a": [1, 2]}, counts={"k": 1}, polls=3)
    assert PartitionState.from_dict(st.to_dict()) == st


def test_expected_counts_from_manifests() -> None:
    merged = expected_counts_from(
        [{"hdfs://nn:8020/flume/e/2003-04-05/": 3}, '{"/flume/e/2003-04-05": 4, "/flume/e/x": 1}', None]
    )
    assert merged == {"/flume/e/2003-04-05": 7, "/flume/e/x": 1}
    assert expected_counts_from({"partitions": {"/a": 2}}) == {"/a": 2}
    replay = {"version": 1, "topic": "t", "partitions": {"/a": 5, "/b": 1}, "duplicates": {"/a": 2}}
    assert expected_counts_from([replay, None, replay]) == {"/a": 14, "/b": 2}
    with pytest.raises(ValueError, match="dry run"):
        expected_counts_from({**replay, "dry_run": True})
    with pytest.raises(ValueError, match=r"manifest\[0\]: count for '/a'"):
        expected_counts_from([{"/a": -1}])
    assert spec(checks=("count",), manifest={P: 5}).expected == 5


def test_log_throttling() -> None:
    st = PartitionState()
    not_ready = ReadinessReport(False, [P], checks=[])
    not_ready.checks.append(CheckResult("quiet", False, "x"))
    logged = []
    for _ in range(25):
        st.polls += 1
        logged.append(st.should_log(not_ready, every=10))
    assert logged.count(True) == 3  # first, poll 10, poll 20


# -- through the fake WebHDFS ---------------------------------------------------------------------------------
@pytest.fixture
def hdfs() -> Iterator[FakeWebHdfs]:
    f = FakeWebHdfs()
    yield f
    f.close()


def test_poke_counts_only_new_files(hdfs: FakeWebHdfs) -> None:
    for i in range(3):
        hdfs.put(f"{P}/FlumeData.{i}", b"a\nb\n", 1000)
    s = spec(expected_count=8, checks=("exists", "no_in_use", "quiet", "watermark", "count"))
    c = HdfsClient([hdfs.url])
    r, st = poke_partition(c, s, PartitionState(), now=END + 10_000)
    assert not r.ready and r.event_count == 6 and r.requests == 1 + 3 * 2
    hdfs.put(f"{P}/FlumeData.9", b"c\nd\n", 2000)
    r, st = poke_partition(c, s, st, now=END + 10_000)
    assert [x.name for x in r.failing()] == ["quiet"]  # the new file restarts the quiet period
    assert r.event_count == 8 and r.requests == 3 and r.bytes_read == 4
    r, st = poke_partition(c, s, st, now=END + 10_031)
    assert r.ready, r.summary()
    assert r.requests == 1 and r.bytes_read == 0


def test_poke_lists_next_partition_only_when_clock_undecided(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    c = HdfsClient([hdfs.url])
    r, _ = poke_partition(c, spec(), PartitionState(), now=END + 10_000)
    assert r.requests == 1 and r.ready
    r, _ = poke_partition(c, spec(), PartitionState(), now=END - 10)
    assert r.requests == 2 and not r.ready
    hdfs.put(f"{NEXT}/FlumeData.2", b"b\n", 1000)
    r, _ = poke_partition(c, spec(), PartitionState(), now=END - 10)
    assert r.ready, r.summary()


def test_transient_errors_until_limit(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    c = HdfsClient([hdfs.url])
    s = spec(max_transient_failure_s=100)
    hdfs.fault = "standby"
    r, st = poke_partition(c, s, PartitionState(), now=END + 1000)
    assert not r.ready and r.error and "StandbyException" in r.summary()
    r, st = poke_partition(c, s, st, now=END + 1090)
    assert not r.ready and st.transient_since == END + 1000
    with pytest.raises(TransientFailureLimitExceeded, match="max_transient_failure_s=100"):
        poke_partition(c, s, st, now=END + 1101)
    hdfs.fault = None
    r, st = poke_partition(c, s, st, now=END + 1102)
    assert r.ready and st.transient_since is None


def test_permission_error_raises(hdfs: FakeWebHdfs) -> None:
    hdfs.fault = "permission"
    with pytest.raises(HdfsPermissionError):
        poke_partition(HdfsClient([hdfs.url]), spec(), PartitionState(), now=END)


def test_exact_count_excess_fails(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\nb\nc\n", 1000)
    s = spec(checks=("count",), expected_count=2, exact_count=True)
    with pytest.raises(PartitionCheckFailed, match="1 more than the expected 2"):
        poke_partition(HdfsClient([hdfs.url]), s, PartitionState(), now=END)


def test_async_poke(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    r, st = asyncio.run(
        apoke_partition(lambda: HdfsClient([hdfs.url]), spec(), PartitionState(), END + 10_000)
    )
    assert r.ready and st.polls == 1


# --- consumed: Kafka offsets of Flume's group, read in the poke before HDFS -----------------------------------

from test_consumed import FakeAdmin  # noqa: E402

from airflow_flume_provider.partition_consumed import (  # noqa: E402
    consumed_checks,
    explicit_consumer_ref,
    targets_from_manifests,
)
from airflow_flume_provider.partition_faults import (  # noqa: E402
    incomplete_message,
    stale_repair_commands,
)

T = "flume-channel-events"
CHANNEL = explicit_consumer_ref(
    T, "flume-channel-events", bootstrap_servers="k:9092", topology="kafka_channel"
)
SOURCE = explicit_consumer_ref("flume-events", "flume-events", bootstrap_servers="k:9092")


def cspec(**kw: object) -> PartitionSpec:
    base: dict[str, object] = {"checks": ("exists", "consumed"), "kafka_consumers": (CHANNEL,)}
    base.update(kw)
    return spec(**base)


def test_consumed_with_manifest_targets_ready_exactly_when_the_group_passes_them(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    targets = {T: {"0": 100, "1": 50}}
    s = cspec(kafka_targets=targets)
    for committed, ready in (({(T, 0): 100, (T, 1): 49}, False), ({(T, 0): 100, (T, 1): 50}, True)):
        admin = FakeAdmin({T: 2}, {}, committed, starts={(T, 1): 0})
        with HdfsClient([hdfs.url]) as client:
            r, st = poke_partition(client, s, PartitionState(), now=END + 5, admin=admin)
        assert verdicts(r)["consumed"] is ready, r.summary()
        assert ready or "p1 at 49 of 50" in r.summary()
        assert r.ready is ready
        assert st.consumed_state is None  # manifest targets: nothing to keep


def test_consumed_live_waits_for_end_plus_lateness_then_keeps_one_snapshot(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    s = cspec()
    admin = FakeAdmin({T: 1}, {(T, 0): 10}, {(T, 0): 10})
    with HdfsClient([hdfs.url]) as client:
        r, st = poke_partition(client, s, PartitionState(), now=END + 599, admin=admin)
        assert not verdicts(r)["consumed"] and "waiting for the window to close" in r.summary()
        assert st.consumed_state is None and "list_offsets" not in admin.calls
        r, st = poke_partition(client, s, st, now=END + 601, admin=admin)
        assert verdicts(r)["consumed"], r.summary()
        assert st.consumed_state and st.consumed_state["kafka_offsets"] == {T: {"0": 10}}
        admin.ends[(T, 0)] = 99  # later records are late data: the kept snapshot is the target
        r, st = poke_partition(client, s, st, now=END + 700, admin=admin)
        assert verdicts(r)["consumed"] and st.consumed_state["kafka_offsets"] == {T: {"0": 10}}
    assert PartitionState.from_dict(st.to_dict()).consumed_state == st.consumed_state


def test_consumed_faults_are_not_ready_with_their_kind(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    s = cspec(kafka_targets={T: {"0": 5}})
    cases = [
        (FakeAdmin({T: 1}, {}, {}, down=True), "unreachable"),
        (FakeAdmin({T: 1}, {}, {}, state="DEAD", members=0), "unknown_group"),
        (FakeAdmin({T: 1}, {}, {(T, 0): 5}, state="EMPTY", members=0), "no_members"),
    ]
    for admin, kind in cases:
        with HdfsClient([hdfs.url]) as client:
            r, _ = poke_partition(client, s, PartitionState(), now=END + 5, admin=admin)
        assert not r.ready and not verdicts(r)["consumed"] and r.kafka_fault == kind, (kind, r.summary())


def test_manifest_topic_no_consumer_reads_is_a_named_fault(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    s = cspec(kafka_targets={"other-topic": {"0": 5}})
    with HdfsClient([hdfs.url]) as client:
        r, _ = poke_partition(client, s, PartitionState(), now=END + 5, admin=FakeAdmin({T: 1}, {}, {}))
    assert r.kafka_fault == "foreign_topic" and "other-topic" in r.summary()


def test_consumed_on_a_kafka_source_needs_no_in_use_and_quiet() -> None:
    with pytest.raises(ValueError, match=r"commit before HDFS.*also needs no_in_use, quiet"):
        cspec(kafka_consumers=(SOURCE,))
    checks, note = consumed_checks(("exists", "consumed"), [SOURCE])
    assert checks == ("exists", "consumed", "no_in_use", "quiet") and note and "flume-events" in note
    assert consumed_checks(("exists", "consumed"), [CHANNEL]) == (("exists", "consumed"), None)
    cspec(kafka_consumers=(SOURCE,), checks=checks)  # accepted
    with pytest.raises(ValueError, match="needs the Flume Kafka consumer"):
        spec(checks=("consumed",))
    with pytest.raises(ValueError, match="needs a time-partitioned path"):
        cspec(end_ts=None)
    with pytest.raises(ValueError, match="kafka_topology"):
        explicit_consumer_ref(T, "g", topology="memory")


def test_poke_without_admin_for_consumed_is_refused(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1000)
    with HdfsClient([hdfs.url]) as client, pytest.raises(ValueError, match="needs a Kafka admin"):
        poke_partition(client, cspec(), PartitionState(), now=END)


def test_spec_round_trip_keeps_consumers_and_targets() -> None:
    s = cspec(kafka_targets={T: {"0": 3}})
    assert PartitionSpec.from_dict(s.to_dict()) == s


def test_targets_from_manifests_merges_mapped_tasks_and_falls_back_to_live_on_a_mix() -> None:
    a = {"partitions": {P: 1}, "kafka_offsets": {T: {"0": 5, "1": 2}}}
    b = json.dumps({"partitions": {P: 1}, "kafka_offsets": {T: {"0": 7}}})
    assert targets_from_manifests([a, b]) == {T: {"0": 7, "1": 2}}
    assert targets_from_manifests({"partitions": {P: 1}}) is None
    assert targets_from_manifests([a, {"partitions": {}}]) is None  # one part without offsets: live snapshot
    with pytest.raises(
        ValueError, match=r"manifest\[0\].kafka_offsets: 'flume-channel-events' partition 'x'"
    ):
        targets_from_manifests([{"kafka_offsets": {T: {"x": 1}}}])


# --- stale in-use files and the timeout message ------------------------------------------------------------------


def test_stale_in_use_file_is_reported_apart_and_fail_lists_it_with_the_repair() -> None:
    now = 1000.0 + 3 * 3600
    obs = Observation(
        {P: [fs("FlumeData.1"), fs("_FlumeData.2.tmp"), fs("_FlumeData.3.tmp", mtime_s=now - 60)]}
    )
    r, _ = evaluate(spec(), obs, PartitionState(), now=now)
    assert r.stale_in_use == [f"{P}/_FlumeData.2.tmp"]
    assert (
        f"2 in-use files: _FlumeData.2.tmp, _FlumeData.3.tmp; stale in-use file {P}/_FlumeData.2.tmp, open for 3.0 h"
        in r.summary()
    )
    fresh, _ = evaluate(spec(stale_in_use_after=4 * 3600), obs, PartitionState(), now=now)
    assert fresh.stale_in_use == [] and "stale" not in fresh.summary()
    with pytest.raises(ValueError, match="on_stale_in_use"):
        spec(on_stale_in_use="ignore")
    assert stale_repair_commands([f"{P}/_FlumeData.2.tmp"], NAMING) == [
        f"hdfs debug recoverLease -path {P}/_FlumeData.2.tmp -retries 5",
        f"hdfs dfs -mv {P}/_FlumeData.2.tmp {P}/FlumeData.2",
    ]


def test_on_stale_in_use_fail_raises_with_the_file_list(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/_FlumeData.2.tmp", b"x\n", 1_000_000)
    with HdfsClient([hdfs.url]) as client:
        r, _ = poke_partition(client, spec(), PartitionState(), now=1000.0 + 3 * 3600)
        assert not r.ready and r.stale_in_use
        with pytest.raises(
            PartitionCheckFailed, match=r"1 stale in-use file\(s\).*_FlumeData.2.tmp.*recoverLease"
        ):
            poke_partition(client, spec(on_stale_in_use="fail"), PartitionState(), now=1000.0 + 3 * 3600)


def test_incomplete_message_names_partition_missing_count_and_replay_command() -> None:
    s = spec(expected_count=300_000)
    report = ReadinessReport(
        ready=False,
        paths=[P],
        event_count=200_180,
        checks=[CheckResult("count", False, "counted 200,180 of 300,000 events")],
    )
    text = incomplete_message(
        s,
        report,
        window=("2003-04-05T00:00:00+00:00", "2003-04-06T00:00:00Z"),
        dag_id="replay_day",
        logical_date="2003-04-05T00:00:00+00:00",
        replay_tasks=["replay"],
        status_command="airflow-flume partition-status --date 2003-04-05",
    )
    assert f"Partition {P} is not complete" in text
    assert "99,820 of 300,000 expected events are missing from HDFS" in text
    assert "replay that window again (2003-04-05T00:00:00+00:00 .. 2003-04-06T00:00:00Z)" in text
    assert (
        "airflow tasks clear replay_day -t '^(replay)$' -s 2003-04-05T00:00:00+00:00 -e 2003-04-05T00:00:00+00:00 -d -y"
        in text
    )
    assert text.endswith("then check with: airflow-flume partition-status --date 2003-04-05")


def test_on_stale_in_use_finalize_recovers_and_renames_then_the_next_poke_is_ready(hdfs: FakeWebHdfs) -> None:
    hdfs.put(f"{P}/FlumeData.1", b"a\n", 1_000_000)
    hdfs.put(f"{P}/_FlumeData.2.tmp", b"b\n", 1_000_000)
    s = spec(on_stale_in_use="finalize", checks=("exists", "no_in_use"))
    with HdfsClient([hdfs.url]) as client:
        r, st = poke_partition(client, s, PartitionState(), now=1000.0 + 3 * 3600)
        assert (
            not r.ready
            and r.repairs
            and r.repairs[0].startswith(f"renamed {P}/_FlumeData.2.tmp -> {P}/FlumeData.2")
        )
        assert f"{P}/FlumeData.2" in hdfs.files and f"{P}/_FlumeData.2.tmp" not in hdfs.files
        r, _ = poke_partition(client, s, st, now=1000.0 + 3 * 3600)
        assert r.ready and r.files == 2 and not r.repairs, r.summary()
