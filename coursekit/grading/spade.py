"""Checks for problem set 5 (SPADE and normalisation): the test cells of ``ps5_spade.ipynb`` call
these.

Each check runs the student's code on fixed, tiny inputs (CPU, one torch thread, float32,
fixed seeds) and compares it with a hand-computed value, with a property that any correct
solution has, or with coursekit's reference -- ``coursekit.nn.SPADE``,
``coursekit.nn.SPADEResBlock``, ``GANLoss("hinge", d_scale=1.0)``,
``coursekit.nn.feature_matching_loss``, ``coursekit.nn.adain`` -- given the same weights and
inputs. While the student's code runs, the reference of the part being graded is refused
(``checks.forbid``), so calling it earns nothing.

What the students write (signatures fixed by the notebook):

* ``SPADELayer(channels, label_channels, hidden=128, kernel=3, norm="batch")``: SPADE (thesis
  Eq. 2.1), ``norm(h) * (1 + gamma(m)) + beta(m)`` with a parameter-free batch or instance
  norm, the label map resized to h's side by nearest neighbour, a shared ``kernel x kernel``
  conv with ReLU (``self.shared``: a Conv2d, or nn.Sequential(conv, ReLU)) and two convs of
  the embedding (``self.gamma``, ``self.beta``);
* ``SPADEResBlock(c_in, c_out, spade)``: the SPADE residual block (thesis Fig. 2.5), SPADE ->
  LeakyReLU(0.2) -> 3x3 conv, twice, ``min(c_in, c_out)`` channels in the middle, a learnt
  shortcut (SPADE, 1x1 conv without bias) only where ``c_in != c_out``; its layers named as
  coursekit's and the authors' (``norm_0, conv_0, norm_1, conv_1, norm_s, conv_s``), each
  SPADE layer made by the function ``spade(channels)`` it is given;
* ``hinge_d_loss(real_logits, fake_logits)`` and ``hinge_g_loss(fake_logits)``: the hinge
  losses of a multi-scale discriminator (lists of logit maps, one per scale), each averaged
  over its maps and over the scales;
* ``feature_matching_loss(fake_features, real_features)``: pix2pixHD's Eq. 4, the mean absolute
  difference of every layer's features but the last (the logits), summed over the layers,
  averaged over the scales, the real features detached;
* ``adain(x, mean, std, eps=1e-5)``: AdaIN with each image's channel statistics, the variance
  biased and ``eps`` inside the square root.

Tolerances: a correct solution computes the same float32 operations as the reference, maybe in
another order (``F.instance_norm`` or the statistics by hand, a loop over the scales or a
stack, ``F.l1_loss`` or ``(a - b).abs().mean()``, the nearest resize by indexing), which
changes results by a few float32 ulps (relative 1e-7..1e-6). The tolerances below are 10-100x
that, far below the effect of the mistakes the checks catch (each check says which;
tests/grading_mutants/ps5_spade.py proves it). Resizing copies values, so the label map that
reaches SPADE's shared conv is compared exactly.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.grading.checks import (
    StudentTimeout,
    Threshold,
    assert_close,
    assert_close_to_scale,
    assert_gradients_match,
    call_student,
    count_parameters,
    forbid,
    hidden_tests,
    largest,
    one_thread_checks,
    quiet,
    scalar,
    seeded,
    threads,
    tensor_output,
    training_run,
)
from coursekit.models import spade as spade_model_module
from coursekit.models.spade import Config, SPADEModel
from coursekit.nn import GANLoss, MultiScalePatchGAN, init_weights
from coursekit.nn import losses as losses_module
from coursekit.nn import norm as norm_module
from coursekit.nn.norm import SPADE
from coursekit.nn.spade import SPADEResBlock
from coursekit.train import TrainConfig

# ------------------------------------------------------------------------------------------
# What each part may not call: coursekit's own implementation of that part. (forbid swaps the
# code of a plain function, so every name of it -- coursekit.nn.adain, the norm module's -- is
# refused.)
SPADE_REFERENCE = ((SPADE, "__init__"), (SPADE, "forward"), (SPADE, "modulation"))
BLOCK_REFERENCE = ((SPADEResBlock, "__init__"), (SPADEResBlock, "forward"))
HINGE_REFERENCE = ((GANLoss, "real"), (GANLoss, "fake"), (GANLoss, "discriminator"),
                   (GANLoss, "generator"), (SPADEModel, "discriminator_loss"),
                   (SPADEModel, "generator_loss"), (SPADEModel, "training_step"))
FM_REFERENCE = ((losses_module, "feature_matching_loss"),
                (spade_model_module, "feature_matching_loss"),
                (SPADEModel, "generator_loss"), (SPADEModel, "training_step"))
ADAIN_REFERENCE = ((norm_module, "adain"), (norm_module, "channel_stats"))

# A loss of float32 inputs vs. its exact value or the reference's: agrees to ~1e-7 relative;
# the mistakes change it by 10 % or more.
LOSS_ATOL, LOSS_RTOL = 1e-5, 1e-5


def one_hot(classes: Tensor, label_channels: int) -> Tensor:
    """Class indices (N, H, W) -> one-hot label maps (N, label_channels, H, W), float."""
    return F.one_hot(classes.long(), label_channels).permute(0, 3, 1, 2).float()


def random_label_maps(batch: int, label_channels: int, height: int, width: int | None = None,
                      seed: int = 0) -> Tensor:
    """One-hot label maps with a random class at every pixel (so that any resizing shows)."""
    gen = torch.Generator().manual_seed(seed)
    width = height if width is None else width
    return one_hot(torch.randint(label_channels, (batch, height, width), generator=gen),
                   label_channels)


def uniform_label_map(label: int, label_channels: int, size: int, batch: int = 1) -> Tensor:
    """A label map in which one class fills the image."""
    m = torch.zeros(batch, label_channels, size, size)
    m[:, label] = 1
    return m


# ------------------------------------------------------------------------------------------
# Part 1: the SPADE layer
def _build_spade(spade_class: Callable, channels: int, label_channels: int, hidden: int,
                 kernel: int, norm: str) -> nn.Module:
    layer = call_student(spade_class, channels, label_channels, hidden=hidden, kernel=kernel,
                         norm=norm, forbidden=SPADE_REFERENCE, part="the SPADE layer")
    if not isinstance(layer, nn.Module):
        raise AssertionError(f"SPADELayer(...) must be an nn.Module, got {type(layer).__name__}")
    return layer


def _spade_forward(layer: nn.Module, h: Tensor, labels: Tensor) -> Tensor:
    out = call_student(layer, h, labels, forbidden=SPADE_REFERENCE, part="the SPADE layer")
    return tensor_output(out, "the SPADE layer", tuple(h.shape))


def _spade_convs(layer: nn.Module, channels: int, label_channels: int, hidden: int,
                 kernel: int, strict: bool = True) -> dict[str, nn.Conv2d]:
    """The student's three convolutions by role (``self.shared``, ``self.gamma``,
    ``self.beta``), their shapes checked; with ``strict``, no other parameters (the norm is
    parameter-free)."""
    convs = {}
    for name in ("shared", "gamma", "beta"):
        module = getattr(layer, name, None)
        found = ([m for m in module.modules() if isinstance(m, nn.Conv2d)]
                 if isinstance(module, nn.Module) else [])
        if len(found) != 1:
            raise AssertionError(
                f"self.{name} should be one nn.Conv2d (self.shared may also be "
                f"nn.Sequential(conv, nn.ReLU())); your layer's self.{name} is "
                f"{type(module).__name__ if module is not None else 'missing'} with "
                f"{len(found)} convolution(s). Name the layers as coursekit and the authors' "
                f"code do: shared (the label map's embedding), gamma and beta")
        convs[name] = found[0]
    expected = {"shared": (hidden, label_channels, kernel, kernel),
                "gamma": (channels, hidden, kernel, kernel),
                "beta": (channels, hidden, kernel, kernel)}
    for name, conv in convs.items():
        if tuple(conv.weight.shape) != expected[name] or conv.bias is None:
            raise AssertionError(
                f"self.{name} has a weight of shape {tuple(conv.weight.shape)}"
                f"{'' if conv.bias is not None else ' and no bias'}; for SPADELayer("
                f"channels={channels}, label_channels={label_channels}, hidden={hidden}, "
                f"kernel={kernel}) it should be a {kernel}x{kernel} conv with a bias and a "
                f"weight of shape {expected[name]}")
    known = {id(p) for conv in convs.values() for p in conv.parameters()}
    extra = [name for name, p in layer.named_parameters() if id(p) not in known]
    if strict and extra:
        raise AssertionError(
            f"your SPADE layer has parameters besides its three convolutions: {extra}. SPADE's "
            f"normalisation is parameter-free (nn.BatchNorm2d(channels, affine=False) or "
            f"nn.InstanceNorm2d(channels, affine=False)): the scale and the shift come from "
            f"gamma(m) and beta(m) alone")
    return convs


def _reference_spade(channels: int, label_channels: int, hidden: int, kernel: int, norm: str,
                     seed: int) -> SPADE:
    """coursekit's SPADE with PyTorch's default initialisation: gamma and beta of order 0.1-1,
    so that ``1 + gamma`` and ``gamma`` are far apart."""
    with seeded(seed):
        return SPADE(channels, label_channels, hidden, kernel, norm)


def _spade_case(spade_class, channels, label_channels, hidden, kernel, norm, seed):
    ref = _reference_spade(channels, label_channels, hidden, kernel, norm, seed)
    with seeded(seed + 1):
        layer = _build_spade(spade_class, channels, label_channels, hidden, kernel, norm)
    convs = _spade_convs(layer, channels, label_channels, hidden, kernel)
    with torch.no_grad():
        for name, ref_conv in (("shared", ref.shared[0]), ("gamma", ref.gamma),
                               ("beta", ref.beta)):
            convs[name].weight.copy_(ref_conv.weight)
            convs[name].bias.copy_(ref_conv.bias)
    return ref, layer, convs


def check_spade_matches_reference(spade_class: Callable, *, channels: int = 4,
                                  label_channels: int = 3, hidden: int = 8, kernel: int = 3,
                                  norm: str = "batch", batch: int = 2, size: int = 8,
                                  width: int | None = None, label_size: int = 16,
                                  label_width: int | None = None, seed: int = 0) -> None:
    """With coursekit's SPADE's weights copied into its three convolutions, the layer gives the
    same output for activations h of ``size`` px and one-hot label maps of ``label_size`` px
    (each pixel a random class), in training mode (batch statistics for "batch"), and the same
    gradients for h and every weight; it has no parameters besides the three convolutions.

    Catches ``gamma`` instead of ``1 + gamma``, a blending resize (bilinear, area), an affine
    norm, the wrong norm (instance for "batch" or the other way), no ReLU on the embedding,
    the modulation applied before the norm, gamma and beta swapped."""
    width = size if width is None else width
    label_width = label_size if label_width is None else label_width
    ref, layer, convs = _spade_case(spade_class, channels, label_channels, hidden, kernel, norm,
                                    seed)
    gen = torch.Generator().manual_seed(seed + 2)
    h = torch.randn(batch, channels, size, width, generator=gen) * 2 + 0.5
    labels = random_label_maps(batch, label_channels, label_size, label_width, seed + 3)
    weights = torch.randn(batch, channels, size, width, generator=gen)
    h_ref = h.clone().requires_grad_(True)
    expected = ref(h_ref, labels)
    (expected * weights).sum().backward()
    h_s = h.clone().requires_grad_(True)
    got = _spade_forward(layer, h_s, labels.clone())
    what = (f"SPADELayer({channels}, {label_channels}, hidden={hidden}, kernel={kernel}, "
            f"norm={norm!r}) on h of {batch}x{channels}x{size}x{width} and label maps of "
            f"{label_size}x{label_width} px")
    assert_close_to_scale(got, expected, f"{what}, vs. coursekit's SPADE with the same weights")
    if not got.requires_grad:
        raise AssertionError(f"{what}: the output has no gradient (computed under no_grad, or "
                             f"detached?)")
    (got * weights).sum().backward()
    if h_s.grad is None:
        raise AssertionError(f"{what}: no gradient reached the activations h")
    assert_close(h_s.grad, h_ref.grad, atol=1e-5 * largest(h_ref.grad), rtol=1e-4,
                 what=f"{what}: the gradient for h")
    assert_gradients_match(
        [(f"self.{name}'s {kind}", getattr(convs[name], kind).grad, getattr(ref_conv, kind).grad)
         for name, ref_conv in (("shared", ref.shared[0]), ("gamma", ref.gamma),
                                ("beta", ref.beta)) for kind in ("weight", "bias")],
        what=f"{what}: the gradient of {{name}}", missing=f"{what}: {{name}} got no gradient")


def check_spade_resizes_by_nearest(spade_class: Callable, *, channels: int = 4,
                                   label_channels: int = 3, hidden: int = 8, size: int = 8,
                                   label_size: int = 16, seed: int = 0) -> None:
    """The label map that reaches ``self.shared`` is exactly the label map resized to h's side
    by nearest neighbour (``F.interpolate(labels, size=h.shape[2:], mode="nearest")``): still
    one-hot, every pixel one class. Catches bilinear (or bicubic, area) resizing, which blends
    the classes at every boundary, and a label map not resized at all."""
    with seeded(seed + 1):
        layer = _build_spade(spade_class, channels, label_channels, hidden, 3, "batch")
    conv = _spade_convs(layer, channels, label_channels, hidden, 3, strict=False)["shared"]
    seen = []
    handle = conv.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    gen = torch.Generator().manual_seed(seed + 2)
    h = torch.randn(2, channels, size, size, generator=gen)
    labels = random_label_maps(2, label_channels, label_size, seed=seed + 3)
    try:
        with torch.no_grad():
            _spade_forward(layer, h, labels)
    finally:
        handle.remove()
    if len(seen) != 1:
        raise AssertionError(f"self.shared was called {len(seen)} times in one forward pass; "
                             f"once, on the resized label map")
    expected = F.interpolate(labels, size=(size, size), mode="nearest")
    got = seen[0]
    pad = (got.shape[-1] - size) // 2
    if (conv.padding in ((0, 0), "valid") and pad > 0 and got.shape[-2] == got.shape[-1]
            and got.shape[-1] == size + 2 * pad):
        got = got[..., pad:-pad, pad:-pad]  # padded by hand around a conv without padding
    if tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(f"self.shared received a label map of shape {tuple(seen[0].shape)}; "
                             f"resize the label map to h's side first: {tuple(expected.shape)}")
    if not torch.equal(got, expected):
        values = got.unique()
        blended = values.numel() > 2 or not set(values.tolist()) <= {0.0, 1.0}
        raise AssertionError(
            f"the label map that reaches self.shared differs from the {label_size}-px label map "
            f"resized to {size} px by nearest neighbour (F.interpolate(labels, size=h.shape[2:], "
            f"mode='nearest'))" + (
                f": it holds values other than 0 and 1 ({values.numel()} distinct values): the "
                f"resize blends the classes (bilinear?). A label is a category, and the mean of "
                f"two categories is neither" if blended else ""))


def check_spade_washout(spade_class: Callable, *, label_channels: int = 5, channels: int = 6,
                        hidden: int = 16, size: int = 8, seed: int = 0) -> None:
    """Thesis §2.3, Fig. 2.3. A label map that one class fills, convolved (reflection padding)
    and instance-normalised, is 0 whatever the class: "semantic information is totally lost"
    (checked here on coursekit's side). The student's SPADE layer (instance norm, 1x1 convs,
    PyTorch's default initialisation) must still tell every pair of classes apart: its outputs
    for the same activations h and the uniform maps of two classes differ by more than 1e-3 on
    average (correct layers: 0.05 or more; a washed-out one: 1e-6).

    Catches the modulation applied before the norm (which then washes gamma and beta out) and
    gamma and beta that do not depend on the label map."""
    conv = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(label_channels, channels, 3))
    washed = [F.instance_norm(conv(uniform_label_map(c, label_channels, size))).abs().max()
              for c in range(label_channels)]
    if max(washed) > 1e-4:  # float32 rounding of a constant map; never the student's fault
        raise RuntimeError(f"InstanceNorm of conv(uniform label map) should be 0: {washed}")
    with seeded(seed):
        layer = _build_spade(spade_class, channels, label_channels, hidden, 1, "instance")
    gen = torch.Generator().manual_seed(seed + 1)
    h = torch.randn(1, channels, size, size, generator=gen)
    with torch.no_grad():
        outs = [_spade_forward(layer, h.clone(), uniform_label_map(c, label_channels, size))
                for c in range(label_channels)]
    gaps = {(a, b): float((outs[a] - outs[b]).abs().mean())
            for a, b in itertools.combinations(range(label_channels), 2)}
    (a, b), gap = min(gaps.items(), key=lambda item: item[1])
    if not gap > 1e-3:
        raise AssertionError(
            f"with the same activations h, the label maps filled by class {a} and by class {b} "
            f"give outputs that differ by {gap:.2g} on average: your SPADE layer washes the "
            f"label map out, as InstanceNorm after a conv of the label map does. Normalise h "
            f"first, then modulate: norm(h) * (1 + gamma(m)) + beta(m)")


def check_spade_runs(spade_class: Callable) -> None:
    """SPADELayer(2, 3, hidden=4) maps activations to activations of the same shape."""
    layer = _build_spade(spade_class, 2, 3, 4, 3, "batch")
    with torch.no_grad():
        _spade_forward(layer, torch.randn(2, 2, 4, 4), random_label_maps(2, 3, 4))


class _StudentSPADEModel(SPADEModel):
    """coursekit's SPADE whose generator's every SPADE layer (``norm_0``, ``norm_1`` and
    ``norm_s`` of each residual block) is the student's ``SPADELayer``; coursekit's blocks,
    generator, discriminator, losses and training step around them."""

    def __init__(self, config: Config, spade_class: Callable):
        super().__init__(config)
        c = config
        for block in self.G.blocks:
            for norm_name, conv_name in (("norm_0", "conv_0"), ("norm_1", "conv_1"),
                                         ("norm_s", "conv_s")):
                if hasattr(block, norm_name):
                    setattr(block, norm_name, _build_spade(
                        spade_class, getattr(block, conv_name).in_channels, c.label_channels,
                        c.spade_hidden, c.spade_kernel, c.norm_G))


#: The pass mark of the training run (40 steps at 32 px on one style, seed 0 graded), from the
#: solution's runs: a gain of 0.42..0.65 (seeds 0..29); 0.00 with lr = 0; 0.16..0.26 when the
#: SPADE layers' output is detached (seeds 0..9: no gradient reaches anything before a SPADE
#: layer, so only the convs that read one and the last conv learn). 0.34 lies halfway between
#: the worst correct run and the best detached one.
TRAINING_RUN = (
    Threshold("gain", "the segmenter's pixel accuracy on 32 test label maps (day-summer), above "
              "the same model's before training (the median of three looks, after the last 10, "
              "5 and 0 steps)", 0.34, higher_is_better=True, correct=(0.42, 0.65),
              measured="seeds 0..29, 40 steps", untrained=(0.0, 0.01)),
)
#: When the training run looks at the photos: steps before the end.
LOOKS = (10, 5, 0)


def _landscapes(split: str, size: int, length: int, style: int) -> dict[str, Tensor]:
    from coursekit.data.synthetic.landscapes import SyntheticLandscapes

    data = SyntheticLandscapes(split, size=size, length=length, style=style)
    items = [data[i] for i in range(length)]
    return {key: torch.stack([item[key] for item in items]) for key in ("A", "B", "labels")}


def training_config(steps: int, size: int = 32, batch: int = 8, lr: float = 1e-3) -> Config:
    """The training run's SPADE: 32 px from a 4x4 start (3 upsamplings, 5 blocks of 32 to 8
    channels), SPADE embeddings of 8, a 2-scale 1-layer PatchGAN of 8 filters, hinge loss and
    feature matching (lambda 10) as coursekit trains it, lr 1e-3 for G and D (TTUR's 1e-4 /
    4e-4 need thousands of steps; 2e-3 made one run in ten dip for a few steps), no spectral
    norm in G, no VGG loss (its weights are not downloaded)."""
    return Config(image_size=size, num_up=3, ngf=2, spade_hidden=8, ndf=8, d_layers=1,
                  lr_G=lr, lr_D=lr, spectral_G=False, lambda_vgg=0.0,
                  train=TrainConfig(steps=steps, decay_steps=0, batch_size=batch))


def check_training_run(spade_class: Callable, *, steps: int = 40, size: int = 32, batch: int = 8,
                       style: int = 0, lr: float = 1e-3, seed: int = 0,
                       min_gain: float = TRAINING_RUN[0].limit,
                       seconds: float = 90.0) -> dict[str, float]:
    """Train a small SPADE (``training_config``) whose every SPADE layer is the student's, on
    synthetic landscapes of one style (``style``, 0 = day-summer) at 32 px, for ``steps`` steps
    of coursekit's training step (G, then D on a fresh G(m)). G starts from PyTorch's default
    initialisation (SPADE's Xavier gain 0.02 needs hundreds of steps).

    The photos G draws for 32 test label maps are segmented by coursekit's analytic segmenter
    (in that style) before training and after the last 10, 5 and 0 steps; the median of the
    three pixel accuracies (a GAN's photos can dip for a step or two) must exceed the untrained
    model's by ``min_gain`` (:data:`TRAINING_RUN`: the measurements behind it). Returns
    {"pixel_accuracy" (the median), "untrained", "gain"}.

    Catches a SPADE layer through which nothing before the last layers learns (its output
    detached from the graph)."""
    from coursekit.data.synthetic.landscapes import score_landscapes

    train = _landscapes("train", size, steps * batch, style)
    test = _landscapes("test", size, 32, style)
    with seeded(seed):
        model = _StudentSPADEModel(training_config(steps, size, batch, lr), spade_class)
        for m in model.G.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.reset_parameters()

    def accuracy() -> float:
        with forbid(SPADE_REFERENCE, "the SPADE layer"), quiet():
            photos = model.translate(test["labels"])
        return score_landscapes(photos, test["labels"], styles=style)["pixel_accuracy"]

    untrained = accuracy()
    looks = {steps - back for back in LOOKS}

    def step(k: int) -> float | None:
        with forbid(SPADE_REFERENCE, "the SPADE layer"), quiet():
            model.training_step({key: value[k * batch:(k + 1) * batch]
                                 for key, value in train.items()})
        return accuracy() if k + 1 in looks else None

    def scores(history: list) -> dict[str, float]:
        trained = float(torch.tensor([a for a in history if a is not None]).median())
        return {"pixel_accuracy": trained, "untrained": untrained, "gain": trained - untrained}

    with seeded(seed + 1):
        return training_run(step, steps, scores,
                            (dataclasses.replace(TRAINING_RUN[0], limit=min_gain),),
                            seconds=seconds)


# ------------------------------------------------------------------------------------------
# Part 2: the SPADE residual block
def _block_spec(c_in: int, c_out: int) -> dict[str, tuple]:
    middle = min(c_in, c_out)
    spec = {"norm_0": ("spade", c_in), "conv_0": ("conv", (middle, c_in, 3, 3), True),
            "norm_1": ("spade", middle), "conv_1": ("conv", (c_out, middle, 3, 3), True)}
    if c_in != c_out:
        spec.update({"norm_s": ("spade", c_in), "conv_s": ("conv", (c_out, c_in, 1, 1), False)})
    return spec


def _build_block(block_class: Callable, c_in: int, c_out: int, spade: Callable) -> nn.Module:
    block = call_student(block_class, c_in, c_out, spade, forbidden=BLOCK_REFERENCE,
                         part="the SPADE residual block")
    if not isinstance(block, nn.Module):
        raise AssertionError(f"SPADEResBlock(...) must be an nn.Module, got "
                             f"{type(block).__name__}")
    return block


def _block_forward(block: nn.Module, x: Tensor, labels: Tensor, c_out: int) -> Tensor:
    out = call_student(block, x, labels, forbidden=BLOCK_REFERENCE,
                       part="the SPADE residual block")
    return tensor_output(out, "the SPADE residual block", (x.shape[0], c_out, *x.shape[2:]))


def _check_block_layers(block: nn.Module, c_in: int, c_out: int) -> None:
    """The block's layers by name (as coursekit's and the authors' code name them), with the
    shapes of SPADEResBlock(c_in, c_out), and no other parameters."""
    spec = _block_spec(c_in, c_out)
    where = f"SPADEResBlock({c_in}, {c_out}, spade)"
    if c_in == c_out:
        extra = [n for n in ("norm_s", "conv_s") if isinstance(getattr(block, n, None), nn.Module)
                 and next(getattr(block, n).parameters(), None) is not None]
        if extra:
            raise AssertionError(
                f"{where} has a learnt shortcut ({', '.join(extra)}) although the channels stay "
                f"the same: the shortcut is then x itself. Learn it (SPADE, 1x1 conv) only where "
                f"c_in != c_out")
    for name, (kind, *rest) in spec.items():
        module = getattr(block, name, None)
        if kind == "spade":
            if not isinstance(module, SPADE):
                raise AssertionError(
                    f"{where}: self.{name} should be spade({rest[0]}), a SPADE layer made by the "
                    f"function the block is given; it is "
                    f"{type(module).__name__ if module is not None else 'missing'}")
            if module.gamma.out_channels != rest[0]:
                raise AssertionError(
                    f"{where}: self.{name} normalises {module.gamma.out_channels} channels; it "
                    f"reads the {'middle' if name == 'norm_1' else 'input'}'s {rest[0]}: "
                    f"spade({rest[0]})")
            continue
        shape, bias = rest
        if not isinstance(module, nn.Conv2d):
            raise AssertionError(
                f"{where}: self.{name} should be an nn.Conv2d"
                + (" (the learnt shortcut: c_in != c_out)" if name == "conv_s" else "")
                + f"; it is {type(module).__name__ if module is not None else 'missing'}. Name "
                  f"the layers norm_0, conv_0, norm_1, conv_1 (and norm_s, conv_s)")
        if tuple(module.weight.shape) != shape or (module.bias is not None) != bias:
            k = shape[-1]
            raise AssertionError(
                f"{where}: self.{name} has a weight of shape {tuple(module.weight.shape)} "
                f"{'with' if module.bias is not None else 'without'} a bias; it should be "
                f"{k}x{k}, {shape[1]} -> {shape[0]} channels (min(c_in, c_out) = "
                f"{min(c_in, c_out)} in the middle), {'with' if bias else 'without'} a bias")
    known = {id(p) for name in spec for p in getattr(block, name).parameters()}
    extra = [n for n, p in block.named_parameters() if id(p) not in known]
    if extra:
        raise AssertionError(f"{where} has parameters besides its layers "
                             f"{', '.join(spec)}: {extra}")


def _block_case(block_class, c_in, c_out, label_channels, hidden, kernel, norm, seed):
    """coursekit's block (no spectral norm) and the student's, with the reference's weights
    (PyTorch's default initialisation) copied into the student's layers by name."""
    def spade(channels: int) -> SPADE:
        return SPADE(channels, label_channels, hidden, kernel, norm)

    with seeded(seed):
        ref = SPADEResBlock(c_in, c_out, label_channels, hidden, kernel, norm, spectral=False)
    with seeded(seed + 1):
        block = _build_block(block_class, c_in, c_out, spade)
    _check_block_layers(block, c_in, c_out)
    for name in _block_spec(c_in, c_out):
        getattr(block, name).load_state_dict(getattr(ref, name).state_dict())
    return ref, block


def check_block_matches_reference(block_class: Callable, *, c_in: int = 4, c_out: int = 4,
                                  label_channels: int = 3, hidden: int = 8, kernel: int = 3,
                                  norm: str = "batch", batch: int = 2, size: int = 8,
                                  label_size: int = 16, seed: int = 0) -> None:
    """With coursekit's block's weights copied into its layers (by name), the student's block
    gives the same output and the same gradients for x and every weight as coursekit's
    SPADEResBlock (without spectral norm), in training mode.

    Catches a conv before its norm (pix2pixHD's order), ReLU or LeakyReLU's default slope 0.01
    instead of 0.2, a shortcut without its SPADE, the residual sum left out, the middle width
    c_out instead of min(c_in, c_out), a learnt shortcut where the channels stay the same."""
    ref, block = _block_case(block_class, c_in, c_out, label_channels, hidden, kernel, norm,
                             seed)
    gen = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(batch, c_in, size, size, generator=gen)
    labels = random_label_maps(batch, label_channels, label_size, seed=seed + 3)
    weights = torch.randn(batch, c_out, size, size, generator=gen)
    x_ref = x.clone().requires_grad_(True)
    expected = ref(x_ref, labels)
    (expected * weights).sum().backward()
    x_s = x.clone().requires_grad_(True)
    got = _block_forward(block, x_s, labels.clone(), c_out)
    what = (f"SPADEResBlock({c_in}, {c_out}) with {norm} norm on x of "
            f"{batch}x{c_in}x{size}x{size}")
    assert_close_to_scale(got, expected, f"{what}, vs. coursekit's block with the same weights")
    if not got.requires_grad:
        raise AssertionError(f"{what}: the output has no gradient")
    (got * weights).sum().backward()
    if x_s.grad is None:
        raise AssertionError(f"{what}: no gradient reached the input x")
    assert_close(x_s.grad, x_ref.grad, atol=1e-5 * largest(x_ref.grad), rtol=1e-4,
                 what=f"{what}: the gradient for x")
    ref_params = dict(ref.named_parameters())
    assert_gradients_match(
        [(name, p.grad, ref_params[name].grad) for name, p in block.named_parameters()],
        what=f"{what}: the gradient of {{name}}", missing=f"{what}: {{name}} got no gradient")


def check_block_shortcut(block_class: Callable, *, widths: Sequence[tuple[int, int]] = (
        (8, 8), (8, 4), (4, 8)), label_channels: int = 3, hidden: int = 8) -> None:
    """For each (c_in, c_out): the block's layers are named and shaped as coursekit's (norm_0,
    conv_0 3x3 c_in -> min(c_in, c_out), norm_1, conv_1 3x3 -> c_out) and it has a learnt
    shortcut (norm_s, conv_s 1x1 without bias) exactly when c_in != c_out: as many parameters
    as coursekit's block, and maps activations of c_in channels to c_out. Catches a shortcut
    learnt always (or never), a 1x1 shortcut with a bias, the middle width c_out."""
    def spade(channels: int) -> SPADE:
        return SPADE(channels, label_channels, hidden, 3, "batch")

    for c_in, c_out in widths:
        block = _build_block(block_class, c_in, c_out, spade)
        _check_block_layers(block, c_in, c_out)
        expected = count_parameters(_reference_block(c_in, c_out, label_channels, hidden))
        if count_parameters(block) != expected:
            raise AssertionError(f"SPADEResBlock({c_in}, {c_out}) has {count_parameters(block)} "
                                 f"parameters; coursekit's has {expected}")
        with torch.no_grad():
            _block_forward(block, torch.randn(2, c_in, 8, 8), random_label_maps(
                2, label_channels, 8), c_out)


def _reference_block(c_in: int, c_out: int, label_channels: int, hidden: int,
                     kernel: int = 3, norm: str = "batch") -> SPADEResBlock:
    """coursekit's block without spectral norm (the weights of a spectral-normed conv are
    stored twice)."""
    return SPADEResBlock(c_in, c_out, label_channels, hidden, kernel, norm, spectral=False)


def check_block_gradient_flow(block_class: Callable, *, c_in: int = 6, c_out: int = 3,
                              label_channels: int = 3, hidden: int = 8, size: int = 8,
                              seed: int = 0) -> None:
    """One forward pass calls every SPADE layer once, each with the label map; conv_0 reads
    LeakyReLU(0.2) of norm_0's output and conv_1 LeakyReLU(0.2) of norm_1's (the norm *before*
    each conv); the loss's gradient reaches x, and every SPADE layer's three convolutions (the
    label map's path into the block). Catches a conv before its norm, a SPADE layer skipped or
    called on the wrong tensor, the shortcut without its SPADE."""
    ref, block = _block_case(block_class, c_in, c_out, label_channels, hidden, 3, "instance",
                             seed)
    spec = _block_spec(c_in, c_out)
    calls: dict[str, list] = {name: [] for name in spec}
    handles = []
    for name in spec:
        module = getattr(block, name)
        if name.startswith("norm"):
            handles.append(module.register_forward_hook(
                lambda m, args, out, name=name: calls[name].append(
                    ("out", out.detach(), args[1].detach() if len(args) > 1 else None))))
        else:
            handles.append(module.register_forward_pre_hook(
                lambda m, args, name=name: calls[name].append(("in", args[0].detach()))))
    gen = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(2, c_in, size, size, generator=gen, requires_grad=True)
    labels = random_label_maps(2, label_channels, size, seed=seed + 3)
    try:
        out = _block_forward(block, x, labels, c_out)
    finally:
        for handle in handles:
            handle.remove()
    for name in spec:
        if len(calls[name]) != 1:
            raise AssertionError(f"self.{name} was called {len(calls[name])} times in one "
                                 f"forward pass; once")
    for norm_name in [n for n in spec if n.startswith("norm")]:
        seen_labels = calls[norm_name][0][2]
        if seen_labels is None or not torch.equal(seen_labels, labels):
            raise AssertionError(f"self.{norm_name} should be called as {norm_name}(h, labels) "
                                 f"with the block's label map")
    for norm_name, conv_name, act in (("norm_0", "conv_0", True), ("norm_1", "conv_1", True),
                                      ("norm_s", "conv_s", False)):
        if norm_name not in spec:
            continue
        normed = calls[norm_name][0][1]
        expected = F.leaky_relu(normed, 0.2) if act else normed
        if not torch.allclose(calls[conv_name][0][1], expected, atol=1e-6, rtol=1e-5):
            raise AssertionError(
                f"self.{conv_name} should read "
                + (f"LeakyReLU(0.2) of self.{norm_name}'s output" if act else
                   f"self.{norm_name}'s output (the shortcut: SPADE, then the 1x1 conv)")
                + ": normalise (and activate) *before* each convolution, SPADE's order "
                  "(pix2pixHD's blocks normalise after)")
    out.square().mean().backward()
    if x.grad is None or not x.grad.abs().max() > 0:
        raise AssertionError("no gradient reached the block's input x")
    for name in [n for n in spec if n.startswith("norm")]:
        layer = getattr(block, name)
        for part, conv in (("shared", layer.shared[0]), ("gamma", layer.gamma),
                           ("beta", layer.beta)):
            if conv.weight.grad is None or not conv.weight.grad.abs().max() > 0:
                raise AssertionError(f"self.{name}'s {part} conv got no gradient: the label map "
                                     f"must reach the output through every SPADE layer")


def check_block_runs(block_class: Callable) -> None:
    """SPADEResBlock(2, 2, spade) maps (1, 2, 4, 4) activations to (1, 2, 4, 4)."""
    block = _build_block(block_class, 2, 2, lambda channels: SPADE(channels, 3, 4, 3, "instance"))
    with torch.no_grad():
        _block_forward(block, torch.randn(1, 2, 4, 4), random_label_maps(1, 3, 4), 2)


# ------------------------------------------------------------------------------------------
# Part 3: the hinge losses
def _logits(values: Sequence[Sequence[float]]) -> list[Tensor]:
    """One (1, 1, 1, n) logit map per scale."""
    return [torch.tensor([float(v) for v in scale]).view(1, 1, 1, -1) for scale in values]


def _hinge_d(fn: Callable, real: list[Tensor], fake: list[Tensor]) -> Tensor:
    out = call_student(fn, real, fake, forbidden=HINGE_REFERENCE, part="the hinge losses")
    return scalar(out, "hinge_d_loss(real_logits, fake_logits)")


def _hinge_g(fn: Callable, fake: list[Tensor]) -> Tensor:
    out = call_student(fn, fake, forbidden=HINGE_REFERENCE, part="the hinge losses")
    return scalar(out, "hinge_g_loss(fake_logits)")


def check_hinge_hand_values(hinge_d_loss: Callable, hinge_g_loss: Callable, *,
                            real: Sequence[Sequence[float]], fake: Sequence[Sequence[float]],
                            expected_D: float, expected_G: float) -> None:
    """Both losses on logit maps given by hand (one list of logits per scale) equal the values
    computed by hand in the notebook. Catches the signs of the hinge swapped, the generator's
    relu(1 - D) (the discriminator's real term), the scales summed or only the finest one, a
    halved D loss, max(0, .) taken after the mean."""
    what = f"on the hand-computed logits ({len(real)} scales)"
    assert_close(_hinge_d(hinge_d_loss, _logits(real), _logits(fake)), expected_D,
                 atol=LOSS_ATOL, rtol=LOSS_RTOL, what=f"hinge_d_loss {what}")
    assert_close(_hinge_g(hinge_g_loss, _logits(fake)), expected_G, atol=LOSS_ATOL,
                 rtol=LOSS_RTOL, what=f"hinge_g_loss {what}")


def _random_logits(shapes: Sequence[tuple[int, ...]], gen: torch.Generator) -> list[Tensor]:
    # Spread 1.5: a third of the logits beyond +-1, where the hinge is flat.
    return [torch.randn(*shape, generator=gen) * 1.5 for shape in shapes]


def check_hinge_matches_reference(hinge_d_loss: Callable, hinge_g_loss: Callable, *,
                                  shapes: Sequence[tuple[int, ...]] = ((2, 1, 6, 6), (2, 1, 2, 2)),
                                  seed: int = 0) -> None:
    """Both losses and their gradients for every logit equal coursekit's ``GANLoss("hinge",
    d_scale=1.0)`` (as SPADE trains) on random logit maps of the given shapes (one per scale),
    a third of them beyond +-1. The gradients are by hand: d L_D / d D(real) = -1 / (n K) where
    D(real) < 1, else 0; d L_D / d D(fake) = 1 / (n K) where D(fake) > -1, else 0;
    d L_G / d D(fake) = -1 / (n K) everywhere (n logits in the map, K scales)."""
    gen = torch.Generator().manual_seed(seed)
    real, fake = _random_logits(shapes, gen), _random_logits(shapes, gen)
    reference = GANLoss("hinge", d_scale=1.0)
    real_s = [t.clone().requires_grad_(True) for t in real]
    fake_s = [t.clone().requires_grad_(True) for t in fake]
    fake_g = [t.clone().requires_grad_(True) for t in fake]
    what = f"on random logits of shapes {[tuple(s) for s in shapes]}"
    loss_d = _hinge_d(hinge_d_loss, real_s, fake_s)
    assert_close(loss_d, reference.discriminator(real, fake), atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"hinge_d_loss {what}, vs. coursekit's")
    loss_g = _hinge_g(hinge_g_loss, fake_g)
    assert_close(loss_g, reference.generator(fake), atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"hinge_g_loss {what}, vs. coursekit's")
    if not (loss_d.requires_grad and loss_g.requires_grad):
        raise AssertionError("the hinge losses must keep their graph (no .item(), no "
                             "torch.no_grad()): D and G learn from their gradients")
    loss_d.backward()
    loss_g.backward()
    k = len(shapes)
    for s, (r, f, g) in enumerate(zip(real_s, fake_s, fake_g)):
        n = r.numel()
        for name, tensor, expected in (
                ("D(real)", r, -(r.detach() < 1).float() / (n * k)),
                ("D(fake)", f, (f.detach() > -1).float() / (n * k)),
                ("D(fake) in hinge_g_loss", g, torch.full_like(g, -1.0 / (n * k)))):
            if tensor.grad is None:
                raise AssertionError(f"no gradient reached the logits {name} of scale {s}")
            assert_close(tensor.grad, expected, atol=1e-7, rtol=1e-5,
                         what=f"the gradient for the logits {name} of scale {s} {what}")


def _expect_grads(tensors: list[Tensor], expected: Callable[[Tensor], Tensor], what: str) -> None:
    for s, t in enumerate(tensors):
        grad = t.grad if t.grad is not None else torch.zeros_like(t)
        assert_close(grad, expected(t), atol=1e-7, rtol=1e-5,
                     what=f"the gradient for the logits {what} of scale {s}")


def check_hinge_margins(hinge_d_loss: Callable, hinge_g_loss: Callable, *, scales: int = 2,
                        seed: int = 0) -> None:
    """The hinge's margins, on logits between 1.1 and 4 in magnitude (K = ``scales`` maps of n
    logits each):

    * D right beyond the margins (real logits above 1, generated ones below -1): L_D = 0, and
      no logit gets a gradient (the hinge is flat there);
    * D wrong beyond them (real below -1, generated above 1): L_D is the mean of 1 - D(real)
      plus the mean of 1 + D(fake), averaged over the scales, and every logit gets -1 / (n K)
      and 1 / (n K);
    * G: L_G = -mean D(fake), averaged over the scales, whether D(fake) is above 1 or below -1,
      and every logit gets -1 / (n K): G's loss never saturates.

    Catches the hinge's signs swapped, G's loss relu(1 - D(fake)) (flat once D(fake) > 1), a D
    loss without the max, the max taken after the mean."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(2, 1, max(1, 4 // 2**s), max(1, 4 // 2**s)) for s in range(scales)]

    def far(sign: float) -> list[Tensor]:  # 1.1 .. 4 in magnitude, with the given sign
        return [sign * (1.1 + 2.9 * torch.rand(*shape, generator=gen)) for shape in shapes]

    k = len(shapes)
    for case, real, fake in (("right", far(1.0), far(-1.0)), ("wrong", far(-1.0), far(1.0))):
        real_s = [t.clone().requires_grad_(True) for t in real]
        fake_s = [t.clone().requires_grad_(True) for t in fake]
        loss = _hinge_d(hinge_d_loss, real_s, fake_s)
        if case == "right":
            expected = torch.tensor(0.0)
            sign_real = sign_fake = 0.0
            what = "with D right beyond the margins (D(real) > 1, D(fake) < -1)"
        else:
            expected = sum((1 - r).mean() + (1 + f).mean() for r, f in zip(real, fake)) / k
            sign_real, sign_fake = -1.0, 1.0
            what = "with D wrong beyond the margins (D(real) < -1, D(fake) > 1)"
        assert_close(loss, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL, what=f"hinge_d_loss {what}")
        if loss.requires_grad:
            loss.backward()
        elif case == "wrong":
            raise AssertionError(f"hinge_d_loss {what} has no gradient")
        _expect_grads(real_s, lambda t: torch.full_like(t, sign_real / (t.numel() * k)),
                      f"D(real) in hinge_d_loss {what}")
        _expect_grads(fake_s, lambda t: torch.full_like(t, sign_fake / (t.numel() * k)),
                      f"D(fake) in hinge_d_loss {what}")
    for side, fake in (("above 1", far(1.0)), ("below -1", far(-1.0))):
        fake_s = [t.clone().requires_grad_(True) for t in fake]
        loss = _hinge_g(hinge_g_loss, fake_s)
        what = f"with D(fake) {side}"
        assert_close(loss, -sum(f.mean() for f in fake) / k, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                     what=f"hinge_g_loss {what} (G's loss is -D(fake), not a hinge)")
        if not loss.requires_grad:
            raise AssertionError(f"hinge_g_loss {what} has no gradient")
        loss.backward()
        _expect_grads(fake_s, lambda t: torch.full_like(t, -1.0 / (t.numel() * k)),
                      f"D(fake) in hinge_g_loss {what} (G's loss never saturates)")


def check_hinge_runs(hinge_d_loss: Callable, hinge_g_loss: Callable) -> None:
    """Both losses return one number for one scale of zeros."""
    _hinge_d(hinge_d_loss, [torch.zeros(1, 1, 2, 2)], [torch.zeros(1, 1, 2, 2)])
    _hinge_g(hinge_g_loss, [torch.zeros(1, 1, 2, 2)])


# ------------------------------------------------------------------------------------------
# Part 4: feature matching
def _features(spec) -> list[list[Tensor]]:
    """Scales of layers of constant maps from ``(value, shape)`` pairs."""
    return [[torch.full(tuple(shape), float(value)) for value, shape in scale] for scale in spec]


def _fm(fn: Callable, fake, real) -> Tensor:
    out = call_student(fn, fake, real, forbidden=FM_REFERENCE, part="feature matching")
    return scalar(out, "feature_matching_loss(fake_features, real_features)")


def check_fm_hand_value(feature_matching_loss: Callable, *, fake, real,
                        expected: float) -> None:
    """On constant feature maps given by hand (``[[(value, shape), ...], ...]``: scales of
    layers, the last of each scale its logits) the loss equals the value computed by hand in
    the notebook. Catches the logits matched too, the scales summed, the layers averaged, the
    squared difference, a layer skipped, a sum over the elements instead of the mean."""
    assert_close(_fm(feature_matching_loss, _features(fake), _features(real)), expected,
                 atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"feature_matching_loss on the hand-computed features ({len(fake)} scales)")


def _random_features(scales: int, layers: int, batch: int, seed: int) -> list[list[Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for s in range(scales):
        side = 8 // 2**s
        out.append([torch.randn(batch, 2 + l, max(1, side - l), max(1, side - l), generator=gen)
                    for l in range(layers)] + [torch.randn(batch, 1, 2, 2, generator=gen)])
    return out


def check_fm_gradients(feature_matching_loss: Callable, *, scales: int = 2, layers: int = 2,
                       batch: int = 2, seed: int = 0) -> None:
    """On random features (``layers`` feature maps and the logits per scale): the value equals
    coursekit's; the gradient for every fake feature map but the logits is
    sign(fake - real) / (n K) (the mean absolute difference's, n its elements, K scales), the
    logits get none; and the real features get no gradient (detached: the loss trains G to
    match D's statistics of real photos, never D to move them). Catches real features not
    detached, the logits matched, the fake features detached, the squared difference."""
    fake = _random_features(scales, layers, batch, seed)
    real = _random_features(scales, layers, batch, seed + 1)
    expected = losses_module.feature_matching_loss(fake, real)
    fake_s = [[t.clone().requires_grad_(True) for t in scale] for scale in fake]
    real_s = [[t.clone().requires_grad_(True) for t in scale] for scale in real]
    what = f"feature_matching_loss on random features ({scales} scales of {layers} layers)"
    loss = _fm(feature_matching_loss, fake_s, real_s)
    assert_close(loss, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL, what=f"{what}, vs. coursekit's")
    if not loss.requires_grad:
        raise AssertionError(f"{what} has no gradient: G learns from it (no .detach() on the "
                             f"fake features, no torch.no_grad())")
    loss.backward()
    for s, (f_scale, r_scale) in enumerate(zip(fake_s, real_s)):
        for l, (f, r) in enumerate(zip(f_scale, r_scale)):
            if r.grad is not None and r.grad.abs().max() > 0:
                raise AssertionError(
                    f"the real features (scale {s}, layer {l}) received a gradient: detach them "
                    f"(real.detach()), so that feature matching trains G only")
            last = l == len(f_scale) - 1
            if last:
                if f.grad is not None and f.grad.abs().max() > 0:
                    raise AssertionError(
                        f"the logits (the last item of scale {s}) received a gradient from "
                        f"feature matching: match every layer but the last, whose logits the "
                        f"GAN loss already uses")
                continue
            if f.grad is None:
                raise AssertionError(f"no gradient reached the fake features of scale {s}, layer "
                                     f"{l}: are they detached?")
            sign = torch.sign(f.detach() - r.detach()) / (f.numel() * scales)
            assert_close(f.grad, sign, atol=1e-7, rtol=1e-4,
                         what=f"{what}: the gradient for the fake features of scale {s}, "
                              f"layer {l}, which is sign(fake - real) / (n K) for the L1 mean")


def check_fm_matches_reference(feature_matching_loss: Callable, *, scales: int = 2,
                               layers: int = 2, batch: int = 2, size: int = 24,
                               seed: int = 0) -> None:
    """On the features of coursekit's multi-scale PatchGAN (random weights, std 0.2) for a batch
    of generated and of real photos, as SPADE's G step computes them (the real features under
    no_grad there; here with a graph, to see that none of it is used): the value equals
    coursekit's feature_matching_loss, the gradient for the generated photos too, and neither
    the real photos nor D's weights through the real features get a gradient."""
    with seeded(seed):
        D = init_weights(MultiScalePatchGAN(3, 4, layers, scales, norm="instance",
                                            halve_width=False), std=0.2)
    gen = torch.Generator().manual_seed(seed + 1)
    fake = torch.tanh(torch.randn(batch, 3, size, size, generator=gen))
    real = torch.tanh(torch.randn(batch, 3, size, size, generator=gen))
    D.requires_grad_(False)  # D is frozen during G's step
    fake_ref = fake.clone().requires_grad_(True)
    expected = losses_module.feature_matching_loss(D(fake_ref, features=True),
                                                   D(real, features=True))
    expected.backward()
    fake_s, real_s = fake.clone().requires_grad_(True), real.clone().requires_grad_(True)
    loss = _fm(feature_matching_loss, D(fake_s, features=True), D(real_s, features=True))
    what = f"feature_matching_loss on a {scales}-scale PatchGAN's features ({layers} layers)"
    assert_close(loss, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL, what=f"{what}, vs. coursekit's")
    if not loss.requires_grad:
        raise AssertionError(f"{what} has no gradient for the generated photos")
    loss.backward()
    if fake_s.grad is None:
        raise AssertionError(f"{what}: no gradient reached the generated photos")
    assert_close(fake_s.grad, fake_ref.grad, atol=1e-5 * largest(fake_ref.grad), rtol=1e-4,
                 what=f"{what}: the gradient for the generated photos")
    if real_s.grad is not None and real_s.grad.abs().max() > 0:
        raise AssertionError("the real photos received a gradient through their features: "
                             "detach the real features")


def check_fm_runs(feature_matching_loss: Callable) -> None:
    """feature_matching_loss returns one number for one scale of one layer and the logits."""
    spec = [[(0.0, (1, 1, 2, 2)), (0.0, (1, 1, 1, 1))]]
    _fm(feature_matching_loss, _features(spec), _features(spec))


# ------------------------------------------------------------------------------------------
# Part 5: AdaIN
def _adain(fn: Callable, x: Tensor, mean: Tensor, std: Tensor, eps: float | None) -> Tensor:
    args = (x, mean, std) if eps is None else (x, mean, std, eps)
    out = call_student(fn, *args, forbidden=ADAIN_REFERENCE, part="AdaIN")
    return tensor_output(out, "adain(x, mean, std)", tuple(x.shape))


def _as_tensor(values) -> Tensor:
    return torch.tensor(values, dtype=torch.float32)


def check_adain_hand_value(adain: Callable, *, x, mean, std, eps: float, expected) -> None:
    """AdaIN of activations given by hand (nested lists, (N, C, H, W)) with the statistics
    ``mean`` and ``std`` ((N, C)) and ``eps`` equals the output computed by hand in the
    notebook. Catches the unbiased variance, eps outside the square root (or left out),
    statistics over the batch, the mean and the std swapped."""
    got = _adain(adain, _as_tensor(x), _as_tensor(mean), _as_tensor(std), eps)
    assert_close(got, _as_tensor(expected), atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"adain on the hand-computed case (eps = {eps:g})")


def check_adain_matches_reference(adain: Callable, *, batch: int = 2, channels: int = 3,
                                  height: int = 4, width: int = 4, eps: float | None = None,
                                  seed: int = 0) -> None:
    """Output and gradients (for x, mean and std) equal coursekit's adain on random
    activations, each image and channel with its own offset and spread. ``eps=None`` calls the
    student's function without it (its default must be 1e-5). Catches the unbiased variance,
    statistics over the batch or over the channels too, eps outside the square root, the mean
    and the std swapped."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(batch, channels, height, width, generator=gen)
         * torch.rand(batch, channels, 1, 1, generator=gen).mul(3).add(0.2)
         + torch.randn(batch, channels, 1, 1, generator=gen) * 2)
    mean = torch.randn(batch, channels, generator=gen)
    std = torch.rand(batch, channels, generator=gen) * 2 + 0.1
    weights = torch.randn(batch, channels, height, width, generator=gen)
    refs = [t.clone().requires_grad_(True) for t in (x, mean, std)]
    expected = norm_module.adain(*refs, eps=1e-5 if eps is None else eps)
    (expected * weights).sum().backward()
    mine = [t.clone().requires_grad_(True) for t in (x, mean, std)]
    got = _adain(adain, *mine, eps)
    what = f"adain on x of shape {tuple(x.shape)}" + ("" if eps is None else f", eps {eps:g}")
    assert_close_to_scale(got, expected, f"{what}, vs. coursekit's")
    if not got.requires_grad:
        raise AssertionError(f"{what}: the output has no gradient")
    (got * weights).sum().backward()
    for name, t, ref in zip(("x", "mean", "std"), mine, refs):
        if t.grad is None:
            raise AssertionError(f"{what}: no gradient reached {name}")
        assert_close(t.grad, ref.grad, atol=1e-5 * max(1.0, largest(ref.grad)), rtol=1e-4,
                     what=f"{what}: the gradient for {name}")


def check_adain_statistics(adain: Callable, *, batch: int = 3, channels: int = 4,
                           size: int = 8, seed: int = 0) -> None:
    """Every image's channel c of AdaIN(x; mean, std) has mean ``mean[n, c]`` and (biased)
    standard deviation ``std[n, c] * sqrt(var / (var + eps))`` (1e-6 below std for these
    variances of 1 to 16), whatever the other images and channels are. Catches statistics
    over the batch or over the channels, the mean and the std swapped, the unbiased
    variance."""
    gen = torch.Generator().manual_seed(seed)
    scale = torch.rand(batch, channels, 1, 1, generator=gen) * 3 + 1
    x = torch.randn(batch, channels, size, size, generator=gen) * scale + torch.randn(
        batch, channels, 1, 1, generator=gen) * 5
    mean = torch.randn(batch, channels, generator=gen) * 2
    std = torch.rand(batch, channels, generator=gen) + 0.5
    with torch.no_grad():
        got = _adain(adain, x, mean, std, None).double()
    var = x.double().var(dim=(2, 3), unbiased=False)
    assert_close(got.mean(dim=(2, 3)), mean, atol=1e-5, rtol=1e-5,
                 what="each image's channel means of AdaIN's output (they should be `mean`)")
    assert_close(got.var(dim=(2, 3), unbiased=False).sqrt(),
                 std.double() * (var / (var + 1e-5)).sqrt(), atol=1e-5, rtol=1e-4,
                 what="each image's channel standard deviations (biased) of AdaIN's output "
                      "(they should be `std`)")


def check_adain_is_spade_with_uniform_condition(adain: Callable, *, label_channels: int = 5,
                                                channels: int = 6, hidden: int = 7,
                                                batch: int = 3, size: int = 8,
                                                seed: int = 0) -> None:
    """Thesis §2.3: with a label map that is uniform in space (here each image filled by its own
    class), 1x1 convolutions (so gamma and beta are uniform too) and per-image statistics
    (instance norm), coursekit's SPADE is AdaIN with scale 1 + gamma and shift beta:
    ``SPADE(h, m) == adain(h, beta, 1 + gamma)``, gamma and beta read at any pixel."""
    with seeded(seed):
        spade = SPADE(channels, label_channels, hidden, kernel=1, norm="instance")
    gen = torch.Generator().manual_seed(seed + 1)
    h = torch.randn(batch, channels, size, size, generator=gen) * 3 + 1
    m = torch.cat([uniform_label_map(c % label_channels, label_channels, size)
                   for c in range(batch)])
    with torch.no_grad():
        gamma, beta = spade.modulation(m, (size, size))
        expected = spade(h, m)
        got = _adain(adain, h, beta[:, :, 0, 0].clone(), 1 + gamma[:, :, 0, 0], None)
    assert_close_to_scale(got, expected, f"adain(h, beta, 1 + gamma) for {batch} images each filled by one "
                          f"class, vs. SPADE(h, m) with 1x1 convs and instance norm")


def check_adain_runs(adain: Callable) -> None:
    """adain returns activations of x's shape for a tiny input."""
    _adain(adain, torch.randn(1, 2, 2, 2), torch.zeros(1, 2), torch.ones(1, 2), None)


one_thread_checks(globals())  # see checks.one_thread

__all__ = [name for name in dir() if name.startswith("check_")] + [
    "ADAIN_REFERENCE", "BLOCK_REFERENCE", "FM_REFERENCE", "HINGE_REFERENCE", "SPADE_REFERENCE",
    "StudentTimeout", "TRAINING_RUN", "forbid", "hidden_tests", "one_hot", "quiet",
    "random_label_maps", "threads", "training_config", "uniform_label_map",
]
