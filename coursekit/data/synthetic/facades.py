"""Synthetic building facades: label map <-> photo, an offline stand-in for CMP Facades.

pix2pix's *facades* task translates a colour-coded label map (wall, windows, door, ...) into a
photo of a building, and back. This module renders such pairs procedurally, with a known
ground truth, so that what a model has learned can be *measured* on a CPU in minutes:

* :class:`SyntheticFacades` -- the dataset. Item ``i`` is a pure function of
  ``(seed, split, i)``: a random facade layout (floors, a grid of windows, a door, sometimes a
  shop front, balconies, cornices, a roof, sky at the sides or top) rendered as a label image
  ``"A"`` and as a photo ``"B"`` in one of :data:`FACADE_STYLES` (wall material, colour and
  lighting). :meth:`SyntheticFacades.render` draws the *same* layout in any style: one label
  map has several correct photos, as in real data.
* :func:`segment_facades`, :func:`classify_facade_style` and :func:`score_facades` -- a
  ground-truth evaluator that needs no pretrained network: our analogue of pix2pix's
  FCN-score (segment a generated photo and compare the result with the input labels), and
  per photo :func:`photo_pixel_accuracy` (:meth:`SyntheticFacades.faithful`)::

      test = SyntheticFacades("test", size=64)
      batch = [test[i] for i in range(len(test))]
      fake = generator(torch.stack([b["A"] for b in batch]))     # your labels -> photo model
      score_facades(fake, torch.stack([b["labels"] for b in batch]))
      # {'pixel_accuracy': ..., 'class_accuracy': ..., 'class_iou': ...}

Why a real generator is needed: the photo is not a per-pixel function of the label. Walls
have brick courses, stone blocks or plaster grain; shading depends on the style's light
direction and on the geometry (shadows cast under cornices, balconies and window heads, dark
window reveals); every window reflects a different amount of sky; colours vary per building.
A per-class colour map reproduces none of that (see the tests).

All geometry is in normalised image coordinates (0..1, y down), so a layout looks the same at
32 px and at 256 px, only sharper. Edges and fine periodic structure (mortar joints, railings)
are anti-aliased by integrating over each pixel's footprint, so nothing flickers or moires
between sizes.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import torch

from coursekit.data.metrics import labels_from_palette, segmentation_scores
from coursekit.data.synthetic.base import (MAX_SIZE, MIN_SIZE, SyntheticDataset, check_size,
                                           item_rng)


__all__ = [
    "FACADE_CLASSES",
    "FACADE_PALETTE",
    "FACADE_STYLES",
    "SyntheticFacades",
    "FacadeLayout",
    "render_labels",
    "render_photo",
    "label_image",
    "segment_facades",
    "classify_facade_style",
    "score_facades",
    "photo_pixel_accuracy",
    "FAITHFUL_PIXEL_ACCURACY",
    "UNRECOGNISED",
]


#: Semantic classes, in label-index order. "background" is the sky / surroundings.
FACADE_CLASSES: tuple[str, ...] = (
    "background", "wall", "window", "door", "balcony", "cornice", "roof", "shop",
)
BACKGROUND, WALL, WINDOW, DOOR, BALCONY, CORNICE, ROOF, SHOP = range(len(FACADE_CLASSES))

#: Label-image colours, one row per class: the "jet" colour map sampled at k / 7, the scheme
#: of the CMP Facades label images (dark blue background, blue wall, ... dark red last).
FACADE_PALETTE: np.ndarray = np.array(
    [
        [0, 0, 128],  # background
        [0, 18, 255],  # wall
        [0, 164, 255],  # window
        [55, 255, 200],  # door
        [200, 255, 55],  # balcony
        [255, 164, 0],  # cornice
        [255, 18, 0],  # roof
        [128, 0, 0],  # shop
    ],
    dtype=np.uint8,
)
FACADE_PALETTE.setflags(write=False)


@dataclass(frozen=True)
class _Style:
    """One photo style: wall material, the colours of every element, and the lighting."""

    name: str
    material: str  # "brick" | "plaster" | "stone" | "stucco"
    wall: tuple[float, float, float]
    joint: tuple[float, float, float]  # mortar / stone joints (unused by plaster and stucco)
    cornice: tuple[float, float, float]
    frame: tuple[float, float, float]
    door: tuple[float, float, float]
    roof: tuple[float, float, float]
    iron: tuple[float, float, float]  # balcony railings
    sky_top: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    light: tuple[float, float, float]  # colour of the direct light
    light_x: float  # -1: the light comes from the left, +1: from the right
    elevation: float  # tan(sun elevation): how far overhang shadows fall down the wall
    ambient: float  # share of diffuse light (never shadowed)
    direct: float  # share of direct light (shadowed by overhangs and window reveals)
    clouds: float  # 0 clear sky .. 1 overcast
    lit_windows: float  # probability that a window shows a lit room (evening)


_STYLES: tuple[_Style, ...] = (
    _Style("red brick, morning sun", "brick",
           wall=(0.60, 0.26, 0.17), joint=(0.80, 0.76, 0.68), cornice=(0.88, 0.84, 0.74),
           frame=(0.93, 0.93, 0.90), door=(0.10, 0.30, 0.20), roof=(0.28, 0.30, 0.35),
           iron=(0.10, 0.10, 0.11), sky_top=(0.40, 0.60, 0.90), sky_horizon=(0.92, 0.84, 0.74),
           light=(1.06, 0.96, 0.82), light_x=-1.0, elevation=0.45, ambient=0.45, direct=0.62,
           clouds=0.25, lit_windows=0.0),
    _Style("white plaster, overcast", "plaster",
           wall=(0.90, 0.87, 0.78), joint=(0.80, 0.77, 0.70), cornice=(0.66, 0.62, 0.55),
           frame=(0.20, 0.32, 0.24), door=(0.38, 0.24, 0.13), roof=(0.24, 0.26, 0.30),
           iron=(0.16, 0.18, 0.17), sky_top=(0.58, 0.63, 0.70), sky_horizon=(0.76, 0.79, 0.83),
           light=(0.96, 0.98, 1.02), light_x=0.3, elevation=0.9, ambient=0.85, direct=0.20,
           clouds=1.0, lit_windows=0.0),
    _Style("grey stone, evening", "stone",
           wall=(0.56, 0.56, 0.54), joint=(0.33, 0.32, 0.31), cornice=(0.82, 0.79, 0.72),
           frame=(0.16, 0.15, 0.14), door=(0.40, 0.12, 0.10), roof=(0.19, 0.20, 0.24),
           iron=(0.07, 0.07, 0.08), sky_top=(0.28, 0.26, 0.50), sky_horizon=(0.98, 0.62, 0.40),
           light=(1.10, 0.86, 0.66), light_x=1.0, elevation=0.25, ambient=0.38, direct=0.68,
           clouds=0.35, lit_windows=0.3),
    _Style("yellow stucco, noon", "stucco",
           wall=(0.87, 0.70, 0.33), joint=(0.80, 0.66, 0.34), cornice=(0.95, 0.94, 0.90),
           frame=(0.95, 0.95, 0.93), door=(0.12, 0.20, 0.42), roof=(0.66, 0.31, 0.19),
           iron=(0.12, 0.11, 0.10), sky_top=(0.14, 0.34, 0.80), sky_horizon=(0.55, 0.72, 0.95),
           light=(1.04, 1.02, 0.96), light_x=0.35, elevation=1.4, ambient=0.40, direct=0.70,
           clouds=0.1, lit_windows=0.0),
)

#: Names of the photo styles; an item's ``"style"`` is an index into this tuple.
FACADE_STYLES: tuple[str, ...] = tuple(s.name for s in _STYLES)

# Internal split whose items calibrate the scorer; it never appears in train or test.
_CALIBRATION = 2
# Separate random streams of one item: the layout must not depend on the style it is drawn in.
_LAYOUT_STREAM, _STYLE_STREAM, _LOOK_STREAM = 0, 1, 2

# Shop signs are the one colour a building owner picks freely: any style, any of these.
_SIGN_COLOURS = np.array([[0.08, 0.26, 0.16], [0.48, 0.08, 0.10], [0.10, 0.12, 0.32],
                          [0.07, 0.07, 0.07], [0.86, 0.84, 0.78]], dtype=np.float32)



# --------------------------------------------------------------------------------------------
# Layout: everything geometric, in normalised coordinates, independent of size and style.
# --------------------------------------------------------------------------------------------
MIN_FLOOR_HEIGHT = 0.12  # of the image height: lower floors would have windows a few px tall
MAX_COLUMNS = 10  # window columns; more would make 64-px windows narrower than 3 px


@dataclass
class FacadeLayout:
    """The geometry of one facade, in normalised image coordinates (0..1, y down).

    Get one from a dataset item (``SyntheticFacades.layout(i)``), edit it with the ``with_*``
    methods (each returns a new layout and leaves this one unchanged) and draw it with
    :func:`render_labels` / :func:`label_image` or, in any style, :func:`render_photo`.
    Floors are numbered from the top (0) to the ground floor (``floors - 1``), window
    columns from the left.
    """

    bx0: float  # building's left and right edges (beyond 0 / 1 when it fills the frame)
    bx1: float
    roof_top: float  # top of the roof (== cornice_top when there is no visible roof)
    roof_slope: float  # how far the roof's sides step in per unit of height (mansard look)
    cornice_top: float
    wall_top: float  # bottom of the main cornice
    floor_y: np.ndarray  # (n + 1,) floor boundaries, top to bottom; the last floor is the ground
    win_top: np.ndarray  # (n,) window spans on each floor
    win_bottom: np.ndarray
    col_x: np.ndarray  # (c,) window-column centres
    pitch: float
    win_w: float
    mullions: int  # 0 none, 1 a vertical bar, 2 a cross
    door_col: int | None  # None: no door
    door_w: float
    door_top: float
    shop_top: float | None  # None: the ground floor has ordinary windows
    balcony_top: np.ndarray  # (n,) top of the balcony railing on each floor, NaN for none
    balcony_continuous: bool
    courses: np.ndarray  # (k, 2) string courses (cornice bands between floors): top, bottom
    lintels: np.ndarray  # (n,) bool: a small cornice above every window of that floor
    window_mask: np.ndarray | None = None  # (n, c) bool: which windows exist; None = all

    def __post_init__(self):
        # float32 arrays and plain Python scalars, so that rendering stays in float32 (a NumPy
        # float64 scalar would silently promote every image it touches).
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                setattr(self, name, value.astype(np.float32))
            elif isinstance(value, np.floating):
                setattr(self, name, float(value))
        if self.window_mask is not None:
            mask = np.asarray(self.window_mask, dtype=bool)
            if mask.shape != (self.floors, self.columns):
                raise ValueError(f"window_mask must have shape (floors, columns) = "
                                 f"{(self.floors, self.columns)}, got {mask.shape}")
            self.window_mask = mask

    # ---- what the layout holds ---------------------------------------------------------------
    @property
    def floors(self) -> int:
        """Number of floors, the ground floor included."""
        return len(self.floor_y) - 1

    @property
    def columns(self) -> int:
        """Number of window columns."""
        return len(self.col_x)

    @property
    def windows(self) -> np.ndarray:
        """(floors, columns) bool: where a window may be drawn. On the ground floor the door
        and a shop front take precedence over windows."""
        if self.window_mask is None:
            return np.ones((self.floors, self.columns), dtype=bool)
        return self.window_mask.copy()

    @property
    def balconies(self) -> np.ndarray:
        """(floors,) bool: which floors have a balcony (never the ground floor)."""
        return ~np.isnan(self.balcony_top)

    # ---- edits: each returns a new layout ----------------------------------------------------
    def _fractions(self) -> tuple[float, float, float]:
        """Typical window top / bottom as fractions of an upper floor's height, and the
        balcony railing's height as a fraction of its floor (the sampler's ranges when the
        layout has no example to measure)."""
        h = np.diff(self.floor_y)
        upper = np.arange(self.floors - 1)
        tops = (self.win_top[upper] - self.floor_y[upper]) / h[upper]
        plain = upper[np.isnan(self.balcony_top[upper])]
        bottoms = (self.win_bottom[plain] - self.floor_y[plain]) / h[plain]
        rails = (self.floor_y[upper + 1] - self.balcony_top[upper]) / h[upper]
        rails = rails[~np.isnan(rails)]
        return (float(np.median(tops)) if tops.size else 0.25,
                float(np.median(bottoms)) if bottoms.size else 0.79,
                float(np.median(rails)) if rails.size else 0.31)

    def _check_floor(self, floor, what: str, upper_only: bool = False) -> int:
        last = self.floors - (2 if upper_only else 1)
        if isinstance(floor, bool) or not isinstance(floor, (int, np.integer)) or not (
                0 <= floor <= last):
            where = "an upper floor" if upper_only else "a floor"
            raise ValueError(f"{what}: floor must be {where}, 0 (top) .. {last}, got {floor!r}"
                             + (" (the ground floor has no balcony)" if upper_only else ""))
        return int(floor)

    def _check_column(self, column, what: str) -> int:
        if isinstance(column, bool) or not isinstance(column, (int, np.integer)) or not (
                0 <= column < self.columns):
            raise ValueError(f"{what}: column must be 0 (left) .. {self.columns - 1}, "
                             f"got {column!r}")
        return int(column)

    def with_floors(self, floors: int) -> "FacadeLayout":
        """The same building with ``floors`` floors over the same wall height. Floors are
        added or removed at the top; the lower floors keep their windows and balconies, new
        floors get a full row of windows and no balcony."""
        most = int((1.0 - self.wall_top) / MIN_FLOOR_HEIGHT)
        if isinstance(floors, bool) or not isinstance(floors, (int, np.integer)) or not (
                2 <= floors <= most):
            raise ValueError(f"floors must be an int from 2 to {most} for this building (each "
                             f"floor at least {MIN_FLOOR_HEIGHT:.0%} of the image), got {floors!r}")
        n, old_n = int(floors), self.floors
        top_frac, bottom_frac, rail_frac = self._fractions()
        old_h = np.diff(self.floor_y)
        ground_weight = float(old_h[-1] / old_h[:-1].mean())  # keeps the taller ground floor
        weights = np.ones(n)
        weights[-1] = ground_weight
        floor_y = self.wall_top + np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * (
            1.0 - self.wall_top)
        h = np.diff(floor_y)

        def keep_bottom(old, fill):  # rows aligned at the ground floor, new rows on top
            k = min(n, old_n)
            new = np.full((n, *old.shape[1:]), fill, dtype=old.dtype)
            new[n - k:] = old[old_n - k:]
            return new

        has_balcony = keep_bottom(self.balconies, False)
        has_balcony[-1] = False
        win_top = floor_y[:-1] + top_frac * h
        win_bottom = floor_y[:-1] + bottom_frac * h
        win_bottom = np.where(has_balcony, floor_y[1:] - 0.02 * h, win_bottom)  # French windows
        balcony_top = np.where(has_balcony, floor_y[1:] - rail_frac * h, np.nan)
        # The ground floor keeps its own proportions.
        ground = lambda y: floor_y[-2] + (y - self.floor_y[-2]) / old_h[-1] * h[-1]
        win_top[-1], win_bottom[-1] = ground(self.win_top[-1]), ground(self.win_bottom[-1])
        # String courses stay on the boundaries (counted from the ground) they were on.
        courses = []
        for t0, t1 in self.courses:
            boundary = int(np.argmin(np.abs(self.floor_y - (t0 + t1) / 2)))
            new_boundary = n - (old_n - boundary)
            if 1 <= new_boundary < n:
                mid = floor_y[new_boundary]
                courses.append((mid - (t1 - t0) / 2, mid + (t1 - t0) / 2))
        lintels = keep_bottom(self.lintels, bool(self.lintels[0]))
        mask = None if self.window_mask is None else keep_bottom(self.window_mask, True)
        return replace(
            self, floor_y=floor_y, win_top=win_top, win_bottom=win_bottom,
            door_top=float(ground(self.door_top)),
            shop_top=None if self.shop_top is None else float(ground(self.shop_top)),
            balcony_top=balcony_top, courses=np.array(courses, dtype=np.float64).reshape(-1, 2),
            lintels=lintels, window_mask=mask)

    def with_columns(self, columns: int) -> "FacadeLayout":
        """The same building with ``columns`` window columns across the same width; windows
        keep their share of a column's width. Columns are added or removed on the right."""
        if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or not (
                2 <= columns <= MAX_COLUMNS):
            raise ValueError(f"columns must be an int from 2 to {MAX_COLUMNS}, got {columns!r}")
        c, old_c = int(columns), self.columns
        pitch = (self.bx1 - self.bx0) / c
        mask = None
        if self.window_mask is not None:
            mask = np.ones((self.floors, c), dtype=bool)
            mask[:, :min(c, old_c)] = self.window_mask[:, :min(c, old_c)]
        return replace(
            self, col_x=self.bx0 + (np.arange(c) + 0.5) * pitch, pitch=pitch,
            win_w=self.win_w / self.pitch * pitch,
            door_w=min(self.door_w / self.pitch * pitch, 0.8 * pitch),
            door_col=None if self.door_col is None else min(self.door_col, c - 1),
            window_mask=mask)

    def with_window(self, floor: int, column: int, present: bool = True) -> "FacadeLayout":
        """Add (``present=True``) or remove the window at (``floor``, ``column``). To move a
        window, remove it in one place and add it in another."""
        floor = self._check_floor(floor, "with_window")
        column = self._check_column(column, "with_window")
        mask = self.windows
        mask[floor, column] = bool(present)
        return replace(self, window_mask=mask)

    def with_door(self, column: int | None) -> "FacadeLayout":
        """Move the door to window column ``column`` of the ground floor, or remove it (None)."""
        if column is not None:
            column = self._check_column(column, "with_door")
        return replace(self, door_col=column)

    def with_balcony(self, floor: int, present: bool = True) -> "FacadeLayout":
        """Add or remove the balcony of upper floor ``floor``. A floor with a balcony gets
        French windows (down to the floor), as in the dataset."""
        floor = self._check_floor(floor, "with_balcony", upper_only=True)
        if bool(present) == bool(self.balconies[floor]):
            return self
        _, bottom_frac, rail_frac = self._fractions()
        top, bottom = float(self.floor_y[floor]), float(self.floor_y[floor + 1])
        balcony_top, win_bottom = self.balcony_top.copy(), self.win_bottom.copy()
        if present:
            balcony_top[floor] = bottom - rail_frac * (bottom - top)
            win_bottom[floor] = bottom - 0.02 * (bottom - top)
        else:
            balcony_top[floor] = np.nan
            win_bottom[floor] = top + bottom_frac * (bottom - top)
        return replace(self, balcony_top=balcony_top, win_bottom=win_bottom)


_Layout = FacadeLayout  # the name the rest of this module grew up with


def _sample_layout(rng: np.random.Generator) -> _Layout:
    u = rng.uniform
    # Sideways: about 40 % of the facades fill the frame, like most CMP crops; the others
    # leave sky on one or both sides (the background class).
    if rng.random() < 0.4:
        bx0, bx1 = -0.02, 1.02
    else:
        bx0 = -0.02 if rng.random() < 0.3 else u(0.04, 0.18)
        bx1 = 1.02 if rng.random() < 0.3 else 1.0 - u(0.04, 0.18)
    # Upwards: usually sky above the roof line; sometimes the crop cuts the building.
    top = u(0.02, 0.2) if rng.random() < 0.82 else -0.12
    roof_h = u(0.04, 0.09) if rng.random() < 0.5 else 0.0
    cornice_top = top + roof_h
    wall_top = cornice_top + u(0.025, 0.04)

    wall_h = 1.0 - wall_top
    n = min(int(rng.integers(3, 7)), int(wall_h / 0.12))  # floors are at least 0.12 tall
    weights = np.ones(n)
    weights[-1] = u(1.15, 1.45)  # a taller ground floor
    if n >= 4 and rng.random() < 0.4:
        weights[0] = u(0.7, 0.85)  # a low attic floor
    floor_y = wall_top + np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * wall_h
    h = np.diff(floor_y)

    pitch_goal = u(0.12, 0.22)
    cols = max(2, int(round((bx1 - bx0) / pitch_goal)))
    pitch = (bx1 - bx0) / cols
    col_x = bx0 + (np.arange(cols) + 0.5) * pitch
    win_w = pitch * u(0.4, 0.62)

    a, b = u(0.2, 0.3), u(0.74, 0.84)  # window span as fractions of the floor height
    win_top = floor_y[:-1] + np.clip(a + rng.normal(0, 0.015, n), 0.15, 0.35) * h
    win_bottom = floor_y[:-1] + np.clip(b + rng.normal(0, 0.015, n), 0.7, 0.88) * h
    if n >= 4 and weights[0] < 1:
        win_bottom[0] = floor_y[0] + u(0.62, 0.72) * h[0]  # small attic windows
    win_top[-1] = floor_y[-2] + u(0.2, 0.34) * h[-1]

    door_col = cols // 2 if rng.random() < 0.4 else int(rng.integers(cols))
    door_w = min(win_w * u(1.05, 1.5), pitch * 0.8)
    door_top = floor_y[-2] + u(0.15, 0.3) * h[-1]
    shop_top = floor_y[-2] + u(0.1, 0.22) * h[-1] if rng.random() < 0.4 else None

    balcony_top = np.full(n, np.nan)
    balcony_continuous = bool(rng.random() < 0.35)
    if rng.random() < 0.5:
        frac = u(0.26, 0.36)
        for f in range(n - 1):
            if rng.random() < 0.55:
                balcony_top[f] = floor_y[f + 1] - frac * h[f]
                win_bottom[f] = floor_y[f + 1] - 0.02 * h[f]  # French windows behind it

    courses = []
    for f in range(1, n):
        if rng.random() < (0.6 if f == n - 1 else 0.2):
            ch = u(0.014, 0.022)
            courses.append((floor_y[f] - ch / 2, floor_y[f] + ch / 2))
    lintels = np.zeros(n, dtype=bool)
    if rng.random() < 0.35:
        lintels[:-1] = True
    return _Layout(
        bx0=bx0, bx1=bx1, roof_top=top, roof_slope=u(0.0, 0.8), cornice_top=cornice_top,
        wall_top=wall_top, floor_y=floor_y, win_top=win_top, win_bottom=win_bottom,
        col_x=col_x, pitch=pitch, win_w=win_w, mullions=int(rng.choice(3, p=[0.3, 0.3, 0.4])),
        door_col=door_col, door_w=door_w, door_top=door_top, shop_top=shop_top,
        balcony_top=balcony_top, balcony_continuous=balcony_continuous,
        courses=np.array(courses, dtype=np.float64).reshape(-1, 2), lintels=lintels,
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def _coverage(t, lo, hi, pixel: float):
    """Anti-aliased 1-D mask: the fraction of each pixel's footprint ``[t - pixel/2,
    t + pixel/2]`` that lies inside ``[lo, hi]``. Broadcasts, so ``_coverage(y, ...)[:, None] *
    _coverage(x, ...)[None, :]`` is an anti-aliased rectangle. A pixel whose centre is inside a
    span at least a pixel wide has coverage >= 0.5: ``>= 0.5`` is the matching hard mask."""
    half = 0.5 * pixel
    inside = np.minimum(t + half, hi) - np.maximum(t - half, lo)
    # min/max rather than np.clip: the same result, several times cheaper on small arrays.
    return np.minimum(np.maximum(inside * (1.0 / pixel), 0.0), 1.0)


def _stripes(t, period, duty, pixel: float, phase=0.0):
    """Anti-aliased periodic stripes: the fraction of each pixel's footprint covered by the
    "on" part ``[0, duty * period)`` of every period of ``t + phase`` (a box-filtered square
    wave). Stripes finer than a pixel average out to ``duty`` instead of aliasing into moire."""
    on = duty * period

    def integral(s):  # measure of "on" in [0, s] for the periodic indicator
        k = np.floor(s / period)
        return k * on + np.minimum(s - k * period, on)

    s = t + phase
    half = 0.5 * pixel
    return np.minimum(np.maximum((integral(s + half) - integral(s - half)) * (1.0 / pixel), 0.0),
                      1.0)


def _rgb(colour) -> np.ndarray:
    """A colour as a (3, 1, 1) float32 array, ready to broadcast over a (3, H, W) image.
    Images are channels-first throughout: NumPy broadcasts over a trailing axis of
    length 3 several times slower."""
    return np.asarray(colour, dtype=np.float32).reshape(3, 1, 1)


def _jitter(rng: np.random.Generator, colour, sigma: float) -> np.ndarray:
    """Per-building colour variation: a shared brightness factor and a smaller per-channel one,
    so a style's walls vary without drifting into another style's colours."""
    shared = np.float32(1.0 + rng.normal(0, sigma))
    return _rgb(colour) * shared * _rgb(1.0 + rng.normal(0, sigma / 2, 3))


def _spans(t: np.ndarray, lo, hi, px: float) -> np.ndarray:
    """Coverage of coordinates ``t`` by a union of disjoint spans ``[lo_k, hi_k]``."""
    lo = np.atleast_1d(np.asarray(lo, np.float32))
    hi = np.atleast_1d(np.asarray(hi, np.float32))
    if lo.size == 0:
        return np.zeros_like(t)
    return _coverage(t[:, None], lo[None, :], hi[None, :], px).sum(axis=1).clip(0.0, 1.0)


def _noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1] like :func:`~coursekit.data.synthetic.render.value_noise`
    (random lattice values, smoothstep interpolation), computed as two small matrix products
    ``W @ lattice @ W.T`` -- interpolation is separable -- which is several times faster than
    gathering four corner images. Once the cells are pixel-sized or smaller it is simply
    independent per-pixel noise, drawn directly."""
    if cells >= size:
        return rng.random((size, size), dtype=np.float32)
    lattice = rng.random((cells + 1, cells + 1), dtype=np.float32)
    t = (np.arange(size, dtype=np.float32) + 0.5) / size * cells
    i0 = np.minimum(t.astype(np.int64), cells - 1)
    f = t - i0
    f = f * f * (3.0 - 2.0 * f)
    w = np.zeros((size, cells + 1), dtype=np.float32)
    w[np.arange(size), i0] = 1.0 - f
    w[np.arange(size), i0 + 1] = f
    return w @ lattice @ w.T


def _fractal(rng: np.random.Generator, size: int, base_cells: int, octaves: int) -> np.ndarray:
    """Sum of ``octaves`` noise octaves (each twice as fine, half as strong), in [0, 1]."""
    total = np.zeros((size, size), dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for k in range(octaves):
        total += np.float32(amplitude) * _noise(rng, size, base_cells * 2 ** k)
        norm += amplitude
        amplitude *= 0.5
    return total / np.float32(norm)


def _local(t: np.ndarray, lo, hi) -> np.ndarray:
    """Position of ``t`` inside the span(s) [lo, hi], 0..1 (clipped outside)."""
    return np.clip((t - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0)


class _Canvas:
    """The image being drawn: per-pixel albedo, a shadow map (1 = no direct light), the label
    map, and the pixel-centre coordinates. Layers are painted over the rows they touch only,
    which keeps rendering fast: most elements are thin horizontal bands."""

    def __init__(self, size: int):
        self.size = size
        self.px = 1.0 / size
        self.ys = self.xs = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.labels = np.zeros((size, size), dtype=np.int64)
        self.shadow = np.zeros((size, size), dtype=np.float32)
        self.albedo = np.zeros((3, size, size), dtype=np.float32)

    def rows(self, lo: float, hi: float) -> slice:
        """The pixel rows that the vertical span [lo, hi] touches."""
        r0 = int(np.clip(np.floor(lo * self.size), 0, self.size))
        return slice(r0, max(r0, int(np.clip(np.ceil(hi * self.size), 0, self.size))))

    def paint(self, rows: slice, layer, alpha: np.ndarray) -> None:
        """Alpha-blend ``layer`` (broadcastable to (3, rows, W)) over the albedo in ``rows``."""
        a = self.albedo[:, rows]
        a += (layer - a) * alpha

    def layer(self, rows: slice, row_cov: np.ndarray, col_cov: np.ndarray, cls: int) -> np.ndarray:
        """Label the pixels whose centre lies in a (multi-span) rectangle as ``cls`` and return
        its anti-aliased alpha. ``row_cov``: coverage of each row in ``rows``; ``col_cov``:
        coverage of each column, (W,) or per row (len(rows), W). The label uses each axis'
        coverage >= 0.5 separately: thresholding the product would cut or add corners."""
        row_cov = row_cov[:, None]
        self.labels[rows][(row_cov >= 0.5) & (col_cov >= 0.5)] = cls
        return row_cov * col_cov

    def cast(self, rows: slice, amount: np.ndarray) -> None:
        """Add shadow (the darkest wins where shadows overlap)."""
        s = self.shadow[rows]
        np.maximum(s, amount, out=s)


def _wall_texture(cv: _Canvas, st: _Style, rng: np.random.Generator, lay: _Layout,
                  wall: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Albedo of the wall material over the whole image (other layers are painted over it)."""
    size, ys, xs, px = cv.size, cv.ys, cv.xs, cv.px
    stains = _fractal(rng, size, 3, 3) - 0.5  # large-scale weathering
    if st.material in ("brick", "stone"):
        if st.material == "brick":  # ~8 courses per storey, stretcher bond
            course, length, duty, vary = rng.uniform(0.011, 0.014), 3.0, 0.2, 0.1
        else:  # ashlar: big blocks, thin joints, every course with its own joint pattern
            course, length, duty, vary = rng.uniform(0.03, 0.04), 2.2, 0.08, 0.07
        brick = course * length
        row = np.floor(ys / course).astype(np.int64)  # course index of each pixel row
        if st.material == "brick":
            shift = (row % 2) * 0.5 * brick + rng.uniform(0, brick)
        else:
            shift = rng.uniform(0, brick, row.max() + 1)[row]
        shift = shift.astype(np.float32)[:, None]
        col = np.floor((xs[None, :] + shift) / brick).astype(np.int64)
        # Every brick / block gets its own tint: a table indexed by (course, position).
        table = rng.normal(0, vary, (row.max() + 1, int(1.0 / brick) + 3)).astype(np.float32)
        tint = table[row[:, None], np.clip(col, 0, table.shape[1] - 1)]
        bed = _stripes(ys, course, duty, px)[:, None]  # horizontal mortar joints
        head = _stripes(xs[None, :] + shift, brick, duty * course / brick, px)  # vertical joints
        mortar = 1.0 - (1.0 - bed) * (1.0 - head)
        grain = _noise(rng, size, 96) - 0.5
        shade = (1.0 + tint) * (1.0 + 0.12 * grain + 0.16 * stains)
        albedo = wall * shade
        albedo += (joint * (1.0 + 0.16 * stains) - albedo) * mortar
    else:
        grain = _noise(rng, size, 160 if st.material == "plaster" else 110) - 0.5
        blotch = _noise(rng, size, 24) - 0.5
        g, b = (0.10, 0.10) if st.material == "plaster" else (0.22, 0.14)
        shade = 1.0 + g * grain + b * blotch + 0.16 * stains
        if rng.random() < 0.5:  # rustication: horizontal grooves on the ground floor
            groove = _stripes(ys, 0.03, 0.15, px) * (ys > lay.floor_y[-2])
            shade *= (1.0 - 0.35 * groove)[:, None]
        albedo = wall * shade
    return albedo.astype(np.float32)


def _sky(cv: _Canvas, st: _Style, rng: np.random.Generator) -> np.ndarray:
    """The background: a vertical gradient towards the horizon colour, with clouds."""
    top, horizon = _rgb(st.sky_top), _rgb(st.sky_horizon)
    t = np.clip(cv.ys / 0.8, 0, 1)[:, None]
    clouds = _fractal(rng, cv.size, 3, 3)
    cover = np.clip((clouds - (0.62 - 0.3 * st.clouds)) * 3.0, 0, 1) * (0.35 + 0.4 * st.clouds)
    sky = top + (horizon - top) * t
    cloud = np.float32(0.94) * _rgb(st.light).clip(0, 1)
    return sky + (cloud - sky) * cover


def _render(lay: _Layout, style_id: int, rng: np.random.Generator, size: int):
    """Rasterise ``lay`` in style ``style_id``: labels (H, W) int64 and photo (3, H, W) in
    [0, 1]. Labels are hard (the pixel centre is inside the element), the photo is
    anti-aliased; both come from the same coverages, so they always agree."""
    st = _STYLES[style_id]
    cv = _Canvas(size)
    ys, xs, px = cv.ys, cv.xs, cv.px
    n, cols = len(lay.floor_y) - 1, len(lay.col_x)
    c = {name: _jitter(rng, getattr(st, name), sigma) for name, sigma in (
        ("wall", 0.07), ("joint", 0.05), ("cornice", 0.04), ("frame", 0.05), ("door", 0.12),
        ("roof", 0.08), ("iron", 0.1))}
    cv.albedo = _wall_texture(cv, st, rng, lay, c["wall"], c["joint"])
    # Overhangs cast shadows down the wall (longer when the sun is high) and sideways, away
    # from the light.
    drop = 0.015 + 0.04 * st.elevation
    side = -st.light_x * 0.015

    # ---- silhouette: wall, roof, main cornice -----------------------------------------------
    bcol = _coverage(xs, lay.bx0, lay.bx1, px)  # the building's columns
    wall_row = _coverage(ys, lay.wall_top, 1.0 + px, px)
    building = cv.layer(slice(None), wall_row, bcol, WALL)

    r = cv.rows(lay.roof_top, lay.cornice_top)
    if r.stop > r.start and lay.cornice_top > lay.roof_top:
        y = ys[r]
        inset = (0.01 + lay.roof_slope * np.clip(lay.cornice_top - y, 0, None))[:, None]
        roof_a = cv.layer(r, _coverage(y, lay.roof_top, lay.cornice_top, px),
                          _coverage(xs[None, :], lay.bx0 + inset, lay.bx1 - inset, px), ROOF)
        tile = 0.012
        trow = np.floor(y / tile).astype(np.int64)
        tshift = ((trow % 2) * 0.8 * tile)[:, None]
        tiles = (1.0 - 0.45 * _stripes(y, tile, 0.22, px))[:, None] * (
            1.0 - 0.25 * _stripes(xs[None, :] + tshift, tile * 1.6, 0.15, px))
        tiles *= (1.0 + rng.normal(0, 0.06, trow.max() + 1)[trow]).astype(np.float32)[:, None]
        cv.paint(r, c["roof"] * tiles, roof_a)
        np.maximum(building[r], roof_a, out=building[r])

    overhang = 0.012
    r = cv.rows(lay.cornice_top, lay.wall_top)
    if r.stop > r.start:
        y = ys[r]
        ccol = _coverage(xs, lay.bx0 - overhang, lay.bx1 + overhang, px)
        corn_a = cv.layer(r, _coverage(y, lay.cornice_top, lay.wall_top, px), ccol, CORNICE)
        # A moulded profile: lit top, dark groove, fascia, dentils, dark undercut.
        v = _local(y, lay.cornice_top, lay.wall_top)
        profile = np.select([v < 0.3, v < 0.42, v < 0.72, v < 0.9], [1.08, 0.62, 0.98, 0.9], 0.55)
        band = ((v >= 0.72) & (v < 0.9))[:, None]
        dentil = 1.0 - 0.3 * _stripes(xs, 0.016, 0.5, px)[None, :] * band
        cv.paint(r, c["cornice"] * (profile[:, None] * dentil), corn_a)
        np.maximum(building[r], corn_a, out=building[r])
    r = cv.rows(lay.wall_top, lay.wall_top + drop)
    cv.cast(r, _coverage(ys[r], lay.wall_top, lay.wall_top + drop, px)[:, None] * bcol[None, :])

    # ---- windows: a grid of floors x columns ------------------------------------------------
    floor = np.clip(np.searchsorted(lay.floor_y, ys, side="right") - 1, 0, n - 1)
    col = np.clip(np.round((xs - lay.col_x[0]) / lay.pitch).astype(np.int64), 0, cols - 1)
    wt, wb = lay.win_top[floor], lay.win_bottom[floor]  # per row: the window span of its floor
    x0 = lay.col_x[col] - lay.win_w / 2  # per column: the nearest window's span
    x1 = x0 + lay.win_w
    ground = floor == n - 1
    win_row = _coverage(ys, wt, wb, px) * (ys > lay.floor_y[0])
    win_col = _coverage(xs, x0, x1, px) * bcol
    # The ground floor has windows only where there is neither the door nor a shop front.
    ground_col = win_col * (lay.shop_top is None)
    if lay.door_col is not None:
        ground_col = ground_col * (col != lay.door_col)
    win_cols = np.where(ground[:, None], ground_col, win_col)
    # Windows removed from the layout: each pixel belongs to its nearest window's cell.
    here = None if lay.window_mask is None else lay.window_mask[floor][:, col]
    if here is not None:
        win_cols = win_cols * here
    everywhere = slice(None)
    win_a = cv.layer(everywhere, win_row, win_cols, WINDOW)
    ft = 0.09 * lay.win_w  # frame thickness
    glass_a = win_a * (_coverage(ys, wt + ft, wb - ft, px)[:, None]
                       * _coverage(xs, x0 + ft, x1 - ft, px)[None, :])
    # Glass: reflected sky (brighter at the top) over a dark room, a different amount of
    # reflection per window, a diagonal highlight, curtains in some, lit rooms at dusk.
    gv = _local(ys, wt + ft, wb - ft)[:, None]
    gu = _local(xs, x0 + ft, x1 - ft)[None, :]
    per_win = rng.random((4, n, cols), dtype=np.float32)[:, floor[:, None], col[None, :]]
    refl = (0.15 + 0.45 * per_win[0]) * (1.0 - 0.55 * gv)
    horizon, sky_top = _rgb(st.sky_horizon), _rgb(st.sky_top)
    reflection = horizon + (sky_top - horizon) * (0.7 * (1.0 - gv))
    room = _rgb([0.05, 0.06, 0.08])
    streak = np.exp(-(((gu + 0.7 * gv + per_win[1]) % 1.0 - 0.5) / 0.07) ** 2)
    glass = room + (reflection - room) * refl + 0.22 * refl * streak
    curtain = (per_win[2] < 0.3) & ((gu < 0.22) | (gu > 0.78))
    folds = (0.68 + 0.12 * np.cos(gu * 60.0)) * curtain
    glass += (_rgb([0.86, 0.82, 0.72]) * folds - glass) * curtain
    if st.lit_windows > 0:
        lit = per_win[3] < st.lit_windows
        glass += (_rgb([1.0, 0.78, 0.42]) * (0.75 + 0.25 * gv) - glass) * lit
    mull = np.zeros((1, size), np.float32)
    if lay.mullions >= 1:  # a vertical glazing bar
        mull = mull + _coverage(xs, lay.col_x[col] - ft / 3, lay.col_x[col] + ft / 3, px)[None, :]
    if lay.mullions == 2:  # and a transom
        tv = wt + ft + 0.3 * (wb - wt - 2 * ft)
        mull = mull + _coverage(ys, tv - ft / 3, tv + ft / 3, px)[:, None]
    cv.paint(everywhere, c["frame"], win_a)
    cv.paint(everywhere, glass, glass_a * (1.0 - np.clip(mull, 0, 1)))
    # Recessed glass: the window head and the reveal on the light's side shade the glass.
    depth = 0.35 * lay.win_w
    head = _coverage(ys, wt + ft, wt + ft + depth * st.elevation * 0.8, px)[:, None]
    reveal_w = depth * abs(st.light_x) * 0.6
    if st.light_x < 0:
        reveal = _coverage(xs, x0 + ft, x0 + ft + reveal_w, px)[None, :]
    else:
        reveal = _coverage(xs, x1 - ft - reveal_w, x1 - ft, px)[None, :]
    cv.cast(everywhere, glass_a * np.maximum(head, reveal))

    # Lintels: small cornices over the windows of some floors, each with its shadow.
    if lay.lintels.any():
        lint = lay.lintels[floor] & ~ground
        lt1 = wt - 0.008
        lrow = _coverage(ys, wt - 0.022, lt1, px) * lint
        lcol = _coverage(xs, x0 - 0.15 * lay.win_w, x1 + 0.15 * lay.win_w, px) * bcol
        if here is not None:  # no lintel over a removed window
            lcol = lcol * here
        lint_a = cv.layer(everywhere, lrow, lcol, CORNICE)
        cv.paint(everywhere, c["cornice"] * 0.95, lint_a)
        below = _coverage(ys, lt1, np.minimum(lt1 + drop * 0.6, wt), px) * lint
        lint_shadow = below[:, None] * _coverage(
            xs, x0 - 0.15 * lay.win_w + side, x1 + 0.15 * lay.win_w + side, px)[None, :]
        cv.cast(everywhere, lint_shadow if here is None else lint_shadow * here)

    # ---- ground floor: door and shop front ---------------------------------------------------
    if lay.door_col is not None:  # None: the door was removed
        r = cv.rows(lay.door_top, 1.0)
        y = ys[r]
        dx0 = lay.col_x[lay.door_col] - lay.door_w / 2
        door_a = cv.layer(r, _coverage(y, lay.door_top, 1.0 + px, px),
                          _coverage(xs, dx0, dx0 + lay.door_w, px), DOOR)
        du = _local(xs, dx0, dx0 + lay.door_w)[None, :]
        dv = _local(y, lay.door_top, 1.0)[:, None]
        grain = np.interp(du, np.linspace(0, 1, 24), rng.random(24)).astype(np.float32)  # wood
        panel = (np.abs(du - 0.5) < 0.36) & (((dv > 0.08) & (dv < 0.45)) | ((dv > 0.53) & (dv < 0.92)))
        door_img = c["door"] * ((0.9 + 0.2 * grain) * np.where(panel, 0.8, 1.0))
        knob = (np.abs(du - (0.85 if lay.door_col % 2 else 0.15)) < 0.05) & (np.abs(dv - 0.5) < 0.03)
        door_img = np.where(knob, np.float32(0.85), door_img)
        cv.paint(r, door_img, door_a)
        cv.cast(r, door_a * _coverage(y, lay.door_top, lay.door_top + drop, px)[:, None])

    if lay.shop_top is not None:
        r = cv.rows(lay.shop_top, 1.0)
        y = ys[r]
        s_lo = np.maximum(lay.col_x - 0.44 * lay.pitch, lay.bx0 + 0.012)
        s_hi = np.minimum(lay.col_x + 0.44 * lay.pitch, lay.bx1 - 0.012)
        keep = np.arange(cols) != (-1 if lay.door_col is None else lay.door_col)
        shop_a = cv.layer(r, _coverage(y, lay.shop_top, 1.0 + px, px),
                          _spans(xs, s_lo[keep], s_hi[keep], px), SHOP)
        sv = _local(y, lay.shop_top, 1.0)[:, None]
        # Sign band with lettering; below it a lit display window with goods, glazing bars
        # at every bay, and a dark kick plate.
        sign_c = _rgb(_SIGN_COLOURS[rng.integers(len(_SIGN_COLOURS))])
        letters = (_stripes(xs, 0.02, 0.55, px, phase=rng.uniform(0, 0.02))[None, :]
                   * ((sv > 0.06) & (sv < 0.16)))
        ink = np.float32(0.92) if sign_c.mean() < 0.5 else np.float32(0.1)
        sign = sign_c + (ink - sign_c) * letters
        goods = _fractal(rng, size, 12, 2)[r]
        warm = _rgb([1.0, 0.86, 0.58]) * np.float32(rng.uniform(0.7, 0.95))
        interior = warm * (0.7 + 0.45 * goods)
        bars = _stripes(xs - lay.bx0, lay.pitch * 0.44, 0.06, px)[None, :]
        display = interior + (c["frame"] * 0.6 - interior) * bars
        display = np.where(sv > 0.9, c["frame"] * 0.5, display)
        cv.paint(r, np.where(sv < 0.22, sign, display), shop_a)
        cv.cast(r, shop_a * _coverage(y, lay.shop_top, lay.shop_top + drop * 0.8, px)[:, None])

    # ---- string courses: cornice bands between floors ---------------------------------------
    ccol = _coverage(xs, lay.bx0 - 0.006, lay.bx1 + 0.006, px)
    for t0, t1 in lay.courses:
        r = cv.rows(t0, t1 + drop * 0.7)
        y = ys[r]
        course_a = cv.layer(r, _coverage(y, t0, t1, px), ccol, CORNICE)
        profile = np.where(_local(y, t0, t1) < 0.45, 1.05, 0.7)[:, None]
        cv.paint(r, c["cornice"] * profile, course_a)
        cv.cast(r, _coverage(y, t1, t1 + drop * 0.7, px)[:, None] * bcol[None, :])

    # ---- balconies: railing and slab over a shadowed wall, with a shadow below --------------
    if lay.balcony_continuous:
        e_lo, e_hi = np.array([lay.bx0 + 0.02]), np.array([lay.bx1 - 0.02])
    else:
        e_lo, e_hi = lay.col_x - 0.75 * lay.win_w, lay.col_x + 0.75 * lay.win_w
    bal_col = _spans(xs, e_lo, e_hi, px)[None, :]
    shifted = _spans(xs, e_lo + side, e_hi + side, px)[None, :]
    bars = _stripes(xs, 0.022, 0.3, px, phase=rng.uniform(0, 0.022))[None, :]
    for f in np.flatnonzero(~np.isnan(lay.balcony_top)):
        t0, t1 = float(lay.balcony_top[f]), float(lay.floor_y[f + 1])
        r = cv.rows(t0, t1)
        y = ys[r]
        bal_a = cv.layer(r, _coverage(y, t0, t1, px), bal_col, BALCONY)
        bv = _local(y, t0, t1)[:, None]
        rail = (bv < 0.12) | ((bv > 0.55) & (bv < 0.62))
        behind = cv.albedo[:, r] * np.float32(0.45)
        img = behind + (c["iron"] - behind) * np.where(rail, 1.0, bars)
        slab = c["cornice"] * np.where(bv > 0.95, 0.6, 0.9)
        cv.paint(r, np.where(bv > 0.84, slab, img), bal_a)
        r = cv.rows(t1, t1 + drop * 1.4)
        cv.cast(r, _coverage(ys[r], t1, t1 + drop * 1.4, px)[:, None] * shifted)

    # ---- lighting, sky, camera ---------------------------------------------------------------
    # Direct light fades across the facade away from the sun; shadows block only direct light.
    y, x = ys[:, None], xs[None, :]
    grad = 1.0 + 0.22 * st.light_x * (x - 0.5) + 0.1 * st.elevation * (0.5 - y)
    light = st.ambient + st.direct * grad * (1.0 - 0.85 * cv.shadow)
    lit = cv.albedo * (light * _rgb(st.light))
    sky = _sky(cv, st, rng)
    photo = sky + (lit - sky) * building
    photo *= np.float32(rng.uniform(0.93, 1.07))  # exposure
    # Sensor noise, luminance only (one field for the three channels: cheaper, and realistic).
    photo += np.float32(0.014) * rng.standard_normal((size, size), dtype=np.float32)
    return cv.labels, np.clip(photo, 0.0, 1.0, out=photo)


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------
def _style_id(style) -> int:
    if isinstance(style, str):
        if style not in FACADE_STYLES:
            raise ValueError(f"unknown facade style {style!r}; choose one of {FACADE_STYLES} "
                             f"or its index 0..{len(FACADE_STYLES) - 1}")
        return FACADE_STYLES.index(style)
    if isinstance(style, bool) or not isinstance(style, (int, np.integer)) or not (
            0 <= int(style) < len(FACADE_STYLES)):
        raise ValueError(f"style must be None, a name from FACADE_STYLES or an index "
                         f"0..{len(FACADE_STYLES) - 1}, got {style!r}")
    return int(style)


def _item(seed: int, split: int, index: int, size: int, style: int | None) -> dict:
    lay = _sample_layout(item_rng(seed, split, index, _LAYOUT_STREAM))
    if style is None:
        style = int(item_rng(seed, split, index, _STYLE_STREAM).integers(len(_STYLES)))
    labels, photo = _render(lay, style, item_rng(seed, split, index, _LOOK_STREAM, style), size)
    return {
        "A": torch.from_numpy(_PALETTE_SIGNED[:, labels]),
        "B": torch.from_numpy(photo).mul_(2.0).sub_(1.0),
        "labels": torch.from_numpy(labels),
        "style": torch.tensor(style, dtype=torch.int64),
    }


# The palette as channels-first colours in [-1, 1]: the label image is ``[:, labels]``.
_PALETTE_SIGNED = np.ascontiguousarray((FACADE_PALETTE.T / 255.0 * 2.0 - 1.0).astype(np.float32))


def _check_layout(layout) -> FacadeLayout:
    if not isinstance(layout, FacadeLayout):
        raise TypeError(f"layout must be a FacadeLayout (e.g. SyntheticFacades(...).layout(i)), "
                        f"got {type(layout).__name__}")
    return layout


def render_labels(layout: FacadeLayout, size: int) -> torch.Tensor:
    """The class map of ``layout`` at ``size`` px: (size, size) int64 indices into
    :data:`FACADE_CLASSES`, exactly as the dataset draws its ``"labels"``."""
    size = check_size(size, "synthetic facades")
    # Labels do not depend on the random stream (it only drives colours and textures).
    labels, _ = _render(_check_layout(layout), 0, np.random.default_rng(0), size)
    return torch.from_numpy(labels)


def label_image(labels: torch.Tensor) -> torch.Tensor:
    """Class map(s) (..., H, W) -> the colour label image(s) (..., 3, H, W) in [-1, 1] that
    the dataset gives as ``"A"`` (:data:`FACADE_PALETTE` colours)."""
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.ndim < 2 or (labels.numel() and (
            labels.min() < 0 or labels.max() >= len(FACADE_CLASSES))):
        raise ValueError(f"labels must be integer class indices 0..{len(FACADE_CLASSES) - 1} "
                         f"of shape (..., H, W), got {labels.dtype} {tuple(labels.shape)}")
    palette = torch.from_numpy(_PALETTE_SIGNED)  # (3, classes)
    return palette[:, labels.cpu()].movedim(0, -3).contiguous()


def render_photo(layout: FacadeLayout, style: int | str, size: int, seed: int = 0) -> torch.Tensor:
    """``layout`` photographed in ``style`` (name or index into :data:`FACADE_STYLES`): (3,
    size, size) in [-1, 1], the ground truth a labels -> photo model should produce. ``seed``
    picks the colours and textures of this particular building."""
    size = check_size(size, "synthetic facades")
    style = _style_id(style)
    _, photo = _render(_check_layout(layout), style, item_rng(seed, 0, 0, _LOOK_STREAM, style),
                       size)
    return torch.from_numpy(photo).mul_(2.0).sub_(1.0)


class SyntheticFacades(SyntheticDataset):
    """Paired facades: ``"A"`` a colour label image, ``"B"`` a photo of the same building.

    Args:
        split: ``"train"`` (400 items by default, like pix2pix's facades) or ``"test"`` (100).
            The splits are disjoint: an item is a pure function of ``(seed, split, index)``.
        size: side of the square images, 32..256 px. The same item looks the same at every
            size, only sharper.
        length: number of items (default 400 for train, 100 for test). Any length works:
            more items are new buildings.
        seed: selects a different, equally distributed dataset.
        style: ``None`` draws each item's style at random; a name from :data:`FACADE_STYLES`
            or its index renders every item in that style.

    Items are dicts: ``"A"`` (3, H, W) and ``"B"`` (3, H, W) float in [-1, 1], ``"labels"``
    (H, W) int64 class indices into :data:`FACADE_CLASSES` (``"A"`` is exactly the
    :data:`FACADE_PALETTE` colour of each pixel's class), ``"style"`` int64 scalar index into
    :data:`FACADE_STYLES`.

    >>> ds = SyntheticFacades("train", size=64)
    >>> item = ds[0]
    >>> item["A"].shape, item["labels"].shape
    (torch.Size([3, 64, 64]), torch.Size([64, 64]))
    >>> [FACADE_STYLES[int(v["style"])] for v in ds.all_styles(0)][:2]
    ['red brick, morning sun', 'white plaster, overcast']
    """

    classes = FACADE_CLASSES
    palette = FACADE_PALETTE
    styles = FACADE_STYLES

    default_lengths = {"train": 400, "test": 100}  # the pix2pix facades archive: 400 train
    title = "synthetic facades"

    def __init__(self, split: str = "train", size: int = 64, length: int | None = None,
                 seed: int = 0, style: int | str | None = None):
        super().__init__(split, size, length, seed)
        self.style = None if style is None else _style_id(style)

    def __getitem__(self, index: int) -> dict:
        return _item(self.seed, self.split_id, self._index(index), self.size, self.style)

    def render(self, index: int, style: int | str) -> dict:
        """Item ``index`` drawn in ``style`` (name or index): the same building and the same
        ``"labels"``/``"A"`` in every style, a different photo ``"B"``."""
        return _item(self.seed, self.split_id, self._index(index), self.size,
                     _style_id(style))

    def layout(self, index: int) -> FacadeLayout:
        """The geometry of item ``index``, to edit (``FacadeLayout.with_*``) and redraw with
        :func:`render_labels`: ``render_labels(ds.layout(i), ds.size)`` equals
        ``ds[i]["labels"]``."""
        return _sample_layout(item_rng(self.seed, self.split_id, self._index(index),
                                       _LAYOUT_STREAM))

    def all_styles(self, index: int) -> list[dict]:
        """Item ``index`` in every style, in :data:`FACADE_STYLES` order."""
        return [self.render(index, k) for k in range(len(FACADE_STYLES))]

    # The photo styles are the target domain's modes (label map -> photo is one-to-many).
    modes = FACADE_STYLES

    def score(self, inputs, outputs, items, direction):
        """Label map -> photo (``"AtoB"``): :func:`score_facades` of the outputs against the
        input labels. Photo -> label map: the outputs' palette colours against the true
        labels. Both give ``pixel_accuracy``, ``class_accuracy``, ``class_iou``."""
        if direction == "AtoB":
            return score_facades(outputs, items["labels"])
        return segmentation_scores(labels_from_palette(outputs, FACADE_PALETTE),
                                   items["labels"], len(FACADE_CLASSES))

    def mode_of(self, images):
        """:func:`classify_facade_style` of photos (N, 3, H, W)."""
        return classify_facade_style(images)

    def faithful(self, inputs, outputs, items, direction):
        """Label map -> photo: whether each photo's :func:`photo_pixel_accuracy` against its
        own labels reaches :data:`FAITHFUL_PIXEL_ACCURACY`. Photo -> label map: None (a photo
        has one right label map, which :meth:`score` already measures)."""
        if direction != "AtoB":
            return None
        return photo_pixel_accuracy(outputs, items["labels"]) >= FAITHFUL_PIXEL_ACCURACY

    def mode_targets(self, index):
        """The photos of item ``index`` in every style, (len(FACADE_STYLES), 3, H, W) in
        :data:`FACADE_STYLES` order: all the right answers for its label map."""
        return torch.stack([item["B"] for item in self.all_styles(index)])


# --------------------------------------------------------------------------------------------
# Ground-truth evaluation: segment photos without any pretrained network
# --------------------------------------------------------------------------------------------
# The segmenter is a Gaussian (quadratic discriminant) classifier on hand-made per-pixel
# features -- colour at several scales, local contrast and edge energy -- one Gaussian per
# (style, class), whose statistics are *measured* on renders of an internal calibration split
# (never train or test) at the size being scored. Nothing is trained by gradient descent and
# nothing is shipped: it knows the materials because it has looked at the renderer's output,
# as an FCN trained on real photos knows what walls look like.
UNRECOGNISED = -1  #: segment_facades' label for a pixel that looks like no class at all
_CALIBRATION_ITEMS = 32  # per style: 32 buildings' worth of colour variation per class
_CALIBRATION_CHUNK = 8  # items whose features are in memory at once (256 px: ~40 MB)
_MAX_PIXELS_PER_CLASS = 24000  # per (style, class): ~1000x the 18x18 covariance's unknowns
_CONTRAST = 9  # index of the local-contrast feature in _pixel_features
_NUM_FEATURES = 18
_PHOTOS_AT_ONCE = 8  # photos whose features are in memory at once (256 px: ~40 MB)
# A pixel is "unrecognised" when it lies further from its best class than 99.5 % of that
# class's calibration pixels, or is flatter (less local contrast) than 99 % of them. The
# second test is what makes texture count: a flat colour map in a style's exact colours
# is not a photo of brick, as an FCN on real photos would not recognise it either. Real
# photos lose about 1.5 % of their pixels to these tests (the rest is by construction).
_FAR_QUANTILE = 0.995
_FLAT_QUANTILE = 0.01


def _mean1d(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Running mean over 2r+1 samples along ``dim`` (-1 or -2) of (N, C, H, W), edges
    replicated; via cumulative sums, so the cost does not grow with the radius. The sums are
    float64: a float32 running sum would lose the small differences that local variance
    (the contrast feature) is made of."""
    if radius <= 0:
        return x
    pad = (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius)
    c = torch.nn.functional.pad(x, pad, mode="replicate").double().cumsum(dim)
    c = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c], dim)
    k = 2 * radius + 1
    n = x.shape[dim]
    return ((c.narrow(dim, k, n) - c.narrow(dim, 0, n)) / k).to(x.dtype)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1) x (2r+1) window, edges replicated; x is (N, C, H, W)."""
    return _mean1d(_mean1d(x, radius, -1), radius, -2)


def _pixel_features(photos01: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, H, W, 18) per-pixel features.

    The colour of the pixel, of its neighbourhood and of a wider context; local contrast
    (texture); the energy of horizontal and vertical edges (brick courses and cornices are
    horizontal, railings and frames vertical); the mean colour along a horizontal and a
    vertical strip (cornices and balconies are horizontal bands). Window sizes scale with
    the image, one pixel per 64 px of width, so the features mean the same at every size."""
    size = photos01.shape[-1]
    r = max(1, round(size / 64))
    lum = photos01.mean(1, keepdim=True)
    contrast = (_box(lum * lum, r) - _box(lum, r) ** 2).clamp_min(0).sqrt()
    dx = torch.nn.functional.pad((lum[..., :, 1:] - lum[..., :, :-1]).abs(), (0, 1, 0, 0))
    dy = torch.nn.functional.pad((lum[..., 1:, :] - lum[..., :-1, :]).abs(), (0, 0, 0, 1))
    feats = torch.cat([
        photos01, _box(photos01, r), _box(photos01, 3 * r), contrast, _box(dx, r), _box(dy, r),
        _mean1d(photos01, 4 * r, -1), _mean1d(photos01, 4 * r, -2),
    ], dim=1)
    return feats.permute(0, 2, 3, 1)


@dataclass(frozen=True)
class _Segmenter:
    feat_mean: torch.Tensor  # (F,) standardisation of the features
    feat_std: torch.Tensor
    means: torch.Tensor  # (S, K, F) class means per style
    whiten: torch.Tensor  # (S, K, F, F) inverse Cholesky factors of the class covariances
    log_norm: torch.Tensor  # (S, K) log prior - 0.5 log det(covariance)
    far: torch.Tensor  # (S, K) squared Mahalanobis distance beyond which a pixel is unrecognised
    flat: torch.Tensor  # (S, K) standardised contrast below which a pixel is unrecognised

    def to(self, device) -> _Segmenter:
        return _Segmenter(*(t.to(device) for t in vars(self).values()))


def _calibration_pixels(size: int, style: int, gen: torch.Generator):
    """Features of (a bounded random subset of) each class's pixels in the calibration
    renders of one style, and each class's total pixel count (for the class priors)."""
    k = len(FACADE_CLASSES)
    keep = _MAX_PIXELS_PER_CLASS * _CALIBRATION_CHUNK // _CALIBRATION_ITEMS
    picked, counts = [[] for _ in range(k)], torch.zeros(k, dtype=torch.float64)
    for start in range(0, _CALIBRATION_ITEMS, _CALIBRATION_CHUNK):
        items = [_item(0, _CALIBRATION, i, size, style)
                 for i in range(start, start + _CALIBRATION_CHUNK)]
        feats = _pixel_features((torch.stack([it["B"] for it in items]) + 1) / 2)
        feats = feats.reshape(-1, _NUM_FEATURES)
        labels = torch.stack([it["labels"] for it in items]).flatten()
        counts += torch.bincount(labels, minlength=k).double()
        for c in range(k):
            idx = torch.nonzero(labels == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=gen)[:keep]]
            picked[c].append(feats[idx])
    return [torch.cat(p).double() for p in picked], counts


@functools.lru_cache(maxsize=8)
def _segmenter(size: int) -> _Segmenter:
    """Measure every (style, class) Gaussian on calibration renders at ``size`` (about 1 s
    at 64 px, 5 s at 256 px; cached per size for the life of the process)."""
    num_styles, num_classes = len(_STYLES), len(FACADE_CLASSES)
    gen = torch.Generator().manual_seed(size)
    with torch.no_grad():
        data = [_calibration_pixels(size, s, gen) for s in range(num_styles)]
        everything = torch.cat([f for per_class, _ in data for f in per_class])
        mu, sd = everything.mean(0), everything.std(0)
        shape = (num_styles, num_classes)
        means = torch.zeros(*shape, _NUM_FEATURES, dtype=torch.float64)
        whiten = torch.zeros(*shape, _NUM_FEATURES, _NUM_FEATURES, dtype=torch.float64)
        log_norm, far, flat = (torch.zeros(shape, dtype=torch.float64) for _ in range(3))
        ridge = 1e-3 * torch.eye(_NUM_FEATURES, dtype=torch.float64)  # features are ~collinear
        for s, (per_class, counts) in enumerate(data):
            for c, f in enumerate(per_class):
                if len(f) < 10 * _NUM_FEATURES:  # a covariance needs many more samples than dims
                    raise RuntimeError(f"calibration renders at {size} px have only {len(f)} "
                                       f"{FACADE_CLASSES[c]!r} pixels in style {s}")
                z = (f - mu) / sd
                chol = torch.linalg.cholesky(torch.cov(z.T) + ridge)
                means[s, c] = z.mean(0)
                whiten[s, c] = torch.linalg.inv(chol)
                log_norm[s, c] = (counts[c] / counts.sum()).log() - chol.diagonal().log().sum()
                d2 = ((z - means[s, c]) @ whiten[s, c].T).square().sum(1)
                far[s, c] = torch.quantile(d2, _FAR_QUANTILE)
                flat[s, c] = torch.quantile(z[:, _CONTRAST], _FLAT_QUANTILE)
    return _Segmenter(*(t.float() for t in (mu, sd, means, whiten, log_norm, far, flat)))


def _check_photos(photos, what: str = "photos") -> torch.Tensor:
    if not isinstance(photos, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape (N, 3, H, W) in [-1, 1], got "
                        f"{type(photos).__name__}")
    if photos.ndim == 3:
        raise ValueError(f"{what} must be a batch (N, 3, H, W), got one image of shape "
                         f"{tuple(photos.shape)}: add a batch dimension with photos[None]")
    if photos.ndim != 4 or photos.shape[1] != 3:
        raise ValueError(f"{what} must have shape (N, 3, H, W), got {tuple(photos.shape)}")
    if not photos.is_floating_point():
        raise TypeError(f"{what} must be floating point in [-1, 1], got {photos.dtype}")
    h, w = photos.shape[-2:]
    if h != w or not MIN_SIZE <= h <= MAX_SIZE:
        raise ValueError(f"{what} must be square, {MIN_SIZE}..{MAX_SIZE} px (the sizes the "
                         f"facades are rendered at), got {h}x{w}; resize them first, e.g. "
                         f"torch.nn.functional.interpolate(x, size=64, mode='bilinear', "
                         f"antialias=True)")
    return photos.detach().float()


def _standard_features(photos: torch.Tensor, model: _Segmenter) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] -> (N, H * W, F) standardised pixel features."""
    feats = _pixel_features(((photos + 1) / 2).clamp(0, 1)).flatten(1, 2)
    return (feats - model.feat_mean) / model.feat_std


def _log_likelihoods(feats: torch.Tensor, model: _Segmenter, style: int):
    """(P, F) standardised features -> (P, K) log prior + log density of each class of
    ``style`` (up to a constant shared by all classes and styles), and the (P, K) squared
    Mahalanobis distances."""
    z = feats[None] - model.means[style][:, None, :]  # (K, P, F)
    d2 = torch.bmm(z, model.whiten[style].transpose(1, 2)).square().sum(-1).T  # (P, K)
    return model.log_norm[style] - 0.5 * d2, d2


def _estimate_styles(feats: torch.Tensor, model: _Segmenter, size: int) -> torch.Tensor:
    # The style whose pixel model explains a photo best: the total log-likelihood of its
    # pixels under each style's mixture of class Gaussians. A 64 x 64 grid of the pixels is
    # plenty and keeps this cheap at 256 px.
    idx = torch.arange(0, size, max(1, size // 64), device=feats.device)
    grid = (idx[:, None] * size + idx[None, :]).flatten()
    totals = torch.stack([
        torch.stack([torch.logsumexp(_log_likelihoods(f[grid], model, s)[0], dim=1).sum()
                     for s in range(len(_STYLES))])
        for f in feats])
    return totals.argmax(1)


def classify_facade_style(photos: torch.Tensor) -> torch.Tensor:
    """Which of :data:`FACADE_STYLES` each photo looks like: (N, 3, H, W) in [-1, 1] ->
    LongTensor (N,) of style indices.

    The style whose per-pixel models (those :func:`segment_facades` uses) give the photo the
    highest likelihood. Use it to count how many styles (modes) a multimodal generator
    produces for one label map."""
    photos = _check_photos(photos)
    size = photos.shape[-1]
    model = _segmenter(size).to(photos.device)
    with torch.no_grad():
        return torch.cat([_estimate_styles(_standard_features(chunk, model), model, size)
                          for chunk in photos.split(_PHOTOS_AT_ONCE)])


def segment_facades(photos: torch.Tensor, styles: torch.Tensor | None = None) -> torch.Tensor:
    """Segment facade photos: (N, 3, H, W) in [-1, 1] -> LongTensor (N, H, W) of indices into
    :data:`FACADE_CLASSES`, or :data:`UNRECOGNISED` (-1) where a pixel looks like no class.

    Each photo's style is estimated as in :func:`classify_facade_style` (or given as
    ``styles``, one index per photo); then every pixel goes to its most likely class under
    that style's Gaussian models of the pixel features (colour at several scales, local
    contrast, edge energy). A pixel further from its best class than 99.5 % of that class's
    calibration pixels, or flatter than 99 % of them, is unrecognised: an untextured blob of
    roughly the right colour is not a brick wall. Square images of 32..256 px, any device;
    the models are measured on calibration renders at the photos' size on first use."""
    photos = _check_photos(photos)
    size = photos.shape[-1]
    model = _segmenter(size).to(photos.device)
    if styles is not None:
        styles = torch.as_tensor(styles).long().reshape(-1).cpu()
        if len(styles) != len(photos) or styles.min() < 0 or styles.max() >= len(_STYLES):
            raise ValueError(f"styles must hold one index 0..{len(_STYLES) - 1} per photo "
                             f"({len(photos)} photos), got {styles.tolist()}")
    out = []
    with torch.no_grad():
        for start in range(0, len(photos), _PHOTOS_AT_ONCE):
            feats = _standard_features(photos[start:start + _PHOTOS_AT_ONCE], model)
            chunk_styles = (_estimate_styles(feats, model, size) if styles is None
                            else styles[start:start + _PHOTOS_AT_ONCE])
            for f, s in zip(feats, chunk_styles.tolist()):
                score, d2 = _log_likelihoods(f, model, s)
                best = score.argmax(1)
                odd = d2.gather(1, best[:, None])[:, 0] > model.far[s][best]
                odd |= f[:, _CONTRAST] < model.flat[s][best]
                out.append(torch.where(odd, UNRECOGNISED, best))
    return torch.stack(out).reshape(len(photos), size, size)


def score_facades(photos: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Our analogue of pix2pix's FCN-score: segment generated photos and compare the result
    with the label maps they were generated from.

    pix2pix ran an off-the-shelf FCN, trained on real Cityscapes photos, on its outputs ("if
    we generate a photo from a label map of 'car on the road', then we have succeeded if the
    FCN applied to the generated photo detects 'car on the road'"). Here
    :func:`segment_facades`, calibrated on real renders, plays the FCN. Real photos score
    near the segmenter's ceiling (about 0.92 pixel accuracy at 64 px, 0.95 at 256 px);
    grey, blurred, flat-coloured or label-coloured outputs score far lower. Unrecognised
    pixels count as wrong.

    Args:
        photos: (N, 3, H, W) generated photos in [-1, 1], square, 32..256 px.
        labels: (N, H, W) integer class indices, e.g. the items' ``"labels"``.

    Returns:
        ``pixel_accuracy`` (fraction of pixels labelled right), ``class_accuracy`` (per-class
        accuracy averaged over the classes present in ``labels``) and ``class_iou`` (mean
        intersection-over-union over the same classes): the three columns of pix2pix's
        FCN-score tables.
    """
    photos = _check_photos(photos)
    labels = _check_labels(labels, photos)
    return segmentation_scores(segment_facades(photos), labels, len(FACADE_CLASSES))


#: The bar of :meth:`SyntheticFacades.faithful`: 0.75 passes >= 99 % of true renders in every
#: style at 32, 64 and 128 px and <= 1 % of blurs, blends and other buildings' renders, but for
#: the median of the styles at 32 px (5 %) (measured: ``benchmarks/evaluators.py``).
FAITHFUL_PIXEL_ACCURACY = 0.75


def photo_pixel_accuracy(photos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per photo, the fraction of its pixels :func:`segment_facades` labels as ``labels``
    (unrecognised pixels count as wrong): FloatTensor (N,). :func:`score_facades` pools the
    same pixels over all photos; this says which photos are right."""
    photos = _check_photos(photos)
    labels = _check_labels(labels, photos)
    return (segment_facades(photos) == labels.to(photos.device)).flatten(1).float().mean(1)


def _check_labels(labels, photos: torch.Tensor) -> torch.Tensor:
    """``labels`` if it holds one class map (H, W) of FACADE_CLASSES indices per photo."""
    expected = (photos.shape[0], *photos.shape[2:])
    if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != expected:
        got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a tensor of shape {expected} (one class map per "
                         f"photo), got {got}")
    k = len(FACADE_CLASSES)
    if labels.is_floating_point() or labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must be integer class indices 0..{k - 1} (FACADE_CLASSES), "
                         f"got {labels.dtype} values {int(labels.min())}..{int(labels.max())}")
    return labels
