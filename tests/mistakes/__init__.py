"""Catalogue of wrong implementations: each must lose points on its intended checks, and only there.

One module per exercise (``exNN_slug.py``) defines ``MISTAKES``, a list of ``Mistake``.
``source`` replaces the item's definition in a fresh copy of the reference solution.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    item: str  # graded item whose definition is replaced
    label: str  # what the student got wrong, in a few words
    source: str  # the wrong definition (plus any imports it needs)
    fails: frozenset  # check names (``name`` or ``item.name``) that must lose points; all others must pass

    def failing_ids(self) -> set[str]:
        return {f if "." in f else f"{self.item}.{f}" for f in self.fails}


def mistake(item: str, label: str, source: str, *fails: str) -> Mistake:
    return Mistake(item, label, source, frozenset(fails))
