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

It is a tripwire, not the evidence: a verdict never rests on what this process says alone (see
``checker.source_evidence`` for what the grader reads itself).
"""
from __future__ import annotations

import sys

# Work started outside the calling thread (counted, not refused: a trace that spans one says so)
ELSEWHERE_EVENTS = frozenset({"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.exec",
                              "subprocess.Popen", "os.startfile"})
# Modules whose functions this process wraps (signals, threads): importing a fresh copy would bring the originals
PROTECTED_MODULES = frozenset({"_signal", "signal", "_thread", "threading"})
WATCHED = frozenset({"sys._getframe", "sys._current_frames", "sys._current_exceptions", "sys.settrace",
                     "sys.setprofile", "object.__getattr__", "gc.get_objects", "gc.get_referrers",
                     "gc.get_referents", "ctypes.dlopen", "ctypes.dlsym", "ctypes.addressof", "ctypes.cdata",
                     "ctypes.string_at", "ctypes.wstring_at", "ctypes.call_function", "open", "os.listdir",
                     "os.scandir", "sys.addaudithook", "import"}) | ELSEWHERE_EVENTS
# object.__getattr__ is raised for these (and others that reveal nothing)
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code", "__code__", "gi_code",
                              "cr_code", "ag_code", "f_back"})
PRIVATE_PATHS = ("/proc/self", "/proc/thread-self", "/dev/fd", "/proc/1/", "/proc/1")
# Library functions that hand a frame to whoever called them: their caller is the requester.
FRAME_GIVERS = frozenset({"currentframe", "stack", "trace", "getouterframes", "getinnerframes", "walk_stack",
                          "walk_tb", "_getframe"})
GIVER_MODULES = ("logging",)  # logging.currentframe is a lambda: any lambda of these hands a frame back
# What no library needs while student code runs: refused whoever asks, whenever a student frame is on the stack
# (pdb, trace and bdb install a tracer on the student's behalf; its callbacks receive every frame).
ANYONE_ON_BEHALF = frozenset({"sys.settrace", "sys.setprofile", "sys._current_frames", "sys._current_exceptions",
                              "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.addaudithook", "import"})
REFUSED = "tampering refused: {what} from {where} (the checker's process is out of bounds for student code)"


def is_student_file(filename: str) -> bool:
    return filename.startswith("<") and not filename.startswith("<frozen")


def _gives_frames(frame) -> bool:
    code = frame.f_code
    if is_student_file(code.co_filename):
        return False
    return code.co_name in FRAME_GIVERS or (code.co_name == "<lambda>" and frame.f_globals.get("__name__") in
                                            GIVER_MODULES)


def _requester(frame, event: str):
    """The frame that asked: the nearest one, or the caller of a library function that hands frames back; for
    what no library needs, the nearest student frame on the stack, whoever asked."""
    if event in ANYONE_ON_BEHALF:
        while frame is not None and not is_student_file(frame.f_code.co_filename):
            frame = frame.f_back
        return frame
    while frame is not None and _gives_frames(frame):
        frame = frame.f_back
    return frame


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
        text = str(path) if isinstance(path, (str, bytes)) else ""
        if isinstance(path, bytes):
            text = path.decode(errors="replace")
        return f"{event} {text}" if text.startswith(PRIVATE_PATHS) else None
    return event


_elsewhere = [0]  # threads and processes started so far in this process


def started_elsewhere() -> int:
    """How many threads and processes this process has started (an op trace compares it before and after)."""
    return _elsewhere[0]


def _count_threads() -> None:
    """Every new thread is counted: torch's op trace is per thread, so work moved to one leaves it."""
    import _thread
    import threading

    start = _thread.start_new_thread

    def start_new_thread(function, args, kwargs=None):
        _elsewhere[0] += 1
        return start(function, args, {} if kwargs is None else kwargs)

    _thread.start_new_thread = _thread.start_new = start_new_thread
    threading._start_new_thread = start_new_thread


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


def install(getframe=sys._getframe):
    """Add the hook to this process (for good) and return a function that hands over, and clears, its records."""
    records: list[dict] = []
    busy = [False]
    _count_threads()
    _signals_without_frames()

    def hook(event: str, args: tuple) -> None:
        if event in ELSEWHERE_EVENTS:
            _elsewhere[0] += 1
            return
        if event not in WATCHED or busy[0]:
            return
        what = _what(event, args)
        if what is None:
            return
        busy[0] = True
        try:
            frame = _requester(getframe(1), event)
            if frame is None or not is_student_file(frame.f_code.co_filename):
                return
            where = f"{frame.f_code.co_filename.strip('<>')}, line {frame.f_lineno}"
            records.append({"what": what, "where": where})
        finally:
            busy[0] = False
        raise PermissionError(REFUSED.format(what=what, where=where))

    def drain() -> list[dict]:
        out = list(records)
        records.clear()
        return out

    sys.addaudithook(hook)
    return drain
