"""SDEdit's noise level on a slider: a stroke guide, the noisy image the model starts from, the
photo it makes, and how faithful and how realistic that photo is, live.

Every output of a guide on the grid t0 x K x sample is computed when the guide is first shown
(``precompute`` edits in one pass per K and t0), so the sliders only swap images: they answer
at once on a CPU. The scores are those of the image as shown.
"""
from __future__ import annotations

import io

import numpy as np
import torch

from coursekit.widgets.base import ImageView, error_html, from_uint8
from coursekit.widgets.views import _display_scale, item_picker

__all__ = ["NoiseLevelExplorer"]


class NoiseLevelExplorer:
    """SDEdit with ``model`` (a trained ``coursekit.models.ddpm.DDPM``) on the stroke guides of
    ``dataset`` (``synthetic-strokes``) or on a PNG the student uploads.

    Controls: the item (guides of the test split), an upload box for one's own strokes, ``t0``
    (the noise level, on the grid ``t0s``), ``K`` (repeats) and ``sample`` (one of ``samples``
    noise draws). Shown: the guide, the guide noised to t0 (a fresh draw: what the reverse
    process starts from), the output, its faithfulness to the guide and its realism verdict
    and distance (``coursekit.data.synthetic.strokes.realism``), the photo the strokes were
    painted from where there is one, and this guide's curve of both scores over t0 with the
    current t0 marked. ``steps``: DDIM jumps per edit (None: every step; slow on a CPU)."""

    def __init__(self, model, dataset, index: int = 0, *, t0s=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                                                              0.7, 0.8, 0.9, 1.0),
                 repeats=(1, 3), samples: int = 3, steps: int | None = 20,
                 scale: int | None = None):
        import ipywidgets as w

        from coursekit.models.sdedit import network_calls

        if not callable(getattr(model, "eps", None)) or not hasattr(model, "schedule"):
            raise TypeError(f"model must be a trained coursekit DDPM (coursekit.models.ddpm), got "
                            f"{type(model).__name__}")
        self.t0s, self.repeats = tuple(float(t) for t in t0s), tuple(int(k) for k in repeats)
        if not self.t0s or not all(0 < t <= 1 for t in self.t0s):
            raise ValueError(f"t0s must be noise levels in (0, 1], got {t0s}")
        if not self.repeats or min(self.repeats) < 1 or samples < 1:
            raise ValueError(f"repeats must be >= 1 and samples >= 1, got {repeats}, {samples}")
        self.model, self.dataset, self.samples, self.steps = model.eval(), dataset, samples, steps
        self.size = model.config.image_size
        scale = _display_scale(self.size) if scale is None else scale
        self.views = {name: ImageView(self.size, scale, title) for name, title in (
            ("guide", "guide (strokes)"), ("noised", "guide noised to t0"),
            ("output", "SDEdit output"), ("photo", "the photo painted"))}
        self.views["guide"].image.add_class("coursekit-input-photo")
        self.views["output"].image.add_class("coursekit-model-photo")
        self.curve = w.Image(format="png", layout=w.Layout(width="330px"))
        self.t0 = w.SelectionSlider(options=[(f"{t:.1f}", t) for t in self.t0s],
                                    value=self.t0s[len(self.t0s) // 2], description="t0",
                                    continuous_update=True)
        self.k = w.ToggleButtons(options=[(f"K = {k}", k) for k in self.repeats],
                                 value=self.repeats[0], description="repeats")
        self.sample = w.ToggleButtons(options=[(str(s + 1), s) for s in range(samples)],
                                      value=0, description="sample")
        self.upload = w.FileUpload(accept="image/*", multiple=False,
                                   description="your strokes (PNG)")
        self.item, previous, following = item_picker(len(dataset), index, "guide",
                                                     self.show_item)
        self.status = w.HTML("")
        self.cost = w.HTML(
            f"<small>{network_calls(max(self.t0s), max(self.repeats), steps, model.schedule.num_timesteps)}"
            " network calls for the largest t0 and K; computed once per guide</small>")
        for control in (self.t0, self.k, self.sample):
            control.observe(lambda _: self._update(), names="value")
        self.upload.observe(self._uploaded, names="value")
        self.widget = w.VBox([
            w.HBox([self.item, previous, following, self.upload]),
            w.HBox([self.t0, self.k]), self.sample,
            w.HBox([v.widget for v in self.views.values()] + [self.curve]),
            self.status, self.cost])
        self.widget.add_class("coursekit-noise-explorer")
        self.show_item(index)

    # ------------------------------------------------------------------ guides
    def show_item(self, index: int) -> None:
        """Item ``index`` of the dataset: its strokes as the guide, its photo beside them."""
        item = self.dataset[index]
        if self.item.value != index:
            self.item.value = index  # calls back here
            return
        self.use_guide(item["A"], f"test item {index}", photo=item["B"])

    def use_guide(self, guide: torch.Tensor, name: str, photo: torch.Tensor | None = None):
        """Edit ``guide`` (3, H, W) in [-1, 1] at the model's size: every output of the grid
        is computed now, then shown."""
        if guide.shape != (3, self.size, self.size):
            raise ValueError(f"the guide must be (3, {self.size}, {self.size}), got "
                             f"{tuple(guide.shape)}")
        self.name, self.guide, self.photo = name, guide.float(), photo
        self.outputs, self.noised = self._precompute(self.guide)
        self._curves = {}
        self._update()

    def _uploaded(self, change) -> None:
        from coursekit.translate import _square

        files = change["new"]
        if not files:
            return
        entry = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        try:
            from PIL import Image

            image = Image.open(io.BytesIO(bytes(entry["content"]))).convert("RGB")
            guide = from_uint8(np.asarray(_square(image, self.size, "crop")))
            self.use_guide(guide, entry.get("name", "your strokes"))
        except Exception as error:  # a bad file: say so in the widget, keep the last guide
            self.status.value = error_html(error)

    @torch.no_grad()
    def _precompute(self, guide: torch.Tensor):
        """outputs[(K, sample)]: (len(t0s), 3, H, W); noised[sample]: the same for x(t0)."""
        from coursekit.models.sdedit import sdedit
        from coursekit.nn.diffusion import q_sample

        batch = guide[None].expand(self.samples, -1, -1, -1)
        outputs = {}
        for k in self.repeats:
            per_t0 = []
            for t0 in self.t0s:
                generator = torch.Generator().manual_seed(0)
                per_t0.append(sdedit(self.model, batch, t0, k, self.steps,
                                     generator=generator).cpu().clamp(-1, 1))
            stacked = torch.stack(per_t0, 1)  # (samples, t0s, 3, H, W)
            outputs.update({(k, s): stacked[s] for s in range(self.samples)})
        schedule, device = self.model.schedule, self.model.device
        noise = torch.randn(self.samples, *guide.shape, generator=torch.Generator().manual_seed(1))
        levels = torch.tensor([schedule.index(t0) - 1 for t0 in self.t0s], device=device)
        grid = guide[None].expand(len(self.t0s), -1, -1, -1).to(device)
        noised = {s: q_sample(schedule, grid, levels,
                              noise[s][None].expand_as(grid).to(device)).cpu()
                  for s in range(self.samples)}
        return outputs, noised

    # ------------------------------------------------------------------ display
    def _scores(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Per image (as shown): faithfulness to the guide, realism distance and verdict."""
        from coursekit.data.synthetic.landscapes import stroke_faithfulness
        from coursekit.data.synthetic.strokes import realism_per_image

        faithful = [stroke_faithfulness(image[None], self.guide[None])["score"]
                    for image in images]
        distance, passes = realism_per_image(images)
        return {"faithfulness": np.array(faithful), "realism_distance": distance.numpy(),
                "passes": passes.numpy()}

    def _curve_png(self, k: int) -> bytes:
        if k not in self._curves:
            shown = torch.cat([self._as_shown(self.outputs[(k, s)]) for s in range(self.samples)])
            scores = self._scores(shown)
            n = len(self.t0s)
            faith = scores["faithfulness"].reshape(self.samples, n).mean(0)
            real = scores["realism_distance"].reshape(self.samples, n).mean(0)
            self._curves[k] = (faith, real)
        faith, real = self._curves[k]
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(3.3, 2.4), dpi=100)
        ax.plot(self.t0s, faith, "o-", color="tab:blue", label="faithfulness")
        ax.set_xlabel("t0")
        ax.set_ylabel("faithfulness (1 = guide)", color="tab:blue", fontsize=8)
        ax.set_ylim(0, 1)
        twin = ax.twinx()
        twin.plot(self.t0s, real, "s-", color="tab:red", label="realism distance")
        twin.set_yscale("log")
        twin.set_ylabel("realism distance (lower = photo)", color="tab:red", fontsize=8)
        ax.axvline(self.t0.value, color="grey", ls="--")
        ax.set_title(f"{self.name}, K = {k} (mean of {self.samples} samples)", fontsize=8)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        return buffer.getvalue()

    def _as_shown(self, images: torch.Tensor) -> torch.Tensor:
        """Images rounded to 8 bits, as the student sees them."""
        return ((images + 1) * 127.5).round() / 127.5 - 1

    def _update(self) -> None:
        try:
            j = self.t0s.index(self.t0.value)
            k, s = self.k.value, self.sample.value
            self.views["guide"].show(self.guide)
            self.views["noised"].show(self.noised[s][j])
            self.views["output"].show(self.outputs[(k, s)][j])
            if self.photo is not None:
                self.views["photo"].show(self.photo)
            self.views["photo"].widget.layout.display = None if self.photo is not None else "none"
            scale = self.views["output"].scale
            shown = from_uint8(np.array(self.views["output"].array[::scale, ::scale]))[None]
            scores = self._scores(shown)
            verdict = "passes for a photo" if scores["passes"][0] else "does not pass for a photo"
            self.status.value = (
                f"<b>{self.name}</b>, t0 {self.t0.value:.1f}, K = {k}, sample {s + 1}: "
                f"faithfulness <b>{scores['faithfulness'][0]:.3f}</b> (1 = the guide); realism "
                f"distance <b>{scores['realism_distance'][0]:.2f}</b>, {verdict} (a real render "
                f"passes 95 % of the time)")
            self.curve.value = self._curve_png(k)
        except Exception as error:
            self.status.value = error_html(error)
            raise

    def arrays(self) -> dict[str, np.ndarray | None]:
        """The images shown, (H, W, 3) uint8, by view name."""
        return {name: view.array for name, view in self.views.items()}

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
