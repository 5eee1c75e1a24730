"""Notebook loader: run only a notebook's setup and graded answer cells into a fresh module.

Selection (no demos, training loops or self-checks ever run):

* cells tagged ``setup`` (imports, code given from earlier lessons) run as written;
* graded answer cells (nbgrader ``solution: true``) run with their top-level statements
  filtered to definitions, imports, assignments and ``if``/``try`` blocks — a training loop
  or a demo call left at top level is skipped;
* when an editor stripped that metadata: the cells that define an expected name are the
  answer cells, and the other cells contribute only imports, definitions and simple
  assignments.

Shared by the autograder worker, the capstone command, the lessons and the tests.
"""
from __future__ import annotations

import ast
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from .curriculum import EXERCISES, slug_from_filename

SETUP_TAGS = ("setup", "given")
MAX_NOTEBOOK_BYTES = 50 * 2**20
_KEEP_IN_ANSWERS = (
    ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
    ast.Assign, ast.AnnAssign, ast.AugAssign, ast.If, ast.Try, ast.Pass, ast.Global,
)
_CELL_MAGICS_KEPT = ("%%time", "%%timeit", "%%capture")


class NotebookLoadError(RuntimeError):
    """The notebook could not be read, identified or executed; the message says why."""


@dataclass
class CellError:
    """One selected cell that failed: which cell, which names it meant to define, why."""

    cell: int
    names: tuple[str, ...]
    message: str


@dataclass
class LoadedNotebook:
    module: types.ModuleType
    exercise: str | None
    mode: str  # "metadata" or "fallback"
    cells: list[int] = field(default_factory=list)  # indices of the executed code cells
    errors: list[CellError] = field(default_factory=list)

    def missing(self, names) -> list[str]:
        return [n for n in names if not hasattr(self.module, n)]

    def error_for(self, name: str) -> CellError | None:
        """The failure of the cell that should have defined ``name``, if any."""
        for err in self.errors:
            if name in err.names:
                return err
        return None


# ---------------------------------------------------------------- reading
def read_notebook(path: str | Path):
    """Read a notebook; any failure becomes a readable ``NotebookLoadError``.

    A well-formed version-4 notebook (the format every current editor writes) is read as plain
    JSON (``parse_v4``): importing nbformat costs seconds (it pulls in jsonschema and compiles
    its format grammars), a fixed cost per grading process. Anything else (older versions,
    odd structures) goes through ``nbformat.reads``, which upgrades or reports it.
    """
    path = Path(path)
    if not path.exists():
        raise NotebookLoadError(f"{path}: file not found")
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookLoadError(
            f"{path.name}: the notebook is {size / 2**20:.0f} MB (limit {MAX_NOTEBOOK_BYTES // 2**20} MB) — "
            "clear its outputs (Kernel > Restart & Clear All Outputs), save and resubmit")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as err:
        raise NotebookLoadError(f"{path.name}: not a readable text file ({err.__class__.__name__})") from err
    if not text.strip():
        raise NotebookLoadError(f"{path.name}: the file is empty — save the notebook again and resubmit")
    nb = parse_v4(text)
    if nb is None:
        import nbformat

        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception as err:  # nbformat raises several types for bad JSON/schema
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else err.__class__.__name__
            raise NotebookLoadError(f"{path.name}: not a valid Jupyter notebook ({first})") from err
    if not isinstance(nb.get("cells"), list):
        raise NotebookLoadError(f"{path.name}: not a valid Jupyter notebook (no list of cells)")
    return nb


_CELL_TYPES = ("code", "markdown", "raw")


def parse_v4(text: str) -> dict | None:
    """The notebook as plain dicts when ``text`` is a well-formed nbformat 4 notebook, else ``None``.

    Well-formed here means what the loader relies on: a top-level dict with ``nbformat == 4``,
    a dict ``metadata`` and a list of cells, each a dict with a known ``cell_type``, a dict
    ``metadata`` and a string (or list of strings) ``source``. Sources come back joined.
    """
    import json

    try:
        nb = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if type(nb) is not dict or nb.get("nbformat") != 4 or type(nb.get("cells")) is not list:
        return None
    if type(nb.get("metadata", {})) is not dict:
        return None
    for cell in nb["cells"]:
        if type(cell) is not dict or cell.get("cell_type") not in _CELL_TYPES:
            return None
        if type(cell.get("metadata", {})) is not dict:
            return None
        source = cell.get("source", "")
        if type(source) is list and all(type(line) is str for line in source):
            cell["source"] = "".join(source)
        elif type(source) is not str:
            return None
    return nb


def exercise_of(nb, path: str | Path) -> str:
    """The notebook's ``NN_slug``: metadata first, then the file name."""
    meta = nb.get("metadata", {}).get("course", {})
    slug = meta.get("exercise") if isinstance(meta, dict) else None
    if isinstance(slug, str) and slug in EXERCISES:
        return slug
    slug = slug_from_filename(Path(path).name)
    if slug is None:
        raise NotebookLoadError(
            f"{Path(path).name}: cannot tell which exercise this is — the notebook metadata was removed and "
            f"the file name contains no known NN_slug (e.g. 03_kl_and_elbo). Rename the file and resubmit."
        )
    return slug


# ---------------------------------------------------------------- selecting
def _cell_source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def strip_magics(source: str) -> str | None:
    """Comment out IPython line magics and shell escapes; ``None`` for a cell magic we cannot run."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if not lines[0].strip().split()[0] in _CELL_MAGICS_KEPT:
            return None
        lines[0] = "# " + lines[0]
    cleaned = [("# " + ln) if re.match(r"\s*[%!]", ln) else ln for ln in lines]
    return "\n".join(cleaned)


def _defined_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _guess_names(source: str) -> set[str]:
    """Names a cell that does not parse was meant to define (``def f``/``class C``/``f =``)."""
    pattern = r"^(?:def|class)\s+([A-Za-z_]\w*)|^([A-Za-z_]\w*)\s*="
    return {a or b for a, b in re.findall(pattern, source, re.M)}


def _simple_value(node: ast.AST) -> bool:
    """Constants, names, attributes, lambdas and containers of them: safe to evaluate."""
    if isinstance(node, (ast.Constant, ast.Name, ast.Lambda)):
        return True
    if isinstance(node, ast.Attribute):
        return _simple_value(node.value)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_simple_value(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(_simple_value(v) for v in [*node.keys, *node.values] if v is not None)
    if isinstance(node, (ast.UnaryOp, ast.BinOp)):
        return all(_simple_value(c) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr))
    return False


def _keep_answer(node: ast.stmt) -> bool:
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)  # docstrings only, no demo calls
    return isinstance(node, _KEEP_IN_ANSWERS)


def _keep_context(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return node.value is not None and _simple_value(node.value)
    return False


def _filtered(tree: ast.Module, keep) -> ast.Module:
    return ast.Module(body=[n for n in tree.body if keep(n)], type_ignores=[])


@dataclass
class _Selected:
    index: int
    source: str
    tree: ast.Module | None  # None: run ``source`` as is
    names: tuple[str, ...]
    syntax_error: str | None = None


def _is_answer(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return isinstance(meta, dict) and meta.get("solution") is True


def _is_setup(cell) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return isinstance(tags, list) and any(t in SETUP_TAGS for t in tags)


def select_cells(nb, expected: tuple[str, ...] = ()) -> tuple[list[_Selected], str]:
    """The cells to execute, in notebook order, and the mode used to find them."""
    code = [(i, c) for i, c in enumerate(nb["cells"]) if isinstance(c, dict) and c.get("cell_type") == "code"]
    has_metadata = any(_is_answer(c) or _is_setup(c) for _, c in code)
    mode = "metadata" if has_metadata else "fallback"
    selected = []
    for index, cell in code:
        source = strip_magics(_cell_source(cell))
        if source is None:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError as err:
            if has_metadata and not (_is_answer(cell) or _is_setup(cell)):
                continue
            names = _guess_names(source)
            if has_metadata or names & set(expected):
                where = f"line {err.lineno}" if err.lineno else "somewhere"
                selected.append(_Selected(index, source, None, tuple(sorted(names)),
                                          f"SyntaxError in cell {index + 1}, {where}: {err.msg}"))
            continue
        names = _defined_names(tree)
        if has_metadata:
            if _is_setup(cell):
                selected.append(_Selected(index, source, None, tuple(sorted(names))))
            elif _is_answer(cell):
                selected.append(_Selected(index, source, _filtered(tree, _keep_answer), tuple(sorted(names))))
        elif names & set(expected):
            selected.append(_Selected(index, source, _filtered(tree, _keep_answer), tuple(sorted(names))))
        else:
            kept = _filtered(tree, _keep_context)
            if kept.body:
                selected.append(_Selected(index, source, kept, tuple(sorted(_defined_names(kept)))))
    return selected, mode


def setup_imports(nb) -> list[str]:
    """Modules imported at the top level of the notebook's setup cells (``import a.b``, ``from c import d``)."""
    modules = []
    for cell in nb.get("cells", []):
        if not (isinstance(cell, dict) and cell.get("cell_type") == "code" and _is_setup(cell)):
            continue
        try:
            tree = ast.parse(strip_magics(_cell_source(cell)) or "")
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                modules += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.append(node.module)
    return list(dict.fromkeys(modules))


# ---------------------------------------------------------------- executing
def _short_error(err: BaseException, filename: str) -> str:
    """``ExcType: message (line N)`` with the line inside the cell when known."""
    import traceback

    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    text = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    where = f" (line {line})" if line else ""
    return f"{err.__class__.__name__}{': ' + text if text else ''}{where}"


SKIPPED_CELL = ("cell {n} did not finish loading in time and was skipped (an infinite loop or a long "
                "computation at the top level of the cell?)")


def load_notebook(path: str | Path, exercise: str | None = None, strict: bool = False,
                  module_name: str | None = None, skip=(), on_cell=None) -> LoadedNotebook:
    """Execute the setup and graded answer cells of ``path`` into a fresh module.

    ``strict=True`` raises ``NotebookLoadError`` at the first failing cell; otherwise each
    failure is recorded in ``errors`` and the remaining cells still run. ``skip``: indices of
    cells not to run (the grader's worker skips a cell that hung in an earlier attempt; it is
    recorded as an error); ``on_cell(index)`` is called before each cell runs.
    """
    path = Path(path)
    nb = read_notebook(path)
    slug = exercise or exercise_of(nb, path)
    expected = EXERCISES.get(slug, ())
    selected, mode = select_cells(nb, expected)
    module = types.ModuleType(module_name or f"notebook_{slug}")
    module.__file__ = str(path)
    loaded = LoadedNotebook(module, slug, mode)
    for cell in selected:
        loaded.cells.append(cell.index)
        filename = f"{path.name}[cell {cell.index + 1}]"
        if cell.index in skip:
            message = SKIPPED_CELL.format(n=cell.index + 1)
        elif cell.syntax_error:
            message = cell.syntax_error
        else:
            if on_cell is not None:
                on_cell(cell.index)
            try:
                code = compile(cell.tree if cell.tree is not None else cell.source, filename, "exec")
                exec(code, module.__dict__)  # noqa: S102 - running notebook code is this module's job
                continue
            except SyntaxError as err:
                message = f"SyntaxError in cell {cell.index + 1}: {err.msg}"
            except (KeyboardInterrupt, SystemExit) as err:
                message = f"cell {cell.index + 1} tried to stop the program ({err.__class__.__name__})"
            except BaseException as err:  # noqa: BLE001 - report any failure of student code
                message = f"cell {cell.index + 1} raised {_short_error(err, filename)}"
        loaded.errors.append(CellError(cell.index, cell.names, message))
        if strict:
            raise NotebookLoadError(f"{path.name}: {message}")
    return loaded


def load_module(path: str | Path, names=(), exercise: str | None = None) -> types.ModuleType:
    """Strictly load a notebook and return its module, checking that ``names`` exist."""
    loaded = load_notebook(path, exercise=exercise, strict=True)
    missing = loaded.missing(names)
    if missing:
        raise NotebookLoadError(f"{Path(path).name} does not define {', '.join(missing)}")
    return loaded.module


def load_reference(slug: str, root: str | Path | None = None) -> types.ModuleType:
    """The reference implementation of ``slug`` from ``solutions/`` (for lessons and capstones)."""
    folder = Path(root) if root is not None else Path(__file__).resolve().parents[1] / "solutions"
    return load_module(folder / f"{slug}.ipynb", EXERCISES.get(slug, ()), exercise=slug)


def source_of(slug: str, name: str, root: str | Path | None = None) -> str:
    """Source of the reference cell defining ``name`` (solution markers removed), for lessons to show."""
    folder = Path(root) if root is not None else Path(__file__).resolve().parents[1] / "solutions"
    nb = read_notebook(folder / f"{slug}.ipynb")
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        source = _cell_source(cell)
        try:
            tree = ast.parse(strip_magics(source) or "")
        except SyntaxError:
            continue
        if name in _defined_names(tree):
            return "\n".join(ln for ln in source.splitlines() if "### BEGIN SOLUTION" not in ln
                             and "### END SOLUTION" not in ln)
    raise NotebookLoadError(f"{slug}: no cell defines {name}")


def show_source(slug: str, name: str) -> None:
    """Display the reference definition of ``name`` as highlighted code in a notebook (printed elsewhere)."""
    code = source_of(slug, name)
    try:
        from IPython.display import Markdown, display

        display(Markdown(f"```python\n{code}\n```"))
    except ImportError:  # pragma: no cover - outside Jupyter
        print(code)


if __name__ == "__main__":  # pragma: no cover - manual inspection helper
    for arg in sys.argv[1:]:
        result = load_notebook(arg)
        print(arg, result.exercise, result.mode, "cells", result.cells, "errors", result.errors)
