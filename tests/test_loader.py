"""Notebook loader: what runs, what does not, and readable errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SETUP, answer
from vaegan.notebooks import NotebookLoadError, exercise_of, load_module, load_notebook, read_notebook

META = {"course": {"exercise": "00_setup_and_data"}}


def test_only_setup_and_answer_cells_run(notebook_factory, tmp_path):
    marker = tmp_path / "demo_ran"
    nb = notebook_factory("a.ipynb", [
        ("markdown", "# Title", None),
        ("code", "import math\nSCALE = 2", SETUP),
        ("code", "def to_tanh_range(x):\n    return SCALE * x - 1", answer("to_tanh_range")),
        ("code", f"open({str(marker)!r}, 'w').write('x')", None),  # a demo: must not run
        ("code", "check('to_tanh_range', globals())", {"nbgrader": {"grade": True, "points": 3}}),
    ], META)
    loaded = load_notebook(nb)
    assert loaded.mode == "metadata" and not loaded.errors
    assert loaded.module.to_tanh_range(1) == 1 and loaded.module.math
    assert not marker.exists()


def test_training_loop_at_top_of_answer_cell_is_skipped(notebook_factory, tmp_path):
    nb = notebook_factory("a.ipynb", [
        ("code", "def to_tanh_range(x):\n    return 2 * x - 1\nfor i in range(10**12):\n    pass\n"
                 "while True:\n    pass\nprint('demo')\nresult = to_tanh_range(1)", answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    assert loaded.module.result == 1 and not loaded.errors


def test_stripped_metadata_falls_back_to_defining_cells(notebook_factory, tmp_path):
    marker = tmp_path / "demo_ran"
    nb = notebook_factory("Copy of 00_setup_and_data (2).ipynb", [
        ("code", "%matplotlib inline\nimport torch\nOFFSET = 1", None),
        ("code", "def helper(x):\n    return 2 * x", None),
        ("code", "def to_tanh_range(x):\n    return helper(x) - OFFSET", None),
        ("code", f"model = torch.nn.Linear(2, 2)\nopen({str(marker)!r}, 'w')", None),
        ("code", "!pip install something\nfor step in range(10**9):\n    pass", None),
    ])
    loaded = load_notebook(nb)
    assert loaded.exercise == "00_setup_and_data" and loaded.mode == "fallback"
    assert loaded.module.to_tanh_range(1) == 1
    assert not hasattr(loaded.module, "model") and not marker.exists()


def test_syntax_error_is_attributed_and_other_cells_still_load(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "def count_parameters(model)\n    return 0", answer("count_parameters")),
        ("code", "def to_tanh_range(x):\n    return 2 * x - 1", answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    assert loaded.module.to_tanh_range(0) == -1
    err = loaded.error_for("count_parameters")
    assert err and "SyntaxError in cell 1" in err.message and "line 1" in err.message


def test_runtime_error_names_cell_and_line(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "import torch\nx = 1\ny = undefined_name", SETUP),
    ], META)
    loaded = load_notebook(nb)
    assert "cell 1 raised NameError" in loaded.errors[0].message and "(line 3)" in loaded.errors[0].message
    with pytest.raises(NotebookLoadError, match="NameError"):
        load_notebook(nb, strict=True)


def test_system_exit_in_a_cell_is_contained(notebook_factory):
    nb = notebook_factory("a.ipynb", [("code", "import sys\nsys.exit(0)", SETUP)], META)
    loaded = load_notebook(nb)
    assert "tried to stop the program" in loaded.errors[0].message


@pytest.mark.parametrize("content,expected", [
    ("", "the file is empty"),
    ("{not json", "not a valid Jupyter notebook"),
    ('{"cells": 3}', "not a valid Jupyter notebook"),
    ("\x00\x01binary", "not a valid Jupyter notebook"),
])
def test_broken_files_give_readable_errors(tmp_path, content, expected):
    path = tmp_path / "00_setup_and_data.ipynb"
    path.write_text(content)
    with pytest.raises(NotebookLoadError, match=expected):
        load_notebook(path)


def test_exercise_identity(notebook_factory):
    nb = notebook_factory("whatever.ipynb", [], {"course": {"exercise": "03_kl_and_elbo"}})
    assert exercise_of(read_notebook(nb), nb) == "03_kl_and_elbo"
    nb = notebook_factory("Copy of 03_kl_and_elbo (2).ipynb", [])
    assert exercise_of(read_notebook(nb), nb) == "03_kl_and_elbo"
    nb = notebook_factory("homework.ipynb", [])
    with pytest.raises(NotebookLoadError, match="cannot tell which exercise"):
        exercise_of(read_notebook(nb), nb)


def test_load_module_requires_names(notebook_factory):
    nb = notebook_factory("a.ipynb", [("code", "x = 1", SETUP)], META)
    with pytest.raises(NotebookLoadError, match="does not define count_parameters"):
        load_module(nb, ["count_parameters"])


def test_each_load_is_a_fresh_namespace(notebook_factory):
    nb = notebook_factory("a.ipynb", [("code", "import itertools\nCOUNTER = itertools.count()", SETUP)], META)
    a, b = load_notebook(nb).module, load_notebook(nb).module
    next(a.COUNTER)
    assert next(b.COUNTER) == 0 and a is not b


def test_fast_reader_agrees_with_nbformat_on_every_course_notebook():
    import json

    import nbformat

    from vaegan.notebooks import parse_v4

    root = Path(__file__).resolve().parents[1]
    paths = sorted((root / "solutions").glob("*.ipynb")) + sorted((root / "exercises").glob("*.ipynb"))
    assert paths
    for path in paths:
        fast, slow = parse_v4(path.read_text(encoding="utf-8")), nbformat.read(path, as_version=4)
        assert fast is not None, path
        assert [(c["cell_type"], c["source"], c.get("metadata", {})) for c in fast["cells"]] == \
               [(c["cell_type"], c["source"], dict(c["metadata"])) for c in slow.cells], path
        assert json.loads(json.dumps(fast["metadata"])) == json.loads(json.dumps(slow.metadata))


@pytest.mark.parametrize("text", [
    '{"nbformat": 3, "worksheets": [{"cells": []}], "metadata": {}}',  # old format: nbformat upgrades it
    '{"nbformat": 4, "cells": [{"cell_type": "code", "source": 7, "metadata": {}}], "metadata": {}}',
    '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "x", "metadata": []}], "metadata": {}}',
    '{"nbformat": 4, "cells": [{"cell_type": "weird", "source": "x"}], "metadata": {}}',
    '{"nbformat": 4, "cells": "no", "metadata": {}}',
    '[1, 2, 3]', '{"nbformat": 4, "cells": [], "metadata": "x"}', "{ not json",
])
def test_fast_reader_leaves_odd_files_to_nbformat(text):
    from vaegan.notebooks import parse_v4

    assert parse_v4(text) is None


def test_odd_structures_still_get_a_readable_error_or_load(tmp_path):
    path = tmp_path / "00_setup_and_data.ipynb"
    path.write_text('{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": 7, '
                    '"metadata": {}}], "metadata": {}}')
    try:
        loaded = load_notebook(path)
    except NotebookLoadError as err:
        assert "00_setup_and_data.ipynb" in str(err)
    else:
        assert loaded.exercise == "00_setup_and_data"


def test_setup_imports_lists_only_the_setup_cells_imports(notebook_factory):
    from vaegan.notebooks import read_notebook, setup_imports

    nb = notebook_factory("00_setup_and_data.ipynb", [
        ("code", "import torch\nimport torch.nn.functional as F\nfrom vaegan.data import load_dataset\n"
                 "from . import nothing\nx = __import__('os')", SETUP),
        ("code", "import json\ndef to_tanh_range(x):\n    return 2 * x - 1", answer("to_tanh_range")),
    ], META)
    assert setup_imports(read_notebook(nb)) == ["torch", "torch.nn.functional", "vaegan.data"]
