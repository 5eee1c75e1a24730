"""Checks for 00_setup_and_data: count_parameters, to_tanh_range, from_tanh_range."""
from __future__ import annotations

import torch
from torch import nn

from ..plaindata import MetaTensor, describe
from .base import ExerciseChecks, Mismatch, Verdict, assert_close, capture, judge_all_close, raised

CHECKS = ExerciseChecks("00_setup_and_data")
check = CHECKS.check


# ---------------------------------------------------------------- count_parameters
def _models_without_frozen():
    """Models where every parameter trains: plain, with buffers (BatchNorm), empty, and weight tying."""
    shared = nn.Linear(6, 6)
    return {
        "linear": nn.Linear(3, 4),
        "conv_bn": nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 26 * 26, 10)),
        "no_parameters": nn.Sequential(nn.ReLU(), nn.Flatten()),
        "shared_layer": nn.Sequential(shared, nn.Tanh(), shared),
    }


@check("count_parameters", "counts_every_parameter", weight=2, judge=judge_all_close(atol=0, rtol=0),
       hint="sum p.numel() over model.parameters(): buffers such as BatchNorm running means are not parameters, "
            "and a layer used twice counts once")
def counts_every_parameter(ns, inputs):
    return {name: capture(lambda m=model: ns.count_parameters(m)) for name, model in _models_without_frozen().items()}


def _models_with_frozen():
    partly = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    partly[0].requires_grad_(False)  # a frozen feature extractor
    frozen = nn.Linear(4, 4).requires_grad_(False)
    bias_only = nn.Linear(3, 3)
    bias_only.weight.requires_grad_(False)
    return {"frozen_first_layer": partly, "fully_frozen": frozen, "frozen_weight_only": bias_only}


@check("count_parameters", "trainable_only", judge=judge_all_close(atol=0, rtol=0),
       hint="count only parameters with p.requires_grad == True (frozen layers do not train)")
def trainable_only(ns, inputs):
    return {name: capture(lambda m=model: ns.count_parameters(m)) for name, model in _models_with_frozen().items()}


def _judge_int(student, reference):
    value = student["count"]
    if raised(value):
        raise Mismatch(f"count_parameters raised {raised(value)}")
    if type(value) is not int:
        kind = f"torch.Tensor ({value.dtype})" if isinstance(value, torch.Tensor) else describe(value)
        raise Mismatch(f"count_parameters returned {kind}, not int")
    return Verdict.passed()


@check("count_parameters", "returns_python_int", judge=_judge_int,
       hint="return a plain Python int, e.g. sum(p.numel() for ...) (not a tensor or NumPy number)")
def returns_python_int(ns, inputs):
    return {"count": capture(lambda: ns.count_parameters(nn.Linear(2, 3)))}


# ---------------------------------------------------------------- range maps
def _range_inputs(low: float, high: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = low + (high - low) * torch.rand(4, 1, 28, 28, generator=g)
    x[0, 0, 0, :3] = torch.tensor([low, (low + high) / 2, high])  # both ends and the middle
    return x


def _keeps_dtype_and_device(fn, low: float, high: float) -> dict:
    x64 = _range_inputs(low, high).double()
    meta = torch.empty(3, 1, 28, 28, device="meta", dtype=torch.float16)
    return {"float64": capture(lambda: fn(x64)), "meta_float16": capture(lambda: fn(meta))}  # dtype/shape only


def _judge_dtype_device(student, reference):
    for key, expected in reference.items():
        got = student[key]
        if raised(got):
            raise Mismatch(f"with a {key.replace('_', ' ')} input the call raised {raised(got)}")
        if not isinstance(got, (torch.Tensor, MetaTensor)):
            raise Mismatch(f"with a {key.replace('_', ' ')} input the result was {describe(got)}, not a tensor")
        if isinstance(expected, MetaTensor) and not isinstance(got, MetaTensor):
            raise Mismatch("a tensor on the meta device came back on another device")
        if got.dtype != expected.dtype or tuple(got.shape) != tuple(expected.shape):
            raise Mismatch(f"a {key.replace('_', ' ')} input gave {describe(got)}, expected {describe(expected)}")
    return Verdict.passed()


def _leaves_input_unchanged(fn, low: float, high: float) -> dict:
    x = _range_inputs(low, high)
    before = x.clone()
    result = capture(lambda: fn(x))
    return {"input_after_call": x if not raised(result) else result, "input_before_call": before}


def _judge_unchanged(student, reference):
    after = student["input_after_call"]
    if raised(after):
        raise Mismatch(f"the call raised {raised(after)}")
    assert_close(after, reference["input_before_call"], "the input after the call", atol=0, rtol=0)
    return Verdict.passed()


for _item, _low, _high, _formula in (("to_tanh_range", 0.0, 1.0, "2 * x - 1"), ("from_tanh_range", -1.0, 1.0, "(x + 1) / 2")):

    def _values(ns, inputs, item=_item, low=_low, high=_high):
        # a batch that spans the whole range, and one inside it: a min-max rescaling of the batch
        # ((x - x.min()) / (x.max() - x.min())) agrees with the map on the first only
        narrow = _range_inputs(low + 0.25 * (high - low), low + 0.75 * (high - low))
        return {"output": capture(lambda: getattr(ns, item)(_range_inputs(low, high))),
                "output_of_a_batch_inside_the_range": capture(lambda: getattr(ns, item)(narrow))}

    def _dtype_device(ns, inputs, item=_item, low=_low, high=_high):
        return _keeps_dtype_and_device(getattr(ns, item), low, high)

    def _unchanged(ns, inputs, item=_item, low=_low, high=_high):
        return _leaves_input_unchanged(getattr(ns, item), low, high)

    check(_item, "values", weight=2, judge=judge_all_close(atol=1e-6, rtol=0),
          hint=f"{_item}(x) is {_formula}, elementwise, same shape as x: a fixed map, not a rescaling by the "
               "batch's own min and max")(_values)
    check(_item, "keeps_dtype_and_device", judge=_judge_dtype_device,
          hint="do not cast (.float()) or build new tensors on the CPU: plain arithmetic on x keeps its dtype and device")(_dtype_device)
    check(_item, "leaves_input_unchanged", judge=_judge_unchanged,
          hint="do not modify x in place (mul_, add_, x *= ...): return a new tensor")(_unchanged)
