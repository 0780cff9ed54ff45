"""Small modules on their own: comparison, tracing, errors, submissions, registry."""
from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from checker import errors
from checker import messages as msg
from checker.compare import Tolerance, difference
from checker.inputs import randn, generator
from checker.registry import NOTEBOOK_POINTS, NOTEBOOKS, TOTAL_POINTS, Exercise, Question, all_entries, entries, locate
from checker.sandbox import protocol
from checker.sandbox.tracing import OpTracer, canonical_name
from checker.submission import read_submission
from tests.helpers import template_regex, write_ipynb

CATALOGUE = Path(__file__).resolve().parents[2] / "shared" / "EXERCISES.md"
CATALOGUE_SNAPSHOT = Path(__file__).with_name("catalogue_names.json")


# -- compare -------------------------------------------------------------------------------------
def test_difference_reports_shape_then_dtype_then_values():
    want = torch.zeros(2, 3)
    assert template_regex(msg.SHAPE_MISMATCH).search(difference("x", want, {"tensor": torch.zeros(3, 2)}))
    assert template_regex(msg.DTYPE_MISMATCH).search(difference("x", want, {"tensor": want.long()}))
    assert difference("x", want, {"tensor": want.double()}) is None  # more precise than asked: counts
    got = want.clone()
    got[1, 2] = 0.5
    text = difference("x", want, {"tensor": got})
    assert "index (1, 2)" in text and "expected 0" in text and "got 0.5" in text
    assert difference("x", want, {"tensor": want + 1e-7}) is None


def test_values_that_differ_past_six_digits_are_shown_with_the_digits_that_differ():
    want = torch.tensor([21.963412345], dtype=torch.float64)
    text = difference("x", want, {"tensor": want + 3e-5})
    assert "expected 21.96341, got 21.96344" in text, text
    assert "expected 1.5, got 2.5" in difference("x", torch.tensor([1.5]), {"tensor": torch.tensor([2.5])})


def test_difference_flags_nan_and_non_tensors():
    got = torch.zeros(3)
    got[1] = float("nan")
    assert template_regex(msg.NAN_MISMATCH).search(difference("x", torch.zeros(3), {"tensor": got}))
    assert template_regex(msg.NOT_A_TENSOR).search(difference("x", torch.zeros(3), {"type": "list", "repr": "[0]"}))


def test_tolerance_is_tighter_for_float64():
    assert Tolerance.for_dtype(torch.float64).rtol < Tolerance.for_dtype(torch.float32).rtol


# -- tracing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, name", [(lambda a, b: a @ b, "matmul"), (lambda a, b: b.__rmatmul__(a), "matmul"),
                                      (lambda a, b: torch.einsum("ij,jk->ik", a, b), "einsum"),
                                      (lambda a, b: a.sum(), "sum")])
def test_tracer_names_ops_canonically(op, name):
    a, b = torch.randn(3, 4), torch.randn(4, 3)
    with OpTracer() as tracer:
        op(a, b)
    assert name in tracer.report()["counts"]


def test_tracer_sees_calls_that_return_nothing_and_ignores_shape_queries():
    x = torch.randn(3, requires_grad=True)
    with OpTracer() as tracer:
        x.shape, x.size(0)
        (x * 2).sum().backward()
    report = tracer.report()
    assert "backward" in report["called"]
    assert "size" not in report["counts"]


def test_tracer_measures_fresh_allocations_not_views():
    x = torch.randn(100, 10)
    tracer = OpTracer(large_bytes=x.numel() * 4)
    tracer.remember_existing([x])
    with tracer:
        x.t()
        x[None].expand(5, 100, 10)
        x + 1
    report = tracer.report()
    assert report["large_allocations"] == 1
    assert report["largest_bytes"] == x.numel() * 4


def test_canonical_name_strips_dunders():
    assert canonical_name(torch.Tensor.__iadd__) == "add_"
    assert canonical_name(torch.Tensor.__truediv__) == "div"


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", [
    errors.SubmissionUnreadable(path="a.ipynb", reason="no such file"),
    errors.ProbeTimeout(seconds=2.0, what="calling outer on a test input"),
    errors.ChildDied(how="with a segmentation fault (SIGSEGV)", what="outer"),
    errors.UnknownExercise(name="x", notebook="01_matmul", known="outer"),
])
def test_errors_pickle_with_their_fields(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert all(getattr(copy, f) == getattr(error, f) for f in error.fields)


def test_errors_are_also_builtin_exceptions():
    assert isinstance(errors.ProbeTimeout(seconds=1.0, what="x"), TimeoutError)
    assert isinstance(errors.ChildDied(how="x", what="y"), RuntimeError)
    assert isinstance(errors.SubmissionUnreadable(path="p", reason="r"), ValueError)


# -- protocol ------------------------------------------------------------------------------------
def test_protocol_round_trip_and_refuses_huge_messages():
    r, w = os.pipe()
    protocol.write_message(w, {"x": torch.ones(2), "t": (torch.arange(3), 1.5, "s")})
    got = protocol.read_message(r)
    assert torch.equal(got["x"], torch.ones(2)) and torch.equal(got["t"][0], torch.arange(3))
    assert got["t"][1:] == (1.5, "s")
    os.write(w, protocol.HEADER.pack(protocol.MAX_MESSAGE_BYTES + 1))
    with pytest.raises(ValueError):
        protocol.read_message(r)
    os.close(w)
    with pytest.raises(protocol.ChannelClosed):
        protocol.read_message(r)


def test_the_wire_carries_data_of_every_kind_the_checker_sends():
    from checker.sandbox import wire
    sent = {"t": torch.arange(12.0).reshape(3, 4).t(), "flag": torch.tensor(True), "none": torch.zeros(0, 3),
            "c": torch.tensor([1 + 2j]).conj(), "p": torch.nn.Parameter(torch.ones(2)), 3: (1, "b", None, 2.5),
            (1, 2): [torch.Size([2, 3]), torch.float64, b"x", 1j, False]}
    got = wire.decode(wire.encode(sent))
    assert set(got) == set(sent) and type(got["p"]) is torch.Tensor
    for key in ("t", "flag", "none", "c", "p"):
        assert got[key].dtype == sent[key].dtype and torch.equal(got[key], sent[key].detach().resolve_conj())
    assert got[3] == sent[3] and got[(1, 2)] == sent[(1, 2)] and type(got[(1, 2)][0]) is torch.Size


def test_the_wire_carries_no_object_and_runs_no_code(tmp_path):
    """Only data travels: an object (which pickle would rebuild by calling what it names) is refused on the way
    out, and bytes that name code are refused on the way in, with nothing run."""
    import marshal

    from checker.sandbox import wire
    target = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(target),))

    with pytest.raises(wire.WireError, match="Evil"):
        wire.encode({"x": Evil()})
    with pytest.raises(wire.WireError, match="code"):
        wire.decode(marshal.dumps({"x": (lambda: os.mkdir(str(target))).__code__}))
    with pytest.raises(wire.WireError, match="untagged tuple"):
        wire.decode(marshal.dumps((1, 2)))
    assert not target.exists()


# -- inputs --------------------------------------------------------------------------------------
def test_layouts_are_non_contiguous_views():
    g = generator(0)
    assert not randn(g, 3, 4, layout="transposed").is_contiguous()
    assert not randn(g, 3, 4, layout="strided").is_contiguous()
    assert randn(g, 3, 4, layout="transposed").shape == (3, 4)


# -- submissions ---------------------------------------------------------------------------------
def test_python_file_without_markers_splits_into_statements(tmp_path):
    path = tmp_path / "01_matmul.py"
    path.write_text("import torch\n\ndef a():\n    return 1\n\n@staticmethod\ndef b():\n    pass\nx = 1\n")
    cells = read_submission(path).cells
    assert [c.original.split("\n")[0] for c in cells] == ["import torch", "def a():", "@staticmethod", "x = 1"]


def test_python_file_with_a_syntax_error_still_splits_per_definition(tmp_path):
    path = tmp_path / "01_matmul.py"
    path.write_text("import torch\ndef a(:\n    pass\ndef b():\n    return 2\n")
    cells = read_submission(path).cells
    assert len(cells) == 3 and "def b" in cells[2].original


def test_notebook_skips_test_cells_and_demo_cells_and_transforms_magics(tmp_path):
    path = write_ipynb(tmp_path / "01_matmul.ipynb", ["x = 1", "check('outer')", "%time y = 2", "slow()"],
                       {1: {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}},
                        3: {"tags": ["demo"]}})
    cells = read_submission(path).cells
    assert [c.original for c in cells] == ["x = 1", "%time y = 2"]
    assert "get_ipython().run_line_magic('time'" in cells[1].source


def test_cell_defining_finds_the_last_definition(tmp_path):
    path = tmp_path / "01_matmul.py"
    path.write_text("# %%\ndef outer(u, v):\n    pass\n# %%\ndef outer(u, v):\n    return 1\n")
    sub = read_submission(path)
    assert sub.cell_defining("outer").index == 1


# -- registry ------------------------------------------------------------------------------------
def test_points_add_up_to_the_total():
    assert sum(e.points for e in all_entries()) == TOTAL_POINTS
    for notebook in NOTEBOOKS:
        assert sum(e.points for e in entries(notebook)) == NOTEBOOK_POINTS


def test_every_notebook_has_two_or_three_written_questions():
    for notebook in NOTEBOOKS:
        assert 2 <= sum(isinstance(e, Question) for e in entries(notebook)) <= 3


def test_locate_needs_the_notebook_for_shared_names():
    assert locate("outer").notebook == "01_matmul"
    with pytest.raises(errors.UnknownExercise):
        locate("Relu")
    assert locate("Relu", "04_modules").notebook == "04_modules"


def catalogue_names(text: str) -> dict[str, list[str]]:
    """The exercise names of each notebook's table in EXERCISES.md, in order."""
    out = {}
    for notebook in NOTEBOOKS:
        if f"## {notebook}.ipynb" not in text:  # a notebook added after that catalogue was written
            continue
        section = text.split(f"## {notebook}.ipynb")[1].split("\n## ")[0]
        names = []
        for row in re.findall(r"^\| (`[^|]+`) \|", section, re.MULTILINE):
            names += re.findall(r"`(\w+)`", row)
        out[notebook] = names
    return out


def test_registry_names_are_exactly_the_catalogue():
    """Against a snapshot of the catalogue's names kept here, so that CI checks it without ../shared: every
    notebook of the contract keeps exactly its names, in order; a notebook added later adds its own."""
    snapshot = json.loads(CATALOGUE_SNAPSHOT.read_text())
    assert set(snapshot) <= set(NOTEBOOKS)
    for notebook in snapshot:
        assert [e.name for e in entries(notebook) if isinstance(e, Exercise)] == snapshot[notebook], notebook


@pytest.mark.skipif(not CATALOGUE.exists(), reason="the shared catalogue is not beside this checkout")
def test_the_snapshot_of_catalogue_names_is_current():
    assert catalogue_names(CATALOGUE.read_text()) == json.loads(CATALOGUE_SNAPSHOT.read_text())


def test_every_scenario_says_in_words_what_the_checker_was_doing():
    from checker.sandbox.scenarios import SCENARIOS

    assert set(msg.PROBE_ACTIVITY) == set(SCENARIOS)


def test_the_required_op_counts_work_only_on_its_inputs_and_copies_of_them_whole():
    """The trace of the required-op check's second call: an einsum on the inputs, on a copy of them written over
    zeros, counts; on ones with one row of the inputs written in, or on a product computed first, it does not."""
    import torch
    from checker.sandbox.tracing import OpTracer

    a, b = torch.randn(4, 3), torch.randn(3, 2)

    def scaled_work(fn):
        tracer = OpTracer(scale={"names": ["einsum"], "factor": 2.0})
        tracer.remember_existing([a, b])
        with tracer:
            fn()
        return tracer.report()["scaled_work"]

    def copied_whole():
        z = torch.zeros(4, 3)
        z[:, :] = a
        return torch.einsum("ik,kj->ij", z, b)

    def one_row_over_ones():
        z = torch.ones(4, 3)
        z[:1] = a[:1]
        return torch.einsum("ik,kj->ij", z, b)

    assert scaled_work(lambda: torch.einsum("ik,kj->ij", a.double(), b.double().t().t())) == 4 * 3 * 2
    assert scaled_work(copied_whole) == 4 * 3 * 2
    assert scaled_work(one_row_over_ones) == 0
    assert scaled_work(lambda: torch.einsum("ijk->ij", a[:, None, :] * b.t()[None])) == 0
