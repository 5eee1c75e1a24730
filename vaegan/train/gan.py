"""The GAN capstone run (``python -m vaegan train gan``): the graded ``gan_train_step`` on MNIST, with artifacts.

Writes under ``out``: ``gan_gen_imgs/gen_{step:05d}.png`` (the generator on fixed noise, in
eval() mode) at step 0, every ``save_every`` steps and the last step; ``GAN_output.png``
(discriminator and generator losses); ``checkpoint.pt``; ``generator.pt`` and
``discriminator.pt`` (final ``state_dict``s) and ``metrics.json`` (schedule, recipe,
device, seed, wall time, final losses; ``quality`` is filled by ``quality_metrics``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..data import TensorBatches
from ..devices import get_device, seed_everything
from ..plots import plot_losses, save_image_grid
from .engine import (CHECKPOINT, FIXED_BATCH, Clock, LossLog, RunConfig, TrainResult, cpu_threads, describe_impl,
                     environment, fixed_normal, isolated_rng, load_checkpoint, load_splits, prepare_out, resume_rng,
                     save_checkpoint, save_weights, train_loop, write_json)
from .impl import GAN_NAMES, ImplementationError, explain_not_implemented, resolve_impl

IMAGE_DIRS = {"gan_gen_imgs": "gen"}
FILES = ("generator.pt", "discriminator.pt", "GAN_output.png")
LOSS_KEYS = ("d_loss", "g_loss")


@dataclass
class GANConfig(RunConfig):
    """Recipe: Adam lr_g 2e-4, lr_d 1e-4, betas (0.5, 0.999), batch 128, 9,300 steps, real label 0.9,
    gradients clipped to norm 1.0, two generator updates per discriminator update, DCGAN init."""

    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas: tuple = (0.5, 0.999)
    real_label: float = 0.9
    max_grad_norm: float | None = 1.0  # None (or <= 0) turns clipping off
    g_steps: int = 2
    noise_dim: int = 100

    KIND = "gan"
    DEFAULT_STEPS = (9300, 20)
    MUST_MATCH = ("batch_size", "data", "seed", "lr_g", "lr_d", "betas", "real_label", "max_grad_norm", "g_steps",
                  "noise_dim")

    def with_defaults(self) -> "GANConfig":
        cfg = super().with_defaults()
        clip = cfg.max_grad_norm if cfg.max_grad_norm is not None and cfg.max_grad_norm > 0 else None
        return replace(cfg, max_grad_norm=clip, betas=tuple(float(b) for b in cfg.betas))


def quality_metrics(G, test, device, seed: int) -> dict | None:
    """Sample-quality figures for ``metrics.json["quality"]`` (FID, classifier score, class histogram).

    Placeholder: the evaluation issue (exercise 13) fills this in; ``None`` means "not computed".
    """
    return None


def save_gan_images(G, fixed_noise, out: Path, step: int) -> None:
    """The generator on the fixed noise batch, in eval() mode (BatchNorm running statistics), then back to train()."""
    G.eval()
    with torch.no_grad():
        fake = G(fixed_noise)  # (64, 1, 28, 28) in [-1, 1]
    G.train()
    save_image_grid(fake, out / "gan_gen_imgs" / f"gen_{step:05d}.png", nrow=8, value_range=(-1, 1))


def train_gan(config: GANConfig | None = None, **options) -> TrainResult:
    """Train the GAN of ``impl`` and write the capstone artifacts; returns ``(out, metrics)``.

    ``options`` are ``GANConfig`` fields: the common ``steps``, ``batch_size``, ``save_every``,
    ``log_every``, ``data``, ``out``, ``impl``, ``seed``, ``device``, ``resume``, ``stop_after``,
    ``progress``, ``threads`` and the recipe ``lr_g``, ``lr_d``, ``betas``, ``real_label``, ``max_grad_norm``,
    ``g_steps``, ``noise_dim``. Unset ones take the recipe (tiny under ``COURSE_FAST=1``).
    """
    cfg = (config or GANConfig()).updated(**options).with_defaults()
    device = get_device(cfg.device, verbose=False)
    impl = resolve_impl(cfg.impl, GAN_NAMES)  # before seeding: loading notebooks may draw random numbers
    try:
        with cpu_threads(cfg.threads):
            return _run(cfg, impl, device)
    except NotImplementedError as err:
        raise explain_not_implemented(impl, err) from err


def _run(cfg: GANConfig, impl, device) -> TrainResult:
    out, ckpt_path = Path(cfg.out), Path(cfg.out) / "checkpoint.pt"
    resuming = cfg.resume and ckpt_path.exists()
    if cfg.resume and not resuming:
        print(f"note: --resume but {ckpt_path} does not exist; starting a fresh run")
    prepare_out(out, fresh=not resuming, image_dirs=IMAGE_DIRS, files=FILES)
    seed_everything(cfg.seed)
    train, test = load_splits(cfg.data)
    batches = TensorBatches(train.to_tanh_range(), batch_size=cfg.batch_size, device=device, seed=cfg.seed)
    G = impl.Generator(noise_dim=cfg.noise_dim).to(device)
    D = impl.Discriminator().to(device)
    if not (isinstance(G, torch.nn.Module) and isinstance(D, torch.nn.Module)):
        raise ImplementationError("Generator and Discriminator must be nn.Modules (exercises 07 and 08)")
    G.apply(impl.weights_init)
    D.apply(impl.weights_init)
    opt_G, opt_D = impl.make_optimizers(G, D, lr_g=cfg.lr_g, lr_d=cfg.lr_d, betas=cfg.betas)
    fixed_noise = fixed_normal((FIXED_BATCH, cfg.noise_dim), cfg.seed, device)  # (64, noise_dim), standard normal

    step, history, clock = 0, None, Clock()
    if resuming:
        state = load_checkpoint(ckpt_path, "gan", cfg)
        G.load_state_dict(state["generator"])
        D.load_state_dict(state["discriminator"])
        opt_G.load_state_dict(state["opt_G"])
        opt_D.load_state_dict(state["opt_D"])
        batches.load_state_dict(state["data"])
        step, history, clock = state["step"], state["history"], Clock(state["wall_time_s"])
        resume_rng(state, out)
    log = LossLog(LOSS_KEYS, history, device, "gan_train_step")

    def save_point(at: int) -> None:
        save_gan_images(G, fixed_noise, out, at)
        save_checkpoint(ckpt_path, {
            "kind": "gan", "step": at, "generator": G.state_dict(), "discriminator": D.state_dict(),
            "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(), "data": batches.state_dict(),
            "history": log.history, "config": cfg.plain(), "wall_time_s": clock.total(),
        })

    if not resuming:
        save_point(0)
    start_step = step
    loop = train_loop(cfg, step, batches.forever(),
                      lambda real: impl.gan_train_step(G, D, real, opt_G, opt_D, g_steps=cfg.g_steps,  # real in [-1, 1]
                                                       real_label=cfg.real_label, max_grad_norm=cfg.max_grad_norm),
                      log, save_point, "GAN", lambda m: {"d": f"{m['d_loss']:.3f}", "g": f"{m['g_loss']:.3f}"})
    if loop.stopped:
        return TrainResult(out, None)

    save_weights(G, out / "generator.pt")
    save_weights(D, out / "discriminator.pt")
    plot_losses({"discriminator": log.history["d_loss"], "generator": log.history["g_loss"]}, out / "GAN_output.png",
                title=f"GAN training losses ({cfg.data}, batch {cfg.batch_size}, {cfg.g_steps} G updates per D update)",
                ylabel="BCE with logits (batch mean)")
    G.eval()
    with isolated_rng(device, cfg.seed):
        quality = quality_metrics(G, test, device, cfg.seed)
    G.train()
    metrics = {
        "kind": "gan",
        "quality": quality,  # filled by quality_metrics (exercise 13 issue): FID, classifier score, class histogram
        "final_losses": log.recent(100),  # means over the last 100 steps, and the last values
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "g_steps": cfg.g_steps,
        "save_every": cfg.save_every,
        "recipe": {"optimizer": "Adam (make_optimizers)", "lr_g": cfg.lr_g, "lr_d": cfg.lr_d, "betas": list(cfg.betas),
                   "real_label": cfg.real_label, "max_grad_norm": cfg.max_grad_norm, "init": "DCGAN (weights_init)",
                   "noise_dim": cfg.noise_dim},
        "dataset": cfg.data,
        "data_source": train.source,
        "train_images": len(train),
        "seed": cfg.seed,
        **environment(device),
        "wall_time_s": round(clock.total(), 3),
        "seconds_per_100_steps": round(loop.seconds_per_100_steps, 3),
        "resumed": start_step > 0,
        "impl": describe_impl(impl),
        "artifacts": ["gan_gen_imgs/", "GAN_output.png", CHECKPOINT, "generator.pt", "discriminator.pt",
                      "metrics.json"],
    }
    write_json(out / "metrics.json", metrics)
    if cfg.progress:
        final = metrics["final_losses"]
        print(f"GAN: D loss {final['d_loss']:.3f}, G loss {final['g_loss']:.3f} (last 100 steps) after {cfg.steps} "
              f"steps in {metrics['wall_time_s']:.1f} s; artifacts in {out}")
    return TrainResult(out, metrics)
