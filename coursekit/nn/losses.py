"""Adversarial losses on raw discriminator logits (no sigmoid inside D).

With D's logits ``d`` on real images ``y`` and on generated images ``G(x)``:

* ``vanilla`` (pix2pix, Isola et al. Eq. 1): the minimax cross-entropy loss
  ``L_D = -log sigmoid(D(y)) - log(1 - sigmoid(D(G(x))))``; the generator uses the
  non-saturating form ``L_G = -log sigmoid(D(G(x)))`` (Goodfellow et al. 2014, §3).
* ``lsgan`` (CycleGAN, Zhu et al. 2017 §4; Mao et al. 2017): least squares,
  ``L_D = (D(y) - 1)^2 + D(G(x))^2``, ``L_G = (D(G(x)) - 1)^2``.
* ``hinge`` (SPADE): ``L_D = max(0, 1 - D(y)) + max(0, 1 + D(G(x)))``, ``L_G = -D(G(x))``.

Each is averaged over every patch of a PatchGAN's output map. The discriminator loss is halved,
``0.5 (L_real + L_fake)``, as in the pix2pix paper ("we divide the objective by 2 while
optimizing D, which slows down the rate at which D learns relative to G"); BicycleGAN's
reference code does not halve it (``d_scale=1``). A multi-scale discriminator's scales are
averaged, or summed as in BicycleGAN's reference code (``scales="sum"``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_MODES = ("vanilla", "lsgan", "hinge")


class GANLoss(nn.Module):
    """``loss = GANLoss("vanilla")``; ``loss.discriminator(real_logits, fake_logits)``,
    ``loss.generator(fake_logits)``. Logits may be a tensor or a list of tensors (one per
    scale of a multi-scale discriminator); the losses of the scales are averaged
    (``scales="mean"``) or summed (``scales="sum"``)."""

    def __init__(self, mode: str = "vanilla", d_scale: float = 0.5, scales: str = "mean"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN loss {mode!r}; choose one of {GAN_MODES}")
        if scales not in ("mean", "sum"):
            raise ValueError(f"scales must be 'mean' or 'sum', got {scales!r}")
        self.mode = mode
        self.d_scale = d_scale
        self.scales = scales

    def real(self, logits: Tensor) -> Tensor:
        """Loss for logits that should say "real" (D on real images, or G fooling D)."""
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        if self.mode == "lsgan":
            return F.mse_loss(logits, torch.ones_like(logits))
        return F.relu(1.0 - logits).mean()

    def fake(self, logits: Tensor) -> Tensor:
        """Loss for logits that should say "fake" (D on generated images)."""
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
        if self.mode == "lsgan":
            return F.mse_loss(logits, torch.zeros_like(logits))
        return F.relu(1.0 + logits).mean()

    def discriminator(self, real_logits, fake_logits) -> Tensor:
        """``d_scale * (L_real + L_fake)``: pass the fake logits from a *detached* G(x)."""
        return self.d_scale * (self._over_scales(self.real, real_logits)
                               + self._over_scales(self.fake, fake_logits))

    def generator(self, fake_logits) -> Tensor:
        """The generator's adversarial loss on D's logits for G(x)."""
        if self.mode == "hinge":
            return self._over_scales(lambda t: -t.mean(), fake_logits)
        return self._over_scales(self.real, fake_logits)

    def _over_scales(self, fn, logits) -> Tensor:
        if not isinstance(logits, (list, tuple)):
            return fn(logits)
        total = sum(fn(t) for t in logits)
        return total if self.scales == "sum" else total / len(logits)


def feature_matching_loss(fake_features, real_features) -> Tensor:
    """pix2pixHD's feature matching (Wang et al. 2018, Eq. 4; SPADE keeps it, lambda 10):

        L_FM = 1/K * sum_k sum_i || D_k^(i)(x, y) - D_k^(i)(x, G(x)) ||_1

    over the K scales of a multi-scale discriminator and the layers i of each, *except the
    last* (the logits, which the GAN term already uses); each term the mean absolute
    difference, as the reference's ``L1Loss``. The real features are detached: the loss trains
    G to match D's statistics of real images, not D to move them.

    Args:
        fake_features, real_features: ``MultiScalePatchGAN.features`` of the generated and the
            real images (lists of K lists of tensors).
    """
    if len(fake_features) != len(real_features):
        raise ValueError(f"feature lists of {len(fake_features)} and {len(real_features)} scales")
    total = 0.0
    for fake, real in zip(fake_features, real_features):
        for f, r in zip(fake[:-1], real[:-1]):
            total = total + F.l1_loss(f, r.detach())
    return total / len(fake_features)
