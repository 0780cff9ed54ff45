"""A real JupyterLab server on localhost driven by Playwright in the system's Chromium.

Used by tests/test_browser.py, and by hand: ``python -m tests.browser NOTEBOOK`` opens a copy of
a release notebook, runs all its cells and writes screenshots. The browser is Debian's
``chromium`` (``/usr/bin/chromium`` or ``$CHROMIUM``), started by its executable path: nothing
is ever downloaded. ``unavailable()`` says why a browser test cannot run here.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = [  # this machine's network is closed: no background connections, no first-run work
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
SERVER_START_SECONDS = 60
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},  # every cell stays in the page
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def chromium() -> str | None:
    chosen = os.environ.get("CHROMIUM")
    if chosen:
        return chosen if Path(chosen).exists() else None
    return next((c for c in CHROMIUM_CANDIDATES if Path(c).exists()), None)


def unavailable() -> str | None:
    """None when a browser test can run; otherwise the reason it cannot."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if chromium() is None:
        return "no Chromium: install Debian's chromium package (apt-get install chromium) or set CHROMIUM"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """``jupyter lab`` serving ``folder`` on a free localhost port, with a token."""

    def __init__(self, folder: Path, env: dict | None = None, app: str = "lab", settings_extra: dict | None = None):
        self.folder = Path(folder)
        self.app = app  # "lab" (JupyterLab) or "notebook" (Notebook 7)
        self.port = _free_port()
        self.token = "foundations-browser-test"
        settings = self.folder.parent / f"{self.folder.name}-{app}-settings"
        for plugin, values in {**LAB_SETTINGS, **(settings_extra or {})}.items():
            package, name = plugin.rsplit("/", 1)
            folder = settings / package
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
        self.log_path = self.folder.parent / f"{self.folder.name}-lab.log"
        student = {k: v for k, v in os.environ.items() if k != "FOUNDATIONS_TEMPLATE"}  # a student's machine has none
        self.env = {**student, "JUPYTERLAB_SETTINGS_DIR": str(settings), **(env or {})}
        self.process: subprocess.Popen | None = None

    def url(self, path: str = "") -> str:
        where = "lab/tree" if self.app == "lab" else "notebooks"
        return f"http://127.0.0.1:{self.port}/{where}/{path}?token={self.token}"

    def __enter__(self) -> "Lab":
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", self.app, "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.folder}",
             "--ServerApp.disable_check_xsrf=True", "--allow-root",
             *(["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
               if self.app == "lab" else [])],
            cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: see {self.log_path}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status?token={self.token}", timeout=2)
                return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer in {SERVER_START_SECONDS} s: see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


class Browser:
    """A headless Chromium page, with helpers for the notebook actions a student takes."""

    def __init__(self, shots: Path = SCREENSHOTS, prefix: str = ""):
        self.shots = Path(shots)
        self.shots.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.count = 0

    def __enter__(self) -> "Browser":
        from playwright.sync_api import sync_playwright
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        self.page = self._browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.set_default_timeout(60_000)
        return self

    def __exit__(self, *exc) -> None:
        self._browser.close()
        self._pw.stop()

    def shot(self, name: str, full: bool = True) -> Path:
        self.count += 1
        path = self.shots / f"{self.prefix}{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        return path

    # -- a student's actions -------------------------------------------------------------------
    def open(self, lab: Lab, notebook: str) -> None:
        """Open the notebook and wait until its kernel has started and is idle (the status bar says so)."""
        self.page.goto(lab.url(notebook))
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        if lab.app == "lab":
            self.page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=120_000)
        else:  # Notebook 7 has no status bar: its kernel indicator says idle
            self.page.wait_for_selector(".jp-NotebookKernelStatus, .jp-Notebook-ExecutionIndicator", timeout=120_000,
                                        state="attached")
            self.page.wait_for_timeout(3000)
        self.wait_idle()

    def menu(self, top: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text=item).first.click()

    def wait_idle(self, timeout: float = 600) -> None:
        """Until no cell is running or waiting (no ``[*]`` prompt) and the kernel says idle."""
        deadline = time.monotonic() + timeout
        time.sleep(0.5)
        while time.monotonic() < deadline:
            busy = self.page.evaluate(
                "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))"
                " || !!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"busy\"]')")
            if not busy:
                return
            time.sleep(0.5)
        raise TimeoutError("the notebook is still running")

    def run_all(self) -> None:
        """Run → Run All Cells, until every cell has run (clicked again if the first click did not start it)."""
        for _ in range(3):
            self.menu("Run", "Run All Cells")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and all(p.strip() == "[ ]:" for p in self.prompts()):
                time.sleep(0.3)
            if not all(p.strip() == "[ ]:" for p in self.prompts()):
                break
        self.wait_idle()

    def interrupt(self) -> None:
        self.menu("Kernel", "Interrupt Kernel")
        self.wait_idle()

    def restart(self) -> None:
        self.menu("Kernel", "Restart Kernel")
        self.page.locator(".jp-Dialog button", has_text="Restart").first.click()
        self.page.wait_for_timeout(1500)
        self.wait_idle()

    def code_cells(self):
        return self.page.locator(".jp-Notebook .jp-CodeCell")

    def prompts(self) -> list[str]:
        return self.page.evaluate(
            "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())")

    def sources(self) -> list[str]:
        return self.page.evaluate(
            "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .cm-content')].map(e => e.innerText)")

    def unrun(self) -> list[int]:
        """The code cells with something in them that have not run (JupyterLab never runs an empty one: Shift+Enter
        in the last cell leaves one below)."""
        return [i for i, (prompt, text) in enumerate(zip(self.prompts(), self.sources()))
                if text.strip() and not prompt.strip("[]: ").isdigit()]

    def cell_index(self, contains: str) -> int:
        """The first code cell whose text contains ``contains``."""
        for i, text in enumerate(self.sources()):
            if contains in text:
                return i
        raise LookupError(f"no code cell contains {contains!r}")

    def type_into(self, index: int, source: str) -> None:
        """Replace the text of code cell ``index`` with ``source``, as typed."""
        editor = self.code_cells().nth(index).locator(".cm-content").first
        editor.scroll_into_view_if_needed()
        editor.click()
        editor.fill(source)

    def run(self, index: int, wait: bool = True) -> None:
        """Run code cell ``index`` (Shift+Enter in its editor)."""
        editor = self.code_cells().nth(index).locator(".cm-content").first
        editor.scroll_into_view_if_needed()
        editor.click()
        self.page.keyboard.press("Shift+Enter")
        if wait:
            self.wait_idle()

    def add_cell(self, source: str) -> int:
        """A new code cell at the end holding ``source``; its index."""
        last = self.code_cells().count() + self.page.locator(".jp-Notebook .jp-MarkdownCell").count() - 1
        self.page.locator(".jp-Notebook .jp-Cell").nth(last).locator(".jp-InputPrompt").first.click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("b")
        index = self.code_cells().count() - 1
        self.type_into(index, source)
        return index

    def output(self, index: int) -> str:
        return self.code_cells().nth(index).locator(".jp-Cell-outputWrapper").inner_text()

    def cell_shot(self, index: int, name: str) -> Path:
        self.count += 1
        path = self.shots / f"{self.prefix}{self.count:02d}-{name}.png"
        cell = self.code_cells().nth(index)
        cell.scroll_into_view_if_needed()
        cell.screenshot(path=str(path))
        return path

    def save(self) -> None:
        self.page.keyboard.press("Control+s")
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="a release notebook, e.g. 01_matmul")
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="foundations-lab-")) / "course"
    work.mkdir()
    shutil.copy(ROOT / "release" / "foundations" / f"{args.notebook}.ipynb", work)
    with Lab(work) as lab, Browser(args.out, prefix=f"{args.notebook}-") as browser:
        browser.open(lab, f"{args.notebook}.ipynb")
        browser.shot("opened", full=False)
        start = time.monotonic()
        browser.run_all()
        print(f"run all: {time.monotonic() - start:.1f} s; prompts: {browser.prompts()}")
        browser.shot("run-all")
    print(f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
