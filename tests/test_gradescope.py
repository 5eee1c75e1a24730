"""`make gradescope` builds a zip whose run_autograder grades a submission into results/results.json."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

from autograder.gradescope import build
from tests.test_grader import GOOD, variant


def test_zip_layout_and_run_autograder(tmp_path):
    archive = build(tmp_path / "dist")
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "pyproject.toml"} <= names
        assert "solutions/00_setup_and_data.ipynb" in names and "autograder/worker.py" in names
        assert zf.getinfo("run_autograder").external_attr >> 16 & 0o111
        root = tmp_path / "autograder"
        zf.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    variant(root / "submission" / "00_setup_and_data.ipynb", GOOD)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 10 and len(results["tests"]) == 9
    shutil.rmtree(root / "submission")
    (root / "submission").mkdir()
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, timeout=600)
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 0


def test_private_reference_ships_notebooks_and_checks_but_not_its_git_history(tmp_path):
    private = tmp_path / "private-solutions"
    (private / "checks").mkdir(parents=True)
    (private / "00_setup_and_data.ipynb").write_text("{}")
    (private / "checks" / "ex00_setup_and_data.py").write_text("CHECKS = None\n")
    for hidden in (".git/objects/ab/cdef", ".ipynb_checkpoints/00_setup_and_data-checkpoint.ipynb",
                   "checks/.ipynb_checkpoints/ex00_setup_and_data-checkpoint.py", "checks/__pycache__/x.pyc"):
        (private / hidden).parent.mkdir(parents=True, exist_ok=True)
        (private / hidden).write_text("secret history")
    with zipfile.ZipFile(build(tmp_path / "dist", reference=private)) as zf:
        shipped = {n for n in zf.namelist() if n.startswith("solutions/")}
    assert shipped == {"solutions/00_setup_and_data.ipynb", "solutions/checks/ex00_setup_and_data.py"}
