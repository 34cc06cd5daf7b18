"""The ground-truth scorers on real samples and on degenerate outputs.

    python benchmarks/evaluators.py [--size 64] [--n 100]
    python benchmarks/evaluators.py --zebras-only [--checkpoint runs/cyclegan/latest.pt ...]
    python benchmarks/evaluators.py --samplers-only [--size 64] [--n 100]

Prints, for each synthetic dataset, every score of its evaluator on the real data (which
should be near the best) and on outputs a broken model might produce (which should be clearly
worse): an all-grey image, a blurred real image, the untouched input, and where it applies a
translation that ignores the input. The tests assert the separation; this prints the numbers.

For synthetic-zebras two more tables, at 32, 64 and 128 px:

* the stripe verdict (``is_zebra``) and its three measures on real zebras, horses and the
  impostors of ``coursekit.data.impostors`` (noise, speckle, checkerboards, blur), each pasted
  into the horse's silhouette: the verdict must be "zebra" for the first and "horse" for the
  rest (at 32 px achromatic noise is not caught, see ``coherence_threshold``);
* the silhouette segmenter on generated-looking images with known masks (noise in the grass,
  soft outlines, speckle) and, with ``--checkpoint`` (CycleGAN runs), a trained model's
  outputs next to the true translation of the same horses.

For synthetic-facades' multimodal scores (``--samplers-only`` prints just these):

* the faithfulness bar (``SyntheticFacades.faithful``, ``FAITHFUL_PIXEL_ACCURACY``) at 32, 64
  and 128 px: the fraction of true renders in each style that pass it, and of blends of the
  styles, blurs, noise, grey, label images and other buildings' renders;
* ``evaluate_samples`` on samplers whose answers are known, with a ``reconstruct`` where one
  fits the sampler (the true render, a fixed style, the mean of the styles).
"""
from __future__ import annotations

import argparse

import torch

from coursekit.data.impostors import checkerboard, paste, pixel_noise, speckle
from coursekit.data.metrics import gaussian_blur as blur
from coursekit.data.synthetic.facades import SyntheticFacades, score_facades
from coursekit.data.synthetic.landscapes import (SyntheticLandscapes, score_landscapes,
                                                 stroke_faithfulness, strokes)
from coursekit.data.synthetic.zebras import (SyntheticZebras, coherence_threshold, is_zebra,
                                             score_zebras, segment_animals, stripe_measures)


def stack(ds, key: str, n: int) -> torch.Tensor:
    return torch.stack([ds[i][key] for i in range(n)])


def table(title: str, rows: dict[str, dict[str, float]], keys: list[str] | None = None,
          width: int = 24) -> None:
    """Rows of scores under ``keys`` (default: the first row's); "-" where a row lacks one."""
    keys = keys or list(next(iter(rows.values())))
    print(f"\n{title}")
    print(f"{'output':<34}" + "".join(f"{k:>{width}}" for k in keys))
    for name, scores in rows.items():
        print(f"{name:<34}" + "".join(f"{scores[k]:>{width}.3f}" if k in scores else
                                      f"{'-':>{width}}" for k in keys))


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    inter = (a * b).flatten(1).sum(1)
    return inter / torch.maximum(a, b).flatten(1).sum(1).clamp_min(1)


def zebra_cases(size: int, n: int, checkpoints: list[str]) -> None:
    """The stripe verdict and the segmenter at one size, on real data and impostors."""
    ds = SyntheticZebras("test", size=size)
    items = [ds[i] for i in range(n)]
    pairs = [ds.render_pair(i) for i in range(n)]
    horses, horse_masks = torch.stack([p["A"] for p in pairs]), torch.stack([p["mask"] for p in pairs])
    truth = torch.stack([p["B"] for p in pairs])
    g = torch.Generator().manual_seed(size)
    period = round(0.064 * size)  # the torso's stripe period in px
    rows = {"real zebras (B)": (torch.stack([it["B"] for it in items]),
                                torch.stack([it["mask_B"] for it in items]), "zebra"),
            "true translation (render_pair)": (truth, horse_masks, "zebra"),
            "real horses (A)": (horses, horse_masks, "horse"),
            f"blurred horse (sigma {size / 32:g} px)": (blur(horses, size / 32), horse_masks, "horse")}
    fakes = {"grey pixel noise": pixel_noise(n, size, False, g),
             "colour pixel noise": pixel_noise(n, size, True, g),
             "colour speckle 1 px": speckle(n, size, 1, True, g),
             "colour speckle 2 px": speckle(n, size, 2, True, g),
             "black-and-white speckle 2 px": speckle(n, size, 2, False, g),
             **{f"checkerboard {c} px": checkerboard(n, size, c)
                for c in sorted({1, 2, max(2, period // 2)})}}
    for name, pattern in fakes.items():
        rows[f"{name} in the horse"] = (paste(horses, pattern, horse_masks), horse_masks, "horse")
    models = {}
    for path in checkpoints:
        from coursekit.models import load_trained

        model, config = load_trained("cyclegan", path)
        if config.image_size != size:
            continue
        with torch.no_grad():
            models[f"G_AB of {path}"] = model.eval().translate(horses, "AtoB").clamp(-1, 1)
    for name, out in models.items():
        rows[name] = (out, horse_masks, "?")

    print(f"\nsynthetic-zebras, the stripe verdict at {size} px ({n} test items; coherence "
          f"bar {coherence_threshold(size):.2f}, chroma bar 0.08, contrast bar 0.07)")
    print(f"{'':46s}{'should be':>10s}{'zebra rate':>11s}{'contrast':>9s}{'chroma':>8s}{'coherence':>10s}")
    for name, (images, masks, expect) in rows.items():
        m = stripe_measures(images, masks)
        rate = float(is_zebra(images, masks).float().mean())
        print(f"{name:46s}{expect:>10s}{rate:11.3f}" + "".join(
            f"{float(m[k].mean()):{w}.3f}" for k, w in (("contrast", 9), ("chroma", 8), ("coherence", 10))))

    grass = 1 - horse_masks
    seg_rows = {
        "true translation": truth,
        "+ colour noise in the grass (std 0.1)": (truth + grass * pixel_noise(n, size, True, g, 0.1)).clamp(-1, 1),
        "+ colour noise everywhere (std 0.1)": (truth + pixel_noise(n, size, True, g, 0.1)).clamp(-1, 1),
        "blurred (sigma 0.5 px)": blur(truth, 0.5),
        "blurred (sigma 1 px)": blur(truth, 1.0),
        "colour speckle 2 px in the silhouette": paste(truth, speckle(n, size, 2, True, g), horse_masks),
        "all grey": torch.zeros_like(truth),
        **models,
    }
    print(f"\nsynthetic-zebras, the silhouette segmenter at {size} px on generated-looking images "
          f"(IoU with the true mask; last column: with the segmented true translation)")
    seg_truth = segment_animals(truth)
    print(f"{'':46s}{'mean IoU':>9s}{'min':>7s}{'vs truth':>9s}")
    for name, images in seg_rows.items():
        seg = segment_animals(images)
        v = iou(seg, horse_masks)
        print(f"{name:46s}{float(v.mean()):9.3f}{float(v.min()):7.3f}"
              f"{float(iou(seg, seg_truth).mean()):9.3f}")


class FacadeOracle:
    """Samplers that know which test item an input is (by its exact label image), so can
    return any of its true renders: what evaluate_samples must say about them is known."""

    def __init__(self, ds: SyntheticFacades):
        self.index = {ds[i]["A"].numpy().tobytes(): i for i in range(len(ds))}
        self.targets = torch.stack([ds.mode_targets(i) for i in range(len(ds))])  # (N, K, ...)
        self.k = self.targets.shape[1]

    def items(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([self.index[a.numpy().tobytes()] for a in x])

    def style(self, style: int):
        return lambda x, *_: self.targets[self.items(x), style]

    def random_style(self, shift: int = 0):  # item i + shift's render in a random style
        def sample(x):
            i = (self.items(x) + shift) % len(self.targets)
            return self.targets[i, torch.randint(self.k, (len(x),))]
        return sample

    def mean(self, x, *_):
        return self.targets[self.items(x)].mean(1)

    def median(self, x, *_):
        return self.targets[self.items(x)].median(1).values


def sampler_cases(size: int, n: int, n_samples: int = 8) -> None:
    """evaluate_samples on samplers whose answers are known (synthetic-facades' styles)."""
    import itertools

    from coursekit.data.evaluation import evaluate_samples

    ds = SyntheticFacades("test", size=size, length=n)
    oracle = FacadeOracle(ds)
    calls = itertools.count()

    def every_style(x):  # call j: the true render of each input in style j mod k
        return oracle.style(next(calls) % oracle.k)(x)

    first = ds[0]["B"]
    cases = {  # name: (sampler, reconstruct or None)
        "true renders, every style": (every_style, lambda x, y: y),
        "true render, random style": (oracle.random_style(), lambda x, y: y),
        "true render, always style 0": (oracle.style(0), oracle.style(0)),
        "mean of the 4 styles": (oracle.mean, oracle.mean),
        "median of the 4 styles": (oracle.median, oracle.median),
        "another building, random style": (oracle.random_style(shift=1), None),
        "one fixed photo for every input": (lambda x: first.expand_as(x), None),
        "the input label image": (lambda x: x, None),
        "uniform noise": (lambda x: torch.rand_like(x) * 2 - 1, None),
    }
    rows = {name: evaluate_samples(sampler, ds, n_samples=n_samples, reconstruct=reconstruct)
            for name, (sampler, reconstruct) in cases.items()}
    keys = ["pixel_accuracy", "diversity", "faithful_rate", "modes_covered", "modes_per_input",
            "mode_tv", "recall_distance", "precision_distance", "encode_decode_accuracy",
            "encode_decode_l1"]
    table(f"evaluate_samples on synthetic-facades ({n} test items, {size} px, {n_samples} "
          f"samples each; encode_decode_* with reconstruct = the sampler, or the true render)",
          rows, keys, width=max(len(k) for k in keys) + 2)


def faithfulness_cases(n: int) -> None:
    """The fraction of true renders and of wrong photos that SyntheticFacades.faithful passes,
    at 32, 64 and 128 px, and the range of their per-photo pixel accuracy."""
    from coursekit.data.synthetic.facades import (FACADE_STYLES, FAITHFUL_PIXEL_ACCURACY,
                                                  photo_pixel_accuracy)

    sizes = (32, 64, 128)
    rates: dict[str, list[float]] = {}
    accuracy: dict[str, list[torch.Tensor]] = {}
    expect: dict[str, str] = {}
    for size in sizes:
        ds = SyntheticFacades("test", size=size, length=n)
        targets = torch.stack([ds.mode_targets(i) for i in range(n)])
        labels, label_images = stack(ds, "labels", n), stack(ds, "A", n)
        g = torch.Generator().manual_seed(size)
        cases = {f"true render, {name}": (targets[:, k], "pass")
                 for k, name in enumerate(FACADE_STYLES)}
        cases.update({
            "mean of the 4 styles": (targets.mean(1), "fail"),
            "median of the 4 styles": (targets.median(1).values, "fail"),
            "blur sigma size/32 (style 0)": (blur(targets[:, 0], size / 32), "fail"),
            "blur sigma 0.5 px (style 0)": (blur(targets[:, 0], 0.5), "either"),
            "uniform noise": (torch.rand(targets[:, 0].shape, generator=g) * 2 - 1, "fail"),
            "all grey": (torch.zeros_like(targets[:, 0]), "fail"),
            "the label image": (label_images, "fail"),
            "another building, same style": (torch.cat([targets[:, k].roll(1, 0) for k in
                                                        range(len(FACADE_STYLES))]), "fail"),
        })
        for name, (photos, should) in cases.items():
            truth = labels.repeat(len(photos) // n, 1, 1)
            acc = photo_pixel_accuracy(photos, truth)
            passed = float((acc >= FAITHFUL_PIXEL_ACCURACY).float().mean())
            rates.setdefault(name, []).append(passed)
            accuracy.setdefault(name, []).append(acc)
            expect[name] = should
    print(f"\nsynthetic-facades, faithful = per-photo pixel accuracy >= "
          f"{FAITHFUL_PIXEL_ACCURACY} ({n} test items per size; pass rates, and the pixel "
          f"accuracy's range over all sizes)")
    print(f"{'photo':<40}{'should':>8}" + "".join(f"{f'{s} px':>9}" for s in sizes)
          + f"{'lowest':>9}{'highest':>9}")
    for name, values in rates.items():
        acc = torch.cat(accuracy[name])
        print(f"{name:<40}{expect[name]:>8}" + "".join(f"{v:9.3f}" for v in values)
              + f"{float(acc.min()):9.3f}{float(acc.max()):9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n", type=int, default=100, help="test items per dataset")
    parser.add_argument("--zebras-only", action="store_true",
                        help="only the zebra verdict and segmenter tables")
    parser.add_argument("--samplers-only", action="store_true",
                        help="only the facades faithfulness and evaluate_samples tables")
    parser.add_argument("--checkpoint", action="append", default=[],
                        help="a CycleGAN checkpoint whose A->B outputs join the zebra tables "
                             "(at its own image size; repeatable)")
    args = parser.parse_args()
    if not args.samplers_only:
        for size in (32, 64, 128):
            zebra_cases(size, args.n, args.checkpoint)
    if args.zebras_only:
        return
    faithfulness_cases(args.n)
    sampler_cases(args.size, 16)
    if args.samplers_only:
        return
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
