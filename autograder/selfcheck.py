"""In-process checks: the student's self-check cells, and the test suite's mistake catalogue.

``check("count_parameters", globals())`` runs the visible checks of that item on the
student's definitions and on the reference solution (from ``solutions/``, or the folder in
``$COURSE_REFERENCE``), prints one line per check and raises ``AssertionError`` when any
fails. Official grading runs the same checks, hidden ones too, in isolated worker processes;
this module is for quick feedback where the code is trusted to be honest.
"""
from __future__ import annotations

import os
import types
import warnings
from pathlib import Path

from vaegan.curriculum import EXERCISES

from .checks import checks_for
from .checks.base import Check, Verdict, explain_error, is_stub, where_in_notebook
from .plaindata import decode, encode


class SelfCheckFailed(AssertionError):
    """At least one self-check failed; the message lists which."""

    def _render_traceback_(self):
        """What Jupyter shows: the one-line summary, not a traceback into the grader's code."""
        return [f"SelfCheckFailed: {self}"]


def exercise_of_item(item: str) -> str:
    for slug, names in EXERCISES.items():
        if item in names:
            return slug
    raise KeyError(f"{item!r} is not a graded item of this course")


def reference_module(slug: str):
    """The reference solution module, or None when ``solutions/`` is not available."""
    from vaegan.notebooks import NotebookLoadError, load_reference

    folder = os.environ.get("COURSE_REFERENCE") or Path(__file__).resolve().parents[1] / "solutions"
    try:
        return load_reference(slug, folder)
    except (NotebookLoadError, OSError):
        return None


def _plain(value):
    return decode(encode(value))


def run_check(check: Check, student, reference, expected: dict | None = None) -> Verdict:
    """Probe reference and student in this process (same seed, same inputs) and judge.

    ``expected`` (check id -> the reference's encoded inputs and outputs) keeps what the reference
    gave, for judging many variants against one reference (the test catalogues); each student
    probe gets a fresh copy of the inputs, as a grader worker does.
    """
    from vaegan.devices import seed_everything

    if expected is not None and check.id in expected:
        inputs_plain, outputs_plain = expected[check.id]
    else:
        seed_everything(check.seed)
        inputs_plain = encode(check.prepare(reference)) if check.prepare else {}
        seed_everything(check.seed)
        outputs_plain = encode(check.probe(reference, decode(inputs_plain)))
        if expected is not None:
            expected[check.id] = (inputs_plain, outputs_plain)
    missing = [n for n in check.needs() if not hasattr(student, n)]
    if missing:
        return Verdict.failed(f"{', '.join(missing)} is not defined: run the cell that defines it")
    seed_everything(check.seed)
    try:
        with warnings.catch_warnings():  # the probes' inputs are odd on purpose (singular matrices): no noise
            warnings.simplefilter("ignore")
            got = _plain(check.probe(student, decode(inputs_plain)))
    except Exception as err:  # noqa: BLE001 - report the student's error readably
        if is_stub(err):
            return Verdict.failed("not implemented yet: replace `raise NotImplementedError()` with your code")
        return Verdict.failed(f"raised {explain_error(err)}{where_in_notebook(err)}")
    return check.evaluate(got, decode(outputs_plain))


def evaluate(student, slug: str, reference=None, items=None, include_hidden: bool = True,
             expected: dict | None = None) -> dict[str, Verdict]:
    """``{check id: Verdict}`` for every (selected) check of ``slug`` on ``student``; ``expected``
    as in ``run_check`` (one dict per reference)."""
    reference = reference if reference is not None else reference_module(slug)
    if reference is None:
        raise FileNotFoundError("the reference solutions are not available here")
    verdicts = {}
    for check in checks_for(slug).checks:
        if (items is None or check.item in items) and (check.visible or include_hidden):
            verdicts[check.id] = run_check(check, student, reference, expected)
    return verdicts


def check(item: str, namespace: dict, include_hidden: bool | None = None) -> None:
    """Print a line per check of ``item``; raise ``SelfCheckFailed`` if any fails."""
    if include_hidden is None:
        include_hidden = os.environ.get("COURSE_SELFCHECK_ALL") == "1"
    slug = exercise_of_item(item)
    reference = reference_module(slug)
    if reference is None:
        mode = os.environ.get("NBGRADER_EXECUTION")
        if mode in ("autograde", "validate"):  # never award points, nor report a pass, without a reference
            verb = "grade" if mode == "autograde" else "check"
            raise SelfCheckFailed(f"reference solutions not available here: cannot {verb} {item} (the grading "
                                  "machine sets COURSE_REFERENCE to them; a student's Validate cannot check it: "
                                  "submit the notebook)")
        print(f"The reference solutions are not available here: submit {slug} to the autograder to check {item}.")
        return
    verdicts = evaluate(types.SimpleNamespace(**namespace), slug, reference, {item}, include_hidden)
    for check_id, verdict in verdicts.items():
        ok = verdict.fraction >= 1.0
        print(f"{'PASS' if ok else 'FAIL'}  {check_id}" + ("" if ok else f": {verdict.message}"))
    failed = [cid for cid, v in verdicts.items() if v.fraction < 1.0]
    if failed:
        raise SelfCheckFailed(f"{len(failed)} of {len(verdicts)} self-checks for {item} failed (see above)")
    print(f"All {len(verdicts)} self-checks for {item} passed.")
