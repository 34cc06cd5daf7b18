"""PatchGAN discriminators (pix2pix §3.2.2; CycleGAN §4).

Instead of one real/fake verdict per image, a PatchGAN is a fully convolutional net whose every
output logit judges one N x N patch of the input: it "only penalizes structure at the scale of
patches", leaving low frequencies to the L1 term, has fewer parameters, runs faster and applies
to images of any size. N is the receptive field of one output unit; the paper's default is
70x70 (``n_layers=3``). ``n_layers=1`` gives 16x16, ``n_layers=5`` gives 286x286 (the paper's
"ImageGAN" at 256 px) and ``PixelDiscriminator`` gives 1x1 ("PixelGAN").

For pix2pix the discriminator is conditional: it sees the input concatenated with the real or
generated output, so ``in_channels = input channels + output channels``.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from coursekit.nn.norm import conv_bias_needed, norm_layer
from coursekit.nn.unet import check_image_batch


class PatchGANDiscriminator(nn.Module):
    """C64-C128-C256-C512 then a 1-channel conv (for ``n_layers=3``), all 4x4 convs.

    The first ``n_layers`` convs have stride 2, the last two stride 1; no norm on the first
    layer; LeakyReLU(0.2). Outputs raw logits (the loss applies the sigmoid), one per patch.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 spectral: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ValueError("n_layers must be >= 1; use PixelDiscriminator for a 1x1 PatchGAN")
        self.in_channels, self.n_layers = in_channels, n_layers
        bias = conv_bias_needed(norm)
        # SPADE's discriminator puts spectral norm on the normalised convs (not the first or
        # the last): each is then 1-Lipschitz, which steadies the hinge loss's D.
        sn = spectral_norm if spectral else (lambda conv: conv)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),
                                   nn.LeakyReLU(0.2, inplace=True)]
        width = ndf
        for n in range(1, n_layers + 1):
            new_width = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last feature layer keeps the resolution
            layers += [sn(nn.Conv2d(width, new_width, 4, stride=stride, padding=1, bias=bias)),
                       norm_layer(norm, new_width), nn.LeakyReLU(0.2, inplace=True)]
            width = new_width
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        # n stride-2 convs halve the side; the two 4x4 stride-1 convs (padding 1) each remove
        # one pixel, so the side must be at least 3 * 2**n for a 1x1 output map.
        self.min_size = 3 * 2**n_layers

    def forward(self, x: Tensor) -> Tensor:
        check_image_batch(x, self.in_channels, f"PatchGANDiscriminator(n_layers={self.n_layers})",
                          min_size=self.min_size)
        return self.model(x)

    def features(self, x: Tensor) -> list[Tensor]:
        """The output of every layer (after each LeakyReLU), then the logits: what feature
        matching compares (pix2pixHD, SPADE). The last item is ``forward(x)``."""
        check_image_batch(x, self.in_channels, f"PatchGANDiscriminator(n_layers={self.n_layers})",
                          min_size=self.min_size)
        outputs = []
        for layer in self.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                outputs.append(x)
        return outputs + [x]


class PixelDiscriminator(nn.Module):
    """The 1x1 "PixelGAN": judges each pixel's colour alone (pix2pix Table 3, Fig. 6)."""

    def __init__(self, in_channels: int, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        self.in_channels = in_channels
        self.model = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, 2 * ndf, 1, bias=conv_bias_needed(norm)), norm_layer(norm, 2 * ndf),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * ndf, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        check_image_batch(x, self.in_channels, "PixelDiscriminator")
        return self.model(x)


def receptive_field(module: nn.Module) -> int:
    """Side of the input patch that one output unit of a chain of convolutions sees.

    Walks the Conv2d layers in order (the discriminators here are plain chains) and applies,
    from the output back, ``r <- (r - 1) * stride + kernel``. For the 70x70 PatchGAN:
    1 -> 4 -> 7 -> 16 -> 34 -> 70.
    """
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("receptive_field needs a module that contains Conv2d layers")
    r = 1
    for conv in reversed(convs):
        k, s = conv.kernel_size[0], conv.stride[0]
        r = (r - 1) * s + k
    return r


def patchgan_layers_for(patch: int) -> int:
    """The ``n_layers`` whose PatchGAN sees ``patch`` x ``patch`` pixels (16, 34, 70, 142, 286...)."""
    for n in range(1, 10):
        if receptive_field(PatchGANDiscriminator(1, ndf=1, n_layers=n, norm="none")) == patch:
            return n
    raise ValueError(f"no PatchGAN depth has a {patch}x{patch} receptive field; "
                     "valid sizes are 16, 34, 70, 142, 286, ...")


class MultiScalePatchGAN(nn.Module):
    """PatchGANs at several scales (BicycleGAN's discriminators; pix2pixHD's idea, Wang et al.
    2018): scale 0 judges the image, scale s an s-times 2x-downsampled copy with ``ndf / 2**s``
    filters, so the same patch size covers a larger part of the image at each coarser scale.

    Returns a list of logit maps, finest first; ``GANLoss`` takes the list. The downsampling is
    a 3x3 mean with stride 2 that ignores the zero padding (so borders are not darkened).
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, num_scales: int = 2,
                 norm: str = "batch", spectral: bool = False, halve_width: bool = True):
        super().__init__()
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales}")
        self.in_channels, self.num_scales = in_channels, num_scales
        # BicycleGAN halves the filters at each coarser scale; SPADE keeps them.
        widths = [max(1, round(ndf / 2**s)) if halve_width else ndf for s in range(num_scales)]
        self.scales = nn.ModuleList(
            PatchGANDiscriminator(in_channels, ndf=w, n_layers=n_layers, norm=norm,
                                  spectral=spectral) for w in widths)
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        # The coarsest scale sees the side divided by 2**(num_scales - 1).
        self.min_size = self.scales[0].min_size * 2 ** (num_scales - 1)

    def forward(self, x: Tensor, features: bool = False) -> list:
        """The logits of each scale, finest first; with ``features=True`` each scale's
        :meth:`PatchGANDiscriminator.features` instead (through ``forward``, so that a
        DistributedDataParallel wrapper sees the call)."""
        check_image_batch(x, self.in_channels, f"MultiScalePatchGAN(num_scales={self.num_scales})",
                          min_size=self.min_size)
        out = []
        for s, scale in enumerate(self.scales):
            if s:
                x = self.down(x)
            out.append(scale.features(x) if features else scale(x))
        return out

    def features(self, x: Tensor) -> list[list[Tensor]]:
        """``forward(x, features=True)``."""
        return self(x, features=True)
