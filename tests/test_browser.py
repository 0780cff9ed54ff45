"""A student's day in a real browser: JupyterLab on localhost, Debian's Chromium driven by Playwright.

Screenshots of every step go to build/screenshots/ (look at them). Skips, saying why, where
Chromium or Playwright is missing (.ci/run installs Debian's chromium before make test).
"""
from __future__ import annotations

import shutil

import pytest

from checker import messages as msg
from solutions.source import entry_sources
from tests import browser

pytestmark = [pytest.mark.slow, pytest.mark.skipif(browser.unavailable() is not None,
                                                   reason=f"no browser test: {browser.unavailable()}")]
NOTEBOOK = "01_matmul"
WRONG_OUTER = "def outer(u, v):\n    return u[None, :] * v[:, None]   # transposed"
WRONG_ELEMENTWISE = ("def matmul_elementwise(a, b):\n    (ar, ac), (br, bc) = a.shape, b.shape\n"
                     "    c = torch.zeros(ar, bc)\n    for i in range(ar):\n        for j in range(bc):\n"
                     "            c[i, j] = (a[i, :] * b[j, :]).sum()   # b's row, not its column\n    return c")
HANG = "def matmul_elementwise(a, b):\n    while True:\n        pass"
CALL = "slow = matmul_elementwise(m1, m2)"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab") / "course"
    folder.mkdir()
    shutil.copy(browser.ROOT / "release" / "foundations" / f"{NOTEBOOK}.ipynb", folder)
    shutil.rmtree(browser.SCREENSHOTS, ignore_errors=True)
    with browser.Lab(folder) as server, browser.Browser(prefix=f"{NOTEBOOK}-") as page:
        page.open(server, f"{NOTEBOOK}.ipynb")
        yield page


def test_run_all_on_an_untouched_notebook_runs_every_cell(lab):
    lab.shot("opened", full=False)
    lab.run_all()
    prompts = lab.prompts()
    assert prompts and all(p.strip("[]: ").isdigit() for p in prompts), prompts  # no "[ ]": every cell ran
    first_test = lab.cell_index("grade_cell('matmul_loops'")
    lab.cell_shot(first_test, "untouched-test-cell")
    shown = lab.output(first_test)
    assert "matmul_loops: not attempted (0/2 points)" in shown and "Traceback" not in shown, shown
    assert lab.page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    progress = lab.cell_index('check_all("01_matmul")')
    lab.cell_shot(progress, "untouched-check-all")
    table = lab.output(progress)
    assert "01_matmul: 0/" in table and "not attempted" in table and "passed" not in table


def test_a_correct_and_a_wrong_answer_typed_in_and_checked(lab):
    loops = lab.cell_index("def matmul_loops")
    lab.type_into(loops, entry_sources(NOTEBOOK)["matmul_loops"])
    lab.run(loops)
    test_cell = lab.cell_index("grade_cell('matmul_loops'")
    lab.run(test_cell)
    lab.cell_shot(test_cell, "correct-answer-test-cell")
    assert "matmul_loops: passed (2/2 points)" in lab.output(test_cell)

    outer = lab.cell_index("def outer")
    lab.type_into(outer, WRONG_OUTER)
    lab.run(outer)
    checked = lab.add_cell("check('outer')")
    lab.run(checked)
    lab.cell_shot(checked, "wrong-answer-check")
    shown = lab.output(checked)
    assert "outer: failed (0/2 points)" in shown and "expected shape (3, 4), got (4, 3)" in shown, shown


def test_restart_and_run_all_of_a_half_done_notebook_reaches_the_end(lab):
    """One exercise right, one wrong in a way that raises in its demonstration: Restart and Run All still runs
    every cell; the demonstration shows the error and the student's own line in a few lines, no traceback and
    no frame of the kit, and check_all() at the end gives the table."""
    elementwise = lab.cell_index("def matmul_elementwise")
    lab.type_into(elementwise, WRONG_ELEMENTWISE)
    lab.restart()
    lab.run_all()
    assert lab.prompts() and lab.unrun() == [], " ".join(lab.prompts())
    demo = lab.cell_index("time_elementwise")
    lab.cell_shot(demo, "half-done-demo-stopped")
    shown = lab.output(demo)
    assert "this demo stopped: RuntimeError" in shown and "b's row, not its column" in shown, shown
    defined = lab.prompts()[elementwise].strip("[]: ")
    assert f"line 6 of In [{defined}]" in shown, shown  # the prompt the student sees beside the def
    assert "Traceback" not in shown and "lesson.py" not in shown and len(shown.splitlines()) <= 6, shown
    progress = lab.cell_index('check_all("01_matmul")')
    lab.cell_shot(progress, "half-done-check-all")
    table = lab.output(progress)
    assert "matmul_loops\tpassed" in table and "matmul_elementwise\tfailed" in table, table
    lab.type_into(elementwise, entry_sources(NOTEBOOK)["matmul_elementwise"])  # as the later tests expect


def test_a_hung_cell_interrupted_then_fixed_is_not_replayed_to_its_limit(lab):
    hang = lab.add_cell(HANG)
    lab.run(hang)
    call = lab.add_cell(CALL)
    lab.run(call, wait=False)
    lab.page.wait_for_timeout(2500)
    lab.interrupt()
    lab.cell_shot(call, "hung-cell-interrupted")
    assert "KeyboardInterrupt" in lab.output(call)

    fixed = lab.add_cell(entry_sources(NOTEBOOK)["matmul_elementwise"])
    lab.run(fixed)
    check = lab.add_cell("check('matmul_elementwise')")
    started = lab.page.evaluate("() => performance.now()")
    lab.run(check)
    seconds = (lab.page.evaluate("() => performance.now()") - started) / 1000
    lab.cell_shot(check, "fixed-after-hang")
    shown = lab.output(check)
    assert "matmul_elementwise: passed (2/2 points)" in shown and "was interrupted" in shown, shown
    assert seconds < 15, f"the check took {seconds:.0f} s: the hung cell was replayed"


def test_check_all_shows_the_table_of_the_session(lab):
    progress = lab.cell_index('check_all("01_matmul")')
    lab.run(progress)
    lab.cell_shot(progress, "check-all-after")
    table = lab.output(progress)
    for line in ("matmul_loops\tpassed\t2/2", "matmul_elementwise\tpassed\t2/2", "outer\tfailed\t0/2"):
        assert line in table, table
    align = lab.page.evaluate(
        "() => getComputedStyle(document.querySelector('.jp-OutputArea-output td:last-child')).textAlign")
    assert align == "left"


def test_after_a_restart_a_def_not_run_yet_says_so(lab):
    lab.restart()
    lab.run(lab.cell_index("from checker import check"))
    not_run = lab.add_cell("check('matmul_loops')")
    lab.run(not_run)
    lab.cell_shot(not_run, "def-not-run-yet")
    shown = " ".join(lab.output(not_run).split())
    assert msg.NOT_RUN_IN_KERNEL.format(name="matmul_loops") in shown, shown

