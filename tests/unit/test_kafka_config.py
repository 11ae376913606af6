"""kafka_config: the one builder of librdkafka configs and confluent_kafka clients (no broker needed)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_flume_provider import kafka_config
from airflow_flume_provider.hooks.flume_kafka import FlumeKafkaHook
from airflow_flume_provider.kafka_config import (
    DEFAULT_PRODUCER_CONFIG,
    admin_config,
    consumer_config,
    make_admin,
    make_consumer,
    make_producer,
    producer_config,
    redact_config,
    scrub,
)

BASE: dict[str, Any] = {
    "bootstrap.servers": "b:9092",
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "PLAIN",
    "sasl.username": "u",
    "sasl.password": "s3cr3t-pw",
    "ssl.ca.location": "/ca.pem",
    "client.id": "c",
    "acks": "all",
    "linger.ms": 5,
}


def test_producer_config_layers_defaults_connection_overrides() -> None:
    cfg = producer_config(BASE, {"linger.ms": 7})
    assert cfg["compression.type"] == DEFAULT_PRODUCER_CONFIG["compression.type"]
    assert cfg["sasl.password"] == "s3cr3t-pw" and cfg["linger.ms"] == 7
    assert cfg["message.timeout.ms"] == DEFAULT_PRODUCER_CONFIG["message.timeout.ms"]


def test_producer_config_timeouts() -> None:
    assert producer_config(BASE, delivery_timeout_s=2.5)["message.timeout.ms"] == 2500
    aliased = producer_config({**BASE, "delivery.timeout.ms": 900})
    assert "message.timeout.ms" not in aliased and kafka_config.delivery_timeout_ms(aliased) == 900
    both = producer_config({**BASE, "delivery.timeout.ms": 900}, delivery_timeout_s=1)
    assert both["message.timeout.ms"] == 1000 and "delivery.timeout.ms" not in both
    assert kafka_config.delivery_timeout_ms({}) == 300_000


def test_producer_config_requires_bootstrap_and_names_the_connection() -> None:
    with pytest.raises(ValueError, match=r"'my_conn'.*bootstrap\.servers"):
        producer_config({"acks": "all"}, name="my_conn")


def test_weakened_guarantees_warn_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    producer_config({**BASE, "acks": "1"}, name="c1")
    assert "weakens delivery guarantees" in caplog.text and "s3cr3t-pw" not in caplog.text


def test_consumer_config_drops_producer_only_keys() -> None:
    prod = producer_config(BASE)
    prod["on_delivery"] = print
    cfg = consumer_config(prod, group_id="g", overrides={"enable.auto.commit": False})
    assert cfg["group.id"] == "g" and cfg["enable.auto.commit"] is False
    for key in (
        "acks",
        "linger.ms",
        "enable.idempotence",
        "compression.type",
        "message.timeout.ms",
        "on_delivery",
    ):
        assert key not in cfg
    assert cfg["sasl.password"] == "s3cr3t-pw" and cfg["security.protocol"] == "SASL_SSL"
    assert "group.id" not in consumer_config(BASE)


def test_admin_config_keeps_connection_security_and_oauth() -> None:
    def oauth_cb(_: str) -> tuple[str, float]:
        return "t", 0.0

    cfg = admin_config({**producer_config(BASE), "oauth_cb": oauth_cb, "group.id": "g"})
    # every connection/security key of BASE, the callback; no producer key (acks, linger.ms) nor group.id
    assert cfg == {**{k: v for k, v in BASE.items() if k not in ("acks", "linger.ms")}, "oauth_cb": oauth_cb}
    assert "sasl.password" in cfg and "security.protocol" in cfg


def test_redact_and_scrub() -> None:
    def cb() -> None: ...

    red = redact_config({**BASE, "ssl.key.pem": "k", "x.secret": "y", "oauth_cb": cb})
    assert red["sasl.password"] == red["ssl.key.pem"] == red["x.secret"] == "***"
    assert red["oauth_cb"] == "<callable cb>" and red["sasl.username"] == "u"
    assert scrub("login with s3cr3t-pw failed", BASE) == "login with *** failed"


@pytest.mark.parametrize("make", [make_producer, make_consumer, make_admin])
def test_client_config_error_names_key_never_secret(make: Any) -> None:
    config = {
        "bootstrap.servers": "127.0.0.1:1",
        "sasl.password": "s3cr3t-pw",
        "group.id": "g",
        "no.such.key": 1,
    }
    with pytest.raises(ValueError) as info:
        make(config, name="conn_x")
    assert "no.such.key" in str(info.value) and "'conn_x'" in str(info.value)
    assert "s3cr3t-pw" not in str(info.value) and info.value.__cause__ is None


def test_librdkafka_logs_go_to_python_logging(caplog: pytest.LogCaptureFixture) -> None:
    """A connection failure is logged by librdkafka through the ``logger`` given to the client."""
    caplog.set_level(logging.DEBUG, logger="airflow_flume_provider.librdkafka")
    producer = make_producer({"bootstrap.servers": "127.0.0.1:1", "socket.connection.setup.timeout.ms": 1000})
    for _ in range(30):
        producer.poll(0.1)
        if any(r.name == "airflow_flume_provider.librdkafka" for r in caplog.records):
            break
    assert any(r.name == "airflow_flume_provider.librdkafka" for r in caplog.records)


def test_hook_client_config_is_the_validated_connection_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_K1", json.dumps({"conn_type": "kafka", "extra": BASE}))
    hook = FlumeKafkaHook("k1")
    assert hook.get_client_config() == BASE
    cfg = consumer_config(hook.get_client_config(), group_id="g")
    assert cfg["bootstrap.servers"] == "b:9092" and "acks" not in cfg
    assert hook.get_producer_config()["compression.type"] == DEFAULT_PRODUCER_CONFIG["compression.type"]
    monkeypatch.setenv("AIRFLOW_CONN_K2", json.dumps({"conn_type": "kafka", "extra": json.dumps([1, 2])}))
    with pytest.raises(ValueError, match="'k2'"):
        FlumeKafkaHook("k2").get_client_config()
    monkeypatch.setenv("AIRFLOW_CONN_K3", json.dumps({"conn_type": "kafka", "extra": {"acks": "all"}}))
    with pytest.raises(ValueError, match=r"'k3'.*bootstrap\.servers"):
        FlumeKafkaHook("k3").get_client_config()


def test_hook_resolves_callbacks_like_the_kafka_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """KafkaBaseHook's rules apply: a dotted-path callback is imported only when allowlisted."""
    path = "tests_unit_callbacks.oauth_cb"
    extra = {"bootstrap.servers": "b:9092", "oauth_cb": path}
    monkeypatch.setenv("AIRFLOW_CONN_K4", json.dumps({"conn_type": "kafka", "extra": extra}))
    with pytest.raises(ValueError, match="callback_allowlist"):
        FlumeKafkaHook("k4").get_client_config()
    monkeypatch.setenv("AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST", "json.dumps")
    monkeypatch.setenv(
        "AIRFLOW_CONN_K4", json.dumps({"conn_type": "kafka", "extra": {**extra, "oauth_cb": "json.dumps"}})
    )
    assert FlumeKafkaHook("k4").get_client_config()["oauth_cb"] is json.dumps
