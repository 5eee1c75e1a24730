"""Every catalogued correct-but-unusual implementation gets full marks, in process and
through the real grader (worker processes, integrity guard, time limits)."""
from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

import nbformat
import pytest

import tests.alternatives as catalogue
from autograder.checks import graded_exercises
from autograder.grading import grade_paths
from autograder.runner import Limits
from autograder.selfcheck import evaluate
from vaegan.notebooks import load_reference

REPO = Path(__file__).resolve().parents[1]


def _catalogue():
    out = {}
    for info in pkgutil.iter_modules(catalogue.__path__):
        module = importlib.import_module(f"{catalogue.__name__}.{info.name}")
        out[info.name[2:]] = module.ALTERNATIVES
    return out


CATALOGUE = _catalogue()
CASES = [(slug, a) for slug, alts in CATALOGUE.items() for a in alts]
IDS = [f"{s}:{a.item}:{a.label}" for s, a in CASES]


@functools.cache
def _reference(slug: str) -> tuple:
    """The reference and what it gave each check (``expected``), shared by every catalogued variant
    of ``slug`` in this process: the reference is probed once per check, not once per variant."""
    return load_reference(slug), {}


@pytest.mark.parametrize("slug,alt", CASES, ids=IDS)
def test_alternative_gets_full_marks_in_process(slug, alt):
    student = load_reference(slug)  # a fresh module each time
    exec(compile(alt.source, f"<alternative {alt.label}>", "exec"), student.__dict__)
    reference, expected = _reference(slug)
    verdicts = evaluate(student, slug, reference, expected=expected)
    lost = {cid: v.message for cid, v in verdicts.items() if v.fraction < 1.0}
    assert not lost, lost


def _notebook_with(slug: str, sources: dict[str, str], dest: Path) -> Path:
    """The exercise notebook with every answer cell filled from the solution, those of ``sources``'
    items from ``sources``."""
    solution = nbformat.read(REPO / "solutions" / f"{slug}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    answers.update(sources)
    nb = nbformat.read(REPO / "exercises" / f"{slug}.ipynb", as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell.source = answers[meta["grade_id"]]
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def _class_of_alternatives() -> dict[tuple[str, str], list[int]]:
    """``{(student, slug): [case index, ...]}``: student ``altK`` of an exercise holds the K-th
    alternative of each of its items at once, as an unusual student writes several answers their
    own way (and the class run grades 80 notebooks, not one per alternative)."""
    students: dict[tuple[str, str], list[int]] = {}
    seen: dict[tuple[str, str], int] = {}
    for n, (slug, alt) in enumerate(CASES):
        k = seen[(slug, alt.item)] = seen.get((slug, alt.item), -1) + 1
        students.setdefault((f"alt{k:02d}", slug), []).append(n)
    return students


def test_every_alternative_gets_full_marks_through_the_grader(tmp_path):
    """One class run (one test, so the run happens once under xdist): every notebook, holding one
    alternative per item, gets 10/10 and no note."""
    students = _class_of_alternatives()
    for (student, slug), cases in students.items():
        _notebook_with(slug, {CASES[n][1].item: CASES[n][1].source for n in cases},
                       tmp_path / "class" / student / f"{slug}.ipynb")
    run = grade_paths([tmp_path / "class"], tmp_path / "grades", jobs=2, limits=Limits(), log=lambda m: None)
    results = {(r.student, r.exercise): r for r in run.results}
    problems = {}
    for (student, slug), cases in students.items():
        held = [IDS[n] for n in cases]
        result = results.get((student, slug))
        if result is None:
            problems[f"{student}/{slug}"] = {"holds": held, "lost": "not graded"}
            continue
        lost = {c.check: c.message for c in result.results if c.score < c.max_score}
        if lost or result.score != 10 or result.notes:  # nothing flagged: no "replaced", no skipped cell
            problems[f"{student}/{slug}"] = {"holds": held, "lost": lost, "notes": result.notes}
    assert not problems, problems
    assert sorted(n for cases in students.values() for n in cases) == list(range(len(CASES)))


@pytest.mark.parametrize("slug", graded_exercises())
def test_every_item_has_alternatives(slug):
    from autograder.checks import checks_for

    items = {c.item for c in checks_for(slug).checks}
    counts = {item: sum(a.item == item for a in CATALOGUE.get(slug, [])) for item in items}
    assert all(n >= 3 for n in counts.values()), counts
