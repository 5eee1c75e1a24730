"""In-notebook self-checks: the autograder's own checks, run in the student's kernel.

``check("count_parameters", globals())`` runs the visible checks of that item on the
student's definitions and on the reference solution (from ``solutions/``, or the folder in
``$COURSE_REFERENCE``), prints one line per check and raises ``AssertionError`` when any
fails. Official grading runs the same checks, and hidden ones, in isolated processes.
"""
from __future__ import annotations

import os
import types
from pathlib import Path

from vaegan.curriculum import EXERCISES

from .checks import checks_for
from .plaindata import decode, encode


class SelfCheckFailed(AssertionError):
    """At least one self-check failed; the message lists which."""


def _exercise_of(item: str) -> str:
    for slug, names in EXERCISES.items():
        if item in names:
            return slug
    raise KeyError(f"{item!r} is not a graded item of this course")


def _reference(slug: str):
    from vaegan.notebooks import NotebookLoadError, load_reference

    folder = os.environ.get("COURSE_REFERENCE") or Path(__file__).resolve().parents[1] / "solutions"
    try:
        return load_reference(slug, folder)
    except (NotebookLoadError, OSError):
        return None


def run_item(item: str, namespace: dict, include_hidden: bool = False) -> list[tuple[str, bool, str]]:
    """``[(check id, passed, message)]`` for the checks of ``item``."""
    from vaegan.devices import seed_everything

    slug = _exercise_of(item)
    reference = _reference(slug)
    student = types.SimpleNamespace(**namespace)
    rows = []
    for check in checks_for(slug).checks:
        if check.item != item or not (check.visible or include_hidden):
            continue
        if reference is None:
            rows.append((check.id, False, "the reference solutions are not available here; "
                                           "submit to the autograder to check this item"))
            continue
        seed_everything(check.seed)
        inputs = decode(encode(check.prepare(reference))) if check.prepare else {}
        expected = decode(encode(check.probe(reference, inputs)))
        missing = [n for n in check.needs() if n not in namespace]
        if missing:
            rows.append((check.id, False, f"{', '.join(missing)} is not defined: run the cell that defines it"))
            continue
        seed_everything(check.seed)
        try:
            got = decode(encode(check.probe(student, inputs)))
        except NotImplementedError:
            rows.append((check.id, False, "not implemented yet: replace `raise NotImplementedError()` with your code"))
            continue
        except Exception as err:  # noqa: BLE001 - report the student's error readably
            rows.append((check.id, False, f"raised {err.__class__.__name__}: {err}"))
            continue
        verdict = check.evaluate(got, expected)
        rows.append((check.id, verdict.fraction >= 1.0, verdict.message))
    return rows


def check(item: str, namespace: dict, include_hidden: bool | None = None) -> None:
    """Print a line per check of ``item``; raise ``SelfCheckFailed`` if any fails."""
    if include_hidden is None:
        include_hidden = os.environ.get("COURSE_SELFCHECK_ALL") == "1"
    rows = run_item(item, namespace, include_hidden)
    for check_id, passed, message in rows:
        print(f"{'PASS' if passed else 'FAIL'}  {check_id}" + ("" if passed else f": {message}"))
    failed = [r for r in rows if not r[1]]
    if failed:
        raise SelfCheckFailed(f"{len(failed)} of {len(rows)} self-checks for {item} failed (see above)")
    print(f"All {len(rows)} self-checks for {item} passed.")
