"""The style explorer: BicycleGAN's latent code z, made visible.

One synthetic facade's label map, and beside it each model's photo of it, G(A, z), from the
same code z. The controls choose z: a slider per dimension, a path between two random codes
(linear or spherical, :func:`coursekit.nn.interpolate`), and "encode" buttons that copy the
style of a true render into z (z = mu(E(B))). Under every photo: the style the photo looks
like (:func:`~coursekit.data.synthetic.facades.classify_facade_style`) and its pixel accuracy
against the label map (:func:`~coursekit.data.synthetic.facades.score_facades`), computed on
the image exactly as shown.
"""
from __future__ import annotations

import html
import math
from typing import Callable, Mapping

import numpy as np
import torch

from coursekit.data.synthetic.facades import (FACADE_STYLES, SyntheticFacades,
                                              classify_facade_style, score_facades)
from coursekit.widgets.base import ImageView, from_uint8, to_uint8
from coursekit.widgets.views import LatentExplorer, SliderEchoes, item_picker

__all__ = ["StyleExplorer"]

THUMBNAIL = 64  # px: the true renders beside the encode buttons


def _short(style: str) -> str:
    """'red brick, morning sun' -> 'red brick' (the material names the style)."""
    return style.split(",")[0]


def _material(style: str) -> str:
    """'red brick, morning sun' -> 'brick': short enough for a button."""
    return _short(style).split()[-1]


class StyleExplorer:
    """BicycleGAN models' photos of one label map from the same latent code z, and the
    controls that choose z.

    Args:
        models: ``{title: BicycleGAN}`` (e.g. the course checkpoint and the live run), or one
            BicycleGAN. All take codes of the same size ``nz`` and make photos at the
            dataset's size.
        dataset: synthetic facades, e.g. ``get_dataset("synthetic-facades", split="test",
            size=64)``: the label maps, and the true renders of each style to encode.
        index: the item to start with.
        seed: seeds the random codes A and B (the same draws for a whole class).
        scale: how many times the images are enlarged on screen (default: to about 192 px).
        interval: seconds between two redraws while a slider is dragged (see
            :class:`~coursekit.widgets.base.Throttle`); ``call_later`` is for tests.

    The controls are attributes, so that a test (or a curious student) can drive the
    explorer from Python:

    * ``sliders``: one FloatSlider per dimension of z (-3..3, widened for a code beyond).
      Every model draws from the sliders' code, except after an encode button (below).
    * ``random_a_button`` / ``random_b_button``: draw a new code A or B from N(0, I) (a
      private generator) and show it (t = 0 or 1); ``t`` (FloatSlider 0..1) and ``mode``
      (ToggleButtons "linear" / "spherical") put the sliders on the path from A to B.
    * ``encode_buttons``: one per style of :data:`FACADE_STYLES`, beside its true render of
      the current item: each model gets its *own* encoder's code of that render, mu(E(B))
      (the models' latent spaces differ); the sliders show the first model's. Moving a
      slider gives every model the sliders' code again.
    * ``zero_button``: z = 0, the prior's mean (what ``translate`` draws).
    * ``item`` (BoundedIntText), ``previous_button`` / ``next_button``: the label map. The
      codes stay: a style copied from one building is drawn on the next.

    Read back: ``arrays()`` (the images shown, {title: (H, W, 3) uint8}), ``verdicts`` (each
    model's style and pixel accuracy, as shown under its photo), ``codes`` (each model's code
    in the photo shown), ``z`` (the sliders' code).

    Example::

        from coursekit import pretrained
        from coursekit.data import get_dataset
        from coursekit.widgets import StyleExplorer

        test = get_dataset("synthetic-facades", split="test", size=64)
        StyleExplorer({"course checkpoint": pretrained.load("bicyclegan-facades")},
                      test, index=3)
    """

    LABELS = "label map"

    def __init__(self, models, dataset: SyntheticFacades, index: int = 0, *, seed: int = 0,
                 scale: int | None = None, interval: float = 0.05,
                 call_later: Callable | None = None):
        import ipywidgets as w

        self.models = _check_models(models, dataset)
        self.dataset = dataset
        self.size = int(dataset.size)
        self.nz = next(iter(self.models.values())).config.nz
        self._names = [f"z{k}" for k in range(self.nz)]
        self._gen = torch.Generator().manual_seed(int(seed))
        self.z_a, self.z_b = self._draw_code(), self._draw_code()
        # The code last set from Python. The sliders holding anything else means a student
        # moved one by hand; ``_own`` holds each model's own code after an encode button.
        self._code, self._own = self.z_a.clone(), None
        self._source = "random code A"
        self.verdicts: dict[str, dict] = {}
        self.codes: dict[str, torch.Tensor] = {}
        self.code_note = w.HTML("", layout=w.Layout(width="300px"))
        thumb_scale = max(1, THUMBNAIL // self.size)
        self.true_views = [ImageView(min(self.size, THUMBNAIL), thumb_scale)
                           for _ in FACADE_STYLES]
        self._load(_check_index(index, dataset))

        # Start on code A (t = 0), each slider wide enough for its value.
        specs = {name: (min(-3.0, math.floor(v)), max(3.0, math.ceil(v)), v)
                 for name, v in zip(self._names, self.z_a.tolist())}
        self.latent = LatentExplorer(self._images, specs, size=self.size, scale=scale,
                                     step=0.01, interval=interval, call_later=call_later)
        self.sliders = list(self.latent.sliders.values())
        for slider in self.sliders:
            slider.layout.width = "290px"
            slider.style.description_width = "28px"
        self.throttle = self.latent.throttle
        self.status = self.latent.status

        self.zero_button = w.Button(description="z = 0", tooltip="the prior's mean")
        self.zero_button.on_click(lambda _: self.set_code(torch.zeros(self.nz),
                                                          "z = 0, the prior's mean"))
        # Between two random codes.
        self.random_a_button = w.Button(description="random code A")
        self.random_b_button = w.Button(description="random code B")
        self.random_a_button.on_click(lambda _: self.random_code("A"))
        self.random_b_button.on_click(lambda _: self.random_code("B"))
        self.t = w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="A → B",
                               continuous_update=True, readout_format=".2f",
                               layout=w.Layout(width="290px"),
                               style={"description_width": "42px"})
        self._t = 0.0  # t exactly as last set: the slider's echoes are ignored (SliderEchoes)
        self._t_echoes = SliderEchoes(0.01)
        self._setting_t = False
        self.t.observe(self._t_moved, names="value")
        self.mode = w.ToggleButtons(options=["linear", "spherical"], value="spherical",
                                    style={"button_width": "90px"})
        self.mode.observe(lambda _: self._interpolate(), names="value")
        # The true renders, one encode button each.
        self.encode_buttons = []
        for k, style in enumerate(FACADE_STYLES):
            button = w.Button(description=f"encode {_material(style)}",
                              tooltip=f"z = mu(E(this item in {style}))",
                              layout=w.Layout(width="120px"))
            button.on_click(lambda _, k=k: self.encode_style(k))
            self.encode_buttons.append(button)
        # The label map.
        self.item, self.previous_button, self.next_button = item_picker(
            len(dataset), self.index, "label map", self.show_item)

        self.widget = self._layout()
        self.widget.add_class("coursekit-style-explorer")

    # ---- choosing z ----------------------------------------------------------------------
    @property
    def z(self) -> torch.Tensor:
        """The sliders' code, (nz,)."""
        return torch.tensor([self.latent.values[n] for n in self._names], dtype=torch.float32)

    def set_code(self, z, source: str = "set from Python") -> None:
        """Give every model code ``z`` ((nz,) tensor or list) and show it on the sliders."""
        self._set_code(z, source, own=None)

    def _set_code(self, z, source: str, own: dict | None) -> None:
        z = torch.as_tensor(z, dtype=torch.float32).detach().cpu().reshape(-1)
        if z.numel() != self.nz or not torch.isfinite(z).all():
            raise ValueError(f"z must be {self.nz} finite numbers (the models' nz), got "
                             f"{z.numel()}: {z.tolist()}")
        self._code, self._own, self._source = z.clone(), own, source
        self.latent.set(**dict(zip(self._names, z.tolist())))

    def random_code(self, end: str) -> None:
        """A new code for end "A" or "B" from N(0, I), shown at once (t = 0 or 1)."""
        if end not in ("A", "B"):
            raise ValueError(f"end must be 'A' or 'B', got {end!r}")
        if end == "A":
            self.z_a = self._draw_code()
        else:
            self.z_b = self._draw_code()
        self._set_t(0.0 if end == "A" else 1.0)
        self._interpolate()

    def encode_style(self, style: int | str) -> None:
        """Each model's own code of the current item's true render in ``style`` (an index or
        a name from :data:`FACADE_STYLES`): mu(E(render)); the sliders show the first's."""
        k = style if isinstance(style, int) else (
            FACADE_STYLES.index(style) if style in FACADE_STYLES else -1)
        if isinstance(k, bool) or not 0 <= k < len(FACADE_STYLES):
            raise ValueError(f"style must be an index 0..{len(FACADE_STYLES) - 1} or a name "
                             f"from FACADE_STYLES {FACADE_STYLES}, got {style!r}")
        photo = self._true_photos[k][None]
        own = {title: m.encode(photo)[0].detach().float().cpu()
               for title, m in self.models.items()}
        first = next(iter(own.values()))
        self._set_code(first, f"encoded {_short(FACADE_STYLES[k])} (item {self.index})",
                       own=own if len(own) > 1 else None)

    def _draw_code(self) -> torch.Tensor:
        return torch.randn(self.nz, generator=self._gen)

    def _interpolate(self) -> None:
        from coursekit.nn import interpolate

        z = interpolate(self.z_a, self.z_b, self._t, self.mode.value)
        self._set_code(z, f"A → B, t = {self._t:.2f}, {self.mode.value}", own=None)

    def _set_t(self, value: float) -> None:
        self._t_echoes.pushed("t", value)
        self._t, self._setting_t = float(value), True
        try:
            self.t.value = value
        finally:
            self._setting_t = False

    def _t_moved(self, change) -> None:
        if self._setting_t or self._t_echoes.is_echo("t", change["new"], self._t):
            return
        self._t = float(change["new"])
        self._interpolate()

    # ---- the label map -------------------------------------------------------------------
    def show_item(self, index: int) -> None:
        """Show label map ``index``, keeping the codes."""
        index = _check_index(index, self.dataset)
        if index != self.item.value:
            self.item.value = index  # its observer comes back here
            return
        self._load(index)
        self.throttle()

    def _load(self, index: int) -> None:
        renders = self.dataset.all_styles(index)  # the same labels in every style
        self.index = index
        self.x, self.labels = renders[0]["A"], renders[0]["labels"]
        self._true_photos = [r["B"] for r in renders]
        for view, photo in zip(self.true_views, self._true_photos):
            if self.size > THUMBNAIL:
                photo = torch.nn.functional.interpolate(photo[None], size=THUMBNAIL,
                                                        mode="bilinear", antialias=True)[0]
            view.show(photo)

    # ---- drawing -------------------------------------------------------------------------
    def _images(self, **values: float) -> dict:
        """LatentExplorer's function: the label map and every model's photo with its verdict."""
        z = torch.tensor([values[n] for n in self._names], dtype=torch.float32)
        if not torch.equal(z, self._code):  # a slider moved by hand
            self._code, self._own, self._source = z, None, "moved by hand"
        codes = {title: (self._own[title] if self._own else z) for title in self.models}
        shown = {}
        for title, model in self.models.items():
            photo = model.generate(self.x[None], codes[title][None])[0].detach().float().cpu()
            shown[title] = to_uint8(photo)
        # Judge the photos as shown (8 bits per channel), so that a student who saves the
        # image and scores it gets the same numbers.
        photos = torch.stack([from_uint8(a) for a in shown.values()])
        styles = classify_facade_style(photos).tolist()
        verdicts, out = {}, {self.LABELS: self.x}
        first = next(iter(self.models))
        for (title, image), photo, k in zip(shown.items(), photos, styles):
            accuracy = score_facades(photo[None], self.labels[None])["pixel_accuracy"]
            verdicts[title] = {"style": FACADE_STYLES[k], "style_index": k,
                               "pixel_accuracy": accuracy}
            caption = (f"looks like <b>{html.escape(_short(FACADE_STYLES[k]))}</b><br>"
                       f"pixel accuracy {accuracy:.2f}")
            if self._own and title != first:
                caption += "<br><i>from its own encoder's code</i>"
            out[title] = (image, "<div style='text-align:center;font-size:12px;"
                                 f"line-height:1.5'>{caption}</div>")
        self.verdicts, self.codes = verdicts, {t: c.clone() for t, c in codes.items()}
        self._note(z)
        return out

    def _note(self, z: torch.Tensor) -> None:
        first = html.escape(next(iter(self.models)))
        shared = ("" if len(self.models) == 1 else
                  f"<br>the sliders show {first}'s code; after <i>encode</i> each model has "
                  "its own")
        self.code_note.value = (
            f"<div style='font-size:12px;line-height:1.5'><b>z</b>: {html.escape(self._source)}<br>"
            f"|z| = {z.norm():.2f} (codes from N(0, I) have |z| ≈ {math.sqrt(self.nz):.2f})"
            f"{shared}</div>")

    def arrays(self) -> dict[str, np.ndarray | None]:
        """What every image shows now, read back from the widgets: {title: (H, W, 3) uint8}
        (enlarged ``scale`` times)."""
        self.throttle.flush()
        return self.latent.arrays()

    def _layout(self):
        import ipywidgets as w

        views, captions = self.latent.views, self.latent.captions
        columns = []
        for title in views:
            parts = [views[title].widget, captions[title]]
            if title == self.LABELS:
                parts.append(w.HBox([self.previous_button, self.item, self.next_button]))
            columns.append(w.VBox(parts))
        views[self.LABELS].image.add_class("coursekit-label-map")
        for title in self.models:
            views[title].image.add_class("coursekit-model-photo")

        def heading(text):
            return w.HTML(f"<b>{text}</b>")

        styles = w.GridBox(
            [w.VBox([view.widget, button], layout=w.Layout(align_items="center"))
             for view, button in zip(self.true_views, self.encode_buttons)],
            layout=w.Layout(grid_template_columns="repeat(2, 124px)", grid_gap="4px"))
        controls = w.HBox([
            w.VBox([heading("latent code z"), self.code_note, *self.sliders, self.zero_button],
                   layout=w.Layout(margin="0 16px 0 0", width="300px")),
            w.VBox([heading("between two random codes"),
                    w.HBox([self.random_a_button, self.random_b_button]), self.t, self.mode],
                   layout=w.Layout(margin="0 16px 0 0")),
            w.VBox([heading("copy the style of a true render"), styles]),
        ], layout=w.Layout(flex_flow="row wrap"))
        return w.VBox([w.HBox(columns, layout=w.Layout(flex_flow="row wrap")), self.status,
                       controls])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _check_models(models, dataset) -> dict:
    from coursekit.models.bicyclegan import BicycleGAN

    if isinstance(models, BicycleGAN):
        models = {"model": models}
    if not isinstance(models, Mapping) or not models:
        got = "an empty dict" if isinstance(models, Mapping) else type(models).__name__
        raise ValueError(f"models must be a BicycleGAN or a non-empty dict {{title: BicycleGAN}}, "
                         f"got {got}")
    if not isinstance(dataset, SyntheticFacades):
        raise TypeError(f"dataset must be synthetic facades (get_dataset('synthetic-facades', "
                        f"split='test', size=...)): the explorer encodes its true renders and "
                        f"scores against its label maps; got {type(dataset).__name__}")
    sizes = set()
    for title, model in models.items():
        if not isinstance(model, BicycleGAN):
            raise TypeError(f"models[{title!r}] must be a BicycleGAN (coursekit.models."
                            f"bicyclegan): the explorer needs its latent code z and its "
                            f"encoder; got {type(model).__name__}")
        if title == StyleExplorer.LABELS:
            raise ValueError(f"{StyleExplorer.LABELS!r} is the input's title; name the model "
                             "otherwise")
        c = model.config
        if c.direction != "AtoB" or c.in_channels != 3 or c.out_channels != 3:
            raise ValueError(f"models[{title!r}] must translate label maps to photos "
                             f"(direction 'AtoB', 3 channels in and out), got direction "
                             f"{c.direction!r}")
        if c.image_size != dataset.size:
            raise ValueError(f"models[{title!r}] makes {c.image_size}-px photos but the "
                             f"dataset's images are {dataset.size} px: open it with "
                             f"size={c.image_size}")
        sizes.add(c.nz)
    if len(sizes) > 1:
        raise ValueError(f"the models must share one code size for one set of sliders, got "
                         f"nz = {sorted(sizes)}")
    return dict(models)


def _check_index(index, dataset) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an int, got {type(index).__name__}")
    if not 0 <= int(index) < len(dataset):
        raise IndexError(f"index {index} is out of range: the dataset has {len(dataset)} "
                         f"items, 0..{len(dataset) - 1}")
    return int(index)
