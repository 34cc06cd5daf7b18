"""Ground-truth evaluation of a translation model on coursekit's data.

The synthetic datasets know the right answer, so a model is scored by what it should have
produced rather than by a pretrained network:

* label map -> photo (``synthetic-facades``, ``synthetic-landscapes``): segment the generated
  photo with the dataset's analytic segmenter and compare with the input label map, using the
  FCN-score's three numbers (pixel accuracy, mean class accuracy, mean class IoU; pix2pix §4.2,
  CycleGAN §5.1.1);
* photo -> label map: read the class of each generated pixel off the label palette and compare
  with the true label map, with the same three numbers (the Cityscapes photo->labels metrics);
* anything paired (real folders too): the L1 distance to the ground truth, for reference only,
  since a blurry average scores well on it;
* unpaired horse <-> zebra (``synthetic-zebras``, :func:`evaluate_unpaired`): did the animal get
  (or lose) its stripes, and were its silhouette and the background kept? There is no ground
  truth output per input, but the scene is synthetic: the input's silhouette is known and the
  stripes are measured analytically (``coursekit.data.synthetic.zebras``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["segmentation_scores", "labels_from_palette", "evaluate_paired", "evaluate_unpaired"]


def segmentation_scores(pred: Tensor, target: Tensor, num_classes: int) -> dict[str, float]:
    """Pixel accuracy, mean class accuracy and mean class IoU of a predicted label map.

    One confusion matrix over all the pixels given (a whole test set, as the FCN-score does),
    with n_ij = pixels of true class i predicted as j and t_i = sum_j n_ij (the standard
    Cityscapes/FCN definitions; CyCADA §3.4.3):

        pixel_accuracy = sum_i n_ii / sum_i t_i
        class_accuracy = mean_i n_ii / t_i                      over classes with t_i > 0
        class_iou      = mean_i n_ii / (t_i + sum_j n_ji - n_ii)  over classes with a union

    So a class absent from the ground truth but predicted somewhere scores IoU 0 (a
    hallucinated class costs), and one neither present nor predicted is left out. A predicted
    label of -1 means "unrecognised": a miss for the true class that counts for no class.
    """
    if pred.shape != target.shape:
        raise ValueError(f"predicted labels {tuple(pred.shape)} and true labels "
                         f"{tuple(target.shape)} must have the same shape")
    pred = pred.reshape(-1).long().cpu()
    target = target.reshape(-1).long().cpu()
    if target.numel() == 0:
        raise ValueError("segmentation_scores needs at least one pixel")
    if int(target.min()) < 0 or int(target.max()) >= num_classes:
        raise ValueError(f"true labels must be class indices 0..{num_classes - 1}, got values "
                         f"{int(target.min())}..{int(target.max())}")
    if int(pred.min()) < -1 or int(pred.max()) >= num_classes:
        raise ValueError(f"predicted labels must be -1 (unrecognised) or 0..{num_classes - 1}, "
                         f"got values {int(pred.min())}..{int(pred.max())}")
    k = num_classes
    # Rows: true class; columns: "unrecognised", then the predicted classes.
    confusion = torch.bincount(target * (k + 1) + pred + 1, minlength=k * (k + 1))
    confusion = confusion.reshape(k, k + 1)[:, 1:].double()
    hits = confusion.diag()
    true_count = torch.bincount(target, minlength=k).double()
    pred_count = confusion.sum(0)
    union = true_count + pred_count - hits
    present, seen = true_count > 0, union > 0
    return {
        "pixel_accuracy": float(hits.sum() / true_count.sum()),
        "class_accuracy": float((hits[present] / true_count[present]).mean()),
        "class_iou": float((hits[seen] / union[seen]).mean()),
    }


def labels_from_palette(images: Tensor, palette: np.ndarray) -> Tensor:
    """Class index of each pixel of colour label images (N, 3, H, W) in [-1, 1]: the nearest
    palette colour (so a slightly-off generated colour still counts as its class)."""
    colours = torch.as_tensor(palette, dtype=torch.float32, device=images.device) / 127.5 - 1.0
    dist = ((images.unsqueeze(1) - colours[None, :, :, None, None]) ** 2).sum(2)
    return dist.argmin(1)


def _scorers(dataset):
    """(photo scorer, palette, num_classes) for a synthetic paired dataset, else None."""
    from coursekit.data.synthetic.facades import (FACADE_CLASSES, FACADE_PALETTE,
                                                  SyntheticFacades, score_facades)

    if isinstance(dataset, SyntheticFacades):
        return score_facades, FACADE_PALETTE, len(FACADE_CLASSES)
    try:
        from coursekit.data.synthetic.landscapes import (LANDSCAPE_CLASSES, LANDSCAPE_PALETTE,
                                                         SyntheticLandscapes, score_landscapes)
    except ImportError:  # landscapes not importable: nothing to score with
        return None
    if isinstance(dataset, SyntheticLandscapes):
        return score_landscapes, LANDSCAPE_PALETTE, len(LANDSCAPE_CLASSES)
    return None


@torch.no_grad()
def evaluate_paired(translate: Callable[[Tensor], Tensor], dataset, direction: str = "AtoB",
                    batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
    """Translate every item of a paired ``dataset`` and score the outputs.

    Args:
        translate: maps a batch of inputs (N, C, H, W) in [-1, 1] to outputs.
        dataset: items with "A" and "B" (and "labels" for the synthetic label-map datasets).
        direction: "AtoB" or "BtoA".
        max_items: evaluate only the first ``max_items`` items (quick checks in notebooks).

    Returns ``{"l1": ...}`` plus, for the synthetic datasets, ``pixel_accuracy``,
    ``class_accuracy`` and ``class_iou`` (label map -> photo: of the segmented output;
    photo -> label map: of the output's colours).
    """
    src, dst = ("A", "B") if direction == "AtoB" else ("B", "A")
    n = len(dataset) if max_items is None else min(max_items, len(dataset))
    if n == 0:
        raise ValueError("evaluate_paired got an empty dataset")
    outputs, targets, labels = [], [], []
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(n, start + batch_size))]
        x = torch.stack([it[src] for it in items])
        outputs.append(translate(x).float().cpu().clamp(-1, 1))
        targets.append(torch.stack([it[dst] for it in items]))
        if "labels" in items[0]:
            labels.append(torch.stack([it["labels"] for it in items]))
    out, target = torch.cat(outputs), torch.cat(targets)
    scores = {"l1": float((out - target).abs().mean())}
    scorer = _scorers(dataset)
    if scorer is not None and labels:
        photo_scorer, palette, num_classes = scorer
        true_labels = torch.cat(labels)
        if src == "A":  # label map -> photo: does the photo show the input's layout?
            scores.update(photo_scorer(out, true_labels))
        else:  # photo -> label map
            scores.update(segmentation_scores(labels_from_palette(out, palette), true_labels,
                                              num_classes))
    return scores


def _base_dataset(dataset):
    """The dataset under ``torch.utils.data.Subset`` wrappers (to recognise synthetic-zebras)."""
    while isinstance(dataset, torch.utils.data.Subset):
        dataset = dataset.dataset
    return dataset


@torch.no_grad()
def evaluate_unpaired(translate_AtoB: Callable[[Tensor], Tensor], dataset,
                      translate_BtoA: Callable[[Tensor], Tensor] | None = None,
                      batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
    """Translate the A side (and, with ``translate_BtoA``, the B side) of an unpaired ``dataset``
    and score the outputs against their own inputs.

    Args:
        translate_AtoB: maps a batch of A images (N, C, H, W) in [-1, 1] to B-domain images.
        dataset: items with "A" and "B" (and "mask_A", "mask_B" on ``synthetic-zebras``).
        translate_BtoA: the inverse mapping, if the method has one (CycleGAN's second
            generator); CUT and FastCUT translate one way only.
        max_items: evaluate only the first ``max_items`` items (quick checks in notebooks).

    On ``synthetic-zebras`` (horse = A, zebra = B) the keys are, per direction prefix
    ``AtoB_`` (horse -> zebra) and ``BtoA_`` (zebra -> horse), the numbers of
    ``score_zebras(inputs, outputs, input masks)``:

    * ``silhouette_iou``: the animal keeps its shape and place (1 = exactly);
    * ``background_preservation``: fraction of background pixels left unchanged;
    * ``zebra_rate``: fraction of outputs whose stripe score exceeds ``STRIPE_THRESHOLD``. The
      goal is high for A -> B; for B -> A it is low, so ``BtoA_horse_rate = 1 - BtoA_zebra_rate``
      is reported as well (high = good in every ``*_rate`` key that names the target domain);
    * ``stripe_score``: the mean stripe score.

    On any other dataset there is no way to judge the target domain without a trained
    classifier, so only what needs no ground truth is returned: ``AtoB_mean_abs_change`` (and
    ``BtoA_...``), the mean |output - input| in [-1, 1] units. It says how much a model changes
    its inputs (0 = the identity), not whether the change is right.
    """
    n = len(dataset) if max_items is None else min(max_items, len(dataset))
    if n == 0:
        raise ValueError("evaluate_unpaired got an empty dataset")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    from coursekit.data.synthetic.zebras import SyntheticZebras, score_zebras

    zebras = isinstance(_base_dataset(dataset), SyntheticZebras)
    directions = [("AtoB", "A", translate_AtoB)]
    if translate_BtoA is not None:
        directions.append(("BtoA", "B", translate_BtoA))
    inputs: dict[str, list[Tensor]] = {side: [] for _, side, _ in directions}
    outputs: dict[str, list[Tensor]] = {side: [] for _, side, _ in directions}
    masks: dict[str, list[Tensor]] = {side: [] for _, side, _ in directions}
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(n, start + batch_size))]
        for _, side, translate in directions:
            x = torch.stack([it[side] for it in items])
            y = translate(x).float().cpu().clamp(-1, 1)
            if y.shape != x.shape:
                raise ValueError(f"translating {side} images of shape {tuple(x.shape)} gave "
                                 f"{tuple(y.shape)}: an unpaired translation must keep the shape")
            inputs[side].append(x.float().cpu())
            outputs[side].append(y)
            if zebras:
                masks[side].append(torch.stack([it[f"mask_{side}"] for it in items]))
    scores: dict[str, float] = {}
    for name, side, _ in directions:
        x, y = torch.cat(inputs[side]), torch.cat(outputs[side])
        if zebras:
            # One call over the whole set: background preservation pools pixels over all items.
            result = score_zebras(x, y, torch.cat(masks[side]))
            if name == "BtoA":
                result["horse_rate"] = 1.0 - result["zebra_rate"]
        else:
            result = {"mean_abs_change": float((y - x).abs().mean())}
        scores.update({f"{name}_{key}": value for key, value in result.items()})
    return scores
