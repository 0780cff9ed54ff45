"""check() and the graded test cells in a real kernel, driven as Jupyter drives it (jupyter_client).

What a student lives in the notebook: a test cell shows its verdict and lets the notebook run
on (it raises, one line, only under nbgrader); a cell that hung and was interrupted is not
replayed to its limit on every check; a def not yet run says so; a slow step says what it waits
for. The same behaviours seen in a real browser: tests/test_browser.py.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from checker import messages as msg
from checker.kernel_history import FINISHED, INTERRUPTED, TRIMMED_NOTE, Run, definitions, replayed
from checker.sandbox.spawn import Limits
from tests.helpers import matches
from solutions.source import entry_sources

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "release" / "foundations"
HANG = "def matmul_loops(a, b):\n    while True:\n        pass\n"
CALL_HANGING = "demo_result = matmul_loops(torch.ones(2, 2), torch.ones(2, 2))"


# -- the replay, as data ----------------------------------------------------------------------
def test_an_interrupted_cell_is_replayed_as_its_definitions_only():
    source = "import math\n@staticmethod\ndef f(x):\n    return x\nwhile True:\n    f(1)\nclass A:\n    pass\n"
    assert definitions(source) == "import math\n@staticmethod\ndef f(x):\n    return x\nclass A:\n    pass\n"
    history = ["", "x = 1", HANG, CALL_HANGING, "check('matmul_loops')", "def g():\n    return 2\ng()"]
    record = {3: Run("c3", INTERRUPTED), 4: Run("c4", FINISHED), 5: Run("c5", INTERRUPTED)}
    assert [c.source for c in replayed(history, record, None)] == ["x = 1", HANG, "", "def g():\n    return 2\n"] != \
        [c.source for c in replayed(history, {}, None)]
    assert [c.interrupted for c in replayed(history, record, None)] == [None, None, CALL_HANGING, history[5]]


def test_demonstrations_and_test_cells_of_the_saved_notebook_are_not_replayed(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    demo = nbformat.v4.new_code_cell("slow_demo()", metadata={"tags": ["demo"]}, id="demo-1")
    mine = nbformat.v4.new_code_cell("y = 2", id="mine-1")
    nb.cells = [demo, mine]
    path = tmp_path / "01_matmul.ipynb"
    nbformat.write(nb, str(path))
    history = ["", "slow_demo()", "y = 2", "slow_demo()  # edited since it was saved"]
    record = {3: Run("demo-1", FINISHED)}  # Jupyter's cell id says which cell it is, even edited
    assert [c.source for c in replayed(history, record, path)] == ["y = 2"]
    assert [c.source for c in replayed(history, record, None)] == ["slow_demo()", "y = 2",
                                                                    "slow_demo()  # edited since it was saved"]


# -- in a real kernel ---------------------------------------------------------------------------
class Kernel:
    """A kernel started in a folder holding a copy of a release notebook, as Jupyter starts one."""

    def __init__(self, folder: Path, notebook: str, env: dict | None = None):
        shutil.copy(RELEASE / f"{notebook}.ipynb", folder)
        environment = {**os.environ, "JPY_SESSION_NAME": str(folder / f"{notebook}.ipynb"), **(env or {})}
        if "NBGRADER_EXECUTION" not in (env or {}):
            environment.pop("NBGRADER_EXECUTION", None)  # a student's kernel, not nbgrader's
        self.km, self.kc = start_new_kernel(cwd=str(folder), env=environment)

    def run(self, source: str, timeout: float = 180, interrupt_after: float | None = None) -> dict:
        """Run one cell; the outputs' texts, its error name and how long it took."""
        msg_id = self.kc.execute(source)
        started = time.monotonic()
        texts, error, interrupted, taken_back = [], None, False, []
        while True:
            if interrupt_after is not None and not interrupted and time.monotonic() - started > interrupt_after:
                self.km.interrupt_kernel()
                interrupted = True
            try:
                message = self.kc.get_iopub_msg(timeout=0.5)
            except Exception:  # noqa: BLE001 - queue.Empty: nothing yet
                if time.monotonic() - started > timeout:
                    raise TimeoutError(source)
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                texts.append(content["text"])
            elif kind in ("display_data", "execute_result"):
                texts.append(content["data"].get("text/html", content["data"].get("text/plain", "")))
            elif kind == "update_display_data":  # a line shown, then taken back (the "still waiting" one)
                taken_back.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                error = content
            elif kind == "status" and content["execution_state"] == "idle":
                break
        return {"text": "".join(texts), "error": error, "seconds": time.monotonic() - started, "taken_back": taken_back}

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture
def kernel(tmp_path):
    opened = []

    def start(notebook="01_matmul", env=None):
        opened.append(Kernel(tmp_path, notebook, env))
        return opened[-1]

    yield start
    for k in opened:
        k.close()


def _import_cell(notebook: str) -> str:
    import nbformat
    return nbformat.read(str(RELEASE / f"{notebook}.ipynb"), as_version=4).cells[1].source


@pytest.mark.slow
def test_a_test_cell_shows_its_verdict_and_lets_the_notebook_run_on(kernel):
    k = kernel()
    assert k.run(_import_cell("01_matmul"))["error"] is None
    stub = k.run("def matmul_loops(a, b):\n    raise NotImplementedError()")
    cell = k.run("from checker import grade_cell\ngrade_cell('matmul_loops', notebook='01_matmul')")
    assert cell["error"] is None and "not attempted" in cell["text"], cell
    assert stub["error"] is None
    # under nbgrader validate the same cell fails, with one line and no traceback of the checker
    strict = kernel(env={"NBGRADER_EXECUTION": "validate"})
    strict.run(_import_cell("01_matmul"))
    strict.run("def matmul_loops(a, b):\n    raise NotImplementedError()")
    failed = strict.run("from checker import grade_cell\ngrade_cell('matmul_loops', notebook='01_matmul')")
    assert failed["error"]["ename"] == "CheckFailed"
    assert failed["error"]["traceback"] == [
        msg.TEST_CELL_FAILED.format(name="matmul_loops", status="not attempted", points="0/2"),
        "  " + msg.NOT_ATTEMPTED_STUB.format(name="matmul_loops")]
    strict.run(entry_sources("01_matmul")["matmul_loops"])
    passing = strict.run("from checker import grade_cell\ngrade_cell('matmul_loops', notebook='01_matmul')")
    assert passing["error"] is None and "passed" in passing["text"]


@pytest.mark.slow
def test_a_hung_cell_that_was_interrupted_is_not_replayed_to_its_limit(kernel):
    k = kernel()
    k.run(_import_cell("01_matmul"))
    k.run(HANG)
    hung = k.run(CALL_HANGING, interrupt_after=2.0)
    assert hung["error"] and hung["error"]["ename"] == "KeyboardInterrupt"
    k.run(entry_sources("01_matmul")["matmul_loops"])
    checked = k.run("check('matmul_loops')")
    assert "passed" in checked["text"] and checked["error"] is None, checked
    assert matches(TRIMMED_NOTE, [checked["text"]]) and CALL_HANGING[:40] in checked["text"]
    assert checked["seconds"] < Limits().cell_seconds / 2, checked["seconds"]
    # the same cell not interrupted (the kernel's record says it finished) is replayed as it is
    assert replayed(["", CALL_HANGING], {1: Run(None, FINISHED)}, None)[0].source == CALL_HANGING


@pytest.mark.slow
def test_a_def_not_run_yet_says_so_and_a_slow_step_says_what_it_waits_for(kernel):
    k = kernel()
    k.run(_import_cell("01_matmul"))
    missing = k.run("check('matmul_elementwise')")
    assert matches(msg.NOT_RUN_IN_KERNEL, [missing["text"]]), missing["text"]
    assert not matches(msg.NOT_ATTEMPTED_MISSING, [missing["text"]])
    k.run("import time\ntime.sleep(6)\nslow_setup = 1")  # finished in the kernel: replayed, and slow there too
    waited = k.run("check('matmul_elementwise')")
    assert matches(msg.STILL_WAITING, [waited["text"]]) and "cell " in waited["text"] and "(import time)" in waited["text"], waited["text"]
    assert waited["taken_back"][-1:] == [""], waited  # once the verdict is shown, the waiting line is emptied
