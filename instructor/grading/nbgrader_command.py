"""``python -m instructor.grading.nbgrader_command ARGS``: nbgrader's command line, lighter on the CPU.

1. jsonschema, which nbformat imports, builds Lark parsers for ``rfc3987_syntax`` when that package
   is installed: about 1.3 s of every nbgrader process's start here. Its import is optional in
   jsonschema (in a ``suppress(ImportError)``), and only the ``iri``/``iri-reference`` format
   checks need it, which nbformat's schema does not use. So the module is marked absent first.
2. nbgrader checks every graded cell's metadata with ``jsonschema.validate``, which checks the
   schema itself again each time: about 0.45 s of CPU per student (4 notebooks, 2 passes). The
   same checks, with the schema checked once (:func:`light_schema_checks`).
3. A new gradebook asks a new ``alembic heads`` process for the newest revision of nbgrader's schema,
   and that process imports nbgrader again for one of the migration scripts: about 3.5 s of CPU per
   new gradebook (every course, every cluster worker). The same revision, read from the same scripts
   in this process, where nbgrader is already imported (:func:`known_alembic_head`).
"""
from __future__ import annotations

import os
import sys

SKIPPED_IMPORTS = ("rfc3987_syntax",)


def command(*args: str) -> list[str]:
    """The argv that runs ``nbgrader ARGS`` this way."""
    return [sys.executable, "-m", "instructor.grading.nbgrader_command", *args]


class _SchemaOnceJsonschema:
    """``jsonschema`` as nbgrader's metadata validator uses it, with each schema checked once: the same
    ``ValidationError`` (the best match) for a bad cell, the same ``SchemaError`` for a bad schema."""

    def __init__(self, jsonschema):
        self._jsonschema = jsonschema
        self._validators: dict[int, tuple[dict, object]] = {}

    def __getattr__(self, name):
        return getattr(self._jsonschema, name)

    def validate(self, instance, schema, cls=None, *args, **kwargs):
        if cls is not None or args or kwargs:
            return self._jsonschema.validate(instance, schema, cls, *args, **kwargs)
        known = self._validators.get(id(schema))
        if known is None or known[0] is not schema:
            kind = self._jsonschema.validators.validator_for(schema)
            kind.check_schema(schema)
            known = self._validators[id(schema)] = (schema, kind(schema))
        error = self._jsonschema.exceptions.best_match(known[1].iter_errors(instance))
        if error is not None:
            raise error


def light_schema_checks() -> None:
    """nbgrader's cell metadata checks with each schema checked once (see the module's docstring)."""
    from instructor.grading import patches

    if not patches.tested("nbgrader", "cell metadata checks"):
        return
    import jsonschema
    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, _SchemaOnceJsonschema):
        common.jsonschema = _SchemaOnceJsonschema(jsonschema)


def alembic_head() -> str:
    """The revision ``alembic heads`` names first for nbgrader's migration scripts, read in this process.
    Where they have other than one head, nbgrader's own way answers."""
    import nbgrader
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(os.path.join(os.path.dirname(nbgrader.__file__), "alembic")).get_heads()
    if len(heads) != 1:
        from nbgrader import api

        return (_NBGRADER_S_ALEMBIC_HEAD or api.get_alembic_version)()  # nbgrader's, kept when it was replaced
    return heads[0]


_NBGRADER_S_ALEMBIC_HEAD = None


def known_alembic_head() -> None:
    """3. above: nbgrader's ``Gradebook`` reads the schema's revision with :func:`alembic_head`."""
    global _NBGRADER_S_ALEMBIC_HEAD
    from instructor.grading import patches

    if not patches.tested("nbgrader", "alembic head"):
        return
    from nbgrader import api

    if api.get_alembic_version is not alembic_head:
        _NBGRADER_S_ALEMBIC_HEAD = api.get_alembic_version
        api.get_alembic_version = alembic_head


def skip_optional_imports() -> None:
    """1. above, before nbformat is imported (the instructor's own command calls it too)."""
    for name in SKIPPED_IMPORTS:
        sys.modules.setdefault(name, None)  # `import rfc3987_syntax` now raises ImportError


def prepare() -> None:
    """Everything above, before nbgrader is imported."""
    skip_optional_imports()
    light_schema_checks()
    known_alembic_head()


def main() -> int:
    prepare()
    from nbgrader.apps.nbgraderapp import main as nbgrader_main

    sys.argv[0] = "nbgrader"
    return nbgrader_main() or 0


if __name__ == "__main__":
    sys.exit(main())
