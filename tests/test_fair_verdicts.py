"""The verdicts a careful grader gives: the lesson's own code earns full points, forbidden operations
are judged by what they are, and every layer that keeps gradients is judged on a second pass.

Each rule both ways: the correct variants pass (with a note where one is due), the wrong ones fail
with the message a student should read.
"""
from __future__ import annotations

import pytest
import torch

from checker import messages as msg
from checker.checks.operations import op_families
from checker.grading import Options, grade
from checker.sandbox.runner import Limits
from tests.helpers import cells_for, matches, write_py
from instructor.authoring.lesson_variants import VARIANTS
from tests.mutants import MATMUL_MEMBERS, NORM_MEMBERS, OUTER_MEMBERS, generate, run

OPTIONS = Options(limits=Limits(cell_seconds=10.0))


def graded(tmp_path, notebook, exercise, replace, extra_cells=()):
    path = write_py(tmp_path / f"{notebook}.py", cells_for(notebook, replace=replace, extra_cells=extra_cells))
    return grade(path, notebook=notebook, only=[exercise], options=OPTIONS).exercises[0]


# -- 1. the lesson's own code -------------------------------------------------------------------
# the lesson's own matmul_loops: torch.zeros(ar, bc) makes a float32 result, whatever the inputs' dtype
LESSON_LOOPS = next(v.source for v in VARIANTS if (v.exercise, v.id) == ("matmul_loops", "lesson-zeros-assert"))


def test_a_float32_result_for_float64_inputs_passes_with_a_note(tmp_path):
    result = graded(tmp_path, "01_matmul", "matmul_loops", {"matmul_loops": LESSON_LOOPS})
    assert result.status == "passed" and result.score == result.max_score, result.feedback
    assert matches(msg.DTYPE_NARROWED, result.feedback), result.feedback


def test_a_float32_result_that_is_wrong_still_fails(tmp_path):
    wrong = LESSON_LOOPS.replace("c[i, j] += a[i, k] * b[k, j]", "c[i, j] += a[i, k] * b[k, j] * 1.001")
    result = graded(tmp_path, "01_matmul", "matmul_loops", {"matmul_loops": wrong})
    assert result.status == "failed" and matches(msg.VALUE_MISMATCH, result.feedback), result.feedback


def test_a_float64_result_of_right_values_passes_with_a_note_and_wrong_still_fails(tmp_path):
    """Attack round 17's honest student: a float64 constant beside float32 inputs, the lesson's loops: a float64
    result of the right values (0/2 before, for its dtype)."""
    wider = LESSON_LOOPS.replace("torch.zeros(ar, bc)", "torch.zeros(ar, bc, dtype=torch.float64)")
    result = graded(tmp_path, "01_matmul", "matmul_loops", {"matmul_loops": wider})
    assert result.status == "passed" and result.score == result.max_score, result.feedback
    assert matches(msg.DTYPE_WIDENED, result.feedback), result.feedback
    wrong = wider.replace("c[i, j] += a[i, k] * b[k, j]", "c[i, j] += a[i, k] * b[k, j] * 1.001")
    (tmp_path / "wrong").mkdir()
    result = graded(tmp_path / "wrong", "01_matmul", "matmul_loops", {"matmul_loops": wrong})
    assert result.status == "failed" and matches(msg.VALUE_MISMATCH, result.feedback), result.feedback


def test_a_float64_accuracy_is_right_without_a_note(tmp_path):
    """accuracy's contract is "a float": a float64 fraction is right as it is, and no dtype note is shown (honest
    round 21); a wrong fraction in float64 still fails."""
    right = "def accuracy(out, target):\n    return (out.argmax(dim=1) == target).to(torch.float64).mean()"
    result = graded(tmp_path, "05_training", "accuracy", {"accuracy": right})
    assert result.status == "passed" and result.score == result.max_score, result.feedback
    assert not matches(msg.DTYPE_WIDENED, result.feedback), result.feedback
    (tmp_path / "wrong").mkdir()
    wrong = right.replace(".mean()", ".sum()")
    result = graded(tmp_path / "wrong", "05_training", "accuracy", {"accuracy": wrong})
    assert result.status == "failed", result.feedback


@pytest.mark.parametrize("notebook, exercise", [("01_matmul", "matmul_loops"), ("04_modules", "LinearLayer"),
                                                ("04_modules", "TorchModel"), ("05_training", "fit")])
def test_a_default_dtype_set_in_a_cell_does_not_apply_while_judged(tmp_path, notebook, exercise):
    """Attack rounds 17 and 19: ``torch.set_default_dtype(torch.float64)`` in a cell of its own made the layers her
    code builds float64 beside the checker's float32 inputs (LinearLayer 0/3, TorchModel 0/4, fit 0/4); each probe
    runs with torch's default dtype, as the inputs are."""
    result = graded(tmp_path, notebook, exercise, {"matmul_loops": LESSON_LOOPS} if exercise == "matmul_loops" else {},
                    extra_cells=["torch.set_default_dtype(torch.float64)\n"])
    assert result.status == "passed" and result.score == result.max_score, result.feedback


def test_an_integer_result_for_float_inputs_is_not_excused(tmp_path):
    wrong = LESSON_LOOPS.replace("return c", "return c.long()")
    result = graded(tmp_path, "01_matmul", "matmul_loops", {"matmul_loops": wrong})
    assert result.status == "failed" and matches(msg.DTYPE_MISMATCH, result.feedback), result.feedback


# -- 2. forbidden operations by what they are ----------------------------------------------------
@pytest.mark.parametrize("name, families", [
    ("linalg_norm", {"linalg", "norm"}), ("linalg_matmul", {"linalg", "matmul"}), ("matmul_", {"matmul"}),
    ("addmm_", {"matmul"}), ("linear", {"matmul"}), ("bilinear", {"matmul"}), ("einsum", {"matmul", "einsum"}),
    ("linalg_vecdot", {"linalg", "matmul"}), ("linalg_svdvals", {"linalg", "matmul"}), ("norm", {"norm"}), ("mul", set()), ("sum", {"reduction"}),
    # solves and decompositions hold products; anything named a norm is one; the random initialiser is not
    ("inverse", {"linalg", "matmul"}), ("triangular_solve", {"linalg", "matmul"}), ("svd", {"linalg", "matmul"}),
    ("native_layer_norm", {"norm"}), ("_native_batch_norm_legit", {"norm"}), ("normal_", set()),
    ("sampled_addmm", {"matmul"}), ("_int_mm", {"matmul"}), ("mkldnn_linear", {"matmul"}), ("lp_pool1d", {"norm"}),
    ("_convolution_mode", {"matmul", "conv"}), ("conv2d", {"matmul", "conv"}), ("_log_softmax", {"softmax", "reduction"}),
    ("logsumexp", {"softmax", "reduction"}), ("nll_loss_nd", {"nll", "softmax", "reduction", "norm"}), ("cross_entropy", {"nll", "softmax", "reduction"}), ("commit", set()), ("_convert_indices_from_coo_to_csr", set()),
    # sums by other names: accumulating into indices, averaging pools, folding patches back (not unfolding them)
    ("index_add_", {"reduction"}), ("scatter_add", {"reduction"}), ("scatter_reduce_", {"reduction"}),
    ("index_put_accumulate", {"reduction"}), ("avg_pool1d", {"reduction"}), ("adaptive_avg_pool2d", {"reduction"}),
    ("col2im", {"reduction"}), ("fold", {"reduction"}), ("unfold", set()), ("index_put_", set()),
    ("embedding_bag", {"matmul", "reduction"}), ("sum_to_size", {"reduction"}),
    # ops whose one kernel does a family's work: a sparse tensor made dense adds duplicates up, log-sum-exp by
    # any name (running, pairwise), KL divergence against one-hot targets, convolution by FFT, hypot folded
    ("to_dense", {"reduction"}), ("sparse_coo_tensor", {"reduction"}), ("logcumsumexp", {"softmax", "reduction"}),
    ("logaddexp", {"softmax", "reduction"}), ("kl_div", {"nll", "softmax", "reduction"}), ("fft_rfft2", {"matmul", "conv"}),
    ("hypot", {"norm"}), ("exp", set()), ("log", set()),
    # a CTC loss of one step is the NLL; every loss reduces a norm of residuals; softmax sums (its denominator);
    # attention is a softmax of products in whichever kernel runs it
    ("ctc_loss", {"nll", "softmax", "reduction", "norm"}), ("multi_margin_loss", {"norm", "reduction"}),
    ("l1_loss", {"norm", "reduction"}), ("softmax", {"softmax", "reduction"}),
    ("_scaled_dot_product_flash_attention_for_cpu", {"matmul", "softmax", "reduction"}), ("addcmul_", set()),
])
def test_an_op_belongs_to_its_families_by_namespace_and_identity(name, families):
    assert op_families(name) == families


def _members_in_torch(members: dict) -> dict:
    """Only what this torch has (``torch.linalg.vecdot`` is 2.2+, for instance)."""
    def present(member: str) -> bool:
        path = member.replace("F.", "torch.nn.functional.").replace("Tensor.", "torch.Tensor.")
        if not path.startswith("torch."):
            return True
        obj = torch
        for part in path.split(".")[1:]:
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return {k: v for k, v in members.items() if present(k)}


FORBIDDEN = [("01_matmul", "matmul_loops", MATMUL_MEMBERS), ("01_matmul", "matmul_broadcast", MATMUL_MEMBERS),
             ("01_matmul", "frobenius_norm", NORM_MEMBERS), ("01_matmul", "outer", OUTER_MEMBERS)]


@pytest.fixture(scope="module")
def forbidden_verdicts():
    mutants = [m for m in generate(["01_matmul"]) if m.operator == "forbidden"]
    return {v.mutant.id: v for v in run(mutants, jobs=1)}, mutants


@pytest.mark.parametrize("notebook, exercise, members", FORBIDDEN, ids=[f[1] for f in FORBIDDEN])
def test_every_member_of_a_forbidden_family_fails_the_exercise(forbidden_verdicts, notebook, exercise, members):
    verdicts, mutants = forbidden_verdicts
    mine = {m.description.removeprefix("body replaced by "): m for m in mutants if m.exercise == exercise}
    checked = _members_in_torch(members)
    assert set(checked) <= set(mine)
    for member in checked:
        verdict = verdicts[mine[member].id]
        assert verdict.status == "failed" and verdict.mutant.exercise == exercise, (member, verdict.status)
        # by the trace when torch's function mode sees the call, else by the source read in the grader
        seen_by = (msg.FORBIDDEN_OP, msg.SOURCE_FORBIDDEN_OP, msg.SOURCE_OTHER_LIBRARY, msg.SOURCE_BELOW_API,
                   msg.SOURCE_DYNAMIC)
        assert any(matches(t, verdict.feedback) for t in seen_by) or \
            verdict.feedback[0].startswith("tampering: "), (member, verdict.feedback)


def test_a_linalg_call_fails_the_norm_exercise_with_the_rule(tmp_path):
    result = graded(tmp_path, "01_matmul", "frobenius_norm",
                    {"frobenius_norm": "def frobenius_norm(m):\n    return torch.linalg.norm(m)"})
    assert result.status == "failed" and matches(msg.FORBIDDEN_OP, result.feedback), result.feedback
    assert any("torch.linalg.norm" in line for line in result.feedback), result.feedback


def test_elementwise_ops_and_sums_pass_the_norm_exercise(tmp_path):
    result = graded(tmp_path, "01_matmul", "frobenius_norm",
                    {"frobenius_norm": "def frobenius_norm(m):\n    return m.pow(2).sum().sqrt()"})
    assert result.status == "passed", result.feedback


# -- 3. every layer that keeps gradients, on a second forward and backward -----------------------
ACCUMULATING_LIN = {
    "03_backprop": ("class Lin:\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n"
                    "    def __call__(self, inp):\n        self.inp = inp\n        self.out = inp @ self.w + self.b\n"
                    "        return self.out\n    def backward(self):\n"
                    "        self.inp.g = self.out.g @ self.w.t()\n"
                    "        self.w.g = getattr(self.w, 'g', 0) + self.inp.t() @ self.out.g\n"
                    "        self.b.g = getattr(self.b, 'g', 0) + self.out.g.sum(0)\n"),
    "04_modules": ("class Lin(Module):\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n"
                   "    def forward(self, inp):\n        return inp @ self.w + self.b\n"
                   "    def bwd(self, out, inp):\n        inp.g = out.g @ self.w.t()\n"
                   "        self.w.g = getattr(self.w, 'g', 0) + inp.t() @ out.g\n"
                   "        self.b.g = getattr(self.b, 'g', 0) + out.g.sum(0)\n"),
}


@pytest.mark.parametrize("notebook", ["03_backprop", "04_modules"])
def test_a_lin_that_accumulates_its_gradients_fails_lin(tmp_path, notebook):
    result = graded(tmp_path, notebook, "Lin", {"Lin": ACCUMULATING_LIN[notebook]})
    assert result.status == "failed" and matches(msg.GRAD_NOT_FRESH, result.feedback), result.feedback


@pytest.mark.parametrize("notebook", ["03_backprop", "04_modules"])
@pytest.mark.parametrize("exercise", ["Lin", "Relu", "Mse", "Model"])
def test_the_reference_layers_pass_the_second_pass(tmp_path, notebook, exercise):
    result = graded(tmp_path, notebook, exercise, {})
    assert result.status == "passed", result.feedback


def test_a_gradient_stored_elsewhere_is_reported_as_not_set(tmp_path):
    """The checker plants a stale .g before the call: a function that never sets .g is told so, not shown the
    planted numbers as if they were its answer."""
    result = graded(tmp_path, "03_backprop", "mse_grad", {"mse_grad": (
        "def mse_grad(inp, targ):\n    inp.grad = 2.0 * (inp.squeeze(-1) - targ).unsqueeze(-1) / inp.shape[0]")})
    assert result.status == "failed" and matches(msg.GRAD_STALE, result.feedback), result.feedback


# -- an error torch raises is not the stub --------------------------------------------------------
def test_not_implemented_raised_by_torch_is_an_attempt_that_failed(tmp_path):
    """torch raises NotImplementedError for an op this machine lacks; the student wrote code: "failed", not "not
    attempted", and the message is torch's."""
    source = "def outer(u, v):\n    return torch.native_norm(u)[None] * u[:, None] * v[None, :]"
    result = graded(tmp_path, "01_matmul", "outer", {"outer": source})
    assert result.status == "failed" and any("native_norm" in line for line in result.feedback), result.feedback


def test_the_stub_s_own_raise_is_not_attempted(tmp_path):
    source = "def outer(u, v):\n    raise NotImplementedError('later')"
    assert graded(tmp_path, "01_matmul", "outer", {"outer": source}).status == "not_attempted"


def test_the_lesson_s_own_base_module_passes(tmp_path):
    """The lesson writes the base forward as ``raise Exception('not implemented')`` (and with no arguments)."""
    lesson = ("class Module():\n    def __call__(self, *args):\n        self.args = args\n"
              "        self.out = self.forward(*args)\n        return self.out\n\n"
              "    def forward(self): raise Exception('not implemented')\n"
              "    def backward(self): self.bwd(self.out, *self.args)\n"
              "    def bwd(self): raise Exception('not implemented')")
    result = graded(tmp_path, "04_modules", "Module", {"Module": lesson})
    assert result.status == "passed", result.feedback
    returns = lesson.replace("def forward(self): raise Exception('not implemented')", "def forward(self, *a): return None")
    result = graded(tmp_path, "04_modules", "Module", {"Module": returns})
    assert result.status == "failed" and matches(msg.BASE_FORWARD, result.feedback), result.feedback


@pytest.mark.parametrize("notebook, exercise, source", [
    ("01_matmul", "outer", "def outer(u, v):\n    if u.shape[0] >= 6:\n"
                           "        return torch.zeros(u.shape[0], v.shape[0], dtype=u.dtype)\n"
                           "    return u[:, None] * v[None, :]"),
    ("02_forward", "relu", "def relu(x):\n    if x.dim() == 2 and x.shape[0] >= 6:\n        return x.abs()\n"
                           "    return x.clamp_min(0.)"),
])
def test_an_answer_wrong_only_on_the_sizes_a_rule_calls_it_with_is_a_wrong_answer(tmp_path, notebook, exercise,
                                                                                     source):
    """Attack round 22: outer returning zeros for 6 entries or more earned 2/2: the loops check calls it on larger
    sizes and only counted its ops. Every traced call's answer is now judged as the values check judges its own."""
    from checker import messages as msg
    from tests.helpers import matches

    result = graded(tmp_path, notebook, exercise, {exercise: source})
    assert result.status == "failed" and result.score == 0, result.feedback
    assert matches(msg.FRESH_INPUT_WRONG, result.feedback), result.feedback
    (tmp_path / "honest").mkdir()
    result = graded(tmp_path / "honest", notebook, exercise, {})
    assert result.status == "passed", result.feedback
