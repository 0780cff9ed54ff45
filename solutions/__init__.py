"""Reference solutions of the `foundations` assignment, written once.

One module per lesson notebook; every catalogue entry is one top-level ``def`` or
``class`` so that the instructor notebooks' solution regions can be generated from
its source (see ``checker.solution_source``). Students never receive this package.
"""

NOTEBOOK_MODULES = {
    "01_matmul": "solutions.matmul",
    "02_forward": "solutions.forward",
    "03_backprop": "solutions.backprop",
    "04_modules": "solutions.modules",
}
