"""Two general views: a latent explorer (sliders -> images) and an A/B comparison of models."""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from coursekit.widgets.base import ImageView, Throttle, error_html

__all__ = ["CompareView", "LatentExplorer", "SliderEchoes"]


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
    """Sliders for a few latent values and the image(s) a function makes from them.

    ``fn(**values)`` returns an image ((3, H, W) tensor in [-1, 1] or an (H, W, 3) array), an
    ``(image, caption)`` pair (the caption, HTML, is shown under the image), or a dict
    ``{title: image or (image, caption)}`` with the same titles every time (the images side by
    side, e.g. several models given the same latent). ``latents`` names the values: a list of
    names (each from -3 to 3, starting at 0, the range of a standard normal latent) or a dict
    ``{name: (low, high, start)}``. Moving a slider re-runs ``fn`` for the latest values only
    (see :class:`Throttle`); "random" draws every value from N(0, 1) clipped to its range
    (seeded, so a class sees the same draws) and "reset" restores the starting values.

    ``values`` are exactly the values last set (by :meth:`set` or by hand): a browser's slider
    sends back its step-rounded copy of a value set from Python, which is recognised and
    ignored (see :class:`SliderEchoes`); so is any report within half a step of the value.

    For a later lecture, e.g. BicycleGAN's latent code::

        LatentExplorer(lambda **z: model.generate(x, torch.tensor([list(z.values())]))[0],
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
        self.fn, self.specs, self.step = fn, specs, float(step)
        self._rng = np.random.default_rng(seed)
        self._values = {name: float(start) for name, (_, _, start) in specs.items()}
        self._setting = False  # True while set() moves the sliders: they render once, after
        self.echoes = SliderEchoes(self.step)
        self.sliders = {
            name: w.FloatSlider(value=start, min=low, max=high, step=step, description=name,
                                continuous_update=True, readout_format=".2f")
            for name, (low, high, start) in specs.items()}
        self.random_button = w.Button(description="random")
        self.reset_button = w.Button(description="reset")
        self.random_button.on_click(lambda _: self.randomise())
        self.reset_button.on_click(lambda _: self.reset())
        self.status = w.HTML("")
        first = _as_images(self._call(self.values))  # the first image also tells the size
        self._titles = list(first)
        size = size or _to_size(first[self._titles[0]][0])
        scale = _display_scale(size) if scale is None else scale
        #: title -> ImageView (the title None for a single image) and the caption under it.
        self.views = {t: ImageView(size, scale, t) for t in self._titles}
        self.captions = {t: w.HTML("", layout=w.Layout(width=f"{size * scale}px"))
                         for t in self._titles}
        self.view = self.views[self._titles[0]]
        self._show(first)
        self.throttle = Throttle(self._render, interval, call_later=call_later,
                                 on_error=self._show_error)
        for name, slider in self.sliders.items():
            slider.observe(self._slider_handler(name), names="value")
        self.images = w.HBox([w.VBox([self.views[t].widget, self.captions[t]])
                              for t in self._titles])
        self.controls = w.VBox([*self.sliders.values(),
                                w.HBox([self.random_button, self.reset_button])])
        self.widget = w.VBox([w.HBox([self.images, self.controls]), self.status])
        self.widget.add_class("coursekit-latent-explorer")

    @property
    def values(self) -> dict[str, float]:
        return dict(self._values)

    def set(self, **values: float) -> None:
        """Move sliders from Python, as a student would by hand (all of them, then one
        redraw). A value beyond a slider's range widens the slider to whole numbers around
        it, so that every value is shown as it is."""
        import math

        unknown = set(values) - set(self.sliders)
        if unknown:
            raise ValueError(f"unknown latent(s) {sorted(unknown)}; this explorer has "
                             f"{list(self.sliders)}")
        self._setting = True
        try:
            for name, value in values.items():
                value, slider = float(value), self.sliders[name]
                if not slider.min <= value <= slider.max:
                    # A new range makes the browser redraw, and echo, the old value.
                    self.echoes.pushed(name, self._values[name])
                    slider.min = min(slider.min, math.floor(value))
                    slider.max = max(slider.max, math.ceil(value))
                self.echoes.pushed(name, value)
                self._values[name] = value
                slider.value = value
        finally:
            self._setting = False
        self.throttle()

    def randomise(self) -> None:
        self.set(**{name: float(np.clip(self._rng.standard_normal(), low, high))
                    for name, (low, high, _) in self.specs.items()})

    def reset(self) -> None:
        self.set(**{name: start for name, (_, _, start) in self.specs.items()})

    @property
    def array(self) -> np.ndarray | None:
        """The (first) image shown now, read back from the widget."""
        return self.view.array

    def arrays(self) -> dict:
        """Every image shown now, read back from the widgets: {title: (H, W, 3) uint8}."""
        return {t: v.array for t, v in self.views.items()}

    def _slider_handler(self, name: str):
        def handler(change):
            new = change["new"]
            if self._setting or self.echoes.is_echo(name, new, self._values[name]):
                return
            self._values[name] = float(new)
            self.throttle()
        return handler

    def _call(self, values):
        import torch

        with torch.no_grad():
            return self.fn(**values)

    def _show(self, images: dict) -> None:
        if list(images) != self._titles:
            raise ValueError(f"fn must return the same images every time: first "
                             f"{self._titles}, now {list(images)}")
        for title, (image, caption) in images.items():
            self.views[title].show(image)
            self.captions[title].value = caption or ""

    def _render(self, _=None) -> None:
        self._show(_as_images(self._call(self.values)))
        self.status.value = ""

    def _show_error(self, error: BaseException) -> None:
        self.status.value = error_html(error)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class SliderEchoes:
    """Tells a browser slider's echo of a value set from Python from a move by hand.

    ipywidgets 8's slider snaps every value it shows to its step and, while it updates
    continuously, sends the snapped value back: when it is first displayed, and when a value
    or range is set from Python, perhaps after later values were set. A reported value within
    half a step of the slider's current value is such an echo, and so is the first report
    near a value pushed off the step grid in the last ``window_s`` seconds (each push is
    echoed once); a move by hand lands on another step.
    """

    def __init__(self, step: float, window_s: float = 2.0,
                 clock: Callable[[], float] | None = None):
        import time

        self.step, self.window_s = float(step), float(window_s)
        self._clock = clock or time.monotonic
        self._expected: dict[str, list[tuple[float, float]]] = {}

    def pushed(self, name: str, value: float) -> None:
        """Note that slider ``name`` was given ``value`` now (or shows it after a change of
        its range)."""
        value = float(value)
        if abs(value / self.step - round(value / self.step)) < 1e-6:
            return  # on the grid: the browser shows it as it is and sends nothing back
        now = self._clock()
        recent = [(t, v) for t, v in self._expected.get(name, []) if now - t <= self.window_s]
        self._expected[name] = recent[-63:] + [(now, value)]

    def is_echo(self, name: str, value: float, current: float) -> bool:
        """Whether ``value``, reported by slider ``name`` whose exact value is ``current``, is
        the browser's rounding of a value set from Python."""
        value, now = float(value), self._clock()
        near = 0.5001 * self.step  # a hair over: the browser's snapping has rounding of its own
        if abs(value - current) <= near:
            return True
        expected = self._expected.get(name, [])
        for i, (t, v) in enumerate(expected):
            if now - t <= self.window_s and abs(value - v) <= near:
                del expected[i]
                return True
        return False


def item_picker(length: int, index: int, noun: str, show: Callable[[int], None]):
    """The controls that pick a dataset item: a number box ``item`` (0 .. length - 1) and
    ``previous`` / ``next`` buttons (``noun`` names an item in their tooltips). ``show(index)``
    is called whenever the box changes, by hand or through the buttons. Returns
    ``(item, previous, next)``."""
    import ipywidgets as w

    item = w.BoundedIntText(value=index, min=0, max=length - 1, description="item",
                            layout=w.Layout(width="100px"), style={"description_width": "32px"})
    previous = w.Button(description="◀", tooltip=f"previous {noun}", layout=w.Layout(width="36px"))
    following = w.Button(description="▶", tooltip=f"next {noun}", layout=w.Layout(width="36px"))

    def step(by: int) -> None:
        item.value = min(max(item.value + by, 0), length - 1)

    previous.on_click(lambda _: step(-1))
    following.on_click(lambda _: step(+1))
    item.observe(lambda change: show(change["new"]), names="value")
    return item, previous, following


def _as_images(result) -> dict:
    """``fn``'s result as {title: (image, caption or None)}; the title None for one image."""
    def pair(value):
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (str, type(None))):
            return value
        return value, None

    if isinstance(result, Mapping):
        if not result:
            raise ValueError("fn returned an empty dict: give at least one image")
        return {str(title): pair(value) for title, value in result.items()}
    return {None: pair(result)}


def _to_size(img) -> int:
    shape = tuple(getattr(img, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"fn must return one image, (3, H, W) tensor or (H, W, 3) array, "
                         f"got shape {shape}")
    return int(shape[1] if hasattr(img, "detach") else shape[0])
