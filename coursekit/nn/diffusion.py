"""The diffusion process of DDPM (Ho et al. 2020) and DDIM's jumps (Song et al. 2021): the
fixed schedule and the steps that move an image between noise levels. The network that
predicts the noise and its training are ``coursekit.models.ddpm`` (whose docstring has the
equations); SDEdit (``coursekit.models.sdedit``) runs these steps from a guide.

Steps are 0-based, as arrays are indexed (and as in SDEdit's and diffusers' code): step ``i``
is the papers' t = i + 1, ``alphas_cumprod[i]`` is alphabar_{i+1}, and the clean image is
"step -1" (alphabar = 1).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Schedule", "q_sample", "predict_x0", "posterior", "p_sample", "ddim_step",
           "reverse_step", "timesteps"]


class Schedule(nn.Module):
    """The fixed quantities of the forward process, as non-persistent float32 buffers (they
    follow the model to its device and are recomputed, not stored in checkpoints).

    Computed in float64 and rounded once, as the SDEdit code does: alphabar_T = 4.0e-5 is a
    product of 1000 factors, and a float32 running product drifts by ~1e-5 relative."""

    def __init__(self, num_timesteps: int = 1000, beta_start: float = 1e-4,
                 beta_end: float = 0.02):
        super().__init__()
        if num_timesteps < 1:
            raise ValueError(f"num_timesteps must be >= 1, got {num_timesteps}")
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
        self.num_timesteps = num_timesteps
        betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
        alphas_cumprod = torch.cumprod(1 - betas, 0)
        previous = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])  # alphabar_{t-1}
        values = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": previous,
            # Eq. 7: beta~_t, 0 at the first step (x_0 is then known exactly).
            "posterior_variance": betas * (1 - previous) / (1 - alphas_cumprod),
            # Eq. 7's two coefficients of mu~_t: on x0_hat and on x_t.
            "posterior_coef_x0": betas * previous.sqrt() / (1 - alphas_cumprod),
            "posterior_coef_xt": (1 - betas).sqrt() * (1 - previous) / (1 - alphas_cumprod),
        }
        for name, value in values.items():
            self.register_buffer(name, value.float(), persistent=False)

    def at(self, name: str, t: Tensor, ndim: int = 4) -> Tensor:
        """Buffer ``name`` at 0-based indices ``t`` (N,), shaped (N, 1, 1, 1) to broadcast."""
        return getattr(self, name)[t].reshape(-1, *([1] * (ndim - 1)))

    def index(self, t0: float) -> int:
        """The number of steps that noise level ``t0`` in (0, 1] means: round(t0 T), at least 1
        (t0 = 0.001 is still one step, never a loop of zero steps)."""
        if not 0 < t0 <= 1:
            raise ValueError(f"the noise level t0 must be in (0, 1] (a fraction of the "
                             f"{self.num_timesteps} steps), got {t0}")
        return max(1, round(t0 * self.num_timesteps))


def q_sample(schedule: Schedule, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """Eq. 4: x_t = sqrt(alphabar_t) x0 + sqrt(1 - alphabar_t) noise, at 0-based steps ``t``
    (N,) (``t = i`` is alphabar_{i+1}: after i + 1 noising steps)."""
    abar = schedule.at("alphas_cumprod", t, x0.ndim)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def predict_x0(schedule: Schedule, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """Eq. 4 solved for x0: (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t), not clipped
    (the steps below clip it when asked: ``clip_x0``)."""
    abar = schedule.at("alphas_cumprod", t, xt.ndim)
    return (xt - (1 - abar).sqrt() * eps) / abar.sqrt()


def posterior(schedule: Schedule, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 6-7: the mean mu~_t(x_t, x_0) and variance beta~_t of q(x_{t-1} | x_t, x_0)."""
    mean = (schedule.at("posterior_coef_x0", t, xt.ndim) * x0
            + schedule.at("posterior_coef_xt", t, xt.ndim) * xt)
    return mean, schedule.at("posterior_variance", t, xt.ndim)


def p_sample(schedule: Schedule, eps: Tensor, xt: Tensor, t: Tensor,
             noise: Tensor | None = None, clip_x0: bool = False) -> Tensor:
    """One ancestral step (Algorithm 2, line 4) from x_t to x_{t-1}, given the network's noise
    prediction ``eps``: mu~_t(x_t, x0_hat) + sqrt(beta~_t) z, with no noise where t = 0 (the
    last step returns the mean). ``noise`` defaults to a fresh N(0, I) draw.

    ``clip_x0``: clip x0_hat to the images' range [-1, 1] first, as DDPM's sampler does (at
    high noise x0_hat is the network's small error divided by sqrt(alphabar_t), far outside
    it). SDEdit's code does not clip, nor does this by default."""
    x0 = predict_x0(schedule, xt, t, eps)
    if clip_x0:
        x0 = x0.clamp(-1, 1)
    mean, variance = posterior(schedule, x0, xt, t)
    if noise is None:
        noise = torch.randn_like(xt)
    last = (t == 0).reshape(-1, *([1] * (xt.ndim - 1)))
    return torch.where(last, mean, mean + variance.sqrt() * noise)


def ddim_step(schedule: Schedule, eps: Tensor, xt: Tensor, t: Tensor, s: Tensor,
              eta: float = 0.0, noise: Tensor | None = None, clip_x0: bool = False) -> Tensor:
    """DDIM's Eq. 12: from x_t to x_s for 0-based steps t > s (N,), where s = -1 is the clean
    image (alphabar = 1). ``eta`` = 0 is deterministic, 1 the ancestral step's variance.
    ``clip_x0``: as :func:`p_sample`; the direction term keeps the network's ``eps``."""
    abar_t = schedule.at("alphas_cumprod", t, xt.ndim)
    # alphabar before the first noising step is 1: prepend it, so index s + 1 covers s = -1.
    abar_s = torch.cat([schedule.alphas_cumprod.new_ones(1), schedule.alphas_cumprod])[s + 1]
    abar_s = abar_s.reshape_as(abar_t)
    x0 = predict_x0(schedule, xt, t, eps)
    if clip_x0:
        x0 = x0.clamp(-1, 1)
    sigma = eta * ((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)).sqrt()
    direction = (1 - abar_s - sigma**2).clamp_min(0).sqrt() * eps
    if noise is None:
        noise = torch.randn_like(xt) if eta > 0 else torch.zeros_like(xt)
    return abar_s.sqrt() * x0 + direction + sigma * noise


def timesteps(num_timesteps: int, start: int, steps: int | None = None) -> list[int]:
    """The 0-based steps a sampler visits from ``start`` (exclusive: x is at level ``start``,
    i.e. after ``start`` noising steps) down to the clean image, highest first.

    ``steps=None``: every one, ``start - 1, ..., 0`` (ancestral DDPM; ``start`` network calls).
    Otherwise ``steps`` levels evenly spaced over [0, start - 1], the top one included (at most
    ``start`` of them)."""
    if not 1 <= start <= num_timesteps:
        raise ValueError(f"start must be between 1 and {num_timesteps}, got {start}")
    if steps is None or steps >= start:
        return list(range(start - 1, -1, -1))
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    picked = torch.linspace(start - 1, 0, steps).round().long().tolist()
    return sorted(set(picked), reverse=True)


def reverse_step(schedule: Schedule, eps: Tensor, xt: Tensor, t: int, s: int, eta: float = 1.0,
                 noise: Tensor | None = None, clip_x0: bool = False) -> Tensor:
    """From x at step ``t`` to step ``s`` < t (-1: the clean image) for the whole batch: the
    ancestral step (:func:`p_sample`) when s = t - 1 and eta = 1, a DDIM jump otherwise."""
    tt = torch.full((len(xt),), t, device=xt.device, dtype=torch.long)
    if s == t - 1 and eta == 1.0:
        return p_sample(schedule, eps, xt, tt, noise, clip_x0)
    return ddim_step(schedule, eps, xt, tt, torch.full_like(tt, s), eta, noise, clip_x0)
