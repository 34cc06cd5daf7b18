"""The landscape painter: paint a semantic label map and watch label map -> photo models
(SPADE, pix2pix, a ResNet generator with InstanceNorm, ...) draw it side by side.

The map is a class-index map of :data:`~coursekit.data.synthetic.landscapes.LANDSCAPE_CLASSES`
at the models' size: start from a test item's layout or from a blank sky-over-grass scene,
then paint on a coarse grid of cells with the brushes, move the horizon, add a lake or a
cluster of trees, or make the whole map one class (the "uniform map" buttons: the wash-out
experiment of SPADE's thesis, §2.3: an InstanceNorm generator that reads the map only at its
input draws nearly the same picture for every uniform map; SPADE does not).

Under every photo: its pixel accuracy against the painted map and the classes it recovers,
from :func:`~coursekit.data.synthetic.landscapes.segment_landscapes` of the photo exactly as
shown (8 bits per channel). With a SPADE model in VAE mode, a style picker: one button per
true style (a test item's render in that style, encoded by each VAE model's own encoder,
i.e. ``synthesize(m, style=render)``), and "random style" (z from N(0, I)).
"""
from __future__ import annotations

import html
from typing import Callable, Mapping

import numpy as np
import torch

from coursekit.data.metrics import segmentation_scores
from coursekit.data.synthetic.landscapes import (CLOUD, GRASS, LANDSCAPE_CLASSES,
                                                 LANDSCAPE_PALETTE, LANDSCAPE_STYLES, SAND, SKY,
                                                 TREE, WATER, SyntheticLandscapes,
                                                 classify_landscape_style, segment_landscapes)
from coursekit.data.synthetic.render import palette_image, to_tensor
from coursekit.widgets.base import ImageView, Throttle, error_html, from_uint8, to_uint8
from coursekit.widgets.views import _display_scale

__all__ = ["LandscapePainter"]

BRUSHES = ("square", "disc", "rectangle", "row", "fill")
GROUND = (WATER, GRASS, SAND)  # what lies below the horizon (and never above it)
RECOVERED = 0.5  # a class is recovered when at least this fraction of its pixels is segmented as it
THUMBNAIL = 64  # px: the true renders beside the style buttons
UNDO_DEPTH = 100
BLANK_HORIZON = 0.55  # the blank scene's horizon, as a fraction of the height


class LandscapePainter:
    """A label map the student paints, and several models' photos of it side by side.

    Args:
        models: ``{title: model}``, or one model. A model is any object with
            ``translate(label_colours) -> photos`` (SPADE, pix2pix, a wrapped ResNet/IN
            generator...), or a function doing the same: it gets a batch (1, 3, S, S) of label
            colours in [-1, 1] (:data:`LANDSCAPE_PALETTE`, the items' ``"A"``) and returns
            photos (1, 3, S, S) in [-1, 1]. SPADE models in VAE mode draw from the style code
            the style picker chooses (``synthesize(m, z=...)``) instead.
        start: where to begin: None (a blank scene: sky over grass), an int (that item of the
            synthetic-landscapes test split) or a class-index map (S, S) (NumPy or torch, e.g.
            ``SyntheticLandscapes("test", size=64).layout(3)``).
        size: the map's side S in pixels; by default the start map's, or the models'
            ``config.image_size``. Must be the models' size and a multiple of ``grid``.
        grid: painting cells across the map (a ``grid`` x ``grid`` board of buttons).
        seed: seeds the random codes, lakes and trees; every model also runs under
            ``torch.manual_seed(seed)`` (the global RNG is left as it was), so that pix2pix's
            test-time dropout draws the same masks for every map: a photo changes only because
            the map did.
        style_item: the test item whose true renders the style buttons encode (default:
            ``start`` if it is an int, else 0).
        scale: how many times the images are enlarged on screen (default: to about 192 px).
        interval: seconds between two redraws while a slider is dragged (see
            :class:`~coursekit.widgets.base.Throttle`); ``call_later`` is for tests.

    **Coordinates.** A cell is ``(row, column)`` of the painting grid, row 0 at the top and
    column 0 at the left: the order of the map's own index ``labels[y, x]`` (y down, x right).
    With ``k = S // grid`` pixels per cell, cell ``(r, c)`` covers ``labels[r*k:(r+1)*k,
    c*k:(c+1)*k]``. The horizon is a pixel row: rows ``>= horizon`` are the ground.

    **Controls** (attributes, so a test or a curious student can drive the painter from
    Python):

    * ``class_buttons``: one per class, in its palette colour: the class to paint with
      (``current_class``).
    * ``brush`` (ToggleButtons) and ``brush_size`` (IntSlider, in cells), applied where a
      ``cell_buttons[row][col]`` is clicked (or by :meth:`paint`):

      - ``square``: a square of ``2 * size - 1`` cells centred on the cell;
      - ``disc``: the pixels whose centres lie within ``size - 0.5`` cells of the cell's centre;
      - ``rectangle``: two clicks, two opposite corner cells; the cells between them, both
        included;
      - ``row``: the cell's row of cells across the whole width;
      - ``fill``: the region of the class under the cell's centre pixel (4-connected).

    * ``horizon`` (IntSlider, a pixel row): above it no ground (water, grass, sand become sky),
      from it down no sky (sky and cloud become grass); mountains, snow and trees stay. A drag
      is one edit, applied to the map as it was before the drag.
    * ``lake_button``: a lake hanging from the horizon (a half ellipse of water over grass and
      sand, with a sandy shore over grass). ``trees_button``: a cluster of conifers or round
      trees standing on the ground. Both random (seeded).
    * ``uniform_buttons``: the whole map one class.
    * ``undo_button``, ``reset_button`` (back to the start; undoable).
    * With a SPADE model in VAE mode: ``style_buttons`` (one per
      :data:`LANDSCAPE_STYLES`, beside its true render) give each VAE model its own
      encoder's code of that render; ``random_style_button`` draws a code from N(0, I). Other
      models do not change. Without one, ``style_buttons`` is empty and
      ``random_style_button`` None.

    Read back: ``labels`` (the map, (S, S) int64), ``arrays()`` (the images shown,
    {title: (H, W, 3) uint8}, enlarged ``scale`` times), ``scores`` (for each model, as shown
    under its photo: ``pixel_accuracy``, ``class_accuracy`` and ``class_iou`` as
    :func:`~coursekit.data.synthetic.landscapes.score_landscapes` gives them for the photo as
    shown, each present class's ``recall``, the ``recovered`` classes (recall >= 0.5) and the
    ``missed`` ones, and the ``style`` the photo looks like) and ``codes`` (each VAE model's
    code).

    Example::

        from coursekit.widgets import LandscapePainter
        LandscapePainter({"SPADE": spade_model, "pix2pix": pix2pix_model,
                          "ResNet + IN": in_model}, start=3)
    """

    LABELS = "painted label map"

    def __init__(self, models, start=None, *, size: int | None = None, grid: int = 16,
                 seed: int = 0, style_item: int | None = None, scale: int | None = None,
                 interval: float = 0.05, call_later: Callable | None = None):
        import ipywidgets as w

        self.models = _check_models(models, self.LABELS)
        self.size = _infer_size(self.models, start, size)
        self.grid = _check_grid(grid, self.size)
        self.cell = self.size // self.grid
        _check_model_sizes(self.models, self.size)
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._gen = torch.Generator().manual_seed(self.seed)
        self.start = _start_map(start, self.size)
        self._labels = self.start.copy()
        self._undo: list[tuple[np.ndarray, int]] = []
        self._horizon_base: np.ndarray | None = None  # the map before the current horizon drag
        self._corner: tuple[int, int] | None = None  # the rectangle's first corner
        self._syncing = False
        self.current_class = WATER
        self.scores: dict[str, dict] = {}

        # Style codes of the SPADE models in VAE mode.
        self.vae_titles = [t for t, m in self.models.items() if _is_vae(m)]
        self.codes: dict[str, torch.Tensor] = {}
        self._style_source = ""
        self._style_photos: list[torch.Tensor] = []
        if self.vae_titles:
            item = (start if isinstance(start, (int, np.integer)) and not isinstance(start, bool)
                    else 0) if style_item is None else style_item
            test = SyntheticLandscapes("test", size=self.size)
            if isinstance(item, bool) or not isinstance(item, (int, np.integer)) \
                    or not 0 <= int(item) < len(test):
                raise ValueError(f"style_item must be an item of the test split, 0.."
                                 f"{len(test) - 1}, got {item!r}")
            self.style_item = int(item)
            self._style_photos = [r["B"] for r in test.all_styles(self.style_item)]
            self._draw_codes()
        else:
            self.style_item = None

        # The images.
        scale = _display_scale(self.size) if scale is None else int(scale)
        self.views = {t: ImageView(self.size, scale, t) for t in [self.LABELS, *self.models]}
        width = f"{self.size * scale}px"
        self.captions = {t: w.HTML("", layout=w.Layout(width=width)) for t in self.views}
        self.status = w.HTML("")
        self.hint = w.HTML("")
        self.throttle = Throttle(lambda _: self._render(), interval, call_later=call_later,
                                 on_error=self._show_error)

        # The controls.
        self.class_buttons = []
        for k, name in enumerate(LANDSCAPE_CLASSES):
            button = w.Button(description=name, tooltip=f"paint with {name}",
                              layout=w.Layout(width="96px", height="28px", margin="1px",
                                              border="3px solid transparent"))
            _colour(button, k)
            button.on_click(lambda _, k=k: self.pick_class(k))
            self.class_buttons.append(button)
        self.brush = w.ToggleButtons(
            options=list(BRUSHES), value="square",
            tooltips=["a square of 2 x size - 1 cells", "a disc of radius size - 0.5 cells",
                      "click two opposite corners", "the whole row of cells",
                      "the region of one class (paint bucket)"],
            style={"button_width": "74px"})
        self.brush.observe(lambda _: self._cancel_corner(), names="value")
        self.brush_size = w.IntSlider(value=2, min=1, max=max(1, self.grid // 2),
                                      description="size", continuous_update=False,
                                      layout=w.Layout(width="260px"),
                                      style={"description_width": "56px"})
        self.horizon = w.IntSlider(value=_horizon_of(self.start), min=0, max=self.size,
                                   description="horizon", continuous_update=True,
                                   layout=w.Layout(width="260px"),
                                   style={"description_width": "56px"})
        self.horizon.observe(self._horizon_moved, names="value")
        self.lake_button = w.Button(description="add lake", icon="tint",
                                    layout=w.Layout(width="110px"))
        self.trees_button = w.Button(description="add trees", icon="tree",
                                     layout=w.Layout(width="110px"))
        self.undo_button = w.Button(description="undo", icon="undo",
                                    layout=w.Layout(width="110px"))
        self.reset_button = w.Button(description="reset", layout=w.Layout(width="110px"))
        self.lake_button.on_click(lambda _: self.add_lake())
        self.trees_button.on_click(lambda _: self.add_trees())
        self.undo_button.on_click(lambda _: self.undo())
        self.reset_button.on_click(lambda _: self.reset())
        self.uniform_buttons = []
        for k, name in enumerate(LANDSCAPE_CLASSES):
            button = w.Button(description=f"all {name}", tooltip=f"the whole map {name}",
                              layout=w.Layout(width="96px", height="28px", margin="1px"))
            _colour(button, k)
            button.on_click(lambda _, k=k: self.uniform(k))
            self.uniform_buttons.append(button)
        cell_layout = w.Layout(width="16px", height="16px", padding="0px", margin="0px")
        self.cell_buttons = [[w.Button(description="", tooltip=f"row {r}, column {c}",
                                       layout=cell_layout) for c in range(self.grid)]
                             for r in range(self.grid)]
        for r, row in enumerate(self.cell_buttons):
            for c, button in enumerate(row):
                button.on_click(lambda _, r=r, c=c: self.paint(r, c))
                button.add_class("coursekit-cell")
        self._cell_colours = np.full((self.grid, self.grid), -1)
        self.style_buttons = []
        self.random_style_button = None
        self.style_views: list[ImageView] = []
        self.style_note = w.HTML("")
        if self.vae_titles:
            thumb = min(self.size, THUMBNAIL)
            for k, style in enumerate(LANDSCAPE_STYLES):
                view = ImageView(thumb, max(1, THUMBNAIL // thumb))
                photo = self._style_photos[k]
                if self.size > THUMBNAIL:
                    photo = torch.nn.functional.interpolate(
                        photo[None], size=THUMBNAIL, mode="bilinear", antialias=True)[0]
                view.show(photo)
                self.style_views.append(view)
                button = w.Button(description=style, tooltip=f"z = E(item {self.style_item} "
                                                             f"in {style})",
                                  layout=w.Layout(width="96px"))
                button.on_click(lambda _, k=k: self.encode_style(k))
                self.style_buttons.append(button)
            self.random_style_button = w.Button(description="random style", icon="random",
                                                tooltip="z from N(0, I)",
                                                layout=w.Layout(width="140px"))
            self.random_style_button.on_click(lambda _: self.random_style())
        self.pick_class(self.current_class)

        self.widget = self._layout()
        self.widget.add_class("coursekit-landscape-painter")
        self._render()  # the first images at once: a model that fails fails here, loudly

    # ---- the map -----------------------------------------------------------------------------
    @property
    def labels(self) -> np.ndarray:
        """The painted map: (S, S) int64 class indices into ``LANDSCAPE_CLASSES``."""
        return self._labels.copy()

    def set_labels(self, labels) -> None:
        """Replace the whole map ((S, S) class indices); undoable. The horizon slider moves to
        the new map's horizon (its first row with water, grass or sand)."""
        self._commit(_check_map(labels, self.size, "labels"), sync_horizon=True)

    def label_colours(self) -> torch.Tensor:
        """The map as the models get it: label colours (1, 3, S, S) in [-1, 1]."""
        return _colours(self._labels)[None]

    def pick_class(self, k: int) -> None:
        """Paint with class ``k`` (an index into ``LANDSCAPE_CLASSES``) from now on."""
        k = _check_class(k)
        self.current_class = k
        for j, button in enumerate(self.class_buttons):
            button.layout.border = "3px solid #000" if j == k else "3px solid transparent"
            button.description = ("✔ " if j == k else "") + LANDSCAPE_CLASSES[j]

    def paint(self, row: int, col: int) -> None:
        """Apply the current brush with the current class at cell (row, col), as a click on
        ``cell_buttons[row][col]`` does."""
        r, c = self._check_cell(row, col)
        brush, k, size = self.brush.value, self.current_class, int(self.brush_size.value)
        if brush == "rectangle" and self._corner is None:
            self._corner = (r, c)
            self.cell_buttons[r][c].description = "◆"
            self.hint.value = (f"<small>rectangle from cell ({r}, {c}): now click the "
                               f"opposite corner</small>")
            return
        new = self._labels.copy()
        new[self._mask(brush, r, c, size)] = k
        self._cancel_corner()
        self._commit(new)

    def _mask(self, brush: str, r: int, c: int, size: int) -> np.ndarray:
        """The pixels the brush covers at cell (r, c): a boolean (S, S) mask."""
        s, k = self.size, self.cell
        mask = np.zeros((s, s), bool)
        if brush == "square":
            r0, r1 = max(0, r - size + 1), min(self.grid, r + size)
            c0, c1 = max(0, c - size + 1), min(self.grid, c + size)
            mask[r0 * k:r1 * k, c0 * k:c1 * k] = True
        elif brush == "disc":
            yy, xx = np.mgrid[0:s, 0:s] + 0.5
            cy, cx = (r + 0.5) * k, (c + 0.5) * k
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= ((size - 0.5) * k) ** 2
        elif brush == "rectangle":
            (ra, ca), (rb, cb) = self._corner, (r, c)
            mask[min(ra, rb) * k:(max(ra, rb) + 1) * k, min(ca, cb) * k:(max(ca, cb) + 1) * k] = True
        elif brush == "row":
            mask[r * k:(r + 1) * k, :] = True
        elif brush == "fill":
            mask = _region(self._labels, r * k + k // 2, c * k + k // 2)
        else:
            raise ValueError(f"unknown brush {brush!r}; brushes are {BRUSHES}")
        return mask

    def uniform(self, k: int) -> None:
        """The whole map class ``k``."""
        self._commit(np.full((self.size, self.size), _check_class(k), np.int64),
                     sync_horizon=True)

    def add_lake(self) -> None:
        """A lake hanging from the horizon, at a random place: water over grass and sand
        inside a half ellipse below the horizon, a sandy shore over the grass around it."""
        s, h = self.size, int(self.horizon.value)
        room = s - h
        if room < max(2, s // 16):
            return self._tell("no ground below the horizon for a lake: lower the horizon")
        u = self._rng.uniform
        cx, half = u(0.15, 0.85) * s, u(0.15, 0.35) * s
        depth = min(u(0.25, 0.6) * room, 0.3 * s)
        yy, xx = np.mgrid[0:s, 0:s] + 0.5
        below = yy >= h
        inside = ((xx - cx) / half) ** 2 + ((yy - h) / depth) ** 2
        shore_w = max(1.0, 0.03 * s)
        new = self._labels.copy()
        on_grass = new == GRASS
        shore = below & on_grass & ((((xx - cx) / (half + shore_w)) ** 2
                                     + ((yy - h) / (depth + shore_w)) ** 2) <= 1)
        new[shore] = SAND
        new[below & np.isin(self._labels, (GRASS, SAND)) & (inside <= 1)] = WATER
        if np.array_equal(new, self._labels):
            return self._tell("the lake found no grass or sand below the horizon")
        self._commit(new)

    def add_trees(self) -> None:
        """A cluster of 3 to 7 trees (conifers or round crowns) standing on the ground below
        the horizon, bigger when nearer (lower)."""
        s, h = self.size, int(self.horizon.value)
        if h >= s - 1:
            return self._tell("no ground below the horizon for trees: lower the horizon")
        u, rng = self._rng.uniform, self._rng
        base = u(h + 0.3 * (s - h), s)  # the y the trees stand on (a pixel boundary or between)
        near = (base - h) / max(s - h, 1)
        n = int(rng.integers(3, 8))
        xs = (u(0.1, 0.9) + u(0.04, 0.12) * rng.standard_normal(n)) * s
        heights = (0.08 + 0.3 * near) * u(0.7, 1.2, n) * s
        heights = np.maximum(heights, 3.0)
        conifer = rng.random() < 0.5
        yy, xx = np.mgrid[0:s, 0:s] + 0.5
        trees = np.zeros((s, s), bool)
        for x0, height in zip(xs, heights):
            dx = np.abs(xx - x0)
            if conifer:  # a triangle: half-width 0.32 height at the base, a point on top
                half = 0.32 * height
                trees |= (dx < half) & (yy <= base) & (yy >= base - height * (1 - dx / half))
            else:  # a round crown on a trunk
                radius = 0.4 * height
                cy = base - height + radius
                trees |= (dx ** 2 + (yy - cy) ** 2 <= radius ** 2)
                trees |= (dx < max(0.5, 0.06 * height)) & (yy >= cy) & (yy <= base)
        new = self._labels.copy()
        new[trees] = TREE
        self._commit(new)

    def undo(self) -> None:
        """Back to the map before the last edit (a horizon drag is one edit)."""
        if not self._undo:
            return self._tell("nothing to undo")
        labels, horizon = self._undo.pop()
        self._labels, self._horizon_base = labels, None
        self._cancel_corner()
        self._set_horizon(horizon)
        self.throttle()

    def reset(self) -> None:
        """Back to the starting map (undoable)."""
        self._commit(self.start.copy(), sync_horizon=True)

    def _commit(self, labels: np.ndarray, sync_horizon: bool = False) -> None:
        """Make ``labels`` the map (one undo step) and redraw."""
        self._push_undo()
        self._labels, self._horizon_base = labels, None
        self._cancel_corner()
        self.hint.value = ""
        if sync_horizon:
            self._set_horizon(_horizon_of(labels))
        self.throttle()

    def _push_undo(self) -> None:
        self._undo.append((self._labels, int(self.horizon.value)))
        del self._undo[:-UNDO_DEPTH]

    # ---- the horizon ---------------------------------------------------------------------------
    def _horizon_moved(self, change) -> None:
        if self._syncing:
            return
        if self._horizon_base is None:  # the first step of a drag: one undo step for all
            self._undo.append((self._labels, int(change["old"])))
            del self._undo[:-UNDO_DEPTH]
            self._horizon_base = self._labels
        self._labels = _with_horizon(self._horizon_base, int(change["new"]))
        self._cancel_corner()
        self.throttle()

    def _set_horizon(self, row: int) -> None:
        self._syncing = True
        try:
            self.horizon.value = int(row)
        finally:
            self._syncing = False

    # ---- styles (SPADE in VAE mode) --------------------------------------------------------------
    def encode_style(self, style: int | str) -> None:
        """Each VAE model's own encoder's code of the style item's true render in ``style``
        (an index or a name from ``LANDSCAPE_STYLES``): the code ``synthesize(m, style=render)``
        draws from."""
        if not self.vae_titles:
            raise ValueError("no model here is a SPADE model in VAE mode (config.use_vae): "
                             "there is no style to choose")
        k = style if isinstance(style, (int, np.integer)) and not isinstance(style, bool) else (
            LANDSCAPE_STYLES.index(style) if style in LANDSCAPE_STYLES else -1)
        if not 0 <= k < len(LANDSCAPE_STYLES):
            raise ValueError(f"style must be an index 0..{len(LANDSCAPE_STYLES) - 1} or a name "
                             f"from LANDSCAPE_STYLES {LANDSCAPE_STYLES}, got {style!r}")
        photo = self._style_photos[k][None]
        with torch.no_grad():
            for title in self.vae_titles:
                model = self.models[title]
                encoder = _unwrap(model.E)
                self.codes[title] = encoder(photo.to(_device(model)))[0][0].detach().float().cpu()
        self._style_source = f"encoded {LANDSCAPE_STYLES[k]} (test item {self.style_item})"
        self.throttle()

    def random_style(self) -> None:
        """A new code from N(0, I) for each VAE model (a seeded generator)."""
        self._draw_codes()
        self.throttle()

    def _draw_codes(self) -> None:
        for title in self.vae_titles:
            self.codes[title] = torch.randn(self.models[title].config.nz, generator=self._gen)
        self._style_source = "a random code from N(0, I)"

    # ---- drawing -------------------------------------------------------------------------------
    def photo(self, title: str) -> torch.Tensor:
        """Model ``title``'s photo (3, S, S) of the current map, as the painter makes it (under
        ``torch.manual_seed(seed)``, VAE models from their code in ``codes``)."""
        return self._photo(title, self.models[title], self.label_colours())

    def _photo(self, title: str, model, x: torch.Tensor) -> torch.Tensor:
        try:
            with torch.no_grad(), _seeded(self.seed):
                if title in self.codes:
                    code = self.codes[title][None].to(_device(model))
                    y = model.synthesize(model.one_hot(x.to(_device(model))), z=code)
                else:
                    y = (model.translate if hasattr(model, "translate") else model)(x)
        except Exception as error:  # noqa: BLE001 - said with what the model was given
            raise ValueError(f"models[{title!r}] failed on a label map, label colours "
                             f"(1, 3, {self.size}, {self.size}) in [-1, 1]: "
                             f"{type(error).__name__}: {error}") from error
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != (1, 3, self.size, self.size):
            raise ValueError(f"models[{title!r}] must make one photo (1, 3, {self.size}, "
                             f"{self.size}) from a (1, 3, {self.size}, {self.size}) label map, "
                             f"got {tuple(getattr(y, 'shape', ())) or type(y).__name__}")
        return y[0].detach().float().cpu()

    def _render(self) -> None:
        labels = torch.from_numpy(self._labels)
        x = _colours(self._labels)[None]
        shown = {title: to_uint8(self._photo(title, model, x))
                 for title, model in self.models.items()}
        self.views[self.LABELS].show(x[0])
        for title, image in shown.items():
            self.views[title].show(image)
        # Judge the photos as shown (8 bits per channel): a student who saves one and scores
        # it with score_landscapes gets the same numbers.
        # One image at a time, exactly as score_landscapes(photo[None], labels[None]) segments.
        present = [k for k in range(len(LANDSCAPE_CLASSES)) if (labels == k).any()]
        self.scores = {}
        for title, image in shown.items():
            photo = from_uint8(image)[None]
            pred = segment_landscapes(photo)[0]
            style = int(classify_landscape_style(photo)[0])
            hits = pred == labels
            recall = {LANDSCAPE_CLASSES[k]: float(hits[labels == k].double().mean())
                      for k in present}
            self.scores[title] = {
                **segmentation_scores(pred, labels, len(LANDSCAPE_CLASSES)),
                "recall": recall,
                "recovered": [c for c, r in recall.items() if r >= RECOVERED],
                "missed": [c for c, r in recall.items() if r < RECOVERED],
                "style": LANDSCAPE_STYLES[style]}
            self.captions[title].value = self._caption(title)
        counts = np.bincount(self._labels.ravel(), minlength=len(LANDSCAPE_CLASSES))
        self.captions[self.LABELS].value = _small(
            "classes: " + ", ".join(f"{LANDSCAPE_CLASSES[k]} {counts[k] / counts.sum():.0%}"
                                    for k in present))
        self._colour_cells()
        if self.vae_titles:
            self.style_note.value = _small(f"<b>style</b>: {html.escape(self._style_source)}")
        self.status.value = ""

    def _caption(self, title: str) -> str:
        s = self.scores[title]
        recovered = ", ".join(s["recovered"]) or "none"
        text = (f"pixel accuracy <b>{s['pixel_accuracy']:.2f}</b><br>"
                f"recovers: {html.escape(recovered)}")
        if s["missed"]:
            text += (f"<br><span style='color:#b00020'>misses: "
                     f"{html.escape(', '.join(s['missed']))}</span>")
        text += f"<br>looks like {html.escape(s['style'])}"
        if title in self.codes:
            text += "<br><i>style code: see the style picker</i>"
        return _small(text)

    def _colour_cells(self) -> None:
        """Each grid cell in the colour of its most common class (only cells that changed)."""
        k, g, n = self.cell, self.grid, len(LANDSCAPE_CLASSES)
        blocks = self._labels.reshape(g, k, g, k).transpose(0, 2, 1, 3).reshape(g, g, k * k)
        counts = (blocks[..., None] == np.arange(n)).sum(2)
        majority = counts.argmax(2)
        for r, c in zip(*np.nonzero(majority != self._cell_colours)):
            _colour(self.cell_buttons[r][c], int(majority[r, c]), text=False)
        self._cell_colours = majority

    def _cancel_corner(self) -> None:
        if self._corner is not None:
            r, c = self._corner
            self.cell_buttons[r][c].description = ""
            self._corner = None
            self.hint.value = ""

    def _tell(self, text: str) -> None:
        self.hint.value = f"<small><i>{html.escape(text)}</i></small>"

    def _check_cell(self, row, col) -> tuple[int, int]:
        for name, v in (("row", row), ("col", col)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) \
                    or not 0 <= v < self.grid:
                raise ValueError(f"{name} must be a cell index 0..{self.grid - 1} (row 0 at the "
                                 f"top, column 0 at the left), got {v!r}")
        return int(row), int(col)

    def _show_error(self, error: BaseException) -> None:
        self.status.value = error_html(error)

    def arrays(self) -> dict[str, np.ndarray | None]:
        """What every image shows now, read back from the widgets: {title: (H, W, 3) uint8}
        (enlarged ``scale`` times)."""
        self.throttle.flush()
        return {t: v.array for t, v in self.views.items()}

    def _layout(self):
        import ipywidgets as w

        def heading(text):
            return w.HTML(f"<b>{text}</b>")

        columns = []
        for title, view in self.views.items():
            view.image.add_class("coursekit-label-map" if title == self.LABELS
                                 else "coursekit-model-photo")
            columns.append(w.VBox([view.widget, self.captions[title]],
                                  layout=w.Layout(margin="0 8px 0 0")))
        images = w.HBox(columns, layout=w.Layout(flex_flow="row wrap"))
        board = w.GridBox([b for row in self.cell_buttons for b in row], layout=w.Layout(
            grid_template_columns=f"repeat({self.grid}, 16px)", grid_gap="1px"))
        two = "repeat(2, 98px)"
        paint = w.VBox([heading("paint: click a cell"), board, self.hint],
                       layout=w.Layout(margin="0 20px 0 0"))
        tools = w.VBox([
            heading("class"),
            w.GridBox(self.class_buttons, layout=w.Layout(grid_template_columns=two)),
            heading("brush"), self.brush, self.brush_size,
            heading("scene"), self.horizon,
            w.HBox([self.lake_button, self.trees_button]),
            w.HBox([self.undo_button, self.reset_button]),
        ], layout=w.Layout(margin="0 20px 0 0"))
        right = [heading("uniform map (the wash-out experiment)"),
                 w.GridBox(self.uniform_buttons, layout=w.Layout(grid_template_columns=two))]
        if self.vae_titles:
            styles = w.GridBox(
                [w.VBox([view.widget, button], layout=w.Layout(align_items="center"))
                 for view, button in zip(self.style_views, self.style_buttons)],
                layout=w.Layout(grid_template_columns="repeat(3, 100px)", grid_gap="4px"))
            right += [heading(f"style (VAE: {html.escape(', '.join(self.vae_titles))})"),
                      self.style_note, styles, self.random_style_button]
        controls = w.HBox([paint, tools, w.VBox(right)], layout=w.Layout(flex_flow="row wrap"))
        return w.VBox([images, self.status, controls])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


# ---- helpers -----------------------------------------------------------------------------------
def _small(text: str) -> str:
    return f"<div style='text-align:center;font-size:12px;line-height:1.4'>{text}</div>"


def _colour(button, k: int, text: bool = True) -> None:
    """A button in class k's palette colour, its text readable on it. ipywidgets 7 has no
    text colour: the dark classes' colour is lightened there so black text reads."""
    r, g, b = (int(v) for v in LANDSCAPE_PALETTE[k])
    dark = 0.299 * r + 0.587 * g + 0.114 * b < 128
    has_text_colour = "text_color" in button.style.trait_names()
    if text and dark and not has_text_colour:
        r, g, b = ((v + 255) // 2 for v in (r, g, b))
    button.style.button_color = f"#{r:02x}{g:02x}{b:02x}"
    if text and has_text_colour:
        button.style.text_color = "white" if dark else "black"


def _colours(labels: np.ndarray) -> torch.Tensor:
    """(S, S) class indices -> label colours (3, S, S) in [-1, 1], exactly as the dataset
    makes its items' ``"A"``."""
    return to_tensor(palette_image(labels, LANDSCAPE_PALETTE))


def _horizon_of(labels: np.ndarray) -> int:
    """The first row holding water, grass or sand (the dataset's horizon: nothing above it is
    ground); the map's height when there is none."""
    rows = np.nonzero(np.isin(labels, GROUND).any(1))[0]
    return int(rows[0]) if rows.size else int(labels.shape[0])


def _with_horizon(labels: np.ndarray, row: int) -> np.ndarray:
    """``labels`` with its horizon at ``row``: no ground above, no sky or cloud from it down."""
    new = labels.copy()
    above, below = new[:row], new[row:]
    above[np.isin(above, GROUND)] = SKY
    below[np.isin(below, (SKY, CLOUD))] = GRASS
    return new


def _region(labels: np.ndarray, y: int, x: int) -> np.ndarray:
    """The 4-connected region of pixel (y, x)'s class, as a boolean mask (grown by repeated
    dilation inside the class: no SciPy needed)."""
    same = labels == labels[y, x]
    region = np.zeros_like(same)
    region[y, x] = True
    while True:
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= same
        if np.array_equal(grown, region):
            return region
        region = grown


class _seeded:
    """``torch.manual_seed(seed)`` inside, the global RNG (CPU and CUDA) as it was after."""

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self):
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
        self._fork = torch.random.fork_rng(devices=devices)
        self._fork.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        return self._fork.__exit__(*exc)


def _unwrap(module):
    return getattr(module, "module", module)


def _device(model) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


def _is_vae(model) -> bool:
    from coursekit.models.spade import SPADEModel

    return isinstance(model, SPADEModel) and bool(model.config.use_vae)


def _check_models(models, labels_title: str) -> dict:
    if not isinstance(models, Mapping):
        models = {"model": models}
    if not models:
        raise ValueError("models must be a model or a non-empty dict {title: model}, each with "
                         "translate(label_colours) -> photos (SPADE, pix2pix, ...); got an "
                         "empty dict")
    for title, model in models.items():
        if not (callable(getattr(model, "translate", None)) or callable(model)):
            raise TypeError(f"models[{title!r}] must have translate(label_colours) -> photos "
                            f"(or be such a function), got {type(model).__name__}")
        if title == labels_title:
            raise ValueError(f"{labels_title!r} is the label map's title; name the model "
                             "otherwise")
        direction = getattr(getattr(model, "config", None), "direction", "AtoB")
        if direction != "AtoB":
            raise ValueError(f"models[{title!r}] translates in direction {direction!r}; the "
                             "painter needs label map -> photo models ('AtoB')")
    return dict(models)


def _model_size(model) -> int | None:
    size = getattr(getattr(model, "config", None), "image_size", None)
    return int(size) if isinstance(size, (int, np.integer)) else None


def _infer_size(models: dict, start, size) -> int:
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
            raise ValueError(f"size must be an int of at least 16 px (the segmenter's least), "
                             f"got {size!r}")
        return int(size)
    if start is not None and hasattr(start, "shape") and len(start.shape) == 2:
        return int(start.shape[0])
    sizes = {s for s in map(_model_size, models.values()) if s is not None}
    if len(sizes) == 1:
        return sizes.pop()
    raise ValueError("give size=... (the models' image size): it is not in a start map and the "
                     f"models' configs give {sorted(sizes) or 'none'}")


def _check_grid(grid, size: int) -> int:
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) \
            or not 2 <= grid <= size or size % grid:
        raise ValueError(f"grid must be a whole divisor of the size {size} from 2 up (cells of "
                         f"whole pixels), got {grid!r}")
    return int(grid)


def _check_model_sizes(models: dict, size: int) -> None:
    for title, model in models.items():
        own = _model_size(model)
        if own is not None and own != size:
            raise ValueError(f"models[{title!r}] makes {own}-px photos (config.image_size) but "
                             f"the map is {size} px: paint at size={own}, or give models of one "
                             "size")


def _check_class(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) \
            or not 0 <= k < len(LANDSCAPE_CLASSES):
        raise ValueError(f"a class must be an index 0..{len(LANDSCAPE_CLASSES) - 1} into "
                         f"LANDSCAPE_CLASSES {LANDSCAPE_CLASSES}, got {k!r}")
    return int(k)


def _check_map(labels, size: int, name: str) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.shape != (size, size):
        raise ValueError(f"{name} must be a class-index map of shape ({size}, {size}) (the "
                         f"models' size), got shape {arr.shape}")
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.array_equal(arr, arr.round())):
        raise ValueError(f"{name} must hold whole class indices, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= len(LANDSCAPE_CLASSES):
        raise ValueError(f"{name} must hold class indices 0..{len(LANDSCAPE_CLASSES) - 1} "
                         f"(LANDSCAPE_CLASSES), got {arr.min()}..{arr.max()}")
    return arr.astype(np.int64)


def _start_map(start, size: int) -> np.ndarray:
    if start is None:  # sky over grass
        labels = np.full((size, size), SKY, np.int64)
        labels[int(round(BLANK_HORIZON * size)):] = GRASS
        return labels
    if isinstance(start, (int, np.integer)) and not isinstance(start, bool):
        test = SyntheticLandscapes("test", size=size)
        if not 0 <= start < len(test):
            raise IndexError(f"start {start} is out of range: the test split has {len(test)} "
                             f"items, 0..{len(test) - 1}")
        return test.layout(int(start))
    return _check_map(start, size, "start")
