"""Checks for 07_generator: sample_noise and Generator (the DCGAN generator, reference weights copied in).

Generator outputs are compared with the reference after copying the reference weights (BatchNorm
running statistics included) into the student's model with ``weights.adopt_reference``, so any
attribute names, ``nn.Sequential`` or separate layers, ``view``/``reshape`` or ``nn.Unflatten`` pass.
Inputs come from local ``torch.Generator`` objects, so they never depend on the global RNG.
The train-mode comparison also compares the BatchNorm running statistics (PyTorch's default momentum) and
says when two identical forwards differ (dropout); ``backpropagates`` requires a differentiable forward.
The helpers marked "probe helper" / "judge" below are shared with 08_discriminator.
"""
from __future__ import annotations

import torch
from torch import nn

from ..plaindata import MetaTensor, describe
from .base import ExerciseChecks, Mismatch, Verdict, assert_close, capture, judge_all_close, raised, tensor_of
from .weights import adopt_reference, export_reference, judge_adopted, randomize_batchnorm

CHECKS = ExerciseChecks("07_generator")
check = CHECKS.check

NOISE_DIM = 100


def _noise(batch_size: int, noise_dim: int = NOISE_DIM, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch_size, noise_dim, generator=torch.Generator().manual_seed(seed))


def _judge_shapes(student, reference):
    """Every output (keyed by the call that made it) has the reference's shape and dtype; values are not compared."""
    for call, expected in reference.items():
        got = student.get(call)
        if raised(got):
            raise Mismatch(f"{call} raised {raised(got)}")
        if not isinstance(got, (torch.Tensor, MetaTensor)):
            raise Mismatch(f"{call} returned {describe(got)}, not a tensor")
        if tuple(got.shape) != tuple(expected.shape):
            raise Mismatch(f"{call} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
        if got.dtype != expected.dtype:
            raise Mismatch(f"{call} has dtype {got.dtype}, expected {expected.dtype}")
    return Verdict.passed()


# ---------------------------------------------------------------- sample_noise
@check("sample_noise", "shape", judge=_judge_shapes,
       hint="return torch.randn(batch_size, noise_dim, device=device): shape (batch_size, noise_dim), float32")
def noise_shape(ns, inputs):
    return {
        "sample_noise(8)": capture(lambda: ns.sample_noise(8)),
        "sample_noise(5, 7)": capture(lambda: ns.sample_noise(5, 7)),
        "sample_noise(batch_size=3, noise_dim=2)": capture(lambda: ns.sample_noise(batch_size=3, noise_dim=2)),
    }


def _judge_standard_normal(student, reference):
    x = tensor_of(student["samples"], "sample_noise(400, 50)").double().reshape(-1)
    if x.numel() < 10_000:
        raise Mismatch(f"sample_noise(400, 50) returned only {x.numel()} numbers")
    if not torch.isfinite(x).all():
        raise Mismatch("the noise contains NaN or inf")
    mean, std = x.mean().item(), x.std().item()
    within_one = (x.abs() <= 1).double().mean().item()
    # 20,000 draws: standard errors are 0.007 for the mean and std, 0.003 for the fraction (68.27%).
    if abs(mean) > 0.05 or abs(std - 1) > 0.05:
        raise Mismatch(f"the noise has mean {mean:.3f} and std {std:.3f}; a standard normal has 0 and 1 "
                       "(tolerance 0.05 each over 20,000 draws) — torch.rand is uniform, torch.randn is normal")
    if abs(within_one - 0.6827) > 0.02:
        raise Mismatch(f"{100 * within_one:.1f}% of the noise lies in [-1, 1]; for a standard normal it is 68.3% "
                       "(tolerance 2 points) — the distribution is not normal")
    # 4.55% of N(0, 1) lies beyond +-2 (standard error 0.15 points over 20,000 draws): clamped or truncated
    # noise has (almost) none there, heavy-tailed noise far more.
    beyond_two = (x.abs() > 2).double().mean().item()
    if abs(beyond_two - 0.0455) > 0.01:
        raise Mismatch(f"{100 * beyond_two:.2f}% of the noise lies beyond +-2; for a standard normal it is 4.55% "
                       "(tolerance 1 point): the tails are cut off (no clamp, no truncation) or too heavy — "
                       "return torch.randn(...) as drawn")
    return Verdict.passed()


@check("sample_noise", "standard_normal", judge=_judge_standard_normal,
       hint="draw from N(0, 1) with torch.randn (not torch.rand, no scaling)")
def standard_normal(ns, inputs):
    return {"samples": capture(lambda: ns.sample_noise(400, 50))}


def _judge_fresh(student, reference):
    first = tensor_of(student["first"], "the first call")
    second = tensor_of(student["second"], "the second call")
    if first.shape == second.shape and torch.equal(first, second):
        raise Mismatch("two consecutive calls returned identical noise: do not reseed (torch.manual_seed) "
                       "inside sample_noise")
    return Verdict.passed()


@check("sample_noise", "fresh_each_call", weight=0.5, judge=_judge_fresh,
       hint="every call must draw new numbers from the global generator")
def fresh_each_call(ns, inputs):
    return {"first": capture(lambda: ns.sample_noise(4, 10)), "second": capture(lambda: ns.sample_noise(4, 10))}


def _judge_device(student, reference):
    for key in ("device='meta'", "device=torch.device('meta')"):
        got = student[key]
        if raised(got):
            raise Mismatch(f"sample_noise(..., {key}) raised {raised(got)}")
        if not isinstance(got, MetaTensor):
            raise Mismatch(f"sample_noise(..., {key}) returned {describe(got)} on another device: "
                           "pass device=device to torch.randn")
    cpu = student["device=None"]
    if raised(cpu):
        raise Mismatch(f"sample_noise(2, 4) raised {raised(cpu)}")
    if not isinstance(cpu, torch.Tensor):
        raise Mismatch(f"sample_noise(2, 4) (device=None) should give a CPU tensor, got {describe(cpu)}")
    return Verdict.passed()


@check("sample_noise", "respects_device", weight=0.5, judge=_judge_device,
       hint="create the tensor on the requested device: torch.randn(..., device=device)")
def respects_device(ns, inputs):
    return {
        "device='meta'": capture(lambda: ns.sample_noise(3, 5, device="meta")),
        "device=torch.device('meta')": capture(lambda: ns.sample_noise(2, 4, device=torch.device("meta"))),
        "device=None": capture(lambda: ns.sample_noise(2, 4)),
    }


# ---------------------------------------------------------------- Generator
def _reference_weights(ns) -> dict:
    """Reference generator with non-trivial BatchNorm scales, shifts and running statistics."""
    return {"weights": export_reference(randomize_batchnorm(ns.Generator(), seed=7))}


def _adopted(ns, inputs) -> nn.Module:
    return adopt_reference(ns.Generator(), inputs["weights"])


_judge_adopted = judge_adopted


@check("Generator", "holds_reference_weights", prepare=_reference_weights, judge=_judge_adopted,
       hint="layers exactly as specified: ConvTranspose2d(noise_dim,128,7,1,0) BatchNorm2d(128) ReLU "
            "ConvTranspose2d(128,64,4,2,1) BatchNorm2d(64) ReLU ConvTranspose2d(64,1,4,2,1) Tanh, bias=True")
def holds_reference_weights(ns, inputs):
    return {"architecture": capture(lambda: (_adopted(ns, inputs), "ok")[1])}


def _judge_output_shape(student, reference):
    for key, expected in reference.items():
        got = tensor_of(student[key], f"G(z) for {key}")
        if tuple(got.shape) != tuple(expected.shape):
            raise Mismatch(f"G(z) for {key} has shape {tuple(got.shape)}, expected {tuple(expected.shape)} "
                           "— check the kernel sizes, strides and paddings (1 -> 7 -> 14 -> 28)")
        if got.dtype != expected.dtype:
            raise Mismatch(f"G(z) has dtype {got.dtype}, expected {expected.dtype}")
    return Verdict.passed()


@check("Generator", "output_shape", judge=_judge_output_shape,
       hint="view z as (B, noise_dim, 1, 1); the output is (B, 1, 28, 28)")
def output_shape(ns, inputs):
    def run(batch_size, mode):
        model = ns.Generator()
        model.train(mode == "train")
        with torch.no_grad():
            return model(_noise(batch_size))

    return {"z of shape (5, 100), train mode": capture(lambda: run(5, "train")),
            "z of shape (1, 100), eval mode": capture(lambda: run(1, "eval"))}


def _judge_tanh_range(student, reference):
    out = tensor_of(student["output"], "G(z)").double()
    if not torch.isfinite(out).all():
        raise Mismatch("G(z) contains NaN or inf")
    if out.abs().max().item() > 1 + 1e-6:
        raise Mismatch(f"G(z) reaches {out.abs().max().item():.3g}; images must lie in [-1, 1] — end with tanh")
    if out.min().item() > -0.05:
        raise Mismatch(f"the smallest output is {out.min().item():.3g}: no pixel is clearly negative, as if the "
                       "last activation were a sigmoid ([0, 1]); GAN images use tanh ([-1, 1])")
    return Verdict.passed()


@check("Generator", "tanh_range", judge=_judge_tanh_range,
       hint="the last layer is followed by nn.Tanh() (not a sigmoid, not nothing)")
def tanh_range(ns, inputs):
    def run():
        model = ns.Generator()  # the student's own initialization: the range must not depend on weights
        with torch.no_grad():
            return model(_noise(16))

    return {"output": capture(run)}


def _forward_adopted(ns, inputs, train: bool):
    model = _adopted(ns, inputs)
    model.train(train)
    with torch.no_grad():
        return model(_noise(6, seed=1))


@check("Generator", "matches_reference_eval", weight=2, prepare=_reference_weights,
       judge=judge_all_close(atol=1e-5, rtol=1e-4, labels={"output": "G(z) in eval mode with the reference weights"}),
       hint="with the reference weights the outputs differ: check the layer order (ConvTranspose -> BatchNorm -> "
            "ReLU), ReLU not LeakyReLU, BatchNorm on the two hidden layers only, tanh last (tolerance 1e-5)")
def matches_reference_eval(ns, inputs):
    return {"output": capture(lambda: _forward_adopted(ns, inputs, train=False))}


def running_statistics(model: nn.Module) -> list:
    """Probe helper: ``[running_mean, running_var]`` of every BatchNorm-like layer, ordered by size then values
    (so attribute names and registration order do not matter)."""
    stats = [[m.running_mean.detach().clone(), m.running_var.detach().clone()] for m in model.modules()
             if isinstance(getattr(m, "running_mean", None), torch.Tensor)
             and isinstance(getattr(m, "running_var", None), torch.Tensor)]
    return sorted(stats, key=lambda s: (s[0].numel(), s[0].double().sum().item()))


def forward_train_with_stats(make, adopt, x) -> dict:
    """Probe helper: output and BatchNorm running statistics after one train-mode forward with the reference weights."""
    def run():
        model = adopt(make())
        model.train(True)
        with torch.no_grad():
            out = model(x)
        stats = running_statistics(model)
        again = adopt(make()).train(True)
        with torch.no_grad():
            repeated = again(x)  # the same weights and input: an honest forward gives the same output
        return {"output": out, "running_stats": stats, "repeated": repeated}

    return capture(run)


def judge_train_with_stats(what: str, atol: float, rtol: float, defaults: str):
    """Judge: the train-mode output matches the reference, and so do the running statistics BatchNorm kept."""

    def judge(student, reference):
        got = student["run"]
        if raised(got):
            raise Mismatch(f"computing {what} raised {raised(got)}")
        if not isinstance(got, dict) or "output" not in got:
            raise Mismatch(f"{what} was not produced")
        try:
            assert_close(got["output"], reference["run"]["output"], what, atol=atol, rtol=rtol)
        except Mismatch as err:
            out, repeated = got["output"], got.get("repeated")
            if (isinstance(out, torch.Tensor) and isinstance(repeated, torch.Tensor) and out.shape == repeated.shape
                    and not torch.equal(out, repeated)):
                raise Mismatch(f"{err}; two train-mode forwards with the same weights and input gave different "
                               "outputs: something in forward is random (nn.Dropout?); the specified architecture "
                               "has none") from None
            raise
        stats, expected = got.get("running_stats"), reference["run"]["running_stats"]
        try:
            assert_close(stats, expected, "the running statistics", atol=1e-5, rtol=1e-4)
        except Mismatch:
            raise Mismatch("the outputs match, but after a train-mode forward the BatchNorm running statistics "
                           "(running_mean, running_var) differ from the reference's: " + defaults) from None
        return Verdict.passed()

    return judge


BN_DEFAULTS = ("keep PyTorch's defaults, nn.BatchNorm2d(channels) with momentum=0.1 (momentum=0.9 or 0.99 is the "
                "Keras convention, where it means the opposite) and track_running_stats=True (tolerance 1e-5)")


@check("Generator", "matches_reference_train", weight=2, prepare=_reference_weights,
       judge=judge_train_with_stats("G(z) in train mode with the reference weights", 1e-5, 1e-4, BN_DEFAULTS),
       hint="in train mode BatchNorm uses the batch statistics; check the layer order (ConvTranspose -> "
            "BatchNorm -> ReLU), ReLU not LeakyReLU, tanh last (tolerance 1e-5)")
def matches_reference_train(ns, inputs):
    return {"run": forward_train_with_stats(ns.Generator, lambda m: adopt_reference(m, inputs["weights"]),
                                            _noise(6, seed=1))}


def backprop_run(make, x) -> dict:
    """Probe helper: which parameters (and whether the input) received a gradient from one backward pass
    through a train-mode forward (the student's own initialization: the architecture is judged elsewhere)."""
    def run():
        model = make()
        model.train(True)
        inp = x.clone().requires_grad_()
        out = model(inp)
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(5), dtype=out.dtype)
        (out * weights).sum().backward()
        return {"missing": [name for name, p in model.named_parameters() if p.grad is None],
                "input_grad": inp.grad is not None and bool(torch.isfinite(inp.grad).all())
                and bool(inp.grad.abs().sum() > 0)}

    return {"run": capture(run)}


def judge_backprop(what: str, trained: str, need_input: bool):
    """Judge: backward() through ``what`` reaches every parameter (and the input when ``need_input``)."""

    def judge(student, reference):
        got = student["run"]
        if raised(got):
            text = raised(got)
            if "does not require grad" in text:
                raise Mismatch(f"{what} carries no gradient (backward() raised: element 0 of tensors does not "
                               f"require grad): do not detach the output, use .data or run forward under "
                               f"torch.no_grad(); {trained}")
            raise Mismatch(f"backpropagating through {what} raised {text}")
        if got["missing"]:
            raise Mismatch(f"after backward() through {what} the parameters {', '.join(got['missing'][:4])} have no "
                           f"gradient: something inside forward is detached (.detach(), .data, torch.no_grad()); "
                           f"{trained}")
        if need_input and not got["input_grad"]:
            raise Mismatch(f"no gradient reaches the input of {what}: do not detach the input inside forward; "
                           f"{trained}")
        return Verdict.passed()

    return judge


@check("Generator", "backpropagates",
       judge=judge_backprop("G(z)", "the generator is trained through its output", need_input=False),
       hint="forward must stay differentiable: no .detach(), .data or torch.no_grad() inside it")
def backpropagates(ns, inputs):
    return backprop_run(ns.Generator, _noise(4, seed=2))


def _judge_runs(what: str, batch_size: int, dtype: torch.dtype | None = None):
    """Judge: every call returned a tensor with ``batch_size`` rows (and ``dtype`` when given)."""

    def judge(student, reference):
        for key in reference:
            got = tensor_of(student.get(key), f"{what} ({key})")
            if got.dim() == 0 or got.shape[0] != batch_size:
                raise Mismatch(f"{what} ({key}) returned shape {tuple(got.shape)}, expected {batch_size} images")
            if dtype is not None and got.dtype != dtype:
                raise Mismatch(f"{what} ({key}) returned {got.dtype}, expected {dtype}")
        return Verdict.passed()

    return judge


@check("Generator", "noise_dim_argument", judge=_judge_runs("Generator(noise_dim=16) on noise (4, 16)", 4),
       hint="use the noise_dim argument (the first layer is ConvTranspose2d(noise_dim, 128, 7) and z is viewed "
            "as (B, noise_dim, 1, 1)), do not hard-code 100")
def noise_dim_argument(ns, inputs):
    def run(make):
        model = make()
        with torch.no_grad():
            return model(_noise(4, 16))

    return {"keyword": capture(lambda: run(lambda: ns.Generator(noise_dim=16))),
            "positional": capture(lambda: run(lambda: ns.Generator(16)))}


@check("Generator", "keeps_dtype", judge=_judge_runs("a float64 Generator on float64 noise", 3, torch.float64),
       hint="do not cast inside forward (.float(), torch.tensor(...)): a model moved with .double() or .to(device) "
            "must work on inputs of its dtype and device")
def keeps_dtype(ns, inputs):
    def run():
        model = ns.Generator().double()
        with torch.no_grad():
            return model(_noise(3).double())

    return {"float64": capture(run)}
