"""Operations: what torch calls a function makes, how many, and how much they allocate."""
from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Callable, Mapping

from checker import messages as msg
from checker.checks.base import CONSTRAINT, CORRECTNESS, RULE, Check, Context, Outcome
from checker.checks.values import Values
from checker.compare import Tolerance, difference, unpack
from checker.inputs import VISIBLE_SEED, Case
from checker import source_evidence as source

# Families of torch operations, decided by what an op is, not by a list of call names: the trace's
# names are canonical (``a @ b``, ``torch.matmul``, ``a.matmul_`` are all "matmul"; everything under
# torch.linalg arrives as "linalg_<name>"), and :func:`op_families` maps each to the families it is in.
MATMUL_OPS = frozenset({
    "matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "addr", "addmm", "addmv", "addbmm", "baddbmm",
    "linear", "bilinear", "tensordot", "chain_matmul", "multi_dot", "matrix_power", "einsum", "vecdot", "kron",
    "_addmm_activation", "matrix_exp",
    # the same sums of products under other names: convolutions, attention, bags, recurrent cells, sparse products
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolution",
    "_convolution", "conv_tbc", "cosine_similarity", "scaled_dot_product_attention", "embedding_bag",
    "_trilinear", "rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell",
    "smm", "sspaddmm", "hspmm", "_sparse_mm", "_sparse_addmm", "cosine_embedding_loss",
    # a product recovered from statistics or distances: (co)variances, |a|^2 + |b|^2 - |a - b|^2
    "cov", "corrcoef", "cdist", "pdist", "_cdist_forward", "_euclidean_dist", "stft", "istft",
    # layers whose forward is products: attention, transformer blocks
    "multi_head_attention_forward", "_native_multi_head_attention", "_transformer_encoder_layer_fwd",
    "_scaled_dot_product_attention_math", "_scaled_dot_product_flash_attention", "_efficient_attention_forward",
})
MATMUL_PREFIXES = ("fft_",)  # a product is a convolution at lag zero: every Fourier transform is a way to one
# Solves, inverses and decompositions: a product is one of their results (the inverse of [[I, A, 0], [0, I, B],
# [0, 0, I]] holds A @ B), and singular values hold the Frobenius norm; with everything under torch.linalg
SOLVE_OPS = frozenset({"inverse", "inv", "inv_ex", "pinv", "pinverse", "solve", "solve_ex", "solve_triangular",
                       "triangular_solve", "lu", "lu_factor", "lu_factor_ex", "lu_solve", "lu_unpack", "_lu_with_info",
                       "cholesky", "cholesky_ex", "cholesky_solve", "cholesky_inverse", "_cholesky_solve_helper",
                       "qr", "geqrf", "orgqr", "ormqr", "householder_product", "svd", "svdvals", "svd_lowrank",
                       "pca_lowrank", "eig", "eigh", "eigvals", "eigvalsh", "symeig", "lobpcg", "det", "logdet",
                       "slogdet", "lstsq", "tensorinv", "tensorsolve", "ldl_factor", "ldl_factor_ex", "ldl_solve",
                       "matrix_rank", "cond"})
LINALG_PREFIXES = ("linalg_", "_linalg_")
NORM_OPS = frozenset({"norm", "vector_norm", "matrix_norm", "frobenius_norm", "nuclear_norm", "dist", "cdist",
                      "pdist", "renorm",
                      # a norm computed on the way: distances, normalisations, clipping
                      "pairwise_distance", "cosine_similarity", "normalize", "rms_norm", "layer_norm", "batch_norm",
                      "group_norm", "instance_norm", "local_response_norm", "weight_norm", "_weight_norm",
                      "norm_except_dim", "clip_grad_norm_", "clip_grad_norm", "get_total_norm", "_foreach_norm",
                      "triplet_margin_loss", "cosine_embedding_loss", "embedding_renorm", "embedding", "mse_loss",
                      # sums of squares by other names: quadratic losses, variances
                      "huber_loss", "smooth_l1_loss", "gaussian_nll_loss", "var", "std", "var_mean", "std_mean",
                      # the 2-norm of two numbers, folded pairwise into any norm; a complex number's abs is one
                      "hypot", "view_as_complex", "complex", "polar", "cmath"})
REDUCTION_OPS = frozenset({"sum", "mean", "prod", "cumsum", "cumprod", "nansum", "nanmean", "logsumexp", "std", "var",
                           "std_mean", "var_mean", "trace"})
# a sum by another name: accumulating into an index, pooling an average, folding patches, merging duplicate sparse
# entries, binning with weights (any layer: scatter_add, _index_put_impl with accumulate, avg_pool1d, col2im ...)
_ACCUMULATES = re.compile(r"(?<!ein)sum|mean|(index|scatter)_(add|reduce)|segment_reduce|embedding_bag|bincount|"
                          r"histc|histogram|avg_pool|trapz|trapezoid|(^|_)fold$|col2im|coalesce|_accumulate$|"
                          # a sparse tensor adds up the entries that share an index when it is made dense
                          r"sparse|to_dense")
AUTOGRAD_OPS = frozenset({"backward", "grad", "requires_grad_", "vjp", "jvp", "jacobian", "hessian", "vmap",
                          # the graph itself, however it is reached: a result that requires grad (the trace), the
                          # graph's nodes (the source); not reading requires_grad nor switching grad mode, which
                          # compute nothing (torch.set_grad_enabled(False) is torch.no_grad())
                          "autograd_graph", "requires_grad", "grad_fn", "next_functions", "register_hook",
                          "retain_grad", "jacrev", "jacfwd", "vjp", "apply",
                          # forward mode, and anything reached under torch.autograd by name (the source)
                          "make_dual", "_make_dual", "unpack_dual", "_unpack_dual", "dual_level", "autograd"})

# softmax and the losses built on it, in any layer (torch.softmax, F.log_softmax, logsumexp, _log_softmax ...)
SOFTMAX_OPS = frozenset({"logsumexp", "softmin", "gumbel_softmax"})
# a log-sum-exp by any name, pairwise too (softplus(x) is logaddexp(x, 0), log_sigmoid its negative, a soft margin
# loss is a softplus, mish(x) = x * tanh(softplus(x))), and attention (a softmax of scores, in any kernel of it)
_SOFTMAX = re.compile(r"softmax|logsumexp|logcumsumexp|logaddexp|attention|softplus|log_?sigmoid|soft_margin|mish")
# nll_loss, nll_loss_nd, cross_entropy_loss ...; a KL divergence against one-hot targets and a CTC loss of one
# step are the NLL itself
_NLL = re.compile(r"nll|cross_entropy|kl_div|ctc")
_LOSS = re.compile(r"loss")  # every loss: a sum (or mean) of a norm of residuals, whatever it is called
_CONV = re.compile(r"(^|_)conv(\d|_|olution|$)|fft")  # a convolution by the Fourier transform is one too
# layers whose forward is products, by their class's name (snake-cased): recurrent cells, transformer blocks
_PRODUCT_LAYERS = re.compile(r"^(rnn|lstm|gru)(_|$)|transformer|multihead|embedding_bag")
# statistics by any module's spelling (statistics.pvariance, pstdev, covariance, linear_regression, numpy's nanvar):
# a variance or a deviation is a sum of squares (a norm), a covariance or a correlation a sum of products
_SPREAD = re.compile(r"(^|_|p)variance|stdev|(^|_|nan)(std|var)($|_)")
_CO_MOMENT = re.compile(r"covarian|correlat|regression|(^|_)cov($|_)|corrcoef|sumprod|fmean")  # fmean(x, weights)
# a distance between points, by any name (cdist, pdist, _euclidean_dist, pairwise_distance, math.dist, PairwiseDistance)
# and the losses made of one (a triplet margin, a cosine embedding)
_DISTANCE = re.compile(r"(^|_|c|p)dist($|_)|distance|triplet|cosine_embedding")
# a probability distribution (torch.distributions, by any of its classes or submodules) and what one computes: a log
# density is a squared distance (a normal's), a norm, a sum of products (a covariance's) or a log-softmax (a
# categorical's), and its log-likelihood the NLL itself; a method of that name on anything (``d.log_prob(x)``)
DISTRIBUTIONS = "distributions"
_LIKELIHOOD = re.compile(r"^distributions($|_)|log_prob|likelihood|perplexity|^(entropy|i?cdf)$")
# a normalisation by its abbreviation (fuse_conv_bn_weights computes batch norm's scale and shift)
_NORM_ABBREVIATED = re.compile(r"(^|_)(bn|ln|gn)(_|$)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

# family tags, for ``forbidden`` and ``required``
MATMUL, EINSUM, LINALG, NORM, REDUCTION, AUTOGRAD = "matmul", "einsum", "linalg", "norm", "reduction", "autograd"
SOFTMAX, NLL, CONV, DISTANCE = "softmax", "nll", "conv", "distance"
MATMUL_FAMILY = frozenset({MATMUL})
REDUCTIONS = frozenset({REDUCTION})
NORMS = frozenset({NORM, LINALG})


def base_name(name: str) -> str:
    """``addmm_`` -> ``addmm``, ``linalg_norm`` -> ``norm``: the op whatever its in-place or namespace form."""
    base = name[:-1] if name.endswith("_") and not name.endswith("__") else name
    return base[len("linalg_"):] if base.startswith("linalg_") else base


_PRODUCT = re.compile(r"mm$|mm_|_mm|matmul|linear|dot$|(^|_)conv(\d|_|olution|$)|attention")


def _is_product(base: str) -> bool:
    """Any op named a product, in any layer: ``sampled_addmm``, ``_int_mm``, ``_sparse_sparse_matmul``,
    ``mkldnn_linear``, ``_convolution_mode``, ``vdot``."""
    return bool(_PRODUCT.search(base))


def _is_norm(base: str) -> bool:
    """Any op named a norm, in any layer: ``layer_norm``, ``native_layer_norm``, ``_native_batch_norm_legit``,
    ``norm_except_dim`` (not ``normal``, the random initialiser)."""
    return base.endswith("norm") or "_norm_" in base or base.startswith(("norm_", "lp_pool")) or \
        bool(re.search(r"norm\dd$", base))  # BatchNorm1d, InstanceNorm2d


def op_families(name: str) -> set[str]:
    """The families an op (by its canonical trace name) belongs to; a class counts as the op it applies
    (``nn.Linear`` is ``linear``, ``nn.MSELoss`` a loss)."""
    name = _CAMEL.sub("_", name).lower()  # a class by its snake-cased name: EmbeddingBag is embedding_bag
    base = base_name(name)
    families = set()
    if name.startswith(LINALG_PREFIXES) or base in SOLVE_OPS:
        families.add(LINALG)
    if base in MATMUL_OPS or base.startswith(MATMUL_PREFIXES) or base in SOLVE_OPS or _is_product(base) or \
            _PRODUCT_LAYERS.search(base) or \
            (name.startswith(LINALG_PREFIXES) and not _is_norm(base)):
        families.add(MATMUL)
    if base == "einsum":
        families.add(EINSUM)
    if _CO_MOMENT.search(base):
        families.update({MATMUL, REDUCTION})
    if _SPREAD.search(base):
        families.update({NORM, REDUCTION})
    if _DISTANCE.search(base):
        families.update({DISTANCE, NORM})
    if base in NORM_OPS or _is_norm(base) or _LOSS.search(base) or _NORM_ABBREVIATED.search(base):
        families.add(NORM)
    if base in REDUCTION_OPS or _ACCUMULATES.search(base) or _LOSS.search(base):
        families.add(REDUCTION)
    if base in AUTOGRAD_OPS:
        families.add(AUTOGRAD)
    if base in SOFTMAX_OPS or _SOFTMAX.search(base):
        families.add(SOFTMAX)
    if _LIKELIHOOD.search(base):
        families.update({NLL, SOFTMAX, DISTANCE, NORM, MATMUL})
    if _NLL.search(base):
        families.update({NLL, SOFTMAX})  # a cross-entropy computes a log-softmax on the way
    if SOFTMAX in families:
        families.add(REDUCTION)  # its denominator is a sum
    if _CONV.search(base):
        families.add(CONV)
    return families


GRAPH_SHOWN = "autograd (a result that requires grad)"


def display_name(name: str) -> str:
    if name == "autograd_graph":
        return GRAPH_SHOWN
    if name.startswith(DISTRIBUTIONS + "_"):
        return f"torch.distributions.{name[len(DISTRIBUTIONS) + 1:]}"
    if name == DISTRIBUTIONS:
        return "torch.distributions"
    return f"torch.linalg.{name[len('linalg_'):]}" if name.startswith("linalg_") else name


def matching(names, families: frozenset, allowed: frozenset = frozenset()) -> list[str]:
    """The names (display form) whose op is in one of ``families`` (or is named there), unless ``allowed``."""
    return sorted(display_name(n) for n in set(names)
                  if base_name(n) not in allowed and (op_families(n) | {base_name(n)}) & families)


def _first_per_what(findings):
    seen = {}
    for f in findings:
        seen.setdefault(f.what, f)
    return list(seen.values())


def source_problems(ctx: Context, forbidden: frozenset, allowed: frozenset, why: str) -> list[str]:
    """What the submitted source shows the exercise using that its rule forbids: a forbidden op by any name or
    alias, another array library, a layer below torch's API, or a call looked up at run time."""
    if ctx.program is None or not forbidden:
        return []
    findings = source.uses(ctx.program, ctx.exercise.name, ctx.exercise.uses)
    problems = []
    named = [f for f in findings if f.kind == source.FORBIDDEN]
    bad = set(matching([f.what for f in named], forbidden, allowed))
    hits = _first_per_what(f for f in named if display_name(f.what) in bad)
    if any(f.what.startswith("linalg_") for f in hits):  # torch.linalg.norm, not also "linalg"
        hits = [f for f in hits if f.what != "linalg"]
    if hits:
        problems.append(msg.SOURCE_FORBIDDEN_OP.format(ops=", ".join(sorted(display_name(f.what) for f in hits)),
                                                       where=hits[0].where(), why=why))
    for kind, template in ((source.OTHER_LIBRARY, msg.SOURCE_OTHER_LIBRARY), (source.BELOW_API, msg.SOURCE_BELOW_API),
                           (source.DYNAMIC, msg.SOURCE_DYNAMIC), (source.ELSEWHERE, msg.SOURCE_ELSEWHERE)):
        hits = _first_per_what(f for f in findings if f.kind == kind)
        if hits:
            longest = max(hits, key=lambda f: (not f.what.startswith("Tensor."), len(f.what)))  # numpy.matmul, not numpy
            problems.append(template.format(what=longest.what, where=longest.where(), why=why))
    return problems


# what hands a tensor's memory to another library (numpy, DLPack, raw storage): in the source, and in the trace of
# any call however the source reached it (a helper kept in a list, a decorator's registry)
HANDED_TO_ANOTHER_LIBRARY = frozenset({"numpy", "__array__", "__array_wrap__", "__dlpack__", "__dlpack_device__",
                                       "to_dlpack", "__array_interface__", "__array_struct__", "untyped_storage",
                                       "storage", "_storage", "data_ptr", "tobytes"})
# the same names as the trace records them (a dunder method without its underscores: ``__dlpack__`` is ``dlpack``)
def traced_as(name: str) -> str:
    """A name as the op trace records it: a dunder without its underscores (``__dlpack__`` is ``dlpack``)."""
    return name[2:-2] if name.startswith("__") and name.endswith("__") else name


def names_in(trace: dict) -> set[str]:
    """Every name one trace recorded: the calls that made tensors and the others."""
    return set(trace.get("counts", {})) | set(trace.get("called", []))


TRACED_HAND_OFFS = frozenset(traced_as(n) for n in HANDED_TO_ANOTHER_LIBRARY)
LEAVING_TORCH = HANDED_TO_ANOTHER_LIBRARY | frozenset({
    "tolist", "item", "__float__", "__int__", "__index__", "__complex__",
    # the raw bytes behind a tensor, read as Python numbers
    "memoryview", "frombuffer", "struct", "bytes", "bytearray",
    "save", "load",  # torch.save to a buffer: the bytes, read back as numbers
    # Python called back per element by torch
    "apply_", "map_", "map2_",
    # the tensor printed and its text read back as Python numbers
    "repr", "ascii", "literal_eval", "set_printoptions", "_tensor_str", "__repr__", "__str__", "__format__"})


# what the op trace records when a tensor leaves torch (a dunder without its underscores): where the source shows
# one of these, the trace of a call must show one too (a .item() in a debug print that never runs is no loop)
TRACE_SEES_LEAVING = frozenset({"tolist", "item", "numpy", "float", "int", "index", "complex", "array", "array_wrap",
                                "dlpack", "to_dlpack", "untyped_storage", "storage", "_storage", "data_ptr", "tobytes",
                                "apply_", "map_", "map2_", "python_callback"})


# a tensor rendered as text inside a graded call (str, an f-string, print, %-formatting: the trace records its
# __repr__ or __format__); honest code shows shapes (torch.Size, not traced), not values, and not on valid inputs
TRACE_RENDERS_TEXT = frozenset({"repr", "format", "str"})


@dataclasses.dataclass(frozen=True)
class SeenInTrace:
    """A way out of torch only the trace saw (no line of the source says it)."""

    what: str

    def where(self) -> str:
        return msg.SEEN_IN_A_TRACED_CALL


# builtins that render what they are given as text: a tensor's text is traced (its __repr__), a shape's is not
RENDERS_AS_TEXT = frozenset({"repr", "ascii"})


def _counts(finding, traced: set[str] | None) -> bool:
    """Whether a way out of torch the source shows counts, given what the traced calls recorded (None: no trace):
    one the trace can see counts only where a call took one (``repr(tuple(u.shape))`` in an assert message renders
    no tensor); the others (``memoryview``, ``struct``) on the source alone."""
    if traced is None:
        return True
    if finding.kind == source.FORBIDDEN and finding.what in RENDERS_AS_TEXT:
        return bool(traced & TRACE_RENDERS_TEXT)
    if finding.kind == source.OTHER_LIBRARY or traced_as(finding.what) in TRACE_SEES_LEAVING:
        return bool(traced & TRACE_SEES_LEAVING)
    return True


def leaves_torch(ctx: Context, traced: set[str] | None = None):
    """The first place where the exercise turns tensors into Python numbers or another library's arrays. With
    ``traced`` (the names the exercise's traced calls recorded), a way out the trace sees counts only if a call
    took one: the source alone decides the ways it cannot see (``memoryview``, ``struct``, a tensor's text)."""
    if ctx.program is None:
        return None
    findings = source.uses(ctx.program, ctx.exercise.name, ctx.exercise.uses)
    found = next((f for f in findings if (f.kind == source.OTHER_LIBRARY
                  or (f.kind == source.FORBIDDEN and f.what in LEAVING_TORCH)) and _counts(f, traced)), None)
    rendered = sorted((traced or set()) & TRACE_RENDERS_TEXT)
    if found is None and rendered:  # str(t), f"{t}": its text read back as numbers is a loop by another name
        return SeenInTrace(msg.TENSOR_AS_TEXT.format(how=rendered[0]))
    return found


def traced_names(ctx: Context) -> set[str]:
    """Every op name any traced call of the exercise recorded."""
    return set().union(set(), *(names_in(t) for _, t in ctx.traces))


def hidden_calls(ctx: Context) -> list[str]:
    """A rule judged on the op trace (recorded in the student's process) needs code whose calls the source
    shows: a call looked up at run time in the exercise fails it."""
    if ctx.program is None:
        return []
    for f in source.uses(ctx.program, ctx.exercise.name, ctx.exercise.uses):
        if f.kind == source.DYNAMIC:
            return [msg.SOURCE_DYNAMIC.format(what=f.what, where=f.where())]
        if f.kind == source.ELSEWHERE:
            return [msg.SOURCE_ELSEWHERE.format(what=f.what, where=f.where())]
    return []


def _traced(ctx: Context, case: Case, large_bytes: int | None = None, whole: bool = False,
            scenario: Callable[[Case], tuple[str, dict]] | None = None, trace: dict | None = None,
            fresh: bool = False):
    """The trace of one call on ``case`` (by ``scenario``, where the function is called otherwise: lin_grad with
    out.g set first); ``fresh``: in a copy of the student's process made for the call, so that a rule comparing
    two calls (ops on a size, then on twice it) meets the same function twice, not one that remembers the first."""
    trace = dict(trace or {}, **({} if large_bytes is None else {"large_bytes": large_bytes}))
    name, params = scenario(case) if scenario else ("call", {"args": list(case.args)})
    answer = ctx.probe(name, about=case.label, trace=trace, fresh=fresh, **params)
    if answer.raised:
        raise _Raised(answer.raised_problem(case.label))
    if scenario is None and not whole and "scale" not in trace:  # a rule's call (OpGrowth, LoopsRequired ...):
        # right on whatever sizes it was called with, or a wrong answer (Ops judges its own answers itself)
        wrong = _wrong_answer(ctx, case, answer.result)
        if wrong:
            raise _Wrong(msg.FRESH_INPUT_WRONG.format(detail=wrong))
    if answer.result["trace"].get("elsewhere"):  # a thread or process the trace could not follow
        raise _Raised(msg.RAN_ELSEWHERE.format(name=ctx.exercise.name, input=case.label,
                                               count=answer.result["trace"]["elsewhere"]))
    return answer.result if whole else answer.result["trace"]


def _wrong_answer(ctx: Context, case: Case, result: dict) -> str | None:
    """What is wrong with a traced call's answer, judged as the exercise's values check judges its own inputs
    (where it has one): a function right on the published sizes and wrong on others is wrong."""
    values = next((c for c in ctx.exercise.checks if isinstance(c, Values)), None)
    if values is None or not isinstance(result, dict) or "out" not in result:
        return None
    problems = values.judge(case, result)
    return problems[0] if problems else None


class _Wrong(Exception):
    """A traced call's answer was wrong: the verdict is a wrong answer, whatever rule was being judged."""

    def __init__(self, line: str):
        super().__init__(line)
        self.line = line


class _Raised(Exception):
    """A traced call raised, or ran where the trace could not follow: ``line`` is the feedback, still the message
    it was (its kind files it in the mistakes report and keeps its label when a hidden check withholds it)."""

    def __init__(self, line: str):
        super().__init__(line)
        self.line = line


@dataclasses.dataclass
class Ops(Check):
    """Forbidden ops are never called; at least one of the required ops is."""

    case: Callable[[int], Case]
    forbidden: frozenset = frozenset()  # families (or op names) never to call
    why: str = ""
    allowed: frozenset = frozenset()  # op names exempted from ``forbidden`` (einsum where it is the point)
    required: frozenset = frozenset()
    required_why: str = ""
    # the multiply-adds the answer needs on ``case``: the required op's calls on the inputs must do them all
    required_work: Callable[[Case], int] | None = None
    expected: Callable | None = None  # the answer on the traced inputs: a cached result must not slip through
    name = "operations"
    category = RULE

    def run(self, ctx: Context):
        case = self.case(ctx.seed)
        try:
            result = _traced(ctx, case, whole=True)
        except _Raised as exc:
            return self.outcome([exc.line])
        trace = result["trace"]
        if self.expected is not None:
            want = self.expected(*case.args)
            wrong = difference(case.label, want, result["out"], Tolerance.for_dtype(want.dtype, scale=10))
            if wrong:
                return Outcome(self.name, False, [msg.FRESH_INPUT_WRONG.format(detail=wrong)], CORRECTNESS)
        counts = names_in(trace)
        problems = []
        used = matching(counts, self.forbidden, self.allowed) or below(trace, self.forbidden, self.allowed)
        if used:
            problems.append(msg.FORBIDDEN_OP.format(input=case.label, ops=", ".join(used), why=self.why))
        else:  # the trace is the student's process's account; the source is read here and cannot be rewritten
            problems += source_problems(ctx, self.forbidden, self.allowed, self.why)
        handed = sorted(counts & TRACED_HAND_OFFS)
        if handed and not problems:  # however the source hid it: the memory went where no trace follows it
            problems.append(msg.TRACE_HANDED_OFF.format(input=case.label, what=", ".join(handed), why=self.why))
        if self.required and not matching(counts, self.required):
            problems.append(msg.REQUIRED_OP_MISSING.format(input=case.label, ops=" or ".join(sorted(self.required)),
                                                           why=self.required_why))
        elif self.required and not problems:
            problems += self.idle_required(ctx, case, result["out"], counts)
        return self.outcome(problems)

    def idle_required(self, ctx: Context, case: Case, out, counts: set[str]) -> list[str]:
        """The required op called, but does it compute the answer? The same call once more, with what each call of
        it on the inputs (moved, reshaped or retyped only) that sums over something returned multiplied by a factor
        drawn here: those calls must do the multiply-adds the answer needs (not a sum over a size-1 index, the last
        pair of partial sums, or a probe on ones of its own), and an answer built from their results changes; one
        computed around them (a decoy einsum, an identity ``einsum('ij->ij', ...)``) does not."""
        names = sorted(n for n in counts if (op_families(n) | {base_name(n)}) & self.required)
        factor = 2.0 + secrets.SystemRandom().random()
        try:
            knocked = _traced(ctx, case, whole=True, trace={"scale": {"names": names, "factor": factor}})
        except _Raised as exc:
            return [exc.line]
        ops = " or ".join(sorted(self.required))
        needed = self.required_work(case) if self.required_work else 0
        done = knocked["trace"].get("scaled_work", 0)
        if done < needed:
            return [msg.REQUIRED_OP_PARTIAL.format(input=case.label, ops=ops, done=done, needed=needed,
                                                   why=self.required_why)]
        answer = unpack(out)
        if answer is not None and not difference(case.label, answer, knocked["out"],
                                                 Tolerance.for_dtype(answer.dtype, scale=10)):
            return [msg.REQUIRED_OP_IDLE.format(input=case.label, ops=ops, factor=factor, why=self.required_why)]
        return []

    def every_call(self, ctx: Context) -> list[str]:
        return forbidden_in_traces(ctx, self.forbidden, self.allowed, self.why, handed_off=True)


def below(trace: dict, forbidden: frozenset, allowed: frozenset = frozenset()) -> list[str]:
    """ATen ops of a forbidden family run inside an API call that is not itself allowed here (an ``mm`` inside
    attention; not the ``bmm`` inside an allowed ``einsum``)."""
    found = []
    for aten, tops in trace.get("below", {}).items():
        if matching([aten], forbidden, allowed):
            outside = [t for t in tops if base_name(t) not in allowed]
            if outside:
                found.append(f"{display_name(aten)} (inside {outside[0]})")
    return sorted(found)


def forbidden_in_traces(ctx: Context, forbidden: frozenset, allowed: frozenset, why: str,
                        handed_off: bool = False) -> list[str]:
    """The first call of the exercise, among every one its checks traced (values, gradients, memory, loops: not
    only the operations check's own input), that ran an op of a forbidden family, or handed a tensor's memory to
    another library."""
    for about, trace in ctx.traces:
        counts = names_in(trace)
        used = matching(counts, forbidden, allowed) or below(trace, forbidden, allowed)
        if used:
            return [msg.FORBIDDEN_OP.format(input=about, ops=", ".join(used), why=why)]
        handed = sorted(counts & TRACED_HAND_OFFS) if handed_off else []
        if handed:
            return [msg.TRACE_HANDED_OFF.format(input=about, what=", ".join(handed), why=why)]
    return []


def judged_on_every_call(checks, ctx: Context, outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes, with each check that forbids ops (``every_call``) failed where any traced call of the
    exercise, in any check, broke its rule (judged once every check has run)."""
    out = list(outcomes)
    for check in checks:
        judge = getattr(check, "every_call", None)
        if judge is None:
            continue
        at = next((i for i, o in enumerate(out) if o.check == check.name and o.category == check.category), None)
        if at is not None and not out[at].passed:
            continue
        problems = judge(ctx)
        if problems:
            failed = Outcome(check.name, False, problems, check.category)
            if at is None:
                out.append(failed)
            else:
                out[at] = failed
    return out


@dataclasses.dataclass
class NeverCalls(Check):
    """No call of the exercise, in any of its checks, runs an op of a forbidden family; nor does its source show
    one. Placed after the checks whose calls it judges."""

    forbidden: frozenset
    why: str
    allowed: frozenset = frozenset()
    name: str = "operations"
    category = RULE

    def run(self, ctx: Context):
        return self.outcome(source_problems(ctx, self.forbidden, self.allowed, self.why) or self.every_call(ctx))

    def every_call(self, ctx: Context) -> list[str]:
        return forbidden_in_traces(ctx, self.forbidden, self.allowed, self.why)


class TracedRule(Check):
    """A rule judged on the op trace of calls it makes: code whose calls the source cannot show (a call looked up
    at run time, work sent elsewhere) fails it, and a call that raised is its verdict. Subclasses define
    ``judge(ctx) -> problems``."""

    def run(self, ctx: Context):
        hidden = hidden_calls(ctx)
        if hidden:
            return self.outcome(hidden)
        try:
            return self.outcome(self.judge(ctx))
        except _Raised as exc:
            return self.outcome([exc.line])
        except _Wrong as exc:
            return Outcome(self.name, False, [exc.line], CORRECTNESS)

    def judge(self, ctx: Context) -> list[str]:
        raise NotImplementedError


def drawn_sizes(ctx: Context, base: Mapping[str, int]) -> Mapping[str, int]:
    """The base sizes of a check that counts loops: the catalogue's for the visible checks; for hidden ones, each
    drawn afresh between them and twice them (nothing derived from the hidden seed), so that code shaped for the
    published sizes meets others."""
    if ctx.seed == VISIBLE_SEED:
        return base
    draw = secrets.SystemRandom()
    return {dim: size + draw.randint(1, size) for dim, size in base.items()}


@dataclasses.dataclass
class OpGrowth(TracedRule):
    """The number of tensor ops must not grow with the given dimensions (a loop left in)."""

    make: Callable[[int, Mapping[str, int]], Case]
    base: Mapping[str, int]
    flat_in: Mapping[str, str]  # dimension -> how feedback names it ("columns")
    expected: str
    describe: Callable[[Mapping[str, int]], str]
    scenario: Callable[[Case], tuple[str, dict]] | None = None  # how to call it (lin_grad: out.g set first)
    name = "loops"
    category = CONSTRAINT
    slack = 1.25

    def sizes(self, ctx: Context) -> Mapping[str, int]:
        return drawn_sizes(ctx, self.base)

    def judge(self, ctx: Context) -> list[str]:
        base = self.sizes(ctx)
        base_count = _traced(ctx, self.make(ctx.seed, base), scenario=self.scenario, fresh=True)["total"]
        ctx.loop_baseline = (base_count, self.describe(base))
        grew = []
        for dim, label in self.flat_in.items():
            grown = dict(base, **{dim: base[dim] * 2})
            count = _traced(ctx, self.make(ctx.seed, grown), scenario=self.scenario, fresh=True)["total"]
            if count > base_count * self.slack + 2:
                grew.append(msg.OPS_GROW.format(
                    name=ctx.exercise.name, dim=label, count=base_count, base=self.describe(base),
                    bigger=count, grown=self.describe(grown), expected=self.expected.format(**base)))
        left = leaves_torch(ctx, traced_names(ctx))
        if left is not None:
            return [msg.SOURCE_LEAVES_TORCH.format(name=ctx.exercise.name, what=left.what, where=left.where(),
                                                   expected=self.expected.format(**base))]
        return grew[:1]

    @property
    def judges_every_call(self) -> bool:
        """Whether :meth:`every_call` judges anything (it needs every call of the exercise traced)."""
        return set(self.flat_in) == set(self.base)

    def every_call(self, ctx: Context) -> list[str]:
        """Where no dimension may grow the count (every size of the rule's case is in ``flat_in``): every traced call
        of the exercise, the values checks' included, runs about as many ops as the rule's call measured in its
        copy. A function that tells the copy from its own process (a clock that starts again at zero there) and
        loops only in its own process is judged by what it does there."""
        if ctx.loop_baseline is None or not self.judges_every_call:
            return []
        base_count, where = ctx.loop_baseline
        limit = base_count * self.slack + 2 + EVERY_CALL_MARGIN
        for about, trace in ctx.traces:
            count = trace.get("total", 0) if isinstance(trace, dict) else 0
            if count > limit:
                return [msg.OPS_VARY.format(name=ctx.exercise.name, count=count, input=about, base=base_count,
                                            base_input=where, expected=self.expected.format(**self.base))]
        return []


EVERY_CALL_MARGIN = 4  # ops another call may run beyond the measured count's slack (a cast for float64, a branch)


def unpublished_seed() -> int:
    """A seed for one rule's call, from the system's randomness and never the visible one: the memory rules meet
    sizes drawn around the published ones (``checker.exercises.cases.around``), so that a function that saves memory
    only on the catalogue's shape is measured elsewhere."""
    return VISIBLE_SEED + 1 + secrets.randbits(30)


def human_bytes(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


@dataclasses.dataclass
class LargestAllocation(TracedRule):
    """No single allocation beyond ``limit(case)`` bytes (e.g. a (batch, n_in, n_out) outer product)."""

    case: Callable[[int], Case]
    limit: Callable[[Case], int]
    bound: str
    scenario: Callable[[Case], tuple[str, dict]] | None = None
    name = "memory"
    category = CONSTRAINT

    def judge(self, ctx: Context) -> list[str]:
        case = self.case(unpublished_seed())
        report = _traced(ctx, case, scenario=self.scenario, fresh=True)
        limit = self.limit(case)
        if report["largest_bytes"] > limit:
            return [msg.LARGEST_ALLOCATION.format(
                input=case.label, shape=tuple(report["largest_shape"]), size=human_bytes(report["largest_bytes"]),
                bound=self.bound, limit=human_bytes(limit))]
        return []


@dataclasses.dataclass
class FullSizeCopies(TracedRule):
    """At most ``allowed`` fresh tensors as large as ``size(case)`` bytes."""

    case: Callable[[int], Case]
    size: Callable[[Case], int]
    allowed: int
    name = "memory"
    category = CONSTRAINT

    def judge(self, ctx: Context) -> list[str]:
        case = self.case(unpublished_seed())
        report = _traced(ctx, case, large_bytes=self.size(case), fresh=True)
        if report["large_allocations"] > self.allowed:
            return [msg.FULL_SIZE_COPIES.format(input=case.label, count=report["large_allocations"],
                                                expected=self.allowed)]
        return []
