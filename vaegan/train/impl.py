"""``--impl solutions|exercises|DIR``: the graded names the capstone engine trains with.

Each name is taken from the notebook whose graded items include it (``VAE`` from
``04_decoder_and_vae``, ``vae_train_step`` from ``05_training_the_vae``, ...), found in
the chosen folder as ``NN_slug.ipynb`` (or, failing that, the newest ``*.ipynb`` whose
file name contains that ``NN_slug``). A later notebook that merely *gives* the name in
its read-only setup cell never wins: training with ``--impl exercises`` must train the
student's own code, not the reference copy pasted into a later notebook.

A name that is missing, fails to load or is still the exercise stub
(``raise NotImplementedError()``) raises one ``ImplementationError`` listing every
problem, e.g. ``VAE in exercises/04_decoder_and_vae.ipynb raises NotImplementedError:
finish exercise 04 first``.
"""
from __future__ import annotations

import os
import types
from dataclasses import dataclass, field
from pathlib import Path

from ..curriculum import EXERCISES, slug_from_filename
from ..notebooks import NotebookLoadError, load_notebook

REPO = Path(__file__).resolve().parents[2]
NAMED_FOLDERS = ("solutions", "exercises")

VAE_NAMES = ("VAE", "vae_train_step", "vae_evaluate")
GAN_NAMES = ("Generator", "Discriminator", "gan_train_step", "weights_init", "make_optimizers")


class ImplementationError(RuntimeError):
    """A graded item the engine needs is missing, broken or still a stub; the message says which and where."""


@dataclass
class Impl:
    """Graded names as attributes (``impl.VAE``), with where each came from."""

    spec: str
    folder: Path | None
    names: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)  # name -> notebook path

    def __getattr__(self, name):
        names = self.__dict__.get("names", {})
        if name in names:
            return names[name]
        raise AttributeError(f"implementation {self.spec!r} does not provide {name!r}")

    def describe(self) -> dict:
        """Plain-data summary for ``metrics.json``."""
        return {"spec": self.spec, "folder": str(self.folder) if self.folder else None,
                "notebooks": {n: _display(p) for n, p in self.sources.items()}}


def owner_of(name: str) -> str:
    """The ``NN_slug`` whose graded items include ``name``."""
    for slug, names in EXERCISES.items():
        if name in names:
            return slug
    raise KeyError(f"{name!r} is not a graded item of any exercise")


def impl_folder(spec: str | os.PathLike) -> Path:
    """``solutions``/``exercises`` are the repository's folders; anything else is a path (``.`` = here)."""
    text = str(spec)
    if text in NAMED_FOLDERS:
        folder = REPO / text
    else:
        folder = Path(text).expanduser()
    if not folder.is_dir():
        hint = " (solutions/exercises are the course repository's folders)" if text in NAMED_FOLDERS else ""
        raise ImplementationError(f"--impl {text}: {folder} is not a folder{hint}")
    return folder.resolve()


def find_notebook(folder: Path, slug: str) -> Path | None:
    """``folder/NN_slug.ipynb``, else the newest notebook whose name contains ``NN_slug``."""
    exact = folder / f"{slug}.ipynb"
    if exact.is_file():
        return exact
    candidates = [p for p in folder.glob("*.ipynb") if p.is_file() and slug_from_filename(p.name) == slug]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _display(path: Path | None) -> str:
    """A short path for messages: relative to the course repository, else to the working folder, when possible."""
    if path is None:
        return "?"
    path = Path(path)
    for base in (REPO, Path.cwd()):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def _notebook_codes(obj) -> list:
    """Code objects of ``obj`` (a function, or a class's methods) that were written in a notebook cell."""
    funcs = []
    if isinstance(obj, types.FunctionType):
        funcs.append(obj)
    elif isinstance(obj, type):
        for value in vars(obj).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            if isinstance(value, types.FunctionType):
                funcs.append(value)
    return [f.__code__ for f in funcs if ".ipynb[cell" in f.__code__.co_filename]


def _raises_not_implemented(code: types.CodeType) -> bool:
    if "NotImplementedError" in code.co_names:
        return True
    return any(isinstance(c, types.CodeType) and _raises_not_implemented(c) for c in code.co_consts)


def is_stub(obj) -> bool:
    """True when ``obj`` (or one of its methods) still raises ``NotImplementedError`` (the exercise stub)."""
    return any(_raises_not_implemented(code) for code in _notebook_codes(obj))


_CACHE: dict = {}


def _load(path: Path):
    """Load a notebook once per (path, modification time): tests and demos resolve the same folder often."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        _CACHE[key] = load_notebook(path, exercise=slug_from_filename(path.name), strict=False)
    return _CACHE[key]


def resolve_impl(spec: str | os.PathLike | Impl = "solutions", names=VAE_NAMES) -> Impl:
    """The graded ``names`` from the notebooks in ``spec``'s folder, or one ``ImplementationError``."""
    if isinstance(spec, Impl):
        return spec
    if not isinstance(spec, (str, os.PathLike)):  # a namespace of graded names (tests pass doubles)
        missing = [n for n in names if not hasattr(spec, n)]
        if missing:
            raise ImplementationError(f"the implementation {spec!r} lacks {', '.join(missing)}")
        return spec
    folder = impl_folder(spec)
    impl = Impl(str(spec), folder)
    problems = []
    for name in names:
        slug = owner_of(name)
        number = slug[:2]
        path = find_notebook(folder, slug)
        if path is None:
            problems.append(f"{name}: no {slug}.ipynb in {_display(folder)} (exercise {number} defines it)")
            continue
        where = f"{name} in {_display(path)}"
        try:
            loaded = _load(path)
        except NotebookLoadError as err:
            problems.append(f"{where} cannot be loaded: {err}")
            continue
        if not hasattr(loaded.module, name):
            failure = loaded.error_for(name)
            reason = f"does not load: {failure.message}" if failure else "is not defined"
            problems.append(f"{where} {reason}: finish exercise {number} first")
            continue
        value = getattr(loaded.module, name)
        if is_stub(value):
            problems.append(f"{where} raises NotImplementedError: finish exercise {number} first")
            continue
        impl.names[name] = value
        impl.sources[name] = path
    if problems:
        raise ImplementationError("\n".join(problems))
    return impl


def explain_not_implemented(impl: Impl, err: NotImplementedError) -> ImplementationError:
    """Turn a ``NotImplementedError`` raised while training into the same clear message."""
    import traceback

    sources = getattr(impl, "sources", None) or {}
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        here = [n for n, p in sources.items() if f"{Path(p).name}[cell" in frame.filename]
        if here:
            name = frame.name if frame.name in here else "/".join(here)
            path = sources[here[0]]
            return ImplementationError(
                f"{name} in {_display(path)} raises NotImplementedError (in {frame.name}): "
                f"finish exercise {owner_of(here[0])[:2]} first"
            )
    spec = getattr(impl, "spec", type(impl).__name__)
    return ImplementationError(f"the implementation {spec!r} raised NotImplementedError: {err}")
