"""Training cost of SPADE beside pix2pix: seconds, FLOPs and peak memory per iteration, parameters.

    python benchmarks/spade_cost.py [--device cpu|cuda] [--iters 5] [--warmup 2] [--size 64]
                                    [--batch 4] [--threads 2]

Each row is measured in a fresh process by
``coursekit.models.profile.training_cost_in_fresh_process`` (see its docstring for what the
time, the FLOPs and the memory include), on label maps of synthetic-landscapes' shape:

* **paper networks** at ``--size`` and the same ``--batch`` for both (the thesis trains SPADE at
  batch 32 and pix2pix trains at batch 1; a common batch compares the networks): SPADE's
  generator with ngf 64 and as many upsamplings as the size allows from a 4 x 4 start at most
  5 (the thesis's 8 x 8 at 256 px), its 2-scale PatchGAN with feature matching, and pix2pix's
  U-Net with 64 filters and its 70 x 70 PatchGAN (as deep as the size allows);
* **the fast presets**, as the lectures train them (each tuned on its own, so the ratio compares
  the presets).

Parameters are counted for G and D separately: SPADE's generator has no encoder but a SPADE
layer (two convolutions of the label map's embedding) before every convolution.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from coursekit.models import pix2pix, spade
from coursekit.models.profile import (add_cost_arguments, cost_preamble,
                                      training_cost_in_fresh_process)


def presets(name: str, size: int, batch: int):
    levels = (size & -size).bit_length() - 1
    if name == "fast":
        return {"pix2pix": pix2pix.Config.fast(), "spade": spade.Config.fast()}
    p2p = pix2pix.Config.paper(image_size=size, num_downs=min(8, levels))
    sp = spade.Config.paper(image_size=size, num_up=min(5, levels - 2), lambda_vgg=0.0)
    return {"pix2pix": replace(p2p, train=replace(p2p.train, batch_size=batch)),
            "spade": replace(sp, train=replace(sp.train, batch_size=batch))}


def parameters(method: str, config) -> tuple[int, int]:
    module = spade if method == "spade" else pix2pix
    model = module.build(config)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    return count(model.G), count(model.D)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cost_arguments(parser)
    parser.add_argument("--size", type=int, default=64,
                        help="image size of the paper networks (256 is the thesis's; slow on a CPU)")
    parser.add_argument("--batch", type=int, default=4, help="batch of the paper networks, both")
    args = parser.parse_args()
    if getattr(args, "batch", 1) < 1:
        parser.error("--batch must be >= 1")
    print(cost_preamble(parser, args))
    header = (f"{'method':<8} {'preset':<6} {'size':>4} {'batch':>5} {'G params':>9} {'D params':>9}"
              f"  {'s/iter':>7} {'memory MB':>9} {'GFLOP':>7}  {'time/p2p':>8} {'mem/p2p':>7} "
              f"{'flop/p2p':>8}")
    print(header)
    print("-" * len(header))
    for name in ("paper", "fast"):
        rows = []
        for method, config in presets(name, args.size, args.batch).items():
            cost = training_cost_in_fresh_process(method, config, device=args.device,
                                                  iters=args.iters, warmup=args.warmup,
                                                  threads=args.threads)
            cost["G"], cost["D"] = parameters(method, config)
            rows.append(cost)
        ref = rows[0]
        for row in rows:
            print(f"{row['method']:<8} {name:<6} {row['image_size']:>4} {row['batch_size']:>5} "
                  f"{row['G'] / 1e6:>8.2f}M {row['D'] / 1e6:>8.2f}M  {row['seconds']:>7.3f} "
                  f"{row['memory_bytes'] / 2**20:>9.0f} {row['flops'] / 1e9:>7.2f}  "
                  f"{row['seconds'] / ref['seconds']:>8.2f} "
                  f"{row['memory_bytes'] / ref['memory_bytes']:>7.2f} "
                  f"{row['flops'] / ref['flops']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
