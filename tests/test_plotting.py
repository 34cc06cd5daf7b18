"""coursekit.plotting: the tensor -> picture conversion by hand, the grids' layouts, and that the
module stays a leaf (torch, numpy and matplotlib only), drawn with the Agg backend."""
from __future__ import annotations

import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; set before pyplot is imported anywhere in this process

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import coursekit  # noqa: E402
from coursekit.plotting import image_grid, show_images, to_rgb  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def batch(n, size=4, value=None):
    """(n, 3, size, size) in [-1, 1]; image k's red channel holds k (distinct, identifiable)."""
    images = torch.zeros(n, 3, size, size) if value is None else torch.full((n, 3, size, size), value)
    if value is None:
        images[:, 0] = torch.linspace(-1, 1, n).view(n, 1, 1)
    return images


# ----------------------------------------------------------------------------- to_rgb
def test_to_rgb_moves_channels_last_and_maps_minus_one_one_to_zero_one():
    img = torch.tensor([-1.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 2, 5).clone()
    img[0, 1, 4] = 0.5  # one pixel's red: (0.5 + 1) / 2 = 0.75
    rgb = to_rgb(img)
    assert isinstance(rgb, np.ndarray) and rgb.shape == (2, 5, 3) and rgb.dtype == np.float32
    assert rgb[0, 0].tolist() == [0.0, 0.5, 1.0]
    assert rgb[1, 4, 0] == 0.75 and rgb[1, 3, 0] == 0.0


def test_to_rgb_clips_overshoot_and_takes_any_dtype_with_a_graph():
    img = torch.tensor([-3.0, 2.0, 0.0], requires_grad=True).view(3, 1, 1) * 1.0  # has a graph
    assert to_rgb(img)[0, 0].tolist() == [0.0, 1.0, 0.5]
    assert to_rgb(torch.zeros(3, 2, 2, dtype=torch.float16)).dtype == np.float32


@pytest.mark.parametrize("shape", [(1, 3, 4, 4), (4, 4, 3), (1, 4, 4)])
def test_to_rgb_refuses_what_is_not_one_rgb_image(shape):
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        to_rgb(torch.zeros(shape))


# ----------------------------------------------------------------------------- image_grid
def test_image_grid_puts_one_column_per_name_and_one_row_per_image():
    columns = {"input": batch(3), "output": batch(3, value=1.0)}
    fig = image_grid(columns, title="grid", size=1.0, show=False)
    axes = fig.axes
    assert len(axes) == 6
    grid = np.array(axes).reshape(3, 2)  # plt.subplots creates them row by row
    assert [ax.get_title() for ax in grid[0]] == ["input", "output"]
    assert all(ax.get_title() == "" for ax in grid[1:].flat)
    assert fig.get_suptitle() == "grid"
    assert tuple(fig.get_size_inches()) == (2.0, 3.0)  # size * columns wide, size * rows high
    for r in range(3):  # row r, column "input" draws image r; column "output" is white
        np.testing.assert_array_equal(grid[r, 0].get_images()[0].get_array(),
                                      to_rgb(columns["input"][r]))
        assert np.all(grid[r, 1].get_images()[0].get_array() == 1.0)
    assert all(not ax.axison for ax in axes)


def test_image_grid_passes_the_interpolation_and_refuses_uneven_columns():
    fig = image_grid({"labels": batch(2)}, interpolation="nearest", show=False)
    assert {ax.get_images()[0].get_interpolation() for ax in fig.axes} == {"nearest"}
    with pytest.raises(ValueError, match="every column needs 2 images"):
        image_grid({"a": batch(2), "b": batch(3)}, show=False)


# ----------------------------------------------------------------------------- show_images
def test_show_images_returns_a_figure_with_one_axes_per_image_row_by_row():
    rows = [batch(4), batch(4, value=-1.0)]
    fig = show_images(rows, ["first", "second"], show=False)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 8
    grid = np.array(fig.axes).reshape(2, 4)
    assert [grid[r, 0].get_title(loc="left") for r in range(2)] == ["first", "second"]
    for i in range(4):
        np.testing.assert_array_equal(grid[0, i].get_images()[0].get_array(), to_rgb(rows[0][i]))
    assert all(np.all(ax.get_images()[0].get_array() == 0.0) for ax in grid[1])
    assert tuple(fig.get_size_inches()) == (8.0, 4.0)  # 2 inches per image


def test_show_images_shows_by_default_and_still_returns_the_figure(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    fig = show_images([batch(1)], ["one"])
    assert shown == [True] and len(fig.axes) == 1
    image_grid({"one": batch(1)})
    assert shown == [True, True]


def test_show_images_refuses_mismatched_rows_and_titles():
    with pytest.raises(ValueError, match="one title per row"):
        show_images([batch(2), batch(2)], ["only one"], show=False)
    with pytest.raises(ValueError, match="row 1 has 3"):
        show_images([batch(2), batch(3)], ["a", "b"], show=False)


# ----------------------------------------------------------------------------- a leaf module
def test_plotting_imports_only_torch_numpy_and_matplotlib():
    tree = ast.parse((Path(coursekit.__file__).parent / "plotting.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    top = {name.split(".")[0] for name in imported}
    assert top <= {"__future__", "typing", "torch", "numpy", "matplotlib"}, top
    assert "matplotlib.pyplot" in imported  # the finder sees the lazy import inside functions
