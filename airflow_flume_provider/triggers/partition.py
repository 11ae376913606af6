"""Trigger that waits on the triggerer for a Flume HDFS partition to become complete.

Built for a few hundred deferred sensors on one triggerer event loop:

* the module imports only the standard library and Airflow's trigger base: the triggerer imports it ON its
  event loop, so the partition checks, the file formats, the WebHDFS client and ``requests`` (and what Airflow's
  ``aget_connection`` imports on first use) are imported before the first poke in a worker thread
  (:data:`PRELOAD`);
* each trigger's first poke is delayed by a deterministic share of ``poke_interval`` (a hash of the spec,
  :func:`start_delay`), so triggers deferred together do not all poke together, and stay spread afterwards;
* at most :data:`MAX_CONCURRENT_POKES` pokes of this process run at once (:func:`poke_slots`, one semaphore per
  event loop): parsing listings holds the GIL, and many parsing threads would starve the loop's own thread;
* each trigger keeps one WebHDFS client (one HTTP session, kept-alive connections) across its polls.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
import weakref
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = ["MAX_CONCURRENT_POKES", "FlumePartitionTrigger", "poke_slots", "start_delay"]

#: Pokes of one process running at once, in worker threads (the rest wait their turn on the loop).
MAX_CONCURRENT_POKES = 4

_POKE_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def poke_slots() -> asyncio.Semaphore:
    """The running loop's semaphore of :data:`MAX_CONCURRENT_POKES` (created on first use in that loop)."""
    loop = asyncio.get_running_loop()
    slots = _POKE_SLOTS.get(loop)
    if slots is None:
        slots = _POKE_SLOTS[loop] = asyncio.Semaphore(MAX_CONCURRENT_POKES)
    return slots


def start_delay(spec: Mapping[str, Any], poke_interval: float) -> float:
    """Seconds before a trigger's first poke: a share of ``poke_interval`` fixed by a hash of ``spec``.

    Deterministic (same spec, same delay: reproducible tests) and spread evenly over ``[0, poke_interval)``.
    The sensor pokes once before deferring, so waiting up to one interval loses nothing.
    """
    digest = zlib.crc32(json.dumps(spec, sort_keys=True, default=str).encode())
    return max(float(poke_interval), 0.0) * digest / 2**32


#: Imported by the first poke in a worker thread, not on the loop: the trigger's own heavy modules, and what
#: Airflow's ``aget_connection`` imports on its first call (its supervisor module: ~150 ms measured here).
PRELOAD = (
    "requests",
    "airflow_flume_provider.partition_check",
    "airflow_flume_provider.hooks.flume_hdfs",
    "asgiref.sync",
    "airflow.sdk.definitions.connection",
    "airflow.sdk.execution_time.cache",
    "airflow.sdk.execution_time.supervisor",
)


def _preload() -> None:
    """Import :data:`PRELOAD` (in a worker thread); a module this Airflow version lacks is skipped."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


async def _get_connection(conn_id: str) -> Any:
    """Fetch an Airflow connection without blocking the event loop (``aget_connection`` on Airflow >= 3.1)."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # pragma: no cover - Airflow 3.0
        from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


@dataclass
class _Outcome:
    """What one poke tells the loop: the new state, an optional log line, and the final event (if any)."""

    state: dict[str, Any] | None
    log: tuple[Any, ...] | None = None
    event: dict[str, Any] | None = None


class _Poller:
    """The trigger's worker-thread side: heavy imports, one reused WebHDFS client, the Kafka admin, one poke.

    Only one poke runs at a time per poller; :meth:`close` from the loop defers to a poke still in flight.
    """

    def __init__(self, trigger: FlumePartitionTrigger) -> None:
        self.trigger = trigger
        self.spec: Any = None
        self.state: Any = None
        self.client: Any = None
        self.admin: Any = None
        self._lock = threading.Lock()
        self._busy = self._closed = False

    def poke(self, conn: Any) -> _Outcome:
        """One poll in the calling (worker) thread; every outcome but "not ready yet" carries its event."""
        with self._lock:
            self._busy = True
        try:
            return self._poke(conn)
        finally:
            with self._lock:
                self._busy = False
                if self._closed:
                    self._close_client()

    def close(self) -> None:
        """Close the HTTP session now, or when the poke in flight ends."""
        with self._lock:
            self._closed = True
            if not self._busy:
                self._close_client()

    def _close_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _poke(self, conn: Any) -> _Outcome:
        from airflow_flume_provider import partition_check as pc
        from airflow_flume_provider.hdfs_formats import FormatError
        from airflow_flume_provider.hdfs_types import HdfsError

        t = self.trigger
        if self.spec is None:
            self.spec = pc.PartitionSpec.from_dict(t.spec)
            self.state = pc.PartitionState.from_dict(t.state)
        try:
            report, self.state = pc.poke_partition(
                self._client(conn), self.spec, self.state, admin=self._admin()
            )
        except pc.TransientFailureLimitExceeded as exc:
            return self._error(exc, kind="transient", retryable=True)
        except (pc.PartitionCheckFailed, FormatError) as exc:
            return self._error(exc, kind="check", retryable=False)
        except ValueError as exc:  # a bad Kafka connection or consumed setting: waiting cannot help
            return self._error(exc, kind="config", retryable=False)
        except HdfsError as exc:  # permission or a request WebHDFS rejects: waiting cannot help
            return self._error(exc, kind=exc.kind, retryable=False)
        paths = ", ".join(self.spec.paths)
        out = _Outcome(self.state.to_dict())
        if report.ready:
            out.log = ("Partition %s %s (%d WebHDFS requests)", paths, report.summary(), report.requests)
            out.event = {"status": "success", "report": report.to_dict()}
            return out
        if self.state.should_log(report, t.log_every_n_pokes):
            out.log = ("Partition %s %s", paths, report.summary())
        if t.deadline is not None and time.time() >= t.deadline:
            out.event = {
                "status": "timeout",
                "message": f"Partition {paths} still {report.summary()}",
                "report": report.to_dict(),
            }
        return out

    def _client(self, conn: Any) -> Any:
        if self.client is None:
            from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook

            self.client = FlumeHdfsHook(self.trigger.webhdfs_conn_id).client_for(conn)
        return self.client

    def _admin(self) -> Any:
        if "consumed" not in self.spec.checks:
            return None
        if self.admin is None:
            from airflow_flume_provider.sensors.partition_kafka import open_kafka_admin

            self.admin = open_kafka_admin(self.trigger.kafka_conn_id, self.spec)
        return self.admin

    def _error(self, exc: Exception, *, kind: str, retryable: bool) -> _Outcome:
        message = f"{', '.join(self.spec.paths)}: {exc}"
        event = {"status": "error", "kind": kind, "retryable": retryable, "message": message}
        return _Outcome(None, event={**event, "state": self.state.to_dict()})


class FlumePartitionTrigger(BaseTrigger):
    """Poll a partition with :mod:`~airflow_flume_provider.partition_check` until it is ready.

    All HDFS I/O (listing, streamed counting) and the Kafka reads of ``consumed`` run in a worker thread
    (``asyncio.to_thread``), never on the triggerer's event loop; the connections are fetched once, off the loop.
    The Kafka base config (which may hold secrets) is rebuilt from ``kafka_conn_id`` here, never put in kwargs.
    See the module docstring for how many triggers share one loop (start delay, poke cap, one session each).

    The quiet-period snapshot and the count cache live in the trigger between polls (and start from the
    sensor's ``state``; the ``consumed`` live snapshot is in it and is kept in ``self.state``). Events:
    ``{"status": "success", "report": ...}``, ``{"status": "timeout", ...}`` when ``deadline`` (epoch seconds)
    passes, ``{"status": "error", "message": ...}`` for failures that waiting cannot fix (permission, corrupt
    file, WebHDFS down past the limit).

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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until ready, failed or past the deadline; exactly one event is yielded."""
        poller = _Poller(self)
        conn: Any = None
        await asyncio.sleep(start_delay(self.spec, self.poke_interval))
        try:
            while True:
                async with poke_slots():
                    if conn is None:
                        await asyncio.to_thread(_preload)
                        conn = await _get_connection(self.webhdfs_conn_id)
                    out = await asyncio.to_thread(poller.poke, conn)
                if out.state is not None:
                    self.state = out.state
                if out.log:
                    self.log.info(*out.log)
                if out.event is not None:
                    yield TriggerEvent(out.event)
                    return
                await asyncio.sleep(self.poke_interval)
        finally:
            poller.close()
