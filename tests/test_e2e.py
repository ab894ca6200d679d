"""Real-browser end-to-end tests (Debian chromium driven by Playwright).

* ``test_tuner_notebook_in_jupyterlab``: a private JupyterLab server runs the tuning
  notebook; moving the ``k`` slider must redraw the chart and change the alert count.
* ``test_demo_report_renders_offline``: ``stockseries demo`` writes a report that renders
  its charts from ``file://`` with every network request blocked.

The browser is launched once per session (lazily, after the conftest's chromium check)
and each test gets its own context. Screenshots land in ``tests/_artifacts/``; on failure
the screenshot, the server log and the page's console go there too, and the assertion
message carries the last lines of the log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TUNER_NOTEBOOK = "02_tune_spike_thresholds.ipynb"

# Generous on purpose: CI and dev boxes are small, shared and noisy.
# pytest-timeout (300 s) still ends the test; _diagnostics records what it was waiting for.
SERVER_START_S = 60
PAGE_LOAD_S = 90
RUN_ALL_S = 150
UPDATE_S = 60
STOP_S = 20


# -- browser ------------------------------------------------------------------------------


class _LazyBrowser:
    """One chromium per test module, started on first use.

    A session fixture cannot depend on the conftest's function-scoped chromium check, so
    the launch is deferred until a test (which has passed that check) asks for it.
    """

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None

    def get(self) -> Any:
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            # launch() gives every run a fresh temporary profile (user-data-dir).
            self._browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
        return self._browser

    def close(self) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()


# Module scope, not session: Playwright's sync API keeps an event loop running on the main
# thread while it is open, and later tests that call asyncio.run() would then fail.
@pytest.fixture(scope="module")
def _shared_browser() -> Iterator[_LazyBrowser]:
    lazy = _LazyBrowser()
    yield lazy
    lazy.close()


@pytest.fixture
def browser(_shared_browser: _LazyBrowser) -> Any:
    return _shared_browser.get()


class _PageLog:
    """Console messages, page errors and requests seen by a page."""

    def __init__(self, page: Any) -> None:
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("request", lambda request: self.requests.append(request.url))

    def _on_console(self, message: Any) -> None:
        line = f"{message.type}: {message.text}"
        self.console.append(line)
        if message.type == "error":
            self.errors.append(line)


@contextlib.contextmanager
def _diagnostics(
    page: Any,
    log: _PageLog,
    artifacts: Path,
    name: str,
    server_log: Callable[[], str] | None = None,
) -> Iterator[None]:
    """On failure: save screenshot, console and server log; append the log tail."""
    try:
        yield
    except (Exception, pytest.fail.Exception) as exc:
        notes = [f"artifacts: {artifacts}/{name}-failure.*"]
        with contextlib.suppress(Exception):
            page.screenshot(path=str(artifacts / f"{name}-failure.png"), full_page=True)
        (artifacts / f"{name}-failure-console.txt").write_text("\n".join(log.console) + "\n")
        if server_log is not None:
            text = server_log()
            (artifacts / f"{name}-failure-server.log").write_text(text)
            tail = "\n".join(text.splitlines()[-40:])
            notes.append(f"--- last lines of the server log ---\n{tail}")
        if log.errors:
            notes.append("--- browser errors ---\n" + "\n".join(log.errors[-20:]))
        raise AssertionError(f"{exc}\n\n" + "\n\n".join(notes)) from exc


# -- JupyterLab server --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# User settings that keep Lab quiet and deterministic: no news or update checks (no
# network, no toasts), and every cell kept in the DOM (windowing would detach the tuner's
# output when it scrolls out of view).
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


class JupyterLabServer:
    """A private, token-less JupyterLab on 127.0.0.1 with its own config, data and runtime dirs."""

    def __init__(self, root_dir: Path, home: Path) -> None:
        self.root_dir = root_dir
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "jupyterlab.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        dirs = {
            name: self.home / name
            for name in ("config", "data", "runtime", "ipython", "settings", "workspaces")
        }
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        for relative, values in _LAB_SETTINGS.items():
            target = dirs["settings"] / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "IPYTHONDIR": str(dirs["ipython"]),
            "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--allow-root",  # containers and CI runners are often root
            "--LabApp.extension_manager=readonly",  # no PyPI queries
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={dirs['settings']}",
            f"--LabApp.workspaces_dir={dirs['workspaces']}",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.root_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"JupyterLab exited with status {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                if self._request("GET", "/api/status", timeout=5) is not None:
                    return
            time.sleep(0.5)
        raise AssertionError(
            f"JupyterLab did not answer /api/status within {SERVER_START_S} s:\n{self.log_tail()}"
        )

    def _request(self, method: str, path: str, timeout: float = 10) -> Any:
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # Kernels run in their own sessions: shut them down before the server goes.
            with contextlib.suppress(OSError, ValueError):
                for session in self._request("GET", "/api/sessions"):
                    self._request("DELETE", f"/api/sessions/{session['id']}", timeout=30)
                for kernel in self._request("GET", "/api/kernels"):
                    self._request("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_S)
        self.process = None


def _lab_root(tmp_path: Path) -> Path:
    """A copy of ``notebooks/`` next to the repo's ``data/``, so ``../data`` paths work."""
    root = tmp_path / "lab"
    shutil.copytree(
        REPO / "notebooks",
        root / "notebooks",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "_build"),
    )
    if (REPO / "data").exists():
        (root / "data").symlink_to(REPO / "data", target_is_directory=True)
    return root / "notebooks"


@pytest.fixture
def jupyter_lab(tmp_path: Path, artifacts: Path) -> Iterator[JupyterLabServer]:
    server = JupyterLabServer(_lab_root(tmp_path), tmp_path / "jupyter")
    try:
        try:
            server.start()
        except AssertionError:
            (artifacts / "jupyterlab-start-failure.log").write_text(server.log())
            raise
        yield server
    finally:
        server.stop()


# -- helpers running inside JupyterLab ----------------------------------------------------

_OPEN_AND_RUN_ALL = """
async (path) => {
  const app = window.jupyterapp;
  window.__ssRun = {done: false, ok: null, error: null};
  try {
    await app.restored;
    const panel = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
    app.shell.activateById(panel.id);
    await panel.context.ready;
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (!kernel) { throw new Error('no kernel started for ' + path); }
    await kernel.info;
    window.__ssRun.ok = await app.commands.execute('notebook:run-all-cells');
  } catch (err) {
    window.__ssRun.error = String(err && err.stack || err);
  }
  window.__ssRun.done = true;
}
"""

_CELL_PROBLEMS = """
() => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  const problems = [];
  notebook.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') { return; }
    const json = cell.model.toJSON();
    if (json.execution_count === null && String(json.source).trim()) {
      problems.push(`cell ${index}: not executed`);
    }
    for (const output of json.outputs || []) {
      if (output.output_type === 'error') {
        problems.push(`cell ${index}: ${output.ename}: ${output.evalue}\\n`
                      + (output.traceback || []).join('\\n'));
      }
    }
  });
  return problems;
}
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ALERT_COUNT = re.compile(r"(\d[\d,]*)\s+alerts?\s+on\b")


_RUN_STATE = """
() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const cells = panel && panel.content && panel.content.widgets ? panel.content.widgets : [];
  const code = cells.filter(cell => cell.model.type === 'code');
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  const dialog = document.querySelector('.jp-Dialog');
  return {
    widget: panel ? panel.title.label : null,
    kernel: kernel ? kernel.status : 'none',
    executed: code.filter(cell => cell.model.executionCount !== null).length,
    code_cells: code.length,
    dialog: dialog ? dialog.innerText : null,
    run: window.__ssRun || null,
  };
}
"""


def _open_and_run_all(page: Any, server: JupyterLabServer, notebook: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{server.url}/lab?reset", wait_until="domcontentloaded", timeout=PAGE_LOAD_S * 1000)
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell", timeout=PAGE_LOAD_S * 1000
    )
    page.evaluate(f"({_OPEN_AND_RUN_ALL})({json.dumps(notebook)})")
    try:
        page.wait_for_function("() => window.__ssRun.done", timeout=RUN_ALL_S * 1000, polling=500)
    except PlaywrightTimeout:
        state = page.evaluate(_RUN_STATE)
        raise AssertionError(f"{notebook} did not finish within {RUN_ALL_S} s: {state}") from None
    run = page.evaluate("() => window.__ssRun")
    problems = [_ANSI.sub("", p) for p in page.evaluate(_CELL_PROBLEMS)]
    assert run["error"] is None and run["ok"] and not problems, (
        f"running {notebook} failed: {run['error'] or ''}\n" + "\n".join(problems)
    )


_FINGERPRINT = """
e => {
  const text = e.tagName === 'IMG' ? e.src : e.outerHTML;
  let hash = 0;
  for (let i = 0; i < text.length; i++) { hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0; }
  return `${text.length}:${hash >>> 0}`;
}
"""


def _fingerprint(element: Any) -> str:
    """Cheap hash of what a chart shows (an image's src or an inline SVG's markup).

    Computed in the page: the SVG data URI of the tuner is about a megabyte.
    """
    return str(element.evaluate(_FINGERPRINT))


def _alert_count(text: str) -> int:
    match = _ALERT_COUNT.search(text)
    assert match, f"no alert count in the tuner status {text!r}"
    return int(match.group(1).replace(",", ""))


def _wait_until(page: Any, condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        page.wait_for_timeout(250)


# -- tests --------------------------------------------------------------------------------


def test_tuner_notebook_in_jupyterlab(
    browser: Any, jupyter_lab: JupyterLabServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    assert (jupyter_lab.root_dir / TUNER_NOTEBOOK).exists(), (
        f"{REPO / 'notebooks' / TUNER_NOTEBOOK} is missing"
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    context.set_default_timeout(UPDATE_S * 1000)
    # Lab talks to its own server only; anything else is refused (no network here).
    context.route(
        re.compile(r"^(?!" + re.escape(jupyter_lab.url) + r"|data:|blob:).*"),
        lambda route: route.abort(),
    )
    page = context.new_page()
    log = _PageLog(page)
    try:
        with _diagnostics(page, log, artifacts, "tuner", jupyter_lab.log):
            _open_and_run_all(page, jupyter_lab, TUNER_NOTEBOOK)

            # The CSS hooks SpikeTuner sets on its widgets (``ss-tuner-*``).
            tuner = page.locator(".ss-tuner").first
            expect(tuner, "a SpikeTuner panel in the notebook").to_be_visible()
            k_slider = tuner.locator(".ss-tuner-k")
            readout = k_slider.locator(".widget-readout")
            status = tuner.locator(".ss-tuner-status")
            chart = tuner.locator(".ss-tuner-chart").locator("img, svg").first
            expect(status).to_have_text(_ALERT_COUNT)
            expect(status, "scores against the labels").to_contain_text("precision")
            expect(chart).to_be_visible()
            expect(readout, "k applies to the notebook's method").to_be_editable()
            # Controls, status and the first chart in view for the screenshots.
            tuner.evaluate("e => e.scrollIntoView({block: 'start'})")

            count_before = _alert_count(status.inner_text())
            chart_before = _fingerprint(chart)
            status_before = status.inner_text()
            k_before = float(readout.inner_text())
            # A big move, so the alert count changes for sure.
            k_after = 1.0 if k_before >= 2.5 else 8.0
            page.screenshot(path=str(artifacts / "tuner-before.png"))

            readout.fill(f"{k_after}")
            readout.press("Enter")
            expect(readout).to_have_text(re.compile(rf"^\s*{re.escape(f'{k_after:.1f}')}\d*\s*$"))
            _wait_until(
                page,
                lambda: (
                    status.inner_text() != status_before and _fingerprint(chart) != chart_before
                ),
                UPDATE_S,
                f"the chart and the status to update after k {k_before} -> {k_after}",
            )
            count_after = _alert_count(status.inner_text())
            page.screenshot(path=str(artifacts / "tuner-after.png"))
            assert count_after != count_before, (
                f"alert count stayed {count_before} after moving k {k_before} -> {k_after}"
            )
    finally:
        context.close()


def test_demo_report_renders_offline(browser: Any, tmp_path: Path, artifacts: Path) -> None:
    from stockseries.cli import main

    assert main(["demo", "-o", str(tmp_path), "-q"]) == 0
    report = tmp_path / "report.html"
    assert report.exists() and (tmp_path / "alerts.csv").exists()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def refuse_network(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", refuse_network)
    page = context.new_page()
    log = _PageLog(page)
    try:
        with _diagnostics(page, log, artifacts, "report"):
            page.goto(report.as_uri(), wait_until="load", timeout=PAGE_LOAD_S * 1000)
            charts = page.evaluate(
                """() => [...document.querySelectorAll('svg')]
                     .filter(svg => !svg.parentElement.closest('svg'))
                     .map(svg => {
                       const box = svg.getBoundingClientRect();
                       const marks = [...svg.querySelectorAll('[class*="mark-"]')]
                         .filter(g => g.querySelector('path, rect, line, circle, text, symbol'));
                       return {width: box.width, height: box.height, marks: marks.length};
                     })"""
            )
            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
            offline = [u for u in log.requests if not u.startswith(("file:", "data:"))]
            assert not blocked and not offline, f"the report tried the network: {blocked + offline}"
            assert not log.errors, f"console errors: {log.errors}"
            assert charts, "the report has no SVG chart"
            empty = [c for c in charts if not (c["width"] > 0 and c["height"] > 0 and c["marks"])]
            assert not empty, f"empty or zero-size charts: {empty} (of {len(charts)})"
    finally:
        context.close()
