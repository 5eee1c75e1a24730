"""Checks for 09_gan_losses: discriminator_loss (one-sided label smoothing) and generator_loss (non-saturating).

Inputs are fixed logits from a local ``torch.Generator``. Where a value is wrong, the judge recomputes
the usual wrong variants on the same inputs (it runs trusted code in the parent) to name the mistake.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..plaindata import MetaTensor, describe
from .base import ExerciseChecks, Mismatch, Verdict, assert_close, capture, number_of, raised, tensor_of
from .ex01_encoder import distributions_unvalidated

CHECKS = ExerciseChecks("09_gan_losses")
check = CHECKS.check

B = 8


def _logits(seed: int, scale: float = 2.0, shift: float = 0.0) -> torch.Tensor:
    return shift + scale * torch.randn(B, 1, generator=torch.Generator().manual_seed(seed))


def _real():
    return _logits(1, shift=1.0)


def _fake():
    return _logits(2, shift=-1.0)


def _bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits.double(), torch.full_like(logits.double(), target))


def _scalar_close(got, expected: float, what: str, atol: float, rtol: float, diagnoses=()):
    """Require a scalar tensor close to ``expected``; on a mismatch name the first matching wrong variant."""
    if raised(got):
        raise Mismatch(f"{what} raised {raised(got)}")
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"{what} should be a scalar torch.Tensor, got {describe(got)}")
    if got.dim() != 0:
        raise Mismatch(f"{what} has shape {tuple(got.shape)}: return a scalar (a mean over the batch)")
    value = got.double().item()
    if abs(value - expected) <= atol + rtol * abs(expected):
        return
    for wrong, message in diagnoses:
        if abs(value - wrong) <= 1e-4 + 1e-4 * abs(wrong):
            raise Mismatch(f"{what} is {value:.6g}, expected {expected:.6g}: {message}")
    raise Mismatch(f"{what} is {value:.6g}, expected {expected:.6g} (tolerance atol={atol:g}, rtol={rtol:g})")


def _d_diagnoses(real, fake, real_label):
    r, f = real.double(), fake.double()
    return [
        (_bce(r, real_label).item() + _bce(f, 1 - real_label).item(),
         "the fake targets were smoothed too; smoothing is one-sided (fake targets stay 0)"),
        (_bce(r, 1.0).item() + _bce(f, 0.0).item(), "real_label was ignored (real targets must be real_label)"),
        (0.5 * (_bce(r, real_label).item() + _bce(f, 0.0).item()), "the two terms are averaged; add them"),
        (_bce(r, 0.0).item() + _bce(f, real_label).item(), "the targets are swapped (real -> real_label, fake -> 0)"),
        (B * (_bce(r, real_label).item() + _bce(f, 0.0).item()), "summed over the batch; take means"),
        (_bce(torch.sigmoid(r), real_label).item() + _bce(torch.sigmoid(f), 0.0).item(),
         "a sigmoid was applied before binary_cross_entropy_with_logits, which applies its own"),
    ]


# ---------------------------------------------------------------- discriminator_loss
def _judge_d_values(student, reference):
    expected = number_of(reference["loss"], "the reference loss")
    r, f = _real().double(), _fake().double()
    default_09 = (_bce(r, 0.9).item() + _bce(f, 0.0).item(),
                  "the default real_label is 0.9; discriminator_loss's default is 1.0 "
                  "(discriminator_loss(real_logits, fake_logits, real_label=1.0)): the training step passes 0.9 in")
    _scalar_close(student["loss"], expected, "discriminator_loss(real_logits, fake_logits)", 1e-6, 1e-5,
                  [default_09] + _d_diagnoses(_real(), _fake(), 1.0))
    return Verdict.passed()


@check("discriminator_loss", "values", weight=2, judge=_judge_d_values,
       hint="BCE-with-logits mean on real (target real_label) + mean on fake (target 0), e.g. with "
            "F.binary_cross_entropy_with_logits (tolerance 1e-6)")
def d_values(ns, inputs):
    return {"loss": capture(lambda: ns.discriminator_loss(_real(), _fake()))}


def _judge_smoothing(student, reference):
    for key, label in (("real_label=0.9", 0.9), ("real_label=0.7 (positional)", 0.7)):
        expected = number_of(reference[key], "the reference loss")
        _scalar_close(student[key], expected, f"discriminator_loss with {key}", 1e-6, 1e-5,
                      _d_diagnoses(_real(), _fake(), label))
    return Verdict.passed()


@check("discriminator_loss", "label_smoothing_real_only", weight=2, judge=_judge_smoothing,
       hint="real targets are real_label (torch.full_like(real_logits, real_label)); fake targets stay 0")
def label_smoothing_real_only(ns, inputs):
    return {"real_label=0.9": capture(lambda: ns.discriminator_loss(_real(), _fake(), real_label=0.9)),
            "real_label=0.7 (positional)": capture(lambda: ns.discriminator_loss(_real(), _fake(), 0.7))}


def _large(flip: bool = False):
    """Extreme logits (float32 sigmoid rounds to exactly 0 or 1 there), not symmetric around 0."""
    x = torch.tensor([[40.0], [-150.0], [90.0], [-120.0], [0.5], [-3.0], [150.0], [-90.0]])
    return -x.flip(0) if flip else x


def _judge_unequal(student, reference):
    real, fake = _real(), _fake()[:UNEQUAL_FAKE]
    r, f = real.double(), fake.double()
    both = torch.cat([r, f])
    targets = torch.cat([torch.full_like(r, 0.9), torch.zeros_like(f)])
    pooled = F.binary_cross_entropy_with_logits(both, targets).item()
    expected = number_of(reference["loss"], "the reference loss")
    _scalar_close(student["loss"], expected, f"discriminator_loss on {B} real and {UNEQUAL_FAKE} fake logits", 1e-6, 1e-5,
                  [(2 * pooled, "the real and fake logits were concatenated and averaged together (times 2): that "
                                "equals mean(real) + mean(fake) only when both batches have the same size; take "
                                "the two means separately and add them"),
                   (pooled, "the real and fake logits were concatenated and averaged together: take the mean over the "
                            "real batch plus the mean over the fake batch")] + _d_diagnoses(real, fake, 0.9))
    return Verdict.passed()


UNEQUAL_FAKE = 5  # a last, smaller batch of reals meets a full batch of fakes, or the other way round


@check("discriminator_loss", "unequal_batch_sizes", judge=_judge_unequal,
       hint="mean of the BCE over the real logits plus mean over the fake logits, each over its own batch "
            "(the two batches may differ in size)")
def d_unequal(ns, inputs):
    return {"loss": capture(lambda: ns.discriminator_loss(_real(), _fake()[:UNEQUAL_FAKE], 0.9))}


def _judge_large(what):
    def judge(student, reference):
        for key, expected in reference.items():
            got = student[key]
            if raised(got):
                raise Mismatch(f"{what} with logits of ±150 raised {raised(got)}")
            got = tensor_of(got, what)
            if got.numel() == 1 and not torch.isfinite(got).all():
                raise Mismatch(f"{what} is {got.reshape(()).item()} for logits of ±150: log(sigmoid(x)) overflows; "
                               "use binary_cross_entropy_with_logits on the logits")
            assert_close(got, expected, f"{what} for logits of ±150", atol=1e-4, rtol=1e-5)
        return Verdict.passed()

    return judge


@check("discriminator_loss", "stable_for_large_logits", judge=_judge_large("discriminator_loss"),
       hint="the loss must hold for extreme logits too: sigmoid followed by log or BCELoss rounds to 0 or 1 and "
            "gives inf or BCELoss's clamped 100; work on the logits with binary_cross_entropy_with_logits (tolerance 1e-4)")
def d_stable(ns, inputs):
    return {"loss": capture(lambda: ns.discriminator_loss(_large(), _large(flip=True), real_label=1.0))}


def _judge_gradients(student, reference):
    got = student["gradients"]
    if raised(got):
        raise Mismatch(f"backpropagating through the loss raised {raised(got)} — the loss must stay connected to "
                       "both logits (no .item(), .detach() or torch.tensor(...) on them)")
    assert_close(got, reference["gradients"], "d loss / d logits", atol=1e-7, rtol=1e-5)
    return Verdict.passed()


@check("discriminator_loss", "gradients", judge=_judge_gradients,
       hint="gradients must reach both real_logits and fake_logits (tolerance 1e-7)")
def d_gradients(ns, inputs):
    def run():
        real, fake = _real().requires_grad_(), _fake().requires_grad_()
        loss = ns.discriminator_loss(real, fake, real_label=1.0)  # the default is judged by 'values' alone
        real_grad, fake_grad = torch.autograd.grad(loss, (real, fake), allow_unused=True)
        zero = torch.zeros_like(real)
        return [real_grad if real_grad is not None else zero, fake_grad if fake_grad is not None else zero]

    return {"gradients": capture(run)}


def _judge_dtype_device(what):
    def judge(student, reference):
        for key, expected in reference.items():
            got = student[key]
            if raised(got):
                raise Mismatch(f"{what} on {key} logits raised {raised(got)}")
            if isinstance(expected, MetaTensor) and not isinstance(got, MetaTensor):
                raise Mismatch(f"{what} on logits on the meta device returned {describe(got)}: build targets with "
                               "torch.ones_like / zeros_like / full_like, not on the CPU")
            if not isinstance(got, (torch.Tensor, MetaTensor)) or got.dtype != expected.dtype \
                    or tuple(got.shape) != tuple(expected.shape):
                raise Mismatch(f"{what} on {key} logits returned {describe(got) if not isinstance(got, MetaTensor) else got}"
                               f", expected a scalar of dtype {expected.dtype}")
        return Verdict.passed()

    return judge


@check("discriminator_loss", "keeps_dtype_and_device", judge=_judge_dtype_device("discriminator_loss"),
       hint="create targets with torch.full_like / zeros_like so they follow the logits' dtype and device")
def d_dtype_device(ns, inputs):
    meta = torch.empty(4, 1, device="meta")
    with distributions_unvalidated():  # torch.distributions validates with .item(), impossible on meta
        on_meta = capture(lambda: ns.discriminator_loss(meta, meta, 0.9))
    return {"float64": capture(lambda: ns.discriminator_loss(_real().double(), _fake().double(), 0.9)),
            "meta": on_meta}


# ---------------------------------------------------------------- generator_loss
def _judge_g_values(student, reference):
    expected = number_of(reference["loss"], "the reference loss")
    f = _fake().double()
    diagnoses = [
        (-_bce(f, 0.0).item(), "this is the saturating form log(1 - D(G(z))); minimize -log D(G(z)) = BCE with target 1"),
        (torch.log1p(-torch.sigmoid(f)).mean().item(), "this is the saturating form log(1 - D(G(z)))"),
        (_bce(f, 0.0).item(), "the target is 0 (the discriminator's view); the generator wants its fakes called real (1)"),
        (_bce(f, 0.9).item(), "the target is 0.9: label smoothing is for the discriminator's real targets only"),
        (B * expected, "summed over the batch; take the mean"),
    ]
    _scalar_close(student["loss"], expected, "generator_loss(fake_logits)", 1e-6, 1e-5, diagnoses)
    return Verdict.passed()


@check("generator_loss", "values", weight=2, judge=_judge_g_values,
       hint="mean BCE-with-logits of the fake logits against target 1 (tolerance 1e-6)")
def g_values(ns, inputs):
    return {"loss": capture(lambda: ns.generator_loss(_fake()))}


def _judge_non_saturating(student, reference):
    got = student["scaled_gradient"]
    if raised(got):
        raise Mismatch(f"backpropagating through generator_loss raised {raised(got)}")
    grad = tensor_of(got, "B * d loss / d logit").double()
    if grad.shape != reference["scaled_gradient"].shape:
        raise Mismatch(f"the gradient has shape {tuple(grad.shape)}, expected {tuple(reference['scaled_gradient'].shape)}")
    worst = grad.max().item()
    if worst > -0.5:
        raise Mismatch(f"for fakes the discriminator confidently rejects (logits -4 to -8) B·dL/dlogit is as large as "
                       f"{worst:.3g}; the non-saturating loss gives about -1 (required: below -0.5). A gradient near 0 "
                       "is the saturating log(1 - D(G(z))); a positive one pushes the fakes the wrong way")
    return Verdict.passed()


@check("generator_loss", "non_saturating", judge=_judge_non_saturating,
       hint="minimize -log D(G(z)) (BCE with target 1), not log(1 - D(G(z)))")
def non_saturating(ns, inputs):
    def run():
        logits = torch.linspace(-8, -4, B).reshape(B, 1).requires_grad_()
        grad, = torch.autograd.grad(ns.generator_loss(logits), logits)
        return B * grad

    return {"scaled_gradient": capture(run)}


@check("generator_loss", "stable_for_large_logits", judge=_judge_large("generator_loss"),
       hint="the loss must hold for extreme logits too: -log(sigmoid(x)) overflows for very negative logits; use "
            "binary_cross_entropy_with_logits or -F.logsigmoid on the logits (tolerance 1e-4)")
def g_stable(ns, inputs):
    return {"loss": capture(lambda: ns.generator_loss(_large()))}


@check("generator_loss", "keeps_dtype_and_device", judge=_judge_dtype_device("generator_loss"),
       hint="create the targets with torch.ones_like(fake_logits)")
def g_dtype_device(ns, inputs):
    with distributions_unvalidated():  # torch.distributions validates with .item(), impossible on meta
        on_meta = capture(lambda: ns.generator_loss(torch.empty(4, 1, device="meta")))
    return {"float64": capture(lambda: ns.generator_loss(_fake().double())), "meta": on_meta}
