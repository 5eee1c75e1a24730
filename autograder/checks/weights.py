"""Copy reference weights into a student's model whatever its attribute names or layer order.

Parameters and buffers are matched module by module: a module's *signature* is its type and
the names and shapes of its own tensors. Modules with a unique signature pair up directly;
where several share one (the ``mu`` and ``logvar`` heads, say), every pairing is tried and the
one whose output on a calibration input is closest to the reference's is kept.

``export_reference`` runs in ``prepare`` (reference side); ``adopt_reference`` in the probe.
"""
from __future__ import annotations

import itertools
from typing import Callable

import torch
from torch import nn

MAX_PAIRINGS = 120


class ArchitectureMismatch(ValueError):
    """The student's layers cannot hold the reference weights; the message lists the difference."""


def _own_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    tensors = [(n, p) for n, p in module.named_parameters(recurse=False)]
    tensors += [(n, b) for n, b in module.named_buffers(recurse=False) if b is not None]
    return sorted(tensors, key=lambda item: item[0])


def _signature(type_name: str, tensors) -> str:
    return type_name + "(" + ", ".join(f"{n}:{list(t.shape)}" for n, t in tensors) + ")"


def _modules(model: nn.Module) -> list[tuple[str, nn.Module, list]]:
    out = []
    for module in model.modules():
        tensors = _own_tensors(module)
        if tensors:
            out.append((_signature(type(module).__name__, tensors), module, tensors))
    return out


def _flat(output) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output.detach().reshape(-1).double()
    if isinstance(output, (tuple, list)):
        return torch.cat([_flat(o) for o in output]) if output else torch.zeros(0, dtype=torch.float64)
    if isinstance(output, dict):
        return _flat(list(output.values()))
    raise TypeError(f"forward returned {type(output).__name__}, not tensors")


def export_reference(model: nn.Module, calibration: torch.Tensor | None = None,
                     forward: Callable | None = None) -> dict:
    """Plain description of ``model``'s tensors (and its output on ``calibration``)."""
    exported = {"modules": [{"signature": sig, "tensors": {n: t.detach().clone() for n, t in tensors}}
                            for sig, _, tensors in _modules(model)]}
    if calibration is not None:
        with torch.no_grad():
            exported["calibration_input"] = calibration
            exported["calibration_output"] = _flat((forward or (lambda m, x: m(x)))(model, calibration))
    return exported


def _load(pairs) -> None:
    with torch.no_grad():
        for module, tensors in pairs:
            for name, value in tensors.items():
                getattr(module, name).copy_(value)


def adopt_reference(model: nn.Module, exported: dict, forward: Callable | None = None) -> nn.Module:
    """Load the exported reference tensors into ``model`` (in place) and return it."""
    mine = _modules(model)
    theirs = exported["modules"]
    wanted = sorted(m["signature"] for m in theirs)
    have = sorted(sig for sig, _, _ in mine)
    if wanted != have:
        missing = sorted(set(wanted) - set(have))
        extra = sorted(set(have) - set(wanted))
        raise ArchitectureMismatch(
            "the layers do not match the specified architecture"
            + (f"; missing {', '.join(missing[:4])}" if missing else "")
            + (f"; unexpected {', '.join(extra[:4])}" if extra else "")
            + ("" if missing or extra else "; a layer appears a different number of times")
        )
    groups: dict[str, tuple[list, list]] = {}
    for sig, module, _ in mine:
        groups.setdefault(sig, ([], []))[0].append(module)
    for m in theirs:
        groups[m["signature"]][1].append(m["tensors"])
    options = [list(itertools.permutations(range(len(mods)))) for mods, _ in groups.values()]
    candidates = list(itertools.islice(itertools.product(*options), MAX_PAIRINGS))
    calibrate = "calibration_input" in exported and len(candidates) > 1
    best, best_error = candidates[0], None
    for candidate in candidates if calibrate else candidates[:1]:
        pairs = [(mods[i], tensors[j]) for (mods, tensors), perm in zip(groups.values(), candidate)
                 for j, i in enumerate(perm)]
        _load(pairs)
        if not calibrate:
            return model
        with torch.no_grad():
            try:
                out = _flat((forward or (lambda m, x: m(x)))(model, exported["calibration_input"]))
                target = exported["calibration_output"]
                error = (out - target).abs().max().item() if out.shape == target.shape else float("inf")
            except Exception:  # noqa: BLE001 - a broken forward is judged later, not here
                error = float("inf")
        if best_error is None or error < best_error:
            best, best_error = candidate, error
    pairs = [(mods[i], tensors[j]) for (mods, tensors), perm in zip(groups.values(), best) for j, i in enumerate(perm)]
    _load(pairs)
    return model


def randomize_batchnorm(model: nn.Module, seed: int) -> nn.Module:
    """Give every BatchNorm2d non-trivial scales, shifts and running statistics (in place), so a check
    comparing outputs also tests that the student's BatchNorm layers sit where the reference's do."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.num_batches_tracked.fill_(50)
    return model


def judge_adopted(student: dict, reference: dict):
    """Judge for a probe returning ``{"architecture": capture(...)}`` around ``adopt_reference``."""
    from .base import Mismatch, Verdict, raised

    error = raised(student["architecture"])
    if error and error.startswith("ArchitectureMismatch: "):
        raise Mismatch("the reference weights do not fit: " + error.split(": ", 1)[1])
    if error:
        raise Mismatch(f"building the model or loading the reference weights raised {error}")
    return Verdict.passed()
