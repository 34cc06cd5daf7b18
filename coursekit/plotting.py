"""The picture helpers every lecture and problem set uses: images as coursekit's tensors hold
them (channels first, values in [-1, 1]) drawn with matplotlib.

* :func:`to_rgb`: one ``(3, H, W)`` tensor in [-1, 1] -> an ``(H, W, 3)`` array in [0, 1] for
  ``imshow``;
* :func:`image_grid`: named batches side by side, one column per name, one row per image;
* :func:`show_images`: batches one above the other, one row per batch.

Both figure helpers return the figure and, by default, show it at once (so that it appears in
a notebook where it is drawn, between the cell's printed lines); a notebook cell that ends with
one of them ends it with ``;`` or the figure is displayed twice (once by ``plt.show()``, once as
the cell's value). pyplot is imported when a figure is drawn, not on import, so a problem set
graded without pictures never loads it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

__all__ = ["image_grid", "show_images", "to_rgb"]


def to_rgb(img: torch.Tensor) -> np.ndarray:
    """A ``(3, H, W)`` image tensor in [-1, 1] (any device or dtype, with or without a graph)
    -> a float32 ``(H, W, 3)`` numpy array in [0, 1] for ``imshow``; values outside [-1, 1]
    (a generator's overshoot) are clipped, as ``imshow`` would warn about them otherwise."""
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"to_rgb draws one (3, H, W) image, got shape {tuple(img.shape)}")
    return ((img.detach().float().cpu().permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy()


def image_grid(columns: Mapping[str, torch.Tensor], title: str | None = None, size: float = 1.5,
               interpolation: str | None = None, show: bool = True):
    """Draw ``columns`` (``{name: (N, 3, H, W) tensor in [-1, 1]}``, the same N for every name)
    as N rows by ``len(columns)`` columns, each column titled with its name; ``size`` inches
    per image, ``title`` above the whole grid. ``interpolation`` goes to ``imshow``
    (``"nearest"`` keeps label maps' class borders sharp). Returns the figure."""
    import matplotlib.pyplot as plt

    names = list(columns)
    if not names:
        raise ValueError("image_grid needs at least one column")
    rows = len(columns[names[0]])
    uneven = {name: len(images) for name, images in columns.items() if len(images) != rows}
    if uneven:
        raise ValueError(f"every column needs {rows} images (as {names[0]!r} has), got {uneven}")
    fig, axes = plt.subplots(rows, len(names), figsize=(size * len(names), size * rows),
                             squeeze=False)
    for c, name in enumerate(names):
        axes[0, c].set_title(name, fontsize=9)
        for r in range(rows):
            axes[r, c].imshow(to_rgb(columns[name][r]), interpolation=interpolation)
            axes[r, c].axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if show:
        plt.show()
    return fig


def show_images(rows: Sequence[torch.Tensor], titles: Sequence[str], size: float = 2.0,
                show: bool = True):
    """Draw ``rows`` (a list of ``(N, 3, H, W)`` tensors in [-1, 1], the same N for each) one
    figure row each, N images across, each row's ``titles`` entry above its first image;
    ``size`` inches per image. Returns the figure."""
    import matplotlib.pyplot as plt

    if len(rows) != len(titles):
        raise ValueError(f"one title per row: {len(rows)} rows, {len(titles)} titles")
    n = rows[0].shape[0]
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n, size * len(rows)), squeeze=False)
    for r, (images, title) in enumerate(zip(rows, titles)):
        if images.shape[0] != n:
            raise ValueError(f"every row needs {n} images (as the first has), row {r} has "
                             f"{images.shape[0]}")
        for i in range(n):
            axes[r, i].imshow(to_rgb(images[i]))
            axes[r, i].axis("off")
        axes[r, 0].set_title(title, loc="left")
    if show:
        plt.show()
    return fig
