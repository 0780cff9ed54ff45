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


DARK = {"@jupyterlab/apputils-extension/themes": {"theme": "JupyterLab Dark"}}


def _luminance(rgb: str) -> float:
    values = [int(v) / 255 for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
    linear = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in values]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_is_computed_as_wcag_says():
    """The measure the dark-theme test rests on, both ways: black on white 21, a grey on near-black low."""
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)")) == 21
    assert contrast("rgb(87, 96, 106)", "rgb(17, 17, 17)") < 3  # the old "not attempted" grey on a dark page


@pytest.mark.parametrize("app, settings", [("lab", DARK), ("notebook", {})], ids=["lab-dark-theme", "notebook7"])
def test_verdicts_read_well_in_the_dark_theme_and_in_notebook_7(tmp_path, app, settings):
    folder = tmp_path / "course"
    folder.mkdir()
    shutil.copy(browser.ROOT / "release" / "foundations" / f"{NOTEBOOK}.ipynb", folder)
    with browser.Lab(folder, app=app, settings_extra=settings) as server, \
            browser.Browser(prefix=f"{NOTEBOOK}-{app}-{'dark-' if settings else ''}") as page:
        page.open(server, f"{NOTEBOOK}.ipynb")
        page.run(page.cell_index("from checker import check"))
        outer = page.cell_index("def outer")
        page.type_into(outer, WRONG_OUTER)
        page.run(outer)
        checked = page.add_cell("display(check('outer'))\ncheck('matmul_loops')")
        page.run(checked)
        page.cell_shot(checked, "verdicts")
        shown = page.output(checked)
        assert "outer: failed (0/2 points)" in shown and "matmul_loops: not attempted" in shown, shown
        colours = page.page.evaluate(
            "() => [...document.querySelectorAll('.checker-result span')].map(s => getComputedStyle(s).color)")
        background = page.page.evaluate(
            "() => { let e = document.querySelector('.checker-result');"
            " while (e && ['rgba(0, 0, 0, 0)', 'transparent'].includes(getComputedStyle(e).backgroundColor))"
            " e = e.parentElement; return e ? getComputedStyle(e).backgroundColor : 'rgb(255, 255, 255)'; }")
        assert colours, "no verdict on the page"
        worst = min(contrast(c, background) for c in colours)
        assert worst >= 3.0, (colours, background, worst)  # WCAG AA for bold text
