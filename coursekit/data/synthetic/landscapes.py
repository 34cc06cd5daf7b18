"""``synthetic-landscapes``: label maps and landscape photos in several styles (SPADE,
multimodal translation, SDEdit).

A scene is a class-index map (``LANDSCAPE_CLASSES``): sky with clouds, one to three layered
mountain ridges with fractal skylines, snow caps above a ragged snow line, an optional lake
with a sandy beach, a forest line at the foot of the mountains, tree clusters (conifers or
round deciduous crowns, smaller towards the horizon) and a grass foreground. The *same* label
layout is rendered in any of nine styles (``LANDSCAPE_STYLES``: time of day x season):

* time of day sets the sky gradient, the sun (high by day, low and orange at sunset, a moon
  and stars at night), the colour of the light and the haze on distant ridges;
* the season sets foliage (green, autumn orange/red/yellow, bare or snow-dusted in winter),
  grass (green, straw, frosted), rock and water (a frozen lake in winter).

Photos have texture (rock, foliage, grass blades, ripples), shading (lit mountain faces, lit
side of tree crowns) and mirror reflections in the lake, so a per-class colour lookup cannot
reproduce them: a generator has to synthesise texture and reflections from the layout.

Also here: :func:`strokes` (the coarse flat-colour painting a user would give SDEdit),
:func:`segment_landscapes` (analytic segmentation of a photo: nearest colour prototype of
the renderer's own palette, with the style estimated per image), :func:`score_landscapes`
(label consistency and detail) and :func:`stroke_faithfulness` (SDEdit's L2 to the guide).

    >>> ds = SyntheticLandscapes("train", size=64)
    >>> item = ds[0]; item["A"].shape, item["labels"].dtype, int(item["style"]) in range(9)
    (torch.Size([3, 64, 64]), torch.int64, True)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from coursekit.data.metrics import gaussian_blur as _blur
from coursekit.data.metrics import labels_from_palette, segmentation_scores
from coursekit.data.synthetic.base import SyntheticDataset

from coursekit.data.synthetic.render import (
    fractal_noise_1d,
    fractal_noise_fast,
    grid,
    palette_image,
    smoothstep,
    to_tensor,
    value_noise_rect,
)

__all__ = [
    "LANDSCAPE_CLASSES",
    "LANDSCAPE_PALETTE",
    "LANDSCAPE_STYLES",
    "TIMES_OF_DAY",
    "SEASONS",
    "style_id",
    "SyntheticLandscapes",
    "strokes",
    "segment_landscapes",
    "classify_landscape_style",
    "score_landscapes",
    "uniform_map_recall",
    "stroke_faithfulness",
]

DEFAULT_LENGTHS = {"train": 1000, "test": 200}
_STREAM_LAYOUT, _STREAM_STYLE = 0, 1

LANDSCAPE_CLASSES: tuple[str, ...] = (
    "sky", "cloud", "mountain", "snow", "water", "tree", "grass", "sand")
SKY, CLOUD, MOUNTAIN, SNOW, WATER, TREE, GRASS, SAND = range(len(LANDSCAPE_CLASSES))

#: Label colours (uint8, one row per class), chosen to be far apart so a label image reads
#: unambiguously: light blue sky, lavender cloud, brown mountain, white snow, dark blue water,
#: dark green tree, light green grass, yellow sand.
LANDSCAPE_PALETTE = np.array([
    [110, 180, 240],  # sky
    [200, 170, 250],  # cloud
    [140, 90, 60],  # mountain
    [255, 255, 255],  # snow
    [20, 60, 190],  # water
    [20, 110, 40],  # tree
    [150, 230, 90],  # grass
    [240, 210, 110],  # sand
], dtype=np.uint8)
LANDSCAPE_PALETTE.setflags(write=False)

TIMES_OF_DAY: tuple[str, ...] = ("day", "sunset", "night")
SEASONS: tuple[str, ...] = ("summer", "autumn", "winter")
#: Style names; a style id is an index into this tuple (``time * 3 + season``).
LANDSCAPE_STYLES: tuple[str, ...] = tuple(f"{t}-{s}" for t in TIMES_OF_DAY for s in SEASONS)


def style_id(style) -> int:
    """A style id from an id (0..8), a name like ``"sunset-autumn"``, or a (time, season) pair."""
    if isinstance(style, tuple) and len(style) == 2:
        style = f"{style[0]}-{style[1]}"
    if isinstance(style, str):
        if style not in LANDSCAPE_STYLES:
            raise ValueError(f"unknown style {style!r}; styles are {', '.join(LANDSCAPE_STYLES)}")
        return LANDSCAPE_STYLES.index(style)
    if isinstance(style, (int, np.integer)) and not isinstance(style, bool) \
            and 0 <= int(style) < len(LANDSCAPE_STYLES):
        return int(style)
    if isinstance(style, torch.Tensor) and style.numel() == 1:
        return style_id(int(style))
    raise ValueError(f"style must be an id 0..{len(LANDSCAPE_STYLES) - 1}, a name "
                     f"({', '.join(LANDSCAPE_STYLES)}) or a (time, season) pair; got {style!r}")


def _clip(x, lo, hi):
    """``np.clip`` without its Python-level overhead (called many times per item)."""
    return np.minimum(np.maximum(x, lo), hi)


def _sub(rng: np.random.Generator) -> np.random.Generator:
    """A child generator for fine texture fields, which draw fewer numbers at small sizes
    (cells finer than a pixel are skipped). Drawing them from a child keeps the parent stream,
    and so the layout, identical at every size; shape-giving noise has at most 32 cells and is
    drawn from the parent directly."""
    return np.random.default_rng(int(rng.integers(2 ** 63)))


@functools.lru_cache(maxsize=16)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = grid(size)
    yy.setflags(write=False)  # shared through the cache
    xx.setflags(write=False)
    return yy, xx


# ---------------------------------------------------------------------------------------------
# Layout: everything that does not depend on the style (labels, shapes, texture fields).
# ---------------------------------------------------------------------------------------------

# Tree colour variants (per cluster): conifer, and three kinds of deciduous tree (which turn
# orange, red or yellow in autumn).
CONIFER, DECIDUOUS_A, DECIDUOUS_B, DECIDUOUS_C = range(4)


@dataclass
class _Layout:
    labels: np.ndarray  # (S, S) int64
    horizon: float  # y of the lake level / foot of the mountains
    haze: np.ndarray  # (S, S) 0..1 aerial-perspective amount (far ridges)
    face: np.ndarray  # (S, S) -1..1 mountain face orientation (lit or not)
    tree_variant: np.ndarray  # (S, S) int, CONIFER.. (valid on tree pixels)
    tree_side: np.ndarray  # (S, S) -1..1 position across a crown (for its lit side)
    cloud_depth: np.ndarray  # (S, S) 0..1 how deep inside a cloud (bright rim, dark core)
    rock: np.ndarray  # (S, S) 0..1 rock texture
    foliage: np.ndarray  # (S, S) 0..1 foliage texture
    blades: np.ndarray  # (S, S) 0..1 grass texture
    ripples: np.ndarray  # (S, S) 0..1 horizontal streaks for water
    sparkle: np.ndarray  # (S, S) 0..1 fine noise (stars, snow dust, frost)
    sun_x: float
    sun_y: float  # sun (day/sunset) or moon (night) position


def _peaky(profile: np.ndarray) -> np.ndarray:
    """Normalise a 1-D profile to 0..1 and sharpen it into peaks."""
    p = (profile - profile.min()) / max(float(profile.max() - profile.min()), 1e-6)
    return p ** 1.4


def _sample_layout(rng: np.random.Generator, size: int) -> _Layout:
    """A random scene in normalised coordinates: labels plus the style-independent fields the
    renderer needs. Shape-giving noise is drawn from ``rng`` with the same number of draws at
    every size, so one index gives one scene at 32 px and at 256 px."""
    u = rng.uniform
    yy, xx = _grid(size)
    xs = xx[0]
    col_y = yy[:, :1]
    horizon = u(0.45, 0.66)
    labels = np.full((size, size), SKY, dtype=np.int64)

    # Clouds: horizontally stretched noise above the mountains, thresholded at a random cover.
    cloud_field = 0.65 * value_noise_rect(rng, size, 9, 4) \
        + 0.35 * value_noise_rect(rng, size, 18, 9)
    cloud_field *= smoothstep(horizon - 0.05, horizon - 0.25, col_y)  # none near the horizon
    cover = 0.0 if rng.random() < 0.25 else u(0.03, 0.2)
    cloud_depth = np.zeros((size, size), np.float32)
    if cover > 0:
        sky_part = cloud_field[: max(1, int(horizon * size))].ravel()  # cover is of the sky
        k = min(sky_part.size - 1, int((1.0 - cover) * sky_part.size))
        level = np.partition(sky_part, k)[k]
        cloudy = cloud_field > level
        labels[cloudy] = CLOUD
        cloud_depth = _clip((cloud_field - level) / 0.08, 0.0, 1.0)

    # Mountain ridges, far to near; nearer ridges are lower.
    n_ridges = int(rng.integers(1, 4))
    height = u(0.22, min(0.42, horizon - 0.08))
    haze = np.zeros((size, size), np.float32)
    face = np.zeros((size, size), np.float32)
    for k in range(n_ridges):
        skyline = fractal_noise_1d(rng, size, base_cells=int(rng.integers(2, 5)), octaves=4)
        top = horizon - height * (0.12 + 0.88 * _peaky(skyline))
        inside = (yy > top[None, :]) & (yy < horizon)
        labels[inside] = MOUNTAIN
        far = (n_ridges - 1 - k) / max(n_ridges - 1, 1)  # 1 for the farthest of several
        haze[inside] = 0.12 + 0.4 * far if n_ridges > 1 else 0.15
        # Faces: the skyline slope, smoothed more and fading with depth below the skyline
        # (one face per flank, not one per column), plus crags from the rock texture.
        slope = np.gradient(top) * size  # d(top)/dx in image units; > 0: ground falls rightwards
        r = size // 16
        c = np.cumsum(np.pad(slope, (r + 1, r), mode="edge"))
        smooth = (c[2 * r + 1:] - c[: size]) / (2 * r + 1)  # box average over 2r+1 columns
        below = _clip((yy - top[None, :]) / max(height, 1e-3), 0.0, 1.0)
        f = np.tanh(2.5 * smooth)[None, :] * (1.0 - 0.6 * below)
        face[inside] = f[inside]
        if k == 0:
            # Snow above a ragged snow line, reaching down the gullies.
            snow_y = horizon - height * u(0.5, 0.78)
            ragged = value_noise_rect(rng, size, 12, 24) - 0.5
            snow = inside & (yy < snow_y + 0.06 * ragged + 0.03 * (1 - _peaky(-top)[None, :]))
            labels[snow] = SNOW
        else:
            snow_y = horizon - height * u(0.55, 0.78)  # lower ridges: snow only on high tops
            ragged = value_noise_rect(rng, size, 12, 24) - 0.5
            labels[inside & (yy < snow_y + 0.05 * ragged)] = SNOW
        height *= u(0.45, 0.8)

    # Lake (most scenes), its beach, and the grass below.
    water = np.zeros((size, size), bool)
    shore = np.full(size, horizon, np.float32)
    if rng.random() < 0.7:
        depth = u(0.08, 0.28)
        prof = fractal_noise_1d(rng, size, base_cells=int(rng.integers(2, 4)), octaves=4)
        shore = horizon + depth * _clip(1.8 * prof - 0.25, 0.0, 1.0)
        water = (yy >= horizon) & (yy < shore[None, :])
    below = yy >= horizon
    labels[below] = GRASS
    labels[water] = WATER
    if water.any() and rng.random() < 0.55:
        beach = shore + (u(0.008, 0.025) + 0.012 * fractal_noise_1d(rng, size, 6, 3)) \
            * (shore > horizon + 0.005)
        labels[below & ~water & (yy < beach[None, :])] = SAND

    tree_variant = np.zeros((size, size), np.int64)
    tree_side = np.zeros((size, size), np.float32)

    def plant(x, base, heights, kind, variant):
        """A row of trees standing on ``base`` (scalar y): conifer triangles or round crowns."""
        x = np.asarray(x, np.float32)[:, None]
        h = np.asarray(heights, np.float32)[:, None]
        dx = xs[None, :] - x  # (T, S)
        if kind == "conifer":
            half = 0.32 * h
            top = base - h * (1.0 - np.abs(dx) / half)
            top = np.where(np.abs(dx) < half, top, np.inf)
            bottom = np.where(np.abs(dx) < half, base, -np.inf)
        else:
            r = 0.4 * h
            cy = base - h + r
            chord = np.sqrt(np.maximum(r * r - dx * dx, 0.0))
            top = np.where(np.abs(dx) < r, cy - chord, np.inf)
            trunk = np.abs(dx) < 0.06 * h
            bottom = np.where(trunk, base, np.where(np.abs(dx) < r, cy + 0.75 * chord, -np.inf))
        front = np.argmin(top, axis=0)  # which tree's outline is highest at each column
        t_min = top.min(axis=0)
        b_max = bottom.max(axis=0)
        region = (yy > t_min[None, :]) & (yy < b_max[None, :])
        labels[region] = TREE
        tree_variant[region] = variant
        width = (0.32 if kind == "conifer" else 0.4) * h[front, 0]
        side = _clip(dx[front, np.arange(size)] / width, -1.0, 1.0)
        tree_side[region] = np.broadcast_to(side[None, :], region.shape)[region]

    # A forest line standing at the foot of the mountains (on the far shore).
    if rng.random() < 0.65:
        n = int(rng.integers(12, 45))
        kind = "conifer" if rng.random() < 0.7 else "round"
        plant(u(0, 1, n), horizon + 0.004, u(0.02, 0.055, n), kind,
              CONIFER if kind == "conifer" else int(rng.integers(1, 4)))
    # Clusters in the grass foreground, bigger when nearer.
    ground_top = float(max(shore.max(), horizon)) + 0.05
    for _ in range(int(rng.choice(4, p=[0.2, 0.35, 0.3, 0.15]))):
        if ground_top > 0.97:
            break
        base = u(ground_top, 0.99)
        near = (base - horizon) / (1.0 - horizon)
        n = int(rng.integers(2, 8))
        centre, spread = u(0.0, 1.0), u(0.05, 0.2)
        kind = "conifer" if rng.random() < 0.5 else "round"
        plant(centre + spread * rng.standard_normal(n), base,
              (0.06 + 0.32 * near) * u(0.7, 1.2, n), kind,
              CONIFER if kind == "conifer" else int(rng.integers(1, 4)))

    sun_x = u(0.1, 0.9)
    sun_y = u(0.08, 0.25)
    texture = _sub(rng)
    return _Layout(
        labels=labels, horizon=horizon, haze=haze, face=face, tree_variant=tree_variant,
        tree_side=tree_side, cloud_depth=cloud_depth,
        rock=fractal_noise_fast(texture, size, base_cells=5, octaves=4),
        foliage=0.6 * value_noise_rect(texture, size, min(size, 40), min(size, 40))
        + 0.4 * value_noise_rect(texture, size, min(size, 96), min(size, 96)),
        blades=value_noise_rect(texture, size, min(size, 24), min(size, 120)),
        ripples=value_noise_rect(texture, size, min(size, 90), 8),
        sparkle=texture.random((size, size), dtype=np.float32),
        sun_x=sun_x, sun_y=sun_y,
    )


# ---------------------------------------------------------------------------------------------
# Style: colours. The same tables feed the renderer and the segmentation prototypes.
# ---------------------------------------------------------------------------------------------

def _rgb(*c) -> np.ndarray:
    return np.array(c, np.float32)


# Reflectance of each surface by season (before the light of the time of day).
_ALBEDO = {
    "summer": {MOUNTAIN: _rgb(0.46, 0.42, 0.38), SNOW: _rgb(0.96, 0.97, 1.0),
               GRASS: _rgb(0.33, 0.6, 0.2), SAND: _rgb(0.86, 0.78, 0.58),
               "trees": (_rgb(0.1, 0.3, 0.14), _rgb(0.2, 0.48, 0.14), _rgb(0.16, 0.42, 0.12),
                         _rgb(0.24, 0.5, 0.18)),
               "water": _rgb(0.06, 0.22, 0.3)},
    "autumn": {MOUNTAIN: _rgb(0.48, 0.42, 0.37), SNOW: _rgb(0.96, 0.97, 1.0),
               GRASS: _rgb(0.62, 0.56, 0.26), SAND: _rgb(0.86, 0.78, 0.58),
               "trees": (_rgb(0.1, 0.28, 0.14), _rgb(0.85, 0.42, 0.08), _rgb(0.72, 0.18, 0.08),
                         _rgb(0.88, 0.7, 0.12)),
               "water": _rgb(0.07, 0.2, 0.26)},
    "winter": {MOUNTAIN: _rgb(0.5, 0.5, 0.54), SNOW: _rgb(0.96, 0.97, 1.0),
               GRASS: _rgb(0.6, 0.58, 0.42), SAND: _rgb(0.8, 0.74, 0.6),
               "trees": (_rgb(0.08, 0.22, 0.13), _rgb(0.36, 0.28, 0.22), _rgb(0.36, 0.28, 0.22),
                         _rgb(0.36, 0.28, 0.22)),
               "water": _rgb(0.62, 0.72, 0.8)},  # ice
}

# Light, sky and clouds by time of day.
_TIME = {
    "day": dict(light=_rgb(1.0, 1.0, 0.97), sky_top=_rgb(0.2, 0.42, 0.82),
                sky_horizon=_rgb(0.68, 0.8, 0.94), sun=_rgb(1.0, 0.98, 0.88), sun_r=0.035, glow=0.2,
                cloud_lit=_rgb(0.82, 0.85, 0.93), cloud_dark=_rgb(0.58, 0.63, 0.75)),
    "sunset": dict(light=_rgb(1.0, 0.66, 0.56), sky_top=_rgb(0.22, 0.2, 0.45),
                   sky_horizon=_rgb(1.0, 0.6, 0.3), sun=_rgb(1.0, 0.85, 0.55), sun_r=0.05, glow=0.3,
                   cloud_lit=_rgb(0.95, 0.5, 0.45), cloud_dark=_rgb(0.5, 0.3, 0.42)),
    "night": dict(light=_rgb(0.34, 0.4, 0.58), sky_top=_rgb(0.01, 0.02, 0.07),
                  sky_horizon=_rgb(0.07, 0.1, 0.22), sun=_rgb(0.92, 0.92, 0.85), sun_r=0.025,
                  glow=0.08,
                  cloud_lit=_rgb(0.32, 0.34, 0.44), cloud_dark=_rgb(0.17, 0.18, 0.26)),
}
_WATER_TINT = _rgb(0.45, 0.6, 0.62)  # a lake reflects blue/green more than red
SKY_GRADIENT_END = 0.62  # image height where the sky reaches its horizon colour


@dataclass(frozen=True)
class _Style:
    time: str
    season: str

    @property
    def t(self) -> dict:
        return _TIME[self.time]

    @property
    def a(self) -> dict:
        return _ALBEDO[self.season]

    def lit(self, albedo: np.ndarray) -> np.ndarray:
        return albedo * self.t["light"]

    def snow(self) -> np.ndarray:
        """Snow is lit by the sun and, being white, visibly by the blue sky too."""
        return self.a[SNOW] * (0.82 * self.t["light"] + 0.3 * self.t["sky_top"])

    def sky(self, y):
        """Sky colour at image height ``y`` (0 top .. 1 bottom; broadcasts, adds a last axis
        of 3). It depends on y alone, not on the horizon, so a segmenter can predict it."""
        g = _clip(np.asarray(y, np.float32) / SKY_GRADIENT_END, 0.0, 1.0)[..., None] ** 0.8
        return self.t["sky_top"] + (self.t["sky_horizon"] - self.t["sky_top"]) * g

    def reflectivity(self) -> float:
        return 0.25 if self.season == "winter" else 0.55  # ice reflects less

    def water(self, reflected: np.ndarray) -> np.ndarray:
        """Water colour for a reflected colour (broadcasts)."""
        r = self.reflectivity()
        return r * reflected * _WATER_TINT + (1 - r) * self.lit(self.a["water"])


def _style_from_id(sid: int) -> _Style:
    return _Style(TIMES_OF_DAY[sid // len(SEASONS)], SEASONS[sid % len(SEASONS)])


def _render(layout: _Layout, sid: int, size: int) -> np.ndarray:
    """The photo of ``layout`` in style ``sid``: (S, S, 3) float in [0, 1].

    Whole-image arithmetic with per-class colour tables and ``np.where`` (no per-class
    gathers/scatters), which keeps it fast at small sizes.
    """
    st = _style_from_id(sid)
    tm, al = st.t, st.a
    yy, xx = _grid(size)
    lab = layout.labels
    h = layout.horizon
    col_y = yy[:, :1]
    light_dir = 1.0 if layout.sun_x > 0.5 else -1.0

    # Surfaces: a colour per class (per variant for trees) times a texture/shading factor.
    table = np.zeros((len(LANDSCAPE_CLASSES), 3), np.float32)
    table[MOUNTAIN], table[SNOW] = st.lit(al[MOUNTAIN]), st.snow()
    table[GRASS], table[SAND] = st.lit(al[GRASS]), st.lit(al[SAND])
    tree_colours = np.stack([st.lit(c) for c in al["trees"]])
    is_tree = lab == TREE
    base = np.where(is_tree[..., None], tree_colours[layout.tree_variant], table[lab])
    # Mountains: rock texture, faces lit towards the sun, crags from the texture's slope.
    rock = layout.rock
    crags = np.tanh((np.roll(rock, -1, axis=1) - np.roll(rock, 1, axis=1)) * (size * 0.08))
    lit_face = 1.0 + (0.22 * layout.face + 0.12 * crags) * light_dir
    # Grass: blades (stronger in the foreground) and a gentle brightening towards the horizon.
    near = _clip((col_y - h) / (1 - h), 0.0, 1.0)
    grass = (0.9 + 0.3 * (layout.blades - 0.5) * (0.4 + 0.6 * near)
             + 0.12 * (layout.foliage - 0.5)) * (1.05 - 0.1 * near)
    factor = np.where(lab == MOUNTAIN, (0.8 + 0.4 * rock) * lit_face, grass)
    factor = np.where(lab == SNOW, 0.9 + 0.1 * _clip(lit_face, 0.0, 1.0) + 0.06 * (rock - 0.5),
                      factor)
    # Trees: the lit side of each crown, clumpy foliage.
    factor = np.where(is_tree, 0.8 + 0.22 * layout.tree_side * light_dir
                      + 0.3 * (layout.foliage - 0.5), factor)
    factor = np.where(lab == SAND, 0.95 + 0.1 * layout.foliage, factor)
    img = base * factor[..., None]
    if st.season == "winter":  # snow dusting on the branches
        dust = smoothstep(0.85, 0.97, layout.sparkle) * (0.25 * is_tree)
        img += (st.snow() - img) * dust[..., None]
    # Distant ridges fade into the horizon colour (haze is 0 off the mountains).
    img += (tm["sky_horizon"] - img) * layout.haze[..., None]

    # Sky: a vertical gradient, the sun's (or moon's) disc and glow, stars at night; clouds
    # with lit rims and darker cores.
    sky = st.sky(col_y)  # (S, 1, 3)
    sun_y = h - 0.06 - 0.1 * (layout.sun_y - 0.08) if st.time == "sunset" else layout.sun_y
    d2 = ((xx - layout.sun_x) ** 2 + (yy - sun_y) ** 2) * (1.0 / tm["sun_r"] ** 2)
    sky = sky + (tm["glow"] * np.exp(-d2 / 30.0))[..., None] * tm["sun"]
    sky = sky + (tm["sun"] - sky) * smoothstep(1.15, 0.85, d2)[..., None]
    if st.time == "night":
        stars = smoothstep(0.992, 0.999, layout.sparkle) * _clip(1.2 - col_y / h, 0.0, 1.0)
        sky = sky + stars[..., None] * 0.8
    depth = (0.7 * layout.cloud_depth)[..., None]
    cloud = tm["cloud_lit"] + (tm["cloud_dark"] - tm["cloud_lit"]) * depth
    img = np.where((lab == SKY)[..., None], sky, np.where((lab == CLOUD)[..., None], cloud, img))

    # Water: the mirror image of the scene above the shoreline, rippled and tinted.
    r0 = int(h * size)
    water = lab[r0:] == WATER
    if water.any():
        rows = (np.arange(r0, size, dtype=np.float32)[:, None] + 0.5) / size
        rip = layout.ripples[r0:]
        src_y = _clip(2 * h - rows, 0.0, 1.0 - 1e-6)
        src_x = _clip(xx[r0:] + (rip - 0.5) * (0.03 * (1 + 2 * (rows - h))), 0.0, 1.0 - 1e-6)
        reflected = img[(src_y * size).astype(np.int64), (src_x * size).astype(np.int64)]
        lake = st.water(reflected) * (1.0 + 0.16 * (rip - 0.5))[..., None]
        img[r0:] = np.where(water[..., None], lake, img[r0:])
    return _clip(img, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------

class SyntheticLandscapes(SyntheticDataset):
    """Landscape label maps (``"A"``) and photos (``"B"``) in nine styles.

    Args:
        split: ``"train"`` or ``"test"``; the two never share an item.
        size: image side in pixels, 32..256 (scenes are defined in normalised coordinates).
        length: number of items (default 1000 for train, 200 for test).
        seed: dataset seed; item ``i`` is a pure function of ``(seed, split, i)`` (and
            ``style``).
        style: ``None`` for a random style per item, or one style (id, name or
            ``(time, season)``) for every item. The label layout of item ``i`` never depends
            on the style, so :meth:`render` and :meth:`all_styles` show one layout in
            every style.

    Items: ``"A"`` the label colours (3, H, W) in [-1, 1] (:data:`LANDSCAPE_PALETTE`),
    ``"B"`` the photo (3, H, W) in [-1, 1], ``"labels"`` int64 (H, W) indices into
    :data:`LANDSCAPE_CLASSES`, ``"style"`` int64 scalar (index into :data:`LANDSCAPE_STYLES`).
    """

    default_lengths = DEFAULT_LENGTHS
    title = "synthetic landscapes"

    def __init__(self, split: str = "train", size: int = 64, length: int | None = None,
                 seed: int = 0, style=None):
        super().__init__(split, size, length, seed)
        self.style = None if style is None else style_id(style)

    def _rng(self, i: int, stream: int) -> np.random.Generator:
        return self.rng(i, stream)

    def layout(self, index) -> np.ndarray:
        """The class-index map of item ``index`` as an int64 NumPy array (H, W)."""
        return _sample_layout(self._rng(self._index(index), _STREAM_LAYOUT), self.size).labels

    def item_style(self, index) -> int:
        """The style id item ``index`` is rendered in."""
        i = self._index(index)
        if self.style is not None:
            return self.style
        return int(self._rng(i, _STREAM_STYLE).integers(len(LANDSCAPE_STYLES)))

    def render(self, index, style=None) -> dict:
        """Item ``index`` rendered in ``style`` (default: the item's own style)."""
        i = self._index(index)
        sid = self.item_style(i) if style is None else style_id(style)
        layout = _sample_layout(self._rng(i, _STREAM_LAYOUT), self.size)
        return self._item(layout, sid)

    def all_styles(self, index) -> list[dict]:
        """Item ``index`` in every style, in :data:`LANDSCAPE_STYLES` order: the same layout,
        ``"labels"`` and ``"A"``, a different photo ``"B"`` (as ``SyntheticFacades.all_styles``)."""
        i = self._index(index)
        layout = _sample_layout(self._rng(i, _STREAM_LAYOUT), self.size)
        return [self._item(layout, s) for s in range(len(LANDSCAPE_STYLES))]

    # The nine styles are the target domain's modes (label map -> photo is one-to-many).
    modes = LANDSCAPE_STYLES

    def score(self, inputs, outputs, items, direction):
        """Label map -> photo (``"AtoB"``): :func:`score_landscapes` of the outputs against
        the input labels (``pixel_accuracy``, ``class_accuracy``, ``class_iou``, ``detail``).
        Photo -> label map: the outputs' palette colours against the true labels."""
        if direction == "AtoB":
            return score_landscapes(outputs, items["labels"])
        return segmentation_scores(labels_from_palette(outputs, LANDSCAPE_PALETTE),
                                   items["labels"], len(LANDSCAPE_CLASSES))

    def mode_of(self, images):
        """:func:`classify_landscape_style` of photos (N, 3, H, W)."""
        return classify_landscape_style(images)

    def _item(self, layout: _Layout, sid: int) -> dict:
        labels = torch.from_numpy(layout.labels)
        return {
            "A": to_tensor(palette_image(layout.labels, LANDSCAPE_PALETTE)),
            "B": to_tensor(_render(layout, sid, self.size)),
            "labels": labels,
            "style": torch.tensor(sid, dtype=torch.int64),
        }

    def __getitem__(self, index) -> dict:
        return self.render(index)


# ---------------------------------------------------------------------------------------------
# Strokes (SDEdit guides)
# ---------------------------------------------------------------------------------------------

def _check_images(images, name: str = "images") -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 3, H, W) in [-1, 1], "
                        f"got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3, H, W) (a batch of RGB images in "
                         f"[-1, 1]); got {tuple(images.shape)}. Add a batch dimension with "
                         f"x[None] for a single image.")
    if images.shape[-1] < 16 or images.shape[-2] < 16:
        raise ValueError(f"{name} must be at least 16x16 pixels, got {tuple(images.shape[-2:])}")
    return images.detach().float()


def strokes(images: torch.Tensor, seed: int = 0, colours: int = 6, grid_cells: int = 16,
            raggedness: float = 0.6) -> torch.Tensor:
    """Turn images into the coarse flat-colour strokes a user would paint (SDEdit's guide).

    Each image is averaged down to ``grid_cells x grid_cells`` blocks, its block colours are
    clustered into ``colours`` flat colours (k-means, 10 iterations, farthest-point start so it
    needs no randomness), lone blocks are absorbed by their neighbours (3x3 majority), and the
    regions are drawn back at full size with soft round shapes whose edges are pushed around
    by a smooth random displacement of up to ``raggedness`` blocks (the only use of ``seed``),
    like hand-painted blobs.

    Args:
        images: (N, 3, H, W) in [-1, 1] (any source: photos, generated images).
        seed: seed of the edge displacement; the same seed and batch give the same strokes.
        colours: flat colours per image (2..16).
        grid_cells: blocks across the image; smaller = coarser strokes.
        raggedness: edge displacement in blocks (0 = smooth edges along the block grid).

    Returns:
        (N, 3, H, W) in [-1, 1]: at most ``colours`` distinct colours per image.
    """
    x = _check_images(images).clamp(-1, 1)
    if not 2 <= int(colours) <= 16:
        raise ValueError(f"colours must be between 2 and 16, got {colours}")
    if not 2 <= int(grid_cells) <= min(x.shape[-2:]):
        raise ValueError(f"grid_cells must be between 2 and the image side, got {grid_cells}")
    if not 0 <= raggedness <= 2:
        raise ValueError(f"raggedness must be between 0 and 2 blocks, got {raggedness}")
    n, _, h, w = x.shape
    k, g = int(colours), int(grid_cells)
    small = F.adaptive_avg_pool2d(x, (g, g))  # (N, 3, g, g)
    pts = small.flatten(2).transpose(1, 2)  # (N, g*g, 3)

    # k-means with a deterministic farthest-point start.
    centres = [pts.mean(1)]
    for _ in range(k - 1):
        d = torch.cdist(pts, torch.stack(centres, 1)).amin(2)  # (N, P)
        centres.append(pts[torch.arange(n), d.argmax(1)])
    centres = torch.stack(centres, 1)  # (N, k, 3)
    for _ in range(10):
        assign = torch.cdist(pts, centres).argmin(2)  # (N, P)
        one_hot = F.one_hot(assign, k).float()  # (N, P, k)
        count = one_hot.sum(1)  # (N, k)
        mean = one_hot.transpose(1, 2) @ pts / count.clamp_min(1)[..., None]
        centres = torch.where(count[..., None] > 0, mean, centres)  # keep empty clusters
    assign = torch.cdist(pts, centres).argmin(2)

    # Majority filter at block level, then smooth, displaced upsampling of the region map.
    votes = F.one_hot(assign, k).float().transpose(1, 2).reshape(n, k, g, g)
    votes = F.avg_pool2d(F.pad(votes, (1, 1, 1, 1), mode="replicate"), 3, stride=1) + 0.5 * votes
    gen = torch.Generator().manual_seed(int(seed))
    ys = torch.linspace(-1, 1, h)
    xs = torch.linspace(-1, 1, w)
    base = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)  # (h, w, 2) as (x, y)
    coarse = torch.rand(n, 2, 5, 5, generator=gen) * 2 - 1
    shift = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    shift = shift.permute(0, 2, 3, 1) * (2.0 * raggedness / g)  # blocks -> [-1, 1] units
    up = F.grid_sample(votes, base[None] + shift, mode="bilinear", padding_mode="border",
                       align_corners=True)  # (N, k, h, w)
    region = up.argmax(1)  # (N, h, w)
    out = torch.gather(centres, 1, region.flatten(1)[..., None].expand(-1, -1, 3))
    return out.reshape(n, h, w, 3).permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------------------------------------
# Scorers
# ---------------------------------------------------------------------------------------------

def _class_prototypes(sid: int) -> tuple[np.ndarray, np.ndarray]:
    """Representative colours of every class but sky in style ``sid``, straight from the
    renderer's tables: (P, 3) colours and (P,) class ids. Shading, haze, cloud depth and the
    water's reflections contribute several points each. (The sky depends on the row, see
    :func:`_sky_prototypes`.)"""
    st = _style_from_id(sid)
    tm, al = st.t, st.a
    cols, ids = [], []

    def add(colour, cls):
        cols.append(np.asarray(colour, np.float32))
        ids.append(cls)

    for f in (0.0, 0.35, 0.7):
        add(tm["cloud_lit"] + (tm["cloud_dark"] - tm["cloud_lit"]) * f, CLOUD)
    rock, snow = st.lit(al[MOUNTAIN]), st.snow()
    for haze in (0.0, 0.3, 0.52):
        for shade in (0.85, 1.0, 1.15):
            add(rock * shade + (tm["sky_horizon"] - rock * shade) * haze, MOUNTAIN)
        for shade in (0.92, 1.0):
            add(snow * shade + (tm["sky_horizon"] - snow * shade) * haze, SNOW)
    for c in al["trees"]:
        for shade in (0.65, 0.85, 1.0):
            add(st.lit(c) * shade, TREE)
    for shade in (0.85, 1.0):
        add(st.lit(al[GRASS]) * shade, GRASS)
    add(st.lit(al[SAND]), SAND)
    reflected = [st.sky(y) for y in (0.3, 0.45, 0.6)] + [rock, snow, st.lit(al["trees"][0]) * 0.85,
                                                          tm["cloud_lit"]]
    for c in reflected:
        add(st.water(c), WATER)
    return np.stack(cols), np.array(ids)


def _sky_prototypes(sid: int, size: int) -> np.ndarray:
    """(size, 4, 3) sky colours per row: the gradient, and the gradient inside the glow of
    the sun or moon at three strengths. The sun's disc itself is added as a fifth, fixed one."""
    st = _style_from_id(sid)
    rows = st.sky((np.arange(size, dtype=np.float32) + 0.5) / size)  # (size, 3)
    glows = [rows + f * st.t["glow"] * st.t["sun"] for f in (0.33, 0.67, 1.0)]
    disc = np.broadcast_to(st.t["sun"], rows.shape)
    return np.stack([rows] + glows + [disc], 1)


@functools.lru_cache(maxsize=None)
def _all_prototypes() -> tuple[torch.Tensor, torch.Tensor]:
    """(styles, P, 3) colours in [-1, 1] and (styles, P) class ids (all classes but sky)."""
    cols, ids = zip(*(_class_prototypes(s) for s in range(len(LANDSCAPE_STYLES))))
    return torch.from_numpy(np.stack(cols)) * 2 - 1, torch.from_numpy(np.stack(ids))


@functools.lru_cache(maxsize=32)
def _all_sky_prototypes(size: int) -> torch.Tensor:
    """(styles, size, 5, 3) per-row sky colours in [-1, 1]."""
    return torch.from_numpy(np.stack([_sky_prototypes(s, size)
                                      for s in range(len(LANDSCAPE_STYLES))])) * 2 - 1


def _nearest(pix: torch.Tensor, protos: torch.Tensor, sky: torch.Tensor):
    """Distance to, and class of, the nearest prototype of every pixel.

    pix (N, H, W, 3); protos (N, P, 3) with ``ids`` handled by the caller; sky (N, H, K, 3)
    per-row sky prototypes. Returns (distance to the nearest non-sky prototype and its index,
    distance to the nearest sky prototype of the pixel's row), all (N, H, W)."""
    n, h, w, _ = pix.shape
    d = torch.cdist(pix.reshape(n, h * w, 3), protos)  # (N, HW, P)
    d_other, idx = d.min(2)
    d_sky = (pix[:, :, :, None, :] - sky[:, :, None, :, :]).pow(2).sum(-1).sqrt().amin(-1)
    return d_other.reshape(n, h, w), idx.reshape(n, h, w), d_sky


def segment_landscapes(photos: torch.Tensor, styles=None) -> torch.Tensor:
    """Analytic segmentation of landscape photos: (N, 3, H, W) in [-1, 1] -> (N, H, W) int64.

    Every pixel takes the class of the nearest colour prototype of the renderer's palette in
    the photo's style (:func:`_class_prototypes`: lit/shaded/hazy rock and snow, cloud depth,
    foliage variants, grass, sand, water reflecting the scene; the sky prototypes depend on
    the row, like the sky gradient), then a 3x3 majority vote removes lone pixels (texture
    extremes that happen to land on another class's colour). The style is the one whose
    prototypes explain the image best (least mean distance), unless ``styles`` (one id, or
    one per image) is given.
    """
    x = _check_images(photos, "photos").clamp(-1, 1)
    n, _, h, w = x.shape
    protos, ids = _all_prototypes()  # (S, P, 3), (S, P)
    sky = _all_sky_prototypes(h)  # (S, H, K, 3)
    pix = x.permute(0, 2, 3, 1)  # (N, H, W, 3)
    if styles is None:
        chosen = _nearest_style(pix, protos, sky)
    else:
        chosen = torch.as_tensor(styles).long().flatten()
        if chosen.numel() == 1:
            chosen = chosen.expand(n)
        if chosen.numel() != n or (chosen < 0).any() or (chosen >= len(LANDSCAPE_STYLES)).any():
            raise ValueError(f"styles must be one style id (0..{len(LANDSCAPE_STYLES) - 1}) or "
                             f"one per image ({n}); got {styles!r}")
    d_other, idx, d_sky = _nearest(pix, protos[chosen], sky[chosen])
    nearest = torch.gather(ids[chosen], 1, idx.flatten(1)).reshape(n, h, w)
    nearest = torch.where(d_sky < d_other, torch.full_like(nearest, SKY), nearest)
    votes = F.one_hot(nearest, len(LANDSCAPE_CLASSES)).permute(0, 3, 1, 2).float()
    votes = F.avg_pool2d(F.pad(votes, (1, 1, 1, 1), mode="replicate"), 3, stride=1) + 0.01 * votes
    return votes.argmax(1)


def _nearest_style(pix: torch.Tensor, protos: torch.Tensor, sky: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) pixels -> (N,) the style whose palette is nearest on average, judged on a
    subsample of the pixels."""
    n, h = pix.shape[:2]
    step = max(1, h // 32)
    sub, sub_sky = pix[:, ::step, ::step], sky[:, ::step]
    cost = torch.stack([torch.minimum(*_nearest(sub, protos[s].expand(n, -1, -1),
                                                sub_sky[s].expand(n, -1, -1, -1))[::2])
                        .flatten(1).mean(1) for s in range(len(LANDSCAPE_STYLES))], 1)
    return cost.argmin(1)


def classify_landscape_style(photos: torch.Tensor) -> torch.Tensor:
    """Which of :data:`LANDSCAPE_STYLES` each photo (N, 3, H, W) in [-1, 1] looks like:
    LongTensor (N,), the style :func:`segment_landscapes` would segment it in."""
    x = _check_images(photos, "photos").clamp(-1, 1)
    protos, _ = _all_prototypes()
    return _nearest_style(x.permute(0, 2, 3, 1), protos, _all_sky_prototypes(x.shape[2]))


def _check_labels(labels, n: int, h: int, w: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor (N, H, W) of class ids, "
                        f"got {type(labels).__name__}")
    if tuple(labels.shape) != (n, h, w):
        raise ValueError(f"labels must have shape {(n, h, w)} to match the photos, "
                         f"got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= len(LANDSCAPE_CLASSES):
        raise ValueError(f"labels must be integer class ids in 0..{len(LANDSCAPE_CLASSES) - 1}")
    return labels.long()


def score_landscapes(photos: torch.Tensor, labels: torch.Tensor, styles=None) -> dict[str, float]:
    """Label consistency of (generated) photos with the label maps they were made from.

    Segments the photos with :func:`segment_landscapes` (``styles`` as there) and compares with
    ``labels`` (N, H, W), the way the SPADE/pix2pix papers score with a segmentation network:

    * ``pixel_accuracy``: fraction of pixels whose segmented class is the label;
    * ``class_accuracy``: mean over classes (present in ``labels``) of that class's recall;
    * ``class_iou``: mean over classes present in either map of the intersection over union;
    * ``detail``: mean absolute luminance high-pass (minus a Gaussian blur with sigma 1.5 % of
      the side) inside the photo's own segmented regions, 2 px away from their boundaries:
      the texture. 0 for flat colours; real photos measure about 0.006 at 64 px. Label
      consistency alone is satisfied by flat class colours, this is not.
    """
    x = _check_images(photos, "photos")
    n, _, h, w = x.shape
    lab = _check_labels(labels, n, h, w)
    pred = segment_landscapes(x, styles)
    c = len(LANDSCAPE_CLASSES)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    lum = ((x.clamp(-1, 1) + 1) / 2 * weights).sum(1, keepdim=True)
    hp = (lum - _blur(lum, max(0.6, 0.015 * w))).abs()
    # Away from the photo's own region boundaries (2 px in), so that edges between regions
    # (of the right layout or a wrong one) do not count as texture.
    onehot = F.one_hot(pred, c).permute(0, 3, 1, 2).float()
    interior = (-F.max_pool2d(-onehot, 5, stride=1, padding=2)).amax(1, keepdim=True)
    detail = (hp * interior).sum() / interior.sum().clamp_min(1.0)
    return {**segmentation_scores(pred, lab, c), "detail": float(detail)}



def uniform_map_recall(translate, size: int = 64, styles=None) -> dict[str, float]:
    """The wash-out test (thesis §2.3, Fig. 2.3) on a trained model: each class's recall on the
    label map that it fills entirely.

    ``translate`` maps label colours (N, 3, H, W) in [-1, 1] (the items' ``"A"``) to photos. For
    every class k the ``size`` x ``size`` map of k alone is translated on its own (batch 1, as a
    painter does), and the recall is the fraction of the photo's pixels that
    :func:`segment_landscapes` (``styles`` as there) reads as k. A generator whose normalisation
    washes uniform maps out paints one photo whatever the class, so it recalls at most the class
    that photo looks like: a mean recall near 1/8 over the eight classes.
    """
    recall = {}
    for k, name in enumerate(LANDSCAPE_CLASSES):
        colours = to_tensor(palette_image(np.full((size, size), k), LANDSCAPE_PALETTE))[None]
        with torch.no_grad():
            photo = translate(colours)
        _check_images(photo, "translate's output")
        recall[name] = float((segment_landscapes(photo.float().cpu(), styles) == k).double().mean())
    return recall

#: Distance scale of :func:`stroke_faithfulness`'s score: ``score = exp(-distance / 0.25)``.
#: Measured at 64 px ([-1, 1] units, RMS over 16x16 blocks): a photo against its own strokes
#: ~0.1 (score ~0.68), an unrelated landscape ~0.5 (score ~0.13), a grey image ~0.5. The
#: scale puts "follows the guide" and "ignores the guide" at opposite ends of (0, 1].
FAITHFULNESS_SCALE = 0.25


def stroke_faithfulness(outputs: torch.Tensor, stroke_images: torch.Tensor,
                        cells: int = 16) -> dict[str, float]:
    """How faithful outputs are to their stroke guides, SDEdit-style.

    SDEdit measures faithfulness as the L2 distance between the output and the stroke input.
    Strokes have no texture and ragged edges, so both images are first averaged down to
    ``cells x cells`` blocks (what a painted guide can specify), then:

    * ``distance``: RMS difference per pixel and channel, [-1, 1] units, averaged over images;
    * ``score``: ``exp(-distance / FAITHFULNESS_SCALE)`` averaged over images, in (0, 1]:
      1 = identical layout and colours.
    """
    out = _check_images(outputs, "outputs")
    ref = _check_images(stroke_images, "stroke_images")
    if out.shape != ref.shape:
        raise ValueError(f"outputs and stroke_images must have the same shape, got "
                         f"{tuple(out.shape)} and {tuple(ref.shape)}")
    a = F.adaptive_avg_pool2d(out.clamp(-1, 1), cells)
    b = F.adaptive_avg_pool2d(ref.clamp(-1, 1), cells)
    dist = ((a - b) ** 2).mean(dim=(1, 2, 3)).sqrt()
    return {"distance": float(dist.mean()),
            "score": float(torch.exp(-dist / FAITHFULNESS_SCALE).mean())}
