"""MUNIT: multimodal unsupervised image-to-image translation.

Huang, Liu, Belongie, Kautz, ECCV 2018. CycleGAN maps a summer photo to *one* winter photo; but
a summer scene has many right winter versions (by day, at sunset, at night). MUNIT splits every
image into two codes:

* a **content code** c, a spatial feature map shared by both domains (the layout: where the
  mountains, lake and trees are);
* a **style code** s, 8 numbers specific to each domain (what the domain lets vary: the light).

Each domain i has a content encoder E_i^c, a style encoder E_i^s and a decoder G_i. Translating
x_1 to domain 2 keeps its content and takes a style of domain 2, from the prior or from an
example image:

    x_{1->2} = G_2(E_1^c(x_1), s_2),   s_2 ~ N(0, I)   or   s_2 = E_2^s(x_2)    (§3.1)

**AdaIN (§3.2).** The decoder's residual blocks normalise each channel of each image (instance
norm removes its mean and contrast) and then set them from the style: an MLP maps s to every
block's scale and shift,

    AdaIN(z, gamma, beta) = gamma (z - mu(z)) / sigma(z) + beta                   (Eq. 7)

so the style decides the global statistics the content code was stripped of
(``coursekit.nn.adain``). The upsampling layers use layer norm instead (statistics over the
whole feature map), which keeps the channels' relative contrast.

**Objective (§3.3).** Per domain (shown for 1; 2 is symmetric), with L1 reconstructions:

    L_recon^{x_1} = E ||G_1(E_1^c(x_1), E_1^s(x_1)) - x_1||_1       image         (Eq. 1)
    L_recon^{c_1} = E ||E_2^c(G_2(c_1, s_2)) - c_1||_1               content       (Eq. 2)
    L_recon^{s_2} = E ||E_2^s(G_2(c_1, s_2)) - s_2||_1               style         (Eq. 3)
    L_GAN^{x_2}   = E[log(1 - D_2(G_2(c_1, s_2)))] + E[log D_2(x_2)]              (Eq. 4)

with c_1 = E_1^c(x_1) and s_2 ~ N(0, I): the style reconstruction is against the *sampled* code
of the target domain (comparing with the other domain's code, a widely copied mistake, teaches
nothing), which makes the decoder use the code and the style encoder invert it. The total,

    min_{E,G} max_D  L_GAN^{x_1} + L_GAN^{x_2} + lambda_x (L_recon^{x_1} + L_recon^{x_2})
                     + lambda_c (L_recon^{c_1} + L_recon^{c_2})
                     + lambda_s (L_recon^{s_1} + L_recon^{s_2})                  (Eq. 5)

with lambda_x = 10, lambda_c = lambda_s = 1. The reference code (NVlabs/MUNIT) adds an explicit
cycle, ``||G_1(E_2^c(x_{1->2}), E_1^s(x_1)) - x_1||_1`` with weight 10 for summer2winter (0 for
edges2shoes), and optionally a domain-invariant perceptual loss (instance-normalised VGG
features of x_{1->2} against x_1's; weight 0 except for synthia2cityscape). GANs are least
squares (LSGAN), summed over the discriminator's scales, and not halved.

**Networks (Appendix B and the reference).** E^c: 7x7 conv, two 4x4 stride-2 convs, 4 residual
blocks, instance norm. E^s: the same convs without normalisation (it would remove the very
statistics a style is), four downsamplings, global average pooling, a 1x1 conv to 8 numbers.
G: 4 AdaIN residual blocks, two [2x nearest upsampling, 5x5 conv, layer norm], a 7x7 conv,
tanh. D: 3 scales of 4 stride-2 convs with leaky ReLU and no normalisation. Reflect padding.
Kaiming init for the generator, N(0, 0.02) for D.

**Optimisation.** Adam 1e-4, betas (0.5, 0.999), weight decay 1e-4, batch 1, the rate halved
every 100k of 1M iterations. Each iteration updates D, then the encoders and decoders, each
with fresh style codes.

The encoders and decoders are separate networks (``Ec_A``, ``Es_A``, ``G_A``, ...), each
called through its ``forward``, so that under torchrun every one of them averages its gradients
(``coursekit/train/method.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.models import check_loss_weights, with_ablation
from coursekit.nn import GANLoss, LayerNorm, ResnetBlock, adain, init_weights
from coursekit.nn.resnet import PADDINGS
from coursekit.nn.unet import check_image_batch
from coursekit.train import LinearDecay, Method, StepDecay, TrainConfig, unwrap

DEFAULT_DATA = "synthetic-seasons"
#: Unpaired: two domains, no pairs.
PAIRED = False
DOMAINS = ("A", "B")

#: The paper's loss ablation (Table 1: "w/o L_recon^x", "w/o L_recon^c", "w/o L_recon^s") and
#: the explicit cycle the reference adds, as ``Config`` overrides.
ABLATIONS: dict[str, dict[str, float]] = {
    "no_image_recon": {"lambda_x": 0.0},
    "no_content_recon": {"lambda_c": 0.0},
    "no_style_recon": {"lambda_s": 0.0},
    "no_cycle": {"lambda_cycle": 0.0},
}


# --------------------------------------------------------------------------------- networks
def _conv(c_in: int, c_out: int, kernel: int, stride: int, padding: str, norm: str,
          activation: str) -> nn.Sequential:
    """[pad, conv, norm, activation]: MUNIT's ``Conv2dBlock``. norm "in" (instance, without
    affine parameters), "ln" (``coursekit.nn.LayerNorm``) or "none"; activation "relu",
    "lrelu" (slope 0.2), "tanh" or "none"."""
    pad = (kernel - 1) // 2  # odd kernels keep the side; 4x4 stride-2 convs halve it exactly
    layers: list[nn.Module] = []
    if PADDINGS[padding] is not None and pad:
        layers.append(PADDINGS[padding](pad))
        pad = 0
    layers.append(nn.Conv2d(c_in, c_out, kernel, stride, pad))
    layers.append({"in": lambda: nn.InstanceNorm2d(c_out), "ln": lambda: LayerNorm(c_out),
                   "none": nn.Identity}[norm]())
    layers.append({"relu": lambda: nn.ReLU(inplace=True),
                   "lrelu": lambda: nn.LeakyReLU(0.2, inplace=True),
                   "tanh": nn.Tanh, "none": nn.Identity}[activation]())
    return nn.Sequential(*layers)


class ContentEncoder(nn.Module):
    """E^c: x (N, 3, H, W) -> c (N, dim * 2**n_downsample, H / 2**n, W / 2**n).

    7x7 conv, ``n_downsample`` 4x4 stride-2 convs doubling the width, ``n_res`` residual
    blocks; instance norm everywhere, so the code keeps each channel's pattern but not its mean
    or contrast, which are the style's to set."""

    def __init__(self, in_channels: int = 3, dim: int = 64, n_downsample: int = 2, n_res: int = 4,
                 padding: str = "reflect"):
        super().__init__()
        layers = [_conv(in_channels, dim, 7, 1, padding, "in", "relu")]
        for _ in range(n_downsample):
            layers.append(_conv(dim, 2 * dim, 4, 2, padding, "in", "relu"))
            dim *= 2
        layers += [ResnetBlock(dim, norm="instance", padding=padding) for _ in range(n_res)]
        self.model = nn.Sequential(*layers)
        self.in_channels, self.out_channels, self.factor = in_channels, dim, 2**n_downsample

    def forward(self, x: Tensor) -> Tensor:
        check_image_batch(x, self.in_channels, "ContentEncoder", multiple_of=self.factor)
        return self.model(x)


class StyleEncoder(nn.Module):
    """E^s: x (N, 3, H, W) -> s (N, style_dim).

    No normalisation (it would erase the statistics that are the style); 7x7 conv, two 4x4
    stride-2 convs doubling the width, ``n_downsample - 2`` more at that width, global average
    pooling (the style is one code for the whole image, wherever things are), a 1x1 conv."""

    def __init__(self, in_channels: int = 3, dim: int = 64, style_dim: int = 8,
                 n_downsample: int = 4, padding: str = "reflect"):
        super().__init__()
        if n_downsample < 2:
            raise ValueError(f"the style encoder downsamples at least twice, got {n_downsample}")
        layers = [_conv(in_channels, dim, 7, 1, padding, "none", "relu")]
        for i in range(n_downsample):
            c_out = 2 * dim if i < 2 else dim
            layers.append(_conv(dim, c_out, 4, 2, padding, "none", "relu"))
            dim = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1)]
        self.model = nn.Sequential(*layers)
        self.in_channels, self.style_dim, self.factor = in_channels, style_dim, 2**n_downsample

    def forward(self, x: Tensor) -> Tensor:
        check_image_batch(x, self.in_channels, "StyleEncoder", multiple_of=self.factor)
        return self.model(x).flatten(1)


class AdaINResBlock(nn.Module):
    """``out = x + [pad, conv3x3, AdaIN, ReLU, pad, conv3x3, AdaIN](x)``: the content encoder's
    residual block with each instance norm's scale and shift given by the style."""

    def __init__(self, dim: int, padding: str = "reflect"):
        super().__init__()
        self.dim = dim
        self.conv1 = _conv(dim, dim, 3, 1, padding, "none", "none")
        self.conv2 = _conv(dim, dim, 3, 1, padding, "none", "none")

    def forward(self, x: Tensor, params: list[tuple[Tensor, Tensor]]) -> Tensor:
        """``params``: two (mean, std) pairs of (N, dim), one per AdaIN layer."""
        (mean1, std1), (mean2, std2) = params
        h = F.relu(adain(self.conv1(x), mean1, std1))
        return x + adain(self.conv2(h), mean2, std2)


class Decoder(nn.Module):
    """G: (content c, style s) -> image x in [-1, 1].

    The MLP maps s to the parameters of all AdaIN layers at once (``adain_params``); the
    residual blocks use them; the upsampling layers (2x nearest, 5x5 conv, layer norm) halve
    the width back to ``dim``; a 7x7 conv and tanh give the image."""

    def __init__(self, out_channels: int = 3, dim: int = 64, n_upsample: int = 2, n_res: int = 4,
                 style_dim: int = 8, mlp_dim: int = 256, mlp_blocks: int = 3,
                 padding: str = "reflect"):
        super().__init__()
        if mlp_blocks < 2:
            raise ValueError(f"the style MLP has at least 2 layers (in and out), got {mlp_blocks}")
        width = dim * 2**n_upsample  # the content code's channels
        self.style_dim, self.content_channels = style_dim, width
        self.blocks = nn.ModuleList(AdaINResBlock(width, padding) for _ in range(n_res))
        #: one (mean, std) pair of ``width`` values per AdaIN layer, two layers per block
        self.num_adain_params = 2 * 2 * width * n_res
        mlp: list[nn.Module] = [nn.Linear(style_dim, mlp_dim), nn.ReLU(inplace=True)]
        for _ in range(mlp_blocks - 2):
            mlp += [nn.Linear(mlp_dim, mlp_dim), nn.ReLU(inplace=True)]
        mlp.append(nn.Linear(mlp_dim, self.num_adain_params))  # no activation: means can be < 0
        self.mlp = nn.Sequential(*mlp)
        up: list[nn.Module] = []
        for _ in range(n_upsample):
            up += [nn.Upsample(scale_factor=2, mode="nearest"),
                   _conv(width, width // 2, 5, 1, padding, "ln", "relu")]
            width //= 2
        up.append(_conv(width, out_channels, 7, 1, padding, "none", "tanh"))
        self.upsample = nn.Sequential(*up)

    def adain_params(self, style: Tensor) -> list[tuple[Tensor, Tensor]]:
        """The MLP's output split into each AdaIN layer's (mean, std), (N, C) each, in the order
        the layers run: block 0's first layer, block 0's second, block 1's first, ... Within a
        layer's 2C numbers the first C are the mean (the shift beta) and the next C the std (the
        scale gamma), used as they are (not 1 + gamma), as the reference assigns them."""
        params = self.mlp(style)
        pairs, start = [], 0
        for block in self.blocks:
            for _ in range(2):
                c = block.dim
                pairs.append((params[:, start:start + c], params[:, start + c:start + 2 * c]))
                start += 2 * c
        return pairs

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        if content.ndim != 4 or content.shape[1] != self.content_channels:
            raise ValueError(f"Decoder expects a content code (N, {self.content_channels}, h, w), "
                             f"got {tuple(content.shape)}")
        if style.ndim != 2 or style.shape != (content.shape[0], self.style_dim):
            raise ValueError(f"Decoder expects one style code per content code, "
                             f"({content.shape[0]}, {self.style_dim}); got {tuple(style.shape)}")
        params = self.adain_params(style)
        h = content
        for i, block in enumerate(self.blocks):
            h = block(h, params[2 * i:2 * i + 2])
        return self.upsample(h)


class MultiScaleDiscriminator(nn.Module):
    """MUNIT's D: at each of ``num_scales`` scales (the image, then 3x3-mean 2x downsampled
    copies, borders not darkened), ``n_layers`` 4x4 stride-2 convs with leaky ReLU and no
    normalisation, doubling the width from ``ndf``, then a 1x1 conv to one logit per patch.
    Every scale has the same widths. Returns the logit maps, finest first."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 4,
                 num_scales: int = 3, padding: str = "reflect"):
        super().__init__()
        self.in_channels, self.num_scales = in_channels, num_scales
        self.min_size = 2**n_layers * 2 ** (num_scales - 1)

        def scale() -> nn.Sequential:
            layers, dim = [_conv(in_channels, ndf, 4, 2, padding, "none", "lrelu")], ndf
            for _ in range(n_layers - 1):
                layers.append(_conv(dim, 2 * dim, 4, 2, padding, "none", "lrelu"))
                dim *= 2
            return nn.Sequential(*layers, nn.Conv2d(dim, 1, 1))

        self.scales = nn.ModuleList(scale() for _ in range(num_scales))
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: Tensor) -> list[Tensor]:
        check_image_batch(x, self.in_channels, f"MultiScaleDiscriminator({self.num_scales} scales)",
                          min_size=self.min_size)
        out = []
        for s, scale in enumerate(self.scales):
            if s:
                x = self.down(x)
            out.append(scale(x))
        return out


# --------------------------------------------------------------------------------- losses
def recon_loss(output: Tensor, target: Tensor) -> Tensor:
    """The reconstruction terms of Eq. 1-3 and the cycle: mean absolute difference."""
    return (output - target).abs().mean()


def style_recon_loss(style_encoder: nn.Module, translated: Tensor, sampled_style: Tensor) -> Tensor:
    """Eq. 3, ``||E_2^s(G_2(c_1, s_2)) - s_2||_1``: the target domain's style encoder must read
    back the *sampled* code ``s_2`` that ``translated`` was decoded with."""
    return recon_loss(style_encoder(translated), sampled_style)


# --------------------------------------------------------------------------------- config
@dataclass
class Config:
    """MUNIT settings; the defaults are the reference's summer2winter configuration."""

    image_size: int = 256
    channels_A: int = 3
    channels_B: int = 3
    # Generators: base width, content downsamplings and residual blocks, style code and MLP.
    dim: int = 64
    n_downsample: int = 2
    n_res: int = 4
    style_dim: int = 8
    style_downsample: int = 4
    mlp_dim: int = 256
    mlp_blocks: int = 3
    padding: str = "reflect"
    # Discriminators: 3 scales x 4 layers (MsImageDis).
    ndf: int = 64
    d_layers: int = 4
    d_scales: int = 3
    gan_mode: str = "lsgan"
    # Loss weights (Eq. 5 and the reference's extras); 0 switches a term off.
    lambda_gan: float = 1.0
    lambda_x: float = 10.0
    lambda_c: float = 1.0
    lambda_s: float = 1.0
    lambda_cycle: float = 10.0  # summer2winter; edges2shoes uses 0
    lambda_vgg: float = 0.0  # the domain-invariant perceptual loss (needs VGG-19's weights)
    vgg_weights: str | None = None  # the VGG-19 file; None: the torch hub cache's
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-4
    # "step": x lr_gamma every lr_step steps (the reference); "linear": the loop's
    # constant-then-linear decay over train.decay_steps (short runs).
    lr_policy: str = "step"
    lr_step: int = 100_000
    lr_gamma: float = 0.5
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1_000_000, batch_size=1, out_dir="runs/munit", log_every=10,
        sample_every=10_000, checkpoint_every=10_000))

    def __post_init__(self) -> None:
        factor = 2**max(self.n_downsample, self.style_downsample)
        if self.image_size % factor or self.image_size < factor:
            raise ValueError(f"the encoders halve the image {max(self.n_downsample, self.style_downsample)} "
                             f"times, so image_size must be a multiple of {factor}; got "
                             f"{self.image_size}")
        need = 2**self.d_layers * 2 ** (self.d_scales - 1)
        if self.image_size < need:
            raise ValueError(f"a {self.d_scales}-scale discriminator with d_layers={self.d_layers} "
                             f"needs images of at least {need} px; got {self.image_size}. Use "
                             "fewer d_layers or d_scales.")
        check_loss_weights(self, "lambda_gan", "lambda_x", "lambda_c", "lambda_s", "lambda_cycle",
                           "lambda_vgg")
        if self.lambda_vgg and (self.channels_A, self.channels_B) != (3, 3):
            raise ValueError("the perceptual loss reads RGB images with VGG-19: set lambda_vgg=0 "
                             f"for channels_A={self.channels_A}, channels_B={self.channels_B}")
        if self.lr_policy not in ("step", "linear"):
            raise ValueError(f"lr_policy must be 'step' or 'linear', got {self.lr_policy!r}")
        if self.padding not in PADDINGS:
            raise ValueError(f"unknown padding {self.padding!r}; choose one of {tuple(PADDINGS)}")

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """The reference's summer2winter_yosemite256 setting: 256 px, dim 64, 4 residual blocks,
        8-d styles, MLP 256, 3-scale D, LSGAN, weights 1 / 10 / 1 / 1 and cycle 10, Adam 1e-4
        with weight decay, batch 1, 1M steps halving the rate every 100k. For edges2shoes pass
        ``lambda_cycle=0``."""
        return replace(cls(), **overrides)

    def for_inference(self) -> "Config":
        """These settings without the training-only perceptual loss."""
        return replace(self, lambda_vgg=0.0)

    @classmethod
    def ablation(cls, name: str, base: "Config | None" = None, **overrides) -> "Config":
        """``base`` (default ``Config.fast()``) with one of ``ABLATIONS``."""
        return with_ablation(ABLATIONS, name, base if base is not None else cls.fast(),
                             **overrides)

    @classmethod
    def fast(cls, **overrides) -> "Config":
        """A CPU preset for synthetic-seasons: 32 px, dim 16, 2 downsamplings and 2 residual
        blocks, 8-d styles, MLP 64, a 2-scale x 3-layer D with 16 filters, batch 4, lr 4e-4
        (4x the paper's: the run is 10^3 times shorter), 600 steps, the last half decaying
        linearly. About 2 minutes on 2 CPU threads."""
        base = cls(image_size=32, dim=16, n_res=2, mlp_dim=64, ndf=16, d_layers=3, d_scales=2,
                   lr=4e-4, lr_policy="linear",
                   train=TrainConfig(steps=600, decay_steps=300, batch_size=4,
                                     out_dir="runs/munit-fast", log_every=50, sample_every=200,
                                     checkpoint_every=200))
        return replace(base, **overrides)

    @classmethod
    def course(cls, **overrides) -> "Config":
        """The course checkpoint's preset (``scripts/train_course_checkpoints.py``): the fast
        preset's networks (2.5 MB of float16 encoders and decoders: shipped checkpoints stay
        small) trained 8000 steps, the last half decaying: about 40 minutes on one CPU thread."""
        base = cls.fast()
        base = replace(base, train=replace(base.train, steps=8000, decay_steps=4000,
                                           out_dir="runs/munit-course", sample_every=1000,
                                           checkpoint_every=500, eval_every=1000, log_every=100))
        return replace(base, **overrides)


# --------------------------------------------------------------------------------- method
class MUNIT(Method):
    """MUNIT: per domain a content encoder, a style encoder, a decoder and a discriminator."""

    inference_networks = ("Ec_A", "Es_A", "G_A", "Ec_B", "Es_B", "G_B")

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = c = config or Config()
        for side, channels in (("A", c.channels_A), ("B", c.channels_B)):
            setattr(self, f"Ec_{side}", init_weights(ContentEncoder(
                channels, c.dim, c.n_downsample, c.n_res, c.padding), kind="kaiming"))
            setattr(self, f"Es_{side}", init_weights(StyleEncoder(
                channels, c.dim, c.style_dim, c.style_downsample, c.padding), kind="kaiming"))
            setattr(self, f"G_{side}", init_weights(Decoder(
                channels, c.dim, c.n_downsample, c.n_res, c.style_dim, c.mlp_dim, c.mlp_blocks,
                c.padding), kind="kaiming"))
            setattr(self, f"D_{side}", init_weights(MultiScaleDiscriminator(
                channels, c.ndf, c.d_layers, c.d_scales, c.padding)))
        # Least squares, summed over the scales, D's loss not halved (the reference's).
        self.gan_loss = GANLoss(c.gan_mode, d_scale=1.0, scales="sum")
        if c.lambda_vgg > 0:  # frozen, not a network: no parameters, nothing saved
            self.vgg = _vgg_features(c.vgg_weights)

    def generators(self) -> list[nn.Module]:
        return [getattr(self, f"{net}_{side}") for side in DOMAINS for net in ("Ec", "Es", "G")]

    def sample_style(self, n: int) -> Tensor:
        """n style codes from the prior N(0, I), (n, style_dim)."""
        return torch.randn(n, self.config.style_dim, device=self.device)

    # ------------------------------------------------------------------ losses
    def perceptual_loss(self, translated: Tensor, source: Tensor) -> Tensor:
        """The reference's domain-invariant perceptual loss: mean squared difference of the two
        images' VGG features after instance normalisation (which removes the domain's colour
        statistics), at relu5_1 of VGG-19 (the reference reads VGG-16's relu5_3)."""
        feats = self.vgg(torch.cat([translated, source]))[-1]
        feats = F.instance_norm(feats)
        fake, real = feats.chunk(2)
        return ((fake - real.detach()) ** 2).mean()

    def generator_losses(self, x_a: Tensor, x_b: Tensor) -> dict[str, Tensor]:
        """Every term of Eq. 5 (plus the cycle and perceptual terms) per domain, their weighted
        sum ``"G"``, and the translations ``x_ab``, ``x_ba``."""
        c, zero = self.config, x_a.new_zeros(())
        s_a, s_b = self.sample_style(len(x_a)), self.sample_style(len(x_b))  # from the prior
        c_a, s_a_own = self.Ec_A(x_a), self.Es_A(x_a)
        c_b, s_b_own = self.Ec_B(x_b), self.Es_B(x_b)
        out: dict[str, Tensor] = {}
        # Within a domain: encode, decode, compare (Eq. 1).
        out["recon_x_A"] = recon_loss(self.G_A(c_a, s_a_own), x_a) if c.lambda_x else zero
        out["recon_x_B"] = recon_loss(self.G_B(c_b, s_b_own), x_b) if c.lambda_x else zero
        # Across domains: the content of one, a random style of the other.
        x_ba, x_ab = self.G_A(c_b, s_a), self.G_B(c_a, s_b)
        out["x_ba"], out["x_ab"] = x_ba, x_ab
        # Re-encode the translations: their content must be the source's (Eq. 2), their style
        # the code they were decoded with (Eq. 3).
        c_b_back, c_a_back = self.Ec_A(x_ba), self.Ec_B(x_ab)
        out["recon_c_A"] = recon_loss(c_a_back, c_a) if c.lambda_c else zero
        out["recon_c_B"] = recon_loss(c_b_back, c_b) if c.lambda_c else zero
        out["recon_s_A"] = style_recon_loss(self.Es_A, x_ba, s_a) if c.lambda_s else zero
        out["recon_s_B"] = style_recon_loss(self.Es_B, x_ab, s_b) if c.lambda_s else zero
        # The reference's explicit cycle: back to the source domain with the source's own style.
        out["cycle_A"] = recon_loss(self.G_A(c_a_back, s_a_own), x_a) if c.lambda_cycle else zero
        out["cycle_B"] = recon_loss(self.G_B(c_b_back, s_b_own), x_b) if c.lambda_cycle else zero
        # Adversarial (Eq. 4): each translation should look real to its target domain's D.
        out["gan_A"] = self.gan_loss.generator(self.D_A(x_ba)) if c.lambda_gan else zero
        out["gan_B"] = self.gan_loss.generator(self.D_B(x_ab)) if c.lambda_gan else zero
        out["vgg_A"] = self.perceptual_loss(x_ba, x_b) if c.lambda_vgg else zero
        out["vgg_B"] = self.perceptual_loss(x_ab, x_a) if c.lambda_vgg else zero
        out["G"] = sum(weight * (out[f"{term}_A"] + out[f"{term}_B"]) for term, weight in (
            ("gan", c.lambda_gan), ("recon_x", c.lambda_x), ("recon_c", c.lambda_c),
            ("recon_s", c.lambda_s), ("cycle", c.lambda_cycle), ("vgg", c.lambda_vgg)))
        return out

    def discriminator_losses(self, x_a: Tensor, x_b: Tensor) -> dict[str, Tensor]:
        """LSGAN for each D on its domain's real images and on translations into it, made with
        fresh random styles and without gradients (D's step must not reach the generators)."""
        with torch.no_grad():
            x_ba = self.G_A(self.Ec_B(x_b), self.sample_style(len(x_b)))
            x_ab = self.G_B(self.Ec_A(x_a), self.sample_style(len(x_a)))
        loss_a = self.gan_loss.discriminator(self.D_A(x_a), self.D_A(x_ba))
        loss_b = self.gan_loss.discriminator(self.D_B(x_b), self.D_B(x_ab))
        return {"D_A": loss_a, "D_B": loss_b, "D": self.config.lambda_gan * (loss_a + loss_b)}

    # ------------------------------------------------------------------ one step
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config

        def adam(nets):
            return torch.optim.Adam([p for net in nets for p in net.parameters()], lr=c.lr,
                                    betas=c.betas, weight_decay=c.weight_decay)

        optimizers = {"G": adam(self.generators())}
        if c.lambda_gan:
            optimizers["D"] = adam([self.D_A, self.D_B])
        return optimizers

    def lr_multiplier(self, steps: int, decay_steps: int):
        c = self.config
        return StepDecay(c.lr_step, c.lr_gamma) if c.lr_policy == "step" else LinearDecay(
            steps, decay_steps)

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        x_a, x_b = batch["A"], batch["B"]
        losses: dict[str, Tensor] = {}
        # 1. The discriminators, on real images and on translations with random styles.
        if self.config.lambda_gan:
            self.set_requires_grad(True, self.D_A, self.D_B)
            d = self.discriminator_losses(x_a, x_b)
            self.backward_and_step(d["D"], "D")
            losses.update(d)
        # 2. Encoders and decoders with D frozen, new random styles (Eq. 5).
        self.set_requires_grad(False, self.D_A, self.D_B)
        g = self.generator_losses(x_a, x_b)
        self.backward_and_step(g["G"], "G")
        losses.update({k: v for k, v in g.items() if not k.startswith("x_")})
        return {k: v.detach() for k, v in losses.items()}

    # ------------------------------------------------------------------ inference
    def _nets(self, side: str):
        if side not in DOMAINS:
            raise ValueError(f"domain must be 'A' or 'B', got {side!r}")
        return (unwrap(getattr(self, f"Ec_{side}")), unwrap(getattr(self, f"Es_{side}")),
                unwrap(getattr(self, f"G_{side}")))

    @torch.no_grad()
    def encode(self, x: Tensor, domain: str) -> tuple[Tensor, Tensor]:
        """(content code, style code) of images ``x`` of ``domain`` ("A" or "B")."""
        content, style, _ = self._nets(domain)
        x = x.to(self.device)
        return content(x), style(x)

    @torch.no_grad()
    def decode(self, content: Tensor, style: Tensor, domain: str) -> Tensor:
        """Images of ``domain`` from content codes and style codes (N, style_dim)."""
        return self._nets(domain)[2](content.to(self.device), style.to(self.device))

    @torch.no_grad()
    def translate(self, x: Tensor, direction: str = "AtoB", style: Tensor | None = None) -> Tensor:
        """x translated to the other domain with ``style``: a code (style_dim,) for every image
        or (N, style_dim), one per image; None: the code 0, the prior's most typical style
        (:meth:`sample` draws random ones)."""
        src, dst = _sides(direction)
        content = self._nets(src)[0](x.to(self.device))
        n = len(x)
        if style is None:
            style = torch.zeros(self.config.style_dim)
        style = style.to(self.device, content.dtype)
        if style.ndim == 1:
            style = style.expand(n, -1)
        return self._nets(dst)[2](content, style)

    @torch.no_grad()
    def sample(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        """x translated to the other domain with a random style per image, s ~ N(0, I)."""
        return self.translate(x, direction, self.sample_style(len(x)))

    @torch.no_grad()
    def translate_like(self, x: Tensor, reference: Tensor, direction: str = "AtoB") -> Tensor:
        """Example-guided translation: x's content with the style of ``reference``, images of
        the target domain (one per input, or one for all)."""
        _, dst = _sides(direction)
        style = self._nets(dst)[1](reference.to(self.device))
        return self.translate(x, direction, style if len(style) > 1 else style[0])

    def visuals(self, batch: dict) -> dict[str, Tensor]:
        x_a, x_b = batch["A"], batch["B"]
        return {"real_A": x_a, "A_random_style": self.sample(x_a, "AtoB"),
                "A_styled_like_B": self.translate_like(x_a, x_b, "AtoB"),
                "real_B": x_b, "B_random_style": self.sample(x_b, "BtoA"),
                "B_styled_like_A": self.translate_like(x_b, x_a, "BtoA")}

    @torch.no_grad()
    def evaluate(self, dataset, n_samples: int = 3, batch_size: int = 16,
                 max_items: int | None = None) -> dict[str, float]:
        """Both directions: ``n_samples`` random-style outputs per input
        (``coursekit.data.evaluation.evaluate_samples``), and, where the data pairs inputs with
        style references (``guided_item``: synthetic-seasons), example-guided translation
        (``evaluate_guided``), its keys prefixed ``guided_``."""
        from coursekit.data.evaluation import _base_dataset, evaluate_guided, evaluate_samples

        scores: dict[str, float] = {}
        guided = hasattr(_base_dataset(dataset), "guided_item")
        for direction in ("AtoB", "BtoA"):
            result = evaluate_samples(lambda x, d=direction: self.sample(x, d), dataset,
                                      n_samples=n_samples, direction=direction,
                                      batch_size=batch_size, max_items=max_items)
            if guided:
                result.update({f"guided_{k}": v for k, v in evaluate_guided(
                    lambda x, r, d=direction: self.translate_like(x, r, d), dataset, direction,
                    batch_size=batch_size, max_items=max_items).items()})
            scores.update({f"{direction}_{k}": v for k, v in result.items()})
        return scores


def _sides(direction: str) -> tuple[str, str]:
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    return direction[0], direction[-1]


def _vgg_features(path: str | None):
    """``VGGFeatures`` from ``path`` (or the torch hub cache), with what to do when missing."""
    from coursekit.nn import VGGFeatures
    from coursekit.nn.perceptual import load_or_explain

    return load_or_explain(lambda: VGGFeatures(path), (
        "MUNIT's perceptual loss (lambda_vgg > 0) needs these weights; or train without it, as "
        "the reference does for most datasets: lambda_vgg=0 (--set lambda_vgg=0 on the command "
        "line)"))


def build(config: Config) -> MUNIT:
    """The method for ``coursekit train munit``."""
    return MUNIT(config)
