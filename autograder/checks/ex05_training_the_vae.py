"""Checks for 05_training_the_vae: vae_train_step, vae_evaluate, interpolate_latents.

The training and evaluation functions are run on ``TinyVAE``, a small stand-in that honours the
VAE contract (``.encoder``, ``.decoder``, ``forward(x) -> (x_logits, mu, logvar)`` with ``z``
sampled) and records, at every call of its encoder and decoder, the train/eval mode and whether
gradients were being recorded. For the deterministic checks its posterior is nearly a point
(``logvar = -30``, ``sigma = 3e-7``), so results do not depend on how a submission draws its
noise; the sampling check uses ``sigma = 1`` and compares statistically.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..plaindata import MetaTensor, describe, tensor_facts
from .base import ExerciseChecks, Mismatch, Verdict, capture, number_of, raised, tensor_of
from .ex03_kl_and_elbo import true_kl, true_recon

CHECKS = ExerciseChecks("05_training_the_vae")
check = CHECKS.check

LR = 0.01  # plain SGD: the update is exactly -LR * gradient, so a stale gradient shows at once
PARAM_ATOL, PARAM_RTOL = 1e-5, 1e-4
LOSS_ATOL, LOSS_RTOL = 1e-3, 1e-5
SAMPLED_RTOL = 0.10  # sampled recon over 512 images varies by 0.64% (std); z = mu gives 28% less


# ---------------------------------------------------------------- the stand-in model
class _Logged(nn.Module):
    """Base of the stand-in's parts: appends (training, grad enabled) to a shared log at every call."""

    def __init__(self, log: list):
        super().__init__()
        self.log = log

    def _record(self) -> None:
        self.log.append([self.training, torch.is_grad_enabled()])


class _TinyEncoder(_Logged):
    def __init__(self, latent_dim: int, log: list):
        super().__init__(log)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.Tanh())
        self.fc_mu = nn.Linear(16, latent_dim)
        self.fc_logvar = nn.Linear(16, latent_dim)

    def forward(self, x):
        self._record()
        h = self.hidden(x)
        return self.fc_mu(h), self.fc_logvar(h)


class _TinyDecoder(_Logged):
    def __init__(self, latent_dim: int, log: list):
        super().__init__(log)
        self.fc = nn.Linear(latent_dim, 784)

    def forward(self, z):
        self._record()
        return self.fc(z).view(-1, 1, 28, 28)


class TinyVAE(nn.Module):
    """Stand-in VAE with the contract's interface; ``logvar`` starts near ``log_sigma2``."""

    def __init__(self, latent_dim: int = 3, log_sigma2: float = -30.0, decoder_scale: float = 1.0, seed: int = 0):
        super().__init__()
        self.log: list = []
        self.latent_dim = latent_dim
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.encoder = _TinyEncoder(latent_dim, self.log)
            self.decoder = _TinyDecoder(latent_dim, self.log)
        with torch.no_grad():
            self.encoder.fc_logvar.weight.mul_(0.01)
            self.encoder.fc_logvar.bias.fill_(log_sigma2)
            self.decoder.fc.weight.mul_(decoder_scale)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decoder(z), mu, logvar


def _images(batch: int, seed: int, binary: bool = False) -> torch.Tensor:
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    return (x > 0.5).float() if binary else x


def _params(model) -> list:
    return [p.detach().clone() for p in model.parameters()]


# ---------------------------------------------------------------- vae_train_step
def _steps(ns, batches, beta=None, seed: int = 0) -> dict:
    """Fresh stand-in and fresh SGD; one train step per batch; parameters before and after each step."""
    model = TinyVAE(seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    seen = {"before": _params(model), "after": []}
    for i, x in enumerate(batches):
        torch.manual_seed(100 + i)
        kwargs = {} if beta is None else {"beta": beta}
        out = capture(lambda: ns.vae_train_step(model, x, optimizer, **kwargs))
        if raised(out):
            return out
        seen["after"].append(_params(model))
    return seen


def _compare_params(got, expected, what: str, before=None) -> None:
    """Raise ``what`` unless every parameter matches; with ``before`` (the weights before the step), an update that
    is the reference's scaled by a constant is named as such."""
    got = [tensor_of(g, "a parameter") for g in got]
    if len(got) == len(expected) and all(
            tuple(g.shape) == tuple(e.shape) and torch.allclose(g.double(), e.double(), atol=PARAM_ATOL, rtol=PARAM_RTOL)
            for g, e in zip(got, expected)):
        return
    if before is not None and len(got) == len(expected) == len(before) and all(
            tuple(g.shape) == tuple(e.shape) == tuple(b.shape) for g, e, b in zip(got, expected, before)):
        mine = torch.cat([(g.double() - b.double()).flatten() for g, b in zip(got, before)])
        theirs = torch.cat([(e.double() - b.double()).flatten() for e, b in zip(expected, before)])
        scale = (mine @ theirs / (theirs @ theirs)).item() if theirs.abs().sum() > 0 else 0.0
        if scale > 0 and abs(scale - 1) > 1e-3 and (mine - scale * theirs).norm() <= 1e-3 * mine.norm():
            raise Mismatch(f"the update points exactly the way of the reference's but is {scale:.3g} times as long: the "
                           "loss or its gradients were scaled (loss divided by the batch size, gradients clipped, "
                           "optimizer.step() called twice?); backpropagate the loss of vae_loss as it is, then "
                           "call optimizer.step() once")
    raise Mismatch(what)


def _judge_updates(student, reference):
    seen = student["run"]
    if raised(seen):
        raise Mismatch(f"vae_train_step raised {raised(seen)}")
    before, after = seen["before"], seen["after"][0]
    if all(torch.equal(a, b) for a, b in zip(after, before)):
        raise Mismatch("the weights did not change: call optimizer.step() after loss.backward(), and zero the "
                       "gradients before backward, not between backward and step")
    _compare_params(after, reference["run"]["after"][0],
                    f"after one step of plain SGD the weights differ from the reference (tolerance atol={PARAM_ATOL:g}, "
                    f"rtol={PARAM_RTOL:g}): backpropagate the whole loss = recon + beta * kl from vae_loss, once, and "
                    "step the optimizer passed in (not one of your own)",
                    before=before)
    return Verdict.passed()


@check("vae_train_step", "updates_weights", weight=1, judge=_judge_updates,
       hint="forward, vae_loss, optimizer.zero_grad(), loss.backward(), optimizer.step()")
def updates_weights(ns, inputs):
    return {"run": _steps(ns, [_images(8, 1)])}


def _judge_accumulation(student, reference):
    seen = student["run"]
    if raised(seen):
        raise Mismatch(f"vae_train_step raised {raised(seen)}")
    first, second = seen["after"]
    _compare_params(first, reference["run"]["after"][0],
                    "the first of two steps already gives other weights than the reference (see updates_weights)",
                    before=seen["before"])
    _compare_params(second, reference["run"]["after"][1],
                    "the first step is right but the second is not: the gradients of the first step were still in "
                    "p.grad; call optimizer.zero_grad() before loss.backward() in every step")
    return Verdict.passed()


@check("vae_train_step", "no_gradient_accumulation", weight=1, judge=_judge_accumulation,
       hint="PyTorch adds every backward() into p.grad: optimizer.zero_grad() before loss.backward()")
def no_gradient_accumulation(ns, inputs):
    return {"run": _steps(ns, [_images(8, 2), _images(8, 3)], seed=1)}


def _judge_beta(student, reference):
    seen = student["run"]
    if raised(seen):
        raise Mismatch(f"vae_train_step(..., beta=4.0) raised {raised(seen)}")
    ignored = raised(reference["run_beta_1"]) is None and all(
        tuple(tensor_of(g, "a parameter").shape) == tuple(e.shape)
        and torch.allclose(g.double(), e.double(), atol=PARAM_ATOL, rtol=PARAM_RTOL)
        for g, e in zip(seen["after"][0], reference["run_beta_1"]["after"][0]))
    _compare_params(seen["after"][0], reference["run"]["after"][0],
                    "with beta=4.0 the update is the one of beta=1: pass beta on to vae_loss" if ignored else
                    "with beta=4.0 the update differs from one step on recon + 4 * kl (see updates_weights: does the "
                    "step with the default beta match?)", before=seen["before"])
    return Verdict.passed()


def _beta_1_update(ns):
    """Prepared on the reference only: the update with the default beta, which a step ignoring beta=4 makes."""
    return {"run_beta_1": _steps(ns, [_images(8, 4)], seed=2)}


@check("vae_train_step", "uses_beta", weight=0.5, judge=_judge_beta, prepare=_beta_1_update,
       hint="vae_loss(x_logits, x, mu, logvar, beta)")
def uses_beta(ns, inputs):
    # the judge reads run_beta_1 from the reference's output (the prepared inputs, passed through)
    return {"run": _steps(ns, [_images(8, 4)], beta=4.0, seed=2), "run_beta_1": inputs.get("run_beta_1")}


def _judge_detached(student, reference):
    seen = student["out"]
    if raised(seen):
        raise Mismatch(f"vae_train_step raised {raised(seen)}")
    if not isinstance(seen, dict) or "values" not in seen:
        raise Mismatch(f"vae_train_step should return a dict with loss, recon and kl, got {describe(seen)}")
    missing = [k for k in ("loss", "recon", "kl") if k not in seen["values"]]
    if missing:
        raise Mismatch(f"the returned dict lacks {', '.join(missing)} (it has {sorted(seen['values'])})")
    for key in ("loss", "recon", "kl"):
        v = seen["values"][key]
        if not v["is_tensor"]:
            raise Mismatch(f"{key} is a {v['type']}, not a tensor: return t.detach(), not t.item() (a GPU loop would "
                           "wait for the device at every step)")
        if v["shape"] != []:
            raise Mismatch(f"{key} has shape {tuple(v['shape'])}: return the batch means, scalar tensors")
        if v["requires_grad"]:
            raise Mismatch(f"{key} still requires grad: return {key}.detach(), so that stored losses do not keep "
                           "every step's graph alive")
    return Verdict.passed()


@check("vae_train_step", "returns_detached_scalars", weight=0.75, judge=_judge_detached,
       hint='return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}')
def returns_detached_scalars(ns, inputs):
    model = TinyVAE(seed=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    out = capture(lambda: ns.vae_train_step(model, _images(8, 5), optimizer))
    if raised(out) or not isinstance(out, dict):
        return {"out": out}
    values = {}
    for key, v in list(dict.items(out)):  # dict's own items: a dict subclass cannot show other values
        facts = tensor_facts(v)  # what PyTorch stores: a subclass's requires_grad property cannot lie
        values[str(key)] = {"type": type(v).__name__, "is_tensor": facts is not None,
                            "shape": facts["shape"] if facts else None,
                            "requires_grad": facts["requires_grad"] if facts else False}
    return {"out": {"values": values}}


def _judge_losses(student, reference):
    got = student["returned"]
    if raised(got):
        raise Mismatch(f"vae_train_step raised {raised(got)}")
    if not isinstance(got, dict):
        raise Mismatch(f"vae_train_step should return a dict, got {describe(got)}")
    want = reference["recomputed"]
    values = {}
    for key in ("loss", "recon", "kl"):
        if key not in got:
            raise Mismatch(f"the returned dict lacks {key!r}")
        values[key] = number_of(got[key], key)
    wants = {key: number_of(want[key], key) for key in ("recon", "kl", "loss")}
    close = lambda a, b: abs(a - b) <= LOSS_ATOL + LOSS_RTOL * abs(b)  # noqa: E731
    wrong = [key for key in wants if not close(values[key], wants[key])]
    if wrong and all(any(close(values[key], wants[other]) for other in wants if other != key) for key in wrong):
        named = ", ".join(f"{key} {values[key]:.4f}" for key in wrong)
        raise Mismatch(f"the returned values are right but under the wrong names ({named}; recomputed: "
                       + ", ".join(f"{k} {v:.4f}" for k, v in wants.items())
                       + "): vae_loss returns (loss, recon, kl) in that order — unpack it as loss, recon, kl = ...")
    for key in ("recon", "kl", "loss"):
        w = wants[key]
        if abs(values[key] - w) > LOSS_ATOL + LOSS_RTOL * abs(w):
            if key == "loss" and abs(values[key] - (values["recon"] + values["kl"])) < LOSS_ATOL:
                raise Mismatch("with beta=0.5 the returned loss is recon + kl: use beta, loss = recon + beta * kl")
            raise Mismatch(f"the returned {key} is {values[key]:.4f} but recomputing it on this batch with the weights "
                           f"before the step gives {w:.4f} (tolerance atol={LOSS_ATOL:g}, rtol={LOSS_RTOL:g}): return "
                           "the batch-mean losses of this step, computed before optimizer.step()")
    return Verdict.passed()


@check("vae_train_step", "losses_match_recomputation", weight=0.75, judge=_judge_losses,
       hint="return the loss, recon and kl that vae_loss gave for this batch (before the update)")
def losses_match_recomputation(ns, inputs):
    model = TinyVAE(seed=4)
    snapshot = copy.deepcopy(model)
    x = _images(8, 6)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    torch.manual_seed(12)
    returned = capture(lambda: ns.vae_train_step(model, x, optimizer, beta=0.5))
    torch.manual_seed(12)
    with torch.no_grad():
        x_logits, mu, logvar = snapshot(x)
        recon, kl = true_recon(x_logits, x).mean(), true_kl(mu, logvar).mean()
    return {"returned": returned, "recomputed": {"loss": recon + 0.5 * kl, "recon": recon, "kl": kl}}


# ---------------------------------------------------------------- vae_evaluate
def _metrics(value, what: str) -> dict:
    if raised(value):
        raise Mismatch(f"{what} raised {raised(value)}")
    if not isinstance(value, dict):
        raise Mismatch(f"{what} should return a dict with neg_elbo, recon and kl, got {describe(value)}")
    missing = [k for k in ("neg_elbo", "recon", "kl") if k not in value]
    if missing:
        raise Mismatch(f"the dict returned by {what} lacks {', '.join(missing)}")
    return {k: number_of(value[k], k) for k in ("neg_elbo", "recon", "kl")}


def _evaluate(ns, model, batches) -> tuple:
    """``vae_evaluate(model, batches)`` called with gradients on, as from a training loop; returns its output and
    whether it left them switched off. The caller's mode is put back either way, so no later check inherits it."""
    with torch.enable_grad():
        out = capture(lambda: ns.vae_evaluate(model, batches))
        return out, not torch.is_grad_enabled()


def _as_plain(value):
    """Python floats (also NumPy's, a float subclass) travel as floats; anything else as it is."""
    if isinstance(value, dict):
        return {str(k): float(v) if isinstance(v, float) else v for k, v in value.items()}
    return value


def _judge_values(student, reference):
    got = _metrics(student["metrics"], "vae_evaluate")
    want = _metrics(reference["metrics"], "the reference")
    if got["recon"] == 0 and got["kl"] == 0:
        raise Mismatch("recon and kl are 0: the loop saw no images; batches may be a generator, which can be "
                       "looped over only once (count the images in the same loop)")
    close = lambda a, b: abs(a - b) <= LOSS_ATOL + 1e-4 * abs(b)  # noqa: E731
    if not all(close(got[k], want[k]) for k in want):
        first = _metrics(reference["first_batch_only"], "the reference on the first batch")
        if all(close(got[k], first[k]) for k in first):
            raise Mismatch("the values are those of the first batch alone: the loop ends after one batch (a return "
                           "or break inside the for loop?); go through every batch, then divide by the number of images")
    for key in ("recon", "kl", "neg_elbo"):
        if not close(got[key], want[key]):
            raise Mismatch(f"{key} is {got[key]:.4f}, expected {want[key]:.4f} (tolerance atol={LOSS_ATOL:g}, "
                           "rtol=1e-4) on batches of 20, 4 and 8 images: average over images, not over batches "
                           "(add up per-image sums, divide by the number of images), and neg_elbo = recon + kl")
    return Verdict.passed()


def _uneven_batches():
    """A generator (it can be looped over once) of 20 random, 4 all-white and 8 all-black images."""
    yield _images(20, 7)
    yield torch.ones(4, 1, 28, 28)
    yield torch.zeros(8, 1, 28, 28)


def _first_batch_only(ns):
    """Prepared on the reference only: the metrics of the first batch alone, which a loop ending early returns."""
    return {"first_batch_only": _as_plain(_evaluate(ns, TinyVAE(seed=5), [next(_uneven_batches())])[0])}


@check("vae_evaluate", "values", weight=1, judge=_judge_values, prepare=_first_batch_only,
       hint="sum reconstruction_loss and kl_divergence over every image of every batch, then divide by the number "
            "of images; batches may be a generator, so loop over it once")
def values(ns, inputs):
    metrics = _as_plain(_evaluate(ns, TinyVAE(seed=5), _uneven_batches())[0])
    # the judge reads first_batch_only from the reference's output (the prepared inputs, passed through)
    return {"metrics": metrics, "first_batch_only": inputs.get("first_batch_only")}


def _judge_sampled(student, reference):
    got = _metrics(student["metrics"], "vae_evaluate")
    want = _metrics(reference["metrics"], "the reference")
    at_mu = number_of(reference["recon_at_mu"], "recon at z = mu")
    if abs(got["kl"] - want["kl"]) > LOSS_ATOL + 1e-4 * abs(want["kl"]):
        raise Mismatch(f"kl is {got['kl']:.4f}, expected {want['kl']:.4f} (tolerance atol={LOSS_ATOL:g}, rtol=1e-4)")
    for key in ("recon", "neg_elbo"):
        if abs(got[key] - want[key]) > SAMPLED_RTOL * abs(want[key]):
            if abs(got["recon"] - at_mu) < 1e-3 * abs(at_mu):
                raise Mismatch(f"recon is {got['recon']:.1f}, exactly what decoding z = mu gives; the ELBO samples "
                               f"z ~ q(z | x) (about {want['recon']:.1f} here): use model(x), or reparameterize")
            raise Mismatch(f"with a wide posterior (sigma = 1) {key} is {got[key]:.1f}, expected about {want[key]:.1f} "
                           f"(relative tolerance {SAMPLED_RTOL:g}; z must be sampled from N(mu, sigma²))")
    return Verdict.passed()


@check("vae_evaluate", "samples_z", weight=1, judge=_judge_sampled,
       hint="the test metric samples z exactly as training does (model(x)); never decode z = mu")
def samples_z(ns, inputs):
    model = TinyVAE(latent_dim=8, log_sigma2=0.0, decoder_scale=3.0, seed=6)
    batches = [_images(128, 10 + i, binary=True) for i in range(4)]
    torch.manual_seed(13)
    metrics = _as_plain(_evaluate(ns, model, batches)[0])
    with torch.no_grad():
        x = torch.cat(batches)
        mu, _ = model.encoder(x)
        recon_at_mu = true_recon(model.decoder(mu), x).mean()
    return {"metrics": metrics, "recon_at_mu": recon_at_mu}


def _judge_no_grad(student, reference):
    seen = student["run"]
    if raised(seen):
        raise Mismatch(f"vae_evaluate raised {raised(seen)}")
    if not seen["log"]:
        raise Mismatch("vae_evaluate never called the model's encoder or decoder")
    if any(grad for _, grad in seen["log"]):
        raise Mismatch("the model ran with gradients being recorded: wrap the loop in torch.no_grad() "
                       "(evaluation needs no graph, and building one wastes memory)")
    if seen["grad_switched_off"]:
        raise Mismatch("vae_evaluate left gradient recording switched off for the caller (torch.set_grad_enabled(False) "
                       "or torch.no_grad().__enter__() without a way back): the next training step could not "
                       "backpropagate; use the context manager, with torch.no_grad(): ...")
    return Verdict.passed()


@check("vae_evaluate", "no_grad", weight=0.75, judge=_judge_no_grad, hint="with torch.no_grad(): around the evaluation loop")
def no_grad(ns, inputs):
    model = TinyVAE(seed=7)
    out, switched_off = _evaluate(ns, model, [_images(6, 20), _images(3, 21)])
    return {"run": out if raised(out) else {"log": list(model.log), "grad_switched_off": switched_off}}


def _judge_modes(student, reference):
    for key, start in (("from_train", "train"), ("from_eval", "eval")):
        seen = student[key]
        if raised(seen):
            raise Mismatch(f"vae_evaluate raised {raised(seen)}")
        if not seen["log"]:
            raise Mismatch("vae_evaluate never called the model's encoder or decoder")
        if any(training for training, _ in seen["log"]):
            raise Mismatch("the model was in train mode during evaluation: call model.eval() before the loop")
        after = seen["after"]
        if start == "train" and not all(after):
            raise Mismatch("a model in train mode was left in eval mode: remember was_training = model.training "
                           "and restore it with model.train(was_training)")
        if start == "eval" and any(after):
            raise Mismatch("a model in eval mode came back in train mode: restore the mode it had before "
                           "(model.train(was_training)), not always train()")
    return Verdict.passed()


def _mode_run(ns, start_training: bool):
    model = TinyVAE(seed=8)
    model.train(start_training)
    out = _evaluate(ns, model, [_images(5, 22)])[0]
    if raised(out):
        return out
    return {"log": list(model.log), "after": [m.training for m in model.modules()]}


@check("vae_evaluate", "eval_mode_and_restores", weight=0.75, judge=_judge_modes,
       hint="was_training = model.training; model.eval(); ...; model.train(was_training)")
def eval_mode_and_restores(ns, inputs):
    return {"from_train": _mode_run(ns, True), "from_eval": _mode_run(ns, False)}


def _judge_floats(student, reference):
    got = student["metrics"]
    if raised(got):
        raise Mismatch(f"vae_evaluate raised {raised(got)}")
    if not isinstance(got, dict):
        raise Mismatch(f"vae_evaluate should return a dict, got {describe(got)}")
    for key in ("neg_elbo", "recon", "kl"):
        if key not in got:
            raise Mismatch(f"the returned dict lacks {key!r}")
        if type(got[key]) is not float:
            raise Mismatch(f"{key} is {describe(got[key])}, not a Python float: use .item() when adding up, "
                           "or float(...) at the end")
    return Verdict.passed()


@check("vae_evaluate", "returns_floats", weight=0.5, judge=_judge_floats,
       hint="return plain Python floats (t.item()), ready for printing and JSON")
def returns_floats(ns, inputs):
    model = TinyVAE(seed=9)
    return {"metrics": _as_plain(_evaluate(ns, model, [_images(4, 23)])[0])}


# ---------------------------------------------------------------- interpolate_latents
def _ends(seed: int, dim: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(dim, generator=g).to(dtype), torch.randn(dim, generator=g).to(dtype)


def _path(value, what: str, steps: int, dim: int) -> torch.Tensor:
    value = tensor_of(value, what)
    if tuple(value.shape) != (steps, dim):
        raise Mismatch(f"{what} has shape {tuple(value.shape)}, expected ({steps}, {dim}) = (steps, latent_dim)")
    return value.double()


def _judge_ends(student, reference):
    for key, steps in (("two_steps", 2), ("nine_steps", 9)):
        z1, z2 = reference["z1"].double(), reference["z2"].double()
        path = _path(student[key], f"interpolate_latents(z1, z2, steps={steps})", steps, z1.shape[0])
        if not torch.allclose(path[0], z1, atol=1e-6, rtol=0):
            if torch.allclose(path[0], z2, atol=1e-6, rtol=0):
                raise Mismatch("the path runs from z2 to z1: it must start at z1 and end at z2")
            raise Mismatch(f"with steps={steps} the first row is not z1 (tolerance 1e-6)")
        if not torch.allclose(path[-1], z2, atol=1e-6, rtol=0):
            raise Mismatch(f"with steps={steps} the last row is not z2 (tolerance 1e-6): include both ends, "
                           "t = torch.linspace(0, 1, steps), not arange(steps) / steps")
    return Verdict.passed()


@check("interpolate_latents", "shape_and_ends", weight=1, judge=_judge_ends,
       hint="(steps, latent_dim), first row exactly z1, last row exactly z2")
def shape_and_ends(ns, inputs):
    z1, z2 = _ends(1, 4)
    return {"two_steps": capture(lambda: ns.interpolate_latents(z1.clone(), z2.clone(), 2)),
            "nine_steps": capture(lambda: ns.interpolate_latents(z1.clone(), z2.clone(), 9)),
            "z1": z1, "z2": z2}


def _judge_linear(student, reference):
    if student.get("inputs_changed"):
        raise Mismatch("interpolate_latents changed z1 or z2 in place (z2.sub_(z1), z1 += ...): the caller's codes "
                       "must stay as they were; compute the path into new tensors, (1 - t) * z1 + t * z2")
    expected = reference["path"].double()
    path = _path(student["path"], "interpolate_latents(z1, z2, steps=6)", *expected.shape)
    if not torch.allclose(path, expected, atol=1e-6, rtol=1e-5):
        raise Mismatch(f"the points differ from (1 - t) * z1 + t * z2 with t = 0, 0.2, ..., 1 by up to "
                       f"{(path - expected).abs().max():.3g} (tolerance atol=1e-6, rtol=1e-5): the path is a straight "
                       "line with evenly spaced points, not a spherical or eased one")
    return Verdict.passed()


@check("interpolate_latents", "linear_path", weight=0.5, judge=_judge_linear,
       hint="t = torch.linspace(0, 1, steps)[:, None]; z = (1 - t) * z1 + t * z2, leaving z1 and z2 unchanged")
def linear_path(ns, inputs):
    z1, z2 = _ends(2, 5)
    given = (z1.clone(), z2.clone())
    path = capture(lambda: ns.interpolate_latents(z1, z2, 6))
    return {"path": path, "inputs_changed": not (torch.equal(z1, given[0]) and torch.equal(z2, given[1]))}


def _judge_path_dtype(student, reference):
    # float64 codes first; float16 ones also show a float32 t, which type promotion hides behind float64
    for key, dtype, why in (("float64", torch.float64, ""),
                            ("float16", torch.float16, "t was made in another dtype (torch.linspace without dtype=) "
                                                       "and type promotion changed the result's; ")):
        got = student[key]
        if raised(got):
            raise Mismatch(f"with {key} codes the call raised {raised(got)}")
        got = tensor_of(got, f"the path of {key} codes")
        if got.dtype != dtype:
            raise Mismatch(f"with {key} codes the path is {got.dtype}: {why}create t with dtype=z1.dtype")
    meta = student["meta"]
    if raised(meta):
        raise Mismatch(f"with codes on the meta device the call raised {raised(meta)}: create t on the codes' device "
                       "(torch.linspace(..., device=z1.device, dtype=z1.dtype))")
    if not isinstance(meta, MetaTensor):
        raise Mismatch(f"with codes on the meta device the path came back as {describe(meta)}")
    return Verdict.passed()


@check("interpolate_latents", "keeps_dtype_and_device", weight=0.5, judge=_judge_path_dtype,
       hint="torch.linspace(0, 1, steps, dtype=z1.dtype, device=z1.device)")
def path_keeps_dtype_and_device(ns, inputs):
    z1, z2 = _ends(3, 3, torch.float64)
    meta = torch.empty(3, device="meta")
    half1, half2 = (z.half() for z in _ends(4, 3))  # float64 hides a float32 t (promotion keeps float64)
    return {"float64": capture(lambda: ns.interpolate_latents(z1, z2, 7)),
            "float16": capture(lambda: ns.interpolate_latents(half1, half2, 5)),
            "meta": capture(lambda: ns.interpolate_latents(meta, meta.clone(), 4))}
