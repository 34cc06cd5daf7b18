"""The SPADE generator (Park et al. CVPR 2019; Park's thesis §2.3-2.4, Fig. 2.4-2.5).

pix2pix and pix2pixHD feed the label map to the generator's first layer and let it travel
through conv-norm layers, where normalisation can wash it out (``coursekit.nn.norm``). The
SPADE generator drops the encoder: it starts from a tiny map (the label map downsampled, or a
random code in VAE mode) and *decodes* it through residual blocks whose every normalisation is
a :class:`~coursekit.nn.norm.SPADE` layer that reads the label map again at its own resolution,
with a nearest-neighbour 2x upsampling between blocks.

A SPADE residual block (thesis Fig. 2.5): SPADE, LeakyReLU(0.2), 3x3 conv, twice; the shortcut
is learnt (SPADE, 1x1 conv without bias) only where the number of channels changes. Unlike
pix2pixHD's blocks it normalises *before* each convolution.

``condition="concat"`` is the baseline SPADE is measured against (thesis Table 2.3, "decoder
w/ Concat"): the same decoder with an ordinary normalisation (learnt affine) in place of each
SPADE layer, and the label map concatenated to the input of every convolution instead
(:class:`ConcatNorm`). The label map then still reaches every layer; what differs is that it
enters *after* the normalisation, as extra channels, rather than as its scale and shift.

At 256 px the reference starts at 8x8 with ``16 * ngf`` channels and has 7 blocks: 16 ngf twice
at 8 and 16 px, then 16, 8, 4, 2 and 1 ngf at 16 ... 256 px with ``ngf = 64``
(``--num_upsampling_layers normal``: 5 upsamplings).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from coursekit.nn.norm import SPADE


def _maybe_spectral(conv: nn.Module, on: bool) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) divides the weight by its largest singular
    value, estimated by one power iteration per forward pass: the layer is 1-Lipschitz."""
    return spectral_norm(conv) if on else conv


class ConcatNorm(nn.Module):
    """``[norm(h), m]``: a normalisation with a learnt per-channel affine, then the label map
    resized by nearest neighbour and concatenated as ``label_channels`` more channels for the
    next conv to read (the "w/ Concat" rows of thesis Table 2.3). Output: ``channels +
    label_channels`` channels."""

    def __init__(self, channels: int, label_channels: int, norm: str = "batch"):
        super().__init__()
        if norm not in ("batch", "instance"):
            raise ValueError(f"the norm must be 'batch' or 'instance', got {norm!r}")
        self.label_channels = label_channels
        self.norm = (nn.BatchNorm2d(channels) if norm == "batch"
                     else nn.InstanceNorm2d(channels, affine=True))

    def forward(self, h: Tensor, labels: Tensor) -> Tensor:
        m = F.interpolate(labels, size=tuple(h.shape[-2:]), mode="nearest")
        return torch.cat([self.norm(h), m], dim=1)


def _conditioned_norm(condition: str, channels: int, label_channels: int, hidden: int,
                      kernel: int, norm: str) -> tuple[nn.Module, int]:
    """(the layer, the channels it adds) for ``condition`` "spade" or "concat"."""
    if condition == "spade":
        return SPADE(channels, label_channels, hidden, kernel, norm), 0
    if condition == "concat":
        return ConcatNorm(channels, label_channels, norm), label_channels
    raise ValueError(f"condition must be 'spade' or 'concat', got {condition!r}")


class SPADEResBlock(nn.Module):
    """``x -> shortcut(x) + conv(act(SPADE(conv(act(SPADE(x, m))), m)))`` (thesis Fig. 2.5).

    Args:
        c_in, c_out: channels in and out; the middle has ``min(c_in, c_out)``.
        label_channels: channels of the label map (one-hot classes).
        hidden, kernel, norm: the SPADE layers' embedding width, kernel size and parameter-free
            norm (see :class:`~coursekit.nn.norm.SPADE`).
        spectral: spectral normalisation on the block's convs (the reference), not on SPADE's.
        condition: "spade", or "concat" for the Table 2.3 baseline (:class:`ConcatNorm` in
            place of each SPADE layer; ``hidden`` and ``kernel`` then unused).
    """

    def __init__(self, c_in: int, c_out: int, label_channels: int, hidden: int = 128,
                 kernel: int = 3, norm: str = "batch", spectral: bool = True,
                 condition: str = "spade"):
        super().__init__()
        middle = min(c_in, c_out)
        self.learned_shortcut = c_in != c_out
        layer = lambda c: _conditioned_norm(condition, c, label_channels, hidden, kernel, norm)  # noqa: E731
        self.norm_0, extra = layer(c_in)
        self.conv_0 = _maybe_spectral(nn.Conv2d(c_in + extra, middle, 3, padding=1), spectral)
        self.norm_1, extra = layer(middle)
        self.conv_1 = _maybe_spectral(nn.Conv2d(middle + extra, c_out, 3, padding=1), spectral)
        if self.learned_shortcut:
            self.norm_s, extra = layer(c_in)
            self.conv_s = _maybe_spectral(nn.Conv2d(c_in + extra, c_out, 1, bias=False), spectral)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        shortcut = self.conv_s(self.norm_s(x, labels)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, labels), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, labels), 0.2))
        return shortcut + dx


def spade_widths(ngf: int, num_up: int) -> list[tuple[int, int]]:
    """(c_in, c_out) of each block for ``num_up`` 2x upsamplings: two ``16 ngf`` blocks at the
    start size, one more after the first upsampling, then one halving block per upsampling
    (the reference's 7 blocks for 5 upsamplings)."""
    if num_up < 1:
        raise ValueError(f"the SPADE generator needs at least one upsampling, got {num_up}")
    top = 16 * ngf
    widths = [(top, top), (top, top)]  # head_0 at the start size, G_middle_0 after one up
    widths += [(top, top)]  # G_middle_1
    c = top
    for _ in range(num_up - 1):  # up_0 ... up_(num_up - 2), each after an upsampling
        widths.append((c, max(c // 2, 1)))
        c = max(c // 2, 1)
    return widths


class SPADEGenerator(nn.Module):
    """Label map (N, label_channels, S, S) -> image (N, 3, S, S) in [-1, 1], or with
    ``nz > 0`` (VAE mode) label map and code z (N, nz) -> image.

    Args:
        label_channels: one-hot classes of the label map.
        image_size: S; the start map is ``S / 2**num_up`` px.
        num_up: 2x nearest upsamplings (5 in the reference at 256 px: an 8x8 start).
        ngf: base width; the first blocks have ``16 * ngf`` channels.
        nz: 0 starts from the label map downsampled by nearest neighbour and a 3x3 conv; > 0
            from a linear layer of z (the reference's VAE mode, z_dim 256).
        hidden, kernel, norm, spectral, condition: the blocks' settings (see
            :class:`SPADEResBlock`).
    """

    def __init__(self, label_channels: int, image_size: int = 256, num_up: int = 5, ngf: int = 64,
                 nz: int = 0, hidden: int = 128, kernel: int = 3, norm: str = "batch",
                 spectral: bool = True, out_channels: int = 3, condition: str = "spade"):
        super().__init__()
        if image_size % 2**num_up:
            raise ValueError(f"image_size {image_size} must be a multiple of 2**num_up = "
                             f"{2**num_up} (the start map is image_size / 2**num_up px)")
        self.label_channels, self.nz, self.num_up = label_channels, nz, num_up
        self.start = image_size // 2**num_up
        top = 16 * ngf
        if nz:
            self.stem = nn.Linear(nz, top * self.start**2)
        else:
            self.stem = nn.Conv2d(label_channels, top, 3, padding=1)
        self.blocks = nn.ModuleList(
            SPADEResBlock(a, b, label_channels, hidden, kernel, norm, spectral, condition)
            for a, b in spade_widths(ngf, num_up))
        self.to_image = nn.Conv2d(self.blocks[-1].conv_1.out_channels, out_channels, 3, padding=1)

    def forward(self, labels: Tensor, z: Tensor | None = None) -> Tensor:
        if labels.ndim != 4 or labels.shape[1] != self.label_channels:
            raise ValueError(f"SPADEGenerator expects one-hot label maps (N, {self.label_channels}, "
                             f"H, W), got {tuple(labels.shape)}")
        if self.nz:
            if z is None:  # VAE mode without a code: one from the prior
                z = torch.randn(labels.shape[0], self.nz, device=labels.device)
            x = self.stem(z).view(labels.shape[0], -1, self.start, self.start)
        else:
            x = self.stem(F.interpolate(labels, size=(self.start, self.start), mode="nearest"))
        # head_0 at the start size; then upsample before every other block but G_middle_1
        # (the reference's "normal" schedule: 5 upsamplings for 7 blocks).
        for i, block in enumerate(self.blocks):
            if i == 1 or i >= 3:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, labels)
        return torch.tanh(self.to_image(F.leaky_relu(x, 0.2)))
