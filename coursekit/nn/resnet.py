"""The ResNet generator of CycleGAN and CUT (Johnson et al. 2016; CycleGAN §4 and its appendix).

Where pix2pix's U-Net passes details across by skip connections, this generator keeps the image
at a quarter of its side and transforms it there with residual blocks: "three convolutions,
several residual blocks, two fractionally-strided convolutions with stride 1/2, and one
convolution that maps features to RGB. We use 6 blocks for 128x128 images and 9 blocks for
256x256 and higher-resolution training images" (CycleGAN §4). With c7s1-k = 7x7 conv, stride 1,
k filters; dk = 3x3 conv, stride 2; Rk = a residual block; uk = 3x3 fractionally-strided conv::

    c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3 (then tanh)

every conv followed by instance norm and ReLU except the last. The layers sit in one
``nn.Sequential`` (``self.model``) in the reference order, so a layer index names the same
feature map as in CUT's ``--nce_layers`` (CUT §3.3.2; the reference's default 0,4,8,12,16).

``antialias=True`` (CUT's default) replaces each strided conv by a stride-1 conv followed by a
fixed blur-and-subsample, and each transposed conv by a blurred 2x upsampling followed by a
stride-1 conv (Zhang 2019, "Making convolutional networks shift-invariant again"). The blur
layers have no parameters, so both variants have the same parameter count.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn.norm import conv_bias_needed, norm_layer
from coursekit.nn.unet import check_image_batch

PADDINGS = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": None}


class ResnetBlock(nn.Module):
    """``out = x + [pad, conv3x3, norm, ReLU, (dropout), pad, conv3x3, norm](x)``.

    No ReLU after the addition (as in junyanz/pytorch-CycleGAN-and-pix2pix's ResnetBlock), so a
    block can pass its input through unchanged when its residual branch outputs zero.

    Args:
        dim: channels in and out.
        norm: "instance" (CycleGAN, CUT), "batch" (Johnson et al.) or "none".
        dropout: dropout rate between the two convs (0: none, as CycleGAN trains).
        padding: "reflect" (the reference), "replicate" or "zero".
    """

    def __init__(self, dim: int, norm: str = "instance", dropout: float = 0.0,
                 padding: str = "reflect"):
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding {padding!r}; choose one of {tuple(PADDINGS)}")
        bias = conv_bias_needed(norm)
        layers: list[nn.Module] = []
        for second in (False, True):
            if PADDINGS[padding] is not None:
                layers.append(PADDINGS[padding](1))
            layers.append(nn.Conv2d(dim, dim, 3, padding=0 if PADDINGS[padding] else 1, bias=bias))
            layers.append(norm_layer(norm, dim))
            if not second:
                layers.append(nn.ReLU(inplace=True))
                if dropout:
                    layers.append(nn.Dropout(dropout))
        self.dim = dim
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class BlurDownsample(nn.Module):
    """Blur with the binomial filter [1, 2, 1] x [1, 2, 1] / 16, then keep every second pixel.

    Subsampling without the blur aliases: shifting the input by one pixel can change the
    features completely. A fixed low-pass first makes the downsampling (nearly) shift-equivariant
    (Zhang 2019). Reflection padding keeps the borders as bright as the interior.
    """

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16.0
        self.channels = channels
        # A buffer, not a parameter: it follows .to(device) but is never trained; not persistent
        # because it is a constant of the architecture, not state worth checkpointing.
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel, stride=2,
                        groups=self.channels)

    def extra_repr(self) -> str:
        return f"{self.channels}, filter=[1, 2, 1], stride=2"


class BlurUpsample(nn.Module):
    """2x upsampling with the blur filter [1, 3, 3, 1] / 4 per axis (after zero insertion).

    Zero insertion followed by that filter gives each new pixel the weights 3/4 and 1/4 of its two
    nearest input pixels, which is exactly bilinear interpolation with half-pixel centres
    (``align_corners=False``, edges clamped), so that is how it is computed.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return "filter=[1, 3, 3, 1], scale=2"


class ResnetGenerator(nn.Module):
    """The CycleGAN/CUT generator; see the module docstring for the layer list.

    Args:
        in_channels, out_channels: image channels on each side (3 for RGB).
        ngf: filters of the first conv; the two downsamplings double it twice (64 -> 256).
        n_blocks: residual blocks at a quarter of the image side (9 at 256 px, 6 at 128 px).
        norm: "instance" (CycleGAN, CUT), "batch" or "none". Conv biases are on unless
            "batch" (whose shift replaces them).
        dropout: dropout inside the residual blocks (0, as CycleGAN and CUT train).
        antialias: blur-pooled down/upsampling as in CUT (see the module docstring).

    ``forward(x)`` returns the translated image in [-1, 1]. ``forward(x, encode_layers=(0, 4, 8,
    12, 16))`` returns the outputs of those layers of ``self.model`` instead, in the order asked,
    and stops after the deepest one (CUT's encoder features). Go through ``forward`` for both
    uses: under DistributedDataParallel only calls of the wrapper's ``forward`` average gradients.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64,
                 n_blocks: int = 9, norm: str = "instance", dropout: float = 0.0,
                 antialias: bool = False):
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.n_blocks, self.antialias = n_blocks, antialias
        bias = conv_bias_needed(norm)
        # ReLUs not in place: a layer's output handed out by ``encode_layers`` must not be
        # overwritten by the next layer.
        relu = nn.ReLU

        layers: list[nn.Module] = [nn.ReflectionPad2d(3),
                                   nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), relu()]
        width = ngf
        for _ in range(2):  # d128, d256
            if antialias:
                layers += [nn.Conv2d(width, 2 * width, 3, stride=1, padding=1, bias=bias),
                           norm_layer(norm, 2 * width), relu(),
                           BlurDownsample(2 * width)]
            else:
                layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=bias),
                           norm_layer(norm, 2 * width), relu()]
            width *= 2
        #: Indices of the residual blocks in ``self.model`` (block k is ``block_indices[k - 1]``),
        #: for choosing encoder layers when n_blocks < 5 moves CUT's layer 16 into the decoder.
        self.block_indices = list(range(len(layers), len(layers) + n_blocks))
        layers += [ResnetBlock(width, norm=norm, dropout=dropout) for _ in range(n_blocks)]
        for _ in range(2):  # u128, u64
            if antialias:
                layers += [BlurUpsample(),
                           nn.Conv2d(width, width // 2, 3, stride=1, padding=1, bias=bias)]
            else:
                # Stride 2, padding 1, output_padding 1: exactly doubles the side.
                layers.append(nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1,
                                                 output_padding=1, bias=bias))
            layers += [norm_layer(norm, width // 2), relu()]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def feature_channels(self, layers: Sequence[int]) -> list[int]:
        """Channels of the outputs of ``self.model[i]`` for each ``i`` in ``layers`` (what a
        projection head on those features needs at construction). No default: which layers to
        read is the method's choice (CUT's are ``coursekit.models.cut.PAPER_LAYERS``)."""
        self._check_layers(layers)
        width, widths = self.in_channels, []
        for module in self.model:
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                width = module.out_channels
            widths.append(width)
        return [widths[index] for index in layers]

    def _check_layers(self, layers: Sequence[int]) -> None:
        n = len(self.model)
        if len(layers) == 0:
            raise ValueError("encode_layers is empty: give the indices of self.model's layers "
                             "whose outputs you want, e.g. (0, 4, 8, 12, 16)")
        bad = [i for i in layers if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n]
        if bad:
            raise ValueError(
                f"encode_layers {bad} are not layer indices of this generator, which has {n} "
                f"layers (0..{n - 1}; {self.n_blocks} residual blocks, antialias="
                f"{self.antialias}; residual blocks at {self.block_indices}).")

    def forward(self, x: Tensor, encode_layers: Sequence[int] | None = None):
        # Sides divisible by 4 (two halvings); at least 8 so the 2x2 bottleneck can be
        # reflection-padded by the residual blocks.
        check_image_batch(x, self.in_channels, f"ResnetGenerator(n_blocks={self.n_blocks})",
                          multiple_of=4, min_size=8)
        if encode_layers is None:
            return self.model(x)
        layers = tuple(encode_layers)
        self._check_layers(layers)
        wanted = set(layers)
        features: dict[int, Tensor] = {}
        last = max(layers)
        for index, module in enumerate(self.model):
            x = module(x)
            if index in wanted:
                features[index] = x
            if index == last:
                break
        return [features[i] for i in layers]
