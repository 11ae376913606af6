#!/usr/bin/env python3
"""Start, stop and probe the local Kafka + HDFS + Flume stack that the tests and the demo run against.

Everything listens on 127.0.0.1 and lives under ``.stack/`` in the checkout (jars, data, logs, pids).
Used by the Makefile (``stackctl.py up|down|status``) and by the e2e fixtures (``Stack`` and the
per-component ``start``/``stop`` functions, for fault tests). Standard library only, except the
Kafka readiness probe, which uses confluent-kafka from the project's venv.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

STACK_DIR = Path(__file__).resolve().parent
ROOT = STACK_DIR.parent
WORK = Path(os.environ.get("FLUME_STACK_WORK", ROOT / ".stack"))
LIB = WORK / "lib"
DATA = WORK / "data"
LOGS = WORK / "logs"
RUN = WORK / "run"
GENCONF = WORK / "conf"

HOST = "127.0.0.1"
# Ports sit below Linux's ephemeral range (32768-60999), so no client socket or TIME_WAIT can hold them.
# FLUME_STACK_PORT_OFFSET shifts every port, so a second stack (e.g. a fresh clone's CI run, with its own
# FLUME_STACK_WORK) can run beside a developer's. The committed Flume configs name the default ports; with an
# offset, rewritten copies under .stack/conf/ are used instead.
PORT_OFFSET = int(os.environ.get("FLUME_STACK_PORT_OFFSET", "0"))
KAFKA_PORT = 29092 + PORT_OFFSET
KAFKA_CONTROLLER_PORT = 29093 + PORT_OFFSET
KAFKA_SASL_PORT = 29094 + PORT_OFFSET
KAFKA_SASL_USER = "flume"
KAFKA_SASL_PASSWORD = "flume-secret"
NAMENODE_RPC_PORT = 28020 + PORT_OFFSET
NAMENODE_HTTP_PORT = 29870 + PORT_OFFSET
DATANODE_PORT = 29866 + PORT_OFFSET
DATANODE_HTTP_PORT = 29864 + PORT_OFFSET
DATANODE_IPC_PORT = 29867 + PORT_OFFSET

BOOTSTRAP = f"{HOST}:{KAFKA_PORT}"
WEBHDFS_URL = f"http://{HOST}:{NAMENODE_HTTP_PORT}"
NAMENODE = f"{HOST}:{NAMENODE_RPC_PORT}"
COMMITTED_FLUME_CONF = STACK_DIR / "conf" / "flume.conf"
FLUME_CONF = COMMITTED_FLUME_CONF if not PORT_OFFSET else GENCONF / "flume" / "flume.conf"
FLUME_AGENT = "agent"
# The contrast: a second agent that files plain values by ingestion time.
COMMITTED_FLUME_INGEST_CONF = STACK_DIR / "conf" / "flume-ingest-time.conf"
FLUME_INGEST_CONF = COMMITTED_FLUME_INGEST_CONF if not PORT_OFFSET else GENCONF / "flume" / "flume-ingest-time.conf"
FLUME_INGEST_AGENT = "ingest"
# The lossless topology: a KafkaChannel feeding the HDFS sink, no source; its own JVM so a fault test can kill it.
COMMITTED_FLUME_LOSSLESS_CONF = STACK_DIR / "conf" / "flume-kafka-channel.conf"
FLUME_LOSSLESS_CONF = (
    COMMITTED_FLUME_LOSSLESS_CONF if not PORT_OFFSET else GENCONF / "flume" / "flume-kafka-channel.conf"
)
FLUME_LOSSLESS_AGENT = "lossless"
FLUME_LOSSLESS_TOPIC = "flume-channel-events"
FLUME_AGENTS = {
    "flume": (FLUME_CONF, FLUME_AGENT),
    "flume-ingest": (FLUME_INGEST_CONF, FLUME_INGEST_AGENT),
    "flume-lossless": (FLUME_LOSSLESS_CONF, FLUME_LOSSLESS_AGENT),
}
# Max heap per agent: the lossless agent holds one sink batch, not a 100,000-event memory channel per topic.
FLUME_HEAP = {"flume": "-Xmx384m", "flume-ingest": "-Xmx384m", "flume-lossless": "-Xmx256m"}
HDFS_USER = "root"

# The topics the Flume agent in stack/conf/flume.conf consumes; created before Flume starts.
FLUME_TOPICS = (
    "flume-events",
    "flume-tz",
    "flume-seq",
    "flume-seqz",
    "flume-avro",
    "flume-slow",
    "flume-raw",
    FLUME_LOSSLESS_TOPIC,  # the KafkaChannel's own topic (flume-kafka-channel.conf)
)
# Directories created in HDFS (owned by HDFS_USER, who runs Flume).
HDFS_DIRS = ("/flume",)

VERSIONS = {"kafka": "3.9.1", "hadoop": "3.4.1", "flume": "1.11.0"}
COMPONENTS = ("kafka", "namenode", "datanode", "flume", "flume-ingest", "flume-lossless")

# Java 17 needs these for Hadoop's and Flume's reflective access.
ADD_OPENS = [
    f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
    for pkg in (
        "java.lang",
        "java.lang.reflect",
        "java.io",
        "java.net",
        "java.nio",
        "java.util",
        "java.util.concurrent",
        "java.util.concurrent.atomic",
        "sun.nio.ch",
        "sun.nio.cs",
        "sun.security.action",
        "sun.util.calendar",
    )
] + ["--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED"]


class StackError(RuntimeError):
    """A stack component failed to set up, start or become ready."""


def log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


# --------------------------------------------------------------------------- setup


def setup() -> None:
    """Resolve the jars of each component from Maven Central into .stack/lib/<component>."""
    for name in ("kafka", "hadoop", "flume"):
        dest = LIB / name
        marker = dest / ".complete"
        pom = STACK_DIR / "maven" / name / "pom.xml"
        if marker.exists() and marker.read_text() == _pom_digest(pom):
            continue
        log(f"resolving {name} jars from Maven Central ...")
        if dest.exists():
            shutil.rmtree(dest)
        cmd = [
            "mvn", "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
            f"-DoutputDirectory={dest}", "-DincludeScope=runtime",
        ]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise StackError(f"maven failed for {pom}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
        marker.write_text(_pom_digest(pom))
    log(f"jars ready in {LIB}")


def _pom_digest(pom: Path) -> str:
    import hashlib

    return hashlib.sha256(pom.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- config files


def _write_configs() -> None:
    GENCONF.mkdir(parents=True, exist_ok=True)
    (GENCONF / "hadoop").mkdir(exist_ok=True)
    (GENCONF / "flume").mkdir(exist_ok=True)
    kafka = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{KAFKA_CONTROLLER_PORT}",
        "listeners": f"PLAINTEXT://{HOST}:{KAFKA_PORT},CONTROLLER://{HOST}:{KAFKA_CONTROLLER_PORT},"
        f"SASL_PLAINTEXT://{HOST}:{KAFKA_SASL_PORT}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{KAFKA_PORT},SASL_PLAINTEXT://{HOST}:{KAFKA_SASL_PORT}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{KAFKA_SASL_USER}="{KAFKA_SASL_PASSWORD}";'
        ),
        "log.dirs": str(DATA / "kafka"),
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        "log.segment.bytes": str(256 * 1024 * 1024),
        "message.max.bytes": str(1024 * 1024 + 1024),
        # The tests' raw source topics and `kafka_timestamp="event"` publishes carry old event times as record
        # timestamps (CreateTime): with time-based retention they are deleted at the next retention check (30 s
        # after start, then every 5 min) before a stopped or lagging Flume has read them. Test data must stay.
        "log.retention.ms": "-1",
    }
    (GENCONF / "kafka.properties").write_text("".join(f"{k}={v}\n" for k, v in kafka.items()))
    (GENCONF / "kafka-log4j.properties").write_text(
        "log4j.rootLogger=INFO, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        "log4j.logger.kafka.request.logger=WARN\nlog4j.logger.state.change.logger=WARN\n"
    )
    site = {
        "core-site.xml": {
            "fs.defaultFS": f"hdfs://{NAMENODE}",
            "hadoop.tmp.dir": str(DATA / "hadoop-tmp"),
            "hadoop.security.authentication": "simple",
        },
        "hdfs-site.xml": {
            "dfs.namenode.name.dir": str(DATA / "namenode"),
            "dfs.datanode.data.dir": str(DATA / "datanode"),
            "dfs.replication": "1",
            "dfs.permissions.enabled": "true",
            "dfs.webhdfs.enabled": "true",
            "dfs.namenode.rpc-address": NAMENODE,
            "dfs.namenode.rpc-bind-host": HOST,
            "dfs.namenode.http-address": f"{HOST}:{NAMENODE_HTTP_PORT}",
            "dfs.namenode.http-bind-host": HOST,
            "dfs.namenode.secondary.http-address": f"{HOST}:0",
            "dfs.datanode.address": f"{HOST}:{DATANODE_PORT}",
            "dfs.datanode.http.address": f"{HOST}:{DATANODE_HTTP_PORT}",
            "dfs.datanode.ipc.address": f"{HOST}:{DATANODE_IPC_PORT}",
            "dfs.datanode.hostname": HOST,
            "dfs.datanode.use.datanode.hostname": "true",
            "dfs.client.use.datanode.hostname": "true",
            "dfs.namenode.datanode.registration.ip-hostname-check": "false",
            "dfs.namenode.safemode.extension": "0",
            "dfs.namenode.safemode.min.datanodes": "0",
            "dfs.heartbeat.interval": "1",
            "dfs.namenode.handler.count": "10",
            "dfs.datanode.handler.count": "5",
            "dfs.datanode.max.transfer.threads": "512",
            "dfs.namenode.fs-limits.min-block-size": "1024",
        },
    }
    for fname, props in site.items():
        body = "".join(
            f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items()
        )
        (GENCONF / "hadoop" / fname).write_text(
            f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'
        )
    # The Maven jars of hadoop-hdfs carry no webapps/; HttpServer2 only needs the folders on the classpath
    # (WebHDFS and /jmx are registered in code).
    for app in ("hdfs", "datanode", "secondary", "static"):
        webinf = GENCONF / "hadoop" / "webapps" / app / "WEB-INF"
        webinf.mkdir(parents=True, exist_ok=True)
        (webinf / "web.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<web-app xmlns="http://xmlns.jcp.org/xml/ns/javaee" version="3.1"/>\n'
        )
    (GENCONF / "hadoop" / "log4j.properties").write_text(
        "log4j.rootLogger=INFO, console\n"
        "log4j.appender.console=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
        "log4j.logger.org.apache.hadoop.hdfs.StateChange=WARN\n"
        "log4j.logger.BlockStateChange=WARN\n"
    )
    _write_flume_configs()


def _write_flume_configs() -> None:
    """Flume's classpath files (hdfs-site.xml, log4j2.xml) and, with a port offset, the rewritten agent configs."""
    # Flume's HDFS client reads hdfs-site.xml from its classpath (GENCONF/flume). Without it the client default
    # dfs.replication=3 applies on this one-DataNode HDFS: every block is under-replicated, and the sink, whose
    # hdfs.minBlockReplicas defaults to that replication, rotates its file after each batch ("Block
    # Under-replication detected. Rotating file.") until 30 in a row, then stops rolling by size and count.
    # The client's replication must match the cluster's: files are then written with replication 1.
    (GENCONF / "flume" / "hdfs-site.xml").write_text(
        '<?xml version="1.0"?>\n<configuration>\n'
        "  <property><name>dfs.replication</name><value>1</value></property>\n</configuration>\n"
    )
    if PORT_OFFSET:
        for committed, target in (
            (COMMITTED_FLUME_CONF, FLUME_CONF),
            (COMMITTED_FLUME_INGEST_CONF, FLUME_INGEST_CONF),
            (COMMITTED_FLUME_LOSSLESS_CONF, FLUME_LOSSLESS_CONF),
        ):
            text = committed.read_text().replace(f"{HOST}:29092", BOOTSTRAP).replace(f"{HOST}:28020", NAMENODE)
            # Rewrite only on change: a running agent reloads (restarts every source and sink) on a new mtime.
            if not target.exists() or target.read_text() != text:
                target.write_text(text)
    (GENCONF / "flume" / "log4j2.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Configuration status="ERROR">\n'
        '  <Appenders><Console name="out" target="SYSTEM_OUT">'
        '<PatternLayout pattern="%d{ISO8601} %-5p [%t] %c{1}: %m%n"/></Console></Appenders>\n'
        "  <Loggers>\n"
        '    <Logger name="org.apache.kafka" level="WARN"/>\n'
        '    <Logger name="org.apache.hadoop" level="WARN"/>\n'
        '    <Root level="INFO"><AppenderRef ref="out"/></Root>\n'
        "  </Loggers>\n</Configuration>\n"
    )


# --------------------------------------------------------------------------- processes


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise StackError("java not found: install a Java 17 JDK")
    return java


def _classpath(*parts: Path | str) -> str:
    return ":".join(str(p) for p in parts)


def _command(component: str) -> list[str]:
    java = _java()
    if component == "kafka":
        return [
            java, "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{GENCONF / 'kafka-log4j.properties'}",
            "-cp", _classpath(LIB / "kafka" / "*"), "kafka.Kafka", str(GENCONF / "kafka.properties"),
        ]  # fmt: skip
    if component in ("namenode", "datanode"):
        main = {
            "namenode": "org.apache.hadoop.hdfs.server.namenode.NameNode",
            "datanode": "org.apache.hadoop.hdfs.server.datanode.DataNode",
        }[component]
        return [
            java, "-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", *ADD_OPENS,
            f"-Dhadoop.log.dir={LOGS}", "-Dhadoop.root.logger=INFO,console",
            "-cp", _classpath(GENCONF / "hadoop", LIB / "hadoop" / "*"), main,
        ]  # fmt: skip
    if component in FLUME_AGENTS:
        conf, agent = FLUME_AGENTS[component]
        return [
            java, "-Xms64m", FLUME_HEAP[component], "-XX:+UseSerialGC", *ADD_OPENS,
            f"-Dlog4j.configurationFile={GENCONF / 'flume' / 'log4j2.xml'}",
            "-Duser.timezone=UTC",
            "-cp", _classpath(GENCONF / "flume", LIB / "flume" / "*"),
            "org.apache.flume.node.Application", "-n", agent, "-f", str(conf),
        ]  # fmt: skip
    raise StackError(f"unknown component {component!r}; expected one of {', '.join(COMPONENTS)}")


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_of(component: str) -> int | None:
    """The pid of a running component started by this script, or None."""
    pidfile = RUN / f"{component}.pid"
    try:
        pid_text, started = pidfile.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return None
    # A pid can be reused: trust it only while the process has the start time we recorded.
    if not _alive(pid) or _start_time(pid) != started:
        pidfile.unlink(missing_ok=True)
        return None
    return pid


def _spawn(component: str) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    logfile = open(LOGS / f"{component}.log", "ab")  # noqa: SIM115 - handed to the child
    logfile.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {component} =====\n".encode())
    logfile.flush()
    proc = subprocess.Popen(
        _command(component),
        stdout=logfile,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=str(WORK),
        start_new_session=True,
    )
    (RUN / f"{component}.pid").write_text(f"{proc.pid} {_start_time(proc.pid)}")
    return proc.pid


def _wait(predicate: Callable[[], bool], timeout: float, what: str, component: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    announced = False
    while time.monotonic() < deadline:
        if component and pid_of(component) is None:
            raise StackError(f"{component} exited while waiting for {what}\n{tail(component)}")
        try:
            if predicate():
                return
        except Exception:
            pass
        if not announced:  # one progress line per wait, not one per failed probe
            log(f"waiting for {what} ...")
            announced = True
        time.sleep(0.5)
    raise StackError(
        f"timed out after {timeout:.0f}s waiting for {what}\n{tail(component) if component else ''}"
    )


def tail(component: str, lines: int = 40) -> str:
    """The last lines of a component's log, for error messages."""
    path = LOGS / f"{component}.log"
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text)


# --------------------------------------------------------------------------- readiness probes


def _http_json(url: str, method: str = "GET", timeout: float = 5.0) -> dict:
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
    return json.loads(body) if body else {}


def _webhdfs(path: str, op: str, method: str = "GET", **params: str) -> dict:
    query = "&".join([f"op={op}", f"user.name={HDFS_USER}", *(f"{k}={v}" for k, v in params.items())])
    return _http_json(f"{WEBHDFS_URL}/webhdfs/v1{path}?{query}", method=method)


# librdkafka logs every failed connection attempt (e.g. "Connect to ipv4#127.0.0.1:29092 failed: Connection
# refused") to stderr; the stack's own clients route them through Python logging instead. The NullHandler keeps
# them off the terminal (no "last resort" handler); an application that configures logging (pytest) still sees them.
RDKAFKA_LOG = logging.getLogger("stackctl.rdkafka")
RDKAFKA_LOG.addHandler(logging.NullHandler())


def _kafka_admin() -> Any:
    """An AdminClient for the stack's readiness and set-up calls, with librdkafka's logs routed to RDKAFKA_LOG."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": BOOTSTRAP}, logger=RDKAFKA_LOG)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


def kafka_ready() -> bool:
    # Probe the port first: no client (and no librdkafka retry loop) until the broker listens.
    if not _port_open(KAFKA_PORT):
        return False
    md = _kafka_admin().list_topics(timeout=3)
    return bool(md.brokers)


def namenode_ready() -> bool:
    _webhdfs("/", "LISTSTATUS")
    return True


def live_datanodes() -> int:
    jmx = _http_json(f"{WEBHDFS_URL}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState")
    return int(jmx["beans"][0]["NumLiveDataNodes"])


def hdfs_writable() -> bool:
    """True once the NameNode has left safe mode and a DataNode accepts a block."""
    if live_datanodes() < 1:
        return False
    safemode = _http_json(f"{WEBHDFS_URL}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo")
    return not safemode["beans"][0].get("Safemode")


def flume_components(conf: Path = FLUME_CONF, agent: str = FLUME_AGENT) -> set[str]:
    """Names of an agent's sources/sinks/channels, read from its properties file."""
    names: set[str] = set()
    for line in conf.read_text().splitlines():
        line = line.strip()
        for kind, label in (("sources", "SOURCE"), ("sinks", "SINK"), ("channels", "CHANNEL")):
            key = f"{agent}.{kind}"
            if line.startswith(key) and line[len(key) :].lstrip().startswith("="):
                names |= {f"{label}.{n}" for n in line.split("=", 1)[1].split()}
    return names


def flume_ready(component: str = "flume") -> bool:
    """True once every source and sink of the agent logged "Component type: ..., name: ... started".

    (Flume's HTTP metrics server would bind 0.0.0.0, as it takes no host, so readiness comes from the log.)
    """
    conf, agent = FLUME_AGENTS[component]
    log_text = (LOGS / f"{component}.log").read_text(errors="replace")
    started = log_text[log_text.rfind("===== ") :]
    return all(
        f"Component type: {name.split('.')[0]}, name: {name.split('.')[1]} started" in started
        for name in flume_components(conf, agent)
        if not name.startswith("CHANNEL")
    )


# --------------------------------------------------------------------------- components


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """Serialise start/stop across processes (a test's fixture and a fault test may act at once)."""
    RUN.mkdir(parents=True, exist_ok=True)
    with open(RUN / "stackctl.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def start(component: str, timeout: float = 120) -> None:
    """Start one component (if not running) and wait until it is ready."""
    with _lock():
        _start(component, timeout)


def start_together(components: tuple[str, ...], timeout: float = 120) -> None:
    """Launch independent components at once (the Flume agents), then wait until each is ready."""
    with _lock():
        for component in components:
            _launch(component)
        for component in components:
            _wait_ready(component, timeout)


def _start(component: str, timeout: float) -> None:
    _launch(component)
    _wait_ready(component, timeout)


def _launch(component: str) -> None:
    """Spawn a component unless it runs already (no waiting)."""
    if component not in COMPONENTS:
        raise StackError(f"unknown component {component!r}; expected one of {', '.join(COMPONENTS)}")
    _write_configs()
    if pid_of(component) is None:
        busy = busy_ports(component)
        if busy:
            raise StackError(f"cannot start {component}: {', '.join(busy)} already in use by another process")
        if component == "kafka" and not (DATA / "kafka" / "meta.properties").exists():
            _format_kafka()
        if component == "namenode" and not (DATA / "namenode" / "current" / "VERSION").exists():
            _format_namenode()
        pid = _spawn(component)
        log(f"started {component} (pid {pid})")


def _wait_ready(component: str, timeout: float) -> None:
    probe = {
        "kafka": kafka_ready,
        # After a restart, wait until the running DataNode has re-registered and safe mode is off: before
        # that, writes through WebHDFS fail (403 EOFException / "Failed to find datanode").
        "namenode": lambda: namenode_ready() and (pid_of("datanode") is None or hdfs_writable()),
        "datanode": hdfs_writable,
        "flume": flume_ready,
        "flume-ingest": lambda: flume_ready("flume-ingest"),
        "flume-lossless": lambda: flume_ready("flume-lossless"),
    }[component]
    _wait(probe, timeout, f"{component} to be ready", component)


def stop(component: str, timeout: float = 30) -> None:
    """Stop one component started by this script (by pid), SIGTERM then SIGKILL."""
    with _lock():
        _stop(component, timeout)


def _stop(component: str, timeout: float) -> None:
    pid = pid_of(component)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    (RUN / f"{component}.pid").unlink(missing_ok=True)
    log(f"stopped {component} (pid {pid})")


def kill(component: str) -> None:
    """SIGKILL a component at once (fault tests)."""
    with _lock():
        pid = pid_of(component)
        if pid is None:
            return
        os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
        (RUN / f"{component}.pid").unlink(missing_ok=True)
        log(f"killed {component} (pid {pid})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as dead
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        if state == "Z":
            os.waitpid(pid, os.WNOHANG)
            return False
    except (OSError, ChildProcessError):
        pass
    return True


def _format_kafka() -> None:
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    cmd = [
        _java(), "-Xmx256m", f"-Dlog4j.configuration=file:{GENCONF / 'kafka-log4j.properties'}",
        "-cp", _classpath(LIB / "kafka" / "*"), "kafka.tools.StorageTool", "format",
        "-t", cluster_id, "-c", str(GENCONF / "kafka.properties"),
    ]  # fmt: skip
    _run_checked(cmd, "format Kafka storage")


def _format_namenode() -> None:
    cmd = [
        _java(), "-Xmx256m", *ADD_OPENS, "-Dhadoop.root.logger=WARN,console",
        "-cp", _classpath(GENCONF / "hadoop", LIB / "hadoop" / "*"),
        "org.apache.hadoop.hdfs.server.namenode.NameNode", "-format", "-nonInteractive", "-force",
    ]  # fmt: skip
    _run_checked(cmd, "format the NameNode")


def _run_checked(cmd: list[str], what: str) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=str(WORK))
    if res.returncode != 0:
        raise StackError(
            f"failed to {what} (exit {res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        )


def _create_topics() -> None:
    from confluent_kafka.admin import NewTopic

    admin = _kafka_admin()
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [t for t in FLUME_TOPICS if t not in existing]
    if not missing:
        return
    futures = admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in missing])
    for topic, fut in futures.items():
        try:
            fut.result(timeout=30)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise StackError(f"could not create topic {topic}: {exc}") from exc
    log(f"created topics: {', '.join(missing)}")
    _wait(lambda: _topics_have_leaders(admin, missing), 60, f"a leader for topics {', '.join(missing)}")


def _topics_have_leaders(admin: Any, topics: list[str]) -> bool:
    """True once every partition of each topic has a leader (a consumer can then be assigned it)."""
    md = admin.list_topics(timeout=5).topics
    return all(
        t in md and md[t].error is None and md[t].partitions and all(p.leader >= 0 for p in md[t].partitions.values())
        for t in topics
    )


def _prepare_hdfs() -> None:
    _wait(hdfs_writable, 120, "HDFS to leave safe mode with a live DataNode", "namenode")
    for d in HDFS_DIRS:
        _wait(lambda d=d: _webhdfs(d, "MKDIRS", method="PUT").get("boolean") is True, 60, f"mkdir {d}")
        _webhdfs(d, "SETOWNER", method="PUT", owner=HDFS_USER, group="supergroup")
        _webhdfs(d, "SETPERMISSION", method="PUT", permission="755")


def up() -> None:
    """Start every component in dependency order and wait until the whole stack is ready."""
    if not all((LIB / c / ".complete").exists() for c in ("kafka", "hadoop", "flume")):
        setup()
    t0 = time.monotonic()
    start("kafka")
    start("namenode")
    start("datanode")
    _create_topics()
    _prepare_hdfs()
    start_together(tuple(FLUME_AGENTS))
    log(f"stack ready in {time.monotonic() - t0:.1f}s: kafka {BOOTSTRAP}, webhdfs {WEBHDFS_URL}, "
        f"namenode hdfs://{NAMENODE}, flume agent '{FLUME_AGENT}' ({FLUME_CONF})")  # fmt: skip


def down() -> None:
    """Stop every component this script started, Flume first so it can close its files."""
    for component in ("flume-lossless", "flume-ingest", "flume", "datanode", "namenode", "kafka"):
        stop(component)


def status() -> dict[str, int | None]:
    return {c: pid_of(c) for c in COMPONENTS}


PORTS = {
    "kafka": (KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_SASL_PORT),
    "namenode": (NAMENODE_RPC_PORT, NAMENODE_HTTP_PORT),
    "datanode": (DATANODE_PORT, DATANODE_HTTP_PORT, DATANODE_IPC_PORT),
    "flume": (),
    "flume-ingest": (),
    "flume-lossless": (),
}


def busy_ports(component: str) -> list[str]:
    """Ports a component needs that another process already holds (for a clear error before starting)."""
    busy = []
    for port in PORTS[component]:
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex((HOST, port)) == 0:
                busy.append(f"{HOST}:{port}")
    return busy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup", help="resolve the jars from Maven Central")
    sub.add_parser("up", help="start Kafka, HDFS and Flume and wait until ready")
    sub.add_parser("down", help="stop what 'up' started")
    sub.add_parser("status", help="print the pid of each component")
    for name in ("start", "stop", "kill", "logs"):
        p = sub.add_parser(name, help=f"{name} one component")
        p.add_argument("component", choices=COMPONENTS)
    sub.add_parser("versions", help="print the component versions")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "setup":
            setup()
        elif args.cmd == "up":
            up()
        elif args.cmd == "down":
            down()
        elif args.cmd == "status":
            for c, pid in status().items():
                print(f"{c:14} {'running, pid ' + str(pid) if pid else 'stopped'}")
        elif args.cmd == "start":
            start(args.component)
        elif args.cmd == "stop":
            stop(args.component)
        elif args.cmd == "kill":
            kill(args.component)
        elif args.cmd == "logs":
            print(tail(args.component, 200))
        elif args.cmd == "versions":
            print(json.dumps(VERSIONS))
    except (StackError, urllib.error.URLError) as exc:
        print(f"[stack] ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
