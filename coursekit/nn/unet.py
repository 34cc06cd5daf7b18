"""The U-Net generator of pix2pix (Isola et al. 2017, §3.2.1 and Appendix 6.1.1).

An encoder-decoder in which every encoder layer i is also concatenated onto the decoder layer
that mirrors it: "skip connections ... between each layer i and layer n - i", so that low-level
information (edges, positions) shared by input and output "shuttles directly across the net"
instead of squeezing through the bottleneck. With ``skips=False`` it is the plain
encoder-decoder of the paper's ablation (Fig. 5 / Table 2).

For 256 px and 8 downsamplings (``unet_256``), with Ck = Conv-Norm-ReLU of k filters and CDk
the same with dropout 0.5 (the paper's only source of noise z at test time, §3.1):

    encoder: C64-C128-C256-C512-C512-C512-C512-C512   (no norm on the first layer)
    decoder: CD512-CD512-CD512-C512-C256-C128-C64      (channels doubled by the skips)

All convolutions are 4x4 with stride 2; the encoder uses LeakyReLU(0.2), the decoder ReLU, and
the last layer maps to the output channels followed by tanh.

With ``nz > 0`` the generator also takes a latent code z of ``nz`` numbers (BicycleGAN, Zhu et
al. 2017, §3.5 "Network architecture"): z is tiled to the side of a feature map and
concatenated to it as ``nz`` extra channels, at the input of every encoder layer
(``inject="all"``, BicycleGAN's default, harder for G to ignore) or only at the image
(``inject="input"``). The skip connections carry the features without z.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from coursekit.nn.norm import conv_bias_needed, norm_layer

INJECT = ("all", "input")


def check_image_batch(x: Tensor, channels: int, what: str, multiple_of: int = 1,
                      min_size: int = 1) -> None:
    """Raise a ValueError that says how to fix it if ``x`` is not an (N, channels, H, W) batch
    with H and W divisible by ``multiple_of`` and at least ``min_size``."""
    if x.ndim != 4:
        raise ValueError(f"{what} expects a batch of images of shape (N, C, H, W); got shape "
                         f"{tuple(x.shape)}. Add a batch dimension with x.unsqueeze(0).")
    if x.shape[1] != channels:
        raise ValueError(f"{what} was built for {channels}-channel images but got "
                         f"{x.shape[1]} channels (shape {tuple(x.shape)}). Convert the images "
                         f"(e.g. grey -> RGB) or build the network with in_channels={x.shape[1]}.")
    h, w = x.shape[-2:]
    if h % multiple_of or w % multiple_of or min(h, w) < min_size:
        raise ValueError(f"{what} cannot take a {h}x{w} image: its sides must be multiples of "
                         f"{multiple_of} and at least {max(min_size, multiple_of)} px. Resize or "
                         f"crop the images, or change the network's depth.")


class UNetGenerator(nn.Module):
    """pix2pix's U-Net.

    Args:
        in_channels, out_channels: image channels on each side (3 for RGB).
        num_downs: number of stride-2 downsamplings; the image side must be a multiple of
            ``2 ** num_downs`` (8 for 256 px = ``unet_256``, 7 for 128 px = ``unet_128``).
        ngf: filters in the first layer; each further layer doubles it, capped at ``8 * ngf``.
        norm: "batch" (the paper), "instance" or "none".
        dropout: dropout rate in the decoder's innermost ``8 * ngf`` layers (0.5 in the paper;
            0 disables it). As in the reference code these are the ``num_downs - 5`` decoder
            layers just after the bottleneck.
        skips: False gives the encoder-decoder without skip connections (the ablation).
        nz: latent code size (0: no code, pix2pix); ``forward(x, z)`` then needs z (N, nz).
        inject: where z enters, "all" encoder layers or the "input" only.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8,
                 ngf: int = 64, norm: str = "batch", dropout: float = 0.5, skips: bool = True,
                 nz: int = 0, inject: str = "all"):
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"a U-Net needs at least 2 downsamplings, got num_downs={num_downs}")
        if inject not in INJECT:
            raise ValueError(f"inject must be one of {INJECT}, got {inject!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_downs, self.skips = num_downs, skips
        self.nz, self.inject = nz, inject
        bias = conv_bias_needed(norm)
        widths = [ngf * min(2**i, 8) for i in range(num_downs)]  # 64,128,256,512,512,...

        down = []
        for i in range(num_downs):
            c_in = (in_channels if i == 0 else widths[i - 1]) + (nz if self._gets_z(i) else 0)
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=True)]
            layers.append(nn.Conv2d(c_in, widths[i], 4, stride=2, padding=1, bias=bias))
            # No norm on the first layer (paper, App. 6.1.1) nor on the 1x1 bottleneck, where
            # normalising a single value per channel would erase it.
            if 0 < i < num_downs - 1:
                layers.append(norm_layer(norm, widths[i]))
            down.append(nn.Sequential(*layers))

        up = []
        for i in range(num_downs):
            innermost, outermost = i == num_downs - 1, i == 0
            c_in = widths[i] if (innermost or not skips) else 2 * widths[i]
            c_out = out_channels if outermost else widths[i - 1]
            layers = [nn.ReLU(inplace=True),
                      nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1,
                                         bias=bias or outermost)]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, c_out))
                if dropout > 0 and 4 <= i < num_downs - 1:
                    layers.append(nn.Dropout(dropout))
            up.append(nn.Sequential(*layers))

        self.down = nn.ModuleList(down)
        self.up = nn.ModuleList(up)

    def _gets_z(self, layer: int) -> bool:
        return self.nz > 0 and (self.inject == "all" or layer == 0)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        check_image_batch(x, self.in_channels, "UNetGenerator", multiple_of=2**self.num_downs)
        if self.nz and (z is None or tuple(z.shape) != (x.shape[0], self.nz)):
            got = None if z is None else tuple(z.shape)
            raise ValueError(f"this U-Net takes a latent code z of shape ({x.shape[0]}, {self.nz}) "
                             f"with the images, got {got}")
        if not self.nz and z is not None:
            raise ValueError("this U-Net was built without a latent code (nz=0); call it as G(x)")
        features = []
        h = x
        for i, layer in enumerate(self.down):
            if self._gets_z(i):  # z tiled over the feature map's side, as nz extra channels
                h = torch.cat([h, z[:, :, None, None].expand(-1, -1, *h.shape[-2:])], dim=1)
            h = layer(h)
            features.append(h)
        for i in reversed(range(self.num_downs)):
            h = self.up[i](h)
            if i > 0 and self.skips:
                # Skip connection: concatenate the mirrored encoder features (layer i-1).
                h = torch.cat([features[i - 1], h], dim=1)
        return h
