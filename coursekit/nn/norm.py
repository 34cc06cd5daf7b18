"""Normalisation layers: what each one normalises over, and what puts the scale back.

Every layer here computes ``(x - mu) / sqrt(var + eps)`` over some axes of an (N, C, H, W)
activation (the variance biased, ``eps`` inside the square root, unless said otherwise) and
then multiplies by a scale and adds a shift. They differ in the axes and in where the scale
and shift come from (Park's thesis §2.2-2.3):

=================  ===================  =====================================================
layer              statistics over      scale and shift
=================  ===================  =====================================================
BatchNorm          N, H, W per channel  learnt, one per channel (pix2pix)
InstanceNorm       H, W per image and   none (CycleGAN, CUT: ``affine=False``)
                   channel
AdaIN              H, W per image and   given per image and channel: another image's mean and
                   channel              std (style transfer), or an MLP of a style code (MUNIT)
LayerNorm (MUNIT)  C, H, W per image    learnt, one per channel; unbiased std, ``eps`` added to
                                        the std
SPADE              N, H, W per channel  given per channel *and pixel*: convolutions of the label
                   (BatchNorm) or H, W  map, ``norm(x) * (1 + gamma) + beta``
                   (InstanceNorm)
=================  ===================  =====================================================

The thesis's two claims about SPADE that can be checked exactly (tests/test_nn.py):

* **SPADE generalises AdaIN.** With a condition that is uniform in space (so that its
  ``gamma`` and ``beta`` are too: a 1x1 kernel), per-image statistics and N = 1, SPADE is AdaIN
  with scale ``1 + gamma`` and shift ``beta``, i.e. conditional instance normalisation.
* **Normalisation washes out uniform label maps, SPADE does not.** A convolution of a label map
  in which one class fills the image is constant over the image (away from zero padding), so
  InstanceNorm maps it to 0 *whatever the class*: "semantic information is totally lost". SPADE
  normalises only the activations, and the label map reaches every layer through ``gamma`` and
  ``beta``.

``norm_layer(kind, channels)`` builds the unconditional ones by name for the generators and
discriminators.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Return a fresh normalisation layer for ``channels`` feature maps."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        # affine=False and no running stats, as in the reference implementations.
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


def conv_bias_needed(kind: str) -> bool:
    """A conv followed by BatchNorm needs no bias (BN's shift replaces it); with InstanceNorm
    (affine=False) or no norm it does."""
    return kind != "batch"


def adain(x: Tensor, mean: Tensor, std: Tensor, eps: float = 1e-5) -> Tensor:
    """Adaptive instance normalisation (Huang & Belongie 2017):

        AdaIN(x; mean, std) = std * (x - mu(x)) / sqrt(var(x) + eps) + mean

    with mu and var over (H, W) for each image and channel, the variance biased and ``eps``
    inside the square root (as MUNIT's reference computes it through ``F.batch_norm``).

    Args:
        x: (N, C, H, W) activations.
        mean, std: (N, C) the scale and shift for each image and channel: a style image's
            channel means and standard deviations, or what a style code's MLP makes of them.
    """
    if x.ndim != 4:
        raise ValueError(f"adain expects activations of shape (N, C, H, W), got {tuple(x.shape)}")
    n, c = x.shape[:2]
    for name, value in (("mean", mean), ("std", std)):
        if tuple(value.shape) != (n, c):
            raise ValueError(f"adain: {name} must have shape (N, C) = {(n, c)}, one value per "
                             f"image and channel; got {tuple(value.shape)}")
    normalized = F.instance_norm(x, eps=eps)  # biased variance, eps inside the square root
    return normalized * std[:, :, None, None] + mean[:, :, None, None]


def channel_stats(x: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Each image's channel means and standard deviations ``sqrt(var + eps)`` (biased), (N, C)
    each: the statistics AdaIN transfers from a style image."""
    mean = x.mean(dim=(2, 3))
    return mean, (x.var(dim=(2, 3), unbiased=False) + eps).sqrt()


class LayerNorm(nn.Module):
    """MUNIT's layer normalisation (its decoder's upsampling layers): statistics over (C, H, W)
    of each image, ``(x - mean) / (std + eps)`` with the *unbiased* std and ``eps`` added to
    it, then a learnt scale and shift per channel (scale drawn from U(0, 1), shift 0, as the
    reference initialises them)."""

    def __init__(self, channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.channels, self.eps, self.affine = channels, eps, affine
        if affine:
            self.gamma = nn.Parameter(torch.rand(channels))
            self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1, unbiased=True).view(-1, 1, 1, 1)
        x = (x - mean) / (std + self.eps)
        if self.affine:
            x = x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)
        return x


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. CVPR 2019; thesis Eq. 2.1):

        SPADE(h, m) = norm(h) * (1 + gamma(m)) + beta(m)

    ``norm`` is parameter-free (BatchNorm without affine, the thesis's synchronized BatchNorm,
    or InstanceNorm); the label map ``m`` is resized to ``h``'s side by *nearest neighbour*
    (labels are categories: interpolating two of them means neither), embedded by a shared
    ``kernel x kernel`` conv with ReLU, and two convs of the embedding give ``gamma`` and
    ``beta``, one per channel and pixel. ``1 + gamma``: a zero ``gamma`` leaves the normalised
    activation as it is.

    Args:
        channels: channels of the activations ``h``.
        label_channels: channels of the label map (one-hot classes, 3 for a colour image).
        hidden: channels of the shared embedding (128 in the reference).
        kernel: the convs' kernel size (3 in the thesis; Table 2.4 compares 5, 3 and 1).
        norm: the parameter-free normalisation, "batch" or "instance".
    """

    def __init__(self, channels: int, label_channels: int, hidden: int = 128, kernel: int = 3,
                 norm: str = "batch"):
        super().__init__()
        if norm not in ("batch", "instance"):
            raise ValueError(f"SPADE's parameter-free norm must be 'batch' or 'instance', got {norm!r}")
        if kernel % 2 == 0:
            raise ValueError(f"SPADE's kernel must be odd to keep the map's size, got {kernel}")
        self.label_channels = label_channels
        self.norm = (nn.BatchNorm2d(channels, affine=False) if norm == "batch"
                     else nn.InstanceNorm2d(channels, affine=False))
        self.shared = nn.Sequential(
            nn.Conv2d(label_channels, hidden, kernel, padding=kernel // 2), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, kernel, padding=kernel // 2)
        self.beta = nn.Conv2d(hidden, channels, kernel, padding=kernel // 2)

    def modulation(self, labels: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """(gamma, beta) for a label map brought to ``size`` by nearest neighbour."""
        if labels.ndim != 4 or labels.shape[1] != self.label_channels:
            raise ValueError(f"SPADE expects a label map of shape (N, {self.label_channels}, H, W), "
                             f"got {tuple(labels.shape)}")
        embedding = self.shared(F.interpolate(labels, size=size, mode="nearest"))
        return self.gamma(embedding), self.beta(embedding)

    def forward(self, h: Tensor, labels: Tensor) -> Tensor:
        gamma, beta = self.modulation(labels, tuple(h.shape[-2:]))
        return self.norm(h) * (1 + gamma) + beta
