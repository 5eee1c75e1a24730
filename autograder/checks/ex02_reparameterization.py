"""Checks for 02_reparameterization: reparameterize(mu, logvar, eps=None) -> z.

Values are compared exactly only when ``eps`` is given. With ``eps=None`` the draws are judged
statistically (means, standard deviations, the share beyond 3 sigma and correlations over 20,000 draws;
the same draws after the same ``torch.manual_seed``) or through
relations that hold for any draw (``dz/dlogvar = (z - mu) / 2``), never against the reference's
random numbers. ``normal_draws`` is shared with 04 and 05.
"""
from __future__ import annotations

import torch

from ..plaindata import MetaTensor, describe
from .base import ExerciseChecks, Mismatch, Verdict, capture, raised, tensor_of
from .ex01_encoder import distributions_unvalidated

CHECKS = ExerciseChecks("02_reparameterization")
check = CHECKS.check

MU = (1.5, -2.0, 0.0)
SIGMA = (0.5, 2.0, 1.0)  # logvar = log(sigma²) = (log 0.25, log 4, 0)
DRAWS = 20_000
MEAN_TOL = 0.05  # |sample mean - mu| / sigma; the standard error is 1/sqrt(20,000) = 0.007 (7 standard errors)
STD_TOL = 0.03  # |sample std / sigma - 1|; the standard error is 1/sqrt(40,000) = 0.005 (6 standard errors)
CORR_TOL = 0.05  # |correlation between latent dimensions|; the standard error is 0.007
# Beyond 3 standard deviations lie 0.27% of normal draws. Noise clamped to [-3, 3] (or bounded, like scaled uniform
# noise) has none there, yet its mean and standard deviation pass. Judged where at least TAIL_MIN_EXPECTED values are
# expected beyond 3; the count is Poisson, and for 34 expected the bounds are 3.5 (low) and 6 (high) standard errors.
TAIL_SIGMAS, TAIL_LOW, TAIL_HIGH, TAIL_MIN_EXPECTED = 3.0, 0.4, 2.0, 30
TAIL_FRACTION = 0.0026998  # P(|N(0, 1)| > 3)


def _inputs(seed: int, batch: int = 5, dim: int = 4, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, dim, generator=g).to(dtype)
    logvar = (torch.rand(batch, dim, generator=g) * 5 - 3).to(dtype)  # sigma from 0.22 to 2.7
    eps = torch.randn(batch, dim, generator=g).to(dtype)
    return mu, logvar, eps


def normal_draws(eps, what: str, mean_tol: float = MEAN_TOL, std_tol: float = STD_TOL,
                 corr_tol: float | None = CORR_TOL) -> None:
    """Judge helper: the columns of ``eps`` (N, D) look like independent N(0, 1) draws."""
    eps = tensor_of(eps, what).double()
    if eps.dim() != 2 or eps.shape[0] < 2:
        raise Mismatch(f"{what} has shape {tuple(eps.shape)}, expected (N, latent_dim)")
    if not torch.isfinite(eps).all():
        raise Mismatch(f"{what} contains NaN or inf")
    std = eps.std(dim=0)
    if eps.abs().max() < 1e-6:
        raise Mismatch(f"{what} is 0 everywhere: no noise was drawn (z = mu?)")
    if (std < 1e-6).any():
        raise Mismatch(f"{what} is identical in every row of the batch: draw one eps per element "
                       "(torch.randn_like(mu)), not one per latent dimension")
    worst_mean = eps.mean(dim=0).abs().max().item()
    if worst_mean > mean_tol:
        raise Mismatch(f"{what} should have mean 0 but a dimension has mean {worst_mean:.3f} "
                       f"(tolerance {mean_tol}; eps must be standard normal, torch.randn_like, not torch.rand_like)")
    worst = (std - 1).abs().argmax()
    if (std[worst] - 1).abs() > std_tol:
        raise Mismatch(f"{what} should have standard deviation 1 but a dimension has {std[worst].item():.3f} "
                       f"(tolerance {std_tol}): the scale is sigma = exp(logvar / 2), and eps ~ N(0, 1)")
    expected_tail = TAIL_FRACTION * eps.numel()
    if expected_tail >= TAIL_MIN_EXPECTED:
        beyond = (eps.abs() > TAIL_SIGMAS).sum().item()
        if beyond < TAIL_LOW * expected_tail:
            raise Mismatch(f"{what} has {beyond} of {eps.numel():,} values beyond 3 standard deviations, where a normal "
                           f"distribution has about {expected_tail:.0f}: the noise is clamped or bounded; draw it standard "
                           "normal (torch.randn_like, torch.randn) and use it as drawn (no clamp, no uniform noise)")
        if beyond > TAIL_HIGH * expected_tail:
            raise Mismatch(f"{what} has {beyond} of {eps.numel():,} values beyond 3 standard deviations, where a normal "
                           f"distribution has about {expected_tail:.0f}: the noise must be standard normal (torch.randn_like, "
                           "torch.randn)")
    if corr_tol is not None and eps.shape[1] > 1:
        corr = torch.corrcoef(eps.T)
        off = (corr - torch.eye(eps.shape[1], dtype=corr.dtype)).abs().max().item()
        if off > corr_tol:
            raise Mismatch(f"the noise of different latent dimensions is correlated ({off:.2f}, tolerance {corr_tol}): "
                           "draw an independent eps for every element, with the shape of mu")


# ---------------------------------------------------------------- values with a given eps
def _judge_explicit_eps(student, reference):
    mu, logvar, eps = (reference[k].double() for k in ("mu", "logvar", "eps"))
    z = tensor_of(student["z"], "z")
    if student.get("eps_changed"):
        raise Mismatch("reparameterize changed the eps it was given in place (eps.mul_(...), eps *= ...): the caller's "
                       "noise must stay as it was (a fixed noise batch is reused for every sample grid); return a new "
                       "tensor, z = mu + std * eps")
    if tuple(z.shape) != tuple(mu.shape):
        raise Mismatch(f"z has shape {tuple(z.shape)}, expected {tuple(mu.shape)} (the shape of mu)")
    z = z.double()
    atol, rtol = 1e-5, 1e-5
    if torch.allclose(z, reference["z"].double(), atol=atol, rtol=rtol):
        return Verdict.passed()
    guesses = {
        "mu + exp(logvar) * eps: exp(logvar) is the variance; the standard deviation is exp(logvar / 2)":
            mu + logvar.exp() * eps,
        "mu - sigma * eps: the noise is added, z = mu + sigma * eps": mu - (0.5 * logvar).exp() * eps,
        "mu + logvar * eps: sigma = exp(logvar / 2)": mu + logvar * eps,
        "mu + 0.5 * exp(logvar) * eps: sigma = exp(0.5 * logvar), the 0.5 goes inside the exp":
            mu + 0.5 * logvar.exp() * eps,
        "mu + exp(logvar / 2): the noise is missing": mu + (0.5 * logvar).exp(),
    }
    for text, candidate in guesses.items():
        if torch.allclose(z, candidate, atol=atol, rtol=rtol):
            raise Mismatch(f"z looks like {text}")
    worst = (z - reference["z"].double()).abs().max()
    raise Mismatch(f"z differs from mu + exp(logvar / 2) * eps by up to {worst:.3g} "
                   f"(tolerance atol={atol:g}, rtol={rtol:g}); when eps is given, use it instead of drawing new noise")


@check("reparameterize", "explicit_eps", weight=3, judge=_judge_explicit_eps,
       hint="z = mu + exp(0.5 * logvar) * eps, using eps when it is given")
def explicit_eps(ns, inputs):
    mu, logvar, eps = _inputs(1)
    given = eps.clone()
    z = capture(lambda: ns.reparameterize(mu.clone(), logvar.clone(), given))
    return {"z": z, "eps_changed": not torch.equal(given, eps), "mu": mu, "logvar": logvar, "eps": eps}


# ---------------------------------------------------------------- statistics of fresh draws
IN_PLACE = ("reparameterize changed mu or logvar in place (mu.add_(...), mu += ...): the caller's tensors must stay "
            "as they were; return a new tensor, z = mu + std * eps")


def _judge_statistics(student, reference):
    if student.get("inputs_changed"):
        raise Mismatch(IN_PLACE)
    z = tensor_of(student["z"], "z").double()
    if tuple(z.shape) != (DRAWS, len(MU)):
        raise Mismatch(f"for mu of shape {(DRAWS, len(MU))}, z has shape {tuple(z.shape)}")
    mu, sigma = torch.tensor(MU, dtype=torch.float64), torch.tensor(SIGMA, dtype=torch.float64)
    normal_draws((z - mu) / sigma, f"(z - mu) / sigma over {DRAWS:,} draws")
    first, second = tensor_of(student["first_call"], "z"), tensor_of(student["second_call"], "z")
    if torch.equal(first, second):
        raise Mismatch("two calls with eps=None returned the same z: draw fresh noise on every call "
                       "(do not seed the generator inside the function)")
    seeded = [tensor_of(student[k], "z") for k in ("after_seed", "after_same_seed")]
    if seeded[0].shape != seeded[1].shape or not torch.equal(*seeded):
        raise Mismatch("two calls after the same torch.manual_seed(...) returned different z: draw eps from PyTorch's "
                       "default generator (torch.randn_like(mu)), not from a torch.Generator of your own; seed_everything "
                       "does not reach a private generator, and a CPU one raises for inputs on a GPU")
    return Verdict.passed()


@check("reparameterize", "statistics", weight=3, judge=_judge_statistics,
       hint="with eps=None, draw eps = torch.randn_like(mu): standard normal, one value per element, fresh every call, "
            "from PyTorch's default generator")
def statistics(ns, inputs):
    mu = torch.tensor(MU).expand(DRAWS, len(MU)).contiguous()
    logvar = torch.log(torch.tensor(SIGMA) ** 2).expand(DRAWS, len(MU)).contiguous()
    small_mu, small_logvar, _ = _inputs(2)
    given = [t.clone() for t in (mu, logvar, small_mu, small_logvar)]
    outputs = {
        "z": capture(lambda: ns.reparameterize(mu, logvar)),
        "first_call": capture(lambda: ns.reparameterize(small_mu, small_logvar)),
        "second_call": capture(lambda: ns.reparameterize(small_mu, small_logvar)),
    }
    for key in ("after_seed", "after_same_seed"):  # the default generator, reseeded: the same draws
        torch.manual_seed(21)
        outputs[key] = capture(lambda: ns.reparameterize(small_mu, small_logvar))
    outputs["inputs_changed"] = not all(torch.equal(a, b) for a, b in zip(given, (mu, logvar, small_mu, small_logvar)))
    return outputs


# ---------------------------------------------------------------- gradients
def _backward(fn, mu, logvar, eps, weights):
    mu = mu.clone().requires_grad_(True)
    logvar = logvar.clone().requires_grad_(True)

    def run():
        z = fn(mu, logvar) if eps is None else fn(mu, logvar, eps)
        (z * weights).sum().backward()
        return {"z": z.detach(), "mu_grad": mu.grad, "logvar_grad": logvar.grad}

    return capture(run)


def _judge_gradients(student, reference):
    mu, logvar, weights = (reference[k].double() for k in ("mu", "logvar", "weights"))
    for case in ("eps_given", "eps_none"):
        what = "with eps given" if case == "eps_given" else "with eps=None"
        got = student[case]
        if raised(got):
            error = raised(got)
            if "in-place operation" in error:
                raise Mismatch(f"{what}, " + IN_PLACE + f" (backward raised {error})")
            if "does not require grad" in error:
                raise Mismatch(f"{what}, z is not connected to mu and logvar (no gradient can flow): do not detach, "
                               "use .data or wrap the computation in torch.no_grad()")
            raise Mismatch(f"{what}, computing z and calling backward raised {error}")
        z = tensor_of(got["z"], "z").double()
        if tuple(z.shape) != tuple(mu.shape):
            raise Mismatch(f"{what}, z has shape {tuple(z.shape)}, expected {tuple(mu.shape)}")
        for name in ("mu_grad", "logvar_grad"):
            if got[name] is None:
                raise Mismatch(f"{what}, no gradient reached {name[:-5]}: z must be computed from it with "
                               "differentiable operations (no .detach(), .data or torch.no_grad())")
        mu_grad = tensor_of(got["mu_grad"], "mu.grad").double()
        logvar_grad = tensor_of(got["logvar_grad"], "logvar.grad").double()
        if not torch.allclose(mu_grad, weights, atol=1e-5, rtol=1e-5):
            raise Mismatch(f"{what}, dz/dmu should be 1 (mu.grad equal to the upstream gradient) but differs by up to "
                           f"{(mu_grad - weights).abs().max():.3g} (tolerance 1e-5): sampling with torch.normal "
                           "gives no gradient; compute z = mu + sigma * eps")
        expected = 0.5 * weights * (z - mu)  # dz/dlogvar = sigma * eps / 2 = (z - mu) / 2
        if not torch.allclose(logvar_grad, expected, atol=1e-5, rtol=1e-4):
            raise Mismatch(f"{what}, dz/dlogvar should be (z - mu) / 2 = sigma * eps / 2 but logvar.grad differs by up "
                           f"to {(logvar_grad - expected).abs().max():.3g} (tolerance atol=1e-5, rtol=1e-4): "
                           "sigma = exp(0.5 * logvar)")
    return Verdict.passed()


@check("reparameterize", "gradient_flow", weight=2, judge=_judge_gradients,
       hint="z = mu + torch.exp(0.5 * logvar) * eps is differentiable in mu and logvar; torch.normal is not")
def gradient_flow(ns, inputs):
    mu, logvar, eps = _inputs(3)
    weights = torch.randn(mu.shape, generator=torch.Generator().manual_seed(4))
    return {
        "eps_given": _backward(ns.reparameterize, mu, logvar, eps, weights),
        "eps_none": _backward(ns.reparameterize, mu, logvar, None, weights),
        "mu": mu, "logvar": logvar, "weights": weights,
    }


# ---------------------------------------------------------------- dtype and device
def _judge_dtype_device(student, reference):
    z = student["float64"]
    if raised(z):
        raise Mismatch(f"with float64 mu and logvar, the call raised {raised(z)}")
    z = tensor_of(z, "z for float64 inputs")
    if z.dtype != torch.float64:
        raise Mismatch(f"with float64 mu and logvar, z is {z.dtype}: draw eps with the dtype of the inputs "
                       "(torch.randn_like(mu))")
    if tuple(z.shape) != tuple(reference["float64"].shape):
        raise Mismatch(f"with float64 inputs, z has shape {tuple(z.shape)}, expected {tuple(reference['float64'].shape)}")
    # mu = 0 and logvar = 0, so z is eps itself: float32 noise converted to float64 has float32-exact values.
    float32_exact = (z.float().double() == z).double().mean().item()
    if float32_exact > 0.5:
        raise Mismatch("with float64 mu and logvar, eps was drawn in float32 and converted: draw it with the dtype "
                       "of the inputs (torch.randn_like(mu), or dtype=mu.dtype)")
    meta = student["meta"]
    if raised(meta):
        raise Mismatch(f"with mu and logvar on the meta device, the call raised {raised(meta)} — a tensor was "
                       "created on the CPU; use torch.randn_like(mu) or device=mu.device")
    if not isinstance(meta, MetaTensor):
        raise Mismatch(f"with mu and logvar on the meta device, z came back as {describe(meta)}, not on that device")
    return Verdict.passed()


@check("reparameterize", "keeps_dtype_and_device", weight=2, judge=_judge_dtype_device,
       hint="torch.randn_like(mu) draws eps with the shape, dtype and device of mu (torch.randn(mu.shape) does not)")
def keeps_dtype_and_device(ns, inputs):
    zeros = torch.zeros(1000, 4, dtype=torch.float64)
    meta = torch.empty(3, 4, device="meta")
    float64 = capture(lambda: ns.reparameterize(zeros, zeros.clone()))
    with distributions_unvalidated():
        on_meta = capture(lambda: ns.reparameterize(meta, meta.clone()))
    return {"float64": float64, "meta": on_meta}

