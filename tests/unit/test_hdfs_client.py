"""HdfsClient against an in-process fake NameNode/DataNode (``FakeWebHdfs``, reused by partition tests), and the
``webhdfs`` connection read as WebHDFSHook reads it (the cases of the hdfs provider's own test_webhdfs.py)."""

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

from airflow_flume_provider.hdfs_client import (
    HdfsClient,
    HdfsNotFound,
    HdfsPermissionError,
    HdfsTransientError,
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
        self.batch = True  # False: answer LISTSTATUS_BATCH as HttpFS / old Hadoop do (400, unknown op)
        self.headers: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

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
            if method in ("PUT", "POST"):
                n = int(h.headers.get("Content-Length", 0))
                body = h.rfile.read(n)
                self.put(path, (self.files[path][0] if op == "APPEND" else b"") + body)
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
        prefix = url.path.index("/webhdfs/v1")  # a connection schema is a path prefix before it
        path = unquote(url.path[prefix + len("/webhdfs/v1") :])
        self.calls.append(f"NN {op} {path}" + (f" under {url.path[:prefix]}" if prefix else ""))
        self.headers.append(dict(h.headers))
        if self.fault == "standby":
            return self._remote(h, 403, "StandbyException", "Operation category READ is not supported")
        if self.fault == "500":
            return self._remote(h, 500, "IOException", "boom")
        if self.fault == "eof":
            return self._remote(
                h, 403, "EOFException", "End of File Exception between local host and namenode"
            )
        if self.fault == "permission":
            return self._remote(h, 403, "AccessControlException", f"Permission denied: user=x, path={path}")
        if op == "LISTSTATUS_BATCH" and not self.batch:
            return self._remote(
                h,
                400,
                "IllegalArgumentException",
                'Invalid value for webhdfs parameter "op": LISTSTATUS_BATCH',
            )
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
        if (
            op in ("OPEN", "APPEND", "GETFILESTATUS", "RENAME")
            and path not in self.files
            and not (op in ("GETFILESTATUS", "RENAME") and self._is_dir(path))
        ):
            return self._remote(h, 404, "FileNotFoundException", f"File {path} does not exist.")
        if op == "GETFILESTATUS":
            kind = "FILE" if path in self.files else "DIRECTORY"
            data, mtime = self.files.get(path, [b"", 0])
            st = {"pathSuffix": "", "type": kind, "length": len(data), "modificationTime": mtime}
            return self._json(h, 200, {"FileStatus": st})
        if op == "RENAME" and q.get("renameoptions") == "OVERWRITE":  # rename2: replace, empty 200 body
            self.files.pop(q["destination"], None)
            self.rename(path, q["destination"])
            h.send_response(200)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if op == "RENAME":
            ok = q["destination"] not in self.files
            if ok:
                self.rename(path, q["destination"])
            return self._json(h, 200, {"boolean": ok})
        if op == "DELETE":
            gone = [
                f
                for f in self.files
                if f == path or (q.get("recursive") == "true" and f.startswith(path + "/"))
            ]
            for f in gone:
                del self.files[f]
            return self._json(h, 200, {"boolean": bool(gone)})
        if op == "MKDIRS":
            self.mkdir(path)
            return self._json(h, 200, {"boolean": True})
        if op in ("OPEN", "CREATE", "APPEND"):
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


def test_list_status_small_directory_is_one_request(fake: FakeWebHdfs) -> None:
    for i in range(3):
        fake.put(f"/d/FlumeData.{i}", b"x" * i, 1000 + i)
    c = HdfsClient([fake.url], user="root")
    sts = c.list_status("/d")
    assert [s.name for s in sts] == [f"FlumeData.{i}" for i in range(3)]
    assert sts[2].length == 2 and sts[2].modification_time == 1002 and sts[2].is_file
    assert c.requests == 1 and fake.calls == ["NN LISTSTATUS_BATCH /d"]


def test_list_status_is_paged(fake: FakeWebHdfs) -> None:
    for i in range(10):
        fake.put(f"/d/f{i:02d}")
    c = HdfsClient([fake.url])
    assert [s.name for s in c.list_status("/d")] == [f"f{i:02d}" for i in range(10)]
    assert c.requests == 4  # pages of 3


def test_list_status_falls_back_without_batch_listing(fake: FakeWebHdfs) -> None:
    fake.batch = False
    for i in range(5):
        fake.put(f"/d/f{i}")
    c = HdfsClient([fake.url])
    assert len(c.list_status("/d")) == 5 and len(c.list_status("/d")) == 5
    assert fake.calls == ["NN LISTSTATUS_BATCH /d", "NN LISTSTATUS /d", "NN LISTSTATUS /d"]


def test_missing_permission_transient(fake: FakeWebHdfs) -> None:
    c = HdfsClient([fake.url])
    with pytest.raises(HdfsNotFound) as missing:
        c.list_status("/nope")
    assert (missing.value.path, missing.value.status) == ("/nope", 404)
    fake.mkdir("/d")
    fake.fault = "permission"
    with pytest.raises(HdfsPermissionError, match="Permission denied"):
        c.list_status("/d")
    fake.fault = "500"
    with pytest.raises(HdfsTransientError, match="HTTP 500"):
        c.list_status("/d")
    fake.fault = "standby"
    with pytest.raises(HdfsTransientError, match="StandbyException"):
        c.list_status("/d")
    # WebHDFS answers 403 for any IOException, e.g. while the NameNode restarts: transient, not permission.
    fake.fault = "eof"
    with pytest.raises(HdfsTransientError, match="EOFException"):
        c.list_status("/d")


def test_connection_refused_is_transient() -> None:
    c = HdfsClient(["http://127.0.0.1:9"], timeout=(0.5, 0.5))
    with pytest.raises(HdfsTransientError, match="ConnectionError"):
        c.list_status("/d")


def test_ha_failover_to_active(fake: FakeWebHdfs) -> None:
    standby = FakeWebHdfs()
    standby.fault = "standby"
    try:
        fake.mkdir("/d")
        c = HdfsClient(["http://127.0.0.1:9", standby.url, fake.url], timeout=(0.5, 0.5))
        assert c.list_status("/d") == []
        assert c.requests == 3
        c.list_status("/d")
        assert c.requests == 4  # the active NameNode is remembered
    finally:
        standby.close()


def test_open_streams_through_redirect_pinned_to_loopback(fake: FakeWebHdfs) -> None:
    fake.put("/d/FlumeData.1", b"hello\nworld\n")
    c = HdfsClient([fake.url], user="root")
    with c.open("/d/FlumeData.1") as stream:
        assert stream.readline() == b"hello\n"
        assert stream.read() == b"world\n"
    assert stream.closed
    assert c.requests == 2 and c.bytes_read == 12
    assert fake.calls[-1] == "DN OPEN /d/FlumeData.1"
    assert c.read("/d/FlumeData.1") == b"hello\nworld\n"
    with pytest.raises(HdfsNotFound):
        c.open("/d/nope")


def test_status_create_append_rename_delete(fake: FakeWebHdfs) -> None:
    c = HdfsClient([fake.url], user="root")
    c.create("/d/_SUCCESS")
    assert fake.files["/d/_SUCCESS"][0] == b""
    c.create("/d/.m.tmp", b'{"n": 1}')
    c.append("/d/.m.tmp", b"\n")
    st = c.status("/d/.m.tmp")
    assert (st.name, st.length, st.is_file) == (".m.tmp", 9, True)
    assert c.rename("/d/.m.tmp", "/d/m") and fake.files["/d/m"][0] == b'{"n": 1}\n'
    assert not c.rename("/d/_SUCCESS", "/d/m")  # HDFS refuses to overwrite: False, not an exception
    c.create("/d/.m2.tmp", b"2")
    assert c.rename("/d/.m2.tmp", "/d/m", overwrite=True)  # renameoptions=OVERWRITE replaces in one step
    assert "/d/.m2.tmp" not in fake.files and fake.files["/d/m"][0] == b"2"
    assert c.delete("/d/m") and not c.delete("/d/m")
    assert c.status("/d").type == "DIRECTORY"
    with pytest.raises(HdfsNotFound):
        c.status("/nope")


# -- the webhdfs connection, as the hdfs provider's WebHDFSHook reads it (same cases as its tests) ---------
def conn(**kw: Any) -> SimpleNamespace:
    base: dict[str, Any] = {"host": "host_1", "port": 123, "login": None, "password": None, "schema": None}
    extra = kw.pop("extra", {})
    return SimpleNamespace(**{**base, **kw}, extra_dejson=extra)


@pytest.mark.parametrize(
    ("kw", "urls"),
    [
        (
            {"host": "host_1.com,host_2.com", "port": 321, "login": "user"},
            ["http://host_1.com:321", "http://host_2.com:321"],
        ),
        (
            {"host": "host_1.com,host_2.com", "port": 321, "schema": "schema"},
            ["http://host_1.com:321/schema", "http://host_2.com:321/schema"],
        ),
        ({"host": "host_1.com,host_2.com", "port": None}, ["http://host_1.com", "http://host_2.com"]),
        ({"schema": "schema", "extra": {"use_ssl": "True", "verify": False}}, ["https://host_1:123/schema"]),
        ({"port": None, "schema": "schema", "extra": {"use_ssl": "True"}}, ["https://host_1/schema"]),
        ({"extra": {"use_ssl": "True", "verify": False}}, ["https://host_1:123"]),
        ({"extra": {"use_ssl": True}}, ["https://host_1:123"]),
        ({"extra": {"use_ssl": "false"}}, ["http://host_1:123"]),
    ],
)
def test_connection_urls_like_webhdfshook(kw: dict[str, Any], urls: list[str]) -> None:
    assert client_from_connection(conn(**kw), kerberos=False).base_urls == urls


def test_connection_user_password_and_proxy_user() -> None:
    c = client_from_connection(conn(login="user", password="s3cret"), kerberos=False)
    assert c.user == "user" and c.session.auth == ("user", "s3cret")
    assert "s3cret" not in repr(c)
    c = client_from_connection(conn(login="user"), kerberos=False, proxy_user="someone")
    assert c.user == "someone" and c.session.auth is None


def test_connection_tls_verify_and_mtls() -> None:
    assert client_from_connection(conn(extra={"use_ssl": "True"}), kerberos=False).session.verify is False
    c = client_from_connection(conn(extra={"use_ssl": "True", "verify": "/ssl/cert/path"}), kerberos=False)
    assert c.session.verify == "/ssl/cert/path"
    c = client_from_connection(conn(extra={"use_ssl": "True", "verify": "true"}), kerberos=False)
    assert c.session.verify is True
    extra = {"use_ssl": "True", "cert": "/path/to/cert.pem", "key": "/path/to/key.pem"}
    assert client_from_connection(conn(extra=extra), kerberos=False).session.cert == (
        "/path/to/cert.pem",
        "/path/to/key.pem",
    )
    extra = {"use_ssl": "True", "cert": "/path/to/combined.pem"}
    assert client_from_connection(conn(extra=extra), kerberos=False).session.cert == "/path/to/combined.pem"


def test_connection_cookies_and_headers() -> None:
    c = client_from_connection(conn(extra={"cookies": {"my": "cookies"}, "headers": {"my": "headers"}}))
    assert c.session.cookies.get("my") == "cookies" and c.session.headers["my"] == "headers"


def test_connection_kerberos() -> None:
    from requests_kerberos import OPTIONAL, HTTPKerberosAuth

    c = client_from_connection(conn(login="user", password="pw"), kerberos=True)
    assert c.base_urls == ["http://host_1:123"]
    assert isinstance(c.session.auth, HTTPKerberosAuth) and c.session.auth.mutual_authentication == OPTIONAL
    assert c.user is None  # no user.name under SPNEGO, as with HdfsCLI's KerberosClient
    c = client_from_connection(conn(extra={"use_ssl": "True", "verify": "/ssl/cert/path"}), kerberos=True)
    assert c.base_urls == ["https://host_1:123"] and c.session.verify == "/ssl/cert/path"


def test_connection_requests_reach_the_schema_prefix(fake: FakeWebHdfs) -> None:
    fake.mkdir("/d")
    extra = {"headers": {"X-Gateway": "yes"}, "timeout": 3}
    c = client_from_connection(
        conn(host="127.0.0.1", port=fake.port, login="etl", schema="gw/default", extra=extra)
    )
    assert c.list_status("/d") == [] and c.timeout == (3.0, 3.0)
    assert fake.calls == ["NN LISTSTATUS_BATCH /d under /gw/default"]
    assert fake.headers[-1]["X-Gateway"] == "yes"


def test_hook_reads_core_security(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_NN", json.dumps({"conn_type": "webhdfs", "host": "a,b", "port": 9870, "login": "etl"})
    )
    monkeypatch.setenv("AIRFLOW__CORE__SECURITY", "kerberos")
    c = FlumeHdfsHook("nn").get_client()
    assert c.base_urls == ["http://a:9870", "http://b:9870"] and c.user is None
    monkeypatch.setenv("AIRFLOW__CORE__SECURITY", "")
    assert FlumeHdfsHook("nn").get_client().user == "etl"


def test_urls_from_connection_edge_cases() -> None:
    assert urls_from_connection("nn1,nn2:50070", 9870, use_ssl=False) == [
        "http://nn1:9870",
        "http://nn2:50070",
    ]
    with pytest.raises(ValueError, match="no host"):
        urls_from_connection("", 1, use_ssl=False)
