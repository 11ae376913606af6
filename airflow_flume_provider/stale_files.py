"""Stale in-use files: find the ``.tmp`` files a dead Flume agent left open, and finalize them. No Airflow.

A Flume HDFS sink writes ``<inUsePrefix><name><inUseSuffix>`` and renames it to ``<name>`` on close
(Flume 1.11 ``BucketWriter.open``: ``bucketPath = inUsePrefix + fullFileName + inUseSuffix``, ``targetPath =
fullFileName``, where ``fullFileName`` already holds the file suffix or the codec extension). After a
``kill -9`` or a failed close (FLUME-3080, FLUME-3223, FLUME-3392) the rename never happens: the file keeps
its in-use name forever, and its writer's lease stays until the NameNode's hard limit (20 min) closes it.

Repairing one needs two steps: close the file (recover the lease), then rename it. WebHDFS has no
``recoverLease``; what works through it, measured on the stack's HDFS 3.4.1 with a Java writer SIGKILLed
while holding the file open (``tests/e2e/test_stale_tmp.py``):

* an ``APPEND`` of zero bytes. The NameNode checks the writer's lease first (``recoverLeaseInternal``):
  - lease renewed in the last 60 s (the soft limit, fixed in HDFS; a live client renews every 30 s): HTTP
    403 ``AlreadyBeingCreatedException``, nothing changes, so a live writer's file is never taken from it.
    Measured: this answer for 56 s after the kill;
  - soft limit expired: the NameNode starts block recovery and answers 403 ``RecoveryInProgressException``
    (measured once, 56 s after the kill);
  - file closed (recovery done, the hard limit passed, or nothing to recover, e.g. a 0-byte file): the
    APPEND succeeds, opening and closing the file with no new byte (its modification time becomes now).
    Measured: 61.6 s after the kill polling every 5 s; 62.9 s (28 attempts, 2 s apart) in the e2e test.
* So: APPEND(empty) every ``poll_s`` until it succeeds or ``RecoveryWait.seconds`` pass, then ``RENAME``
  without overwrite. The recovered file held exactly the bytes its writer hflushed (24,000 of 24,014 in the
  test; the unflushed tail died with the process).
* Not used (not measured): ``TRUNCATE`` passes the same lease check but needs a new length, and the
  NameNode's length of an open file can lag behind its hflushed bytes, so it could cut data. Waiting for the
  hard limit (``dfs.namenode.lease-hard-limit-sec``, default 1200 s; the soft limit has no setting in 3.4.1)
  closes the file but never renames it; the APPEND then succeeds at once.
* Where APPEND is impossible (erasure-coded directories, a permission error) the HTTP error is raised.

Without WebHDFS repair, :func:`repair_commands` gives the ``hdfs`` commands that do the same.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_flume_provider.hdfs_types import FileStatus, HdfsError, HdfsNotFound
from airflow_flume_provider.naming import FileNaming

__all__ = [
    "LEASE_SOFT_LIMIT_S",
    "RecoveryWait",
    "finalize_stale",
    "finished_name",
    "recover_lease",
    "repair_commands",
    "stale_in_use",
]

#: HDFS's lease soft limit (``HdfsConstants.LEASE_SOFTLIMIT_PERIOD``, not configurable): after it another
#: client may recover the file. The hard limit (``dfs.namenode.lease-hard-limit-sec``, default 1200 s) is
#: when the NameNode recovers it by itself; neither renames the file.
LEASE_SOFT_LIMIT_S = 60
_HELD = "AlreadyBeingCreatedException"
_RECOVERING = "RecoveryInProgressException"


class _Client(Protocol):
    def append(self, path: str, data: bytes) -> None: ...
    def status(self, path: str) -> FileStatus: ...
    def rename(self, src: str, dst: str, *, overwrite: bool = False) -> bool: ...


def stale_in_use(
    statuses: Iterable[FileStatus], naming: FileNaming, *, now_ms: int, stale_after_s: float
) -> list[FileStatus]:
    """In-use files (by ``naming.classify``) whose modification time is more than ``stale_after_s`` old.

    HDFS moves an open file's modification time only when a block is added or the file is closed, not on
    each hflush: choose ``stale_after_s`` above the sink's ``hdfs.rollInterval`` (and ``idleTimeout``).
    """
    if stale_after_s < 0:
        raise ValueError(f"stale_after_s must be >= 0, got {stale_after_s!r}")
    limit = now_ms - int(stale_after_s * 1000)
    return [
        st
        for st in statuses
        if st.is_file and naming.classify(st.name) == "in_use" and st.modification_time < limit
    ]


def finished_name(in_use_name: str, naming: FileNaming) -> str:
    """The name Flume gives ``in_use_name`` on close: without ``inUsePrefix`` and ``inUseSuffix``."""
    if naming.classify(in_use_name) != "in_use":
        raise ValueError(
            f"{in_use_name!r} is not an in-use file name (inUsePrefix {naming.in_use_prefix!r}, "
            f"inUseSuffix {naming.in_use_suffix!r}, filePrefix {naming.file_prefix!r})"
        )
    end = len(in_use_name) - len(naming.in_use_suffix)
    return in_use_name[len(naming.in_use_prefix) : end]


def repair_commands(path: str, naming: FileNaming | None = None, *, retries: int = 5) -> list[str]:
    """The shell commands that repair one stale in-use file: ``hdfs debug recoverLease``, then ``hdfs dfs -mv``."""
    naming = naming or FileNaming()
    directory, _, name = path.rstrip("/").rpartition("/")
    target = f"{directory}/{finished_name(name, naming)}"
    return [
        f"hdfs debug recoverLease -path {shlex.quote(path)} -retries {int(retries)}",
        f"hdfs dfs -mv {shlex.quote(path)} {shlex.quote(target)}",
    ]


@dataclass(frozen=True)
class RecoveryWait:
    """How long to wait for one file's lease recovery: up to ``seconds`` (0: one attempt), an APPEND every
    ``poll_s``; ``sleep``/``clock`` are replaceable for tests."""

    seconds: float = 0.0
    poll_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def recover_lease(client: _Client, path: str, wait: RecoveryWait = RecoveryWait()) -> tuple[str, int]:
    """Close ``path`` through WebHDFS with empty APPENDs; returns ``(outcome, attempts)``.

    ``outcome``: ``closed`` (the APPEND succeeded: the file is closed, no byte added), ``held`` (a writer
    renewed the lease within the soft limit: maybe alive, left alone) or ``recovering`` (the NameNode is
    recovering the last block). Retries every ``wait.poll_s`` until closed or ``wait.seconds`` have passed.
    Other errors (missing file, permission, NameNode down) are raised.
    """
    deadline = wait.clock() + wait.seconds
    attempts = 0
    while True:
        attempts += 1
        try:
            client.append(path, b"")
            return "closed", attempts
        except HdfsNotFound:
            raise
        except HdfsError as exc:
            text = str(exc)
            if _HELD in text:
                outcome = "held"
            elif _RECOVERING in text:
                outcome = "recovering"
            else:
                raise
        if wait.clock() + wait.poll_s > deadline:
            return outcome, attempts
        wait.sleep(wait.poll_s)


def _exists(client: _Client, path: str) -> bool:
    try:
        client.status(path)
    except HdfsNotFound:
        return False
    return True


def finalize_stale(
    client: _Client,
    directory: str,
    statuses: Iterable[FileStatus],
    naming: FileNaming,
    *,
    log: Any,
    wait: RecoveryWait = RecoveryWait(),
) -> list[str]:
    """Recover the lease of each stale in-use file, then rename it to its finished name; returns the actions.

    Each action (one line, also logged on ``log``) is ``skip``, ``wait`` or ``renamed``. An existing
    finished file is never overwritten (the in-use file is left as it is). ``wait`` bounds the wait for
    each file's recovery (default: one attempt; call again later, e.g. on the next poke).
    """
    base = directory.rstrip("/")
    actions: list[str] = []
    for st in statuses:
        src, dst = f"{base}/{st.name}", f"{base}/{finished_name(st.name, naming)}"
        if _exists(client, dst):
            actions.append(
                f"skip {src}: {dst} already exists; not overwritten (compare them, then remove one)"
            )
            log.warning("%s", actions[-1])
            continue
        started = wait.clock()
        outcome, attempts = recover_lease(client, src, wait)
        took = f"{attempts} APPEND attempt(s), {wait.clock() - started:.1f} s"
        if outcome != "closed":
            why = (
                f"its lease was renewed within the last {LEASE_SOFT_LIMIT_S} s (the writer may be alive)"
                if outcome == "held"
                else "the NameNode is still recovering its last block"
            )
            actions.append(f"wait {src}: not closed yet, {why} ({took}); try again later")
            log.info("%s", actions[-1])
            continue
        length = client.status(src).length
        log.info("lease of %s recovered: file closed, %d bytes (%s)", src, length, took)
        if not client.rename(src, dst, overwrite=False):
            actions.append(f"skip {src}: HDFS refused the rename to {dst} (closed, {length} bytes)")
            log.warning("%s", actions[-1])
            continue
        actions.append(f"renamed {src} -> {dst} ({length} bytes, lease recovered: {took})")
        log.info("%s", actions[-1])
    return actions
