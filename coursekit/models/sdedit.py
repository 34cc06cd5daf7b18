"""SDEdit: guided image synthesis and editing by diffusing, then denoising.

Meng, He, Song, Song, Wu, Zhu, Ermon, ICLR 2022. A diffusion model trained only on photos
(``coursekit.models.ddpm``) turns a guide it has never seen (a stroke painting, a collage, a
photo with a painted-over region) into a photo, with no paired data and no training for the
task:

1. **Diffuse**: perturb the guide to noise level t0 in one draw (the forward process, Eq. 4
   of DDPM): x(t0) = sqrt(alphabar_{t0}) x_guide + sqrt(1 - alphabar_{t0}) eps.
2. **Denoise**: run the learned reverse process from t0 down to 0.

The noise hides the guide's details (flat strokes, hard edges, wrong textures) but not its
coarse layout and colours, and the reverse process can only produce images that look like the
training photos. t0 sets the trade-off that the paper measures: small t0 keeps the guide
(faithful, unrealistic), t0 = 1 forgets it (a realistic sample of anything); the paper
recommends t0 in [0.3, 0.6].

**Repeats.** SDEdit's code runs the whole perturb-denoise cycle K times (``--sample_step``,
default 3), each re-noising the previous output, not the guide: each cycle moves the image a
little further towards the photos while the strokes' layout survives. It costs K x t0 x T
network calls.

**Masked editing.** With a mask of the pixels to keep, after every reverse step those pixels
are replaced by the original noised to the level the step has reached, so the generated region
is made to agree with its surroundings at every noise level. (SDEdit's code noises them to the
level before the step, one step too noisy, and reuses one noise draw for all steps; here each
step draws fresh noise at the right level, and the last step pastes the original itself.)
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from coursekit.nn.diffusion import Schedule, q_sample, reverse_step, timesteps

#: The noise levels of the trade-off table: the paper's sweep of t0 in [0, 1].
T0_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@torch.no_grad()
def sdedit(model: nn.Module, guide: Tensor, t0: float = 0.5, repeats: int = 1,
           steps: int | None = None, eta: float = 1.0, mask: Tensor | None = None,
           generator: torch.Generator | None = None) -> Tensor:
    """SDEdit of ``guide`` (N, C, H, W) in [-1, 1] with ``model``, a trained
    ``coursekit.models.ddpm.DDPM`` (its ``schedule`` and noise prediction ``eps(x, t)``).

    Args:
        t0: the noise level in (0, 1], a fraction of the T steps: the guide is noised to step
            n = round(t0 T) (at least 1) and denoised through n ancestral steps.
        repeats: K, the number of perturb-denoise cycles, each starting from the previous
            output.
        steps: None for every reverse step (the reference); else at most ``steps`` DDIM jumps
            (with ``eta``) over the n levels, for a CPU.
        mask: 1 where the guide is kept as it is, 0 where it is generated (broadcastable to
            the guide, e.g. (N, 1, H, W)); None generates everywhere.
        generator: a CPU generator for every noise draw (reproducible on any device).
    """
    channels = model.config.channels
    if guide.ndim != 4 or guide.shape[1] != channels:
        raise ValueError(f"the guide must be a batch (N, {channels}, H, W) in [-1, 1]; got "
                         f"shape {tuple(guide.shape)}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if mask is not None and mask.ndim != 4:
        raise ValueError(f"the mask must be (N or 1, 1 or C, H, W) with 1 = keep, got shape "
                         f"{tuple(mask.shape)}")
    schedule, device = model.schedule, model.device
    start = schedule.index(t0)  # n steps: the noised guide sits at 0-based step n - 1
    visit = timesteps(schedule.num_timesteps, start, steps)
    guide = guide.to(device)
    mask = None if mask is None else mask.to(device, guide.dtype)

    def noise() -> Tensor:
        return torch.randn(guide.shape, generator=generator).to(device)

    def level(step: int) -> Tensor:
        return torch.full((len(guide),), step, device=device, dtype=torch.long)

    x = guide
    for _ in range(repeats):
        # 1. Diffuse the previous output (the guide in the first cycle) to level t0.
        x = q_sample(schedule, x, level(start - 1), noise())
        # 2. Denoise back to an image.
        for k, t in enumerate(visit):
            s = visit[k + 1] if k + 1 < len(visit) else -1
            x = reverse_step(schedule, model.eps(x, t), x, t, s, eta, noise())
            if mask is not None:
                # The kept pixels at the level x has just reached: noised afresh, or the guide
                # itself after the last step.
                known = q_sample(schedule, guide, level(s), noise()) if s >= 0 else guide
                x = mask * known + (1 - mask) * x
    return x


def network_calls(t0: float, repeats: int = 1, steps: int | None = None,
                  num_timesteps: int = 1000) -> int:
    """How many evaluations of the denoiser ``sdedit`` makes per image."""
    start = Schedule(num_timesteps).index(t0)
    return repeats * len(timesteps(num_timesteps, start, steps))


@torch.no_grad()
def tradeoff(model: DDPM, dataset, t0s=T0_GRID, repeats=(1, 3), steps: int | None = None,
             max_items: int = 64, batch_size: int = 16, seed: int = 0,
             metrics: Callable[[Callable[[Tensor], Tensor]], dict] | None = None) -> list[dict]:
    """The realism-faithfulness trade-off: for every K in ``repeats`` and t0 in ``t0s``, SDEdit
    of the first ``max_items`` guides ("A") of ``dataset``, scored by the dataset
    (synthetic-strokes: ``faithfulness``, ``realism`` and their distances) and ``l1`` to the
    photos ("B"). Each row has ``t0``, ``repeats`` and ``network_calls`` (per image) as well;
    every row draws its noise from ``seed``.

    ``metrics``: more scores per row, from a function given the row's edit (guides -> edits,
    the same noise again), e.g. the paper's KID with
    ``coursekit.data.standard_metrics.standard_metrics``."""
    from coursekit.data.evaluation import evaluate_paired

    rows = []
    for k in repeats:
        for t0 in t0s:
            def edit(generator: torch.Generator) -> Callable[[Tensor], Tensor]:
                """This row's SDEdit, every batch drawing from ``generator``."""
                return lambda x: sdedit(model, x, t0, k, steps, generator=generator).clamp(-1, 1)

            scores = evaluate_paired(edit(torch.Generator().manual_seed(seed)), dataset, "AtoB",
                                     batch_size=batch_size, max_items=max_items)
            if metrics is not None:  # the same edits again: the same noise from the start
                scores.update(metrics(edit(torch.Generator().manual_seed(seed))))
            rows.append({"t0": t0, "repeats": k,
                         "network_calls": network_calls(t0, k, steps, model.schedule.num_timesteps),
                         **scores})
    return rows


#: Columns :func:`format_tradeoff` adds when the rows have them (``tradeoff(metrics=...)``).
_STANDARD_COLUMNS = (("fid", "FID", 8, 2), ("kid_mean", "KID", 8, 4), ("lpips", "LPIPS", 6, 3))


def format_tradeoff(rows: list[dict]) -> str:
    """The rows of :func:`tradeoff` as a text table."""
    extra = [c for c in _STANDARD_COLUMNS if rows and c[0] in rows[0]]
    lines = [f"{'K':>2} {'t0':>4} {'calls':>6} {'faithful':>8} {'realism':>7} "
             f"{'real. dist':>10} {'L1 photo':>8}" + "".join(f" {h:>{w}}" for _, h, w, _ in extra)]
    for r in rows:
        lines.append(f"{r['repeats']:>2} {r['t0']:>4.2f} {r['network_calls']:>6} "
                     f"{r.get('faithfulness', float('nan')):>8.3f} "
                     f"{r.get('realism', float('nan')):>7.3f} "
                     f"{r.get('realism_distance', float('nan')):>10.2f} {r['l1']:>8.3f}"
                     + "".join(f" {r[k]:>{w}.{d}f}" for k, _, w, d in extra))
    return "\n".join(lines)
