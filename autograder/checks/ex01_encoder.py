"""Checks for 01_encoder: Encoder(latent_dim) -> (mu, logvar).

Reference weights are copied into the student's model by parameter shape (``weights.py``), so
any attribute names, ``nn.Sequential`` or separate layers and either order of the two heads pass.
The "shared helpers" below (shapes, weight copying, dtype/device, torch.distributions on the meta
device) are shared with 02-04.
"""
from __future__ import annotations

import re

import contextlib

import torch

from ..plaindata import MetaTensor, Opaque, describe
from .base import ExerciseChecks, Mismatch, Verdict, capture, raised
from .weights import adopt_reference, export_reference

CHECKS = ExerciseChecks("01_encoder")
check = CHECKS.check

LATENT = 6  # latent size of the reference-weight checks (not the default, to catch a hard-coded 32)
VALUES_ATOL, VALUES_RTOL = 1e-5, 1e-4


def images(batch: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    """Fixed images in [0, 1], shape (batch, 1, 28, 28)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, 28, 28, generator=g).to(dtype)


# ---------------------------------------------------------------- shared helpers (also used by 04)
@contextlib.contextmanager
def distributions_unvalidated():
    """Probe helper: torch.distributions checks its arguments with .item(), impossible on the meta device;
    argument validation is switched off around meta-device calls so a Normal(...)-based answer is not penalised."""
    from torch.distributions import Distribution

    before = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(before)


def sequence_of(value, what: str, length: int) -> list:
    """Require a tuple/list of ``length`` items (tuples arrive as lists)."""
    if raised(value):
        raise Mismatch(f"{what} raised {raised(value)}")
    if isinstance(value, (torch.Tensor, MetaTensor)) or not isinstance(value, list):
        raise Mismatch(f"{what} should return a tuple of {length} tensors, got {describe(value)}")
    if len(value) != length:
        raise Mismatch(f"{what} should return a tuple of {length} tensors, got {len(value)} values")
    return value


def require_shape(value, shape: tuple, what: str) -> None:
    if raised(value):
        raise Mismatch(f"{what} raised {raised(value)}")
    if not isinstance(value, (torch.Tensor, MetaTensor)):
        raise Mismatch(f"{what} should be a tensor, got {describe(value)}")
    if tuple(value.shape) != tuple(shape):
        raise Mismatch(f"{what} has shape {tuple(value.shape)}, expected {tuple(shape)}")


def prepare_weights(make_model, calibration):
    """``prepare`` factory: the reference model's tensors and its output on ``calibration()``."""

    def prepare(ns) -> dict:
        torch.manual_seed(1234)
        return {"weights": export_reference(make_model(ns), calibration())}

    return prepare


def run_with_reference_weights(make_model, inputs: dict, x: torch.Tensor):
    """Probe helper: the student's model with the reference weights loaded, applied to ``x``."""
    model = capture(lambda: make_model())
    if raised(model):
        return model
    adopted = capture(lambda: adopt_reference(model, inputs["weights"]))
    if raised(adopted):
        return adopted
    with torch.no_grad():
        return capture(lambda: model(x))


def adoption_error(make_model, inputs: dict):
    """Probe helper: None when the reference weights fit the student's layers, else the error."""
    model = capture(lambda: make_model())
    if raised(model):
        return model
    result = capture(lambda: adopt_reference(model, inputs["weights"]))
    return result if raised(result) else None


def judge_architecture(what: str, spec: str):
    def judge(student, reference):
        error = raised(student["adoption_error"])
        if error:
            if error.startswith("ArchitectureMismatch"):
                detail = error.split(': ', 1)[1]
                missing, _, unexpected = detail.partition("; unexpected ")
                if re.search(rf"[\[ ]{LATENT}[\],]", missing) and re.search(r"[\[ ]32[\],]", unexpected):
                    raise Mismatch(f"the {what} ignores latent_dim: the checks build it with latent_dim={LATENT} and "
                                   f"its layers still have 32 (a hard-coded 32): use the latent_dim argument ({detail})")
                raise Mismatch(f"the reference weights do not fit your {what}: {detail} (expected exactly {spec})")
            raise Mismatch(f"building the {what} or loading the reference weights raised {error}")
        return Verdict.passed()

    return judge


def judge_dtype_device(what: str):
    """Every output tensor has the reference's dtype, and stays on the meta device when the input was there."""

    def flat(value):
        return [v for item in value for v in flat(item)] if isinstance(value, list) else [value]

    def judge(student, reference):
        for key, expected in reference.items():
            setting = key.replace("_", " ")
            got = student.get(key)
            if raised(got):
                raise Mismatch(f"{what} with {setting} raised {raised(got)}")
            expected_items, got_items = flat(expected), flat(got)
            if len(expected_items) != len(got_items):
                raise Mismatch(f"{what} with {setting} returned {len(got_items)} tensors, expected {len(expected_items)}")
            for e, g in zip(expected_items, got_items):
                if isinstance(g, Opaque) or not isinstance(g, (torch.Tensor, MetaTensor)):
                    raise Mismatch(f"{what} with {setting} returned {describe(g)}, not a tensor")
                if isinstance(e, MetaTensor) and not isinstance(g, MetaTensor):
                    raise Mismatch(f"{what} with {setting}: a tensor came back on another device than the input's "
                                   "(meta); do not move tensors to the CPU or build new ones without device=")
                if g.dtype != e.dtype:
                    raise Mismatch(f"{what} with {setting} returned {g.dtype}, expected {e.dtype} "
                                   "(do not cast with .float(); follow the input's dtype)")
        return Verdict.passed()

    return judge


# ---------------------------------------------------------------- Encoder
def _encoder(ns, latent_dim=None):
    return ns.Encoder() if latent_dim is None else ns.Encoder(latent_dim=latent_dim)


def _judge_shapes(student, reference):
    for key, (batch, latent) in {"default_latent_dim": (4, 32), "latent_5_batch_1": (1, 5),
                                 "latent_5_batch_3": (3, 5)}.items():
        call = f"Encoder({'' if key.startswith('default') else 'latent_dim=5'}) on a batch of {batch}"
        out = sequence_of(student[key], call, 2)
        for name, value in zip(("mu", "logvar"), out):
            require_shape(value, (batch, latent), f"{name} from {call}")
    return Verdict.passed()


@check("Encoder", "output_shapes", weight=3, judge=_judge_shapes,
       hint="forward returns (mu, logvar), each (B, latent_dim); use latent_dim from the constructor (default 32) "
            "and flatten with x.flatten(1) or view(B, -1), never a fixed batch size")
def output_shapes(ns, inputs):
    return {
        "default_latent_dim": capture(lambda: _encoder(ns)(images(4, 1))),
        "latent_5_batch_1": capture(lambda: _encoder(ns, 5)(images(1, 2))),
        "latent_5_batch_3": capture(lambda: _encoder(ns, 5)(images(3, 3))),
    }


_prepare_encoder = prepare_weights(lambda ns: _encoder(ns, LATENT), lambda: images(4, 10))


@check("Encoder", "architecture", weight=2, judge=judge_architecture(
           "Encoder", "Conv2d(1,16,3,s2,p1), Conv2d(16,8,3,s2,p1), Linear(392, latent_dim) twice, default bias"),
       prepare=_prepare_encoder,
       hint="kernel 3, stride 2, padding 1; channels 1 -> 16 -> 8; two separate Linear(392, latent_dim) heads")
def architecture(ns, inputs):
    return {"adoption_error": adoption_error(lambda: _encoder(ns, LATENT), inputs)}


def _judge_reference_outputs(student, reference):
    got = student["outputs"]
    if raised(got):
        raise Mismatch(f"with the reference weights loaded: {raised(got)}")
    got = sequence_of(got, "Encoder.forward", 2)
    mu_ref, logvar_ref = reference["outputs"]
    for name, value, expected in (("mu", got[0], mu_ref), ("logvar", got[1], logvar_ref)):
        require_shape(value, tuple(expected.shape), name)
    mu, logvar = (v.double() for v in got)
    mu_ref, logvar_ref = mu_ref.double(), logvar_ref.double()

    def close(a, b):
        return torch.allclose(a, b, atol=VALUES_ATOL, rtol=VALUES_RTOL)

    if close(mu, mu_ref) and not close(logvar, logvar_ref):
        if close(logvar, logvar_ref.exp()):
            raise Mismatch("logvar equals exp(reference logvar): the head must return logvar = log(sigma²) itself, "
                           "with no activation")
        if close(logvar, mu_ref):
            raise Mismatch("logvar equals mu: both outputs come from the same head")
        raise Mismatch("mu is right but logvar differs from the reference: the logvar head must be a plain Linear "
                       "on the same 392 features")
    if not (close(mu, mu_ref) and close(logvar, logvar_ref)):
        worst = max((mu - mu_ref).abs().max().item(), (logvar - logvar_ref).abs().max().item())
        raise Mismatch(f"with the reference weights, (mu, logvar) differ from the reference by up to {worst:.3g} "
                       f"(tolerance atol={VALUES_ATOL:g}, rtol={VALUES_RTOL:g}): check the ReLU after each conv, "
                       "the channel-first flatten (B, 8, 7, 7) -> (B, 392), and no activation on the heads")
    return Verdict.passed()


@check("Encoder", "reference_outputs", weight=4, judge=_judge_reference_outputs, prepare=_prepare_encoder,
       hint="conv -> ReLU -> conv -> ReLU -> flatten (channel-first) -> two linear heads, nothing else")
def reference_outputs(ns, inputs):
    return {"outputs": run_with_reference_weights(lambda: _encoder(ns, LATENT), inputs, images(5, 20))}


@check("Encoder", "keeps_dtype_and_device", judge=judge_dtype_device("Encoder"),
       hint="do not cast the input (x.float()) or move it; the layers follow the model's dtype and device")
def keeps_dtype_and_device(ns, inputs):
    meta = torch.empty(2, 1, 28, 28, device="meta")
    return {
        "a_float64_model_and_input": capture(lambda: _encoder(ns).double()(images(2, 30, torch.float64))),
        "a_model_and_input_on_the_meta_device": capture(lambda: _encoder(ns).to("meta")(meta)),
    }
