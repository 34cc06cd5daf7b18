"""MUNIT against CycleGAN and against its own ablations on synthetic-seasons (lecture 6's table).

    python benchmarks/munit_tables.py [--steps 2000] [--rows munit no_style_recon ...]
                                      [--threads 1] [--items 200] [--json out.json]

Each row trains from nothing with seed 0 on summer (A) / winter (B) landscapes at 32 px, with
its method's fast preset (``munit.Config.fast()``, ``Config.ablation(name)``,
``cyclegan.Config.fast()``) for ``--steps`` steps, the last half decaying, then is scored on
the first ``--items`` test items in both directions:

* example-guided (the reference of ``SyntheticSeasons.guided_item``: an independent photo of
  the target season): content kept (pixel accuracy, class IoU of the segmented output against
  the input's labels), season reached, time of day of the reference (chance 1/3) or of the
  input, L1 to the true render. CycleGAN has no style input: it is given the reference and
  ignores it, so its time follows the reference one time in three;
* random styles (MUNIT: s ~ N(0, I), 3 per input; CycleGAN: its one output): pixel accuracy,
  season, diversity (mean L1 between one input's samples).

The paper's ablation (MUNIT Table 1) removes one reconstruction loss at a time; the reference's
explicit cycle (weight 10 for summer2winter) is the fourth row.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import replace

import torch

from coursekit.data import get_dataset
from coursekit.data.evaluation import evaluate_guided, evaluate_samples, evaluate_unpaired
from coursekit.models import cyclegan, munit
from coursekit.train import fit, seed_everything

ROWS = ("munit", "no_style_recon", "no_content_recon", "no_cycle", "no_image_recon", "cyclegan")
COLUMNS = ("guided_pixel_accuracy", "guided_class_iou", "guided_season_rate",
           "guided_time_follows_reference", "guided_time_kept", "guided_l1",
           "pixel_accuracy", "season_rate", "diversity")


def config_of(row: str, steps: int, out_dir: str):
    if row == "cyclegan":
        config = cyclegan.Config.fast()
    elif row == "munit":
        config = munit.Config.fast()
    else:
        config = munit.Config.ablation(row)
    train = replace(config.train, steps=steps, decay_steps=steps // 2, progress=False,
                    sample_every=0, checkpoint_every=0, out_dir=out_dir,
                    data="synthetic-seasons")
    return replace(config, train=train)


def score(row: str, model, test, items: int) -> dict[str, float]:
    out: dict[str, float] = {}
    if row == "cyclegan":  # one output per input, both generators
        unpaired = evaluate_unpaired(lambda x: model.translate(x, "AtoB"), test,
                                     lambda x: model.translate(x, "BtoA"), max_items=items)
    for direction in ("AtoB", "BtoA"):
        if row == "cyclegan":
            result = {k[len(direction) + 1:]: v for k, v in unpaired.items()
                      if k.startswith(direction)}
            result["diversity"] = 0.0
            # Given the reference, it cannot use it.
            guided = evaluate_guided(lambda x, ref, d=direction: model.translate(x, d), test,
                                     direction, max_items=items)
        else:
            result = evaluate_samples(lambda x, d=direction: model.sample(x, d), test,
                                      n_samples=3, direction=direction, max_items=items)
            guided = evaluate_guided(lambda x, ref, d=direction: model.translate_like(x, ref, d),
                                     test, direction, max_items=items)
        result.update({f"guided_{k}": v for k, v in guided.items()})
        out.update({f"{direction}_{k}": result[k] for k in COLUMNS})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--items", type=int, default=200, help="test items scored")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"synthetic-seasons, 32 px, seed 0, {args.steps} steps per row, {args.threads} CPU "
          f"thread(s), {args.items} test items; guided = with a reference of the target season")
    header = (f"{'row':<17} {'dir':<4} {'content':>7} {'IoU':>5} {'season':>6} {'t=ref':>5} "
              f"{'t=in':>5} {'L1':>5} | {'rand acc':>8} {'season':>6} {'divers':>6} | {'min':>5}")
    print(header)
    print("-" * len(header))
    rows = {}
    train = get_dataset("synthetic-seasons", split="train", size=32)
    test = get_dataset("synthetic-seasons", split="test", size=32)
    for row in args.rows:
        config = config_of(row, args.steps, tempfile.mkdtemp(prefix=f"munit_tables_{row}_"))
        seed_everything(0)
        model = (cyclegan if row == "cyclegan" else munit).build(config)
        start = time.time()
        fit(model, train, config.train)
        shutil.rmtree(config.train.out_dir)  # only the scores are kept
        minutes = (time.time() - start) / 60
        model.eval()
        torch.manual_seed(0)
        with torch.no_grad():
            rows[row] = {**score(row, model, test, args.items), "minutes": minutes}
        for d in ("AtoB", "BtoA"):
            r = rows[row]
            print(f"{row:<17} {d:<4} {r[f'{d}_guided_pixel_accuracy']:>7.3f} "
                  f"{r[f'{d}_guided_class_iou']:>5.3f} {r[f'{d}_guided_season_rate']:>6.2f} "
                  f"{r[f'{d}_guided_time_follows_reference']:>5.2f} "
                  f"{r[f'{d}_guided_time_kept']:>5.2f} {r[f'{d}_guided_l1']:>5.3f} | "
                  f"{r[f'{d}_pixel_accuracy']:>8.3f} {r[f'{d}_season_rate']:>6.2f} "
                  f"{r[f'{d}_diversity']:>6.3f} | {minutes:>5.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps": args.steps, "items": args.items, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
