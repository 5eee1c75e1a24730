"""Several GPUs or machines for one capstone run: ``torchrun`` + DistributedDataParallel (DDP).

    torchrun --nproc_per_node 4 -m vaegan train gan                      # 4 GPUs (or 4 CPU processes)
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 \\
             --master_addr HOST0 --master_port 29500 -m vaegan train gan  # the same on HOST1 with --node_rank 1

``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; the capstone engine sees ``WORLD_SIZE > 1`` and joins the process group: NCCL with one
GPU per process (``cuda:LOCAL_RANK``), gloo on the CPU. What changes in a run:

- ``--batch-size`` is per process (the global batch is ``batch_size * WORLD_SIZE``);
- every rank draws the same permutation each epoch and keeps its own shard of it (``ShardedBatches``);
  noise and ``z`` differ per rank (seed ``seed + rank``);
- the graded step gets the models wrapped in DDP, which averages gradients: every rank holds the same
  weights after every step; sample grids, checkpoints and weights use the underlying modules;
- only rank 0 writes artifacts; logged losses are means over ranks; ``--resume`` needs the same
  number of processes (rank 0 reads the checkpoint and sends it to the others: no shared disk needed).

Across machines, set ``NCCL_SOCKET_IFNAME`` / ``GLOO_SOCKET_IFNAME`` when the default network
interface is the wrong one; MPS runs one process only.
"""
from __future__ import annotations

import contextlib
import gc
import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..data import TensorBatches
from ..devices import DeviceUnavailableError, get_device


@dataclass(frozen=True)
class Dist:
    """This process's place in the run; every collective is a no-op for a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank (any picklable object)."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean of ``tensor`` over ranks (a new tensor)."""
        if not self.enabled:
            return tensor
        total = tensor.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total / self.world_size

    @torch.no_grad()
    def average_buffers(self, module: nn.Module) -> None:
        """Replace every floating-point buffer (BatchNorm running statistics) by its mean over ranks."""
        if not self.enabled:
            return
        for buffer in unwrap(module).buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
                buffer.div_(self.world_size)

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` in DDP for a multi-process run (the module itself otherwise)."""
        if not self.enabled:
            return module
        # Buffers are not synced in forward. The graded discriminator_step calls D twice (real, then
        # fake) before one backward; syncing buffers at the start of the second forward overwrites, in
        # place, the BatchNorm running statistics the first forward's graph saw (reported as "modified
        # by an inplace operation" for DCGAN under DDP on some versions and backends; torch 2.14 with
        # gloo runs, but rank 0's statistics silently replace the others'), and it costs a broadcast
        # per forward (7 per GAN step). Without it each rank normalizes with the statistics of its own
        # per-process batch, which is exactly the single-process recipe (the batch size is per
        # process), and the running statistics, used only in eval() mode, are averaged over ranks at
        # every save point (Dist.average_buffers; they are affine in their start value with the same
        # coefficients on every rank, so averaging at save points or once at the end gives the same
        # numbers). SyncBatchNorm was not chosen: it changes the recipe to global-batch statistics,
        # costs an all-reduce per BatchNorm forward, and is not a BatchNorm2d, so the graded
        # weights_init would skip it.
        options = {"forward_sync_buffers": False} if _accepts(nn.parallel.DistributedDataParallel,
                                                              "forward_sync_buffers") else {"broadcast_buffers": False}
        if device.type == "cuda":
            options.update(device_ids=[device.index], output_device=device.index)
        return nn.parallel.DistributedDataParallel(module, **options)


def _accepts(cls, name: str) -> bool:
    return name in inspect.signature(cls.__init__).parameters


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside DDP (the module itself when it is not wrapped)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def launched_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def _process_device(request: str, local_rank: int, world_size: int) -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` for CUDA runs, else the requested device."""
    device = get_device(request, verbose=False)
    if world_size == 1:
        return device
    if device.type == "mps":
        raise DeviceUnavailableError("multi-process (torchrun) runs are not supported on MPS; use --device cpu")
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise DeviceUnavailableError(
                f"process LOCAL_RANK={local_rank} needs cuda:{local_rank} but this machine has {count} GPU(s); "
                f"start at most {count} processes per node (torchrun --nproc_per_node {count})")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


@contextlib.contextmanager
def distributed(request: str = "auto"):
    """Yield ``(Dist, device)`` for this process; join the process group when torchrun started several.

    A group that is already initialized (a launcher or a test did it) is used and left open; a group
    this function opens is closed on the way out.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        device = _process_device(request, local_rank, world)
        yield Dist(rank, world, local_rank, dist.get_backend()), device
        return
    world = launched_world_size()
    if world == 1:
        yield Dist(), get_device(request, verbose=False)
        return
    if not dist.is_available():
        raise DeviceUnavailableError("this PyTorch build has no torch.distributed; run a single process")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = _process_device(request, local_rank, world)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    try:
        yield Dist(rank, world, local_rank, backend), device
    except BaseException:
        dist.destroy_process_group()  # no barrier: the other ranks may never reach it (torchrun stops them)
        raise
    else:
        _leave_together()


def _leave_together() -> None:
    """Close the group this process opened, once every rank has finished its run.

    Rank 0 keeps working after the last step (weights, plots, quality metrics) while the others are
    done; a rank that tore down its side of the group and exited meanwhile could abort in gloo's
    teardown ("terminate called without an active exception", seen once in CI). So every rank waits
    for the others, the DDP wrappers (whose reducers hold the group) are freed while the interpreter is
    fully alive, and only then is the group destroyed.
    """
    try:
        dist.barrier()
    finally:
        gc.collect()
        dist.destroy_process_group()


class ShardedBatches(TensorBatches):
    """``TensorBatches`` for one rank: every rank draws the same permutation each epoch and keeps
    the indices ``rank, rank + world_size, ...`` of it, so the ranks' batches are disjoint.

    With ``world_size=1`` it is ``TensorBatches`` exactly (same order, same state_dict).
    """

    def __init__(self, images, batch_size=128, device="cpu", rank: int = 0, world_size: int = 1, **kwargs):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        self.rank, self.world_size = int(rank), int(world_size)
        super().__init__(images, batch_size=batch_size, device=device, **kwargs)
        if self.drop_last and len(self) == 0:
            raise ValueError(f"batch_size {batch_size} exceeds the {self.shard_size()} images of each of the "
                             f"{world_size} shards")

    def shard_size(self) -> int:
        return len(self.images) // self.world_size

    def __len__(self) -> int:
        n = self.shard_size()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self, epoch: int) -> torch.Tensor:
        order = super()._order(epoch)  # (N,), the same on every rank
        kept = self.shard_size() * self.world_size  # equal shards: drop the remainder of N / world_size
        return order[:kept][self.rank::self.world_size]
