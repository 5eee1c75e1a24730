"""Check registry: one module per exercise (``exNN_slug.py``) exposing ``CHECKS``.

Importing this package is light (no torch): the grading parent fingerprints check code and starts
its zygotes before anything imports torch; ``checks_for`` imports the exercise's module.
"""
from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

from vaegan.curriculum import EXERCISES



def module_name(slug: str) -> str:
    return f"{__name__}.ex{slug}"


def checks_for(slug: str, extra_dir: str | Path | None = None) -> "ExerciseChecks":
    """The checks of exercise ``slug`` (none without a module), plus private ones from ``extra_dir``.

    Private checks live outside the public repository in ``<extra_dir>/checks/exNN_slug.py``,
    written like the public modules (absolute imports from ``autograder.checks.base``).
    """
    from .base import ExerciseChecks

    if slug not in EXERCISES:
        raise KeyError(f"unknown exercise {slug!r}")
    try:
        public = importlib.import_module(module_name(slug)).CHECKS
    except ModuleNotFoundError as err:
        if err.name != module_name(slug):
            raise
        public = ExerciseChecks(slug)
    extra = _private_checks(slug, extra_dir)
    if not extra:
        return public
    return ExerciseChecks(slug, [*public.checks, *extra])


def _private_checks(slug: str, extra_dir) -> list:
    if extra_dir is None:
        return []
    path = Path(extra_dir) / "checks" / f"ex{slug}.py"
    if not path.exists():
        return []
    from ..points import ReferenceProblem

    namespace = {"__name__": f"private_checks_{slug}", "__file__": str(path)}
    try:
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # instructor code: trusted
        return list(namespace["CHECKS"].checks)
    except Exception as err:  # noqa: BLE001 - the instructor's file: say what is wrong with it, then stop
        import traceback

        line = next((f.lineno for f in reversed(traceback.extract_tb(err.__traceback__)) if f.filename == str(path)),
                    None)
        what = "it defines no CHECKS = ExerciseChecks(...)" if isinstance(err, KeyError) and err.args == ("CHECKS",) \
            else f"{err.__class__.__name__}: {err}" + (f" (line {line})" if line else "")
        raise ReferenceProblem(f"the private checks {path} could not be loaded: {what}; they are run on their own, "
                               "so import with absolute names (from autograder.checks.base import ExerciseChecks, "
                               f"...) and define CHECKS = ExerciseChecks({slug!r})") from None


def fingerprint(slug: str, extra_dir=None) -> str:
    """Hash of the check code that grades ``slug`` (public module and private extras)."""
    digest = hashlib.sha256()
    for path in (Path(__file__).parent / "base.py", Path(__file__).parent / "weights.py",
                 Path(__file__).parent / f"ex{slug}.py", Path(__file__).parents[1] / "capstone.py",
                 *( [Path(extra_dir) / "checks" / f"ex{slug}.py"] if extra_dir else [])):
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def graded_exercises() -> list[str]:
    """Exercises that have checks, in course order."""
    return [slug for slug in EXERCISES if checks_for(slug).checks]
