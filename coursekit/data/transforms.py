"""Image preprocessing for folder datasets, with the options of the reference implementation.

The pix2pix / CycleGAN reference code (junyanz/pytorch-CycleGAN-and-pix2pix) offers these
``preprocess`` modes, and coursekit keeps their meaning so that results can be compared:

====================  ==========================================================================
``resize_and_crop``   resize to ``load_size x load_size``, then a random ``crop_size`` square
                      (defaults 286 and 256: the papers' "random jitter")
``crop``              a random ``crop_size`` square of the image at its own size
``scale_width``       width to ``load_size``, height scaled to keep the aspect ratio (but never
                      below ``crop_size``); no crop
``scale_width_and_crop``  ``scale_width``, then a random ``crop_size`` square
``none``              no resizing, except that width and height are rounded to the nearest
                      multiple of 4 (so that strided networks see whole feature maps)
====================  ==========================================================================

plus a random horizontal flip (``flip=True``).

**Pairs are transformed identically.** :class:`PairTransform` draws the random parameters
(crop position, flip) once per item and applies them to every image it is given, so A and B
of a pix2pix pair stay pixel-aligned. The random numbers come from ``torch``'s global
generator: seeding it (``torch.manual_seed``) or saving and restoring its state makes the
data pipeline reproducible, which is what the training loop relies on to resume exactly.
(In a ``DataLoader`` with workers, PyTorch seeds each worker's torch generator from the main
process, so this holds there too.)

Outputs are float32 tensors ``(3, H, W)`` in [-1, 1], the format of ``docs/CONTRACTS.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

__all__ = ["PREPROCESS_MODES", "PairParams", "PairTransform", "to_tensor"]

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")

# 'none' still rounds sizes to a multiple of this (as the reference does), because the
# generators downsample by powers of two and a ragged size breaks the skip connections.
_SIZE_MULTIPLE = 4


@dataclass(frozen=True)
class PairParams:
    """The random choices for one item: shared by every image of a pair.

    Attributes:
        crop_xy: top-left corner ``(x, y)`` of the crop in the *resized* image, or ``None``
            when the mode does not crop.
        flip: mirror left-right.
    """

    crop_xy: tuple[int, int] | None
    flip: bool


def to_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB PIL image as a float32 ``(3, H, W)`` tensor in [-1, 1] (0 -> -1, 255 -> 1)."""
    if img.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {img.mode!r}; convert it first "
                         "(coursekit.data.folders.load_rgb does)")
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


class PairTransform:
    """Resize / crop / flip one image or several images identically, then convert to tensors.

    Args:
        preprocess: one of :data:`PREPROCESS_MODES`.
        load_size: size images are first scaled to (``resize_and_crop``: both sides;
            ``scale_width*``: the width). Ignored by ``crop`` and ``none``.
        crop_size: side of the random square crop; also the minimum height of ``scale_width``.
        flip: randomly mirror left-right (probability 1/2).
        random_crop: crop at a random position (training jitter); False crops the centre, so
            that evaluation sees the same pixels in every run.
        resample: PIL resampling filter (bicubic, like the reference).

    Call it with one or more PIL images of the same size; it returns a list of tensors::

        t = PairTransform("resize_and_crop", load_size=286, crop_size=256)
        a, b = t(img_a, img_b)     # same crop, same flip
    """

    def __init__(self, preprocess: str = "resize_and_crop", load_size: int = 286,
                 crop_size: int = 256, flip: bool = True, *, random_crop: bool = True,
                 resample: int = Image.Resampling.BICUBIC) -> None:
        if preprocess not in PREPROCESS_MODES:
            raise ValueError(f"preprocess={preprocess!r} is not a known mode; use one of "
                             f"{', '.join(PREPROCESS_MODES)}")
        for label, value in (("load_size", load_size), ("crop_size", crop_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive int, got {value!r}")
        if preprocess in ("resize_and_crop", "scale_width_and_crop") and crop_size > load_size:
            raise ValueError(
                f"crop_size={crop_size} is larger than load_size={load_size}: with "
                f"preprocess={preprocess!r} the image is scaled to load_size before cropping, "
                "so crop_size must be <= load_size (the papers use 286 and 256)")
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = bool(flip)
        self.random_crop = bool(random_crop)
        self.resample = resample

    def __repr__(self) -> str:
        return (f"PairTransform(preprocess={self.preprocess!r}, load_size={self.load_size}, "
                f"crop_size={self.crop_size}, flip={self.flip}, random_crop={self.random_crop})")

    # -- geometry ---------------------------------------------------------------------------
    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """``(w, h)`` after the resize step (before any crop) for an input of that size."""
        mode = self.preprocess
        if mode == "resize_and_crop":
            return self.load_size, self.load_size
        if mode in ("scale_width", "scale_width_and_crop"):
            # Keep the aspect ratio, but never go below crop_size in height, so that a
            # following crop always fits (the reference does the same).
            return self.load_size, max(int(self.load_size * height / width), self.crop_size)
        if mode == "none":
            return (max(_SIZE_MULTIPLE, int(round(width / _SIZE_MULTIPLE)) * _SIZE_MULTIPLE),
                    max(_SIZE_MULTIPLE, int(round(height / _SIZE_MULTIPLE)) * _SIZE_MULTIPLE))
        return width, height  # "crop": no resize

    def _crops(self) -> bool:
        return self.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """``(w, h)`` of the tensors produced for an input of that size."""
        if self._crops():
            return self.crop_size, self.crop_size
        return self.resized_size(width, height)

    # -- randomness -------------------------------------------------------------------------
    def draw_params(self, width: int, height: int) -> PairParams:
        """Draw the crop position and the flip for an input of this size from torch's global
        generator (in that order: x, y, flip; only the ones the mode uses)."""
        crop_xy = None
        if self._crops():
            rw, rh = self.resized_size(width, height)
            if rw < self.crop_size or rh < self.crop_size:
                raise ValueError(
                    f"an image of {width}x{height} px is smaller than crop_size={self.crop_size} "
                    f"with preprocess={self.preprocess!r}; use a smaller crop_size or "
                    "preprocess='resize_and_crop', which scales images up first")
            if self.random_crop:
                # randint's upper bound is exclusive: +1 makes the last position reachable.
                x = int(torch.randint(0, rw - self.crop_size + 1, (1,)).item())
                y = int(torch.randint(0, rh - self.crop_size + 1, (1,)).item())
            else:
                x, y = (rw - self.crop_size) // 2, (rh - self.crop_size) // 2
            crop_xy = (x, y)
        flip = bool(torch.rand(()).item() < 0.5) if self.flip else False
        return PairParams(crop_xy=crop_xy, flip=flip)

    # -- application ------------------------------------------------------------------------
    def apply_pil(self, img: Image.Image, params: PairParams,
                  resample: int | None = None) -> Image.Image:
        """Apply resize, crop and flip with the given parameters (no randomness here).

        ``resample`` overrides the transform's filter for this image: class-index label maps
        are resized with ``Image.Resampling.NEAREST`` (an interpolated id is no class), their
        photo with the transform's own filter, under the same ``params``."""
        size = self.resized_size(*img.size)
        if size != img.size:
            img = img.resize(size, self.resample if resample is None else resample)
        if params.crop_xy is not None:
            x, y = params.crop_xy
            img = img.crop((x, y, x + self.crop_size, y + self.crop_size))
        if params.flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img

    def apply(self, img: Image.Image, params: PairParams) -> torch.Tensor:
        """:meth:`apply_pil`, then :func:`to_tensor`."""
        return to_tensor(self.apply_pil(img, params))

    def __call__(self, *images: Image.Image) -> list[torch.Tensor]:
        """Transform the images with one draw of random parameters (they must share a size)."""
        if not images:
            raise TypeError("PairTransform needs at least one image")
        sizes = [im.size for im in images]
        if len(set(sizes)) != 1:
            listed = " and ".join(f"{w}x{h}" for w, h in sizes)
            raise ValueError(
                "the images of a pair must have the same size to be cropped and flipped "
                f"identically, got {listed}; resize them to a common size first")
        params = self.draw_params(*images[0].size)
        return [self.apply(im, params) for im in images]
