"""Headless Chromium driven over the Chrome DevTools Protocol: open pages, wait for text, dump DOM, screenshot.

Debian's `chromium` runs with a new empty profile and the flags of a quiet, sandbox-less CI browser; the
protocol is spoken over the page's WebSocket with `websockets` (already in the venv, through uvicorn).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,900",
    "--remote-debugging-port=0",
)


class BrowserError(RuntimeError):
    """Chromium did not start, or a page did not show what was expected in time."""


class Chromium:
    """One headless Chromium process with one page; use as a context manager."""

    def __init__(self, binary: str = "chromium") -> None:
        path = shutil.which(binary)
        if path is None:
            raise BrowserError(f"{binary} not found: install Debian's chromium (make test-live does)")
        self._tmp = Path(tempfile.mkdtemp(prefix="chromium-"))
        self._stderr = self._tmp / "stderr.log"
        with open(self._stderr, "wb") as err:  # a file, not a pipe: chromium's chatter can never block it
            self._proc = subprocess.Popen(
                [path, *FLAGS, f"--user-data-dir={self._tmp / 'profile'}", "about:blank"],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self._ids = itertools.count(1)
        port = self._devtools_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        self._ws = connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=10)
        self.send("Page.enable")

    def _devtools_port(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m := re.search(
                r"DevTools listening on ws://[^:]+:(\d+)/", self._stderr.read_text(errors="replace")
            ):
                return int(m.group(1))
            if self._proc.poll() is not None:
                raise BrowserError(
                    f"chromium exited with {self._proc.returncode}: {self._stderr.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        raise BrowserError("chromium did not report its DevTools port")

    def send(self, method: str, **params: Any) -> dict:
        """One protocol call; returns its result (events in between are skipped)."""
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv(timeout=60))
            if msg.get("id") == call_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def open(self, url: str, expect: tuple[str, ...] = (), timeout: float = 60) -> str:
        """Navigate and wait until the page's visible text holds every string of `expect`; returns that text."""
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            time.sleep(1)
            text = self.evaluate("document.body ? document.body.innerText : ''") or ""
            if all(s in text for s in expect):
                time.sleep(1)  # let the last requests paint
                return self.evaluate("document.body.innerText") or text
        missing = [s for s in expect if s not in text]
        raise BrowserError(f"{url}: {missing} not shown after {timeout:.0f}s; page text: {text[:1500]!r}")

    def wait_until(self, expression: str, timeout: float = 60) -> Any:
        """Poll a JavaScript expression until it is truthy (e.g. a lazily drawn graph); returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := self.evaluate(expression):
                return value
            time.sleep(1)
        raise BrowserError(f"{expression!r} still false after {timeout:.0f}s")

    def dom(self) -> str:
        """The current DOM as HTML (what `--dump-dom` prints)."""
        return self.evaluate("document.documentElement.outerHTML") or ""

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
