"""The ground-truth scorers on real samples and on degenerate outputs.

    python benchmarks/evaluators.py [--size 64] [--n 100]

Prints, for each synthetic dataset, every score of its evaluator on the real data (which
should be near the best) and on outputs a broken model might produce (which should be clearly
worse): an all-grey image, a blurred real image, the untouched input, and where it applies a
translation that ignores the input. The tests assert the separation; this prints the numbers.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from coursekit.data.synthetic.facades import SyntheticFacades, score_facades
from coursekit.data.synthetic.landscapes import (SyntheticLandscapes, score_landscapes,
                                                 stroke_faithfulness, strokes)
from coursekit.data.synthetic.zebras import SyntheticZebras, score_zebras


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding; sigma in pixels."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = (k / k.sum()).to(x)
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def stack(ds, key: str, n: int) -> torch.Tensor:
    return torch.stack([ds[i][key] for i in range(n)])


def table(title: str, rows: dict[str, dict[str, float]]) -> None:
    keys = list(next(iter(rows.values())))
    print(f"\n{title}")
    print(f"{'output':<34}" + "".join(f"{k:>24}" for k in keys))
    for name, scores in rows.items():
        print(f"{name:<34}" + "".join(f"{scores[k]:>24.3f}" for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n", type=int, default=100, help="test items per dataset")
    args = parser.parse_args()
    n, size = args.n, args.size
    sigma = size / 16  # "a blurred image": detail finer than 1/16 of the image is gone

    # --- facades: label map -> photo
    ds = SyntheticFacades("test", size=size)
    photos, labels = stack(ds, "B", n), stack(ds, "labels", n)
    label_images = stack(ds, "A", n)
    table(f"synthetic-facades, label map -> photo ({n} test items, {size} px)", {
        "real photos": score_facades(photos, labels),
        "all grey": score_facades(torch.zeros_like(photos), labels),
        f"blurred photos (sigma {sigma:g} px)": score_facades(blur(photos, sigma), labels),
        "untouched input (label image)": score_facades(label_images, labels),
    })

    # --- zebras: horse -> zebra
    zs = SyntheticZebras("test", size=size)
    pairs = [zs.render_pair(i) for i in range(n)]
    horses = torch.stack([p["A"] for p in pairs])
    zebras = torch.stack([p["B"] for p in pairs])
    masks = torch.stack([p["mask"] for p in pairs])
    table(f"synthetic-zebras, A (horse) -> B (zebra) ({n} test items, {size} px)", {
        "true translation (render_pair)": score_zebras(horses, zebras, masks),
        "all grey": score_zebras(horses, torch.zeros_like(horses), masks),
        "blurred true translation": score_zebras(horses, blur(zebras, sigma), masks),
        "untouched input": score_zebras(horses, horses, masks),
        "zebra of another item": score_zebras(horses, zebras.roll(1, 0), masks),
    })

    # --- landscapes: label map -> photo, and strokes -> photo (SDEdit)
    ls = SyntheticLandscapes("test", size=size)
    photos, labels = stack(ls, "B", n), stack(ls, "labels", n)
    label_images = stack(ls, "A", n)
    table(f"synthetic-landscapes, label map -> photo ({n} test items, {size} px)", {
        "real photos": score_landscapes(photos, labels),
        "all grey": score_landscapes(torch.zeros_like(photos), labels),
        f"blurred photos (sigma {sigma:g} px)": score_landscapes(blur(photos, sigma), labels),
        "untouched input (label image)": score_landscapes(label_images, labels),
    })
    painted = strokes(photos, seed=0)
    table(f"synthetic-landscapes, strokes -> photo: faithfulness ({n} test items)", {
        "real photos": stroke_faithfulness(photos, painted),
        "all grey": stroke_faithfulness(torch.zeros_like(photos), painted),
        f"blurred photos (sigma {sigma:g} px)": stroke_faithfulness(blur(photos, sigma), painted),
        "photo of another scene": stroke_faithfulness(photos.roll(1, 0), painted),
    })


if __name__ == "__main__":
    main()
