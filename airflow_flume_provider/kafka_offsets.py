"""Read the Kafka offsets the ``consumed`` check decides on: log-end offsets of a topic and a group's commits.

Core module (no Airflow). Every read goes through one ``confluent_kafka`` AdminClient (``kafka_config.make_admin``):

- partitions: ``list_topics(timeout=...)`` -- cluster metadata for all topics in one request. A metadata
  request naming a topic could auto-create it on a broker with ``auto.create.topics.enable``; this never does.
- log-end / log-start offsets: ``list_offsets`` with ``OffsetSpec.latest()`` / ``earliest()`` -- one ListOffsets
  request per partition leader for all partitions, instead of one ``get_watermark_offsets`` round trip each.
- committed offsets: ``list_consumer_group_offsets`` (an OffsetFetch to the group coordinator) and existence and
  members: ``describe_consumer_groups`` (DescribeGroups). Neither is a group operation: unlike a Consumer
  created with Flume's ``group.id`` (``subscribe``, or a ``close`` that commits), they never JOIN the group, so
  reading never triggers a rebalance of Flume's consumers. The e2e test checks the member ids before/after.

Every call has a timeout. Errors become :class:`~airflow_flume_provider.consumed.OffsetsFault` with a ``kind``
(``unreachable``, ``unknown_group``, ``unknown_topic``, ``unreadable``) and a message built from Kafka error codes
and names only: no configuration value (passwords) ever reaches it.
"""

from __future__ import annotations

import concurrent.futures
import functools
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from airflow_flume_provider.consumed import (
    ConsumedResult,
    GroupOffsets,
    Offsets,
    OffsetsFault,
    TopicPartition,
    decide_consumed,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ObservedAdmin",
    "check_consumed",
    "classify",
    "log_end_offsets",
    "log_start_offsets",
    "open_admin",
    "read_group",
    "topic_partitions",
]

DEFAULT_TIMEOUT = 10.0
# Error names (librdkafka's local "_X" ones and broker ones) that mean "could not get an answer from the
# cluster": brokers down, timeouts, or a group coordinator still moving (NOT_COORDINATOR was seen while a fresh
# broker created __consumer_offsets). Authentication and authorisation failures are "unreadable".
_UNREACHABLE = {
    "_TRANSPORT",
    "_ALL_BROKERS_DOWN",
    "_TIMED_OUT",
    "_RESOLVE",
    "_WAIT_COORD",
    "COORDINATOR_NOT_AVAILABLE",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "NOT_COORDINATOR",
    "REQUEST_TIMED_OUT",
    "BROKER_NOT_AVAILABLE",
    "NETWORK_EXCEPTION",
}
# Client-side errors librdkafka reports only to error_cb: requests then just time out or fail with _TRANSPORT.
_CLIENT_ERRORS = {"_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_SSL", "_INVALID_ARG", "_RESOLVE"}
_UNKNOWN_TOPIC = {"UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION"}
_UNKNOWN_GROUP = {"GROUP_ID_NOT_FOUND", "_UNKNOWN_GROUP"}


class ObservedAdmin:
    """An AdminClient that remembers what librdkafka reported to ``error_cb``.

    A wrong SASL password or a failed TLS handshake reaches admin requests only as ``_TRANSPORT`` or a timeout;
    the real cause (``_AUTHENTICATION: ... Invalid username or password``, never the password) comes through
    ``error_cb`` when the client is polled. Faults then say "unreadable" with that cause, not "unreachable".
    """

    def __init__(self, admin: Any, errors: deque[Any]) -> None:
        self._admin = admin
        self._errors = errors

    def __getattr__(self, name: str) -> Any:
        return getattr(self._admin, name)

    def client_error(self) -> Any | None:
        """The latest authentication/TLS/resolution error librdkafka reported, if any."""
        self._admin.poll(0)  # serves error_cb
        return next((e for e in reversed(self._errors) if e.name() in _CLIENT_ERRORS), None)


def open_admin(base: Mapping[str, Any], *, name: str = "kafka") -> ObservedAdmin:
    """An AdminClient for connection ``name``'s librdkafka dict ``base`` (through ``kafka_config``: admin keys
    only, librdkafka logs routed to Python logging, secrets redacted), observing its ``error_cb``."""
    from airflow_flume_provider import kafka_config

    config = kafka_config.admin_config(dict(base))
    errors: deque[Any] = deque(maxlen=8)
    user_cb = config.get("error_cb")

    def on_error(err: Any) -> None:
        errors.append(err)
        if callable(user_cb):
            user_cb(err)

    config["error_cb"] = on_error
    return ObservedAdmin(kafka_config.make_admin(config, name=name), errors)


_F = TypeVar("_F", bound=Callable[..., Any])


def _explained(fn: _F) -> _F:
    """Turn an ``unreachable`` fault into ``unreadable`` with its cause when the client reported one."""

    @functools.wraps(fn)
    def wrapper(admin: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(admin, *args, **kwargs)
        except OffsetsFault as fault:
            err = (
                admin.client_error()
                if fault.kind == "unreachable" and isinstance(admin, ObservedAdmin)
                else None
            )
            if err is None:
                raise
            raise OffsetsFault(
                "unreadable", f"{fault}; the client reported {err.name()}: {err.str()}"
            ) from None

    return wrapper  # type: ignore[return-value]


def classify(exc: BaseException, what: str) -> OffsetsFault:
    """Map a confluent_kafka error (or a futures timeout) to an :class:`OffsetsFault` naming ``what`` was read."""
    if isinstance(exc, OffsetsFault):
        return exc
    if isinstance(exc, (concurrent.futures.TimeoutError, TimeoutError)):
        return OffsetsFault("unreachable", f"{what}: no answer from Kafka within the timeout")
    err = exc.args[0] if exc.args else None
    name = err.name() if hasattr(err, "name") else type(exc).__name__
    text = err.str() if hasattr(err, "str") else type(exc).__name__
    if name in _UNREACHABLE:
        kind = "unreachable"
    elif name in _UNKNOWN_TOPIC:
        kind = "unknown_topic"
    elif name in _UNKNOWN_GROUP:
        kind = "unknown_group"
    else:
        kind = "unreadable"
    return OffsetsFault(kind, f"{what}: {name}: {text}")


def _result(future: Any, timeout: float, what: str) -> Any:
    try:
        return future.result(timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a classified fault
        raise classify(exc, what) from None


@_explained
def topic_partitions(
    admin: Any,
    topics: Iterable[str] = (),
    topics_regex: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[TopicPartition]:
    """The partitions of ``topics`` and of every topic whose whole name matches ``topics_regex``.

    The regex matches like Flume's ``kafka.topics.regex`` (Kafka's pattern subscription: the whole name, internal
    topics excluded). :raises OffsetsFault: ``unknown_topic`` when a named topic is missing or nothing matches.
    """
    names = list(topics)
    if not names and topics_regex is None:
        raise ValueError("topic_partitions needs topics or topics_regex")
    try:
        pattern = re.compile(topics_regex) if topics_regex is not None else None
    except re.error as exc:
        raise ValueError(
            f"kafka.topics.regex {topics_regex!r} is not a valid regular expression: {exc}"
        ) from None
    try:
        meta = admin.list_topics(timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, "topic metadata") from None
    missing = [t for t in names if t not in meta.topics or meta.topics[t].error is not None]
    if missing:
        raise OffsetsFault("unknown_topic", f"topic(s) {', '.join(map(repr, missing))} not found in Kafka")
    chosen = set(names)
    if pattern is not None:
        matched = {t for t in meta.topics if not t.startswith("__") and pattern.fullmatch(t)}
        if not matched:
            raise OffsetsFault("unknown_topic", f"no topic matches kafka.topics.regex {topics_regex!r}")
        chosen |= matched
    return sorted((t, p) for t in chosen for p in meta.topics[t].partitions)


@_explained
def _list_offsets(admin: Any, partitions: Iterable[TopicPartition], spec: str, timeout: float) -> Offsets:
    from confluent_kafka import TopicPartition as KafkaTp
    from confluent_kafka.admin import OffsetSpec

    make = OffsetSpec.latest if spec == "latest" else OffsetSpec.earliest
    request = {KafkaTp(t, p): make() for t, p in partitions}
    if not request:
        return {}
    try:
        futures = admin.list_offsets(request, request_timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, f"{spec} offsets") from None
    return {
        (tp.topic, tp.partition): _result(f, timeout, f"{spec} offset of {tp.topic}/{tp.partition}").offset
        for tp, f in futures.items()
    }


def log_end_offsets(
    admin: Any, partitions: Iterable[TopicPartition], *, timeout: float = DEFAULT_TIMEOUT
) -> Offsets:
    """The log-end offset (offset of the next record; the high watermark) of each partition."""
    return _list_offsets(admin, partitions, "latest", timeout)


def log_start_offsets(
    admin: Any, partitions: Iterable[TopicPartition], *, timeout: float = DEFAULT_TIMEOUT
) -> Offsets:
    """The log-start offset (first record still kept after retention) of each partition."""
    return _list_offsets(admin, partitions, "earliest", timeout)


@_explained
def read_group(
    admin: Any, group_id: str, partitions: Iterable[TopicPartition], *, timeout: float = DEFAULT_TIMEOUT
) -> GroupOffsets:
    """The group's state, member count and committed offsets for ``partitions``, without joining the group.

    A group Kafka describes as ``DEAD`` (or answers ``GROUP_ID_NOT_FOUND`` for) and that has no committed offset
    does not exist. :raises OffsetsFault: when Kafka cannot be read.
    """
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka import TopicPartition as KafkaTp

    request = [ConsumerGroupTopicPartitions(group_id, [KafkaTp(t, p) for t, p in partitions])]
    try:
        described = admin.describe_consumer_groups([group_id], request_timeout=timeout)[group_id]
        offsets = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group_id]
    except Exception as exc:  # noqa: BLE001
        raise classify(exc, f"group {group_id!r}") from None
    state, members = _describe(described, timeout, group_id)
    committed: Offsets = {}
    for tp in _result(offsets, timeout, f"committed offsets of group {group_id!r}").topic_partitions:
        if tp.error is not None:
            raise classify(Exception(tp.error), f"committed offset of {tp.topic}/{tp.partition}")
        if tp.offset >= 0:
            committed[(tp.topic, tp.partition)] = tp.offset
    exists = bool(committed) or state not in (None, "DEAD")
    return GroupOffsets(group_id=group_id, exists=exists, state=state, members=members, committed=committed)


def _describe(future: Any, timeout: float, group_id: str) -> tuple[str | None, int]:
    """(state name, member count) of a described group; (None, 0) when Kafka says it does not exist."""
    try:
        description = _result(future, timeout, f"group {group_id!r}")
    except OffsetsFault as fault:
        if fault.kind == "unknown_group":
            return None, 0
        raise
    state = getattr(description.state, "name", str(description.state))
    return state, len(description.members or ())


def check_consumed(
    admin: Any,
    group_id: str,
    targets: Mapping[TopicPartition, int],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    require_members: bool = True,
) -> ConsumedResult:
    """Read the group's committed offsets for ``targets``' partitions and decide ``consumed`` (faults included).

    For partitions without a committed offset, the log-start offsets are read too, so the reason can tell a
    partition emptied by retention from one never read.
    """
    try:
        group = read_group(admin, group_id, sorted(targets), timeout=timeout)
        uncommitted = [tp for tp in targets if tp not in group.committed and targets[tp] > 0]
        log_start = (
            log_start_offsets(admin, uncommitted, timeout=timeout) if group.exists and uncommitted else {}
        )
    except OffsetsFault as fault:
        return decide_consumed(group_id, targets, fault, require_members=require_members)
    return decide_consumed(group_id, targets, group, log_start=log_start, require_members=require_members)
