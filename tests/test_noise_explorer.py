"""coursekit.widgets.NoiseLevelExplorer without a browser: controls set from Python, the images
shown read back and checked against SDEdit run directly."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from coursekit.data import get_dataset
from coursekit.data.synthetic.landscapes import stroke_faithfulness
from coursekit.models.ddpm import DDPM, Config
from coursekit.models.sdedit import sdedit
from coursekit.nn.diffusion import q_sample
from coursekit.widgets import NoiseLevelExplorer, from_uint8, to_uint8

T0S, REPEATS = (0.2, 0.6), (1, 2)


@pytest.fixture(scope="module")
def explorer():
    torch.manual_seed(0)
    model = DDPM(Config.fast(ch=8, ch_mult=(1, 2), attn_resolutions=(16,), groups=4))
    data = get_dataset("synthetic-strokes", split="test", size=32, length=3)
    return NoiseLevelExplorer(model, data, 1, t0s=T0S, repeats=REPEATS, samples=2, steps=2)


def test_the_views_show_the_guide_and_sdedit_of_it(explorer):
    item = explorer.dataset[1]
    shown = explorer.arrays()
    assert np.array_equal(shown["guide"], to_uint8(item["A"]).repeat(explorer.views["guide"].scale, 0)
                          .repeat(explorer.views["guide"].scale, 1))
    scale = explorer.views["output"].scale
    for t0 in T0S:
        for k in REPEATS:
            explorer.t0.value, explorer.k.value, explorer.sample.value = t0, k, 1
            expected = sdedit(explorer.model, item["A"][None].expand(2, -1, -1, -1), t0, k, 2,
                              generator=torch.Generator().manual_seed(0))[1].clamp(-1, 1)
            got = explorer.arrays()["output"][::scale, ::scale]
            assert np.array_equal(got, to_uint8(expected))
    start = explorer.model.schedule.index(0.6) - 1
    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))[1]
    noised = q_sample(explorer.model.schedule, item["A"][None], torch.tensor([start]), noise[None])
    assert np.array_equal(explorer.arrays()["noised"][::scale, ::scale], to_uint8(noised[0]))


def test_the_numbers_are_those_of_the_image_shown(explorer):
    explorer.t0.value, explorer.k.value, explorer.sample.value = 0.2, 1, 0
    scale = explorer.views["output"].scale
    shown = from_uint8(explorer.arrays()["output"][::scale, ::scale])[None]
    faithful = stroke_faithfulness(shown, explorer.guide[None])["score"]
    number = float(re.search(r"faithfulness <b>([0-9.]+)</b>", explorer.status.value).group(1))
    assert number == pytest.approx(faithful, abs=5e-4)  # printed with 3 decimals
    assert "t0 0.2, K = 1, sample 1" in explorer.status.value
    before = explorer.arrays()["output"]
    explorer.t0.value = 0.6
    assert not np.array_equal(before, explorer.arrays()["output"])
    assert explorer.curve.value[:4] == b"\x89PNG"


def _entry(name: str, data: bytes) -> dict:
    """One file as ipywidgets 8's FileUpload holds it after an upload."""
    import datetime

    return {"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
            "last_modified": datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc)}


def test_an_uploaded_painting_becomes_the_guide(explorer):
    from PIL import Image

    painting = np.zeros((40, 60, 3), np.uint8)
    painting[:15] = (90, 150, 230)
    painting[15:] = (60, 160, 60)
    buffer = io.BytesIO()
    Image.fromarray(painting).save(buffer, format="PNG")
    data = buffer.getvalue()
    explorer.upload.value = (_entry("mine.png", data),)
    assert explorer.name == "mine.png" and "mine.png" in explorer.status.value
    assert explorer.views["photo"].widget.layout.display == "none"  # no photo behind it
    scale = explorer.views["guide"].scale
    assert tuple(explorer.arrays()["guide"][::scale, ::scale][0, 10]) == (90, 150, 230)
    explorer.upload.value = (_entry("notes.png", b"not an image"),)
    assert "UnidentifiedImageError" in explorer.status.value and explorer.name == "mine.png"
    explorer.show_item(0)
    assert explorer.name == "test item 0" and explorer.views["photo"].widget.layout.display is None


def test_bad_arguments_are_refused():
    data = get_dataset("synthetic-strokes", split="test", size=32, length=2)
    with pytest.raises(TypeError, match="must be a trained coursekit DDPM"):
        NoiseLevelExplorer(torch.nn.Identity(), data)
    model = DDPM(Config.fast(ch=8, ch_mult=(1, 2), attn_resolutions=(16,), groups=4))
    with pytest.raises(ValueError, match=r"t0s must be noise levels in \(0, 1\]"):
        NoiseLevelExplorer(model, data, t0s=(0.0, 0.5))
