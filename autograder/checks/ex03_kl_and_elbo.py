"""Checks for 03_kl_and_elbo: kl_divergence, reconstruction_loss, vae_loss.

Oracles are computed in the judge (trusted side) from the reference probe's inputs:
``torch.distributions`` for the KL and ``binary_cross_entropy_with_logits`` in float64 for the
reconstruction term. ``vae_loss`` is checked with trusted KL and reconstruction helpers swapped
into its globals, so a slip in the first two items does not cost points again here.
``true_kl`` and ``true_recon`` are shared with 05.
"""
from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch.distributions import Normal
from torch.distributions import kl_divergence as distributions_kl

from ..plaindata import MetaTensor, describe
from .base import ExerciseChecks, Mismatch, Verdict, capture, raised, tensor_of
from .ex01_encoder import distributions_unvalidated

CHECKS = ExerciseChecks("03_kl_and_elbo")
check = CHECKS.check


# ---------------------------------------------------------------- trusted formulas
def true_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the last dimension, via torch.distributions."""
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return distributions_kl(q, p).sum(dim=-1)


def true_recon(x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """BCE with logits summed over every dimension but the first."""
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").flatten(1).sum(dim=1)


def _latents(seed: int, batch: int, dim: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, dim, generator=g) * 1.5, torch.rand(batch, dim, generator=g) * 5 - 3


def _images_and_logits(seed: int, batch: int = 4, scale: float = 4.0):
    """Logits uniform in [-scale, scale]; targets half binary, half soft values in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x_logits = (torch.rand(batch, 1, 28, 28, generator=g) * 2 - 1) * scale
    x = torch.rand(batch, 1, 28, 28, generator=g)
    x[: batch // 2] = (x[: batch // 2] > 0.5).float()
    return x_logits, x


def _vector(value, what: str, batch: int) -> torch.Tensor:
    value = tensor_of(value, what)
    if tuple(value.shape) != (batch,):
        extra = " (one value per sample: sum over the other dimensions only)" if value.dim() == 0 else ""
        raise Mismatch(f"{what} has shape {tuple(value.shape)}, expected ({batch},){extra}")
    return value.double()


def _judge_dtype_device(what: str):
    def judge(student, reference):
        got = student["float64"]
        if raised(got):
            raise Mismatch(f"{what} with float64 inputs raised {raised(got)}")
        got = tensor_of(got, f"{what} of float64 inputs")
        if got.dtype != torch.float64:
            raise Mismatch(f"{what} of float64 inputs is {got.dtype}: do not cast (.float()); follow the inputs' dtype")
        meta = student["meta"]
        if raised(meta):
            raise Mismatch(f"{what} with inputs on the meta device raised {raised(meta)}: a tensor was created on the "
                           "CPU; build constants with *_like or device= from the inputs (or use plain numbers)")
        if not isinstance(meta, MetaTensor):
            raise Mismatch(f"{what} of meta-device inputs came back as {describe(meta)}, not on the meta device")
        return Verdict.passed()

    return judge


# ---------------------------------------------------------------- kl_divergence
def _judge_zero(student, reference):
    kl = _vector(student["kl"], "KL(mu = 0, logvar = 0)", 3)
    if kl.abs().max() > 1e-6:
        raise Mismatch(f"KL(N(0, I) || N(0, I)) should be 0 but is {kl.tolist()} (tolerance 1e-6): "
                       "check the constant 1 inside the sum, -0.5 * sum(1 + logvar - mu² - exp(logvar))")
    return Verdict.passed()


@check("kl_divergence", "zero_at_prior", weight=0.5, judge=_judge_zero,
       hint="KL = -0.5 * sum(1 + logvar - mu**2 - exp(logvar), dim=1) is exactly 0 at mu = 0, logvar = 0")
def zero_at_prior(ns, inputs):
    return {"kl": capture(lambda: ns.kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5)))}


def _judge_matches(student, reference):
    mu, logvar = reference["mu"].double(), reference["logvar"].double()
    kl = _vector(student["kl"], "kl_divergence(mu, logvar)", mu.shape[0])
    oracle = true_kl(mu, logvar)
    atol, rtol = 1e-4, 1e-5
    if torch.allclose(kl, oracle, atol=atol, rtol=rtol):
        return Verdict.passed()
    if torch.allclose(kl, -oracle, atol=atol, rtol=rtol):
        raise Mismatch("the KL has the wrong sign: KL = -0.5 * sum(1 + logvar - mu² - exp(logvar)) is never negative")
    if torch.allclose(kl, oracle / mu.shape[1], atol=atol, rtol=rtol):
        raise Mismatch("the KL is averaged over the latent dimensions: sum over them instead")
    if torch.allclose(kl, 2 * oracle, atol=atol, rtol=rtol):
        raise Mismatch("the KL is twice the expected value: the factor 0.5 is missing")
    if torch.allclose(kl, oracle / mu.shape[0], atol=atol, rtol=rtol):
        raise Mismatch("the KL is divided by the batch size: kl_divergence returns each sample's own KL (summed over "
                       "the latent dimensions); the mean over the batch is taken in vae_loss")
    raise Mismatch(f"the KL differs from torch.distributions.kl_divergence(Normal(mu, exp(0.5 logvar)), Normal(0, 1))"
                   f".sum(-1) by up to {(kl - oracle).abs().max():.3g} (tolerance atol={atol:g}, rtol={rtol:g})")


@check("kl_divergence", "matches_torch_distributions", weight=1.5, judge=_judge_matches,
       hint="KL per sample = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)")
def matches_torch_distributions(ns, inputs):
    mu, logvar = _latents(1, batch=6, dim=5)
    return {"kl": capture(lambda: ns.kl_divergence(mu.clone(), logvar.clone())), "mu": mu, "logvar": logvar}


def _judge_sums(student, reference):
    single = _vector(student["one_dim"], "the KL of 1 latent dimension", 4)
    repeated = _vector(student["eight_dims"], "the KL of 8 latent dimensions", 4)
    ratio = repeated / single
    if not torch.allclose(ratio, torch.full_like(ratio, 8.0), rtol=1e-4):
        if torch.allclose(ratio, torch.ones_like(ratio), rtol=1e-4):
            raise Mismatch("repeating each latent dimension 8 times left the KL unchanged: it is averaged over the "
                           "latent dimensions; sum over them (dim=1)")
        raise Mismatch(f"repeating each latent dimension 8 times should multiply the KL by 8 (relative tolerance "
                       f"1e-4), got factors {[round(r, 3) for r in ratio.tolist()]}")
    return Verdict.passed()


@check("kl_divergence", "sums_over_latent_dims", weight=0.75, judge=_judge_sums,
       hint="sum over the latent dimensions (dim=1), never mean, and keep the batch dimension: output (B,)")
def sums_over_latent_dims(ns, inputs):
    mu, logvar = _latents(2, batch=4, dim=1)
    mu, logvar = mu + 0.5, logvar.clamp(max=-0.5)  # KL clearly above 0 in every row
    return {"one_dim": capture(lambda: ns.kl_divergence(mu.clone(), logvar.clone())),
            "eight_dims": capture(lambda: ns.kl_divergence(mu.repeat(1, 8), logvar.repeat(1, 8)))}


def _judge_logvar(student, reference):
    logvar = reference["logvar"].double()
    kl = _vector(student["kl"], "KL(mu = 0, logvar)", logvar.shape[0])
    oracle = true_kl(torch.zeros_like(logvar), logvar)
    if torch.allclose(kl, oracle, atol=1e-5, rtol=1e-5):
        return Verdict.passed()
    log_sigma = -0.5 * (1 + 2 * logvar - (2 * logvar).exp()).sum(dim=1)  # logvar misread as log(sigma)
    if torch.allclose(kl, log_sigma, atol=1e-5, rtol=1e-5):
        raise Mismatch("logvar was treated as log(sigma): it is log(sigma²), so sigma² = exp(logvar) and "
                       "log(sigma²) = logvar")
    sigma_as_var = -0.5 * (1 + logvar - (0.5 * logvar).exp()).sum(dim=1)
    if torch.allclose(kl, sigma_as_var, atol=1e-5, rtol=1e-5):
        raise Mismatch("the formula uses sigma = exp(logvar / 2) where it needs the variance sigma² = exp(logvar)")
    raise Mismatch(f"with mu = 0 the KL is -0.5 * sum(1 + logvar - exp(logvar)); yours differs by up to "
                   f"{(kl - oracle).abs().max():.3g} (tolerance 1e-5)")


@check("kl_divergence", "logvar_is_log_variance", weight=0.75, judge=_judge_logvar,
       hint="logvar = log(sigma²): the variance is exp(logvar), not exp(2 * logvar) or exp(logvar / 2)")
def logvar_is_log_variance(ns, inputs):
    logvar = torch.tensor([[-2.0, -0.5, 0.0], [0.5, 1.0, 2.0], [-1.0, 1.5, -3.0]])
    return {"kl": capture(lambda: ns.kl_divergence(torch.zeros_like(logvar), logvar.clone())), "logvar": logvar}


@check("kl_divergence", "keeps_dtype_and_device", weight=0.5, judge=_judge_dtype_device("the KL"),
       hint="plain arithmetic on mu and logvar keeps their dtype and device; do not build constants with torch.ones(shape)")
def kl_keeps_dtype_and_device(ns, inputs):
    mu, logvar = _latents(3, batch=2, dim=3)
    meta = torch.empty(2, 3, device="meta")
    float64 = capture(lambda: ns.kl_divergence(mu.double(), logvar.double()))
    with distributions_unvalidated():
        on_meta = capture(lambda: ns.kl_divergence(meta, meta.clone()))
    return {"float64": float64, "meta": on_meta}


# ---------------------------------------------------------------- gradients reach the inputs (both terms)
CUT = ("computed outside the graph (torch.tensor(...), .item(), .numpy() or .detach() on the way): build it from "
       "torch operations on the inputs, so that the loss can train the {who}")


def _grads_probe(fn, *inputs):
    """Gradients of ``fn(*inputs).sum()`` with respect to each input (None where none reached it)."""
    leaves = [t.clone().requires_grad_(True) for t in inputs]

    def run():
        out = fn(*leaves)
        grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
        return [g if g is not None else None for g in grads]

    return {"grads": capture(run)}


def _judge_reaches(what: str, names: tuple[str, ...], who: str):
    def judge(student, reference):
        grads = student["grads"]
        if raised(grads):
            if "does not require grad" in raised(grads):  # the output is not in the graph at all
                raise Mismatch(f"{what} is not connected to its inputs (no gradient can flow back): it was "
                               + CUT.format(who=who))
            raise Mismatch(f"backpropagating through {what} raised {raised(grads)}")
        if not isinstance(grads, list) or len(grads) != len(names):
            raise Mismatch(f"backpropagating through {what} gave {describe(grads)}")
        for name, grad in zip(names, grads):
            if grad is None:
                raise Mismatch(f"no gradient reaches {name} through {what}: it was " + CUT.format(who=who))
            grad = tensor_of(grad, f"the gradient of {what} with respect to {name}")
            if not torch.isfinite(grad).all() or not grad.abs().sum() > 0:
                raise Mismatch(f"the gradient of {what} with respect to {name} is zero or not finite: it was "
                               + CUT.format(who=who))
        return Verdict.passed()

    return judge


@check("kl_divergence", "backpropagates", weight=0.5,
       judge=_judge_reaches("the KL", ("mu", "logvar"), "encoder"),
       hint="torch operations only: -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)")
def kl_backpropagates(ns, inputs):
    return _grads_probe(ns.kl_divergence, *_latents(5, batch=3, dim=4))


# ---------------------------------------------------------------- reconstruction_loss
BINARISED = ("the targets were binarised (x > 0.5): the Bernoulli likelihood takes the grey values of x in [0, 1] as "
             "they are; pass x itself to binary_cross_entropy_with_logits")


def _judge_recon(student, reference):
    x_logits, x = reference["x_logits"].double(), reference["x"].double()
    got = _vector(student["recon"], "reconstruction_loss(x_logits, x)", x.shape[0])
    oracle = true_recon(x_logits, x)
    atol, rtol = 1e-3, 1e-5
    if torch.allclose(got, oracle, atol=atol, rtol=rtol):
        return Verdict.passed()
    pixels = x[0].numel()
    if torch.allclose(got, oracle / pixels, atol=atol, rtol=1e-4):
        raise Mismatch("the loss is averaged over the pixels: sum over the 784 pixels of each image instead")
    if torch.allclose(got, true_recon(torch.sigmoid(x_logits), x), atol=atol, rtol=rtol):
        raise Mismatch("sigmoid was applied to the logits before binary_cross_entropy_with_logits: pass the logits "
                       "themselves")
    if torch.allclose(got, true_recon(x_logits, (x > 0.5).double()), atol=atol, rtol=rtol):
        raise Mismatch(BINARISED)
    raise Mismatch(f"the per-image BCE differs from binary_cross_entropy_with_logits(x_logits, x, reduction='none') "
                   f"summed over pixels by up to {(got - oracle).abs().max():.3g} (tolerance atol={atol:g}, "
                   f"rtol={rtol:g}); check the argument order (logits first, targets second)")


@check("reconstruction_loss", "matches_bce_with_logits", weight=1.25, judge=_judge_recon,
       hint="F.binary_cross_entropy_with_logits(x_logits, x, reduction='none'), then .flatten(1).sum(1): shape (B,)")
def matches_bce_with_logits(ns, inputs):
    x_logits, x = _images_and_logits(1)
    return {"recon": capture(lambda: ns.reconstruction_loss(x_logits.clone(), x.clone())), "x_logits": x_logits, "x": x}


def _judge_large(student, reference):
    x_logits, x = reference["x_logits"].double(), reference["x"].double()
    got = tensor_of(student["recon"], "reconstruction_loss for large logits")
    if tuple(got.shape) != (x.shape[0],):
        raise Mismatch(f"reconstruction_loss for large logits has shape {tuple(got.shape)}, expected ({x.shape[0]},)")
    got = got.double()
    oracle = true_recon(x_logits, x)
    if not torch.isfinite(got).all():
        raise Mismatch(f"with logits of magnitude 25-40 the loss is {got.tolist()}: log(sigmoid(...)) overflowed; "
                       "compute the BCE from the logits with F.binary_cross_entropy_with_logits")
    if not torch.allclose(got, oracle, rtol=1e-5, atol=1e-2):
        if torch.allclose(got, true_recon(x_logits, (x > 0.5).double()), rtol=1e-5, atol=1e-2):
            raise Mismatch(BINARISED)
        shown = f"{[round(v, 1) for v in oracle.tolist()]} but is {[round(v, 1) for v in got.tolist()]}"
        if (got < oracle * (1 - 1e-5)).any():  # sigmoid-then-log overshoots (log 0 clamped to -100); a cap undershoots
            raise Mismatch(f"with logits of magnitude 25-40 the loss should be {shown} (relative tolerance 1e-5): "
                           "the loss stops growing with the logits, as when they are clamped (x_logits.clamp(...)); a "
                           "confident wrong logit must cost its full value, so pass the logits unclamped to "
                           "F.binary_cross_entropy_with_logits")
        raise Mismatch(f"with logits of magnitude 25-40 the loss should be {shown} (relative tolerance 1e-5): sigmoid "
                       "saturates to exactly 0 or 1 in float32 and the log is clamped; use "
                       "F.binary_cross_entropy_with_logits on the logits instead of sigmoid followed by "
                       "binary_cross_entropy")
    return Verdict.passed()


@check("reconstruction_loss", "stable_for_large_logits", weight=1.25, judge=_judge_large,
       hint="never apply sigmoid first: binary_cross_entropy_with_logits is exact for any logit")
def stable_for_large_logits(ns, inputs):
    x_logits = torch.empty(3, 1, 28, 28)
    x = torch.empty(3, 1, 28, 28)
    x_logits[0], x[0] = 30.0, 0.0  # confident and wrong: 30 nats per pixel
    x_logits[1], x[1] = -40.0, 1.0  # confident and wrong the other way: 40 nats per pixel
    x_logits[2], x[2] = 25.0, 0.5  # a grey target: 12.5 nats per pixel
    return {"recon": capture(lambda: ns.reconstruction_loss(x_logits.clone(), x.clone())), "x_logits": x_logits, "x": x}


@check("reconstruction_loss", "keeps_dtype_and_device", weight=0.5, judge=_judge_dtype_device("the reconstruction loss"),
       hint="do not cast x or the logits (x.float()); the result follows the inputs' dtype and device")
def recon_keeps_dtype_and_device(ns, inputs):
    x_logits, x = _images_and_logits(2, batch=2)
    meta = torch.empty(2, 1, 28, 28, device="meta")
    return {"float64": capture(lambda: ns.reconstruction_loss(x_logits.double(), x.double())),
            "meta": capture(lambda: ns.reconstruction_loss(meta, meta.clone()))}


@check("reconstruction_loss", "backpropagates", weight=0.5,
       judge=_judge_reaches("the reconstruction loss", ("x_logits",), "decoder"),
       hint="F.binary_cross_entropy_with_logits(x_logits, x, reduction='none').flatten(1).sum(1), all in torch")
def recon_backpropagates(ns, inputs):
    x_logits, x = _images_and_logits(3, batch=2)
    return _grads_probe(lambda logits: ns.reconstruction_loss(logits, x.clone()), x_logits)


# ---------------------------------------------------------------- vae_loss
def with_trusted_terms(fn):
    """``fn`` with trusted kl_divergence / reconstruction_loss in its globals (the student's module is untouched)."""
    if not isinstance(fn, types.FunctionType):
        return fn
    namespace = dict(fn.__globals__)
    namespace.update(kl_divergence=true_kl, reconstruction_loss=true_recon)
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def _loss_inputs(seed: int):
    x_logits, x = _images_and_logits(seed, batch=6, scale=3.0)
    mu, logvar = _latents(seed + 100, batch=6, dim=4)
    return x_logits, x, mu, logvar


def _loss_outputs(value, what: str) -> list[torch.Tensor]:
    if raised(value):
        raise Mismatch(f"{what} raised {raised(value)}")
    if not isinstance(value, list) or len(value) != 3:
        raise Mismatch(f"{what} should return a tuple (loss, recon, kl), got {describe(value)}")
    out = []
    for name, v in zip(("loss", "recon", "kl"), value):
        v = tensor_of(v, f"{name} from {what}")
        if v.dim() != 0:
            raise Mismatch(f"{name} from {what} has shape {tuple(v.shape)}: return batch means, scalar tensors")
        out.append(v.double())
    return out


def _expected_terms(reference) -> tuple[float, float]:
    x_logits, x, mu, logvar = (reference[k].double() for k in ("x_logits", "x", "mu", "logvar"))
    return true_recon(x_logits, x).mean().item(), true_kl(mu, logvar).mean().item()


def _judge_batch_means(student, reference):
    loss, recon, kl = _loss_outputs(student["out"], "vae_loss(..., beta=1)")
    want_recon, want_kl = _expected_terms(reference)
    batch = reference["x"].shape[0]
    wanted = (want_recon + want_kl, want_recon, want_kl)
    got_values = (loss.item(), recon.item(), kl.item())
    if not all(abs(g - w) <= 1e-3 + 1e-5 * abs(w) for g, w in zip(got_values, wanted)) and all(
            abs(g - w) <= 1e-3 + 1e-5 * abs(w) for g, w in zip(sorted(got_values), sorted(wanted))):
        raise Mismatch("the three values are right but in the wrong order: return (loss, recon, kl)")
    for name, got, want in (("recon", recon, want_recon), ("kl", kl, want_kl), ("loss", loss, want_recon + want_kl)):
        if abs(got.item() - want) > 1e-3 + 1e-5 * abs(want):
            if abs(got.item() - batch * want) <= 1e-3 + 1e-5 * abs(batch * want):
                raise Mismatch(f"{name} is the sum over the batch: take the mean over the batch (nats per image)")
            per_element = {"recon": reference["x"][0].numel(), "kl": reference["mu"].shape[1]}.get(name)
            if per_element and abs(got.item() - want / per_element) <= 1e-4 + 1e-5 * abs(want / per_element):
                what = "pixels" if name == "recon" else "latent dimensions"
                raise Mismatch(f"{name} is averaged over the {what} too (a mean over every element, as the default "
                               f"reduction='mean' does): sum over the {what} of each image, then take the mean over "
                               "the batch; reconstruction_loss(...).mean() and kl_divergence(...).mean() do both")
            raise Mismatch(f"{name} is {got.item():.4f}, expected {want:.4f} (tolerance atol=1e-3, rtol=1e-5); "
                           "return (recon.mean() + beta * kl.mean(), recon.mean(), kl.mean()) in that order")
    return Verdict.passed()


@check("vae_loss", "batch_means", weight=1.5, judge=_judge_batch_means,
       hint="recon = reconstruction_loss(...).mean(), kl = kl_divergence(...).mean(), return (recon + beta * kl, recon, kl)")
def batch_means(ns, inputs):
    x_logits, x, mu, logvar = _loss_inputs(1)
    fn = with_trusted_terms(ns.vae_loss)
    return {"out": capture(lambda: fn(x_logits.clone(), x.clone(), mu.clone(), logvar.clone())),
            "x_logits": x_logits, "x": x, "mu": mu, "logvar": logvar}


def _judge_beta(student, reference):
    want_recon, want_kl = _expected_terms(reference)
    runs = {beta: _loss_outputs(student[key], f"vae_loss(..., beta={beta})")
            for key, beta in (("beta_quarter", 0.25), ("beta_four", 4.0))}
    if all(abs(kl.item() - beta * want_kl) < 1e-3 and abs(kl.item() - want_kl) > 1e-3
           for beta, (_, _, kl) in runs.items()):
        raise Mismatch("the returned kl is beta * kl (checked with beta=0.25 and 4): return the unweighted KL mean "
                       "and apply beta only inside loss")
    for beta, (loss, recon, kl) in runs.items():
        if abs(recon.item() - want_recon) > 1e-3 + 1e-5 * want_recon or abs(kl.item() - want_kl) > 1e-3 + 1e-5 * want_kl:
            other = runs[4.0 if beta == 0.25 else 0.25]
            if abs(other[1].item() - recon.item()) < 1e-6 and abs(other[2].item() - kl.item()) < 1e-6:
                raise Mismatch(f"recon and kl are {recon.item():.4f} and {kl.item():.4f} whatever beta, expected "
                               f"{want_recon:.4f} and {want_kl:.4f}: the terms themselves are wrong (see "
                               "batch_means), not their weighting")
            raise Mismatch(f"with beta={beta}, recon and kl should not change (got {recon.item():.4f}, {kl.item():.4f}; "
                           f"expected {want_recon:.4f}, {want_kl:.4f})")
    for beta, (loss, recon, kl) in runs.items():
        want = want_recon + beta * want_kl
        if abs(loss.item() - want) > 1e-3 + 1e-5 * abs(want):
            if abs(loss.item() - (want_recon + want_kl)) < 1e-3:
                raise Mismatch(f"with beta={beta} the loss ignores beta: loss = recon + beta * kl")
            raise Mismatch(f"with beta={beta} the loss is {loss.item():.4f}, expected recon + beta * kl = {want:.4f} "
                           "(tolerance atol=1e-3, rtol=1e-5)")
    return Verdict.passed()


@check("vae_loss", "beta_weighting", weight=0.75, judge=_judge_beta,
       hint="beta multiplies the KL inside loss only; recon and kl are returned unweighted")
def beta_weighting(ns, inputs):
    x_logits, x, mu, logvar = _loss_inputs(2)
    fn = with_trusted_terms(ns.vae_loss)
    return {"beta_quarter": capture(lambda: fn(x_logits.clone(), x.clone(), mu.clone(), logvar.clone(), 0.25)),
            "beta_four": capture(lambda: fn(x_logits.clone(), x.clone(), mu.clone(), logvar.clone(), beta=4.0)),
            "x_logits": x_logits, "x": x, "mu": mu, "logvar": logvar}


def _judge_backprop(student, reference):
    got = student["grads"]
    if raised(got):
        error = raised(got)
        if "does not require grad" in error:
            raise Mismatch("loss.backward() failed because the loss is detached from the graph: return the loss "
                           "tensor itself (no .detach(), .item() or torch.no_grad())")
        raise Mismatch(f"loss.backward() raised {error}")
    for name in ("x_logits", "mu", "logvar"):
        g = got[name]
        if g is None:
            raise Mismatch(f"no gradient reached {name}: compute the loss from the inputs with differentiable operations")
        g = tensor_of(g, f"the gradient of the loss with respect to {name}").double()
        want = reference["grads"][name].double()
        if tuple(g.shape) != tuple(want.shape) or not torch.allclose(g, want, atol=1e-6, rtol=1e-4):
            raise Mismatch(f"the gradient of the loss with respect to {name} differs from the reference "
                           "(tolerance atol=1e-6, rtol=1e-4): the loss must be recon.mean() + beta * kl.mean()")
    return Verdict.passed()


@check("vae_loss", "loss_backpropagates", weight=0.75, judge=_judge_backprop,
       hint="loss = recon.mean() + beta * kl.mean(), attached to the graph: training calls loss.backward()")
def loss_backpropagates(ns, inputs):
    x_logits, x, mu, logvar = (t.clone().requires_grad_(i != 1) for i, t in enumerate(_loss_inputs(3)))
    fn = with_trusted_terms(ns.vae_loss)

    def run():
        out = fn(x_logits, x, mu, logvar, 2.0)
        out[0].backward()
        return {"x_logits": x_logits.grad, "mu": mu.grad, "logvar": logvar.grad}

    return {"grads": capture(run)}
