"""``python -m instructor.nbgrader_command ARGS``: nbgrader's command line, 1.3 s of CPU lighter per process.

jsonschema, which nbformat imports, builds Lark parsers for ``rfc3987_syntax`` when that package
is installed: about 1.3 s of every nbgrader process's start here. Its import is optional in
jsonschema (in a ``suppress(ImportError)``), and only the ``iri``/``iri-reference`` format
checks need it, which nbformat's schema does not use. So the module is marked absent first.
"""
from __future__ import annotations

import sys

SKIPPED_IMPORTS = ("rfc3987_syntax",)


def command(*args: str) -> list[str]:
    """The argv that runs ``nbgrader ARGS`` this way."""
    return [sys.executable, "-m", "instructor.nbgrader_command", *args]


def main() -> int:
    for name in SKIPPED_IMPORTS:
        sys.modules.setdefault(name, None)  # `import rfc3987_syntax` now raises ImportError
    from nbgrader.apps.nbgraderapp import main as nbgrader_main

    sys.argv[0] = "nbgrader"
    return nbgrader_main() or 0


if __name__ == "__main__":
    sys.exit(main())
