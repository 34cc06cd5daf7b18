"""``synthetic-strokes``: landscape photos and the stroke paintings SDEdit turns into photos.

Item ``i`` is landscape ``i`` (``"B"``, the photo a diffusion model learns) with
:func:`strokes` of it (``"A"``, the guide a user would paint). SDEdit needs no pairs: the model
trains on ``"B"`` alone, and the pairs only score the edits. An edit of a guide is judged on
the paper's two axes:

* **faithfulness** to the guide: :func:`stroke_faithfulness` (block-averaged distance to the
  strokes, 1 = the same layout and colours);
* **realism**: :func:`realism`, whether the output passes for one of the renderer's photos.

**The realism test.** Three statistics of an image separate photos from what an edit gets
wrong: ``palette``, the mean distance of its pixels to the nearest colour the renderer can
produce in the image's own style (strokes average colours across objects, noise leaves the
palette), ``detail``, the texture inside its regions (flat strokes and blurs have too little,
noise too much), and ``edges``, the high-pass energy of the whole image (blur removes the
boundaries). For each of the nine styles, their logarithms over 900 calibration renders
(a seed no split uses) give a mean and a covariance; an image's Mahalanobis distance to its
style's photos is compared with the distance that 95 % of another 300 calibration renders stay
under. So a real photo passes 95 % of the time by construction, and ``tests/test_strokes.py``
checks that strokes, blurs, noise and speckle do not.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from coursekit.data.metrics import gaussian_blur
from coursekit.data.synthetic.base import SyntheticDataset
from coursekit.data.synthetic.landscapes import (DEFAULT_LENGTHS, LANDSCAPE_CLASSES,
                                                 LANDSCAPE_STYLES, SyntheticLandscapes,
                                                 _all_prototypes, _all_sky_prototypes,
                                                 _check_images, _nearest, _nearest_style,
                                                 segment_landscapes, stroke_faithfulness, strokes)

__all__ = ["SyntheticStrokes", "realism", "realism_per_image", "realism_statistics",
           "REALISM_PASS_RATE"]

#: A real render passes the realism test this often (the calibration quantile).
REALISM_PASS_RATE = 0.95
_CALIBRATION_SEED = 7919  # renders no split of any dataset draws (splits use seed 0)
_FIT, _HOLD_OUT = 900, 300


def realism_statistics(photos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, styles)``: (N, 3) ``palette``, ``detail``, ``edges`` of each image (see the
    module docstring) and (N,) the style whose palette explains it best."""
    x = _check_images(photos, "photos").clamp(-1, 1)
    n, _, h, w = x.shape
    protos, _ = _all_prototypes()
    sky = _all_sky_prototypes(h)
    pix = x.permute(0, 2, 3, 1)
    style = _nearest_style(pix, protos, sky)
    d_other, _, d_sky = _nearest(pix, protos[style], sky[style])
    palette = torch.minimum(d_other, d_sky).flatten(1).mean(1)
    luminance = ((x + 1) / 2 * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
    high_pass = (luminance - gaussian_blur(luminance, max(0.6, 0.015 * w))).abs()
    # Texture: the high-pass away from the image's own region boundaries (2 px in).
    regions = F.one_hot(segment_landscapes(x, style), len(LANDSCAPE_CLASSES)).permute(0, 3, 1, 2)
    interior = (-F.max_pool2d(-regions.float(), 5, stride=1, padding=2)).amax(1, keepdim=True)
    detail = (high_pass * interior).flatten(1).sum(1) / interior.flatten(1).sum(1).clamp_min(1)
    edges = high_pass.flatten(1).mean(1)
    return torch.stack([palette, detail, edges], 1), style


@functools.lru_cache(maxsize=8)
def _calibration(size: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Per style, the mean (9, 3) and inverse covariance (9, 3, 3) of the log statistics of
    calibration renders at ``size`` px, and the distance threshold."""
    renders = SyntheticLandscapes("train", size, _FIT + _HOLD_OUT, seed=_CALIBRATION_SEED)
    photos = torch.stack([renders[i]["B"] for i in range(len(renders))])
    features, style = realism_statistics(photos)
    logs = features.clamp_min(1e-6).log()
    fit_logs, fit_style = logs[:_FIT], style[:_FIT]
    means, inverses = [], []
    for s in range(len(LANDSCAPE_STYLES)):
        own = fit_logs[fit_style == s]
        means.append(own.mean(0))
        # A small ridge keeps the inverse finite for a style with few renders.
        inverses.append(torch.linalg.inv(torch.cov(own.T) + 1e-4 * torch.eye(3)))
    means, inverses = torch.stack(means), torch.stack(inverses)
    held = _distance(logs[_FIT:], style[_FIT:], means, inverses)
    return means, inverses, float(held.quantile(REALISM_PASS_RATE))


def _distance(logs, style, means, inverses) -> torch.Tensor:
    z = logs - means[style]
    return torch.einsum("ni,nij,nj->n", z, inverses[style], z).sqrt()


def realism_per_image(photos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(distance, passes)`` of each image (N, 3, H, W) in [-1, 1]: its Mahalanobis distance
    to its style's photos at the same size (N,), and whether it passes the realism test (N,)
    bool (a real render passes with probability 0.95)."""
    x = _check_images(photos, "photos")
    means, inverses, threshold = _calibration(x.shape[-1])
    features, style = realism_statistics(x)
    distance = _distance(features.clamp_min(1e-6).log(), style, means, inverses)
    return distance, distance <= threshold


def realism(photos: torch.Tensor) -> dict[str, float]:
    """How photo-like images (N, 3, H, W) in [-1, 1] are, against the renderer's photos at the
    same size: ``realism``, the fraction that pass the test of the module docstring (a real
    render passes with probability 0.95), and ``realism_distance``, their mean Mahalanobis
    distance to their style's photos (smaller is more photo-like)."""
    distance, passes = realism_per_image(photos)
    return {"realism": float(passes.double().mean()), "realism_distance": float(distance.mean())}


class SyntheticStrokes(SyntheticDataset):
    """Stroke paintings (``"A"``) of landscape photos (``"B"``).

    Args: as :class:`SyntheticLandscapes` (``split``, ``size``, ``length``, ``seed``).

    Items: ``"A"`` the strokes (3, H, W) in [-1, 1] (:func:`strokes` with the item's index as
    the seed of its ragged edges), ``"B"`` the photo, ``"labels"`` its label map (H, W),
    ``"style"`` its style id.
    """

    default_lengths = DEFAULT_LENGTHS
    title = "synthetic strokes"
    pairing = "paired"

    def __init__(self, split: str = "train", size: int = 64, length: int | None = None,
                 seed: int = 0):
        super().__init__(split, size, length, seed)
        self.photos = SyntheticLandscapes(split, self.size, self.length, self.seed)
        # Painting an item (k-means per image) costs 4x rendering it: up to 64 px (48 KB an
        # item) the strokes are kept for the dataset's life, so training epochs pay it once.
        self._painted: dict[int, torch.Tensor] = {}

    def __getitem__(self, index) -> dict:
        i = self._index(index)
        item = self.photos[i]
        painted = self._painted.get(i)
        if painted is None:
            painted = strokes(item["B"][None], seed=i)[0]
            if self.size <= 64:
                self._painted[i] = painted
        return {"A": painted, "B": item["B"], "labels": item["labels"], "style": item["style"]}

    def score(self, inputs, outputs, items, direction):
        """Edits of stroke guides (``"AtoB"``): faithfulness to the guides (``faithfulness``,
        ``faithfulness_distance``) and :func:`realism`. Photos -> strokes is not scored."""
        if direction != "AtoB":
            return {}
        faithful = stroke_faithfulness(outputs, inputs)
        return {"faithfulness": faithful["score"], "faithfulness_distance": faithful["distance"],
                **realism(outputs)}
