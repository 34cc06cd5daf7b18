"""Wrong answers that look right to a score: the outputs every ground-truth scorer in coursekit
is tested against (``tests/``, ``benchmarks/evaluators.py``).

A score is only as good as what it cannot be fooled by. A stripe detector that measures
contrast also "sees" stripes in noise; a segmenter that thresholds colour also "finds" an
animal in speckle. Each function here makes one such impostor, inside a mask (the animal, the
facade) or over whole images, for images (N, 3, H, W) in [-1, 1]:

* :func:`pixel_noise`: independent noise per pixel, grey or coloured;
* :func:`speckle`: random flat cells of ``cell`` px, grey (black and white) or coloured: the
  blotchy coats an undertrained generator paints;
* :func:`checkerboard`: black and white squares: contrast at every scale, no orientation;
* :func:`paste`: put any of these into a region of real images;
* blurs come from :func:`coursekit.data.metrics.gaussian_blur`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["pixel_noise", "speckle", "checkerboard", "paste"]


def pixel_noise(n: int, size: int, colour: bool, generator: torch.Generator,
                std: float = 0.5) -> Tensor:
    """(n, 3, size, size) Gaussian noise around mid-grey, ``std`` in [-1, 1] units, clipped at
    2 std; the same value in the three channels unless ``colour``."""
    channels = 3 if colour else 1
    x = torch.randn(n, channels, size, size, generator=generator).clamp(-2, 2) * std
    return x.expand(n, 3, size, size).clone()


def speckle(n: int, size: int, cell: int, colour: bool, generator: torch.Generator) -> Tensor:
    """(n, 3, size, size) flat square cells of ``cell`` px: uniform random colours, or, unless
    ``colour``, black or white at random (the grey is 0.85 away from mid-grey: no clipping)."""
    cells = -(-size // cell)
    if colour:
        small = torch.rand(n, 3, cells, cells, generator=generator) * 2 - 1
    else:
        small = ((torch.rand(n, 1, cells, cells, generator=generator) > 0.5).float() * 1.7
                 - 0.85).expand(n, 3, cells, cells)
    return F.interpolate(small, scale_factor=cell, mode="nearest")[..., :size, :size].clone()


def checkerboard(n: int, size: int, cell: int) -> Tensor:
    """(n, 3, size, size) black-and-white squares of ``cell`` px (grey levels -0.85 and 0.85)."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    board = (((yy // cell) + (xx // cell)) % 2).float() * 1.7 - 0.85
    return board.expand(n, 3, size, size).clone()


def paste(images: Tensor, pattern: Tensor, masks: Tensor) -> Tensor:
    """``images`` with ``pattern`` where ``masks`` (N, 1, H, W) is 1 (blended where between)."""
    if pattern.shape != images.shape or masks.shape != (images.shape[0], 1, *images.shape[2:]):
        raise ValueError(f"pattern {tuple(pattern.shape)} and masks {tuple(masks.shape)} must "
                         f"match images {tuple(images.shape)} (masks with one channel)")
    return images * (1 - masks) + pattern * masks
