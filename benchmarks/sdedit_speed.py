"""How fast the DDPM denoiser and SDEdit run: network evaluations per second and seconds per
edited image at each t0.

    python benchmarks/sdedit_speed.py [--preset fast|course|paper] [--device cpu|cuda]
                                      [--threads 1] [--batch 16] [--t0 0.1 0.3 0.5 1.0]
                                      [--steps N] [--repeats 1]

The network has the preset's settings and random weights (speed does not depend on what it
learnt). Rows: one batch of ``--batch`` images through the denoiser (evaluations per second =
images per second), then SDEdit of the batch at each ``--t0`` with every ancestral step (the
reference; ``--steps N``: N DDIM jumps), in seconds per image; the ``paper`` preset (256 px,
114M parameters) is a GPU's work. Each timing is the median of ``--repeat-timing`` runs after
one warm-up.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from coursekit.models import ddpm
from coursekit.models.sdedit import network_calls, sdedit


def _timed(fn, device, repeats: int) -> float:
    fn()  # warm-up (allocations, cuDNN autotuning)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["fast", "course", "paper"], default="fast")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--t0", type=float, nargs="+", default=[0.1, 0.3, 0.5, 1.0])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--repeat-timing", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = getattr(ddpm.Config, args.preset)()
    model = ddpm.DDPM(config).to(device).eval()
    params = sum(p.numel() for p in model.net.parameters()) / 1e6
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {args.threads} thread(s)"
    print(f"DDPM {args.preset} preset: {config.image_size} px, {params:.2f}M parameters; {name}; "
          f"batch {args.batch}")
    x = torch.randn(args.batch, config.channels, config.image_size, config.image_size,
                    device=device)
    t = torch.full((args.batch,), 500, device=device, dtype=torch.long)
    with torch.no_grad():
        seconds = _timed(lambda: model.net_ema(x, t), device, args.repeat_timing)
    print(f"denoiser: {args.batch / seconds:.1f} evaluations per second "
          f"({seconds * 1000:.1f} ms per batch)")
    steps = "every step" if args.steps is None else f"{args.steps} DDIM jumps"
    print(f"\nSDEdit, K = {args.repeats}, {steps}:")
    print(f"{'t0':>5} {'calls':>6} {'s / image':>10}")
    for t0 in args.t0:
        calls = network_calls(t0, args.repeats, args.steps, config.num_timesteps)
        seconds = _timed(lambda: sdedit(model, x, t0, args.repeats, args.steps,
                                        generator=torch.Generator().manual_seed(0)),
                         device, max(1, args.repeat_timing // 3))
        print(f"{t0:>5.2f} {calls:>6} {seconds / args.batch:>10.4f}", flush=True)


if __name__ == "__main__":
    main()
