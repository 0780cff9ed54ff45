"""A submission's grading metadata put back as the release has it, before nbgrader reads it.

nbgrader identifies graded cells by the metadata students carry around in their notebooks. A cell copied in
JupyterLab (with its metadata), a grade cell she added, points she edited, or a graded cell she turned into
markdown made ``nbgrader autograde`` fail for the whole student ("Cell with id ... exists multiple times",
then a KeyError), who was then not graded at all: one copy-paste cost every notebook. The checker grades
the cells' source, never their metadata, so the metadata can be restored from the release without guessing:

- a grade id the release does not have, or a cell whose type is no longer the release's, is a plain cell;
- a grade id that appears more than once keeps its metadata on the last copy (the definition that runs last
  is the one the checker grades), the others become plain cells;
- every graded cell's metadata (points, grade, solution, locked, checksum) is the release's.

Each change is said, so that autograde can flag the student with what was put back.
"""
from __future__ import annotations

import copy

GRADING_KEY = "nbgrader"
DUPLICATE = "{id} appears {count} times (the last kept as graded)"
NOT_RELEASED = "{id} is not a graded cell of the release"
TYPE_CHANGED = "{id} was turned into a {got} cell"
EDITED = "{fields} of {id} edited"
NOT_A_MAPPING = "the metadata of cell {index} was not a mapping (emptied)"


def release_metadata(release_nb: dict) -> dict[str, dict]:
    """grade id -> the nbgrader metadata the release gives that cell."""
    found = {}
    for cell in release_nb.get("cells", []):
        meta = (cell.get("metadata") or {}).get(GRADING_KEY)
        if isinstance(meta, dict) and meta.get("grade_id"):
            found[meta["grade_id"]] = meta
    return found


def _grade_id(cell) -> str | None:
    meta = (cell.get("metadata") or {}).get(GRADING_KEY) if isinstance(cell, dict) else None
    if not isinstance(meta, dict):
        return None
    grade_id = meta.get("grade_id")
    return grade_id if isinstance(grade_id, str) and grade_id else ""


def restore(submitted_nb: dict, release_nb: dict) -> list[str]:
    """Put ``submitted_nb``'s grading metadata back as ``release_nb`` has it, in place; what was changed."""
    released = release_metadata(release_nb)
    changes: list[str] = []
    listed = submitted_nb.get("cells", [])
    for index, cell in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(cell, dict) and not isinstance(cell.get("metadata", {}), dict):  # nbgrader would crash on it
            cell["metadata"] = {}
            changes.append(NOT_A_MAPPING.format(index=index))
    cells = [c for c in (listed if isinstance(listed, list) else []) if isinstance(c, dict)]
    graded = [(i, _grade_id(c)) for i, c in enumerate(cells) if _grade_id(c) is not None]
    fitting = [(i, g) for i, g in graded if g in released
               and released[g].get("cell_type", cells[i].get("cell_type")) == cells[i].get("cell_type")]
    last = {grade_id: i for i, grade_id in fitting}
    counts: dict[str, int] = {}
    for _, grade_id in fitting:
        counts[grade_id] = counts.get(grade_id, 0) + 1
    said: set[str] = set()
    for i, grade_id in graded:
        cell = cells[i]
        meta = cell["metadata"][GRADING_KEY]
        want = released.get(grade_id)
        if want is None:
            changes.append(NOT_RELEASED.format(id=repr(grade_id)))
        elif want.get("cell_type", cell.get("cell_type")) != cell.get("cell_type"):
            changes.append(TYPE_CHANGED.format(id=repr(grade_id), got=cell.get("cell_type")))
        elif last[grade_id] != i:
            if grade_id not in said:
                changes.append(DUPLICATE.format(id=repr(grade_id), count=counts[grade_id]))
                said.add(grade_id)
        else:
            edited = sorted(k for k in set(want) | set(meta) if meta.get(k) != want.get(k))
            if edited:
                changes.append(EDITED.format(id=repr(grade_id), fields=", ".join(edited)))
                cell["metadata"][GRADING_KEY] = copy.deepcopy(want)
            continue
        del cell["metadata"][GRADING_KEY]  # a plain cell now: still run, never graded by itself
    return changes
