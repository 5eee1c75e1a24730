"""Training speed: the capstone trainer against a seed-style loop, and the fraction of the machine's peak.

    COURSE_OFFLINE=1 .venv/bin/python benchmarks/bench.py               # CPU, and CUDA when present (make bench)
    .venv/bin/python benchmarks/bench.py --devices cuda --rounds 7 --threads 4

For each model (VAE, GAN) and device, every variant runs the graded step functions of ``--impl``
(default: the reference solutions) on the same digits, at the same batch size (the recipe's 128)
and for the same number of steps:

- ``baseline``: the loop of the seed project, written here: a torchvision-style dataset (uint8
  digits -> PIL image -> ``ToTensor``, plus ``Normalize(0.5, 0.5)`` for the GAN) through a
  ``DataLoader``, plain ``Adam``, float32, and ``.item()`` of the losses after every step;
- ``trainer``: the capstone engine itself (``build_vae``/``build_gan`` and ``train_loop``, as
  ``train_vae``/``train_gan`` run them): batches on the device, losses reach the host every
  ``log_every`` steps, fused Adam (CUDA; the CPU with torch 2.4+), channels_last on the CPU;
- ``trainer fp32 NCHW`` (CPU): the same without channels_last (what the memory format is worth);
- ``trainer oneDNN deconv`` (CPU): the same with every transposed convolution left to oneDNN (what
  ``native_single_channel_deconv`` is worth);
- ``trainer oneDNN dense convs`` (CPU): the same with the convolutions that are fully connected
  layers left to oneDNN (what ``whole_image_convs_as_matmul`` is worth);
- ``trainer oneDNN deconv bias`` (CPU): the same with the transposed convolutions' bias added inside
  oneDNN's kernel (what ``deconv_bias_apart`` is worth);
- ``trainer bf16``: ``--amp bf16`` where the device has native bfloat16;
- ``trainer compile`` and ``trainer bf16 compile``: ``--compile``, on CUDA (and on the CPU with
  ``--compile-cpu``: a minute or more of compiling, no gain measured here).

The variants run interleaved, round by round (on the CPU step by step within each round), so
that a busy machine slows all of them alike; the figures are medians over rounds and the ratio
is the median of the per-round ratios to the baseline. FLOPs per step come from
``torch.utils.flop_counter.FlopCounterMode`` (forward and backward of one training step); the attainable peak is the best of a large matmul and the same
product as a 1x1 convolution (float32 and bfloat16), timed in the same run before and after the
models. Both are kept because the libraries differ: on an AMD CPU, MKL's float32 matmul reaches
less than half of what oneDNN's convolutions (the ones the models use) reach. On CUDA, cuDNN runs
float32 convolutions as TF32 by default, so the float32 peak there is TF32's. Results go to
``benchmarks/results/bench.json``; a table is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from vaegan.devices import available_devices, describe_device  # noqa: E402
from vaegan.train.ddp import ShardedBatches  # noqa: E402
from vaegan.train.engine import (LossLog, RunConfig, bf16_support, load_splits, resolve_speed,  # noqa: E402
                                  synchronize, train_loop)
from vaegan.train.gan import GAN_NAMES, LOSS_KEYS as GAN_KEYS, GANConfig, build_gan  # noqa: E402
from vaegan.train.impl import VAE_NAMES, resolve_impl  # noqa: E402
from vaegan.train.vae import LOSS_KEYS as VAE_KEYS, VAEConfig, build_vae  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "bench.json"
TARGETS = {"cpu": {"vae": 2.0, "gan": 1.3}}  # trainer images/s over the baseline's, at batch 128
PEAK_DTYPES = (("fp32", "float32"), ("bf16", "bfloat16"))
DEFAULT_STEPS = {"cpu": {"vae": 20, "gan": 3}, "cuda": {"vae": 200, "gan": 50}, "mps": {"vae": 50, "gan": 10}}


# ---------------------------------------------------------------- the seed-style baseline
class SeedStyleDigits(Dataset):
    """What ``torchvision.datasets.MNIST`` does per item: uint8 pixels -> PIL image -> ``transform``."""

    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor, transform):
        self.pixels, self.labels, self.transform = pixels.numpy(), labels.tolist(), transform  # (N, 28, 28) uint8

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.pixels[i])), self.labels[i]  # (1, 28, 28) float32


def forever(loader):
    while True:
        yield from loader


def baseline(kind: str, impl, train, device: torch.device, batch_size: int, seed: int) -> Callable[[int], None]:
    """``run(n)``: n steps of the seed-style loop (its own models, optimizers and data order)."""
    from torchvision import transforms

    torch.manual_seed(seed)
    pixels = (train.images * 255).round().to(torch.uint8).squeeze(1)  # the same digits, as the files store them
    if kind == "vae":
        transform = transforms.ToTensor()  # [0, 1]
        model = impl.VAE(latent_dim=32).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(x):
            return impl.vae_train_step(model, x, optimizer, beta=1.0)
    else:
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])  # [-1, 1]
        G, D = impl.Generator(noise_dim=100).to(device), impl.Discriminator().to(device)
        G.apply(impl.weights_init)
        D.apply(impl.weights_init)
        opt_G, opt_D = impl.make_optimizers(G, D, lr_g=2e-4, lr_d=1e-4, betas=(0.5, 0.999))

        def step(x):
            return impl.gan_train_step(G, D, x, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=1.0)

    loader = DataLoader(SeedStyleDigits(pixels, train.labels, transform), batch_size=batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(seed))
    batches, history = forever(loader), []

    def run(n: int) -> None:
        for _ in range(n):
            x, _ = next(batches)
            stats = step(x.to(device))
            history.append({k: v.item() for k, v in stats.items()})  # the seed logged every step: a host sync

    return run


# ---------------------------------------------------------------- the capstone trainer
@dataclass
class Trainer:
    run: Callable[[int], None]
    step: Callable  # one graded step on one batch (for counting FLOPs)
    batch: Callable  # the next batch
    speed: dict = field(default_factory=dict)


def trainer(kind: str, impl, train, device: torch.device, batch_size: int, seed: int, **options) -> Trainer:
    """The engine's own objects and loop (``train_loop`` with the graded step; save points do nothing)."""
    torch.manual_seed(seed)
    if kind == "vae":
        cfg = VAEConfig(batch_size=batch_size, device=str(device), seed=seed, progress=False, **options)
        cfg = cfg.with_defaults()
        speed = resolve_speed(cfg, device, verbose=False)
        model, optimizer = build_vae(cfg, impl, device, speed)
        images, keys = train.images, VAE_KEYS

        def step(x):
            return impl.vae_train_step(model, x, optimizer, beta=cfg.beta)
    else:
        cfg = GANConfig(batch_size=batch_size, device=str(device), seed=seed, progress=False, **options).with_defaults()
        speed = resolve_speed(cfg, device, verbose=False)
        G, D, opt_G, opt_D = build_gan(cfg, impl, device, speed)
        images, keys = train.to_tanh_range(), GAN_KEYS

        def step(real):
            return impl.gan_train_step(G, D, real, opt_G, opt_D, g_steps=cfg.g_steps, real_label=cfg.real_label,
                                       max_grad_norm=cfg.max_grad_norm)

    batches = ShardedBatches(images, batch_size=batch_size, device=device, seed=seed).forever()
    log = LossLog(keys, None, device, "step")

    def run(n: int) -> None:
        chunk = RunConfig(steps=n, save_every=n, log_every=cfg.log_every, progress=False).with_defaults()
        train_loop(chunk, 0, batches, step, log, lambda at: None, kind, lambda m: {}, device=device)

    return Trainer(run, step, lambda: next(batches), speed.describe())


# ---------------------------------------------------------------- measurements
def timed(run: Callable[[int], None], n: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    run(n)
    synchronize(device)
    return time.perf_counter() - start


def flops_per_step(variant: Trainer) -> int:
    """FLOPs of one graded training step (forward and backward), counted by ``FlopCounterMode``."""
    x = variant.batch()
    with FlopCounterMode(display=False) as counter:
        variant.step(x)
    return int(counter.get_total_flops())


def best_seconds(fn: Callable[[], object], device: torch.device, reps: int) -> float:
    fn()  # warm-up: library initialisation, kernel choice
    best = float("inf")
    for _ in range(reps):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def attainable_peak(device: torch.device, dtype: torch.dtype, reps: int) -> dict:
    """FLOP/s of the best of ``reps`` large products in ``dtype``: a matmul (MKL / cuBLAS) and the same
    product as a 1x1 convolution (oneDNN / cuDNN, the libraries the models' convolutions run on)."""
    n, (B, C, H) = (1024, (16, 512, 16)) if device.type == "cpu" else (8192, (64, 2048, 32))
    a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
    x = torch.randn(B, C, H, H, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(C, C, 1, 1, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    return {"matmul": 2 * n ** 3 / best_seconds(lambda: a @ b, device, reps),
            "conv1x1": 2 * B * H * H * C * C / best_seconds(lambda: torch.nn.functional.conv2d(x, w), device, reps)}


def peaks_now(device: torch.device) -> dict:
    """``{"fp32": {...}, "bf16": {...}}`` with the matmul and conv1x1 FLOP/s and their best as ``peak``."""
    reps = 20 if device.type == "cpu" else 10  # many short tries: a busy CPU has quiet moments
    out = {}
    for dtype, name in PEAK_DTYPES:
        found = attainable_peak(device, getattr(torch, name), reps)
        out[dtype] = {**found, "peak": max(found.values())}
    return out


def variants_for(device: torch.device, compile_cpu: bool) -> list[tuple[str, dict]]:
    """The trainer's variants timed on ``device`` (``trainer`` = the defaults of ``train_vae``/``train_gan``)."""
    compiling = device.type == "cuda" or compile_cpu
    rows = [("trainer", {})]
    if device.type == "cpu":
        rows.append(("trainer fp32 NCHW", {"channels_last": False}))  # what channels_last is worth here
        rows.append(("trainer oneDNN deconv", {"native_deconv": False}))  # what the deconvolution rule is worth
        rows.append(("trainer oneDNN dense convs", {"matmul_convs": False}))  # what the matmul rule is worth
        rows.append(("trainer oneDNN deconv bias", {"deconv_bias_apart": False}))  # what the bias rule is worth
    if compiling:
        rows.append(("trainer compile", {"compile": True}))
    if bf16_support(device)[0]:
        rows.append(("trainer bf16", {"amp": "bf16"}))
        if compiling:
            rows.append(("trainer bf16 compile", {"amp": "bf16", "compile": True}))
    return rows


def bench_model(kind: str, impl, train, device: torch.device, args) -> list[dict]:
    batch = args.batch_size
    steps = args.steps or DEFAULT_STEPS.get(device.type, DEFAULT_STEPS["cuda"])[kind]
    runners = {"baseline": baseline(kind, impl, train, device, batch, args.seed)}
    speeds = {"baseline": {"amp": "none", "compile": False, "channels_last": False, "adam": "default"}}
    flops = None
    for name, options in variants_for(device, args.compile_cpu):
        variant = trainer(kind, impl, train, device, batch, args.seed, **options)
        if name == "trainer":
            flops = flops_per_step(variant)  # dtype and memory format do not change the count
        runners[name], speeds[name] = variant.run, variant.speed
    for name, run in runners.items():  # warm-up: allocator, oneDNN/cuDNN kernel choice, compilation
        print(f"  warming up {kind} {name} on {device}", flush=True)
        run(args.warmup)
    # On the CPU the variants alternate step by step inside a round (a host sync per step costs
    # nothing there), so a burst of load from a neighbour on a shared machine lands on all of them;
    # on a GPU each times its whole round at once (a sync per step would hide the trainer's gain).
    chunk = 1 if device.type == "cpu" else steps
    seconds = {name: [] for name in runners}
    for r in range(args.rounds):
        for name in runners:
            seconds[name].append(0.0)
        for _ in range(steps // chunk):
            for name, run in runners.items():
                seconds[name][-1] += timed(run, chunk, device)
        print(f"  {kind} round {r + 1}/{args.rounds}: " + ", ".join(
            f"{name} {batch * steps / seconds[name][-1]:.0f} img/s" for name in runners), flush=True)
    rows = []
    for name, times in seconds.items():
        per_second = [batch * steps / t for t in times]
        ratios = [b / t for b, t in zip(seconds["baseline"], times)]  # per-round: same machine load
        median_step = statistics.median(times) / steps
        bf16 = speeds[name].get("amp") == "bf16"
        achieved = flops / median_step if flops else None
        rows.append({
            "device": str(device), "device_name": describe_device(device), "model": kind, "variant": name,
            "batch_size": batch, "steps_per_round": steps, "rounds": args.rounds,
            "images_per_second": round(statistics.median(per_second), 1),
            "images_per_second_min": round(min(per_second), 1), "images_per_second_max": round(max(per_second), 1),
            "ms_per_step": round(1000 * median_step, 2),
            "ratio_to_baseline": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
            "flops_per_step": flops, "achieved_flops": achieved,
            "achieved_gflops": round(achieved / 1e9, 2) if achieved else None,
            "peak_dtype": "bf16" if bf16 else "fp32", "peak_gflops": None, "fraction_of_peak": None,  # set below
            "speed": speeds[name],
        })
    return rows


def machine(device: torch.device) -> dict:
    return {"device": str(device), "device_name": describe_device(device), "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__, "bf16_native": bf16_support(device)[0]}


def headline(rows: list[dict]) -> list[dict]:
    """Per device and model: the trainer (defaults) and the best trainer variant against the baseline."""
    out = []
    for device in dict.fromkeys(r["device"] for r in rows):
        for kind in ("vae", "gan"):
            mine = [r for r in rows if r["device"] == device and r["model"] == kind and r["variant"] != "baseline"]
            if not mine:
                continue
            default = next(r for r in mine if r["variant"] == "trainer")
            best = max(mine, key=lambda r: r["ratio_to_baseline"])
            target = TARGETS.get(torch.device(device).type, {}).get(kind)
            out.append({"device": device, "model": kind, "batch_size": default["batch_size"],
                        "trainer_ratio": default["ratio_to_baseline"], "best_variant": best["variant"],
                        "best_ratio": best["ratio_to_baseline"], "target": target,
                        "target_met_by_default": None if target is None else default["ratio_to_baseline"] >= target,
                        "target_met_by_best": None if target is None else best["ratio_to_baseline"] >= target})
    return out


def print_table(rows: list[dict], peaks: dict, heads: list[dict]) -> None:
    print()
    for device, peak in peaks.items():
        print(f"{device}: attainable peak (best of a matmul and a 1x1 convolution) "
              + ", ".join(f"{dtype} {found['peak'] / 1e9:.1f} GFLOP/s (matmul {found['matmul'] / 1e9:.1f}, "
                          f"conv1x1 {found['conv1x1'] / 1e9:.1f})" for dtype, found in peak.items()))
    header = (f"{'device':6} {'model':5} {'variant':26} {'img/s':>8} {'(min..max)':>15} {'ms/step':>9} "
              f"{'x base':>7} {'(min..max)':>13} {'GFLOP/s':>8} {'of peak':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        spread = f"{r['images_per_second_min']:.0f}..{r['images_per_second_max']:.0f}"
        ratio_spread = f"{r['ratio_min']:.2f}..{r['ratio_max']:.2f}"
        frac = f"{100 * r['fraction_of_peak']:.1f}%" if r["fraction_of_peak"] is not None else "-"
        print(f"{r['device']:6} {r['model']:5} {r['variant']:26} {r['images_per_second']:8.0f} {spread:>15} "
              f"{r['ms_per_step']:9.1f} {r['ratio_to_baseline']:7.2f} {ratio_spread:>13} "
              f"{r['achieved_gflops'] or 0:8.1f} {frac:>8}")
    print()
    for h in heads:
        target = f" (target {h['target']}x: {'met' if h['target_met_by_best'] else 'not met'})" if h["target"] else ""
        print(f"{h['device']} {h['model'].upper()} at batch {h['batch_size']}: trainer {h['trainer_ratio']:.2f}x the "
              f"baseline's images/s; best {h['best_variant']} {h['best_ratio']:.2f}x{target}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="auto",
                        help="comma-separated devices, or auto: cpu, plus cuda (or mps) when present")
    parser.add_argument("--models", default="vae,gan")
    parser.add_argument("--batch-size", type=int, default=128, help="the recipe's batch size (default 128)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per variant (medians over them)")
    parser.add_argument("--steps", type=int, default=None, help="steps per round (default: by device and model)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--compile-cpu", action="store_true", help="also time torch.compile on the CPU (slow)")
    parser.add_argument("--impl", default="solutions")
    parser.add_argument("--data", default="mnist")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = available_devices()[:1] + ["cpu"] if args.devices == "auto" else args.devices.split(",")
    devices = [torch.device(d) for d in dict.fromkeys(d for d in devices[::-1])]  # cpu first
    models = [m for m in args.models.split(",") if m]
    impl = resolve_impl(args.impl, tuple(dict.fromkeys(VAE_NAMES + GAN_NAMES)))
    train, _ = load_splits(args.data)
    rows, peaks, machines = [], {}, []
    started = time.perf_counter()
    for device in devices:
        print(f"== {describe_device(device)} ==", flush=True)
        before = peaks_now(device)
        info = machine(device)
        for kind in models:
            rows.extend(bench_model(kind, impl, train, device, args))
        after = peaks_now(device)  # before and after the models: the best of both
        peaks[str(device)] = {dtype: {key: max(before[dtype][key], after[dtype][key]) for key in before[dtype]}
                              for dtype in before}
        for r in rows:
            if r["device"] == str(device) and r["flops_per_step"]:
                peak = peaks[str(device)][r["peak_dtype"]]["peak"]
                r["peak_gflops"] = round(peak / 1e9, 1)
                r["fraction_of_peak"] = round(r["achieved_flops"] / peak, 4)
        info["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        machines.append(info)
    heads = headline(rows)
    print_table(rows, peaks, heads)
    result = {"what": "images per second of the capstone trainer vs a seed-style loop (see benchmarks/bench.py)",
              "settings": {**vars(args), "data_source": train.source, "train_images": len(train)},
              "machines": machines, "peaks_flops": peaks, "headline": heads, "results": rows,
              "seconds": round(time.perf_counter() - started, 1)}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
