"""Unit tests of stale in-use file detection and repair (stale_files), against an in-process fake WebHDFS."""

from __future__ import annotations

import logging

import pytest

from airflow_flume_provider.hdfs_types import (
    FileStatus,
    HdfsNotFound,
    HdfsPermissionError,
    HdfsTransientError,
)
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.stale_files import (
    RecoveryWait,
    finalize_stale,
    finished_name,
    recover_lease,
    repair_commands,
    stale_in_use,
)

NOW = 1_700_000_000_000
STACK = FileNaming(in_use_prefix="_")  # stack/conf/flume.conf: hdfs.inUsePrefix = _
LOG = logging.getLogger("test.stale")


def fs(name: str, age_s: float, *, length: int = 10, type_: str = "FILE") -> FileStatus:
    return FileStatus(name=name, type=type_, length=length, modification_time=NOW - int(age_s * 1000))


class FakeHdfs:
    """Files with a lease state; APPEND answers as HDFS 3.4.1's NameNode does (see stale_files docstring)."""

    def __init__(self, files: dict[str, bytes], answers: dict[str, list[str]] | None = None) -> None:
        self.files = dict(files)
        self.answers = answers or {}  # path -> APPEND outcomes before it succeeds: "held" / "recovering"
        self.calls: list[tuple[str, str]] = []

    def append(self, path: str, data: bytes) -> None:
        self.calls.append(("APPEND", path))
        if path not in self.files:
            raise HdfsNotFound(
                f"WebHDFS APPEND {path}: HTTP 404 FileNotFoundException", path=path, status=404
            )
        queue = self.answers.get(path, [])
        if queue:
            kind = queue.pop(0)
            exc = {"held": "AlreadyBeingCreatedException", "recovering": "RecoveryInProgressException"}[kind]
            raise HdfsTransientError(
                f"WebHDFS APPEND {path}: HTTP 403 {exc}: Failed to APPEND_FILE", path=path
            )
        self.files[path] += data

    def status(self, path: str) -> FileStatus:
        self.calls.append(("GETFILESTATUS", path))
        if path not in self.files:
            raise HdfsNotFound(f"WebHDFS GETFILESTATUS {path}: HTTP 404", path=path, status=404)
        return FileStatus(path.rsplit("/", 1)[-1], "FILE", len(self.files[path]), NOW)

    def rename(self, src: str, dst: str, *, overwrite: bool = False) -> bool:
        self.calls.append(("RENAME", src))
        assert not overwrite
        if dst in self.files or src not in self.files:
            return False
        self.files[dst] = self.files.pop(src)
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def wait(self, seconds: float, poll_s: float = 2.0) -> RecoveryWait:
        return RecoveryWait(seconds, poll_s, sleep=self.sleep, clock=self)


# ---------------------------------------------------------------------------------------------- detection


def test_stale_in_use_keeps_only_old_in_use_files() -> None:
    statuses = [
        fs("_FlumeData.1.tmp", 7300),  # stale
        fs("_FlumeData.2.tmp", 30),  # being written
        fs("FlumeData.0", 9000),  # finished
        fs("_SUCCESS", 9000),
        fs("_FlumeData.3.tmp", 9000, type_="DIRECTORY"),
        fs("_FlumeData.4.tmp", 7200.001),  # just over the threshold
        fs("_FlumeData.5.tmp", 7200),  # exactly at it: not stale yet
    ]
    got = stale_in_use(statuses, STACK, now_ms=NOW, stale_after_s=7200)
    assert [s.name for s in got] == ["_FlumeData.1.tmp", "_FlumeData.4.tmp"]


def test_stale_in_use_follows_the_naming() -> None:
    statuses = [fs("FlumeData.1.tmp", 100), fs("_FlumeData.2.tmp", 100), fs(".ev.3.gz.inprogress", 100)]
    # Flume's defaults: no inUsePrefix, so "_FlumeData.2.tmp" does not start with filePrefix: not Flume's
    assert [s.name for s in stale_in_use(statuses, FileNaming(), now_ms=NOW, stale_after_s=10)] == [
        "FlumeData.1.tmp"
    ]
    custom = FileNaming(file_prefix="ev", in_use_prefix=".", in_use_suffix=".inprogress")
    assert [s.name for s in stale_in_use(statuses, custom, now_ms=NOW, stale_after_s=10)] == [
        ".ev.3.gz.inprogress"
    ]


def test_stale_in_use_rejects_a_negative_threshold() -> None:
    with pytest.raises(ValueError, match="stale_after_s"):
        stale_in_use([], STACK, now_ms=NOW, stale_after_s=-1)


# ---------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("naming", "in_use", "finished"),
    [
        (FileNaming(), "FlumeData.1480000000000.tmp", "FlumeData.1480000000000"),
        (STACK, "_FlumeData.1480000000000.tmp", "FlumeData.1480000000000"),
        # BucketWriter: fileSuffix, else the codec's extension, is part of fullFileName, before inUseSuffix
        (FileNaming(file_suffix=".avro"), "FlumeData.7.avro.tmp", "FlumeData.7.avro"),
        (FileNaming(in_use_prefix=".", codec="gzip"), ".FlumeData.7.gz.tmp", "FlumeData.7.gz"),
        (FileNaming(file_prefix="ev", in_use_suffix=""), "ev.7", None),  # no in-use marker: never in use
        (FileNaming(file_prefix="ev", in_use_prefix="_", in_use_suffix=""), "_ev.7", "ev.7"),
    ],
)
def test_finished_name_strips_the_in_use_prefix_and_suffix(
    naming: FileNaming, in_use: str, finished: str | None
) -> None:
    if finished is None:
        with pytest.raises(ValueError, match="not an in-use file name"):
            finished_name(in_use, naming)
    else:
        assert finished_name(in_use, naming) == finished


def test_finished_name_refuses_a_finished_name() -> None:
    with pytest.raises(ValueError, match=r"'FlumeData\.1' is not an in-use file name"):
        finished_name("FlumeData.1", STACK)


def test_repair_commands_are_recover_lease_then_mv_quoted() -> None:
    assert repair_commands("/flume/events/2016-01-01/_FlumeData.1.tmp", STACK) == [
        "hdfs debug recoverLease -path /flume/events/2016-01-01/_FlumeData.1.tmp -retries 5",
        "hdfs dfs -mv /flume/events/2016-01-01/_FlumeData.1.tmp /flume/events/2016-01-01/FlumeData.1",
    ]
    cmds = repair_commands("/a b/FlumeData.2.tmp", retries=3)
    assert cmds == [
        "hdfs debug recoverLease -path '/a b/FlumeData.2.tmp' -retries 3",
        "hdfs dfs -mv '/a b/FlumeData.2.tmp' '/a b/FlumeData.2'",
    ]


# ---------------------------------------------------------------------------------------------- recovery


def test_recover_lease_polls_until_the_append_succeeds() -> None:
    hdfs = FakeHdfs({"/d/_F.1.tmp": b"abc"}, {"/d/_F.1.tmp": ["held", "recovering", "recovering"]})
    clock = FakeClock()
    assert recover_lease(hdfs, "/d/_F.1.tmp", clock.wait(60, 5)) == (
        "closed",
        4,
    )
    assert clock.now == 15
    assert hdfs.files["/d/_F.1.tmp"] == b"abc"  # the APPEND added nothing


def test_recover_lease_without_wait_tries_once() -> None:
    hdfs = FakeHdfs({"/d/_F.1.tmp": b"abc"}, {"/d/_F.1.tmp": ["held", "held"]})
    clock = FakeClock()
    assert recover_lease(hdfs, "/d/_F.1.tmp", clock.wait(0)) == ("held", 1)
    assert clock.now == 0


def test_recover_lease_gives_up_after_wait() -> None:
    hdfs = FakeHdfs({"/d/_F.1.tmp": b"abc"}, {"/d/_F.1.tmp": ["recovering"] * 100})
    clock = FakeClock()
    assert recover_lease(hdfs, "/d/_F.1.tmp", clock.wait(10, 3)) == (
        "recovering",
        4,
    )
    assert clock.now == 9


def test_recover_lease_raises_other_errors() -> None:
    class Refusing(FakeHdfs):
        def append(self, path: str, data: bytes) -> None:
            raise HdfsPermissionError(f"WebHDFS APPEND {path}: HTTP 403 AccessControlException", path=path)

    with pytest.raises(HdfsPermissionError):
        recover_lease(Refusing({}), "/d/_F.1.tmp", FakeClock().wait(30))
    with pytest.raises(HdfsNotFound):
        recover_lease(FakeHdfs({}), "/d/_F.1.tmp", FakeClock().wait(30))


# ---------------------------------------------------------------------------------------------- finalize


def test_finalize_recovers_then_renames_and_logs_each_action(caplog: pytest.LogCaptureFixture) -> None:
    hdfs = FakeHdfs({"/d/_FlumeData.1.tmp": b"x" * 42}, {"/d/_FlumeData.1.tmp": ["recovering"]})
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger=LOG.name)
    actions = finalize_stale(hdfs, "/d/", [fs("_FlumeData.1.tmp", 9000)], STACK, log=LOG, wait=clock.wait(10))
    assert hdfs.files == {"/d/FlumeData.1": b"x" * 42}
    assert len(actions) == 1
    assert actions[0].startswith("renamed /d/_FlumeData.1.tmp -> /d/FlumeData.1 (42 bytes")
    assert "2 APPEND attempt(s)" in actions[0]
    assert [c[0] for c in hdfs.calls] == ["GETFILESTATUS", "APPEND", "APPEND", "GETFILESTATUS", "RENAME"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("lease of /d/_FlumeData.1.tmp recovered: file closed, 42 bytes" in m for m in messages)
    assert actions[0] in messages


def test_finalize_never_overwrites_a_finished_file(caplog: pytest.LogCaptureFixture) -> None:
    hdfs = FakeHdfs({"/d/_FlumeData.1.tmp": b"new", "/d/FlumeData.1": b"old"})
    actions = finalize_stale(hdfs, "/d", [fs("_FlumeData.1.tmp", 9000)], STACK, log=LOG)
    assert hdfs.files == {"/d/_FlumeData.1.tmp": b"new", "/d/FlumeData.1": b"old"}
    assert actions == [
        "skip /d/_FlumeData.1.tmp: /d/FlumeData.1 already exists; not overwritten (compare them, then remove one)"
    ]
    assert ("APPEND", "/d/_FlumeData.1.tmp") not in hdfs.calls


def test_finalize_leaves_a_held_file_alone_and_says_why() -> None:
    hdfs = FakeHdfs(
        {"/d/_FlumeData.1.tmp": b"a", "/d/_FlumeData.2.tmp": b"bb"},
        {"/d/_FlumeData.1.tmp": ["held"], "/d/_FlumeData.2.tmp": ["recovering"]},
    )
    statuses = [fs("_FlumeData.1.tmp", 9000), fs("_FlumeData.2.tmp", 9000)]
    actions = finalize_stale(hdfs, "/d", statuses, STACK, log=LOG)
    assert set(hdfs.files) == {"/d/_FlumeData.1.tmp", "/d/_FlumeData.2.tmp"}  # nothing renamed
    assert actions[0].startswith("wait /d/_FlumeData.1.tmp: not closed yet, its lease was renewed within")
    assert actions[1].startswith("wait /d/_FlumeData.2.tmp: not closed yet, the NameNode is still recovering")


def test_finalize_reports_a_refused_rename() -> None:
    class RefusingRename(FakeHdfs):
        def rename(self, src: str, dst: str, *, overwrite: bool = False) -> bool:
            return False

    hdfs = RefusingRename({"/d/_FlumeData.1.tmp": b"abc"})
    actions = finalize_stale(hdfs, "/d", [fs("_FlumeData.1.tmp", 9000)], STACK, log=LOG)
    assert actions == [
        "skip /d/_FlumeData.1.tmp: HDFS refused the rename to /d/FlumeData.1 (closed, 3 bytes)"
    ]
    assert "/d/_FlumeData.1.tmp" in hdfs.files


# ---------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        ([], "give a partition PATH, or --flume-conf FILE --agent A --sink K --date D"),
        (["flume/events/2016-01-01"], "'flume/events/2016-01-01': must be absolute"),
        (["/d", "--date", "2016-01-01"], "give a PATH or --flume-conf/--template with --date, not both"),
        (["/d", "--older-than", "-1"], "--older-than and --wait must be >= 0"),
        # refused connection: WebHDFS failing is "broken" (2), not "stale files found" (1)
        (["hdfs://nn:8020/d", "--webhdfs", "http://root@127.0.0.1:1"], "/d: WebHDFS GET"),
    ],
)
def test_repair_stale_usage_errors_exit_2(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_flume_provider.cli import main

    assert main(["repair-stale", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("airflow-flume repair-stale: error: ") and error in err, err
