"""Fixtures for tests against the real local stack (Kafka + Flume 1.11.0 + HDFS), started by stack/stackctl.py."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stackctl


@dataclass
class Stack:
    """Addresses of the running stack and small helpers to drive and inspect it."""

    bootstrap: str = stackctl.BOOTSTRAP
    webhdfs_url: str = stackctl.WEBHDFS_URL
    namenode: str = stackctl.NAMENODE
    flume_conf: Path = stackctl.FLUME_CONF
    agent: str = stackctl.FLUME_AGENT
    user: str = stackctl.HDFS_USER
    _producer: Any = field(default=None, repr=False)

    # ---- HDFS (WebHDFS) -------------------------------------------------------------------------
    def _url(self, path: str, op: str, **params: str) -> str:
        query = urllib.parse.urlencode({"op": op, "user.name": self.user, **params})
        return f"{self.webhdfs_url}/webhdfs/v1{urllib.parse.quote(path)}?{query}"

    def hdfs_list(self, path: str) -> list[dict]:
        """FileStatus dicts of a directory (each with 'pathSuffix', 'length', ...); [] when it is missing."""
        try:
            with urllib.request.urlopen(self._url(path, "LISTSTATUS"), timeout=10) as resp:
                return json.load(resp)["FileStatuses"]["FileStatus"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def hdfs_read(self, path: str) -> bytes:
        """A whole HDFS file's bytes (follows the DataNode redirect)."""
        with urllib.request.urlopen(self._url(path, "OPEN"), timeout=30) as resp:
            return resp.read()

    def finished_files(self, directory: str) -> list[str]:
        """Full paths of the files Flume has closed in a directory (no in-use '_…tmp' files)."""
        return sorted(
            f"{directory}/{st['pathSuffix']}"
            for st in self.hdfs_list(directory)
            if st["type"] == "FILE" and not st["pathSuffix"].startswith(("_", ".")) and not st["pathSuffix"].endswith(".tmp")
        )

    def read_lines(self, directory: str) -> list[bytes]:
        """All lines of the finished DataStream/TEXT files of a directory."""
        lines: list[bytes] = []
        for path in self.finished_files(directory):
            lines.extend(self.hdfs_read(path).splitlines())
        return lines

    # ---- Kafka ------------------------------------------------------------------------------------
    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        try:
            futures[name].result(timeout=30)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise

    def produce(
        self,
        topic: str,
        values: Iterable[bytes],
        *,
        timestamps_ms: Iterable[int | None] | None = None,
        timeout: float = 30,
    ) -> int:
        """Produce values and wait until every one is acknowledged; returns the count."""
        from confluent_kafka import Producer

        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5})
        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        ts_iter = iter(timestamps_ms) if timestamps_ms is not None else None
        n = 0
        for value in values:
            kwargs: dict[str, Any] = {"on_delivery": on_delivery}
            ts = next(ts_iter) if ts_iter is not None else None
            if ts is not None:
                kwargs["timestamp"] = ts
            self._producer.produce(topic, value, **kwargs)
            n += 1
            self._producer.poll(0)
        left = self._producer.flush(timeout)
        assert left == 0 and not errors, f"produce to {topic}: {left} unacknowledged, errors {errors[:3]}"
        return n

    # ---- waiting and faults ----------------------------------------------------------------------
    @staticmethod
    def wait_for(predicate: Callable[[], Any], timeout: float = 60, interval: float = 1.0, what: str = "condition") -> Any:
        """Poll until predicate() is truthy and return its value; fail the test with `what` on timeout."""
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except Exception as exc:
                last_exc = exc
            time.sleep(interval)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))

    def stop(self, component: str) -> None:
        stackctl.stop(component)

    def kill(self, component: str) -> None:
        stackctl.kill(component)

    def start(self, component: str) -> None:
        stackctl.start(component)

    def restart(self, component: str) -> None:
        stackctl.stop(component)
        stackctl.start(component)


def _stack_is_up() -> bool:
    try:
        return (
            all(stackctl.pid_of(c) for c in stackctl.COMPONENTS)
            and stackctl.kafka_ready()
            and stackctl.hdfs_writable()
            and all(stackctl.flume_ready(agent) for agent in stackctl.FLUME_AGENTS)
        )
    except Exception:
        return False


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The running stack. Started with the same script as `make stack-up` if it is not up; never skipped."""
    if not _stack_is_up():
        stackctl.up()  # raises StackError (the test errors, loudly) when a component cannot start
    return Stack()


@pytest.fixture(autouse=True)
def _ensure_components_running(request: pytest.FixtureRequest) -> None:
    """After a fault test stopped a component, bring the stack back before the next e2e test."""
    yield
    if "stack" in request.fixturenames and not all(stackctl.pid_of(c) for c in stackctl.COMPONENTS):
        stackctl.up()


UNDER_REPLICATION = ("Block Under-replication detected", "consecutive under-replication rotations")


@pytest.fixture(scope="session", autouse=True)
def _no_under_replication_rotations() -> Any:
    """Fail the e2e run if any Flume agent logged an under-replication rotation while it ran (issue 13).

    Such rotations mean Flume writes with a replication the cluster cannot meet: files roll after every batch,
    then (after 30) stop rolling by size, which skews every count of files and rolls.
    """
    logs = {agent: stackctl.LOGS / f"{agent}.log" for agent in stackctl.FLUME_AGENTS}
    start = {agent: path.stat().st_size if path.exists() else 0 for agent, path in logs.items()}
    yield
    found = []
    for agent, path in logs.items():
        if not path.exists():
            continue
        with path.open("rb") as fh:
            fh.seek(start[agent] if path.stat().st_size >= start[agent] else 0)
            lines = fh.read().decode(errors="replace").splitlines()
        found += [f"{path}: {line}" for line in lines if any(marker in line for marker in UNDER_REPLICATION)]
    if found:
        pytest.fail(f"{len(found)} under-replication rotation(s) in Flume's logs, e.g.\n" + "\n".join(found[:5]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Attach the tail of every stack log to a failing e2e test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "stack" in getattr(item, "fixturenames", ()):
        for component in stackctl.COMPONENTS:
            report.sections.append((f"stack log: {component}", stackctl.tail(component, 30)))


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh, migrated Airflow metadata DB (sqlite under AIRFLOW_HOME) for dag.test() runs."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def run_dag(airflow_db: None) -> Callable[..., Any]:
    """Run a DAG from a file in dags/ or tests/dags/ with dag.test(); returns the DagRun (assert its state).

    dag.test() does not raise when a task fails, so callers must assert ``dr.state``.
    """
    import importlib.util

    def _run(dag_file: str | Path, dag_id: str, *, logical_date: Any = None, conf: dict | None = None) -> Any:
        path = Path(dag_file)
        if not path.is_absolute():
            path = Path(__file__).resolve().parents[2] / path
        spec = importlib.util.spec_from_file_location(f"_dag_{path.stem}", path)
        assert spec and spec.loader, f"cannot load {path}"
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dags = [v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id and hasattr(v, "test")]
        assert dags, f"no DAG {dag_id!r} in {path}"
        return dags[0].test(logical_date=logical_date, run_conf=conf)

    return _run
