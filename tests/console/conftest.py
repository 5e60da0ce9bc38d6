"""Fixtures of the console tests: a live demo server with the console mounted, and a
headless Debian ``chromium`` driven by Playwright for Python.

The browser is Debian's (``apt-get install chromium fonts-noto-cjk``), never a download
by ``playwright install``. Every page of a test is watched: console errors, uncaught
exceptions and any request to a host other than the server's 127.0.0.1 port (such
requests are aborted and counted) are collected for the test to assert on.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("KONGTIAN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LAUNCH = Path(__file__).with_name("_launch.py")


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skip (before starting any server) where the browser or Playwright is missing."""
    pytest.importorskip("playwright.sync_api", reason="playwright (test extra) missing")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium fonts-noto-cjk")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    keys: dict[str, str]
    log: Path

    def request(self, method: str, path: str, body: Any = None, *, role: str) -> Any:
        """Call the API as ``role`` (dev key); returns the decoded JSON body."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"X-API-Key": self.keys[role], "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())


@pytest.fixture(scope="session")
def server(browser_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``kongtian demo`` (live simulated Chongqing traffic, dev keys) with the console."""
    data_dir = tmp_path_factory.mktemp("console-demo")
    port = _free_port()
    log = data_dir / "server.log"
    cmd = [sys.executable, str(LAUNCH), "demo", "--port", str(port), "--duration", "900"]
    cmd += ["--data-dir", str(data_dir / "data"), "--uavs", "30"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    keys_file = data_dir / "data" / "dev-keys.json"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    pass
                if keys_file.exists():
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not up after 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Server(url=url, keys=json.loads(keys_file.read_text()), log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Watch:
    """What a page did that a test may forbid."""

    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshot folder: $KONGTIAN_SCREENSHOTS, else a pytest tmp dir (path printed)."""
    env = os.environ.get("KONGTIAN_SCREENSHOTS")
    path = Path(env) if env else tmp_path_factory.mktemp("console-shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def browser(browser_available: None, tmp_path: Path) -> Iterator[Any]:
    """A fresh headless chromium (new user-data dir per test)."""
    from playwright import sync_api

    profile = tmp_path / "profile"
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 860},
            locale="zh-CN",
        )
        try:
            yield ctx
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)


def open_console(ctx: Any, server: Server, role: str | None, watch: Watch) -> Any:
    """A page on the console with ``role``'s key in localStorage, map loaded."""
    page = ctx.new_page()
    local = server.url + "/"

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            watch.errors.append(msg.text)

    def on_route(route: Any) -> None:
        url = route.request.url
        watch.urls.append(url)
        if url.startswith(local) or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            watch.external.append(url)
            route.abort()

    def on_websocket(ws: Any) -> None:
        watch.urls.append(ws.url)
        if not ws.url.startswith("ws://127.0.0.1:" + server.url.rsplit(":", 1)[1] + "/"):
            watch.external.append(ws.url)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))
    page.on("websocket", on_websocket)
    # On the context, not the page: also sees the requests of MapLibre's worker.
    ctx.route("**/*", on_route)
    if role is not None:
        page.add_init_script(f"localStorage.setItem('kt.key', {json.dumps(server.keys[role])})")
    page.goto(local)
    page.wait_for_function("window.kt && window.kt.ready", timeout=30_000)
    return page
