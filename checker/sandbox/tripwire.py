"""A tripwire in the process that runs student code: an audit hook (PEP 578) that cannot be removed.

Installed by the checker's child after it has imported torch and before the first student cell runs.
When student code itself asks for a frame (``sys._getframe``, ``inspect.currentframe``, a traceback's
``tb_frame``, a generator's ``gi_frame``, a function's ``__code__``), walks the garbage collector, loads
``ctypes``, installs a tracer or opens ``/proc/self`` or ``/dev/fd``, the hook refuses (the call raises
``PermissionError``) and records where: the child reports the records with every answer, and the grader
turns them into a tampering verdict.

"Student code" is code compiled from a string: the child's cells (``<cell N>``), the timing magics'
``<magic>``, anything the student ``exec``s. Libraries that ask for frames for their own use
(``warnings``, ``logging``, ``dataclasses``, ``typing``, torch, matplotlib) are left alone: only the
functions that hand a frame back to their caller (``inspect.currentframe`` ...) count as the student's
request when student code called them.

Code the submission's text does not show (a string handed to ``exec`` by a library such as ``timeit``, a pickle
that calls ``exec``, a module file written at run time) is read when it is compiled, with the same reading of the
source the grader makes (``checker.source_evidence.tampering``), and refused when that reading finds tampering or more
hidden code; making code objects or functions from bytes, loading bytecode, unpickling anything but tensors and plain
containers, and importing a file from the folders student code can write are refused while student code runs.

torch's switches for its modes and dispatch keys, which would turn the op trace off, are refused when student
code calls them itself (``checker.sandbox.mode_guard``).

It is a tripwire, not the evidence: a verdict never rests on what this process says alone (see
``checker.source_evidence`` for what the grader reads itself).
"""
from __future__ import annotations

import ast
import operator
import os
import re
import sys

# Work started outside the calling thread: refused once student code may run (the checker's child starts none)
ELSEWHERE_EVENTS = frozenset({"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.exec",
                              "subprocess.Popen", "os.startfile"})
# Turning data into code: refused whenever a student frame is on the stack (importlib's own bytecode loading aside)
CODE_EVENTS = frozenset({"compile", "code.__new__", "function.__new__", "marshal.loads", "pickle.find_class"})
# Modules whose functions this process wraps (signals, threads): importing a fresh copy would bring the originals
PROTECTED_MODULES = frozenset({"_signal", "signal", "_thread", "threading", "_posixsubprocess"})
WATCHED = frozenset({"sys._getframe", "sys._current_frames", "sys._current_exceptions", "sys.settrace",
                     "sys.setprofile", "object.__getattr__", "gc.get_objects", "gc.get_referrers",
                     "gc.get_referents", "ctypes.dlopen", "ctypes.dlsym", "ctypes.addressof", "ctypes.cdata",
                     "ctypes.string_at", "ctypes.wstring_at", "ctypes.call_function", "open", "os.listdir",
                     "os.scandir", "sys.addaudithook", "import"}) | ELSEWHERE_EVENTS | CODE_EVENTS
# object.__getattr__ is raised for these (and others that reveal nothing)
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code", "__code__", "gi_code",
                              "cr_code", "ag_code", "f_back"})
# The process's own files under /proc (and any process's: in the jail's PID namespace the child is a small number),
# however the path is spelled: read after resolving (``/proc/self`` -> ``/proc/2``, ``/dev/stdout``, a symlink in
# the working folder, a relative path after ``os.chdir('/proc')``)
# (``/proc/net``, a link to the process's own ``net/``, lists the jail's sockets: nothing of the process)
PRIVATE_PATH = re.compile(r"^/(proc/(self|thread-self|\d+)(?!/net(/|$))|dev/fd)(/|$)")
LIBRARY_ROOTS = tuple({os.path.join(p, "") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})
# Library functions that hand a frame to whoever called them: their caller is the requester.
FRAME_GIVERS = frozenset({"currentframe", "stack", "trace", "getouterframes", "getinnerframes", "walk_stack",
                          "walk_tb", "_getframe"})
GIVER_MODULES = ("logging",)  # logging.currentframe is a lambda: any lambda of these hands a frame back
# What no library needs while student code runs: refused whoever asks, whenever a student frame is on the stack
# (pdb, trace and bdb install a tracer on the student's behalf; its callbacks receive every frame).
ANYONE_ON_BEHALF = frozenset({"sys.settrace", "sys.setprofile", "sys._current_frames", "sys._current_exceptions",
                              "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.addaudithook", "import"}) | \
    CODE_EVENTS
# A private path (``/proc/<pid>/mem``) is one no library needs while student code runs: opened by pathlib, io or
# numpy on her behalf, it is hers (a descriptor by number is not: tempfile opens its own)
PRIVATE_PATH_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
# What unpickling a tensor, a state dict or a plain container needs (torch.load with weights_only=False)
PICKLE_SAFE_ROOTS = frozenset({"torch", "collections", "_codecs", "numpy", "copyreg"})
PICKLE_SAFE_BUILTINS = frozenset({"set", "frozenset", "slice", "complex", "range", "bytearray", "list", "dict",
                                  "tuple", "int", "float", "str", "bool", "object", "bytes"})
IMPORTLIB = "<frozen importlib"
LOADED_FROM = "code loaded from a file written at run time: "
REFUSED = "tampering refused: {what} from {where} (the checker's process is out of bounds for student code)"
UNSEEN_CALLER = "a callback of your code (a finalizer or a destructor)"
ELSEWHERE_REFUSED = ("not run: {what} from {where}. The checker runs your code in one thread of one process, so that "
                     "every operation it does is seen: threads and processes cannot be started here (they still can "
                     "in your own notebook)")


_GONE = object()
HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class defined in Python (its attributes can be set)
MODE_LEFT_ON = "leaves a torch mode on ({mode})"  # it would see what the checker does after her code
CACHED_BY_LIBRARIES = frozenset({"__slotnames__"})  # copyreg notes a class's slots on it the first time it pickles one


def _namespaces_run_by(holders) -> dict[str, dict]:
    """Every namespace the checker's own code in this process reads at run time, found in what its modules hold
    (``holders``): each class of Python they hold (a tensor's class, a module's, torch's mode classes) and its
    Python bases, and the module namespace each Python function they hold, or such a class defines, reads its
    globals from (``torch.Tensor.backward`` reads ``torch._tensor``'s). Replacing anything in one of them, by any
    spelling, would run student code out of the trace or change what the checker records or sends."""
    import types

    found: dict[str, dict] = {}

    def function(fn) -> None:
        module = getattr(fn, "__globals__", {}).get("__name__")
        if isinstance(module, str) and not module.startswith("checker") and module in sys.modules:
            found.setdefault(module, vars(sys.modules[module]))

    def cls(c) -> None:
        for base in c.__mro__:
            if base.__module__ == "builtins" or not hasattr(base, "__dict__") or f"{base.__module__}.{base.__qualname__}" in found:
                continue
            if not base.__flags__ & HEAP_TYPE:  # a class built in C (torch._C.TensorBase): nothing can be set on it
                continue
            if base.__module__.startswith("checker"):
                continue
            found[f"{base.__module__}.{base.__qualname__}"] = base.__dict__
            for value in list(base.__dict__.values()):
                value = getattr(value, "__func__", value)
                if isinstance(value, types.FunctionType):
                    function(value)

    for holder in holders:
        for value in list(vars(holder).values()):
            if isinstance(value, type):
                cls(value)
            elif isinstance(getattr(value, "__func__", value), types.FunctionType):
                function(getattr(value, "__func__", value))
            elif isinstance(getattr(value, "func", None), types.FunctionType):  # functools.partial
                function(value.func)
    return found


def _modes_left_on():
    """A function that names the torch modes left on once a cell or a call is over. A mode of hers stays between
    torch and everything the checker does next in this process, out of the trace (copying her result, say, where it
    could compute the answer with any op at all). torch's own default-device mode (``torch.set_default_device``)
    changes no value and is left alone."""
    import torch
    from torch.utils._device import DeviceContext

    lengths = (torch._C._len_torch_function_stack, torch._C._len_torch_dispatch_stack)
    at = (torch._C._get_function_stack_at, torch._C._get_dispatch_stack_at)

    reported: set[int] = set()

    def left_on(type=type, range=range, id=id) -> list[str]:
        """The modes left on and not reported yet (each is reported once, where it was first found)."""
        found = []
        for length, get in zip(lengths, at):
            for i in range(length()):
                mode = get(i)
                if type(mode) is not DeviceContext and id(mode) not in reported:
                    reported.add(id(mode))
                    found.append(f"{type(mode).__module__}.{type(mode).__qualname__}")
        return found

    return left_on


def _imported(before: dict, key: str, new) -> bool:
    """A submodule imported since (``import torch.autograd.forward_ad`` sets it on its parent): not a patch."""
    return key not in before and type(new).__name__ == "module" and getattr(new, "__name__", "").endswith(f".{key}")


def is_student_file(filename: str) -> bool:
    return filename.startswith("<") and not filename.startswith("<frozen")


def _gives_frames(frame) -> bool:
    code = frame.f_code
    if is_student_file(code.co_filename):
        return False
    return code.co_name in FRAME_GIVERS or (code.co_name == "<lambda>" and frame.f_globals.get("__name__") in
                                            GIVER_MODULES)


def _requester(frame, event: str, floor=None):
    """The frame that asked: the nearest one, or the caller of a library function that hands frames back; for
    what no library needs, the nearest student frame on the stack, whoever asked. Nothing from ``floor`` down
    (the frame that installed the hook, and its callers: the checker's own) ever asks."""
    if event in ANYONE_ON_BEHALF or event in PRIVATE_PATH_EVENTS:
        while frame is not None and frame is not floor and not is_student_file(frame.f_code.co_filename):
            frame = frame.f_back
    else:
        while frame is not None and frame is not floor and _gives_frames(frame):
            frame = frame.f_back
    return None if frame is floor else frame


def _source_text(source) -> str | None:
    if isinstance(source, ast.AST):
        return ast.unparse(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source).decode("utf-8", errors="replace")
    return source if isinstance(source, str) else None


def _hidden_code(args: tuple, writable: tuple[str, ...], read) -> str | None:
    """What a compiled source does that no reading of the submission saw, or None. A library's own module (a file
    outside the folders student code can write) is not read; a file in those folders is refused whatever it holds
    (the grader never saw it); a string or a tree is read as the grader reads a submission."""
    source, filename = (tuple(args) + (None, None))[:2]
    if isinstance(filename, (str, bytes)) and not os.fsdecode(filename).startswith("<"):
        path = os.path.realpath(os.fsdecode(filename))
        return f"{LOADED_FROM}{path}" if path.startswith(writable) else None
    text = _source_text(source)
    found = read(text) if text is not None else None
    return f"code built at run time ({found})" if found else None


def _code_from_data(event: str, args: tuple, frame, writable: tuple[str, ...]) -> str | None:
    """What turning data into code reaches, for the events other than compile; None when it is harmless."""
    if event == "pickle.find_class":
        module, name = (tuple(args) + ("", ""))[:2]
        root = str(module).split(".")[0]
        if root in PICKLE_SAFE_ROOTS or (module == "builtins" and name in PICKLE_SAFE_BUILTINS):
            return None
        return f"unpickling {module}.{name}"
    if event == "marshal.loads" and frame is not None and frame.f_code.co_filename.startswith(IMPORTLIB):
        path = frame.f_locals.get("bytecode_path")  # importlib loading a module's bytecode: from where?
        if isinstance(path, str) and os.path.realpath(path).startswith(writable):
            return f"{LOADED_FROM}{path}"
        return None
    return event


def _what(event: str, args: tuple) -> str | None:
    """What the event reaches, when it is watched; None when it is harmless."""
    if event == "object.__getattr__":
        name = args[1] if len(args) > 1 else ""
        return f".{name}" if name in FRAME_ATTRIBUTES else None
    if event == "import":
        name = args[0] if args else ""
        return f"a fresh import of {name}" if name in PROTECTED_MODULES and name not in sys.modules else None
    if event in ("open", "os.listdir", "os.scandir"):
        path = args[0] if args else None

        if isinstance(path, int):
            return f"{event} of file descriptor {path}"
        try:
            text = os.fsdecode(path) if path is not None else ""
        except (TypeError, ValueError):
            return None
        if text and not text.startswith(LIBRARY_ROOTS):  # a library's own file needs no resolving
            text = os.path.realpath(text)
        return f"{event} {text}" if PRIVATE_PATH.match(text) else None
    return event


_elsewhere = [0]  # threads and processes started so far in this process


def started_elsewhere() -> int:
    """How many threads and processes this process has started (an op trace compares it before and after)."""
    return _elsewhere[0]


def _refuse_threads(from_student) -> None:
    """Threads, and processes by the call that raises no audit event, are refused once student code may run:
    torch's op trace is per thread, so a worker started in one cell (or by a finalizer) and fed by the exercise
    would do its work out of the trace's sight."""
    import _thread
    import threading

    start = _thread.start_new_thread

    def start_new_thread(function, args, kwargs=None, from_student=from_student):
        from_student("a thread")
        _elsewhere[0] += 1
        return start(function, args, {} if kwargs is None else kwargs)

    _thread.start_new_thread = _thread.start_new = start_new_thread
    threading._start_new_thread = start_new_thread

    import _posixsubprocess  # subprocess's and multiprocessing's own way to start a process: it raises no event

    fork_exec = _posixsubprocess.fork_exec

    def guarded_fork_exec(*args, from_student=from_student, fork_exec=fork_exec):
        from_student("a process (_posixsubprocess.fork_exec)")
        _elsewhere[0] += 1
        return fork_exec(*args)

    _posixsubprocess.fork_exec = guarded_fork_exec


def _signals_without_frames() -> None:
    """A signal handler is called with the frame the signal interrupted: the checker's, mid-probe. Handlers
    installed here get None instead."""
    import _signal
    import signal

    install_handler = _signal.signal

    def signal_handler(signalnum, handler):
        if callable(handler):
            student_handler = handler

            def handler(signum, frame):
                return student_handler(signum, None)
        return install_handler(signalnum, handler)

    _signal.signal = signal.signal = signal_handler


def _writable_folders() -> tuple[str, ...]:
    """The jail's own folders (working folder, home, TMPDIR: all in its scratch), where Landlock lets student code
    write; not /tmp as a whole, which may hold the very virtual environment the checker is installed in."""
    here = [os.getcwd(), os.environ.get("HOME", ""), os.environ.get("TMPDIR", "")]
    return tuple(os.path.realpath(p) + os.sep for p in here if p)


def install(holders=(), getframe=sys._getframe):
    """Add the hook to this process (for good) and return a function that hands over, and clears, its records.
    ``holders`` are the checker's modules that run in this process after student code: what their code reads at
    run time is watched for patches (see :func:`_namespaces_run_by`)."""
    from checker.source_evidence import Program, tampering  # the grader's own reading of a source

    def read(text: str, Program=Program, tampering=tampering) -> str | None:
        try:
            found = tampering(Program([(0, text)]))
        except (RecursionError, ValueError, MemoryError):
            return "cannot be read"
        return found[0].what if found else None

    records: list[dict] = []
    busy = [False]
    checker_forks = [0]  # forks the checker's child makes itself (see fork_for_the_checker below)
    writable = _writable_folders()
    floor = getframe(1)  # the checker's frame that installs the hook: it, and whatever called it, are not student code

    def from_student(what: str, getframe=getframe, floor=floor) -> None:
        """Refuse every thread and process started once student code may run (the checker's child starts none of
        its own): not as tampering, since a library may start one on an honest student's behalf. With a student
        frame on the stack or not: a finalizer of hers runs in the checker's frames (``weakref.finalize(x,
        thread.start)`` started a worker when the checker dropped its input)."""
        frame = getframe(2)
        while frame is not None and frame is not floor and not is_student_file(frame.f_code.co_filename):
            frame = frame.f_back
        where = f"{frame.f_code.co_filename.strip('<>')}, line {frame.f_lineno}" if frame is not None and \
            frame is not floor else UNSEEN_CALLER
        raise RuntimeError(ELSEWHERE_REFUSED.format(what=what, where=where))

    _refuse_threads(from_student)
    _signals_without_frames()

    import collections
    import dataclasses

    # ast.parse compiles to a tree, which runs nothing until compiled again; dataclasses and namedtuple fill fixed
    # templates with identifiers (a field may well be called ``f_globals``)
    not_hidden = (ast.parse.__code__, dataclasses._create_fn.__code__, collections.namedtuple.__code__)

    def code_from_data(event, args, frame):
        if event == "compile":
            return None if frame is not None and frame.f_code in not_hidden else _hidden_code(args, writable, read)
        return _code_from_data(event, args, frame, writable)

    def hook(event: str, args: tuple, _what=_what, _requester=_requester, is_student_file=is_student_file,
             code_from_data=code_from_data, getframe=getframe, floor=floor) -> None:
        if event in ELSEWHERE_EVENTS:
            if event == "os.fork" and checker_forks[0]:
                checker_forks[0] = 0
                return
            from_student(f"a process ({event})")
            _elsewhere[0] += 1
            return
        if event not in WATCHED or busy[0]:
            return
        what = _what(event, args)
        if what is None:
            return
        busy[0] = True
        try:
            nearest = getframe(1)
            frame = _requester(nearest, event if not (event in PRIVATE_PATH_EVENTS and args and
                                                      isinstance(args[0], int)) else "a descriptor", floor)
            if frame is None or not is_student_file(frame.f_code.co_filename):
                return
            if event in CODE_EVENTS:
                what = code_from_data(event, args, nearest)
            if what is None:
                return
            where = f"{frame.f_code.co_filename.strip('<>')}, line {frame.f_lineno}"
            records.append({"what": what, "where": where})
        finally:
            busy[0] = False
        raise PermissionError(REFUSED.format(what=what, where=where))

    modes_left_on = _modes_left_on()
    watched = _namespaces_run_by(holders)
    watched["builtins"] = vars(__import__("builtins"))  # every module's code reads them
    before: dict[str, dict] = {}
    seen: dict[str, tuple[list, list]] = {}  # each namespace's keys and values as last seen, in order

    def remember(name: str, space, dict=dict, list=list) -> None:
        before[name] = dict(space)
        seen[name] = (list(space.keys()), list(space.values()))

    def unchanged(name: str, space, len=len, all=all, map=map, is_=operator.is_) -> bool:
        """Quick: as many entries, the same value objects in the same order (a call's drain is in its timed CPU
        time; a key renamed in place and holding the same object changes nothing the checker calls)."""
        keys, values = seen[name]
        return len(space) == len(keys) and all(map(is_, space.values(), values))

    for name, space in watched.items():
        remember(name, space)

    def drain(where: str = "a cell", timed: bool = False, dict=dict, sorted=sorted, set=set,
              _imported=_imported) -> list[dict]:
        """The records so far, and anything the checker's code reads at run time that has been replaced since the
        last call (by any spelling: ``type(x).layout = property(...)`` or ``setattr(getattr(torch, name), ...)``
        read as nothing in the source). After a ``timed`` call (whose answer carries only values, read through
        functions bound before student code) the namespaces are compared at the next drain instead: this one is
        in the call's CPU time, which the speed bar compares with a yardstick's."""
        for name, space in () if timed else watched.items():
            if unchanged(name, space):
                continue
            now = dict(space)
            for key in sorted((set(now) | set(before[name])) - CACHED_BY_LIBRARIES):
                new = now.get(key, _GONE)
                if new is not before[name].get(key, _GONE) and not _imported(before[name], key, new):
                    records.append({"what": f"patches {name}.{key}", "where": where})
            remember(name, space)
        for mode in modes_left_on():
            records.append({"what": MODE_LEFT_ON.format(mode=mode), "where": where})
        out = list(records)
        records.clear()
        return out

    def refuse(what: str, frame) -> None:
        where = f"{frame.f_code.co_filename.strip('<>')}, line {frame.f_lineno}"
        records.append({"what": what, "where": where})
        raise PermissionError(REFUSED.format(what=what, where=where))

    def fork_for_the_checker(fork=os.fork) -> int:
        """os.fork, for the checker's child itself (a probe run in a copy of the process): the one fork the hook
        lets through, asked for by a function that only the child's main() holds."""
        checker_forks[0] = 1
        try:
            return fork()
        finally:
            checker_forks[0] = 0

    drain.fork = fork_for_the_checker
    sys.addaudithook(hook)
    from checker.sandbox import mode_guard

    mode_guard.install(refuse, is_student_file, getframe)
    for name, space in watched.items():  # the guards just put in are the checker's
        remember(name, space)
    return drain
