"""Multi-process capstone runs (torchrun + DistributedDataParallel, gloo on the CPU).

Two CPU processes talk over loopback only (``127.0.0.1``, ``GLOO_SOCKET_IFNAME=lo``) on a free
port. One ``torch.multiprocessing`` launch runs every in-process check (GAN and VAE, resume, the
ranks' weights, a run without DDP that must fail the same-weights check); one ``torchrun`` launch
checks the command line of the course: ``torchrun --nproc_per_node 2 -m vaegan train gan``.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.conftest import once_per_run
from tests.test_train import IMPORTS, impl_folder, namespace
from vaegan.train import CheckpointError, train_gan, train_vae
from vaegan.train import ddp as ddp_module
from vaegan.train.ddp import ShardedBatches
from vaegan.train.engine import load_checkpoint
from vaegan.train.gan import GANConfig

REPO = Path(__file__).resolve().parents[1]
WORLD = 2
GAN_RUN = dict(steps=4, save_every=2, batch_size=16, progress=False)
VAE_RUN = dict(steps=3, save_every=2, batch_size=16, progress=False)
BN_DISCRIMINATOR = '''
class Discriminator(nn.Module):
    """With BatchNorm: evaluated on real and on fake before one backward (the DDP buffer pitfall)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.LeakyReLU(0.2),
                                 nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x)
'''
LOOPBACK = {"MASTER_ADDR": "127.0.0.1", "GLOO_SOCKET_IFNAME": "lo", "COURSE_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spy_impl(record: dict):
    """The test doubles with a BatchNorm discriminator; records the modules the engine builds and each step."""
    ns = namespace()
    exec(IMPORTS + BN_DISCRIMINATOR, vars(ns))  # noqa: S102 - test double defined above
    make_optimizers, gan_step = ns.make_optimizers, ns.gan_train_step

    def spy_make_optimizers(G, D, **kwargs):
        record["modules"] = {"generator": G, "discriminator": D}
        return make_optimizers(G, D, **kwargs)

    def spy_gan_step(G, D, real, *args, **kwargs):
        record.setdefault("wrapped", set()).add((type(G).__name__, type(D).__name__))
        record.setdefault("batches", []).append(real.flatten(1).sum(1).tolist())  # one fingerprint per image
        return gan_step(G, D, real, *args, **kwargs)

    class SpyVAE(ns.VAE):
        def __init__(self, latent_dim=32):
            super().__init__(latent_dim)
            record["modules"] = {"vae": self}

    return types.SimpleNamespace(**{**vars(ns), "make_optimizers": spy_make_optimizers,
                                    "gan_train_step": spy_gan_step, "VAE": SpyVAE})


def _states(record: dict) -> dict:
    return {name: {k: v.detach().clone() for k, v in module.state_dict().items()}
            for name, module in record["modules"].items()}


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    """One rank: every multi-process run of the in-process checks; saves what the parent compares."""
    os.environ.update(LOOPBACK, MASTER_PORT=str(port))
    os.environ.pop("COURSE_FAST", None)
    torch.set_num_threads(1)
    import vaegan.train.gan as gan
    import vaegan.train.vae as vae

    gan.quality_metrics = vae.quality_metrics = lambda *args, **kwargs: None  # not under test here; saves time
    averages = []

    class RecordedAverage(gan.WeightAverage):  # --ema: each rank's moving average, to compare across ranks
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            averages.append(self)

    gan.WeightAverage = RecordedAverage
    dist.init_process_group("gloo", rank=rank, world_size=world)
    folder, saved = Path(folder), {}
    try:
        for name, run in (("gan", lambda impl: train_gan(impl=impl, out=folder / "gan2", **GAN_RUN)),
                          ("part", lambda impl: train_gan(impl=impl, out=folder / "part2", stop_after=3, **GAN_RUN)),
                          ("resumed", lambda impl: train_gan(impl=impl, out=folder / "part2", resume=True, **GAN_RUN)),
                          ("vae", lambda impl: train_vae(impl=impl, out=folder / "vae2", **VAE_RUN)),
                          ("translated", lambda impl: train_gan(impl=impl, out=folder / "t2", translate=2, cutout=4,
                                                                     ema=0.9, **GAN_RUN))):
            record = {}
            run(spy_impl(record))
            saved[name] = {"states": _states(record), "wrapped": sorted(record.get("wrapped", ())),
                           "batches": record.get("batches", [])}
            if name == "translated":
                saved[name]["states"]["average"] = _states({"modules": {"a": averages[-1].average}})["a"]
        # Without DDP (each rank alone on its shard): the same-weights check below must fail.
        ddp_module.Dist.wrap = lambda self, module, device: module
        record = {}
        train_gan(impl=spy_impl(record), out=folder / "nodp", **GAN_RUN)
        saved["no_ddp"] = {"states": _states(record)}
        torch.save(saved, folder / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def tree(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    return once_per_run(tmp_path_factory, "ddp-two-processes", lambda: _two_process_runs(tmp_path_factory))


def _two_process_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    mp.start_processes(_worker, args=(WORLD, free_port(), str(folder)), nprocs=WORLD, start_method="spawn")
    ranks = [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return folder, ranks


@pytest.fixture(scope="module")
def one_process_runs(tmp_path_factory):
    return once_per_run(tmp_path_factory, "ddp-one-process", lambda: _one_process_runs(tmp_path_factory))


def _one_process_runs(tmp_path_factory):
    import vaegan.train.gan as gan
    import vaegan.train.vae as vae

    folder = tmp_path_factory.mktemp("single")
    saved = gan.quality_metrics, vae.quality_metrics
    gan.quality_metrics = vae.quality_metrics = lambda *args, **kwargs: None
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_gan(impl=spy_impl({}), out=folder / "gan1", **GAN_RUN)
        train_vae(impl=spy_impl({}), out=folder / "vae1", **VAE_RUN)
    finally:
        gan.quality_metrics, vae.quality_metrics = saved
        torch.set_num_threads(before)
    return folder


# ---------------------------------------------------------------- two processes (torch.multiprocessing)
def test_two_processes_write_the_artifacts_of_one(two_process_runs, one_process_runs):
    folder, _ = two_process_runs
    for two, one in (("gan2", "gan1"), ("vae2", "vae1")):
        assert tree(folder / two) == tree(one_process_runs / one), f"{two}: another artifact set than one process's"
    metrics = json.loads((folder / "gan2" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_batch_size"] == 32 and metrics["batch_size"] == 16
    assert not list(folder.glob("*/*.tmp")), "a rank other than 0 wrote a file?"


def test_every_rank_ends_with_the_same_weights(two_process_runs):
    folder, ranks = two_process_runs
    for run in ("gan", "resumed", "vae", "translated"):
        for name, state in ranks[0][run]["states"].items():
            assert _same(state, ranks[1][run]["states"][name]), f"{run}: rank 1's {name} differs from rank 0's"
    gan_weights = load(folder / "gan2" / "generator.pt")  # written from the module inside DDP
    assert _same(gan_weights, ranks[0]["gan"]["states"]["generator"])
    assert _same(load(folder / "vae2" / "vae.pt"), ranks[0]["vae"]["states"]["vae"])
    average = load(folder / "t2" / "generator_ema.pt")  # --ema: rank 0 writes the moving average beside G
    assert average.keys() == gan_weights.keys() and not _same(average, ranks[0]["translated"]["states"]["generator"])
    assert _same(average, ranks[0]["translated"]["states"]["average"])  # and the loop above: rank 1's is the same


def test_the_same_weights_check_fails_without_ddp(two_process_runs):
    _, ranks = two_process_runs
    states = [r["no_ddp"]["states"]["generator"] for r in ranks]
    assert not _same(*states), "ranks trained alone still agree: the check above could not fail"


def test_the_graded_step_gets_ddp_modules_and_each_rank_its_own_data(two_process_runs):
    _, ranks = two_process_runs
    assert ranks[0]["gan"]["wrapped"] == [("DistributedDataParallel", "DistributedDataParallel")]
    assert ranks[0]["translated"]["wrapped"] == [("DistributedDataParallel", "AugmentedDiscriminator")]
    assert not _same(ranks[0]["translated"]["states"]["discriminator"], ranks[0]["gan"]["states"]["discriminator"])
    first = [set(r["gan"]["batches"][0]) for r in ranks]  # per-image pixel sums of each rank's first batch
    assert len(first[0]) == 16 and not first[0] & first[1], "the ranks trained on the same images"


def test_two_process_resume_is_bit_identical(two_process_runs):
    folder, _ = two_process_runs
    ckpt = load(folder / "part2" / "checkpoint.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng_ranks"]) == 2
    for name in ("generator.pt", "discriminator.pt"):
        assert _same(load(folder / "gan2" / name), load(folder / "part2" / name)), name
    assert tree(folder / "part2") == tree(folder / "gan2")


# ---------------------------------------------------------------- the course's command line (torchrun)
def test_torchrun_command_line(tmp_path, one_process_runs):
    impl = impl_folder(tmp_path / "impl")
    out = tmp_path / "run"
    env = {**os.environ, **LOOPBACK, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    env.pop("COURSE_FAST", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(WORLD),
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               "-m", "vaegan", "train", "gan", "--impl", str(impl), "--steps", "4", "--save-every", "2",
               "--batch-size", "16", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("report: ") == 1, "only rank 0 reports"
    assert f"report: {out / 'index.html'}" in done.stdout
    assert tree(out) == tree(one_process_runs / "gan1")
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2


# ---------------------------------------------------------------- leaving the group
def _leaver(rank: int, world: int, port: int, folder: str, barrier: bool) -> None:
    """One rank of a group that ``distributed()`` opens itself; rank 0 stays busy after the others."""
    import time

    os.environ.update(LOOPBACK, MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    if not barrier:
        ddp_module.dist.barrier = lambda *args, **kwargs: None
    with ddp_module.distributed("cpu") as (info, _):
        assert info.world_size == world and dist.is_initialized()
        if info.is_main:
            time.sleep(3)  # rank 0 writes weights, plots and metrics after the last step
        done = time.time()
    assert not dist.is_initialized(), "the group this context opened is still open"
    Path(folder, f"rank{rank}.json").write_text(json.dumps({"body_done": done, "left": time.time()}))


@pytest.mark.parametrize("barrier", [True, False], ids=["as shipped", "without the barrier"])
def test_ranks_leave_the_group_together(tmp_path, barrier):
    mp.start_processes(_leaver, args=(WORLD, free_port(), str(tmp_path), barrier), nprocs=WORLD, start_method="spawn")
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]
    waited = ranks[1]["left"] >= ranks[0]["body_done"]
    assert waited == barrier, "rank 1 left before rank 0 was done" if barrier else "the check above could not fail"


# ---------------------------------------------------------------- no processes
def test_shards_are_disjoint_and_one_shard_is_the_plain_order():
    from vaegan.data import TensorBatches

    images = torch.arange(101, dtype=torch.float32).view(101, 1, 1, 1)
    plain = [b.flatten().tolist() for b in TensorBatches(images, batch_size=10, seed=3)]
    assert [b.flatten().tolist() for b in ShardedBatches(images, batch_size=10, seed=3)] == plain
    shards = [[v for b in ShardedBatches(images, batch_size=10, seed=3, rank=r, world_size=2)
               for v in b.flatten().tolist()] for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 50  # 50 images each: 5 batches of 10
    assert not set(shards[0]) & set(shards[1]), "two ranks drew the same image in one epoch"
    with pytest.raises(ValueError, match="shards"):
        ShardedBatches(images, batch_size=60, rank=0, world_size=2)


def test_resume_needs_the_same_number_of_processes(tmp_path, monkeypatch):
    monkeypatch.setattr("vaegan.train.gan.quality_metrics", lambda *args, **kwargs: None)
    out, _ = train_gan(impl=namespace(), steps=2, save_every=2, out=tmp_path / "gan", batch_size=16, progress=False)
    cfg = GANConfig(steps=2, batch_size=16).with_defaults()
    assert load_checkpoint(out / "checkpoint.pt", "gan", cfg)["step"] == 2
    with pytest.raises(CheckpointError, match="1-process run and this run has 2"):
        load_checkpoint(out / "checkpoint.pt", "gan", cfg, world_size=2)
