"""synthetic-landscapes: determinism, shapes, one layout in every style, style semantics,
reflections, strokes, and scorers that rank real photos above degenerate outputs."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coursekit.data.synthetic.landscapes import (
    LANDSCAPE_CLASSES,
    LANDSCAPE_PALETTE,
    LANDSCAPE_STYLES,
    SyntheticLandscapes,
    score_landscapes,
    segment_landscapes,
    stroke_faithfulness,
    strokes,
    style_id,
    uniform_map_recall,
)

C = {name: i for i, name in enumerate(LANDSCAPE_CLASSES)}
N_EVAL = 90  # test items (10 per style) for the accuracy claims


def _stack(items, key):
    return torch.stack([it[key] for it in items])


def _lum(images):
    return ((images + 1) / 2 * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)


@pytest.fixture(scope="module")
def test_items():
    """N_EVAL test layouts, each in style ``i % 9`` so every style is covered equally."""
    ds = SyntheticLandscapes("test", size=64, length=N_EVAL)
    return [ds.render(i, style=i % len(LANDSCAPE_STYLES)) for i in range(N_EVAL)]


# ------------------------------------------------------------------------------------------
# Dataset contract
# ------------------------------------------------------------------------------------------

def test_items_are_deterministic_and_depend_only_on_seed_split_index():
    a = SyntheticLandscapes("train", size=48, seed=5)[3]
    b = SyntheticLandscapes("train", size=48, seed=5, length=4)[3]
    for key in ("A", "B", "labels", "style"):
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["labels"], SyntheticLandscapes("train", size=48, seed=6)[3]["labels"])
    assert not torch.equal(a["labels"], SyntheticLandscapes("train", size=48, seed=5)[4]["labels"])


def test_train_and_test_share_no_layout():
    n = 60
    train = SyntheticLandscapes("train", size=32, length=n)
    test = SyntheticLandscapes("test", size=32, length=n)
    seen = {train.layout(i).tobytes() for i in range(n)}
    assert not any(test.layout(i).tobytes() in seen for i in range(n))


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_shapes_dtypes_and_ranges(size):
    item = SyntheticLandscapes("train", size=size, length=2)[1]
    assert set(item) == {"A", "B", "labels", "style"}
    for key in ("A", "B"):
        assert item[key].shape == (3, size, size) and item[key].dtype == torch.float32
        assert item[key].min() >= -1 and item[key].max() <= 1
    labels = item["labels"]
    assert labels.shape == (size, size) and labels.dtype == torch.int64
    assert 0 <= labels.min() and labels.max() < len(LANDSCAPE_CLASSES)
    assert item["style"].dtype == torch.int64 and item["style"].ndim == 0
    assert 0 <= int(item["style"]) < len(LANDSCAPE_STYLES)
    # "A" is exactly the palette colour of each label.
    expected = torch.from_numpy(LANDSCAPE_PALETTE[labels.numpy()].astype(np.float32))
    assert torch.allclose(item["A"], (expected / 255 * 2 - 1).permute(2, 0, 1), atol=1e-6)


def test_a_scene_is_the_same_at_every_size():
    small = SyntheticLandscapes("test", size=64, length=4)
    large = SyntheticLandscapes("test", size=256, length=4)
    for i in range(4):
        a, b = small[i], large[i]
        assert int(a["style"]) == int(b["style"])
        # Sampling the 256 px labels at the 64 px pixel centres: only pixels on a region
        # border may differ (measured agreement >= 0.98).
        assert (b["labels"][2::4, 2::4] == a["labels"]).float().mean() > 0.95


def test_palette_and_styles_tables():
    assert LANDSCAPE_PALETTE.dtype == np.uint8
    assert LANDSCAPE_PALETTE.shape == (len(LANDSCAPE_CLASSES), 3)
    assert len({tuple(c) for c in LANDSCAPE_PALETTE}) == len(LANDSCAPE_CLASSES)  # distinct
    for name in ("sky", "mountain", "snow", "water", "tree", "grass"):
        assert name in LANDSCAPE_CLASSES
    assert len(LANDSCAPE_STYLES) == 9
    assert style_id("sunset-autumn") == LANDSCAPE_STYLES.index("sunset-autumn")
    assert style_id(("night", "winter")) == LANDSCAPE_STYLES.index("night-winter")
    assert style_id(4) == 4


def test_other_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown style 'dusk-spring'"):
        SyntheticLandscapes(style="dusk-spring")
    with pytest.raises(ValueError, match="style must be an id"):
        SyntheticLandscapes(style=9)
    with pytest.raises(ValueError, match="split must be one of"):
        SyntheticLandscapes(split="val")
    with pytest.raises(ValueError, match="seed must be"):
        SyntheticLandscapes(seed=-3)
    ds = SyntheticLandscapes(length=2)
    with pytest.raises(IndexError, match="out of range"):
        ds[2]


def test_every_class_occurs_and_scenes_are_varied():
    ds = SyntheticLandscapes("train", size=64, length=100)
    layouts = np.stack([ds.layout(i) for i in range(100)])
    present = np.stack([(layouts == c).any(axis=(1, 2)) for c in range(len(LANDSCAPE_CLASSES))], 1)
    # Sky, mountains and grass are in (almost) every scene; every class is in at least 10 %.
    for name in ("sky", "mountain", "grass"):
        assert present[:, C[name]].mean() > 0.9, name
    assert (present.mean(0) > 0.1).all(), dict(zip(LANDSCAPE_CLASSES, present.mean(0)))
    assert (present.sum(1) >= 4).mean() > 0.9  # most scenes have at least four classes
    assert len({lay.tobytes() for lay in layouts}) == 100  # no two layouts alike
    # The horizon moves: the first non-sky row (column-wise median) varies between scenes.
    skyline = [np.median(np.argmax(lay[:, :] >= C["mountain"], axis=0)) for lay in layouts]
    assert np.std(skyline) > 2.0  # pixels, at 64 px


# ------------------------------------------------------------------------------------------
# Styles: one layout, nine looks, each with its meaning
# ------------------------------------------------------------------------------------------

def test_styles_random_or_fixed():
    random = SyntheticLandscapes("train", size=32, length=120)
    assert {int(random[i]["style"]) for i in range(120)} == set(range(len(LANDSCAPE_STYLES)))
    fixed = SyntheticLandscapes("train", size=32, length=10, style="night-autumn")
    assert all(int(fixed[i]["style"]) == style_id("night-autumn") for i in range(10))
    # The layout does not depend on the style.
    assert torch.equal(random[3]["labels"], fixed[3]["labels"])


def test_same_layout_in_every_style():
    ds = SyntheticLandscapes("test", size=64, length=4)
    versions = ds.all_styles(2)
    assert [int(v["style"]) for v in versions] == list(range(len(LANDSCAPE_STYLES)))
    photos = torch.stack([v["B"] for v in versions])
    assert photos.shape == (len(LANDSCAPE_STYLES), 3, 64, 64)
    for s in range(len(LANDSCAPE_STYLES)):
        item = ds.render(2, style=s)
        assert torch.equal(item["B"], photos[s])
        assert torch.equal(item["labels"], ds[2]["labels"]) and torch.equal(item["A"], ds[2]["A"])
    diffs = (photos[:, None] - photos[None]).abs().mean(dim=(2, 3, 4))
    time = torch.arange(len(LANDSCAPE_STYLES)) // 3
    other_time = time[:, None] != time[None]
    same_time = ~other_time & ~torch.eye(len(LANDSCAPE_STYLES), dtype=torch.bool)
    # Another time of day changes the whole picture (measured >= 0.30 mean absolute
    # difference); another season changes foliage, grass, rock and ice, a smaller part of
    # the picture (measured >= 0.019, between the two darkest: night summer/autumn).
    assert diffs[other_time].min() > 0.2
    assert diffs[same_time].min() > 0.01


def test_time_of_day_and_season_mean_what_they_say():
    ds = SyntheticLandscapes("test", size=64, length=20)
    day, sunset, night, autumn = [], [], [], []
    for i in range(20):
        labels = ds[i]["labels"]
        by_style = {name: ds.render(i, style=name)["B"] for name in
                    ("day-summer", "sunset-summer", "night-summer", "day-autumn")}
        sky = labels == C["sky"]
        grass = labels == C["grass"]
        lum = {k: _lum(v[None])[0] for k, v in by_style.items()}
        day.append(lum["day-summer"].mean())
        night.append(lum["night-summer"].mean())
        if sky.any():
            sunset.append((by_style["sunset-summer"][0] - by_style["sunset-summer"][2])[sky].mean()
                          - (by_style["day-summer"][0] - by_style["day-summer"][2])[sky].mean())
        if grass.any():
            g_s, g_a = by_style["day-summer"], by_style["day-autumn"]
            autumn.append(((g_a[0] - g_a[1]) - (g_s[0] - g_s[1]))[grass].mean())
    day, night = torch.stack(day), torch.stack(night)
    assert (night < 0.6 * day).all()  # nights are dark
    assert (torch.stack(sunset) > 0.3).all()  # sunset skies are red, day skies blue
    assert (torch.stack(autumn) > 0.2).all()  # autumn grass turns from green to straw


def test_lakes_mirror_the_scene_above():
    ds = SyntheticLandscapes("test", size=128, length=40, style="day-summer")
    mirrored, control = [], []
    for i in range(40):
        item = ds[i]
        water = item["labels"] == C["water"]
        if water.sum() < 50:
            continue
        lum = _lum(item["B"][None])[0]
        top = int(torch.nonzero(water.any(1)).min())  # the lake's far shore = mirror line
        ys, xs = torch.nonzero(water, as_tuple=True)
        source = (2 * top - ys - 1).clamp(min=0)
        a = lum[ys, xs]
        mirrored.append(torch.corrcoef(torch.stack([a, lum[source, xs]]))[0, 1])
        control.append(torch.corrcoef(torch.stack([a, lum[source, torch.roll(xs, 37)]]))[0, 1])
    assert len(mirrored) >= 15
    # Water pixels follow what is above them in the mirror (measured median 0.79), far more
    # than the same rows at other columns (median 0.2); a flat or noise-only lake gives ~0.
    assert torch.stack(mirrored).median() > 0.6
    assert torch.stack(mirrored).median() > torch.stack(control).median() + 0.3


# ------------------------------------------------------------------------------------------
# Scorers
# ------------------------------------------------------------------------------------------

def test_segmentation_of_real_photos_matches_the_labels(test_items):
    photos, labels = _stack(test_items, "B"), _stack(test_items, "labels")
    styles = _stack(test_items, "style")
    scores = score_landscapes(photos, labels)
    # Measured at 64 px: pixel accuracy 0.97, class accuracy 0.95, class IoU 0.88. Errors are
    # outline pixels and a few colour coincidences (sunset glow vs. pink snow, ...).
    assert scores["pixel_accuracy"] > 0.94
    assert scores["class_accuracy"] > 0.9
    assert scores["class_iou"] > 0.8
    assert score_landscapes(photos, labels, styles=styles)["pixel_accuracy"] > 0.94
    for s in range(len(LANDSCAPE_STYLES)):  # no style is left behind (worst measured 0.94)
        pick = styles == s
        acc = (segment_landscapes(photos[pick]) == labels[pick]).float().mean()
        assert acc > 0.9, LANDSCAPE_STYLES[s]


def _class_mean_map(test_items):
    """The best per-pixel map from (style, label) to colour: the mean photo colour of each
    class in each style over 180 training items, painted flat."""
    train = SyntheticLandscapes("train", size=64, length=180)
    n_cls = len(LANDSCAPE_CLASSES)
    sums = torch.zeros(len(LANDSCAPE_STYLES), n_cls, 3)
    counts = torch.zeros(len(LANDSCAPE_STYLES), n_cls)
    for i in range(180):
        item = train[i]
        s, lab = int(item["style"]), item["labels"].flatten()
        sums[s].index_add_(0, lab, item["B"].flatten(1).T)
        counts[s].index_add_(0, lab, torch.ones(lab.numel()))
    means = sums / counts.clamp_min(1)[..., None]
    styles, labels = _stack(test_items, "style"), _stack(test_items, "labels")
    return means[styles[:, None, None], labels].permute(0, 3, 1, 2)


def test_degenerate_outputs_score_worse(test_items):
    photos, labels = _stack(test_items, "B"), _stack(test_items, "labels")
    real = score_landscapes(photos, labels)
    grey = score_landscapes(torch.zeros_like(photos), labels)
    blurred = score_landscapes(F.avg_pool2d(F.pad(photos, (2, 2, 2, 2), mode="replicate"), 5,
                                            stride=1), labels)
    other = score_landscapes(torch.roll(photos, 1, 0), labels)  # a different scene
    flat = score_landscapes(_class_mean_map(test_items), labels)

    assert grey["pixel_accuracy"] < 0.3 and grey["class_iou"] < 0.1  # measured 0.13 / 0.02
    assert other["pixel_accuracy"] < real["pixel_accuracy"] - 0.25  # measured 0.54 vs 0.97
    assert other["class_iou"] < real["class_iou"] - 0.4
    # Blurring smears region borders and removes texture (measured IoU 0.57 vs 0.88, detail
    # 0.001 vs 0.006).
    assert blurred["class_iou"] < real["class_iou"] - 0.15
    assert blurred["detail"] < 0.5 * real["detail"]
    # The best per-pixel colour map has no texture at all, so a generator that only learned
    # a colour per label would be caught by "detail" even where labels line up.
    assert flat["detail"] < 0.3 * real["detail"]
    assert flat["pixel_accuracy"] < real["pixel_accuracy"]


def test_strokes_are_coarse_flat_and_faithful(test_items):
    photos = _stack(test_items, "B")[:24]
    s = strokes(photos, seed=3)
    assert s.shape == photos.shape and s.dtype == torch.float32
    assert s.min() >= -1 and s.max() <= 1
    assert torch.equal(s, strokes(photos, seed=3))  # deterministic
    assert not torch.equal(s, strokes(photos, seed=4))  # the seed moves the ragged edges
    for img in s:
        assert len(torch.unique(img.flatten(1), dim=1).T) <= 6  # at most `colours` colours
    # Flat: almost every pixel has the colour of its right and lower neighbours (only region
    # edges differ); a photo has texture everywhere.
    same = ((s[..., 1:, 1:] == s[..., :-1, 1:]) & (s[..., 1:, 1:] == s[..., 1:, :-1])).all(1)
    assert same.float().mean() > 0.85
    photo_same = ((photos[..., 1:, 1:] - photos[..., :-1, 1:]).abs().amax(1) < 1e-3).float().mean()
    assert photo_same < 0.5
    own = stroke_faithfulness(photos, s)
    other = stroke_faithfulness(torch.roll(photos, 1, 0), s)
    grey = stroke_faithfulness(torch.zeros_like(photos), s)
    # Measured: a photo is ~0.1 from its own strokes, an unrelated photo or grey ~0.5.
    assert own["distance"] < 0.15
    assert other["distance"] > own["distance"] + 0.2 and grey["distance"] > own["distance"] + 0.2
    assert own["score"] > 0.55 and other["score"] < 0.35
    assert stroke_faithfulness(s, s) == {"distance": 0.0, "score": 1.0}


def test_strokes_options_and_errors():
    img = SyntheticLandscapes("test", size=64, length=1)[0]["B"][None]
    assert len(torch.unique(strokes(img, colours=3)[0].flatten(1), dim=1).T) <= 3
    smooth = strokes(img, raggedness=0.0, grid_cells=8)
    assert smooth.shape == img.shape
    with pytest.raises(ValueError, match="colours must be between 2 and 16"):
        strokes(img, colours=1)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        strokes(img[0])
    with pytest.raises(ValueError, match="raggedness"):
        strokes(img, raggedness=-1)


def test_scorers_reject_bad_inputs():
    x = torch.zeros(2, 3, 32, 32)
    with pytest.raises(ValueError, match="labels must have shape"):
        score_landscapes(x, torch.zeros(2, 16, 16, dtype=torch.int64))
    with pytest.raises(ValueError, match="integer class ids"):
        score_landscapes(x, torch.full((2, 32, 32), 99, dtype=torch.int64))
    with pytest.raises(ValueError, match="same shape"):
        stroke_faithfulness(x, torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match="styles must be"):
        segment_landscapes(x, styles=[0, 1, 2])
    with pytest.raises(TypeError, match="torch.Tensor"):
        segment_landscapes(np.zeros((2, 3, 32, 32)))


def test_noise_primitives_added_to_render():
    """The render.py primitives these datasets added: same lattice draws as value_noise,
    values in [0, 1], the intended anisotropy, and 1-D profiles for skylines."""
    from coursekit.data.synthetic.render import (
        fractal_noise_1d, smoothstep, value_noise, value_noise_rect)

    square = value_noise_rect(np.random.default_rng(7), 48, 6, 6)
    reference = value_noise(np.random.default_rng(7), 48, 6)
    assert np.abs(square - reference).max() < 1e-5  # float32 rounding only
    streaks = value_noise_rect(np.random.default_rng(1), 64, 2, 32)  # few rows, many columns
    assert streaks.min() >= 0 and streaks.max() <= 1
    # Vertical streaks: neighbours along y are far more alike than neighbours along x.
    assert np.abs(np.diff(streaks, axis=0)).mean() < 0.2 * np.abs(np.diff(streaks, axis=1)).mean()
    profile = fractal_noise_1d(np.random.default_rng(2), 64, base_cells=4, octaves=4)
    assert profile.shape == (64,) and profile.min() >= 0 and profile.max() <= 1
    assert profile.std() > 0.02  # not flat
    assert np.allclose(smoothstep(0.0, 1.0, np.array([-1.0, 0.5, 2.0])), [0.0, 0.5, 1.0])
    assert np.allclose(smoothstep(1.0, 0.0, np.array([-1.0, 2.0])), [1.0, 0.0])  # falling


def test_uniform_map_recall_tells_a_washed_out_generator_from_a_faithful_one():
    data = SyntheticLandscapes("test", size=32, length=20, style="day-summer")
    items = [data[i] for i in range(20)]
    photos, labels = _stack(items, "B"), _stack(items, "labels")
    palette = torch.tensor(LANDSCAPE_PALETTE, dtype=torch.float32) / 127.5 - 1
    seen = []

    def faithful(x):  # each class's mean photo colour over the whole image
        k = int(((palette - x[0, :, 0, 0]) ** 2).sum(1).argmin())
        seen.append((k, bool((x == x[:, :, :1, :1]).all())))
        colour = photos.permute(1, 0, 2, 3)[:, labels == k].mean(1)
        return colour.view(1, 3, 1, 1).expand(1, 3, 32, 32).clone()

    day_summer = style_id("day-summer")
    recall = uniform_map_recall(faithful, 32, day_summer)
    # Each uniform map, once, in class order, as the palette's colour everywhere.
    assert seen == [(k, True) for k in range(len(LANDSCAPE_CLASSES))]
    assert list(recall) == list(LANDSCAPE_CLASSES)
    # Flat colours: every class but the sky (whose colour depends on the row: measured 0.56)
    # is read back everywhere (measured 1.0).
    assert all(recall[c] > 0.95 for c in LANDSCAPE_CLASSES if c != "sky")
    # A generator that washes the map out paints one photo whatever the class: the recalls
    # are that photo's class fractions, which sum to 1 (measured 0.41 sky, 0.20 grass, ...).
    washed = uniform_map_recall(lambda x: photos[:1], 32, day_summer)
    assert sum(washed.values()) == pytest.approx(1.0)
    assert max(washed.values()) < 0.5
    with pytest.raises(ValueError, match="translate's output"):
        uniform_map_recall(lambda x: photos[0], 32)
