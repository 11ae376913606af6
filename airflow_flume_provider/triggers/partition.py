"""Trigger that waits on the triggerer for a Flume HDFS partition to become complete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_flume_provider.hdfs_client import HdfsError
from airflow_flume_provider.hdfs_formats import FormatError
from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook
from airflow_flume_provider.partition_check import (
    PartitionCheckFailed,
    PartitionSpec,
    PartitionState,
    TransientFailureLimitExceeded,
    apoke_partition,
)

__all__ = ["FlumePartitionTrigger"]


async def _get_connection(conn_id: str) -> Any:
    """Fetch an Airflow connection without blocking the event loop (``aget_connection`` on Airflow >= 3.1)."""
    from airflow.sdk import BaseHook

    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


class _AdminOnce:
    """The trigger's Kafka AdminClient, built on first use inside the worker thread and then reused."""

    def __init__(self, kafka_conn_id: str | None, spec: PartitionSpec) -> None:
        self.kafka_conn_id, self.spec, self.admin = kafka_conn_id, spec, None

    def get(self) -> Any:
        if self.admin is None:
            from airflow_flume_provider.sensors.partition_kafka import open_kafka_admin

            self.admin = open_kafka_admin(self.kafka_conn_id, self.spec)
        return self.admin


class FlumePartitionTrigger(BaseTrigger):
    """Poll a partition with :mod:`~airflow_flume_provider.partition_check` until it is ready.

    All HDFS I/O (listing, streamed counting) and the Kafka reads of ``consumed`` run in a worker thread
    (``asyncio.to_thread``), never on the triggerer's event loop; the connections are fetched once, off the loop.
    The Kafka base config (which may hold secrets) is rebuilt from ``kafka_conn_id`` here, never put in kwargs.

    The quiet-period snapshot and the count cache live in the trigger between polls (and start from the
    sensor's ``state``; the ``consumed`` live snapshot is in it and is kept in ``self.state``). Events: ``{"status": "success", "report": ...}``, ``{"status": "timeout", ...}``
    when ``deadline`` (epoch seconds) passes, ``{"status": "error", "message": ...}`` for failures that
    waiting cannot fix (permission, corrupt file, WebHDFS down past the limit).

    :param spec: :meth:`PartitionSpec.to_dict` of what to check.
    :param state: :meth:`PartitionState.to_dict` carried over from the sensor's first poke.
    :param webhdfs_conn_id: Airflow ``webhdfs`` connection.
    :param kafka_conn_id: Airflow ``kafka`` connection for ``consumed`` (None: the spec's bootstrap servers).
    :param poke_interval: seconds between polls.
    :param deadline: epoch seconds after which a ``timeout`` event is sent (None: wait forever).
    :param log_every_n_pokes: repeat an unchanged "not ready" reason every N polls.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        state: dict[str, Any] | None = None,
        webhdfs_conn_id: str = "webhdfs_default",
        poke_interval: float = 60.0,
        deadline: float | None = None,
        log_every_n_pokes: int = 10,
        kafka_conn_id: str | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.state = state
        self.webhdfs_conn_id = webhdfs_conn_id
        self.poke_interval = float(poke_interval)
        self.deadline = deadline
        self.log_every_n_pokes = log_every_n_pokes
        self.kafka_conn_id = kafka_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs to rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "spec": self.spec,
                "state": self.state,
                "webhdfs_conn_id": self.webhdfs_conn_id,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
                "log_every_n_pokes": self.log_every_n_pokes,
                "kafka_conn_id": self.kafka_conn_id,
            },
        )

    @staticmethod
    def _error(
        exc: Exception, paths: str, state: PartitionState, *, kind: str, retryable: bool
    ) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": "error",
                "kind": kind,
                "retryable": retryable,
                "message": f"{paths}: {exc}",
                "state": state.to_dict(),
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until ready, failed or past the deadline; exactly one event is yielded."""
        spec = PartitionSpec.from_dict(self.spec)
        state = PartitionState.from_dict(self.state)
        paths = ", ".join(spec.paths)
        conn: Any = None
        hook = FlumeHdfsHook(self.webhdfs_conn_id)
        admin = _AdminOnce(self.kafka_conn_id, spec)
        while True:
            try:
                if conn is None:
                    conn = await _get_connection(self.webhdfs_conn_id)
                report, state = await apoke_partition(
                    partial(hook.client_for, conn), spec, state, admin_factory=admin.get
                )
            except TransientFailureLimitExceeded as exc:
                yield self._error(exc, paths, state, kind="transient", retryable=True)
                return
            except (PartitionCheckFailed, FormatError) as exc:
                yield self._error(exc, paths, state, kind="check", retryable=False)
                return
            except ValueError as exc:  # a bad Kafka connection or consumed setting: waiting cannot help
                yield self._error(exc, paths, state, kind="config", retryable=False)
                return
            except HdfsError as exc:  # permission or a request WebHDFS rejects: waiting cannot help
                yield self._error(exc, paths, state, kind=exc.kind, retryable=False)
                return
            self.state = state.to_dict()
            if report.ready:
                self.log.info(
                    "Partition %s %s (%d WebHDFS requests)", paths, report.summary(), report.requests
                )
                yield TriggerEvent({"status": "success", "report": report.to_dict()})
                return
            if state.should_log(report, self.log_every_n_pokes):
                self.log.info("Partition %s %s", paths, report.summary())
            if self.deadline is not None and time.time() >= self.deadline:
                yield TriggerEvent(
                    {
                        "status": "timeout",
                        "message": f"Partition {paths} still {report.summary()}",
                        "report": report.to_dict(),
                    }
                )
                return
            await asyncio.sleep(self.poke_interval)
