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
  the data's scores over samples, their diversity, which of the data's modes the right ones
  cover, how near they come to every true answer, and (given an encoder) whether a target's
  mode survives encode -> decode;
* :func:`evaluate_guided`: example-guided translation (MUNIT with a style reference), on data
  that pairs each input with a reference and knows the right answer.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from coursekit.data.metrics import (mean_pairwise_distance, mode_histogram, nearest_distances,
                                    total_variation)

__all__ = ["evaluate_paired", "evaluate_unpaired", "evaluate_samples", "evaluate_guided"]

Translate = Callable[[Tensor], Tensor]
Reconstruct = Callable[[Tensor, Tensor], Tensor]  # (inputs, true targets) -> outputs


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


def _run(translate: Callable[..., Tensor], x: Tensor, *more: Tensor) -> Tensor:
    """``translate(x, *more)`` on the CPU in [-1, 1], or an error if it changed the shape."""
    y = translate(x, *more).float().cpu().clamp(-1, 1)
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
                     batch_size: int = 16, max_items: int | None = None, seed: int = 0,
                     reconstruct: Reconstruct | None = None) -> dict[str, float]:
    """Score a model that draws a different output each call (BicycleGAN's G(x, z) with a fresh
    z; MUNIT with a fresh style code) from ``n_samples`` calls per input.

    Args:
        sample: maps a batch of inputs (N, C, H, W) in [-1, 1] to one random output each.
        dataset: the test set; its ``score`` judges each set of samples.
        n_samples: outputs drawn per input (>= 2, for the diversity).
        direction: which side is the input, "AtoB" or "BtoA".
        seed: ``torch.manual_seed`` before sampling, so a call is repeatable.
        reconstruct: optional (inputs x, true targets y) -> outputs, the same input drawn in
            the mode of a given target (BicycleGAN: G(x, mu(E(y)))); needs the dataset's
            ``mode_targets`` and direction "AtoB" (the modes are those of side B).

    Returns:
        The dataset's own scores (as :func:`evaluate_paired` or :func:`evaluate_unpaired`
        give them, unprefixed) averaged over the ``n_samples`` sets of outputs, and
        ``diversity``: :func:`~coursekit.data.metrics.mean_pairwise_distance` of one input's
        samples (0 = the samples ignore the noise). Where the dataset judges single outputs
        (``dataset.faithful``, e.g. synthetic-facades: the photo segments as its own label
        map), ``faithful_rate``: the fraction of samples that are right translations.

        Where the dataset knows its target domain's true modes (``dataset.modes``, e.g.
        synthetic-facades' photo styles: side B's, so direction "AtoB" only), counting a
        sample's mode only when it is faithful
        (a photo of the wrong building in the right style shows no mode):

        * ``modes_covered``: how many distinct modes all the samples show;
        * ``modes_per_input``: how many distinct modes one input's samples show, on average;
        * ``mode_tv``: the total variation distance between the samples' mode frequencies
          and the data's (``dataset.mode_frequencies()``), unfaithful samples in a "no mode"
          bin the data leaves empty: 0 = the data's proportions, and at least
          1 - ``faithful_rate``;
        * ``num_modes``: how many there are, to read the counts against.

        Where the dataset gives every true translation of an item (``dataset.mode_targets``,
        direction "AtoB"), by :func:`~coursekit.data.metrics.nearest_distances` (mean absolute
        difference in [-1, 1] units; lower is better in both):

        * ``recall_distance``: from each true translation to the nearest of its input's
          samples. A model that ignores z and draws one mode exactly gets (K - 1) / K of the
          distance between modes (synthetic-facades at 64 px: 0.30); one that covers the
          modes, only the distance its samples keep from the true renders' textures (0 for
          the renders themselves). L1 favours blur: the mean of the modes gets 0.28, so read
          it beside ``faithful_rate``;
        * ``precision_distance``: from each sample to the nearest true translation of its
          input: 0 for any sampler whose every output is a true render, covering or not
          (the mean of the modes: 0.23, another building's render: 0.46).

        With ``reconstruct``: the true translation of every item in every mode k, y_k, goes
        through ``reconstruct(x, y_k)``:

        * ``encode_decode_accuracy``: the fraction of (item, k) whose output is faithful
          (where the dataset can tell) and shows mode k (1 = the code carries the mode, about
          1/K = it is ignored);
        * ``encode_decode_l1``: the mean absolute difference of the output from y_k.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 to measure diversity, got {n_samples}")
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    src = direction[0]
    n = _count(dataset, max_items, batch_size, "evaluate_samples")
    base = _base_dataset(dataset)
    targets = _mode_targets(dataset, n) if direction == "AtoB" else None
    if reconstruct is not None and targets is None:
        raise ValueError("reconstruct needs every true translation of each item: a dataset "
                         "with mode_targets (e.g. synthetic-facades) and direction 'AtoB'; "
                         "leave reconstruct=None for this one")
    torch.manual_seed(seed)
    items, samples = _draw(sample, dataset, n, n_samples, batch_size, src)  # (S, N, C, H, W)
    x = items[src].float()
    scorer = _scorer(dataset)
    per_set = [scorer(x, s, items, direction) for s in samples] if scorer is not None else []
    scores = {key: sum(r[key] for r in per_set) / len(per_set) for key in (per_set or [{}])[0]}
    scores["diversity"] = mean_pairwise_distance(samples)
    faithful = _faithful(base, x, samples, items, direction)  # (S, N) or None
    if faithful is not None:
        scores["faithful_rate"] = float(faithful.float().mean())
    if getattr(base, "modes", None) and direction == "AtoB":  # the modes are side B's
        scores.update(_mode_scores(base, samples, faithful))
    if targets is not None:
        recall, precision = nearest_distances(samples, targets)
        scores.update(recall_distance=recall, precision_distance=precision)
    if reconstruct is not None:
        scores.update(_encode_decode(reconstruct, base, x, items, targets, batch_size))
    return scores


def _draw(sample: Translate, dataset, n: int, n_samples: int, batch_size: int, src: str):
    """The first ``n`` items stacked, and ``n_samples`` outputs for each: (S, N, C, H, W)."""
    batches, drawn = [], []  # drawn[b]: (S, batch, C, H, W)
    for items in _items(dataset, n, batch_size):
        batches.append(items)
        drawn.append(torch.stack([_run(sample, items[src]) for _ in range(n_samples)]))
    return _cat(batches), torch.cat(drawn, dim=1)


def _base_index(dataset, i: int) -> int:
    """Item ``i`` of ``dataset`` as an index into the dataset under its Subset wrappers."""
    while isinstance(dataset, torch.utils.data.Subset):
        dataset, i = dataset.dataset, dataset.indices[i]
    return int(i)


def _mode_targets(dataset, n: int) -> Tensor | None:
    """(N, K, C, H, W): every true translation of the first ``n`` items, or None where the
    dataset does not know them."""
    base = _base_dataset(dataset)
    get = getattr(base, "mode_targets", None)
    first = get(_base_index(dataset, 0)) if get is not None else None
    if first is None:
        return None
    targets = torch.stack([first.float().cpu()] + [get(_base_index(dataset, i)).float().cpu()
                                                   for i in range(1, n)])
    k = len(base.modes or ())
    if targets.shape[1] != k:
        raise ValueError(f"{type(base).__name__}.mode_targets gave {targets.shape[1]} images "
                         f"per item but the dataset has {k} modes: it must return one per mode, "
                         f"in the order of its modes")
    return targets


def _faithful(base, x: Tensor, outputs: Tensor, items: dict[str, Tensor],
              direction: str) -> Tensor | None:
    """(S, N) bools: the dataset's per-image verdict on each of S sets of outputs (N, ...), or
    None where the dataset has no per-image test."""
    judge = getattr(base, "faithful", None)
    verdicts = [judge(x, out, items, direction) for out in outputs] if judge else [None]
    if verdicts[0] is None:
        return None
    verdicts = torch.stack([torch.as_tensor(v).bool().reshape(-1).cpu() for v in verdicts])
    if verdicts.shape[1] != outputs.shape[1]:
        raise ValueError(f"{type(base).__name__}.faithful must return one bool per output "
                         f"({outputs.shape[1]}), got {verdicts.shape[1]}")
    return verdicts


def _mode_scores(base, samples: Tensor, faithful: Tensor | None) -> dict[str, float]:
    """modes_covered, modes_per_input, mode_tv, num_modes (see :func:`evaluate_samples`),
    counting the mode of faithful samples only (all of them when ``faithful`` is None)."""
    k = len(base.modes)
    modes = torch.stack([base.mode_of(s).cpu() for s in samples])  # (S, N)
    if faithful is not None:
        modes = torch.where(faithful, modes, k)  # k: "no mode", one past the data's
    shown = [set(modes[:, i].tolist()) - {k} for i in range(modes.shape[1])]
    data = torch.cat([base.mode_frequencies().double(), torch.zeros(1, dtype=torch.float64)])
    return {"modes_covered": float(len(set().union(*shown))),
            "modes_per_input": sum(len(m) for m in shown) / len(shown),
            "mode_tv": total_variation(mode_histogram(modes, k + 1), data),
            "num_modes": float(k)}


def _encode_decode(reconstruct: Reconstruct, base, x: Tensor, items: dict[str, Tensor],
                   targets: Tensor, batch_size: int) -> dict[str, float]:
    """encode_decode_accuracy and encode_decode_l1 (see :func:`evaluate_samples`) of the true
    translations ``targets`` (N, K, C, H, W) of inputs ``x``."""
    k = targets.shape[1]
    outputs = torch.stack([  # (K, N, C, H, W): every item drawn in the mode of its target k
        torch.cat([_run(reconstruct, x[i:i + batch_size], targets[i:i + batch_size, mode])
                   for i in range(0, len(x), batch_size)])
        for mode in range(k)])
    right = torch.stack([base.mode_of(out).cpu() == mode for mode, out in enumerate(outputs)])
    faithful = _faithful(base, x, outputs, items, "AtoB")
    if faithful is not None:
        right &= faithful
    return {"encode_decode_accuracy": float(right.float().mean()),
            "encode_decode_l1": float((outputs - targets.transpose(0, 1)).abs().mean())}


@torch.no_grad()
def evaluate_guided(translate: Reconstruct, dataset, direction: str = "AtoB",
                    batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
    """Score example-guided translation: ``translate(inputs, references)`` (N, C, H, W) each,
    gives inputs in the style of the references (MUNIT: x's content code decoded with the
    reference's style code).

    The dataset says which reference goes with each input and what the right output is
    (``guided_item(i, direction)``: "input", "reference" and whatever its scorer reads) and
    scores the outputs (``score_guided(outputs, items, direction)``); on ``synthetic-seasons``
    content kept, season reached, ``time_follows_reference`` (the reference's time of day; a
    model that ignores the reference matches it one time in three) and ``l1`` to the true
    render.
    """
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    base = _base_dataset(dataset)
    if not hasattr(base, "guided_item") or not hasattr(base, "score_guided"):
        raise ValueError(f"{type(base).__name__} does not pair inputs with style references "
                         "(guided_item/score_guided): example-guided scores need data that knows "
                         "the right answer, such as synthetic-seasons")
    n = _count(dataset, max_items, batch_size, "evaluate_guided")
    batches, outputs = [], []
    for start in range(0, n, batch_size):
        items = [base.guided_item(_base_index(dataset, i), direction)
                 for i in range(start, min(n, start + batch_size))]
        items = {key: torch.stack([it[key] for it in items]) for key in items[0]}
        batches.append(items)
        outputs.append(_run(translate, items["input"].float(), items["reference"].float()))
    return base.score_guided(torch.cat(outputs), _cat(batches), direction)
