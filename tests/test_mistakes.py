"""Every catalogued wrong implementation loses points on its intended checks, and only there;
every check is failed by at least one catalogued mistake (so no check is unable to fail)."""
from __future__ import annotations

import functools
import importlib
import pkgutil

import pytest

import tests.mistakes as catalogue
from autograder.checks import checks_for, graded_exercises
from autograder.selfcheck import evaluate
from vaegan.notebooks import load_reference


def _catalogue():
    out = {}
    for info in pkgutil.iter_modules(catalogue.__path__):
        module = importlib.import_module(f"{catalogue.__name__}.{info.name}")
        slug = info.name[2:]
        out[slug] = module.MISTAKES
    return out


CATALOGUE = _catalogue()
CASES = [(slug, m) for slug, ms in CATALOGUE.items() for m in ms]


@functools.cache
def _reference(slug: str) -> tuple:
    """The reference and what it gave each check (``expected``), shared by every catalogued variant
    of ``slug`` in this process: the reference is probed once per check, not once per variant."""
    return load_reference(slug), {}


@pytest.mark.parametrize("slug,mistake", CASES, ids=[f"{s}:{m.item}:{m.label}" for s, m in CASES])
def test_mistake_fails_exactly_its_checks(slug, mistake):
    student = load_reference(slug)  # a fresh module each time
    exec(compile(mistake.source, f"<mistake {mistake.label}>", "exec"), student.__dict__)
    reference, expected = _reference(slug)
    verdicts = evaluate(student, slug, reference, expected=expected)
    failed = {cid for cid, v in verdicts.items() if v.fraction < 1.0}
    unexpected = (failed - mistake.optional_ids()) ^ mistake.failing_ids()  # may_fail: either way
    assert not unexpected, {cid: verdicts[cid].message for cid in unexpected}
    for cid in failed:
        assert verdicts[cid].message and verdicts[cid].message != "passed"


@pytest.mark.parametrize("slug", graded_exercises())
def test_every_check_can_fail(slug):
    covered = set().union(*(m.failing_ids() for m in CATALOGUE.get(slug, [])))
    ids = {c.id for c in checks_for(slug).checks}
    assert ids - covered == set(), f"checks no catalogued mistake fails: {sorted(ids - covered)}"


@pytest.mark.parametrize("slug", graded_exercises())
def test_at_least_three_mistakes_per_item(slug):
    items = {c.item for c in checks_for(slug).checks}
    counts = {item: sum(m.item == item for m in CATALOGUE.get(slug, [])) for item in items}
    assert all(n >= 3 for n in counts.values()), counts
