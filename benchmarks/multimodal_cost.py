"""Training cost of BicycleGAN beside pix2pix: seconds and FLOPs per iteration, peak memory.

    python benchmarks/multimodal_cost.py [--device cpu|cuda] [--iters 5] [--warmup 2]
                                         [--size 64] [--threads 2]

Two comparisons, each measured in a fresh process by
``coursekit.models.profile.training_cost_in_fresh_process`` (see its docstring for what the
time, the FLOPs and the memory include):

* **same networks** (the paper presets at ``--size``, both U-Nets with 64 base filters and as
  many levels as the size allows, instance norm for BicycleGAN as in its reference): pix2pix at
  batch 1 against BicycleGAN at batch 2, the reference's batches. A BicycleGAN iteration
  translates the first half of its batch twice (an encoded and a random code), encodes twice
  (the real photo, then the random code's output) and runs two 2-scale discriminators, so
  its G sees as many images per step as pix2pix's at batch 1, plus the encoder and the second
  discriminator's work.
* **the fast presets**, as the lectures train them (each tuned on its own, so the ratio compares
  the presets: the G column says what they are).
"""
from __future__ import annotations

import argparse

from coursekit.models import load_method_module
from coursekit.models.profile import (add_cost_arguments, cost_preamble,
                                      training_cost_in_fresh_process)


def preset(method: str, name: str, size: int | None):
    module = load_method_module(method)
    if name == "fast":
        return module.Config.fast()
    levels = (size & -size).bit_length() - 1  # the deepest U-Net the size allows (8 at 256 px)
    return module.Config.paper(image_size=size, num_downs=min(8, levels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cost_arguments(parser)
    parser.add_argument("--size", type=int, default=64,
                        help="image size of the paper presets (256 is the paper's; slow on a CPU)")
    args = parser.parse_args()
    print(cost_preamble(parser, args))
    header = (f"{'method':<11} {'preset':<6} {'size':>4} {'batch':>5} {'G':>12}  {'s/iter':>8} "
              f"{'memory MB':>10} {'GFLOP':>8}  {'time/p2p':>8} {'mem/p2p':>7} {'flop/p2p':>8}")
    print(header)
    print("-" * len(header))
    for name in ("paper", "fast"):
        rows = []
        for method in ("pix2pix", "bicyclegan"):
            config = preset(method, name, args.size)
            cost = training_cost_in_fresh_process(method, config, device=args.device,
                                                  iters=args.iters, warmup=args.warmup,
                                                  threads=args.threads)
            cost.update(arch=f"U{config.num_downs}/ngf{config.ngf}")
            rows.append(cost)
        reference = rows[0]
        for row in rows:
            print(f"{row['method']:<11} {name:<6} {row['image_size']:>4} {row['batch_size']:>5} "
                  f"{row['arch']:>12}  {row['seconds']:>8.3f} {row['memory_bytes'] / 2**20:>10.0f} "
                  f"{row['flops'] / 1e9:>8.2f}  {row['seconds'] / reference['seconds']:>8.2f} "
                  f"{row['memory_bytes'] / reference['memory_bytes']:>7.2f} "
                  f"{row['flops'] / reference['flops']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
