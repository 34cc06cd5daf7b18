"""What one training iteration costs: seconds and peak memory (CUT's Table 3.6 columns).

Park et al. compare methods by "sec/iter" and "Mem(GB)" of training on one GPU (thesis Table
3.6, GTX 1080Ti, 256 px, batch 1). The same two numbers, measured the same way for every method
in coursekit, for any object with a ``training_step(batch)``::

    from coursekit.train.profile import measure_training_cost
    cost = measure_training_cost(lambda: cut.build(cut.Config.fast()), batch_size=1,
                                 image_size=64)
    cost["seconds"], cost["flops"], cost["memory_bytes"], cost["memory_kind"]

* **time**: the median over ``iters`` calls of the method's whole ``training_step`` (every
  forward, backward and optimizer step), after ``warmup`` untimed calls (Adam creates its state
  in the first step; allocators and kernels warm up). Random images in [-1, 1] of the config's
  batch and image size stand in for data, so data loading is not timed. On CUDA the device is
  synchronised around each call.
* **work**: ``flops``, the floating-point operations of one whole ``training_step`` (forward
  and backward; convolutions and matrix products, counted by
  ``torch.utils.flop_counter.FlopCounterMode``, one multiply-add = 2 FLOPs) in one extra,
  untimed step after the timed ones. Unlike the time it does not depend on the machine or on
  what else runs on it, so it is the figure to compare methods by when the time is dominated
  by overhead (tiny images on a CPU).
* **memory, CUDA**: ``torch.cuda.max_memory_allocated`` from just before the networks are
  built to the end: parameters, gradients, Adam's state and the activations of the largest
  step (the caching allocator's reserve is not counted).
* **memory, CPU**: the process's peak resident set size (``ru_maxrss``) at the end minus its
  resident size just before the networks are built. That includes whatever the CPU allocator
  keeps, so it is an upper bound of the tensors' size: comparable between methods measured
  this way, not with a CUDA figure. A peak is only meaningful in a process that has done
  nothing else, hence ``coursekit.models.profile.training_cost_in_fresh_process`` (a
  notebook kernel that has trained other models already has a high-water mark of its own).

This module knows nothing of the methods (the training layer does not import
``coursekit.models``): ``coursekit.models.profile`` builds a method by its name in a fresh
process and measures it here; lecture 3 and ``benchmarks/unpaired_cost.py`` call it.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["current_rss_bytes", "measure_training_cost"]


def current_rss_bytes() -> int:
    """The resident set size of this process now (Linux ``/proc``)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    raise RuntimeError("CPU memory is read from /proc/self/status (Linux only); on this system "
                       "measure on a CUDA device instead (device='cuda')")


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure_training_cost(build: Callable[[], Any], batch_size: int, image_size: int,
                          device: str | torch.device = "cpu", iters: int = 5, warmup: int = 2,
                          channels: int = 3) -> dict[str, Any]:
    """Build a method with ``build()``, run ``warmup + iters`` training steps on random images
    and return ``{"seconds", "flops", "memory_bytes", "memory_kind", "device", "iters",
    "warmup"}``.

    ``seconds`` is the median time of the timed steps. Run it in a fresh process for a CPU
    memory figure (see the module's docstring); on CUDA the peak statistics are reset here.
    """
    if iters < 1 or warmup < 0:
        raise ValueError(f"need iters >= 1 and warmup >= 0, got iters={iters}, warmup={warmup}")
    if batch_size < 1 or image_size < 1:
        raise ValueError(f"batch_size and image_size must be >= 1, got {batch_size}, {image_size}")
    device = torch.device(device)
    cuda = device.type == "cuda"
    shape = (batch_size, channels, image_size, image_size)
    batch = {side: (torch.rand(shape) * 2 - 1).to(device) for side in ("A", "B")}
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = current_rss_bytes()
    method = build().to(device)
    times = []
    for i in range(warmup + iters):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        method.training_step(batch)
        if cuda:
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    if cuda:
        memory, kind = torch.cuda.max_memory_allocated(device) - base, "cuda max_memory_allocated"
    else:
        memory, kind = _peak_rss_bytes() - base, "peak RSS increase (CPU)"
    # Counted after the peak memory is read, so the counter's own bookkeeping is not in it.
    with FlopCounterMode(display=False) as counter:
        method.training_step(batch)
    return {"seconds": statistics.median(times), "flops": int(counter.get_total_flops()),
            "memory_bytes": int(memory), "memory_kind": kind,
            "device": str(device), "iters": iters, "warmup": warmup}
