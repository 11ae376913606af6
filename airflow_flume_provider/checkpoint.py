"""Replay checkpoints: where a replay got to, so that a retry resumes there, and what it already sent.

One JSON file per dag/task/run/map index, written atomically. Its state:

``identity``    source, topic, window and sink the checkpoint belongs to (a different replay refuses it);
``resume``      per source unit the position of the last acknowledged record, and the finished units;
``base``        cumulative totals and per-partition counts up to that position;
``duplicates``  per partition, events acknowledged after the last checkpoint of a failed attempt (resent);
``dead_letter_bytes``, ``attempts``, ``started_at``; ``complete`` and ``manifest`` once done.

Core module: no Airflow imports.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_flume_provider.manifest import add_counts, empty_totals

__all__ = [
    "CHECKPOINT_DIR_ENV",
    "CHECKPOINT_VERSION",
    "CheckpointStore",
    "default_checkpoint_dir",
    "new_state",
    "resumable_state",
]

CHECKPOINT_VERSION = 1
CHECKPOINT_DIR_ENV = "AIRFLOW__FLUME_PROVIDER__CHECKPOINT_DIR"


def default_checkpoint_dir() -> Path:
    """``$AIRFLOW__FLUME_PROVIDER__CHECKPOINT_DIR``, else ``$AIRFLOW_HOME/flume_replay``."""
    configured = os.environ.get(CHECKPOINT_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow")) / "flume_replay"


def _safe(part: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", str(part)) or "_"


class CheckpointStore:
    """One JSON checkpoint file per dag/task/run/map index, written atomically."""

    def __init__(
        self, directory: str | Path, *, dag_id: str, task_id: str, run_id: str, map_index: int
    ) -> None:
        self.key = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index}
        self.dir = Path(directory) / _safe(dag_id) / _safe(task_id) / _safe(run_id)
        self.path = self.dir / f"map_{map_index}.checkpoint.json"

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None."""
        if not self.path.exists():
            return None
        try:
            state = json.loads(self.path.read_text())
        except ValueError as exc:
            raise ValueError(
                f"checkpoint {self.path} is unreadable ({exc}); delete it to start over"
            ) from None
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint {self.path} has unsupported version {state.get('version')!r}")
        return state

    def save(self, state: Mapping[str, Any]) -> None:
        """Write atomically (temp file, fsync, rename)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump({**state, "version": CHECKPOINT_VERSION, "key": self.key}, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def save_failure(
        self, state: Mapping[str, Any], resent: Mapping[str, int], identity: Mapping[str, Any]
    ) -> None:
        """After a failed attempt: keep the last checkpoint, add the events a retry will send again."""
        saved = self.load() or {**state, "base": state["base"]}
        saved["duplicates"] = add_counts(saved.get("duplicates", {}), resent)
        saved["attempts"] = state["attempts"]
        saved["identity"] = identity
        saved.setdefault("started_at", state["started_at"])
        self.save(saved)


def new_state(identity: Mapping[str, Any], started: float) -> dict[str, Any]:
    """The state of a replay that has not sent anything yet."""
    return {
        "identity": identity,
        "resume": {"units": {}, "done": []},
        "base": {"totals": empty_totals(), "partitions": {}},
        "duplicates": {},
        "dead_letter_bytes": 0,
        "attempts": 0,
        "started_at": started,
    }


def resumable_state(store: CheckpointStore, identity: Mapping[str, Any]) -> dict[str, Any] | None:
    """The saved state of this replay, or None; refuses a checkpoint written for another replay."""
    state = store.load()
    if state is not None and state.get("identity") != json.loads(json.dumps(identity)):
        raise ValueError(
            f"checkpoint {store.path} was written for {state.get('identity')}, not {identity}; "
            "delete it or set resume=False"
        )
    return state
