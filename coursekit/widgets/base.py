"""What every coursekit widget is made of: images as PNG bytes, an image view that updates in
place, and a throttle that keeps a slow callback from piling up work.

Only core ipywidgets are used (``Image``, ``HTML``, boxes), so everything runs on JupyterLab 4
with ipywidgets 8 and on Colab's ipywidgets 7 alike.
"""
from __future__ import annotations

import asyncio
import io
from typing import Any, Callable

import numpy as np

__all__ = ["to_uint8", "from_uint8", "png_bytes", "read_png", "Throttle", "ImageView", "error_html"]


def to_uint8(img) -> np.ndarray:
    """An image as an (H, W, 3) uint8 array. Accepts a torch tensor (3, H, W) or (1, H, W)
    in [-1, 1] (coursekit's convention), or a NumPy array (H, W, 3) / (H, W), float in [0, 1]
    or uint8."""
    if hasattr(img, "detach"):  # a torch tensor: channels first, values in [-1, 1]
        t = img.detach().float().cpu()
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"a tensor image must have shape (3, H, W) or (1, H, W) with values "
                             f"in [-1, 1], got {tuple(t.shape)}")
        arr = ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    else:
        arr = np.asarray(img)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
            raise ValueError(f"an array image must have shape (H, W, 3) or (H, W), "
                             f"got {arr.shape}")
        if arr.dtype != np.uint8:
            arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def from_uint8(image: np.ndarray):
    """The inverse of :func:`to_uint8` for a shown image: (H, W, 3) uint8 -> a float tensor
    (3, H, W) in [-1, 1]. Scores computed on it are those of the image exactly as shown."""
    import torch

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"from_uint8 takes an (H, W, 3) uint8 image, got {arr.dtype} "
                         f"{arr.shape}")
    # A copy: PIL and read_png give read-only arrays, which torch warns about.
    return torch.from_numpy(np.array(arr)).permute(2, 0, 1).float() / 127.5 - 1


def png_bytes(img, scale: int = 1) -> bytes:
    """``img`` (see :func:`to_uint8`) encoded as PNG, enlarged ``scale`` times with nearest
    neighbours: a 64-px label map stays crisp on screen instead of being smoothed by the
    browser."""
    from PIL import Image

    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    arr = to_uint8(img)
    if scale > 1:
        arr = arr.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", compress_level=1)  # fast: sent live
    return buffer.getvalue()


def read_png(data: bytes) -> np.ndarray:
    """PNG bytes (e.g. an ``ipywidgets.Image``'s ``value``) -> (H, W, 3) uint8 array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB"))


def error_html(error: BaseException) -> str:
    """An exception as a short red line for a widget's status area."""
    import html

    return (f"<span style='color:#b00020'><b>{type(error).__name__}</b>: "
            f"{html.escape(str(error))}</span>")


def _event_loop_call_later(delay: float, callback: Callable[[], None]):
    """``loop.call_later`` on the running event loop (a Jupyter kernel has one), or None when
    no loop runs (a plain script, a test): the caller then works synchronously."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_later(delay, callback)


class Throttle:
    """Calls ``fn(value)`` for the *latest* value only, at most once per ``interval`` seconds.

    A slider sends a value for every step it passes; when ``fn`` (a model's forward pass, a
    render) is slower than that, calling it for every value would queue work for seconds
    after the student let go. Instead:

    * when idle, a value is handled at once (a single click answers immediately);
    * values that arrive within ``interval`` after a call only replace the pending value;
    * when the interval (counted from the *end* of the call) is over, the latest pending
      value is handled. A burst of any length costs two calls and ends on its last value.

    ``call_later(delay, callback)`` schedules the end of an interval and returns a handle
    with ``cancel()``; the default uses the running asyncio loop (every Jupyter kernel has
    one). Without a loop (plain Python, tests) every value is handled synchronously. Tests
    pass a fake ``call_later`` to control time.

    Errors raised by ``fn`` go to ``on_error`` (default: re-raised).
    """

    def __init__(self, fn: Callable[[Any], None], interval: float = 0.05, *,
                 call_later: Callable[[float, Callable[[], None]], Any] | None = None,
                 on_error: Callable[[BaseException], None] | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if not interval >= 0:
            raise ValueError(f"interval must be >= 0 seconds, got {interval!r}")
        self.fn, self.interval = fn, float(interval)
        self._call_later = call_later or _event_loop_call_later
        self.on_error = on_error
        self._timer = None  # the handle of the interval in progress, None when idle
        self._pending = False
        self._value = None
        self.calls = 0  # how many times fn ran (the tests count them)

    def __call__(self, value: Any = None) -> None:
        self._value, self._pending = value, True
        if self._timer is None:
            self._run()

    def flush(self) -> None:
        """Handle the pending value now, if there is one (e.g. before reading the result)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._run()

    def _run(self) -> None:
        value, self._pending = self._value, False
        self.calls += 1
        try:
            self.fn(value)
        except Exception as error:  # noqa: BLE001 - shown to the student, not lost in a log
            if self.on_error is None:
                raise
            self.on_error(error)
        finally:
            self._timer = self._call_later(self.interval, self._interval_over)

    def _interval_over(self) -> None:
        self._timer = None
        if self._pending:
            self._run()


class ImageView:
    """An ``ipywidgets.Image`` showing one image, updated in place by :meth:`show` (the widget
    is never re-displayed, so nothing flickers or jumps). ``array`` is the image last shown, as
    the student sees it (enlarged ``scale`` times)."""

    def __init__(self, size: int, scale: int = 1, title: str | None = None):
        import ipywidgets as w

        self.scale = scale
        side = f"{size * scale}px"
        self.image = w.Image(format="png", width=size * scale, height=size * scale,
                             layout=w.Layout(width=side, height=side))
        self.title = w.HTML(f"<div style='text-align:center;font-size:12px'>{title}</div>"
                            if title else "", layout=w.Layout(width=side))
        self.widget = w.VBox([self.title, self.image])

    def show(self, img) -> None:
        self.image.value = png_bytes(img, self.scale)

    @property
    def array(self) -> np.ndarray | None:
        """The displayed image read back from the widget, (H, W, 3) uint8 (None if empty)."""
        return read_png(self.image.value) if self.image.value else None

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
