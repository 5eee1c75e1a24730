"""Build a course notebook from a jupytext py:percent draft (an authoring aid; the .ipynb is the source of truth).

    python tools/py2nb.py draft.py solutions/03_kl_and_elbo.ipynb --kind solution

Cell markers understood in the draft (besides jupytext's ``# %% [markdown]``):

* ``# %% tags=["setup"]``             read-only setup cell (imports, code from earlier lessons)
* ``# %% course={"answer": "NAME"}``    graded answer cell for item NAME (solution markers inside)
* ``# %% course={"selfcheck": "NAME", "points": 4}``  self-check cell carrying the item's points

The builder adds the nbgrader metadata (schema 3), clears outputs and sets the
notebook metadata ``course: {exercise, kind}``; cell ids are stable (``cell-N``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vaegan.curriculum import slug_from_filename  # noqa: E402


def normalise(nb, slug: str, kind: str):
    setup_count = 0
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata
        for key in ("lines_to_next_cell", "jupyter", "execution"):
            meta.pop(key, None)
        course = meta.get("course", {})
        cell["id"] = f"cell-{index}"
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if "setup" in meta.get("tags", []) or "given" in meta.get("tags", []):
            setup_count += 1
            meta["nbgrader"] = {"grade": False, "grade_id": f"setup_{setup_count}", "locked": True,
                                "schema_version": 3, "solution": False}
        elif "answer" in course:
            meta["nbgrader"] = {"grade": False, "grade_id": course["answer"], "locked": False,
                                "schema_version": 3, "solution": True}
            meta["course"] = {"item": course["answer"], "role": "answer"}
        elif "selfcheck" in course:
            meta["nbgrader"] = {"grade": True, "grade_id": f"{course['selfcheck']}_selfcheck", "locked": True,
                                "points": course["points"], "schema_version": 3, "solution": False}
            meta["course"] = {"item": course["selfcheck"], "role": "selfcheck"}
    nb.metadata = nbformat.from_dict({
        "course": {"exercise": slug, "kind": kind},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("draft")
    parser.add_argument("output")
    parser.add_argument("--kind", choices=("lesson", "solution"), required=True)
    args = parser.parse_args(argv)
    slug = slug_from_filename(Path(args.output).name)
    if slug is None:
        parser.error("the output name must start with a known NN_slug")
    nb = normalise(jupytext.read(args.draft, fmt="py:percent"), slug, args.kind)
    nbformat.validate(nb)
    Path(args.output).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
