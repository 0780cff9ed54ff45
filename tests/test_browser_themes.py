"""The verdicts on screen in JupyterLab's dark theme and in Notebook 7 (a module of its own: Playwright's sync API
runs one browser per thread at a time, and tests/test_browser.py keeps one open for its whole module)."""
from __future__ import annotations

import shutil

import pytest

from tests import browser

pytestmark = [pytest.mark.slow, pytest.mark.skipif(browser.unavailable() is not None,
                                                   reason=f"no browser test: {browser.unavailable()}")]
from tests.test_browser import NOTEBOOK, WRONG_OUTER  # noqa: E402 - the same notebook and wrong answer

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
