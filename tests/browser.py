"""Headless Chromium (the Debian package) driven over the DevTools protocol, stdlib only.

`chromium --dump-dom` cannot wait for the Web UI: its pages keep requests open (long polls),
so a virtual-time budget never runs out and `--timeout` dumps the page before it rendered.
Over `--remote-debugging-pipe` (fd 3 in, fd 4 out, JSON messages ended by NUL) a test waits
for the text it expects, then takes a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

WINDOW = (1400, 900)
LIST_COLUMNS = "namespace-workflow-table-columns"  # the Web UI's key (UI 2.54)
FRAMES = (
    "Array.from(document.querySelectorAll('iframe'))"
    ".map(f => f.contentDocument).filter(d => d && d.body)"
)
FRAMES_TEXT = f"[document, ...{FRAMES}].map(d => d.body ? d.body.innerText : '').join('\\n')"
FRAMES_COUNT = f"{FRAMES}.reduce((n, d) => n + d.querySelectorAll(SELECTOR).length, 0)"
PAGE_COUNT = f"[document, ...{FRAMES}].reduce((n, d) => n + d.querySelectorAll(SELECTOR).length, 0)"


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium with one page; a context manager that always ends the process."""

    def __init__(
        self, binary: str, *, timeout: float = 30.0, window: tuple[int, int] = WINDOW
    ) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(
            prefix="mailroom-chromium-", ignore_cleanup_errors=True
        )
        to_browser, self._writer = os.pipe()
        self._reader, from_browser = os.pipe()
        # Chromium's ends go to fds 3 and 4 by bash (no preexec_fn: we run in threads),
        # from numbers above 9 so neither can be 3 or 4 already.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
        for fd in (to_browser, from_browser):
            os.close(fd)
        self.process = subprocess.Popen(
            [
                "bash",  # dash redirects single-digit fds only
                "-c",
                f'exec "$@" 3<&{ends[0]} 4>&{ends[1]} {ends[0]}<&- {ends[1]}>&-',
                "bash",
                binary,
                "--headless=new",
                "--no-sandbox",  # tests run as root in containers
                "--disable-gpu",
                # nothing beyond 127.0.0.1: no component updates, sync, metrics or
                # first-run fetches (the machine has no internet; a test never needs it)
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-domain-reliability",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-pipe",
                f"--window-size={window[0]},{window[1]}",
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # D-Bus complaints of a desktop-less machine
            pass_fds=ends,
            start_new_session=True,  # its helper processes end with it (killpg)
        )
        for fd in ends:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self._session = ""

    def __enter__(self) -> Browser:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=self.timeout)
        os.close(self._writer)
        os.close(self._reader)
        self._profile.cleanup()

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._writer, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._reader], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._reader, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium exited with {self.process.poll()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def open(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return answer.get("result", {}).get("value")

    def text(self) -> str:
        """The page's visible text, with that of its same-origin frames (the Web UI renders
        workflow metadata as markdown in one frame per field)."""
        return str(self.evaluate(FRAMES_TEXT) or "")

    def in_frames(self, selector: str) -> int:
        """How many elements in the page's frames match a CSS `selector`."""
        return int(self.evaluate(FRAMES_COUNT.replace("SELECTOR", json.dumps(selector))) or 0)

    def on_page(self, selector: str) -> int:
        """How many elements in the page and its frames match a CSS `selector`."""
        return int(self.evaluate(PAGE_COUNT.replace("SELECTOR", json.dumps(selector))) or 0)

    def wait_for_text(self, *expected: str, timeout: float = 30.0) -> str:
        """The page's visible text once it shows every one of `expected`."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.text()
            if all(part in shown for part in expected):
                return shown
            if time.monotonic() > deadline:
                missing = [part for part in expected if part not in shown]
                raise AssertionError(f"the page never showed {missing}; it showed:\n{shown}")
            time.sleep(0.2)

    def show_workflow_columns(self, namespace: str, *labels: str) -> None:
        """The Web UI's workflow list shows these columns (search attributes among them), as
        when a person picks them with its column settings; it keeps them in localStorage, so
        a page of the UI must be open. Takes effect on the next page load."""
        columns = {namespace: [{"label": label} for label in labels]}
        self.evaluate(
            f"localStorage.setItem({json.dumps(LIST_COLUMNS)}, {json.dumps(json.dumps(columns))})"
        )

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))
