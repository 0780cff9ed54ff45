"""The stand-in for ``get_ipython()`` in the checker's child: timing magics run their code once, the rest is
ignored. A module of its own that holds nothing of the checker's, since student code can reach it (its
methods' ``__globals__`` are this module's)."""
from __future__ import annotations

import re

_compile, _exec, _eval = compile, exec, eval
_TIMEIT_OPTIONS = re.compile(r"^\s*((-[nrp]\s*\d+|-[oqc])\s+)*")


class MagicShim:
    def __init__(self, ns):
        self.ns = ns

    def itself(self):
        return self

    def _run_code(self, code):
        code = _TIMEIT_OPTIONS.sub("", code, count=1)
        try:
            return _eval(_compile(code, "<magic>", "eval"), self.ns)
        except SyntaxError:
            _exec(_compile(code, "<magic>", "exec"), self.ns)
            return None

    def run_line_magic(self, name, line, *args, **kwargs):
        if name in ("time", "timeit", "prun", "capture"):
            return self._run_code(line)
        return None

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name in ("time", "timeit", "prun", "capture"):
            _exec(_compile(cell, "<magic>", "exec"), self.ns)
        return None

    def system(self, *args, **kwargs):
        return 0

    def getoutput(self, *args, **kwargs):
        return []

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
