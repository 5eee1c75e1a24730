"""Shared fixtures: offline by default, a small notebook factory."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import nbformat
import pytest

os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]


def make_notebook(path: Path, cells, metadata=None) -> Path:
    """Write a notebook from ``[(kind, source, metadata), ...]`` (kind: code|markdown)."""
    nb = nbformat.v4.new_notebook()
    for kind, source, meta in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        cell.metadata.update(meta or {})
        nb.cells.append(cell)
    nb.metadata.update(metadata or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def answer(item: str) -> dict:
    return {"nbgrader": {"solution": True, "grade": False, "grade_id": item, "locked": False, "schema_version": 3}}


SETUP = {"tags": ["setup"]}


@pytest.fixture
def notebook_factory(tmp_path):
    def factory(name, cells, metadata=None, folder=None):
        return make_notebook((folder or tmp_path) / name, cells, metadata)

    return factory


def once_per_run(tmp_path_factory, name: str, compute):
    """``compute()``, run by the first xdist worker that asks and unpickled by the others.

    A module-scoped fixture runs once per worker that gets one of its tests, and ``--dist
    worksteal`` may split a module between both: a class run of a minute then ran twice. What
    ``compute`` returns must be picklable and must not depend on the process (return a snapshot of
    anything process-local, such as a server's hit count, with it).
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder both workers' temporary folders live in, one per run
    path = base / f"once-{name}.pickle"
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return pickle.loads(path.read_bytes())
        value = compute()
        path.write_bytes(pickle.dumps(value))
        return value
