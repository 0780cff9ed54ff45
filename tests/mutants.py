"""Judge the judge: mechanical mutants of every reference solution, and the checker's verdict on each.

``python -m tests.mutants`` (``make mutants``) generates the mutants, grades each with the checker
(one sandbox per notebook and worker: the reference cells are loaded once, each mutant replaces
one entry, is judged by that entry's exercise, and the reference is put back), and prints per
exercise how many were killed, survived, or are listed as equivalent in
``tests/mutants_equivalent.txt`` (a reviewed file: one mutant id and the reason it is a correct
answer per line). The last line is the mutation score.

Operators: swapped arithmetic and comparison operators, changed constants, off-by-one ranges, a
wrong reduction axis or a dropped ``keepdim``, dropped transposes, swapped ``n_in``/``n_out``,
``.g`` accumulated instead of set, a dropped call (``clamp``, ``squeeze``, ``clone``, ``sqrt``...),
a deleted statement, an in-place operation on an input, swapped operands or indices, a negated
result, ``randn`` replaced by ``rand`` or ``empty``, the body replaced by each member of the
exercise's forbidden families (or by the next slower algorithm), including the spellings below or beside
torch's Python API (numpy, ``torch.ops``, ``DisableTorchFunction``, ``operator.matmul``, ``getattr`` with a
built name) and loops over Python floats, a result cached (by input shapes) from the first call, and a
frame asked for at run time (``tamper``: only the child's tripwire can see it).
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures
import copy
import dataclasses
import hashlib
import sys
import threading
import time
from pathlib import Path

from checker.grading import Options, evaluate
from checker.registry import NOTEBOOKS, Exercise, entries
from checker.results import PASSED
from checker.sandbox.runner import Limits, Sandbox
from checker.source_evidence import Program, tampering
from instructor.authoring.wrong_answers import LOOPS2, LOOPS3
from solutions.source import entry_sources, imports

EQUIVALENT_FILE = Path(__file__).with_name("mutants_equivalent.txt")
ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
         ast.MatMult: ast.Mult}
COMPARE = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
DROPPABLE_CALLS = {"clamp_min", "clamp", "squeeze", "unsqueeze", "clone", "sqrt", "abs", "to", "float", "t",
                   "transpose", "contiguous", "mean", "sum", "exp", "pow"}
TRANSPOSES = {"t", "T", "transpose", "mT"}
REDUCTIONS = {"sum", "mean", "squeeze", "unsqueeze", "softmax", "max", "min", "argmax", "cumsum"}
IN_PLACE = {ast.Add: "add_", ast.Sub: "sub_", ast.Mult: "mul_", ast.Div: "div_"}
SAMPLE_EVERY = 16  # the CI test runs the mutants whose id hashes to 0 modulo this


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str  # notebook/exercise/operator/k
    notebook: str
    exercise: str
    operator: str
    description: str
    source: str
    replaced: tuple = ()  # other entries the source redefines (restored afterwards, as the exercise's is)


# -- generation ---------------------------------------------------------------------------------
def _sites(tree: ast.AST, predicate) -> list[ast.AST]:
    return [node for node in ast.walk(tree) if predicate(node)]


def _variants(source: str, predicate, change) -> list[tuple[str, str]]:
    """For each node matching ``predicate``, the source with ``change(node)`` applied to that node only.
    ``change`` edits the node in place and returns a description, or None to skip the site."""
    tree = ast.parse(source)
    out = []
    for k in range(len(_sites(tree, predicate))):
        copy_tree = copy.deepcopy(tree)
        node = _sites(copy_tree, predicate)[k]
        described = change(node, copy_tree)
        if described is None:
            continue
        ast.fix_missing_locations(copy_tree)
        mutated = ast.unparse(copy_tree)
        if mutated != ast.unparse(tree):
            out.append((f"line {getattr(node, 'lineno', '?')}: {described}", mutated))
    return out


def _is_docstring(node, tree) -> bool:
    return any(isinstance(body[0], ast.Expr) and body[0].value is node
               for body in (getattr(n, "body", None) for n in ast.walk(tree)) if isinstance(body, list) and body)


def _parents(tree) -> dict:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _replace(tree, node, replacement) -> None:
    parent = _parents(tree)[node]
    for field, value in ast.iter_fields(parent):
        if value is node:
            setattr(parent, field, replacement)
        elif isinstance(value, list) and node in value:
            value[value.index(node)] = replacement


def op_arith(source):
    def change(node, tree):
        new = ARITH.get(type(node.op))
        if new is None:
            return None
        old, node.op = type(node.op).__name__, new()
        return f"{old} -> {new.__name__}"
    return _variants(source, lambda n: isinstance(n, (ast.BinOp, ast.AugAssign)) and type(n.op) in ARITH, change)


def op_compare(source):
    def change(node, tree):
        old = type(node.ops[0])
        node.ops[0] = COMPARE[old]()
        return f"{old.__name__} -> {COMPARE[old].__name__}"
    return _variants(source, lambda n: isinstance(n, ast.Compare) and type(n.ops[0]) in COMPARE, change)


def op_constant(source):
    def change(node, tree):
        if _is_docstring(node, tree) or not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
            return None
        old = node.value
        node.value = {0: 1, 1: 0, 2: 1, 0.0: 1.0, 1.0: 0.0, 2.0: 1.0, 0.5: 1.0, -1: 0}.get(old, old + 1)
        return f"constant {old!r} -> {node.value!r}"
    return _variants(source, lambda n: isinstance(n, ast.Constant), change)


def op_negative_axis(source):
    """-1 (an axis, usually) -> 0."""
    def change(node, tree):
        if isinstance(node.operand, ast.Constant) and node.operand.value == 1:
            _replace(tree, node, ast.Constant(0))
            return "-1 -> 0"
        return None
    return _variants(source, lambda n: isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub), change)


def op_range(source):
    out = []
    for how in ("minus one", "from one"):
        def change(node, tree, how=how):
            if len(node.args) != 1:
                return None
            stop = node.args[0]
            if how == "minus one":
                node.args = [ast.BinOp(stop, ast.Sub(), ast.Constant(1))]
            else:
                node.args = [ast.Constant(1), stop]
            return f"range(...) {how}"
        out += _variants(source, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                         and n.func.id == "range", change)
    return out


def op_axis(source):
    def change(node, tree):
        for kw in node.keywords:
            if kw.arg == "dim" and isinstance(kw.value, ast.Constant):
                old = kw.value.value
                kw.value = ast.Constant(1 if old == 0 else 0)
                return f"dim={old} -> dim={kw.value.value}"
            if kw.arg == "dim" and isinstance(kw.value, ast.UnaryOp):
                kw.value = ast.Constant(0)
                return "dim=-1 -> dim=0"
        if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, int):
            old = node.args[0].value
            node.args[0] = ast.Constant(1 if old == 0 else 0)
            return f".{node.func.attr}({old}) -> ({node.args[0].value})"
        return None
    return _variants(source, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                     and n.func.attr in REDUCTIONS, change)


def op_keepdim(source):
    def change(node, tree):
        kept = [kw for kw in node.keywords if kw.arg != "keepdim"]
        if len(kept) != len(node.keywords):
            node.keywords = kept
            return "keepdim dropped"
        if node.args or any(kw.arg == "dim" for kw in node.keywords):
            node.keywords.append(ast.keyword("keepdim", ast.Constant(True)))
            return "keepdim=True added"
        return None
    return _variants(source, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                     and n.func.attr in {"sum", "mean"}, change)


def op_drop_transpose(source):
    def change(node, tree):
        if isinstance(node, ast.Attribute) and node.attr in TRANSPOSES and not isinstance(_parents(tree)[node], ast.Call):
            _replace(tree, node, node.value)
            return f".{node.attr} dropped"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TRANSPOSES:
            _replace(tree, node, node.func.value)
            return f".{node.func.attr}() dropped"
        return None
    return _variants(source, lambda n: isinstance(n, (ast.Attribute, ast.Call)), change)


def op_drop_call(source):
    def change(node, tree):
        name = node.func.attr
        if name in TRANSPOSES:
            return None  # op_drop_transpose
        _replace(tree, node, node.func.value)
        return f".{name}(...) dropped"
    return _variants(source, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                     and n.func.attr in DROPPABLE_CALLS, change)


def op_swap_sizes(source):
    """n_in and n_out swapped (in an init), or the two size arguments of a tensor factory."""
    out = []
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if {"n_in", "n_out"} <= names:
        swapped = copy.deepcopy(tree)
        for n in ast.walk(swapped):
            if isinstance(n, ast.Name) and n.id in ("n_in", "n_out"):
                n.id = "n_out" if n.id == "n_in" else "n_in"
        for f in ast.walk(swapped):
            if isinstance(f, ast.arguments):
                for a in f.args:
                    if a.arg in ("n_in", "n_out"):
                        a.arg = "n_out" if a.arg == "n_in" else "n_in"
        # the signature keeps its order: only the body's uses are swapped
        sig = copy.deepcopy(tree)
        for fn, orig in zip([n for n in ast.walk(swapped) if isinstance(n, ast.FunctionDef)],
                            [n for n in ast.walk(sig) if isinstance(n, ast.FunctionDef)]):
            fn.args = orig.args
        out.append(("n_in and n_out swapped in the body", ast.unparse(swapped)))

    def change(node, tree):
        if len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args[:2]):
            node.args[0], node.args[1] = node.args[1], node.args[0]
            return f"{ast.unparse(node.func)}: first two sizes swapped"
        return None
    out += _variants(source, lambda n: isinstance(n, ast.Call) and ast.unparse(n.func) in
                     {"torch.randn", "torch.zeros", "torch.empty", "nn.Linear"}, change)
    return out


def op_accumulate(source):
    """``x.g = value`` -> ``x.g = getattr(x, 'g', 0) + value``: gradients accumulated instead of set."""
    def change(node, tree):
        target = node.targets[0]
        node.value = ast.BinOp(ast.Call(ast.Name("getattr"), [target.value, ast.Constant("g"), ast.Constant(0)], []),
                               ast.Add(), node.value)
        return f"{ast.unparse(target)} accumulated"
    return _variants(source, lambda n: isinstance(n, ast.Assign) and len(n.targets) == 1
                     and isinstance(n.targets[0], ast.Attribute) and n.targets[0].attr == "g", change)


def op_delete_statement(source):
    def change(node, tree):
        parent = _parents(tree)[node]
        body = next(v for _, v in ast.iter_fields(parent) if isinstance(v, list) and node in v)
        if len(body) < 2 or isinstance(node, (ast.Return, ast.FunctionDef, ast.ClassDef)) or _is_docstring(
                getattr(node, "value", None), tree):
            return None
        body.remove(node)
        return f"statement deleted: {ast.unparse(node).splitlines()[0][:50]}"
    return _variants(source, lambda n: isinstance(n, (ast.Assign, ast.AugAssign, ast.Expr, ast.If, ast.Raise,
                                                      ast.Assert, ast.For)), change)


def op_in_place(source):
    """An input changed in place: ``x - m`` -> ``x.sub_(m)`` where x is a parameter of the function."""
    tree = ast.parse(source)
    params = {a.arg for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for a in f.args.args} - {"self", "ctx"}

    def change(node, tree):
        if isinstance(node.left, ast.Name) and node.left.id in params and type(node.op) in IN_PLACE:
            method = IN_PLACE[type(node.op)]
            _replace(tree, node, ast.Call(ast.Attribute(node.left, method), [node.right], []))
            return f"{node.left.id} changed in place ({method})"
        return None
    out = _variants(source, lambda n: isinstance(n, ast.BinOp), change)

    def change_call(node, tree):
        if isinstance(node.func.value, ast.Name) and node.func.value.id in params:
            node.func.attr += "_"
            return f"{node.func.value.id}.{node.func.attr}(...) in place"
        return None
    out += _variants(source, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                     and n.func.attr in {"clamp_min", "clamp", "sub", "add", "mul", "div"}, change_call)
    return out


def op_swap_operands(source):
    """``a - b`` -> ``b - a`` (also /, @ and **): the operands of a non-commutative operator swapped."""
    def change(node, tree):
        node.left, node.right = node.right, node.left
        return f"operands of {type(node.op).__name__} swapped"
    return _variants(source, lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Sub, ast.Div, ast.MatMult,
                                                                                        ast.Pow)), change)


def op_swap_index(source):
    """``a[i, p]`` -> ``a[p, i]``, ``u[:, None]`` -> ``u[None, :]``: the first two indices swapped."""
    def change(node, tree):
        elts = node.slice.elts
        if ast.unparse(elts[0]) == ast.unparse(elts[1]):
            return None
        elts[0], elts[1] = elts[1], elts[0]
        return f"index [{ast.unparse(elts[1])}, {ast.unparse(elts[0])}] -> [{ast.unparse(elts[0])}, ...]"
    return _variants(source, lambda n: isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Tuple)
                     and len(n.slice.elts) >= 2, change)


def op_negate_return(source):
    def change(node, tree):
        if node.value is None or isinstance(node.value, ast.Constant):
            return None
        node.value = ast.UnaryOp(ast.USub(), node.value)
        return "returned value negated"
    return _variants(source, lambda n: isinstance(n, ast.Return), change)


def op_random_source(source):
    """``torch.randn`` -> ``torch.rand`` (uniform on [0, 1)) or ``torch.empty`` (whatever memory held)."""
    out = []
    for other in ("rand", "empty"):
        def change(node, tree, other=other):
            node.func.attr = other
            return f"torch.randn -> torch.{other}"
        out += _variants(source, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                         and n.func.attr == "randn", change)
    return out


def op_cached(source):
    """The first result for each combination of input shapes is returned again on later calls."""
    tree = ast.parse(source)
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef):
        return []
    name = fn.name
    fn.name = f"_original_{name}"
    wrapper = (f"\n_memo_{name} = {{}}\n\ndef {name}(*args):\n"
               f"    key = tuple(tuple(a.shape) if hasattr(a, 'shape') else a for a in args)\n"
               f"    if key not in _memo_{name}:\n        _memo_{name}[key] = _original_{name}(*args)\n"
               f"    return _memo_{name}[key]\n")
    return [("the first result per input shapes returned again", ast.unparse(tree) + "\n" + wrapper)]


# the body replaced by a member of each family the exercise forbids (the signature stays)
FORBIDDEN_BODIES = {
    ("01_matmul", "matmul_loops"): "matmul", ("01_matmul", "matmul_elementwise"): "matmul",
    ("01_matmul", "matmul_broadcast"): "matmul", ("01_matmul", "frobenius_norm"): "norm",
    ("01_matmul", "outer"): "outer", ("01_matmul", "matmul_einsum"): "matmul-not-einsum",
    ("01_matmul", "batch_matmul"): "batch",
}
MATMUL_MEMBERS = {
    "@": "return a @ b", "torch.matmul": "return torch.matmul(a, b)", "Tensor.matmul": "return a.matmul(b)",
    "torch.mm": "return torch.mm(a, b)", "Tensor.mm": "return a.mm(b)",
    "torch.bmm": "return torch.bmm(a[None], b[None])[0]",
    "torch.mv": "return torch.stack([torch.mv(a, b[:, j]) for j in range(b.shape[1])], 1)",
    "torch.dot": "return torch.stack([torch.stack([torch.dot(r, c) for c in b.t()]) for r in a])",
    "torch.vdot": "return torch.stack([torch.stack([torch.vdot(r, c) for c in b.t()]) for r in a])",
    "torch.inner": "return torch.inner(a, b.t())", "torch.tensordot": "return torch.tensordot(a, b, dims=1)",
    "torch.addmm": "return torch.addmm(torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype), a, b)",
    "torch.addmv": "return torch.stack([torch.addmv(torch.zeros(a.shape[0], dtype=a.dtype), a, b[:, j]) "
                   "for j in range(b.shape[1])], 1)",
    "torch.baddbmm": "return torch.baddbmm(torch.zeros(1, a.shape[0], b.shape[1], dtype=a.dtype), a[None], b[None])[0]",
    "torch.addbmm": "return torch.addbmm(torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype), a[None], b[None])",
    "torch.chain_matmul": "return torch.chain_matmul(a, b)",
    "torch.linalg.multi_dot": "return torch.linalg.multi_dot([a, b, torch.eye(b.shape[1], dtype=a.dtype)])",
    "torch.linalg.matmul": "return torch.linalg.matmul(a, b)",
    "torch.linalg.vecdot": "return torch.linalg.vecdot(a[:, None, :], b.t()[None, :, :])",
    "F.linear": "import torch.nn.functional as F\n    return F.linear(a, b.t())",
    "F.bilinear": "import torch.nn.functional as F\n    return F.bilinear(a, torch.ones(a.shape[0], 1, dtype=a.dtype), "
                  "b.t()[:, :, None]).reshape(a.shape[0], b.shape[1])",
    "einsum": "return torch.einsum('ik,kj->ij', a, b)",
    # outside torch's Python API: another library, a lower layer, a name looked up at run time
    "numpy.matmul": "import numpy as np\n    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))",
    "torch.ops.aten.mm": "return torch.ops.aten.mm.default(a, b)",
    "DisableTorchFunction": "with torch._C.DisableTorchFunction():\n        return torch.mm(a, b)",
    "operator.matmul": "import operator\n    return operator.matmul(a, b)",
    "getattr(torch, name)": "return getattr(torch, ''.join(['m', 'm']))(a, b)",
}
NORM_MEMBERS = {
    "torch.norm": "return torch.norm(m)", "Tensor.norm": "return m.norm()",
    "torch.linalg.norm": "return torch.linalg.norm(m)", "torch.linalg.vector_norm": "return torch.linalg.vector_norm(m)",
    "torch.linalg.matrix_norm": "return torch.linalg.matrix_norm(m)",
    "torch.linalg.svdvals": "return torch.linalg.svdvals(m).pow(2).sum().sqrt()",
    "torch.dist": "return torch.dist(m, torch.zeros_like(m))",
    "torch.linalg.vecdot": "return torch.linalg.vecdot(m.flatten(), m.flatten()).sqrt()",
    "@": "return (m.flatten() @ m.flatten()).sqrt()", "torch.dot": "return torch.dot(m.flatten(), m.flatten()).sqrt()",
    "numpy.linalg.norm": "import numpy as np\n    return torch.tensor(np.linalg.norm(m.numpy()), dtype=m.dtype)",
    "torch.ops.aten.linalg_vector_norm": "return torch.ops.aten.linalg_vector_norm.default(m)",
}
OUTER_MEMBERS = {
    "torch.outer": "return torch.outer(u, v)", "torch.ger": "return torch.ger(u, v)",
    "Tensor.outer": "return u.outer(v)", "@": "return u[:, None] @ v[None, :]",
    "torch.einsum": "return torch.einsum('i,j->ij', u, v)", "torch.kron": "return torch.kron(u[:, None], v[None, :])",
    "torch.addr": "return torch.addr(torch.zeros(u.shape[0], v.shape[0], dtype=u.dtype), u, v)",
    "torch.tensordot": "return torch.tensordot(u, v, dims=0)",
    "torch.mm": "return torch.mm(u[:, None], v[None, :])",
    "numpy.outer": "import numpy as np\n    return torch.from_numpy(np.outer(u.numpy(), v.numpy()))",
    "torch.ops.aten.outer": "return torch.ops.aten.outer.default(u, v)",
}
AUTOGRAD_BODY = (
    "    import torch\n"
    "    leaves = [t.detach().requires_grad_() for t in (inp, w1, b1, w2, b2)]\n"
    "    x, v1, c1, v2, c2 = leaves\n"
    "    loss = (((x @ v1 + c1).clamp_min(0) @ v2 + c2).squeeze(-1) - targ).pow(2).mean()\n"
    "    {call}\n"
    "    for t, leaf in zip((inp, w1, b1, w2, b2), leaves):\n"
    "        t.g = leaf.grad\n"
    "    return loss.detach()\n")
PYTHON_FLOATS_MATMUL = (
    "    import torch\n    if a.shape[1] != b.shape[0]:\n        raise ValueError('inner dimensions differ')\n"
    "    A, B = a.tolist(), b.tolist()\n"
    "    rows = [[sum(A[i][p] * B[p][j] for p in range(len(B))) for j in range(len(B[0]))] for i in range(len(A))]\n"
    "    return torch.tensor(rows, dtype=a.dtype).reshape(a.shape[0], b.shape[1])\n")
BODIES = {
    ("03_backprop", "forward_and_backward"): {
        "loss.backward()": AUTOGRAD_BODY.format(call="loss.backward()"),
        "torch.autograd.grad": AUTOGRAD_BODY.format(
            call="for leaf, g in zip(leaves, torch.autograd.grad(loss, leaves)):\n        leaf.grad = g")},
    ("03_backprop", "lin_grad"): {
        "outer product": "    inp.g = out.g @ w.t()\n    w.g = (inp[:, :, None] * out.g[:, None, :]).sum(0)\n"
                         "    b.g = out.g.sum(0)\n",
        "einsum outer product": "    import torch\n    inp.g = out.g @ w.t()\n"
                                "    w.g = torch.einsum('bi,bo->bio', inp, out.g).sum(0)\n    b.g = out.g.sum(0)\n"},
    ("01_matmul", "normalize_channels"): {
        "expand_as copies": "    m = mean[:, None, None].expand_as(x).clone()\n    s = std[:, None, None].expand_as(x).clone()\n"
                            "    return (x - m) / s\n",
        "repeat": "    shape = (x.shape[0], 1, x.shape[2], x.shape[3])\n"
                  "    return (x - mean[:, None, None].repeat(*shape)) / std[:, None, None].repeat(*shape)\n",
        "loop over channels": "    import torch\n    return torch.stack([(x[:, c] - mean[c]) / std[c] for c in range(x.shape[1])], 1)\n"},
    ("01_matmul", "matmul_broadcast"): {"a loop over columns": "    import torch\n    return torch.stack("
                                        "[(a * b[:, j]).sum(1) for j in range(b.shape[1])], 1)\n"},
    # loops over Python numbers: torch left for lists of floats
    ("01_matmul", "matmul_elementwise"): {"loops over Python floats": PYTHON_FLOATS_MATMUL},
    ("01_matmul", "outer"): {"loops over Python floats": "    import torch\n    return torch.tensor("
                             "[[x * y for y in v.tolist()] for x in u.tolist()], dtype=u.dtype)\n"},
    ("02_forward", "relu"): {"loops over Python floats": "    import torch\n    return torch.tensor("
                             "[max(t, 0.0) for t in x.flatten().tolist()], dtype=x.dtype).reshape(x.shape)\n"},
    ("01_matmul", "pairwise_sq_dists"): {
        "loop over points": "    import torch\n    return torch.stack([((x[i] - y) ** 2).sum(1) for i in range(x.shape[0])])\n",
        "no clamp": "    return (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T\n"},
}
BATCH_MEMBERS = {"numpy.matmul": "import numpy as np\n    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))",
                 "torch.bmm": "return torch.bmm(a, b)", "@": "return a @ b", "torch.matmul": "return torch.matmul(a, b)",
                 "einsum per item": "return torch.stack([torch.einsum('ik,kj->ij', x, y) for x, y in zip(a, b)])"}


SLOWER = {("01_matmul", "matmul_elementwise"): ("three loops", LOOPS3),
          ("01_matmul", "matmul_broadcast"): ("two loops", LOOPS2)}  # the next slower algorithm, whole


def op_forbidden(notebook, exercise, source):
    first = source.splitlines()[0]
    others = [(f"body replaced by {name}", f"{first}\n{body}") for name, body in
              BODIES.get((notebook, exercise), {}).items()]
    if (notebook, exercise) in SLOWER:
        name, template = SLOWER[(notebook, exercise)]
        others.append((f"body replaced by {name} (the next slower algorithm)", template.format(name=exercise)))
    family = FORBIDDEN_BODIES.get((notebook, exercise))
    if family is None:
        return others
    members = {"matmul": MATMUL_MEMBERS, "norm": NORM_MEMBERS, "outer": OUTER_MEMBERS, "batch": BATCH_MEMBERS,
               "matmul-not-einsum": {k: v for k, v in MATMUL_MEMBERS.items() if k != "einsum"}}[family]
    return [(f"body replaced by {member}", f"{first}\n    import torch\n    {body}\n")
            for member, body in members.items()] + others


TAMPER_LINE = "getattr(__import__('sys'), '_get' + 'frame')(0)"  # no reading of the source sees a frame here


def op_state(source):
    """State kept from the first call: a function's first result returned on every call (keyed on nothing), a
    class's first ``__call__``/``forward`` result returned by the same object on every later call."""
    tree = ast.parse(source)
    top = tree.body[0]
    if isinstance(top, ast.FunctionDef):
        name = top.name
        top.name = f"_first_{name}"
        wrapper = (f"\n_kept_{name} = []\n\ndef {name}(*args):\n    if not _kept_{name}:\n"
                   f"        _kept_{name}.append(_first_{name}(*args))\n    return _kept_{name}[0]\n")
        return [("the first result returned on every call", ast.unparse(tree) + "\n" + wrapper)]
    out = []
    if isinstance(top, ast.ClassDef):
        for method in [n.name for n in top.body if isinstance(n, ast.FunctionDef) and n.name in ("__call__", "forward")]:
            changed = ast.parse(source)
            cls = changed.body[0]
            target = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == method)
            target.name = f"_first_{method.strip('_')}"
            cls.body += ast.parse(f"def {method}(self, *args):\n    if not hasattr(self, '_kept'):\n"
                                  f"        self._kept = self.{target.name}(*args)\n    return self._kept\n").body
            out.append((f"{method}: the first call's result kept and returned again", ast.unparse(changed)))
    return out


def op_first_argument(source):
    """Only the first of several arguments passed on (``f(*args)`` -> ``f(args[0])``)."""
    tree = ast.parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and any(isinstance(a, ast.Starred) for a in n.args)]
    if not calls:
        return []
    for node in calls:
        node.args = [ast.Subscript(value=a.value, slice=ast.Constant(0), ctx=ast.Load())
                     if isinstance(a, ast.Starred) else a for a in node.args]
    return [("only the first argument passed on (*args -> args[0])", ast.unparse(tree))]


def op_tamper(source):
    """A line that reaches for the checker's frames, spelled so that only the child's tripwire can see it."""
    lines = source.splitlines()
    indent = next((line[: len(line) - len(line.lstrip())] for line in lines[1:] if line.strip()), "    ")
    return [("a frame asked for at run time", "\n".join([lines[0], indent + TAMPER_LINE, *lines[1:]]) + "\n")]


OPERATORS = {"arith": op_arith, "compare": op_compare, "constant": op_constant, "negative-axis": op_negative_axis,
             "range": op_range, "axis": op_axis, "keepdim": op_keepdim, "transpose": op_drop_transpose,
             "drop-call": op_drop_call, "swap-sizes": op_swap_sizes, "accumulate": op_accumulate,
             "delete": op_delete_statement, "in-place": op_in_place, "swap-operands": op_swap_operands,
             "swap-index": op_swap_index, "negate": op_negate_return, "random-source": op_random_source,
             "cached": op_cached, "tamper": op_tamper, "state": op_state, "first-argument": op_first_argument}


def generate(notebooks=NOTEBOOKS) -> list[Mutant]:
    out: list[Mutant] = []
    for notebook in notebooks:
        graded = {e.name for e in entries(notebook) if isinstance(e, Exercise)}
        for name, source in entry_sources(notebook).items():
            if name not in graded:
                continue
            seen = {ast.unparse(ast.parse(source))}
            found = [(op, d, s) for op, make in OPERATORS.items() for d, s in make(source)]
            found += [("forbidden", d, s) for d, s in op_forbidden(notebook, name, source)]
            counters: dict[str, int] = {}
            for op, description, mutated in found:
                key = ast.unparse(ast.parse(mutated))
                if key in seen:
                    continue  # the same program reached by two operators counts once
                seen.add(key)
                counters[op] = counters.get(op, 0) + 1
                out.append(Mutant(f"{notebook}/{name}/{op}/{counters[op]}", notebook, name, op, description, mutated))
    return out


def equivalents(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """The reviewed list: mutant id -> why it is a correct answer."""
    listed = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.strip() and not line.lstrip().startswith("#"):
            mutant_id, _, reason = line.strip().partition(" ")
            listed[mutant_id] = reason.strip()
    return listed


def sample(mutants: list[Mutant]) -> list[Mutant]:
    """The fixed sample the CI test runs: about one in SAMPLE_EVERY, chosen by id."""
    return [m for m in mutants if int(hashlib.sha1(m.id.encode()).hexdigest()[:6], 16) % SAMPLE_EVERY == 0]


# -- running ------------------------------------------------------------------------------------
@dataclasses.dataclass
class Verdict:
    mutant: Mutant
    status: str
    feedback: list[str]

    @property
    def killed(self) -> bool:
        return self.status != PASSED


REFERENCE = "reference"


def _judge_notebook(notebook: str, mutants: list[Mutant], options: Options, progress,
                    references: bool = False) -> list[Verdict]:
    """Each mutant judged by its exercise; with ``references``, first each exercise's unmutated reference
    (a Verdict whose mutant has operator "reference": it must pass)."""
    sources = entry_sources(notebook)
    cells = [(0, imports(notebook))] + [(i + 1, src) for i, src in enumerate(sources.values())]
    exercises = {e.name: e for e in entries(notebook) if isinstance(e, Exercise)}
    position = {name: i + 1 for i, name in enumerate(sources)}
    current = list(cells)  # the cells as the sandbox last ran them (a reference put back runs as a cell of its own)
    verdicts = []
    with Sandbox(cells, options.limits) as box:
        box.load()
        for name in (sorted({m.exercise for m in mutants}) if references else []):
            result = evaluate(exercises[name], box, options, Program(cells))
            verdicts.append(Verdict(Mutant(f"{notebook}/{name}/{REFERENCE}", notebook, name, REFERENCE,
                                           "the reference solution", sources[name]), result.status,
                                    list(result.feedback)))
        for k, mutant in enumerate(mutants):
            box.tampering.clear()  # what the tripwire sees from here on is this mutant's
            box.run_cell(10_000 + k, mutant.source)
            program = Program([*current, (10_000 + k, mutant.source)])
            result = evaluate(exercises[mutant.exercise], box, options, program)
            caught = [f.where() for f in tampering(program)] + [str(r) for r in box.tampering]
            if caught:  # a tampering verdict, as a graded notebook gets (GradingSession does this there)
                result = dataclasses.replace(result, status="failed", score=0.0, feedback=["tampering: " + caught[0]])
            if not box.alive():
                box.restart()
            for j, name in enumerate((mutant.exercise, *mutant.replaced)):  # the references back, for the next one
                box.run_cell(20_000 + 100 * k + j, sources[name])
                current[position[name]] = (20_000 + 100 * k + j, sources[name])
            verdicts.append(Verdict(mutant, result.status, list(result.feedback)))
            progress()
    return verdicts


def run(mutants: list[Mutant], jobs: int = 2, options: Options = Options(limits=Limits(cell_seconds=10.0)),
        progress=None) -> list[Verdict]:
    """Every mutant judged by its exercise; ``jobs`` sandboxes at a time (work split by notebook and half)."""
    shards = []
    for notebook in dict.fromkeys(m.notebook for m in mutants):
        mine = [m for m in mutants if m.notebook == notebook]
        half = (len(mine) + 1) // 2
        shards += [(notebook, part, first) for part, first in ((mine[:half], True), (mine[half:], False)) if part]
    done, lock, started = [0], threading.Lock(), time.monotonic()

    def tick():
        with lock:
            done[0] += 1
            if progress:
                progress(done[0], len(mutants), time.monotonic() - started)

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_judge_notebook, nb, part, options, tick, first) for nb, part, first in shards]
        verdicts = [v for f in futures for v in f.result()]
    order = {m.id: i for i, m in enumerate(mutants)}
    return sorted(verdicts, key=lambda v: order.get(v.mutant.id, -1))


def report(verdicts: list[Verdict], listed: dict[str, str]) -> tuple[str, float, list[str]]:
    """The per-exercise table, the score, and the problems (a listed equivalent that the checker fails)."""
    problems: list[str] = []
    problems += [f"the reference solution of {v.mutant.notebook}:{v.mutant.exercise} fails: "
                 f"{v.feedback[0] if v.feedback else v.status}" for v in verdicts
                 if v.mutant.operator == REFERENCE and v.killed]
    verdicts = [v for v in verdicts if v.mutant.operator != REFERENCE]
    keys = list(dict.fromkeys((v.mutant.notebook, v.mutant.exercise) for v in verdicts))
    total_killed = total_counted = total_equivalent = 0
    lines = [f"{'exercise':<34} {'mutants':>7} {'killed':>7} {'survived':>8} {'equivalent':>10} {'score':>7}"]
    for notebook, exercise in keys:
        mine = [v for v in verdicts if (v.mutant.notebook, v.mutant.exercise) == (notebook, exercise)]
        equivalent = [v for v in mine if v.mutant.id in listed]
        for v in equivalent:
            if v.killed:
                problems.append(f"{v.mutant.id} is listed as equivalent but the checker fails it: "
                                f"{v.feedback[0] if v.feedback else v.status}")
        counted = [v for v in mine if v.mutant.id not in listed]
        killed = sum(v.killed for v in counted)
        total_killed += killed
        total_counted += len(counted)
        total_equivalent += len(equivalent)
        score = 100.0 * killed / len(counted) if counted else 100.0
        lines.append(f"{notebook + ':' + exercise:<34} {len(mine):>7} {killed:>7} {len(counted) - killed:>8} "
                     f"{len(equivalent):>10} {score:>6.1f}%")
    survivors = [v for v in verdicts if not v.killed and v.mutant.id not in listed]
    if survivors:
        lines += ["", "survivors (kill them with a check, or list them with a reason in "
                      f"{EQUIVALENT_FILE.name}):"]
        lines += [f"  {v.mutant.id}: {v.mutant.description}" for v in survivors]
    score = 100.0 * total_killed / total_counted if total_counted else 100.0
    lines.append(f"mutation score: {score:.1f}% of {total_counted} non-equivalent mutants killed "
                 f"({total_equivalent} equivalent)")
    return "\n".join(lines), score, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants", description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", nargs="+", choices=NOTEBOOKS, default=list(NOTEBOOKS))
    parser.add_argument("--exercise", nargs="+", help="only these exercises")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sample", action="store_true", help="only the fixed sample the CI test runs")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    args = parser.parse_args(argv)
    mutants = generate(args.notebook)
    if args.exercise:
        mutants = [m for m in mutants if m.exercise in args.exercise]
    if args.sample:
        mutants = sample(mutants)
    if args.list:
        for m in mutants:
            print(f"{m.id}: {m.description}")
        return 0
    print(f"{len(mutants)} mutants of the reference solutions; grading each with the checker ({args.jobs} at a time)")

    def progress(done, total, seconds):
        if done % 20 == 0 or done == total:
            print(f"  {done}/{total} ({seconds:.0f} s)", file=sys.stderr, flush=True)

    verdicts = run(mutants, args.jobs, progress=progress)
    listed = equivalents()
    text, _, problems = report(verdicts, listed)
    if not (args.exercise or args.sample) and args.notebook == list(NOTEBOOKS):
        generated = {m.id for m in mutants}
        problems += [f"{EQUIVALENT_FILE.name} lists {i}, which is no longer generated" for i in listed
                     if i not in generated]
    print(text)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
