"""docs/EXERCISES.md is the registry, the checks and the released stubs, rendered: in step, complete, and
able to go out of step (so the in-step test means something)."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil

import nbformat
import pytest

from checker import registry
from checker.checks.base import Check
from checker.checks.speed import SpeedBar
from checker.exercises import forward, matmul
from checker.registry import NOTEBOOKS, TOTAL_POINTS, Exercise, Question, entries
from instructor import __main__ as cli
from instructor.authoring import catalogue
from instructor.authoring import check_rules

RUN_IT = "docs/EXERCISES.md is out of step with the code: run `python -m instructor catalogue` and commit it"


@pytest.fixture(scope="module")
def rendered() -> str:
    return catalogue.render()


def section(text: str, notebook: str) -> str:
    """The part of the catalogue about one notebook."""
    return text.split(f"\n## {notebook}.ipynb\n", 1)[1].split("\n## ", 1)[0]


def exercise_block(text: str, notebook: str, name: str) -> str:
    return section(text, notebook).split(f"\n### `{name}` (", 1)[1].split("\n### ", 1)[0]


def test_committed_catalogue_is_in_step(rendered):
    assert catalogue.CATALOGUE.is_file(), RUN_IT
    assert catalogue.CATALOGUE.read_text() == rendered, RUN_IT


def test_every_entry_appears_with_its_points_and_rules(rendered):
    for notebook in NOTEBOOKS:
        part = section(rendered, notebook)
        for entry in entries(notebook):
            if isinstance(entry, Question):
                assert f"- `{entry.name}` ({catalogue.points(entry.points)}): {entry.prompt}" in part
                continue
            assert f"### `{entry.name}` ({catalogue.points(entry.points)})" in part, entry.name
            assert f"| `{entry.name}` | {entry.points:g} | {entry.seconds:g} s |" in part, entry.name
            block = exercise_block(rendered, notebook, entry.name)
            assert re.search(rf"^(def|class) {entry.name}\b", block, re.M), f"{entry.name}: no signature"
            assert f"Checked within {entry.seconds:g} s:" in block
            for check in entry.checks:
                assert f"- **{check.name}** ({check_rules.CATEGORY_WORDS[check.category]}): " in block, \
                    f"{entry.name}: no line for its {check.name} check"


def test_rules_come_from_the_checks(rendered):
    einsum = exercise_block(rendered, "01_matmul", "matmul_einsum")
    assert "never calls the matrix-product family or the reduction family (`einsum` allowed)" in einsum
    assert "must call einsum" in einsum and "with the inner dimension doubled" in einsum
    norm = exercise_block(rendered, "01_matmul", "frobenius_norm")
    assert "the matrix-product family, the norm family or anything under torch.linalg" in norm
    fwd = exercise_block(rendered, "03_backprop", "forward_and_backward")
    assert "never calls autograd" in fwd and "at most 3 times that of torch.autograd on the same network" in fwd
    assert "inp (10000, 784) float32" in fwd


def test_total_points_are_the_course_total(rendered):
    assert sum(e.points for e in registry.all_entries()) == TOTAL_POINTS
    shown = [float(p) for p in re.findall(r"^### `\w+` \(([\d.]+) points?\)$", rendered, re.M)]
    shown += [float(p) for p in re.findall(r"^- `q_\w+` \(([\d.]+) points?\)", rendered, re.M)]
    assert len(shown) == len(registry.all_entries())
    assert sum(shown) == TOTAL_POINTS
    assert f"| **all** | | | **{TOTAL_POINTS:g}** |" in rendered


def with_points(module, name: str, points: float) -> list:
    return [dataclasses.replace(e, points=points) if e.name == name else e for e in module.ENTRIES]


def test_changed_points_put_the_catalogue_out_of_step(monkeypatch, capsys):
    old = next(e.points for e in forward.ENTRIES if e.name == "mse")
    monkeypatch.setattr(forward, "ENTRIES", with_points(forward, "mse", 5.0))
    text = catalogue.render()
    assert text != catalogue.CATALOGUE.read_text()
    assert "### `mse` (5 points)" in text and f"**{TOTAL_POINTS + 5.0 - old:g}**" in text
    assert catalogue.write(check_only=True) is True  # and the committed file is left alone
    assert cli.main(["catalogue", "--check"]) == 1
    assert "run `python -m instructor catalogue`" in capsys.readouterr().err


def test_a_changed_speed_bar_changes_the_catalogue(monkeypatch):
    def slower(entry):
        checks = tuple(dataclasses.replace(c, bar=9.0) if isinstance(c, SpeedBar) else c for c in entry.checks)
        return dataclasses.replace(entry, checks=checks)

    monkeypatch.setattr(matmul, "ENTRIES", [slower(e) if e.name == "matmul_broadcast" else e for e in matmul.ENTRIES])
    block = exercise_block(catalogue.render(), "01_matmul", "matmul_broadcast")
    assert "at most 9 times that of one broadcast product and sum per row" in block


def test_signatures_come_from_the_released_stubs(tmp_path):
    release = tmp_path / "foundations"
    shutil.copytree(catalogue.RELEASE, release)
    path = release / "02_forward.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    stub = next(c for c in nb.cells if c.metadata.get("foundations", {}) == {"generated": "solution", "name": "relu"})
    stub.source = stub.source.replace("def relu(x: Tensor)", "def relu(x: Tensor, inplace: bool = False)")
    nbformat.write(nb, str(path))
    block = exercise_block(catalogue.render(release), "02_forward", "relu")
    assert "def relu(x: Tensor, inplace: bool = False) -> Tensor:" in block
    nb.cells.remove(stub)
    nbformat.write(nb, str(path))
    with pytest.raises(catalogue.MissingStub) as err:
        catalogue.render(release)
    assert (err.value.notebook, err.value.name) == ("02_forward", "relu")


def test_a_check_nobody_described_is_refused():
    class Novel(Check):
        name = "novel"

    with pytest.raises(check_rules.UndescribedCheck) as err:
        check_rules.describe(Novel(), "relu")
    assert err.value.check_type == "Novel" and "instructor/authoring/check_rules.py" in str(err.value)


def test_write_makes_the_file_and_then_finds_it_in_step(tmp_path):
    path = tmp_path / "docs" / "EXERCISES.md"
    assert catalogue.write(path=path) is True
    assert path.read_text() == catalogue.render()
    assert catalogue.write(check_only=True, path=path) is False
    path.write_text(path.read_text().replace("(2 points)", "(3 points)", 1))
    assert catalogue.write(check_only=True, path=path) is True


def test_stub_bodies_are_elided_but_given_code_is_kept(rendered):
    module = exercise_block(rendered, "04_modules", "Module")
    assert "raise NotImplementedError()" not in module  # the stubs the student fills in
    assert 'raise NotImplementedError("subclasses define forward")' in module  # the base class's given code
    assert isinstance(registry.find("04_modules", "Module"), Exercise)


def test_the_tables_name_the_exercises_of_the_course_contract(rendered):
    """The same names, in the same order, as the course's published catalogue (snapshot in tests/)."""
    from tests.test_units import CATALOGUE_SNAPSHOT, catalogue_names

    contract = json.loads(CATALOGUE_SNAPSHOT.read_text())
    shown = catalogue_names(rendered)
    assert {notebook: shown.get(notebook) for notebook in contract} == contract  # later notebooks add their own
