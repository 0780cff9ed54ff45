"""Torch's switches for its modes and dispatch keys, refused when student code calls them itself.

The op trace (``checker.sandbox.tracing``) is a torch-function mode and a dispatch mode. torch has switches
that turn modes off or skip the Python dispatch key: ``torch._C.DisableTorchFunction``,
``_DisableTorchDispatch``, dispatch-key guards, the mode stacks' push and pop, and the Python helpers
around them (``torch.overrides._pop_mode_temporarily``, ``torch.utils._python_dispatch._disable_current_modes``
...). torch's own code uses them all the time (printing a tensor, dispatching to a mode); student code has no
use for them. Every one of them, under every name torch's modules hold it by, is replaced by a wrapper that
refuses a call made directly from student code (the nearest Python frame is a student cell) and passes
everything else through.

The switches are found by what they are (names matching :data:`SWITCH`), not listed one by one. The source
reading refuses the same names where it can see them (``torch._C`` is below torch's API); this catches the
spellings it cannot, such as a handle fetched with a lookup built at run time.
"""
from __future__ import annotations

import re
import sys

# torch._C's switches: mode and dispatch-key disablers and guards, TLS snapshots, the mode stacks
SWITCH = re.compile(r"^_?(Disable|Exclude|Include|Force|Restore|SetExclude|EnablePython|EnablePre|AutoDispatch)"
                    r"|^_(pop|push_on)_torch_\w+_stack$|^_get_\w+_stack_at$|^_(un)?set_dispatch_mode$"
                    r"|^_dispatch_tls_\w+$|^_set_torch_function_\w+$"
                    # skipping the function mode for the next call, and what tells whether a mode is on (a student
                    # who knew she was traced could behave only then)
                    r"|^_set_skip_next_torch_function$|^_skip_one_hop_torch_function$|^_peek_should_skip_\w+$"
                    r"|^_len_torch_\w+_stack$|^_is_torch_function_mode_enabled$|^_get_dispatch_mode$")
# the Python helpers over them, by module
HELPERS = {"torch.overrides": ("_pop_mode", "_pop_mode_temporarily", "_push_mode", "_get_current_function_mode",
                               "_get_current_function_mode_stack"),
           "torch.utils._python_dispatch": ("_pop_mode", "_pop_mode_temporarily", "_push_mode",
                                            "_disable_current_modes", "_get_current_dispatch_mode",
                                            "_get_current_dispatch_mode_stack", "_set_current_dispatch_mode_stack")}


def switches() -> dict[int, tuple[str, object]]:
    """id -> (name, the switch itself), for every switch this torch has."""
    import torch

    found = {id(obj): (f"torch._C.{name}", obj) for name in dir(torch._C) if SWITCH.search(name)
             for obj in [getattr(torch._C, name)] if callable(obj)}
    for module, names in HELPERS.items():
        __import__(module)
        for name in names:
            obj = getattr(sys.modules[module], name, None)
            if callable(obj):
                found.setdefault(id(obj), (f"{module}.{name}", obj))
    return found


def install(refuse, is_student_file, getframe=sys._getframe) -> int:
    """Put a guarded wrapper in place of every switch, in every torch module that holds one; ``refuse(what,
    frame)`` raises. Returns how many references were replaced."""
    found = switches()
    guarded = {key: _guard(name, original, refuse, is_student_file, getframe)
               for key, (name, original) in found.items()}
    replaced = 0
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "torch" or module_name.startswith("torch.")):
            continue
        space = getattr(module, "__dict__", None)
        if not isinstance(space, dict):
            continue
        for attr, value in list(space.items()):
            entry = found.get(id(value))
            if entry is not None and entry[1] is value:
                try:
                    setattr(module, attr, guarded[id(value)])
                    replaced += 1
                except (AttributeError, TypeError):
                    pass
    return replaced


def _guard(name, original, refuse, is_student_file, getframe):
    def guarded(*args, **kwargs):
        frame = getframe(1)
        if frame is not None and is_student_file(frame.f_code.co_filename):
            refuse(f"{name} (switches off the checker's trace)", frame)
        return original(*args, **kwargs)

    guarded.__name__ = guarded.__qualname__ = name.rsplit(".", 1)[-1]
    guarded.__doc__ = getattr(original, "__doc__", None)
    return guarded
