"""Notebook loader: run a notebook's setup cells and the definitions of every other cell into a fresh module.

Which cells, in notebook order:

* cells tagged ``setup`` (imports, code given from earlier lessons) run as written;
* the course's own self-check cells (nbgrader or ``course`` metadata, not setup or answer) never run;
* graded answer cells (nbgrader ``solution: true``) and every cell without course metadata (the
  course's demos and any cell the student added) run filtered, one rule for all of them below.
  When an editor stripped the metadata, the cells that define an expected name are the answer
  cells and the others are treated like cells without course metadata, so a notebook grades the
  same with or without its metadata.

Which top-level statements of a filtered cell (demos, training loops and plots never run):

* always: imports, ``def``/``class``, docstrings, ``pass``/``global``, assignments of literals
  (``SCALE = 2``, ``SPEC = [(1, 8), (8, 16)]``); in answer cells also every assignment and
  ``if``/``try`` block (as before);
* only when needed: other assignments, ``for``/``while``/``with``/``if``/``try`` blocks and method
  calls such as ``SPEC.append(...)`` run when a function or class defined in the notebook (or a
  graded name) reads a module-level name they set, directly or through other such statements (a
  backward slice from the definitions). ``SPEC = []`` plus a loop filling it for a class runs; a
  training loop, ``history = fit(...)`` or ``model = VAE()`` that no definition reads does not;
* never: other expression statements (``print(...)``, ``plt.show()``, ``train(model)``), ``assert``, ``del``.

Nothing is dropped silently: ``LoadedNotebook.skipped`` lists each statement left out (cell, line,
names it would set), and ``LoadedNotebook.note_for(name_error)`` turns a later ``NameError`` into a
note naming the statement (or the failed cell) responsible; load-time NameErrors carry it already.
A cell that does not parse (a syntax error, or a parser ``MemoryError``/``RecursionError`` on
pathological source) is reported for that cell only; the other cells still load.

Shared by the autograder worker, the capstone command, the lessons and the tests.
"""
from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
import tokenize
import types
from dataclasses import dataclass, field
from pathlib import Path

from .curriculum import EXERCISES, slug_from_filename

SETUP_TAGS = ("setup", "given")
MAX_NOTEBOOK_BYTES = 50 * 2**20
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
class SkippedStatement:
    """A top-level statement of a loaded cell that the loader did not run, and the names it would set."""

    cell: int  # 0-based index of the cell in the notebook
    line: int  # 1-based line inside the cell
    kind: str  # "for loop", "assignment", "expression", ...
    names: tuple[str, ...]


@dataclass
class LoadedNotebook:
    module: types.ModuleType
    exercise: str | None
    mode: str  # "metadata" or "fallback"
    cells: list[int] = field(default_factory=list)  # indices of the executed code cells
    errors: list[CellError] = field(default_factory=list)
    skipped: list[SkippedStatement] = field(default_factory=list)  # top-level statements not run
    inert: dict[str, int] = field(default_factory=dict)  # name -> the course self-check cell (never run) defining it

    def skipped_lines(self, cell: int) -> list[int]:
        """Lines (1-based) of the top-level statements of cell ``cell`` (0-based) that were not run."""
        return [s.line for s in self.skipped if s.cell == cell]

    def missing(self, names) -> list[str]:
        return [n for n in names if not hasattr(self.module, n)]

    def error_for(self, name: str) -> CellError | None:
        """The failure of the cell that should have defined ``name``, if any."""
        for err in self.errors:
            if name in err.names:
                return err
        return None

    def note_for(self, failure) -> str:
        """A note to append to a failure about an undefined name, or ``""`` when loading does not explain it.

        ``failure``: a ``NameError``, its message (``name 'SPEC' is not defined``) or the name itself.
        The note says which cell meant to define the name and failed, or which top-level statement
        that sets it the loader did not run (and why).
        """
        if isinstance(failure, BaseException):
            if not isinstance(failure, NameError):
                return ""
            name = getattr(failure, "name", None)
        else:
            name = str(failure) if str(failure).isidentifier() else None
        if name is None:
            found = re.search(r"name '(\w+)' is not defined", error_text(failure) if isinstance(failure, BaseException)
                              else str(failure))
            name = found.group(1) if found else None
        if not name:
            return ""
        err = self.error_for(name)
        if err is not None:
            return f" (note: cell {err.cell + 1}, which defines {name}, did not load: {err.message})"
        setters = [s for s in self.skipped if name in s.names]
        if not setters and name in self.inert:
            return (f" (note: {name} is defined in cell {self.inert[name] + 1}, one of the course's self-check cells, "
                    f"which the grader never runs; move {name} into your answer cell or a cell of your own)")
        if not setters:
            return ""
        where = "; ".join(f"cell {s.cell + 1}, line {s.line} ({s.kind})" for s in setters[:3])
        return (f" (note: the grader did not run the top-level code that sets {name}: {where}. It runs imports, "
                f"definitions, literal assignments, assignments in answer cells, and other top-level code only "
                f"when a function or class needs a name it sets; set {name} in an answer cell or inside a function)")


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
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors, PowerShell) is dropped
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
            if isinstance(err, (TypeError, AttributeError, KeyError)):  # nbformat's own code tripped on odd structure
                first = ("its structure is damaged: the notebook's or a cell's metadata, cells or source has the "
                         f"wrong type ({err.__class__.__name__}); open it in Jupyter, save it again and resubmit")
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
    name = Path(path).name
    # as written, then as people and upload tools rename files: other case, hyphens or spaces for underscores
    slug = slug_from_filename(name) or slug_from_filename(re.sub(r"[\s\-]+", "_", name.lower()))
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


_NEWLINES = re.compile(r"\r\n|\r|\n")  # Python's own line ends (str.splitlines also splits at \f, \x1c, U+2028, ...)
# IPython-only lines where a statement starts: a line magic or shell escape (``%time f()``, ``!pip ...``), help
# (``?obj``, ``obj.attr?``, ``obj??``) and the assignment forms (``files = !ls``, ``t = %timeit -o f()``). None is
# valid Python there (Python has no ``?`` token and no expression starts with ``%`` or ``!``).
_IPYTHON_LINE = re.compile(
    r"\s*(?:[%!?]"
    r"|%{0,2}[A-Za-z_*][\w*]*(?:\.[A-Za-z_*][\w*]*|\[\d+\])*\s*\?{1,2}\s*$"
    r"|[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[%!])")


def strip_magics(source: str) -> str | None:
    """Neutralise IPython-only lines (magics, shell escapes, ``obj?`` help); ``None`` for a cell magic we cannot run.

    A line at the top level becomes a comment; an indented one becomes ``pass`` at its indentation, so that a
    block holding only a magic (``if IN_COLAB:`` / ``    !pip install x``) still parses, as it runs in IPython.
    Lines are split at Python's own line ends only: a form feed or U+2028 inside a string or a comment is kept.
    """
    lines = _NEWLINES.split(source)
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)  # IPython drops leading blank lines
    if first is not None and lines[first].lstrip().startswith("%%"):
        if not lines[first].strip().split()[0] in _CELL_MAGICS_KEPT:
            return None
        lines[first] = "# " + lines[first]
    cleaned, since = [], []  # since: the lines after the last magic (whole statements, or one left open)
    for ln in lines:
        if _IPYTHON_LINE.match(ln) and not _inside_statement(since):  # tokenized only here: linear in practice
            indent = ln[:len(ln) - len(ln.lstrip())]
            cleaned.append(f"{indent}pass  # {ln.lstrip()}" if indent else "# " + ln)  # only where a statement may start
            since = []
            continue
        cleaned.append(ln)
        since.append(ln)
    return "\n".join(cleaned)


def _inside_statement(lines: list[str]) -> bool:
    """Whether ``lines`` leave a statement open: an unclosed bracket or string, or a trailing backslash.

    A line after them is a continuation (``    != True)`` in black's style), not a new statement, so a
    leading ``%`` or ``!`` there is Python, as in IPython, which only transforms escapes that begin a
    logical line. Indentation is dropped first, so only brackets, strings and backslashes count.
    """
    if not lines:
        return False
    text = "\n".join(ln.lstrip() for ln in lines) + "\n"
    try:
        for _ in tokenize.generate_tokens(io.StringIO(text).readline):
            pass
    except tokenize.TokenError as err:  # EOF in a multi-line statement or string (3.12+: other errors too)
        message = str(err.args[0] if err.args else err).lower()
        return "eof" in message or "multi-line" in message or "triple-quoted" in message
    except SyntaxError:  # a line Python cannot read at all: the statement ends with it
        return False
    return False


_TOO_DEEP = ("Python could not parse this cell ({error}: an expression is nested or chained too deeply); "
             "split it into smaller statements")


def _parse(source: str) -> tuple[ast.Module | None, SyntaxError | None, str | None]:
    """``(tree, syntax_error, other_reason)``: pathological sources (``x = ------...1``) make the parser
    itself give up with ``MemoryError``/``RecursionError``; that is reported like a syntax error."""
    try:
        return ast.parse(source), None, None
    except SyntaxError as err:
        return None, err, None
    except UnicodeError as err:  # a lone surrogate (half of an emoji) cannot be encoded for the parser
        return None, None, f"Python could not read a character of this cell ({err.__class__.__name__}: {err.reason}, " \
                           f"position {err.start}); retype or delete the odd character (half of an emoji?)"
    except (MemoryError, RecursionError, ValueError) as err:
        return None, None, _TOO_DEEP.format(error=err.__class__.__name__)


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
    names = {a or b for a, b in re.findall(pattern, source, re.M)}
    for imported in re.findall(r"^(?:from\s+[\w.]+\s+)?import\s+\(?([\w., \t]+)", source, re.M):  # one line each
        for alias in imported.split(","):
            words = alias.split()
            if words and words[0] != "*":
                names.add(words[-1] if len(words) == 3 and words[1] == "as" else words[0].split(".")[0])
    return {n for n in names if n.isidentifier()}


# Which names a statement reads and sets, scope-aware enough to tell a module-level ``SPEC`` from a
# function's local ``loss``: a backward slice from the definitions decides which top-level code runs.
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _base_name(node: ast.AST) -> str | None:
    """``SPEC`` for ``SPEC``, ``SPEC[0].x``, ``SPEC.layers``; ``None`` for ``f(x).y`` (no name at the root)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _called_on(node: ast.AST) -> str | None:
    """``SPEC`` for the statement ``SPEC.append(x)``: the name a method called as a statement may change."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
        return _base_name(node.value.func.value)
    return None


def _scan(nodes) -> tuple[set[str], set[str], set[str]]:
    """``(reads, binds, mutates)`` of ``nodes`` in their own scope; nested scopes add their free reads.

    ``mutates``: names whose object is changed in place (``X[k] = v``, ``X.a = v``, a statement ``X.append(v)``).
    """
    reads, binds, mutates = set(), set(), set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, _DEFS):
            binds.add(node.name)
            reads |= _free_reads(node)
            continue
        if isinstance(node, (*_FUNCTIONS, *_COMPREHENSIONS)):
            reads |= _free_reads(node)
            continue
        if isinstance(node, ast.Name):
            (reads if isinstance(node.ctx, ast.Load) else binds).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            binds |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            binds.add(node.name)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
            mutates.add(_base_name(node))
        elif isinstance(node, ast.Expr):
            mutates.add(_called_on(node))
        todo.extend(ast.iter_child_nodes(node))
    mutates.discard(None)
    return reads, binds, mutates


def _free_reads(node: ast.AST) -> set[str]:
    """Names a function, lambda, class or comprehension reads from the enclosing (module) scope."""
    if isinstance(node, ast.ClassDef):
        outer, _, _ = _scan([*node.bases, *node.keywords, *node.decorator_list])
        reads, binds, _ = _scan(node.body)
        return outer | (reads - binds)
    if isinstance(node, _COMPREHENSIONS):
        reads, binds, _ = _scan(list(ast.iter_child_nodes(node)))
        return reads - binds
    args = node.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    params = {a.arg for a in params if a is not None}
    annotations = [a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs] if a.annotation]
    outside = [*args.defaults, *(d for d in args.kw_defaults if d is not None), *annotations]
    if isinstance(node, ast.Lambda):
        body = [node.body]
    else:
        body = node.body
        outside += [*node.decorator_list, *([node.returns] if node.returns else [])]
    outer, _, _ = _scan(outside)
    reads, binds, _ = _scan(body)
    declared = {n for stmt in body for sub in ast.walk(stmt) if isinstance(sub, ast.Global) for n in sub.names}
    return outer | (reads - ((binds | params) - declared))


_ALWAYS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass, ast.Global)
_TRY = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)
_ANSWER_ALWAYS = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.If, *_TRY)
_BLOCKS = (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.If, *_TRY)
_IF_NEEDED = (ast.Assign, ast.AnnAssign, ast.AugAssign, *_BLOCKS)
_KIND = {ast.For: "for loop", ast.AsyncFor: "for loop", ast.While: "while loop", ast.With: "with block",
         ast.AsyncWith: "with block", ast.If: "if block", ast.Assign: "assignment", ast.AnnAssign: "assignment",
         ast.AugAssign: "assignment", ast.Expr: "expression", ast.Assert: "assert", ast.Delete: "del statement",
         **{t: "try block" for t in _TRY}}


def _literal_assignment(node: ast.stmt) -> bool:
    """``NAME = <literal>`` (numbers, strings, containers of them): it can neither fail nor take time."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign):
        targets, value = [node.target], node.value
    else:
        return False
    literal = (ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.UnaryOp, ast.unaryop, ast.expr_context)
    return (value is None or all(isinstance(n, literal) for n in ast.walk(value))) and all(
        isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.expr_context)) for t in targets for n in ast.walk(t))


def _policy(node: ast.stmt, answer: bool) -> str:
    """``"run"``, ``"if_needed"`` (only when a definition depends on what it sets) or ``"skip"``."""
    if isinstance(node, _ALWAYS):
        return "run"
    if isinstance(node, ast.Expr):
        if isinstance(node.value, ast.Constant):
            return "run"  # a docstring
        return "if_needed" if _called_on(node) else "skip"  # SPEC.append(...) may build; print(...) never does
    if _literal_assignment(node):
        return "run"
    if answer and isinstance(node, _ANSWER_ALWAYS):
        return "run"
    return "if_needed" if isinstance(node, _IF_NEEDED) else "skip"


def _top_definitions(node: ast.stmt):
    """Function and class definitions at module scope inside ``node`` (itself, or within a block)."""
    if isinstance(node, _DEFS):
        yield node
    elif isinstance(node, _BLOCKS):
        children = [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", [])]
        children += [stmt for handler in getattr(node, "handlers", []) for stmt in handler.body]
        for child in children:
            yield from _top_definitions(child)


@dataclass
class _Statement:
    cell: int
    node: ast.stmt
    policy: str
    reads: set[str]
    writes: set[str]
    seeds: set[str]  # what its function/class definitions read: always needed when it runs


def _analyse(cell: int, tree: ast.Module, answer: bool) -> list[_Statement]:
    statements = []
    for node in tree.body:
        reads, binds, mutates = _scan([node])
        if isinstance(node, _BLOCKS):
            reads -= binds  # a loop's own counters and temporaries are not needed from elsewhere
        seeds = set().union(*(_free_reads(d) for d in _top_definitions(node)))
        statements.append(_Statement(cell, node, _policy(node, answer), reads, binds | mutates, seeds))
    return statements


def _slice(statements: list[_Statement], expected, imported: set[str]) -> set[int]:
    """Ids of the ``if_needed`` statements that set a name a running definition (or a graded name) needs."""
    writers: dict[str, list[_Statement]] = {}
    for stmt in statements:
        if stmt.policy != "skip":
            for name in stmt.writes - (imported if stmt.policy == "if_needed" else set()):
                writers.setdefault(name, []).append(stmt)
    needed = set(expected).union(*(s.seeds for s in statements if s.policy == "run"))
    queue, done = list(needed), set()
    while queue:
        for stmt in writers.get(queue.pop(), ()):
            if id(stmt) in done:
                continue
            done.add(id(stmt))
            fresh = (stmt.reads | stmt.seeds) - needed
            needed |= fresh
            queue.extend(fresh)
    return {id(s) for s in statements if s.policy == "if_needed" and id(s) in done}


@dataclass
class _Selected:
    index: int
    source: str
    tree: ast.Module | None  # None: run ``source`` as is
    names: tuple[str, ...]
    syntax_error: str | None = None
    setup: bool = False  # a course-given setup cell: its code is compiled as ``name.ipynb[setup cell N]``


def _is_answer(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return isinstance(meta, dict) and meta.get("solution") is True


def _is_setup(cell) -> bool:
    """Tagged ``setup``, or, when a tool dropped the tags but kept nbgrader's metadata, an nbgrader read-only
    cell (locked, neither an answer nor graded): in the course only setup cells are read-only."""
    meta = cell.get("metadata", {})
    tags = meta.get("tags", [])
    if isinstance(tags, list) and any(t in SETUP_TAGS for t in tags):
        return True
    nbgrader, course = meta.get("nbgrader"), meta.get("course")
    return (isinstance(nbgrader, dict) and nbgrader.get("locked") is True and nbgrader.get("solution") is False
            and nbgrader.get("grade") is False and not isinstance(course, dict))


def _is_course_cell(cell) -> bool:
    """Cells the course wrote and marked: setup, answer, self-check (nbgrader or ``course`` metadata)."""
    meta = cell.get("metadata", {})
    return _is_setup(cell) or any(isinstance(meta.get(key), dict) for key in ("nbgrader", "course"))


def _plan(nb, expected: tuple[str, ...] = ()) -> tuple[list[_Selected], str, list[SkippedStatement], dict[str, int]]:
    """The cells to execute (in notebook order), the mode, the top-level statements left out, and the names
    defined in the course's self-check cells (which never run)."""
    code = [(i, c) for i, c in enumerate(nb["cells"]) if isinstance(c, dict) and c.get("cell_type") == "code"]
    has_metadata = any(_is_answer(c) or _is_setup(c) for _, c in code)
    mode = "metadata" if has_metadata else "fallback"
    plans = []  # (index, source, kind, tree, statements)
    selected: list[_Selected] = []
    inert: dict[str, int] = {}
    for index, cell in code:
        if has_metadata and _is_course_cell(cell) and not (_is_answer(cell) or _is_setup(cell)):
            tree = _parse(strip_magics(_cell_source(cell)) or "")[0]  # the course's own self-check cells: not run
            for name in _defined_names(tree) if tree is not None else ():
                inert.setdefault(name, index)
            continue
        source = strip_magics(_cell_source(cell))
        if source is None:
            continue
        kind = "setup" if has_metadata and _is_setup(cell) else "answer" if has_metadata and _is_answer(cell) else "other"
        tree, err, reason = _parse(source)
        if tree is not None:
            try:
                if not has_metadata and _defined_names(tree) & set(expected):
                    kind = "answer"
                statements = [] if kind == "setup" else _analyse(index, tree, kind == "answer")
            except (RecursionError, MemoryError) as failure:
                tree, reason = None, _TOO_DEEP.format(error=failure.__class__.__name__)
        if tree is None:
            names = _guess_names(source)
            if kind != "other" or names:
                where = f"line {err.lineno}" if err is not None and err.lineno else "somewhere"
                message = (f"SyntaxError in cell {index + 1}, {where}: {err.msg}" if err is not None
                           else f"cell {index + 1}: {reason}")
                selected.append(_Selected(index, source, None, tuple(sorted(names)), message))
            continue
        plans.append((index, source, kind, tree, statements))
    everything = [s for *_, statements in plans for s in statements]
    imported = set()  # module names: ``torch.manual_seed(0)`` builds nothing a definition needs
    for _, _, _, tree, _ in plans:
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported |= _scan([node])[1]
    wanted = _slice(everything, expected, imported)
    skipped = []
    for index, source, kind, tree, statements in plans:
        if kind == "setup":
            selected.append(_Selected(index, source, None, tuple(sorted(_defined_names(tree))), setup=True))
            continue
        keep = [s.node for s in statements if s.policy == "run" or id(s) in wanted]
        kept_ids = {id(node) for node in keep}
        skipped += [SkippedStatement(index, s.node.lineno, _KIND.get(type(s.node), type(s.node).__name__.lower()),
                                     tuple(sorted(s.writes))) for s in statements if id(s.node) not in kept_ids]
        kept = ast.Module(body=keep, type_ignores=[])
        if kind == "answer":
            selected.append(_Selected(index, source, kept, tuple(sorted(_defined_names(tree)))))
        elif keep:
            selected.append(_Selected(index, source, kept, tuple(sorted(_defined_names(kept)))))
    selected.sort(key=lambda s: s.index)
    return selected, mode, skipped, inert


def setup_imports(nb) -> list[str]:
    """Modules imported at the top level of the notebook's setup cells (``import a.b``, ``from c import d``)."""
    modules = []
    for cell in nb.get("cells", []):
        if not (isinstance(cell, dict) and cell.get("cell_type") == "code" and _is_setup(cell)):
            continue
        tree = _parse(strip_magics(_cell_source(cell)) or "")[0]
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                modules += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.append(node.module)
    return list(dict.fromkeys(modules))


# ---------------------------------------------------------------- executing
def error_text(err: BaseException) -> str:
    """``str(err)``, or words saying it could not be shown: a student's exception class may define a ``__str__``
    that itself raises (an attribute never set), and reporting the error must not fail on it."""
    try:
        text = str(err)
    except Exception as inner:  # noqa: BLE001 - any __str__ of student code
        return f"(its message could not be shown: its __str__ raised {inner.__class__.__name__})"
    return text if isinstance(text, str) else ""


_CELL_FILE = re.compile(r"\[(setup )?cell (\d+)\]$")


def cell_filename(notebook: str, index: int, setup: bool = False) -> str:
    """The file name a cell's code is compiled under: ``name.ipynb[cell 4]``, ``name.ipynb[setup cell 2]``."""
    return f"{notebook}[{'setup ' if setup else ''}cell {index + 1}]"


def location_in_notebook(tb) -> str:
    """`` (cell 7, line 4)`` for the innermost frame of a traceback in a cell the student writes; when the error
    surfaced inside code the course gives in a setup cell, the student's calling line is named first, with the
    helper: `` (cell 7, line 4, inside sample_noise of setup cell 2)``; `` (setup cell 2, line 3)`` when no
    student frame called it; "" outside a notebook."""
    import traceback

    answer = setup = None
    for frame in reversed(traceback.extract_tb(tb)):
        found = _CELL_FILE.search(frame.filename or "")
        if not found:
            continue
        if found.group(1) and setup is None and answer is None:
            setup = (found.group(2), frame)
        elif not found.group(1):
            answer = (found.group(2), frame)
            break
    if answer is not None:
        inside = f", inside {setup[1].name} of setup cell {setup[0]}" if setup is not None else ""
        return f" (cell {answer[0]}, line {answer[1].lineno}{inside})"
    if setup is not None:
        return f" (setup cell {setup[0]}, line {setup[1].lineno})"
    return ""


def _short_error(err: BaseException, filename: str) -> str:
    """``ExcType: message (line N)`` with the line inside the cell when known."""
    import traceback

    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    message = error_text(err).strip()
    text = message.splitlines()[0][:300] if message else ""
    where = f" (line {line})" if line else ""
    return f"{err.__class__.__name__}{': ' + text if text else ''}{where}"


def _loaded_before(cell: _Selected, err: BaseException, filename: str) -> str:
    """``"; Encoder, defined above line 9, loaded ..."``: the cell's definitions that ran before the statement that failed.

    A demo at the end of an answer cell (``x = load_dataset(...)``: the grader gives notebooks no data) fails
    after the graded definitions ran; the note says so, so the student is not left wondering about a score.
    """
    import traceback

    if cell.tree is None:
        return ""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
    if not frames or not frames[0].lineno:
        return ""
    line = frames[0].lineno  # the outermost frame in the cell: the top-level statement that was running
    names = [node.name for node in cell.tree.body if isinstance(node, _DEFS) and (node.end_lineno or node.lineno) < line]
    if not names:
        return ""
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return (f"; {shown}, defined above line {line}, loaded and {'is' if len(names) == 1 else 'are'} graded: only "
            f"the top-level code from line {line} on did not run")


def _ipython_stand_ins() -> dict:
    """``get_ipython`` and ``display``, the names IPython gives every notebook: ``get_ipython()`` answers
    ``None`` as outside a notebook (``'google.colab' in str(get_ipython())`` is False), ``display`` shows nothing."""

    def get_ipython():
        return None

    def display(*objs, **kwargs):
        return None

    return {"get_ipython": get_ipython, "display": display}


@contextlib.contextmanager
def _registered(module: types.ModuleType):
    """The notebook's module in ``sys.modules`` while its cells run, as Jupyter's ``__main__`` is: ``@dataclass``
    (and ``typing.NamedTuple``, ``enum``...) look the class's module up there when the class is created. Taken
    out again afterwards, so nothing later mistakes the notebook's classes for an importable module's; a module
    of that name that is already there is left alone."""
    name = module.__name__
    if name in sys.modules:
        yield
        return
    sys.modules[name] = module
    try:
        yield
    finally:
        if sys.modules.get(name) is module:
            del sys.modules[name]


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
    selected, mode, skipped, inert = _plan(nb, expected)
    module = types.ModuleType(module_name or f"notebook_{slug}")
    module.__file__ = str(path)
    module.__dict__.update(_ipython_stand_ins())
    loaded = LoadedNotebook(module, slug, mode, skipped=skipped, inert=inert)
    with _registered(module):
        _run_cells(loaded, selected, path, strict, skip, on_cell)
    return loaded


def _run_cells(loaded: LoadedNotebook, selected: list[_Selected], path: Path, strict: bool, skip, on_cell) -> None:
    module = loaded.module
    for cell in selected:
        loaded.cells.append(cell.index)
        filename = cell_filename(path.name, cell.index, cell.setup)
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
                if isinstance(err, NameError):
                    message += loaded.note_for(err)
                message += _loaded_before(cell, err, filename)
        loaded.errors.append(CellError(cell.index, cell.names, message))
        if strict:
            raise NotebookLoadError(f"{path.name}: {message}")


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
        tree = _parse(strip_magics(source) or "")[0]
        if tree is None:
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
