"""CUT and FastCUT: contrastive unpaired translation.

Park, Efros, Zhang, Zhu, ECCV 2020 (Park's thesis §3.3). CycleGAN (Zhu et al. 2017) ties an
unpaired translation G: X -> Y to its input with a second generator and a cycle that assumes a
bijection, "which is often too restrictive". CUT keeps one generator and one discriminator and
asks instead that every output patch be traceable to the input patch at the same place: a patch
of a zebra's head should be more like the horse's head it came from than like the grass or the
legs of the same image.

**Adversarial loss (Eq. 3.5).** ``L_GAN(G, D, X, Y) = E_y log D(y) + E_x log(1 - D(G(x)))``, in
its least-squares form (LSGAN, as CycleGAN): D minimises ``(D(y) - 1)^2 + D(G(x))^2`` (halved),
G minimises ``(D(G(x)) - 1)^2``.

**PatchNCE (Eq. 3.6-3.7, ``coursekit.models.patchnce``).** G = G_dec o G_enc, and the encoder is
the first half of the generator. Features of L = 5 encoder layers -- the padded RGB pixels, the
first and second downsampling conv, residual blocks 1 and 5 (``self.G.model`` indices 0, 4, 8,
12, 16; receptive fields 1, 9, 15, 35, 99 px) -- are sampled at 256 random locations, embedded
by a 2-layer MLP H_l (256 units, L2-normalised), and each output patch must pick out its input
patch among the 255 other patches of the same image (InfoNCE, tau = 0.07):

    L_PatchNCE(G, H, X) = E_x sum_l sum_s  l(z^_l^s, z_l^s, z_l^{S \\ s})
    z_l = H_l(G_enc^l(x)),   z^_l = H_l(G_enc^l(G(x)))

The input side (the keys) is a fixed target: it is detached, as in the reference code.

**External negatives (Eq. 3.8)** -- a MoCo memory bank of patches from other images -- did worse
in the thesis's ablation and is not implemented.

**Full objective (Eq. 3.9).**

    L_GAN(G, D, X, Y) + lambda_X L_PatchNCE(G, H, X) + lambda_Y L_PatchNCE(G, H, Y)

The Y term feeds real y through G and asks G(y) to keep its patches traceable: a learned,
domain-specific identity loss that discourages G from changing what is already in domain Y.

* **CUT**: lambda_X = lambda_Y = 1. As in the reference code, the two NCE terms are averaged,
  ``G loss = GAN + 0.5 (NCE_X + NCE_Y)``, and each NCE term is a mean over layers and patches.
* **FastCUT**: lambda_X = 10, lambda_Y = 0 "to compensate for the absence of the regularizer",
  plus *flip equivariance*: with probability 0.5 per iteration the input to G is flipped
  horizontally and the output's encoder features are flipped back before PatchNCE, so the
  patch correspondences must survive a flip. Without the identity pass FastCUT runs G on one
  image instead of two: about 0.375x CycleGAN's time per iteration (Table 3.6), CUT 0.6x.

**Networks and optimisation (§3.3.2, the reference code).** The CycleGAN ResNet generator with
9 blocks and anti-aliased down/upsampling, the 70x70 PatchGAN with instance norm, LSGAN, no
image pool, batch 1, Adam lr 2e-4 with betas (0.5, 0.999) (the thesis's "0.002" is a typo:
the reference repository trains with ``--lr 0.0002``), CUT 200 + 200 epochs, FastCUT 150 + 50. The heads H have their own Adam, as
in the reference, but unlike the reference they are built in ``__init__`` from the generator's
layer widths, so the optimizer sees them from the first step. Weights start at N(0, 0.02)
(``coursekit.nn.init_weights``; the reference uses Xavier with gain 0.02).

Names: ``G`` (X -> Y, horse -> zebra), ``D`` (real y vs G(x)), ``H`` (the PatchNCE heads).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from coursekit.models.patchnce import PatchProjector, PatchSampler, patch_nce_loss
from coursekit.nn import GANLoss, PatchGANDiscriminator, ResnetGenerator, init_weights
from coursekit.train import Method, TrainConfig, unwrap

DEFAULT_DATA = "synthetic-zebras"
#: Unpaired: it needs two domains, not pairs (paired data trains it too, as two domains).
PAIRED = False

#: CUT's PatchNCE layers (§3.3.2), as indices of ``ResnetGenerator(antialias=True).model``:
#: the padded RGB input, the first and second downsampling conv, residual blocks 1 and 5.
#: The paper's choice, so it lives here; the generator only gives the indices their meaning.
PAPER_LAYERS = (0, 4, 8, 12, 16)


@dataclass
class Config:
    """CUT settings; the defaults are the paper's (``Config.paper()``). FastCUT's are
    :class:`FastCUTConfig` (``Config.fastcut()``, ``coursekit train fastcut``)."""

    image_size: int = 256
    in_channels: int = 3
    out_channels: int = 3
    # Generator: ResNet with n_blocks residual blocks at 1/4 of the side, CUT's anti-aliasing.
    ngf: int = 64
    n_blocks: int = 9
    antialias: bool = True
    norm: str = "instance"
    # Discriminator: d_layers=3 is the 70x70 PatchGAN.
    ndf: int = 64
    d_layers: int = 3
    gan_mode: str = "lsgan"
    # PatchNCE (Eq. 3.6-3.7): indices into G.model, patches per layer, temperature, head width.
    nce_layers: tuple[int, ...] = PAPER_LAYERS
    num_patches: int = 256
    nce_temperature: float = 0.07
    head_units: int = 256
    # Eq. 3.9 weights. lambda_y > 0 adds the identity term L_PatchNCE(G, H, Y).
    lambda_gan: float = 1.0
    lambda_x: float = 1.0
    lambda_y: float = 1.0
    # FastCUT's flip equivariance: flip G's input with this probability per iteration.
    flip_equivariance: bool = False
    flip_probability: float = 0.5
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=200, epochs_decay=200, batch_size=1, out_dir="runs/cut"))

    def __post_init__(self) -> None:
        if self.image_size % 4 or self.image_size < 8:
            raise ValueError(f"the ResNet generator halves the image twice: image_size must be "
                             f"a multiple of 4 and >= 8, got {self.image_size}")
        if self.n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1 (PatchNCE reads residual block features), "
                             f"got {self.n_blocks}")
        if self.lambda_x < 0 or self.lambda_y < 0 or self.lambda_gan < 0:
            raise ValueError("loss weights lambda_gan, lambda_x, lambda_y must be >= 0")
        if not 0.0 <= self.flip_probability <= 1.0:
            raise ValueError(f"flip_probability must be in [0, 1], got {self.flip_probability}")
        if len(self.nce_layers) == 0:
            raise ValueError("nce_layers is empty: give the G.model indices PatchNCE uses, "
                             f"e.g. {PAPER_LAYERS}")

    @property
    def variant(self) -> str:
        """"CUT" (with the identity term) or "FastCUT" (without it)."""
        return "CUT" if self.lambda_y > 0 else "FastCUT"

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """The paper's setting at 256 px (CUT here, FastCUT on ``FastCUTConfig``)."""
        return replace(cls(), **overrides)

    @classmethod
    def cut(cls, **overrides) -> "Config":
        """CUT: lambda_X = lambda_Y = 1, 200 + 200 epochs."""
        return Config.paper(**overrides)

    @classmethod
    def fastcut(cls, **overrides) -> "FastCUTConfig":
        """FastCUT: lambda_X = 10, lambda_Y = 0, flip equivariance, 150 + 50 epochs."""
        return FastCUTConfig.paper(**overrides)

    @classmethod
    def fast(cls, **overrides) -> "Config":
        """A CPU preset for ``synthetic-zebras``: 600 steps, a few minutes on 2 CPU threads.

        What it reaches is in the README's score table (lecture 3 measures it beside CycleGAN).

        64 px (below ~48 px the stripes blur to grey), ngf 16 and 4 residual blocks, a 34x34
        PatchGAN (d_layers 2: the 70x70 one is about a quarter of a 256 px side, so this is
        the same fraction of 64 px... rounded up, because the stripes span the torso) with
        ndf 32, batch 4, 128 patches per layer. With 4 blocks the layers (0, 4, 8, 12, 15)
        are the paper's pixels, first and second downsampling conv, first block, and the
        *last* block (15) standing in for block 5.
        """
        base = cls(image_size=64, ngf=16, n_blocks=4, ndf=32, d_layers=2,
                   nce_layers=(0, 4, 8, 12, 15), num_patches=128,
                   train=TrainConfig(steps=600, decay_steps=300, batch_size=4,
                                     out_dir=f"runs/{cls().variant.lower()}-fast", log_every=50,
                                     sample_every=200, checkpoint_every=200))
        return replace(base, **overrides)

    @classmethod
    def course(cls, **overrides) -> "Config":
        """The course checkpoint's preset (``scripts/train_course_checkpoints.py``): the fast
        preset trained 7.5x longer, 4500 steps with the last half decaying: about 35 minutes
        on one CPU thread (FastCUT, without the identity pass, about 20)."""
        base = cls.fast()
        base = replace(base, train=replace(base.train, steps=4500, decay_steps=2250,
                                           out_dir=f"runs/{cls().variant.lower()}-course",
                                           log_every=100, sample_every=500,
                                           checkpoint_every=250, keep_every=1500, eval_every=500))
        return replace(base, **overrides)


@dataclass
class FastCUTConfig(Config):
    """FastCUT's defaults (§3.3.2, Table 3.6): lambda_X = 10, no identity term
    (lambda_Y = 0), flip equivariance, 150 + 50 epochs; everything else as CUT."""

    lambda_x: float = 10.0
    lambda_y: float = 0.0
    flip_equivariance: bool = True
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=150, epochs_decay=50, batch_size=1, out_dir="runs/fastcut"))


class CUT(Method):
    """CUT / FastCUT (chosen by the config's loss weights): networks G, D, H and one step."""

    inference_networks = ("G",)  # what translating needs; the rest trains them

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = c = config or Config()
        self.G = init_weights(ResnetGenerator(c.in_channels, c.out_channels, ngf=c.ngf,
                                              n_blocks=c.n_blocks, norm=c.norm,
                                              antialias=c.antialias))
        self.D = init_weights(PatchGANDiscriminator(c.out_channels, ndf=c.ndf,
                                                    n_layers=c.d_layers, norm=c.norm))
        # PatchNCE embeds with the encoder, "the first half of the generator": layers past the
        # last residual block belong to the decoder (e.g. layer 16 when n_blocks < 5).
        last_encoder_layer = self.G.block_indices[-1]
        decoder = [i for i in c.nce_layers if i > last_encoder_layer]
        if decoder:
            raise ValueError(
                f"nce_layers {decoder} are not layer indices of the encoder: with n_blocks="
                f"{c.n_blocks} it ends at layer {last_encoder_layer} (residual blocks at "
                f"{self.G.block_indices}). Choose layers <= {last_encoder_layer}, e.g. the last "
                "block in place of the paper's block 5.")
        # The heads' widths come from the generator (raises a clear error for bad layers).
        self.H = init_weights(PatchProjector(self.G.feature_channels(c.nce_layers),
                                             units=c.head_units))
        self.sampler = PatchSampler(c.num_patches)
        self.gan_loss = GANLoss(c.gan_mode)

    # ------------------------------------------------------------------ losses
    def nce_loss(self, source: Tensor, output: Tensor, flipped: bool = False) -> Tensor:
        """L_PatchNCE(G, H, X) of Eq. 3.7 for inputs ``source`` and their translations
        ``output``: the mean over the layers of the mean InfoNCE over images and patches.

        ``flipped``: ``output`` was computed from the horizontally flipped ``source``, so its
        features are flipped back to line up with the source's (FastCUT)."""
        layers = self.config.nce_layers
        queries = self.G(output, encode_layers=layers)
        if flipped:
            queries = [q.flip(3) for q in queries]
        # The keys are detached targets (reference); without a graph the pass is cheaper.
        with torch.no_grad():
            keys = self.G(source, encode_layers=layers)
        ids = self.sampler.draw(keys)
        with torch.no_grad():
            key_vectors = self.H(keys, ids)
        query_vectors = self.H(queries, ids)
        total = sum(patch_nce_loss(q, k, self.config.nce_temperature)
                    for q, k in zip(query_vectors, key_vectors))
        return total / len(layers)

    def discriminator_loss(self, real_B: Tensor, fake_B: Tensor) -> Tensor:
        """0.5 [(D(y) - 1)^2 + D(G(x))^2] (LSGAN form of Eq. 3.5); G(x) detached."""
        return self.gan_loss.discriminator(self.D(real_B), self.D(fake_B.detach()))

    def generator_loss(self, real_A: Tensor, real_B: Tensor, fake_B: Tensor,
                       idt_B: Tensor | None, flipped: bool = False) -> dict[str, Tensor]:
        """Eq. 3.9: lambda_gan GAN + lambda_X NCE_X, or with the identity term (lambda_Y > 0)
        lambda_gan GAN + 0.5 (lambda_X NCE_X + lambda_Y NCE_Y) as the reference weighs them."""
        c = self.config
        zero = fake_B.new_zeros(())
        gan = self.gan_loss.generator(self.D(fake_B)) if c.lambda_gan else zero
        nce_x = self.nce_loss(real_A, fake_B, flipped) if c.lambda_x else zero
        if c.lambda_y:
            if idt_B is None:
                raise ValueError("lambda_y > 0 needs G(y) (idt_B) for the identity PatchNCE term")
            nce_y = self.nce_loss(real_B, idt_B, flipped)
            nce = 0.5 * (c.lambda_x * nce_x + c.lambda_y * nce_y)
        else:
            nce_y = zero
            nce = c.lambda_x * nce_x
        return {"G_gan": gan, "NCE_X": nce_x, "NCE_Y": nce_y, "G": c.lambda_gan * gan + nce}

    # ------------------------------------------------------------------ one step
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        adam = lambda net: torch.optim.Adam(net.parameters(), lr=c.lr, betas=c.betas)  # noqa: E731
        return {"G": adam(self.G), "D": adam(self.D), "H": adam(self.H)}

    def draw_flip(self) -> bool:
        """FastCUT: flip this iteration? Drawn from torch's global generator (exact resume)."""
        c = self.config
        return c.flip_equivariance and bool(torch.rand(()) < c.flip_probability)

    def generate(self, real_A: Tensor, real_B: Tensor, flipped: bool) -> tuple[Tensor, Tensor | None]:
        """G(x) and, with the identity term, G(y): one pass over both (instance norm works per
        image, so this equals two passes). With ``flipped`` G sees the flipped images and the
        outputs stay flipped; PatchNCE flips their features back."""
        with_identity = self.config.lambda_y > 0
        real = torch.cat([real_A, real_B]) if with_identity else real_A
        if flipped:
            real = real.flip(3)
        fake = self.G(real)
        n = real_A.shape[0]
        return fake[:n], (fake[n:] if with_identity else None)

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        real_A, real_B = batch["A"], batch["B"]
        flipped = self.draw_flip()
        fake_B, idt_B = self.generate(real_A, real_B, flipped)
        # 1. D step: real y -> 1, G(x) -> 0 (no image pool in CUT).
        self.set_requires_grad(True, self.D)
        loss_D = self.discriminator_loss(real_B, fake_B)
        self.backward_and_step(loss_D, "D")
        # 2. G and H step with D frozen.
        self.set_requires_grad(False, self.D)
        g = self.generator_loss(real_A, real_B, fake_B, idt_B, flipped)
        self.backward_and_step(g["G"], "G", "H")
        losses = {"D": loss_D, **g}
        if not self.config.lambda_y:
            losses.pop("NCE_Y")
        return {k: v.detach() for k, v in losses.items()}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def translate(self, x: Tensor) -> Tensor:
        """G(x) for a batch of domain-X images in [-1, 1] (CUT is one-sided: X -> Y only)."""
        G = unwrap(self.G)
        was_training = G.training
        G.eval()
        try:
            return G(x.to(self.device))
        finally:
            G.train(was_training)

    def visuals(self, batch: dict) -> dict[str, Tensor]:
        out = {"real_A": batch["A"], "fake_B": self.translate(batch["A"]), "real_B": batch["B"]}
        if self.config.lambda_y:
            out["idt_B"] = self.translate(batch["B"])
        return out

    @torch.no_grad()
    def evaluate(self, dataset, batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
        """A -> B scores on ``dataset`` (``coursekit.data.evaluation.evaluate_unpaired``)."""
        from coursekit.data.evaluation import evaluate_unpaired

        return evaluate_unpaired(self.translate, dataset, batch_size=batch_size,
                                 max_items=max_items)


def build(config: Config) -> CUT:
    """The method for ``coursekit train cut`` (and ``fastcut``, through ``coursekit.models.fastcut``)."""
    return CUT(config)
