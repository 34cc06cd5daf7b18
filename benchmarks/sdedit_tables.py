"""SDEdit's realism-faithfulness trade-off and the memorisation experiment, on a trained DDPM.

    python benchmarks/sdedit_tables.py [--pretrained ddpm-landscapes | --checkpoint RUN/latest.pt]
                                       [--items 64] [--steps 20] [--threads 2] [--grid out.png]

1. Reference rows, scored like the edits: the stroke guides themselves (faithful, not photos)
   and the photos they were painted from (what a perfect edit could be).
2. The trade-off (``coursekit.models.sdedit.tradeoff``): SDEdit of the first ``--items``
   guides of synthetic-strokes' test split at t0 = 0.1 ... 1.0, K = 1 and 3, ``--steps``
   DDIM jumps per edit (eta = 1), noise seeded 0: faithfulness to the guide, the fraction that
   pass the realism test, the mean realism distance, L1 to the photos.
3. Memorisation: the same edits (K = 1) with the ideal denoiser of the 1000 training photos
   (``coursekit.models.ddpm.IdealDenoiser``, the exact minimiser of the training loss) in place
   of the network, and the RMS distance of every output to its nearest training photo. A copy
   of a training photo is an output within 0.02 RMS of one (8-bit rounding alone is 0.002).
4. ``--grid``: a picture of the first 6 guides, their edits along t0 (K = 1) and their photos.
"""
from __future__ import annotations

import argparse
import time

import torch

from coursekit import pretrained
from coursekit.data import get_dataset
from coursekit.data.synthetic.landscapes import stroke_faithfulness
from coursekit.data.synthetic.strokes import realism
from coursekit.models import load_trained
from coursekit.models.ddpm import IdealDenoiser
from coursekit.models.sdedit import T0_GRID, format_tradeoff, sdedit, tradeoff

COPY_RMS = 0.02


def nearest_rms(images: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """RMS per pixel and channel from each image to its nearest training image."""
    d = torch.cdist(images.flatten(1), train.flatten(1), compute_mode="donot_use_mm_for_euclid_dist")
    return d.min(1).values / images[0].numel() ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pretrained", default="ddpm-landscapes")
    source.add_argument("--checkpoint", default=None)
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--grid", default=None, help="also save a picture here (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.checkpoint:
        model, _ = load_trained("ddpm", args.checkpoint)
        label = args.checkpoint
    else:
        model, label = pretrained.load(args.pretrained), f"course checkpoint {args.pretrained}"
    model.eval()
    size = model.config.image_size
    test = get_dataset("synthetic-strokes", split="test", size=size)
    items = [test[i] for i in range(args.items)]
    guides = torch.stack([it["A"] for it in items])
    photos = torch.stack([it["B"] for it in items])
    print(f"{label}; {args.items} test guides of synthetic-strokes at {size} px; "
          f"{args.steps} DDIM jumps per edit (eta 1); {args.threads} thread(s)\n")

    print("1. reference rows")
    for name, images in (("the guides themselves", guides), ("the photos painted", photos)):
        faithful, real = stroke_faithfulness(images, guides), realism(images)
        print(f"   {name:<22} faithfulness {faithful['score']:.3f}  realism "
              f"{real['realism']:.3f}  distance {real['realism_distance']:.2f}")

    start = time.time()
    rows = tradeoff(model, test, T0_GRID, (1, 3), args.steps, args.items)
    print(f"\n2. the trade-off ({time.time() - start:.0f} s)\n{format_tradeoff(rows)}")

    train = torch.stack([get_dataset("synthetic-strokes", split="train", size=size)
                         .photos[i]["B"] for i in range(1000)])
    ideal = load_trained("ddpm", args.checkpoint)[0] if args.checkpoint else \
        pretrained.load(args.pretrained)
    ideal.net_ema = IdealDenoiser(train, ideal.schedule)
    print("\n3. memorisation: the learned network against the ideal denoiser of the 1000 "
          "training photos (K = 1)")
    print(f"   {'t0':>4} {'model':<8} {'faithful':>8} {'realism':>7} {'RMS to nearest train':>20}"
          f" {'copies':>6}")
    for t0 in (0.1, 0.3, 0.5, 0.7, 1.0):
        for name, net in (("learned", model), ("ideal", ideal)):
            out = sdedit(net, guides, t0, 1, args.steps,
                         generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
            rms = nearest_rms(out, train)
            print(f"   {t0:>4.1f} {name:<8} {stroke_faithfulness(out, guides)['score']:>8.3f} "
                  f"{realism(out)['realism']:>7.3f} {float(rms.mean()):>20.3f} "
                  f"{float((rms < COPY_RMS).double().mean()):>6.2f}", flush=True)
    photo_rms = nearest_rms(photos, train)
    print(f"   (the test photos themselves: RMS to the nearest training photo "
          f"{float(photo_rms.mean()):.3f}, min {float(photo_rms.min()):.3f})")

    if args.grid:
        from torchvision.utils import save_image

        n = 6
        rows_img = [guides[:n]]
        for t0 in T0_GRID:
            rows_img.append(sdedit(model, guides[:n], t0, 1, args.steps,
                                   generator=torch.Generator().manual_seed(0)).clamp(-1, 1))
        rows_img.append(photos[:n])
        grid = torch.stack(rows_img, 1).flatten(0, 1)  # guide, t0 = 0.1 .. 1.0, photo per row
        save_image(grid * 0.5 + 0.5, args.grid, nrow=len(rows_img), padding=1)
        print(f"\n4. wrote {args.grid}: per row a guide, its edits at t0 = 0.1 ... 1.0, its photo")


if __name__ == "__main__":
    main()
