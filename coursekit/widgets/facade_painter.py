"""The facade painter: edit a synthetic facade's layout with widgets and watch trained
labels -> photo models translate it at once.

The painter edits a :class:`~coursekit.data.synthetic.facades.FacadeLayout` (floors, window
columns, each window, the door, each balcony) and re-renders the label map with the dataset's
own renderer and palette, so what the models see is exactly the kind of input they were
trained on. With ``style`` set, the renderer's photo of the edited layout is shown as well:
the ground truth the models should be close to.
"""
from __future__ import annotations

from typing import Callable, Mapping

from coursekit.data.synthetic.facades import (FACADE_STYLES, MAX_COLUMNS, MIN_FLOOR_HEIGHT,
                                              FacadeLayout, label_image, render_labels,
                                              render_photo)
from coursekit.widgets.base import Throttle, error_html
from coursekit.widgets.views import CompareView

__all__ = ["FacadePainter"]


class FacadePainter:
    """Widgets that edit a facade layout, and the models' photos of it side by side.

    Args:
        models: ``{title: function}``, each mapping a batch of label images (N, 3, H, W) in
            [-1, 1] to photos, e.g. ``{"L1+cGAN": method.translate}``; or one function.
        layout: where to start, e.g. ``SyntheticFacades("test").layout(3)``.
        size: the models' image size in pixels (32..256).
        style: a name or index from ``FACADE_STYLES`` to also show the renderer's photo of the
            edited facade in that style (the ground truth); None to leave it out.
        interval: seconds between two updates while a slider is being dragged (see
            :class:`~coursekit.widgets.base.Throttle`); ``call_later`` is for tests.

    The controls are attributes, so a test (or a curious student) can drive the painter from
    Python: ``floors`` and ``columns`` (IntSlider), ``door`` (Dropdown: a column or None),
    ``window_buttons[floor][column]`` and ``balcony_buttons[floor]`` (ToggleButton),
    ``reset_button``. ``layout`` is the current layout and ``view`` the images
    (:class:`~coursekit.widgets.views.CompareView`).
    """

    INPUT = "label map (input)"

    def __init__(self, models: Mapping[str, Callable] | Callable, layout: FacadeLayout,
                 size: int, *, style: int | str | None = None, interval: float = 0.05,
                 call_later: Callable | None = None):
        import ipywidgets as w

        if callable(models) and not isinstance(models, Mapping):
            models = {"model": models}
        if not isinstance(layout, FacadeLayout):
            raise TypeError(f"layout must be a FacadeLayout, e.g. SyntheticFacades('test')"
                            f".layout(3), got {type(layout).__name__}")
        self.size = int(size)
        self.start = self.layout = layout
        self.style = None if style is None else (FACADE_STYLES[style] if isinstance(style, int)
                                                 else style)
        reference = None if self.style is None else f"true photo ({self.style.split(',')[0]})"
        self.view = CompareView(models, self.size, input_title=self.INPUT,
                                reference_title=reference)
        self.status = w.HTML("")
        self.throttle = Throttle(lambda _: self._render(), interval, call_later=call_later,
                                 on_error=self._show_error)

        most_floors = int((1.0 - layout.wall_top) / MIN_FLOOR_HEIGHT)
        self.floors = w.IntSlider(value=layout.floors, min=2, max=most_floors,
                                  description="floors", continuous_update=True)
        self.columns = w.IntSlider(value=layout.columns, min=2, max=MAX_COLUMNS,
                                   description="columns", continuous_update=True)
        self.door = w.Dropdown(description="door")
        self.reset_button = w.Button(description="reset")
        self.grid = w.GridBox(layout=w.Layout(grid_gap="2px"))
        self.window_buttons: list[list] = []
        self.balcony_buttons: list = []
        self._syncing = False  # True while the controls are being set from the layout
        self._build_grid_and_door()

        self.floors.observe(lambda ch: self._edit(lambda l: l.with_floors(ch["new"]), True),
                            names="value")
        self.columns.observe(lambda ch: self._edit(lambda l: l.with_columns(ch["new"]), True),
                             names="value")
        self.door.observe(lambda ch: self._edit(lambda l: l.with_door(ch["new"])), names="value")
        self.reset_button.on_click(lambda _: self.reset())

        help_text = w.HTML("<small><b>W</b>: a window (one button per window, top floor "
                           "first); <b>B</b>: the floor's balcony; <b>·</b>: none. Click to "
                           "switch. Move a window or the door by switching it off in one "
                           "place and on in another.</small>")
        controls = w.VBox([self.floors, self.columns, self.door, help_text, self.grid,
                           self.reset_button])
        self.widget = w.VBox([self.view.widget, controls, self.status])
        self.widget.add_class("coursekit-facade-painter")
        self._render()

    # ---- the layout <-> the controls ---------------------------------------------------------
    def _build_grid_and_door(self) -> None:
        """(Re)create the window and balcony buttons and the door's choices for the layout."""
        import ipywidgets as w

        lay = self.layout
        self._syncing = True
        try:
            cell = w.Layout(width="30px", height="24px", padding="0px")
            windows = lay.windows
            self.window_buttons = [[w.ToggleButton(value=bool(windows[f, c]), layout=cell)
                                    for c in range(lay.columns)] for f in range(lay.floors)]
            self.balcony_buttons = [w.ToggleButton(value=bool(lay.balconies[f]), layout=cell)
                                    for f in range(lay.floors - 1)]
            for f, row in enumerate(self.window_buttons):
                for c, button in enumerate(row):
                    _look(button, "window")
                    button.observe(self._window_handler(f, c), names="value")
            for f, button in enumerate(self.balcony_buttons):
                _look(button, "balcony")
                button.observe(self._balcony_handler(f), names="value")
            children = []
            for f, row in enumerate(self.window_buttons):
                children += row
                children.append(self.balcony_buttons[f] if f < lay.floors - 1
                                else w.HTML("<small>ground</small>", layout=cell))
            self.grid.layout.grid_template_columns = f"repeat({lay.columns + 1}, 30px)"
            self.grid.children = children
            self.door.options = [("none", None)] + [(f"column {c + 1}", c)
                                                    for c in range(lay.columns)]
            self.door.value = lay.door_col
        finally:
            self._syncing = False

    def _window_handler(self, floor: int, column: int):
        def handler(change):
            _look(change["owner"], "window")
            self._edit(lambda l: l.with_window(floor, column, change["new"]))
        return handler

    def _balcony_handler(self, floor: int):
        def handler(change):
            _look(change["owner"], "balcony")
            self._edit(lambda l: l.with_balcony(floor, change["new"]))
        return handler

    def _edit(self, change: Callable[[FacadeLayout], FacadeLayout], rebuild: bool = False) -> None:
        if self._syncing:
            return
        try:
            self.layout = change(self.layout)
        except ValueError as error:
            self._show_error(error)
            return
        if rebuild:
            self._build_grid_and_door()
        self.throttle()

    def reset(self) -> None:
        """Back to the starting layout."""
        self.layout = self.start
        self._syncing = True
        try:
            self.floors.value, self.columns.value = self.start.floors, self.start.columns
        finally:
            self._syncing = False
        self._build_grid_and_door()
        self.throttle()

    # ---- drawing -----------------------------------------------------------------------------
    def _render(self) -> None:
        labels = render_labels(self.layout, self.size)
        reference = (None if self.style is None
                     else render_photo(self.layout, self.style, self.size))
        self.view.set_input(label_image(labels), reference)
        self.status.value = ""

    def _show_error(self, error: BaseException) -> None:
        self.status.value = error_html(error)

    def arrays(self):
        """What every image shows now: {title: (H, W, 3) uint8}, read back from the widgets."""
        return self.view.arrays()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _look(button, kind: str) -> None:
    """Make a toggle's state visible at a glance: a coloured, labelled button when the window
    or balcony is there, a plain dot when it is not (ipywidgets' pressed look is subtle)."""
    on = bool(button.value)
    button.description = ("W" if kind == "window" else "B") if on else "·"
    button.button_style = ("info" if kind == "window" else "warning") if on else ""
