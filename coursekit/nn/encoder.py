"""The image encoder of BicycleGAN (Zhu et al. 2017, §3.3 and §4): an image -> a Gaussian
posterior q(z | B) = N(mu, diag(exp(logvar))) over a low-dimensional latent code z.

A strided 4x4 conv, then residual blocks that each halve the side (the main path: norm,
LeakyReLU, 3x3 conv, norm, LeakyReLU, 3x3 conv, 2x2 mean pool; the shortcut: 2x2 mean pool and
a 1x1 conv), widths ``nef * min(n + 1, 4)``, then a *global* average pool and two linear heads.
The reference code ends with a fixed 8x8 pool, which ties its encoder to one image size
(256 px for ``resnet_256``); pooling over whatever is left makes one encoder work at any size.

``reparameterize`` and ``kl_divergence`` are the VAE pieces (Kingma & Welling 2014) that
BicycleGAN, MUNIT and SPADE's style encoder share.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn.norm import norm_layer
from coursekit.nn.unet import check_image_batch


class ResidualDownBlock(nn.Module):
    """``pool(conv(act(norm(conv(act(norm(x)))))) + conv1x1(pool(x))``: a residual block that
    halves the side and changes the width from ``c_in`` to ``c_out``."""

    def __init__(self, c_in: int, c_out: int, norm: str = "instance"):
        super().__init__()
        self.main = nn.Sequential(
            norm_layer(norm, c_in), nn.LeakyReLU(0.2, inplace=False),
            nn.Conv2d(c_in, c_in, 3, padding=1),
            norm_layer(norm, c_in), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.AvgPool2d(2))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x) + self.shortcut(x)


class ResnetEncoder(nn.Module):
    """Image (N, C, H, W) -> ``(mu, logvar)``, each (N, nz).

    Args:
        in_channels: image channels.
        nz: latent dimensions (8 in BicycleGAN).
        nef: filters of the first conv; the blocks widen to ``nef * min(n + 1, 4)``.
        n_blocks: residual blocks, each halving the side (4 at 256 px, the reference's
            ``resnet_256``; 3 at 128 px). The side must be a multiple of ``2 ** (n_blocks + 1)``.
        norm: "instance" (the reference), "batch" or "none".
    """

    def __init__(self, in_channels: int = 3, nz: int = 8, nef: int = 64, n_blocks: int = 4,
                 norm: str = "instance"):
        super().__init__()
        if n_blocks < 1:
            raise ValueError(f"the encoder needs at least 1 residual block, got n_blocks={n_blocks}")
        self.in_channels, self.nz, self.n_blocks = in_channels, nz, n_blocks
        widths = [nef * min(n + 1, 4) for n in range(n_blocks + 1)]  # 64, 128, 192, 256, 256
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, stride=2, padding=1)]
        layers += [ResidualDownBlock(widths[n], widths[n + 1], norm) for n in range(n_blocks)]
        layers += [nn.LeakyReLU(0.2, inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.mu = nn.Linear(widths[-1], nz)
        self.logvar = nn.Linear(widths[-1], nz)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        check_image_batch(x, self.in_channels, "ResnetEncoder", multiple_of=2 ** (self.n_blocks + 1))
        h = self.features(x)
        return self.mu(h), self.logvar(h)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """A sample z = mu + sigma * eps with eps ~ N(0, I) drawn per element (one eps per image
    and dimension) and sigma = exp(logvar / 2): the sample is a differentiable function of
    (mu, logvar), so the reconstruction loss trains the encoder through it."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) summed over the batch and the dimensions:

        -1/2 * sum(1 + logvar - mu^2 - exp(logvar))

    Summed, not averaged, as BicycleGAN's reference code does (its lambda_kl = 0.01 is tuned
    for the sum); for one image and dimension it is 0 exactly when mu = 0 and logvar = 0."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def latent_l1(predicted: Tensor, z: Tensor) -> Tensor:
    """BicycleGAN's latent regression ||E(G(A, z)) - z||_1 as the reference computes it: the
    mean absolute error over the batch and the dimensions."""
    return F.l1_loss(predicted, z)
