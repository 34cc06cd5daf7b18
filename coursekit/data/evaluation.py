"""Evaluate a translation model on a test set: run it over the items, let the data score it.

The synthetic datasets know the right answer, so each scores translations of its own items
(its ``score`` method, see :class:`coursekit.data.synthetic.base.SyntheticDataset`):

* label map -> photo (``synthetic-facades``, ``synthetic-landscapes``): segment the generated
  photo analytically and compare with the input label map, with the FCN-score's three numbers
  (pixel accuracy, mean class accuracy, mean class IoU; pix2pix §4.2, CycleGAN §5.1.1);
* photo -> label map: the class of each generated pixel read off the label palette, against
  the true label map (the Cityscapes photo->labels metrics);
* horse <-> zebra (``synthetic-zebras``): did the animal get (or lose) its stripes, and were
  its silhouette and the background kept?

This module only runs the model and aggregates; it knows no dataset. On data without a scorer
(real folders) what needs no ground truth is reported: the L1 distance to a paired target (for
reference only: a blurry average scores well on it) or how much an unpaired model changes its
input.

* :func:`evaluate_paired`: x -> y for paired data;
* :func:`evaluate_unpaired`: one or both directions of an unpaired model;
* :func:`evaluate_samples`: a model that draws several outputs per input (BicycleGAN, MUNIT):
  the data's scores over samples, their diversity, and which of the data's modes they cover.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from coursekit.data.metrics import mean_pairwise_distance, mode_histogram, total_variation

__all__ = ["evaluate_paired", "evaluate_unpaired", "evaluate_samples"]

Translate = Callable[[Tensor], Tensor]


def _base_dataset(dataset):
    """The dataset under ``torch.utils.data.Subset`` wrappers (whose ``score`` is the data's)."""
    while isinstance(dataset, torch.utils.data.Subset):
        dataset = dataset.dataset
    return dataset


def _scorer(dataset):
    """The dataset's own ``score(inputs, outputs, items, direction)``, or None."""
    return getattr(_base_dataset(dataset), "score", None)


def _count(dataset, max_items: int | None, batch_size: int, caller: str) -> int:
    n = len(dataset) if max_items is None else min(max_items, len(dataset))
    if n == 0:
        raise ValueError(f"{caller} got an empty dataset")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return n


def _items(dataset, n: int, batch_size: int):
    """The first ``n`` items in batches: dicts of their tensor fields stacked."""
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(n, start + batch_size))]
        yield {key: torch.stack([it[key] for it in items]) for key, value in items[0].items()
               if isinstance(value, Tensor)}


def _run(translate: Translate, x: Tensor) -> Tensor:
    y = translate(x).float().cpu().clamp(-1, 1)
    if y.shape != x.shape:
        raise ValueError(f"translating inputs of shape {tuple(x.shape)} gave "
                         f"{tuple(y.shape)}: a translation must keep the image shape")
    return y


def _cat(batches: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


@torch.no_grad()
def evaluate_paired(translate: Translate, dataset, direction: str = "AtoB",
                    batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
    """Translate every item of a paired ``dataset`` and score the outputs.

    Args:
        translate: maps a batch of inputs (N, C, H, W) in [-1, 1] to outputs.
        dataset: items with "A" and "B" (and whatever the dataset's scorer reads).
        direction: "AtoB" or "BtoA".
        max_items: evaluate only the first ``max_items`` items (quick checks in notebooks).

    Returns ``{"l1": ...}`` plus the dataset's own scores (on the synthetic label-map datasets
    ``pixel_accuracy``, ``class_accuracy``, ``class_iou``: label map -> photo of the
    segmented output, photo -> label map of the output's colours).
    """
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    src, dst = ("A", "B") if direction == "AtoB" else ("B", "A")
    n = _count(dataset, max_items, batch_size, "evaluate_paired")
    batches, outputs = [], []
    for items in _items(dataset, n, batch_size):
        x, target = items[src], items[dst]
        y = translate(x).float().cpu().clamp(-1, 1)
        if y.shape != target.shape:
            raise ValueError(f"translating inputs of shape {tuple(x.shape)} gave "
                             f"{tuple(y.shape)}, but the targets have shape {tuple(target.shape)}")
        batches.append(items)
        outputs.append(y)
    items, out = _cat(batches), torch.cat(outputs)
    scores = {"l1": float((out - items[dst].float()).abs().mean())}
    scorer = _scorer(dataset)
    if scorer is not None:
        scores.update(scorer(items[src].float(), out, items, direction))
    return scores


@torch.no_grad()
def evaluate_unpaired(translate_AtoB: Translate, dataset, translate_BtoA: Translate | None = None,
                      batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
    """Translate the A side (and, with ``translate_BtoA``, the B side) of an unpaired ``dataset``
    and score the outputs against their own inputs.

    Args:
        translate_AtoB: maps a batch of A images (N, C, H, W) in [-1, 1] to B-domain images.
        dataset: items with "A" and "B" (and "mask_A", "mask_B" on ``synthetic-zebras``).
        translate_BtoA: the inverse mapping, if the method has one (CycleGAN's second
            generator); CUT and FastCUT translate one way only.
        max_items: evaluate only the first ``max_items`` items (quick checks in notebooks).

    Keys are the dataset's scores prefixed ``AtoB_`` and ``BtoA_``. On ``synthetic-zebras``
    (horse = A, zebra = B): ``silhouette_iou`` (the animal keeps its shape and place),
    ``background_preservation``, ``zebra_rate`` (stripe verdicts; for B -> A also
    ``horse_rate = 1 - zebra_rate``) and ``stripe_score`` (see ``score_zebras``).

    On data without a scorer there is no way to judge the target domain without a trained
    classifier, so only what needs no ground truth is returned: ``AtoB_mean_abs_change`` (and
    ``BtoA_...``), the mean |output - input| in [-1, 1] units. It says how much a model changes
    its inputs (0 = the identity), not whether the change is right.
    """
    n = _count(dataset, max_items, batch_size, "evaluate_unpaired")
    directions = [("AtoB", "A", translate_AtoB)]
    if translate_BtoA is not None:
        directions.append(("BtoA", "B", translate_BtoA))
    batches: list[dict[str, Tensor]] = []
    outputs: dict[str, list[Tensor]] = {name: [] for name, _, _ in directions}
    for items in _items(dataset, n, batch_size):
        batches.append(items)
        for name, side, translate in directions:
            outputs[name].append(_run(translate, items[side]))
    items = _cat(batches)
    scorer = _scorer(dataset)
    scores: dict[str, float] = {}
    for name, side, _ in directions:
        x, y = items[side].float(), torch.cat(outputs[name])
        # One call over the whole set: scores such as background preservation pool pixels.
        result = (scorer(x, y, items, name) if scorer is not None else {}) or {
            "mean_abs_change": float((y - x).abs().mean())}
        scores.update({f"{name}_{key}": value for key, value in result.items()})
    return scores


@torch.no_grad()
def evaluate_samples(sample: Translate, dataset, n_samples: int = 8, direction: str = "AtoB",
                     batch_size: int = 16, max_items: int | None = None,
                     seed: int = 0) -> dict[str, float]:
    """Score a model that draws a different output each call (BicycleGAN's G(x, z) with a fresh
    z; MUNIT with a fresh style code) from ``n_samples`` calls per input.

    Args:
        sample: maps a batch of inputs (N, C, H, W) in [-1, 1] to one random output each.
        dataset: the test set; its ``score`` judges each set of samples.
        n_samples: outputs drawn per input (>= 2, for the diversity).
        direction: which side is the input, "AtoB" or "BtoA".
        seed: ``torch.manual_seed`` before sampling, so a call is repeatable.

    Returns:
        The dataset's own scores (as :func:`evaluate_paired` or :func:`evaluate_unpaired`
        give them, unprefixed) averaged over the ``n_samples`` sets of outputs, and
        ``diversity``: :func:`~coursekit.data.metrics.mean_pairwise_distance` of one input's
        samples (0 = the samples ignore the noise). Where the dataset knows its target
        domain's true modes (``dataset.modes``, e.g. synthetic-facades' photo styles):

        * ``modes_covered``: how many distinct modes all the samples show;
        * ``modes_per_input``: how many distinct modes one input's samples show, on average;
        * ``mode_tv``: the total variation distance between the samples' mode frequencies
          and the data's (``dataset.mode_frequencies()``): 0 = the data's proportions.
        * ``num_modes``: how many there are, to read the counts against.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 to measure diversity, got {n_samples}")
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    src = direction[0]
    n = _count(dataset, max_items, batch_size, "evaluate_samples")
    torch.manual_seed(seed)
    batches, drawn = [], []  # drawn[b]: (S, batch, C, H, W)
    for items in _items(dataset, n, batch_size):
        batches.append(items)
        drawn.append(torch.stack([_run(sample, items[src]) for _ in range(n_samples)]))
    items, samples = _cat(batches), torch.cat(drawn, dim=1)  # samples: (S, N, C, H, W)
    x = items[src].float()
    scorer = _scorer(dataset)
    per_set = [scorer(x, s, items, direction) for s in samples] if scorer is not None else []
    scores = {key: sum(r[key] for r in per_set) / len(per_set) for key in (per_set or [{}])[0]}
    scores["diversity"] = mean_pairwise_distance(samples)
    base = _base_dataset(dataset)
    if getattr(base, "modes", None):
        k = len(base.modes)
        modes = torch.stack([base.mode_of(s) for s in samples])  # (S, N)
        scores["modes_covered"] = float(modes.unique().numel())
        scores["modes_per_input"] = float(sum(modes[:, i].unique().numel()
                                              for i in range(modes.shape[1])) / modes.shape[1])
        scores["mode_tv"] = total_variation(mode_histogram(modes, k), base.mode_frequencies())
        scores["num_modes"] = float(k)
    return scores
