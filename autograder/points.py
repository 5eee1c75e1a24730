"""Item points from the solution notebook's nbgrader metadata, split over the item's checks."""
from __future__ import annotations

from pathlib import Path

from vaegan.curriculum import EXERCISES
from vaegan.notebooks import read_notebook


class ReferenceProblem(RuntimeError):
    """The reference solutions are missing or inconsistent (an instructor problem)."""


def item_points(solution: Path, slug: str) -> dict[str, float]:
    """``{item: points}`` from the graded cells (``grade: true``) whose metadata names ``course.item``."""
    nb = read_notebook(solution)
    points: dict[str, float] = {}
    for cell in nb["cells"]:
        grader = cell.get("metadata", {}).get("nbgrader", {})
        item = cell.get("metadata", {}).get("course", {}).get("item")
        if grader.get("grade") is True and item:
            points[item] = points.get(item, 0.0) + float(grader.get("points", 0))
    expected = set(EXERCISES[slug])
    if set(points) != expected:
        raise ReferenceProblem(
            f"{solution}: graded cells name items {sorted(points)}, the curriculum expects {sorted(expected)}"
        )
    return points


def check_max_scores(points: dict[str, float], checks) -> dict[str, float]:
    """Split each item's points over its checks by weight; rounded to 0.01, summing exactly to the item."""
    scores: dict[str, float] = {}
    for item, total in points.items():
        mine = [c for c in checks if c.item == item]
        weight = sum(c.weight for c in mine)
        cents = round(total * 100)
        given = 0
        for i, c in enumerate(mine):
            share = cents - given if i == len(mine) - 1 else round(cents * c.weight / weight)
            given += share
            scores[c.id] = share / 100
    return scores
