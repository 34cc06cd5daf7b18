"""coursekit.widgets without a browser: set a control's value in Python, read the displayed
image back. Also the facade layout edits the painter is built on."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from coursekit.data.synthetic.facades import (BALCONY, DOOR, WINDOW, FacadeLayout,
                                              SyntheticFacades, label_image, render_labels,
                                              render_photo)
from coursekit.widgets import (CompareView, FacadePainter, ImageView, LatentExplorer,
                               SliderEchoes, StyleExplorer, Throttle, png_bytes, read_png,
                               to_uint8)


class FakeClock:
    """A ``call_later`` whose time moves only when the test says so."""

    def __init__(self):
        self.now, self.timers = 0.0, []

    def call_later(self, delay, callback):
        timer = _Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def advance(self, seconds):
        self.now += seconds
        while True:
            due = [t for t in self.timers if not t.cancelled and t.when <= self.now]
            if not due:
                return
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            timer.callback()


class _Timer:
    def __init__(self, when, callback):
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self):
        self.cancelled = True


# ----------------------------------------------------------------------------- Throttle
def test_throttle_burst_runs_at_most_twice_and_ends_on_the_last_value():
    clock, seen = FakeClock(), []
    throttle = Throttle(seen.append, interval=0.1, call_later=clock.call_later)
    for value in range(10):  # a slider dragged across 10 steps within the interval
        throttle(value)
        clock.advance(0.005)
    clock.advance(1.0)
    assert seen == [0, 9], "the first value at once, then only the latest one"
    assert throttle.calls == 2


def test_throttle_is_immediate_when_idle_and_again_after_the_interval():
    clock, seen = FakeClock(), []
    throttle = Throttle(seen.append, interval=0.1, call_later=clock.call_later)
    throttle("a")
    assert seen == ["a"]  # a single click answers without waiting
    clock.advance(0.2)
    throttle("b")
    assert seen == ["a", "b"]


def test_throttle_flush_handles_the_pending_value_now():
    clock, seen = FakeClock(), []
    throttle = Throttle(seen.append, interval=10.0, call_later=clock.call_later)
    throttle(1), throttle(2), throttle(3)
    assert seen == [1]
    throttle.flush()
    assert seen == [1, 3]


def test_throttle_on_the_running_event_loop_coalesces_a_burst():
    """The default scheduler, as in a Jupyter kernel: the asyncio loop's call_later."""
    seen = []

    async def burst():
        throttle = Throttle(seen.append, interval=0.05)
        for value in range(10):
            throttle(value)
        await asyncio.sleep(0.3)
        return throttle.calls

    assert asyncio.run(burst()) == 2
    assert seen == [0, 9]


def test_throttle_without_an_event_loop_is_synchronous():
    seen = []
    throttle = Throttle(seen.append)
    for value in range(3):
        throttle(value)
    assert seen == [0, 1, 2]


def test_throttle_reports_errors_and_keeps_working():
    errors, seen, clock = [], [], FakeClock()

    def fn(value):
        if value == "bad":
            raise ValueError("no")
        seen.append(value)

    throttle = Throttle(fn, 0.1, call_later=clock.call_later, on_error=errors.append)
    throttle("bad")
    clock.advance(1)
    throttle("good")
    assert [str(e) for e in errors] == ["no"] and seen == ["good"]
    with pytest.raises(ValueError, match="interval"):
        Throttle(print, interval=-1)


# ----------------------------------------------------------------------------- images
def test_png_round_trip_is_exact_and_scales_with_nearest_neighbours():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(read_png(png_bytes(img)), img)
    big = read_png(png_bytes(img, scale=3))
    assert big.shape == (15, 21, 3) and np.array_equal(big[::3, ::3], img)
    with pytest.raises(ValueError, match="scale"):
        png_bytes(img, scale=0)


def test_tensor_images_map_minus_one_to_black_and_one_to_white():
    t = torch.stack([torch.full((2, 2), -1.0), torch.zeros(2, 2), torch.ones(2, 2)])
    assert to_uint8(t)[0, 0].tolist() == [0, 128, 255]  # 0 -> 127.5, rounded half to even: 128
    assert to_uint8(np.ones((2, 2)))[0, 0].tolist() == [255, 255, 255]  # grey float -> RGB
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        to_uint8(torch.zeros(4, 2, 2))


def test_image_view_updates_the_same_widget_in_place():
    view = ImageView(4, scale=2)
    widget = view.image
    view.show(np.zeros((4, 4, 3), np.uint8))
    view.show(np.full((4, 4, 3), 200, np.uint8))
    assert view.image is widget
    assert view.array.shape == (8, 8, 3) and (view.array == 200).all()


# ----------------------------------------------------------------------------- CompareView
def test_compare_view_shows_input_each_model_and_reference():
    x = torch.linspace(-1, 1, 3 * 8 * 8).reshape(3, 8, 8)
    view = CompareView({"same": lambda b: b, "negated": lambda b: -b}, 8,
                       reference_title="truth", scale=1)
    view.set_input(x, reference=torch.ones(3, 8, 8))
    shown = view.arrays()
    assert list(shown) == ["input", "same", "negated", "truth"]
    assert np.array_equal(shown["input"], to_uint8(x))
    assert np.array_equal(shown["same"], to_uint8(x))
    assert np.array_equal(shown["negated"], to_uint8(-x))
    assert (shown["truth"] == 255).all()


def test_compare_view_rejects_a_model_that_returns_the_wrong_shape():
    view = CompareView({"bad": lambda b: b[0]}, 8)
    with pytest.raises(ValueError, match="'bad' must map a"):
        view.set_input(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="non-empty dict"):
        CompareView({}, 8)


# ----------------------------------------------------------------------------- LatentExplorer
def _grey(a, b):
    """An 8x8 image whose grey level is a / 3 (in [-1, 1]) and whose left column is b / 3."""
    img = torch.full((3, 8, 8), a / 3)
    img[:, :, 0] = b / 3
    return img


def test_latent_explorer_slider_changes_the_displayed_image():
    explorer = LatentExplorer(_grey, ["a", "b"], scale=1)
    assert (explorer.array == 128).all()  # both latents start at 0
    explorer.sliders["a"].value = 3.0
    assert (explorer.array[:, 1:] == 255).all() and (explorer.array[:, 0] == 128).all()
    explorer.set(b=-3.0)
    assert (explorer.array[:, 0] == 0).all()
    explorer.reset()
    assert explorer.values == {"a": 0.0, "b": 0.0} and (explorer.array == 128).all()


def test_latent_explorer_random_draws_within_the_ranges_and_is_seeded():
    first = LatentExplorer(_grey, {"a": (-1.0, 1.0, 0.0), "b": (0.0, 2.0, 1.0)}, seed=3)
    second = LatentExplorer(_grey, {"a": (-1.0, 1.0, 0.0), "b": (0.0, 2.0, 1.0)}, seed=3)
    first.randomise(), second.randomise()
    assert first.values == second.values != {"a": 0.0, "b": 1.0}
    assert -1 <= first.values["a"] <= 1 and 0 <= first.values["b"] <= 2


def test_latent_explorer_burst_renders_at_most_twice_and_shows_the_last_value():
    clock, calls = FakeClock(), []

    def fn(a):
        calls.append(a)
        return torch.full((3, 4, 4), a / 3)

    explorer = LatentExplorer(fn, ["a"], scale=1, call_later=clock.call_later)
    calls.clear()  # the first image, drawn when the explorer was built
    for k in range(1, 11):
        explorer.set(a=k * 0.25)
    clock.advance(1.0)
    assert len(calls) <= 2 and calls[-1] == 2.5
    assert (explorer.array == round((2.5 / 3 + 1) * 127.5)).all()


def test_latent_explorer_shows_errors_instead_of_raising():
    def fn(a):
        if a > 1:
            raise RuntimeError("latent out of the trained range")
        return torch.zeros(3, 4, 4)

    explorer = LatentExplorer(fn, ["a"])
    explorer.set(a=2.0)
    assert "latent out of the trained range" in explorer.status.value
    with pytest.raises(ValueError, match="unknown latent"):
        explorer.set(c=1.0)
    with pytest.raises(ValueError, match="low <= start <= high"):
        LatentExplorer(fn, {"a": (1.0, -1.0, 0.0)})


# ----------------------------------------------------------------------------- facade layouts
@pytest.fixture(scope="module")
def facades():
    return SyntheticFacades("test", size=64)


def test_render_labels_reproduces_the_dataset(facades):
    for i in range(6):
        item = facades[i]
        labels = render_labels(facades.layout(i), 64)
        assert torch.equal(labels, item["labels"])
        assert torch.equal(label_image(labels), item["A"])
    photo = render_photo(facades.layout(0), 1, 64)
    assert photo.shape == (3, 64, 64) and -1 <= photo.min() and photo.max() <= 1


def _layout_with(facades, predicate) -> FacadeLayout:
    return next(lay for lay in map(facades.layout, range(len(facades))) if predicate(lay))


def test_removing_a_window_removes_exactly_its_pixels(facades):
    lay = facades.layout(0)
    before = render_labels(lay, 64)
    after = render_labels(lay.with_window(0, 1, False), 64)
    changed = before != after
    assert changed.any() and (before[changed] == WINDOW).all()  # only window pixels changed
    assert lay.windows.all(), "edits return a new layout, the original is unchanged"
    # The removed window was in the top floor's band and in the second column's band.
    rows, cols = changed.nonzero().T
    assert rows.max() / 64 < lay.floor_y[1]
    assert abs(cols.float().mean() / 64 - lay.col_x[1]) < lay.pitch / 2
    back = lay.with_window(0, 1, False).with_window(0, 1, True)
    assert torch.equal(render_labels(back, 64), before)


def test_door_and_balcony_edits(facades):
    lay = _layout_with(facades, lambda l: not l.balconies.any() and l.shop_top is None)
    assert (render_labels(lay, 64) == DOOR).any()
    assert not (render_labels(lay.with_door(None), 64) == DOOR).any()
    moved = render_labels(lay.with_door((lay.door_col + 1) % lay.columns), 64)
    assert (moved == DOOR).any() and not torch.equal(moved, render_labels(lay, 64))
    with_balcony = lay.with_balcony(0, True)
    labels = render_labels(with_balcony, 64)
    assert (labels == BALCONY).any() and with_balcony.balconies.tolist()[:1] == [True]
    # Removing it again gives back ordinary windows: they end at the typical height of this
    # building's windows (not necessarily floor 0's own, which the sampler jittered).
    removed, original = render_labels(with_balcony.with_balcony(0, False), 64), render_labels(lay, 64)
    assert not (removed == BALCONY).any()
    differ = (removed != original).nonzero()[:, 0]
    assert differ.numel() == 0 or differ.max() / 64 < lay.floor_y[1], "only floor 0 may change"
    with pytest.raises(ValueError, match="ground floor has no balcony"):
        lay.with_balcony(lay.floors - 1, True)


def test_changing_floors_and_columns(facades):
    lay = facades.layout(1)
    for floors in (2, lay.floors + 1):
        edited = lay.with_floors(floors)
        assert edited.floors == floors and edited.window_mask is None
        labels = render_labels(edited, 64)
        # One band of window rows per floor, counted down the middle of a window column.
        column = labels[:, int(edited.col_x[0] * 64)] == WINDOW
        bands = int(column[0]) + int((column[1:] & ~column[:-1]).sum())
        assert bands == floors, (floors, bands)
    wide = lay.with_columns(lay.columns + 2)
    assert wide.columns == lay.columns + 2 and abs(wide.pitch * wide.columns - lay.pitch * lay.columns) < 1e-6
    # A removed window stays removed when floors are added on top.
    kept = lay.with_window(lay.floors - 2, 0, False).with_floors(lay.floors + 1)
    assert not kept.windows[lay.floors - 1, 0] and kept.windows[0].all()
    with pytest.raises(ValueError, match="floors must be an int from 2"):
        lay.with_floors(40)
    with pytest.raises(ValueError, match="column must be 0"):
        lay.with_window(0, 99, False)


# ----------------------------------------------------------------------------- the painter
def test_painter_controls_change_the_label_map_and_the_model_output(facades):
    lay = _layout_with(facades, lambda l: not l.balconies.any())
    painter = FacadePainter({"negated": lambda x: -x}, lay, 64, style="white plaster, overcast")
    start = painter.arrays()
    assert set(start) == {"label map (input)", "negated", "true photo (white plaster)"}
    expected = to_uint8(label_image(render_labels(lay, 64))).repeat(3, 0).repeat(3, 1)
    assert np.array_equal(start["label map (input)"], expected)  # shown 3x enlarged

    painter.window_buttons[0][0].value = False
    after = painter.arrays()
    assert not painter.layout.windows[0, 0]
    for title in start:
        assert not np.array_equal(after[title], start[title]), title

    painter.floors.value = lay.floors - 1 if lay.floors > 2 else 3
    assert len(painter.window_buttons) == painter.layout.floors == painter.floors.value
    assert len(painter.balcony_buttons) == painter.layout.floors - 1
    painter.balcony_buttons[0].value = True
    assert (render_labels(painter.layout, 64) == BALCONY).any()
    painter.door.value = None
    assert painter.layout.door_col is None
    painter.columns.value = 7
    assert len(painter.window_buttons[0]) == 7 and len(painter.door.options) == 8

    painter.reset_button.click()
    assert painter.layout is lay and painter.floors.value == lay.floors
    assert np.array_equal(painter.arrays()["label map (input)"], expected)


def test_painter_coalesces_a_dragged_slider(facades):
    clock, renders = FakeClock(), []

    def model(x):
        renders.append(x)
        return x

    lay = facades.layout(2)
    painter = FacadePainter(model, lay, 64, call_later=clock.call_later)
    renders.clear()
    target = 2 if lay.floors > 2 else 4
    values = [lay.floors + (1 if lay.floors < 4 else -1), target] * 5  # 10 changes
    for value in values:
        painter.floors.value = value
    clock.advance(1.0)
    assert 1 <= len(renders) <= 2 and painter.layout.floors == target
    assert torch.equal(renders[-1][0], label_image(render_labels(lay.with_floors(target), 64)))


def test_painter_shows_model_errors_in_its_status_line(facades):
    def broken(x):
        raise RuntimeError("weights not loaded")

    with pytest.raises(RuntimeError):  # the first image is drawn at once: fail loudly
        FacadePainter(broken, facades.layout(0), 64)
    calls = []

    def flaky(x):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("weights not loaded")
        return x

    painter = FacadePainter(flaky, facades.layout(0), 64)
    painter.window_buttons[0][0].value = False
    assert "weights not loaded" in painter.status.value


# ------------------------------------------------------------------ LatentExplorer, several images
def test_latent_explorer_shows_several_captioned_images_from_the_same_values():
    explorer = LatentExplorer(
        lambda a: {"plain": _grey(a, 0), "negated": (-_grey(a, 0), f"<b>a = {a:.1f}</b>")},
        ["a"], scale=1)
    explorer.set(a=1.5)
    shown = explorer.arrays()
    assert list(shown) == ["plain", "negated"]
    assert np.array_equal(shown["plain"], to_uint8(_grey(1.5, 0)))
    assert np.array_equal(shown["negated"], to_uint8(-_grey(1.5, 0)))
    assert explorer.captions["negated"].value == "<b>a = 1.5</b>"
    assert explorer.captions["plain"].value == ""


def test_latent_explorer_set_redraws_once_and_widens_a_slider_for_a_value_beyond_it():
    calls = []

    def fn(a, b):
        calls.append((a, b))
        return _grey(a, b)

    explorer = LatentExplorer(fn, ["a", "b"])
    calls.clear()
    explorer.set(a=1.25, b=-4.3)  # one redraw for two sliders, not one per slider
    assert calls == [(1.25, -4.3)]
    assert explorer.sliders["b"].min == -5 and explorer.sliders["b"].value == -4.3
    explorer.randomise()
    assert len(calls) == 2


def test_latent_explorer_ignores_the_browsers_rounded_echo_of_a_value():
    calls = []

    def fn(a):
        calls.append(a)
        return _grey(a, 0)

    explorer = LatentExplorer(fn, ["a"], step=0.05)
    explorer.set(a=0.123456)
    calls.clear()
    explorer.sliders["a"].value = 0.10  # the slider snapped 0.123456 to its step, sent it back
    assert explorer.values == {"a": 0.123456} and calls == []
    explorer.sliders["a"].value = 0.15  # a step further: a move by hand
    assert explorer.values == {"a": 0.15} and calls == [0.15]


def test_slider_echoes_come_once_and_expire():
    now = [0.0]
    echoes = SliderEchoes(0.1, window_s=2.0, clock=lambda: now[0])
    echoes.pushed("z", 1.234)
    echoes.pushed("z", 2.0)  # on the step grid: shown as it is, never echoed
    assert echoes.is_echo("z", 1.2, current=2.0)  # a late echo of the first value
    assert not echoes.is_echo("z", 1.2, current=2.0)  # ... comes once: now a move by hand
    assert not echoes.is_echo("z", 1.5, current=2.0)
    echoes.pushed("z", 0.77)
    now[0] = 3.0
    assert not echoes.is_echo("z", 0.8, current=2.0)  # long after: a move by hand
    assert echoes.is_echo("z", 2.04, current=2.0)  # the current value, rounded
    assert not echoes.is_echo("z", 2.1, current=2.0)  # a step away


# ----------------------------------------------------------------------------- StyleExplorer
def _tiny_bicyclegan(seed: int, steps: int = 20):
    """A 32-px BicycleGAN trained a few steps at a high rate: enough for z to change the
    photo by several grey levels (freshly initialised, it changes by less than one)."""
    from coursekit.models import bicyclegan

    torch.manual_seed(seed)
    method = bicyclegan.build(bicyclegan.Config.fast(
        image_size=32, num_downs=5, ngf=4, nef=4, e_blocks=2, ndf=4, d_layers=1, lr=2e-3))
    train = SyntheticFacades("train", size=32, length=8, seed=seed)
    for step in range(steps):
        items = [train[(4 * step + j) % len(train)] for j in range(4)]
        method.training_step({k: torch.stack([it[k] for it in items]) for k in ("A", "B")})
    return method


@pytest.fixture(scope="module")
def bicycles():
    with torch.random.fork_rng():
        return {"first": _tiny_bicyclegan(0), "second": _tiny_bicyclegan(1)}


@pytest.fixture(scope="module")
def facades32():
    return SyntheticFacades("test", size=32)


def _shown(explorer, title):
    """The image under ``title`` at the models' size (the widget shows it enlarged)."""
    scale = explorer.latent.views[title].scale
    return explorer.arrays()[title][::scale, ::scale]


def _expected(model, x, z):
    return to_uint8(model.generate(x[None], z[None])[0])


def test_style_explorer_sliders_change_every_models_photo(bicycles, facades32):
    explorer = StyleExplorer(bicycles, facades32, index=4)
    x = facades32[4]["A"]
    assert np.array_equal(_shown(explorer, "label map"), to_uint8(x))
    before = {t: _shown(explorer, t) for t in bicycles}
    assert len(explorer.sliders) == 8 and explorer.sliders[0].min == -3
    explorer.sliders[0].value = explorer.sliders[0].value + 2.0
    explorer.sliders[5].value = -2.5
    z = explorer.z
    assert z[5] == -2.5
    for title, model in bicycles.items():
        after = _shown(explorer, title)
        assert not np.array_equal(after, before[title]), title
        assert np.array_equal(after, _expected(model, x, z)), title
        assert torch.equal(explorer.codes[title], z), "both models draw from the sliders' code"


def test_style_explorer_interpolation_ends_are_the_random_codes_exactly(bicycles, facades32):
    from coursekit.nn import interpolate

    model = bicycles["first"]
    explorer = StyleExplorer({"m": model}, facades32, index=1, seed=7)
    x = facades32[1]["A"]
    start_a = explorer.z_a.clone()
    explorer.random_a_button.click()
    assert not torch.equal(explorer.z_a, start_a), "a new code A"
    assert explorer.t.value == 0 and torch.equal(explorer.z, explorer.z_a)
    assert np.array_equal(_shown(explorer, "m"), _expected(model, x, explorer.z_a))
    explorer.random_b_button.click()
    assert explorer.t.value == 1 and torch.equal(explorer.z, explorer.z_b)
    assert np.array_equal(_shown(explorer, "m"), _expected(model, x, explorer.z_b))
    explorer.t.value = 0.0
    assert torch.equal(explorer.z, explorer.z_a)
    assert np.array_equal(_shown(explorer, "m"), _expected(model, x, explorer.z_a))

    explorer.t.value = 0.5
    assert explorer.mode.value == "spherical"
    spherical = _shown(explorer, "m")
    assert torch.equal(explorer.z, interpolate(explorer.z_a, explorer.z_b, 0.5, "spherical"))
    explorer.mode.value = "linear"
    linear = _shown(explorer, "m")
    assert torch.equal(explorer.z, interpolate(explorer.z_a, explorer.z_b, 0.5, "linear"))
    assert not np.array_equal(linear, spherical)
    # The same seed draws the same codes.
    again = StyleExplorer({"m": model}, facades32, index=1, seed=7)
    again.random_a_button.click()
    assert torch.equal(again.z_a, explorer.z_a)


def test_style_explorer_encode_copies_each_models_own_code_of_the_true_render(bicycles,
                                                                            facades32):
    explorer = StyleExplorer(bicycles, facades32, index=3)
    x = facades32[3]["A"]
    for k in (0, 2):
        render = facades32.render(3, k)["B"][None]
        explorer.encode_buttons[k].click()
        mus = {t: m.encode(render)[0] for t, m in bicycles.items()}
        assert not torch.equal(mus["first"], mus["second"])
        assert torch.equal(explorer.z, mus["first"]), "the sliders show the first model's code"
        for title, model in bicycles.items():
            assert torch.equal(explorer.codes[title], mus[title]), title
            assert np.array_equal(_shown(explorer, title), _expected(model, x, mus[title]))
    assert "own encoder" in explorer.latent.captions["second"].value
    # The browser sends each slider's value back rounded to the step: nothing changes.
    calls = explorer.throttle.calls
    for slider in explorer.sliders:
        slider.value = round(slider.value, 2)
    assert explorer.throttle.calls == calls and torch.equal(explorer.codes["second"], mus["second"])
    # A move by hand gives every model the sliders' code again.
    explorer.sliders[2].value = explorer.sliders[2].value + 0.5
    assert torch.equal(explorer.codes["second"], explorer.z)
    assert "own encoder" not in explorer.latent.captions["second"].value
    with pytest.raises(ValueError, match="style must be an index 0..3"):
        explorer.encode_style(9)


def test_style_explorer_verdict_and_score_are_those_of_the_shown_photo(bicycles, facades32):
    from coursekit.data.synthetic.facades import (FACADE_STYLES, classify_facade_style,
                                                  score_facades)

    explorer = StyleExplorer(bicycles, facades32, index=6)
    for k in range(2):  # two different codes
        explorer.encode_buttons[k].click()
        for title in bicycles:
            photo = torch.tensor(_shown(explorer, title)).permute(2, 0, 1).float() / 127.5 - 1
            style = int(classify_facade_style(photo[None])[0])
            accuracy = score_facades(photo[None], facades32[6]["labels"][None])["pixel_accuracy"]
            verdict = explorer.verdicts[title]
            assert verdict["style"] == FACADE_STYLES[style]
            assert verdict["pixel_accuracy"] == accuracy
            caption = explorer.latent.captions[title].value
            assert FACADE_STYLES[style].split(",")[0] in caption
            assert f"pixel accuracy {accuracy:.2f}" in caption


def test_style_explorer_item_selector_keeps_the_code(bicycles, facades32):
    model = bicycles["first"]
    explorer = StyleExplorer({"m": model}, facades32, index=0)
    explorer.encode_buttons[1].click()
    code = explorer.z.clone()
    explorer.previous_button.click()
    assert explorer.index == 0  # no item before the first
    explorer.next_button.click()
    assert explorer.index == explorer.item.value == 1
    assert np.array_equal(_shown(explorer, "label map"), to_uint8(facades32[1]["A"]))
    assert torch.equal(explorer.z, code)
    assert np.array_equal(_shown(explorer, "m"), _expected(model, facades32[1]["A"], code))
    explorer.item.value = 9
    assert np.array_equal(_shown(explorer, "label map"), to_uint8(facades32[9]["A"]))
    shown = explorer.true_views[2].array  # the true renders follow the item
    assert np.array_equal(shown[::shown.shape[0] // 32, ::shown.shape[0] // 32],
                          to_uint8(facades32.render(9, 2)["B"]))


def test_style_explorer_coalesces_a_dragged_slider(bicycles, facades32):
    clock = FakeClock()
    explorer = StyleExplorer({"m": bicycles["first"]}, facades32, call_later=clock.call_later)
    calls = explorer.throttle.calls
    for k in range(10):
        explorer.sliders[0].value = -2.0 + 0.3 * k
    clock.advance(1.0)
    assert explorer.throttle.calls - calls <= 2
    assert np.array_equal(_shown(explorer, "m"),
                          _expected(bicycles["first"], facades32[0]["A"], explorer.z))
    assert explorer.z[0] == pytest.approx(-2.0 + 0.3 * 9)


def test_style_explorer_rejects_bad_arguments_clearly(bicycles, facades32):
    with pytest.raises(ValueError, match="non-empty dict"):
        StyleExplorer({}, facades32)
    with pytest.raises(TypeError, match=r"models\['pix2pix'\] must be a BicycleGAN"):
        StyleExplorer({"pix2pix": lambda x: x}, facades32)
    with pytest.raises(IndexError, match=r"index 100 is out of range.*0\.\.99"):
        StyleExplorer(bicycles, facades32, index=100)
    with pytest.raises(ValueError, match="open it with size=32"):
        StyleExplorer(bicycles, SyntheticFacades("test", size=64))
    with pytest.raises(TypeError, match="synthetic facades"):
        StyleExplorer(bicycles, [facades32[0]])
    explorer = StyleExplorer(bicycles["first"], facades32)  # one model on its own
    assert list(explorer.arrays()) == ["label map", "model"]
    with pytest.raises(ValueError, match="z must be 8 finite numbers"):
        explorer.set_code([0.0, 1.0])
    with pytest.raises(IndexError, match="out of range"):
        explorer.show_item(-1)


# ----------------------------------------------------------------------------- LandscapePainter
def _tiny_spade(seed: int, **overrides):
    from coursekit.models import spade

    torch.manual_seed(seed)
    return spade.build(spade.Config.fast(image_size=32, num_up=3, ngf=2, spade_hidden=8, ndf=4,
                                         d_layers=1, **overrides))


class _ResnetIN:
    """A ResNet generator with InstanceNorm reading the label colours at its input (the
    pix2pixHD-style model SPADE's thesis compares with)."""

    def __init__(self, seed: int):
        from coursekit.nn import ResnetGenerator

        torch.manual_seed(seed)
        self.G = ResnetGenerator(3, 3, ngf=4, n_blocks=1, norm="instance").eval()

    @torch.no_grad()
    def translate(self, x):
        return self.G(x)


@pytest.fixture(scope="module")
def landscape_models():
    from coursekit.models import pix2pix

    with torch.random.fork_rng():
        models = {"SPADE": _tiny_spade(0),
                  "SPADE VAE": _tiny_spade(1, use_vae=True, nz=8, nef=4, e_blocks=2)}
        torch.manual_seed(2)  # pix2pix in the paper's test mode: dropout on at test time
        models["pix2pix"] = pix2pix.build(pix2pix.Config.fast(image_size=32, num_downs=5, ngf=4,
                                                              ndf=4))
        models["ResNet + IN"] = _ResnetIN(3)
    return models


@pytest.fixture(scope="module")
def landscapes32():
    from coursekit.data.synthetic.landscapes import SyntheticLandscapes

    return SyntheticLandscapes("test", size=32)


def _small(painter, title):
    """The image under ``title`` at the map's size (the widget shows it enlarged)."""
    scale = painter.views[title].scale
    return painter.arrays()[title][::scale, ::scale]


def _palette(labels):
    from coursekit.data.synthetic.landscapes import LANDSCAPE_PALETTE

    return LANDSCAPE_PALETTE[labels]


def _hex(k):
    from coursekit.data.synthetic.landscapes import LANDSCAPE_PALETTE

    return "#" + "".join(f"{int(v):02x}" for v in LANDSCAPE_PALETTE[k])


def _as_photo(image):
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 127.5 - 1


def test_landscape_painter_brushes_paint_exactly_the_cells_intended(landscape_models):
    from coursekit.data.synthetic.landscapes import (CLOUD, GRASS, MOUNTAIN, SAND, SKY, SNOW,
                                                     TREE, WATER)
    from coursekit.widgets import LandscapePainter

    painter = LandscapePainter({"SPADE": landscape_models["SPADE"]})  # size from the config
    assert painter.size == 32 and painter.grid == 16 and painter.cell == 2
    expected = np.full((32, 32), SKY)
    expected[18:] = GRASS  # the blank scene: sky over grass, horizon at 0.55 of the height
    assert np.array_equal(painter.labels, expected) and painter.horizon.value == 18
    history = [expected.copy()]

    def check():
        assert painter.labels.dtype == np.int64
        assert np.array_equal(painter.labels, expected)
        assert np.array_equal(_small(painter, painter.LABELS), _palette(expected))
        history.append(expected.copy())

    # (row, column), row 0 at the top: the map's own labels[y, x] order; 2 px per cell.
    painter.class_buttons[WATER].click()
    assert painter.current_class == WATER and painter.class_buttons[WATER].description == "✔ water"
    painter.brush_size.value = 2  # a square of 3 x 3 cells around the cell
    painter.cell_buttons[3][4].click()
    expected[4:10, 6:12] = WATER
    check()
    assert painter.cell_buttons[3][4].style.button_color == _hex(WATER)
    assert painter.cell_buttons[0][0].style.button_color == _hex(SKY)

    painter.class_buttons[CLOUD].click()
    painter.cell_buttons[0][15].click()  # clipped at the corner
    expected[0:4, 28:32] = CLOUD
    check()

    painter.class_buttons[TREE].click()
    painter.brush.value = "disc"
    painter.brush_size.value = 3  # pixel centres within 2.5 cells = 5 px of the cell's centre
    painter.cell_buttons[10][8].click()
    for y in range(32):
        for x in range(32):
            if (y + 0.5 - 21) ** 2 + (x + 0.5 - 17) ** 2 <= 25:
                expected[y, x] = TREE
    check()

    painter.class_buttons[SAND].click()
    painter.brush.value = "rectangle"
    painter.cell_buttons[12][9].click()  # the first corner: nothing painted yet
    assert np.array_equal(painter.labels, expected)
    assert painter.cell_buttons[12][9].description == "◆" and "opposite corner" in painter.hint.value
    painter.cell_buttons[14][2].click()
    expected[24:30, 4:20] = SAND
    assert painter.cell_buttons[12][9].description == ""
    check()

    painter.class_buttons[MOUNTAIN].click()
    painter.brush.value = "row"
    painter.paint(6, 0)  # the same as a click
    expected[12:14, :] = MOUNTAIN
    check()

    # Fill: the sky connected to cell (0, 0), above the mountain row; the sky below stays.
    painter.class_buttons[SNOW].click()
    painter.brush.value = "fill"
    painter.cell_buttons[0][0].click()
    top = expected[:12]
    top[top == SKY] = SNOW
    assert (expected[14:18] == SKY).any()
    check()

    # Undo walks back one edit at a time (the rectangle's first click was no edit); reset is
    # one more edit.
    for previous in history[-2::-1][:3]:
        painter.undo_button.click()
        assert np.array_equal(painter.labels, previous)
    painter.reset_button.click()
    assert np.array_equal(painter.labels, history[0]) and painter.horizon.value == 18
    painter.undo()
    assert np.array_equal(painter.labels, history[-4])
    with pytest.raises(ValueError, match=r"cell index 0\.\.15"):
        painter.paint(16, 0)


def test_landscape_painter_uniform_buttons_give_one_class_everywhere(landscape_models):
    from coursekit.data.synthetic.landscapes import GRASS, LANDSCAPE_CLASSES, SAND, WATER
    from coursekit.widgets import LandscapePainter

    model = landscape_models["SPADE"]
    painter = LandscapePainter({"SPADE": model}, start=7)
    photos = []
    for k in range(len(LANDSCAPE_CLASSES)):
        painter.uniform_buttons[k].click()
        assert np.array_equal(painter.labels, np.full((32, 32), k)), LANDSCAPE_CLASSES[k]
        assert np.array_equal(_small(painter, painter.LABELS), _palette(np.full((32, 32), k)))
        photo = _small(painter, "SPADE")
        assert np.array_equal(photo, to_uint8(model.translate(torch.full((1, 32, 32), k))[0]))
        # The horizon follows: the top for a ground class, below the map otherwise.
        assert painter.horizon.value == (0 if k in (WATER, GRASS, SAND) else 32)
        photos.append(photo)
    # SPADE draws every uniform map differently (its normalisation reads the map).
    assert len({p.tobytes() for p in photos}) == len(LANDSCAPE_CLASSES)
    painter.undo()
    assert np.array_equal(painter.labels, np.full((32, 32), len(LANDSCAPE_CLASSES) - 2))
    with pytest.raises(ValueError, match=r"index 0\.\.7"):
        painter.uniform(8)


def test_landscape_painter_shows_each_models_translation_of_the_shown_map(landscape_models,
                                                                         landscapes32):
    from coursekit.data.synthetic.landscapes import LANDSCAPE_PALETTE, TREE
    from coursekit.data.synthetic.render import palette_image, to_tensor
    from coursekit.widgets import LandscapePainter

    def noisy(x):  # as pix2pix's test-time dropout at 64 px and more: random at every call
        return torch.tanh(x + torch.randn_like(x))

    models = {**landscape_models, "noisy": noisy}
    painter = LandscapePainter(models, start=5, seed=3)
    assert np.array_equal(painter.labels, landscapes32.layout(5))
    assert torch.equal(painter.label_colours()[0], landscapes32[5]["A"])
    painter.class_buttons[TREE].click()
    painter.paint(14, 3)
    painter.add_lake()
    state = torch.get_rng_state()
    shown = {title: _small(painter, title) for title in models}
    assert torch.equal(torch.get_rng_state(), state), "the painter leaves the global RNG alone"
    x = to_tensor(palette_image(painter.labels, LANDSCAPE_PALETTE))[None]
    assert torch.equal(painter.label_colours(), x)
    assert np.array_equal(_small(painter, painter.LABELS), _palette(painter.labels))
    for title, model in models.items():
        if title == "SPADE VAE":  # from the painter's code, not a fresh random one
            expected = model.synthesize(model.one_hot(x), z=painter.codes[title][None])
        else:
            torch.manual_seed(3)  # the painter runs every model under its seed
            expected = (model if title == "noisy" else model.translate)(x)
        assert np.array_equal(shown[title], to_uint8(expected[0])), title
    # A random model: unseeded, two calls differ; the painter's redraws of one map do not.
    assert not torch.equal(noisy(x), noisy(x))
    painter.throttle()
    assert np.array_equal(_small(painter, "noisy"), shown["noisy"])


def test_landscape_painter_scores_are_those_of_the_shown_photos(landscape_models, landscapes32):
    from coursekit.data.synthetic.landscapes import (LANDSCAPE_CLASSES, score_landscapes,
                                                     segment_landscapes)
    from coursekit.widgets import LandscapePainter

    true_photo = landscapes32.render(5, 0)["B"]  # a "model" that knows the answer
    models = {"SPADE": landscape_models["SPADE"], "ResNet + IN": landscape_models["ResNet + IN"],
              "true photo": lambda x: true_photo[None]}
    painter = LandscapePainter(models, start=5)
    for step in range(2):
        labels = torch.from_numpy(painter.labels)
        for title in models:
            photo = _as_photo(_small(painter, title))[None]
            expected = score_landscapes(photo, labels[None])
            score = painter.scores[title]
            for key in ("pixel_accuracy", "class_accuracy", "class_iou"):
                assert score[key] == expected[key], (title, key)
            pred = segment_landscapes(photo)[0]
            recall = {LANDSCAPE_CLASSES[k]: float((pred[labels == k] == k).double().mean())
                      for k in labels.unique().tolist()}
            assert score["recall"] == pytest.approx(recall, abs=1e-12)
            assert score["recovered"] == [c for c in LANDSCAPE_CLASSES if recall.get(c, 0) >= 0.5]
            caption = painter.captions[title].value
            assert f"pixel accuracy <b>{expected['pixel_accuracy']:.2f}</b>" in caption
            assert ("recovers: " + (", ".join(score["recovered"]) or "none")) in caption
        if step == 0:
            truth = painter.scores["true photo"]
            assert truth["pixel_accuracy"] > 0.8 and {"sky", "grass"} <= set(truth["recovered"])
            assert truth["style"] == "day-summer"
            painter.uniform(0)  # the true photo is now of another map: it scores worse
    assert painter.scores["true photo"]["pixel_accuracy"] < truth["pixel_accuracy"]
    assert painter.scores["true photo"]["recall"].keys() == {"sky"}


def test_landscape_painter_style_buttons_give_the_encoders_style(landscape_models,
                                                                 landscapes32):
    from coursekit.data.synthetic.landscapes import LANDSCAPE_STYLES
    from coursekit.widgets import LandscapePainter

    vae, plain = landscape_models["SPADE VAE"], landscape_models["SPADE"]
    painter = LandscapePainter({"VAE": vae, "plain": plain}, start=2, seed=1)
    assert painter.vae_titles == ["VAE"] and painter.style_item == 2
    assert len(painter.style_buttons) == len(LANDSCAPE_STYLES)
    x = painter.label_colours()
    plain_before, initial = _small(painter, "plain"), painter.codes["VAE"].clone()
    assert np.array_equal(_small(painter, "VAE"),
                          to_uint8(vae.synthesize(vae.one_hot(x), z=initial[None])[0]))
    codes = []
    for k in (0, 4):
        render = landscapes32.render(2, k)["B"][None]
        thumb = painter.style_views[k].array
        assert np.array_equal(thumb[::2, ::2], to_uint8(render[0])), "the true render beside it"
        painter.style_buttons[k].click()
        with torch.no_grad():
            assert torch.equal(painter.codes["VAE"], vae.E(render)[0][0])
        expected = vae.synthesize(vae.one_hot(x), style=render)[0]
        assert np.array_equal(_small(painter, "VAE"), to_uint8(expected))
        assert np.array_equal(_small(painter, "plain"), plain_before), "no style: unchanged"
        assert LANDSCAPE_STYLES[k] in painter.style_note.value
        codes.append(painter.codes["VAE"].clone())
    assert not torch.equal(codes[0], codes[1])
    painter.random_style_button.click()
    code = painter.codes["VAE"]
    assert not torch.equal(code, codes[1]) and code.shape == (8,)
    assert np.array_equal(_small(painter, "VAE"),
                          to_uint8(vae.synthesize(vae.one_hot(x), z=code[None])[0]))
    # The same seed draws the same codes; painting keeps the code.
    again = LandscapePainter({"VAE": vae}, start=2, seed=1)
    assert torch.equal(again.codes["VAE"], initial)
    again.random_style()
    assert torch.equal(again.codes["VAE"], code)
    again.paint(3, 3)
    assert torch.equal(again.codes["VAE"], code)
    with pytest.raises(ValueError, match=r"style must be an index 0\.\.8"):
        painter.encode_style("noon-spring")
    # Without a VAE model there is no style picker.
    no_vae = LandscapePainter({"plain": plain})
    assert no_vae.style_buttons == [] and no_vae.random_style_button is None
    with pytest.raises(ValueError, match="VAE mode"):
        no_vae.encode_style(0)


def test_landscape_painter_horizon_lake_and_trees(landscape_models):
    from coursekit.data.synthetic.landscapes import (CLOUD, GRASS, MOUNTAIN, SAND, SKY, SNOW,
                                                     TREE, WATER)
    from coursekit.widgets import LandscapePainter

    ground, kept = (WATER, GRASS, SAND), (MOUNTAIN, SNOW, TREE)
    painter = LandscapePainter(landscape_models["SPADE"], start=5)  # a lake at the horizon
    start, h0 = painter.labels, painter.horizon.value
    assert np.isin(start[h0], ground).any() and not np.isin(start[:h0], ground).any()
    assert (start[h0:h0 + 4] == WATER).sum() > 50
    for h in range(h0 - 1, h0 - 6, -1):  # dragged up five rows
        painter.horizon.value = h
    new, h = painter.labels, h0 - 5
    assert not np.isin(new[:h], ground).any() and not np.isin(new[h:], (SKY, CLOUD)).any()
    changed = new != start
    assert changed.any() and np.isin(start[changed], (SKY, CLOUD)).all()
    assert (new[changed] == GRASS).all()
    assert np.array_equal(new[np.isin(start, kept)], start[np.isin(start, kept)])
    painter.horizon.value = h0 + 4  # still the same drag: applied to the map before it
    new = painter.labels
    assert not np.isin(new[:h0 + 4], ground).any()
    assert np.array_equal(new[h0 + 4:], start[h0 + 4:])
    changed = new != start
    assert np.isin(start[changed], ground).all() and (new[changed] == SKY).all()
    painter.horizon.value = h0  # back where it was: the lake comes back
    assert np.array_equal(painter.labels, start)
    painter.horizon.value = h0 + 2
    painter.undo_button.click()  # the whole drag is one edit
    assert np.array_equal(painter.labels, start) and painter.horizon.value == h0

    blank = LandscapePainter(landscape_models["SPADE"], seed=5)
    before, h = blank.labels, blank.horizon.value
    blank.lake_button.click()
    lake = blank.labels
    water, changed = lake == WATER, lake != before
    assert water.any() and water[h].any(), "a lake hanging from the horizon"
    assert not water[:h].any() and (before[changed] == GRASS).all()
    assert np.isin(lake[changed], (WATER, SAND)).all()
    blank.trees_button.click()
    trees = blank.labels
    changed = trees != lake
    assert changed.any() and (trees[changed] == TREE).all()
    assert np.nonzero(changed.any(1))[0].max() >= h, "the trees stand on the ground"
    again = LandscapePainter(landscape_models["SPADE"], seed=5)
    again.add_lake()
    again.add_trees()
    assert np.array_equal(again.labels, trees), "seeded"
    blank.horizon.value = 32  # no ground left: nothing to put a lake or trees on
    no_ground = blank.labels
    blank.add_lake()
    blank.add_trees()
    assert np.array_equal(blank.labels, no_ground) and "no ground" in blank.hint.value


def test_landscape_painter_coalesces_a_dragged_horizon(landscape_models):
    from coursekit.widgets import LandscapePainter

    clock, maps = FakeClock(), []
    spade = landscape_models["SPADE"]

    def model(x):
        maps.append(x)
        return spade.translate(x)

    painter = LandscapePainter({"m": model}, size=32, call_later=clock.call_later)
    maps.clear()
    for h in range(17, 5, -1):  # 12 steps within the interval
        painter.horizon.value = h
    clock.advance(1.0)
    assert 1 <= len(maps) <= 2 and painter.horizon.value == 6
    assert torch.equal(maps[-1], painter.label_colours())
    assert np.array_equal(_small(painter, "m"), to_uint8(spade.translate(maps[-1])[0]))


def test_landscape_painter_rejects_bad_arguments_clearly(landscape_models):
    from coursekit.models import pix2pix
    from coursekit.widgets import LandscapePainter

    spade = landscape_models["SPADE"]
    with pytest.raises(ValueError, match="non-empty dict"):
        LandscapePainter({}, size=32)
    with pytest.raises(TypeError, match=r"models\['x'\] must have translate"):
        LandscapePainter({"x": 3}, size=32)
    torch.manual_seed(0)
    one_hot_input = pix2pix.build(pix2pix.Config.fast(image_size=32, num_downs=5, ngf=4, ndf=4,
                                                      in_channels=8))
    with pytest.raises(ValueError, match=r"models\['one-hot pix2pix'\] failed on a label map, "
                                         r"label colours \(1, 3, 32, 32\)"):
        LandscapePainter({"one-hot pix2pix": one_hot_input})
    with pytest.raises(ValueError, match=r"must make one photo \(1, 3, 32, 32\).*got \(1, 3, 32, 16\)"):
        LandscapePainter({"half": lambda x: x[..., :16]}, size=32)
    with pytest.raises(ValueError, match=r"makes 32-px photos.*paint at size=32"):
        LandscapePainter(spade, size=64)
    with pytest.raises(ValueError, match=r"makes 32-px photos"):
        LandscapePainter(spade, start=np.zeros((64, 64), np.int64))
    with pytest.raises(ValueError, match=r"shape \(32, 32\).*got shape \(32, 16\)"):
        LandscapePainter(spade, start=np.zeros((32, 16), np.int64))
    with pytest.raises(ValueError, match=r"class indices 0\.\.7"):
        LandscapePainter(spade, start=np.full((32, 32), 9))
    with pytest.raises(ValueError, match="whole divisor"):
        LandscapePainter(spade, grid=5)
    with pytest.raises(ValueError, match="give size="):
        LandscapePainter(lambda x: x)
    with pytest.raises(IndexError, match=r"start 500 is out of range"):
        LandscapePainter(spade, start=500)
    with pytest.raises(ValueError, match="direction 'BtoA'"):
        LandscapePainter(pix2pix.build(pix2pix.Config.fast(image_size=32, num_downs=5, ngf=4,
                                                           ndf=4, direction="BtoA")))
    with pytest.raises(ValueError, match="label map's title"):
        LandscapePainter({"painted label map": spade})
    # After the first images, a model's failure goes to the status line.
    calls = []

    def flaky(x):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("weights not loaded")
        return x

    painter = LandscapePainter(flaky, size=32)
    painter.uniform(3)
    assert "weights not loaded" in painter.status.value
    painter.set_labels(np.zeros((32, 32), np.int64))  # the map changes all the same
    assert (painter.labels == 0).all()
