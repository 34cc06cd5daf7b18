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
