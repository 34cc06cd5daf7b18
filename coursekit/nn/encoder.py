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


def interpolate(z0: Tensor, z1: Tensor, t, mode: str = "linear") -> Tensor:
    """The code a fraction ``t`` (0..1) of the way from ``z0`` to ``z1``: ``"linear"`` is
    ``(1 - t) z0 + t z1``; ``"spherical"`` turns z0's direction into z1's along the great
    circle between them while the norm goes linearly from ``|z0|`` to ``|z1|``.

    Spherical suits a Gaussian prior: N(0, I) in ``nz`` dimensions puts nearly all its codes
    near the sphere of radius sqrt(nz), but the linear midpoint of two of them is shorter
    (about sqrt(nz / 2)): a code the generator hardly saw in training.

    Codes are the last dimension (``(..., nz)``, the same shape for both); ``t`` is a number
    or a tensor of fractions (shape ``(...)``, e.g. ``torch.linspace(0, 1, 5)`` for a path of
    5 codes). ``t = 0`` and ``t = 1`` give ``z0`` and ``z1`` exactly. Codes pointing the same
    way, or a zero code, have no great circle between them: they are interpolated linearly
    (which keeps the direction); opposite codes turn through a fixed perpendicular direction.
    """
    if mode not in ("linear", "spherical"):
        raise ValueError(f"mode must be 'linear' or 'spherical', got {mode!r}")
    if not isinstance(z0, Tensor) or not isinstance(z1, Tensor) or z0.shape != z1.shape \
            or z0.ndim < 1:
        raise ValueError(f"z0 and z1 must be tensors of the same shape (..., nz), got "
                         f"{getattr(z0, 'shape', type(z0).__name__)} and "
                         f"{getattr(z1, 'shape', type(z1).__name__)}")
    if not z0.is_floating_point():
        z0, z1 = z0.float(), z1.float()
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)
    if t.isnan().any() or (t < 0).any() or (t > 1).any():
        raise ValueError(f"t must be in [0, 1] (0 gives z0, 1 gives z1), got {t.tolist()}")
    t = t[..., None]  # one fraction per code: broadcasts over the code's dimensions
    linear = (1 - t) * z0 + t * z1
    if mode == "linear":
        out = linear
    else:
        # Double precision: the angle of two nearly parallel codes is a difference of
        # nearly equal numbers.
        a, b, s = z0.double(), z1.double(), t.double()
        norm_a, norm_b = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
        u = a / norm_a.clamp_min(1e-30)
        v = b / norm_b.clamp_min(1e-30)
        cos = (u * v).sum(-1, keepdim=True)
        across = v - cos * u  # v's part perpendicular to u: its length is sin(angle)
        sin = across.norm(dim=-1, keepdim=True)
        angle = torch.atan2(sin, cos)
        across = across / sin.clamp_min(1e-30)
        opposite = (sin < 1e-6) & (cos < 0) & (u.shape[-1] > 1)  # 1-D codes have no circle
        if opposite.any():
            # Every perpendicular direction gives a great circle from u to -u; take the one
            # through the coordinate axis u leans on least, so that the path is fixed.
            axis = F.one_hot(u.abs().argmin(-1), u.shape[-1]).to(u)
            other = axis - (axis * u).sum(-1, keepdim=True) * u
            across = torch.where(opposite, other / other.norm(dim=-1, keepdim=True), across)
        # u turned by t * angle towards v: cos(t angle) u + sin(t angle) w, w the unit vector
        # perpendicular to u in the plane of u and v.
        direction = torch.cos(s * angle) * u + torch.sin(s * angle) * across
        spherical = ((1 - s) * norm_a + s * norm_b) * direction
        # Same direction (or a zero code): the linear path keeps the direction already.
        degenerate = ((sin < 1e-6) & ~opposite) | (norm_a == 0) | (norm_b == 0)
        out = torch.where(degenerate, linear.double(), spherical).to(linear.dtype)
    # Exact ends (not merely to rounding): an explorer's "t = 0" must show z0's own image.
    out = torch.where(t == 0, z0, out)
    return torch.where(t == 1, z1, out)
