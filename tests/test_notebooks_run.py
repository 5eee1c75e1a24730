"""Every lesson and solution notebook runs top to bottom in fast mode (COURSE_FAST=1) on the CPU."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*REPO.glob("lessons/[0-9][0-9]_*.ipynb"), *REPO.glob("solutions/[0-9][0-9]_*.ipynb")])


def run_notebook(path: Path, tmp_path: Path, timeout: int = 300):
    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ.update({"COURSE_FAST": "1", "COURSE_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                       "COURSE_RUNS_DIR": str(tmp_path / "runs")})
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", shutdown_kernel="immediate",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return nb


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.name}" for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path, tmp_path):
    nb = run_notebook(path, tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
