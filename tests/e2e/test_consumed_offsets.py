"""The `consumed` check on the real stack: Kafka offsets of the real Flume 1.11 agents' consumer groups.

For each topology of the stack (KafkaSource + memory channel in flume.conf, and the KafkaChannel agent in
flume-kafka-channel.conf when the stack runs it): publish N envelopes while the agent is stopped -> NOT consumed,
with the reason naming the lag; restart it -> consumed once it catches up. A missing group and an unreachable
broker are not ready with their reason, and our reads never change the group's members. On the KafkaChannel
agent, the moment `consumed` passes every event is already readable in HDFS (commit after the sink's flush).
"""

from __future__ import annotations

import datetime
import time
import urllib.error
import uuid
from typing import Any

import pytest
import stackctl

from airflow_flume_provider.consumed import decide_consumed, live_targets
from airflow_flume_provider.envelope import encode_event
from airflow_flume_provider.kafka_offsets import (
    check_consumed,
    log_end_offsets,
    open_admin,
    read_group,
    topic_partitions,
)

pytestmark = pytest.mark.e2e
N = 500
TIMEOUT = 10.0
# (stack component, topic, consumer group) -- as in stack/conf/flume.conf and flume-kafka-channel.conf.
TOPOLOGIES = [pytest.param("flume", "flume-events", "flume-events", id="kafka_source+memory_channel")]
if "flume-lossless" in stackctl.COMPONENTS:
    TOPOLOGIES.append(
        pytest.param("flume-lossless", "flume-channel-events", "flume-channel-events", id="kafka_channel")
    )


@pytest.fixture(scope="module")
def admin(stack: Any) -> Any:
    return open_admin({"bootstrap.servers": stack.bootstrap})


def members(admin: Any, group_id: str) -> tuple[str, list[tuple[str, str]]]:
    """The group's state and (member id, client id) pairs, straight from DescribeGroups."""
    desc = admin.describe_consumer_groups([group_id], request_timeout=TIMEOUT)[group_id].result(TIMEOUT)
    return desc.state.name, sorted((m.member_id, m.client_id) for m in desc.members)


def envelopes(n: int) -> list[bytes]:
    now_ms = int(time.time() * 1000)
    return [encode_event({"timestamp": str(now_ms)}, f"h8-consumed-{i}".encode()) for i in range(n)]


@pytest.mark.faults
@pytest.mark.parametrize(("component", "topic", "group_id"), TOPOLOGIES)
def test_not_consumed_while_flume_is_stopped_then_consumed_after_it_catches_up(
    stack: Any, admin: Any, component: str, topic: str, group_id: str
) -> None:
    partitions = topic_partitions(admin, [topic], timeout=TIMEOUT)
    # Flume is up and has read whatever earlier tests wrote.
    stack.wait_for(
        lambda: check_consumed(admin, group_id, log_end_offsets(admin, partitions)).ok,
        120,
        what=f"{group_id} to catch up before the test",
    )
    state, before = members(admin, group_id)
    assert state == "STABLE" and before, f"{group_id} has no members: is {component} running?"
    for _ in range(3):  # our reads never JOIN the group: same members, no rebalance
        check_consumed(admin, group_id, log_end_offsets(admin, partitions))
    assert members(admin, group_id) == ("STABLE", before)

    stack.stop(component)
    try:
        stack.wait_for(lambda: members(admin, group_id)[1] == [], 60, what=f"{group_id} to lose its members")
        stack.produce(topic, envelopes(N))
        targets = log_end_offsets(admin, partitions, timeout=TIMEOUT)
        stopped = check_consumed(admin, group_id, targets)
        assert not stopped.ok
        assert stopped.details["total_lag"] == N, stopped.details
        assert f"flume group '{group_id}': " in stopped.reason and " of " in stopped.reason, stopped.reason
        # Not ready because records are pending -- not merely because the group has no members.
        assert not check_consumed(admin, group_id, targets, require_members=False).ok
    finally:
        stack.start(component)
    caught = stack.wait_for(
        lambda: (r := check_consumed(admin, group_id, targets)).ok and r,
        180,
        what=f"{group_id} to consume the {N} envelopes after the restart",
    )
    assert caught.reason == f"flume group '{group_id}': {len(targets)} of {len(targets)} partitions caught up"
    group = read_group(admin, group_id, sorted(targets), timeout=TIMEOUT)
    assert all(group.committed[tp] >= off for tp, off in targets.items())


def test_missing_group_is_not_ready(stack: Any, admin: Any) -> None:
    targets = log_end_offsets(
        admin, topic_partitions(admin, ["flume-events"], timeout=TIMEOUT), timeout=TIMEOUT
    )
    group_id = f"h8-no-such-group-{uuid.uuid4().hex[:8]}"
    result = check_consumed(admin, group_id, targets)
    assert not result.ok
    assert result.details == {"fault": "unknown_group"}
    assert result.reason.startswith(f"flume group '{group_id}' does not exist")
    assert members(admin, group_id) == ("DEAD", [])  # reading did not create it


def test_unreachable_broker_is_not_ready_within_the_timeout(stack: Any) -> None:
    dead = open_admin({"bootstrap.servers": "127.0.0.1:1", "sasl.password": "h8-secret-value"})
    started = time.monotonic()
    result = check_consumed(dead, "flume-events", {("flume-events", 0): 1}, timeout=3.0)
    elapsed = time.monotonic() - started
    assert not result.ok
    assert result.details == {"fault": "unreachable"}
    assert result.reason.startswith("flume group 'flume-events': offsets unreadable (unreachable): ")
    assert "h8-secret-value" not in result.reason
    assert elapsed < 8, f"took {elapsed:.1f}s with a 3 s timeout"


def test_sasl_connection_reads_and_a_wrong_password_is_not_ready_without_leaking_it(stack: Any) -> None:
    base = {
        "bootstrap.servers": f"{stackctl.HOST}:{stackctl.KAFKA_SASL_PORT}",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": stackctl.KAFKA_SASL_USER,
    }
    good = open_admin({**base, "sasl.password": stackctl.KAFKA_SASL_PASSWORD}, name="kafka_sasl")
    targets = log_end_offsets(
        good, topic_partitions(good, ["flume-events"], timeout=TIMEOUT), timeout=TIMEOUT
    )
    assert check_consumed(good, "flume-events", targets).details.get("fault") is None
    bad = open_admin({**base, "sasl.password": "h8-wrong-secret"}, name="kafka_sasl")
    result = check_consumed(bad, "flume-events", targets, timeout=3.0)
    assert not result.ok and result.details["fault"] == "unreadable", result.reason
    assert "the client reported _AUTHENTICATION" in result.reason and "Invalid username or password" in result.reason
    assert "h8-wrong-secret" not in result.reason and "h8-wrong-secret" not in repr(result.details)


def test_live_snapshot_of_the_real_topic_is_taken_once_after_close_and_judged(stack: Any, admin: Any) -> None:
    partitions = topic_partitions(admin, ["flume-events"], timeout=TIMEOUT)
    now_ms = int(time.time() * 1000)
    snap = live_targets(
        None,
        now_ms=now_ms,
        window_end_ms=now_ms - 60_000,
        allowed_lateness_ms=30_000,
        read_log_end=lambda: log_end_offsets(admin, partitions, timeout=TIMEOUT),
    )
    assert snap.targets is not None and set(snap.targets) == set(partitions)
    ready = stack.wait_for(
        lambda: (r := check_consumed(admin, "flume-events", snap.targets, timeout=TIMEOUT)).ok and r,
        120,
        what="flume-events to reach the snapshot",
    )
    assert ready.details["total_lag"] == 0
    group = read_group(admin, "flume-events", partitions, timeout=TIMEOUT)
    assert decide_consumed("flume-events", snap.targets, group).ok


def _read_following_rename(stack: Any, directory: str, name: str) -> bytes:
    """A file's bytes; an in-use ``_X.tmp`` file Flume renamed to ``X`` since it was listed is read as ``X``."""
    try:
        return stack.hdfs_read(f"{directory}/{name}")
    except urllib.error.HTTPError as exc:
        if exc.code != 404 or not name.startswith("_"):
            raise
        return stack.hdfs_read(f"{directory}/{name[1:].removesuffix('.tmp')}")


@pytest.mark.skipif(
    "flume-lossless" not in stackctl.COMPONENTS, reason="the stack runs no KafkaChannel agent"
)
def test_kafka_channel_consumed_means_readable_in_hdfs(stack: Any, admin: Any) -> None:
    """KafkaChannel commits after the HDFS sink's flush: the moment `consumed` passes, every event is readable
    in HDFS (in closed files or hflushed in the in-use one), with no wait."""
    topic = stackctl.FLUME_LOSSLESS_TOPIC
    run = uuid.uuid4().hex[:8]
    now_ms = int(time.time() * 1000)
    stack.produce(topic, [encode_event({"timestamp": str(now_ms)}, f"{run}-{i}".encode()) for i in range(N)])
    targets = log_end_offsets(admin, topic_partitions(admin, [topic], timeout=TIMEOUT), timeout=TIMEOUT)
    stack.wait_for(
        lambda: check_consumed(admin, topic, targets).ok, 120, interval=0.2, what=f"{topic} consumed"
    )
    directory = "/flume/lossless/" + datetime.datetime.fromtimestamp(
        now_ms / 1000, datetime.timezone.utc
    ).strftime("%Y-%m-%d")
    found: set[bytes] = set()
    for status in stack.hdfs_list(directory):
        data = _read_following_rename(stack, directory, status["pathSuffix"])
        found |= {line for line in data.splitlines() if line.startswith(run.encode())}
    assert len(found) == N
