"""What a jailed kernel's IPython does with a cell nested past what Python's parser takes.

A one-line sum of 3000 terms makes ``compile`` raise RecursionError, which IPython does not expect where it asks
whether a cell needs an event loop (``_should_be_async`` catches SyntaxError, ValueError and MemoryError only): the
kernel then never answered, and the cell ran out its whole time limit (attack round 19, 120 s a student). Installed
as an IPython startup file in the jail's IPYTHONDIR, read by every kernel (forked from the template or started
afresh), this makes such a cell an error of its own at once: not async, and a RecursionError shown as any error is.
It defines no name in the student's namespace.
"""
from __future__ import annotations

import os

STARTUP_NAME = "00-foundations-guard.py"
STARTUP = '''
def _foundations_guard(shell):
    import IPython.core.interactiveshell as interactiveshell

    asked = interactiveshell._should_be_async

    def _should_be_async(cell):
        try:
            return asked(cell)
        except RecursionError:  # nested past the parser's depth: not async; running it says why
            return False

    interactiveshell._should_be_async = _should_be_async

    def _shown(shell, etype, value, tb, tb_offset=None):
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)

    shell.set_custom_exc((RecursionError,), _shown)


_foundations_guard(get_ipython())
del _foundations_guard
'''


def install(ipython_dir: str) -> str:
    """Write the startup file into ``ipython_dir``'s default profile; its path."""
    folder = os.path.join(ipython_dir, "profile_default", "startup")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, STARTUP_NAME)
    with open(path, "w", encoding="utf-8") as f:
        f.write(STARTUP)
    return path
