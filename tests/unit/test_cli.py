"""Every ``airflow-flume`` command through ``cli.main([...])``: stdout, stderr and exit codes (no stack needed)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest
from kafka_fakes import FakeConsumer
from test_hdfs_client import FakeWebHdfs
from test_hdfs_formats import bytes_writable, long_writable, write_seq

import airflow_flume_provider.kafka_config as kafka_config
from airflow_flume_provider import cli
from airflow_flume_provider.envelope import FLUME_EVENT_SCHEMA, encode_event

DATA = Path(__file__).parent / "data"
MS = 1564703999000  # 2019-08-01T23:59:59Z


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, command: str) -> None:
    assert err.startswith(f"airflow-flume {command}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


# -- render-path --------------------------------------------------------------------------------------------------
def test_render_path_from_template_time_and_headers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render-path", "/flume/%{topic}/%Y-%m-%d/%H", "--time", "2019-08-01T23:59:59Z",
                       "-H", "topic=events")  # fmt: skip
    assert (code, out) == (0, "/flume/events/2019-08-01/23\n")
    code, out, _ = run(capsys, "render-path", "hdfs://nn:8020/f/%H%M", "--time", str(MS), "--round", "30 minute",
                       "--tz", "Asia/Kolkata")  # fmt: skip
    assert (code, out) == (0, "/f/0500\n")  # 05:29:59 IST, rounded down to 30 minutes


def test_render_path_from_a_flume_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render-path", "--flume-conf", str(DATA / "flume_clean.conf"), "--agent", "a1",
                       "--sink", "k1", "--time", "2019-08-01T23:59:59Z", "-H", "topic=t")  # fmt: skip
    assert (code, out) == (0, "/flume/t/2019-08-01\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/f/%Y", "--time", "yesterday"], "--time: "),
        (["/f/%Y", "--time", str(MS), "-H", "novalue"], "-H 'novalue': expected key=value"),
        (["/f/%Y", "--time", str(MS), "--round", "thirty"], "--round 'thirty'"),
        (["--time", str(MS)], "give a TEMPLATE or --flume-conf"),
        (["/f/%{h}", "--time", str(MS), "-H", "h=../x", "--strict"], ".."),
    ],
)
def test_render_path_user_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "render-path", *argv)
    assert code == 2 and out == ""
    one_line_error(err, "render-path")
    assert message in err


# -- lint-flume-conf ----------------------------------------------------------------------------------------------
def test_lint_clean_config_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lint-flume-conf", str(DATA / "flume_clean.conf"))
    assert code == 0
    assert out.splitlines() == [
        "a1.sinks.k1 (hdfs://nn1:8020/flume/%{topic}/%Y-%m-%d): ok",
        "a1.sinks.k2 (/flume/tz/%Y-%m-%d/%H%M): ok",
    ]


def test_lint_findings_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "lint-flume-conf", str(DATA / "flume_bad.conf"), "--agent", "bad", "--sink", "k1"
    )
    assert code == 1
    assert out.startswith("bad.sinks.k1 (/flume/bad/%Y-%m-%d): ")
    assert "[error] use-local-timestamp bad.sinks.k1.hdfs.useLocalTimeStamp" in out
    assert "fix: set bad.sinks.k1.hdfs.useLocalTimeStamp = false" in out


def test_lint_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "lint-flume-conf", str(tmp_path / "none.conf"))
    assert code == 2 and "none.conf: no such file" in err
    conf = tmp_path / "x.conf"
    conf.write_text("a.sinks = k\na.sinks.k.type = logger\na.sinks.k.channel = c\n")
    code, _, err = run(capsys, "lint-flume-conf", str(conf))
    assert code == 2 and "no HDFS sink found" in err
    code, _, err = run(capsys, "lint-flume-conf", str(conf), "--agent", "a", "--sink", "k")
    assert code == 2 and "sink a.k is not an HDFS sink" in err
    one_line_error(err, "lint-flume-conf")


# -- inspect FILE -------------------------------------------------------------------------------------------------
def test_inspect_text_file_has_no_headers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "FlumeData.1"
    f.write_bytes(b'{"id":1}\n{"id":2}\n{"id":3}\n')
    code, out, _ = run(capsys, "inspect", str(f), "-n", "2")
    assert code == 0
    assert f"--- {f}:1\n" in out and '  body: {"id":2}' in out and '{"id":3}' not in out
    assert "not stored in this file format" in out and out.endswith("--- 2 event(s)\n")


def test_inspect_envelopes_flags_a_poison_timestamp(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "envelopes.bin"
    f.write_bytes(
        encode_event({"timestamp": str(MS), "eventId": "a1"}, b"good")
        + encode_event({"timestamp": "1_000"}, b"poison")  # Python's int() takes it, Java's Long.valueOf not
    )
    code, out, _ = run(capsys, "inspect", str(f), "--template", "/flume/events/%Y-%m-%d")
    assert code == 1
    assert "  eventId: a1\n  timestamp: 1564703999000\n  event time: 2019-08-01T23:59:59.000Z" in out
    assert "  partition: /flume/events/2019-08-01\n  body: good" in out
    assert "INVALID timestamp header '1_000'" in out
    assert out.endswith("--- 2 event(s), 1 with an invalid timestamp header\n")


def test_inspect_avro_event_and_sequence_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    avro = tmp_path / "FlumeData.2.avro"
    with open(avro, "wb") as fh:
        fastavro.writer(fh, FLUME_EVENT_SCHEMA, [{"headers": {"timestamp": str(MS)}, "body": b"from-avro"}])
    seq = tmp_path / "FlumeData.3"
    seq.write_bytes(write_seq([(long_writable(MS), bytes_writable(b"from-seq"))]))
    for path, body in ((avro, "from-avro"), (seq, "from-seq")):
        code, out, _ = run(capsys, "inspect", str(path))
        assert code == 0, out
        assert f"--- {path}:record 1\n  timestamp: {MS}\n  event time: 2019-08-01T23:59:59.000Z" in out
        assert f"  body: {body}\n" in out


def test_inspect_raw_and_width(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "t.txt"
    f.write_bytes(b"x" * 50 + b"\n")
    code, out, _ = run(capsys, "inspect", str(f), "--width", "10")
    assert code == 0 and "  body: xxxxxxxxxx ... (50 bytes)" in out


def test_inspect_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "inspect")
    assert code == 2 and "give FILE or --topic T" in err
    code, _, err = run(capsys, "inspect", str(tmp_path / "missing"))
    assert code == 2 and "missing: no such file" in err
    bad = tmp_path / "bad.seq"
    bad.write_bytes(b"SEQ\x06garbage")
    code, _, err = run(capsys, "inspect", str(bad))
    assert code == 2
    one_line_error(err, "inspect")


@pytest.fixture
def webhdfs(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWebHdfs]:
    fake = FakeWebHdfs()
    monkeypatch.setenv("AIRFLOW_CONN_FAKE_HDFS", json.dumps({"conn_type": "webhdfs", "host": "127.0.0.1",
                                                             "port": fake.port, "login": "root"}))  # fmt: skip
    yield fake
    fake.close()


def test_inspect_hdfs_file_through_the_webhdfs_connection(
    capsys: pytest.CaptureFixture[str], webhdfs: FakeWebHdfs
) -> None:
    webhdfs.put(
        "/flume/seq/2019-08-01/FlumeData.7", write_seq([(long_writable(MS), bytes_writable(b"in-hdfs"))])
    )
    code, out, _ = run(
        capsys, "inspect", "hdfs://nn:8020/flume/seq/2019-08-01/FlumeData.7", "--conn-id", "fake_hdfs"
    )
    assert code == 0, out
    assert "  body: in-hdfs" in out and f"timestamp: {MS}" in out
    assert "NN OPEN /flume/seq/2019-08-01/FlumeData.7" in webhdfs.calls
    code, _, err = run(capsys, "inspect", "hdfs://nn/flume/none", "--conn-id", "fake_hdfs")
    assert code == 2 and "hdfs://nn/flume/none: " in err and "does not exist" in err


# -- inspect --topic ----------------------------------------------------------------------------------------------
@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> list[FakeConsumer]:
    made: list[FakeConsumer] = []
    rows: dict[int, list[tuple[bytes | None, int]]] = {
        0: [(encode_event({"timestamp": str(MS), "eventId": "a1"}, b'{"id":"a1"}'), MS), (b"plain", MS + 5)],
        1: [(encode_event({"timestamp": "not-a-number"}, b"poison"), MS + 1)],
    }

    def make(config: dict[str, Any], *, name: str = "kafka") -> FakeConsumer:
        made.append(FakeConsumer("events", rows, config))
        return made[-1]

    monkeypatch.setattr(kafka_config, "make_consumer", make)
    return made


def test_inspect_topic_decodes_envelopes(
    capsys: pytest.CaptureFixture[str], topic: list[FakeConsumer]
) -> None:
    code, out, _ = run(capsys, "inspect", "--topic", "events", "--bootstrap", "b:9092", "--flume-conf",
                       str(DATA / "flume_clean.conf"), "--agent", "a1", "--sink", "k2")  # fmt: skip
    assert code == 1  # a plain value (no envelope, no timestamp) and an invalid timestamp header
    assert (
        "--- events:0:0\n  eventId: a1\n  timestamp: 1564703999000\n  event time: 2019-08-01T23:59:59.000Z"
        in out
    )
    assert "--- events:0:1\n  (not an AvroFlumeEvent): " in out
    assert "--- events:1:0\n  timestamp: not-a-number\n  event time: INVALID timestamp header" in out
    assert out.endswith("--- 3 event(s), 2 with an invalid timestamp header\n")
    assert topic[0].config["bootstrap.servers"] == "b:9092" and topic[0].closed


def test_inspect_topic_from_time_and_limit(
    capsys: pytest.CaptureFixture[str], topic: list[FakeConsumer]
) -> None:
    code, out, _ = run(capsys, "inspect", "--topic", "events", "--bootstrap", "b", "--from-time", str(MS + 1))
    assert (
        code == 1
        and "--- events:0:0\n" not in out
        and out.endswith("--- 2 event(s), 2 with an invalid timestamp header\n")
    )
    code, out, _ = run(capsys, "inspect", "--topic", "events", "--bootstrap", "b", "-n", "1")
    assert code == 0 and out.endswith("--- 1 event(s)\n")


def test_inspect_unknown_topic_is_exit_2(
    capsys: pytest.CaptureFixture[str], topic: list[FakeConsumer]
) -> None:
    code, _, err = run(capsys, "inspect", "--topic", "nope", "--bootstrap", "b")
    assert code == 2 and "--topic nope: Kafka topic 'nope' not found" in err
    one_line_error(err, "inspect")


# -- partition-status ---------------------------------------------------------------------------------------------
DAY = "/flume/events/2019-08-01"
COMMON = [
    "partition-status",
    "--template",
    "/flume/events/%Y-%m-%d",
    "--date",
    "2019-08-01",
    "--quiet-period",
    "0",
]


def test_partition_status_ready_not_ready_and_json(
    capsys: pytest.CaptureFixture[str], webhdfs: FakeWebHdfs
) -> None:
    url = webhdfs.url.replace("://", "://root@")
    webhdfs.put(f"{DAY}/FlumeData.1", b"a\nb\n", 1000)
    webhdfs.put("/flume/events/2019-08-02/FlumeData.2", b"c\n", 2000)  # Flume moved on: watermark passes
    code, out, _ = run(capsys, *COMMON, "--webhdfs", url, "--expected", "2")
    assert code == 0, out
    assert "  PASS count" in out and out.endswith("READY\n") and "NOT READY" not in out
    code, out, _ = run(capsys, *COMMON, "--webhdfs", url, "--expected", "3")
    assert code == 1 and "  FAIL count" in out and out.endswith("NOT READY\n")
    code, out, _ = run(capsys, *COMMON[:-4], "--date", "2018-01-01", "--conn-id", "fake_hdfs", "--json")
    report = json.loads(out)
    assert code == 1 and report["ready"] is False
    assert any(c["name"] == "exists" and not c["ok"] for c in report["checks"])


def test_partition_status_unreachable_namenode_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *COMMON, "--webhdfs", "http://127.0.0.1:9")
    assert code == 2, out  # broken, not "not ready yet": a shell `until` loop must not spin on it
    assert out.endswith("ERROR (WebHDFS failing)\n")
    one_line_error(err, "partition-status")
    assert "Connection refused" in err or "ConnectionError" in err


def test_partition_status_permission_error_and_bad_checks_are_exit_2(
    capsys: pytest.CaptureFixture[str], webhdfs: FakeWebHdfs
) -> None:
    webhdfs.fault = "permission"
    code, _, err = run(capsys, *COMMON, "--webhdfs", webhdfs.url)
    assert code == 2 and "Permission denied" in err
    one_line_error(err, "partition-status")
    code, _, err = run(capsys, *COMMON, "--webhdfs", webhdfs.url, "--checks", "exists,bogus")
    assert code == 2 and "--checks: unknown ['bogus']" in err


def test_bad_arguments_exit_2_through_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_broken_pipe_is_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def closed_pipe(args: Any) -> int:
        raise BrokenPipeError

    monkeypatch.setitem(cli.COMMANDS, "render-path", closed_pipe)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert cli.main(["render-path", "/f", "--time", "0"]) == 0


def test_inspect_topic_through_a_kafka_connection(
    capsys: pytest.CaptureFixture[str], topic: list[FakeConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"bootstrap.servers": "k1:9092", "acks": "all", "client.id": "ops"}
    monkeypatch.setenv("AIRFLOW_CONN_FAKE_KAFKA", json.dumps({"conn_type": "kafka", "extra": extra}))
    code, out, _ = run(capsys, "inspect", "--topic", "events", "--conn-id", "fake_kafka", "-n", "1")
    assert code == 0 and out.endswith("--- 1 event(s)\n")
    config = topic[0].config
    assert config["bootstrap.servers"] == "k1:9092" and config["client.id"] == "ops" and "acks" not in config
    code, _, err = run(capsys, "inspect", "--topic", "events", "--conn-id", "no_such_conn")
    assert code == 2 and "Kafka connection no_such_conn: " in err
    one_line_error(err, "inspect")


# -- partition-status --checks ...,consumed -------------------------------------------------------------------------
def test_partition_status_consumed_usage_errors(
    capsys: pytest.CaptureFixture[str], webhdfs: FakeWebHdfs, tmp_path: Path
) -> None:
    code, _, err = run(capsys, *COMMON, "--webhdfs", webhdfs.url, "--checks", "exists,consumed")
    assert code == 2 and "--checks consumed needs --flume-conf/--agent/--sink or --kafka-topic" in err
    code, _, err = run(
        capsys, *COMMON, "--webhdfs", webhdfs.url, "--checks", "consumed", "--kafka-topic", "t"
    )
    assert code == 2 and "--kafka-topic and --kafka-group go together" in err
    bad = tmp_path / "missing.json"
    code, _, err = run(
        capsys,
        *COMMON,
        "--checks",
        "consumed",
        "--kafka-topic",
        "t",
        "--kafka-group",
        "g",
        "--manifest",
        str(bad),
    )
    assert code == 2 and f"--manifest {bad}" in err


def test_partition_status_consumed_with_kafka_unreachable_is_exit_2(
    capsys: pytest.CaptureFixture[str], webhdfs: FakeWebHdfs, tmp_path: Path
) -> None:
    webhdfs.put(f"{DAY}/FlumeData.1", b"a\n", 1000)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"kafka_offsets": {"flume-events": {"0": 3}}}))
    argv = [*COMMON, "--webhdfs", webhdfs.url, "--checks", "exists,consumed", "--kafka-topic", "flume-events"]
    argv += ["--kafka-group", "flume-events", "--kafka-bootstrap", "127.0.0.1:9", "--manifest", str(manifest)]
    code, out, err = run(capsys, *argv)
    assert code == 2, out  # Kafka down is broken, like an unreachable NameNode
    assert "  FAIL consumed" in out and "offsets unreadable (unreachable)" in out
    # KafkaSource (the default topology without a Flume config): no_in_use and quiet were added, and said so
    assert "  PASS no_in_use" in out and "  PASS quiet" in out
    assert "note: check 'consumed' on group(s) 'flume-events'" in err
    assert err.splitlines()[-1].startswith(
        "airflow-flume partition-status: error: flume group 'flume-events'"
    )
