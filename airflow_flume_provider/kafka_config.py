"""The one place that turns a ``kafka`` connection's librdkafka config into client configs and clients.

``base`` is the connection's extra JSON as the Kafka provider uses it (``bootstrap.servers`` plus any
librdkafka property, security settings and callbacks such as ``oauth_cb``). From it this module derives the
producer config (delivery-safe defaults), the consumer config (producer-only keys dropped) and the admin
config (connection and security keys only), and builds the confluent_kafka clients with librdkafka's own
log lines routed through Python logging. Secrets never reach a log line or an error: see
:func:`redact_config` and :func:`scrub`. Core module: no Airflow imports.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_PRODUCER_CONFIG",
    "admin_config",
    "consumer_config",
    "delivery_timeout_ms",
    "make_admin",
    "make_consumer",
    "make_producer",
    "producer_config",
    "redact_config",
    "require_bootstrap",
    "scrub",
]

log = logging.getLogger(__name__)
#: librdkafka's own log lines (connection failures, config warnings) go here instead of stderr.
librdkafka_log = logging.getLogger("airflow_flume_provider.librdkafka")

#: Producer settings used unless the connection's extra (or the caller's overrides) set them.
#: Batching values were measured against the local Kafka 3.9 broker (see the README's benchmark table).
DEFAULT_PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.size": 1_000_000,
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "message.timeout.ms": 120_000,
}

#: Keys whose values never appear in a log line, repr or exception.
_SECRET_KEY = re.compile(r"password|secret|passwd|token|credential|jaas|\.pem$|^ssl\.key|private", re.I)
_REDACTED = "***"
#: Aliases of the per-message delivery timeout; the first present one wins.
_TIMEOUT_KEYS = ("message.timeout.ms", "delivery.timeout.ms")
_DEFAULT_TIMEOUT_MS = 300_000  # librdkafka's default message.timeout.ms

#: Producer-only properties (librdkafka CONFIGURATION.md, "P") and this project's producer callbacks:
#: a consumer or admin client built from a producer-flavoured connection must not carry them.
_PRODUCER_ONLY = frozenset(
    {
        "enable.idempotence",
        "acks",
        "request.required.acks",
        "compression.type",
        "compression.codec",
        "compression.level",
        "linger.ms",
        "queue.buffering.max.ms",
        "batch.size",
        "batch.num.messages",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "request.timeout.ms",
        "retries",
        "message.send.max.retries",
        "max.in.flight.requests.per.connection",
        "max.in.flight",
        "transactional.id",
        "transaction.timeout.ms",
        "enable.gapless.guarantee",
        "partitioner",
        "sticky.partitioning.linger.ms",
        "delivery.report.only.error",
        "on_delivery",
        "dr_cb",
        "dr_msg_cb",
    }
)
#: Connection-level keys an admin client keeps (besides every ``sasl.*`` and ``ssl.*`` key).
_ADMIN_KEYS = frozenset(
    {
        "bootstrap.servers",
        "metadata.broker.list",
        "security.protocol",
        "client.id",
        "client.dns.lookup",
        "broker.address.family",
        "socket.timeout.ms",
        "socket.connection.setup.timeout.ms",
        "socket.keepalive.enable",
        "connections.max.idle.ms",
        "reconnect.backoff.ms",
        "reconnect.backoff.max.ms",
        "enable.ssl.certificate.verification",
        "enable.sasl.oauthbearer.unsecure.jwt",
        "api.version.request",
        "broker.version.fallback",
        "debug",
        "log_level",
        "oauth_cb",
        "error_cb",
        "throttle_cb",
        "stats_cb",
        "statistics.interval.ms",
    }
)


def redact_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a librdkafka config safe to log: secret values become ``***``, callables are named."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if _SECRET_KEY.search(str(key)):
            out[key] = _REDACTED
        elif callable(value):
            out[key] = f"<callable {getattr(value, '__name__', type(value).__name__)}>"
        else:
            out[key] = value
    return out


def scrub(text: str, config: Mapping[str, Any]) -> str:
    """``text`` with every secret value of ``config`` replaced by ``***`` (for error messages)."""
    for key, value in config.items():
        if _SECRET_KEY.search(str(key)) and isinstance(value, str) and value:
            text = text.replace(value, _REDACTED)
    return text


def delivery_timeout_ms(config: Mapping[str, Any]) -> int:
    """Effective per-message delivery timeout of a producer config, in ms."""
    for key in _TIMEOUT_KEYS:
        if key in config:
            return int(config[key])
    return _DEFAULT_TIMEOUT_MS


def require_bootstrap(config: Mapping[str, Any], name: str) -> None:
    """Refuse a config without ``bootstrap.servers``; the error names the connection ``name``."""
    if not config.get("bootstrap.servers"):
        raise ValueError(
            f"Kafka connection {name!r} has no 'bootstrap.servers' in its extra JSON "
            '(expected e.g. {"bootstrap.servers": "broker:9092"})'
        )


def producer_config(
    base: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    delivery_timeout_s: float | None = None,
    name: str = "kafka",
) -> dict[str, Any]:
    """Producer config: :data:`DEFAULT_PRODUCER_CONFIG`, then ``base``, then ``overrides``.

    A user-set ``message.timeout.ms`` or its alias ``delivery.timeout.ms`` replaces the default timeout;
    ``delivery_timeout_s`` replaces both. Warns (without values of secrets) when acks/idempotence are
    weakened. ``name`` (the connection id) is used in errors and warnings.
    """
    config: dict[str, Any] = dict(DEFAULT_PRODUCER_CONFIG)
    user = {**base, **(overrides or {})}
    if any(key in user for key in _TIMEOUT_KEYS):
        config.pop("message.timeout.ms", None)
    config.update(user)
    if delivery_timeout_s is not None:
        for key in _TIMEOUT_KEYS:
            config.pop(key, None)
        config["message.timeout.ms"] = int(delivery_timeout_s * 1000)
    require_bootstrap(config, name)
    weak_acks = str(config.get("acks", "all")) not in ("all", "-1")
    if weak_acks or str(config.get("enable.idempotence", True)).lower() in ("false", "0"):
        log.warning(
            "Connection %s weakens delivery guarantees (acks=%s, enable.idempotence=%s)",
            name,
            config.get("acks"),
            config.get("enable.idempotence"),
        )
    return config


def consumer_config(
    base: Mapping[str, Any], *, group_id: str | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Consumer config: ``base`` without producer-only keys, then ``group.id``, then ``overrides``."""
    config = {k: v for k, v in base.items() if k not in _PRODUCER_ONLY}
    if group_id is not None:
        config["group.id"] = group_id
    config.update(overrides or {})
    return config


def admin_config(base: Mapping[str, Any]) -> dict[str, Any]:
    """Admin-client config: only the connection, security and callback keys of ``base``."""
    return {k: v for k, v in base.items() if k in _ADMIN_KEYS or str(k).startswith(("sasl.", "ssl."))}


def _build(kind: str, cls: Any, config: Mapping[str, Any], name: str) -> Any:
    """``cls(config)`` with librdkafka logs routed to Python logging; config errors keep no secret."""
    log.info("Kafka %s config (connection %s): %s", kind, name, redact_config(config))
    try:
        return cls(dict(config), logger=librdkafka_log)
    except Exception as exc:
        # librdkafka names the key; a message may still quote a value: secrets are scrubbed, cause dropped.
        raise ValueError(
            f"Kafka connection {name!r}: invalid {kind} config ({scrub(str(exc), config)})"
        ) from None


def make_producer(config: Mapping[str, Any], *, name: str = "kafka") -> Any:
    """A ``confluent_kafka.Producer`` for ``config`` (see :func:`producer_config`)."""
    from confluent_kafka import Producer

    return _build("producer", Producer, config, name)


def make_consumer(config: Mapping[str, Any], *, name: str = "kafka") -> Any:
    """A ``confluent_kafka.Consumer`` for ``config`` (see :func:`consumer_config`)."""
    from confluent_kafka import Consumer

    return _build("consumer", Consumer, config, name)


def make_admin(config: Mapping[str, Any], *, name: str = "kafka") -> Any:
    """A ``confluent_kafka.admin.AdminClient`` for ``config`` (see :func:`admin_config`)."""
    from confluent_kafka.admin import AdminClient

    return _build("admin", AdminClient, config, name)
