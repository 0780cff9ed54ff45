"""The code a probe runs is the code the grader read.

The grader judges an exercise's source (``checker.source_evidence``): the last statement that binds its name in the
notebook's text and everything that reaches, as line ranges of cells. At run time the name holds whatever the cells
left there, and a statement no reading of the text resolves (``globals().update(outer=f)``, ``G = globals();
G['outer'] = f``, a loop or an import that rebinds the name) could put code there that was never read. So before
each probe the child walks, from the exercise's name, every function of the student's it would run: the function
itself, what a decorator, a ``functools.partial`` or a bound method wraps, what its closure and defaults hold, a
class's methods, and every global name their code uses, transitively. Each such function must have been compiled
from the lines the grader read (``<cell N>``, within a judged range); the first one that was not is named.

Everything here is bound at import, before student code runs.
"""
from __future__ import annotations

import dis
import functools
import types
import typing
import weakref

_FunctionType, _MethodType, _partial, _CodeType = types.FunctionType, types.MethodType, functools.partial, types.CodeType
_code_of = _FunctionType.__dict__["__code__"].__get__
_closure_of = _FunctionType.__dict__["__closure__"].__get__
_defaults_of = _FunctionType.__dict__["__defaults__"].__get__
_kwdefaults_of = _FunctionType.__dict__["__kwdefaults__"].__get__
_class_dict = type.__dict__["__dict__"].__get__
_mro_of = type.__dict__["__mro__"].__get__
_type, _id, _len, _int, dict = type, id, len, int, dict
_staticmethod, _classmethod, _property = staticmethod, classmethod, property
_StaticFunc = staticmethod.__dict__["__func__"].__get__
_ClassFunc = classmethod.__dict__["__func__"].__get__
_MethodFunc, _MethodSelf = _MethodType.__dict__["__func__"].__get__, _MethodType.__dict__["__self__"].__get__
_fget, _fset = property.__dict__["fget"].__get__, property.__dict__["fset"].__get__
_flags_of = type.__dict__["__flags__"].__get__
HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class created by a class statement (or type()), not built into C


# typing's own classes (Generic, and what List[int] or Generic[T] are made of): a library's code, with caches inside
# (its aliases' __getitem__ is behind an lru_cache), reached from any class with a generic base (torch.distributions'
# lazy_property); an alias is read for what it stands for, its origin and its arguments, which may be hers
# (by identity: a metaclass of hers could answer == or hash() as it likes)
_TYPING_CLASSES = frozenset(id(v) for v in vars(typing).values() if isinstance(v, type) and v.__module__ == "typing")
_ALIAS_PARTS = ("__origin__", "__args__")
_object_attribute = object.__getattribute__


def _alias_parts(alias) -> list:
    parts = []
    for name in _ALIAS_PARTS:
        try:
            value = _object_attribute(alias, name)
        except AttributeError:
            continue
        parts.extend(value if _type(value) is tuple else (value,))
    return parts


def _heap(klass) -> bool:
    return bool(_flags_of(klass) & HEAP_TYPE)
# functools' cache (lru_cache, cache): C, holding the function it was given; update_wrapper names it __wrapped__, which
# is what is read (the source reading followed what was given to it: a name, a def it decorates)
_LRU_CACHE = type(functools.lru_cache(lambda: None))
# callables of C that hold a Python function out of sight (a weak proxy): what they run cannot be read
OPAQUE = (weakref.CallableProxyType, weakref.ProxyType)
_instructions = dis.get_instructions
CELL_PREFIX = "<cell "
MAX_DEPTH = 8


class NotJudged(Exception):
    """``name`` runs code the grader did not read: ``where`` says what and from where."""

    def __init__(self, name: str, where: str):
        super().__init__(f"{name}: {where}")
        self.name, self.where = name, where


def _cell_of(code) -> int | None:
    filename = code.co_filename
    if not filename.startswith(CELL_PREFIX) or not filename.endswith(">"):
        return None
    try:
        return _int(filename[_len(CELL_PREFIX):-1])
    except ValueError:
        return None


def _student_code(obj, found: list, seen: set, depth: int = 0) -> None:
    """The code objects of the student's functions that ``obj`` would run, or holds ready to run."""
    if depth > MAX_DEPTH or _id(obj) in seen:
        return
    seen.add(_id(obj))
    kind = _type(obj)
    if kind is _FunctionType:
        code = _code_of(obj)
        if _cell_of(code) is not None:
            found.append(code)
        for cell in _closure_of(obj) or ():
            try:
                _student_code(cell.cell_contents, found, seen, depth + 1)
            except ValueError:  # an empty cell
                pass
        for value in _defaults_of(obj) or ():
            _student_code(value, found, seen, depth + 1)
        for value in dict.values(_kwdefaults_of(obj) or {}):
            _student_code(value, found, seen, depth + 1)
    elif kind is _MethodType:
        _student_code(_MethodFunc(obj), found, seen, depth + 1)
        _student_code(_MethodSelf(obj), found, seen, depth + 1)
    elif kind is _partial:
        _student_code(obj.func, found, seen, depth + 1)
        for value in (*obj.args, *dict.values(obj.keywords)):
            _student_code(value, found, seen, depth + 1)
    elif kind is _staticmethod:
        _student_code(_StaticFunc(obj), found, seen, depth + 1)
    elif kind is _classmethod:
        _student_code(_ClassFunc(obj), found, seen, depth + 1)
    elif kind is _property:
        _student_code(_fget(obj), found, seen, depth + 1)
        _student_code(_fset(obj), found, seen, depth + 1)
    elif _id(kind) in _TYPING_CLASSES:  # an alias (List[int], Generic[T]): what it stands for
        for value in _alias_parts(obj):
            _student_code(value, found, seen, depth + 1)
    elif _type in _mro_of(kind):  # a class (whatever its metaclass): its methods, and its bases' of hers
        for klass in _mro_of(obj):
            if _heap(klass) and _id(klass) not in _TYPING_CLASSES:  # a class defined in Python (hers, or a library's:
                # either may hold her functions), not typing's own
                for value in _class_dict(klass).values():
                    _student_code(value, found, seen, depth + 1)
    elif kind is list or kind is tuple:
        for value in obj:
            _student_code(value, found, seen, depth + 1)
    elif kind is dict:
        for value in dict.values(obj):
            _student_code(value, found, seen, depth + 1)
    elif kind is _LRU_CACHE:
        try:
            _student_code(_object_attribute(obj, "__wrapped__"), found, seen, depth + 1)
        except AttributeError:  # its __wrapped__ deleted: what it runs is out of sight
            raise _Opaque(kind.__name__) from None
    elif kind in OPAQUE:
        raise _Opaque(kind.__name__)
    elif _heap(kind):  # an object of a class defined in Python: what calling it runs (read without running it)
        _student_code(kind, found, seen, depth + 1)


class _Opaque(Exception):
    pass


_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_global_names_cache: dict = {}


def _names_in(code) -> list:
    """The global names ``code`` (and the functions, lambdas and comprehensions inside it) loads: not its attribute
    names (``self.relu`` loads no global ``relu``). Read from its bytecode, once per code object."""
    names = _global_names_cache.get(code)
    if names is None:
        names = [i.argval for i in _instructions(code) if i.opname in _GLOBAL_LOADS]
        for const in code.co_consts:
            if _type(const) is _CodeType:
                names += _names_in(const)
        _global_names_cache[code] = names
    return names


def _within(code, ranges) -> bool:
    cell, line = _cell_of(code), code.co_firstlineno
    return any(cell == c and first <= line <= last for c, first, last in ranges)


def check(ns: dict, name: str, ranges) -> None:
    """Raise :class:`NotJudged` when ``ns[name]``, or anything it reaches, runs student code outside ``ranges``
    (``[cell, first line, last line]`` each, the grader's reading of the exercise)."""
    todo, visited = [name], set()
    while todo:
        current = todo.pop()
        if current in visited or current not in ns:
            continue
        visited.add(current)
        found: list = []
        try:
            _student_code(ns[current], found, set())
        except _Opaque as exc:
            raise NotJudged(name, f"`{current}` is a {exc} around code the checker cannot read; define it with "
                                  f"def (or class)") from None
        for code in found:
            if not _within(code, ranges):
                raise NotJudged(name, f"`{current}` runs `{code.co_name}`, compiled from cell {_cell_of(code)}, line "
                                      f"{code.co_firstlineno}, which is not where the checker read {name}")
            todo += _names_in(code)
