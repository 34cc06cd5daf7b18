"""BicycleGAN: multimodal image-to-image translation.

Zhu, Zhang, Pathak, Darrell, Efros, Wang, Shechtman, NeurIPS 2017 ("Toward multimodal
image-to-image translation"). pix2pix maps a label map A to one photo; but one label map has
many right photos (brick or stucco, day or dusk). BicycleGAN learns G(A, z): a latent code z
of ``nz = 8`` numbers, drawn from N(0, I) at test time, picks which photo.

**Why noise alone fails.** Feeding pix2pix a random z ("pix2pix + noise") does not help: the
L1 term pays for every pixel that differs from *the* ground truth B, and z says nothing about B,
so G learns to ignore it (lecture 1 measured it). z must be made to matter, from two sides:

**cVAE-GAN (§3.2), B -> z -> B.** An encoder E reads the ground truth and proposes the code of
*its* style, z ~ E(B) = N(mu, diag(sigma^2)) (reparameterised, so gradients reach E); G must
rebuild B from (A, z), so z now carries what A does not say:

    L_1^VAE(G, E) = E ||B - G(A, z)||_1,  z ~ E(B)                              (Eq. 4)
    L_KL(E) = E[ D_KL(E(B) || N(0, I)) ]                                         (Eq. 5)
    L_GAN^VAE(G, D) = E[log D(B)] + E[log(1 - D(G(A, z)))],  z ~ E(B)            (Eq. 3)

The KL term keeps the codes near the prior, so that a random z at test time looks like an
encoded one. Alone, G is only ever trained on encoded codes and may produce poor images from
the random codes it will actually receive.

**cLR-GAN (§3.3), z -> B -> z.** Draw z from the prior, generate G(A, z), and ask the encoder
to recover it; a second discriminator D2 judges these random-code outputs:

    L_GAN(G, D2) = E[log D2(B)] + E[log(1 - D2(G(A, z)))],  z ~ N(0, I)         (Eq. 6)
    L_1^latent(G, E) = E_{z ~ N(0,I)} ||z - E(G(A, z))||_1                      (Eq. 7)

No image ever has to match B here, so alone it may ignore A's appearance cues (and it tends to
mode-collapse).

**BicycleGAN (§3.4)**: both cycles, sharing G and E,

    G*, E* = arg min_{G,E} max_{D,D2}  L_GAN^VAE + lambda L_1^VAE + L_GAN
                                       + lambda_latent L_1^latent + lambda_KL L_KL    (Eq. 8)

with lambda = 10, lambda_latent = 0.5, lambda_KL = 0.01. Following the reference code
(junyanz/BicycleGAN), the GAN losses are least squares (LSGAN), the KL term is *summed* over
the batch and the dimensions, E's mean mu stands for E(G(A, z)) in Eq. 7, and Eq. 7 updates G
only: if E also learnt from it, G and E could agree on a code that hides in details D does not
see.

**Batch.** Each batch is split in halves: the first half's B is encoded, and the first half's A
is translated twice, with the encoded code and with a random one; D2's real photos come from the
second half, so that the two discriminators see different real images. The batch size is even.

**Networks (§3.5).** G: pix2pix's U-Net with z concatenated at the input of every encoder layer
(``inject="all"``; ``"input"`` is the paper's other variant); E: a ResNet encoder with global
pooling (``coursekit.nn.ResnetEncoder``); D and D2: unconditional 2-scale PatchGANs
(``coursekit.nn.MultiScalePatchGAN``). Instance norm; Xavier init with gain 0.02; Adam 2e-4,
betas (0.5, 0.999), 100 + 100 epochs with linear decay (the reference's defaults).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from coursekit.models import check_loss_weights
from coursekit.nn import (GANLoss, MultiScalePatchGAN, ResnetEncoder, UNetGenerator, init_weights,
                          kl_divergence, latent_l1, reparameterize)
from coursekit.train import Method, TrainConfig, unwrap

DEFAULT_DATA = "synthetic-facades"
#: BicycleGAN learns from pixel-aligned pairs (its L1 term compares G(A, E(B)) with B).
PAIRED = True

#: The paper's baselines (§4, Fig. 5-6 and the realism/diversity table), as ``Config``
#: overrides. Each keeps one part of Eq. 8: pix2pix with a random code instead of an encoded one,
#: the cVAE-GAN cycle alone, the cLR-GAN cycle alone (where E learns from the latent loss: there
#: is nothing else to train it), and the full model.
ABLATIONS: dict[str, dict[str, object]] = {
    "pix2pix+noise": {"use_encoder": False, "lambda_kl": 0.0, "lambda_gan2": 0.0, "lambda_z": 0.0},
    "cvae_gan": {"lambda_gan2": 0.0, "lambda_z": 0.0},
    "clr_gan": {"lambda_l1": 0.0, "lambda_gan": 0.0, "lambda_kl": 0.0, "latent_updates_E": True},
    "bicyclegan": {},
}


@dataclass
class Config:
    """BicycleGAN settings; the defaults are the reference's (see ``Config.paper()``)."""

    direction: str = "AtoB"  # "AtoB": A -> B (synthetic-facades: labels -> photo); "BtoA" reverses
    image_size: int = 256
    in_channels: int = 3
    out_channels: int = 3
    nz: int = 8  # latent code size
    # Generator: U-Net (8 downsamplings at 256 px) with z at every encoder layer.
    ngf: int = 64
    num_downs: int = 8
    inject: str = "all"  # "all" encoder layers or the "input" only (§3.5)
    norm: str = "instance"
    dropout: float = 0.5  # the reference's training scripts pass --use_dropout
    # Encoder: a ResNet with e_blocks halving residual blocks (4 at 256 px).
    nef: int = 64
    e_blocks: int = 4
    use_encoder: bool = True  # False: pix2pix + noise (the L1/GAN branch gets a random z)
    # Discriminators: unconditional, 2 scales of 70x70 PatchGANs each.
    ndf: int = 64
    d_layers: int = 3
    d_scales: int = 2
    conditional_d: bool = False
    gan_mode: str = "lsgan"
    # Loss weights of Eq. 8; 0 switches a term off (the ablations).
    lambda_l1: float = 10.0
    lambda_gan: float = 1.0  # D on G(A, E(B))
    lambda_gan2: float = 1.0  # D2 on G(A, z), z ~ N(0, I)
    lambda_z: float = 0.5  # ||mu(E(G(A, z))) - z||_1
    lambda_kl: float = 0.01
    latent_updates_E: bool = False  # the reference: Eq. 7 trains G only
    init: str = "xavier"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, epochs_decay=100, batch_size=2, out_dir="runs/bicyclegan"))

    def __post_init__(self) -> None:
        if self.direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {self.direction!r}")
        if self.train.batch_size % 2:
            raise ValueError(
                f"BicycleGAN splits each batch in halves (one encodes the real photos, the other "
                f"gives D2 its real photos), so batch_size must be even; got "
                f"{self.train.batch_size}. Use batch_size={self.train.batch_size + 1}.")
        if self.image_size % 2**self.num_downs:
            raise ValueError(
                f"a U-Net with num_downs={self.num_downs} needs image sizes divisible by "
                f"{2**self.num_downs}; image_size={self.image_size} is not. Use num_downs="
                f"{max(2, (self.image_size & -self.image_size).bit_length() - 1)} or another size.")
        if self.image_size % 2 ** (self.e_blocks + 1):
            raise ValueError(f"the encoder halves the image e_blocks + 1 = {self.e_blocks + 1} "
                             f"times, so image_size={self.image_size} must be a multiple of "
                             f"{2 ** (self.e_blocks + 1)}; use fewer e_blocks")
        need = 3 * 2**self.d_layers * 2 ** (self.d_scales - 1)
        if self.image_size < need:
            raise ValueError(f"{self.d_scales}-scale PatchGANs with d_layers={self.d_layers} need "
                             f"images of at least {need} px; got image_size={self.image_size}. "
                             "Use fewer d_layers or d_scales.")
        check_loss_weights(self, "lambda_l1", "lambda_gan", "lambda_gan2", "lambda_z", "lambda_kl")
        if self.nz < 1:
            raise ValueError(f"nz must be >= 1 (BicycleGAN needs a latent code), got {self.nz}")

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """The reference's setting: 256 px, unet_256 with z everywhere, resnet_256 encoder,
        two 2-scale 70x70 PatchGANs, LSGAN, batch 2, 100 + 100 epochs."""
        return replace(cls(), **overrides)

    @classmethod
    def fast(cls, **overrides) -> "Config":
        """A CPU preset: 64 px, a 6-level U-Net with 16 base filters, a 3-block encoder, two
        2-scale 16x16 PatchGANs, batch 8 (two halves of 4), 1200 steps.

        The patch is scaled with the image as pix2pix's fast preset does (a quarter of the
        side at the finest scale); 16 filters make a step about as costly as pix2pix's fast
        step although BicycleGAN runs G twice and E twice."""
        base = cls(image_size=64, num_downs=6, ngf=16, nef=16, e_blocks=3, ndf=32, d_layers=1,
                   train=TrainConfig(steps=1200, decay_steps=600, batch_size=8,
                                     out_dir="runs/bicyclegan-fast", log_every=50,
                                     sample_every=300, checkpoint_every=300))
        return replace(base, **overrides)

    @classmethod
    def course(cls, **overrides) -> "Config":
        """The course checkpoint's preset (``scripts/train_course_checkpoints.py``): the fast
        preset (16 base filters keep G and E in float16 under 4 MB) trained 8x longer,
        10000 steps with the last half decaying."""
        base = cls.fast()
        base = replace(base, train=replace(base.train, steps=10000, decay_steps=5000,
                                           out_dir="runs/bicyclegan-course", sample_every=1000,
                                           checkpoint_every=500, eval_every=1000,
                                           log_every=100))
        return replace(base, **overrides)


class BicycleGAN(Method):
    """The BicycleGAN method: G, E, D, D2, the objective of Eq. 8 and one training step."""

    # Translating needs G; E turns a photo into its style code (encode -> decode, the explorer).
    inference_networks = ("G", "E")

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = c = config or Config()
        init = lambda net: init_weights(net, kind=c.init)  # noqa: E731
        self.G = init(UNetGenerator(c.in_channels, c.out_channels, num_downs=c.num_downs,
                                    ngf=c.ngf, norm=c.norm, dropout=c.dropout, nz=c.nz,
                                    inject=c.inject))
        self.E = init(ResnetEncoder(c.out_channels, c.nz, nef=c.nef, n_blocks=c.e_blocks,
                                    norm=c.norm))
        d_in = c.out_channels + (c.in_channels if c.conditional_d else 0)
        make_d = lambda: init(MultiScalePatchGAN(d_in, c.ndf, c.d_layers, c.d_scales, c.norm))  # noqa: E731
        self.D = make_d()  # judges G(A, E(B)) (the cVAE-GAN cycle)
        self.D2 = make_d()  # judges G(A, z), z ~ N(0, I) (the cLR-GAN cycle)
        # The reference sums the scales and does not halve D's loss.
        self.gan_loss = GANLoss(c.gan_mode, d_scale=1.0, scales="sum")

    # ------------------------------------------------------------------ which parts train
    @property
    def _encoded_branch(self) -> bool:
        """G(A, z) with z from E(B) (or, without the encoder, a random z) matched to B."""
        c = self.config
        return bool(c.lambda_l1 or c.lambda_gan or (c.use_encoder and c.lambda_kl))

    @property
    def _random_branch(self) -> bool:
        """G(A, z) with z ~ N(0, I), judged by D2 and encoded back."""
        return bool(self.config.lambda_gan2 or self.config.lambda_z)

    # ------------------------------------------------------------------ data
    def inputs_and_targets(self, batch: dict) -> tuple[Tensor, Tensor]:
        """(A, B) for the configured direction."""
        if self.config.direction == "AtoB":
            return batch["A"], batch["B"]
        return batch["B"], batch["A"]

    def random_z(self, n: int) -> Tensor:
        """n codes from the prior N(0, I)."""
        return torch.randn(n, self.config.nz, device=self.device)

    # ------------------------------------------------------------------ losses
    def discriminate(self, D, x: Tensor, y: Tensor) -> list[Tensor]:
        """D's logits, one map per scale, for photo y (with its input x if conditional)."""
        return D(torch.cat([x, y], dim=1) if self.config.conditional_d else y)

    def discriminator_loss(self, D, x_real: Tensor, real: Tensor, x_fake: Tensor,
                           fake: Tensor) -> Tensor:
        """(D(B) - 1)^2 + D(G(A, z))^2, summed over scales; the fakes are detached so that
        D's step leaves G alone."""
        return self.gan_loss.discriminator(self.discriminate(D, x_real, real),
                                           self.discriminate(D, x_fake, fake.detach()))

    def generator_loss(self, x: Tensor, y: Tensor, parts: dict[str, Tensor]) -> dict[str, Tensor]:
        """The G/E side of Eq. 8 for one batch half: ``parts`` holds ``fake_enc`` (and ``mu``,
        ``logvar`` with the encoder), ``fake_rand`` and ``z_rand``, as ``forward_halves`` made
        them. The latent term goes through E with E's weights frozen (it trains G only)."""
        c = self.config
        zero = x.new_zeros(())
        losses = {"G_gan": zero, "G_l1": zero, "kl": zero, "G_gan2": zero, "z_l1": zero}
        if self._encoded_branch:
            fake = parts["fake_enc"]
            if c.lambda_gan:
                losses["G_gan"] = self.gan_loss.generator(self.discriminate(self.D, x, fake))
            losses["G_l1"] = F.l1_loss(fake, y)
            if "mu" in parts:
                losses["kl"] = kl_divergence(parts["mu"], parts["logvar"])
        if self._random_branch:
            fake = parts["fake_rand"]
            if c.lambda_gan2:
                losses["G_gan2"] = self.gan_loss.generator(self.discriminate(self.D2, x, fake))
            if c.lambda_z:
                losses["z_l1"] = latent_l1(self.encode_for_latent_loss(fake), parts["z_rand"])
        losses["G"] = (c.lambda_gan * losses["G_gan"] + c.lambda_l1 * losses["G_l1"]
                       + c.lambda_kl * losses["kl"] + c.lambda_gan2 * losses["G_gan2"]
                       + c.lambda_z * losses["z_l1"])
        return losses

    def encode_for_latent_loss(self, fake: Tensor) -> Tensor:
        """mu(E(G(A, z))) for Eq. 7. With ``latent_updates_E`` False (the reference) E's
        weights are frozen for this pass, so its gradient reaches G through ``fake`` but never
        E; the frozen pass uses the plain network, outside DDP's gradient averaging, which has
        nothing of E's to average from it."""
        if self.config.latent_updates_E:
            return self.E(fake)[0]
        E = unwrap(self.E)
        self.set_requires_grad(False, E)
        try:
            return E(fake)[0]
        finally:
            self.set_requires_grad(True, E)

    # ------------------------------------------------------------------ one step
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        adam = lambda net: torch.optim.Adam(net.parameters(), lr=c.lr, betas=c.betas)  # noqa: E731
        optimizers = {"G": adam(self.G)}
        # A network no term trains gets no optimizer (an idle one would only warn).
        if c.use_encoder and self._encoded_branch:
            optimizers["E"] = adam(self.E)
        elif c.latent_updates_E and c.lambda_z:
            # cLR-GAN alone reads only E's mean (Eq. 7): its log-variance head learns nothing.
            optimizers["E"] = torch.optim.Adam(
                [p for n, p in self.E.named_parameters() if not n.startswith("logvar.")],
                lr=c.lr, betas=c.betas)
        if c.lambda_gan and self._encoded_branch:
            optimizers["D"] = adam(self.D)
        if c.lambda_gan2:
            optimizers["D2"] = adam(self.D2)
        return optimizers

    def forward_halves(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """Both cycles' forward passes on the first half of the batch (x1, y1).

        ``fake_enc`` = G(x1, z) with z ~ E(y1) reparameterised (or a random z without the
        encoder), ``fake_rand`` = G(x1, z_rand) with z_rand ~ N(0, I)."""
        c = self.config
        parts: dict[str, Tensor] = {}
        if self._encoded_branch:
            if c.use_encoder:
                parts["mu"], parts["logvar"] = self.E(y)
                z = reparameterize(parts["mu"], parts["logvar"])
            else:
                z = self.random_z(x.shape[0])
            parts["fake_enc"] = self.G(x, z)
        if self._random_branch:
            parts["z_rand"] = self.random_z(x.shape[0])
            parts["fake_rand"] = self.G(x, parts["z_rand"])
        return parts

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        x, y = self.inputs_and_targets(batch)
        if x.shape[0] % 2:
            raise ValueError(f"BicycleGAN needs an even batch (two halves), got {x.shape[0]} "
                             "images; set an even batch_size")
        half = x.shape[0] // 2
        x1, y1, x2, y2 = x[:half], y[:half], x[half:], y[half:]
        # 1. Both cycles on the first half: G(A, E(B)) and G(A, z).
        parts = self.forward_halves(x1, y1)
        # 2. G and E together, with D and D2 frozen (Eq. 8's min side; the latent term
        #    reaches G only, see encode_for_latent_loss).
        self.set_requires_grad(False, self.D, self.D2)
        losses = self.generator_loss(x1, y1, parts)
        self.backward_and_step(losses["G"], *[n for n in ("G", "E") if n in self.optimizers])
        # 3. D on the encoded cycle's output, D2 on the random cycle's, each against real
        #    photos: D on y1, D2 on the other half's y2. The reference updates them after G
        #    and E, on the same (detached) images.
        self.set_requires_grad(True, self.D, self.D2)
        if "D" in self.optimizers:
            losses["D"] = self.discriminator_loss(self.D, x1, y1, x1, parts["fake_enc"])
            self.backward_and_step(losses["D"], "D")
        if "D2" in self.optimizers:
            losses["D2"] = self.discriminator_loss(self.D2, x2, y2, x1, parts["fake_rand"])
            self.backward_and_step(losses["D2"], "D2")
        return {k: v.detach() for k, v in losses.items()}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def generate(self, x: Tensor, z: Tensor) -> Tensor:
        """G(x, z) in eval mode (no dropout: z is the only noise) for inputs in [-1, 1] and
        codes z (N, nz)."""
        G = unwrap(self.G)
        was_training = G.training
        G.eval()
        try:
            return G(x.to(self.device), z.to(self.device))
        finally:
            G.train(was_training)

    @torch.no_grad()
    def encode(self, y: Tensor) -> Tensor:
        """mu(E(y)): the code of photo y's style (N, nz)."""
        return unwrap(self.E)(y.to(self.device))[0]

    def translate(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """G(x, z); without z, z = 0, the prior's mean: one typical output per input (use
        ``sample`` for different ones)."""
        if z is None:
            z = torch.zeros(x.shape[0], self.config.nz, device=self.device)
        return self.generate(x, z)

    def sample(self, x: Tensor) -> Tensor:
        """G(x, z) with a fresh z ~ N(0, I) per input."""
        return self.generate(x, self.random_z(x.shape[0]))

    def reconstruct(self, x: Tensor, y: Tensor) -> Tensor:
        """G(x, mu(E(y))): input x drawn in the style of photo y."""
        return self.generate(x, self.encode(y))

    def visuals(self, batch: dict) -> dict[str, Tensor]:
        x, y = self.inputs_and_targets(batch)
        return {"input": x, "encoded": self.reconstruct(x, y), "random_1": self.sample(x),
                "random_2": self.sample(x), "target": y}

    @torch.no_grad()
    def evaluate(self, dataset, n_samples: int = 8, batch_size: int = 16,
                 max_items: int | None = None) -> dict[str, float]:
        """Scores of ``n_samples`` random-code outputs per input and, where the data knows every
        true translation, of encode -> decode (see ``coursekit.data.evaluation.evaluate_samples``)."""
        from coursekit.data.evaluation import _base_dataset, evaluate_samples

        base = _base_dataset(dataset)
        knows_targets = (self.config.direction == "AtoB"
                         and getattr(base, "mode_targets", lambda i: None)(0) is not None)
        return evaluate_samples(self.sample, dataset, n_samples=n_samples,
                                direction=self.config.direction, batch_size=batch_size,
                                max_items=max_items,
                                reconstruct=self.reconstruct if knows_targets else None)


def build(config: Config) -> BicycleGAN:
    """The method for ``coursekit train bicyclegan``."""
    return BicycleGAN(config)
