"""``synthetic-zebras``: an offline stand-in for horse2zebra (unpaired; CycleGAN, CUT).

Domain A is a horse-like animal with a smooth, shaded coat (bay, chestnut, black, grey,
palomino, buckskin; sometimes a blaze or white socks). Domain B is the same kind of animal
with black-and-white stripes that follow the body: the stripe phase is measured along each
body part's own axis, so stripes run across the torso (perpendicular to the spine), around
the neck, the legs, the head and the tail, and bend on the rump. Both domains share one
silhouette model (torso, neck, mane, head, ears, four jointed legs, tail) with a random pose
(head up or grazing, gait, tail swing), size, position and facing, on the same kind of
textured meadow/savanna background, sometimes with sky and a tree line.

What makes it a fair test of a translation network:

* A coat colour cannot be mapped to stripes pixel by pixel: where a stripe goes depends on
  where the pixel is *on the body*, so a generator must understand the animal's shape.
* The background must be left alone and the silhouette kept, which is measurable because
  the scene is synthetic: :meth:`SyntheticZebras.render_pair` gives the same animal and
  background in both coats (the ground-truth translation), and the scorers below segment
  animals and detect stripes analytically.

Scorers (batched tensors ``(N, 3, H, W)`` in [-1, 1]):

* :func:`segment_animals`: the background is always "cool" (green grass, blue sky: green
  above red) and every coat is warm or neutral (red >= green >= blue), so ``G - R`` with a
  locally adapted threshold separates them, outline pixels included; scattered specks (a
  generator's colour noise in the grass) are dropped.
* :func:`is_zebra`: the stripe verdict. A zebra's torso has luminance contrast at the stripe
  scale (:func:`stripe_score` above :data:`STRIPE_THRESHOLD`), black-and-white colours (chroma
  below :data:`CHROMA_MAX`) and one orientation (coherence above :func:`coherence_threshold`):
  contrast alone would call colour speckle, noise and checkerboards zebras.
* :func:`score_zebras`: silhouette IoU, background preservation, zebra rate, mean stripe score.

    >>> ds = SyntheticZebras("train", size=64)
    >>> item = ds[0]; item["A"].shape, item["mask_B"].shape
    (torch.Size([3, 64, 64]), torch.Size([1, 64, 64]))
"""
from __future__ import annotations

import cmath
import colorsys
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from coursekit.data.metrics import gaussian_blur as _blur
from coursekit.data.synthetic.base import SyntheticDataset
from coursekit.data.synthetic.render import (
    fractal_noise_1d,
    fractal_noise_fast,
    grid,
    smoothstep,
    to_tensor,
    value_noise_rect,
)

__all__ = [
    "SyntheticZebras",
    "segment_animals",
    "stripe_score",
    "stripe_measures",
    "is_zebra",
    "score_zebras",
    "STRIPE_THRESHOLD",
    "CHROMA_MAX",
    "coherence_threshold",
    "HORSE_COATS",
]

DEFAULT_LENGTHS = {"train": 1000, "test": 200}
# Independent random streams of one item: A (scene, then horse coat), B (scene, then zebra
# coat), and the zebra coat of render_pair's ground-truth translation of A.
_STREAM_A, _STREAM_B, _STREAM_PAIR = 0, 1, 2

HORSE_COATS = ("bay", "chestnut", "black", "grey", "palomino", "buckskin")

#: A zebra's stripes have luminance contrast at the stripe scale: ``stripe_score`` above this.
#: Measured on 100 test items (``benchmarks/evaluators.py``): zebras 0.085-0.21 at 32 px,
#: 0.13-0.24 at 64 px, 0.15-0.25 at 128 px; horses at most 0.047, blurred horses 0.008.
STRIPE_THRESHOLD = 0.07

#: ... and are black and white: mean chroma (max - min of R, G, B in 0..1) inside the torso
#: below this. Real zebras measure 0.022-0.040 at every size; horse coats up to 0.41; colour
#: speckle from an undertrained generator 0.12-0.30 and colour noise about 0.5.
CHROMA_MAX = 0.08


def coherence_threshold(size: int) -> float:
    """... and are oriented: the torso's orientation coherence (:func:`stripe_measures`) above
    this. Noise, speckle and checkerboards have no one orientation, but their measured
    coherence stays further from 0 the fewer pixels the window holds, so the bar rises with
    the image side: 0.25 at 32 px, 0.52 from 64 px (log-linear in between). Measured on 200
    test items: zebras >= 0.29 at 32 px, >= 0.59 at 64 and 128 px; checkerboards <= 0.20;
    black-and-white speckle <= 0.51 at 64 px. At 32 px the stripes are two pixels apart, as
    fine as the grid, and achromatic pixel noise reaches 0.61: there it is not caught."""
    t = min(max(math.log2(size / 32), 0.0), 1.0)
    return 0.25 + 0.27 * t


# Background-preservation tolerance: a background pixel counts as untouched when no channel
# moved by more than this ([-1, 1] units, i.e. 5 % of the range). That is far above 8-bit
# quantisation (2/255) and mild generator noise, and below the grass texture contrast, so
# blurring or repainting the background is caught.
BACKGROUND_TOLERANCE = 0.10

# Part kinds: decide the colouring (mane/tail hair, muzzle, hooves...) of a pixel.
BODY, NECK, MANE, HEAD, EAR, LEG_UP, LEG_LOW, TAIL, TAIL_HAIR = range(9)


def _clip(x, lo, hi):
    """``np.clip`` without its Python-level overhead (this runs ~30 times per item)."""
    return np.minimum(np.maximum(x, lo), hi)


def _hsv(h: float, s: float, v: float = 1.0) -> np.ndarray:
    """One HSV colour (h in degrees) -> RGB float32 (3,)."""
    return np.array(colorsys.hsv_to_rgb((h / 360.0) % 1.0, s, v), dtype=np.float32)


def _hsv_column(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB for arrays of equal shape (h in degrees) -> (..., 3)."""
    out = []
    for n in (5.0, 3.0, 1.0):
        k = np.mod(n + h / 60.0, 6.0)
        out.append(v - v * s * _clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return np.stack(out, axis=-1).astype(np.float32)


def _sub(rng: np.random.Generator) -> np.random.Generator:
    """A child generator for fine texture fields, which draw fewer numbers at small sizes
    (cells finer than a pixel are skipped). Drawing them from a child keeps the parent stream,
    and so the scene, identical at every size; shape-giving noise has at most 32 cells and is
    drawn from the parent directly."""
    return np.random.default_rng(int(rng.integers(2 ** 63)))


@functools.lru_cache(maxsize=16)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = grid(size)
    yy.setflags(write=False)  # shared through the cache
    xx.setflags(write=False)
    return yy, xx


# ---------------------------------------------------------------------------------------------
# Geometry: an animal is a list of tapered capsules (line segments swept by a varying radius).
# Points are complex numbers x + iy (y down) while the pose is built: rotations are products.
# ---------------------------------------------------------------------------------------------

@dataclass
class _Animal:
    """An animal in image coordinates (x right, y down, 0..1); one row per capsule part."""

    a: np.ndarray  # (P, 2) capsule start points
    b: np.ndarray  # (P, 2) capsule end points
    r0: np.ndarray  # (P,) radius at a
    r1: np.ndarray  # (P,) radius at b
    layer: np.ndarray  # (P,) painter's order: larger is nearer the viewer
    kind: np.ndarray  # (P,) part kind (BODY, NECK, ...): decides the colouring
    far: np.ndarray  # (P,) bool: far-side legs/ear, drawn in the body's shadow
    stripe_origin: np.ndarray  # (P, 2) where the part's stripe phase is zero
    stripe_dir: np.ndarray  # (P, 2) unit axis the phase is measured along
    stripe_period: np.ndarray  # (P,) image units per stripe
    stripe_offset: np.ndarray  # (P,) phase offset in cycles
    centre: np.ndarray  # (2,) torso centre
    spine: np.ndarray  # (2,) unit vector from rump to chest
    down: np.ndarray  # (2,) unit vector from back to belly
    scale: float  # torso half-length in image units
    depth: float  # torso radius / torso half-length
    foot_y: float  # image y of the lowest hoof
    light: np.ndarray  # (3,) unit vector towards the light (x right, y down, z to the viewer)
    ambient: float
    stripe_bend: float  # curvature of the torso stripes (cycles at the belly/back)
    stripe_twist: float  # how much the rump stripes turn oblique


def _polar(angle_deg: float) -> complex:
    return cmath.exp(1j * math.radians(angle_deg))


def _sample_animal(rng: np.random.Generator) -> _Animal:
    """Random pose, proportions, size, position, facing and light.

    Parts are laid out in local units (x towards the head, y down, torso half-length 1), then
    scaled, flipped, tilted and placed so the whole animal is inside the frame.
    """
    u = rng.uniform
    depth = u(0.40, 0.48)
    period = u(0.30, 0.38)  # local units per torso stripe: about six along the torso
    rows: list[tuple] = []  # (kind, a, b, r0, r1, layer, far, origin, direction, period, offset)

    def part(kind, a, b, r0, r1, layer, far=False, origin=None, direction=None, per=1.0, off=0.0):
        if direction is None:
            direction = (b - a) / max(abs(b - a), 1e-9)
        rows.append((kind, a, b, r0, r1, layer, far, a if origin is None else origin,
                     direction, per, off))

    # Torso: one capsule from rump to chest, a little deeper at the chest.
    part(BODY, -0.56 - 0.02j, 0.50 + 0.04j, depth * 0.98, depth * 1.04, 2.0, direction=1 + 0j,
         per=period)

    # Neck: head up (alert) or down (grazing). Angles are degrees above the horizontal.
    grazing = rng.random() < 0.25
    phi = u(-68, -42) if grazing else u(35, 72)
    neck_len = u(0.92, 1.05) if grazing else u(0.85, 1.0)
    n0 = 0.62 - 0.12j
    nd = _polar(-phi)  # y is down, so "up" angles are negative
    n1 = n0 + neck_len * nd
    dorsal = nd * -1j  # the mane side of the neck
    neck_off = u(0, 1)
    part(NECK, n0, n1, 0.31, 0.16, 3.0, per=period * 0.8, off=neck_off)
    part(MANE, n0 + dorsal * 0.25 + nd * 0.05, n1 + dorsal * 0.11 - nd * 0.12, 0.065, 0.05, 3.2,
         origin=n0, direction=nd, per=period * 0.8, off=neck_off)

    # Head: from the poll (top of the neck) to the muzzle, with a cheek bulge.
    psi = u(-102, -78) if grazing else phi - u(100, 135)
    head_len = u(0.62, 0.72)
    hd = _polar(-psi)
    h0, h1 = n1 - hd * 0.04, n1 + hd * head_len
    head_off = u(0, 1)
    part(HEAD, h0, h1, 0.19, 0.11, 4.0, per=period * 0.5, off=head_off)
    throat = hd * 1j
    part(HEAD, h0 + hd * 0.08 + throat * 0.05, h0 + hd * 0.32 + throat * 0.03, 0.2, 0.15, 4.0,
         origin=h0, direction=hd, per=period * 0.5, off=head_off)
    ear_dir = -1j - hd * 0.45  # up, leaning away from the muzzle
    ear_dir /= abs(ear_dir)
    ear_base = h0 - throat * 0.08
    for far, spread in ((True, -12.0), (False, 8.0)):
        part(EAR, ear_base, ear_base + ear_dir * _polar(spread) * u(0.2, 0.25), 0.06, 0.018,
             3.9 if far else 4.5, far=far, per=period * 0.4)

    # Legs: gait = standing, walking or trotting; near and far legs swing in opposition.
    # Leg angles are degrees from straight down, positive = forwards.
    gait = int(rng.choice(3, p=[0.35, 0.4, 0.25]))
    swing = (6.0, 20.0, 30.0)[gait]
    leg_period = period * 0.55
    for front, attach, lu, ll, ru, rl in (
            (True, 0.42 + 0.22j, 0.55, 0.63, (0.15, 0.085), (0.07, 0.062)),
            (False, -0.45 + 0.18j, 0.60, 0.60, (0.2, 0.09), (0.075, 0.065))):
        swing_phase = u(-1, 1)
        for far, sign in ((True, -1.0), (False, 1.0)):
            s = sign * swing_phase
            alpha = s * swing + (0.0 if front else -12.0)
            lifted = gait > 0 and s < -0.3  # a leg swinging forward is off the ground
            bend = -u(25, 70) if lifted else u(-5, 5)
            beta = alpha + bend + (0.0 if front else 14.0)
            origin = attach + ((0.06 - 0.03j) if far else 0)
            knee = origin + lu * 1j * _polar(-alpha)
            foot = knee + ll * 1j * _polar(-beta)
            # The near thigh/forearm tucks under the torso (no seam on the body), the near
            # cannon bone is in front of everything.
            part(LEG_UP, origin, knee, ru[0], ru[1], 1.0 if far else 1.9, far=far, per=leg_period)
            part(LEG_LOW, knee, foot, rl[0], rl[1], 1.1 if far else 5.0, far=far,
                 per=leg_period * 0.8, off=lu / leg_period)

    # Tail: a dock arching back from the top of the rump, then hair falling down.
    t0 = -0.95 - 0.22j
    t1 = t0 + 0.22 * 1j * _polar(u(45, 75))
    t2 = t1 + u(0.55, 0.75) * 1j * _polar(u(3, 28))
    part(TAIL, t0, t1, 0.065, 0.06, 1.5, per=period * 0.45)
    part(TAIL_HAIR, t1, t2, 0.06, 0.095, 1.5, per=period * 0.45, off=0.22 / (period * 0.45))

    cols = list(zip(*rows))
    kind = np.array(cols[0])
    a_loc, b_loc = np.array(cols[1]), np.array(cols[2])
    r0, r1 = np.array(cols[3]), np.array(cols[4])

    # Placement: flip, tilt and scale, then a random centre that keeps the animal in frame.
    facing = 1.0 if rng.random() < 0.5 else -1.0
    rot = cmath.exp(1j * facing * u(-0.07, 0.07))

    def to_img(z):  # local offsets -> image directions (mirror x when facing left)
        z = np.asarray(z)
        return (z.real * facing + 1j * z.imag) * rot

    ends = np.concatenate([a_loc, b_loc])
    rad = np.concatenate([r0, r1])
    extent = max(np.ptp(ends.real + rad) + 2 * rad.max(), np.ptp(ends.imag) + 2 * rad.max())
    margin = 0.04
    scale = min(u(0.15, 0.22), (1 - 2 * margin) / (extent * 1.08))  # 1.08: room for the tilt
    pts = to_img(ends) * scale
    lo_x, hi_x = (pts.real - rad * scale).min(), (pts.real + rad * scale).max()
    lo_y, hi_y = (pts.imag - rad * scale).min(), (pts.imag + rad * scale).max()
    centre = complex(u(margin - lo_x, 1 - margin - hi_x), u(margin - lo_y, 1 - margin - hi_y))
    a_img = centre + to_img(a_loc) * scale
    b_img = centre + to_img(b_loc) * scale
    foot_y = float((b_img.imag + r1 * scale)[kind == LEG_LOW].max())

    def xy(z):
        z = np.asarray(z)
        return np.stack([z.real, z.imag], -1)

    lx, ly, lz = u(-0.7, 0.7), -u(0.35, 0.85), u(0.45, 0.8)  # light from above (y is down)
    light = np.array([lx, ly, lz]) / math.sqrt(lx * lx + ly * ly + lz * lz)
    return _Animal(
        a=xy(a_img), b=xy(b_img), r0=r0 * scale, r1=r1 * scale,
        layer=np.array(cols[5]), kind=kind, far=np.array(cols[6]),
        stripe_origin=xy(centre + to_img(np.array(cols[7])) * scale),
        stripe_dir=xy(to_img(np.array(cols[8]))),
        stripe_period=np.array(cols[9]) * scale, stripe_offset=np.array(cols[10]),
        centre=xy(centre), spine=xy(to_img(1 + 0j)), down=xy(to_img(1j)),
        scale=scale, depth=depth, foot_y=foot_y, light=light,
        ambient=u(0.32, 0.45), stripe_bend=u(-0.25, 0.25), stripe_twist=u(0.6, 1.3),
    )


@dataclass
class _Geometry:
    """Per-pixel description of an animal inside its bounding box ``rows x cols`` of the image:
    which part covers a pixel and where on it."""

    rows: slice
    cols: slice
    alpha: np.ndarray  # (h, w) soft coverage in [0, 1]
    mask: np.ndarray  # (h, w) bool, pixel centre inside the silhouette
    part: np.ndarray  # (h, w) int, index of the topmost (or nearest) part
    kind: np.ndarray  # (h, w) int, its kind
    far: np.ndarray  # (h, w) bool
    t: np.ndarray  # (h, w) position along the part's axis, 0..1
    v: np.ndarray  # (h, w) signed distance across the part / its radius, -1..1
    phase: np.ndarray  # (h, w) stripe phase in cycles
    period: np.ndarray  # (h, w) stripe period in image units
    shade: np.ndarray  # (h, w) diffuse lighting factor
    spec: np.ndarray  # (h, w) specular highlight, 0..1


def _rasterise(an: _Animal, size: int, warp: np.ndarray) -> _Geometry:
    """All capsules at once inside the animal's bounding box, then per pixel the topmost part
    (highest layer; within a layer the one the pixel is deepest inside)."""
    f32 = np.float32
    rmax = float(max(an.r0.max(), an.r1.max()))
    lo = np.minimum(an.a, an.b).min(0) - rmax
    hi = np.maximum(an.a, an.b).max(0) + rmax
    x0, y0 = (max(0, int(np.floor(lo[i] * size)) - 1) for i in (0, 1))
    x1, y1 = (min(size, int(np.ceil(hi[i] * size)) + 1) for i in (0, 1))
    xs = (np.arange(x0, x1, dtype=f32) + 0.5) / size
    ys = (np.arange(y0, y1, dtype=f32) + 0.5) / size

    def col(v):  # (P,) -> (P, 1, 1) float32
        return np.asarray(v, f32)[:, None, None]

    # (P, h, w) arrays, updated in place where possible: this is the hot loop of an item.
    ab = an.b - an.a
    inv_len2 = 1.0 / np.maximum((ab * ab).sum(1), 1e-12)
    bx, by = col(ab[:, 0]), col(ab[:, 1])
    px = xs[None, None, :] - col(an.a[:, 0])  # (P, 1, w)
    py = ys[None, :, None] - col(an.a[:, 1])  # (P, h, 1)
    t = px * col(ab[:, 0] * inv_len2) + py * col(ab[:, 1] * inv_len2)  # projection on the axis
    np.maximum(t, 0.0, out=t)
    np.minimum(t, 1.0, out=t)
    qx = t * bx  # offset from the closest axis point
    np.subtract(px, qx, out=qx)
    qy = t * by
    np.subtract(py, qy, out=qy)
    r = t * col(an.r1 - an.r0)
    r += col(an.r0)
    sd = qx * qx
    sd += qy * qy
    np.sqrt(sd, out=sd)
    sd -= r  # signed distance (image units), negative inside
    # Inside: layer - sd (>= 1); outside: -1 - sd (< -1), so outline pixels (outside every
    # part) take the nearest part's attributes. Arithmetic, not np.where: 5x faster here.
    key = (sd < 0) * col(an.layer + 1.0)
    key -= 1.0
    key -= sd
    # argmax over parts, done as a max of (quantised key, part index) packed into one int32:
    # twice as fast as np.argmax(axis=0). Keys lie in [-2, 6] and 1/65536 is far below a
    # pixel, so nothing is lost.
    packed = (key * 65536.0).astype(np.int32)
    packed *= 32  # room for up to 32 parts
    packed += np.arange(len(an.kind), dtype=np.int32)[:, None, None]
    top = packed.max(axis=0) & 31  # (h, w) part index
    hh, ww = np.indices(top.shape, sparse=True)

    def pick(arr):
        return arr[top, hh, ww]

    sd_min = sd.min(axis=0)
    # Coverage from the signed distance: a half-pixel linear ramp. It softens the outline
    # without blending many pixels, so the silhouette stays measurable (segment_animals).
    alpha = _clip(0.5 - 2.0 * size * sd_min, 0.0, 1.0)
    t_s, r_s = pick(t), pick(r)
    nx, ny = pick(qx) / r_s, pick(qy) / r_s
    nz = np.sqrt(_clip(1.0 - nx * nx - ny * ny, 0.0, 1.0))
    # Across-axis coordinate: the offset projected on the axis normal, in radii.
    length = np.sqrt((ab * ab).sum(1)) + 1e-12
    perp_x, perp_y = (-ab[:, 1] / length).astype(f32), (ab[:, 0] / length).astype(f32)
    v_s = nx * perp_x[top] + ny * perp_y[top]

    # Lighting: the surface normal of a swept sphere is the offset from its axis.
    L = an.light.astype(f32)
    diffuse = _clip(nx * L[0] + ny * L[1] + nz * L[2], 0.0, 1.0)
    shade = an.ambient + (1.0 - an.ambient) * diffuse
    hv = L + np.array([0, 0, 1], f32)
    hv /= np.linalg.norm(hv)
    spec = _clip(nx * hv[0] + ny * hv[1] + nz * hv[2], 0.0, 1.0) ** 24

    # Stripe phase, in body-relative coordinates. Torso: along the spine (stripes across
    # it), bending towards the belly and turning oblique on the rump. Other parts: along
    # their own axis (rings around neck, legs, head and tail), slightly curved across.
    X, Y = xs[None, :], ys[:, None]
    dxc, dyc = (X - an.centre[0]) / an.scale, (Y - an.centre[1]) / an.scale
    u_body = dxc * an.spine[0] + dyc * an.spine[1]  # local units, + towards the head
    v_body = (dxc * an.down[0] + dyc * an.down[1]) / an.depth  # -1 back .. +1 belly
    rump = np.maximum(-u_body - 0.2, 0.0)
    body_phase = (u_body + an.stripe_twist * rump * v_body) * (an.scale / an.stripe_period[0]) \
        + an.stripe_bend * v_body * v_body
    so, sdir = an.stripe_origin.astype(f32), an.stripe_dir.astype(f32)
    period = an.stripe_period.astype(f32)[top]
    part_phase = ((X - so[top, 0]) * sdir[top, 0] + (Y - so[top, 1]) * sdir[top, 1]) / period \
        + an.stripe_offset.astype(f32)[top] + 0.15 * v_s * v_s
    kind = an.kind[top]
    rows, cols = slice(y0, y1), slice(x0, x1)
    phase = np.where(kind == BODY, body_phase, part_phase) + warp[rows, cols]
    return _Geometry(rows, cols, alpha=alpha, mask=sd_min < 0, part=top, kind=kind,
                     far=an.far[top],
                     t=t_s, v=v_s, phase=phase, period=period, shade=shade, spec=spec)


# ---------------------------------------------------------------------------------------------
# Coats (computed inside the animal's bounding box only)
# ---------------------------------------------------------------------------------------------

_WHITE = np.array([0.93, 0.91, 0.86], np.float32)  # warm off-white (red >= green >= blue)
_BLACK = np.array([0.09, 0.075, 0.065], np.float32)


def _warm(rgb) -> np.ndarray:
    """Sort a colour so red >= green >= blue: every coat stays warm/neutral, which is what
    separates animals from the (cool) background."""
    return np.sort(np.asarray(rgb, np.float32))[::-1].copy()


def _fur(rng: np.random.Generator, geo: _Geometry, size: int, cells: int) -> np.ndarray:
    """A value-noise field over the whole image (so it is the same at every size), cut to
    the animal's box."""
    c = min(size, cells)
    return value_noise_rect(rng, size, c, c)[geo.rows, geo.cols]


def _horse_coat(rng: np.random.Generator, geo: _Geometry, size: int,
                animal: _Animal) -> np.ndarray:
    """A smooth coat: base colour, darker or lighter points/mane/tail, optional white marks."""
    coat = HORSE_COATS[rng.integers(len(HORSE_COATS))]
    base, hair, legs = {
        "bay": ((0.47, 0.26, 0.13), _BLACK, _BLACK),
        "chestnut": ((0.58, 0.3, 0.13), (0.62, 0.33, 0.15), None),
        "black": ((0.12, 0.1, 0.085), (0.07, 0.06, 0.055), None),
        "grey": ((0.74, 0.72, 0.69), (0.5, 0.48, 0.46), (0.45, 0.43, 0.41)),
        "palomino": ((0.82, 0.63, 0.33), (0.94, 0.9, 0.8), None),
        "buckskin": ((0.76, 0.6, 0.36), _BLACK, _BLACK),
    }[coat]
    if coat == "chestnut" and rng.random() < 0.4:
        hair = (0.88, 0.76, 0.55)  # flaxen mane and tail
    base = _warm(_clip(np.array(base) * rng.uniform(0.9, 1.1), 0, 1))
    hair = _warm(hair)
    legs = base if legs is None else _warm(legs)

    kind, t, v = geo.kind, geo.t, geo.v
    col = np.empty(kind.shape + (3,), np.float32)
    col[...] = base
    col[(kind == MANE) | (kind == TAIL) | (kind == TAIL_HAIR)] = hair
    low_leg = kind == LEG_LOW
    col[low_leg & (t > 0.15)] = legs
    col[(kind == HEAD) & (t > 0.82)] *= 0.55  # darker muzzle
    if rng.random() < 0.3:  # blaze down the face
        col[(kind == HEAD) & (np.abs(v) < 0.3) & (t > 0.15) & (t < 0.9)] = _WHITE
    # White socks on some legs, from a random height down.
    for leg, start, sock in zip(np.flatnonzero(animal.kind == LEG_LOW),
                                rng.uniform(0.35, 0.75, size=4), rng.random(4) < 0.2):
        if sock:
            col[(geo.part == leg) & (t > start)] = _WHITE
    col[low_leg & (t > 0.9)] = (0.16, 0.14, 0.13)  # hooves
    texture = _sub(rng)
    if coat == "grey":  # dapples: soft lighter rings in the body
        dap = _fur(texture, geo, size, 18)
        col *= (1.0 + 0.12 * (smoothstep(0.45, 0.65, dap) - 0.5))[..., None]
    col *= (0.95 + 0.1 * _fur(texture, geo, size, 64))[..., None]
    return _light(col, geo, rng.uniform(0.1, 0.3))


def _zebra_coat(rng: np.random.Generator, geo: _Geometry, size: int) -> np.ndarray:
    """Black stripes on off-white, following the body through ``geo.phase``."""
    white = _warm(_WHITE * rng.uniform(0.92, 1.03))
    black = _warm(np.array([0.085, 0.078, 0.07]) * rng.uniform(0.8, 1.2))
    duty = rng.uniform(-0.15, 0.25)  # > 0: black stripes narrower than white ones
    # Anti-aliasing: the stripe edge is softened over about one pixel, so stripes stay
    # clean at 256 px and fade to grey rather than to moire when they get too thin.
    w = _clip(2.5 / (size * geo.period), 0.05, 1.0)
    k = smoothstep(duty - w, duty + w, np.cos(2.0 * np.pi * geo.phase))
    kind, t = geo.kind, geo.t
    solid = (((kind == HEAD) & (t > 0.78))  # black muzzle
             | ((kind == TAIL_HAIR) & (t > 0.45))  # black tuft
             | ((kind == EAR) & (t > 0.7))  # black ear tips
             | ((kind == LEG_LOW) & (t > 0.9)))  # hooves
    k[solid] = 1.0
    col = white + (black - white) * k[..., None]
    col *= (0.95 + 0.1 * _fur(_sub(rng), geo, size, 64))[..., None]
    return _light(col, geo, rng.uniform(0.05, 0.15))


def _light(col: np.ndarray, geo: _Geometry, gloss: float) -> np.ndarray:
    shade = geo.shade * np.where(geo.far, 0.8, 1.0)  # the far legs are in the body's shadow
    # The highlight adds the same amount to every channel, which keeps red >= green >= blue.
    return _clip(col * shade[..., None] + (gloss * geo.spec)[..., None], 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Background
# ---------------------------------------------------------------------------------------------

def _background(rng: np.random.Generator, size: int, animal: _Animal) -> np.ndarray:
    """Grass (lush green to dry olive), in most scenes with a horizon, sky and tree line, and
    the animal's soft shadow on the ground.

    Every colour is "cool" (green or blue clearly above red): hues stay in 80..220 degrees with
    saturation >= 0.4, so ``(max(G, B) - R) / max`` stays >= 0.13 (see :func:`segment_animals`).
    HSV -> RGB is linear in the value, so textures modulate brightness as ``v * colour``.
    """
    u = rng.uniform
    yy, xx = _grid(size)
    col_y = yy[:, :1]
    hue, sat, val = u(84, 122), u(0.5, 0.72), u(0.42, 0.68)
    # Two grass colours mixed by a patch field: a hue/saturation variation that stays cool.
    c1 = _hsv(hue - 4, sat)
    c2 = _hsv(max(80.0, hue - u(-12, 12)), max(0.42, sat * u(0.8, 1.1)))
    patches = fractal_noise_fast(rng, size, base_cells=3, octaves=3)  # 3..12 cells: any size
    texture = _sub(rng)  # fine fields: fewer cells at small sizes
    blades = value_noise_rect(texture, size, min(size, 20), min(size, 110))
    fine = value_noise_rect(texture, size, min(size, 80), min(size, 80))
    horizon = None
    top_free = animal.foot_y - 0.22
    if rng.random() < 0.75 and top_free > 0.1:
        horizon = u(0.08, min(0.5, top_free))
    depth = np.ones((size, 1), np.float32) if horizon is None else \
        _clip((col_y - horizon) / (1.0 - horizon), 0.0, 1.0)
    # Texture is strongest in the foreground and fades towards the horizon.
    amp = 0.35 + 0.65 * np.sqrt(depth)
    v = (val * (0.82 + 0.3 * patches)) * (1 + amp * (0.3 * blades + 0.22 * fine - 0.26)) \
        * (0.9 + 0.1 * depth)
    # Shadow: a soft flattened ellipse under the animal, offset away from the light.
    sx = animal.centre[0] - animal.light[0] * animal.scale * 0.4
    sy = animal.foot_y - 0.01
    rx, ry = animal.scale * 1.5, animal.scale * 0.16 + 0.01
    r0, r1 = max(0, int((sy - ry) * size)), min(size, int((sy + ry) * size) + 2)
    c0, c1_ = max(0, int((sx - rx) * size)), min(size, int((sx + rx) * size) + 2)
    e = ((xx[r0:r1, c0:c1_] - sx) / rx) ** 2 + ((yy[r0:r1, c0:c1_] - sy) / ry) ** 2
    v[r0:r1, c0:c1_] *= 1.0 - u(0.3, 0.45) * smoothstep(1.0, 0.3, e)
    mix = smoothstep(0.3, 0.7, patches)[..., None]
    img = _clip(v, 0.12, 0.95)[..., None] * (c1 + (c2 - c1) * mix)
    if horizon is not None:
        g = _clip(col_y / max(horizon, 1e-3), 0.0, 1.0)  # 0 at the top, 1 at the horizon
        sky = _hsv_column(u(200, 218) + 4 * g, u(0.5, 0.65) * (1 - 0.4 * g),
                          u(0.72, 0.85) + 0.12 * g)  # (size, 1, 3): a vertical gradient
        # Distant tree line / hills: a ragged dark band standing on the horizon.
        profile = fractal_noise_1d(rng, size, base_cells=6, octaves=3)
        ridge = horizon - (0.012 + u(0.02, 0.06) * profile)[None, :]
        h_row = int(horizon * size) + 1
        band = slice(0, h_row)
        trees = _hsv(u(115, 150), u(0.4, 0.55)) \
            * (u(0.26, 0.36) * (0.85 + 0.3 * fine[band]))[..., None]
        px = 1.0 / size
        above = (yy[band] < horizon - 0.5 * px)[..., None]
        k = smoothstep(ridge + 0.5 * px, ridge - 0.5 * px, yy[band])[..., None]
        img[band] = sky[band] * k + np.where(above, trees, img[band]) * (1 - k)
    return img


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------

class SyntheticZebras(SyntheticDataset):
    """Unpaired horses (``"A"``) and zebras (``"B"``) with their silhouettes.

    Args:
        split: ``"train"`` or ``"test"``; the two never share an item.
        size: image side in pixels, 32..256. Geometry is in normalised coordinates, so a scene
            looks the same at every size, only sharper (below ~48 px stripes blur to grey).
        length: number of items (default 1000 for train, 200 for test).
        seed: dataset seed; item ``i`` is a pure function of ``(seed, split, i)``.

    Items are dicts with ``"A"``, ``"B"`` (3, H, W) float in [-1, 1] and ``"mask_A"``,
    ``"mask_B"`` (1, H, W) float in {0, 1}. A and B are different animals (unpaired);
    :meth:`render_pair` gives the same animal in both coats.
    """

    pairing = "unpaired"

    default_lengths = DEFAULT_LENGTHS
    title = "synthetic zebras"

    def _rng(self, i: int, stream: int) -> np.random.Generator:
        return self.rng(i, stream)

    def _scene(self, rng: np.random.Generator):
        animal = _sample_animal(rng)
        warp = 0.35 * (value_noise_rect(rng, self.size, 5, 5) - 0.5)  # wobbly stripes
        geo = _rasterise(animal, self.size, warp)
        return animal, geo, _background(rng, self.size, animal)

    @staticmethod
    def _compose(bg: np.ndarray, geo: _Geometry, coat: np.ndarray):
        a = geo.alpha[..., None]
        bg[geo.rows, geo.cols] = bg[geo.rows, geo.cols] * (1 - a) + coat * a
        mask = torch.zeros((1,) + bg.shape[:2])
        mask[0, geo.rows, geo.cols] = torch.from_numpy(geo.mask.astype(np.float32))
        return to_tensor(bg), mask

    def __getitem__(self, index) -> dict:
        i = self._index(index)
        rng = self._rng(i, _STREAM_A)
        animal_a, geo_a, bg_a = self._scene(rng)
        img_a, mask_a = self._compose(bg_a, geo_a, _horse_coat(rng, geo_a, self.size, animal_a))
        rng = self._rng(i, _STREAM_B)
        _, geo_b, bg_b = self._scene(rng)
        img_b, mask_b = self._compose(bg_b, geo_b, _zebra_coat(rng, geo_b, self.size))
        return {"A": img_a, "B": img_b, "mask_A": mask_a, "mask_B": mask_b}

    def render_pair(self, index) -> dict:
        """The ground-truth translation of item ``index``: its A animal and background, once
        with the horse coat (identical to ``self[index]["A"]``) and once with zebra stripes.

        Returns ``{"A", "B"}`` (3, H, W) in [-1, 1] and ``"mask"`` (1, H, W), shared by both.
        """
        i = self._index(index)
        rng = self._rng(i, _STREAM_A)
        animal, geo, bg = self._scene(rng)
        horse, mask = self._compose(bg.copy(), geo, _horse_coat(rng, geo, self.size, animal))
        zebra, _ = self._compose(bg, geo, _zebra_coat(self._rng(i, _STREAM_PAIR), geo, self.size))
        return {"A": horse, "B": zebra, "mask": mask}

    def score(self, inputs, outputs, items, direction):
        """:func:`score_zebras` of the outputs against the inputs' silhouettes
        (``items["mask_A"]`` for horse -> zebra, ``"mask_B"`` for zebra -> horse). For zebra ->
        horse a low zebra rate is the goal, so ``horse_rate = 1 - zebra_rate`` is added: every
        ``*_rate`` key that names the target domain is high when the translation is right."""
        result = score_zebras(inputs, outputs, items["mask_A" if direction == "AtoB" else "mask_B"])
        if direction == "BtoA":
            result["horse_rate"] = 1.0 - result["zebra_rate"]
        return result


# ---------------------------------------------------------------------------------------------
# Scorers
# ---------------------------------------------------------------------------------------------

def _check_images(images, name: str = "images") -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 3, H, W) in [-1, 1], "
                        f"got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3, H, W) (a batch of RGB images in "
                         f"[-1, 1]); got {tuple(images.shape)}. Add a batch dimension with "
                         f"x[None] for a single image.")
    return images.detach().float()


def _check_masks(masks, images: torch.Tensor, name: str = "masks") -> torch.Tensor:
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 1, H, W), "
                        f"got {type(masks).__name__}")
    n, _, h, w = images.shape
    if tuple(masks.shape) != (n, 1, h, w):
        raise ValueError(f"{name} must have shape {(n, 1, h, w)} to match the images, "
                         f"got {tuple(masks.shape)}")
    return (masks.detach().float() > 0.5).float()


def segment_animals(images: torch.Tensor) -> torch.Tensor:
    """Analytic animal segmentation: ``(N, 3, H, W)`` in [-1, 1] -> ``(N, 1, H, W)`` float {0, 1}.

    The background of this dataset is always cool (grass and trees: green above red; sky: blue
    and green above red) and every coat is warm or neutral (red >= green >= blue), so the
    linear feature ``f = G - R`` is positive on the background and <= 0 on animals. Because
    ``f`` is linear, an outline pixel that is a blend of animal and background has ``f``
    in between, so a pixel is animal when ``f`` is below the midpoint of the local animal and
    background levels (each a Gaussian-weighted mean, sigma 4 % of the side, over nearby
    pixels that are clearly one or the other): the same "pixel centre inside" rule that
    defines the masks. The levels reach far enough that a soft (blurred) outline or a thin
    leg still has both of them nearby.

    Generated images add what renders never have: colour noise in the grass, whose warm
    pixels pass that test one by one. So only the connected regions (8-neighbours) of at
    least 10 % of the largest one's pixels are kept: the animal (and big parts that came
    apart), not scattered specks (:func:`_large_regions`).
    """
    x = (_check_images(images).clamp(-1, 1) + 1) / 2
    f = x[:, 1:2] - x[:, 0:1]
    coolness = f / (x.amax(dim=1, keepdim=True) + 0.02)  # +0.02: stable near black
    # Clear cases: grass and sky have coolness >= 0.13 and coats <= 0 (see _background), with
    # a margin for noise in generated images.
    sure_bg = (coolness > 0.10).float()
    sure_an = (coolness < 0.02).float()
    sigma = max(1.0, 0.04 * images.shape[-1])
    weak = 1e-3  # prior weight where no clear pixel is near: animal level 0, background 0.15
    f_bg = (_blur(f * sure_bg, sigma) + weak * 0.15) / (_blur(sure_bg, sigma) + weak)
    f_an = (_blur(f * sure_an, sigma) + weak * 0.0) / (_blur(sure_an, sigma) + weak)
    return _large_regions((f < 0.5 * (f_bg + f_an)).float(), 0.10)


def _large_regions(masks: torch.Tensor, fraction: float) -> torch.Tensor:
    """``masks`` (N, 1, H, W) in {0, 1} keeping only the 8-connected regions with at least
    ``fraction`` of the pixels of the image's largest region. Regions are labelled by
    propagating the largest pixel id through 3 x 3 neighbourhoods until nothing changes."""
    n, _, h, w = masks.shape
    ids = torch.arange(1, h * w + 1, dtype=torch.float32, device=masks.device).view(1, 1, h, w)
    labels = ids * masks
    while True:
        grown = F.max_pool2d(labels, 3, stride=1, padding=1) * masks
        if torch.equal(grown, labels):
            break
        labels = grown
    flat = labels.long().flatten(1)  # 0 = background, else the region's id
    offset = torch.arange(n, device=masks.device)[:, None] * (h * w + 1)
    counts = torch.bincount((flat + offset).flatten(), minlength=n * (h * w + 1))
    counts = counts.view(n, h * w + 1)
    counts[:, 0] = 0
    size = counts.gather(1, flat)  # each pixel's region size
    keep = size >= fraction * counts.amax(1, keepdim=True).clamp_min(1)
    return (keep & (flat > 0)).float().view_as(masks)


def _erode(m: torch.Tensor, radius: int) -> torch.Tensor:
    return -F.max_pool2d(-m, 2 * radius + 1, stride=1, padding=radius) if radius > 0 else m


def _torso(m: torch.Tensor) -> torch.Tensor:
    """The torso: the mask eroded by 2.5 % of the image side, which removes the thin parts
    (legs, mane, tail, ears, muzzle) whose dark points and white socks would otherwise count
    as stripes. If that leaves fewer than 4 pixels, a one-pixel erosion, then the mask."""
    region = m
    for radius in (1, max(1, round(0.025 * m.shape[-1]))):
        eroded = _erode(m, radius)
        enough = eroded.flatten(1).sum(1) >= 4
        region = torch.where(enough[:, None, None, None], eroded, region)
    return region


def _luminance(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (values * weights).flatten(1).sum(1) / weights.flatten(1).sum(1).clamp_min(1e-12)


def stripe_measures(images: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three things that make a coat a zebra's, measured on the torso (see ``_torso``) of
    each image: a dict of ``(N,)`` tensors.

    * ``contrast``: :func:`stripe_score`, luminance contrast at the stripe scale;
    * ``chroma``: the mean of max(R, G, B) - min(R, G, B) (0..1): 0 for black, white and grey;
    * ``coherence``: how much the luminance varies along one direction only, from the
      structure tensor J = G_s * (grad L grad L^T) (a Gaussian-weighted sum of gradient outer
      products over a window of s = 3 % of the side, at least 1 px): with eigenvalues
      l1 >= l2, coherence = (l1 - l2) / (l1 + l2), averaged over the torso weighted by
      l1 + l2. 1 for straight stripes, near 0 for noise, speckle and checkerboards, whose
      gradients point every way. The gradient is taken across 2 x 2 pixel blocks, which
      responds fully to stripes one pixel wide and not at all to a one-pixel checkerboard
      (a pattern no coat has).

    An empty mask gives 0 in every measure.
    """
    images = _check_images(images)
    m = _check_masks(masks, images)
    x = (images.clamp(-1, 1) + 1) / 2
    torso = _torso(m)
    lum = _luminance(x)
    dx, dy = lum[..., :, 1:] - lum[..., :, :-1], lum[..., 1:, :] - lum[..., :-1, :]
    gx, gy = (dx[..., 1:, :] + dx[..., :-1, :]) / 2, (dy[..., :, 1:] + dy[..., :, :-1]) / 2
    inside = -F.max_pool2d(-m, 2, stride=1)  # blocks whose four pixels are all animal
    gx, gy = gx * inside, gy * inside
    window = max(1.0, 0.03 * images.shape[-1])
    jxx, jyy, jxy = _blur(gx * gx, window), _blur(gy * gy, window), _blur(gx * gy, window)
    energy = jxx + jyy
    coherence = torch.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / energy.clamp_min(1e-12)
    block_torso = F.avg_pool2d(torso, 2, stride=1)
    return {
        "contrast": stripe_score(images, masks),
        "chroma": _masked_mean(x.amax(1, keepdim=True) - x.amin(1, keepdim=True), torso),
        "coherence": _masked_mean(coherence, energy * block_torso),
    }


def is_zebra(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The zebra verdict, ``(N,)`` bool: stripes that have contrast, are black and white, and
    are oriented (:func:`stripe_measures` against :data:`STRIPE_THRESHOLD`,
    :data:`CHROMA_MAX` and :func:`coherence_threshold`). Contrast alone is fooled by colour
    speckle, noise and checkerboards; each of the other two conditions rules some of them out.
    """
    s = stripe_measures(images, masks)
    return ((s["contrast"] > STRIPE_THRESHOLD) & (s["chroma"] < CHROMA_MAX)
            & (s["coherence"] > coherence_threshold(images.shape[-1])))


def stripe_score(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Luminance contrast at the stripe scale on the torso of each image: ``(N,)``, 0 = flat.

    The luminance is high-passed along the image rows at the stripe scale (minus its
    horizontal Gaussian blur with sigma = 2 % of the image side, averaging only pixels inside
    the mask so the outline is no edge): torso stripes cross the near-horizontal spine, while
    the shading of a body lit from above changes along the columns. The mean absolute
    residual over the torso is the score (luminance units, 0..1). Smooth shaded coats give
    little, black/white stripes a lot, and so do speckle and noise: the verdict
    (:func:`is_zebra`) also asks for achromatic, oriented stripes. An empty mask scores 0.
    """
    images = _check_images(images)
    m = _check_masks(masks, images)
    size = images.shape[-1]
    lum = _luminance((images.clamp(-1, 1) + 1) / 2)
    sigma = max(0.7, 0.02 * size)
    smooth = _blur(lum * m, sigma, "x") / (_blur(m, sigma, "x") + 1e-6)
    return _masked_mean((lum - smooth).abs(), _torso(m))


def score_zebras(inputs: torch.Tensor, outputs: torch.Tensor,
                 input_masks: torch.Tensor) -> dict[str, float]:
    """Score a horse -> zebra translation batch against its inputs.

    Args:
        inputs: the source images (N, 3, H, W) in [-1, 1].
        outputs: the translated images, same shape.
        input_masks: the source silhouettes (N, 1, H, W) (``item["mask_A"]``).

    Returns:
        ``silhouette_iou``: IoU of ``input_masks`` and :func:`segment_animals` of the outputs,
        averaged over the batch (1 = the animal kept its shape and place).
        ``background_preservation``: the fraction of background pixels (outside the input mask
        grown by one pixel, to ignore the blended outline) whose colour changed by at most
        :data:`BACKGROUND_TOLERANCE` in every channel (1 = background untouched).
        ``zebra_rate``: the fraction of outputs that :func:`is_zebra` calls zebras inside
        the input mask (striped, black and white, oriented).
        ``stripe_score``: the mean stripe contrast (:func:`stripe_score`) of the outputs.

    For the zebra -> horse direction the same numbers apply with a low zebra rate as the goal.
    """
    inputs = _check_images(inputs, "inputs")
    outputs = _check_images(outputs, "outputs")
    if inputs.shape != outputs.shape:
        raise ValueError(f"inputs and outputs must have the same shape, got "
                         f"{tuple(inputs.shape)} and {tuple(outputs.shape)}")
    m = _check_masks(input_masks, inputs, "input_masks")
    seg = segment_animals(outputs)
    inter = (seg * m).flatten(1).sum(1)
    union = torch.maximum(seg, m).flatten(1).sum(1)
    iou = torch.where(union > 0, inter / union.clamp_min(1.0), torch.ones_like(union))
    grown = F.max_pool2d(m, 3, stride=1, padding=1)
    bg = 1.0 - grown
    unchanged = ((outputs - inputs).abs().amax(dim=1, keepdim=True) <= BACKGROUND_TOLERANCE).float()
    bg_total = bg.sum()
    preservation = (unchanged * bg).sum() / bg_total if bg_total > 0 else torch.tensor(1.0)
    return {
        "silhouette_iou": float(iou.mean()),
        "background_preservation": float(preservation),
        "zebra_rate": float(is_zebra(outputs, m).float().mean()),
        "stripe_score": float(stripe_score(outputs, m).mean()),
    }
