"""WebHDFS client against an in-process fake NameNode/DataNode (``FakeWebHdfs``, reused by partition tests)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from airflow_flume_provider.webhdfs import (
    WebHdfsClient,
    WebHdfsNotFound,
    WebHdfsPermissionError,
    WebHdfsTransientError,
    client_from_connection,
    urls_from_connection,
)


class FakeWebHdfs:
    """An in-memory HDFS behind a WebHDFS-shaped HTTP server (NameNode + DataNode on one port).

    ``files`` maps absolute paths to ``[bytes, mtime_ms]``; directories are implied by file paths plus
    ``dirs``. ``fault`` makes the NameNode answer: ``"standby"``, ``"500"``, ``"permission"``.
    ``datanode_host`` is the host the NameNode puts in redirects (to check loopback pinning).
    """

    def __init__(self, page_size: int = 1000, datanode_host: str = "datanode.invalid") -> None:
        self.files: dict[str, list[Any]] = {}
        self.dirs: set[str] = set()
        self.fault: str | None = None
        self.page_size = page_size
        self.datanode_host = datanode_host
        self.calls: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- fs helpers --
    def put(self, path: str, data: bytes = b"", mtime_ms: int | None = None) -> None:
        self.files[path] = [data, int(time.time() * 1000) if mtime_ms is None else mtime_ms]

    def mkdir(self, path: str) -> None:
        self.dirs.add(path.rstrip("/"))

    def rename(self, src: str, dst: str) -> None:
        self.files[dst] = self.files.pop(src)

    def _is_dir(self, path: str) -> bool:
        p = path.rstrip("/") or "/"
        return p in self.dirs or any(f.startswith(p + "/") for f in self.files)

    def _children(self, path: str) -> list[dict[str, Any]]:
        p = path.rstrip("/")
        out = {}
        for f, (data, mtime) in self.files.items():
            if f.startswith(p + "/"):
                rest = f[len(p) + 1 :]
                if "/" in rest:
                    out[rest.split("/", 1)[0]] = {"type": "DIRECTORY", "length": 0, "modificationTime": 0}
                else:
                    out[rest] = {"type": "FILE", "length": len(data), "modificationTime": mtime}
        for d in self.dirs:
            if d.startswith(p + "/") and "/" not in d[len(p) + 1 :]:
                out.setdefault(d[len(p) + 1 :], {"type": "DIRECTORY", "length": 0, "modificationTime": 0})
        return [{"pathSuffix": k, **v} for k, v in sorted(out.items())]

    # -- http --
    def _json(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)

    def _remote(self, h: BaseHTTPRequestHandler, status: int, exc: str, msg: str) -> None:
        self._json(h, status, {"RemoteException": {"exception": exc, "message": msg}})

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        op = q.get("op", "")
        if url.path.startswith("/datanode"):
            path = unquote(url.path[len("/datanode") :])
            self.calls.append(f"DN {op} {path}")
            if method == "PUT":
                n = int(h.headers.get("Content-Length", 0))
                self.put(path, h.rfile.read(n))
                h.send_response(201)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            data = self.files[path][0]
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        path = unquote(url.path[len("/webhdfs/v1") :])
        self.calls.append(f"NN {op} {path}")
        if self.fault == "standby":
            return self._remote(h, 403, "StandbyException", "Operation category READ is not supported")
        if self.fault == "500":
            return self._remote(h, 500, "IOException", "boom")
        if self.fault == "eof":
            return self._remote(h, 403, "EOFException", "End of File Exception between local host and namenode")
        if self.fault == "permission":
            return self._remote(h, 403, "AccessControlException", f"Permission denied: user=x, path={path}")
        if op in ("LISTSTATUS", "LISTSTATUS_BATCH"):
            if not self._is_dir(path):
                return self._remote(h, 404, "FileNotFoundException", f"File {path} does not exist.")
            kids = self._children(path)
            if op == "LISTSTATUS":
                return self._json(h, 200, {"FileStatuses": {"FileStatus": kids}})
            after = q.get("startAfter")
            if after:
                kids = [k for k in kids if k["pathSuffix"] > after]
            page = kids[: self.page_size]
            return self._json(
                h,
                200,
                {
                    "DirectoryListing": {
                        "partialListing": {"FileStatuses": {"FileStatus": page}},
                        "remainingEntries": len(kids) - len(page),
                    }
                },
            )
        if op == "OPEN" and path not in self.files:
            return self._remote(h, 404, "FileNotFoundException", f"File {path} does not exist.")
        if op in ("OPEN", "CREATE"):
            h.send_response(307)
            h.send_header("Location", f"http://{self.datanode_host}:{self.port}/datanode{path}?op={op}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        return self._remote(h, 400, "IllegalArgumentException", f"bad op {op}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeWebHdfs]:
    f = FakeWebHdfs(page_size=3)
    yield f
    f.close()


def test_list_status_one_request(fake: FakeWebHdfs) -> None:
    for i in range(10):
        fake.put(f"/d/FlumeData.{i}", b"x" * i, 1000 + i)
    c = WebHdfsClient([fake.url], user="root")
    sts = c.list_status("/d")
    assert [s.name for s in sts] == sorted(f"FlumeData.{i}" for i in range(10))
    assert sts[3].length == 3 and sts[3].modification_time == 1003 and sts[3].is_file
    assert c.requests == 1


def test_list_status_batched_pages(fake: FakeWebHdfs) -> None:
    for i in range(10):
        fake.put(f"/d/f{i:02d}")
    c = WebHdfsClient([fake.url])
    assert [s.name for s in c.list_status("/d", batched=True)] == [f"f{i:02d}" for i in range(10)]
    assert c.requests == 4  # pages of 3


def test_missing_permission_transient(fake: FakeWebHdfs) -> None:
    c = WebHdfsClient([fake.url])
    with pytest.raises(WebHdfsNotFound):
        c.list_status("/nope")
    fake.mkdir("/d")
    fake.fault = "permission"
    with pytest.raises(WebHdfsPermissionError, match="Permission denied"):
        c.list_status("/d")
    fake.fault = "500"
    with pytest.raises(WebHdfsTransientError, match="HTTP 500"):
        c.list_status("/d")
    fake.fault = "standby"
    with pytest.raises(WebHdfsTransientError, match="StandbyException"):
        c.list_status("/d")
    # WebHDFS answers 403 for any IOException, e.g. while the NameNode restarts: transient, not permission.
    fake.fault = "eof"
    with pytest.raises(WebHdfsTransientError, match="EOFException"):
        c.list_status("/d")


def test_connection_refused_is_transient() -> None:
    c = WebHdfsClient(["http://127.0.0.1:9"], timeout=(0.5, 0.5))
    with pytest.raises(WebHdfsTransientError, match="ConnectionError"):
        c.list_status("/d")


def test_ha_failover_to_active(fake: FakeWebHdfs) -> None:
    standby = FakeWebHdfs()
    standby.fault = "standby"
    try:
        fake.mkdir("/d")
        c = WebHdfsClient(["http://127.0.0.1:9", standby.url, fake.url], timeout=(0.5, 0.5))
        assert c.list_status("/d") == []
        assert c.requests == 3
        c.list_status("/d")
        assert c.requests == 4  # the active NameNode is remembered
    finally:
        standby.close()


def test_open_follows_redirect_pinned_to_loopback(fake: FakeWebHdfs) -> None:
    fake.put("/d/FlumeData.1", b"hello\nworld\n")
    c = WebHdfsClient([fake.url], user="root")
    assert c.open("/d/FlumeData.1") == b"hello\nworld\n"
    assert c.requests == 2 and c.bytes_read == 12
    assert fake.calls[-1] == "DN OPEN /d/FlumeData.1"


def test_create_empty_marker(fake: FakeWebHdfs) -> None:
    fake.mkdir("/d")
    c = WebHdfsClient([fake.url], user="root")
    c.create("/d/_SUCCESS")
    assert fake.files["/d/_SUCCESS"][0] == b""


def test_from_connection_ha_and_ssl() -> None:
    assert urls_from_connection("nn1,nn2:50070", 9870, use_ssl=False) == [
        "http://nn1:9870",
        "http://nn2:50070",
    ]
    conn = SimpleNamespace(
        host="a,b",
        port=9871,
        login="etl",
        password=None,
        schema="",
        extra_dejson={"use_ssl": "true", "timeout": 3},
    )
    c = client_from_connection(conn)
    assert c.base_urls == ["https://a:9871", "https://b:9871"]
    assert c.user == "etl" and c.timeout == (3.0, 3.0)
    with pytest.raises(ValueError, match="no host"):
        urls_from_connection("", 1, use_ssl=False)
