"""Keep a partition sensor's poll state across reschedules in Airflow's task state store (Airflow >= 3.3).

In ``mode="reschedule"`` every poke runs in a fresh task process, so state kept on the operator instance
(the quiet-period snapshot, the per-file count cache) is lost. Airflow 3.3's task SDK puts a
``task_state_store`` in the context (``TaskStateStoreAccessor``: ``get``/``set``/``delete``, JSON values,
scoped to the task instance, which keeps its id across reschedules of one try). Older Airflow has none:
:func:`refusal` then says which settings cannot work.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from airflow_flume_provider.partition_check import PartitionSpec, PartitionState

__all__ = ["STATE_KEY", "RescheduleUnsupported", "load_state", "refusal", "restore", "save_state", "store_of"]

STATE_KEY = "flume_partition_state"
log = logging.getLogger(__name__)


class RescheduleUnsupported(ValueError):
    """``mode="reschedule"`` cannot work for this spec on this Airflow (no task state store)."""


def store_of(context: Mapping[str, Any]) -> Any:
    """The context's task state store, or None (Airflow < 3.3, or a context built by hand)."""
    return context.get("task_state_store")


def _fingerprint(spec: PartitionSpec) -> str:
    """Changes when what is checked changes (a state for other paths or settings must not be reused)."""
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def load_state(store: Any, spec: PartitionSpec) -> PartitionState | None:
    """The state saved by an earlier poke of this task instance for the same spec, else None."""
    saved = store.get(STATE_KEY)
    if isinstance(saved, Mapping) and saved.get("spec") == _fingerprint(spec):
        return PartitionState.from_dict(saved.get("state"))
    return None


def save_state(store: Any, spec: PartitionSpec, state: PartitionState) -> None:
    """Save the state for the next poke (after a reschedule)."""
    store.set(STATE_KEY, {"spec": _fingerprint(spec), "state": state.to_dict()})


def refusal(task_id: str, spec: PartitionSpec) -> str | None:
    """Why ``mode="reschedule"`` cannot work without a state store for this spec, or None if it can."""
    if "quiet" in spec.checks and not spec.trust_mtime:
        return (
            f"{task_id}: mode='reschedule' with check 'quiet' and trust_mtime=False needs Airflow's "
            "task_state_store (Airflow >= 3.3): without it the quiet-period snapshot is lost at every "
            "reschedule and the check never passes. Use mode='poke', deferrable=True or trust_mtime=True."
        )
    return None


def restore(
    context: Mapping[str, Any], spec: PartitionSpec, task_id: str
) -> tuple[Any, PartitionState | None]:
    """The store (None without one) and the state an earlier poke saved for ``spec`` (None if none).

    Raises :class:`RescheduleUnsupported` when there is no store and the spec cannot work without one.
    """
    store = store_of(context)
    if store is not None:
        return store, load_state(store, spec)
    why = refusal(task_id, spec)
    if why:
        raise RescheduleUnsupported(why)
    if "count" in spec.checks:
        log.warning("%s: no task_state_store (Airflow < 3.3): each reschedule re-counts every file", task_id)
    if "consumed" in spec.checks and spec.kafka_targets is None:
        log.warning(
            "%s: no task_state_store (Airflow < 3.3): the live offset snapshot of 'consumed' is retaken at each "
            "reschedule, so records arriving after end + allowed_lateness join the target",
            task_id,
        )
    return None, None
