"""Catalogue of correct but unusual implementations: each must get full marks.

The mirror of ``tests.mistakes``: the grader must accept every correct implementation
(any attribute names, ``nn.Sequential`` or separate layers, functional or module
activations, another but equivalent formula...), not only the reference's way.

One module per exercise (``exNN_slug.py``) defines ``ALTERNATIVES``, a list of
``Alternative``. ``source`` replaces the item's definition in a fresh copy of the
reference solution (in process) and the item's answer cell (through the real grader).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Alternative:
    item: str  # graded item whose definition is replaced
    label: str  # what is unusual about it, in a few words
    source: str  # the correct definition (plus any imports it needs)


def alternative(item: str, label: str, source: str) -> Alternative:
    return Alternative(item, label, source)
