"""Scores that know nothing about any one dataset: label-map agreement and sample statistics.

The synthetic datasets build their ground-truth scorers from these (each dataset's ``score``
method), and :mod:`coursekit.data.evaluation` aggregates them over a test set. This module
imports nothing else from coursekit, so any module may use it without an import cycle.

* :func:`segmentation_scores`: the FCN-score's three numbers for a predicted label map;
* :func:`labels_from_palette`: the class of each pixel of a colour label image;
* :func:`mean_pairwise_distance`: how different several outputs for one input are;
* :func:`mode_histogram` and :func:`total_variation`: which of the data's true modes a
  multimodal generator produces, and how far their frequencies are from the data's;
* :func:`nearest_distances`: how close the samples come to each true answer, and each true
  answer to the samples;
* :func:`gaussian_blur`: the smoothing the scorers share.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["segmentation_scores", "labels_from_palette", "mean_pairwise_distance",
           "mode_histogram", "total_variation", "nearest_distances", "gaussian_blur"]


def gaussian_blur(x: Tensor, sigma: float, axes: str = "yx") -> Tensor:
    """Separable Gaussian blur of (N, C, H, W) along ``axes`` ("x", "y" or "yx"), sigma in
    pixels, edges replicated (so a blurred border keeps its colour); sigma <= 0: unchanged.
    The scorers' smoothing (stripe contrast, texture detail, local thresholds)."""
    if sigma <= 0:
        return x
    radius = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    k = (k / k.sum()).to(x)
    c = x.shape[1]
    if "x" in axes:
        x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"),
                     k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    if "y" in axes:
        x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"),
                     k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x


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
    colours = torch.tensor(np.asarray(palette), dtype=torch.float32, device=images.device) / 127.5 - 1.0
    dist = ((images.unsqueeze(1) - colours[None, :, :, None, None]) ** 2).sum(2)
    return dist.argmin(1)


def mean_pairwise_distance(samples: Tensor) -> float:
    """Diversity of several outputs per input: samples (S, N, C, H, W), S >= 2 outputs for each
    of N inputs, in [-1, 1].

    The mean absolute difference per pixel and channel between two different samples of the
    same input, averaged over the S(S-1)/2 pairs and the N inputs: 0 when a generator ignores
    its noise (BicycleGAN's "mode collapse"), about 0.67 for two independent uniform noise
    images. BicycleGAN §4 measures the same with LPIPS instead of L1.
    """
    if samples.ndim != 5 or samples.shape[0] < 2:
        raise ValueError(f"samples must have shape (S, N, C, H, W) with S >= 2 samples per "
                         f"input, got {tuple(samples.shape)}")
    s = samples.shape[0]
    total = samples.new_zeros(())
    for i in range(s):  # a loop over pairs keeps memory at two sample sets
        for j in range(i + 1, s):
            total = total + (samples[i] - samples[j]).abs().mean()
    return float(total / (s * (s - 1) / 2))


def mode_histogram(modes: Tensor, num_modes: int) -> Tensor:
    """Frequencies (num_modes,) summing to 1 of mode indices ``modes`` (any shape)."""
    modes = torch.as_tensor(modes).reshape(-1).long().cpu()
    if modes.numel() == 0:
        raise ValueError("mode_histogram needs at least one mode index")
    if int(modes.min()) < 0 or int(modes.max()) >= num_modes:
        raise ValueError(f"mode indices must be 0..{num_modes - 1}, got "
                         f"{int(modes.min())}..{int(modes.max())}")
    return torch.bincount(modes, minlength=num_modes).double() / modes.numel()


def total_variation(p: Tensor, q: Tensor) -> float:
    """Total variation distance between two distributions over the same modes:
    TV(p, q) = 1/2 sum_k |p_k - q_k|, in [0, 1] (0 = the same frequencies, 1 = disjoint)."""
    p, q = torch.as_tensor(p).double().reshape(-1), torch.as_tensor(q).double().reshape(-1)
    if p.shape != q.shape:
        raise ValueError(f"distributions over different numbers of modes: {p.numel()} and "
                         f"{q.numel()}")
    for name, d in (("p", p), ("q", q)):
        if (d < 0).any() or abs(float(d.sum()) - 1.0) > 1e-6:  # 1e-6: float sums of frequencies
            raise ValueError(f"{name} must be non-negative frequencies summing to 1, got "
                             f"{d.tolist()}")
    return float(0.5 * (p - q).abs().sum())


def nearest_distances(samples: Tensor, targets: Tensor) -> tuple[float, float]:
    """Recall and precision distances between samples (S, N, C, H, W), S outputs for each of
    N inputs, and targets (N, K, C, H, W), the K true answers for each input, in [-1, 1].

    With d(a, b) the mean absolute difference per pixel and channel:

        recall    = mean over inputs n and targets k of min_s d(targets[n, k], samples[s, n])
        precision = mean over inputs n and samples s of min_k d(samples[s, n], targets[n, k])

    Lower is better in both: recall is large when some true answer has no sample near it
    (missed modes), precision when some sample is near no true answer (invented images).
    """
    if samples.ndim != 5 or targets.ndim != 5 or samples.shape[1] != targets.shape[0] or (
            samples.shape[2:] != targets.shape[2:]):
        raise ValueError(f"samples must be (S, N, C, H, W) and targets (N, K, C, H, W) with "
                         f"the same N, C, H, W; got {tuple(samples.shape)} and "
                         f"{tuple(targets.shape)}")
    pixels = samples[0, 0].numel()
    # (N, K, S): every target of an input against every sample of it, one input at a time so
    # that memory stays at one input's images.
    d = torch.stack([torch.cdist(targets[n].flatten(1), samples[:, n].flatten(1), p=1)
                     for n in range(targets.shape[0])]) / pixels
    return float(d.min(2).values.mean()), float(d.min(1).values.mean())
