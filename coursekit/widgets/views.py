"""Two general views: a latent explorer (sliders -> image) and an A/B comparison of models."""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from coursekit.widgets.base import ImageView, Throttle, error_html

__all__ = ["CompareView", "LatentExplorer"]


def _display_scale(size: int, target: int = 192) -> int:
    """Enlarge small images to about ``target`` px on screen (whole multiples only)."""
    return max(1, target // size)


class CompareView:
    """Input and the outputs of several models side by side (an A/B comparison).

    ``models`` maps a title to a function from a batch of inputs (N, C, H, W) to a batch of
    outputs, e.g. ``{"L1": l1.translate, "L1+cGAN": gan.translate}``. :meth:`set_input` runs
    every model on one input (C, H, W) and updates the images in place; ``reference`` adds a
    last column (e.g. the ground-truth photo). The images shown are in ``views`` (title ->
    :class:`~coursekit.widgets.base.ImageView`) and can be read back as arrays.
    """

    def __init__(self, models: Mapping[str, Callable], size: int, *, input_title: str = "input",
                 reference_title: str | None = None, scale: int | None = None):
        import ipywidgets as w

        if not isinstance(models, Mapping) or not models:
            raise ValueError("models must be a non-empty dict {title: function from a batch of "
                             "inputs to a batch of outputs}")
        for title, fn in models.items():
            if not callable(fn):
                raise TypeError(f"models[{title!r}] must be callable, got {type(fn).__name__}")
        if input_title in models or (reference_title is not None and reference_title in models):
            raise ValueError("the input and reference titles must differ from the model titles")
        self.models = dict(models)
        self.size = int(size)
        scale = _display_scale(self.size) if scale is None else scale
        titles = [input_title, *self.models] + ([reference_title] if reference_title else [])
        self.views = {t: ImageView(self.size, scale, t) for t in titles}
        self.input_title, self.reference_title = input_title, reference_title
        self.status = w.HTML("")
        self.widget = w.VBox([w.HBox([v.widget for v in self.views.values()]), self.status])
        self.widget.add_class("coursekit-compare")

    def set_input(self, x, reference=None) -> None:
        """Show input ``x`` (C, H, W) in [-1, 1], each model's output for it, and ``reference``
        (C, H, W) if this view has a reference column."""
        import torch

        if reference is not None and self.reference_title is None:
            raise ValueError("this CompareView has no reference column: pass reference_title=... "
                             "when creating it")
        if not isinstance(x, torch.Tensor) or x.ndim != 3:
            raise ValueError(f"x must be one image tensor (C, H, W), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        outputs = {}
        with torch.no_grad():
            for title, fn in self.models.items():
                y = fn(x[None])
                if not isinstance(y, torch.Tensor) or y.ndim != 4 or y.shape[0] != 1:
                    raise ValueError(f"model {title!r} must map a (1, C, H, W) batch to a "
                                     f"(1, C, H, W) batch, got {getattr(y, 'shape', y)!r}")
                outputs[title] = y[0].cpu()
        self.views[self.input_title].show(x[:3])
        for title, y in outputs.items():
            self.views[title].show(y)
        if reference is not None:
            self.views[self.reference_title].show(reference)
        self.status.value = ""

    def arrays(self) -> dict[str, np.ndarray | None]:
        """What every column shows now, read back from the widgets: {title: (H, W, 3) uint8}."""
        return {t: v.array for t, v in self.views.items()}

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class LatentExplorer:
    """Sliders for a few latent values and the image a function makes from them.

    ``fn(**values)`` returns an image ((3, H, W) tensor in [-1, 1] or an (H, W, 3) array);
    ``latents`` names the values: a list of names (each from -3 to 3, starting at 0, the
    range of a standard normal latent) or a dict ``{name: (low, high, start)}``. Moving a
    slider re-runs ``fn`` for the latest values only (see :class:`Throttle`); "random" draws
    every value from N(0, 1) clipped to its range (seeded, so a class sees the same draws) and
    "reset" restores the starting values.

    For a later lecture, e.g. BicycleGAN's latent code::

        LatentExplorer(lambda **z: model.sample(x, torch.tensor([list(z.values())])),
                       ["z1", "z2", "z3"])
    """

    def __init__(self, fn: Callable[..., object], latents: Sequence[str] | Mapping[str, tuple],
                 *, size: int | None = None, scale: int | None = None, step: float = 0.05,
                 seed: int = 0, interval: float = 0.05,
                 call_later: Callable | None = None):
        import ipywidgets as w

        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if isinstance(latents, Mapping):
            specs = dict(latents)
        elif isinstance(latents, (list, tuple)) and all(isinstance(n, str) for n in latents):
            specs = {name: (-3.0, 3.0, 0.0) for name in latents}
        else:
            raise TypeError("latents must be a list of names or a dict {name: (low, high, start)}")
        if not specs:
            raise ValueError("latents must name at least one value")
        for name, spec in specs.items():
            if (not isinstance(spec, (tuple, list)) or len(spec) != 3
                    or not spec[0] <= spec[2] <= spec[1] or spec[0] == spec[1]):
                raise ValueError(f"latents[{name!r}] must be (low, high, start) with "
                                 f"low <= start <= high and low < high, got {spec!r}")
        self.fn, self.specs = fn, specs
        self._rng = np.random.default_rng(seed)
        self.sliders = {
            name: w.FloatSlider(value=start, min=low, max=high, step=step, description=name,
                                continuous_update=True, readout_format=".2f")
            for name, (low, high, start) in specs.items()}
        random_button = w.Button(description="random")
        reset_button = w.Button(description="reset")
        random_button.on_click(lambda _: self.randomise())
        reset_button.on_click(lambda _: self.reset())
        self.status = w.HTML("")
        first = self._call(self.values)  # the first image also tells the size
        size = size or _to_size(first)
        self.view = ImageView(size, _display_scale(size) if scale is None else scale)
        self.view.show(first)
        self.throttle = Throttle(self._render, interval, call_later=call_later,
                                 on_error=self._show_error)
        for slider in self.sliders.values():
            slider.observe(lambda _: self.throttle(), names="value")
        controls = w.VBox([*self.sliders.values(), w.HBox([random_button, reset_button])])
        self.widget = w.VBox([w.HBox([self.view.widget, controls]), self.status])
        self.widget.add_class("coursekit-latent-explorer")

    @property
    def values(self) -> dict[str, float]:
        return {name: float(s.value) for name, s in self.sliders.items()}

    def set(self, **values: float) -> None:
        """Move sliders from Python, as a student would by hand."""
        unknown = set(values) - set(self.sliders)
        if unknown:
            raise ValueError(f"unknown latent(s) {sorted(unknown)}; this explorer has "
                             f"{list(self.sliders)}")
        for name, value in values.items():
            self.sliders[name].value = value

    def randomise(self) -> None:
        self.set(**{name: float(np.clip(self._rng.standard_normal(), low, high))
                    for name, (low, high, _) in self.specs.items()})

    def reset(self) -> None:
        self.set(**{name: start for name, (_, _, start) in self.specs.items()})

    @property
    def array(self) -> np.ndarray | None:
        """The image shown now, read back from the widget."""
        return self.view.array

    def _call(self, values):
        import torch

        with torch.no_grad():
            return self.fn(**values)

    def _render(self, _=None) -> None:
        self.view.show(self._call(self.values))
        self.status.value = ""

    def _show_error(self, error: BaseException) -> None:
        self.status.value = error_html(error)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _to_size(img) -> int:
    shape = tuple(getattr(img, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"fn must return one image, (3, H, W) tensor or (H, W, 3) array, "
                         f"got shape {shape}")
    return int(shape[1] if hasattr(img, "detach") else shape[0])
