"""What a partition check is about: its spec, the state kept between polls, and the report (all JSON-able).

Pure data, shared by :mod:`~airflow_flume_provider.partition_decision` (the decision) and
:mod:`~airflow_flume_provider.partition_check` (the pokes). No I/O, no Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_flume_provider.manifest import add_counts
from airflow_flume_provider.naming import FileNaming

__all__ = [
    "ALL_CHECKS",
    "DEFAULT_CHECKS",
    "CheckResult",
    "PartitionCheckFailed",
    "PartitionSpec",
    "PartitionState",
    "ReadinessReport",
    "TransientFailureLimitExceeded",
    "expected_counts_from",
    "norm_path",
]

ALL_CHECKS = ("exists", "no_in_use", "quiet", "watermark", "count", "consumed")
DEFAULT_CHECKS = ("exists", "no_in_use", "quiet", "watermark")
ON_STALE_IN_USE = ("wait", "fail", "finalize")
#: Checks ``consumed`` needs beside it when a consumer commits before HDFS (KafkaSource + memory channel).
COMMITS_BEFORE_HDFS_NEEDS = ("no_in_use", "quiet")


class PartitionCheckFailed(RuntimeError):
    """The partition can never become ready as configured (e.g. more events than an exact expectation)."""


class TransientFailureLimitExceeded(RuntimeError):
    """WebHDFS kept failing for longer than ``max_transient_failure_s``."""


@dataclass(frozen=True)
class PartitionSpec:
    """What to check: the partition directories and how readiness is judged. JSON-serialisable."""

    paths: tuple[str, ...]
    naming: FileNaming = field(default_factory=FileNaming)
    next_paths: tuple[str, ...] = ()
    end_ts: float | None = None
    checks: tuple[str, ...] = DEFAULT_CHECKS
    min_files: int = 1
    quiet_period: float = 60.0
    allowed_lateness: float = 3600.0
    expected_count: int | None = None
    manifest: dict[str, int] | None = None
    exact_count: bool = False
    trust_mtime: bool = True
    max_transient_failure_s: float = 600.0
    batched_listing: bool = False  # kept for old trigger kwargs: listing is always paged now
    # ``consumed``: the Flume consumers feeding the sink (``consumer_ref`` dicts) and the manifest's target
    # offsets ({topic: {partition: offset}}); without targets, the live snapshot after end + allowed_lateness.
    kafka_consumers: tuple[dict[str, Any], ...] = ()
    kafka_targets: dict[str, dict[str, int]] | None = None
    consumed_require_members: bool = True
    stale_in_use_after: float = 7200.0
    on_stale_in_use: str = "wait"

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("PartitionSpec.paths is empty")
        unknown = set(self.checks) - set(ALL_CHECKS)
        if unknown:
            raise ValueError(f"unknown checks {sorted(unknown)}; valid: {', '.join(ALL_CHECKS)}")
        if "count" in self.checks and self.expected_count is None and self.manifest is None:
            raise ValueError("check 'count' needs expected_count or manifest")
        if self.min_files < 0 or self.quiet_period < 0 or self.allowed_lateness < 0:
            raise ValueError("min_files, quiet_period and allowed_lateness must be >= 0")
        if self.on_stale_in_use not in ON_STALE_IN_USE:
            raise ValueError(
                f"on_stale_in_use must be one of {ON_STALE_IN_USE}, got {self.on_stale_in_use!r}"
            )
        if self.stale_in_use_after <= 0:
            raise ValueError(f"stale_in_use_after must be > 0 seconds, got {self.stale_in_use_after!r}")
        if "consumed" in self.checks:
            self._check_consumed()

    def _check_consumed(self) -> None:
        """``consumed`` needs consumers, a window end or targets, and on a commit-before-HDFS topology the
        checks that make it sufficient (see :mod:`~airflow_flume_provider.partition_consumed`)."""
        if not self.kafka_consumers:
            raise ValueError(
                "check 'consumed' needs the Flume Kafka consumer (flume_conf or kafka_topic + kafka_group_id)"
            )
        if self.kafka_targets is None and self.end_ts is None:
            raise ValueError(
                "check 'consumed' without manifest offsets needs a time-partitioned path (a window end to "
                "snapshot the topic's offsets after)"
            )
        early = [c["group_id"] for c in self.kafka_consumers if not c.get("committed_means_in_hdfs")]
        missing = [c for c in COMMITS_BEFORE_HDFS_NEEDS if c not in self.checks]
        if early and missing:
            raise ValueError(
                f"check 'consumed' on group(s) {', '.join(map(repr, early))}, which commit before HDFS (KafkaSource "
                f"+ channel), also needs {', '.join(missing)}: a committed offset there proves only 'in the channel'"
            )

    @property
    def expected(self) -> int | None:
        """Expected event count over all paths (manifest entries for these paths, else expected_count)."""
        if self.manifest is not None:
            return sum(self.manifest.get(norm_path(p), 0) for p in self.paths)
        return self.expected_count

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for trigger kwargs)."""
        d = asdict(self)
        d["paths"], d["next_paths"], d["checks"] = list(self.paths), list(self.next_paths), list(self.checks)
        d["kafka_consumers"] = [dict(c) for c in self.kafka_consumers]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PartitionSpec:
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        kw["naming"] = FileNaming(**kw.get("naming", {}))
        for k in ("paths", "next_paths", "checks", "kafka_consumers"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


@dataclass
class PartitionState:
    """What a check remembers between polls (quiet-period snapshot, count cache, log throttling)."""

    snapshot: dict[str, list[int]] | None = None
    changed_at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    polls: int = 0
    last_log_key: str | None = None
    transient_since: float | None = None
    consumed_state: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> PartitionState:
        """Inverse of :meth:`to_dict` (None -> fresh state)."""
        return cls(**dict(d)) if d else cls()

    def should_log(self, report: ReadinessReport, every: int = 10) -> bool:
        """True when the set of failing checks changed, or every ``every`` polls: logs without flooding."""
        key = report.log_key()
        due = key != self.last_log_key or (every > 0 and self.polls % every == 0)
        self.last_log_key = key
        return due


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict and its human reason."""

    name: str
    ok: bool
    reason: str


@dataclass
class ReadinessReport:
    """The outcome of one poll: overall verdict, every check, and what was seen."""

    ready: bool
    paths: list[str]
    checks: list[CheckResult] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    in_use: list[str] = field(default_factory=list)
    stale_in_use: list[str] = field(default_factory=list)
    kafka_fault: str | None = None
    repairs: list[str] = field(default_factory=list)
    event_count: int | None = None
    expected_count: int | None = None
    newest_mtime: int | None = None
    error: str | None = None
    requests: int = 0
    bytes_read: int = 0
    elapsed_s: float = 0.0

    def failing(self) -> list[CheckResult]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.ok]

    def log_key(self) -> str:
        """A key that changes when the reason for (not) being ready changes kind."""
        if self.error:
            return "error"
        return ",".join(c.name for c in self.failing()) or "ready"

    def summary(self) -> str:
        """One line: ready, or why not."""
        if self.error:
            return f"not ready: WebHDFS error: {self.error}"
        if self.ready:
            n = "" if self.event_count is None else f", {self.event_count:,} events"
            return f"ready: {self.files} files, {self.bytes:,} bytes{n} in {', '.join(self.paths)}"
        return "not ready: " + "; ".join(f"{c.name}: {c.reason}" for c in self.failing())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (XCom, trigger events)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReadinessReport:
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        kw["checks"] = [CheckResult(**c) for c in kw.get("checks", [])]
        return cls(**kw)


def norm_path(path: str) -> str:
    """Strip an ``hdfs://authority`` and trailing slashes from a path (manifest keys, spec paths)."""
    if "://" in path:
        rest = path.split("://", 1)[1]
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path.rstrip("/") or "/"


def expected_counts_from(value: Any) -> dict[str, int]:
    """Expected event counts ``{partition path: count}`` from replay manifests (the sensor's ``manifest=``).

    Accepts a mapping, a JSON string, or a list of either (the XCom of mapped replay tasks). A replay
    manifest (see :mod:`airflow_flume_provider.manifest`) contributes ``partitions`` + ``duplicates`` (Flume
    writes both copies); a dry-run manifest is refused. Counts for the same path are summed. A manifest's
    ``kafka_offsets`` (targets of the ``consumed`` check) are not counts and are skipped.
    """
    merged: dict[str, int] = {}

    def add(item: Any, where: str) -> None:
        if item is None:
            return
        if isinstance(item, str | bytes):
            add(json.loads(item), where)
            return
        if isinstance(item, Mapping):
            if isinstance(item.get("partitions"), Mapping):  # a ReplayFlumeEventsOperator manifest
                if item.get("dry_run"):
                    raise ValueError(f"manifest {where} is from a dry run: nothing was sent to wait for")
                add(add_counts(item["partitions"], item.get("duplicates") or {}), f"{where}.partitions")
                return
            if isinstance(item.get("counts"), Mapping):
                add(item["counts"], f"{where}.counts")
                return
            for path, count in item.items():
                if path == "kafka_offsets":  # a manifest's Kafka targets (the ``consumed`` check), not a path
                    continue
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    raise ValueError(
                        f"manifest {where}: count for {path!r} is not a non-negative int: {count!r}"
                    )
                merged[norm_path(str(path))] = merged.get(norm_path(str(path)), 0) + count
            return
        if isinstance(item, Iterable):
            for i, sub in enumerate(item):
                add(sub, f"{where}[{i}]")
            return
        raise ValueError(f"manifest {where}: expected a mapping of path -> count, got {type(item).__name__}")

    add(value, "manifest")
    return merged
