"""Reference solutions of the `foundations` assignment, written once.

One module per lesson notebook; every catalogue entry is one top-level ``def`` or
``class`` so that the instructor notebooks' solution regions can be generated from
its source (see ``checker.solution_source``). Students never receive this package.
"""

from checker.registry import NOTEBOOKS, module_stem

NOTEBOOK_MODULES = {notebook: f"solutions.{module_stem(notebook)}" for notebook in NOTEBOOKS}  # as the registry's
