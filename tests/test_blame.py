"""Each mistake charged to the exercise that has it: state kept from an earlier call fails the layer that keeps it."""
from __future__ import annotations

import pytest

from checker.grading import grade
from checker.results import FAILED, PASSED
from tests.helpers import stub_of, submission

CACHED_MASK_RELU = {
    "03_backprop": ("class Relu:\n    def __call__(self, inp):\n        self.inp = inp\n"
                    "        if not hasattr(self, 'mask'):\n            self.mask = (inp > 0).float()\n"
                    "        self.out = inp * self.mask\n        return self.out\n"
                    "    def backward(self):\n        self.inp.g = self.mask * self.out.g"),
    "04_modules": ("class Relu(Module):\n    def forward(self, inp):\n"
                   "        if not hasattr(self, 'mask'):\n            self.mask = (inp > 0).float()\n"
                   "        return inp * self.mask\n"
                   "    def bwd(self, out, inp):\n        inp.g = self.mask * out.g"),
}
STORED_SHAPE_MSE = ("class Mse:\n    def __call__(self, inp, targ):\n        self.inp, self.targ = inp, targ\n"
                    "        if not hasattr(self, 'n'):\n            self.n = targ.shape[0]\n"
                    "        self.out = (inp.squeeze(-1) - targ).pow(2).sum() / self.n\n        return self.out\n"
                    "    def backward(self):\n"
                    "        self.inp.g = 2. * (self.inp.squeeze(-1) - self.targ).unsqueeze(-1) / self.n")


@pytest.mark.parametrize("notebook", sorted(CACHED_MASK_RELU))
def test_a_layer_that_keeps_its_first_mask_fails_itself(tmp_path, notebook):
    result = grade(submission(tmp_path, notebook, replace={"Relu": CACHED_MASK_RELU[notebook]}), only=["Relu"])
    relu = result.exercises[0]
    assert relu.status == FAILED and relu.score == 0, relu.feedback
    assert "after a first forward and backward on x of shape" in relu.feedback[0], relu.feedback


def test_a_loss_that_keeps_its_first_batch_size_fails_itself(tmp_path):
    result = grade(submission(tmp_path, "03_backprop", replace={"Mse": STORED_SHAPE_MSE}), only=["Mse"])
    assert result.exercises[0].status == FAILED, result.exercises[0].feedback
    assert "after a first forward and backward on inp of shape" in result.exercises[0].feedback[0]


@pytest.mark.parametrize("notebook", ["03_backprop", "04_modules"])
def test_the_reference_layers_pass_after_a_call_on_other_shapes(tmp_path, notebook):
    result = grade(submission(tmp_path, notebook), only=["Relu", "Lin", "Mse"])
    assert all(e.status == PASSED for e in result.exercises), [(e.name, e.feedback) for e in result.exercises]


FIRST_ARGUMENT_ONLY = ("class Module:\n    def __call__(self, *args):\n        self.inp = args[0]\n"
                       "        self.out = self.forward(self.inp)\n        return self.out\n"
                       "    def forward(self, inp):\n        raise NotImplementedError\n"
                       "    def backward(self):\n        self.bwd(self.out, self.inp)\n"
                       "    def bwd(self, out, inp):\n        raise NotImplementedError")


def test_a_module_that_keeps_only_its_first_argument_fails_module_itself(tmp_path):
    from checker import messages as msg
    from tests.helpers import matches

    result = grade(submission(tmp_path, "04_modules", replace={"Module": FIRST_ARGUMENT_ONLY}), only=["Module"])
    module = result.exercises[0]
    assert module.status == FAILED and module.score == 0, module.feedback
    assert matches(msg.SUBCLASS_TWO_INPUTS, module.feedback), module.feedback


def test_the_reference_module_passes_with_two_inputs(tmp_path):
    result = grade(submission(tmp_path, "04_modules"), only=["Module"])
    assert result.exercises[0].status == PASSED, result.exercises[0].feedback


def test_a_definition_that_ran_counts_when_its_cell_raises_later(tmp_path):
    """A correct outer, then a demonstration line of the same cell that raises: outer is judged (and passes), and
    a note says the cell raised after it and where."""
    from checker import messages as msg
    from tests.helpers import matches

    source = "def outer(u, v):\n    return u[:, None] * v[None, :]\n\nouter(torch.ones(2), torch.ones(3)) @ torch.ones(2)"
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"])
    assert result.exercises[0].status == PASSED, result.exercises[0].feedback
    assert matches(msg.DEFINED_THEN_RAISED, result.notes), result.notes
    assert any("line 4" in note for note in result.notes), result.notes


def test_a_cell_that_raises_before_its_def_is_still_an_error(tmp_path):
    source = "1 / 0\ndef outer(u, v):\n    return u[:, None] * v[None, :]"
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"])
    assert result.exercises[0].status == "error", result.exercises[0].feedback


# The (n,1)-(n,) broadcast, written into each exercise where the mse or its gradient is written
BROADCAST = {
    ("02_forward", "mse"): "def mse(output, targ):\n    return (output - targ).pow(2).mean()",
    ("03_backprop", "mse_grad"): "def mse_grad(inp, targ):\n    inp.g = 2. * (inp - targ) / inp.shape[0]",
    ("03_backprop", "Mse"): ("class Mse:\n    def __call__(self, inp, targ):\n        self.inp, self.targ = inp, targ\n"
                             "        self.out = (inp.squeeze(-1) - targ).pow(2).mean()\n        return self.out\n"
                             "    def backward(self):\n        self.inp.g = 2. * (self.inp - self.targ) / self.targ.shape[0]"),
    ("04_modules", "Mse"): ("class Mse(Module):\n    def forward(self, inp, targ):\n"
                            "        return (inp.squeeze(-1) - targ).pow(2).mean()\n"
                            "    def bwd(self, out, inp, targ):\n        inp.g = 2. * (inp - targ) / targ.shape[0]"),
}


@pytest.mark.parametrize("notebook, exercise", sorted(BROADCAST), ids=[f"{n}-{e}" for n, e in sorted(BROADCAST)])
def test_one_hint_per_mistake_wherever_it_happens(tmp_path, notebook, exercise):
    from checker import messages as msg
    from tests.helpers import matches

    result = grade(submission(tmp_path, notebook, replace={exercise: BROADCAST[(notebook, exercise)]}), only=[exercise])
    assert result.exercises[0].status == FAILED, result.exercises[0].feedback
    assert matches(msg.HINT_MSE_BROADCAST, result.exercises[0].feedback), result.exercises[0].feedback


def test_the_same_error_on_every_input_is_said_once(tmp_path):
    from checker import messages as msg
    from tests.helpers import matches

    source = "def outer(u, v):\n    return u[:, None] * v[None, :] + u[99]"
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"])
    feedback = result.exercises[0].feedback
    raised = [line for line in feedback if "raised IndexError" in line]
    assert len(raised) == 1 and matches(msg.SAME_ERROR_AGAIN, feedback), feedback


# -- rule 1: each exercise judged alone ---------------------------------------------------------
def _broken(name: str) -> str:
    """A wrong version of ``name`` that raises nothing: values of zeros, gradients never set."""
    if name[0].isupper():
        return (f"class {name}:\n    def __init__(self, *args):\n        pass\n\n"
                "    def __call__(self, *args):\n        self.out = args[0] * 0\n        return self.out\n\n"
                "    def backward(self):\n        pass")
    return f"def {name}(*args):\n    return args[0] * 0"


def _dependents():
    from checker import registry

    return [(e.notebook, e.name) for e in registry.all_entries() if getattr(e, "uses", ())]


DEPENDENTS = _dependents()
# a dependent that calls what it uses (the solutions' own mlp_forward inlines lin and relu)
CALLING = {
    ("02_forward", "shifted_relu"): "def shifted_relu(x):\n    return relu(x) - 0.5",
    ("02_forward", "kaiming_init"): "def kaiming_init(n_in, n_out):\n    return xavier_init(n_in, n_out) * math.sqrt(2)",
    ("02_forward", "mlp_forward"): "def mlp_forward(x, w1, b1, w2, b2):\n    return lin(relu(lin(x, w1, b1)), w2, b2)",
    ("03_backprop", "Relu"): ("class Relu:\n    def __call__(self, inp):\n        self.inp = inp\n"
                              "        self.out = inp.clamp_min(0.)\n        return self.out\n\n"
                              "    def backward(self):\n        relu_grad(self.inp, self.out)"),
    ("03_backprop", "Lin"): ("class Lin:\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n\n"
                             "    def __call__(self, inp):\n        self.inp = inp\n        self.out = inp @ self.w + self.b\n"
                             "        return self.out\n\n    def backward(self):\n"
                             "        lin_grad(self.inp, self.out, self.w, self.b)"),
    ("03_backprop", "Mse"): ("class Mse:\n    def __call__(self, inp, targ):\n        self.inp, self.targ = inp, targ\n"
                             "        self.out = (inp.squeeze(-1) - targ).pow(2).mean()\n        return self.out\n\n"
                             "    def backward(self):\n        mse_grad(self.inp, self.targ)"),
}


def _with_broken_uses(notebook: str, exercise: str, uses) -> dict:
    replace = {u: _broken(u) for u in uses}
    if (notebook, exercise) in CALLING:
        replace[exercise] = CALLING[(notebook, exercise)]
    return replace


def test_every_exercise_that_calls_or_subclasses_another_declares_it():
    """The dependents the lesson has (issue 21): a new one without ``uses`` would be judged with the student's deps."""
    from checker.sandbox import standins

    assert {name for _, name in DEPENDENTS} >= {"mlp_forward", "forward_and_backward", "Model", "Relu", "Lin", "Mse"}
    from checker import registry

    for entry in registry.all_entries():
        assert set(getattr(entry, "uses", ())) <= standins.NAMES, entry.name


@pytest.mark.parametrize("notebook, exercise", DEPENDENTS, ids=[f"{n}-{e}" for n, e in DEPENDENTS])
def test_a_dependent_passes_with_every_exercise_it_uses_broken(tmp_path, notebook, exercise):
    from checker import registry

    uses = registry.find(notebook, exercise).uses
    result = grade(submission(tmp_path, notebook, replace=_with_broken_uses(notebook, exercise, uses)), only=[exercise])
    assert result.exercises[0].status == PASSED, (uses, result.exercises[0].feedback)


@pytest.mark.parametrize("notebook, exercise", DEPENDENTS, ids=[f"{n}-{e}" for n, e in DEPENDENTS])
def test_without_the_stand_ins_the_broken_dependency_would_fail_it(tmp_path, monkeypatch, notebook, exercise):
    """The other way round: the same submission, judged with the student's own dependencies, fails."""
    import dataclasses
    import importlib

    from checker import registry

    module = importlib.import_module(registry._MODULES[notebook])
    entry = registry.find(notebook, exercise)
    monkeypatch.setattr(module, "ENTRIES", [dataclasses.replace(e, uses=()) if e is entry else e
                                             for e in module.ENTRIES])
    result = grade(submission(tmp_path, notebook, replace=_with_broken_uses(notebook, exercise, entry.uses)),
                   only=[exercise])
    assert result.exercises[0].status != PASSED, result.exercises[0].feedback


@pytest.mark.parametrize("notebook, exercise", DEPENDENTS, ids=[f"{n}-{e}" for n, e in DEPENDENTS])
def test_a_dependent_s_own_mistake_still_fails_it(tmp_path, notebook, exercise):
    """Its own code wrong (its stub's body: here, returning zeros), its dependencies right: it fails."""
    result = grade(submission(tmp_path, notebook, replace={exercise: _broken(exercise)}), only=[exercise])
    assert result.exercises[0].status != PASSED, result.exercises[0].feedback


SHARED_ON_THE_CLASS = ("class Module:\n    def __call__(self, *args):\n        Module.args = args\n"
                       "        Module.out = self.forward(*args)\n        return Module.out\n"
                       "    def forward(self, *args):\n        raise NotImplementedError\n"
                       "    def backward(self):\n        self.bwd(Module.out, *Module.args)\n"
                       "    def bwd(self, out, *args):\n        raise NotImplementedError")


def test_a_module_that_keeps_its_state_on_the_class_fails_module_itself(tmp_path):
    """Every instance shares one args and out: a second layer called before the first's backward breaks it."""
    from checker import messages as msg
    from tests.helpers import matches

    result = grade(submission(tmp_path, "04_modules", replace={"Module": SHARED_ON_THE_CLASS}), only=["Module"])
    module = result.exercises[0]
    assert module.status == FAILED and matches(msg.SUBCLASS_SHARED, module.feedback), module.feedback


def test_an_exercise_that_calls_a_stub_names_the_stub_and_not_itself(tmp_path):
    """outer written as a product of a column and a row by her matmul_broadcast, which is still the stub (outer is
    judged with hers: no stand-in): outer is not checked yet, and the message says matmul_broadcast is why; the
    stub itself is "not attempted" as before."""
    from checker import messages as msg
    from checker.results import NOT_ATTEMPTED

    result = grade(submission(tmp_path, "01_matmul", replace={
        "outer": "def outer(u, v):\n    return matmul_broadcast(u[:, None], v[None, :])\n",
        "matmul_broadcast": stub_of("def matmul_broadcast(a, b):")}),
        only=["matmul_broadcast", "outer"])
    by_name = {e.name: e for e in result.exercises}
    assert by_name["outer"].status == NOT_ATTEMPTED, by_name["outer"].feedback
    assert by_name["outer"].feedback[0] == msg.NOT_ATTEMPTED_CALLED_STUB.format(name="outer", stub="matmul_broadcast")
    assert by_name["matmul_broadcast"].feedback[0] == msg.NOT_ATTEMPTED_STUB.format(name="matmul_broadcast")


RELU_BY_ROWS = "def relu(x):\n    return torch.stack([r.clamp_min(0.) for r in x]) if x.dim() > 1 else x.clamp_min(0.)\n"
XAVIER_FAN_OUT = "def xavier_init(n_in, n_out):\n    return torch.randn(n_in, n_out) / math.sqrt(n_out)\n"


@pytest.mark.parametrize("name, helper, replace", [
    ("shifted_relu", "relu", {"shifted_relu": "def shifted_relu(x):\n    return relu(x) - 0.5\n",
                              "relu": stub_of("def relu(x):")}),
    ("shifted_relu", "relu", {"shifted_relu": "def shifted_relu(x):\n    return relu(x) - 0.5\n", "relu": RELU_BY_ROWS}),
    ("kaiming_init", "xavier_init", {"kaiming_init": "def kaiming_init(n_in, n_out):\n"
                                                     "    return xavier_init(n_in, n_out) * math.sqrt(2)\n",
                                     "xavier_init": XAVIER_FAN_OUT}),
])
def test_an_activation_or_init_built_on_another_is_judged_with_the_checkers_version(tmp_path, name, helper, replace):
    """shifted_relu = relu(x) - 0.5 and kaiming_init = xavier_init * sqrt(2) are right whatever her relu and
    xavier_init are: a stub, a loop over rows or the fan-out mistake costs the exercise that has it, once."""
    from checker.results import NOT_ATTEMPTED

    result = grade(submission(tmp_path, "02_forward", replace=replace), only=[helper, name])
    by_name = {e.name: e for e in result.exercises}
    assert by_name[name].status == PASSED and by_name[name].score == by_name[name].max_score, by_name[name].feedback
    assert by_name[helper].status in (FAILED, NOT_ATTEMPTED) or by_name[helper].score < by_name[helper].max_score, \
        by_name[helper].feedback


def test_a_finished_exercise_whose_cell_then_calls_another_stub_is_judged(tmp_path):
    """outer is done; a demonstration line after it calls matmul_broadcast, still the stub: outer is judged (not
    "not attempted": the NotImplementedError is another exercise's), and the note names the stub that raised."""
    from checker import messages as msg
    from tests.helpers import matches

    source = ("def outer(u, v):\n    return u[:, None] * v[None, :]\n\n"
              "print(outer(torch.ones(2), torch.ones(3)), matmul_broadcast(torch.ones(2, 3), torch.ones(3, 2)))")
    stub = {"matmul_broadcast": stub_of("def matmul_broadcast(a, b):")}
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source, **stub}), only=["outer"])
    assert result.exercises[0].status == PASSED, result.exercises[0].feedback
    note = next(n for n in result.notes if matches(msg.DEFINED_THEN_RAISED, [n]))
    assert "in matmul_broadcast" in note and "NotImplementedError" in note, note


def test_a_cell_that_calls_a_stub_before_its_def_is_not_checked_yet(tmp_path):
    from checker import messages as msg
    from checker.results import NOT_ATTEMPTED

    source = "matmul_broadcast(torch.ones(2, 3), torch.ones(3, 2))\ndef outer(u, v):\n    return u[:, None] * v[None, :]"
    stub = {"matmul_broadcast": stub_of("def matmul_broadcast(a, b):")}
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source, **stub}), only=["outer"])
    assert result.exercises[0].status == NOT_ATTEMPTED, result.exercises[0].feedback
    assert result.exercises[0].feedback[0] == msg.NOT_ATTEMPTED_CALLED_STUB.format(name="outer", stub="matmul_broadcast")


def test_a_name_made_only_in_a_demo_cell_is_explained_in_the_note(tmp_path):
    """The lesson's demo cells are not run by the checker: a NameError after the def says so."""
    from checker import messages as msg

    source = "def outer(u, v):\n    return u[:, None] * v[None, :]\n\nprint(outer(a, c))"  # a, c: demo cells'
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"])
    assert result.exercises[0].status == PASSED, result.exercises[0].feedback
    assert any("NameError" in n and n.endswith(msg.DEMO_CELLS_NOT_RUN) for n in result.notes), result.notes


MODULE_KEEPING_INP = ("class Module:\n    def __call__(self, *args):\n        self.args = args\n        self.inp = args[0]\n"
                      "        self.out = self.forward(*args)\n        return self.out\n\n"
                      "    def forward(self, *args):\n        raise NotImplementedError\n\n"
                      "    def backward(self):\n        self.bwd(self.out, *self.args)\n\n"
                      "    def bwd(self, out, *args):\n        raise NotImplementedError")
LAYERS_READING_INP = {
    "Lin": ("class Lin(Module):\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n\n"
            "    def forward(self, inp):\n        return inp @ self.w + self.b\n\n"
            "    def bwd(self, out, inp):\n        self.inp.g = out.g @ self.w.t()\n"
            "        self.w.g = self.inp.t() @ out.g\n        self.b.g = out.g.sum(0)"),
    "Relu": ("class Relu(Module):\n    def forward(self, inp):\n        return inp.clamp_min(0.)\n\n"
             "    def bwd(self, out, inp):\n        self.inp.g = (self.inp > 0).float() * out.g"),
}


def test_layers_that_read_what_her_passing_module_keeps_are_judged_with_her_module(tmp_path, monkeypatch):
    """Attack round 22's honest notebook: her Module also keeps self.inp, and her layers read it; her Module passes
    its own checks, so the layers are judged with it, as the notebook runs them (0/2 each before, 'no attribute
    inp'). The other way: judged with the checker's Module instead, the same layers fail."""
    from checker import grading

    replace = {"Module": MODULE_KEEPING_INP, **LAYERS_READING_INP}
    result = grade(submission(tmp_path, "04_modules", replace=replace), only=["Module", "Lin", "Relu"])
    assert all(e.status == PASSED for e in result.exercises), [(e.name, e.feedback) for e in result.exercises]
    monkeypatch.setattr(grading.GradingSession, "_her_passing_dependencies_kept", lambda self, entry, seed: entry)
    (tmp_path / "again").mkdir()
    result = grade(submission(tmp_path / "again", "04_modules", replace=replace), only=["Lin", "Relu"])
    assert all(e.status != PASSED for e in result.exercises), [(e.name, e.feedback) for e in result.exercises]


# -- an experiment left in the cell that defines an exercise ---------------------------------------------------------
SLOW_EXPERIMENT = "\nimport time\n_t0 = time.perf_counter()\nwhile time.perf_counter() - _t0 < 60:\n    pass\n"


def test_an_exercise_whose_cell_runs_out_of_time_after_its_def_is_checked_on_its_definitions(tmp_path):
    """A student tries her fit right away, in its own cell, for longer than a cell may run: the cell is stopped, run
    again as its definitions only, and fit is checked (with a note that says where the experiment belongs)."""
    from checker import messages as msg
    from checker.grading import Options
    from checker.sandbox.spawn import Limits
    from solutions.source import entry_sources
    from tests.helpers import matches

    # a list the def fills, made beside it (honest round 24: the re-run had left it out, and fit raised NameError)
    fit = "losses = []\n" + entry_sources("05_training")["fit"].replace(
        "loss.backward()", "loss.backward()\n            losses.append(float(loss))") + SLOW_EXPERIMENT
    result = grade(submission(tmp_path, "05_training", replace={"fit": fit}), only=["fit"],
                   options=Options(limits=Limits(cell_seconds=4.0)))
    assert result.exercises[0].status == PASSED, result.exercises[0].feedback
    assert matches(msg.CELL_DEFINITIONS_ONLY, result.notes) and "time limit" in " ".join(result.notes), result.notes


def test_a_definition_that_itself_runs_out_of_time_is_still_the_cell_s_failure(tmp_path):
    """The other way: where the definitions alone cannot run (a decorator that hangs), the cell stays stopped."""
    from checker import messages as msg
    from checker.grading import Options
    from checker.sandbox.spawn import Limits
    from solutions.source import entry_sources
    from tests.helpers import matches

    hanging = "def _slow(f):\n    while True:\n        pass\n\n@_slow\n" + entry_sources("02_forward")["relu"]
    result = grade(submission(tmp_path, "02_forward", replace={"relu": hanging}), only=["relu"],
                   options=Options(limits=Limits(cell_seconds=3.0)))
    relu = result.exercises[0]
    assert relu.status == "error" and matches(msg.DEFINING_CELL_STOPPED, relu.feedback), relu.feedback
    assert not matches(msg.CELL_DEFINITIONS_ONLY, result.notes), result.notes


# -- a passing layer that calls a failing function exercise ------------------------------------------------------------
MSE_GRAD_WITHOUT_MEAN = "def mse_grad(inp, targ):\n    inp.g = 2. * (inp.squeeze(-1) - targ).unsqueeze(-1)"
MSE_CALLING_MSE_GRAD = CALLING[("03_backprop", "Mse")]  # her Mse, backward by her mse_grad


def test_a_mistake_in_a_function_a_passing_layer_calls_is_charged_once(tmp_path):
    """Her Mse calls her mse_grad, which forgets the /n: mse_grad fails, Mse passes (judged with the checker's
    mse_grad), and Model, which stacks her passing Mse, is judged with the checker's mse_grad in it too."""
    result = grade(submission(tmp_path, "03_backprop", replace={"mse_grad": MSE_GRAD_WITHOUT_MEAN,
                                                                 "Mse": MSE_CALLING_MSE_GRAD}),
                   only=["mse_grad", "Mse", "Model"])
    status = {e.name: (e.status, e.score) for e in result.exercises}
    assert status["mse_grad"][0] == FAILED, result.exercises[0].feedback
    assert status["Mse"][0] == PASSED and status["Model"][0] == PASSED, status


def test_the_same_layer_with_a_right_mse_grad_passes_and_a_wrong_mse_fails_model_not(tmp_path):
    """The other way: with her mse_grad right, all three pass; with her Mse itself wrong, Mse fails and Model is
    judged with the checker's Mse."""
    result = grade(submission(tmp_path, "03_backprop", replace={"Mse": MSE_CALLING_MSE_GRAD}),
                   only=["mse_grad", "Mse", "Model"])
    assert all(e.status == PASSED for e in result.exercises), [(e.name, e.feedback) for e in result.exercises]
    wrong = MSE_CALLING_MSE_GRAD.replace("mse_grad(self.inp, self.targ)", "self.inp.g = self.inp * 0")
    result = grade(submission(tmp_path, "03_backprop", replace={"Mse": wrong}), only=["Mse", "Model"])
    assert [(e.name, e.status) for e in result.exercises] == [("Mse", FAILED), ("Model", PASSED)], \
        [(e.name, e.feedback) for e in result.exercises]


def test_a_later_scratch_definition_that_fails_is_named_as_the_one_checked(tmp_path):
    """A right lin, then a cell of experiments that redefines it wrongly: lin fails on the later one, and a note
    names that cell as the one checked. The other way: the same two cells, both right, pass with no such note."""
    from checker import messages as msg
    from tests.helpers import matches

    scratch = "# playing around\ndef lin(x, w, b):\n    return x @ w"
    result = grade(submission(tmp_path, "02_forward", extra_cells=[scratch]), only=["lin"])
    assert result.exercises[0].status == FAILED, result.exercises[0].feedback
    assert matches(msg.DEFINED_IN_CELLS, result.notes) and "`# playing around`" in " ".join(result.notes), result.notes
    fine = "# playing around\ndef lin(x, w, b):\n    return x @ w + b"
    result = grade(submission(tmp_path, "02_forward", extra_cells=[fine]), only=["lin"])
    assert result.exercises[0].status == PASSED and not matches(msg.DEFINED_IN_CELLS, result.notes), result.notes
