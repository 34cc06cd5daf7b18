"""pix2pix: image-to-image translation with conditional adversarial networks.

Isola, Zhu, Zhou, Efros, CVPR 2017. A generator G maps an input image x (a label map, an edge
map, a photo) to an output G(x); a discriminator D sees the input together with either the
real output y or G(x) and judges, patch by patch, which one it is.

**Objective (paper Eq. 1-4).** The conditional GAN loss

    L_cGAN(G, D) = E_{x,y}[log D(x, y)] + E_x[log(1 - D(x, G(x)))]

makes G(x) look real *for this x*. Alone it gives sharp but often wrong images; an L1 term

    L_L1(G) = E_{x,y}[ || y - G(x) ||_1 ]

ties the output to the ground truth. L1 alone is blurry: when several outputs are plausible,
the pixel-wise median of them minimises it. Together:

    G* = arg min_G max_D  L_cGAN(G, D) + lambda * L_L1(G),   lambda = 100.

**Networks.** G is a U-Net (``coursekit.nn.UNetGenerator``); D a 70x70 PatchGAN on the
concatenation (x, y) (``coursekit.nn.PatchGANDiscriminator``). No noise vector z: the paper
found that G learns to ignore it, and keeps only dropout as noise, at train *and* test time.

**Optimisation (§3.3).** Alternate one gradient step on D and one on G; D's loss is halved;
G maximises log D(x, G(x)) (the non-saturating form); Adam, lr 2e-4, betas (0.5, 0.999),
batch 1 (batch norm with batch 1 is instance normalisation), weights N(0, 0.02); in the
reference code the learning rate is constant for 100 epochs then decays linearly to 0 over 100.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.nn import (GANLoss, PatchGANDiscriminator, PixelDiscriminator, ResnetGenerator,
                          UNetGenerator, init_weights)
from coursekit.train import Method, TrainConfig, unwrap

DEFAULT_DATA = "synthetic-facades"
#: pix2pix learns from pixel-aligned pairs (its L1 term compares G(x) with y).
PAIRED = True


@dataclass
class Config:
    """pix2pix settings; the defaults are the paper's (see ``Config.paper()``)."""

    direction: str = "AtoB"  # "AtoB": A -> B (synthetic-facades: labels -> photo); "BtoA" reverses
    image_size: int = 256
    in_channels: int = 3
    out_channels: int = 3
    # Generator: U-Net with num_downs stride-2 layers (8 at 256 px: 256 / 2**8 = 1x1 bottleneck).
    ngf: int = 64
    num_downs: int = 8
    skips: bool = True  # False: the encoder-decoder of the ablation (paper Table 2)
    # "resnet": the reference's resnet_9blocks instead (2 downsamplings, n_blocks residual blocks;
    # with norm="instance" the pix2pixHD-like generator of the SPADE lecture's wash-out test).
    generator: str = "unet"
    n_blocks: int = 9
    norm: str = "batch"
    dropout: float = 0.5
    # Discriminator: n_layers=3 is the 70x70 PatchGAN; 0 is the 1x1 PixelGAN (paper Table 3).
    ndf: int = 64
    d_layers: int = 3
    conditional_d: bool = True  # D sees (x, y); False: an unconditional D on y alone (Table 1)
    gan_mode: str = "vanilla"
    # Loss weights: lambda_gan=0 is "L1 only", lambda_l1=0 is "cGAN only" (paper Table 1).
    lambda_gan: float = 1.0
    lambda_l1: float = 100.0
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    # §3.3: "we apply dropout at test time, and we apply batch normalization using the
    # statistics of the test batch". False: the usual eval mode (running statistics, no dropout).
    paper_test_mode: bool = True
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, epochs_decay=100, batch_size=1, out_dir="runs/pix2pix"))

    def __post_init__(self) -> None:
        if self.direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {self.direction!r}")
        if self.generator not in ("unet", "resnet"):
            raise ValueError(f"generator must be 'unet' or 'resnet', got {self.generator!r}")
        if self.generator == "resnet" and self.image_size % 4:
            raise ValueError(f"the ResNet generator halves the image twice: image_size must be a "
                             f"multiple of 4, got {self.image_size}")
        if self.generator == "unet" and self.image_size % 2**self.num_downs:
            raise ValueError(
                f"a U-Net with num_downs={self.num_downs} needs image sizes divisible by "
                f"{2**self.num_downs}; image_size={self.image_size} is not. Use num_downs="
                f"{max(1, (self.image_size & -self.image_size).bit_length() - 1)} or another size.")

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """The paper's setting: 256 px, unet_256, 70x70 PatchGAN, batch 1, 100 + 100 epochs."""
        return replace(cls(), **overrides)

    @classmethod
    def fast(cls, **overrides) -> "Config":
        """A CPU preset: 64 px, a 6-level U-Net with 32 base filters, batch 4, 1200 steps.

        The discriminator is scaled with the image: the paper's 70x70 patches are about a quarter
        of a 256 px image's side, so at 64 px the matching PatchGAN is 16x16 (``d_layers=1``);
        a 70x70 PatchGAN would see the whole 64 px image."""
        base = cls(image_size=64, num_downs=6, ngf=32, ndf=32, d_layers=1,
                   train=TrainConfig(steps=1200, decay_steps=600, batch_size=4,
                                     out_dir="runs/pix2pix-fast", log_every=50,
                                     sample_every=300, checkpoint_every=300))
        return replace(base, **overrides)

    @classmethod
    def course(cls, **overrides) -> "Config":
        """The course checkpoint's preset (``scripts/train_course_checkpoints.py``): the fast
        preset at 16 base filters (a 3.5 MB float16 generator: shipped checkpoints must stay
        small) trained 25x longer, 30000 steps with the last half decaying, about 40 minutes
        on one CPU thread; the paper's lr and batch 4."""
        base = cls.fast(ngf=16)
        base = replace(base, train=replace(base.train, steps=30000, decay_steps=15000,
                                           out_dir="runs/pix2pix-course", sample_every=3000,
                                           checkpoint_every=1500, eval_every=3000,
                                           log_every=250))
        return replace(base, **overrides)


class Pix2Pix(Method):
    """The pix2pix method: networks G and D, the objective, and one training step."""

    inference_networks = ("G",)  # what translating needs; the rest trains them

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = config = config or Config()
        if config.generator == "resnet":
            G = ResnetGenerator(config.in_channels, config.out_channels, ngf=config.ngf,
                                n_blocks=config.n_blocks, norm=config.norm, dropout=config.dropout)
        else:
            G = UNetGenerator(config.in_channels, config.out_channels, num_downs=config.num_downs,
                              ngf=config.ngf, norm=config.norm, dropout=config.dropout,
                              skips=config.skips)
        self.G = init_weights(G)
        d_in = config.out_channels + (config.in_channels if config.conditional_d else 0)
        if config.d_layers == 0:
            D = PixelDiscriminator(d_in, ndf=config.ndf, norm=config.norm)
        else:
            D = PatchGANDiscriminator(d_in, ndf=config.ndf, n_layers=config.d_layers,
                                      norm=config.norm)
        self.D = init_weights(D)
        self.gan_loss = GANLoss(config.gan_mode)

    # ------------------------------------------------------------------ data
    def inputs_and_targets(self, batch: dict) -> tuple[Tensor, Tensor]:
        """(x, y) for the configured direction."""
        if self.config.direction == "AtoB":
            return batch["A"], batch["B"]
        return batch["B"], batch["A"]

    # ------------------------------------------------------------------ losses
    def discriminate(self, x: Tensor, y: Tensor) -> Tensor:
        """D(x, y): the PatchGAN's logits for output y given input x (conditional, Eq. 1)."""
        return self.D(torch.cat([x, y], dim=1) if self.config.conditional_d else y)

    def discriminator_loss(self, x: Tensor, y: Tensor, fake: Tensor) -> Tensor:
        """0.5 * (-log D(x, y) - log(1 - D(x, G(x)))); G(x) is detached: D's step leaves G alone."""
        return self.gan_loss.discriminator(self.discriminate(x, y),
                                           self.discriminate(x, fake.detach()))

    def generator_loss(self, x: Tensor, y: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """lambda_gan * (-log D(x, G(x))) + lambda_l1 * ||y - G(x)||_1 (Eq. 4)."""
        c = self.config
        gan = self.gan_loss.generator(self.discriminate(x, fake)) if c.lambda_gan else fake.new_zeros(())
        l1 = F.l1_loss(fake, y)
        return {"G_gan": gan, "G_l1": l1, "G": c.lambda_gan * gan + c.lambda_l1 * l1}

    # ------------------------------------------------------------------ one step
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        optimizers = {"G": torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=c.betas)}
        if c.lambda_gan:  # "L1 only" never steps D; an idle optimizer would only warn.
            optimizers["D"] = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=c.betas)
        return optimizers

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        x, y = self.inputs_and_targets(batch)
        fake = self.G(x)
        losses: dict[str, Tensor] = {}
        if self.config.lambda_gan:
            # 1. D step: real pairs -> 1, generated pairs -> 0.
            self.set_requires_grad(True, self.D)
            loss_D = self.discriminator_loss(x, y, fake)
            self.backward_and_step(loss_D, "D")
            losses["D"] = loss_D
            # 2. G step with D frozen, so G's loss cannot change D.
            self.set_requires_grad(False, self.D)
        g = self.generator_loss(x, y, fake)
        self.backward_and_step(g["G"], "G")
        losses.update(g)
        return {k: v.detach() for k, v in losses.items()}

    # ------------------------------------------------------------------ inference
    @contextmanager
    def paper_test_mode(self) -> Iterator[nn.Module]:
        """G as the paper runs it at test time: dropout on and batch norm on the test batch's
        statistics, without touching the running statistics learned in training."""
        G = unwrap(self.G)
        was_training = G.training
        norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        G.train(self.config.paper_test_mode)
        for m in norms:
            m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: left unchanged
        try:
            yield G
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            G.train(was_training)

    @torch.no_grad()
    def translate(self, x: Tensor) -> Tensor:
        """G(x) for a batch of inputs in [-1, 1], as at test time."""
        with self.paper_test_mode() as G:
            return G(x.to(self.device))

    def visuals(self, batch: dict) -> dict[str, Tensor]:
        x, y = self.inputs_and_targets(batch)
        return {"input": x, "output": self.translate(x), "target": y}

    @torch.no_grad()
    def evaluate(self, dataset, batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
        """Ground-truth scores on ``dataset`` (see ``coursekit.data.evaluation``)."""
        from coursekit.data.evaluation import evaluate_paired

        return evaluate_paired(self.translate, dataset, self.config.direction,
                               batch_size=batch_size, max_items=max_items)


def build(config: Config) -> Pix2Pix:
    """The method for ``coursekit train pix2pix``."""
    return Pix2Pix(config)
