"""Checks for 08_discriminator: Discriminator (the DCGAN discriminator, reference weights copied in).

Outputs are compared with the reference after copying the reference weights (BatchNorm running
statistics included) into the student's model with ``weights.adopt_reference``: any attribute names,
``nn.Sequential`` or separate layers, ``flatten``/``view``/``nn.Flatten`` pass. Inputs come from a
local ``torch.Generator``, never from the global RNG.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ExerciseChecks, Mismatch, Verdict, capture, judge_all_close, raised, tensor_of
from .ex07_generator import BN_DEFAULTS, backprop_run, forward_train_with_stats, judge_backprop, judge_train_with_stats
from .weights import adopt_reference, export_reference, judge_adopted, randomize_batchnorm

CHECKS = ExerciseChecks("08_discriminator")
check = CHECKS.check


def _images(batch_size: int, seed: int = 0) -> torch.Tensor:
    """Images in [-1, 1] with some structure (a blurred random pattern), shape (B, 1, 28, 28)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch_size, 1, 28, 28, generator=g) * 2 - 1
    return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1).clamp(-1, 1)


def _reference_weights(ns) -> dict:
    """Reference discriminator with non-trivial BatchNorm scales, shifts and running statistics."""
    return {"weights": export_reference(randomize_batchnorm(ns.Discriminator(), seed=8))}


def _adopted(ns, inputs) -> nn.Module:
    return adopt_reference(ns.Discriminator(), inputs["weights"])


_judge_adopted = judge_adopted


@check("Discriminator", "holds_reference_weights", prepare=_reference_weights, judge=_judge_adopted,
       hint="layers exactly as specified: Conv2d(1,64,4,2,1) LeakyReLU(0.2) Conv2d(64,128,4,2,1) BatchNorm2d(128) "
            "LeakyReLU(0.2) Conv2d(128,1,7,1,0), bias=True, no other layers with weights")
def holds_reference_weights(ns, inputs):
    return {"architecture": capture(lambda: (_adopted(ns, inputs), "ok")[1])}


def _judge_output_shape(student, reference):
    for key, expected in reference.items():
        got = tensor_of(student[key], f"D(x) for {key}")
        if tuple(got.shape) != tuple(expected.shape):
            raise Mismatch(f"D(x) for {key} has shape {tuple(got.shape)}, expected {tuple(expected.shape)} — "
                           "flatten the (B, 1, 1, 1) map to (B, 1); keep the batch dimension (no squeeze)")
        if got.dtype != expected.dtype:
            raise Mismatch(f"D(x) has dtype {got.dtype}, expected {expected.dtype}")
    return Verdict.passed()


@check("Discriminator", "output_shape", judge=_judge_output_shape,
       hint="28 -> 14 -> 7 -> 1 with the specified kernels, strides and paddings; return (B, 1)")
def output_shape(ns, inputs):
    def run(batch_size, train):
        model = ns.Discriminator()
        model.train(train)
        with torch.no_grad():
            return model(_images(batch_size))

    return {"a batch of 5 (train mode)": capture(lambda: run(5, True)),
            "a batch of 1 (eval mode)": capture(lambda: run(1, False))}


def _judge_logits(student, reference):
    out = tensor_of(student["output"], "D(x)").double()
    if not torch.isfinite(out).all():
        raise Mismatch("D(x) contains NaN or inf")
    if out.min().item() >= 0 and out.max().item() <= 1:
        raise Mismatch(f"all outputs lie in [0, 1] (from {out.min().item():.3g} to {out.max().item():.3g}) over 64 "
                       "inputs, as probabilities do: return the logits, without a final sigmoid")
    return Verdict.passed()


@check("Discriminator", "returns_logits", judge=_judge_logits,
       hint="no nn.Sigmoid at the end: the losses take logits (binary_cross_entropy_with_logits)")
def returns_logits(ns, inputs):
    def run():
        model = ns.Discriminator()  # the student's own initialization
        x = torch.cat([_images(32), 3 * _images(32, seed=1)])  # plain and exaggerated contrast
        with torch.no_grad():
            return model(x)

    return {"output": capture(run)}


def _forward_adopted(ns, inputs, train: bool):
    model = _adopted(ns, inputs)
    model.train(train)
    with torch.no_grad():
        return model(_images(6, seed=2))


@check("Discriminator", "matches_reference_eval", weight=3, prepare=_reference_weights,
       judge=judge_all_close(atol=1e-4, rtol=1e-4, labels={"output": "D(x) in eval mode with the reference weights"}),
       hint="with the reference weights the logits differ: check LeakyReLU(0.2) (slope 0.2, not 0.01, not ReLU), "
            "BatchNorm only after the second convolution, Conv -> BatchNorm -> LeakyReLU order, no final sigmoid "
            "(tolerance 1e-4)")
def matches_reference_eval(ns, inputs):
    return {"output": capture(lambda: _forward_adopted(ns, inputs, train=False))}


@check("Discriminator", "matches_reference_train", weight=3, prepare=_reference_weights,
       judge=judge_train_with_stats("D(x) in train mode with the reference weights", 1e-4, 1e-4, BN_DEFAULTS),
       hint="in train mode BatchNorm uses the batch statistics; check LeakyReLU(0.2), the Conv -> BatchNorm -> "
            "LeakyReLU order and that there is no final sigmoid (tolerance 1e-4)")
def matches_reference_train(ns, inputs):
    return {"run": forward_train_with_stats(ns.Discriminator, lambda m: adopt_reference(m, inputs["weights"]),
                                            _images(6, seed=2))}


@check("Discriminator", "backpropagates",
       judge=judge_backprop("D(x)", "the discriminator is trained through its logits, and the generator through "
                            "D's input", need_input=True),
       hint="forward must stay differentiable with respect to its weights and its input: no .detach(), .data or "
            "torch.no_grad() inside it")
def backpropagates(ns, inputs):
    return backprop_run(ns.Discriminator, _images(4, seed=3))


def _judge_dtype(student, reference):
    got = tensor_of(student["float64"], "a float64 Discriminator on float64 images")
    if got.dtype != torch.float64:
        raise Mismatch(f"a float64 Discriminator on float64 images returned {got.dtype}")
    return Verdict.passed()


@check("Discriminator", "keeps_dtype", judge=_judge_dtype,
       hint="do not cast inside forward (.float()) or build tensors with a fixed dtype/device: a model moved with "
            ".double() or .to(device) must work on inputs of its dtype and device")
def keeps_dtype(ns, inputs):
    def run():
        model = ns.Discriminator().double()
        with torch.no_grad():
            return model(_images(3).double())

    return {"float64": capture(run)}
