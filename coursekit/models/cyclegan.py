"""CycleGAN: unpaired image-to-image translation with cycle-consistent adversarial networks.

Zhu*, Park*, Isola, Efros, ICCV 2017 (Park's thesis §3.2). Two domains and no
pairs: horses X = A and zebras Y = B. Two generators, G: A -> B and F: B -> A, and two
discriminators, D_Y on B-domain images and D_X on A-domain images. In the code they are
``G_AB`` (G), ``G_BA`` (F), ``D_B`` (D_Y) and ``D_A`` (D_X): each name says which domain it
maps to or judges. (The reference code calls them G_A, G_B, D_A, D_B with D_A judging G_A's
*outputs*, i.e. domain B; the names here avoid that trap.)

**Objective (thesis Eq. 3.1-3.4).** Each generator plays a GAN against the discriminator of
its target domain,

    L_GAN(G, D_Y, X, Y) = E_y[log D_Y(y)] + E_x[log(1 - D_Y(G(x)))]         (Eq. 3.1)

and symmetrically L_GAN(F, D_X, Y, X). Many mappings make G(x) look like a zebra; most forget
x. Cycle consistency keeps the ones that can be undone:

    L_cyc(G, F) = E_x[ ||F(G(x)) - x||_1 ] + E_y[ ||G(F(y)) - y||_1 ]          (Eq. 3.2)

(the forward cycle x -> G(x) -> F(G(x)) ~ x, the backward cycle y -> F(y) -> G(F(y)) ~ y). So

    L = L_GAN(G, D_Y, X, Y) + L_GAN(F, D_X, Y, X) + lambda L_cyc(G, F),  lambda = 10  (Eq. 3.3)
    G*, F* = arg min_{G,F} max_{D_X, D_Y} L                                    (Eq. 3.4)

The GAN terms are trained as least squares (LSGAN, Mao et al. 2017; thesis §3.2.4): G minimises
E_x[(D_Y(G(x)) - 1)^2], D_Y minimises E_y[(D_Y(y) - 1)^2] + E_x[D_Y(G(x))^2] -- "more stable
during training and generates higher quality results". The identity loss (thesis §3.2.6,
from Taigman et al. 2017) asks each generator to leave images of its *target* domain alone,

    L_identity(G, F) = E_y[ ||G(y) - y||_1 ] + E_x[ ||F(x) - x||_1 ],

which stops it from changing the tint when there is no need. The thesis gives no weight; the
reference code uses 0.5 * lambda for every run (junyanz/pytorch-CycleGAN-and-pix2pix,
``--lambda_identity 0.5``), and so does
``Config.paper()``: G's identity term is weighted 0.5 * lambda_B, F's 0.5 * lambda_A.

**Networks (§3.2.4).** Both generators are Johnson et al.'s ResNet (``coursekit.nn.
ResnetGenerator``): 9 residual blocks at 256 px, 6 at 128 px, instance norm. Both
discriminators are unconditional 70x70 PatchGANs with instance norm (they see one image, not a
pair: there is no pair to see). Weights from N(0, 0.02).

**Optimisation (§3.2.4).** Adam, lr 2e-4, betas (0.5, 0.999), batch 1, constant for 100 epochs
then linearly to 0 over 100. One step updates G and F jointly with the discriminators frozen,
then D_X and D_Y jointly (each loss halved). The discriminators see generated images from a
history of the last 50 (``coursekit.nn.ImagePool``), not only the latest generators' output,
"to reduce model oscillation" (Shrivastava et al. 2017).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from coursekit.models import check_loss_weights, with_ablation
from coursekit.nn import (GANLoss, ImagePool, PatchGANDiscriminator, ResnetGenerator,
                          init_weights)
from coursekit.train import Method, TrainConfig, unwrap

DEFAULT_DATA = "synthetic-zebras"
#: Unpaired: it needs two domains, not pairs (paired data trains it too, as two domains).
PAIRED = False

#: The paper's loss ablation (thesis Tables 3.4/3.5), as ``Config`` overrides. The paper ran
#: it without the identity loss, which it introduced only for paintings <-> photos.
ABLATIONS: dict[str, dict[str, float]] = {
    "cycle_alone": {"lambda_gan": 0.0, "lambda_identity": 0.0},
    "gan_alone": {"lambda_cycle_A": 0.0, "lambda_cycle_B": 0.0, "lambda_identity": 0.0},
    "gan_forward_cycle": {"lambda_cycle_B": 0.0, "lambda_identity": 0.0},
    "gan_backward_cycle": {"lambda_cycle_A": 0.0, "lambda_identity": 0.0},
    "cyclegan": {"lambda_identity": 0.0},
}


def cycle_loss(real: Tensor, reconstructed: Tensor) -> Tensor:
    """One direction of L_cyc (Eq. 3.2): ``E[ ||F(G(x)) - x||_1 ]``, the mean absolute error
    between an image and its round trip through both generators (averaged over pixels and
    channels, as the reference's ``L1Loss``)."""
    return F.l1_loss(reconstructed, real)


def identity_loss(real: Tensor, same: Tensor) -> Tensor:
    """One term of L_identity (thesis §3.2.6): ``E_y[ ||G(y) - y||_1 ]``, the mean absolute
    change a generator makes to an image that is already in its target domain."""
    return F.l1_loss(same, real)


@dataclass
class Config:
    """CycleGAN settings; the defaults are the paper's (see ``Config.paper()``)."""

    image_size: int = 256
    channels_A: int = 3
    channels_B: int = 3
    # Generators: ResNet with n_blocks residual blocks (9 at 256 px, 6 at 128 px).
    ngf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    dropout: float = 0.0  # the reference trains CycleGAN with --no_dropout
    # Discriminators: d_layers=3 is the 70x70 PatchGAN.
    ndf: int = 64
    d_layers: int = 3
    gan_mode: str = "lsgan"
    # Loss weights (Eq. 3.3): lambda for the forward cycle A -> B -> A and the backward cycle
    # B -> A -> B; 0 switches a cycle off (Tables 3.4/3.5). lambda_identity is a fraction of
    # them, as in the reference: G_AB's identity term weighs lambda_identity * lambda_cycle_B.
    lambda_gan: float = 1.0
    lambda_cycle_A: float = 10.0
    lambda_cycle_B: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50  # generated images kept per discriminator; 0: the latest only
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, epochs_decay=100, batch_size=1, out_dir="runs/cyclegan"))

    def __post_init__(self) -> None:
        if self.image_size % 4 or self.image_size < 8:
            raise ValueError(f"the ResNet generator halves the image twice, so image_size must be "
                             f"a multiple of 4 and at least 8; got {self.image_size}")
        if self.image_size < 3 * 2**self.d_layers:
            raise ValueError(f"a PatchGAN with d_layers={self.d_layers} needs images of at least "
                             f"{3 * 2**self.d_layers} px; got image_size={self.image_size}. "
                             "Use fewer d_layers.")
        check_loss_weights(self, "lambda_gan", "lambda_cycle_A", "lambda_cycle_B",
                           "lambda_identity")
        if self.lambda_identity and self.channels_A != self.channels_B:
            raise ValueError(f"the identity loss feeds B images to the A -> B generator, so it "
                             f"needs channels_A == channels_B (got {self.channels_A} and "
                             f"{self.channels_B}); set lambda_identity=0")
        if self.pool_size < 0:
            raise ValueError(f"pool_size must be >= 0 (0: no history), got {self.pool_size}")

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """The paper's setting: 256 px, ResNet-9, 70x70 PatchGAN, LSGAN, lambda 10, identity
        0.5 * lambda, 50-image pools, batch 1, 100 + 100 epochs. Use ``n_blocks=6`` at 128 px."""
        return replace(cls(), **overrides)

    @classmethod
    def ablation(cls, name: str, base: "Config | None" = None, **overrides) -> "Config":
        """``base`` (default ``Config.fast()``) with one of the paper's loss ablations
        (``ABLATIONS``: cycle_alone, gan_alone, gan_forward_cycle, gan_backward_cycle, cyclegan)."""
        return with_ablation(ABLATIONS, name, base if base is not None else cls.fast(),
                             **overrides)

    @classmethod
    def fast(cls, **overrides) -> "Config":
        """A CPU preset for synthetic-zebras: 32 px, ResNet with 16 base filters and 3 blocks,
        a 16x16 PatchGAN, batch 8, lr 1e-3, 600 steps (the last 300 decaying).

        Sized for about 2 minutes of training on 2 CPU threads. As in pix2pix's fast preset the
        discriminator is scaled with the image: 70x70 patches are about a quarter of a 256 px
        image's side; at 32 px that is a 16x16 PatchGAN (``d_layers=1``). lr 1e-3, 5x the
        paper's, because the run is ~10^3 times shorter. What it reaches is in the README's
        score table; the variants tried are in ``benchmarks/cyclegan_fast.py``."""
        base = cls(image_size=32, ngf=16, n_blocks=3, ndf=32, d_layers=1, lr=1e-3,
                   train=TrainConfig(steps=600, decay_steps=300, batch_size=8,
                                     out_dir="runs/cyclegan-fast", log_every=50,
                                     sample_every=200, checkpoint_every=200))
        return replace(base, **overrides)

    @classmethod
    def course(cls, **overrides) -> "Config":
        """The course checkpoint's preset (``scripts/train_course_checkpoints.py``): 64 px (at
        32 px the stripes are a pixel or two wide), small networks (the fast preset's 16 base
        filters, with 4 blocks: a CPU step sees 4 images in the time the ngf 32, 6-block networks
        see one), a 34x34 PatchGAN, batch 4, lr 5e-4, 4500 steps with the last half
        decaying: about 35 minutes on one CPU thread."""
        base = cls.fast(image_size=64, n_blocks=4, d_layers=2, lr=5e-4)
        base = replace(base, train=TrainConfig(steps=4500, decay_steps=2250, batch_size=4,
                                               out_dir="runs/cyclegan-course", log_every=100,
                                               sample_every=500, checkpoint_every=250, keep_every=1500,
                                               eval_every=500))
        return replace(base, **overrides)


class CycleGAN(Method):
    """The CycleGAN method: two generators, two discriminators, two image pools, one step."""

    inference_networks = ("G_AB", "G_BA")  # what translating needs; the rest trains them

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = c = config or Config()

        def generator(c_in: int, c_out: int) -> ResnetGenerator:
            return init_weights(ResnetGenerator(c_in, c_out, ngf=c.ngf, n_blocks=c.n_blocks,
                                                norm=c.norm, dropout=c.dropout))

        def discriminator(channels: int) -> PatchGANDiscriminator:
            return init_weights(PatchGANDiscriminator(channels, ndf=c.ndf, n_layers=c.d_layers,
                                                      norm=c.norm))

        self.G_AB = generator(c.channels_A, c.channels_B)  # the paper's G: X -> Y
        self.G_BA = generator(c.channels_B, c.channels_A)  # the paper's F: Y -> X
        self.D_A = discriminator(c.channels_A)  # D_X: real A vs G_BA's outputs
        self.D_B = discriminator(c.channels_B)  # D_Y: real B vs G_AB's outputs
        # Histories of generated images, one per discriminator: not networks (no parameters),
        # but their content is in state_dict(), so checkpoints resume them exactly.
        self.pool_A = ImagePool(c.pool_size)
        self.pool_B = ImagePool(c.pool_size)
        self.gan_loss = GANLoss(c.gan_mode)

    # ------------------------------------------------------------------ losses
    def generator_losses(self, real_A: Tensor, real_B: Tensor) -> dict[str, Tensor]:
        """Every term of the generators' objective (Eq. 3.3 + identity) and their weighted sum
        ``"G"``, plus the generated images (``fake_B`` = G(x), ``fake_A`` = F(y), the
        reconstructions ``rec_A``, ``rec_B``) for the discriminators' step."""
        c = self.config
        zero = real_A.new_zeros(())
        fake_B = self.G_AB(real_A)
        fake_A = self.G_BA(real_B)
        out: dict[str, Tensor] = {"fake_A": fake_A, "fake_B": fake_B}
        # Adversarial: G_AB's outputs should look real to D_B, G_BA's to D_A (LSGAN: (D - 1)^2).
        out["G_gan_AB"] = self.gan_loss.generator(self.D_B(fake_B)) if c.lambda_gan else zero
        out["G_gan_BA"] = self.gan_loss.generator(self.D_A(fake_A)) if c.lambda_gan else zero
        # Cycle consistency (Eq. 3.2), each direction only when it is switched on.
        out["cycle_A"] = out["cycle_B"] = zero
        if c.lambda_cycle_A:  # forward: A -> B -> A
            out["rec_A"] = self.G_BA(fake_B)
            out["cycle_A"] = cycle_loss(real_A, out["rec_A"])
        if c.lambda_cycle_B:  # backward: B -> A -> B
            out["rec_B"] = self.G_AB(fake_A)
            out["cycle_B"] = cycle_loss(real_B, out["rec_B"])
        # Identity: each generator fed its own target domain should change nothing.
        idt_AB = c.lambda_identity * c.lambda_cycle_B
        idt_BA = c.lambda_identity * c.lambda_cycle_A
        out["identity_AB"] = identity_loss(real_B, self.G_AB(real_B)) if idt_AB else zero
        out["identity_BA"] = identity_loss(real_A, self.G_BA(real_A)) if idt_BA else zero
        out["G"] = (c.lambda_gan * (out["G_gan_AB"] + out["G_gan_BA"])
                    + c.lambda_cycle_A * out["cycle_A"] + c.lambda_cycle_B * out["cycle_B"]
                    + idt_AB * out["identity_AB"] + idt_BA * out["identity_BA"])
        return out

    def discriminator_losses(self, real_A: Tensor, real_B: Tensor, fake_A: Tensor,
                             fake_B: Tensor) -> dict[str, Tensor]:
        """LSGAN for each discriminator, halved: ``0.5 [(D(real) - 1)^2 + D(fake)^2]``. The
        fakes are detached here (the D step must not reach the generators) and then drawn
        through the image pools."""
        fake_A = self.pool_A.query(fake_A.detach())
        fake_B = self.pool_B.query(fake_B.detach())
        loss_A = self.gan_loss.discriminator(self.D_A(real_A), self.D_A(fake_A))
        loss_B = self.gan_loss.discriminator(self.D_B(real_B), self.D_B(fake_B))
        return {"D_A": loss_A, "D_B": loss_B, "D": loss_A + loss_B}

    # ------------------------------------------------------------------ one step
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config

        def adam(*nets):
            return torch.optim.Adam([p for net in nets for p in net.parameters()], lr=c.lr,
                                    betas=c.betas)

        optimizers = {"G": adam(self.G_AB, self.G_BA)}
        if c.lambda_gan:  # "cycle alone" never steps the discriminators
            optimizers["D"] = adam(self.D_A, self.D_B)
        return optimizers

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        real_A, real_B = batch["A"], batch["B"]
        # 1. Both generators, with the discriminators frozen so G's loss cannot change them.
        self.set_requires_grad(False, self.D_A, self.D_B)
        g = self.generator_losses(real_A, real_B)
        self.backward_and_step(g["G"], "G")
        losses = {k: v for k, v in g.items() if k in (
            "G", "G_gan_AB", "G_gan_BA", "cycle_A", "cycle_B", "identity_AB", "identity_BA")}
        # 2. Both discriminators, on real images and on pooled (detached) generated ones.
        if self.config.lambda_gan:
            self.set_requires_grad(True, self.D_A, self.D_B)
            d = self.discriminator_losses(real_A, real_B, g["fake_A"], g["fake_B"])
            self.backward_and_step(d["D"], "D")
            losses.update(d)
        return {k: v.detach() for k, v in losses.items()}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def translate(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        """G_AB(x) (``"AtoB"``: horse -> zebra) or G_BA(x) (``"BtoA"``) for a batch in [-1, 1],
        in eval mode (which only matters with dropout: instance norm has no running state)."""
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        G = unwrap(self.G_AB if direction == "AtoB" else self.G_BA)
        was_training = G.training
        G.eval()
        try:
            return G(x.to(self.device))
        finally:
            G.train(was_training)

    def visuals(self, batch: dict) -> dict[str, Tensor]:
        real_A, real_B = batch["A"], batch["B"]
        fake_B, fake_A = self.translate(real_A, "AtoB"), self.translate(real_B, "BtoA")
        return {"real_A": real_A, "fake_B": fake_B, "rec_A": self.translate(fake_B, "BtoA"),
                "real_B": real_B, "fake_A": fake_A, "rec_B": self.translate(fake_A, "AtoB")}

    @torch.no_grad()
    def evaluate(self, dataset, batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
        """Both directions scored by ``coursekit.data.evaluation.evaluate_unpaired``."""
        from coursekit.data.evaluation import evaluate_unpaired

        return evaluate_unpaired(lambda x: self.translate(x, "AtoB"), dataset,
                                 lambda x: self.translate(x, "BtoA"),
                                 batch_size=batch_size, max_items=max_items)


def build(config: Config) -> CycleGAN:
    """The method for ``coursekit train cyclegan``."""
    return CycleGAN(config)
