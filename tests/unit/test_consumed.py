"""The `consumed` check: the decision table (every fault never ready), reason texts, target offsets
(manifest and live snapshot), and the offset reads through an in-process fake AdminClient."""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from airflow_flume_provider.consumed import (
    GroupOffsets,
    OffsetsFault,
    combine_results,
    decide_consumed,
    live_targets,
    merge_offsets,
    offsets_from_json,
    offsets_to_json,
    targets_from_manifest,
)
from airflow_flume_provider.kafka_offsets import (
    ObservedAdmin,
    check_consumed,
    classify,
    log_end_offsets,
    read_group,
    topic_partitions,
)

T = "flume-events"
TARGETS = {(T, 0): 1000, (T, 1): 2000, (T, 2): 1310, (T, 3): 0}


def group(committed: dict, members: int = 1, state: str = "STABLE", exists: bool = True) -> GroupOffsets:
    return GroupOffsets(group_id=T, exists=exists, state=state, members=members, committed=committed)


# --- decision table -----------------------------------------------------------------------------------------


def test_all_caught_up_is_ready() -> None:
    r = decide_consumed(T, TARGETS, group({(T, 0): 1000, (T, 1): 2500, (T, 2): 1310}))
    assert r.ok
    assert r.reason == "flume group 'flume-events': 4 of 4 partitions caught up"
    assert r.details["total_lag"] == 0
    assert r.details["partitions"]["flume-events/1"] == {
        "target": 2000,
        "committed": 2500,
        "lag": 0,
        "caught_up": True,
    }
    json.dumps(r.details)  # serialisable for XCom / trigger events


def test_one_partition_behind_names_it_with_thousands_separators() -> None:
    r = decide_consumed(T, TARGETS, group({(T, 0): 1000, (T, 1): 2000, (T, 2): 1204}))
    assert not r.ok
    assert r.reason == "flume group 'flume-events': 3 of 4 partitions caught up; p2 at 1,204 of 1,310"
    assert r.details["total_lag"] == 106


def test_no_committed_offset_is_not_caught_up_unless_target_is_zero() -> None:
    r = decide_consumed(T, {(T, 0): 5, (T, 1): 0}, group({}))
    assert not r.ok
    assert (
        r.reason
        == "flume group 'flume-events': 1 of 2 partitions caught up; p0 has no committed offset (target 5)"
    )
    assert r.details["partitions"]["flume-events/1"]["caught_up"] is True


def test_partition_emptied_by_retention_before_any_commit_is_explained_and_not_ready() -> None:
    r = decide_consumed(T, {(T, 0): 700}, group({}), log_start={(T, 0): 700})
    assert not r.ok
    assert "p0 has no committed offset and its records up to 700 were deleted (log start = end)" in r.reason


def test_many_lagging_partitions_are_summarised_and_multi_topic_labels_carry_the_topic() -> None:
    targets = {("a", p): 10 for p in range(5)} | {("b", 0): 3}
    r = decide_consumed(T, targets, group({("a", 0): 9}))
    assert not r.ok
    assert r.reason == (
        "flume group 'flume-events': 0 of 6 partitions caught up; a/p0 at 9 of 10; "
        "a/p1 has no committed offset (target 10); a/p2 has no committed offset (target 10); and 3 more"
    )


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("unreachable", "topic metadata: _TRANSPORT: Local: Broker transport failure"),
        ("unknown_topic", "topic(s) 'nope' not found in Kafka"),
        ("unreadable", "committed offsets: GROUP_AUTHORIZATION_FAILED: denied"),
        ("unknown_group", "group 'x': GROUP_ID_NOT_FOUND: gone"),
    ],
)
def test_every_fault_is_not_ready_with_its_kind(kind: str, message: str) -> None:
    r = decide_consumed(T, TARGETS, OffsetsFault(kind, message))
    assert not r.ok
    assert r.reason == f"flume group 'flume-events': offsets unreadable ({kind}): {message}"
    assert r.details == {"fault": kind}


def test_missing_group_is_not_ready() -> None:
    r = decide_consumed(T, TARGETS, group({}, members=0, state=None, exists=False))
    assert not r.ok
    assert r.reason.startswith("flume group 'flume-events' does not exist")
    assert r.details["fault"] == "unknown_group"


def test_caught_up_group_without_members_is_not_ready_unless_allowed() -> None:
    caught = group({(T, 0): 1000, (T, 1): 2000, (T, 2): 1310}, members=0, state="EMPTY")
    r = decide_consumed(T, TARGETS, caught)
    assert not r.ok
    assert r.reason.endswith(
        "4 of 4 partitions caught up, but the group has no members (state EMPTY): Flume is not running"
    )
    assert decide_consumed(T, TARGETS, caught, require_members=False).ok


def test_no_targets_is_not_ready() -> None:
    r = decide_consumed(T, {}, group({}))
    assert not r.ok and r.details["fault"] == "no_targets"


def test_combined_consumers_are_ready_only_when_all_are() -> None:
    ok = decide_consumed(T, {(T, 0): 1}, group({(T, 0): 1}))
    late = decide_consumed("other", {("b", 0): 9}, group({("b", 0): 4}))
    both = combine_results([ok, late])
    assert not both.ok
    assert both.reason == "flume group 'other': 0 of 1 partitions caught up; p0 at 4 of 9"
    assert combine_results([ok, ok]).ok
    assert not combine_results([]).ok


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        OffsetsFault("weird", "x")


# --- target offsets -------------------------------------------------------------------------------------------


def test_manifest_offsets_round_trip_and_merge_takes_the_maximum() -> None:
    manifest = {"kafka_offsets": {T: {"0": 10, "1": 20}}}
    targets = targets_from_manifest(manifest)
    assert targets == {(T, 0): 10, (T, 1): 20}
    assert offsets_to_json(targets) == manifest["kafka_offsets"]
    assert merge_offsets([targets, {(T, 1): 15, (T, 2): 4}]) == {(T, 0): 10, (T, 1): 20, (T, 2): 4}


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({}, "manifest has no 'kafka_offsets'"),
        ({"kafka_offsets": []}, "expected an object"),
        ({"kafka_offsets": {T: {"x": 1}}}, "partition 'x' is not an integer"),
        ({"kafka_offsets": {T: {"0": -1}}}, "offset must be an int >= 0, got -1"),
        ({"kafka_offsets": {T: {"0": True}}}, "offset must be an int >= 0, got True"),
        ({"kafka_offsets": {"": {"0": 1}}}, "topic '' must be a non-empty name"),
    ],
)
def test_bad_manifest_offsets_are_named(bad: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        targets_from_manifest(bad)


END_MS = 1_000_000_000_000  # 2001-09-09T01:46:40Z
LATE_MS = 600_000


def test_live_targets_wait_until_end_plus_lateness_then_snapshot_once() -> None:
    calls: list[int] = []

    def read() -> dict:
        calls.append(1)
        return {(T, 0): 42 + len(calls)}

    before = live_targets(
        None,
        now_ms=END_MS + LATE_MS - 1,
        window_end_ms=END_MS,
        allowed_lateness_ms=LATE_MS,
        read_log_end=read,
    )
    assert before.targets is None and before.state is None and not calls
    assert before.reason == (
        "waiting for the window to close at 2001-09-09T01:46:40.000Z + lateness 600 s (2001-09-09T01:56:40.000Z)"
    )
    snap = live_targets(
        None, now_ms=END_MS + LATE_MS, window_end_ms=END_MS, allowed_lateness_ms=LATE_MS, read_log_end=read
    )
    assert snap.targets == {(T, 0): 43} and len(calls) == 1
    state = json.loads(json.dumps(snap.state))  # survives the trigger/XCom round trip
    later = live_targets(
        state,
        now_ms=END_MS + 10 * LATE_MS,
        window_end_ms=END_MS,
        allowed_lateness_ms=LATE_MS,
        read_log_end=read,
    )
    assert later.targets == {(T, 0): 43} and len(calls) == 1  # kept, not re-read
    with pytest.raises(ValueError, match="does not belong to this window"):
        live_targets(
            state, now_ms=END_MS, window_end_ms=END_MS + 1, allowed_lateness_ms=LATE_MS, read_log_end=read
        )


def test_live_targets_fault_propagates_and_empty_snapshot_is_not_kept() -> None:
    def fail() -> dict:
        raise OffsetsFault("unreachable", "down")

    with pytest.raises(OffsetsFault):
        live_targets(None, now_ms=END_MS, window_end_ms=END_MS, allowed_lateness_ms=0, read_log_end=fail)
    empty = live_targets(None, now_ms=END_MS, window_end_ms=END_MS, allowed_lateness_ms=0, read_log_end=dict)
    assert empty.targets is None and empty.state is None
    with pytest.raises(ValueError, match="allowed_lateness must be >= 0"):
        live_targets(None, now_ms=END_MS, window_end_ms=END_MS, allowed_lateness_ms=-1, read_log_end=dict)


def test_offsets_from_json_names_what() -> None:
    with pytest.raises(ValueError, match=r"^consumed state kafka_offsets: expected an object"):
        offsets_from_json(None, "consumed state kafka_offsets")


# --- reads through a fake AdminClient -------------------------------------------------------------------------


def done(value: Any = None, exc: BaseException | None = None) -> Future:
    f: Future = Future()
    if exc is not None:
        f.set_exception(exc)
    else:
        f.set_result(value)
    return f


def kafka_exc(code: int, text: str = "boom") -> KafkaException:
    return KafkaException(KafkaError(code, text))


class FakeAdmin:
    """Answers like confluent_kafka's AdminClient for one cluster; records every call (none joins a group)."""

    def __init__(
        self,
        topics: dict[str, int],
        ends: dict,
        committed: dict,
        state: str = "STABLE",
        members: int = 2,
        down: bool = False,
        starts: dict | None = None,
    ) -> None:
        self.topics, self.ends, self.committed, self.starts = topics, ends, committed, starts or {}
        self.state, self.members, self.down = state, members, down
        self.calls: list[str] = []

    def poll(self, timeout: float) -> int:
        self.calls.append("poll")
        return 0

    def list_topics(self, timeout: float) -> Any:
        self.calls.append("list_topics")
        if self.down:
            raise kafka_exc(KafkaError._TRANSPORT, "Local: Broker transport failure")
        meta = {
            t: SimpleNamespace(error=None, partitions=dict.fromkeys(range(n))) for t, n in self.topics.items()
        }
        return SimpleNamespace(topics=meta)

    def list_offsets(self, request: dict, request_timeout: float) -> dict:
        self.calls.append("list_offsets")
        latest = "latest" in repr(next(iter(request.values()))).lower()
        source = self.ends if latest else self.starts
        return {tp: done(SimpleNamespace(offset=source[(tp.topic, tp.partition)])) for tp in request}

    def describe_consumer_groups(self, ids: list[str], request_timeout: float) -> dict:
        self.calls.append("describe_consumer_groups")
        if self.down:
            return {ids[0]: done(exc=kafka_exc(KafkaError._TIMED_OUT, "Local: Timed out"))}
        desc = SimpleNamespace(state=SimpleNamespace(name=self.state), members=[object()] * self.members)
        return {ids[0]: done(desc)}

    def list_consumer_group_offsets(self, request: list, request_timeout: float) -> dict:
        self.calls.append("list_consumer_group_offsets")
        req = request[0]
        parts = [
            SimpleNamespace(
                topic=tp.topic,
                partition=tp.partition,
                error=None,
                offset=self.committed.get((tp.topic, tp.partition), -1001),
            )
            for tp in req.topic_partitions
        ]
        return {req.group_id: done(SimpleNamespace(topic_partitions=parts))}


def test_topic_partitions_by_name_and_by_whole_name_regex() -> None:
    admin = FakeAdmin({T: 2, "flume-tz": 1, "x-flume-events": 1, "__consumer_offsets": 50}, {}, {})
    assert topic_partitions(admin, [T]) == [(T, 0), (T, 1)]
    assert topic_partitions(admin, topics_regex="flume-.*") == [(T, 0), (T, 1), ("flume-tz", 0)]
    with pytest.raises(OffsetsFault, match="topic\\(s\\) 'nope' not found") as info:
        topic_partitions(admin, ["nope"])
    assert info.value.kind == "unknown_topic"
    with pytest.raises(OffsetsFault, match="no topic matches"):
        topic_partitions(admin, topics_regex="zzz")
    with pytest.raises(ValueError, match=r"kafka.topics.regex '\(' is not a valid regular expression"):
        topic_partitions(admin, topics_regex="(")


def test_log_end_offsets_and_group_read() -> None:
    admin = FakeAdmin({T: 2}, {(T, 0): 7, (T, 1): 9}, {(T, 0): 7})
    assert log_end_offsets(admin, [(T, 0), (T, 1)]) == {(T, 0): 7, (T, 1): 9}
    g = read_group(admin, T, [(T, 0), (T, 1)])
    assert g == GroupOffsets(T, True, "STABLE", 2, {(T, 0): 7})


def test_dead_group_without_commits_does_not_exist() -> None:
    g = read_group(FakeAdmin({T: 1}, {}, {}, state="DEAD", members=0), "nobody", [(T, 0)])
    assert not g.exists


def test_check_consumed_end_to_end_through_the_fake() -> None:
    admin = FakeAdmin({T: 2}, {}, {(T, 0): 7, (T, 1): 3}, starts={(T, 1): 0})
    ok = check_consumed(admin, T, {(T, 0): 7, (T, 1): 3})
    assert ok.ok, ok.reason
    behind = check_consumed(admin, T, {(T, 0): 7, (T, 1): 1_204_000})
    assert behind.reason == "flume group 'flume-events': 1 of 2 partitions caught up; p1 at 3 of 1,204,000"
    assert "join" not in " ".join(admin.calls) and "subscribe" not in " ".join(admin.calls)


def test_unreachable_broker_is_classified_and_not_ready() -> None:
    admin = FakeAdmin({T: 1}, {}, {}, down=True)
    with pytest.raises(OffsetsFault) as info:
        topic_partitions(admin, [T])
    assert info.value.kind == "unreachable"
    assert str(info.value) == "topic metadata: _TRANSPORT: Local: Broker transport failure"
    r = check_consumed(admin, T, {(T, 0): 1})
    assert not r.ok
    assert (
        r.reason
        == "flume group 'flume-events': offsets unreadable (unreachable): group 'flume-events': _TIMED_OUT: Local: Timed out"
    )


def test_classify_maps_error_codes() -> None:
    assert classify(kafka_exc(KafkaError.UNKNOWN_TOPIC_OR_PART), "x").kind == "unknown_topic"
    assert classify(kafka_exc(KafkaError.GROUP_ID_NOT_FOUND), "x").kind == "unknown_group"
    assert classify(kafka_exc(KafkaError.GROUP_AUTHORIZATION_FAILED), "x").kind == "unreadable"
    assert classify(kafka_exc(KafkaError.SASL_AUTHENTICATION_FAILED), "x").kind == "unreadable"
    assert classify(kafka_exc(KafkaError.NOT_COORDINATOR), "x").kind == "unreachable"
    assert classify(TimeoutError(), "x").kind == "unreachable"


def test_client_reported_auth_error_turns_unreachable_into_unreadable_with_its_cause() -> None:
    auth = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: Invalid username or password")
    errors: deque = deque([KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"), auth])
    admin = ObservedAdmin(FakeAdmin({T: 1}, {}, {}, down=True), errors)
    with pytest.raises(OffsetsFault) as info:
        topic_partitions(admin, [T])
    assert info.value.kind == "unreadable"
    assert str(info.value) == (
        "topic metadata: _TRANSPORT: Local: Broker transport failure; the client reported _AUTHENTICATION: "
        "SASL authentication error: Invalid username or password"
    )
    r = check_consumed(admin, T, {(T, 0): 1})
    assert r.details == {"fault": "unreadable"}
    plain = ObservedAdmin(FakeAdmin({T: 1}, {}, {}, down=True), deque([errors[0]]))  # no client-side cause
    assert check_consumed(plain, T, {(T, 0): 1}).details == {"fault": "unreachable"}
