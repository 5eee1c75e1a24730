"""The VAE capstone run (``python -m vaegan train vae``): the graded ``vae_train_step`` on MNIST, with artifacts.

Writes under ``out``: ``vae_gen_imgs/gen_{step:05d}.png`` (a fixed latent batch decoded),
``vae_recon_imgs/recon_{step:05d}.png`` (fixed test digits over their reconstructions) at
step 0, every ``save_every`` steps and the last step; ``VAE_output.png`` (BCE and KLD
curves); ``checkpoint.pt`` (for ``resume``); ``vae.pt`` (final ``state_dict``) and
``metrics.json`` (test negative ELBO with sampled ``z``, schedule, device, seed, wall time).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import TensorBatches
from ..devices import get_device, seed_everything
from ..plots import plot_losses, save_image_grid, save_reconstruction_pairs
from .engine import (CHECKPOINT, FIXED_BATCH, Clock, LossLog, RunConfig, TrainResult, cpu_threads, describe_impl,
                     environment, fixed_normal, isolated_rng, load_checkpoint, load_splits, prepare_out, resume_rng,
                     save_checkpoint, save_weights, train_loop, write_json)
from .impl import VAE_NAMES, ImplementationError, explain_not_implemented, resolve_impl

IMAGE_DIRS = {"vae_gen_imgs": "gen", "vae_recon_imgs": "recon"}
FILES = ("vae.pt", "VAE_output.png")
LOSS_KEYS = ("loss", "recon", "kl")
EVAL_BATCH = 1000


@dataclass
class VAEConfig(RunConfig):
    """Recipe: Adam lr 1e-3, batch 128, 2,300 steps, beta 1 (``shared/curriculum.md``)."""

    lr: float = 1e-3
    beta: float = 1.0
    latent_dim: int = 32

    KIND = "vae"
    DEFAULT_STEPS = (2300, 20)
    MUST_MATCH = ("batch_size", "data", "seed", "lr", "beta", "latent_dim")


def one_per_class(images: torch.Tensor, labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """The first image of each class, ``(classes, 1, 28, 28)``: the fixed originals of the reconstruction grid."""
    picks = [int(torch.nonzero(labels == c)[0]) for c in range(classes) if bool((labels == c).any())]
    return images[picks]


def save_vae_images(model, fixed_z, fixed_x, out: Path, step: int, device, seed: int) -> None:
    """Decode the fixed latent batch and reconstruct the fixed originals, in eval() mode, then back to train()."""
    model.eval()
    with torch.no_grad(), isolated_rng(device, seed):
        samples = torch.sigmoid(model.decoder(fixed_z))  # (64, 1, 28, 28) in [0, 1]
        x_logits, _, _ = model(fixed_x)
    model.train()
    save_image_grid(samples, out / "vae_gen_imgs" / f"gen_{step:05d}.png", nrow=8)
    save_reconstruction_pairs(fixed_x, torch.sigmoid(x_logits), out / "vae_recon_imgs" / f"recon_{step:05d}.png",
                              n=fixed_x.shape[0])


def evaluate(impl, model, test, device, seed: int) -> dict:
    """``vae_evaluate`` over the whole test split (sampled ``z``, seeded so the figure is reproducible)."""
    batches = TensorBatches(test.images, batch_size=min(EVAL_BATCH, len(test)), device=device,
                            shuffle=False, drop_last=False)
    model.eval()
    with isolated_rng(device, seed):
        result = impl.vae_evaluate(model, batches)
    model.train()
    return {k: float(result[k]) for k in ("neg_elbo", "recon", "kl")}


def train_vae(config: VAEConfig | None = None, **options) -> TrainResult:
    """Train the VAE of ``impl`` and write the capstone artifacts; returns ``(out, metrics)``.

    ``options`` are ``VAEConfig`` fields: ``steps``, ``batch_size``, ``save_every``, ``log_every``,
    ``data``, ``out``, ``impl``, ``seed``, ``device``, ``resume``, ``stop_after``, ``progress``, ``threads``,
    ``lr``, ``beta``, ``latent_dim``. Unset ones take the recipe (tiny under ``COURSE_FAST=1``).
    """
    cfg = (config or VAEConfig()).updated(**options).with_defaults()
    device = get_device(cfg.device, verbose=False)
    impl = resolve_impl(cfg.impl, VAE_NAMES)  # before seeding: loading notebooks may draw random numbers
    try:
        with cpu_threads(cfg.threads):
            return _run(cfg, impl, device)
    except NotImplementedError as err:
        raise explain_not_implemented(impl, err) from err


def _run(cfg: VAEConfig, impl, device) -> TrainResult:
    out, ckpt_path = Path(cfg.out), Path(cfg.out) / "checkpoint.pt"
    resuming = cfg.resume and ckpt_path.exists()
    if cfg.resume and not resuming:
        print(f"note: --resume but {ckpt_path} does not exist; starting a fresh run")
    prepare_out(out, fresh=not resuming, image_dirs=IMAGE_DIRS, files=FILES)
    seed_everything(cfg.seed)
    train, test = load_splits(cfg.data)
    batches = TensorBatches(train.images, batch_size=cfg.batch_size, device=device, seed=cfg.seed)
    model = impl.VAE(latent_dim=cfg.latent_dim).to(device)
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "decoder"):
        raise ImplementationError("VAE must be an nn.Module with a .decoder (see exercise 04)")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    fixed_z = fixed_normal((FIXED_BATCH, cfg.latent_dim), cfg.seed, device)  # (64, latent_dim)
    fixed_x = one_per_class(test.images, test.labels).to(device)  # (10, 1, 28, 28)

    step, history, clock = 0, None, Clock()
    if resuming:
        state = load_checkpoint(ckpt_path, "vae", cfg)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        batches.load_state_dict(state["data"])
        step, history, clock = state["step"], state["history"], Clock(state["wall_time_s"])
        resume_rng(state, out)
    log = LossLog(LOSS_KEYS, history, device, "vae_train_step")

    def save_point(at: int) -> None:
        save_vae_images(model, fixed_z, fixed_x, out, at, device, cfg.seed)
        save_checkpoint(ckpt_path, {
            "kind": "vae", "step": at, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "data": batches.state_dict(), "history": log.history, "config": cfg.plain(),
            "wall_time_s": clock.total(),
        })

    if not resuming:
        save_point(0)
    start_step = step
    loop = train_loop(cfg, step, batches.forever(),
                      lambda x: impl.vae_train_step(model, x, optimizer, beta=cfg.beta),  # x: (B, 1, 28, 28) in [0, 1]
                      log, save_point, "VAE", lambda m: {"bce": f"{m['recon']:.1f}", "kld": f"{m['kl']:.1f}"})
    if loop.stopped:
        return TrainResult(out, None)

    save_weights(model, out / "vae.pt")
    plot_losses({"BCE (reconstruction)": log.history["recon"], "KLD": log.history["kl"]}, out / "VAE_output.png",
                title=f"VAE training losses ({cfg.data}, batch {cfg.batch_size})")
    test_metrics = evaluate(impl, model, test, device, cfg.seed)
    metrics = {
        "kind": "vae",
        "neg_elbo": test_metrics["neg_elbo"],  # nats per image, test split, z sampled
        "recon": test_metrics["recon"],
        "kl": test_metrics["kl"],
        "test_images": len(test),
        "z": "sampled",
        "train_final": log.recent(100),
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "save_every": cfg.save_every,
        "optimizer": "Adam",
        "lr": cfg.lr,
        "beta": cfg.beta,
        "latent_dim": cfg.latent_dim,
        "dataset": cfg.data,
        "data_source": train.source,
        "train_images": len(train),
        "seed": cfg.seed,
        **environment(device),
        "wall_time_s": round(clock.total(), 3),
        "seconds_per_100_steps": round(loop.seconds_per_100_steps, 3),
        "resumed": start_step > 0,
        "impl": describe_impl(impl),
        "artifacts": ["vae_gen_imgs/", "vae_recon_imgs/", "VAE_output.png", CHECKPOINT, "vae.pt", "metrics.json"],
    }
    write_json(out / "metrics.json", metrics)
    if cfg.progress:
        print(f"VAE: test negative ELBO {metrics['neg_elbo']:.2f} nats/image (recon {metrics['recon']:.2f}, "
              f"KL {metrics['kl']:.2f}) after {cfg.steps} steps in {metrics['wall_time_s']:.1f} s; artifacts in {out}")
    return TrainResult(out, metrics)
