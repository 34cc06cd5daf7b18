"""The season explorer: MUNIT's style code, made visible.

One test landscape (a summer scene, or a winter one) and MUNIT's translation of it into the
other season: the input's content code decoded with a style code ``s`` that the controls
choose. Eight sliders hold ``s``; a row of reference photos of the target season copies the
style of one of them into the sliders (example-guided translation, ``s = E^s(reference)``); a
slider ``t`` walks the straight line between two references' codes; a toggle swaps the
direction (summer -> winter, winter -> summer).

Under the output: the season and the time of day it shows
(:func:`~coursekit.data.synthetic.seasons.season_and_time`) and the fraction of its pixels
that segment as the input's labels (the content kept, as
:func:`~coursekit.data.synthetic.seasons.score_seasons` measures it), computed on the image
exactly as shown. Beside it, the true render: the input's scene in the target season at the
time of day the output shows (the right answer for that style, which no real data set has).
"""
from __future__ import annotations

import html
import math
from typing import Callable, Sequence

import numpy as np
import torch

from coursekit.data.synthetic.landscapes import SEASONS, TIMES_OF_DAY
from coursekit.data.synthetic.seasons import (DOMAIN_SEASONS, SyntheticSeasons, score_seasons,
                                              season_and_time)
from coursekit.widgets.base import ImageView, from_uint8, to_uint8
from coursekit.widgets.style_explorer import _check_index
from coursekit.widgets.views import LatentExplorer, SliderEchoes, item_picker

__all__ = ["SeasonExplorer"]

THUMBNAIL = 96  # px: the reference photos above their buttons
#: The direction toggle's labels.
DIRECTIONS = {"AtoB": "summer → winter", "BtoA": "winter → summer"}


def _sides(direction: str) -> tuple[str, str]:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'AtoB' (summer -> winter) or 'BtoA' (winter -> "
                         f"summer), got {direction!r}")
    return direction[0], direction[-1]


class SeasonExplorer:
    """A MUNIT model's translation of one test landscape into the other season, from a style
    code ``s`` that sliders, reference photos and an interpolation choose.

    Args:
        model: a trained :class:`~coursekit.models.munit.MUNIT` (e.g.
            ``coursekit.pretrained.load("munit-seasons")``).
        dataset: synthetic seasons at the model's size, e.g. ``get_dataset("synthetic-seasons",
            split="test", size=32)``: the inputs, the reference photos, the labels that score
            the content and the true renders.
        index: the item whose input (its source side) is translated first.
        direction: ``"AtoB"`` (summer -> winter) or ``"BtoA"`` (winter -> summer).
        references: an int n (the first n items of each time of day on the target side, so
            that every time of day has a reference) or a list of item indices (their target
            side, in either direction).
        scale: how many times the images are enlarged on screen (default: to about 192 px).
        interval: seconds between two redraws while a slider is dragged (see
            :class:`~coursekit.widgets.base.Throttle`); ``call_later`` is for tests.
        seed: seeds the "random style" button's draws.

    The controls are attributes, so that a test (or a curious student) can drive the explorer
    from Python:

    * ``sliders``: one FloatSlider per number of ``s`` (-3..3, widened for a code beyond).
      The output is always decoded from the sliders' code. ``random_button`` draws every number
      from N(0, 1) (the prior), ``zero_button`` sets s = 0, the prior's mean.
    * ``reference_buttons``: one per reference photo (``reference_views``) of the target
      season, named by its time of day: ``s = E^s(reference)``, the target domain's style
      encoder's code of that photo (example-guided translation, ``MUNIT.translate_like``).
    * ``end_a``, ``end_b`` (Dropdowns of the references) and ``t`` (FloatSlider 0..1): the
      sliders go to ``(1 - t) s_A + t s_B``, the straight line between the two references'
      codes (t = 0 and 1 give them exactly).
    * ``direction`` (ToggleButtons): summer -> winter or winter -> summer. The input becomes
      the item's other side and the references the other season's; a code copied from a
      reference (or a point between two) is taken again from the new references (each domain
      has its own style encoder), a code set by hand or at random stays as it is.
    * ``item`` (BoundedIntText), ``previous_button`` / ``next_button``: the input. The code
      stays.

    Read back: ``arrays()`` (the images shown, {title: (H, W, 3) uint8}), ``verdicts`` (what
    the caption under the output says: ``season``, ``time``, ``pixel_accuracy``,
    ``target_season``, ``faithful``), ``style`` (the sliders' code), ``reference_codes``
    ((K, style_dim), the references' codes in the current direction).

    Example::

        from coursekit import pretrained
        from coursekit.data import get_dataset
        from coursekit.widgets import SeasonExplorer

        test = get_dataset("synthetic-seasons", split="test", size=32)
        SeasonExplorer(pretrained.load("munit-seasons"), test, index=3)
    """

    INPUT, OUTPUT, TRUTH = "input", "output", "true render"

    def __init__(self, model, dataset: SyntheticSeasons, index: int = 0, *,
                 direction: str = "AtoB", references: int | Sequence[int] = 2, seed: int = 0,
                 scale: int | None = None, interval: float = 0.05,
                 call_later: Callable | None = None):
        import ipywidgets as w

        self.model = _check_model(model, dataset)
        self.dataset = dataset
        self.size = int(dataset.size)
        self.style_dim = int(model.config.style_dim)
        self._names = [f"s{k}" for k in range(self.style_dim)]
        self._references_arg = _check_references(references, dataset)
        _sides(direction)
        self._direction = direction
        self.index = _check_index(index, dataset)
        self.verdicts: dict = {}
        self.code_note = w.HTML("", layout=w.Layout(width="300px"))
        thumb = min(self.size, THUMBNAIL)
        self._thumb_scale = max(1, THUMBNAIL // self.size)
        self._load_references()
        self.reference_views = [ImageView(thumb, self._thumb_scale) for _ in self.references]
        self._load_input()
        self._show_references()

        # Start on the first reference's style: example-guided translation.
        first = self.reference_codes[0]
        self._code, self._source, self._choice = first.clone(), self._reference_source(0), (
            "reference", 0)
        specs = {name: (min(-3.0, math.floor(v)), max(3.0, math.ceil(v)), v)
                 for name, v in zip(self._names, first.tolist())}
        self._gen = torch.Generator().manual_seed(int(seed))
        self.latent = LatentExplorer(self._images, specs, size=self.size, scale=scale,
                                     step=0.01, interval=interval, call_later=call_later)
        self.sliders = list(self.latent.sliders.values())
        for slider in self.sliders:
            slider.layout.width = "290px"
            slider.style.description_width = "28px"
        self.throttle, self.status = self.latent.throttle, self.latent.status
        self.random_button = w.Button(description="random style", tooltip="s ~ N(0, I)")
        self.random_button.on_click(lambda _: self.random_style())
        self.zero_button = w.Button(description="s = 0", tooltip="the prior's mean")
        self.zero_button.on_click(lambda _: self.set_style(torch.zeros(self.style_dim),
                                                           "s = 0, the prior's mean"))

        # References: one button each, under its photo.
        self.reference_buttons = []
        button_width = f"{max(THUMBNAIL, thumb * self._thumb_scale)}px"
        for k in range(len(self.references)):
            button = w.Button(description=self._reference_name(k),
                              tooltip="s = E^s(this photo): its style",
                              layout=w.Layout(width=button_width))
            button.on_click(lambda _, k=k: self.use_reference(k))
            self.reference_buttons.append(button)
        # Between two references.
        options = [(self._reference_name(k), k) for k in range(len(self.references))]
        self.end_a = w.Dropdown(options=options, value=0, description="from",
                                layout=w.Layout(width="200px"), style={"description_width": "40px"})
        self.end_b = w.Dropdown(options=options, value=len(options) - 1, description="to",
                                layout=w.Layout(width="200px"), style={"description_width": "40px"})
        self.t = w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="t",
                               continuous_update=True, readout_format=".2f",
                               layout=w.Layout(width="290px"), style={"description_width": "40px"})
        self._t = 0.0  # t exactly as last set: the slider's echoes are ignored (SliderEchoes)
        self._t_echoes = SliderEchoes(0.01)
        self._setting_t = False
        self.t.observe(self._t_moved, names="value")
        self._renaming = False  # True while the references' names change with the direction
        self.end_a.observe(self._end_moved, names="value")
        self.end_b.observe(self._end_moved, names="value")
        # Direction and item.
        self.direction = w.ToggleButtons(
            options=[(label, key) for key, label in DIRECTIONS.items()], value=direction,
            style={"button_width": "160px"})
        self.direction.observe(lambda change: self.set_direction(change["new"]), names="value")
        self.item, self.previous_button, self.next_button = item_picker(
            len(dataset), self.index, "test item", self.show_item)

        self.widget = self._layout()
        self.widget.add_class("coursekit-season-explorer")

    # ---- the style code ------------------------------------------------------------------
    @property
    def style(self) -> torch.Tensor:
        """The sliders' code, (style_dim,)."""
        return torch.tensor([self.latent.values[n] for n in self._names], dtype=torch.float32)

    @property
    def source(self) -> str:
        """Where the sliders' code came from, as the note above them says."""
        return self._source

    def set_style(self, s, source: str = "set from Python") -> None:
        """Decode with style code ``s`` ((style_dim,) tensor or list), shown on the sliders."""
        self._set_style(s, source, choice=None)

    def random_style(self) -> None:
        """A style code drawn from the prior N(0, I) (seeded: a class sees the same draws)."""
        self._set_style(torch.randn(self.style_dim, generator=self._gen), "random, from N(0, I)",
                        choice=None)

    def use_reference(self, k: int) -> None:
        """The style of reference ``k``: its code by the target domain's style encoder."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) \
                or not 0 <= k < len(self.references):
            raise ValueError(f"reference must be an index 0..{len(self.references) - 1}, got {k!r}")
        self._set_style(self.reference_codes[int(k)], self._reference_source(int(k)),
                        choice=("reference", int(k)))

    def _set_style(self, s, source: str, choice) -> None:
        s = torch.as_tensor(s, dtype=torch.float32).detach().cpu().reshape(-1)
        if s.numel() != self.style_dim or not torch.isfinite(s).all():
            raise ValueError(f"s must be {self.style_dim} finite numbers (the model's style_dim), "
                             f"got {s.numel()}: {s.tolist()}")
        self._code, self._source, self._choice = s.clone(), source, choice
        self.latent.set(**dict(zip(self._names, s.tolist())))

    def _interpolate(self) -> None:
        from coursekit.nn import interpolate

        a, b = self.end_a.value, self.end_b.value
        s = interpolate(self.reference_codes[a], self.reference_codes[b], self._t, "linear")
        self._set_style(s, f"{self._reference_name(a)} → {self._reference_name(b)}, "
                           f"t = {self._t:.2f}", choice=("path",))

    def _end_moved(self, _) -> None:
        if not self._renaming:
            self._interpolate()

    def _t_moved(self, change) -> None:
        if self._setting_t or self._t_echoes.is_echo("t", change["new"], self._t):
            return
        self._t = float(change["new"])
        self._interpolate()

    # ---- direction, input and references ---------------------------------------------------
    def set_direction(self, direction: str) -> None:
        """Translate the other way: ``"AtoB"`` (summer -> winter) or ``"BtoA"``."""
        _sides(direction)
        if direction != self.direction.value:
            self.direction.value = direction  # its observer comes back here
            return
        if direction == self._direction:
            return
        self._direction = direction
        self._load_references()
        self._show_references()
        self._rename_references()
        self._load_input()
        choice = self._choice
        if choice and choice[0] == "reference":
            self.use_reference(choice[1])
        elif choice and choice[0] == "path":
            self._interpolate()
        else:
            self.throttle()

    def show_item(self, index: int) -> None:
        """Translate item ``index``'s input (its source side), keeping the code."""
        index = _check_index(index, self.dataset)
        if index != self.item.value:
            self.item.value = index  # its observer comes back here
            return
        self.index = index
        self._load_input()
        self.throttle()

    def _load_input(self) -> None:
        src, _ = _sides(self._direction)
        item = self.dataset[self.index]
        self.x, self.labels = item[src], item[f"labels_{src}"]
        self.input_time = TIMES_OF_DAY[int(item[f"time_{src}"])]
        self._content = self.model.encode(self.x[None], src)[0]

    def _load_references(self) -> None:
        _, dst = _sides(self._direction)
        self.references = (_first_of_each_time(self.dataset, dst, self._references_arg)
                           if isinstance(self._references_arg, int) else list(self._references_arg))
        self.reference_times = [TIMES_OF_DAY[self.dataset.time_of(dst, i)] for i in self.references]
        self.reference_photos = torch.stack([self.dataset.render(dst, i)["B"]
                                             for i in self.references])
        self.reference_codes = self.model.encode(self.reference_photos, dst)[1].float().cpu()

    def _show_references(self) -> None:
        for view, photo in zip(self.reference_views, self.reference_photos):
            if self.size > THUMBNAIL:
                photo = torch.nn.functional.interpolate(photo[None], size=THUMBNAIL,
                                                        mode="bilinear", antialias=True)[0]
            view.show(photo)

    def _rename_references(self) -> None:
        """The buttons and the ends' menus named after the new references' times of day."""
        a, b = self.end_a.value, self.end_b.value
        options = [(self._reference_name(k), k) for k in range(len(self.references))]
        self._renaming = True
        try:
            for k, button in enumerate(self.reference_buttons):
                button.description = self._reference_name(k)
            for menu, value in ((self.end_a, a), (self.end_b, b)):
                menu.options = options
                menu.value = value
        finally:
            self._renaming = False

    def _reference_name(self, k: int) -> str:
        """'night 2': the k-th reference, by its time of day (numbered within that time)."""
        time = self.reference_times[k]
        return f"{time} {self.reference_times[:k + 1].count(time)}"

    def _reference_source(self, k: int) -> str:
        _, dst = _sides(self._direction)
        return (f"style of reference {self._reference_name(k)} (test item "
                f"{self.references[k]}, {DOMAIN_SEASONS[dst]})")

    # ---- drawing -------------------------------------------------------------------------
    def _images(self, **values: float) -> dict:
        """LatentExplorer's function: the input, the output with its verdict, the true render."""
        src, dst = _sides(self._direction)
        s = torch.tensor([values[n] for n in self._names], dtype=torch.float32)
        if not torch.equal(s, self._code):  # a slider moved by hand
            self._code, self._source, self._choice = s, "moved by hand", None
        photo = self.model.decode(self._content, s[None], dst)[0].detach().float().cpu()
        shown = to_uint8(photo)
        # Judge the output as shown (8 bits per channel), so that a student who saves the image
        # and scores it gets the same numbers.
        as_shown = from_uint8(shown)[None]
        season, time = (int(v[0]) for v in season_and_time(as_shown))
        target = DOMAIN_SEASONS[dst]
        accuracy = score_seasons(as_shown, self.labels[None], target)["pixel_accuracy"]
        items = {f"labels_{src}": self.labels[None]}
        faithful = bool(self.dataset.faithful(self.x[None], as_shown, items, self._direction)[0])
        self.verdicts = {"season": SEASONS[season], "time": TIMES_OF_DAY[time],
                         "pixel_accuracy": accuracy, "target_season": target,
                         "faithful": faithful}
        truth = self.dataset.render(src, self.index, time=time, season=target)["B"]
        mark = ("<span style='color:#1a7f37'>✔ faithful</span>" if faithful else
                "<span style='color:#b00020'>✘ not faithful</span>")
        season_html = (f"<b>{SEASONS[season]}</b>" if SEASONS[season] == target else
                       f"<b style='color:#b00020'>{SEASONS[season]}</b>")
        output_caption = (f"looks like {season_html}, <b>{TIMES_OF_DAY[time]}</b><br>"
                          f"content kept: pixel accuracy {accuracy:.2f}<br>{mark}")
        input_caption = (f"{DOMAIN_SEASONS[src]}, {self.input_time} (test item {self.index})<br>"
                         "its label map scores the content")
        truth_caption = (f"the scene in {target} at {TIMES_OF_DAY[time]}: the right answer for "
                         "the time of day the output shows")
        self._note(s)

        def caption(text):
            return f"<div style='text-align:center;font-size:12px;line-height:1.5'>{text}</div>"

        return {self.INPUT: (self.x, caption(input_caption)),
                self.OUTPUT: (shown, caption(output_caption)),
                self.TRUTH: (truth, caption(truth_caption))}

    def _note(self, s: torch.Tensor) -> None:
        _, dst = _sides(self._direction)
        self.code_note.value = (
            f"<div style='font-size:12px;line-height:1.5'><b>s</b>: {html.escape(self._source)}"
            f"<br>decoded by the {DOMAIN_SEASONS[dst]} decoder; |s| = {s.norm():.2f} (codes "
            f"from N(0, I) have |s| ≈ {math.sqrt(self.style_dim):.2f})</div>")

    def arrays(self) -> dict[str, np.ndarray | None]:
        """What every image shows now, read back from the widgets: {title: (H, W, 3) uint8}
        (enlarged ``scale`` times)."""
        self.throttle.flush()
        return self.latent.arrays()

    def _layout(self):
        import ipywidgets as w

        views, captions = self.latent.views, self.latent.captions
        columns = [w.VBox([views[t].widget, captions[t]]) for t in views]
        views[self.INPUT].image.add_class("coursekit-input-photo")
        views[self.OUTPUT].image.add_class("coursekit-model-photo")
        views[self.TRUTH].image.add_class("coursekit-true-render")
        for view in self.reference_views:
            view.image.add_class("coursekit-reference-photo")

        def heading(text):
            return w.HTML(f"<b>{text}</b>")

        side = max(THUMBNAIL, self.size * self._thumb_scale) + 4
        references = w.GridBox(
            [w.VBox([view.widget, button], layout=w.Layout(align_items="center"))
             for view, button in zip(self.reference_views, self.reference_buttons)],
            layout=w.Layout(grid_template_columns=f"repeat(3, {side}px)", grid_gap="4px"))
        top = w.HBox([self.direction,
                      w.HBox([self.previous_button, self.item, self.next_button],
                             layout=w.Layout(margin="0 0 0 24px"))])
        controls = w.HBox([
            w.VBox([heading("style code s"), self.code_note, *self.sliders,
                    w.HBox([self.random_button, self.zero_button])],
                   layout=w.Layout(margin="0 16px 0 0", width="300px")),
            w.VBox([heading("copy the style of a reference photo"), references],
                   layout=w.Layout(margin="0 16px 0 0")),
            w.VBox([heading("between two references (linear)"), self.end_a, self.end_b,
                    self.t]),
        ], layout=w.Layout(flex_flow="row wrap"))
        return w.VBox([top, w.HBox(columns, layout=w.Layout(flex_flow="row wrap")),
                       self.status, controls])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _first_of_each_time(dataset, side: str, n: int) -> list[int]:
    """The first ``n`` items (in order) whose ``side`` shows each time of day, grouped by time."""
    found: dict[int, list[int]] = {t: [] for t in range(len(TIMES_OF_DAY))}
    for i in range(len(dataset)):
        t = dataset.time_of(side, i)
        if len(found[t]) < n:
            found[t].append(i)
        if all(len(v) == n for v in found.values()):
            break
    return [i for t in found for i in found[t]]


def _check_model(model, dataset):
    from coursekit.models.munit import MUNIT

    if not isinstance(model, MUNIT):
        raise TypeError(f"model must be a MUNIT (coursekit.models.munit, e.g. "
                        f"coursekit.pretrained.load('munit-seasons')): the explorer needs its "
                        f"content and style encoders; got {type(model).__name__}")
    if not isinstance(dataset, SyntheticSeasons):
        raise TypeError(f"dataset must be synthetic seasons (get_dataset('synthetic-seasons', "
                        f"split='test', size=...)): the explorer scores against its label maps "
                        f"and renders its true answers; got {type(dataset).__name__}")
    c = model.config
    if (c.channels_A, c.channels_B) != (3, 3):
        raise ValueError(f"the model must translate RGB photos both ways, got channels "
                         f"{c.channels_A} and {c.channels_B}")
    if c.image_size != dataset.size:
        raise ValueError(f"the model makes {c.image_size}-px photos but the dataset's images "
                         f"are {dataset.size} px: open it with size={c.image_size}")
    return model


def _check_references(references, dataset):
    if isinstance(references, bool):
        raise TypeError("references must be an int (per time of day) or a list of item indices")
    if isinstance(references, (int, np.integer)):
        if references < 1:
            raise ValueError(f"references must be at least 1 per time of day, got {references}")
        return int(references)
    if not isinstance(references, (list, tuple)) or not references:
        raise TypeError("references must be an int (per time of day) or a non-empty list of "
                        f"item indices, got {references!r}")
    return [_check_index(i, dataset) for i in references]
