"""What the probes run on, kept as it was before student code: found changed, put back and named.

The probes run in the worker beside the student's code, so that code can reach them: replace a
method of a check's recorder (``_Logged._record = lambda self: ...``), a function of a check module,
the ``probe`` of a check, ``torch.is_grad_enabled`` or ``os.write``. ``Snapshot.take`` records, before
the notebook is loaded:

- every attribute of the grader's own modules (``autograder``, ``vaegan``), and every entry of the
  classes they define, with each function's code, defaults and closure cells;
- the callables, classes and submodules of the library namespaces the probes call through
  (``LIBRARIES``: ``torch``, ``torch.nn``, ``torch.nn.functional``, ``torch.optim``, NumPy, SciPy's
  ``linalg``, the standard modules...), the entries of their classes that are not plain data and the
  code and defaults of their functions; a few entries (``STRICT``: ``torch.is_grad_enabled``,
  ``nn.Module.__call__``, ``train``, ``os.write``...) may not change at all;
- the attributes of the checks themselves (``objects``).

``restore`` compares with the record, puts every changed entry back, removes added ones, and
returns their dotted names. The worker calls it after loading the notebook (the changes are undone
and reported in a note) and after every probe (a probe during which anything changed is not
trusted). Not changes: Python's bookkeeping (``__warningregistry__``, ``__slotnames__``), a submodule
imported later, a library's data flags (``torch.backends.cudnn.benchmark``), a helper the notebook
adds to a library class unless it hides an inherited entry, and a library entry replaced by the
library's own code (PyTorch hooks ``Optimizer.step`` of each optimizer class it first builds, and its
lazy imports patch classes). Library modules outside ``LIBRARIES`` are not watched: scanning all 900
of torch's would make every worker touch, and so copy, most of the heap it shares with its zygote.

This raises the bar, it does not make the worker a trusted place: code that sets out to can still
write events of its own to the result pipe, or replace this module's helpers before they run. The
checks' verdicts are computed in the parent, from what the probes report.
"""
from __future__ import annotations

import functools
import os
import site
import sys
import types
import warnings
from dataclasses import dataclass, field

GRADER = ("autograder", "vaegan")
LIBRARIES = (  # the library modules whose namespaces the probes call through, by exact name (all of torch's
    # 900 modules would make every worker touch, and so copy, most of the heap it shares with its zygote)
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.modules.module", "torch._tensor", "torch.functional",
    "torch.autograd", "torch.autograd.grad_mode", "torch.random", "torch.optim", "torch.optim.optimizer",
    "torch.nn.init", "torch.nn.utils", "torch.nn.utils.clip_grad", "numpy", "numpy.linalg", "numpy.random",
    "scipy", "scipy.linalg", "scipy.special", "builtins", "json", "os", "sys", "math", "copy", "functools",
    "itertools", "operator", "contextlib", "random", "types", "inspect", "re", "io", "gc", "time")
_MISSING = object()


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _ours(name) -> bool:
    return isinstance(name, str) and _top(name) in GRADER


def _trusted_roots() -> tuple[str, ...]:
    """Folders whose code may change a library: the standard library, the installed packages, the grader."""
    import autograder
    import vaegan

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.__file__),
             os.path.dirname(autograder.__file__), os.path.dirname(vaegan.__file__)}
    try:  # not the user's site-packages: under the worker's HOME, which the notebook can write
        roots.update(site.getsitepackages())
    except AttributeError:  # a virtualenv's old site module
        pass
    for name in ("torch", "numpy", "scipy"):
        module = sys.modules.get(name)
        if getattr(module, "__file__", None):
            roots.add(os.path.dirname(os.path.dirname(module.__file__)))
    return tuple(sorted({os.path.realpath(r) + os.sep for r in roots if r}))


def _foreign(value, roots: tuple[str, ...]) -> bool:
    """Whether ``value`` was written outside the libraries and the grader (in the notebook): the Python
    function behind it (through properties, static and class methods and bound methods) has its code in
    another file, or it is a class or callable object defined elsewhere. A partial is judged by its
    function, and one of a built-in or a class is foreign (``functools.partial(bool, 0)`` answers what the
    notebook chose); a built-in function counts as the libraries' own here, and the caller treats a
    built-in replaced by another as a change."""
    for _ in range(4):
        if isinstance(value, property):
            value = value.fget
        elif isinstance(value, (staticmethod, classmethod, types.MethodType)):
            value = value.__func__
        else:
            break
    if isinstance(value, functools.partial):  # PyTorch makes some (Placement.__eq__); partial(bool, 0) is not its
        return isinstance(value.func, (types.BuiltinFunctionType, type)) or _foreign(value.func, roots)
    if isinstance(value, types.FunctionType):
        filename = value.__code__.co_filename
    elif isinstance(value, type) or (callable(value) and not isinstance(value, types.BuiltinFunctionType)):
        klass = value if isinstance(value, type) else type(value)
        filename = getattr(sys.modules.get(getattr(klass, "__module__", "")), "__file__", None) or ""
        if not filename:
            return not isinstance(klass.__module__, str) or _top(klass.__module__) not in GRADER + LIBRARIES
    else:
        return False
    return not os.path.realpath(filename).startswith(roots) if filename and not filename.startswith("<") else True


STRICT = {  # (module, class or None): library entries the probes call to observe the student's code
    ("torch", None): ("is_grad_enabled", "is_inference_mode_enabled", "no_grad", "enable_grad", "set_grad_enabled",
                      "equal", "allclose", "randn", "randn_like"),
    ("torch.nn.modules.module", "Module"): ("__call__", "_call_impl", "_wrapped_call_impl", "train", "eval",
                                            "parameters", "named_parameters", "__setattr__", "__getattr__",
                                            "state_dict", "load_state_dict", "zero_grad"),
    ("os", None): ("write", "_exit"),
    ("json", None): ("dumps",),
}


def _strict_entries() -> frozenset:
    """(id(owner), name) of every ``STRICT`` entry whose owner is loaded."""
    entries = set()
    for (module_name, class_name), keys in STRICT.items():
        owner = sys.modules.get(module_name)
        if class_name:
            owner = getattr(owner, class_name, None)
        if owner is not None:
            entries.update((id(owner), key) for key in keys)
    return frozenset(entries)


BOOKKEEPING = ("__warningregistry__", "__slotnames__", "__annotations__")  # Python adds these to namespaces


def _watched(value) -> bool:
    """A library entry worth watching: what code calls (functions, classes, descriptors such as properties)
    or a submodule; not data (``torch.backends.cudnn.benchmark``, ``sys.stdout``, ``os.environ``)."""
    return callable(value) or isinstance(value, types.ModuleType) or hasattr(type(value), "__get__")


@dataclass
class Snapshot:
    modules: list = field(default_factory=list)  # (module, dict copy, ours)
    classes: list = field(default_factory=list)  # (class, dict copy, ours)
    functions: list = field(default_factory=list)  # (function, code, defaults, kwdefaults, cell contents)
    objects: list = field(default_factory=list)  # (label, object, vars copy)
    roots: tuple = ()  # folders of the code that may change a library (see _foreign)
    strict: frozenset = frozenset()  # (id(owner), name) of library entries the probes rely on: any change counts

    @classmethod
    def take(cls, objects: dict | None = None) -> "Snapshot":
        """Record the grader, the libraries and ``objects`` (label -> an object whose attributes to keep, or a
        class of the grader's to keep whole)."""
        snap = cls(roots=_trusted_roots(), strict=_strict_entries())
        seen_classes, seen_functions = set(), set()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated module attributes warn when touched
            for name, module in list(sys.modules.items()):
                if not isinstance(module, types.ModuleType) or (_top(name) not in GRADER and name not in LIBRARIES):
                    continue
                ours = _top(name) in GRADER
                entries = dict(vars(module))
                snap.modules.append((module, entries, ours))
                for value in entries.values():
                    if isinstance(value, type) and id(value) not in seen_classes:
                        seen_classes.add(id(value))
                        snap._add_class(value, seen_functions)
                    elif isinstance(value, types.FunctionType):
                        snap._add_function(value, seen_functions, ours)
        for label, obj in (objects or {}).items():
            if isinstance(obj, type):  # a class of the grader's that lives in __main__ (python -m ...)
                snap._add_class(obj, seen_functions, ours=True)
                continue
            state = dict(vars(obj))
            snap.objects.append((label, obj, state))
            for value in state.values():
                if isinstance(value, types.FunctionType):
                    snap._add_function(value, seen_functions)
        return snap

    def _add_class(self, klass: type, seen_functions: set, ours: bool | None = None) -> None:
        try:
            entries = dict(vars(klass))
        except TypeError:
            return
        ours = _ours(getattr(klass, "__module__", None)) if ours is None else ours
        self.classes.append((klass, entries, ours))
        for value in entries.values():
            function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if isinstance(function, types.FunctionType):
                self._add_function(function, seen_functions, ours)

    def _add_function(self, function: types.FunctionType, seen: set, ours: bool = True) -> None:
        """Record a function's code and defaults, and for the grader's also its closure cells (a library's
        may keep state there, legitimately)."""
        if id(function) in seen:
            return
        seen.add(id(function))
        cells = tuple(_cell(c) for c in function.__closure__ or ()) if ours else None
        self.functions.append((function, function.__code__, function.__defaults__, function.__kwdefaults__, cells))

    def restore(self) -> list[str]:
        """Put back everything changed since ``take``; the dotted names of what was changed (sorted)."""
        changed = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for module, entries, ours in self.modules:
                changed += _restore_namespace(module, vars(module), entries, ours, module.__name__, _set_module,
                                              self.roots, self.strict)
            for klass, entries, ours in self.classes:
                name = f"{getattr(klass, '__module__', '?')}.{getattr(klass, '__qualname__', '?')}"
                changed += _restore_namespace(klass, vars(klass), entries, ours, name, _set_class, self.roots,
                                              self.strict)
            for function, code, defaults, kwdefaults, cells in self.functions:
                name = f"{function.__module__}.{function.__qualname__}"
                for attr, old in (("__code__", code), ("__defaults__", defaults), ("__kwdefaults__", kwdefaults)):
                    if getattr(function, attr) is not old:
                        setattr(function, attr, old)
                        changed.append(f"{name}.{attr}")
                for index, (cell, old) in enumerate(zip(function.__closure__ or (), cells or ())):
                    if _cell(cell) is not old:
                        if old is _MISSING:
                            del cell.cell_contents
                        else:
                            cell.cell_contents = old
                        changed.append(f"{name} (closure variable {function.__code__.co_freevars[index]})")
            for label, obj, state in self.objects:
                now = vars(obj)
                for key in set(now) | set(state):
                    if now.get(key, _MISSING) is not state.get(key, _MISSING):
                        if key in state:
                            object.__setattr__(obj, key, state[key])
                        else:
                            object.__delattr__(obj, key)
                        changed.append(f"{label}.{key}")
        return sorted({name[:200] for name in changed})


def _cell(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _MISSING


def _set_module(module, key, value) -> None:
    if value is _MISSING:
        delattr(module, key)
    else:
        setattr(module, key, value)


def _set_class(klass, key, value) -> None:
    if value is _MISSING:
        type.__delattr__(klass, key)
    else:
        type.__setattr__(klass, key, value)


def _restore_namespace(owner, now, entries: dict, ours: bool, name: str, setter, roots: tuple,
                       strict: frozenset = frozenset()) -> list[str]:
    """Changed, added and removed entries of one namespace put back; their dotted names. What is accepted
    instead (Python's bookkeeping, a submodule import, a library changing itself) becomes the new record."""
    changed = []
    now = dict(now)
    for key in set(now) | set(entries):
        old, new = entries.get(key, _MISSING), now.get(key, _MISSING)
        if old is new:
            continue
        if not _counts(owner, key, old, new, ours, name, roots, strict):
            if new is _MISSING:
                entries.pop(key, None)
            else:
                entries[key] = new
            continue
        try:
            setter(owner, key, old)
        except (AttributeError, TypeError):  # read-only: nothing to put back
            continue
        changed.append(f"{name}.{key}")
    return changed


def _counts(owner, key: str, old, new, ours: bool, name: str, roots: tuple, strict: frozenset) -> bool:
    """Whether the change of ``owner.key`` from ``old`` to ``new`` (either may be missing) is one to undo."""
    present = new if new is not _MISSING else old
    if key in BOOKKEEPING and not _watched(present):
        return False  # warnings' registry, copyreg's __slotnames__, lazily made __annotations__
    if old is _MISSING and isinstance(new, types.ModuleType) and new.__name__ == f"{name}.{key}":
        return False  # a submodule imported since
    if ours or (id(owner), key) in strict:
        return True
    if not _watched(present):
        return False  # a library's data flag (torch.backends.cudnn.benchmark = True): the notebook's business
    if old is _MISSING:  # added to a library: only notebook code that hides an inherited entry matters
        return (isinstance(owner, type) and any(key in vars(base) for base in owner.__mro__[1:])
                and _foreign(new, roots))
    if new is _MISSING:
        return True
    if isinstance(old, types.BuiltinFunctionType) and isinstance(new, types.BuiltinFunctionType):
        return True  # one built-in swapped for another (torch.is_inference_mode_enabled for is_grad_enabled)
    return _foreign(new, roots)
