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
  since a blurry average scores well on it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["segmentation_scores", "labels_from_palette", "evaluate_paired"]


def segmentation_scores(pred: Tensor, target: Tensor, num_classes: int) -> dict[str, float]:
    """Pixel accuracy, mean class accuracy and mean class IoU of a predicted label map.

    With n_ij = pixels of true class i predicted as j and t_i = sum_j n_ij (the standard
    Cityscapes/FCN definitions; CyCADA §3.4.3):

        pixel_accuracy = sum_i n_ii / sum_i t_i
        class_accuracy = mean_i n_ii / t_i
        class_iou      = mean_i n_ii / (t_i + sum_j n_ji - n_ii)

    Means run over the classes present in ``target``, so a class absent from the ground truth
    neither helps nor hurts.
    """
    if pred.shape != target.shape:
        raise ValueError(f"predicted labels {tuple(pred.shape)} and true labels "
                         f"{tuple(target.shape)} must have the same shape")
    pred = pred.reshape(-1).long().cpu()
    target = target.reshape(-1).long().cpu()
    if target.numel() == 0:
        raise ValueError("segmentation_scores needs at least one pixel")
    confusion = torch.bincount(target * num_classes + pred.clamp(0, num_classes - 1),
                               minlength=num_classes**2).reshape(num_classes, num_classes).double()
    hits = confusion.diag()
    true_count = confusion.sum(1)
    pred_count = confusion.sum(0)
    present = true_count > 0
    union = true_count + pred_count - hits
    return {
        "pixel_accuracy": float(hits.sum() / true_count.sum()),
        "class_accuracy": float((hits[present] / true_count[present]).mean()),
        "class_iou": float((hits[present] / union[present]).mean()),
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
