"""Train a course checkpoint from nothing and write its folder and card.

    python scripts/train_course_checkpoints.py NAME [--device auto] [--runs runs/course]
    python scripts/train_course_checkpoints.py --list

NAME is one of COURSE below: a method, the synthetic dataset it trains on and its
``Config.course()`` preset (with ``OVERRIDES[NAME]`` where a checkpoint differs from it). The run (a normal coursekit run folder, resumable with the same
command) goes to ``RUNS/NAME``; when it has finished, the trained networks are scored on the
dataset's whole test split (``coursekit eval``'s scores) and written with their card to
``coursekit/checkpoints/NAME`` (``coursekit.pretrained.save``), which the package ships.
The card records the command, the coursekit commit, seed, steps, wall time and device.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch

from coursekit import pretrained
from coursekit.data import get_dataset
from coursekit.models import load_method_module
from coursekit.train import fit, seed_everything
from coursekit.train.device import select_device

#: name -> (method, dataset, the eval subset scored during training: first N test items)
COURSE = {
    "pix2pix-facades": ("pix2pix", "synthetic-facades", 50),
    "cyclegan-zebras": ("cyclegan", "synthetic-zebras", 50),
    "cut-zebras": ("cut", "synthetic-zebras", 50),
    "fastcut-zebras": ("fastcut", "synthetic-zebras", 50),
    "bicyclegan-facades": ("bicyclegan", "synthetic-facades", 50),
    # SPADE without its VAE is deterministic: one style, as its fast preset.
    "spade-landscapes": ("spade", "synthetic-landscapes:day-summer", 50),
    # Lecture 5's comparisons with SPADE: pix2pix's U-Net and a ResNet generator with instance
    # norm (pix2pixHD-like), for as many steps as spade-landscapes, on the same data.
    "pix2pix-landscapes": ("pix2pix", "synthetic-landscapes:day-summer", 50),
    "resnet-in-landscapes": ("pix2pix", "synthetic-landscapes:day-summer", 50),
    # SPADE in VAE mode on all nine styles: the style code picks the time of day and season.
    "spade-vae-landscapes": ("spade", "synthetic-landscapes", 50),
    # MUNIT: summer <-> winter, the style code picks the time of day.
    "munit-seasons": ("munit", "synthetic-seasons", 50),
    # The diffusion model of landscape photos that SDEdit edits strokes with.
    "ddpm-landscapes": ("ddpm", "synthetic-strokes", 64),
}
_SPADE_STEPS = dict(steps=6000, decay_steps=3000, eval_every=1000, sample_every=1000,
                    checkpoint_every=500, log_every=100)
#: name -> overrides of the method's Config.course() (those of its TrainConfig under "train").
OVERRIDES = {
    "pix2pix-landscapes": dict(train=_SPADE_STEPS),
    "resnet-in-landscapes": dict(generator="resnet", norm="instance", n_blocks=6, ngf=16,
                                 train=_SPADE_STEPS),
    # The paper's 256-d code; a 16-filter encoder keeps G + E under the 8 MB budget (4.9 MB).
    "spade-vae-landscapes": dict(use_vae=True, nef=16),
}
ROOT = Path(__file__).resolve().parents[1]
#: A shipped checkpoint's budget (issue 12): at most 8 MB each (all together at most 40 MB).
MAX_BYTES = 8 * 2**20


def course_config(name: str):
    """The config checkpoint ``name`` trains with: its method's ``Config.course()`` with
    ``OVERRIDES[name]``."""
    module = load_method_module(COURSE[name][0])
    overrides = dict(OVERRIDES.get(name, {}))
    config = module.Config.course(**{k: v for k, v in overrides.items() if k != "train"})
    return replace(config, train=replace(config.train, **overrides.get("train", {})))


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def eval_curve(metrics: Path) -> dict:
    """The run's evaluations (the first N test items, every ``eval_every`` steps) from its
    metrics.jsonl: ``{"items": N, "steps": [...], "scores": {key: [...]}}``, for the card."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    rows = list({r["step"]: r for r in rows if "eval" in r}.values())  # a resumed run: the last
    keys = sorted({k for r in rows for k in r["eval"]})
    return {"steps": [r["step"] for r in rows],
            "scores": {k: [round(r["eval"].get(k, float("nan")), 4) for r in rows] for k in keys}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", choices=sorted(COURSE))
    parser.add_argument("--list", action="store_true", help="list the names and stop")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", default="runs/course", help="where the training runs go")
    args = parser.parse_args()
    if args.list or not args.name:
        for name, (method, data, _) in COURSE.items():
            print(f"{name}: {method} on {data}")
        return
    method_name, data, n_eval = COURSE[args.name]
    module = load_method_module(method_name)
    config = course_config(args.name)
    device = select_device(args.device)
    config = replace(config, train=replace(config.train, out_dir=str(Path(args.runs) / args.name),
                                           device=str(device), resume=True, data=data))
    train = get_dataset(data, split="train", size=config.image_size)
    test = get_dataset(data, split="test", size=config.image_size)
    seed_everything(config.train.seed)
    method = module.build(config)
    result = fit(method, train, config.train,
                 eval_dataset=torch.utils.data.Subset(test, range(n_eval)))
    if result.interrupted or result.step < result.total_steps:
        sys.exit(f"stopped at step {result.step}; run the same command again to continue")
    # Score what is shipped: the stored (float16) networks, loaded back as a user loads them.
    folder = ROOT / "coursekit" / "checkpoints" / args.name
    about = pretrained.save(method, method_name, folder, {})
    shipped = pretrained.load(folder)
    with torch.no_grad():  # seeded: pix2pix keeps dropout at test time
        torch.manual_seed(0)
        scores = shipped.evaluate(test)
        torch.manual_seed(0)
        check = shipped.evaluate(torch.utils.data.Subset(test, range(n_eval)))
    about.update({"data": data, "split": "test", "scores": scores, "seed": config.train.seed,
                  "check": {"items": n_eval, "torch_seed": 0, "scores": check},
                  "steps": result.step, "seconds": round(result.seconds), "device": str(device),
                  "threads": torch.get_num_threads() if device.type == "cpu" else None,
                  "commit": commit(),
                  "command": f"python scripts/train_course_checkpoints.py {args.name}",
                  "curve": eval_curve(Path(config.train.out_dir) / "metrics.jsonl")})
    card = pretrained.write_card(folder, about)
    if card["bytes"] > MAX_BYTES:
        sys.exit(f"{folder} is {card['bytes'] / 2**20:.1f} MB, over the {MAX_BYTES / 2**20:.0f} MB "
                 "a shipped checkpoint may take: shrink the networks")
    print(f"wrote {folder} ({card['bytes'] / 2**20:.1f} MB): " +
          ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
