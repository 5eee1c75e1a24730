"""What a check is: a probe (worker side, untrusted) and a judge (parent side, trusted).

A ``probe(ns, inputs)`` calls the submission's names held by ``ns`` on fixed inputs and
returns a dict of plain values. The same probe runs on the reference solution; the
``judge(student, reference)`` compares the two in the trusted parent and returns a
``Verdict``. ``prepare(ns)`` (optional) runs on the reference only and produces inputs —
reference weights, say — that are handed to the student's probe as plain data.
"""
from __future__ import annotations

import linecache
import math
import re
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from vaegan.notebooks import error_text, location_in_notebook

from ..plaindata import MetaTensor, Opaque, describe


@dataclass
class Verdict:
    fraction: float  # share of the check's points earned, in [0, 1]
    message: str = ""

    @classmethod
    def passed(cls, message: str = "passed") -> "Verdict":
        return cls(1.0, message)

    @classmethod
    def failed(cls, message: str) -> "Verdict":
        return cls(0.0, message)


class Mismatch(Exception):
    """Raised inside a judge: the submission's output is wrong; the text says how."""


class Named(Mismatch):
    """A ``Mismatch`` whose text names the cause (a formula slip, a result already wrong on plain inputs): the
    check's hint, about the check's own subject (tensors, precision, ...), is not added, as it would blame another."""


@dataclass
class Check:
    item: str
    name: str
    probe: Callable[[Any, dict], dict]
    judge: Callable[[dict, dict], Verdict] | None = None
    prepare: Callable[[Any], dict] | None = None
    weight: float = 1.0
    hint: str = ""
    visible: bool = True
    timeout: float = 30.0
    uses: tuple[str, ...] = ()
    seed: int = 0
    description: str = ""

    @property
    def id(self) -> str:
        return f"{self.item}.{self.name}"

    def needs(self) -> tuple[str, ...]:
        return self.uses or (self.item,)

    def evaluate(self, student: dict, reference: dict) -> Verdict:
        """Run the judge; a ``Mismatch`` (or a malformed output) becomes a failed verdict with the hint."""
        judge = self.judge or judge_all_close()
        named = False
        try:
            verdict = judge(student, reference)
        except Mismatch as err:
            verdict, named = Verdict.failed(str(err)), isinstance(err, Named)
        except Exception as err:  # noqa: BLE001 - any malformed output (OverflowError, RecursionError, ...) fails this check only
            text = str(err)
            verdict = Verdict.failed(f"output could not be compared ({err.__class__.__name__}"
                                     f"{': ' + text[:300] if text else ''})")
        if not 0.0 <= verdict.fraction <= 1.0 or math.isnan(verdict.fraction):
            verdict = Verdict(min(max(0.0, verdict.fraction if verdict.fraction == verdict.fraction else 0.0), 1.0),
                              verdict.message)
        crashed = CRASHED.search(verdict.message)  # the student's code raised: the usual hint is beside the point
        if verdict.fraction < 1.0 and self.hint and self.hint not in verdict.message and not crashed and not named:
            verdict.message = f"{verdict.message} — {self.hint}"
        return verdict


@dataclass
class ExerciseChecks:
    """All checks of one ``NN_slug`` exercise, in report order."""

    slug: str
    checks: list[Check] = field(default_factory=list)

    def check(self, item: str, name: str | None = None, **options):
        """Decorator registering a probe: ``@ex.check("kl_divergence", "zero_at_prior", hint=...)``."""

        def register(probe):
            self.checks.append(Check(item=item, name=name or probe.__name__, probe=probe, **options))
            return probe

        return register

    def by_id(self) -> dict[str, Check]:
        return {c.id: c for c in self.checks}


# ---------------------------------------------------------------- errors of student code, in words
CRASHED = re.compile(r"\braised [A-Z]\w*(?:Error|Exception)\b")
META_COPY = ("copy out of meta tensor", "cannot be called on meta tensors", "meta device type tensor to numpy")


def is_stub(err: BaseException) -> bool:
    """The exercise's stub (``raise NotImplementedError()``): not PyTorch's own NotImplementedError, which says why."""
    return isinstance(err, NotImplementedError) and not error_text(err).strip()


def where_in_notebook(err: BaseException) -> str:
    """`` (cell 4, line 7)`` when grading a notebook, `` (your code, line 3: ...)`` in a Jupyter kernel, else ""."""
    located = location_in_notebook(err.__traceback__)
    if located:
        return located
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        name = frame.filename or ""
        if "ipykernel_" in name or name.startswith("<ipython-input"):
            code = (frame.line or linecache.getline(name, frame.lineno or 0)).strip()
            return f" (your code, line {frame.lineno}{': ' + code[:120] if code else ''})"
    return ""


def explain_error(err: BaseException) -> str:
    """``Type: message`` of an exception raised by student code, with what it usually means where the library's
    own words mislead (a meta-device probe that reached .cpu()/.numpy(), a module without forward)."""
    text = error_text(err).strip()
    first = text.splitlines()[0][:300] if text else ""
    text_l = text.lower()
    if any(m in text_l for m in META_COPY):
        return (f"{err.__class__.__name__} on a tensor of the meta device: the code copied a tensor to the CPU or to "
                "NumPy (.cpu(), .numpy(), .item(), .tolist(), torch.tensor(...)); the checks run it on the meta "
                "device, as a GPU would: keep every tensor on the inputs' device")
    if 'missing the required "forward" function' in text:
        return (f"{err.__class__.__name__}: {first}: the module has no forward method (check the spelling: "
                "def forward(self, x))")
    first = re.sub(r"'_Stub(\w+)' object", r"the checks' stand-in \1 (a plain nn.Module)", first)
    if "object has no attribute 'device'" in first:
        first += " (an nn.Module has no .device: use next(model.parameters()).device)"
    if "leaf variable that requires grad is being used in an in-place operation" in text_l:
        first += (" (a parameter changed in place outside torch.no_grad(): use the nn.init functions, which work "
                  "under no_grad, or wrap the change in `with torch.no_grad():`)")
    return f"{err.__class__.__name__}{': ' + first if first else ''}"


# ---------------------------------------------------------------- judging helpers
def capture(fn: Callable[[], Any], received: Callable[[BaseException], Any] | None = None):
    """Probe helper: run ``fn``; an exception becomes ``{"raised": "Type: message (where)"}`` instead of stopping
    the probe (the stub's NotImplementedError still stops it: the item is not written yet). ``received(err)``,
    when given, adds what the course's functions held when it was raised (``{"raised": ..., "received": ...}``;
    nothing is added when it returns a falsy value)."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - student code may raise anything
        if is_stub(err):
            raise
        text = explain_error(err) + where_in_notebook(err)
        facts = received(err) if received else None
        return {"raised": text, "received": facts} if facts else {"raised": text}


def raised(value) -> str | None:
    """Judge helper: the error text recorded by ``capture``, if any."""
    if (isinstance(value, dict) and set(value) in ({"raised"}, {"raised", "received"})
            and isinstance(value["raised"], str)):
        return value["raised"]
    return None


def tensor_of(value, what: str) -> torch.Tensor:
    """Require a real tensor (not an opaque object, number or meta tensor)."""
    if raised(value):
        raise Mismatch(f"computing {what} raised {raised(value)}")
    if isinstance(value, Opaque):
        raise Mismatch(f"{what} should be a torch.Tensor but was {value.type_name}")
    if not isinstance(value, torch.Tensor):
        raise Mismatch(f"{what} should be a torch.Tensor but was {describe(value)}")
    return value


def number_of(value, what: str) -> float:
    if raised(value):
        raise Mismatch(f"computing {what} raised {raised(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            return float(value.reshape(()).item())
        raise Mismatch(f"{what} should be a number but was {describe(value)}")
    try:
        return float(value)
    except OverflowError:
        raise Mismatch(f"{what} should be a number of a sensible size but was an integer with "
                       f"{len(str(abs(value))) if abs(value) < 10 ** 4000 else 'over 4000'} digits") from None


def assert_close(actual, expected, what: str, atol: float = 1e-5, rtol: float = 1e-4, check_dtype: bool = True):
    """Tensor/number comparison with shape, dtype and value messages."""
    if raised(actual):
        raise Mismatch(f"computing {what} raised {raised(actual)}")
    if isinstance(expected, MetaTensor):
        if not isinstance(actual, MetaTensor):
            raise Mismatch(f"{what}: expected a tensor on the meta device, got {describe(actual)}")
        if actual.shape != expected.shape or actual.dtype != expected.dtype:
            raise Mismatch(f"{what}: expected {expected}, got {actual}")
        return
    if isinstance(expected, torch.Tensor):
        actual = tensor_of(actual, what)
        if actual.shape != expected.shape:
            raise Mismatch(f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
        if check_dtype and actual.dtype != expected.dtype:
            raise Mismatch(f"{what} has dtype {actual.dtype}, expected {expected.dtype}")
        a, e = actual.double(), expected.double()
        finite = torch.isfinite(e)
        if not torch.equal(torch.isfinite(a), finite):
            raise Mismatch(f"{what} contains NaN or inf where the reference does not")
        if a.numel() and not torch.allclose(a[finite], e[finite], atol=atol, rtol=rtol):
            worst = (a[finite] - e[finite]).abs().max().item()
            raise Mismatch(f"{what} differs from the reference by up to {worst:.3g} (tolerance atol={atol:g}, rtol={rtol:g})")
        return
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        got = number_of(actual, what)
        if not math.isclose(got, float(expected), abs_tol=atol, rel_tol=rtol):
            raise Mismatch(f"{what} is {got:.6g}, expected {float(expected):.6g} (tolerance atol={atol:g}, rtol={rtol:g})")
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            raise Mismatch(f"{what} should be a sequence of {len(expected)} values, got {describe(actual)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{what}[{i}]", atol=atol, rtol=rtol, check_dtype=check_dtype)
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise Mismatch(f"{what} should be a dict, got {describe(actual)}")
        for key, e in expected.items():
            if key not in actual:
                raise Mismatch(f"{what} lacks the key {key!r}")
            assert_close(actual[key], e, f"{what}[{key!r}]", atol=atol, rtol=rtol, check_dtype=check_dtype)
        return
    if type(actual) is not type(expected) or actual != expected:
        raise Mismatch(f"{what} is {actual!r}, expected {expected!r}")


def judge_all_close(atol: float = 1e-5, rtol: float = 1e-4, check_dtype: bool = True, labels: dict | None = None):
    """Judge: every key of the reference output must match within tolerance."""

    def judge(student: dict, reference: dict) -> Verdict:
        for key, expected in reference.items():
            what = (labels or {}).get(key, key)
            if key not in student:
                raise Mismatch(f"{what} was not produced")
            assert_close(student[key], expected, what, atol=atol, rtol=rtol, check_dtype=check_dtype)
        return Verdict.passed()

    return judge
