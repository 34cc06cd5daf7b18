"""Training cost of CycleGAN, CUT, FastCUT and MUNIT: seconds and FLOPs per iteration, peak memory.

    python benchmarks/unpaired_cost.py [--device cpu|cuda] [--iters 5] [--warmup 2]
                                       [--presets paper fast] [--size 128] [--threads 2]

Prints one row per method and preset with the ratios to CycleGAN at the same preset, next to
the thesis's Table 3.6 (GTX 1080Ti, 256 px, batch 1): CUT 0.24 s / 3.33 GB = 0.60x CycleGAN's
time and 0.69x its memory (0.40 s / 4.81 GB); FastCUT 0.15 s / 2.25 GB = 0.375x and 0.47x;
MUNIT 0.39 s / 3.84 GB = 0.98x and 0.80x (the thesis does not say whether with the
reference's explicit cycle; ``munit-cycle0`` is MUNIT without it).

Each configuration is measured in a fresh process by
``coursekit.models.profile.training_cost_in_fresh_process`` (the function lecture 3 uses;
``coursekit.train.profile``'s docstring says exactly what the time and the CUDA / CPU memory
figures include): the median
time of a whole ``training_step`` on random images after a warm-up, the FLOPs of one step
(forward and backward convolutions and matrix products: the work, independent of the machine)
and the peak memory.

The paper preset is 256 px (CycleGAN ~10 s per iteration on 2 CPU threads): ``--size``
overrides the image size of every preset (the architecture is unchanged), and the table says
what ran. The paper presets share the architecture CUT was compared on (ResNet-9, ngf 64,
70x70 PatchGAN, batch 1; CUT's generator anti-aliased as in its reference, CycleGAN's not), so
their ratios are the ones to hold against Table 3.6. MUNIT's paper preset is its reference's
(dim 64, 4 residual blocks, two encoders and a decoder per domain, 3-scale discriminators,
batch 1): the G column gives its blocks and base width. The fast presets are each method's own
``Config.fast()``, tuned separately (image size, blocks and batch may differ; the G column
says which), so their ratios compare the presets, not the methods.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from coursekit.models import load_method_module
from coursekit.models.profile import (add_cost_arguments, cost_preamble,
                                      training_cost_in_fresh_process)

METHODS = ("cyclegan", "cut", "fastcut", "munit", "munit-cycle0")
#: Rows that are a method with other settings: MUNIT without the explicit cycle (its reference's
#: edges2shoes configuration, fewer decoder passes per step).
VARIANTS = {"munit-cycle0": ("munit", {"lambda_cycle": 0.0})}
# Thesis Table 3.6, ratios to CycleGAN (sec/iter, memory).
THESIS = {"cyclegan": (1.0, 1.0), "cut": (0.24 / 0.40, 3.33 / 4.81),
          "fastcut": (0.15 / 0.40, 2.25 / 4.81), "munit": (0.39 / 0.40, 3.84 / 4.81),
          "munit-cycle0": (0.39 / 0.40, 3.84 / 4.81)}  # the thesis does not say which


def measure(args, method_name: str, preset: str) -> dict:
    """One method at one preset, measured by coursekit.models.profile in a fresh process."""
    row = method_name
    method_name, settings = VARIANTS.get(row, (row, {}))
    module = load_method_module(method_name)
    config = module.Config.fast() if preset == "fast" else module.Config.paper()
    config = replace(config, **settings)
    if args.size:
        config = replace(config, image_size=args.size)
    cost = training_cost_in_fresh_process(method_name, config, device=args.device,
                                          iters=args.iters, warmup=args.warmup,
                                          threads=args.threads)
    cost["method"] = row
    if method_name == "munit":  # residual blocks and base width of its encoders and decoders
        cost.update(blocks=config.n_res, ngf=config.dim)
    else:
        cost.update(blocks=config.n_blocks, ngf=config.ngf)
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cost_arguments(parser)
    parser.add_argument("--presets", nargs="+", choices=["paper", "fast"], default=["paper", "fast"])
    parser.add_argument("--size", type=int, default=None,
                        help="image size for every preset (default: each preset's own; the "
                             "paper's 256 px is slow on a CPU)")
    args = parser.parse_args()

    print(cost_preamble(parser, args))
    header = (f"{'method':<12} {'preset':<6} {'size':>4} {'batch':>5} {'G':>10}  {'s/iter':>8} "
              f"{'memory MB':>10} {'GFLOP':>8}  {'time/CG':>7} {'mem/CG':>6} {'flop/CG':>7}  "
              f"{'thesis time/CG':>14} {'thesis mem/CG':>13}")
    print(header)
    print("-" * len(header))
    for preset in args.presets:
        rows = [measure(args, name, preset) for name in METHODS]
        reference = rows[0]
        for row in rows:
            t_ratio = row["seconds"] / reference["seconds"]
            m_ratio = row["memory_bytes"] / reference["memory_bytes"]
            thesis_t, thesis_m = THESIS[row["method"]]
            arch = f"R{row['blocks']}/ngf{row['ngf']}"
            print(f"{row['method']:<12} {preset:<6} {row['image_size']:>4} {row['batch_size']:>5} {arch:>10}  "
                  f"{row['seconds']:>8.3f} {row['memory_bytes'] / 2**20:>10.0f} "
                  f"{row['flops'] / 1e9:>8.2f}  {t_ratio:>7.2f} {m_ratio:>6.2f} "
                  f"{row['flops'] / reference['flops']:>7.2f}  {thesis_t:>14.3f} {thesis_m:>13.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
