#!/usr/bin/env python3
"""Start, stop and probe a real local Airflow: PostgreSQL, scheduler, triggerer, dag-processor and api-server.

The deployment users run, next to the Kafka + HDFS + Flume stack of stackctl.py: LocalExecutor, the metadata DB
on PostgreSQL (Debian's packages, a private data dir, 127.0.0.1), the project's ``dags/`` plus the live tests'
DAGs as bundles, the simple auth manager (every user is admin: a local stack only), one shared JWT secret, and
the connections ``kafka_default``/``webhdfs_default`` pointing at the stack. Everything lives under
``.airflow/`` (``FLUME_AIRFLOW_WORK`` moves it, so a second copy can run; with only ``FLUME_STACK_WORK``
set it is ``$FLUME_STACK_WORK/airflow``): process logs in ``logs/``, task logs
in ``logs/tasks/``, pids with start times in ``run/``. Ports sit below the ephemeral range and move with
``FLUME_STACK_PORT_OFFSET`` like the stack's. Used by the Makefile (``airflowctl.py up|down|status``) and by
the live tests (``API_URL``, ``env()``). One file, like stackctl.py, so the start/stop discipline of the
deployment is in one place (hence a bit over 400 lines).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stackctl  # noqa: E402  (read-only use: addresses of the stack, pid start times)

ROOT = stackctl.ROOT
# Beside a shifted stack (FLUME_STACK_WORK set), the deployment lives in that stack's work dir unless told
# otherwise, so a second copy never shares .airflow/ (pids, PostgreSQL's data dir) with the default one.
WORK = Path(
    os.environ.get("FLUME_AIRFLOW_WORK")
    or (stackctl.WORK / "airflow" if os.environ.get("FLUME_STACK_WORK") else ROOT / ".airflow")
)
HOME = WORK / "live"  # AIRFLOW_HOME of the live deployment (generated config and secrets)
LOGS = WORK / "logs"
RUN = WORK / "run"
PGDATA = WORK / "pgdata"
SCREENSHOTS = WORK / "screenshots"
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"

HOST = stackctl.HOST
OFFSET = stackctl.PORT_OFFSET
PG_PORT = 25432 + OFFSET
API_PORT = 28080 + OFFSET
WORKER_LOG_PORT = 28793 + OFFSET
TRIGGER_LOG_PORT = 28794 + OFFSET
API_URL = f"http://{HOST}:{API_PORT}"
DB_NAME = "airflow"
DB_URL = f"postgresql+psycopg2://postgres@{HOST}:{PG_PORT}/{DB_NAME}"
# Bundles: the example DAGs users get, and the DAGs only the live tests run.
BUNDLES = {"provider_dags": ROOT / "dags", "live_test_dags": ROOT / "tests" / "live" / "dags"}

AIRFLOW_COMPONENTS = ("scheduler", "triggerer", "dag-processor", "api-server")
COMPONENTS = ("postgres", *AIRFLOW_COMPONENTS)
HEALTH_KEYS = {"scheduler": "scheduler", "triggerer": "triggerer", "dag-processor": "dag_processor"}
# The triggerer runs its event loop in asyncio's debug mode (what its "blocked" warning asks for): every loop
# step over 0.1 s is logged with the task it belongs to ("Executing <Task ... name='<dag>/<run>/<task>/...'>
# took 0.25 seconds"), so the live tests can tell a slow trigger from a loop starved by a busy machine.
COMPONENT_ENV = {"triggerer": {"PYTHONASYNCIODEBUG": "1"}}
# A deployed triggerer has its CPUs; this one shares two cores with the stack's JVMs and whatever else runs on
# the machine, whose load would hold its event loop off the CPU (which the watchdog reports as "blocked").
# As root it runs at a higher priority (its trigger runner and threads inherit it); otherwise at the default.
COMPONENT_NICE = {"triggerer": -10}


class AirflowStackError(RuntimeError):
    """PostgreSQL or an Airflow component failed to set up, start or become ready."""


def log(msg: str) -> None:
    print(f"[airflow] {msg}", flush=True)


# --------------------------------------------------------------------------- configuration


def jwt_secret() -> str:
    """The one JWT secret every process shares (generated once, kept under .airflow/live/)."""
    path = HOME / "jwt_secret"
    if not path.exists():
        HOME.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def connections() -> dict[str, str]:
    """AIRFLOW_CONN_* for the stack: the same kafka_default and webhdfs_default the e2e tests use."""
    kafka = {"conn_type": "kafka", "extra": {"bootstrap.servers": stackctl.BOOTSTRAP}}
    webhdfs = {
        "conn_type": "webhdfs",
        "host": stackctl.HOST,
        "port": stackctl.NAMENODE_HTTP_PORT,
        "login": stackctl.HDFS_USER,
    }
    return {
        "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps(kafka),
        "AIRFLOW_CONN_WEBHDFS_DEFAULT": json.dumps(webhdfs),
    }


def settings() -> dict[str, str]:
    """Airflow's configuration for the live deployment, as environment variables (shared by all processes)."""
    bundles = [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(p)},
        }
        for name, p in BUNDLES.items()
    ]
    return {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # small memory: at most 4 task processes at once
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{API_URL}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": DB_URL,
        "AIRFLOW__API__BASE_URL": API_URL,
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(API_PORT),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret(),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(LOGS / "tasks"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(WORKER_LOG_PORT),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(TRIGGER_LOG_PORT),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "AIRFLOW__FLUME_PROVIDER__CHECKPOINT_DIR": str(WORK / "checkpoints"),
        "FLUME_CONF": str(stackctl.FLUME_CONF),  # the example DAGs read the stack's Flume config
        "FLUME_NAMENODE": stackctl.NAMENODE,
        **connections(),
    }


def env() -> dict[str, str]:
    """The environment of every Airflow process (and of `airflow` commands run against this deployment)."""
    return {**os.environ, **settings(), "PATH": f"{AIRFLOW_BIN.parent}:{os.environ.get('PATH', '')}"}


def write_env_file() -> Path:
    """.airflow/live/airflow.env: `set -a; . .airflow/live/airflow.env` points an `airflow` CLI at this deployment."""
    path = HOME / "airflow.env"
    path.write_text("".join(f"{k}='{v}'\n" for k, v in settings().items()))
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------- processes


def pid_of(component: str) -> int | None:
    """The pid of a running component started by this script, or None (pid reuse is caught by start time)."""
    pidfile = RUN / f"{component}.pid"
    try:
        pid_text, started = pidfile.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return None
    if not stackctl._alive(pid) or stackctl._start_time(pid) != started:
        pidfile.unlink(missing_ok=True)
        return None
    return pid


def _spawn(component: str, cmd: list[str], user: str | None = None) -> int:
    """Start a component in its own session, output appended to logs/<component>.log; records pid + start time."""
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    logfile = open(LOGS / f"{component}.log", "ab")  # noqa: SIM115 - handed to the child
    logfile.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {component} =====\n".encode())
    logfile.flush()
    proc = subprocess.Popen(
        cmd,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=str(WORK),
        env={**env(), **COMPONENT_ENV.get(component, {})},
        start_new_session=True,
        preexec_fn=_niced(COMPONENT_NICE.get(component, 0)),
        user=user,
    )
    (RUN / f"{component}.pid").write_text(f"{proc.pid} {stackctl._start_time(proc.pid)}")
    return proc.pid


def _niced(increment: int) -> Callable[[], None] | None:
    """A preexec_fn that changes the child's nice value by `increment` (a raise of priority needs root)."""
    if increment == 0 or (increment < 0 and os.geteuid() != 0):
        return None
    return lambda: os.nice(increment) and None


def tail(component: str, lines: int = 40) -> str:
    """The last lines of a component's log, for error messages."""
    try:
        return "\n".join((LOGS / f"{component}.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log for {component})"


def _wait(predicate: Callable[[], bool], timeout: float, what: str, component: str) -> float:
    """Poll until predicate() holds; returns the seconds it took. Fails early when the component exited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pid_of(component) is None:
            raise AirflowStackError(f"{component} exited while waiting for {what}\n{tail(component)}")
        with contextlib.suppress(Exception):
            if predicate():
                return time.monotonic() - t0
        time.sleep(0.5)
    raise AirflowStackError(f"timed out after {timeout:.0f}s waiting for {what}\n{tail(component)}")


def _stop(component: str, timeout: float = 30) -> None:
    pid = pid_of(component)
    if pid is None:
        return
    # PostgreSQL: SIGINT is its "fast" shutdown (SIGTERM would wait for every client to leave).
    sig = signal.SIGINT if component == "postgres" else signal.SIGTERM
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.2)
    if _group_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while stackctl._alive(pid):
            time.sleep(0.1)
    (RUN / f"{component}.pid").unlink(missing_ok=True)
    log(f"stopped {component} (pid {pid})")


def _group(pgid: int) -> list[int]:
    """Pids of the process group a component leads (it and the workers it forked)."""
    pids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(stat.split("/")[2]))
    return pids


def _group_alive(pgid: int) -> bool:
    return stackctl._alive(pgid) or bool(_group(pgid))


def memory_mb(component: str) -> float:
    """Memory of a component and the children it forked (its process group), in MiB: the sum of their PSS
    (proportional set size), so pages the forked workers share with their parent are counted once."""
    pid = pid_of(component)
    if pid is None:
        return 0.0
    total_kb = 0
    for p in _group(pid):
        with contextlib.suppress(OSError, StopIteration, ValueError):
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
            total_kb += int(next(x for x in rollup if x.startswith("Pss:")).split()[1])
    return total_kb / 1024


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str | None:
    """A PostgreSQL server binary from Debian's packages (/usr/lib/postgresql/<major>/bin), newest major first."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    return found[-1] if found else shutil.which(name)


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: as root (CI), run it as Debian's `postgres` user."""
    return "postgres" if os.geteuid() == 0 else None


def install_postgres() -> None:
    """apt-get install postgresql when its server binaries are missing (root only; otherwise say what to run)."""
    if _pg_bin("initdb") and _pg_bin("postgres"):
        return
    if os.geteuid() != 0:
        raise AirflowStackError("PostgreSQL is not installed: run `sudo apt-get install -y postgresql`")
    log("installing PostgreSQL from Debian's packages ...")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        res = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        )
        if res.returncode != 0:
            raise AirflowStackError(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")


def _initdb() -> None:
    if (PGDATA / "PG_VERSION").exists():
        return
    PGDATA.mkdir(parents=True, exist_ok=True)
    user = _pg_user()
    if user:
        shutil.chown(PGDATA, user, user)
    cmd = [
        _pg_bin("initdb") or "initdb",
        "-D",
        str(PGDATA),
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-locale",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, user=user, cwd="/")
    if res.returncode != 0:
        raise AirflowStackError(f"initdb failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")


def _pg_connect(dbname: str = "postgres") -> object:
    import psycopg2  # from the venv (the `live` extra)

    return psycopg2.connect(host=HOST, port=PG_PORT, user="postgres", dbname=dbname, connect_timeout=3)


def _pg_ready() -> bool:
    _pg_connect().close()
    return True


def _create_database() -> None:
    conn = _pg_connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{DB_NAME}"')
            log(f"created database {DB_NAME}")
    conn.close()


def start_postgres(timeout: float = 60) -> float:
    """Start PostgreSQL on 127.0.0.1:PG_PORT (initdb on first use) and create the metadata DB."""
    install_postgres()
    _initdb()
    if pid_of("postgres") is None:
        _check_port("postgres", PG_PORT)
        cmd = [
            _pg_bin("postgres") or "postgres", "-D", str(PGDATA), "-h", HOST, "-p", str(PG_PORT),
            "-k", str(PGDATA), "-c", "shared_buffers=32MB", "-c", "max_connections=200",
            "-c", "fsync=off", "-c", "synchronous_commit=off",  # a throw-away local metadata DB
        ]  # fmt: skip
        log(f"started postgres (pid {_spawn('postgres', cmd, user=_pg_user())})")
    took = _wait(_pg_ready, timeout, "postgres to accept connections", "postgres")
    _create_database()
    return took


def _check_port(component: str, port: int) -> None:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex((HOST, port)) == 0:
            raise AirflowStackError(
                f"cannot start {component}: {HOST}:{port} already in use by another process"
            )


# --------------------------------------------------------------------------- Airflow


def api(path: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> dict:
    """One JSON call to the API server (a token from token() for /api/v2)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{API_URL}{path}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


def token() -> str:
    """An admin JWT from the simple auth manager (all users are admins on this local deployment)."""
    return api("/auth/token")["access_token"]


def health() -> dict[str, str]:
    """Component -> "healthy"/"unhealthy", from the API server's /api/v2/monitor/health."""
    report = api("/api/v2/monitor/health")
    return {name: (report.get(key) or {}).get("status", "unknown") for name, key in HEALTH_KEYS.items()}


def healthy() -> bool:
    """Every process of `up` is running and the API server reports them all healthy."""
    try:
        return all(pid_of(c) for c in COMPONENTS) and set(health().values()) == {"healthy"}
    except (urllib.error.URLError, OSError, ValueError):
        return False


def migrate() -> None:
    """`airflow db migrate` against PostgreSQL (creates or upgrades the metadata schema)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "db-migrate.log", "ab") as out:
        res = subprocess.run(
            [str(AIRFLOW_BIN), "db", "migrate"], stdout=out, stderr=subprocess.STDOUT, env=env()
        )
    if res.returncode != 0:
        raise AirflowStackError(f"airflow db migrate failed\n{tail('db-migrate')}")


def start_airflow(timeout: float = 180) -> dict[str, float]:
    """Start the four Airflow processes and wait until each is healthy; returns seconds to healthy per process."""
    t0 = time.monotonic()
    for component in AIRFLOW_COMPONENTS:
        if pid_of(component) is None:
            if component == "api-server":
                _check_port(component, API_PORT)
                cmd = [
                    str(AIRFLOW_BIN),
                    "api-server",
                    "--host",
                    HOST,
                    "--port",
                    str(API_PORT),
                    "--workers",
                    "1",
                ]
            else:
                cmd = [str(AIRFLOW_BIN), component]
            log(f"started {component} (pid {_spawn(component, cmd)})")
    took = {"api-server": _wait(lambda: bool(health()), timeout, "the API server", "api-server")}
    for component in HEALTH_KEYS:
        _wait(lambda c=component: health()[c] == "healthy", timeout, f"{component} to be healthy", component)
        took[component] = time.monotonic() - t0
    return took


def up() -> dict:
    """PostgreSQL, the schema, then the four Airflow processes; records start-up seconds and memory in run/up.json."""
    for p in (HOME, LOGS, RUN, SCREENSHOTS):
        p.mkdir(parents=True, exist_ok=True)
    write_env_file()
    if healthy():
        log(f"Airflow already running and healthy: UI {API_URL}")  # keep run/up.json of the real start
        return json.loads((RUN / "up.json").read_text())
    t0 = time.monotonic()
    timings = {"postgres": start_postgres()}
    t_migrate = time.monotonic()
    migrate()
    timings["db-migrate"] = time.monotonic() - t_migrate
    timings.update(start_airflow())
    record = {
        "startup_s": {k: round(v, 1) for k, v in timings.items()},
        "total_s": round(time.monotonic() - t0, 1),
        "pss_mb": {c: round(memory_mb(c), 1) for c in COMPONENTS},
    }
    (RUN / "up.json").write_text(json.dumps(record, indent=2))
    log(f"Airflow ready in {record['total_s']}s: UI {API_URL} (simple auth manager, all users admin), "
        f"postgres {HOST}:{PG_PORT}, logs {LOGS}")  # fmt: skip
    log(f"start-up seconds {record['startup_s']}; memory (PSS) MiB {record['pss_mb']}")
    return record


def down() -> None:
    """Stop every process `up` started, the API server and PostgreSQL last."""
    for component in ("scheduler", "triggerer", "dag-processor", "api-server", "postgres"):
        _stop(component)


def status() -> dict[str, tuple[int | None, float]]:
    return {c: (pid_of(c), memory_mb(c)) for c in COMPONENTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start PostgreSQL and Airflow and wait until healthy")
    sub.add_parser("down", help="stop what 'up' started")
    sub.add_parser("status", help="pid and memory (PSS) of each process")
    sub.add_parser("env", help="print the environment file that points an `airflow` CLI here")
    logs = sub.add_parser("logs", help="the tail of one process's log")
    logs.add_argument("component", choices=(*COMPONENTS, "db-migrate"))
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            up()
        elif args.cmd == "down":
            down()
        elif args.cmd == "status":
            for c, (pid, mem) in status().items():
                print(f"{c:14} {f'running, pid {pid}, PSS {mem:.0f} MiB' if pid else 'stopped'}")
        elif args.cmd == "env":
            print(write_env_file())
        elif args.cmd == "logs":
            print(tail(args.component, 200))
    except (AirflowStackError, urllib.error.URLError, OSError) as exc:
        print(f"[airflow] ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
