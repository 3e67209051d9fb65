"""Headless Chromium for the report: print to PDF, and open a page offline through the DevTools protocol.

Debian's ``chromium`` is used (``apt-get install chromium``); nothing is downloaded. The browser runs
with a fresh profile, without background networking, and with every host name resolving to nothing.
:class:`Browser` also intercepts every request (DevTools ``Fetch`` domain): requests for ``file:``,
``data:``, ``blob:`` and ``about:`` URLs go on, anything else is refused before it leaves the machine
and recorded, so a check can assert that a page needs no network at all.

    with Browser() as b:
        page = b.open(Path("figures/haaglanden/rapport.html"))
        page.evaluate("document.images.length")
        page.screenshot(Path("shot.png"))
        page.requests        # every URL the page asked for
        page.blocked         # the ones that would have gone to the network

Command line: ``python -m jeugdhulp_wijken.report.browser PAGE.html [--screenshot OUT.png]``.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

#: Flags for a quiet, offline, reproducible headless browser.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--force-device-scale-factor=1")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:")


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or a page did not load."""


def find_chromium() -> str | None:
    """The Chromium executable: ``$JHW_CHROMIUM``, else the first of :data:`CANDIDATES` on PATH."""
    env = os.environ.get("JHW_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in CANDIDATES:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def remove_profile(path: str | os.PathLike, patience: float = 2.0) -> None:
    """Remove a Chromium profile folder. Chromium's helper processes can still write into it for a moment
    after the browser has gone, so the removal is tried again for up to ``patience`` seconds; a folder that
    then remains is left to the system's temporary-file cleanup rather than failing the report or test."""
    deadline = time.monotonic() + patience
    while True:
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                shutil.rmtree(path, ignore_errors=True)
                return
            time.sleep(0.05)


def live_processes(group: int) -> list[int]:
    """The processes of a process group that still run (not zombies), from ``/proc``; [] where there is no
    ``/proc``."""
    live = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "stat"), encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(group) and fields[0] not in ("Z", "X"):
            live.append(int(entry.name))
    return live


def print_pdf(html: str | os.PathLike, pdf: str | os.PathLike, timeout: float = 180) -> Path | None:
    """Print ``html`` to ``pdf`` with ``chromium --headless --print-to-pdf``; None (and a message)
    when Chromium is not installed."""
    exe = find_chromium()
    if exe is None:
        print("PDF skipped: Chromium is not installed (Debian: apt-get install chromium).")
        return None
    pdf = Path(pdf).resolve()
    pdf.parent.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="jhw-chromium-")
    try:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
               Path(html).resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    finally:
        remove_profile(profile)
    if proc.returncode != 0 or not pdf.is_file():
        raise BrowserError(f"Chromium could not print {html} to PDF (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-500:]}")
    return pdf


class Page:
    """One tab, driven over its DevTools websocket."""

    def __init__(self, ws, timeout: float):
        self.ws = ws
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[dict[str, Any]] = []
        self.console_errors: list[str] = []
        self._events: list[dict[str, Any]] = []

    # -- protocol
    def _handle(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            if url.startswith(LOCAL_SCHEMES):
                self._send("Fetch.continueRequest", {"requestId": params["requestId"]})
            else:
                self.blocked.append(url)
                self._send("Fetch.failRequest", {"requestId": params["requestId"], "errorReason": "BlockedByClient"})
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            self.failed.append({"error": params.get("errorText"), "blocked": params.get("blockedReason")})
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(json.dumps(params.get("exceptionDetails", {}).get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.console_errors.append(params["entry"].get("text", ""))
        self._events.append(msg)

    def _send(self, method: str, params: dict | None = None) -> int:
        i = next(self._ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params or {}}))
        return i

    def call(self, method: str, params: dict | None = None) -> dict[str, Any]:
        i = self._send(method, params)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == i:
                if "error" in msg:
                    raise BrowserError(f"DevTools {method} failed: {msg['error']}")
                return msg.get("result", {})
            self._handle(msg)
        raise BrowserError(f"DevTools {method}: no answer within {self.timeout} s.")

    def wait_for(self, method: str) -> dict[str, Any]:
        for k, msg in enumerate(self._events):
            if msg.get("method") == method:
                del self._events[: k + 1]
                return msg
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self._handle(msg)
            if msg.get("method") == method:
                self._events.clear()
                return msg
        raise BrowserError(f"DevTools: no {method} within {self.timeout} s.")

    # -- page
    def navigate(self, url: str, width: int = 1280, height: int = 900) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self._events.clear()
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"Chromium could not open {url}: {result['errorText']}")
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise BrowserError(f"Script failed: {expression[:80]}...: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def wait_until(self, expression: str, timeout: float | None = None) -> Any:
        """Evaluate ``expression`` until it is truthy (rendering after the load event); return it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        value = self.evaluate(expression)
        while not value and time.monotonic() < deadline:
            self.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)))")
            value = self.evaluate(expression)
        return value

    def screenshot(self, path: str | os.PathLike, selector: str | None = None, max_height: int = 12000) -> Path:
        """PNG of the page (full height up to ``max_height``) or of the element ``selector``."""
        if selector:
            box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                                ".getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })()")
        else:
            box = [0, 0] + self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        x, y, w, h = (float(v) for v in box)
        clip = {"x": x, "y": y, "width": max(w, 1), "height": max(1.0, min(h, max_height)), "scale": 1}
        data = self.call("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    @property
    def remote_requests(self) -> list[str]:
        """Requests that were not for a local URL (should be empty for an offline page)."""
        return sorted({u for u in self.requests + self.blocked if not u.startswith(LOCAL_SCHEMES)})


class Browser:
    """A headless Chromium with a fresh profile, reachable on a loopback DevTools port."""

    def __init__(self, executable: str | None = None, timeout: float = 60):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError("Chromium is not installed (Debian: apt-get install chromium).")
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self._profile: str | None = None
        self._pages: list[Page] = []

    def __enter__(self) -> "Browser":
        self._profile = tempfile.mkdtemp(prefix="jhw-chromium-")
        cmd = [self.executable, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
               "--remote-debugging-address=127.0.0.1", "about:blank"]
        # a session of its own, so that leaving stops Chromium's helper processes too (its process group)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-800:] if self.proc.stderr else ""
                raise BrowserError(f"Chromium exited at start (code {self.proc.returncode}): {err}")
            if time.monotonic() > deadline:
                raise BrowserError(f"Chromium did not open its DevTools port within {self.timeout} s.")
            time.sleep(0.05)
        self.port = int(port_file.read_text().splitlines()[0])
        return self

    def open(self, target: str | os.PathLike, width: int = 1280, height: int = 900) -> Page:
        """A new tab with ``target`` (a file path or URL) loaded, every request intercepted."""
        import urllib.request

        import websocket  # websocket-client

        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # loopback DevTools endpoint
            info = json.loads(resp.read().decode("utf-8"))
        ws = websocket.create_connection(info["webSocketDebuggerUrl"], timeout=self.timeout, suppress_origin=True)
        page = Page(ws, self.timeout)
        self._pages.append(page)
        for method in ("Page.enable", "Network.enable", "Runtime.enable", "Log.enable"):
            page.call(method)
        page.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        url = str(target) if "://" in str(target) else Path(target).resolve().as_uri()
        page.navigate(url, width, height)
        return page

    def __exit__(self, *exc) -> None:
        for page in self._pages:
            try:
                page.ws.close()
            except Exception:  # the browser may already be gone
                pass
        if self.proc is not None:
            self._stop(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._stop(signal.SIGKILL)
                self.proc.wait()
            deadline = time.monotonic() + 5  # the helpers end after the browser; then the profile is theirs no more
            while live_processes(self.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            self._stop(signal.SIGKILL)
            if self.proc.stderr:
                self.proc.stderr.close()
        if self._profile is not None:
            remove_profile(self._profile)

    def _stop(self, sig: int) -> None:
        """Send ``sig`` to Chromium and its helper processes (they share its process group)."""
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


#: JavaScript: every <img> of the page with whether it loaded.
IMAGES_JS = ("Array.from(document.images).map(i => ({src: i.src.slice(0, 60), complete: i.complete, "
             "width: i.naturalWidth}))")
#: JavaScript: shapes that Leaflet drew (SVG paths of vector layers, or canvas-drawn layers it counts).
LEAFLET_SHAPES_JS = ("document.querySelectorAll('.leaflet-overlay-pane svg path, "
                     "svg.leaflet-zoom-animated path').length")


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Open an HTML file offline in headless Chromium and report what it loaded.")
    p.add_argument("page")
    p.add_argument("--screenshot")
    p.add_argument("--selector")
    args = p.parse_args(argv)
    with Browser() as b:
        page = b.open(args.page)
        imgs = page.evaluate(IMAGES_JS)
        print(f"images: {len(imgs)}, not loaded: {sum(1 for i in imgs if not i['width'])}")
        print(f"leaflet shapes: {page.evaluate(LEAFLET_SHAPES_JS)}")
        print(f"requests: {len(page.requests)}, to the network: {page.remote_requests}")
        if args.screenshot:
            print(f"screenshot: {page.screenshot(args.screenshot, args.selector)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
