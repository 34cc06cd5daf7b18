"""Drawing primitives shared by the synthetic datasets.

Everything here is vectorised NumPy on float32 images of shape (H, W) or (H, W, 3)
with values in [0, 1], and every random choice is drawn from a ``numpy.random.Generator``
that the caller owns, so that a dataset item is a pure function of (seed, split, index).
Geometry is expressed in normalised coordinates (0..1 across the image), so one scene
looks the same at 32 px and at 256 px, only sharper.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "grid",
    "value_noise",
    "fractal_noise",
    "box_blur",
    "gaussian_blur",
    "to_tensor",
    "palette_image",
    "lerp",
]


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(y, x)`` in [0, 1], each of shape (size, size)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(c, c, indexing="ij")


def value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1]: a ``cells x cells`` lattice of random values,
    bicubically smoothed (smoothstep weights) up to ``size x size``."""
    cells = max(1, int(cells))
    lattice = rng.random((cells + 1, cells + 1), dtype=np.float32)
    t = (np.arange(size, dtype=np.float32) + 0.5) / size * cells
    i0 = np.minimum(t.astype(np.int64), cells - 1)
    f = t - i0
    f = f * f * (3.0 - 2.0 * f)  # smoothstep: C1-continuous across lattice cells
    a = lattice[i0][:, i0]
    b = lattice[i0][:, i0 + 1]
    c = lattice[i0 + 1][:, i0]
    d = lattice[i0 + 1][:, i0 + 1]
    fy, fx = f[:, None], f[None, :]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def fractal_noise(rng: np.random.Generator, size: int, base_cells: int = 4,
                  octaves: int = 4, persistence: float = 0.5) -> np.ndarray:
    """Sum of value-noise octaves (fBm), normalised to [0, 1]. Octaves finer than
    the pixel grid are skipped, so small images stay cheap."""
    total = np.zeros((size, size), dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    cells = base_cells
    for _ in range(octaves):
        if cells > size:
            break
        total += amplitude * value_noise(rng, size, cells)
        norm += amplitude
        amplitude *= persistence
        cells *= 2
    return total / max(norm, 1e-8)


def box_blur(img: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur with edge replication, via cumulative sums (O(HW))."""
    if radius <= 0:
        return img
    out = img
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis, dtype=np.float64)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = ((hi - lo) / (2 * radius + 1)).astype(np.float32)
    return out


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Approximate Gaussian blur: three box blurs (central-limit theorem)."""
    if sigma <= 0:
        return img
    # Box radius r has variance ((2r+1)^2 - 1) / 12; three passes add up.
    r = max(1, int(round((np.sqrt(4.0 * sigma * sigma + 1.0) - 1.0) / 2.0)))
    for _ in range(3):
        img = box_blur(img, r)
    return img


def lerp(a, b, t):
    """Linear interpolation ``a + t (b - a)``; broadcasts colours over masks."""
    return a + (b - a) * t


def palette_image(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Colour a class-index map with a ``(num_classes, 3)`` uint8 palette -> float [0, 1]."""
    return palette[labels].astype(np.float32) / 255.0


def to_tensor(img: np.ndarray):
    """(H, W, 3) float in [0, 1] -> (3, H, W) torch float tensor in [-1, 1]."""
    import torch

    arr = np.ascontiguousarray(np.clip(img, 0.0, 1.0).transpose(2, 0, 1))
    return torch.from_numpy(arr).mul_(2.0).sub_(1.0)
