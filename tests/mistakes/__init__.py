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
    may_fail: frozenset = frozenset()  # checks that lose points with some library versions only (SciPy's sqrtm)

    def failing_ids(self) -> set[str]:
        return self._ids(self.fails)

    def optional_ids(self) -> set[str]:
        return self._ids(self.may_fail)

    def _ids(self, names) -> set[str]:
        return {f if "." in f else f"{self.item}.{f}" for f in names}


def mistake(item: str, label: str, source: str, *fails: str, may_fail: tuple = ()) -> Mistake:
    return Mistake(item, label, source, frozenset(fails), frozenset(may_fail))
