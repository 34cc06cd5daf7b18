"""Several processes (one per GPU) with DistributedDataParallel, and the data order of a run.

Launch the same script with ``torchrun --nproc_per_node N train.py``; ``fit`` notices
``WORLD_SIZE > 1`` and then

- initialises the process group: NCCL on CUDA (each process on ``cuda:LOCAL_RANK``), Gloo on
  the CPU (used by the tests: two CPU processes on 127.0.0.1);
- wraps every network that has trainable parameters in ``DistributedDataParallel``; gradients
  are averaged over processes, so N processes with batch b follow the same path as one process
  with batch N*b (``TrainConfig.batch_size`` is per process);
- gives each process its own shard of every epoch's permutation (``ShardedEpochSampler``);
- lets only rank 0 print, write metrics, sample grids and checkpoints;
- destroys the process group at the end (if ``fit`` created it).

Several ``fit`` calls in one torchrun process (train, then fine-tune): create the process group
yourself first (``torch.distributed.init_process_group()``); ``fit`` then uses it and leaves it
alone. Re-creating the default group after destroying it reuses the rendezvous keys of the
first one, which makes the new group hang or fail to connect.

DDP settings and why:

``forward_sync_buffers=False`` (``broadcast_buffers=False`` in PyTorch versions without it)
    DDP's default copies rank 0's buffers (BatchNorm running statistics) to all ranks at every
    forward. A discriminator runs three forwards per GAN step, and, worse, the broadcast is a
    collective: when only rank 0 draws the sample grid, rank 0 would wait forever for the others.
    Without it each process keeps BatchNorm statistics of its own shard (which only matter in eval
    mode, like the reference's per-GPU batchnorm); checkpoints store rank 0's. A method that
    wants statistics over the global batch converts its networks with
    ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` in ``__init__``.
``find_unused_parameters=Method.find_unused_parameters`` (True by default)
    GAN steps alternate: D's update runs G's forward without G's backward, and G's update runs D
    with D frozen (``requires_grad=False``), so D receives no gradient at all. A backward that
    reaches none of a network's parameters is harmless either way; one that reaches only some of
    them (a branch skipped in this step, a multi-scale D whose scales are not all used) makes DDP
    with ``find_unused_parameters=False`` wait for gradients that never come and fail at the next
    step. True costs a graph traversal per forward and works for every method.
``device_ids=[local_rank]`` on CUDA, none on the CPU.

Each network must be called through its wrapper (``self.G(x)``), see ``method.py``.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import os
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

from .device import select_device


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """This process's place in the run: ``rank`` of ``world_size`` (1 without torchrun)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 prints and writes files."""
        return self.rank == 0


def context_from_env(environ: Mapping[str, str] | None = None) -> DistributedContext:
    """Read ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` as set by ``torchrun``."""
    env = os.environ if environ is None else environ

    def read(name: str, default: int) -> int:
        text = env.get(name)
        if text is None or text == "":
            return default
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"Environment variable {name}={text!r} is not an integer") from None

    world_size = read("WORLD_SIZE", 1)
    if world_size <= 1:
        return DistributedContext()
    if "RANK" not in env:
        raise RuntimeError(
            f"WORLD_SIZE={world_size} is set but RANK is not: launch multi-process training with "
            "`torchrun --nproc_per_node N script.py`, which sets both."
        )
    rank = read("RANK", 0)
    local_rank = read("LOCAL_RANK", rank)
    if not 0 <= rank < world_size:
        raise RuntimeError(f"RANK={rank} is outside 0..WORLD_SIZE-1={world_size - 1}")
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size)


def training_device(context: DistributedContext, spec: str) -> torch.device:
    """The device of this process: ``select_device(spec)`` alone, ``cuda:LOCAL_RANK`` under torchrun."""
    if not context.enabled:
        return select_device(spec)
    text = spec.strip().lower()
    if text.startswith("cuda:"):
        raise ValueError(
            f"device={spec!r} with torchrun: every process uses the GPU of its LOCAL_RANK. Use "
            "device='cuda' (or 'auto') and pick GPUs with CUDA_VISIBLE_DEVICES."
        )
    if text == "mps":
        raise ValueError("Multi-process training is not supported on MPS; use device='cpu' or a CUDA machine.")
    if text == "cpu" or (text == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    select_device("cuda")  # clear error if CUDA is missing
    if context.local_rank >= torch.cuda.device_count():
        raise RuntimeError(
            f"LOCAL_RANK={context.local_rank} but only {torch.cuda.device_count()} CUDA device(s) are "
            "visible: use --nproc_per_node <= the number of GPUs."
        )
    return torch.device("cuda", context.local_rank)


def init_process_group(context: DistributedContext, device: torch.device) -> bool:
    """Join the process group (NCCL on CUDA, Gloo on CPU). Returns True if this call created it
    (then ``destroy_process_group`` is ours to call); False if single-process or already set up."""
    if not context.enabled:
        return False
    if dist.is_initialized():
        if dist.get_world_size() != context.world_size:
            raise RuntimeError(
                f"A process group of size {dist.get_world_size()} already exists but WORLD_SIZE={context.world_size}"
            )
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return True


def destroy_process_group(created: bool) -> None:
    """Leave the process group if ``init_process_group`` created it."""
    if created and dist.is_initialized():
        dist.destroy_process_group()


def unwrap(module: nn.Module) -> nn.Module:
    """The plain network inside a ``DistributedDataParallel`` wrapper (or ``module`` itself)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def wrap_networks(method: nn.Module, networks: dict[str, nn.Module], device: torch.device) -> None:
    """Replace each network attribute of ``method`` that has trainable parameters by a DDP wrapper.

    Networks without trainable parameters (a frozen feature extractor for a perceptual loss)
    stay as they are: there is nothing to synchronise.
    """
    for name, network in networks.items():
        if not any(p.requires_grad for p in network.parameters()):
            continue
        wrapped = DistributedDataParallel(
            network,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(getattr(method, "find_unused_parameters", True)),
            **_no_forward_buffer_sync(),  # see the module docstring
        )
        setattr(method, name, wrapped)


def _no_forward_buffer_sync() -> dict[str, bool]:
    """DDP keyword that stops the per-forward buffer broadcast. Newer PyTorch names it
    ``forward_sync_buffers`` (buffers are still synced once, at wrapping) and deprecates
    ``broadcast_buffers``, the name older versions understand."""
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def unwrap_networks(method: nn.Module) -> None:
    """Undo ``wrap_networks``: put the plain networks back as attributes of ``method``."""
    for name, child in list(method.named_children()):
        if isinstance(child, DistributedDataParallel):
            setattr(method, name, child.module)


def unwrapped_state_dict(method: nn.Module) -> dict[str, Any]:
    """``method.state_dict()`` with the ``.module`` level of DDP wrappers removed from the keys,
    so checkpoints look the same with and without DDP."""
    prefixes = {
        f"{name}.module.": f"{name}."
        for name, child in method.named_children()
        if isinstance(child, DistributedDataParallel)
    }
    state = {}
    for key, value in method.state_dict().items():
        for old, new in prefixes.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        state[key] = value
    return state


# --------------------------------------------------------------------------- collectives
def barrier(context: DistributedContext) -> None:
    """Wait for all processes (no-op in a single process)."""
    if context.enabled:
        dist.barrier()


def gather_objects(context: DistributedContext, obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` in a single process)."""
    if not context.enabled:
        return [obj]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def any_across_ranks(context: DistributedContext, flags: list[bool], device: torch.device) -> list[bool]:
    """Element-wise OR of ``flags`` over all processes, so that all of them stop at the same step
    when any of them is interrupted or sees a non-finite loss."""
    if not context.enabled:
        return list(flags)
    tensor = torch.tensor([float(flag) for flag in flags], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(value) for value in tensor.tolist()]


# --------------------------------------------------------------------------- data order
def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed for the stream named by ``(seed, *keys)`` (e.g. the data order of an epoch);
    unrelated streams get unrelated seeds (NumPy's SeedSequence hashing)."""
    words = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return int(words[0]) << 31 ^ int(words[1])


class ShardedEpochSampler(Sampler[int]):
    """Dataset indices for this process, in an order fixed by ``(seed, epoch)``, resumable mid-epoch.

    Every epoch is a permutation of the whole dataset drawn from a generator seeded with
    ``derive_seed(seed, epoch)``; it does not depend on the number of processes or on what
    happened before. With ``world_size`` processes, the permutation is padded by repeating its
    start to a multiple of ``world_size`` (so all ranks take the same number of steps) and rank
    ``r`` takes every ``world_size``-th index from position ``r``. Consecutive groups of
    ``batch_size`` of those form the batches, so batch ``j`` of rank 0 and of rank 1 together are
    positions ``2*j*b .. 2*j*b + 2b - 1`` of the permutation: exactly the batch ``j`` that one
    process with batch size ``2b`` would use.

    ``set_epoch(epoch, start_batch)`` selects the epoch and skips its first ``start_batch``
    batches (already trained on before an interruption).
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if dataset_size < 1:
            raise ValueError("The dataset is empty: it needs at least one item to train on.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shard_size = math.ceil(dataset_size / world_size)
        self.batches_per_epoch = math.ceil(self.shard_size / batch_size)
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Use epoch ``epoch``'s order and skip its first ``start_batch`` batches."""
        if not 0 <= start_batch < self.batches_per_epoch:
            raise ValueError(f"start_batch must be in 0..{self.batches_per_epoch - 1}, got {start_batch}")
        self.epoch = epoch
        self.start_batch = start_batch

    def epoch_indices(self, epoch: int) -> list[int]:
        """This rank's indices of epoch ``epoch``, from its first batch on."""
        generator = torch.Generator()
        generator.manual_seed(derive_seed(self.seed, epoch))
        order = torch.randperm(self.dataset_size, generator=generator).tolist()
        padded_size = self.shard_size * self.world_size
        order = (order * math.ceil(padded_size / self.dataset_size))[:padded_size]
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices(self.epoch)[self.start_batch * self.batch_size:])

    def __len__(self) -> int:
        return self.shard_size - self.start_batch * self.batch_size
