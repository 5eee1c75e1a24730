"""Checks for 10_gan_training: discriminator_step, generator_step, gan_train_step.

The steps run on tiny stand-in models with plain SGD (no momentum), so every effect is visible and
the checks take milliseconds:

* ``_StubGenerator``'s fake batch depends on its parameters only, not on the noise *values*, so every
  honest way of drawing the noise (``sample_noise``, ``torch.randn``, ``torch.normal``, before or after
  ``D(real)``) yields the same batch and the same weights; it records the noise it receives, which is
  judged on its own: shape, standard normal statistics, fresh draws, and the device (a run on ``meta``).
* ``_StubDiscriminator`` is a two-layer MLP without BatchNorm or dropout: ``D(real)`` and ``D(fake)``
  computed separately or on one concatenated batch, in train or eval mode, give the same logits.
* An SGD update is proportional to the gradient, so a missing ``zero_grad``, a clip after ``step()``
  or an extra step changes the weights measurably (weights compared at atol 1e-6, rtol 1e-5).

``gan_train_step`` is compared with the reference *and* with the student's own step functions run
in the prescribed order: a mistake inside ``discriminator_step`` costs points once, and an inlined
``gan_train_step`` is judged on its own. Every G update must get fresh noise; the D update may share its
batch with the first G update (as in the PyTorch DCGAN tutorial).

``argument_order`` calls each step with its optional arguments by position and by keyword: the contract's
parameter order is what callers rely on. When a step raises, ``_capture`` also records what the course's
functions in the traceback received, so an argument passed in the wrong position (``real_label`` landing in
``noise_dim``, say) is named with the contract's signature, in full by the item's first check and in a few
words by the others.
"""
from __future__ import annotations

import math
import traceback

import torch
import torch.nn.functional as F
from torch import nn

from ..plaindata import describe, tensor_facts
from .base import ExerciseChecks, Mismatch, Verdict, assert_close, capture, number_of, raised, tensor_of

CHECKS = ExerciseChecks("10_gan_training")
check = CHECKS.check

IMAGE = (1, 4, 4)
BATCH = 6
LR = 0.1
TINY_NORM = 0.01  # max_grad_norm small enough that clipping always acts
ATOL, RTOL = 1e-6, 1e-5


class _StubGenerator(nn.Module):
    """Stand-in generator: ``tanh(gain * image)`` repeated for every noise row; records the noise it sees.

    Two parameter tensors whose gradients have different norms, so clipping each parameter on its own
    differs from clipping the total norm.
    """

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(11)
        self.image = nn.Parameter(0.8 * torch.randn(1, *IMAGE, generator=g))
        self.gain = nn.Parameter(torch.tensor([1.5]))
        self.noise_dim = 100  # as the course's Generator: code may read G.noise_dim (the default noise_dim)
        self.noise: list[torch.Tensor] = []  # every z received, detached copies (on z's device)

    @property
    def noise_shapes(self) -> list[list[int]]:
        return [list(z.shape) for z in self.noise]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.noise.append(z.detach().clone())
        return torch.tanh(self.gain * self.image).expand(z.shape[0], *IMAGE)  # (B, 1, 4, 4)


class _StubDiscriminator(nn.Module):
    """Stand-in discriminator: Linear(16, 8) LeakyReLU(0.2) Linear(8, 1) -> logits (B, 1)."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(16, 8)
        self.out = nn.Linear(8, 1)
        g = torch.Generator().manual_seed(12)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.5 * torch.randn(p.shape, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.leaky_relu(self.hidden(x.flatten(1)), 0.2))


def _setup(batch: int = BATCH, device: str = "cpu"):
    G, D = _StubGenerator().to(device), _StubDiscriminator().to(device)
    opt_G = torch.optim.SGD(G.parameters(), lr=LR)
    opt_D = torch.optim.SGD(D.parameters(), lr=LR)
    real = torch.rand(batch, *IMAGE, generator=torch.Generator().manual_seed(13)).to(device) * 2 - 1
    return G, D, opt_G, opt_D, real


def _modes(G: nn.Module, D: nn.Module) -> dict:
    """Whether every submodule of G and of D is in train mode."""
    return {"G": all(m.training for m in G.modules()), "D": all(m.training for m in D.modules())}


def _weights(model: nn.Module) -> list:
    return [p.detach().clone() for p in model.parameters()]


def _grads(model: nn.Module) -> list:
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def _loss_info(value) -> dict:
    """What was returned as a loss: the value and whether it is a detached scalar tensor."""
    if raised(value):
        return value
    facts = tensor_facts(value)  # what PyTorch stores: a subclass's requires_grad property cannot lie
    if facts is not None:
        return {"value": value, "type": "Tensor", "shape": facts["shape"], "requires_grad": facts["requires_grad"]}
    return {"value": value, "type": type(value).__name__, "shape": None, "requires_grad": None}


def _spy(optimizer, name: str, log: list) -> None:
    """Record ``name`` in ``log`` whenever ``optimizer.step()`` runs."""
    step = optimizer.step

    def recorded(*args, **kwargs):
        log.append(name)
        return step(*args, **kwargs)

    optimizer.step = recorded


# ---------------------------------------------------------------- errors, with the arguments the course's functions received
SIGNATURES = {  # the contract's signatures, and how to call them safely
    "sample_noise": ("sample_noise(batch_size, noise_dim=100, device=None)",
                     "sample_noise(B, noise_dim, device=real.device)"),
    "discriminator_loss": ("discriminator_loss(real_logits, fake_logits, real_label=1.0)",
                           "discriminator_loss(D(real), D(fake), real_label=real_label)"),
    "discriminator_step": ("discriminator_step(G, D, real, opt_D, noise_dim=100, real_label=0.9, max_grad_norm=None)",
                           "discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)"),
    "generator_step": ("generator_step(G, D, batch_size, opt_G, noise_dim=100, max_grad_norm=None)",
                       "generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)"),
    "gan_train_step": ("gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None)",
                       "gan_train_step(G, D, real, opt_G, opt_D, g_steps=g_steps)"),
}
_INTS = ("int", "int64", "int32")
_NUMBERS = _INTS + ("float", "float64", "float32", "Tensor")
_FITS = {  # parameter -> the type names an argument in its place may have
    "batch_size": _INTS, "noise_dim": _INTS, "g_steps": _INTS,
    "real_label": _NUMBERS, "max_grad_norm": ("NoneType",) + _NUMBERS,
    "device": ("NoneType", "str", "device") + _INTS,
}
FULL_EXPLANATION = {"discriminator_step": "discriminator_step.loss_and_update",
                    "generator_step": "generator_step.loss_and_update", "gan_train_step": "gan_train_step.update_order"}


def _received(err: BaseException) -> list:
    """Probe helper: ``[[function, {parameter: [type name, repr]}], ...]`` for the course's functions in the traceback
    of ``err`` (outermost first): raw facts, so the judge can name an argument passed in the wrong position."""
    out = []
    for frame, _ in traceback.walk_tb(err.__traceback__):
        code = frame.f_code
        if code.co_name not in SIGNATURES:
            continue
        params = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        facts = {}
        for name in params:
            if name in _FITS and name in frame.f_locals:
                value = frame.f_locals[name]
                facts[name] = [type(value).__name__, repr(value)[:40] if type(value).__name__ in
                               ("int", "float", "bool", "NoneType", "str", "device") else type(value).__name__]
        out.append([code.co_name, facts])
    return out


def _capture(fn):
    """``base.capture`` that also records the arguments the course's functions held when the error was raised."""
    return capture(fn, received=_received)


def _cause(value) -> tuple[str, str] | None:
    """(short, long) words for what usually causes the recorded error, when it is one the course knows."""
    for entry in value.get("received") or []:
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] in SIGNATURES and isinstance(entry[1], dict)):
            continue
        function, facts = entry
        for name, fact in facts.items():
            if name in _FITS and isinstance(fact, list) and len(fact) == 2 and fact[0] not in _FITS[name]:
                signature, example = SIGNATURES[function]
                short = f"{function} received {name}={fact[1]}, an argument in the wrong position"
                return short, (f"{short}: its signature is {signature}; pass the optional arguments by keyword, "
                               f"{example}")
    text = value["raised"]
    if "modified by an inplace operation" in text:
        short = "backward() went through a graph made before an optimizer step changed the weights"
        return short, (f"{short} (a fake batch or a loss reused after opt.step(), retain_graph=True): compute G(z) "
                       "and the loss anew for every update")
    return None


# ---------------------------------------------------------------- judge helpers
def _call_ok(value, what: str, full: bool = False) -> None:
    """Fail when the probed call raised. An error the course can explain is explained in full by the item's first
    check (``full``); the item's other checks name the cause in a few words and point there."""
    text = raised(value)
    if not text:
        return
    cause = _cause(value)
    see = next((check for name, check in FULL_EXPLANATION.items() if what.startswith(name)), None)
    if cause is None:
        raise Mismatch(f"{what} raised {text}")
    if full or see is None:
        raise Mismatch(f"{what} raised {text} — {cause[1]}")
    raise Mismatch(f"{what} raised {text.split(':', 1)[0]}: {cause[0]} (see {see})")


def _names(model: str) -> list[str]:
    stub = _StubGenerator() if model == "G" else _StubDiscriminator()
    return [f"{model}.{name}" for name, _ in stub.named_parameters()]


def _same_weights(got, expected, model: str, when: str, unchanged=None, unchanged_message: str = "") -> None:
    """``got`` (model "G" or "D") must match ``expected``; if it equals ``unchanged`` (the start) say so."""
    names = _names(model)
    if not isinstance(got, list) or len(got) != len(expected):
        raise Mismatch(f"{model}'s parameters could not be read {when}")
    if unchanged is not None and all(isinstance(g, torch.Tensor) and g.shape == u.shape and torch.equal(g, u)
                                     for g, u in zip(got, unchanged)):
        raise Mismatch(f"{model}'s weights did not change {when}{unchanged_message}")
    for name, g, e in zip(names, got, expected):
        assert_close(g, e, f"{name} {when}", atol=ATOL, rtol=RTOL)


def _initial(model: str) -> list:
    G, D, _, _, _ = _setup()
    return _weights(G if model == "G" else D)


def _judge_detached_scalar(student, reference):
    info = student["loss"]
    _call_ok(info, "the step")
    if not isinstance(info, dict) or info.get("type") != "Tensor":
        kind = info.get("type") if isinstance(info, dict) else describe(info)
        raise Mismatch(f"the step returned a {kind}; return the loss as a tensor, detached: loss.detach() "
                       "(.item() forces a GPU sync every step)")
    if info.get("shape") != []:
        raise Mismatch(f"the returned loss has shape {tuple(info.get('shape') or ())}; return the scalar loss")
    if info.get("requires_grad"):
        raise Mismatch("the returned loss still requires grad and keeps the whole graph alive: return loss.detach()")
    return Verdict.passed()


def _judge_noise_shapes(expected_shape: list, what: str):
    def judge(student, reference):
        _call_ok(student["call"], what)
        shapes = student["noise_shapes"]
        if not shapes:
            raise Mismatch(f"{what} never called G")
        wrong = [s for s in shapes if s != expected_shape]
        if wrong:
            raise Mismatch(f"{what} gave G noise of shape {tuple(wrong[0])}, expected {tuple(expected_shape)}: "
                           "draw sample_noise(batch_size, noise_dim) with the noise_dim argument")
        return Verdict.passed()

    return judge


NOISE_ROWS = 50  # a step on 50 images draws 50 x 100 = 5,000 noise values
# Over n >= 5,000 values of N(0, 1) the standard errors are 0.014 (mean), 0.010 (std) and 0.0066 (share of
# |z| > 1, 0.317); the tolerances are 7 to 9 of them. Uniform noise fails one of the three whatever its range
# (uniform with std 1 has 42% of its values beyond 1).
NOISE_MEAN_TOL, NOISE_STD_TOL, NOISE_TAIL, NOISE_TAIL_TOL = 0.1, 0.1, 0.3173, 0.06


def _standard_normal(z: torch.Tensor, what: str) -> None:
    """Judge helper: the values of ``z`` look like N(0, 1) draws, one per element."""
    z = z.double()
    if not torch.isfinite(z).all():
        raise Mismatch(f"{what} contains NaN or inf")
    flat = z.reshape(-1)
    if flat.numel() < 2 or flat.std().item() < 1e-9:
        raise Mismatch(f"{what} is constant ({flat[0].item() if flat.numel() else 'empty'}): draw random noise, "
                       "sample_noise(B, noise_dim, device=...)")
    if z.dim() == 2 and z.shape[0] > 1 and (z.std(dim=0) < 1e-9).all():
        raise Mismatch(f"every row of {what} is the same: draw one noise vector per image, "
                       "sample_noise(B, noise_dim), not one repeated over the batch")
    mean, std = flat.mean().item(), flat.std().item()
    tail = (flat.abs() > 1).double().mean().item()
    lo, hi = flat.min().item(), flat.max().item()
    if (abs(mean) <= NOISE_MEAN_TOL and abs(std - 1) <= NOISE_STD_TOL
            and abs(tail - NOISE_TAIL) <= NOISE_TAIL_TOL):
        return
    if lo >= 0 and hi <= 1:
        guess = "all values lie in [0, 1]: that is torch.rand (uniform), "
    elif lo >= -1 and hi <= 1:
        guess = "all values lie in [-1, 1]: that looks uniform (torch.rand(...) * 2 - 1), "
    else:
        guess = ""
    raise Mismatch(f"{what} has mean {mean:.3f}, std {std:.3f} and {100 * tail:.1f}% of its values beyond +-1 "
                   f"(standard normal: 0, 1 and 31.7%; tolerances {NOISE_MEAN_TOL}, {NOISE_STD_TOL} and "
                   f"{100 * NOISE_TAIL_TOL:.0f} points over {flat.numel()} values) — {guess}GAN noise is standard "
                   "normal: sample_noise(B, noise_dim, device=...) or torch.randn")


def _judge_noise_normal(what: str):
    def judge(student, reference):
        calls = student["noise"]
        for run in calls:
            _call_ok(run["call"], what)
        if not all(run["z"] for run in calls):
            raise Mismatch(f"{what} never called G")
        z = [[tensor_of(t, "the noise G received") for t in run["z"]] for run in calls]
        for t in z[0]:
            _standard_normal(t, f"the noise {what} gave G")
        first, second = z[0][0], z[1][0]
        if first.shape == second.shape and torch.equal(first, second):
            raise Mismatch(f"two calls of {what} gave G exactly the same noise: draw fresh noise in every step "
                           "(no torch.manual_seed inside the step, no noise batch kept from an earlier call)")
        return Verdict.passed()

    return judge


def _judge_noise_device(what: str, where: str):
    def judge(student, reference):
        devices = student["devices"]
        if not devices:
            _call_ok(student["call"], f"{what} with G, D and the real batch on the meta device")
            raise Mismatch(f"{what} never called G")
        wrong = [d for d in devices if d != "meta"]
        if wrong:
            raise Mismatch(f"with the models on the meta device, {what} gave G noise on the {wrong[0]} device: "
                           f"create the noise on {where}; without device= it is made on the CPU and G(z) fails "
                           "when the models are on a GPU")
        return Verdict.passed()

    return judge


def _judge_train_mode(what: str):
    def judge(student, reference):
        _call_ok(student["call"], what)
        for name, ok in student["modes"].items():
            if not ok:
                raise Mismatch(f"{what} left {name} (or one of its layers) in eval mode; it was in train mode "
                               f"before the call: if you switch {name}.eval() inside the step, restore the mode "
                               f"afterwards ({name}.train()), or the rest of training runs BatchNorm and dropout "
                               "in eval mode")
        return Verdict.passed()

    return judge


def _noise_runs(step) -> dict:
    """Two calls of ``step(G, D, real, opt_G, opt_D)`` on fresh stand-ins (50 images): the noise G received."""
    runs = []
    for _ in range(2):
        G, D, opt_G, opt_D, real = _setup(NOISE_ROWS)
        call = _capture(lambda: step(G, D, real, opt_G, opt_D))
        runs.append({"call": "ok" if not raised(call) else call, "z": G.noise})
    return {"noise": runs}


def _device_run(step) -> dict:
    """``step(G, D, real, opt_G, opt_D)`` with the stand-ins and the batch on the meta device."""
    G, D, opt_G, opt_D, real = _setup(device="meta")
    call = _capture(lambda: step(G, D, real, opt_G, opt_D))
    return {"call": "ok" if not raised(call) else call, "devices": [str(z.device) for z in G.noise]}


def _mode_run(step) -> dict:
    G, D, opt_G, opt_D, real = _setup()
    G.train()
    D.train()
    call = _capture(lambda: step(G, D, real, opt_G, opt_D))
    return {"call": "ok" if not raised(call) else call, "modes": _modes(G, D)}


# ---------------------------------------------------------------- discriminator_step
def _expected_d_loss(real_label: float) -> float:
    """discriminator_loss on the stand-in models before any update, computed here (trusted)."""
    G, D, _, _, real = _setup()
    with torch.no_grad():
        fake = G(torch.zeros(BATCH, 1))
        r, f = D(real).double(), D(fake).double()
        return (F.binary_cross_entropy_with_logits(r, torch.full_like(r, real_label))
                + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))).item()


def _judge_d_loss_and_update(student, reference):
    _call_ok(student["d_loss"], "discriminator_step", full=True)
    got = number_of(student["d_loss"], "the returned d_loss")
    expected = number_of(reference["d_loss"], "the reference d_loss")
    if abs(got - expected) > ATOL + RTOL * abs(expected):
        if abs(got - _expected_d_loss(1.0)) < 1e-5:
            raise Mismatch(f"d_loss is {got:.6g}, expected {expected:.6g}: the real targets were 1.0; the default "
                           "real_label of discriminator_step is 0.9 — pass it on to discriminator_loss")
        raise Mismatch(f"d_loss is {got:.6g}, expected {expected:.6g}: return discriminator_loss(D(real), D(fake), "
                       "real_label) computed before the update (tolerance 1e-6)")
    _same_weights(student["D_after"], reference["D_after"], "D", "after the step", _initial("D"),
                  ": call opt_D.step() after backward()")
    return Verdict.passed()


@check("discriminator_step", "loss_and_update", weight=2, judge=_judge_d_loss_and_update,
       hint="zero_grad, discriminator_loss(D(real), D(G(z).detach()), real_label) with real_label=0.9 by default, "
            "backward, opt_D.step(); return the loss")
def d_loss_and_update(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    loss = _capture(lambda: ns.discriminator_step(G, D, real, opt_D))
    return {"d_loss": loss, "D_after": _weights(D)}


def _judge_detached_fake(student, reference):
    _call_ok(student["call"], "discriminator_step")
    grads = student["G_grads"]
    if any(g is not None and isinstance(g, torch.Tensor) and g.abs().max().item() > 0 for g in grads):
        raise Mismatch("after the discriminator step the generator has gradients: the fake batch was not detached "
                       "(use G(z).detach() or generate under torch.no_grad())")
    _same_weights(student["G_after"], student["G_before"], "G", "after the discriminator step (it must not change)")
    return Verdict.passed()


@check("discriminator_step", "fake_batch_detached", judge=_judge_detached_fake,
       hint="fake = G(z).detach(): the discriminator step must not send gradients into G, nor change G")
def fake_batch_detached(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    before = _weights(G)
    call = _capture(lambda: ns.discriminator_step(G, D, real, opt_D))
    return {"call": "ok" if not raised(call) else call, "G_grads": _grads(G), "G_before": before, "G_after": _weights(G)}


def _judge_weights_only(key: str, what: str, message: str, own=None):
    """The weights after the probed call match the reference's; failing that, ``own(student)`` may show that the
    behaviour probed is right on the student's own terms (their update differs for another reason, charged by
    ``loss_and_update``), so one slip does not cost this check too."""

    def judge(student, reference):
        _call_ok(student["call"], what)
        try:
            _same_weights(student[key], reference[key], key[0], f"after {what}")
        except Mismatch as err:
            if own is not None and own(student):
                return Verdict.passed(f"passed against the student's own update (it differs from the reference's "
                                      f"for another reason: see loss_and_update)")
            raise Mismatch(f"{err} — {message}") from None
        return Verdict.passed()

    return judge


def _is_tensor_list(value) -> bool:
    """Whether ``value`` is a list of real tensors (the weights a probe read), not an error or None."""
    return isinstance(value, list) and all(isinstance(t, torch.Tensor) for t in value)


def _all_close(a, b) -> bool:
    return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
            and all(isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape == y.shape
                    and torch.allclose(x.double(), y.double(), atol=1e-7, rtol=1e-5) for x, y in zip(a, b)))


def _own_zero_grad(key: str):
    """Stale gradients changed nothing: the update equals the student's own from clean gradients, and there is one."""
    def own(student):
        clean, before = student.get(f"{key}_clean"), student.get(f"{key}_before")
        return not _all_close(clean, before) and _all_close(student[key], clean)

    return own


def _own_clipping(key: str):
    """With SGD the clipped update is the student's own unclipped update scaled to a gradient norm of TINY_NORM."""
    def own(student):
        free, before, clipped = student.get(f"{key}_unclipped"), student.get(f"{key}_before"), student[key]
        if not (_is_tensor_list(free) and _is_tensor_list(before) and _is_tensor_list(clipped)
                and len(free) == len(before) == len(clipped)):
            return False
        update = [f.double() - b.double() for f, b in zip(free, before)]  # -LR * gradient
        norm = math.sqrt(sum(float((u ** 2).sum()) for u in update)) / LR
        if norm == 0:
            return False
        scale = min(1.0, TINY_NORM / norm)
        return _all_close(clipped, [b.double() + u * scale for b, u in zip(before, update)])

    return own


def _own_run(step, model_of, stale: bool = False, **kwargs) -> list | None:
    """The weights of G or D (``model_of((G, D))``) after ``step`` on a fresh set-up, or None if it raised."""
    G, D, opt_G, opt_D, real = _setup()
    model = model_of((G, D))
    if stale:
        for p in model.parameters():
            p.grad = torch.full_like(p, 0.5)
    torch.manual_seed(1)
    return None if raised(_capture(lambda: step(G, D, real, opt_G, opt_D, **kwargs))) else _weights(model)


def _d_step(ns):
    return lambda G, D, real, opt_G, opt_D, **kw: ns.discriminator_step(G, D, real, opt_D, **kw)


def _g_step(ns):
    return lambda G, D, real, opt_G, opt_D, **kw: ns.generator_step(G, D, 5, opt_G, **kw)


@check("discriminator_step", "zero_grad_before_backward",
       judge=_judge_weights_only("D_after", "discriminator_step", "with stale gradients already in D, the update "
                                 "differs: call opt_D.zero_grad() before backward()", own=_own_zero_grad("D_after")),
       hint="gradients accumulate across backward() calls: opt_D.zero_grad() first")
def d_zero_grad(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    before = _weights(D)
    for p in D.parameters():
        p.grad = torch.full_like(p, 0.5)  # left over from an earlier generator step, say
    call = _capture(lambda: ns.discriminator_step(G, D, real, opt_D))
    return {"call": "ok" if not raised(call) else call, "D_after": _weights(D), "D_after_before": before,
            "D_after_clean": _own_run(_d_step(ns), lambda m: m[1])}


@check("discriminator_step", "clips_before_step",
       judge=_judge_weights_only("D_after", "discriminator_step(..., max_grad_norm=0.01)",
                                 "clip D's gradients with nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm) "
                                 "between backward() and opt_D.step()", own=_own_clipping("D_after")),
       hint="clipping after step() has no effect on that step; clip D's parameters, not G's")
def d_clips(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    before = _weights(D)
    call = _capture(lambda: ns.discriminator_step(G, D, real, opt_D, max_grad_norm=TINY_NORM))
    return {"call": "ok" if not raised(call) else call, "D_after": _weights(D), "D_after_before": before,
            "D_after_unclipped": _own_run(_d_step(ns), lambda m: m[1])}


def _judge_real_label(student, reference):
    for key in reference:
        _call_ok(student[key], f"discriminator_step(..., {key})")
        got = number_of(student[key], f"d_loss with {key}")
        expected = number_of(reference[key], "the reference d_loss")
        if abs(got - expected) > ATOL + RTOL * abs(expected):
            raise Mismatch(f"with {key} d_loss is {got:.6g}, expected {expected:.6g}: pass real_label on to "
                           "discriminator_loss instead of a fixed value (tolerance 1e-6)")
    return Verdict.passed()


@check("discriminator_step", "uses_real_label", judge=_judge_real_label,
       hint="discriminator_loss(D(real), D(fake), real_label=real_label)")
def d_real_label(ns, inputs):
    out = {}
    for label in (1.0, 0.75):
        G, D, opt_G, opt_D, real = _setup()
        out[f"real_label={label}"] = _capture(lambda: ns.discriminator_step(G, D, real, opt_D, real_label=label))
    return out


@check("discriminator_step", "noise_shape", weight=0.5, judge=_judge_noise_shapes([BATCH, 7], "discriminator_step"),
       hint="sample_noise(real.shape[0], noise_dim, device=real.device): one noise row per real image")
def d_noise_shape(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    call = _capture(lambda: ns.discriminator_step(G, D, real, opt_D, noise_dim=7))
    return {"call": "ok" if not raised(call) else call, "noise_shapes": G.noise_shapes}


@check("discriminator_step", "noise_standard_normal", weight=0.5,
       judge=_judge_noise_normal("discriminator_step"),
       hint="z = sample_noise(real.shape[0], noise_dim, device=real.device): standard normal, fresh every step")
def d_noise_normal(ns, inputs):
    return _noise_runs(lambda G, D, real, opt_G, opt_D: ns.discriminator_step(G, D, real, opt_D))


@check("discriminator_step", "noise_on_input_device", weight=0.5,
       judge=_judge_noise_device("discriminator_step", "the real batch's device (device=real.device)"),
       hint="sample_noise(real.shape[0], noise_dim, device=real.device)")
def d_noise_device(ns, inputs):
    return _device_run(lambda G, D, real, opt_G, opt_D: ns.discriminator_step(G, D, real, opt_D))


@check("discriminator_step", "keeps_train_mode", weight=0.5, judge=_judge_train_mode("discriminator_step"),
       hint="leave G and D in the mode they were in: restore G.train() if you call G.eval() for the fake batch")
def d_keeps_train_mode(ns, inputs):
    return _mode_run(lambda G, D, real, opt_G, opt_D: ns.discriminator_step(G, D, real, opt_D))


@check("discriminator_step", "returns_detached_scalar", weight=0.5, judge=_judge_detached_scalar,
       hint="return d_loss.detach()")
def d_returns(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    return {"loss": _loss_info(_capture(lambda: ns.discriminator_step(G, D, real, opt_D)))}


def _positional_runs(keywords, positions) -> dict:
    """Probe helper: the same step called with its optional arguments by keyword and by position, on fresh
    stand-ins: what each returned, the noise shapes G received and both models' weights afterwards."""
    out = {}
    for how, call in (("keywords", keywords), ("positions", positions)):
        G, D, opt_G, opt_D, real = _setup()
        loss = _capture(lambda: call(G, D, real, opt_G, opt_D))
        out[how] = {"loss": loss if raised(loss) else _loss_info(loss), "noise_shapes": G.noise_shapes,
                    "weights": _weights(G) + _weights(D)}
    return out


def _judge_positions(function: str, positional: str, keywords: str):
    """Judge: called by position, ``function`` behaves as called by keyword (its parameters are in the contract's
    order, so callers that pass them by position get what they meant)."""
    signature = SIGNATURES[function][0]

    def judge(student, reference):
        by_name, by_position = student["keywords"], student["positions"]
        _call_ok(by_name["loss"], f"{function}(..., {keywords})")
        problem = None
        if raised(by_position["loss"]):
            cause = _cause(by_position["loss"])
            problem = f"raised an error ({cause[0]})" if cause else f"raised {raised(by_position['loss'])}"
        elif by_position["noise_shapes"] != by_name["noise_shapes"]:
            shapes = [", ".join(str(tuple(s)) for s in run["noise_shapes"]) or "none" for run in (by_position, by_name)]
            problem = f"gave G noise of shape {shapes[0]} instead of {shapes[1]}"
        else:
            try:
                a, b = (number_of(run["loss"].get("value"), "the loss") for run in (by_position, by_name))
                same_loss = abs(a - b) <= ATOL + RTOL * abs(b)
            except Mismatch:  # not a number either way: returns_detached_scalar judges what is returned
                same_loss = True
            if not same_loss or not _all_close(by_position["weights"], by_name["weights"]):
                problem = "returned another loss or updated the weights differently"
        if problem:
            raise Mismatch(f"called by position, {function}(..., {positional}) does not do what the same call by "
                           f"keyword ({keywords}) does: it {problem}. Keep the contract's order of parameters, "
                           f"{signature}: callers may pass them by position")
        return Verdict.passed()

    return judge


@check("discriminator_step", "argument_order", weight=0.5,
       judge=_judge_positions("discriminator_step", "7, 0.75, 0.01", "noise_dim=7, real_label=0.75, max_grad_norm=0.01"),
       hint=SIGNATURES["discriminator_step"][0])
def d_argument_order(ns, inputs):
    return _positional_runs(
        lambda G, D, real, opt_G, opt_D: ns.discriminator_step(G, D, real, opt_D, noise_dim=7, real_label=0.75,
                                                               max_grad_norm=TINY_NORM),
        lambda G, D, real, opt_G, opt_D: ns.discriminator_step(G, D, real, opt_D, 7, 0.75, TINY_NORM))


# ---------------------------------------------------------------- generator_step
def _judge_g_loss_and_update(student, reference):
    _call_ok(student["g_loss"], "generator_step", full=True)
    got = number_of(student["g_loss"], "the returned g_loss")
    expected = number_of(reference["g_loss"], "the reference g_loss")
    if abs(got - expected) > ATOL + RTOL * abs(expected):
        raise Mismatch(f"g_loss is {got:.6g}, expected {expected:.6g}: return generator_loss(D(G(z))) (the "
                       "non-saturating loss), computed before the update (tolerance 1e-6)")
    _same_weights(student["G_after"], reference["G_after"], "G", "after the step", _initial("G"),
                  ": the gradient must flow through D into G (no detach, no torch.no_grad) and opt_G.step() must run")
    return Verdict.passed()


@check("generator_step", "loss_and_update", weight=2, judge=_judge_g_loss_and_update,
       hint="zero_grad, generator_loss(D(G(z))), backward, opt_G.step(); return the loss")
def g_loss_and_update(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    loss = _capture(lambda: ns.generator_step(G, D, 5, opt_G))
    return {"g_loss": loss, "G_after": _weights(G)}


def _judge_d_unchanged(student, reference):
    _call_ok(student["call"], "generator_step")
    _same_weights(student["D_after"], student["D_before"], "D", "after the generator step (it must not change)")
    if not all(student["D_requires_grad"]):
        raise Mismatch("after the generator step some of D's parameters no longer require grad: if you freeze D "
                       "with requires_grad_(False), unfreeze it before returning")
    return Verdict.passed()


@check("generator_step", "leaves_d_unchanged", judge=_judge_d_unchanged,
       hint="only opt_G steps in the generator step; D's weights stay as they are and D stays trainable")
def g_leaves_d(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    before = _weights(D)
    call = _capture(lambda: ns.generator_step(G, D, 5, opt_G))
    return {"call": "ok" if not raised(call) else call, "D_before": before, "D_after": _weights(D),
            "D_requires_grad": [bool(p.requires_grad) for p in D.parameters()]}


@check("generator_step", "zero_grad_before_backward",
       judge=_judge_weights_only("G_after", "generator_step", "with stale gradients already in G, the update "
                                 "differs: call opt_G.zero_grad() before backward()", own=_own_zero_grad("G_after")),
       hint="gradients accumulate across backward() calls: opt_G.zero_grad() first")
def g_zero_grad(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    before = _weights(G)
    for p in G.parameters():
        p.grad = torch.full_like(p, 0.5)
    call = _capture(lambda: ns.generator_step(G, D, 5, opt_G))
    return {"call": "ok" if not raised(call) else call, "G_after": _weights(G), "G_after_before": before,
            "G_after_clean": _own_run(_g_step(ns), lambda m: m[0])}


@check("generator_step", "clips_before_step",
       judge=_judge_weights_only("G_after", "generator_step(..., max_grad_norm=0.01)",
                                 "clip G's gradients with nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm) "
                                 "between backward() and opt_G.step()", own=_own_clipping("G_after")),
       hint="clipping after step() has no effect on that step; clip G's parameters, not D's")
def g_clips(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    before = _weights(G)
    call = _capture(lambda: ns.generator_step(G, D, 5, opt_G, max_grad_norm=TINY_NORM))
    return {"call": "ok" if not raised(call) else call, "G_after": _weights(G), "G_after_before": before,
            "G_after_unclipped": _own_run(_g_step(ns), lambda m: m[0])}


@check("generator_step", "noise_shape", weight=0.5, judge=_judge_noise_shapes([5, 7], "generator_step"),
       hint="sample_noise(batch_size, noise_dim, device=...) with the batch_size and noise_dim arguments")
def g_noise_shape(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    call = _capture(lambda: ns.generator_step(G, D, 5, opt_G, noise_dim=7))
    return {"call": "ok" if not raised(call) else call, "noise_shapes": G.noise_shapes}


@check("generator_step", "noise_standard_normal", weight=0.5, judge=_judge_noise_normal("generator_step"),
       hint="z = sample_noise(batch_size, noise_dim, device=...): standard normal, fresh every step")
def g_noise_normal(ns, inputs):
    return _noise_runs(lambda G, D, real, opt_G, opt_D: ns.generator_step(G, D, real.shape[0], opt_G))


@check("generator_step", "noise_on_input_device", weight=0.5,
       judge=_judge_noise_device("generator_step", "the models' device (device=next(G.parameters()).device)"),
       hint="sample_noise(batch_size, noise_dim, device=next(G.parameters()).device)")
def g_noise_device(ns, inputs):
    return _device_run(lambda G, D, real, opt_G, opt_D: ns.generator_step(G, D, 5, opt_G))


@check("generator_step", "keeps_train_mode", weight=0.5, judge=_judge_train_mode("generator_step"),
       hint="leave G and D in the mode they were in: restore D.train() if you call D.eval() in the step")
def g_keeps_train_mode(ns, inputs):
    return _mode_run(lambda G, D, real, opt_G, opt_D: ns.generator_step(G, D, 5, opt_G))


@check("generator_step", "returns_detached_scalar", weight=0.5, judge=_judge_detached_scalar,
       hint="return g_loss.detach()")
def g_returns(ns, inputs):
    G, D, opt_G, opt_D, real = _setup()
    return {"loss": _loss_info(_capture(lambda: ns.generator_step(G, D, 5, opt_G)))}


@check("generator_step", "argument_order", weight=0.5,
       judge=_judge_positions("generator_step", "7, 0.01", "noise_dim=7, max_grad_norm=0.01"),
       hint=SIGNATURES["generator_step"][0])
def g_argument_order(ns, inputs):
    return _positional_runs(
        lambda G, D, real, opt_G, opt_D: ns.generator_step(G, D, 5, opt_G, noise_dim=7, max_grad_norm=TINY_NORM),
        lambda G, D, real, opt_G, opt_D: ns.generator_step(G, D, 5, opt_G, 7, TINY_NORM))


# ---------------------------------------------------------------- gan_train_step
def _train_step_run(ns, g_steps=None, real_label=None, max_grad_norm=None) -> dict:
    """The student's gan_train_step on fresh stand-ins: returned losses, final weights, optimizer steps."""
    G, D, opt_G, opt_D, real = _setup()
    log: list[str] = []
    _spy(opt_D, "D", log)
    _spy(opt_G, "G", log)
    kwargs = {k: v for k, v in (("g_steps", g_steps), ("real_label", real_label), ("max_grad_norm", max_grad_norm))
              if v is not None}
    out = _capture(lambda: ns.gan_train_step(G, D, real, opt_G, opt_D, **kwargs))
    if raised(out):
        return out
    returned = ({k: _loss_info(v) for k, v in out.items() if isinstance(k, str)} if isinstance(out, dict)
                else {"not a dict": describe(out)})
    return {"returned": returned, "G_after": _weights(G), "D_after": _weights(D), "steps": log,
            "modes": _modes(G, D), "noise_batches": [s[0] if s else None for s in G.noise_shapes],
            "noise": list(G.noise)}


def _composed_run(ns, g_steps=None, real_label=None, max_grad_norm=None):
    """The student's own step functions in the prescribed order (None when they are missing or raise)."""
    G, D, opt_G, opt_D, real = _setup()
    log: list[str] = []
    _spy(opt_D, "D", log)
    _spy(opt_G, "G", log)
    try:
        d_loss = ns.discriminator_step(G, D, real, opt_D, real_label=0.9 if real_label is None else real_label,
                                       max_grad_norm=max_grad_norm)
        g_loss = None
        for _ in range(2 if g_steps is None else g_steps):
            g_loss = ns.generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    except Exception:  # noqa: BLE001 - unfinished or broken step functions: judge against the reference only
        return None
    return {"returned": {"d_loss": _loss_info(d_loss), "g_loss": _loss_info(g_loss)},
            "G_after": _weights(G), "D_after": _weights(D), "steps": log,
            "modes": _modes(G, D), "noise_batches": [s[0] if s else None for s in G.noise_shapes],
            "noise": list(G.noise)}


def _runs(ns, **kwargs) -> dict:
    return {"run": _train_step_run(ns, **kwargs), "composed": _composed_run(ns, **kwargs)}


def _judge_against(compare, what: str, full: bool = False):
    """Pass when ``compare(run, target)`` holds for the reference, or for the student's own step functions."""

    def judge(student, reference):
        run = student["run"]
        _call_ok(run, what, full)
        try:
            compare(run, reference["run"])
            return Verdict.passed()
        except Mismatch as against_reference:
            if student.get("composed") is not None:
                try:
                    compare(run, student["composed"])
                    return Verdict.passed("passed (consistent with your own step functions)")
                except Mismatch:
                    pass
            raise against_reference

    return judge


def _compare_steps(run, target):
    if run["steps"] != target["steps"]:
        raise Mismatch(f"the optimizer steps ran in the order {', '.join(run['steps']) or 'none'}; expected "
                       f"{', '.join(target['steps'])} — one discriminator update first, then exactly g_steps generator "
                       "updates (and no opt_D.step() during them)")


def _compare_weights(run, target):
    _same_weights(run["D_after"], target["D_after"], "D", "after gan_train_step")
    _same_weights(run["G_after"], target["G_after"], "G", "after gan_train_step")


def _compare_losses(run, target):
    returned = run["returned"]
    if set(returned) == {"not a dict"}:
        raise Mismatch(f"gan_train_step returned {returned['not a dict']}: return a dict, "
                       "{'d_loss': d_loss, 'g_loss': g_loss}")
    if set(returned) != {"d_loss", "g_loss"}:
        raise Mismatch(f"gan_train_step returned {sorted(returned)}; return a dict with exactly d_loss and g_loss")
    for key in ("d_loss", "g_loss"):
        got, expected = returned[key], target["returned"][key]
        if got.get("type") != expected.get("type"):
            raise Mismatch(f"{key} is a {got.get('type')}; expected a {expected.get('type')} (the detached scalar "
                           "tensor the step returns, no .item())")
        if (got.get("shape"), got.get("requires_grad")) != (expected.get("shape"), expected.get("requires_grad")):
            raise Mismatch(f"{key} has shape {got.get('shape')} and requires_grad {got.get('requires_grad')}; expected "
                           f"shape {expected.get('shape')} and requires_grad {expected.get('requires_grad')}")
        value = number_of(got["value"], key)
        want = number_of(expected["value"], key)
        if abs(value - want) > ATOL + RTOL * abs(want):
            extra = " (g_loss must be the loss of the last generator update)" if key == "g_loss" else ""
            raise Mismatch(f"{key} is {value:.6g}, expected {want:.6g}{extra}")


def _compare_noise_batches(run, target):
    got, want = sorted(set(map(str, run["noise_batches"]))), sorted(set(map(str, target["noise_batches"])))
    if got != want:
        raise Mismatch(f"G received noise batches of {', '.join(got) or 'no'} rows for a real batch of {BATCH} "
                       f"images (expected {', '.join(want)}): generate as many fakes as there are real images, "
                       "generator_step(G, D, real.shape[0], opt_G), not a fixed batch size")


def _distinct(batches) -> int:
    """How many different noise tensors G received."""
    seen: list[torch.Tensor] = []
    for z in batches:
        if isinstance(z, torch.Tensor) and not any(z.shape == t.shape and torch.equal(z, t) for t in seen):
            seen.append(z)
    return len(seen)


def _compare_fresh_noise(run, target):
    g_steps = min(run["steps"].count("G"), target["steps"].count("G"))  # too few updates: update_order says so
    needed = min(g_steps, _distinct(target["noise"]))  # the D update may share its batch with the first G update
    got = _distinct(run["noise"])
    if got < needed:
        raise Mismatch(f"with {g_steps} generator updates G received only {got} different noise batch"
                       f"{'es' if got != 1 else ''}: draw fresh noise for every generator update (generator_step "
                       "does), do not reuse one z for all of them")


def _compare_modes(run, target):
    for name in ("G", "D"):
        if run["modes"][name] != target["modes"][name]:
            state = "train" if target["modes"][name] else "eval"
            raise Mismatch(f"after gan_train_step {name} (or one of its layers) is not in {state} mode as it was "
                           f"before the call: restore {name}.train() after any {name}.eval() inside the step")


def _judge_each(compare, what: str, full: bool = False):
    """``_judge_against`` for every run of a probe that returns several (one per setting)."""
    single = _judge_against(compare, what, full)

    def judge(student, reference):
        for key in reference:
            verdict = single(student[key], reference[key])
            if verdict.fraction < 1:
                return verdict
        return Verdict.passed()

    return judge


@check("gan_train_step", "update_order", judge=_judge_each(_compare_steps, "gan_train_step", full=True),
       hint="discriminator_step once, then generator_step g_steps times (default 2)")
def update_order(ns, inputs):
    return {f"g_steps={n}": _runs(ns, g_steps=n) for n in (None, 3, 1)}


def _labelled(compare, label):
    def wrapped(run, target):
        try:
            compare(run, target)
        except Mismatch as err:
            raise Mismatch(f"with {label}: {err}") from None

    return wrapped


@check("gan_train_step", "final_weights", judge=_judge_against(_compare_weights, "gan_train_step"),
       hint="one discriminator_step(G, D, real, opt_D, real_label=...) then g_steps generator_step(G, D, "
            "real.shape[0], opt_G) (tolerance 1e-6)")
def final_weights(ns, inputs):
    return _runs(ns)


@check("gan_train_step", "returned_losses", judge=_judge_against(_compare_losses, "gan_train_step"),
       hint="return {'d_loss': d_loss, 'g_loss': g_loss} with the detached scalars the steps return, g_loss of the "
            "last generator update (tolerance 1e-6)")
def returned_losses(ns, inputs):
    return _runs(ns)


@check("gan_train_step", "passes_max_grad_norm",
       judge=_judge_against(_labelled(_compare_weights, "max_grad_norm=0.01"), "gan_train_step"),
       hint="pass max_grad_norm on to discriminator_step and generator_step (tolerance 1e-6)")
def passes_max_grad_norm(ns, inputs):
    return _runs(ns, max_grad_norm=TINY_NORM)


@check("gan_train_step", "passes_real_label",
       judge=_judge_against(_labelled(_compare_weights, "real_label=1.0"), "gan_train_step"),
       hint="pass real_label on to discriminator_step (tolerance 1e-6)")
def passes_real_label(ns, inputs):
    return _runs(ns, real_label=1.0)


@check("gan_train_step", "fake_batch_size", weight=0.5,
       judge=_judge_against(_compare_noise_batches, "gan_train_step"),
       hint="generator_step(G, D, real.shape[0], opt_G, ...): as many fakes as real images")
def fake_batch_size(ns, inputs):
    return _runs(ns)


@check("gan_train_step", "fresh_noise_each_update", weight=0.5,
       judge=_judge_each(_compare_fresh_noise, "gan_train_step"),
       hint="each of the g_steps generator updates draws its own noise: call generator_step g_steps times")
def fresh_noise_each_update(ns, inputs):
    return {f"g_steps={n}": _runs(ns, g_steps=n) for n in (None, 3)}


@check("gan_train_step", "keeps_train_mode", weight=0.5, judge=_judge_against(_compare_modes, "gan_train_step"),
       hint="G and D are in train mode after the step as before it")
def train_step_keeps_mode(ns, inputs):
    return _runs(ns)
