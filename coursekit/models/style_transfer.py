"""AdaIN style transfer: any style, in one forward pass.

Huang & Belongie, ICCV 2017 ("Arbitrary style transfer in real-time with adaptive instance
normalization"). The operation MUNIT's decoder builds on, used here as it was introduced: a
fixed VGG-19 encoder f (ImageNet weights, up to relu4_1), one AdaIN layer and a learnt decoder g:

    t = AdaIN(f(c), f(s)) = sigma(f(s)) (f(c) - mu(f(c))) / sigma(f(c)) + mu(f(s))      (Eq. 8)
    T(c, s) = g(t)                                                                      (Eq. 9)

mu and sigma are each image's per-channel means and standard deviations over space
(``coursekit.nn.channel_stats``): AdaIN has no parameters of its own; the style image supplies
them. Only g learns, from two losses computed with the same encoder,

    L_c = || f(g(t)) - t ||_2                                                           (Eq. 12)
    L_s = sum_i || mu(phi_i(g(t))) - mu(phi_i(s)) ||_2 + || sigma(phi_i(g(t))) - sigma(phi_i(s)) ||_2
                                                                                        (Eq. 13)
    L = L_c + lambda L_s,  lambda = 10                                                  (Eq. 11)

with phi_i = relu1_1, relu2_1, relu3_1, relu4_1 and each norm a mean squared error, as the
reference code (naoto0804/pytorch-AdaIN) computes them. The content target is t, not f(c): the
decoder learns to invert AdaIN's output. At test time a content-style trade-off interpolates
the features, ``g((1 - alpha) f(c) + alpha t)`` (§7.1).

The decoder mirrors the encoder (nearest-neighbour upsampling, reflection padding, no
normalisation: it must not undo the statistics AdaIN set). Adam 1e-4, the rate divided by
``1 + 5e-5 * iteration``, batch 8 of 256 px crops, 160k iterations, content from MS-COCO and
styles from WikiArt (the reference's defaults). The reference computes sigma with the unbiased
variance, this module with the biased one as MUNIT does (``coursekit.nn.adain``): a relative
difference of 1 / (2 H W), under 1e-3 at relu4_1 of a 64 px image.

It needs VGG-19's ImageNet weights (``vgg19-dcbb9e9d.pth`` in the torch hub cache, or
``Config(vgg_weights=PATH)``): a GPU path for FULL mode. Train it with ``coursekit.train.fit``
on any unpaired data whose side A holds content images and side B style images.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn import adain, channel_stats
from coursekit.train import InverseDecay, Method, TrainConfig, unwrap

#: The encoder's layers that the style loss reads (relu1_1 .. relu4_1); t lives at the last.
STYLE_LAYERS = 4


def _conv(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)] + ([nn.ReLU()] if relu else [])


class AdaINDecoder(nn.Module):
    """g: relu4_1 features (N, 512, H/8, W/8) -> images (N, 3, H, W), VGG-19's layers up to
    relu4_1 in reverse, max pooling replaced by 2x nearest upsampling."""

    def __init__(self) -> None:
        super().__init__()
        up = nn.Upsample(scale_factor=2, mode="nearest")
        self.model = nn.Sequential(
            *_conv(512, 256), up,
            *_conv(256, 256), *_conv(256, 256), *_conv(256, 256), *_conv(256, 128), up,
            *_conv(128, 128), *_conv(128, 64), up,
            *_conv(64, 64), *_conv(64, 3, relu=False))

    def forward(self, t: Tensor) -> Tensor:
        if t.ndim != 4 or t.shape[1] != 512:
            raise ValueError(f"AdaINDecoder expects relu4_1 features (N, 512, h, w), got "
                             f"{tuple(t.shape)}")
        return self.model(t)


@dataclass
class Config:
    """AdaIN style transfer settings; the defaults are the reference's."""

    image_size: int = 256
    lambda_content: float = 1.0
    lambda_style: float = 10.0
    lr: float = 1e-4
    lr_decay: float = 5e-5
    alpha: float = 1.0  # content-style trade-off at test time (1: the style's statistics)
    vgg_weights: str | None = None  # VGG-19's file; None: the torch hub cache's
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=160_000, batch_size=8, out_dir="runs/adain", log_every=100, sample_every=2000,
        checkpoint_every=10_000))

    def __post_init__(self) -> None:
        if self.image_size % 8 or self.image_size < 16:
            raise ValueError(f"the encoder pools three times before relu4_1, so image_size must "
                             f"be a multiple of 8 and at least 16; got {self.image_size}")
        if self.lambda_content < 0 or self.lambda_style < 0:
            raise ValueError("loss weights must be >= 0")
        _check_alpha(self.alpha)

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """The reference's training: 256 px crops, batch 8, 160k steps, lambda 10."""
        return replace(cls(), **overrides)


class AdaINStyleTransfer(Method):
    """The frozen VGG-19 encoder (buffers, not parameters: never trained, never saved), AdaIN,
    and the decoder that learns to invert it."""

    inference_networks = ("decoder",)

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = c = config or Config()
        self.vgg = _encoder(c.vgg_weights)
        self.decoder = AdaINDecoder()

    def encode(self, x: Tensor) -> list[Tensor]:
        """relu1_1 .. relu4_1 of images x in [-1, 1] (ImageNet-normalised for VGG-19)."""
        return self.vgg(x)

    def losses(self, content: Tensor, style: Tensor) -> dict[str, Tensor]:
        """Eq. 11-13 for a batch of content and style images, and the stylised images."""
        with torch.no_grad():  # the encoder is fixed: t and the style's statistics are targets
            t = adain(self.encode(content)[-1], *channel_stats(self.encode(style)[-1]))
            style_stats = [channel_stats(f) for f in self.encode(style)]
        out = self.decoder(t)
        out_features = self.encode(out)
        loss_c = F.mse_loss(out_features[-1], t)
        loss_s = sum(F.mse_loss(mu, mu_s) + F.mse_loss(sigma, sigma_s)
                     for (mu, sigma), (mu_s, sigma_s) in zip(map(channel_stats, out_features),
                                                             style_stats))
        c = self.config
        return {"content": loss_c, "style": loss_s, "stylised": out,
                "loss": c.lambda_content * loss_c + c.lambda_style * loss_s}

    @torch.no_grad()
    def stylize(self, content: Tensor, style: Tensor, alpha: float | None = None) -> Tensor:
        """Content images in the style of ``style`` (one per content image, or one for all),
        in [-1, 1]: ``g((1 - alpha) f(c) + alpha AdaIN(f(c), f(s)))``."""
        alpha = self.config.alpha if alpha is None else _check_alpha(alpha)
        fc = self.encode(content.to(self.device))[-1]
        mean, std = channel_stats(self.encode(style.to(self.device))[-1])
        if len(mean) == 1:
            mean, std = mean.expand(len(fc), -1), std.expand(len(fc), -1)
        t = adain(fc, mean, std)
        return unwrap(self.decoder)((1 - alpha) * fc + alpha * t).clamp(-1, 1)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"decoder": torch.optim.Adam(self.decoder.parameters(), lr=self.config.lr)}

    def lr_multiplier(self, steps: int, decay_steps: int):
        return InverseDecay(self.config.lr_decay)

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        losses = self.losses(batch["A"], batch["B"])
        self.backward_and_step(losses["loss"], "decoder")
        return {k: losses[k].detach() for k in ("loss", "content", "style")}

    def visuals(self, batch: dict) -> dict[str, Tensor]:
        return {"content": batch["A"], "style": batch["B"],
                "stylised": self.stylize(batch["A"], batch["B"])}


def _check_alpha(alpha: float) -> float:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (the content-style trade-off) must be in [0, 1], got {alpha}")
    return float(alpha)


def _encoder(path: str | None):
    """VGG-19 to relu4_1, ImageNet-normalised, with what to do when the weights are missing."""
    from coursekit.nn import VGGFeatures
    from coursekit.nn.perceptual import load_or_explain

    return load_or_explain(lambda: VGGFeatures(path, imagenet_normalize=True, depth=STYLE_LAYERS), (
        "AdaIN style transfer encodes with VGG-19's ImageNet weights; put the file there (or "
        "pass Config(vgg_weights=PATH)). MUNIT itself needs no VGG: its decoder's AdaIN takes "
        "its statistics from the style code."))


def build(config: Config) -> AdaINStyleTransfer:
    return AdaINStyleTransfer(config)
