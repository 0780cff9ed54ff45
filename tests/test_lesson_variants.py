"""Every way the lesson material writes an exercise earns full points (rule 1 of a fair checker);
the few lesson forms that the catalogue's rules forbid (the outer-product lin_grad, say) fail, and
say which rule. The variants are in instructor/authoring/lesson_variants.py, each with where the lesson shows it."""
from __future__ import annotations

import pytest

from instructor.authoring.lesson_variants import VARIANTS
from tests.mutants import Mutant, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def verdicts():
    as_runs = [Mutant(f"{v.notebook}/{v.exercise}/lesson/{v.id}", v.notebook, v.exercise, "lesson", v.where,
                      "\n\n".join([v.source, *(src for _, src in v.replace)]), tuple(name for name, _ in v.replace))
               for v in VARIANTS]
    return {r.mutant.id: r for r in run(as_runs, jobs=2)}


def _id(v) -> str:
    return f"{v.notebook}/{v.exercise}/lesson/{v.id}"


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.conflict], ids=_id)
def test_the_lesson_s_way_earns_full_points(verdicts, variant):
    verdict = verdicts[_id(variant)]
    assert verdict.status == "passed", (variant.where, verdict.feedback)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.conflict], ids=_id)
def test_a_lesson_form_the_catalogue_forbids_fails(verdicts, variant):
    verdict = verdicts[_id(variant)]
    assert verdict.status != "passed", (variant.conflict, verdict.feedback)
