"""``autograder.integrity``: what the probes run on, found changed, put back and named (in this process)."""
from __future__ import annotations

import functools
import sys
import types

import torch

import autograder.checks.ex05_training_the_vae as ex05
from autograder.checks import checks_for
from autograder.integrity import Snapshot


def test_nothing_changed_reports_nothing():
    snap = Snapshot.take()
    torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1).step()  # torch hooks Optimizer.step itself
    torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    assert snap.restore() == []


def test_grader_attributes_methods_code_and_closures_are_put_back():
    snap = Snapshot.take()
    record, code = ex05._Logged._record, ex05._Logged._record.__code__
    capture = ex05.capture
    ex05._Logged._record = lambda self: self.log.append([False, False])
    ex05.capture = lambda fn: fn()
    ex05._Logged.extra = staticmethod(lambda: 1)  # shadowing: added to a grader class
    assert set(snap.restore()) == {f"{ex05.__name__}._Logged._record", f"{ex05.__name__}._Logged.extra",
                                   f"{ex05.__name__}.capture"}
    assert ex05._Logged._record is record and ex05.capture is capture and not hasattr(ex05._Logged, "extra")
    record.__code__ = (lambda self: None).__code__
    assert snap.restore() == [f"{ex05.__name__}._Logged._record.__code__"] and record.__code__ is code


def test_closure_cells_and_check_objects_are_put_back():
    def outer():
        secret = "original"

        def inner():
            return secret
        return inner

    inner = outer()
    check = checks_for("05_training_the_vae").checks[0]
    probe = check.probe
    snap = Snapshot.take({"check": check, "helper": type("Helper", (), {"inner": staticmethod(inner)})})
    inner.__closure__[0].cell_contents = "forged"
    object.__setattr__(check, "probe", lambda ns, inputs: {})
    changed = snap.restore()
    assert "check.probe" in changed and any("closure variable secret" in name for name in changed)
    assert inner() == "original" and check.probe is probe


def test_library_callables_are_watched_and_data_flags_and_new_names_are_not():
    snap = Snapshot.take()
    is_grad_enabled, benchmark = torch.is_grad_enabled, torch.backends.cudnn.benchmark
    try:
        torch.is_grad_enabled = lambda: False
        torch.backends.cudnn.benchmark = not benchmark  # a data flag: the student's business
        torch.my_helper = lambda: 1  # a name added to a library module: nothing the probes call
        torch.Tensor.show = lambda self: None  # a helper added to a library class: hides nothing, kept
        torch.Tensor.requires_grad = property(lambda self: False)  # hides TensorBase's: watched
        assert snap.restore() == ["torch.Tensor.requires_grad", "torch.is_grad_enabled"]
        assert torch.is_grad_enabled is is_grad_enabled and torch.backends.cudnn.benchmark is (not benchmark)
        assert torch.ones(1, requires_grad=True).requires_grad and hasattr(torch.Tensor, "show")
    finally:
        torch.is_grad_enabled, torch.backends.cudnn.benchmark = is_grad_enabled, benchmark
        vars(torch).pop("my_helper", None)
        if "show" in vars(torch.Tensor):
            del torch.Tensor.show


def test_wrappers_partials_swapped_builtins_and_new_code_are_changes():
    snap = Snapshot.take()
    is_grad_enabled, train, train_code = torch.is_grad_enabled, torch.nn.Module.train, torch.nn.Module.train.__code__
    disguises = {"functools.wraps": functools.wraps(is_grad_enabled)(lambda: False),
                 "partial": functools.partial(bool, 0), "another built-in": torch.is_inference_mode_enabled}
    try:
        for label, disguise in disguises.items():
            torch.is_grad_enabled = disguise
            assert snap.restore() == ["torch.is_grad_enabled"], label
            assert torch.is_grad_enabled is is_grad_enabled
        torch.nn.Module.train.__code__ = (lambda self, mode=True: self).__code__
        assert snap.restore() == ["torch.nn.modules.module.Module.train.__code__"]
        assert torch.nn.Module.train.__code__ is train_code
    finally:
        torch.is_grad_enabled, torch.nn.Module.train, train.__code__ = is_grad_enabled, train, train_code


def test_a_library_entry_replaced_by_library_code_is_accepted_and_one_from_elsewhere_is_not():
    class Library:  # stands in for torch.optim.SGD, whose step torch wraps on first use
        def step(self):
            return "step"

    Library.__module__ = "torch.fake"
    snap = Snapshot.take({})
    snap._add_class(Library, set())
    Library.step = torch.nn.functional.relu  # a function written in torch's own files
    assert snap.restore() == []
    assert Library.step is torch.nn.functional.relu  # accepted: the new record
    Library.step = lambda self: "forged"  # written here, outside the libraries
    assert snap.restore() == ["torch.fake.test_a_library_entry_replaced_by_library_code_is_accepted_and_one_from"
                              "_elsewhere_is_not.<locals>.Library.step"]
    assert Library.step is torch.nn.functional.relu


def test_pythons_own_bookkeeping_is_not_a_change():
    """Warnings add __warningregistry__ to the module they are attributed to; copy and pickle add
    __slotnames__ to a class; reading __annotations__ of a class without any creates it."""
    import copy
    import warnings

    from vaegan.train.vae import VAEConfig

    snap = Snapshot.take()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        exec(compile("__import__('warnings').warn('careful')", ex05.__file__, "exec"), vars(ex05))
    copy.deepcopy(VAEConfig())
    copy.copy(ex05._Logged([]))
    getattr(ex05._TinyDecoder, "__annotations__", None)
    assert snap.restore() == []


def test_a_submodule_imported_later_is_not_a_change():
    import vaegan

    snap = Snapshot.take()
    module = types.ModuleType("vaegan._imported_later")
    sys.modules[module.__name__] = module
    vaegan._imported_later = module
    try:
        assert snap.restore() == []
        vaegan._not_a_module = 1
        assert snap.restore() == ["vaegan._not_a_module"] and not hasattr(vaegan, "_not_a_module")
    finally:
        sys.modules.pop(module.__name__, None)
        vars(vaegan).pop("_imported_later", None)
