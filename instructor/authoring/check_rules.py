"""What each kind of check enforces, in words, read off the check objects of the registry.

The exercise catalogue (:mod:`instructor.authoring.catalogue`) lists, for every exercise, one line per
check. Each line is built from the check's own fields (the input cases it builds with the
visible seed, its forbidden and required ops, its speed bar, its memory bound ...), so the
catalogue cannot say anything the checker does not do. A kind of check this module does not
know raises :class:`UndescribedCheck`: a new check must be described before it ships.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from checker.checks import gradients, operations, speed, statistics, structure, training, values
from checker.checks.base import CONSTRAINT, CORRECTNESS, RULE, Check
from checker.checks.loops_required import LoopsRequired
from checker.exercises.cases import VISIBLE_SEED
from checker.inputs import Case, build, label

CATEGORY_WORDS = {
    CORRECTNESS: "correctness, all the points",
    RULE: "rule, all the points",
    CONSTRAINT: "efficiency, half the points",
}
# The families of torch operations a check can forbid or require, as the catalogue names them.
FAMILY_WORDS = {
    operations.MATMUL: "the matrix-product family",
    operations.EINSUM: "einsum",
    operations.NORM: "the norm family",
    operations.REDUCTION: "the reduction family",
    operations.AUTOGRAD: "autograd",
    operations.LINALG: "anything under torch.linalg",
    operations.SOFTMAX: "the softmax family",
    operations.NLL: "the negative log-likelihood family",
    operations.CONV: "the convolution family",
    operations.DISTANCE: "the distance family",
}
FAMILY_MEMBERS = {
    operations.MATMUL: operations.MATMUL_OPS | operations.SOLVE_OPS,
    operations.NORM: operations.NORM_OPS,
    operations.REDUCTION: operations.REDUCTION_OPS,
    operations.AUTOGRAD: operations.AUTOGRAD_OPS,
    operations.SOFTMAX: operations.SOFTMAX_OPS,
}
# families also decided by an op's name, in any layer of torch (what the glossary says besides the members)
FAMILY_NAMES = {
    operations.MATMUL: "any op named a product or a convolution (`*mm`, `*matmul*`, `*linear*`, `*dot`, `conv*`), "
                       "every solve, inverse and decomposition, all of torch.linalg but its norms, and the layers "
                       "made of products, by their class's name (`nn.Linear`, `nn.EmbeddingBag`, `nn.RNN`, `nn.LSTM`, "
                       "`nn.TransformerEncoderLayer`, `nn.MultiheadAttention`), and covariances, correlations and "
                       "regressions in any module (`statistics.covariance`, `linear_regression`, `corrcoef`), a weighted mean "
                       "(`statistics.fmean`), and the probability distributions (see the distance family)",
    operations.NORM: "any op named a norm (`*norm`, `*_norm_*`, `lp_pool*`, `nn.BatchNorm1d`), complex numbers "
                     "(the abs of one is the 2-norm of two numbers: a `1j`, or any call whose result is complex), variances and deviations in any module "
                     "(`statistics.pvariance`, `stdev`, `nanvar`), a normalisation by its abbreviation (`fuse_conv_bn_weights`), and "
                     "the distance family",
    operations.SOFTMAX: "any op named `*softmax*`, a log-sum-exp by any name (`logcumsumexp`, `logaddexp`, and "
                        "`softplus` and `logsigmoid`, which are one of two numbers), attention, and the negative "
                        "log-likelihood family",
    operations.NLL: "any op named `*nll*` or `*cross_entropy*`, and the probability distributions (see the distance "
                    "family)",
    operations.CONV: "any op named `conv*`, `*_conv*` or `*convolution*`",
    operations.DISTANCE: "any op named a distance between points (`cdist`, `pdist`, `*_dist`, `*distance*`, "
                         "`math.dist`, `nn.PairwiseDistance`) and the losses made of one (`triplet_margin_loss`, "
                         "`cosine_embedding_loss`), and the probability distributions: everything in "
                         "`torch.distributions` and what one computes by name (`log_prob`, `entropy`, `cdf`), a normal's "
                         "log density being a squared distance and a categorical's the log-likelihood",
}
LINE = "- **{name}** ({category}): {text}"
UNDESCRIBED = ("{exercise}: the catalogue cannot describe a {check_type} check; add a describer for it "
               "to instructor/authoring/check_rules.py")


@dataclasses.dataclass
class UndescribedCheck(TypeError):
    """A check whose kind has no describer here."""

    exercise: str
    check_type: str

    def __str__(self) -> str:
        return UNDESCRIBED.format(exercise=self.exercise, check_type=self.check_type)


def code(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


def either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def family_text(families, allowed=frozenset()) -> str:
    order = list(FAMILY_WORDS)
    tags = sorted(families, key=lambda f: (order.index(f) if f in order else len(order), f))
    text = either([FAMILY_WORDS.get(f, f"`{f}`") for f in tags])
    return text + (f" ({code(sorted(allowed))} allowed)" if allowed else "")


def on_cases(cases: list[Case]) -> str:
    """The inputs a check runs, then the renumbered first case it adds."""
    kinds = "; ".join(c.note or c.label for c in cases)
    return (f"{len(cases)} inputs ({kinds}), then the first shapes again with other numbers "
            f"(a result remembered by shape fails)")


# -- one describer per kind of check ------------------------------------------------------------
def _values(check: values.Values) -> str:
    cases = check.cases(VISIBLE_SEED)
    text = f"the result equals the reference on {on_cases(cases)}"
    if check.tolerance is not None:
        text += "; compared with a tolerance scaled to the size of the inputs"
    if check.nonnegative:
        text += "; no entry may be negative"
    if check.any_float:
        text += "; any floating dtype"
    return text + "; the inputs are left unchanged and a new tensor is returned, not an input"


def _raises(check: values.Raises) -> str:
    cases = check.cases(VISIBLE_SEED)
    return f"raises {' or '.join(check.allowed)} on shapes that do not fit: {'; '.join(c.label for c in cases)}"


def _ops(check: operations.Ops) -> str:
    case = check.case(VISIBLE_SEED)
    parts = []
    if check.forbidden:
        parts.append(f"never calls {family_text(check.forbidden, check.allowed)}: {check.why}")
    if check.required:
        parts.append(f"must call {family_text(check.required)} ({check.required_why}), and the answer must come "
                     f"from it: called once more with what it returns (where it sums over something) scaled, "
                     f"the answer must change")
    text = "; ".join(parts) + f"; traced on {case.label} and on every other input the checks call it with"
    if check.expected is not None:
        text += ", where the answer must be right too"
    return text


def _op_growth(check: operations.OpGrowth) -> str:
    grown = either(list(check.flat_in.values())) + " doubled"
    return (f"no loop left in: the number of tensor ops on {check.describe(check.base)} must not grow "
            f"(beyond x{check.slack:g} + 2) with {grown}; {check.expected.format(**check.base)} (and the answers "
            "on those sizes must be right: a wrong one costs all the points)")


def _loops_required(check: LoopsRequired) -> str:
    grown = either(list(check.dims.values())) + " doubled"
    steps = " * ".join(str(v) for v in check.base.values())
    return (f"loops asked for: with {grown}, the number of tensor ops on {check.describe(check.base)} must grow by "
            f"at least one per scalar step of those sizes ({steps}), unless the call loops over Python numbers "
            f"(after `.tolist()` or `.item()`) and its torch calls compute fewer elements than there are steps (a "
            f"broadcast product read back as Python numbers is no loop), and no single operation computes more "
            f"entries than the largest of those sizes; {check.expected}")


def _largest(check: operations.LargestAllocation) -> str:
    case = check.case(VISIBLE_SEED)
    limit = operations.human_bytes(check.limit(case))
    return (f"no single tensor larger than {limit} on {case.label} (sizes drawn afresh for each check, up to twice "
            f"these, the bound with them): memory stays O({check.bound})")


def _copies(check: operations.FullSizeCopies) -> str:
    case = check.case(VISIBLE_SEED)
    size = operations.human_bytes(check.size(case))
    return (f"at most {check.allowed} new tensors as large as the input ({size}) on {case.label} (sizes drawn afresh "
            f"for each check, up to twice these)")


def _speed(check: speed.SpeedBar) -> str:
    spec = check.spec(VISIBLE_SEED)
    faster = f" (at least {1 / check.bar:g} times faster)" if check.bar < 1 else ""
    return (f"median time over {check.rounds} interleaved rounds at most {check.bar:g} times that of "
            f"{check.yardstick_label}{faster}, on fresh inputs {label(check.names, build(spec))}; "
            f"the answers must be right there too")


def _function_grads(check: gradients.FunctionGradients) -> str:
    cases = check.cases(VISIBLE_SEED)
    return (f"{code(check.labels)} match torch.autograd on {on_cases(cases)}; "
            f"a `.g` left over from an earlier pass must be replaced, not added to")


def _layer_grads(check: gradients.LayerGradients) -> str:
    cases = check.cases(VISIBLE_SEED)
    names = cases[0].names if cases else []
    text = f"the forward output and {code(names)} match torch.autograd on {len(cases)} inputs"
    if any(len(c.runs) > 1 for c in cases):
        text += "; each runs a second forward and backward, whose gradients must be fresh, not accumulated"
    return text


def _init_stats(check: statistics.InitStatistics) -> str:
    sizes = ", ".join(f"({i}, {o})" for i, o in check.sizes)
    tail = statistics.GAUSSIAN_TAIL * 100
    return (f"for (n_in, n_out) = {sizes}: that shape, mean 0 and std {check.formula} within "
            f"{statistics.STANDARD_ERRORS:g} standard errors, Gaussian tails (about {tail:.2g}% beyond 3 std), "
            f"two calls differ, and the same torch.manual_seed gives the same weights")


def _subclass(check: structure.Subclass) -> str:
    return f"a subclass of `{check.base}`"


def _backward_ops(check: structure.BackwardOps) -> str:
    case = check.case(VISIBLE_SEED)
    return (f"backward() never calls {code(sorted(check.forbidden))} ({check.why}) and allocates nothing beyond "
            f"{check.allocation_factor:g} times the largest of x, w and the output, on {case.label}")


def _never_calls(check: operations.NeverCalls) -> str:
    return (f"never calls {family_text(check.forbidden, check.allowed)}: {check.why}; read in the source, and traced "
            f"on every input the checks call it with")


def _docstring(extra: Callable[[Check], str] | None = None):
    """A structural check: its docstring says what it enforces; ``extra`` adds its fields."""
    def describe(check: Check) -> str:
        text = " ".join(type(check).__doc__.split()).rstrip(".")
        return text + (extra(check) if extra else "")
    return describe


DESCRIBERS: dict[type, Callable[[Check], str]] = {
    values.Values: _values,
    values.Raises: _raises,
    operations.Ops: _ops,
    operations.NeverCalls: _never_calls,
    operations.OpGrowth: _op_growth,
    LoopsRequired: _loops_required,
    operations.LargestAllocation: _largest,
    operations.FullSizeCopies: _copies,
    speed.SpeedBar: _speed,
    gradients.FunctionGradients: _function_grads,
    gradients.LayerGradients: _layer_grads,
    statistics.InitStatistics: _init_stats,
    structure.Subclass: _subclass,
    structure.BackwardOps: _backward_ops,
    structure.ModuleBase: _docstring(),
    structure.AutogradFunction: _docstring(),
    structure.LinearLayerCheck: _docstring(lambda c: "; built as `LinearLayer({}, {})`".format(*c.sizes)),
    structure.TorchModelCheck: _docstring(lambda c: "; built as `TorchModel({}, {}, {})`".format(*c.sizes)),
    training.OptimizerStep: _docstring(),
    training.TrainingSteps: _docstring(),
    training.TrainingOutcome: _docstring(lambda c: f" (here {c.bar:.0%}; lr={c.lr}, {c.epochs} epochs, minibatches "
                                                   f"of {c.batch}, a 64-{c.hidden}-10 network)"),
}


def describe(check: Check, exercise: str) -> str:
    """One Markdown bullet: the check's name, what failing it costs, and what it enforces."""
    describer = DESCRIBERS.get(type(check))
    if describer is None:
        raise UndescribedCheck(exercise=exercise, check_type=type(check).__name__)
    return LINE.format(name=check.name, category=CATEGORY_WORDS[check.category], text=describer(check))


def family_glossary() -> list[str]:
    """The members of every family an exercise can forbid, as Markdown bullets."""
    lines = [f"- {FAMILY_WORDS[f]}: {code(sorted(members))}" + (f"; and {FAMILY_NAMES[f]}" if f in FAMILY_NAMES else "")
             for f, members in FAMILY_MEMBERS.items()]
    lines += [f"- {FAMILY_WORDS[f]}: {text}" for f, text in FAMILY_NAMES.items() if f not in FAMILY_MEMBERS]
    lines.append(f"- {FAMILY_WORDS[operations.LINALG]}: every `torch.linalg.*` function")
    return lines
