"""Students get release/ and checker/ only. The checker must work without solutions/, give the same
verdicts, and carry no line of any solution."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from checker.registry import NOTEBOOKS
from instructor.authoring.notebooks import ROOT
from instructor.authoring.regions import regions
from solutions.source import entry_sources
from tests.helpers import submission

# The venv has this project installed in editable mode, which would make `solutions` importable
# from anywhere. `python -I -S` skips site-packages' .pth hooks (so no editable finder) and the
# environment; the bundle's folder and the venv's site-packages folder (for torch) are put on
# sys.path by hand, and `import solutions` is asserted to fail before the checker runs.
BOOT = ("import sys; sys.path[:0] = [{bundle!r}, {packages!r}]; "
        "import importlib.util as u; assert u.find_spec('solutions') is None, 'solutions is importable'; "
        "from checker.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    shutil.copytree(ROOT / "checker", root / "checker", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "release", root / "release")
    return root


def run_bundle(bundle: Path, *args) -> subprocess.CompletedProcess:
    code = BOOT.format(bundle=str(bundle), packages=sysconfig.get_paths()["purelib"])
    # -S keeps site from running .pth files (the editable install's finder among them).
    return subprocess.run([sys.executable, "-I", "-S", "-c", code, *map(str, args)], capture_output=True, text=True,
                          cwd=bundle, timeout=300)


def run_repo(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checker", *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("notebook", ["01_matmul", "03_backprop"])
def test_bundle_gives_the_same_verdicts_without_solutions(bundle, tmp_path, notebook):
    partial = submission(tmp_path, notebook, replace={"outer": "def outer(u, v):\n    return u[None] * v[:, None]",
                                                      "lin_grad": "def lin_grad(inp, out, w, b):\n    pass"})
    alone, full = run_bundle(bundle, partial, "--json"), run_repo(partial, "--json")
    assert alone.returncode == full.returncode == 1, alone.stderr
    verdicts = lambda proc: [(e["name"], e["status"], e["score"]) for e in json.loads(proc.stdout)["exercises"]]
    assert verdicts(alone) == verdicts(full)


def test_bundle_checks_an_untouched_release_notebook(bundle):
    proc = run_bundle(bundle, bundle / "release" / "foundations" / "02_forward.ipynb", "--json")
    statuses = {e["status"] for e in json.loads(proc.stdout)["exercises"]}
    assert statuses == {"not_attempted", "manual"}, proc.stderr


def test_no_line_of_any_solution_is_in_the_bundle(bundle):
    """Every line inside a solution region (the code students must write) of at least 13 characters,
    stripped, must appear in no file of the bundle. Shorter lines ("return c") are too generic to
    mean anything; boilerplate the catalogue prescribes is listed in test_course.NOT_A_LEAK."""
    from tests.test_course import NOT_A_LEAK

    present = set()
    for path in (p for p in bundle.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c.get("source", "")) for c in json.loads(text)["cells"])
        present.update(line.strip() for line in text.splitlines())
    found = []
    for notebook in NOTEBOOKS:
        for name, source in entry_sources(notebook).items():
            lines = source.splitlines()
            for first, last in regions(source):
                for line in (lines[i].strip() for i in range(first - 1, last)):
                    if len(line) > 12 and line not in NOT_A_LEAK and line in present:
                        found.append((name, line))
    assert found == []
