"""Evidence from the submitted source, read in the grader: what student code cannot edit.

The op trace is recorded in the process that runs the student's cells, so student code can rewrite
it, or call below it (numpy, ``torch._C``, ``torch.ops``, a disabled or popped mode). The source text
is read here, in the grader, from the submission itself. Two things are read from it:

- **what an exercise uses**: the exercise's definition and every definition of the submission it
  reaches (helpers, base classes, globals), with the names of the modules they were imported as, so
  that ``np.matmul``, ``from torch import mm``, ``a @ b``, ``torch.ops.aten.mm`` and
  ``operator.matmul`` are all seen as what they are; plus the ways of calling what the source does
  not name (``getattr`` with a computed name, ``eval``, ``importlib`` ...), which hide a call from
  this reading and so count as forbidden where an exercise forbids anything;
- **tampering**, in any cell: reaching the checker's frames, objects or channel (``sys._getframe``,
  ``f_back``, ``gc.get_objects``, ``ctypes``, ``/proc/self``, writing to raw file descriptors), the
  torch mode stack, the checker's internal modules, or patching what the checker's code in that
  process calls (``torch.allclose = ...``, ``torch.Tensor.untyped_storage = ...``, ``time.perf_counter
  = ...``; settings such as ``torch.backends.cudnn.deterministic`` are left alone).

Only the code the student submitted is read: the kit's test cells are not part of a submission.
"""
from __future__ import annotations

import ast
import dataclasses
import re
import sys
import types
from typing import Iterable, Iterator

from checker.messages import UNREAD_CODE

# What a finding is about
FORBIDDEN, OTHER_LIBRARY, BELOW_API, DYNAMIC, TAMPERING, ELSEWHERE = "forbidden", "other_library", "below_api", \
    "dynamic", "tampering", "elsewhere"

# Array libraries other than torch: work done there is not done in torch, whatever it computes.
ARRAY_LIBRARIES = frozenset({"numpy", "scipy", "jax", "jaxlib", "cupy", "tensorflow", "numba", "mlx", "pandas",
                             "dask", "sklearn", "sympy", "numexpr", "array", "autograd", "theano", "paddle", "mxnet"})
# Modules beyond the standard library that compute nothing with a tensor's values (progress bars, display): every
# other one is another library where an exercise forbids anything (mpmath's matrix, einops, a package she installed),
# whatever its name; a list of array libraries would meet the next one.
NON_NUMERIC_PACKAGES = frozenset({"tqdm", "fastprogress", "IPython", "typing_extensions", "checker"})
# Modules whose private names are lower layers of torch's API.
TORCH = "torch"
# what ast.parse raises on a cell it cannot read: not Python, a null byte (ValueError on 3.11), or an expression
# nested past the parser's depth (a one-line sum of 3000 terms: RecursionError, or MemoryError)
UNPARSEABLE = (SyntaxError, ValueError, RecursionError, MemoryError)
TORCH_BELOW = frozenset({"functorch", "_C"})  # packages beside torch that are its lower layers (functorch: torch.func)
# Lower layers of torch, reached by a public name
BELOW_API_NAMES = frozenset({"torch.ops", "torch.overrides", "torch.library", "torch.fx", "torch.jit",
                             "torch.compile", "torch.export", "torch.func"})
# Calls that look a name up at run time (the source cannot say what they call).
DYNAMIC_BUILTINS = frozenset({"getattr", "eval", "exec", "compile", "__import__", "globals", "vars", "locals",
                              "breakpoint"})
# Methods that resolve a dotted name given as a string (``string.Formatter().get_field("0._C.x", [torch], {})``)
DYNAMIC_METHODS = frozenset({"get_field", "getattr_static", "resolve_name", "locate", "_dot_lookup", "_importer",
                             "import_module", "__getattribute__", "__getattr__"})
DYNAMIC_QUALIFIED = ("importlib", "operator.attrgetter", "operator.methodcaller", "pydoc.locate", "string.Formatter",
                     "_string", "inspect.getattr_static", "logging.config", "unittest.mock._importer",
                     "pkgutil.resolve_name", "runpy", "code.", "codeop", "types.FunctionType", "types.CodeType",
                     "marshal", "pickle", "dill", "builtins")
# Work moved to another thread or process, out of sight of a trace of the calling thread.
ELSEWHERE_QUALIFIED = ("threading.Thread", "threading.Timer", "_thread", "concurrent", "multiprocessing", "subprocess",
                       "_posixsubprocess",
                       "os.fork", "os.forkpty", "os.posix_spawn", "os.posix_spawnp", "os.spawnl", "os.spawnv",
                       "os.spawnve", "os.spawnlp", "os.spawnvp", "os.system", "os.popen", "os.exec", "pty.fork",
                       "pty.spawn", "asyncio.to_thread", "asyncio.create_subprocess_exec",
                       "asyncio.create_subprocess_shell", "torch.multiprocessing", "torch.futures", "torch.jit.fork",
                       "torch.jit._fork", "torch.distributed", "joblib", "ray")
# Modules other modules re-export (``subprocess.signal``, ``os.sys``): a name reached through one is that module's.
REEXPORTED_MODULES = frozenset({"signal", "_signal", "sys", "gc", "ctypes", "inspect", "traceback", "threading",
                                "_thread", "os", "io", "_io", "socket", "mmap", "faulthandler", "builtins", "importlib",
                                "operator", "pickle", "marshal", "subprocess", "multiprocessing", "concurrent", "posix",
                                "weakref", "types"})
# The autograd graph reached by attribute, whatever the tensor is called (``l.requires_grad = True``, ``grad_fn``)
AUTOGRAD_ATTRIBUTES = frozenset({"requires_grad", "grad_fn", "next_functions", "register_hook", "retain_grad",
                                 "_grad_fn"})
# Builtins that read a tensor's bytes as Python numbers (a loop by another name, where a rule counts loops)
# and a tensor's text; and a complex number (its abs is the 2-norm of two numbers)
RAW_BYTES_BUILTINS = frozenset({"memoryview", "bytes", "bytearray", "repr", "ascii", "complex"})
DYNAMIC_ATTRIBUTES = frozenset({"__dict__", "__getattribute__", "__getattr__", "__builtins__", "__import__",
                                "__subclasses__", "__bases__", "__mro__", "__reduce__", "__reduce_ex__"})
# Reaching the process's own frames, objects, memory and channel.
TAMPERING_ATTRIBUTES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next",
                                  "gi_frame", "cr_frame", "ag_frame", "gi_code", "__globals__", "__closure__",
                                  "__code__", "__self__", "__func__", "__wrapped__", "cell_contents", "__defaults__",
                                  "__kwdefaults__", "f_lasti", "f_trace", "gi_yieldfrom", "cr_await", "get_stack",
                                  "print_stack", "_get_coro", "__subclasses__"})
# Attribute names looked up from strings (``getattr``, ``operator.attrgetter``): the string, folded where it is built
# from constants, is read as the attribute would be; one built at run time is a tampering of its own there.
NAME_LOOKUPS = frozenset({"getattr", "setattr", "delattr", "hasattr", "operator.attrgetter", "operator.methodcaller"})
TAMPERING_QUALIFIED = (
    "sys._getframe", "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
    "sys.addaudithook", "sys.audit", "sys.modules", "__main__", "sys.monitoring",
    "sys.stdout.fileno", "sys.__stdout__", "sys.__stderr__",
    "threading.settrace", "threading.setprofile", "threading.enumerate", "_thread",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "gc.garbage",
    "inspect.currentframe", "inspect.stack", "inspect.trace", "inspect.getouterframes", "inspect.getinnerframes",
    "inspect.getmembers", "inspect.getclosurevars", "inspect.getmodule",
    "traceback.walk_stack", "traceback.walk_tb", "traceback.extract_stack",
    "ctypes", "_ctypes", "cffi", "mmap", "posix", "_posixsubprocess", "faulthandler",
    "os.write", "os.writev", "os.pwrite", "os.pwritev", "os.sendfile", "os.splice", "os.dup", "os.dup2", "os.fdopen",
    "os.close", "os.closerange", "os.open", "os.read", "os.readv", "os.pread", "os.kill", "os.killpg",
    "os.set_blocking", "os.fstat", "os.lseek", "os.truncate", "os.ftruncate", "os.memfd_create", "os.pipe",
    "io.FileIO", "_io", "socket",
    # anything else that takes a file descriptor by number: the process's channel is one
    "os.eventfd", "os.eventfd_read", "os.eventfd_write", "os.copy_file_range", "os.preadv", "os.posix_fallocate",
    "os.posix_fadvise", "os.lockf", "os.fchmod", "os.fchown", "os.fchdir", "os.fsync", "os.fdatasync",
    "os.set_inheritable", "os.get_inheritable", "os.get_blocking", "os.ttyname", "os.device_encoding",
    "os.fpathconf", "os.fstatvfs", "os.tcgetpgrp", "os.tcsetpgrp", "os.openpty", "os.login_tty", "os.isatty",
    "fcntl", "termios", "tty", "pty", "select.epoll", "select.poll", "select.devpoll", "select.kqueue", "selectors",
    "signal.set_wakeup_fd", "signal.signal", "signal.setitimer", "signal.alarm", "signal.pthread_kill",
    "multiprocessing.connection", "torch._C._push_on_torch_function_stack",
    # which process this is: the loop and memory rules call the function in a copy of the process made for the call
    # (its pid, its parent, its CPU counters are its own), and code that asks can tell a rule's call from the others
    "os.getpid", "os.getppid", "os.getpgid", "os.getpgrp", "os.getsid", "os.times", "os.pidfd_open",
    "resource.getrusage", "threading.get_native_id", "_thread.get_native_id",
    "torch._C._pop_torch_function_stack", "torch._C._get_function_stack_at", "torch._C.DisableTorchFunction",
    "torch._C.DisableTorchFunctionSubclass", "torch._C._DisableTorchDispatch", "torch.overrides._pop_mode",
    "torch.overrides._push_mode", "torch.utils._python_dispatch", "torch._C._set_torch_function_mode",
    "torch.overrides.TorchFunctionMode", "torch.utils._python_dispatch.TorchDispatchMode",
)
# Ways of running code that is not in the submission's text (a string, bytes, a pickled call, a file written at
# run time): no reading of the source sees it, so a notebook that does any of them, in any cell, is not graded.
# (``pickle.load`` of data, as the lesson loads MNIST, is not among them: while student code runs, the tripwire lets a
# pickle build only tensors, arrays and containers; an Unpickler of her own, which could skip that, is.)
CODE_FROM_DATA_BUILTINS = frozenset({"exec", "eval", "compile", "__import__", "breakpoint"})
CODE_FROM_DATA_QUALIFIED = ("builtins.exec", "builtins.eval", "builtins.compile", "builtins.__import__", "importlib",
                            "runpy", "code.", "codeop", "types.FunctionType", "types.LambdaType", "types.CodeType",
                            "marshal", "pickle.Unpickler", "pickle._Unpickler", "_pickle.Unpickler", "pickle.find_class",
                            "dill", "cloudpickle", "shelve", "copyreg", "zipimport",
                            "pkgutil", "sys.path", "sys.meta_path", "sys.path_hooks", "sys.path_importer_cache", "site")
# (libraries that compile a string they are given, such as timeit's, are read when they compile it: see tripwire)
# Patching these from a notebook reaches what the checker's own code in that process calls (torch's
# functions and classes, the clock, builtins, the checker): settings meant to be set are left alone.
PATCHED_ROOTS = frozenset({"torch", "builtins", "time", "sys", "gc", "os", "checker", "math", "operator", "inspect"})
PATCHABLE_SETTINGS = ("torch.backends",)
TAMPERING_STRINGS = re.compile(r"/proc/(self|thread-self|\d+)|/dev/fd|/dev/stdout|/dev/stderr")
# What a student's own notebook imports from the checker (everything else is its inside)
STAR_IMPORTS_READ = frozenset({"math", "torch", "checker", "checker.lesson", "checker.data"})  # nothing hidden there
PUBLIC_CHECKER_MODULES = frozenset({"checker", "checker.lesson", "checker.data"})
PUBLIC_CHECKER_NAMES = frozenset({"check", "check_all", "grade_cell", "lesson", "data"})


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str  # one of the kinds above
    what: str  # the op or construct, as a person names it ("numpy.matmul", "sys._getframe")
    cell: int  # the submission's cell index
    line: int  # the line in that cell
    text: str  # the source line, stripped

    def where(self) -> str:
        return f"cell {self.cell}, line {self.line}: `{self.text[:80]}`"


@dataclasses.dataclass
class _Binding:
    name: str
    cell: int
    node: ast.AST
    lines: list[str]


class Program:
    """A submission's code cells, parsed, with their top-level definitions and import aliases."""

    def __init__(self, cells: Iterable[tuple[int, str]]):
        self.cells: list[tuple[int, ast.Module, list[str]]] = []
        self.bindings: dict[str, list[_Binding]] = {}
        self.aliases: dict[str, str] = {}  # local name -> dotted name it was imported as
        self.star_imports: list[tuple[int, str, ast.AST, list[str]]] = []  # from MODULE import *: names unknown here
        # name -> the statements that put something into it (``reg.append(f)``, ``reg[0] = f``, ``@reg.append``):
        # what reaches the name reaches what was put there
        self.fillings: dict[str, list[_Binding]] = {}
        for index, source in cells:
            try:
                tree = ast.parse(source)
            except UNPARSEABLE:  # not Python, or nested past what the parser takes: no code of it is read
                continue
            lines = source.splitlines()
            self.cells.append((index, tree, lines))
            for node in tree.body:
                self._bind(index, node, lines)
            self._fillings_of(index, tree, lines)
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    self._alias(node)
                    if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                        self.star_imports.append((index, node.module or "", node, lines))
        self._calls_of_fillers()

    def _calls_of_fillers(self) -> None:
        """A function of the submission that puts what it is given into a name (``def keep(f): kept.append(f)``,
        or ``global op; op = f``) fills that name wherever it is called: ``keep(torch.mm)`` in any cell puts
        ``torch.mm`` there. Followed through fillers that call fillers."""
        functions = [(cell, node, lines) for cell, tree, lines in self.cells for node in ast.walk(tree)
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        # each function read once: the names it fills itself, and the functions it hands what it was given to
        fills: dict[str, set[str]] = {}
        hands_to: dict[str, set[str]] = {}
        for _, fn, _ in functions:
            args = fn.args
            params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a}
            declared = {n for g in ast.walk(fn) if isinstance(g, ast.Global) for n in g.names}
            found, callees = fills.setdefault(fn.name, set()), hands_to.setdefault(fn.name, set())
            for stmt in ast.walk(fn):
                if not isinstance(stmt, ast.stmt) or stmt is fn:
                    continue
                if not params & {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}:
                    continue  # it stores nothing it was given
                found |= _filled_roots(stmt) - {None} - params
                if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    found |= {t.id for t in targets if isinstance(t, ast.Name) and t.id in declared}
                callees |= {n.func.id for n in _own_expressions(stmt)
                            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        changed = True
        while changed:  # followed through fillers that call fillers, on the names alone
            changed = False
            for name, callees in hands_to.items():
                more = set().union(*(fills.get(c, ()) for c in callees)) - fills[name]
                if more:
                    fills[name] |= more
                    changed = True
        fills = {name: found for name, found in fills.items() if found}
        if not fills:
            return
        for cell, tree, lines in self.cells:
            for node in ast.walk(tree):
                callee = node.func if isinstance(node, ast.Call) else None
                if isinstance(callee, ast.Name) and callee.id in fills:
                    for name in fills[callee.id]:
                        self.fillings.setdefault(name, []).append(_Binding(name, cell, node, lines))
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    for decorator in node.decorator_list:
                        if isinstance(decorator, ast.Name) and decorator.id in fills:
                            for name in fills[decorator.id]:
                                self.fillings.setdefault(name, []).append(_Binding(name, cell, node, lines))

    def _bind(self, cell: int, node: ast.AST, lines: list[str]) -> None:
        names: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t])
                     if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self._bind(cell, child, lines)
        for name in names:
            self.bindings.setdefault(name, []).append(_Binding(name, cell, node, lines))

    def _fillings_of(self, cell: int, tree: ast.AST, lines: list[str]) -> None:
        """Every statement, at any depth, that fills a container or an object named at its root: a method called
        on it, an item or attribute stored into it, ``setattr``/``setitem`` on it, a decorator naming it."""
        def add(name: str, node: ast.AST) -> None:
            self.fillings.setdefault(name, []).append(_Binding(name, cell, node, lines))

        for stmt in ast.walk(tree):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for decorator in stmt.decorator_list:
                    for name in {n.id for n in ast.walk(decorator) if isinstance(n, ast.Name)}:
                        add(name, stmt)
                continue
            if not isinstance(stmt, ast.stmt):
                continue
            for name in _filled_roots(stmt) - {None}:
                add(name, stmt)

    def _alias(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.aliases[a.asname] = a.name
                else:
                    root = a.name.split(".")[0]
                    self.aliases[root] = root
        else:
            module = "." * node.level + (node.module or "")
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{module}.{a.name}" if a.name != "*" else f"{module}.*"

    # -- names ---------------------------------------------------------------------------------
    def qualified(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for when it is rooted at an import (``np.linalg.norm`` ->
        ``numpy.linalg.norm``), else None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id in self.bindings:
            return None
        origin = self.aliases.get(node.id) or self._star_origin(node.id)
        if origin is None:
            return None
        return _through_reexports(".".join([origin, *reversed(parts)]))

    def _star_origin(self, name: str) -> str | None:
        """``hypot`` after ``from math import *``: the dotted name it stands for, read from the module the star
        imported, where the grader has that module loaded itself (math, torch, numpy, typing, itertools ...)."""
        for _, module, _, _ in reversed(self.star_imports):
            loaded = star_module(module)
            if loaded is not None and name in star_names(loaded):
                return f"{module}.{name}"
        return None

    def reachable(self, name: str, judged_apart: Iterable[str] = ()) -> list[_Binding]:
        """The definition of ``name`` and of every top-level name of the submission it uses, transitively: the
        last of each (a function redefined in a later cell is the one that runs); not ``judged_apart`` (other
        exercises, replaced by the checker's own while this one is judged)."""
        seen: set[str] = set(judged_apart) - {name}
        order: list[_Binding] = []
        placed: set[int] = set()  # the nodes in order (a statement that fills many names is read once)
        todo = [name]
        while todo:
            current = todo.pop()
            if current in seen or current not in self.bindings:
                continue
            seen.add(current)
            binding = self.bindings[current][-1]
            order.append(binding)
            placed.add(id(binding.node))
            todo.extend(n for n in free_names(binding.node) if n not in seen)
            for filling in self.fillings.get(current, []):
                if id(filling.node) not in placed:
                    order.append(filling)
                    placed.add(id(filling.node))
                    todo.extend(n for n in free_names(filling.node) if n not in seen)
        return order

    def all_code(self) -> Iterator[tuple[int, ast.AST, list[str]]]:
        for index, tree, lines in self.cells:
            yield index, tree, lines


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def star_module(module: str):
    """The module ``from MODULE import *`` brings names from, when the grader knows them without running anything:
    one this process has loaded (a relative import, or the checker's public modules, are not read this way)."""
    if not module or module.startswith(".") or module.split(".")[0] == "checker":
        return None
    return sys.modules.get(module)


def star_names(loaded) -> frozenset[str]:
    public = getattr(loaded, "__all__", None)
    return frozenset(public) if public is not None else frozenset(n for n in vars(loaded) if not n.startswith("_"))


def free_names(node: ast.AST) -> set[str]:
    """The names ``node`` reads from the module: not a function's parameters and locals, nor a comprehension's
    targets (``def f(a, b)`` does not reach a demo cell's ``a = m1 @ m2``)."""
    if isinstance(node, _SCOPES):
        args = node.args
        params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a}
        outside = [*args.defaults, *[d for d in args.kw_defaults if d is not None]]
        if not isinstance(node, ast.Lambda):
            outside += [*node.decorator_list, *(a.annotation for a in (*args.posonlyargs, *args.args,
                                                                          *args.kwonlyargs) if a.annotation)]
        body = node.body if isinstance(node.body, list) else [node.body]
        inner = set().union(*(free_names(b) for b in body)) if body else set()
        return set().union(*(free_names(o) for o in outside)) | (inner - (params | _locals_of(body)))
    if isinstance(node, _COMPREHENSIONS):
        targets = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        parts = [*node.generators, *([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt])]
        return set().union(*(free_names(p) for p in parts)) - targets
    if isinstance(node, ast.Name):
        return {node.id}
    return set().union(set(), *(free_names(c) for c in ast.iter_child_nodes(node)))


def _locals_of(body: list[ast.stmt]) -> set[str]:
    """The names a function body binds in its own scope (not those it declares global or nonlocal)."""
    bound, declared = set(), set()
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            todo.extend(getattr(node, "decorator_list", []))
            continue  # its body is a scope of its own
        elif isinstance(node, (ast.Lambda, *_COMPREHENSIONS)):
            continue
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    return bound - declared


def _root_name(node: ast.AST) -> str | None:
    """``reg`` of ``reg.items[0].append``: the name an attribute or item chain starts from."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


UNBOUND_METHOD_OWNERS = frozenset({"list", "dict", "set", "object", "type", "collections", "deque", "OrderedDict",
                                   "defaultdict", "operator", "functools", "vars"})


def _filled_roots(stmt: ast.stmt) -> set[str | None]:
    """The names whose objects one statement puts something into: an item or attribute stored, a method called
    on it, ``setattr``/``setitem`` on it."""
    targets = []
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    roots = {_held_in(t) for t in targets if isinstance(t, (ast.Subscript, ast.Attribute))}
    for node in _own_expressions(stmt):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                roots.add(_held_in(node.func.value))
            if isinstance(node.func, (ast.Name, ast.Attribute)) and node.args and \
                    (_last_name(node.func) in ("setattr", "setitem", "__setitem__", "__setattr__") or
                     isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                     and node.func.value.id in UNBOUND_METHOD_OWNERS):  # list.append(kept, f)
                roots.add(_held_in(node.args[0]))
    return roots


def _held_in(node: ast.AST) -> str | None:
    """``reg`` of ``reg.items[0]``: the name whose object an attribute or item chain reaches into; None through a
    call (``outer(u, v).sum().item()`` puts nothing into ``outer``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _last_name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id


def _own_expressions(stmt: ast.stmt):
    """The expressions of a statement, not of the statements nested in it (they are walked on their own)."""
    todo = [c for c in ast.iter_child_nodes(stmt) if not isinstance(c, ast.stmt)]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.stmt))


def _through_reexports(dotted: str) -> str:
    """``subprocess.signal.signal`` -> ``signal.signal``: a module reached as another module's attribute is named
    as itself. Resolved through the modules this process has loaded (nothing is imported for it); for others, a
    part named like one of REEXPORTED_MODULES that is not the last. torch's own submodules keep their names."""
    parts = dotted.split(".")
    if parts[0] == TORCH or len(parts) < 3:
        return dotted
    obj = sys.modules.get(parts[0])
    if obj is not None:
        for i, part in enumerate(parts[1:-1], start=1):
            obj = getattr(obj, part, None)
            if isinstance(obj, types.ModuleType) and obj.__name__ != ".".join(parts[:i + 1]) and \
                    obj.__name__.split(".")[0] in REEXPORTED_MODULES:
                return _through_reexports(".".join([obj.__name__, *parts[i + 1:]]))
            if obj is None:
                break
        return dotted
    for i in range(1, len(parts) - 1):
        if parts[i] in REEXPORTED_MODULES:
            return ".".join(parts[i:])
    return dotted


def folded_string(node: ast.AST) -> str | None:
    """The value of a string expression built from constants (``"f_" + "back"``, ``"".join(["f_", "back"])``,
    an f-string of constants), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = folded_string(node.left), folded_string(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [folded_string(v) if not isinstance(v, ast.FormattedValue) else folded_string(v.value)
                 for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" and \
            len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)):
        sep = folded_string(node.func.value)
        items = [folded_string(e) for e in node.args[0].elts]
        return sep.join(items) if sep is not None and all(i is not None for i in items) else None
    return None


def _line(lines: list[str], node: ast.AST) -> tuple[int, str]:
    number = getattr(node, "lineno", 1)
    text = lines[number - 1].strip() if 0 < number <= len(lines) else ""
    return number, text


def _own_methods(bindings: list[_Binding]) -> set[str]:
    """Names of functions and methods the submission itself defines in this code (``self.loss.backward()``
    calls the student's backward, not torch's)."""
    return {n.name for b in bindings for n in ast.walk(b.node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def op_name(dotted: str) -> str:
    """The canonical op name of a dotted torch-like name: ``torch.linalg.norm`` -> ``linalg_norm``,
    ``torch.nn.functional.linear`` -> ``linear``, ``operator.matmul`` -> ``matmul``,
    ``torch.distributions.normal.Normal`` -> ``distributions_Normal``."""
    parts = [p for p in dotted.split(".") if p not in ("default", "Tensor", "out")]
    if len(parts) >= 2 and parts[0] == TORCH and "distributions" in parts[1:]:  # whatever submodule holds it
        return "distributions" if parts[-1] == "distributions" else f"distributions_{parts[-1]}"
    if len(parts) >= 2 and parts[-2] == "linalg":
        return f"linalg_{parts[-1]}"
    return parts[-1] if parts else dotted


def _below_api(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[0] in TORCH_BELOW:
        return True
    if parts[0] != TORCH:
        return False
    if any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts[1:]):
        return True
    return any(dotted == n or dotted.startswith(n + ".") for n in BELOW_API_NAMES)


def _another_package(root: str) -> bool:
    """A module neither torch's nor the standard library's, nor one that computes nothing (``NON_NUMERIC_PACKAGES``)."""
    return root not in (TORCH, *TORCH_BELOW) and root not in sys.stdlib_module_names \
        and root not in NON_NUMERIC_PACKAGES


def _matches(dotted: str, names: Iterable[str]) -> bool:
    return any(dotted == n or dotted.startswith(n + ".") or (n.endswith(".") and dotted.startswith(n))
               for n in names)


def uses(program: Program, name: str, judged_apart: Iterable[str] = ()) -> list[Finding]:
    """What the exercise ``name`` (and everything of the submission it reaches but ``judged_apart``) calls or
    leaves to run time: ``forbidden`` findings name an op (canonical, for the families of
    checker.checks.operations), the others another array library, a layer below torch's API, or a dynamic lookup."""
    bindings = program.reachable(name, judged_apart)
    own = _own_methods(bindings)
    found: list[Finding] = []
    unknown = _names_from_nowhere(program, bindings)
    for cell, module, node, lines in program.star_imports:
        # a module the grader cannot read the names of: dynamic only where the exercise uses a name that nothing
        # in the submission binds (a demo cell's `from typing import *` reaches no exercise)
        if module not in STAR_IMPORTS_READ and star_module(module) is None and unknown:
            line, text = _line(lines, node)
            found.append(Finding(DYNAMIC, f"from {module} import *", cell, line, text))
    for b in bindings:
        for node in ast.walk(b.node):
            found.extend(_use_of(program, node, b, own))
    return found


def _names_from_nowhere(program: Program, bindings: list[_Binding]) -> set[str]:
    """The names the exercise's code uses that no statement of the submission binds, no import names and no builtin
    is: a star import of a module the grader cannot read may be where they come from."""
    import builtins

    used = set().union(*(free_names(b.node) for b in bindings)) if bindings else set()
    return {n for n in used if n not in program.bindings and n not in program.aliases and not hasattr(builtins, n)
            and program._star_origin(n) is None}


def _use_of(program: Program, node: ast.AST, b: _Binding, own: set[str]) -> Iterator[Finding]:
    line, text = _line(b.lines, node)
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.MatMult):
        yield Finding(FORBIDDEN, "matmul", b.cell, line, text)
    if isinstance(node, ast.Constant) and isinstance(node.value, complex):  # 1j: a complex number, whose abs is a norm
        yield Finding(FORBIDDEN, "complex", b.cell, line, text)
    if isinstance(node, ast.Attribute) and node.attr in AUTOGRAD_ATTRIBUTES and program.qualified(node) is None:
        if node.attr != "requires_grad":
            yield Finding(FORBIDDEN, node.attr, b.cell, line, text)
        elif not isinstance(node.ctx, ast.Load):  # set, as requires_grad_() sets it; reading it computes nothing
            yield Finding(FORBIDDEN, "requires_grad_", b.cell, line, text)
    elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load):
        dotted = program.qualified(node)
        if dotted is None:
            if isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRIBUTES:
                yield Finding(DYNAMIC, node.attr, b.cell, line, text)
            return
        root = dotted.split(".")[0]
        if any(part in DYNAMIC_ATTRIBUTES for part in dotted.split(".")[1:]):  # torch.__dict__['mm'], F.__dict__
            yield Finding(DYNAMIC, dotted, b.cell, line, text)
        elif root in ARRAY_LIBRARIES:
            yield Finding(OTHER_LIBRARY, dotted, b.cell, line, text)
        elif _matches(dotted, ELSEWHERE_QUALIFIED):
            yield Finding(ELSEWHERE, dotted, b.cell, line, text)
        elif _below_api(dotted):
            yield Finding(BELOW_API, dotted, b.cell, line, text)
        elif _matches(dotted, DYNAMIC_QUALIFIED):
            yield Finding(DYNAMIC, dotted, b.cell, line, text)
        elif _another_package(root):
            yield Finding(OTHER_LIBRARY, dotted, b.cell, line, text)
        else:
            yield Finding(FORBIDDEN, op_name(dotted), b.cell, line, text)
    if isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load):
        dotted = program.qualified(node)
        if dotted and _matches(dotted, ("torch.autograd",)):
            yield Finding(FORBIDDEN, "autograd", b.cell, line, text)  # forward mode, functional ... by any name
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in RAW_BYTES_BUILTINS and func.id not in program.bindings:
            yield Finding(FORBIDDEN, func.id, b.cell, line, text)
        if isinstance(func, ast.Name) and func.id in DYNAMIC_BUILTINS and func.id not in program.bindings:
            looked_up = folded_string(node.args[1]) if func.id == "getattr" and len(node.args) >= 2 else None
            if looked_up is not None:
                yield Finding(FORBIDDEN, op_name(looked_up), b.cell, line, text)
            else:
                yield Finding(DYNAMIC, func.id, b.cell, line, text)
        elif isinstance(func, ast.Attribute) and program.qualified(func) is None and func.attr not in own:
            if func.attr in DYNAMIC_METHODS:
                yield Finding(DYNAMIC, func.attr, b.cell, line, text)
            elif func.attr in ("numpy", "__array__"):
                yield Finding(OTHER_LIBRARY, "Tensor.numpy", b.cell, line, text)
            else:
                yield Finding(FORBIDDEN, func.attr, b.cell, line, text)


def tampering(program: Program) -> list[Finding]:
    """Every place in the submission that reaches the process's own frames, objects, memory, channel or mode
    stack, or the checker's internal modules."""
    found: list[Finding] = []
    for index, tree, lines in program.all_code():
        asked = _membership_tests(tree)
        for node in ast.walk(tree):
            if id(node) not in asked:
                found.extend(_tampering_in(program, node, index, lines))
    unique = {(f.cell, f.line, f.what): f for f in found}
    return sorted(unique.values(), key=lambda f: (f.cell, f.line))


def _membership_tests(tree: ast.AST) -> set[int]:
    """The nodes of ``"numpy" in sys.modules`` (a question whose answer is True or False, nothing of the module):
    the ``sys.modules`` right of an ``in`` or ``not in``, and its ``sys`` (only a test of a constant name)."""
    asked: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)) \
                and isinstance(node.left, ast.Constant) and isinstance(node.comparators[0], ast.Attribute) \
                and node.comparators[0].attr == "modules":
            asked |= {id(node.comparators[0]), id(node.comparators[0].value)}
    return asked


def _patched(program: Program, target: ast.AST) -> str | None:
    """The dotted name an assignment, ``del`` or ``setattr`` patches, when it is one the checker relies on."""
    dotted = program.qualified(target) if isinstance(target, ast.Attribute) else None
    if dotted and dotted.split(".")[0] in PATCHED_ROOTS and not _matches(dotted, PATCHABLE_SETTINGS):
        return dotted
    return None


def _tampering_in(program: Program, node: ast.AST, cell: int, lines: list[str]) -> Iterator[Finding]:
    line, text = _line(lines, node)
    targets = []
    if isinstance(node, (ast.Assign, ast.Delete)):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") \
            and node.args and node.func.id not in program.bindings:
        target = node.args[0]
        owner = program.qualified(target) if isinstance(target, (ast.Name, ast.Attribute)) else None
        if owner and owner.split(".")[0] in PATCHED_ROOTS and not _matches(owner, PATCHABLE_SETTINGS):
            yield Finding(TAMPERING, f"{node.func.id}({owner}, ...)", cell, line, text)
        elif isinstance(target, (ast.Call, ast.Subscript)):  # an owner found at run time: a module, a class ...
            yield Finding(TAMPERING, f"{node.func.id} on an object looked up at run time", cell, line, text)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in ("__setattr__", "__delattr__") and isinstance(node.func.value, ast.Name) and \
            node.func.value.id in ("object", "type") and node.func.value.id not in program.bindings:
        yield Finding(TAMPERING, f"{node.func.value.id}.{node.func.attr}", cell, line, text)
    for target in targets:
        for part in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
            patched = _patched(program, part)
            if patched:
                yield Finding(TAMPERING, f"patches {patched}", cell, line, text)
    if isinstance(node, ast.Call):
        yield from _looked_up_by_name(program, node, cell, line, text)
        if _unsafe_load(program, node):
            yield Finding(TAMPERING, UNREAD_CODE.format(what=program.qualified(node.func)), cell, line, text)
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in CODE_FROM_DATA_BUILTINS and \
            node.id not in program.bindings:
        yield Finding(TAMPERING, UNREAD_CODE.format(what=node.id), cell, line, text)
    if isinstance(node, ast.Attribute) and node.attr in TAMPERING_ATTRIBUTES:
        yield Finding(TAMPERING, node.attr, cell, line, text)
    elif isinstance(node, (ast.Attribute, ast.Name)):
        dotted = program.qualified(node)
        if dotted and _matches(dotted, TAMPERING_QUALIFIED):
            yield Finding(TAMPERING, dotted, cell, line, text)
        elif dotted and _matches(dotted, CODE_FROM_DATA_QUALIFIED):
            yield Finding(TAMPERING, UNREAD_CODE.format(what=dotted), cell, line, text)
        elif dotted and dotted.split(".")[0] == "checker" and not _public_checker(dotted):
            yield Finding(TAMPERING, dotted, cell, line, text)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and TAMPERING_STRINGS.search(node.value):
        yield Finding(TAMPERING, repr(node.value)[:40], cell, line, text)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for dotted in _imported(node):
            # a star import of a module whose names are read here is judged name by name where they are used
            star_of_tampering = dotted.endswith(".*") and star_module(dotted[:-2]) is None and \
                any(t.startswith(dotted[:-1]) for t in TAMPERING_QUALIFIED)
            if star_of_tampering or _matches(dotted, TAMPERING_QUALIFIED) or (dotted.split(".")[0] == "checker"
                                                          and not _public_checker(dotted)):
                yield Finding(TAMPERING, f"import {dotted}", cell, line, text)
            elif _matches(dotted, CODE_FROM_DATA_QUALIFIED) and dotted not in ("code", "site"):
                yield Finding(TAMPERING, UNREAD_CODE.format(what=f"import {dotted}"), cell, line, text)


def _looked_up_by_name(program: Program, node: ast.Call, cell: int, line: int, text: str) -> Iterator[Finding]:
    """``getattr(f, "f_" + "back")``, ``operator.attrgetter("f_locals")``: the name read as the attribute would be;
    an attrgetter or methodcaller whose name is built at run time reaches anything."""
    func = node.func
    if isinstance(func, ast.Name) and func.id not in program.bindings and func.id in NAME_LOOKUPS:
        names = [node.args[1]] if len(node.args) >= 2 else []
        what = func.id
    elif isinstance(func, (ast.Name, ast.Attribute)) and program.qualified(func) in NAME_LOOKUPS:
        names = list(node.args)
        what = program.qualified(func)
    else:
        return
    owner = program.qualified(node.args[0]) if what in ("getattr", "hasattr") and node.args and \
        isinstance(node.args[0], (ast.Name, ast.Attribute)) else None
    for arg in names:
        name = folded_string(arg)
        if name is None and what.startswith("operator."):
            yield Finding(TAMPERING, f"{what} of a name built at run time", cell, line, text)
        elif name is not None and any(part in TAMPERING_ATTRIBUTES for part in name.split(".")):
            yield Finding(TAMPERING, f"{what}({name!r})", cell, line, text)
        elif name is not None and owner and _matches(f"{owner}.{name}", TAMPERING_QUALIFIED):
            yield Finding(TAMPERING, f"{owner}.{name}", cell, line, text)  # getattr(os, "get" + "pid")


def _unsafe_load(program: Program, node: ast.Call) -> bool:
    """``torch.load(..., weights_only=False)``: unpickling, which may call anything the file names."""
    if program.qualified(node.func) not in ("torch.load", "numpy.load"):
        return False
    for keyword in node.keywords:
        if keyword.arg in ("weights_only", "allow_pickle") and not (isinstance(keyword.value, ast.Constant) and
                                                                    keyword.value.value is
                                                                    (keyword.arg == "weights_only")):
            return True
    return False


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    module = node.module or ""
    return [module] + [f"{module}.{a.name}" for a in node.names if a.name != "*"] + \
        ([f"{module}.*"] if any(a.name == "*" for a in node.names) else [])


def _public_checker(dotted: str) -> bool:
    if dotted in PUBLIC_CHECKER_MODULES:
        return True
    parts = dotted.split(".")
    if len(parts) >= 2 and parts[1] in PUBLIC_CHECKER_NAMES:
        return True
    return ".".join(parts[:2]) in PUBLIC_CHECKER_MODULES and len(parts) >= 3
