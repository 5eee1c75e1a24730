"""Notebook loader: what runs, what does not, and readable errors."""
from __future__ import annotations

from pathlib import Path

import pytest

import torch

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


def test_wrongly_typed_metadata_gets_a_plain_reason(tmp_path):
    path = tmp_path / "00_setup_and_data.ipynb"
    path.write_text('{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": "x = 1", '
                    '"metadata": ["x"], "outputs": [], "execution_count": null}], "metadata": {}}')
    with pytest.raises(NotebookLoadError) as err:
        read_notebook(path)
    assert "structure is damaged" in str(err.value) and "save it again" in str(err.value)
    assert "pop expected" not in str(err.value)


def test_setup_imports_lists_only_the_setup_cells_imports(notebook_factory):
    from vaegan.notebooks import read_notebook, setup_imports

    nb = notebook_factory("00_setup_and_data.ipynb", [
        ("code", "import torch\nimport torch.nn.functional as F\nfrom vaegan.data import load_dataset\n"
                 "from . import nothing\nx = __import__('os')", SETUP),
        ("code", "import json\ndef to_tanh_range(x):\n    return 2 * x - 1", answer("to_tanh_range")),
    ], META)
    assert setup_imports(read_notebook(nb)) == ["torch", "torch.nn.functional", "vaegan.data"]


# ---------------------------------------------------------------- what runs outside the answer cells
HELPER_CELLS = [
    ("code", "import torch", SETUP),
    ("code", "def _kl_terms(mu, logvar):\n    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)", None),
    ("code", "def kl_divergence(mu, logvar):\n    return _kl_terms(mu, logvar).sum(dim=1)", answer("kl_divergence")),
    ("code", "check('kl_divergence', globals())", {"nbgrader": {"grade": True, "points": 4},
                                                "course": {"item": "kl_divergence", "role": "selfcheck"}}),
]


def _strip_metadata(cells):
    return [(kind, source, None) for kind, source, _ in cells if "check(" not in source]


def test_helper_defined_in_a_cell_the_student_added_counts(notebook_factory):
    nb = notebook_factory("a.ipynb", HELPER_CELLS, {"course": {"exercise": "03_kl_and_elbo"}})
    loaded = load_notebook(nb)
    assert loaded.mode == "metadata" and not loaded.errors
    zeros = loaded.module.torch.zeros(2, 3)
    assert loaded.module.kl_divergence(zeros, zeros).tolist() == [0.0, 0.0]


def test_metadata_and_fallback_modes_agree_on_a_helper_in_an_added_cell(notebook_factory, tmp_path):
    with_meta = notebook_factory("a.ipynb", HELPER_CELLS, {"course": {"exercise": "03_kl_and_elbo"}})
    stripped = notebook_factory("03_kl_and_elbo.ipynb", _strip_metadata(HELPER_CELLS), folder=tmp_path / "s")
    results = []
    for path in (with_meta, stripped):
        loaded = load_notebook(path)
        mu, logvar = loaded.module.torch.tensor([[1.0, 0.0]]), loaded.module.torch.tensor([[0.0, 2.0]])
        results.append((loaded.errors, loaded.module.kl_divergence(mu, logvar).tolist()))
    assert [load_notebook(p).mode for p in (with_meta, stripped)] == ["metadata", "fallback"]
    assert results[0] == results[1] and not results[0][0]


@pytest.mark.parametrize("where", ["answer", "added"])
def test_loop_building_a_constant_that_a_class_reads_runs(notebook_factory, where):
    build = "SPEC = []\nfor width in (8, 16, 32):\n    SPEC.append(width)\nWIDEST = max(SPEC)\n"
    model = "class Encoder:\n    def __init__(self):\n        self.widths = list(SPEC) + [WIDEST]"
    cells = ([("code", build + model, answer("Encoder"))] if where == "answer" else
             [("code", build, None), ("code", model, answer("Encoder"))])
    loaded = load_notebook(notebook_factory("a.ipynb", cells, {"course": {"exercise": "01_encoder"}}))
    assert not loaded.errors and loaded.module.Encoder().widths == [8, 16, 32, 32]
    assert not loaded.skipped


def test_training_loops_and_demo_calls_are_skipped_and_recorded(notebook_factory, tmp_path):
    marker = tmp_path / "ran"
    nb = notebook_factory("a.ipynb", [
        ("code", "import torch", SETUP),
        ("code", "def to_tanh_range(x):\n    return 2 * x - 1\n"
                 "for epoch in range(10**12):\n    loss = to_tanh_range(epoch)\n"
                 "with open(%r, 'w') as f:\n    f.write('x')\n"
                 "torch.manual_seed(0)\nprint('demo')" % str(marker), answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    assert not loaded.errors and not marker.exists() and not hasattr(loaded.module, "loss")
    assert loaded.skipped_lines(1) == [3, 5, 7, 8]
    assert {s.kind for s in loaded.skipped} == {"for loop", "with block", "expression"}
    assert "loss" in loaded.skipped[0].names


def test_course_demo_and_self_check_cells_still_do_not_run(notebook_factory, tmp_path):
    marker = tmp_path / "demo_ran"
    nb = notebook_factory("a.ipynb", [
        ("code", "import torch", SETUP),
        ("code", "def to_tanh_range(x):\n    return 2 * x - 1", answer("to_tanh_range")),
        ("code", "def to_tanh_range(x):\n    return 99\nopen(%r, 'w')" % str(marker),
         {"nbgrader": {"grade": True, "solution": False, "points": 3},
          "course": {"item": "to_tanh_range", "role": "selfcheck"}}),
        ("code", f"history = open({str(marker)!r}, 'w')\nmodel = torch.nn.Linear(2, 2)\n"
                 "for step in range(10**12):\n    model.zero_grad()\nprint(history)", None),  # a demo
    ], META)
    loaded = load_notebook(nb)
    assert not loaded.errors and loaded.module.to_tanh_range(1) == 1
    assert not marker.exists() and not hasattr(loaded.module, "model")
    assert loaded.cells == [0, 1] and loaded.skipped_lines(3) == [1, 2, 3, 5]


def test_course_notebooks_demo_cells_add_nothing_to_the_module():
    root = Path(__file__).resolve().parents[1]
    loaded = load_notebook(root / "solutions" / "10_gan_training.ipynb")
    assert not loaded.errors
    assert not {"G", "D", "train", "batches", "opt_G", "steps", "losses"} & set(vars(loaded.module))
    assert "for loop" in {s.kind for s in loaded.skipped}  # the demo training loop: recorded, not run


def test_pathological_source_is_an_error_of_that_cell_only(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "x = " + "-" * 100_000 + "1", answer("count_parameters")),
        ("code", "y = " + "f" + "(1)" * 50_000, None),
        ("code", "def to_tanh_range(x):\n    return 2 * x - 1", answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    assert loaded.module.to_tanh_range(0) == -1
    assert [e.cell for e in loaded.errors] == [0, 1]
    assert all("could not parse this cell" in e.message and "too deeply" in e.message for e in loaded.errors)


def test_a_name_error_for_a_skipped_statement_says_why(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "BASE = int('1')\nSCALE = int('2')", None),  # no definition reads them: not run
        ("code", "def to_tanh_range(x):\n    return eval('SCALE') * x - 1\nOFFSET = BASE + 1",
         answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    message = loaded.errors[0].message
    assert "NameError" in message and "(line 3)" in message and "cell 1, line 1 (assignment)" in message
    with pytest.raises(NameError) as caught:
        loaded.module.to_tanh_range(1)
    note = loaded.note_for(caught.value)
    assert "cell 1, line 2 (assignment)" in note and "sets SCALE" in note
    assert loaded.note_for("name 'SCALE' is not defined") == note and loaded.note_for("unrelated") == ""
    assert loaded.note_for(ValueError("SCALE")) == "" and loaded.note_for("SCALE") == note


def test_a_name_error_for_a_helper_whose_cell_failed_names_that_cell(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "def helper(x, scale=undefined_default):\n    return x", None),
        ("code", "def to_tanh_range(x):\n    return helper(x)", answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    with pytest.raises(NameError) as caught:
        loaded.module.to_tanh_range(1)
    assert "cell 1, which defines helper, did not load" in loaded.note_for(caught.value)


def test_magics_are_dropped_only_where_a_statement_starts(notebook_factory):
    """A leading ``!=`` or ``%`` on a continuation line (black puts operators there) is Python, not a magic."""
    nb = notebook_factory("a.ipynb", [
        ("code", "%matplotlib inline\n!pip install nothing\nimport torch", SETUP),
        ("code", "def count_parameters(model):\n    return sum(p.numel() for p in model.parameters()\n"
                 "               if p.requires_grad\n               != False)\n%time count_parameters", answer("count_parameters")),
        ("code", "def to_tanh_range(x):\n    '''Doubles x;\n% of the range: all.'''\n    return (2 * x\n"
                 "        - 1)\n!echo", answer("to_tanh_range")),
        ("code", "def from_tanh_range(x):\n    half = 1 + \\\n        x\n    return (half\n"
                 "            % 2) / 2\n    %timeit from_tanh_range(x)", answer("from_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    assert not loaded.errors, loaded.errors
    frozen = torch.nn.Linear(2, 3)
    frozen.bias.requires_grad_(False)
    assert loaded.module.count_parameters(frozen) == 6, "the != False condition must survive"
    assert loaded.module.to_tanh_range(1.0) == 1.0 and "% of the range" in loaded.module.to_tanh_range.__doc__
    assert loaded.module.from_tanh_range(0.5) == 0.75


# ---------------------------------------------------------------- notebooks saved or written unusually
def test_a_byte_order_mark_does_not_cost_the_notebook(notebook_factory):
    nb = notebook_factory("00_setup_and_data.ipynb", [("code", "def to_tanh_range(x):\n    return 2 * x - 1",
                                                       answer("to_tanh_range"))], META)
    nb.write_bytes(b"\xef\xbb\xbf" + nb.read_bytes())  # Windows editors and PowerShell write one
    loaded = load_notebook(nb)
    assert not loaded.errors and loaded.module.to_tanh_range(1) == 1


def test_unusual_line_separators_inside_comments_and_strings_are_kept(notebook_factory):
    """U+2028 (pasted from a web page) or a form feed is not a line end for Python: the cell must not be re-split."""
    nb = notebook_factory("a.ipynb", [
        ("code", "# from the docs:\u2028 x = 2x - 1\ndef to_tanh_range(x):\n    '''Maps [0, 1]\x0cto [-1, 1].'''\n"
                 "    return 2 * x - 1\nSEP = 'a\x1cb\u2028c'\n", answer("to_tanh_range")),
        ("code", "%matplotlib inline\n# section\x0c\ndef from_tanh_range(x):\n    return (x + 1) / 2",
         answer("from_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    assert not loaded.errors, loaded.errors
    assert loaded.module.to_tanh_range(1) == 1 and loaded.module.SEP == "a\x1cb\u2028c"
    assert "\x0c" in loaded.module.to_tanh_range.__doc__ and loaded.module.from_tanh_range(1) == 1


def test_ipython_help_assignment_magics_and_magics_inside_blocks_do_not_break_the_cell(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "import sys\nIN_COLAB = 'google.colab' in sys.modules\nif IN_COLAB:\n    !pip install -q tqdm\n"
                 "    %cd /content\nfrom functools import partial", None),  # a cell the student added
        ("code", "torch.nn.Linear?\n?torch.randn\nfiles = !ls\nt = %timeit -o 1 + 1\ndef to_tanh_range(x):\n"
                 "    '''Twice x, minus one: why?\n    because?'''\n    return partial(lambda v: 2 * v - 1)(x)\n"
                 "to_tanh_range??", answer("to_tanh_range")),
        ("code", "\n\n%%time\ndef from_tanh_range(x):\n    return (x + 1) / 2", answer("from_tanh_range")),
        ("code", "\n%%writefile notes.txt\nnot python at all", None),
    ], META)
    loaded = load_notebook(nb)
    assert not loaded.errors, loaded.errors
    assert loaded.module.to_tanh_range(1) == 1 and loaded.module.from_tanh_range(1) == 1
    assert loaded.module.to_tanh_range.__doc__.endswith("because?")
    assert loaded.cells == [0, 1, 2]  # the %%writefile cell is not Python: not run


def test_setup_cell_that_lost_its_tag_still_runs_as_setup(notebook_factory):
    """A tool that drops cell tags but keeps nbgrader's metadata: the read-only (locked) cell is the setup cell."""
    read_only = {"nbgrader": {"grade": False, "grade_id": "setup_1", "locked": True, "schema_version": 3,
                              "solution": False}}
    nb = notebook_factory("a.ipynb", [
        ("code", "import torch\nSCALE = torch.tensor(2.0)", read_only),
        ("code", "def to_tanh_range(x):\n    return SCALE * x - 1", answer("to_tanh_range")),
        ("code", "check('to_tanh_range', globals())", {"nbgrader": {"grade": True, "locked": True, "solution": False,
                                                                   "points": 3}}),
    ], META)
    loaded = load_notebook(nb)
    assert loaded.mode == "metadata" and not loaded.errors and loaded.cells == [0, 1]
    assert loaded.module.to_tanh_range(1).item() == 1


@pytest.mark.parametrize("name", ["03-kl-and-elbo.ipynb", "03_KL_and_ELBO.ipynb", "Copy of 03 kl and elbo (1).ipynb"])
def test_exercise_identity_from_a_renamed_file(notebook_factory, name):
    nb = notebook_factory(name, [])
    assert exercise_of(read_notebook(nb), nb) == "03_kl_and_elbo"


def test_dataclasses_and_type_hints_in_a_notebook_cell_work(notebook_factory):
    """``@dataclass`` looks the class's module up in ``sys.modules``, as Jupyter's ``__main__`` is there."""
    nb = notebook_factory("a.ipynb", [
        ("code", "import typing\nfrom dataclasses import dataclass, field\n\n@dataclass\nclass Config:\n"
                 "    scale: float = 2.0\n    widths: list = field(default_factory=list)\n\ncfg = Config()", None),
        ("code", "def to_tanh_range(x: float) -> float:\n    return cfg.scale * x - 1", answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    assert not loaded.errors, loaded.errors
    assert loaded.module.to_tanh_range(1) == 1
    import typing

    assert typing.get_type_hints(loaded.module.to_tanh_range) == {"x": float, "return": float}


def test_get_ipython_and_display_behave_as_outside_a_notebook(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "IN_COLAB = 'google.colab' in str(get_ipython())\nshell = get_ipython()\n"
                 "def to_tanh_range(x):\n    display(x)\n    return 2 * x - 1", answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    assert not loaded.errors and loaded.module.IN_COLAB is False and loaded.module.to_tanh_range(1) == 1


def test_a_name_defined_only_in_a_self_check_cell_gets_a_note(notebook_factory):
    from autograder.worker import annotate_captured

    nb = notebook_factory("a.ipynb", [
        ("code", "def to_tanh_range(x):\n    return _helper(x)", answer("to_tanh_range")),
        ("code", "def _helper(x):\n    return 2 * x - 1\ncheck('to_tanh_range', globals())",
         {"nbgrader": {"grade": True, "solution": False, "points": 3},
          "course": {"item": "to_tanh_range", "role": "selfcheck"}}),
    ], META)
    loaded = load_notebook(nb)
    assert not hasattr(loaded.module, "_helper")  # self-check cells still never run
    note = loaded.note_for("name '_helper' is not defined")
    assert "cell 2, one of the course's self-check cells" in note and "move _helper" in note
    # a probe that captured the NameError (instead of raising it) gets the note too
    outputs = {"a": {"raised": "NameError: name '_helper' is not defined"}, "b": [{"raised": "ValueError: x"}], "c": 1}
    annotated = annotate_captured(outputs, loaded.note_for)
    assert annotated["a"]["raised"].endswith(note) and annotated["b"] == outputs["b"] and annotated["c"] == 1


def test_a_demo_failing_after_the_definitions_says_they_loaded(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "def to_tanh_range(x):\n    return 2 * x - 1\n\nx = open('/nonexistent/mnist').read()",
         answer("to_tanh_range")),
        ("code", "y = open('/nonexistent/mnist').read()\ndef from_tanh_range(x):\n    return (x + 1) / 2",
         answer("from_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    first, second = loaded.errors
    assert "FileNotFoundError" in first.message and "to_tanh_range, defined above line 4, loaded" in first.message
    assert "defined above" not in second.message and not hasattr(loaded.module, "from_tanh_range")


def test_a_broken_character_is_reported_as_such(notebook_factory, tmp_path):
    import json

    path = tmp_path / "00_setup_and_data.ipynb"
    cells = [{"cell_type": "code", "metadata": answer("to_tanh_range"), "outputs": [], "execution_count": None,
              "source": "# nice \ud83d\ndef to_tanh_range(x):\n    return 2 * x - 1"}]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": META, "cells": cells}))
    message = load_notebook(path).errors[0].message
    assert "could not read a character" in message and "nested" not in message


def test_a_cell_that_does_not_parse_names_what_it_imports(notebook_factory):
    nb = notebook_factory("a.ipynb", [
        ("code", "from functools import partial, reduce as fold\nimport numpy as np\nx = [1, 2", None),
        ("code", "def to_tanh_range(x):\n    return partial(int)(2 * x - 1)", answer("to_tanh_range")),
    ], META)
    loaded = load_notebook(nb)
    with pytest.raises(NameError) as caught:
        loaded.module.to_tanh_range(1)
    assert "cell 1, which defines partial, did not load: SyntaxError" in loaded.note_for(caught.value)
    assert {"partial", "fold", "np", "x"} <= set(loaded.errors[0].names)


def test_the_notebook_module_is_in_sys_modules_only_while_its_cells_run(notebook_factory):
    import sys

    nb = notebook_factory("a.ipynb", [("code", "import sys\ndef to_tanh_range(x):\n    return 2 * x - 1\n"
                                               "SEEN = sys.modules.get(__name__)", answer("to_tanh_range"))], META)
    loaded = load_notebook(nb)
    assert loaded.module.SEEN is loaded.module and loaded.module.__name__ not in sys.modules


def test_an_error_inside_a_given_setup_helper_names_the_students_calling_line(notebook_factory):
    """A wrong call of a helper the course gives (``sample_noise(B, device)``) fails inside the read-only setup
    cell; the location names the student's line that called it, then the helper, not the setup cell alone."""
    from autograder.checks.base import capture

    path = notebook_factory("07_generator.ipynb", [
        ("code", "import torch\n\ndef sample_noise(batch_size, noise_dim=100, device=None):\n"
                 "    return torch.randn(batch_size, noise_dim, device=device)\n", SETUP),
        ("code", "def noise_for(x):\n    B = x.shape[0]\n    return sample_noise(B, x.device)\n", answer("noise_for")),
    ])
    module = load_notebook(path).module
    out = capture(lambda: module.noise_for(torch.zeros(2, 1, 28, 28)))
    assert out["raised"].endswith("(cell 2, line 3, inside sample_noise of setup cell 1)"), out
    alone = capture(lambda: module.sample_noise(2, "not a size"))
    assert alone["raised"].endswith("(setup cell 1, line 4)"), alone
