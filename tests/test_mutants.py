"""The checker kills mutants of the reference solutions: a fixed sample of them, every one killed.

The full run (``make mutants``: every mutant, the score per exercise) takes about a minute; this
sample (about one in sixteen, chosen by id, so it is the same on every machine) keeps CI honest.
"""
from __future__ import annotations

import pytest

from checker.registry import NOTEBOOKS
from tests.mutants import REFERENCE, equivalents, generate, report, run, sample

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sampled():
    listed = equivalents()
    chosen = [m for m in sample(generate()) if m.id not in listed]
    return chosen, run(chosen, jobs=1)


def test_the_sample_covers_every_notebook_and_most_operators(sampled):
    chosen, _ = sampled
    assert len(chosen) >= 25
    assert {m.notebook for m in chosen} == set(NOTEBOOKS)
    assert len({m.operator for m in chosen}) >= 8


def test_every_sampled_mutant_is_killed(sampled):
    _, verdicts = sampled
    survivors = [f"{v.mutant.id} ({v.mutant.description})" for v in verdicts
                 if v.mutant.operator != REFERENCE and not v.killed]
    assert survivors == []


def test_the_references_pass_and_the_report_counts_both_ways(sampled):
    _, verdicts = sampled
    text, score, problems = report(verdicts, {})
    assert problems == [] and score == 100.0
    assert text.splitlines()[-1].startswith("mutation score: 100.0% of ")
    # the other way: a mutant listed as equivalent that the checker kills is reported
    killed = next(v for v in verdicts if v.mutant.operator != REFERENCE)
    _, _, problems = report(verdicts, {killed.mutant.id: "claimed equivalent"})
    assert any(killed.mutant.id in p and "listed as equivalent" in p for p in problems)


def test_every_listed_equivalent_is_still_generated():
    generated = {m.id for m in generate()}
    assert set(equivalents()) <= generated
