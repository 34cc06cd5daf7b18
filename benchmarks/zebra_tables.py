"""The zebra tables of the README and lectures 2 and 3, re-measured with the current scorers.

    python benchmarks/zebra_tables.py readme     # the fast presets, 600 steps (README)
    python benchmarks/zebra_tables.py lecture2   # CycleGAN's ablations, 300 its, seeds 0-2
    python benchmarks/zebra_tables.py lecture3   # CycleGAN, CUT, FastCUT, 200 its, seed 0
    ... --out DIR   (default /tmp/zebra_tables): runs are kept there; a second call re-scores
                    the finished runs instead of training again (delete DIR to retrain)

Each run is trained exactly as its table says (the same presets, data, seeds and lengths as
the README's commands and the lectures' FAST mode) and scored on synthetic-zebras' test split
with ``score_zebras``: zebra rate (the stripe verdict: contrast, black and white, oriented),
silhouette IoU, background kept, and the mean stripe contrast. The true translation and the
untouched input are printed as bounds. Runs use the machine's threads (pass
``OMP_NUM_THREADS=2``); the zebra rates move a little with the thread count (rounding).
"""
from __future__ import annotations

import argparse
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from coursekit.data.evaluation import evaluate_unpaired
from coursekit.data.synthetic.zebras import SyntheticZebras, score_zebras
from coursekit.models import cut, cyclegan, fastcut
from coursekit.nn.resnet import ResnetGenerator
from coursekit.train import TrainConfig, fit, seed_everything

KEYS = {"zebra_rate": "zebra rate", "silhouette_iou": "silh. IoU",
        "background_preservation": "bkgd kept", "stripe_score": "stripe contrast"}


def quiet(steps: int, batch_size: int, seed: int, out: Path) -> TrainConfig:
    return TrainConfig(steps=steps, decay_steps=steps // 2, batch_size=batch_size, seed=seed,
                       out_dir=str(out), progress=False, log_every=0, sample_every=0,
                       checkpoint_every=0, resume=True)


def run(module, config, data, seed: int):
    """Train (or, if ``config.train.out_dir`` holds the finished run, reload) and return it."""
    seed_everything(seed)
    model = module.build(config)
    fit(model, data, config.train)
    return model.eval()


def scores(model, test, n: int) -> dict[str, float]:
    s = evaluate_unpaired(lambda x: model.translate(x), test, max_items=n)
    return {k.removeprefix("AtoB_"): v for k, v in s.items() if k.startswith("AtoB_")}


def bounds(test, n: int) -> dict[str, dict[str, float]]:
    x = torch.stack([test[i]["A"] for i in range(n)])
    masks = torch.stack([test[i]["mask_A"] for i in range(n)])
    truth = torch.stack([test.render_pair(i)["B"] for i in range(n)])
    return {"true translation": score_zebras(x, truth, masks),
            "identity (output = input)": score_zebras(x, x, masks)}


def print_rows(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}\n{'':34s}" + "".join(f"{h:>16s}" for h in KEYS.values()))
    for name, s in rows.items():
        print(f"{name:34s}" + "".join(f"{s[k]:16.3f}" for k in KEYS))


def readme(out: Path) -> None:
    """The fast presets as `coursekit train M` runs them, 100 test items."""
    rows = {}
    for name, module in (("CycleGAN fast (32 px)", cyclegan), ("CUT fast (64 px)", cut),
                         ("FastCUT fast (64 px)", fastcut)):
        config = module.Config.fast()
        config = replace(config, train=replace(config.train, out_dir=str(out / module.__name__),
                                               resume=True, progress=False))
        test = SyntheticZebras("test", size=config.image_size)
        train = SyntheticZebras("train", size=config.image_size)
        seed_everything(config.train.seed)
        rows[f"{name}, untrained"] = scores(module.build(config).eval(), test, 100)
        rows[f"{name}, {config.train.steps} steps"] = scores(
            run(module, config, train, config.train.seed), test, 100)
    for size in (64, 32):
        for name, s in bounds(SyntheticZebras("test", size=size), 100).items():
            rows[f"{name}, {size} px"] = s
    print_rows("README: horse -> zebra, 100 test items", rows)


def lecture2(out: Path) -> None:
    """Lecture 2 §5: three of the paper's ablations and Config.fast(), 300 iterations at the
    fast preset's 32 px on the first 400 training items, the first 48 test horses, seeds 0-2."""
    base = cyclegan.Config.fast()
    size = base.image_size
    train_full = SyntheticZebras("train", size=size)
    train = [train_full[i] for i in range(400)]
    test = SyntheticZebras("test", size=size)
    variants = {"GAN alone": "gan_alone", "GAN + forward cycle": "gan_forward_cycle",
                "CycleGAN": "cyclegan", "CycleGAN + identity (Config.fast())": None}
    per_seed: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for seed in (0, 1, 2):
        for name, ablation in variants.items():
            t = quiet(300, base.train.batch_size, seed, out / f"{ablation or 'fast'}-{seed}")
            config = (cyclegan.Config.ablation(ablation, base=replace(base, train=t))
                      if ablation else replace(base, train=t))
            per_seed[name].append(scores(run(cyclegan, config, train, seed), test, 48))
    print("\nLecture 2: mean (min-max) over seeds 0, 1, 2; 300 iterations, 48 test horses")
    print(f"{'':38s}" + "".join(f"{h:>22s}" for h in KEYS.values()))
    for name, runs in per_seed.items():
        cells = [f"{statistics.mean(v):.2f} ({min(v):.2f}-{max(v):.2f})"
                 for v in ([r[k] for r in runs] for k in KEYS)]
        print(f"{name:38s}" + "".join(f"{c:>22s}" for c in cells))
    print_rows("seed by seed", {f"{name}, seed {s}": r for name, runs in per_seed.items()
                                for s, r in enumerate(runs)})
    print_rows("bounds (48 test horses)", bounds(test, 48))


def lecture3(out: Path) -> None:
    """Lecture 3 §4: CycleGAN, CUT and FastCUT with CycleGAN's fast architecture, 200
    iterations, seed 0, the first 400 training items, the first 48 test horses."""
    cg_fast = cyclegan.Config.fast()
    shared = {k: getattr(cg_fast, k) for k in ("image_size", "ngf", "n_blocks", "ndf", "d_layers", "lr")}
    blocks = ResnetGenerator(3, 3, ngf=4, n_blocks=shared["n_blocks"], antialias=True).block_indices
    layers = cut.PAPER_LAYERS if len(blocks) >= 5 else cut.PAPER_LAYERS[:4] + (blocks[-1],)
    size = shared["image_size"]
    train_full = SyntheticZebras("train", size=size)
    train = [train_full[i] for i in range(400)]
    test = SyntheticZebras("test", size=size)
    rows = {}
    for name, module in (("CycleGAN", cyclegan), ("CUT", cut), ("FastCUT", fastcut)):
        t = quiet(200, cg_fast.train.batch_size, 0, out / f"lecture3-{name}")
        extra = {} if module is cyclegan else {"nce_layers": layers}
        config = module.Config.fast(train=t, **shared, **extra)
        rows[name] = scores(run(module, config, train, 0), test, 48)
    rows.update(bounds(test, 48))
    print_rows("Lecture 3: 200 iterations, seed 0, 48 test horses", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=["readme", "lecture2", "lecture3"])
    parser.add_argument("--out", default="/tmp/zebra_tables")
    args = parser.parse_args()
    {"readme": readme, "lecture2": lecture2, "lecture3": lecture3}[args.table](Path(args.out))


if __name__ == "__main__":
    main()
