"""Checks for 11_stabilization: weights_init, clip_gradients, make_optimizers, instance_noise and the LSGAN losses.

Random initializations and noise are judged by their statistics over many draws (tolerances stated at
each judge, several standard errors wide) so that any honest way of drawing them passes; everything
else is compared with the reference on fixed inputs from a local ``torch.Generator``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..plaindata import MetaTensor, describe
from .base import ExerciseChecks, Mismatch, Verdict, assert_close, capture, number_of, raised, tensor_of

CHECKS = ExerciseChecks("11_stabilization")
check = CHECKS.check


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- weights_init
def _init_model() -> nn.Sequential:
    """Large layers for tight statistics, plus modules weights_init must leave alone (set to known values)."""
    model = nn.Sequential(
        nn.Conv2d(32, 64, 4),  # 32,768 weights
        nn.ConvTranspose2d(64, 32, 4),  # 32,768 weights
        nn.BatchNorm2d(600),
        nn.Linear(20, 30),
        nn.LayerNorm(30),
        nn.Embedding(10, 5),
        nn.Conv1d(3, 4, 3),  # same families, other dimensions: weights_init leaves them alone
        nn.ConvTranspose1d(4, 3, 3),
        nn.BatchNorm1d(5),
        nn.BatchNorm3d(4),
    )
    g = _gen(21)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 + 0.1 * torch.randn(p.shape, generator=g))  # no parameter starts at its target
    return model


def _initialized(ns) -> nn.Sequential:
    model = _init_model()
    model.apply(ns.weights_init)
    return model


def _stats(x: torch.Tensor) -> tuple[float, float]:
    x = x.detach().double().reshape(-1)
    return x.mean().item(), x.std().item()


def _judge_conv_weights(student, reference):
    for key in ("Conv2d", "ConvTranspose2d"):
        w = tensor_of(student[key], f"the {key} weight")
        if w.shape != reference[key].shape:
            raise Mismatch(f"the {key} weight changed shape to {tuple(w.shape)}")
        mean, std = _stats(w)
        # 32,768 draws of N(0, 0.02): standard errors 1.1e-4 (mean) and 7.8e-5 (std).
        if abs(mean) > 1e-3 or abs(std - 0.02) > 1e-3:
            start_mean, start_std = _stats(reference["start_" + key])
            if abs(mean - start_mean) < 1e-9 and abs(std - start_std) < 1e-9:
                raise Mismatch(f"the {key} weight was not initialized (is {key} handled? isinstance(module, "
                               "(nn.Conv2d, nn.ConvTranspose2d)))")
            raise Mismatch(f"the {key} weight has mean {mean:.4f} and std {std:.4f}; N(0, 0.02) needs mean 0 and "
                           f"std 0.02 (tolerance 0.001 each over 32,768 weights){_init_cause(w, mean, std)}")
    return Verdict.passed()


def _init_cause(w: torch.Tensor, mean: float, std: float) -> str:
    """The likely slip behind conv weights with these statistics (tolerances of about 10 standard errors)."""
    if abs(mean - 0.02) < 0.06 and abs(std - 1) < 0.05:
        return (": nn.init.normal_(w, 0.02) sets the mean (the second argument) to 0.02 and leaves std 1; pass "
                "both, nn.init.normal_(w, 0.0, 0.02), or std=0.02 by keyword")
    if abs(mean - 1) < 1e-3 and abs(std - 0.02) < 1e-3:
        return ": mean 1 is for the BatchNorm2d weights; convolution weights are centred at 0"
    if abs(mean) < 3e-3 and abs(std - 0.02 ** 0.5) < 3e-3:
        return ": that std is sqrt(0.02): 0.02 is the standard deviation itself, not the variance"
    centred = w.detach().double().reshape(-1) - mean
    kurtosis = (centred ** 4).mean().item() / max(std ** 4, 1e-300)  # 3 for a normal, 1.8 for a uniform
    if abs(mean) < 1e-3 and abs(kurtosis - 1.8) < 0.1:
        return ": the weights are uniform; draw them from a normal distribution, nn.init.normal_"
    return ""


@check("weights_init", "conv_weights", weight=2, judge=_judge_conv_weights,
       hint="nn.init.normal_(module.weight, 0.0, 0.02) for nn.Conv2d and nn.ConvTranspose2d")
def conv_weights(ns, inputs):
    start = _init_model()
    model = _initialized(ns)
    return {"Conv2d": model[0].weight, "ConvTranspose2d": model[1].weight,
            "start_Conv2d": start[0].weight, "start_ConvTranspose2d": start[1].weight}


def _judge_zero(what: str, message: str):
    def judge(student, reference):
        for key in reference:
            t = tensor_of(student[key], f"the {key} {what}")
            if t.shape != reference[key].shape or t.abs().max().item() != 0:
                raise Mismatch(f"the {key} {what} is not exactly 0 (largest |value| {t.abs().max().item():.3g}) — "
                               f"{message}")
        return Verdict.passed()

    return judge


@check("weights_init", "conv_biases_zero",
       judge=_judge_zero("bias", "set convolution biases to zero with nn.init.zeros_(module.bias)"),
       hint="convolution biases start at 0 (when the layer has a bias)")
def conv_biases_zero(ns, inputs):
    model = _initialized(ns)
    return {"Conv2d": model[0].bias, "ConvTranspose2d": model[1].bias}


def _judge_batchnorm(student, reference):
    w = tensor_of(student["weight"], "the BatchNorm2d weight")
    b = tensor_of(student["bias"], "the BatchNorm2d bias")
    mean, std = _stats(w)
    # 600 draws of N(1, 0.02): standard errors 8e-4 (mean) and 6e-4 (std).
    if abs(mean - 1) > 5e-3 or abs(std - 0.02) > 4e-3:
        raise Mismatch(f"the BatchNorm2d weight has mean {mean:.4f} and std {std:.4f}; N(1, 0.02) needs mean 1 "
                       "and std 0.02 (tolerances 0.005 and 0.004 over 600 weights)")
    if b.abs().max().item() != 0:
        raise Mismatch("the BatchNorm2d bias is not exactly 0: nn.init.zeros_(module.bias)")
    return Verdict.passed()


@check("weights_init", "batchnorm", judge=_judge_batchnorm,
       hint="nn.BatchNorm2d: weight N(1, 0.02) (scale near 1, not 0), bias 0")
def batchnorm(ns, inputs):
    model = _initialized(ns)
    return {"weight": model[2].weight, "bias": model[2].bias}


def _judge_untouched(student, reference):
    for key, expected in reference.items():
        got = tensor_of(student[key], key)
        if got.shape != expected.shape or not torch.equal(got, expected):
            raise Mismatch(f"{key} changed: weights_init must leave every module other than Conv2d, ConvTranspose2d "
                           "and BatchNorm2d untouched (test isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and "
                           "nn.BatchNorm2d; a substring of the class name such as 'Conv' or 'Norm', or the base "
                           "classes _ConvNd and _BatchNorm, also match Conv1d, BatchNorm1d, LayerNorm...)")
    return Verdict.passed()


@check("weights_init", "other_modules_untouched", judge=_judge_untouched,
       hint="only nn.Conv2d, nn.ConvTranspose2d and nn.BatchNorm2d are initialized")
def other_modules_untouched(ns, inputs):
    model = _initialized(ns)
    return {"the Linear weight": model[3].weight, "the Linear bias": model[3].bias,
            "the LayerNorm weight": model[4].weight, "the LayerNorm bias": model[4].bias,
            "the Embedding weight": model[5].weight, "the Conv1d weight": model[6].weight,
            "the Conv1d bias": model[6].bias, "the ConvTranspose1d weight": model[7].weight,
            "the BatchNorm1d weight": model[8].weight, "the BatchNorm1d bias": model[8].bias,
            "the BatchNorm3d weight": model[9].weight}


def _judge_no_bias(student, reference):
    error = raised(student["apply"])
    if error:
        if "leaf Variable" in error:
            advice = ("changing a parameter in place needs torch.no_grad() (the nn.init functions do that for you: "
                      "nn.init.normal_, nn.init.zeros_)")
        elif "None" in error:
            advice = "such layers have module.bias None — check it before initializing"
        else:
            advice = "weights_init must also work on convolutions without a bias (module.bias is None)"
        raise Mismatch(f"model.apply(weights_init) on convolutions with bias=False raised {error}: {advice}")
    return Verdict.passed()


@check("weights_init", "conv_without_bias", weight=0.5, judge=_judge_no_bias,
       hint="if module.bias is not None: nn.init.zeros_(module.bias)")
def conv_without_bias(ns, inputs):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ConvTranspose2d(8, 3, 3, bias=False))
    return {"apply": capture(lambda: (model.apply(ns.weights_init), "ok")[1])}


def _judge_init_dtype_device(student, reference):
    for key, expected in reference.items():
        got = student[key]
        if raised(got):
            raise Mismatch(f"model.apply(weights_init) on a {key} model raised {raised(got)}")
        if got != expected:
            wrong = sorted({g for g, e in zip(got, expected) if g != e} if isinstance(got, list) else {str(got)})
            raise Mismatch(f"after model.apply(weights_init) on a {key} model its parameters are {', '.join(wrong)}: "
                           "initialize them in place (nn.init.normal_(module.weight, 0.0, 0.02), nn.init.zeros_), "
                           "not with new CPU float32 tensors (torch.randn(shape) ignores the model's dtype and device)")
    return Verdict.passed()


def _dtype_device_model() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ConvTranspose2d(4, 2, 3))


@check("weights_init", "keeps_dtype_and_device", weight=0.5, judge=_judge_init_dtype_device,
       hint="nn.init.* functions change the parameters in place and keep their dtype and device")
def init_dtype_device(ns, inputs):
    def after(model):
        model.apply(ns.weights_init)
        return [f"{p.dtype} on {p.device.type}".replace("torch.", "") for p in model.parameters()]

    return {"float64": capture(lambda: after(_dtype_device_model().double())),
            "meta": capture(lambda: after(_dtype_device_model().to("meta")))}


# ---------------------------------------------------------------- clip_gradients
def _grad_model(frozen_first: bool = False, scale: float = 2.0) -> nn.Module:
    """A small model with known gradients (global norm about 6 * scale); optionally the first layer has none."""
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    g = _gen(31)
    for i, p in enumerate(model.parameters()):
        p.grad = None if (frozen_first and i < 2) else scale * torch.randn(p.shape, generator=g)
    return model


def _grads_of(model: nn.Module) -> list:
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def _judge_norm(student, reference):
    got = student["norm"]
    if raised(got):
        raise Mismatch(f"clip_gradients raised {raised(got)}")
    if got is None:
        raise Mismatch("clip_gradients returned None: return the total norm before clipping")
    value = number_of(got, "the returned norm")
    expected = number_of(reference["norm"], "the reference norm")
    if abs(value - expected) > 1e-5 + 1e-5 * expected:
        hint = " — that is the norm after clipping" if abs(value - 1.0) < 1e-3 else ""
        raise Mismatch(f"the returned norm is {value:.6g}, expected {expected:.6g} (tolerance rtol 1e-5){hint}: "
                       "sqrt of the sum of squares of every gradient entry, before scaling")
    return Verdict.passed()


@check("clip_gradients", "returns_total_norm", judge=_judge_norm,
       hint="return the global L2 norm over all gradients, computed before scaling them")
def returns_total_norm(ns, inputs):
    model = _grad_model()
    return {"norm": capture(lambda: ns.clip_gradients(model, 1.0))}


def _clip_cause(got: list, before: list | None) -> str:
    """Gradients left as they were, or grown: the two slips that the comparison alone does not name."""
    if not before or len(before) != len(got) or not all(isinstance(g, torch.Tensor) for g in got if g is not None):
        return ""
    pairs = [(g.double(), b.double()) for g, b in zip(got, before) if g is not None and b is not None
             and g.shape == b.shape]
    if not pairs:
        return ""
    if all(torch.equal(g, b) for g, b in pairs):
        return ("the gradients did not change: g = g * scale only rebinds a name; scale them in place, "
                "g.mul_(scale), or assign p.grad = p.grad * scale")
    norm = lambda ts: sum(t.pow(2).sum() for t in ts).sqrt().item()
    if norm([g for g, _ in pairs]) > norm([b for _, b in pairs]) * (1 + 1e-6):
        return "the gradients grew: the factor is max_norm / total_norm (at most 1), not total_norm / max_norm"
    return ""


def _judge_grads(what: str, message: str, atol: float = 1e-6, rtol: float = 1e-5):
    def judge(student, reference):
        if raised(student["call"]):
            raise Mismatch(f"clip_gradients raised {raised(student['call'])}")
        got, expected = student["grads"], reference["grads"]
        if not isinstance(got, list) or len(got) != len(expected):
            raise Mismatch(f"the model has {len(got) if isinstance(got, list) else '?'} gradients, expected {len(expected)}")
        for i, (g, e) in enumerate(zip(got, expected)):
            if e is None:
                if g is not None:
                    raise Mismatch(f"parameter {i} had no gradient and now has one: skip p.grad is None")
                continue
            try:
                assert_close(g, e, f"gradient {i} {what}", atol=atol, rtol=rtol)
            except Mismatch as err:
                raise Mismatch(f"{err} — {_clip_cause(got, reference.get('before')) or message}") from None
        return Verdict.passed()

    return judge


@check("clip_gradients", "clips_to_max_norm", weight=1.5,
       judge=_judge_grads("after clip_gradients(model, 1.0)", "scale every gradient by the same factor "
                          "max_norm / (total_norm + 1e-6) so the global norm becomes max_norm (directions kept; "
                          "not per parameter, not by clamping values)"),
       hint="one global norm over all parameters, one common scale factor (tolerance 1e-6)")
def clips_to_max_norm(ns, inputs):
    model = _grad_model()
    before = _grads_of(model)
    call = capture(lambda: ns.clip_gradients(model, 1.0))
    return {"call": "ok" if not raised(call) else call, "grads": _grads_of(model), "before": before}


@check("clip_gradients", "leaves_small_gradients",
       judge=_judge_grads("after clip_gradients(model, 100.0)", "when the norm is already below max_norm the "
                          "gradients must stay as they are (scale by min(1, max_norm / norm))", atol=1e-7, rtol=1e-6),
       hint="clipping only ever shrinks: the factor is at most 1")
def leaves_small_gradients(ns, inputs):
    model = _grad_model()
    call = capture(lambda: ns.clip_gradients(model, 100.0))
    return {"call": "ok" if not raised(call) else call, "grads": _grads_of(model)}


def _judge_skips(student, reference):
    _judge_norm({"norm": student["norm"]}, {"norm": reference["norm"]})
    return _judge_grads("with a frozen first layer", "only parameters with a gradient take part")(
        {"call": student["norm"], "grads": student["grads"]}, reference)


@check("clip_gradients", "skips_params_without_grad", judge=_judge_skips,
       hint="skip parameters whose .grad is None (frozen or unused layers)")
def skips_params_without_grad(ns, inputs):
    model = _grad_model(frozen_first=True)
    before = _grads_of(model)
    norm = capture(lambda: ns.clip_gradients(model, 1.0))
    return {"norm": norm, "grads": _grads_of(model), "before": before}


# ---------------------------------------------------------------- make_optimizers
def _opt_models():
    G = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    D = nn.Sequential(nn.Linear(2, 5), nn.Linear(5, 1))
    return G, D


def _describe_optimizers(result, G, D) -> dict:
    """Type, hyper-parameters and which parameters (G0.., D0..) each returned optimizer holds."""
    if raised(result):
        return result
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return {"returned": describe(result)}
    labels = {id(p): f"G{i}" for i, p in enumerate(G.parameters())}
    labels.update({id(p): f"D{i}" for i, p in enumerate(D.parameters())})
    out = {"returned": "pair"}
    for name, opt in zip(("opt_G", "opt_D"), result):
        groups = getattr(opt, "param_groups", None)
        if not isinstance(groups, list):
            out[name] = {"type": type(opt).__name__}
            continue
        out[name] = {
            "type": type(opt).__name__,
            "lr": [float(g.get("lr", float("nan"))) for g in groups],
            "betas": [[float(b) for b in g["betas"]] if "betas" in g else None for g in groups],
            "params": sorted(labels.get(id(p), "other") for g in groups for p in g["params"]),
        }
    return out


def _optimizers(student, what: str):
    if raised(student):
        raise Mismatch(f"{what} raised {raised(student)}")
    if student.get("returned") != "pair":
        raise Mismatch(f"{what} returned {student.get('returned')}; return the tuple (opt_G, opt_D)")
    return student["opt_G"], student["opt_D"]


def _judge_hyper(setting: str):
    def judge(student, reference):
        got = _optimizers(student["result"], f"make_optimizers({setting})")
        expected = _optimizers(reference["result"], "the reference")
        for name, g, e in zip(("opt_G", "opt_D"), got, expected):
            if g.get("type") != e["type"]:
                raise Mismatch(f"{name} is {g.get('type')}, expected torch.optim.Adam")
            for key in ("lr", "betas"):
                got_values = g.get(key)
                if got_values is None or len(got_values) != len(e[key]) or any(
                        v is None or torch.tensor(v, dtype=torch.float64).sub(torch.tensor(w, dtype=torch.float64))
                        .abs().max().item() > 1e-12 for v, w in zip(got_values, e[key])):
                    raise Mismatch(f"with make_optimizers({setting}) {name} has {key} {got_values}, expected {e[key]}")
        return Verdict.passed()

    return judge


@check("make_optimizers", "adam_with_defaults", judge=_judge_hyper("G, D"),
       hint="torch.optim.Adam with lr=lr_g / lr_d and betas=betas; defaults lr 2e-4 and betas (0.5, 0.999)")
def adam_with_defaults(ns, inputs):
    G, D = _opt_models()
    return {"result": _describe_optimizers(capture(lambda: ns.make_optimizers(G, D)), G, D)}


@check("make_optimizers", "uses_arguments", judge=_judge_hyper("G, D, lr_g=1e-3, lr_d=3e-4, betas=(0.0, 0.9)"),
       hint="opt_G gets lr_g, opt_D gets lr_d, both get betas; return (opt_G, opt_D) in that order")
def uses_arguments(ns, inputs):
    G, D = _opt_models()
    result = capture(lambda: ns.make_optimizers(G, D, lr_g=1e-3, lr_d=3e-4, betas=(0.0, 0.9)))
    return {"result": _describe_optimizers(result, G, D)}


def _judge_own_params(student, reference):
    got = _optimizers(student["result"], "make_optimizers(G, D)")
    expected = _optimizers(reference["result"], "the reference")
    for name, g, e, model in zip(("opt_G", "opt_D"), got, expected, ("G", "D")):
        if g.get("params") != e["params"]:
            raise Mismatch(f"{name} holds the parameters {g.get('params')}, expected exactly {model}'s {e['params']} "
                           f"— each optimizer gets only its own model's parameters, and opt_G comes first")
    return Verdict.passed()


@check("make_optimizers", "own_parameters", judge=_judge_own_params,
       hint="opt_G = Adam(G.parameters(), ...), opt_D = Adam(D.parameters(), ...)")
def own_parameters(ns, inputs):
    G, D = _opt_models()
    return {"result": _describe_optimizers(capture(lambda: ns.make_optimizers(G, D)), G, D)}


# ---------------------------------------------------------------- instance_noise
def _noise_input() -> torch.Tensor:
    """(64, 1, 28, 28) images at 0.5, with a background of -1 and strokes of +1 (the ends of the tanh range)."""
    x = torch.full((64, 1, 28, 28), 0.5)
    x[:, :, :7] = -1.0  # (64, 1, 7, 28) background
    x[:, :, -7:] = 1.0  # (64, 1, 7, 28) saturated strokes
    return x


def _judge_noise_stats(student, reference):
    out = tensor_of(student["output"], "instance_noise(x, 0.1)")
    if out.shape != reference["output"].shape:
        raise Mismatch(f"instance_noise(x, 0.1) has shape {tuple(out.shape)}, expected {tuple(reference['output'].shape)}")
    x = _noise_input().double()
    out = out.double()
    contrast = (out[x == 1].mean() - out[x == -1].mean()).item()  # 2 when the images are in the output
    if abs(contrast) < 0.5:
        raise Mismatch(f"the output hardly depends on x (strokes of +1 and background of -1 differ by {contrast:.2f} in "
                       "it, not 2): return the images plus the noise, x + std * torch.randn_like(x), not the noise alone")
    eps = (out - x) / 0.1  # (64, 1, 28, 28): the noise in units of std
    # independent draws: neighbouring pixels and neighbouring images uncorrelated; measured where x is 0.5, far from
    # any clamp (about 25,000 pairs: standard error 0.0065, tolerance 0.1)
    middle = eps[:, :, 7:-7]  # (64, 1, 14, 28)
    for axis, shared in ((3, "the same noise for every pixel of an image (one draw per image, broadcast?)"),
                         (0, "the same noise for every image of the batch (torch.randn_like(x[0]) broadcast?)")):
        a = middle.narrow(axis, 0, middle.shape[axis] - 1).reshape(-1)
        b = middle.narrow(axis, 1, middle.shape[axis] - 1).reshape(-1)
        a, b = a - a.mean(), b - b.mean()
        corr = ((a * b).mean() / (a.std() * b.std()).clamp_min(1e-12)).item()
        if corr > 0.1:
            raise Mismatch(f"the noise is correlated (correlation {corr:.2f} between neighbours along dimension {axis}; "
                           f"independent noise has 0, tolerance 0.1): {shared}; draw one independent value per "
                           "element, torch.randn_like(x)")
    if (eps >= 0).all() or (eps <= 0).all():
        raise Mismatch("the noise is never negative (or never positive): torch.rand_like draws from [0, 1); instance "
                       "noise is centred normal noise, std * torch.randn_like(x)")
    if (eps[x == -1] < 0).double().mean().item() < 0.25 and (eps[x == 1] > 0).double().mean().item() < 0.25:
        raise Mismatch("at pixels of -1 or +1 the noise only ever points into [-1, 1]: the noisy images were clamped; "
                       "instance noise is x + std * N(0, I), not clamped (the discriminator sees it unclipped)")
    eps = eps.reshape(-1)
    mean, std = eps.mean().item(), eps.std().item()
    within = (eps.abs() <= 1).double().mean().item()
    # 50,176 draws: standard errors 0.0045 (mean, std) and 0.002 (fraction within one std, 68.27%).
    if abs(mean) > 0.03 or abs(std - 1) > 0.03:
        raise Mismatch(f"(output - x) / std has mean {mean:.3f} and std {std:.3f}; expected 0 and 1 (tolerance 0.03) — "
                       "add std * torch.randn_like(x): std is the standard deviation, the noise is additive and centred")
    if abs(within - 0.6827) > 0.02:
        raise Mismatch(f"{100 * within:.1f}% of the noise lies within one std; a normal distribution has 68.3% "
                       "(tolerance 2 points) — use torch.randn_like, not torch.rand_like")
    return Verdict.passed()


@check("instance_noise", "statistics", weight=2, judge=_judge_noise_stats,
       hint="x + std * torch.randn_like(x)")
def noise_statistics(ns, inputs):
    return {"output": capture(lambda: ns.instance_noise(_noise_input(), 0.1))}


@check("instance_noise", "zero_std_is_identity", weight=0.5,
       judge=lambda s, r: _exact(s, r, "instance_noise(x, 0.0)", "with std 0 the images must come back unchanged"),
       hint="the noise is scaled by std (additive), so std = 0 adds nothing")
def zero_std_is_identity(ns, inputs):
    x = torch.rand(4, 1, 28, 28, generator=_gen(41)) * 2 - 1
    return {"output": capture(lambda: ns.instance_noise(x, 0.0))}


def _exact(student, reference, what: str, message: str):
    got = student["output"]
    if raised(got):
        raise Mismatch(f"{what} raised {raised(got)}")
    try:
        assert_close(got, reference["output"], what, atol=0, rtol=0)
    except Mismatch as err:
        raise Mismatch(f"{err}: {message}") from None
    return Verdict.passed()


@check("instance_noise", "leaves_input_unchanged", weight=0.5,
       judge=lambda s, r: _exact({"output": s["x_after"]}, {"output": r["x_before"]}, "x after the call",
                                 "do not add the noise in place (x.add_, x += ...): return a new tensor"),
       hint="return x + noise; x itself must not change (the real batch is reused)")
def leaves_input_unchanged(ns, inputs):
    x = torch.rand(4, 1, 28, 28, generator=_gen(42)) * 2 - 1
    before = x.clone()
    result = capture(lambda: ns.instance_noise(x, 0.2))
    return {"x_after": x if not raised(result) else result, "x_before": before}


def _judge_fresh(student, reference):
    a, b = tensor_of(student["first"], "the first call"), tensor_of(student["second"], "the second call")
    if a.shape == b.shape and torch.equal(a, b):
        if a.shape == _fresh_input().shape and torch.equal(a, _fresh_input().to(a.dtype)):
            raise Mismatch("instance_noise(x, 0.1) returned a constant image x unchanged: the noise must not depend "
                           "on x's values (scaled by x.std(), say); add std * torch.randn_like(x)")
        raise Mismatch("two calls gave the same noise: do not reseed inside instance_noise")
    return Verdict.passed()


def _fresh_input() -> torch.Tensor:
    return torch.full((2, 1, 28, 28), 0.5)


@check("instance_noise", "fresh_noise", weight=0.5, judge=_judge_fresh,
       hint="draw new noise on every call")
def fresh_noise(ns, inputs):
    def call():
        return ns.instance_noise(_fresh_input(), 0.1)  # a fresh input each time

    return {"first": capture(call), "second": capture(call)}


def _judge_dtype_device(what: str, scalar: bool):
    def judge(student, reference):
        for key, expected in reference.items():
            got = student[key]
            if raised(got):
                raise Mismatch(f"{what} on a {key} input raised {raised(got)}")
            if isinstance(expected, MetaTensor) and not isinstance(got, MetaTensor):
                raise Mismatch(f"{what} on a meta-device input returned {describe(got)} on another device: create "
                               "new tensors with *_like functions or device=x.device")
            if not isinstance(got, (torch.Tensor, MetaTensor)) or got.dtype != expected.dtype \
                    or tuple(got.shape) != tuple(expected.shape):
                shown = got if isinstance(got, MetaTensor) else describe(got)
                raise Mismatch(f"{what} on a {key} input returned {shown}, expected dtype {expected.dtype} and shape "
                               f"{tuple(expected.shape)}{' (a scalar)' if scalar else ''}")
        return Verdict.passed()

    return judge


@check("instance_noise", "keeps_dtype_and_device", weight=0.5, judge=_judge_dtype_device("instance_noise", False),
       hint="torch.randn_like(x) follows x's shape, dtype and device")
def noise_dtype_device(ns, inputs):
    return {"float64": capture(lambda: ns.instance_noise(torch.zeros(2, 1, 28, 28, dtype=torch.float64), 0.1)),
            "meta": capture(lambda: ns.instance_noise(torch.empty(3, 1, 28, 28, device="meta"), 0.1))}


# ---------------------------------------------------------------- least-squares losses
def _outs(seed: int) -> torch.Tensor:
    return 1.5 * torch.randn(8, 1, generator=_gen(seed))


def _judge_scalar(what: str, message: str, atol: float = 1e-6, rtol: float = 1e-5):
    def judge(student, reference):
        for key, expected in reference.items():
            got = student[key]
            if raised(got):
                raise Mismatch(f"{what} ({key}) raised {raised(got)}")
            if isinstance(got, torch.Tensor) and got.dim() != 0:
                raise Mismatch(f"{what} ({key}) has shape {tuple(got.shape)}: return a scalar (a mean)")
            try:
                assert_close(got, expected, f"{what} ({key})", atol=atol, rtol=rtol)
            except Mismatch as err:
                raise Mismatch(f"{err} — {message}") from None
        return Verdict.passed()

    return judge


@check("ls_discriminator_loss", "values", weight=2,
       judge=_judge_scalar("ls_discriminator_loss", "0.5 * mean((real_out - 1)**2) + 0.5 * mean(fake_out**2), on the "
                           "raw outputs (no sigmoid), means not sums (tolerance 1e-6)"),
       hint="0.5 * ((real_out - 1) ** 2).mean() + 0.5 * (fake_out ** 2).mean()")
def ls_d_values(ns, inputs):
    return {"raw outputs": capture(lambda: ns.ls_discriminator_loss(_outs(51), _outs(52)))}


@check("ls_discriminator_loss", "zero_for_perfect_outputs",
       judge=_judge_scalar("ls_discriminator_loss(ones, zeros)", "the targets are 1 for real outputs and 0 for fake "
                           "outputs, on the raw outputs (no sigmoid)", atol=1e-7),
       hint="real outputs are pushed to 1, fake outputs to 0")
def ls_d_perfect(ns, inputs):
    return {"real 1, fake 0": capture(lambda: ns.ls_discriminator_loss(torch.ones(5, 1), torch.zeros(5, 1)))}


@check("ls_discriminator_loss", "keeps_dtype_and_device", judge=_judge_dtype_device("ls_discriminator_loss", True),
       hint="plain arithmetic on the outputs keeps their dtype and device; do not build targets on the CPU")
def ls_d_dtype_device(ns, inputs):
    meta = torch.empty(4, 1, device="meta")
    return {"float64": capture(lambda: ns.ls_discriminator_loss(_outs(51).double(), _outs(52).double())),
            "meta": capture(lambda: ns.ls_discriminator_loss(meta, meta))}


@check("ls_generator_loss", "values", weight=2,
       judge=_judge_scalar("ls_generator_loss", "0.5 * mean((fake_out - 1)**2) on the raw outputs, a mean "
                           "(tolerance 1e-6)"),
       hint="0.5 * ((fake_out - 1) ** 2).mean()")
def ls_g_values(ns, inputs):
    return {"raw outputs": capture(lambda: ns.ls_generator_loss(_outs(53)))}


@check("ls_generator_loss", "zero_at_target",
       judge=_judge_scalar("ls_generator_loss(ones)", "the generator's target for its fakes is 1 (real)", atol=1e-7),
       hint="the generator pushes the discriminator's outputs on fakes to 1")
def ls_g_zero(ns, inputs):
    return {"fake outputs 1": capture(lambda: ns.ls_generator_loss(torch.ones(5, 1)))}


@check("ls_generator_loss", "keeps_dtype_and_device", judge=_judge_dtype_device("ls_generator_loss", True),
       hint="plain arithmetic on fake_out keeps its dtype and device")
def ls_g_dtype_device(ns, inputs):
    return {"float64": capture(lambda: ns.ls_generator_loss(_outs(53).double())),
            "meta": capture(lambda: ns.ls_generator_loss(torch.empty(4, 1, device="meta")))}
