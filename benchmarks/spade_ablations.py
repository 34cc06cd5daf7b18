"""SPADE's ablations (thesis Tables 2.3-2.5) and SPADE against pix2pix, on synthetic-landscapes.

    python benchmarks/spade_ablations.py [--steps 1200] [--size 64] [--threads 1]
                                         [--rows spade,concat,...] [--json results.json]

Every row trains from nothing with seed 0 on day-summer's train split (SPADE's fast preset,
with ``spade.ABLATIONS``' overrides; pix2pix's fast preset) and is scored on the 200 test items
with the segmenter (pixel accuracy, class IoU) as ``coursekit eval`` scores it. Beside each:
its generator's parameters, its GFLOP per training iteration (``FlopCounterMode`` over one
step at the preset's batch), the wall time, and the wash-out test on the trained model
(``uniform_map_recall``: the mean recall of the eight classes on label maps that one class
fills; 1/8 is what a washed-out generator can reach).

The rows:

* SPADE's six ablations (``spade.ABLATIONS``), with the thesis's mIoU for the same rows;
* pix2pix (its U-Net, fast preset) for as many steps as SPADE (equal steps), and for as many
  steps as SPADE's FLOPs buy (equal FLOPs: steps x SPADE's GFLOP / pix2pix's GFLOP);
* pix2pix with a 6-block ResNet generator and instance norm (pix2pixHD-like), equal steps:
  the generator that the wash-out argument is about.

Lecture 5 runs a few of these rows live at 32 px; this script is where the 64 px table comes
from.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from coursekit.data import get_dataset
from coursekit.data.synthetic.landscapes import style_id, uniform_map_recall
from coursekit.models import pix2pix, spade
from coursekit.train import fit, seed_everything
from coursekit.train.profile import measure_training_cost

DATA = "synthetic-landscapes:day-summer"


RUNS = Path(tempfile.mkdtemp(prefix="spade_ablations_"))  # each run's checkpoints, fresh


def rows(steps: int, size: int) -> dict[str, tuple[str, object]]:
    """name -> (method, config) of every row, before the equal-FLOPs pix2pix is sized."""
    levels = min(6, (size & -size).bit_length() - 1)  # the fast U-Net's 6 levels, fewer below 64 px
    out = {name: ("spade", spade.Config.ablation(name, image_size=size))
           for name in spade.ABLATIONS}
    out["pix2pix_equal_steps"] = ("pix2pix", pix2pix.Config.fast(image_size=size, num_downs=levels))
    out["pix2pix_equal_flops"] = ("pix2pix", pix2pix.Config.fast(image_size=size, num_downs=levels))
    out["resnet_in_equal_steps"] = ("pix2pix", pix2pix.Config.fast(
        image_size=size, generator="resnet", norm="instance", n_blocks=6))
    return {name: (method, with_steps(config, name, steps)) for name, (method, config) in out.items()}


def with_steps(config, name: str, steps: int):
    return replace(config, train=replace(
        config.train, steps=steps, decay_steps=steps // 2, data=DATA,
        out_dir=str(RUNS / name), progress=False, sample_every=0,
        checkpoint_every=0, log_every=200))


def gflop_per_step(method: str, config) -> float:
    module = spade if method == "spade" else pix2pix
    cost = measure_training_cost(lambda: module.build(config), config.train.batch_size,
                                 config.image_size, iters=1, warmup=0)
    return cost["flops"] / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200, help="SPADE's steps (the fast preset's)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--rows", default=None, help="comma list of rows (default: all)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = rows(args.steps, args.size)
    chosen = args.rows.split(",") if args.rows else list(table)
    unknown = sorted(set(chosen) - set(table))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {list(table)}")
    train = get_dataset(DATA, split="train", size=args.size)
    test = get_dataset(DATA, split="test", size=args.size)
    day_summer = style_id("day-summer")
    flops = {name: gflop_per_step(*table[name]) for name in table}
    spade_total = flops["spade"] * args.steps
    table["pix2pix_equal_flops"] = ("pix2pix", with_steps(
        table["pix2pix_equal_flops"][1], "pix2pix_equal_flops",
        int(math.ceil(spade_total / flops["pix2pix_equal_flops"]))))
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.size} px, SPADE {args.steps} "
          f"steps; scores on the {len(test)} test items of {DATA}")
    header = (f"{'row':<22} {'steps':>6} {'G params':>9} {'GFLOP/it':>8} {'min':>5}  {'pix acc':>7} "
              f"{'class IoU':>9}  {'wash-out':>8}   thesis mIoU COCO/ADE/City")
    print(header)
    print("-" * len(header))
    results = {}
    for name in chosen:
        method, config = table[name]
        module = spade if method == "spade" else pix2pix
        seed_everything(0)
        model = module.build(config)
        t0 = time.perf_counter()
        fit(model, train, config.train)
        minutes = (time.perf_counter() - t0) / 60
        model.eval()
        torch.manual_seed(0)
        scores = model.evaluate(test)
        torch.manual_seed(0)
        recall = uniform_map_recall(model.translate, args.size, day_summer)
        params = sum(p.numel() for p in model.G.parameters())
        thesis = spade.THESIS_MIOU.get(name)
        results[name] = {"method": method, "steps": config.train.steps, "G_parameters": params,
                         "gflop_per_step": flops[name], "minutes": minutes, "scores": scores,
                         "uniform_recall": recall, "thesis_miou": thesis}
        print(f"{name:<22} {config.train.steps:>6} {params / 1e6:>8.2f}M {flops[name]:>8.2f} "
              f"{minutes:>5.1f}  {scores['pixel_accuracy']:>7.3f} {scores['class_iou']:>9.3f}  "
              f"{sum(recall.values()) / len(recall):>8.3f}   "
              f"{'/'.join(f'{v:.1f}' for v in thesis) if thesis else '-'}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    print("\nwash-out, per class (recall on the map that the class fills):")
    classes = list(next(iter(results.values()))["uniform_recall"])
    print(f"{'row':<22} " + " ".join(f"{c:>8}" for c in classes))
    for name, r in results.items():
        print(f"{name:<22} " + " ".join(f"{r['uniform_recall'][c]:>8.3f}" for c in classes))


if __name__ == "__main__":
    main()
