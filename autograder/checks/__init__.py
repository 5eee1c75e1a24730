"""Check registry: one module per exercise (``exNN_slug.py``) exposing ``CHECKS``."""
from __future__ import annotations

import importlib

from vaegan.curriculum import EXERCISES

from .base import Check, ExerciseChecks, Verdict  # noqa: F401


def module_name(slug: str) -> str:
    return f"{__name__}.ex{slug}"


def checks_for(slug: str) -> ExerciseChecks:
    """The checks of exercise ``slug``; an exercise without a module has none."""
    if slug not in EXERCISES:
        raise KeyError(f"unknown exercise {slug!r}")
    try:
        module = importlib.import_module(module_name(slug))
    except ModuleNotFoundError as err:
        if err.name != module_name(slug):
            raise
        return ExerciseChecks(slug)
    return module.CHECKS


def graded_exercises() -> list[str]:
    """Exercises that have checks, in course order."""
    return [slug for slug in EXERCISES if checks_for(slug).checks]
