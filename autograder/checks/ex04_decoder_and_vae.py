"""Checks for 04_decoder_and_vae: Decoder(latent_dim) and VAE(latent_dim).

Decoder: shapes, the layers (reference weights must fit), outputs with the reference weights
loaded (logits, not probabilities), dtype and device.

VAE: checked apart from the student's Decoder. Stand-in ``forward`` methods, set on the
``.encoder`` and ``.decoder`` instances, make the encoder return a known ``(mu, logvar)`` and the
decoder a known function of its input (called as a module or through ``.forward``), and record
the ``z`` the decoder receives; so ``forward`` and ``sample`` are judged on their own
logic (sampling statistics, order of the outputs, sigmoid) whatever the attribute names inside.
``forward`` samples z in eval mode too (the test metric is the negative ELBO with z sampled, computed
after ``model.eval()``); ``sample`` leaves a model in train mode in train mode.
"""
from __future__ import annotations

import torch
from torch import nn

from ..plaindata import MetaTensor, describe
from .base import ExerciseChecks, Mismatch, Verdict, capture, raised, tensor_of
from .ex01_encoder import (adoption_error, distributions_unvalidated, judge_architecture, judge_dtype_device,
                           prepare_weights, require_shape, run_with_reference_weights, sequence_of)
from .ex02_reparameterization import normal_draws

CHECKS = ExerciseChecks("04_decoder_and_vae")
check = CHECKS.check

LATENT = 6
DRAWS = 2000  # rows of z judged statistically: per dimension the standard error is 0.022 (mean) and 0.016 (std)
MEAN_TOL, STD_TOL = 0.12, 0.10  # about 5.5 and 6 standard errors for the worst of 32 dimensions
VALUES_ATOL, VALUES_RTOL = 1e-5, 1e-4
# forward in eval mode: the same z as in train mode (same seed) passes at once; otherwise 400 rows are judged
# statistically, standard errors 0.05 (mean) and 0.035 (std) per dimension, tolerances 5 and 6 of them.
EVAL_DRAWS, EVAL_MEAN_TOL, EVAL_STD_TOL = 400, 0.25, 0.21


def _codes(batch: int, latent: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(batch, latent, generator=torch.Generator().manual_seed(seed)).to(dtype)


# ---------------------------------------------------------------- Decoder
def _decoder(ns, latent_dim=None):
    return ns.Decoder() if latent_dim is None else ns.Decoder(latent_dim=latent_dim)


def _judge_decoder_shapes(student, reference):
    for key, batch in (("default_latent_dim", 4), ("latent_5_batch_1", 1), ("latent_5_batch_3", 3)):
        call = f"Decoder({'' if key.startswith('default') else 'latent_dim=5'}) on {batch} code(s)"
        require_shape(student[key], (batch, 1, 28, 28), f"the output of {call}")
    return Verdict.passed()


@check("Decoder", "output_shape", weight=1.5, judge=_judge_decoder_shapes,
       hint="Linear(latent_dim, 392), view (B, 8, 7, 7), ConvTranspose2d(kernel 4, stride 2, padding 1) twice: "
            "7 -> 14 -> 28; use latent_dim from the constructor (default 32) and B = z.shape[0]")
def output_shape(ns, inputs):
    return {
        "default_latent_dim": capture(lambda: _decoder(ns)(_codes(4, 32, 1))),
        "latent_5_batch_1": capture(lambda: _decoder(ns, 5)(_codes(1, 5, 2))),
        "latent_5_batch_3": capture(lambda: _decoder(ns, 5)(_codes(3, 5, 3))),
    }


_prepare_decoder = prepare_weights(lambda ns: _decoder(ns, LATENT), lambda: _codes(4, LATENT, 10))


@check("Decoder", "architecture", judge=judge_architecture(
           "Decoder", "Linear(latent_dim, 392), ConvTranspose2d(8,16,4,s2,p1), ConvTranspose2d(16,1,4,s2,p1), default bias"),
       prepare=_prepare_decoder,
       hint="kernel 4, stride 2, padding 1 for both transposed convolutions; channels 8 -> 16 -> 1")
def decoder_architecture(ns, inputs):
    return {"adoption_error": adoption_error(lambda: _decoder(ns, LATENT), inputs)}


def _judge_decoder_outputs(student, reference):
    got = student["outputs"]
    if raised(got):
        raise Mismatch(f"with the reference weights loaded: {raised(got)}")
    expected = reference["outputs"]
    require_shape(got, tuple(expected.shape), "the decoder output")
    got, expected = tensor_of(got, "the decoder output").double(), expected.double()
    if torch.allclose(got, expected, atol=VALUES_ATOL, rtol=VALUES_RTOL):
        return Verdict.passed()
    if torch.allclose(got, torch.sigmoid(expected), atol=VALUES_ATOL, rtol=VALUES_RTOL):
        raise Mismatch("the decoder returns sigmoid(logits), probabilities: return the logits themselves "
                       "(the loss uses binary_cross_entropy_with_logits; images come from torch.sigmoid later)")
    raise Mismatch(f"with the reference weights, the logits differ from the reference by up to "
                   f"{(got - expected).abs().max():.3g} (tolerance atol={VALUES_ATOL:g}, rtol={VALUES_RTOL:g}): "
                   "check the ReLU after the linear layer and after the first transposed convolution, the "
                   "channel-first view (B, 8, 7, 7), and no activation at the end")


@check("Decoder", "reference_outputs", weight=2, judge=_judge_decoder_outputs, prepare=_prepare_decoder,
       hint="Linear -> ReLU -> view (B, 8, 7, 7) -> ConvTranspose2d -> ReLU -> ConvTranspose2d, returning logits")
def decoder_reference_outputs(ns, inputs):
    return {"outputs": run_with_reference_weights(lambda: _decoder(ns, LATENT), inputs, _codes(5, LATENT, 20))}


@check("Decoder", "keeps_dtype_and_device", weight=0.5, judge=judge_dtype_device("Decoder"),
       hint="do not cast z (z.float()) or create tensors on the CPU; the layers follow the model's dtype and device")
def decoder_keeps_dtype_and_device(ns, inputs):
    meta = torch.empty(2, 32, device="meta")
    return {
        "a_float64_model_and_input": capture(lambda: _decoder(ns).double()(_codes(2, 32, 30, torch.float64))),
        "a_model_and_input_on_the_meta_device": capture(lambda: _decoder(ns).to("meta")(meta)),
    }


# ---------------------------------------------------------------- VAE: structure
def _shapes(module) -> list | None:
    if not isinstance(module, nn.Module):
        return None
    return sorted(list(p.shape) for p in module.parameters())


def _observe_structure(ns, latent_dim):
    kwargs = {} if latent_dim is None else {"latent_dim": latent_dim}
    model = ns.VAE(**kwargs)
    return {
        "encoder": _shapes(getattr(model, "encoder", None)),
        "decoder": _shapes(getattr(model, "decoder", None)),
        "model": _shapes(model),
        "fresh_encoder": _shapes(ns.Encoder(**kwargs)),
        "fresh_decoder": _shapes(ns.Decoder(**kwargs)),
    }


def _judge_structure(student, reference):
    for key, call in (("default", "VAE()"), ("latent_6", "VAE(latent_dim=6)")):
        seen = student[key]
        if raised(seen):
            raise Mismatch(f"building {call} raised {raised(seen)}")
        for part, cls in (("encoder", "Encoder"), ("decoder", "Decoder")):
            if seen[part] is None:
                raise Mismatch(f"{call} has no attribute .{part} that is an nn.Module: set self.{part} = {cls}(latent_dim)")
            if seen[part] != seen[f"fresh_{part}"]:
                raise Mismatch(f"{call}.{part} does not have the layers of {cls}({'' if key == 'default' else 'latent_dim=6'}): "
                               f"build it as {cls}(latent_dim), passing the VAE's latent_dim on")
        if seen["model"] != sorted(seen["encoder"] + seen["decoder"]):
            raise Mismatch(f"{call} has parameters outside .encoder and .decoder: the VAE adds no layers of its own")
    return Verdict.passed()


@check("VAE", "structure", judge=_judge_structure, uses=("VAE", "Encoder", "Decoder"),
       hint="self.encoder = Encoder(latent_dim) and self.decoder = Decoder(latent_dim), nothing else with parameters")
def structure(ns, inputs):
    return {"default": capture(lambda: _observe_structure(ns, None)),
            "latent_6": capture(lambda: _observe_structure(ns, LATENT))}


# ---------------------------------------------------------------- VAE: stand-ins that isolate forward and sample
def stub_logits(z: torch.Tensor) -> torch.Tensor:
    """What the stand-in decoder returns: a known function of z, constant over the 28x28 pixels."""
    return (0.5 * z.sum(dim=1)).reshape(-1, 1, 1, 1).expand(-1, 1, 28, 28)


def _stub_decoder(model, record: dict) -> None:
    """``model.decoder`` returns ``stub_logits(z)`` and records ``z``. The instance's ``forward`` is replaced (not a
    hook), so ``self.decoder(z)`` and ``self.decoder.forward(z)`` are caught alike; its layers stay in place."""

    def forward(*args, **kwargs):
        z = args[0] if args else next(iter(kwargs.values()))
        record["z"] = z.detach().clone()
        record["calls"] = record.get("calls", 0) + 1
        return stub_logits(z)

    model.decoder.forward = forward


def _stub_encoder(model, mu: torch.Tensor, logvar: torch.Tensor) -> None:
    """``model.encoder`` returns the fixed ``(mu, logvar)``, whether called as a module or through ``.forward``."""
    model.encoder.forward = lambda *args, **kwargs: (mu.clone(), logvar.clone())


def _fixed_posterior(batch: int):
    mu = torch.rand(batch, 32, generator=torch.Generator().manual_seed(5)) * 4 - 2
    sigma = torch.tensor([2.0, 0.5]).repeat(16)  # alternate wide and narrow dimensions
    return mu, torch.log(sigma ** 2).expand(batch, 32).contiguous()


def _head(value):
    """An image batch (B, 1, 28, 28) travels as its first three pixels per image; other values as they are."""
    if isinstance(value, torch.Tensor) and value.dim() == 4:
        return {"shape": list(value.shape), "head": value.detach().flatten(1)[:, :3]}
    return value


def _forward_probe(ns, train: bool = True, batch: int = DRAWS):
    model = ns.VAE()
    model.train(train)
    mu, logvar = _fixed_posterior(batch)
    record: dict = {}
    _stub_encoder(model, mu, logvar)
    _stub_decoder(model, record)
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    torch.manual_seed(7)
    with torch.no_grad():
        out = model(x)
    outputs = [_head(o) for o in out] if isinstance(out, (tuple, list)) else _head(out)
    return {"outputs": outputs, "z": record.get("z"), "mu": mu, "logvar": logvar}


def _images_head(value, what: str, batch: int) -> torch.Tensor:
    if raised(value):
        raise Mismatch(f"{what} raised {raised(value)}")
    if not isinstance(value, dict) or "head" not in value:
        raise Mismatch(f"{what} should be an image batch ({batch}, 1, 28, 28), got {describe(value)}")
    if tuple(value["shape"]) != (batch, 1, 28, 28):
        raise Mismatch(f"{what} has shape {tuple(value['shape'])}, expected ({batch}, 1, 28, 28)")
    return tensor_of(value["head"], what).double()


def _judge_forward(student, reference):
    seen = student["run"]
    if raised(seen):
        raise Mismatch(f"VAE()(x) raised {raised(seen)}")
    mu, logvar = reference["run"]["mu"].double(), reference["run"]["logvar"].double()
    outputs = sequence_of(seen["outputs"], "VAE.forward", 3)
    if not isinstance(outputs[0], dict):
        raise Mismatch(f"VAE.forward should return (x_logits, mu, logvar) in that order; the first value is "
                       f"{describe(outputs[0])}, not an image batch")
    for name, value, want in (("mu", outputs[1], mu), ("logvar", outputs[2], logvar)):
        value = tensor_of(value, f"{name} returned by forward")
        if tuple(value.shape) != tuple(want.shape) or not torch.equal(value.double(), want):
            other = logvar if name == "mu" else mu
            if tuple(value.shape) == tuple(other.shape) and torch.equal(value.double(), other):
                raise Mismatch("mu and logvar are swapped in the output: return (x_logits, mu, logvar)")
            raise Mismatch(f"the {name} returned by forward is not the {name} the encoder produced: "
                           "return (x_logits, mu, logvar) with mu, logvar = self.encoder(x)")
    z = seen["z"]
    if z is None:
        raise Mismatch("forward never called self.decoder: decode z with self.decoder(z)")
    z = tensor_of(z, "the z given to the decoder").double()
    if tuple(z.shape) != tuple(mu.shape):
        raise Mismatch(f"the z given to the decoder has shape {tuple(z.shape)}, expected {tuple(mu.shape)}")
    normal_draws((z - mu) / (0.5 * logvar).exp(), "(z - mu) / sigma for the z given to the decoder",
                 mean_tol=MEAN_TOL, std_tol=STD_TOL, corr_tol=None)
    head = _images_head(outputs[0], "x_logits returned by forward", mu.shape[0])
    want = stub_logits(z).flatten(1)[:, :3]
    if not torch.allclose(head, want, atol=1e-3, rtol=1e-5):
        if torch.allclose(head, torch.sigmoid(want), atol=1e-5, rtol=1e-5):
            raise Mismatch("forward applies sigmoid to the decoder's output: return the logits, as the decoder gives them")
        raise Mismatch("the x_logits returned by forward are not what self.decoder(z) returned: return the decoder "
                       "output unchanged")
    _judge_gradients(student["gradients"], reference["gradients"])
    on_meta = student["meta"]
    if raised(on_meta):
        raise Mismatch(f"with the model and a batch on the meta device, forward raised {raised(on_meta)}: a tensor was "
                       "created on the CPU; draw eps like mu (torch.randn_like(mu)) or call reparameterize(mu, logvar)")
    on_meta = sequence_of(on_meta, "VAE.forward on the meta device", 3)
    if not all(isinstance(v, MetaTensor) for v in on_meta):
        raise Mismatch(f"with the model and a batch on the meta device, forward returned {describe(on_meta)}, "
                       "not three tensors on that device")
    return Verdict.passed()


DETACHED = ("no torch.no_grad(), .detach() or .data around reparameterize: the reparameterization trick is what lets "
            "the reconstruction loss train the encoder")


def _judge_gradients(seen, reference) -> None:
    """sum(x_logits) = 392 * sum(z) with the stand-in decoder: mu.grad = 392 and logvar.grad = 196 * (z - mu)."""
    if raised(seen):
        error = raised(seen)
        if "does not require grad" in error:
            raise Mismatch("x_logits from forward is not connected to mu and logvar (backward raised "
                           f"{error}): z must stay in the graph, " + DETACHED)
        raise Mismatch(f"backward from the x_logits of forward raised {error}")
    mu = reference["mu"].double()
    if seen["mu_grad"] is None or seen["logvar_grad"] is None:
        missing = " and ".join(n for n in ("mu", "logvar") if seen[f"{n}_grad"] is None)
        raise Mismatch(f"no gradient reached {missing} through the z given to the decoder: " + DETACHED)
    z = tensor_of(seen["z"], "the z given to the decoder").double()
    mu_grad = tensor_of(seen["mu_grad"], "mu.grad").double()
    logvar_grad = tensor_of(seen["logvar_grad"], "logvar.grad").double()
    if tuple(z.shape) != tuple(mu.shape) or tuple(mu_grad.shape) != tuple(mu.shape) \
            or tuple(logvar_grad.shape) != tuple(mu.shape):
        raise Mismatch(f"with a batch of {mu.shape[0]}, z or the gradients of mu and logvar have the wrong shape")
    upstream = 0.5 * 28 * 28  # d sum(stub_logits(z)) / dz
    if not torch.allclose(mu_grad, torch.full_like(mu_grad, upstream), atol=1e-3, rtol=1e-5) or \
            not torch.allclose(logvar_grad, 0.5 * upstream * (z - mu), atol=1e-2, rtol=1e-4):
        raise Mismatch("the gradients that mu and logvar receive through z differ from those of "
                       "z = mu + exp(0.5 * logvar) * eps (dz/dmu = 1, dz/dlogvar = (z - mu) / 2): " + DETACHED)


def _gradient_probe(ns, batch: int = 8):
    """Backward from sum(x_logits) of forward in train mode; the gradients reaching the encoder's mu and logvar."""
    model = ns.VAE()
    model.train()
    mu, logvar = (t.clone().requires_grad_(True) for t in _fixed_posterior(batch))
    record: dict = {}
    _stub_encoder(model, mu, logvar)
    _stub_decoder(model, record)
    torch.manual_seed(9)
    with torch.enable_grad():
        out = model(torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(10)))
        x_logits = out[0] if isinstance(out, (tuple, list)) else out
        x_logits.sum().backward()
    return {"z": record.get("z"), "mu_grad": mu.grad, "logvar_grad": logvar.grad, "mu": mu.detach()}


@check("VAE", "forward_samples_z", weight=1.5, judge=_judge_forward,
       hint="mu, logvar = self.encoder(x); z = reparameterize(mu, logvar); return self.decoder(z), mu, logvar")
def forward_samples_z(ns, inputs):
    meta = torch.empty(2, 1, 28, 28, device="meta")  # a CPU-made eps shows here, as it would on a GPU
    with distributions_unvalidated():
        on_meta = capture(lambda: ns.VAE().to("meta")(meta))
    return {"run": capture(lambda: _forward_probe(ns)), "gradients": capture(lambda: _gradient_probe(ns)),
            "meta": on_meta}


def _judge_forward_eval(student, reference):
    seen = student["eval"]
    if raised(seen):
        raise Mismatch(f"VAE().eval()(x) raised {raised(seen)}")
    z_eval = seen["z"]
    if z_eval is None:
        raise Mismatch("in eval mode forward never called self.decoder: decode z with self.decoder(z) in both modes")
    z_eval = tensor_of(z_eval, "the z given to the decoder in eval mode").double()
    z_train = None if raised(student["train"]) else student["train"].get("z")
    if isinstance(z_train, torch.Tensor) and z_train.shape == z_eval.shape and torch.equal(z_train.double(), z_eval):
        return Verdict.passed()  # the same z as in train mode (same seed): forward does not depend on the mode
    mu, logvar = reference["eval"]["mu"].double(), reference["eval"]["logvar"].double()
    if tuple(z_eval.shape) == tuple(mu.shape) and torch.allclose(z_eval, mu, atol=1e-6, rtol=0):
        raise Mismatch("in eval mode forward decodes z = mu: the VAE test metric is the negative ELBO with z sampled "
                       "(vae_evaluate calls model.eval() and then forward), so sample z = reparameterize(mu, logvar) "
                       "whatever self.training is")
    if tuple(z_eval.shape) != tuple(mu.shape):
        raise Mismatch(f"in eval mode the z given to the decoder has shape {tuple(z_eval.shape)}, expected {tuple(mu.shape)}")
    normal_draws((z_eval - mu) / (0.5 * logvar).exp(), "(z - mu) / sigma for the z given to the decoder in eval mode",
                 mean_tol=EVAL_MEAN_TOL, std_tol=EVAL_STD_TOL, corr_tol=None)
    return Verdict.passed()


@check("VAE", "forward_samples_z_in_eval", weight=0.5, judge=_judge_forward_eval,
       hint="forward samples z = reparameterize(mu, logvar) in eval mode too; no `if self.training` around it")
def forward_samples_z_in_eval(ns, inputs):
    return {"train": capture(lambda: _forward_probe(ns, train=True, batch=EVAL_DRAWS)),
            "eval": capture(lambda: _forward_probe(ns, train=False, batch=EVAL_DRAWS))}


def _sample_probe(ns):
    model = ns.VAE()
    record: dict = {}
    _stub_decoder(model, record)
    torch.manual_seed(8)
    images = model.sample(DRAWS)
    small, small_record = ns.VAE(latent_dim=LATENT), {}
    _stub_decoder(small, small_record)
    small_images = capture(lambda: small.sample(4))
    return {"images": _head(images), "z": record.get("z"),
            "small": {"images": _head(small_images), "z": small_record.get("z")}}


def _judge_sample(student, reference):
    seen = student["run"]
    if raised(seen):
        raise Mismatch(f"VAE().sample({DRAWS}) raised {raised(seen)}")
    z = seen["z"]
    if z is None:
        raise Mismatch("sample never called self.decoder: decode z ~ N(0, I) with self.decoder(z)")
    z = tensor_of(z, "the z given to the decoder by sample")
    if tuple(z.shape) != (DRAWS, 32):
        raise Mismatch(f"sample({DRAWS}) gave the decoder z of shape {tuple(z.shape)}, expected ({DRAWS}, latent_dim=32)")
    normal_draws(z.double(), "z drawn by sample (should be N(0, I))", mean_tol=MEAN_TOL, std_tol=STD_TOL, corr_tol=None)
    head = _images_head(seen["images"], f"sample({DRAWS})", DRAWS)
    logits = stub_logits(z.double()).flatten(1)[:, :3]
    if not torch.allclose(head, torch.sigmoid(logits), atol=1e-5, rtol=1e-5):
        if torch.allclose(head, logits, atol=1e-3, rtol=1e-5):
            raise Mismatch("sample returns the decoder's logits: return images torch.sigmoid(logits) in [0, 1]")
        raise Mismatch("the images returned by sample are not torch.sigmoid(self.decoder(z)) (tolerance 1e-5)")
    small = seen["small"]
    call = f"VAE(latent_dim={LATENT}).sample(4)"
    if raised(small["images"]):
        raise Mismatch(f"{call} raised {raised(small['images'])}: draw z with the VAE's latent_dim")
    if small["z"] is None:
        raise Mismatch(f"{call} never called self.decoder")
    z_small = tensor_of(small["z"], f"the z given to the decoder by {call}")
    if tuple(z_small.shape) != (4, LATENT):
        raise Mismatch(f"{call} gave the decoder z of shape {tuple(z_small.shape)}, expected (4, {LATENT}): draw z "
                       "with the latent_dim given to the constructor (self.latent_dim), not a fixed 32")
    _images_head(small["images"], call, 4)
    return Verdict.passed()


@check("VAE", "sample_images", weight=1.5, judge=_judge_sample,
       hint="z = torch.randn(n, latent_dim, device=...); return torch.sigmoid(self.decoder(z))")
def sample_images(ns, inputs):
    return {"run": capture(lambda: _sample_probe(ns))}


def _judge_sample_device(student, reference):
    for key, call in (("model_on_meta", "sample(3) on a model on the meta device"),
                      ("model_on_meta_device_given", "sample(3, device='meta') on a model on the meta device")):
        got = student[key]
        if raised(got):
            raise Mismatch(f"{call} raised {raised(got)}: with device=None, draw z on the device of the model's "
                           "parameters (next(self.parameters()).device)")
        if not isinstance(got, MetaTensor):
            raise Mismatch(f"{call} returned {describe(got)}, not a tensor on the meta device")
    got = student["model_on_cpu"]
    if raised(got) or not isinstance(got, torch.Tensor):
        raise Mismatch(f"sample(2, device='cpu') returned {raised(got) or describe(got)}")
    return Verdict.passed()


@check("VAE", "sample_device", judge=_judge_sample_device,
       hint="device=None means the model's device: device = next(self.parameters()).device")
def sample_device(ns, inputs):
    with distributions_unvalidated():
        return {
            "model_on_meta": capture(lambda: ns.VAE().to("meta").sample(3)),
            "model_on_meta_device_given": capture(lambda: ns.VAE().to("meta").sample(3, device="meta")),
            "model_on_cpu": capture(lambda: ns.VAE().sample(2, device="cpu")),
        }


def _judge_sample_mode(student, reference):
    seen = student["modes"]
    if raised(seen):
        raise Mismatch(f"VAE().sample(4) raised {raised(seen)}")
    if not all(seen):
        raise Mismatch("sample(n) left the model (or some of its layers) in eval mode though it was in train mode: "
                       "sample must leave the mode as it found it — drop self.eval() (the caller switches modes) "
                       "or restore it with was = self.training ... self.train(was)")
    return Verdict.passed()


@check("VAE", "sample_keeps_train_mode", weight=0.5, judge=_judge_sample_mode,
       hint="sample does not change the model's train/eval mode")
def sample_keeps_train_mode(ns, inputs):
    def run():
        model = ns.VAE()
        model.train()
        model.sample(4)
        return [m.training for m in model.modules()]

    return {"modes": capture(run)}
