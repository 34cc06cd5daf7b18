"""Drawing primitives shared by the synthetic datasets.

Everything here is vectorised NumPy on float32 images of shape (H, W) or (H, W, 3)
with values in [0, 1], and every random choice is drawn from a ``numpy.random.Generator``
that the caller owns, so that a dataset item is a pure function of (seed, split, index).
Geometry is expressed in normalised coordinates (0..1 across the image), so one scene
looks the same at 32 px and at 256 px, only sharper.
"""
from __future__ import annotations

import functools

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
    "smoothstep",
    "value_noise_rect",
    "fractal_noise_fast",
    "fractal_noise_1d",
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


def smoothstep(edge0, edge1, x):
    """Hermite step: 0 below ``edge0``, 1 above ``edge1``, C1-smooth in between.

    ``edge0 > edge1`` gives the falling step. Used for soft (anti-aliased) edges: pass edges
    one pixel apart and a shape's boundary is blended over about one pixel.
    """
    t = np.clip((np.asarray(x, dtype=np.float32) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@functools.lru_cache(maxsize=128)
def _smooth_interp_matrix(size: int, cells: int) -> np.ndarray:
    """(size, cells + 1) weights that smoothstep-interpolate a lattice row onto pixel centres."""
    t = (np.arange(size, dtype=np.float64) + 0.5) / size * cells
    i0 = np.minimum(t.astype(np.int64), cells - 1)
    f = t - i0
    f = f * f * (3.0 - 2.0 * f)
    w = np.zeros((size, cells + 1), dtype=np.float32)
    rows = np.arange(size)
    w[rows, i0] = 1.0 - f
    w[rows, i0 + 1] = f
    w.setflags(write=False)  # shared by every call through the cache
    return w


def value_noise_rect(rng: np.random.Generator, size: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Like :func:`value_noise` but with a different number of lattice cells along y and x,
    e.g. few cells along y and many along x give vertical streaks (grass blades).

    Computed as ``Wy @ lattice @ Wx.T`` with cached interpolation matrices, which is several
    times faster than gathering at small sizes; same lattice draws as :func:`value_noise`
    when ``cells_y == cells_x``.
    """
    cy, cx = max(1, int(cells_y)), max(1, int(cells_x))
    lattice = rng.random((cy + 1, cx + 1), dtype=np.float32)
    return _smooth_interp_matrix(size, cy) @ lattice @ _smooth_interp_matrix(size, cx).T


def fractal_noise_fast(rng: np.random.Generator, size: int, base_cells: int = 4,
                       octaves: int = 4, persistence: float = 0.5) -> np.ndarray:
    """:func:`fractal_noise` built from :func:`value_noise_rect` octaves (faster; equal
    statistics, not equal values)."""
    total = np.zeros((size, size), dtype=np.float32)
    amplitude, norm, cells = 1.0, 0.0, max(1, int(base_cells))
    for _ in range(octaves):
        if cells > size:
            break
        total += amplitude * value_noise_rect(rng, size, cells, cells)
        norm += amplitude
        amplitude *= persistence
        cells *= 2
    return total / max(norm, 1e-8)


def fractal_noise_1d(rng: np.random.Generator, n: int, base_cells: int = 4, octaves: int = 5,
                     persistence: float = 0.5) -> np.ndarray:
    """A 1-D fBm profile of ``n`` samples in [0, 1] (e.g. a mountain skyline across the image).

    Octaves with more cells than samples are skipped, like :func:`fractal_noise`.
    """
    total = np.zeros(n, dtype=np.float32)
    amplitude, norm, cells = 1.0, 0.0, max(1, int(base_cells))
    for _ in range(octaves):
        if cells > n:
            break
        lattice = rng.random(cells + 1, dtype=np.float32)
        total += amplitude * (_smooth_interp_matrix(n, cells) @ lattice)
        norm += amplitude
        amplitude *= persistence
        cells *= 2
    return total / max(norm, 1e-8)
