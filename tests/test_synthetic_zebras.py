"""synthetic-zebras: determinism, shapes, silhouettes, body-following stripes, and scorers that
tell real zebras from horses and from degenerate "translations"."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coursekit.data.impostors import checkerboard, paste, pixel_noise, speckle
from coursekit.data.metrics import gaussian_blur
from coursekit.data.synthetic.zebras import (
    CHROMA_MAX,
    STRIPE_THRESHOLD,
    SyntheticZebras,
    coherence_threshold,
    is_zebra,
    score_zebras,
    segment_animals,
    stripe_measures,
    stripe_score,
)

N_EVAL = 300  # test items for the separation claims: ">= 98 %" is then at most 6 misses


def _stack(items, key):
    return torch.stack([it[key] for it in items])


@pytest.fixture(scope="module")
def test_items():
    ds = SyntheticZebras("test", size=64, length=N_EVAL)
    return [ds[i] for i in range(N_EVAL)]


@pytest.fixture(scope="module")
def test_pairs():
    ds = SyntheticZebras("test", size=64, length=N_EVAL)
    return [ds.render_pair(i) for i in range(N_EVAL)]


def _iou(a, b):
    inter = (a * b).flatten(1).sum(1)
    union = torch.maximum(a, b).flatten(1).sum(1)
    return inter / union


# ------------------------------------------------------------------------------------------
# Dataset contract
# ------------------------------------------------------------------------------------------

def test_items_are_deterministic_and_depend_only_on_seed_split_index():
    a = SyntheticZebras("train", size=48, seed=3)[7]
    b = SyntheticZebras("train", size=48, seed=3, length=10)[7]  # length must not matter
    for key in ("A", "B", "mask_A", "mask_B"):
        assert torch.equal(a[key], b[key]), key
    other_seed = SyntheticZebras("train", size=48, seed=4)[7]
    other_index = SyntheticZebras("train", size=48, seed=3)[8]
    assert not torch.equal(a["A"], other_seed["A"])
    assert not torch.equal(a["A"], other_index["A"])


def test_a_and_b_are_different_animals():
    item = SyntheticZebras("train", size=64)[0]
    # Unpaired: B is not A's animal in stripes, so the silhouettes differ.
    assert _iou(item["mask_A"][None], item["mask_B"][None]).item() < 0.9


def test_train_and_test_share_no_item():
    n = 60
    train = SyntheticZebras("train", size=32, length=n)
    test = SyntheticZebras("test", size=32, length=n)
    keys = {train[i][k].numpy().tobytes() for i in range(n) for k in ("A", "B")}
    assert not any(test[i][k].numpy().tobytes() in keys for i in range(n) for k in ("A", "B"))


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_shapes_dtypes_and_ranges(size):
    ds = SyntheticZebras("train", size=size, length=3)
    assert len(ds) == 3
    item = ds[2]
    assert set(item) == {"A", "B", "mask_A", "mask_B"}
    for key in ("A", "B"):
        assert item[key].shape == (3, size, size) and item[key].dtype == torch.float32
        assert item[key].min() >= -1 and item[key].max() <= 1
        # A picture, not a constant: both dark and bright pixels.
        assert item[key].max() - item[key].min() > 0.8
    for key in ("mask_A", "mask_B"):
        m = item[key]
        assert m.shape == (1, size, size) and m.dtype == torch.float32
        assert set(m.unique().tolist()) == {0.0, 1.0}
        # The animal is a sizeable part of the picture but never all of it, and it stays in
        # frame (the border rows/columns are background).
        assert 0.03 < m.mean() < 0.5
        assert m[0, 0].sum() == 0 and m[0, -1].sum() == 0 and m[0, :, 0].sum() == 0


def test_a_scene_is_the_same_at_every_size():
    small = SyntheticZebras("test", size=64, length=4)
    large = SyntheticZebras("test", size=256, length=4)
    for i in range(4):
        a, b = small[i], large[i]
        for key in ("mask_A", "mask_B"):
            shrunk = (F.avg_pool2d(b[key][None], 4) > 0.5).float()
            # Only outline pixels may flip when 4x4 blocks are re-thresholded (measured
            # IoU >= 0.97); a different animal would overlap far less.
            assert _iou(shrunk, a[key][None]).item() > 0.9, (i, key)
        # The colours agree too (measured mean difference <= 0.05 in [-1, 1] units).
        assert (F.avg_pool2d(b["A"][None], 4)[0] - a["A"]).abs().mean() < 0.1


def test_default_lengths():
    assert len(SyntheticZebras("train")) == 1000
    assert len(SyntheticZebras("test")) == 200


def test_other_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        SyntheticZebras(split="validation")
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        SyntheticZebras(seed=-1)
    with pytest.raises(ValueError, match="length must be"):
        SyntheticZebras(length=-5)
    ds = SyntheticZebras(length=4)
    with pytest.raises(IndexError, match="out of range"):
        ds[4]
    assert torch.equal(ds[-1]["A"], ds[3]["A"])


# ------------------------------------------------------------------------------------------
# Masks, ground-truth pairs, stripes that follow the body
# ------------------------------------------------------------------------------------------

def test_masks_agree_with_the_pictures(test_items):
    items = test_items[:100]
    for img_key, mask_key in (("A", "mask_A"), ("B", "mask_B")):
        iou = _iou(segment_animals(_stack(items, img_key)), _stack(items, mask_key))
        # Only anti-aliased outline pixels can disagree: measured mean ~0.975, worst ~0.91
        # at 64 px, so 0.95 / 0.85 leave room without accepting a misplaced mask.
        assert iou.mean() > 0.95, img_key
        assert iou.min() > 0.85, img_key


def test_segmentation_of_generated_looking_images(test_pairs):
    """What generators add and renders never have: colour noise in the grass, soft outlines.
    The animal is still where the mask says, so the IoU must stay high; a grey image, which
    shows no animal, must not. (Measured at 64 px on these 100 pairs; the old per-pixel rule,
    without the region filter and with 2 % levels, gave 0.59 and 0.73 in the first two.)"""
    pairs = test_pairs[:100]
    truth, masks = _stack(pairs, "B"), _stack(pairs, "mask")
    g = torch.Generator().manual_seed(0)
    grass_noise = (truth + (1 - masks) * pixel_noise(len(truth), 64, True, g, std=0.1)).clamp(-1, 1)
    cases = {  # name: (images, lowest acceptable mean IoU, measured)
        "colour noise in the grass": (grass_noise, 0.85, 0.903),
        "blur 1 px": (gaussian_blur(truth, 1.0), 0.77, 0.809),
        "blur 0.5 px": (gaussian_blur(truth, 0.5), 0.95, 0.973),
    }
    for name, (images, lowest, _) in cases.items():
        assert _iou(segment_animals(images), masks).mean() > lowest, name
    assert _iou(segment_animals(torch.zeros_like(truth)), masks).mean() < 0.15  # measured 0.097


def test_only_large_regions_are_kept():
    # A 6 x 6 animal, a 2 x 2 blob (11 % of it: kept) and three single specks (dropped).
    m = torch.zeros(1, 1, 16, 16)
    m[..., 2:8, 2:8] = 1
    m[..., 12:14, 12:14] = 1
    m[..., 0, 15] = m[..., 15, 0] = m[..., 10, 3] = 1
    brown = torch.tensor([0.5, 0.3, 0.15]).view(1, 3, 1, 1) * 2 - 1
    grass = torch.tensor([0.3, 0.55, 0.2]).view(1, 3, 1, 1) * 2 - 1
    found = segment_animals(brown * m + grass * (1 - m))
    expected = m.clone()
    expected[..., 0, 15] = expected[..., 15, 0] = expected[..., 10, 3] = 0
    assert torch.equal(found, expected)


def test_segmentation_finds_nothing_in_a_background_and_everything_in_a_warm_image():
    grass = torch.tensor([0.3, 0.55, 0.2]).view(1, 3, 1, 1).expand(1, 3, 32, 32) * 2 - 1
    brown = torch.tensor([0.5, 0.3, 0.15]).view(1, 3, 1, 1).expand(1, 3, 32, 32) * 2 - 1
    assert segment_animals(grass).sum() == 0
    assert segment_animals(brown).mean() == 1


def test_render_pair_is_the_same_animal_in_both_coats():
    ds = SyntheticZebras("test", size=96, length=5)
    for i in range(5):
        pair, item = ds.render_pair(i), ds[i]
        assert torch.equal(pair["A"], item["A"])  # the pair's horse is the dataset's A
        assert torch.equal(pair["mask"], item["mask_A"])
        grown = F.max_pool2d(pair["mask"][None], 3, stride=1, padding=1)[0]
        outside = (grown == 0).expand(3, -1, -1)
        # Same background, exactly (both drawn from the same random stream).
        assert torch.equal(pair["A"][outside], pair["B"][outside])
        inside = (pair["mask"] == 1).expand(3, -1, -1)
        assert (pair["A"][inside] - pair["B"][inside]).abs().mean() > 0.2  # a different coat
        # The zebra silhouette is the horse's: segmenting the zebra gives the shared mask.
        assert _iou(segment_animals(pair["B"][None]), pair["mask"][None]).item() > 0.9


def _direction_ratio(images, region):
    """Mean |d lum / dx| over mean |d lum / dy| inside ``region``."""
    lum = ((images + 1) / 2).mean(1, keepdim=True)
    dx = (lum[..., 1:] - lum[..., :-1]).abs()[..., :-1, :]
    dy = (lum[..., 1:, :] - lum[..., :-1, :]).abs()[..., :, :-1]
    r = region[..., :-1, :-1]
    return (dx * r).flatten(1).sum(1) / (dy * r).flatten(1).sum(1).clamp_min(1e-6)


def test_stripes_cross_the_torso_and_ring_the_legs():
    ds = SyntheticZebras("test", size=256, length=8)
    pairs = [ds.render_pair(i) for i in range(8)]
    zebras, masks = _stack(pairs, "B"), _stack(pairs, "mask")
    size = zebras.shape[-1]
    torso = -F.max_pool2d(-masks, 13, stride=1, padding=6)  # 6 px erosion keeps the torso
    rows = torch.arange(size, dtype=torch.float32).view(1, 1, size, 1)
    has = masks.amax(-1, keepdim=True) > 0
    top = torch.where(has, rows, torch.full_like(rows, 1e9)).amin(2, keepdim=True)
    bottom = torch.where(has, rows, torch.full_like(rows, -1.0)).amax(2, keepdim=True)
    legs = -F.max_pool2d(-masks, 5, stride=1, padding=2) * (rows > bottom - 0.25 * (bottom - top))
    # Torso stripes run across the spine, so luminance changes mostly along x (measured
    # 1.33-1.81; a smooth coat lit from above gives 0.54-0.84). Leg stripes ring the legs, so
    # it changes mostly along y (measured 0.42-0.80; stripes fixed in image space would give
    # the torso's > 1 on the legs too).
    assert (_direction_ratio(zebras, torso) > 1.15).all()
    assert (_direction_ratio(zebras, legs) < 0.95).all()
    horses = _stack(pairs, "A")
    assert (_direction_ratio(horses, torso) < 1.0).all()


# ------------------------------------------------------------------------------------------
# Scorers
# ------------------------------------------------------------------------------------------

def _impostors(horses, masks, size, g):
    """What an undertrained generator (or a lazy one) paints where the animal is."""
    n = len(horses)
    period = round(0.064 * size)  # the torso's stripe period in px (0.052-0.080 of the side)
    return {
        "blurred horse": gaussian_blur(horses, size / 32),
        "grey pixel noise": paste(horses, pixel_noise(n, size, False, g), masks),
        "colour pixel noise": paste(horses, pixel_noise(n, size, True, g), masks),
        "colour speckle 1 px": paste(horses, speckle(n, size, 1, True, g), masks),
        "colour speckle 2 px": paste(horses, speckle(n, size, 2, True, g), masks),
        "black-and-white speckle 2 px": paste(horses, speckle(n, size, 2, False, g), masks),
        **{f"checkerboard {c} px": paste(horses, checkerboard(n, size, c), masks)
           for c in sorted({1, 2, max(2, period // 2)})},
    }


# At 32 px the coat's stripes are 2 px apart, as fine as the pixel grid: achromatic noise and
# black-and-white blotches there are not told from stripes (coherence_threshold says why).
_NOT_CAUGHT = {32: {"grey pixel noise", "black-and-white speckle 2 px"}}


@pytest.mark.parametrize("size", [32, 64, pytest.param(128, marks=pytest.mark.slow)])
def test_zebra_verdict_real_zebras_yes_horses_and_impostors_no(size):
    n = 200 if size < 128 else 100
    ds = SyntheticZebras("test", size=size, length=n)
    items = [ds[i] for i in range(n)]
    pairs = [ds.render_pair(i) for i in range(n)]
    zebras, zebra_masks = _stack(items, "B"), _stack(items, "mask_B")
    horses, horse_masks = _stack(items, "A"), _stack(items, "mask_A")
    truth, truth_masks = _stack(pairs, "B"), _stack(pairs, "mask")

    assert is_zebra(zebras, zebra_masks).all()
    # 2 of 200 true translations at 32 px are rendered as aliased grey (stripes finer than
    # the grid: contrast 0.064, or coherence 0.195), so 0.99 there and every one above.
    assert is_zebra(truth, truth_masks).float().mean() >= (0.99 if size == 32 else 1.0)
    assert not is_zebra(horses, horse_masks).any()

    g = torch.Generator().manual_seed(size)
    for name, fake in _impostors(horses, horse_masks, size, g).items():
        rate = float(is_zebra(fake, horse_masks).float().mean())
        if name in _NOT_CAUGHT.get(size, ()):
            continue
        # One of 200 black-and-white speckle coats at 64 px reaches coherence 0.509 against
        # the 0.52 bar (a blotch pattern that happens to line up); none at 128 px.
        allowed = 0.01 if (size, name) == (64, "black-and-white speckle 2 px") else 0.0
        assert rate <= allowed, (name, rate)


def test_each_condition_of_the_verdict_is_needed():
    """Contrast alone is fooled: speckle, noise and checkerboards all have it. Each of the
    other two conditions rejects some of them (colour: chroma; order: coherence)."""
    size, n = 64, 100
    ds = SyntheticZebras("test", size=size, length=n)
    items = [ds[i] for i in range(n)]
    horses, masks = _stack(items, "A"), _stack(items, "mask_A")
    fakes = _impostors(horses, masks, size, torch.Generator().manual_seed(1))
    threshold = coherence_threshold(size)
    for name, chroma_rejects, coherence_rejects in (
            ("colour speckle 1 px", True, True), ("grey pixel noise", False, True),
            ("checkerboard 2 px", False, True), ("colour pixel noise", True, True)):
        m = stripe_measures(fakes[name], masks)
        assert (m["contrast"] > STRIPE_THRESHOLD).float().mean() >= 0.9, name  # fooled
        assert bool((m["chroma"] >= CHROMA_MAX).all()) == chroma_rejects, name
        assert bool((m["coherence"] <= threshold).all()) == coherence_rejects, name
    real = stripe_measures(_stack(items, "B"), _stack(items, "mask_B"))
    # Real zebras are far inside every bound: chroma <= 0.040 (bound 0.08), coherence >= 0.59.
    assert real["chroma"].max() < CHROMA_MAX / 2 and real["coherence"].min() > threshold + 0.05


def test_stripe_score_of_synthetic_patterns():
    size = 64
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    stripes = torch.where((xx // 3) % 2 == 0, 0.9, -0.9).float()  # black/white, period 6 px
    flat = torch.full((size, size), 0.2)
    ramp = (yy.float() / size) - 0.5  # smooth shading
    images = torch.stack([stripes, flat, ramp])[:, None].expand(-1, 3, -1, -1)
    mask = torch.zeros(3, 1, size, size)
    mask[..., 16:48, 8:56] = 1
    scores = stripe_score(images, mask)
    assert scores[0] > 2 * STRIPE_THRESHOLD  # full-contrast stripes are clearly zebra
    assert scores[1] < 1e-6 and scores[2] < 0.2 * STRIPE_THRESHOLD
    assert stripe_score(images, torch.zeros_like(mask)).eq(0).all()  # empty mask: 0


def _scores(inputs, outputs, masks):
    return score_zebras(inputs, outputs, masks)


def test_score_zebras_real_translation_vs_degenerate_outputs(test_pairs):
    pairs = test_pairs[:150]
    horses, zebras, masks = _stack(pairs, "A"), _stack(pairs, "B"), _stack(pairs, "mask")
    real = _scores(horses, zebras, masks)
    untouched = _scores(horses, horses, masks)
    grey = _scores(horses, torch.zeros_like(horses), masks)
    blurred_input = F.avg_pool2d(F.pad(horses, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    blurred = _scores(horses, blurred_input, masks)

    # The ground truth: same shape, same background, all zebras. (IoU < 1 only from the
    # blended outline pixels; measured 0.975.)
    assert real["silhouette_iou"] > 0.95
    # Not exactly 1: a thin tip (an ear) can tint a pixel whose centre is outside the mask
    # and not next to it; measured 0.999998.
    assert real["background_preservation"] > 0.999
    assert real["zebra_rate"] >= 0.98
    # Copying the input keeps shape and background perfectly but makes no zebra.
    assert untouched["silhouette_iou"] > 0.95
    assert untouched["background_preservation"] == 1.0
    assert untouched["zebra_rate"] <= 0.02
    assert untouched["stripe_score"] < 0.5 * real["stripe_score"]
    # All grey: no animal, no background, no zebra.
    assert grey["silhouette_iou"] < 0.3
    assert grey["background_preservation"] < 0.05
    assert grey["zebra_rate"] == 0.0
    # A blurred input loses the outline, the grass texture and any stripes.
    assert blurred["silhouette_iou"] < real["silhouette_iou"] - 0.1
    assert blurred["background_preservation"] < 0.95
    assert blurred["zebra_rate"] == 0.0


def test_best_per_pixel_colour_map_cannot_make_zebras(test_pairs):
    """Fit the best colour -> colour lookup table (16^3 bins; each bin maps to the mean zebra
    colour of the horse pixels in it) on 100 ground-truth training pairs, apply it to the test
    horses: it keeps the background but paints every animal in one average tone, because
    where a stripe goes depends on the position on the body, not on the coat colour."""
    train = SyntheticZebras("train", size=64, length=100)
    fit = [train.render_pair(i) for i in range(100)]
    src, dst = _stack(fit, "A"), _stack(fit, "B")
    q = 16

    def bins(x):
        b = ((x + 1) / 2 * q).long().clamp(0, q - 1)
        return ((b[:, 0] * q + b[:, 1]) * q + b[:, 2]).flatten()

    idx = bins(src)
    sums = torch.zeros(q ** 3, 3).index_add_(0, idx, dst.permute(0, 2, 3, 1).reshape(-1, 3))
    counts = torch.zeros(q ** 3).index_add_(0, idx, torch.ones(idx.numel()))
    lut = sums / counts.clamp_min(1)[:, None]

    pairs = test_pairs[:150]
    horses, zebras, masks = _stack(pairs, "A"), _stack(pairs, "B"), _stack(pairs, "mask")
    mapped = lut[bins(horses)].reshape(horses.shape[0], 64, 64, 3).permute(0, 3, 1, 2)
    best_map = _scores(horses, mapped, masks)
    real = _scores(horses, zebras, masks)
    assert real["zebra_rate"] >= 0.98
    assert best_map["zebra_rate"] <= 0.05  # measured 0.0
    assert best_map["stripe_score"] < 0.3 * real["stripe_score"]


def test_scorers_reject_bad_inputs():
    x = torch.zeros(2, 3, 32, 32)
    m = torch.zeros(2, 1, 32, 32)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        segment_animals(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="masks must have shape"):
        stripe_score(x, torch.zeros(2, 32, 32))
    with pytest.raises(ValueError, match="same shape"):
        score_zebras(x, torch.zeros(2, 3, 16, 16), m)
    with pytest.raises(TypeError, match="torch.Tensor"):
        stripe_score(np.zeros((2, 3, 32, 32)), m)
