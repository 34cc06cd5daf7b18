"""SPADE (GauGAN): semantic image synthesis with spatially-adaptive normalisation.

Park, Liu, Wang, Zhu, CVPR 2019 (Park's thesis, chapter 2). Input: a semantic label map m
(one class per pixel, one-hot); output: a photo that shows those classes where the map puts
them.

**Why not pix2pix(HD).** Their generators read m once, at the first layer, and pass it through
conv-norm layers. Normalisation washes it out: where one class fills a region, a convolution of
m is constant there and InstanceNorm sends a constant to 0 "no matter what the input semantic
label is" (thesis §2.3, Fig. 2.3; ``coursekit.nn.norm``).

**The generator (§2.3-2.4).** No encoder: from the label map downsampled to a tiny side (or a
random code, in VAE mode), SPADE residual blocks and nearest 2x upsamplings decode the photo,
and every normalisation is SPADE,

    SPADE(h, m) = norm(h) * (1 + gamma(m)) + beta(m)                              (Eq. 2.1)

with ``gamma`` and ``beta`` convolutions of m at the block's resolution
(``coursekit.nn.SPADEGenerator``).

**The objective (§2.4, following pix2pixHD).** A conditional multi-scale PatchGAN D (the label
map concatenated to the image; 2 scales, spectral norm and instance norm) trained with the hinge
loss (Lim & Ye 2017; Miyato et al. 2018),

    L_D = E[max(0, 1 - D(m, y))] + E[max(0, 1 + D(m, G(m)))],   L_G^GAN = -E[D(m, G(m))]

averaged over the scales, plus pix2pixHD's feature matching on D's layers (lambda_feat = 10,
``coursekit.nn.feature_matching_loss``). In VAE mode an encoder E maps the real photo to a
style code z (z_dim 256) and adds lambda_KL * KL(E(y) || N(0, I)), lambda_KL = 0.05: the photo's
style can then be chosen at test time (style-guided synthesis) or drawn at random (multimodal).

**Optimisation.** Two time-scale update rule (Heusel et al. 2017): lr 1e-4 for G (and E), 4e-4
for D. Adam with beta1 = 0 and beta2 = 0.999 as the thesis states; the reference code uses
beta2 = 0.9 with TTUR (``Config.reference_betas``), so ``Config.paper()`` follows the thesis and
says so. One G step, then one D step on a fresh, detached G(m), per iteration, as the reference.

**Ablations (thesis Tables 2.3-2.5) as data.** ``ABLATIONS`` holds the variants a CPU can
train, each a set of overrides of a config, and ``THESIS_MIOU`` the thesis's mIoU for the same
rows (COCO-Stuff, ADE20K, Cityscapes); ``benchmarks/spade_ablations.py`` trains them on
synthetic-landscapes and prints both.

**The perceptual loss (Table 2.5).** pix2pixHD's VGG-19 feature loss with lambda_vgg = 10
(``coursekit.nn.VGGLoss``); removing it costs the thesis mIoU 35.2 -> 24.7 on COCO-Stuff. It
needs torchvision's ImageNet VGG-19 weights, which coursekit never downloads: ``Config.paper()``
asks for them (a clear error names the file when they are missing), the CPU presets train
without (``lambda_vgg=0``). The frozen VGG is held as buffers that are not saved, so neither
training checkpoints nor course checkpoints carry it, and a model trained with it loads for
translation without the weights (:meth:`Config.for_inference`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from coursekit.data.metrics import labels_from_palette
from coursekit.data.synthetic.landscapes import LANDSCAPE_CLASSES, LANDSCAPE_PALETTE
from coursekit.models import check_loss_weights, with_ablation
from coursekit.nn import (GANLoss, MultiScalePatchGAN, ResnetEncoder, SPADEGenerator,
                          feature_matching_loss, init_weights, kl_divergence, reparameterize)
from coursekit.train import Method, TrainConfig, unwrap

DEFAULT_DATA = "synthetic-landscapes"
#: SPADE learns from label maps paired with their photos.
PAIRED = True


#: The thesis's ablations that a CPU can run, as overrides of a config (``Config.ablation``).
ABLATIONS: dict[str, dict[str, object]] = {
    "spade": {},                                 # decoder w/ SPADE (Tables 2.3-2.5: "Ours")
    "concat": {"condition": "concat"},           # decoder w/ Concat (Table 2.3)
    "random_input": {"random_input": True},      # random input instead of the segmap (Table 2.4)
    "kernel_1x1": {"spade_kernel": 1},           # SPADE's convs 1x1 instead of 3x3 (Table 2.4)
    "instance_norm": {"norm_G": "instance"},     # InstanceNorm under SPADE (Table 2.4)
    "no_feature_matching": {"lambda_feat": 0.0},  # w/o GAN feature matching (Table 2.5)
}

#: mIoU of the same rows in the thesis (COCO-Stuff, ADE20K, Cityscapes), Tables 2.3-2.5.
THESIS_MIOU: dict[str, tuple[float, float, float]] = {
    "spade": (35.2, 38.5, 62.3),
    "concat": (31.9, 33.6, 61.1),
    "random_input": (35.3, 38.3, 61.6),
    "kernel_1x1": (32.7, 35.9, 59.9),
    "instance_norm": (33.9, 37.4, 58.7),
    "no_feature_matching": (33.2, 38.0, 62.2),
}


@dataclass
class Config:
    """SPADE settings; the defaults are the thesis's (see ``Config.paper()``)."""

    image_size: int = 256
    label_channels: int = len(LANDSCAPE_CLASSES)  # one-hot classes of the label maps
    # Generator: num_up nearest 2x upsamplings from a (image_size / 2**num_up)^2 start.
    ngf: int = 64
    num_up: int = 5
    spade_hidden: int = 128  # SPADE's shared embedding
    spade_kernel: int = 3
    norm_G: str = "batch"  # SPADE's parameter-free norm (the thesis: synchronized BatchNorm)
    spectral_G: bool = True
    # "spade", or "concat": the label map concatenated to every conv's input (Table 2.3).
    condition: str = "spade"
    # True: G starts from a random code z (nz) instead of the downsampled label map (Table 2.4).
    random_input: bool = False
    # VAE mode: a style encoder and z (multimodal and style-guided synthesis).
    use_vae: bool = False
    nz: int = 256
    nef: int = 64
    e_blocks: int = 4
    # Discriminator: 2-scale PatchGAN on (label map, photo), d_layers=3 is the reference's
    # n_layers_D=4 (70x70 at the finest scale), spectral norm + instance norm.
    ndf: int = 64
    d_layers: int = 3
    d_scales: int = 2
    gan_mode: str = "hinge"
    lambda_feat: float = 10.0
    lambda_vgg: float = 10.0  # 0: no perceptual loss (no VGG-19 weights needed)
    vgg_weights: str | None = None  # the VGG-19 file; None: the torch hub cache's
    lambda_kl: float = 0.05
    lr_G: float = 1e-4
    lr_D: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.999)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, epochs_decay=100, batch_size=32, out_dir="runs/spade"))

    #: The reference code's Adam betas with TTUR; the thesis gives (0, 0.999).
    reference_betas = (0.0, 0.9)

    def __post_init__(self) -> None:
        if self.image_size % 2**self.num_up:
            raise ValueError(f"image_size {self.image_size} must be a multiple of 2**num_up = "
                             f"{2**self.num_up}; use num_up={max(1, (self.image_size & -self.image_size).bit_length() - 1)} "
                             "or another size")
        if self.use_vae and self.image_size % 2 ** (self.e_blocks + 1):
            raise ValueError(f"the style encoder halves the image e_blocks + 1 = {self.e_blocks + 1}"
                             f" times, so image_size={self.image_size} must be a multiple of "
                             f"{2 ** (self.e_blocks + 1)}; use fewer e_blocks")
        need = 3 * 2**self.d_layers * 2 ** (self.d_scales - 1)
        if self.image_size < need:
            raise ValueError(f"{self.d_scales}-scale PatchGANs with d_layers={self.d_layers} need "
                             f"images of at least {need} px; got {self.image_size}. Use fewer "
                             "d_layers or d_scales.")
        if self.condition not in ("spade", "concat"):
            raise ValueError(f"condition must be 'spade' or 'concat', got {self.condition!r}")
        check_loss_weights(self, "lambda_feat", "lambda_vgg", "lambda_kl")

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """The thesis's setting: 256 px, ngf 64, 7 SPADE blocks from an 8x8 start, 2-scale
        hinge PatchGAN with feature matching, TTUR 1e-4 / 4e-4, betas (0, 0.999), batch 32,
        100 + 100 epochs (linear decay over the last 100)."""
        return replace(cls(), **overrides)

    def for_inference(self) -> "Config":
        """These settings without the training-only VGG loss (translating needs no VGG-19)."""
        return replace(self, lambda_vgg=0.0)

    @classmethod
    def ablation(cls, name: str, base: "Config | None" = None, **overrides) -> "Config":
        """``base`` (default: the fast preset) with the overrides of ``ABLATIONS[name]``."""
        return with_ablation(ABLATIONS, name, base if base is not None else cls.fast(),
                             **overrides)

    @classmethod
    def fast(cls, **overrides) -> "Config":
        """A CPU preset: 64 px from a 4x4 start (4 upsamplings), ngf 8 (128 channels at the
        start), SPADE embeddings of 32, a 2-scale 34x34 PatchGAN with 32 filters, batch 4,
        1200 steps, on one style of synthetic-landscapes (day, summer): a deterministic
        generator trained on all nine would paint their blend, which the scorer rightly
        punishes."""
        base = cls(image_size=64, num_up=4, ngf=8, spade_hidden=32, ndf=32, d_layers=2,
                   lambda_vgg=0.0,  # VGG-19's ImageNet weights are not downloaded here
                   train=TrainConfig(steps=1200, decay_steps=600, batch_size=4,
                                     out_dir="runs/spade-fast", log_every=50, sample_every=300,
                                     checkpoint_every=300, data=f"{DEFAULT_DATA}:day-summer"))
        return replace(base, **overrides)


    @classmethod
    def course(cls, **overrides) -> "Config":
        """The course checkpoint's preset (``scripts/train_course_checkpoints.py``): the fast
        preset (a 3.5 MB float16 generator: shipped checkpoints must stay small) trained 5x
        longer, 6000 steps with the last half decaying, on the same one style."""
        base = cls.fast()
        base = replace(base, train=replace(base.train, steps=6000, decay_steps=3000,
                                           out_dir="runs/spade-course", sample_every=1000,
                                           checkpoint_every=500, eval_every=1000, log_every=100))
        return replace(base, **overrides)


class SPADEModel(Method):
    """SPADE: the generator, the discriminator (and the VAE encoder), the objective and one
    training step."""

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = c = config or Config()
        self.G = init_weights(SPADEGenerator(
            c.label_channels, c.image_size, c.num_up, c.ngf,
            nz=c.nz if c.use_vae or c.random_input else 0, hidden=c.spade_hidden,
            kernel=c.spade_kernel, norm=c.norm_G, spectral=c.spectral_G, condition=c.condition),
            kind="xavier")
        self.D = init_weights(MultiScalePatchGAN(
            c.label_channels + 3, c.ndf, c.d_layers, c.d_scales, norm="instance", spectral=True,
            halve_width=False), kind="xavier")
        if c.use_vae:  # the style encoder of VAE mode
            self.E = init_weights(ResnetEncoder(3, c.nz, nef=c.nef, n_blocks=c.e_blocks,
                                                norm="instance"), kind="xavier")
        self.gan_loss = GANLoss(c.gan_mode, d_scale=1.0)  # D: real + fake, scales averaged
        if c.lambda_vgg > 0:  # frozen, not a network: no parameters, nothing saved
            self.vgg_loss = _vgg_loss(c.vgg_weights)

    @property
    def inference_networks(self) -> tuple[str, ...]:
        """G; and E in VAE mode (style-guided synthesis reads a photo's code)."""
        return ("G", "E") if self.config.use_vae else ("G",)

    # ------------------------------------------------------------------ data
    def label_map(self, batch: dict) -> Tensor:
        """The batch's one-hot label maps: from its class indices (``"labels"``) where the data
        gives them, else from its label colours (``"A"``)."""
        labels = batch["labels"] if "labels" in batch else batch["A"]
        return self.one_hot(labels.to(self.device))

    # ------------------------------------------------------------------ losses
    def discriminate(self, m: Tensor, image: Tensor) -> list[list[Tensor]]:
        """D's features at every scale for ``image`` given the label map ``m`` (conditional)."""
        return self.D(torch.cat([m, image], dim=1), features=True)

    def generator_loss(self, m: Tensor, real: Tensor, fake: Tensor,
                       kl: Tensor | None = None) -> dict[str, Tensor]:
        """-D(m, G(m)) + lambda_feat * feature matching (+ lambda_kl * KL in VAE mode)."""
        c = self.config
        fake_features = self.discriminate(m, fake)
        with torch.no_grad():  # the real features are targets: no graph needed
            real_features = self.discriminate(m, real)
        losses = {"G_gan": self.gan_loss.generator([f[-1] for f in fake_features]),
                  "G_feat": feature_matching_loss(fake_features, real_features)}
        total = losses["G_gan"] + c.lambda_feat * losses["G_feat"]
        if c.lambda_vgg > 0:  # pix2pixHD's perceptual loss, the real photo's features detached
            losses["G_vgg"] = self.vgg_loss(fake, real)
            total = total + c.lambda_vgg * losses["G_vgg"]
        if kl is not None:
            losses["kl"] = kl
            total = total + c.lambda_kl * kl
        losses["G"] = total
        return losses

    def discriminator_loss(self, m: Tensor, real: Tensor, fake: Tensor) -> Tensor:
        """max(0, 1 - D(m, y)) + max(0, 1 + D(m, G(m))), averaged over scales; G(m) detached."""
        real_logits = [f[-1] for f in self.discriminate(m, real)]
        fake_logits = [f[-1] for f in self.discriminate(m, fake.detach())]
        return self.gan_loss.discriminator(real_logits, fake_logits)

    # ------------------------------------------------------------------ one step
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        g_params = list(self.G.parameters()) + (list(self.E.parameters()) if c.use_vae else [])
        return {"G": torch.optim.Adam(g_params, lr=c.lr_G, betas=c.betas),
                "D": torch.optim.Adam(self.D.parameters(), lr=c.lr_D, betas=c.betas)}

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        m, real = self.label_map(batch), batch["B"].to(self.device)
        # 1. G (and E) step with D frozen: hinge + feature matching (+ KL).
        self.set_requires_grad(False, self.D)
        kl, z = None, None
        if self.config.use_vae:
            mu, logvar = self.E(real)
            z, kl = reparameterize(mu, logvar), kl_divergence(mu, logvar)
        fake = self.G(m, z)
        losses = self.generator_loss(m, real, fake, kl)
        self.backward_and_step(losses["G"], "G")
        # 2. D step on a new G(m) from the updated G, detached (the reference regenerates it;
        #    in VAE mode with the same code).
        self.set_requires_grad(True, self.D)
        with torch.no_grad():
            fake = self.G(m, z.detach() if z is not None else None)
        losses["D"] = self.discriminator_loss(m, real, fake)
        self.backward_and_step(losses["D"], "D")
        return {k: v.detach() for k, v in losses.items()}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def synthesize(self, m: Tensor, style: Tensor | None = None, z: Tensor | None = None) -> Tensor:
        """G(m) for one-hot label maps ``m``; in VAE mode with the code of photo ``style``
        (style-guided), or ``z``, or a random code."""
        G = unwrap(self.G)
        was = G.training
        G.eval()
        try:
            if self.config.use_vae and style is not None:
                z = unwrap(self.E)(style.to(self.device))[0]
            return G(m.to(self.device), z)
        finally:
            G.train(was)

    def one_hot(self, x: Tensor) -> Tensor:
        """Label maps as one-hot (N, label_channels, H, W) from class indices (N, H, W), label
        colours (N, 3, H, W) in [-1, 1] (synthetic-landscapes' palette, as items' ``"A"``;
        each pixel takes the nearest palette colour) or one-hot maps. Any number of classes
        from indices; colours only for models of the landscape classes (label folders have
        their own palettes: their items' ``"labels"``, or ``dataset.colours_to_labels``)."""
        c = self.config.label_channels
        if x.ndim == 4 and x.shape[1] == 3 and c != 3:
            if c != len(LANDSCAPE_CLASSES):
                raise ValueError(f"this model reads {c} classes: give it class indices (N, H, W) "
                                 "(a label folder's items have them as \"labels\"); colours "
                                 "are read through synthetic-landscapes' palette of "
                                 f"{len(LANDSCAPE_CLASSES)} classes only")
            x = labels_from_palette(x.float(), LANDSCAPE_PALETTE)
        if x.ndim == 3:
            if not (x.dtype.is_floating_point is False or torch.equal(x, x.round())):
                raise ValueError("class-index label maps must hold whole numbers")
            if int(x.max()) >= c or int(x.min()) < 0:
                raise ValueError(f"class indices must be 0..{c - 1} for a model with "
                                 f"label_channels={c}; got {int(x.min())}..{int(x.max())}")
            return F.one_hot(x.long(), c).permute(0, 3, 1, 2).float()
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(f"SPADE translates label maps: class indices (N, H, W), label colours "
                             f"(N, 3, H, W) or one-hot (N, {c}, H, W); got {tuple(x.shape)}")
        return x.float()

    def translate(self, x: Tensor) -> Tensor:
        """A photo for each label map (see :meth:`one_hot` for the forms it takes)."""
        return self.synthesize(self.one_hot(x.to(self.device)))

    def visuals(self, batch: dict) -> dict[str, Tensor]:
        m = self.label_map(batch)
        return {"labels": batch["A"], "output": self.synthesize(m), "target": batch["B"]}

    @torch.no_grad()
    def evaluate(self, dataset, batch_size: int = 16, max_items: int | None = None) -> dict[str, float]:
        """The label-map datasets' scores of G(m) (see ``coursekit.data.evaluation``)."""
        from coursekit.data.evaluation import evaluate_paired

        base = dataset
        while isinstance(base, torch.utils.data.Subset):
            base = base.dataset
        # Label folders (ADE20K, Cityscapes...) draw "A" in their own palette: back to ids.
        decode = getattr(base, "colours_to_labels", None)
        translate = self.translate if decode is None else (lambda x: self.translate(decode(x)))
        return evaluate_paired(translate, dataset, "AtoB", batch_size=batch_size,
                               max_items=max_items)


def _vgg_loss(path: str | None):
    """``VGGLoss`` from ``path`` (or the torch hub cache), with what to do when it is missing."""
    from coursekit.nn import VGGLoss
    from coursekit.nn.perceptual import load_or_explain

    return load_or_explain(lambda: VGGLoss(path), (
        "SPADE's perceptual loss (lambda_vgg > 0) needs these weights; or train without it: "
        "lambda_vgg=0 (Config(lambda_vgg=0.0) in Python, --set lambda_vgg=0 on the command line)"))


def build(config: Config) -> SPADEModel:
    """The method for ``coursekit train spade``."""
    return SPADEModel(config)
