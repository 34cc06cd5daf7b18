"""coursekit.widgets.SeasonExplorer without a browser: set a control's value in Python, read
the displayed image back, and check it against MUNIT's own translate / translate_like and the
seasons data's own scorers. (The browser test is in test_browser.py; the other widgets' tests
in test_widgets.py, whose fake clock this file borrows.)"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from coursekit.data.synthetic.landscapes import SEASONS, TIMES_OF_DAY
from coursekit.data.synthetic.seasons import (FAITHFUL_PIXEL_ACCURACY, SyntheticSeasons,
                                              score_seasons, season_and_time)
from coursekit.widgets import SeasonExplorer, from_uint8, to_uint8
from test_widgets import FakeClock


def _tiny_munit(seed: int, steps: int = 10):
    """A 32-px MUNIT trained a few steps at a high rate: its style code changes the photo by
    about ten grey levels on average."""
    from coursekit.models import munit

    torch.manual_seed(seed)
    method = munit.build(munit.Config.fast(dim=4, n_res=1, mlp_dim=16, ndf=4, d_layers=2,
                                           d_scales=1, lr=2e-3))
    train = SyntheticSeasons("train", size=32, length=8, seed=seed)
    for step in range(steps):
        items = [train[(4 * step + j) % len(train)] for j in range(4)]
        method.training_step({k: torch.stack([it[k] for it in items]) for k in ("A", "B")})
    return method.eval()


@pytest.fixture(scope="module")
def model():
    with torch.random.fork_rng():
        return _tiny_munit(0)


@pytest.fixture(scope="module")
def seasons32():
    return SyntheticSeasons("test", size=32)


def _shown(explorer, title):
    """The image under ``title`` at the model's size (the widget shows it enlarged)."""
    scale = explorer.latent.views[title].scale
    return explorer.arrays()[title][::scale, ::scale]


def _translated(model, x, direction, s):
    return to_uint8(model.translate(x[None], direction, s[None])[0])


def test_season_explorer_sliders_decode_the_inputs_content_with_their_code(model, seasons32):
    explorer = SeasonExplorer(model, seasons32, index=4)
    x = seasons32[4]["A"]
    assert np.array_equal(_shown(explorer, "input"), to_uint8(x))
    assert len(explorer.sliders) == 8 and explorer.sliders[0].min <= -3
    before = _shown(explorer, "output")
    assert np.array_equal(before, _translated(model, x, "AtoB", explorer.style))
    explorer.sliders[0].value = explorer.sliders[0].value + 2.0
    explorer.sliders[5].value = -2.5
    assert explorer.style[5] == -2.5 and explorer.source == "moved by hand"
    after = _shown(explorer, "output")
    assert not np.array_equal(after, before)
    assert np.array_equal(after, _translated(model, x, "AtoB", explorer.style))
    explorer.zero_button.click()
    assert torch.equal(explorer.style, torch.zeros(8))
    assert np.array_equal(_shown(explorer, "output"), _translated(model, x, "AtoB", torch.zeros(8)))


def test_season_explorer_references_cover_every_time_of_day(model, seasons32):
    explorer = SeasonExplorer(model, seasons32, references=2)
    assert len(explorer.references) == len(explorer.reference_buttons) == 6
    assert [seasons32.time_of("B", i) for i in explorer.references] == [0, 0, 1, 1, 2, 2]
    assert [b.description for b in explorer.reference_buttons] == [
        "day 1", "day 2", "sunset 1", "sunset 2", "night 1", "night 2"]
    for view, i in zip(explorer.reference_views, explorer.references):
        shown = view.array[::view.scale, ::view.scale]
        assert np.array_equal(shown, to_uint8(seasons32.render("B", i)["B"]))  # winter photos
    chosen = SeasonExplorer(model, seasons32, references=[5, 8])
    assert chosen.references == [5, 8]
    assert chosen.reference_times == [TIMES_OF_DAY[seasons32.time_of("B", i)] for i in (5, 8)]


def test_season_explorer_reference_copies_the_target_style_encoders_code(model, seasons32):
    explorer = SeasonExplorer(model, seasons32, index=3)
    x = seasons32[3]["A"]
    for k in (0, 4):
        reference = seasons32.render("B", explorer.references[k])["B"][None]
        explorer.reference_buttons[k].click()
        code = model.encode(reference, "B")[1][0]
        assert torch.equal(explorer.style, code), "exactly the winter style encoder's code"
        assert np.array_equal(_shown(explorer, "output"),
                              to_uint8(model.translate_like(x[None], reference, "AtoB")[0]))
        name = explorer.reference_buttons[k].description
        assert explorer.source.startswith(f"style of reference {name}")
    # The browser sends each slider's value back rounded to the step: nothing changes.
    calls = explorer.throttle.calls
    for slider in explorer.sliders:
        slider.value = round(slider.value, 2)
    assert explorer.throttle.calls == calls and torch.equal(explorer.style, code)
    with pytest.raises(ValueError, match="reference must be an index 0..5"):
        explorer.use_reference(6)


def test_season_explorer_interpolates_linearly_between_two_references(model, seasons32):
    explorer = SeasonExplorer(model, seasons32, index=2)
    x = seasons32[2]["A"]
    codes = explorer.reference_codes
    explorer.end_a.value, explorer.end_b.value = 1, 4
    explorer.t.value = 0.0
    assert torch.equal(explorer.style, codes[1])
    explorer.t.value = 1.0
    assert torch.equal(explorer.style, codes[4])
    explorer.t.value = 0.25
    assert torch.allclose(explorer.style, 0.75 * codes[1] + 0.25 * codes[4], atol=1e-6)
    assert np.array_equal(_shown(explorer, "output"), _translated(model, x, "AtoB", explorer.style))
    assert explorer.source == "day 2 → night 1, t = 0.25"
    explorer.end_b.value = 2  # another end: the sliders follow at once
    assert torch.allclose(explorer.style, 0.75 * codes[1] + 0.25 * codes[2], atol=1e-6)


def test_season_explorer_direction_toggle_translates_winter_to_summer(model, seasons32):
    explorer = SeasonExplorer(model, seasons32, index=6)
    explorer.reference_buttons[2].click()
    explorer.direction.value = "BtoA"
    x = seasons32[6]["B"]  # the item's winter side is now the input
    assert np.array_equal(_shown(explorer, "input"), to_uint8(x))
    assert [seasons32.time_of("A", i) for i in explorer.references] == [0, 0, 1, 1, 2, 2]
    summer = seasons32.render("A", explorer.references[2])["B"][None]
    # The code copied from reference 2 is taken again, by the summer style encoder.
    assert torch.equal(explorer.style, model.encode(summer, "A")[1][0])
    assert np.array_equal(_shown(explorer, "output"),
                          to_uint8(model.translate_like(x[None], summer, "BtoA")[0]))
    assert explorer.verdicts["target_season"] == "summer"
    # A code set by hand stays as it is.
    explorer.sliders[1].value = 1.5
    code = explorer.style.clone()
    explorer.set_direction("AtoB")
    assert explorer.direction.value == "AtoB" and torch.equal(explorer.style, code)
    assert np.array_equal(_shown(explorer, "output"),
                          _translated(model, seasons32[6]["A"], "AtoB", code))


def test_season_explorer_verdicts_are_those_of_the_shown_output(model, seasons32):
    explorer = SeasonExplorer(model, seasons32, index=7)
    for direction, k in (("AtoB", 0), ("AtoB", 5), ("BtoA", 3)):
        explorer.set_direction(direction)
        explorer.use_reference(k)
        src, dst = direction[0], direction[-1]
        photo = from_uint8(_shown(explorer, "output"))[None]
        season, time = (int(v[0]) for v in season_and_time(photo))
        labels = seasons32[7][f"labels_{src}"][None]
        target = "winter" if dst == "B" else "summer"
        accuracy = score_seasons(photo, labels, target)["pixel_accuracy"]
        verdict = explorer.verdicts
        assert (verdict["season"], verdict["time"]) == (SEASONS[season], TIMES_OF_DAY[time])
        assert verdict["pixel_accuracy"] == accuracy
        assert verdict["faithful"] == (accuracy >= FAITHFUL_PIXEL_ACCURACY
                                       and SEASONS[season] == target)
        caption = explorer.latent.captions["output"].value
        assert f"pixel accuracy {accuracy:.2f}" in caption and TIMES_OF_DAY[time] in caption
        # The true render: the input's scene in the target season at the time the output shows.
        truth = seasons32.render(src, 7, time=time, season=target)["B"]
        assert np.array_equal(_shown(explorer, "true render"), to_uint8(truth))


def test_season_explorer_item_selector_keeps_the_code(model, seasons32):
    explorer = SeasonExplorer(model, seasons32, index=0)
    explorer.reference_buttons[3].click()
    code = explorer.style.clone()
    explorer.previous_button.click()
    assert explorer.index == 0  # no item before the first
    explorer.next_button.click()
    assert explorer.index == explorer.item.value == 1
    assert np.array_equal(_shown(explorer, "input"), to_uint8(seasons32[1]["A"]))
    assert torch.equal(explorer.style, code)
    assert np.array_equal(_shown(explorer, "output"),
                          _translated(model, seasons32[1]["A"], "AtoB", code))
    explorer.item.value = 9
    assert np.array_equal(_shown(explorer, "input"), to_uint8(seasons32[9]["A"]))


def test_season_explorer_random_styles_are_seeded(model, seasons32):
    first = SeasonExplorer(model, seasons32, seed=3)
    first.random_button.click()
    again = SeasonExplorer(model, seasons32, seed=3)
    again.random_button.click()
    assert torch.equal(first.style, again.style) and first.source == "random, from N(0, I)"
    first.random_button.click()
    assert not torch.equal(first.style, again.style)


def test_season_explorer_coalesces_a_dragged_slider(model, seasons32):
    clock = FakeClock()
    explorer = SeasonExplorer(model, seasons32, call_later=clock.call_later)
    calls = explorer.throttle.calls
    for k in range(10):
        explorer.sliders[0].value = -2.0 + 0.3 * k
    clock.advance(1.0)
    assert explorer.throttle.calls - calls <= 2
    assert np.array_equal(_shown(explorer, "output"),
                          _translated(model, seasons32[0]["A"], "AtoB", explorer.style))
    assert explorer.style[0] == pytest.approx(-2.0 + 0.3 * 9)


def test_season_explorer_rejects_bad_arguments_clearly(model, seasons32):
    with pytest.raises(TypeError, match="model must be a MUNIT"):
        SeasonExplorer(lambda x: x, seasons32)
    with pytest.raises(TypeError, match="synthetic seasons"):
        SeasonExplorer(model, [seasons32[0]])
    with pytest.raises(ValueError, match="open it with size=32"):
        SeasonExplorer(model, SyntheticSeasons("test", size=64))
    with pytest.raises(IndexError, match=r"index 200 is out of range.*0\.\.199"):
        SeasonExplorer(model, seasons32, index=200)
    with pytest.raises(ValueError, match="direction must be 'AtoB'"):
        SeasonExplorer(model, seasons32, direction="summer")
    with pytest.raises(ValueError, match="at least 1 per time of day"):
        SeasonExplorer(model, seasons32, references=0)
    explorer = SeasonExplorer(model, seasons32)
    assert list(explorer.arrays()) == ["input", "output", "true render"]
    with pytest.raises(ValueError, match="s must be 8 finite numbers"):
        explorer.set_style([0.0, 1.0])
    with pytest.raises(IndexError, match="out of range"):
        explorer.show_item(-1)
