"""``airflow-flume replay`` through ``cli.main`` with an in-process fake broker; its progress in a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kafka_fakes import FakeConsumer
from test_hook import FakeProducer
from test_replay import DAY, T0, Broker  # T0 = 2003-01-01T00:00:00Z

from airflow_flume_provider import cli, cli_replay, kafka_config, topic_checks
from airflow_flume_provider.cli_progress import eta_text, progress_line
from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.envelope import decode_event
from airflow_flume_provider.replay import ReplayProgress

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SECRET = "s3cr3t-pw"
WINDOW = ["--start", "2003-01-01", "--end", "2003-01-03"]


def install(monkeypatch: Any, factory: Any) -> None:
    """Publish through producers of ``factory`` with a config holding a secret; no retention lookup."""

    def publisher(args: Any) -> Any:
        base = {"bootstrap.servers": "fake:9092", "sasl.password": SECRET}
        return cli_replay.config_publisher(
            base, name="fake_kafka", producer_factory=factory, offsets_reader=lambda t: {t: {"0": 7}}
        )

    monkeypatch.setattr(cli_replay, "kafka_publisher", publisher)
    monkeypatch.setattr(topic_checks, "retention_warning", lambda *a, **k: None)


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Broker:
    b = Broker()
    install(monkeypatch, b.factory)
    return b


def write_events(path: Path, n_per_day: int = 5, extra: list[bytes] | None = None) -> list[int]:
    """Events on 2003-01-01 and -02 (incl. 23:59:59.999), one on -03 (outside the window)."""
    times = [T0 + d * DAY + i * 1000 for d in range(2) for i in range(n_per_day)] + [T0 + DAY - 1]
    rows = [json.dumps({"id": f"e{i}", "ts": t}).encode() for i, t in enumerate(times)]
    rows.append(json.dumps({"id": "late", "ts": T0 + 2 * DAY}).encode())
    path.write_bytes(b"\n".join(rows + (extra or [])) + b"\n")
    return times


def run(tmp_path: Path, *args: str) -> int:
    return cli.main(
        ["replay", *args, "--topic", "flume", "--time-field", "ts", "--template", "/flume/events/%Y-%m-%d"]
    )


def test_replay_acknowledged_manifest_table_and_json(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "ev.jsonl"
    times = write_events(src)
    out_json = tmp_path / "m.json"
    rc = run(tmp_path, str(src), *WINDOW, "--manifest", str(out_json), "--event-id-field", "id", "-H", "a=b")
    out, err = capsys.readouterr()
    assert rc == 0, err
    manifest = json.loads(out_json.read_text())
    assert (
        manifest["partitions"]
        == dict(broker.days())
        == {
            "/flume/events/2003-01-01": 6,
            "/flume/events/2003-01-02": 5,
        }
    )
    assert manifest["totals"]["acknowledged"] == len(times) and manifest["totals"]["out_of_window"] == 1
    assert manifest["kafka_offsets"] == {"flume": {"0": 7}} and manifest["checkpoint"] is None
    headers = decode_event(broker.log[0].value()).headers
    assert headers == {"timestamp": str(times[0]), "eventId": "e0", "a": "b"}
    assert "/flume/events/2003-01-01             6           0                 6" in out
    assert "12 read, 11 acknowledged, 0 dead-lettered" in out and f"manifest: {out_json}" in out


def test_dead_lettered_records_exit_1(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "ev.jsonl"
    write_events(src, extra=[b"{not json", b'{"id": "x", "ts": "yesterday"}'])
    dead = tmp_path / "dead.jsonl"
    rc = run(
        tmp_path,
        str(src),
        *WINDOW,
        "--on-bad-input",
        "skip",
        "--on-invalid",
        "skip",
        "--dead-letter",
        str(dead),
    )
    out, err = capsys.readouterr()
    assert rc == 1
    entries = DeadLetterWriter.read(dead)
    assert [e["position"] for e in entries] == [f"{src}:13", f"{src}:14"]
    assert "2 dead-lettered (1 bad input, 1 invalid time)" in out and f"dead-lettered records: {dead}" in err


@pytest.mark.parametrize(
    ("extra_args", "needle"),
    [
        (["--on-bad-input", "skip"], "--on-invalid/--on-bad-input skip need --dead-letter F"),
        (["--start", "2003-01-03", "--end", "2003-01-01"], "is not before --end"),
        (["--start", "yesterday"], "--start:"),
        (["--rate-limit", "0"], "--rate-limit must be > 0"),
        (["--flume-conf", "/nonexistent.conf"], "--flume-conf /nonexistent.conf: no such file"),
    ],
)
def test_usage_errors_exit_2_one_line(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str], extra_args: list[str], needle: str
) -> None:
    src = tmp_path / "ev.jsonl"
    write_events(src)
    assert run(tmp_path, str(src), *extra_args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and err.count("\n") == 1
    assert broker.log == []


def test_bad_input_names_file_line_and_missing_file(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "ev.jsonl"
    write_events(src, extra=[b"{not json"])
    assert run(tmp_path, str(src), *WINDOW) == 2
    assert f"{src}:13" in capsys.readouterr().err
    assert run(tmp_path, str(tmp_path / "missing.jsonl"), *WINDOW) == 2
    err = capsys.readouterr().err
    assert "missing.jsonl" in err and "Traceback" not in err


def test_kafka_source_needs_a_window(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "kafka://raw") == 2
    assert "kafka:// SOURCE needs --start and --end" in capsys.readouterr().err


def test_kafka_topic_source_by_record_time(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[FakeConsumer] = []
    rows: dict[int, list[tuple[bytes | None, int]]] = {
        0: [(b'{"id": "a"}', T0 - 1), (b'{"id": "b"}', T0 + DAY - 1), (b'{"id": "c"}', T0 + DAY)],
        1: [(b'{"id": "d"}', T0 + 5), (b'{"id": "e"}', T0 + 2 * DAY)],
    }

    def make(config: dict[str, Any], *, name: str = "kafka") -> FakeConsumer:
        made.append(FakeConsumer("raw", rows, config))
        return made[-1]

    monkeypatch.setattr(kafka_config, "make_consumer", make)
    args = ["replay", "kafka://raw", "--topic", "flume", "--time-field", "kafka", *WINDOW, "--kafka-bootstrap",
            "src:9092", "--template", "/flume/events/%Y-%m-%d", "--manifest", str(tmp_path / "m.json")]  # fmt: skip
    assert cli.main(args) == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert (
        manifest["partitions"]
        == dict(broker.days())
        == {"/flume/events/2003-01-01": 2, "/flume/events/2003-01-02": 1}
    )
    assert (
        made and made[0].config["bootstrap.servers"] == "src:9092"
    )  # the source reads through the same flags


def test_unreachable_kafka_exit_2_without_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    install(monkeypatch, lambda config: FakeProducer(config, topics=("flume",), unreachable=True))
    src = tmp_path / "ev.jsonl"
    write_events(src)
    assert run(tmp_path, str(src), *WINDOW) == 2
    out, err = capsys.readouterr()
    assert "Kafka unreachable at 'fake:9092'" in err and "nothing was sent" in err
    assert SECRET not in out + err
    assert "resent by a retry" not in err + caplog.text  # no --resume: it would name a deleted checkpoint


def test_partial_publish_exit_2_then_resume_counts_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = Broker(fail_after=1500)
    install(monkeypatch, broker.factory)
    src = tmp_path / "ev.jsonl"
    times = write_events(src, n_per_day=1500)
    args = [str(src), *WINDOW, "--resume", str(tmp_path / "cp"), "--checkpoint-every", "1000"]
    assert run(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert "run the same command again to resume from" in err and "cp/airflow-flume-replay/flume/cli" in err
    first = len(broker.log)
    assert run(tmp_path, *args, "--manifest", str(tmp_path / "m.json")) == 0
    manifest = json.loads((tmp_path / "m.json").read_text())
    dups = sum(manifest["duplicates"].values())
    assert manifest["attempts"] == 2 and manifest["totals"]["acknowledged"] == len(times)
    assert dups == 500 and len(broker.log) == len(times) + dups and first == 1500
    assert Counter(broker.days()) == Counter(manifest["partitions"]) + Counter(manifest["duplicates"])
    assert run(tmp_path, *args) == 0  # completed: the stored manifest, nothing sent again
    assert len(broker.log) == len(times) + dups


def test_several_sources_merged_manifest_and_dead_letter_per_source(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_events(a)
    write_events(b, extra=[b"\xff\xfe"])
    dead = tmp_path / "dead.jsonl"
    args = [str(a), str(b), *WINDOW, "--on-bad-input", "skip", "--dead-letter", str(dead)]
    assert run(tmp_path, *args, "--manifest", str(tmp_path / "m.json")) == 1
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["parts"] == 2 and manifest["totals"]["acknowledged"] == 22 == len(broker.log)
    assert manifest["partitions"] == {"/flume/events/2003-01-01": 12, "/flume/events/2003-01-02": 10}
    assert (
        not (tmp_path / "dead.map0.jsonl").exists()
        and len(DeadLetterWriter.read(tmp_path / "dead.map1.jsonl")) == 1
    )
    capsys.readouterr()
    assert run(tmp_path, *args) == 2  # a new replay would truncate the dead letters of the last one
    assert "dead.map1.jsonl: exists and is not empty" in capsys.readouterr().err


def test_dry_run_needs_no_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_connection(*args: Any) -> Any:
        raise AssertionError("a dry run must not read a Kafka connection")

    monkeypatch.setattr(cli, "_kafka_base_config", no_connection)
    src = tmp_path / "ev.jsonl"
    write_events(src)
    assert run(tmp_path, str(src), *WINDOW, "--dry-run", "--manifest", str(tmp_path / "m.json")) == 0
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["dry_run"] and manifest["totals"]["acknowledged"] == 0
    assert manifest["partitions"] == {"/flume/events/2003-01-01": 6, "/flume/events/2003-01-02": 5}
    assert "would send" in capsys.readouterr().out


def test_kafka_bootstrap_flag_gives_the_publish_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_config_publisher(base: Any, **kw: Any) -> str:
        seen.update(base=base, **kw)
        return "publish"

    monkeypatch.setattr(cli_replay, "config_publisher", fake_config_publisher)
    args = cli.build_parser().parse_args(
        ["replay", "x.jsonl", "--topic", "t", "--bootstrap", "b:1", "--delivery-timeout", "9"]
    )
    assert cli_replay.kafka_publisher(args) == "publish"
    assert seen == {
        "base": {"bootstrap.servers": "b:1"},
        "name": "--kafka-bootstrap",
        "delivery_timeout_s": 9.0,
    }


def test_policy_choices_are_the_engines_and_the_cli_loads_no_reader() -> None:
    from airflow_flume_provider.event_time import ON_INVALID_POLICIES
    from airflow_flume_provider.sources import BAD_INPUT_POLICIES

    assert (cli_replay.ON_INVALID, cli_replay.ON_BAD_INPUT) == (ON_INVALID_POLICIES, BAD_INPUT_POLICIES)
    code = "import sys, airflow_flume_provider.cli; print(sorted(m for m in sys.modules if 'fastavro' in m or m.endswith('.replay')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"  # every airflow-flume command starts without the replay engine


# --------------------------------------------------------------------------- progress


def snapshot(fraction: float | None, elapsed: float = 10.0) -> ReplayProgress:
    return ReplayProgress(
        read=2000, produced=1990, acknowledged=1900, dead_lettered=3, out_of_window=7,
        fraction_done=fraction, elapsed_s=elapsed,
    )  # fmt: skip


def test_progress_line_and_eta() -> None:
    assert eta_text(snapshot(0.25)) == "0:00:30" and eta_text(snapshot(None)) == "?"
    assert eta_text(snapshot(0.0)) == "?" and eta_text(snapshot(0.5, 7200)) == "2:00:00"
    assert progress_line("x", snapshot(0.25)) == (
        "replay x: 25.0% of input, 2,000 read, 1,900 acknowledged, 3 dead-lettered, 7 out of window, "
        "199 events/s, ETA 0:00:30"
    )


def child_main(argv: list[str]) -> int:
    """Entry point of the child processes below: ``cli.main`` publishing to an in-process fake broker."""
    monkeypatch = pytest.MonkeyPatch()
    install(monkeypatch, Broker().factory)
    return cli.main(argv)


def child_argv(tmp_path: Path, *extra: str) -> list[str]:
    src = tmp_path / "big.jsonl"
    rows = (json.dumps({"id": f"e{i:07d}", "ts": T0 + i, "pad": "x" * 200}) for i in range(40_000))
    src.write_text("\n".join(rows) + "\n")  # ~9 MB: the % of input bytes moves in steps of the read buffer
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_cli_replay as t; sys.exit(t.child_main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "replay", str(src), "--topic", "flume", "--time-field", "ts",
            "--template", "/flume/events/%Y-%m-%d", "--rate-limit", "20000", *extra]  # fmt: skip


def test_progress_bar_in_a_pseudo_terminal(tmp_path: Path) -> None:
    argv = child_argv(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout and stderr are the terminal
        os.chdir(ROOT)
        os.environ.update(TERM="xterm-256color", COLUMNS="180")
        os.execv(argv[0], argv)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    frames = [f for f in text.split("\r") if "events/s" in f and "ETA" in f]
    assert len(frames) >= 4, text[-2000:]  # the bar was redrawn while running (~2 s at 20,000 events/s)
    assert "\x1b[" in text and "━" in text  # ANSI styles and rich's bar
    for field in ("acknowledged", "dead-lettered", "%"):
        assert field in frames[-1]
    assert "40,000 acknowledged" in frames[-1] and "100.0%" in frames[-1]
    assert any("0:00:0" in f.split("ETA", 1)[1] and "100.0%" not in f for f in frames)  # an ETA while running
    assert "40,000 read, 40,000 acknowledged" in text  # the manifest table after the bar


def test_not_a_tty_plain_lines_without_control_characters(tmp_path: Path) -> None:
    # the console script's module itself, as a dry run (no broker needed, and no Airflow import: fast)
    argv = child_argv(tmp_path, "--progress-interval", "0.3", "--dry-run")
    argv[1:3] = ["-m", "airflow_flume_provider.cli"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    progress = [line for line in proc.stderr.splitlines() if "events/s, ETA" in line]
    assert len(progress) >= 3, proc.stderr  # ~2 s at 20,000 events/s, a line every 0.3 s
    assert "% of input, " in progress[0] and "acknowledged, 0 dead-lettered, 0 out of window" in progress[-1]
    assert all(ch == "\n" or ch.isprintable() for ch in proc.stderr + proc.stdout)  # no ESC, no \r
    assert "40,000 read, 0 acknowledged" in proc.stdout and "(dry run)" in proc.stdout
