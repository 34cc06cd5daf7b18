"""Checks for problem set 4 (BicycleGAN): the test cells of ``ps4_bicyclegan.ipynb`` call these.

Each check runs the student's code on fixed, tiny inputs (CPU, one torch thread, float32,
fixed seeds) and compares it with a hand-computed value, with a property that any correct
solution has, or with coursekit's reference -- ``coursekit.nn.reparameterize`` /
``kl_divergence``, ``UNetGenerator.forward`` with ``nz``, ``BicycleGAN.generator_loss`` (with
the frozen-encoder latent regression of ``encode_for_latent_loss``) and
``BicycleGAN.discriminator_loss`` -- given the same weights and codes. While the student's code
runs, the reference of the part being graded is refused (``checks.forbid``), so calling it earns
nothing.

What the students write (signatures fixed by the notebook):

* ``reparameterize(mu, logvar)``: z = mu + exp(logvar / 2) * eps, one eps ~ N(0, 1) per image
  and dimension (Eq. 4's z ~ E(B), differentiable in mu and logvar);
* ``kl_divergence(mu, logvar)``: KL(N(mu, exp(logvar)) || N(0, I)) of Eq. 5, *summed* over the
  batch and the dimensions (the reference code's convention, for which lambda_KL = 0.01 is set);
* ``unet_forward_with_z(G, x, z)``: a U-Net's encoder with z tiled and concatenated at the input
  of every encoder layer (``G.inject == "all"``) or of the first only (``"input"``), then the
  notebook's given decoder ``unet_decode``;
* ``generator_encoder_loss(G, E, D, D2, real_A, real_B, z_random, reparameterize,
  kl_divergence, gan_loss, lambda_l1=10.0, lambda_latent=0.5, lambda_kl=0.01)``: the G/E side of
  Eq. 8 on one half batch, with the latent regression (Eq. 7) through E's *frozen* weights and
  E's mean, returning ``{"G", "G_gan", "G_l1", "kl", "G_gan2", "z_l1", "fake_enc",
  "fake_rand"}``;
* ``discriminator_losses(D, D2, real_B, other_real_B, fake_enc, fake_rand)``: the LSGAN losses of
  both 2-scale discriminators, summed over the scales and not halved, the fakes detached,
  ``{"D", "D2"}``.

Randomness: reparameterisation is checked through what holds for every correct draw (dz/dmu = 1
and dz/dlogvar = (z - mu) / 2 exactly, whatever eps was drawn) and through statistics of
20000-64000 seeded draws with tolerances of 5 or more standard errors, so a correct solution
that draws its eps in another order passes too. Where a part receives the reparameterisation as
an argument (part 4), the check hands it one with a fixed eps, so the reference and the student
draw the same codes.

Tolerances: a correct solution computes the same float32 operations as the reference, maybe in
another order (``(a - b).abs().mean()`` for ``F.l1_loss``, a loop over the scales, E frozen by
a copy of its weights instead of ``requires_grad_``), which changes results by a few float32
ulps (relative 1e-7..1e-6). The tolerances below are 10-100x that, far below the effect of the
mistakes the checks catch (each check says which; tests/grading_mutants/ps4_bicyclegan.py
proves it).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.grading.checks import (
    Counted,
    StudentTimeout,
    Threshold,
    assert_close,
    assert_gradients_match,
    backward_discriminator_loss,
    call_student,
    forbid,
    hidden_tests,
    largest,
    one_thread_checks,
    quiet,
    random_images,
    require_keys,
    scalar,
    seeded,
    tensor_output,
    training_run,
)
from coursekit.models import bicyclegan as bicyclegan_module
from coursekit.models.bicyclegan import BicycleGAN, Config
from coursekit.nn import GANLoss, MultiScalePatchGAN, UNetGenerator, init_weights
from coursekit.nn import encoder as encoder_module
from coursekit.train import TrainConfig

# ------------------------------------------------------------------------------------------
# What each part may not call: coursekit's own implementation of that part. (forbid swaps the
# code of a plain function, so every name of it -- coursekit.nn.reparameterize, the method
# module's import -- is refused with the first owner.)
REPARAM_REFERENCE = ((encoder_module, "reparameterize"), (bicyclegan_module, "reparameterize"),
                     (BicycleGAN, "forward_halves"))
KL_REFERENCE = ((encoder_module, "kl_divergence"), (bicyclegan_module, "kl_divergence"))
UNET_REFERENCE = ((UNetGenerator, "forward"),)
GE_REFERENCE = ((BicycleGAN, "generator_loss"), (BicycleGAN, "forward_halves"),
                (BicycleGAN, "encode_for_latent_loss"), (BicycleGAN, "training_step"),
                (encoder_module, "latent_l1"), (bicyclegan_module, "latent_l1"))
D_REFERENCE = ((GANLoss, "real"), (GANLoss, "fake"), (GANLoss, "discriminator"),
               (GANLoss, "generator"), (BicycleGAN, "discriminator_loss"),
               (BicycleGAN, "training_step"))

GE_KEYS = ("G", "G_gan", "G_l1", "kl", "G_gan2", "z_l1", "fake_enc", "fake_rand")
LOSS_TERMS = ("G_gan", "G_l1", "kl", "G_gan2", "z_l1", "G")
D_KEYS = ("D", "D2")

# A loss of float32 inputs vs. its exact value or the reference's: agrees to ~1e-7 relative;
# the mistakes change it by 10 % or more.
LOSS_ATOL, LOSS_RTOL = 1e-5, 1e-5
# Outputs of the same network run in another order (|out| <= 1 after tanh).
OUT_ATOL, OUT_RTOL = 1e-5, 1e-4


# ------------------------------------------------------------------------------------------
# Part 1: the reparameterisation
def _reparameterize(fn: Callable, mu: Tensor, logvar: Tensor) -> Tensor:
    out = call_student(fn, mu, logvar, forbidden=REPARAM_REFERENCE,
                       part="the reparameterisation")
    return tensor_output(out, "reparameterize(mu, logvar)", tuple(mu.shape))


def check_reparameterize_gradients(reparameterize: Callable, *, batch: int = 2, nz: int = 3,
                                   seed: int = 0) -> None:
    """z = mu + sigma * eps with sigma = exp(logvar / 2), checked without knowing eps:
    dz/dmu = 1 and dz/dlogvar = sigma * eps / 2 = (z - mu) / 2, element by element.

    Catches logvar used as the standard deviation (dz/dlogvar = eps), exp(logvar) without the
    half (z - mu), mu or the whole sample detached (no gradient reaches E), no noise at all."""
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, nz, generator=gen).requires_grad_(True)
    logvar = (torch.randn(batch, nz, generator=gen) - 0.5).requires_grad_(True)
    with seeded(seed + 1):
        z = _reparameterize(reparameterize, mu, logvar)
    if torch.allclose(z.detach(), mu.detach()):
        raise AssertionError("reparameterize returned mu itself: z = mu + exp(logvar / 2) * eps "
                             "with eps drawn from N(0, 1)")
    if not z.requires_grad:
        raise AssertionError("z does not depend on mu and logvar: it must be computed from them "
                             "(not detached, not under no_grad), so that the L1 loss trains E")
    z.sum().backward()
    if mu.grad is None:
        raise AssertionError("no gradient reached mu: is mu detached?")
    assert_close(mu.grad, torch.ones_like(mu), atol=1e-6, rtol=1e-6,
                 what="dz/dmu (it is 1 for z = mu + sigma * eps)")
    expected = 0.5 * (z.detach() - mu.detach())
    if logvar.grad is None:
        raise AssertionError("no gradient reached logvar: is the standard deviation computed "
                             "from a detached logvar?")
    assert_close(logvar.grad, expected, atol=1e-6, rtol=1e-5,
                 what="dz/dlogvar, which is sigma * eps / 2 = (z - mu) / 2 for sigma = "
                      "exp(logvar / 2) (is logvar used as the standard deviation, or exp(logvar) "
                      "without the half?)")


def check_reparameterize_statistics(reparameterize: Callable, *, mean: float = 3.0,
                                    std: float = 0.5, n: int = 20000, nz: int = 2,
                                    seed: int = 0) -> None:
    """``n`` images of ``nz`` dimensions with mu = ``mean`` and logvar = log(``std``^2): the
    samples of every dimension have mean ``mean`` and standard deviation ``std``, within 6
    standard errors (0.0035 and 0.0025 for 20000 draws of std 0.5).

    Catches the wrong scale (logvar or the variance as the standard deviation), uniform noise,
    one eps for the whole batch."""
    mu = torch.full((n, nz), float(mean))
    logvar = torch.full((n, nz), math.log(std ** 2))
    with seeded(seed):
        z = _reparameterize(reparameterize, mu, logvar).detach().double()
    se_mean, se_std = std / math.sqrt(n), std / math.sqrt(2 * n)
    for d in range(nz):
        m, s = float(z[:, d].mean()), float(z[:, d].std())
        if abs(m - mean) > 6 * se_mean or abs(s - std) > 6 * se_std:
            raise AssertionError(
                f"{n} samples with mu = {mean:g} and logvar = log({std:g}^2): dimension {d} has "
                f"mean {m:.4f} and standard deviation {s:.4f}; expected {mean:g} and {std:g} "
                f"(within {6 * se_mean:.4f} and {6 * se_std:.4f}). sigma = exp(logvar / 2), and "
                f"eps ~ N(0, 1) drawn for every image and dimension")


def check_reparameterize_independent(reparameterize: Callable, *, n: int = 4000, nz: int = 8,
                                     seed: int = 0) -> None:
    """With mu = 0 and logvar = 0, z is eps itself: every image and every dimension has its
    own draw (each dimension varies over the images with standard deviation 1, within 0.1, and
    two dimensions are uncorrelated over the images, within 0.1: six standard errors for 4000
    images), and two calls draw different eps.

    Catches one eps shared by the batch, one eps per image shared by its dimensions, the same
    eps in every call."""
    mu, logvar = torch.zeros(n, nz), torch.zeros(n, nz)
    with seeded(seed):
        z = _reparameterize(reparameterize, mu, logvar).detach().double()
        again = _reparameterize(reparameterize, mu, logvar).detach()
    spread = z.std(dim=0)
    if (spread - 1).abs().max() > 0.1:
        raise AssertionError(f"with mu = 0 and logvar = 0, each dimension of z should vary over "
                             f"the {n} images with standard deviation 1; got "
                             f"{[round(float(s), 3) for s in spread]}: draw one eps per image "
                             f"(torch.randn_like(mu)), not one for the whole batch")
    corr = torch.corrcoef(z.T)
    off = (corr - torch.eye(nz, dtype=corr.dtype)).abs().max()
    if off > 0.1:
        raise AssertionError(f"two dimensions of z are correlated over the images (largest "
                             f"correlation {float(off):.3f}): every dimension needs its own eps")
    if torch.equal(again, z.float()):
        raise AssertionError("two calls of reparameterize returned the same z: draw a new eps "
                             "in every call")


def check_reparameterize_uses_torch_generator(reparameterize: Callable, *, batch: int = 3,
                                              nz: int = 4, seed: int = 0) -> None:
    """The same ``torch.manual_seed`` gives the same z (eps comes from torch's generator, which
    coursekit's training loop seeds and checkpoints). Catches NumPy's or Python's random."""
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = torch.randn(batch, nz, generator=gen), torch.randn(batch, nz, generator=gen)
    draws = []
    for _ in range(2):
        with seeded(seed + 1):
            draws.append(_reparameterize(reparameterize, mu, logvar).detach())
    if not torch.equal(draws[0], draws[1]):
        raise AssertionError("after the same torch.manual_seed, reparameterize drew a different "
                             "z: draw eps with torch (torch.randn_like), not NumPy or random")


def check_reparameterize_runs(reparameterize: Callable) -> None:
    """reparameterize returns a (N, nz) tensor for a tiny input."""
    _reparameterize(reparameterize, torch.zeros(1, 2), torch.zeros(1, 2))


# ------------------------------------------------------------------------------------------
# Part 2: the KL term
def _kl(fn: Callable, mu: Tensor, logvar: Tensor) -> Tensor:
    out = call_student(fn, mu, logvar, forbidden=KL_REFERENCE, part="the KL term")
    return scalar(out, "kl_divergence(mu, logvar)")


def check_kl_hand_value(kl_divergence: Callable, *, mu: Sequence[Sequence[float]],
                        logvar: Sequence[Sequence[float]], expected: float) -> None:
    """kl_divergence of codes given by hand equals ``expected`` (computed by hand in the
    notebook). Catches a mean instead of the sum, the sign, a missing 1/2 or 1, the standard
    deviation in place of the variance."""
    m = torch.tensor([list(map(float, r)) for r in mu])
    v = torch.tensor([list(map(float, r)) for r in logvar])
    assert_close(_kl(kl_divergence, m, v), expected, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"kl_divergence on the hand-computed case ({m.shape[0]} images, "
                      f"{m.shape[1]} dimensions)")


def check_kl_matches_reference(kl_divergence: Callable, *, batch: int = 3, nz: int = 8,
                               seed: int = 0) -> None:
    """Value and gradients (for mu and logvar) equal coursekit's kl_divergence on random codes.
    Catches every wrong formula, a mean instead of the sum, detached inputs."""
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = torch.randn(batch, nz, generator=gen), torch.randn(batch, nz, generator=gen)
    mu_ref, lv_ref = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    expected = encoder_module.kl_divergence(mu_ref, lv_ref)
    expected.backward()
    m, v = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    got = _kl(kl_divergence, m, v)
    what = f"kl_divergence ({batch} images, {nz} dimensions)"
    assert_close(got, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL, what=what)
    if not got.requires_grad:
        raise AssertionError(f"{what} does not depend on mu and logvar: its gradient must reach "
                             "the encoder")
    got.backward()
    for name, grad, ref in (("mu", m.grad, mu_ref.grad), ("logvar", v.grad, lv_ref.grad)):
        if grad is None:
            raise AssertionError(f"no gradient reached {name}")
        assert_close(grad, ref, atol=1e-6, rtol=1e-5, what=f"the gradient of {what} for {name}")


def check_kl_gradients_by_hand(kl_divergence: Callable, *, mu: Sequence[Sequence[float]],
                               logvar: Sequence[Sequence[float]]) -> None:
    """dKL/dmu = mu and dKL/dlogvar = (exp(logvar) - 1) / 2, element by element (the sum's
    derivative; a mean divides both by the number of elements)."""
    m = torch.tensor([list(map(float, r)) for r in mu], requires_grad=True)
    v = torch.tensor([list(map(float, r)) for r in logvar], requires_grad=True)
    loss = _kl(kl_divergence, m, v)
    if not loss.requires_grad:
        raise AssertionError("the KL term does not depend on mu and logvar")
    loss.backward()
    if m.grad is None or v.grad is None:
        raise AssertionError("no gradient reached mu or logvar")
    assert_close(m.grad, m.detach(), atol=1e-6, rtol=1e-5, what="dKL/dmu (= mu for the sum)")
    assert_close(v.grad, 0.5 * (v.detach().exp() - 1), atol=1e-6, rtol=1e-5,
                 what="dKL/dlogvar (= (exp(logvar) - 1) / 2 for the sum)")


def check_kl_adds_up(kl_divergence: Callable, *, batch: int = 4, nz: int = 5,
                     seed: int = 1) -> None:
    """The KL of a batch is the sum of its images' KLs, each computed alone, and of its
    dimensions' (the prior's dimensions are independent); codes at the prior (mu = 0,
    logvar = 0) have KL 0. Catches a mean over the batch or the dimensions."""
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = torch.randn(batch, nz, generator=gen), torch.randn(batch, nz, generator=gen)
    whole = _kl(kl_divergence, mu, logvar)
    images = sum(_kl(kl_divergence, mu[b:b + 1], logvar[b:b + 1]) for b in range(batch))
    assert_close(whole, images, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"kl_divergence of {batch} images vs. the sum of the images' KLs computed "
                      f"one by one (summed over the batch, not averaged?)")
    dims = sum(_kl(kl_divergence, mu[:, d:d + 1], logvar[:, d:d + 1]) for d in range(nz))
    assert_close(whole, dims, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"kl_divergence of {nz}-dimensional codes vs. the sum over the dimensions "
                      f"(summed over the dimensions, not averaged?)")
    assert_close(_kl(kl_divergence, torch.zeros(batch, nz), torch.zeros(batch, nz)), 0.0,
                 atol=1e-6, rtol=0, what="kl_divergence at the prior (mu = 0, logvar = 0)")


def check_kl_runs(kl_divergence: Callable) -> None:
    """kl_divergence returns one number for a tiny input."""
    _kl(kl_divergence, torch.zeros(1, 2), torch.zeros(1, 2))


# ------------------------------------------------------------------------------------------
# Part 3: z into the U-Net's encoder layers
def _reference_unet(inject: str, num_downs: int, nz: int, ngf: int, in_channels: int,
                    out_channels: int, seed: int) -> UNetGenerator:
    """coursekit's U-Net with a code (instance norm, no dropout: deterministic, and each image
    on its own) and PyTorch's default initialisation (outputs of order 1, so z's channels
    matter as much as the features')."""
    with seeded(seed):
        return UNetGenerator(in_channels, out_channels, num_downs=num_downs, ngf=ngf,
                             norm="instance", dropout=0.0, nz=nz, inject=inject)


def _unet_z(fn: Callable, G: UNetGenerator, x: Tensor, z: Tensor) -> Tensor:
    try:
        out = call_student(fn, G, x, z, forbidden=UNET_REFERENCE,
                           part="the U-Net's forward pass with z")
    except RuntimeError as error:
        if "channels" in str(error) or "Sizes of tensors must match" in str(error):
            where = ("the input of every encoder layer" if G.inject == "all"
                     else "the input of the first encoder layer only")
            raise AssertionError(
                f"{error}. This U-Net (G.inject = {G.inject!r}) expects z, tiled to each feature "
                f"map's height and width ({G.nz} extra channels after the features), at {where}"
            ) from error
        raise
    expected_shape = (x.shape[0], G.out_channels, x.shape[2], x.shape[3])
    return tensor_output(out, "unet_forward_with_z(G, x, z)", expected_shape)


def check_unet_z_matches_reference(unet_forward_with_z: Callable, *, inject: str = "all",
                                   num_downs: int = 4, nz: int = 3, ngf: int = 4,
                                   in_channels: int = 3, out_channels: int = 3,
                                   height: int = 16, width: int = 16, batch: int = 2,
                                   seed: int = 0) -> None:
    """unet_forward_with_z(G, x, z) == G(x, z) for coursekit's UNetGenerator G with a code of
    ``nz`` numbers entering ``inject`` ("all" encoder layers or the "input" only).

    Catches z at the input only when G asks for every layer (or at every layer when it asks
    for the input only: both are shape errors), z before the features in the concatenation,
    a code scrambled by the tiling (``repeat``/``view`` that mixes its numbers), z tiled to
    the image's size instead of each feature map's."""
    G = _reference_unet(inject, num_downs, nz, ngf, in_channels, out_channels, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, in_channels, height, width, generator=gen)
    z = torch.randn(batch, nz, generator=gen)
    with torch.no_grad():
        expected = copy.deepcopy(G)(x, z)
        got = _unet_z(unet_forward_with_z, G, x.clone(), z.clone())
    assert_close(got, expected, atol=OUT_ATOL, rtol=OUT_RTOL,
                 what=f"unet_forward_with_z with the layers of coursekit's U-Net (inject="
                      f"{inject!r}, num_downs={num_downs}, nz={nz}) vs. the U-Net's output (z "
                      f"goes after the features: torch.cat([h, z_map], dim=1))")


def check_unet_z_gradients(unet_forward_with_z: Callable, *, inject: str = "all",
                           num_downs: int = 3, nz: int = 2, ngf: int = 4, size: int = 8,
                           batch: int = 2, seed: int = 0) -> None:
    """Backpropagating through unet_forward_with_z gives the code z, the image x and every
    weight the gradients coursekit's U-Net gives them. The gradient for z is how the L1 loss
    trains the encoder E (through z = mu + sigma * eps): a detached z leaves E untrained."""
    G = _reference_unet(inject, num_downs, nz, ngf, 3, 3, seed)
    gen = torch.Generator().manual_seed(seed + 2)
    x, z = torch.randn(batch, 3, size, size, generator=gen), torch.randn(batch, nz, generator=gen)
    weights = torch.randn(batch, 3, size, size, generator=gen)  # loss = sum(weights * G(x, z))
    ref = copy.deepcopy(G)
    x_ref, z_ref = x.clone().requires_grad_(True), z.clone().requires_grad_(True)
    (ref(x_ref, z_ref) * weights).sum().backward()
    x_s, z_s = x.clone().requires_grad_(True), z.clone().requires_grad_(True)
    out = _unet_z(unet_forward_with_z, G, x_s, z_s)
    if not out.requires_grad:
        raise AssertionError("the output does not depend on the U-Net's weights: is it "
                             "computed under torch.no_grad()?")
    (out * weights).sum().backward()
    if z_s.grad is None or not z_s.grad.abs().max() > 0:
        raise AssertionError("no gradient reached the code z: is z detached? (The L1 loss "
                             "trains the encoder through z.)")
    assert_close(z_s.grad, z_ref.grad, atol=1e-5 * largest(z_ref.grad), rtol=1e-4,
                 what="the gradient with respect to the code z")
    assert_close(x_s.grad, x_ref.grad, atol=1e-5 * largest(x_ref.grad), rtol=1e-4,
                 what="the gradient with respect to the input image x")
    assert_gradients_match([(name, p.grad, p_ref.grad) for (name, p), p_ref
                            in zip(G.named_parameters(), ref.parameters())],
                           what="the gradient of the U-Net's {name}",
                           missing="the U-Net's weight {name} got no gradient")


def check_unet_z_per_image(unet_forward_with_z: Callable, *, inject: str = "all",
                           num_downs: int = 3, nz: int = 4, batch: int = 3, size: int = 8,
                           seed: int = 0) -> None:
    """Each image is drawn with its own code: changing image 1's code changes image 1's output
    and leaves the others' exactly as they were (instance norm: the images do not mix). Catches
    a code shared by the batch, or z ignored."""
    G = _reference_unet(inject, num_downs, nz, 4, 3, 3, seed)
    gen = torch.Generator().manual_seed(seed + 3)
    x, z = torch.randn(batch, 3, size, size, generator=gen), torch.randn(batch, nz, generator=gen)
    z2 = z.clone()
    z2[1] = torch.randn(nz, generator=gen) * 2
    with torch.no_grad():
        first = _unet_z(unet_forward_with_z, G, x.clone(), z.clone())
        second = _unet_z(unet_forward_with_z, G, x.clone(), z2)
    changed = (first - second).flatten(1).abs().max(dim=1).values
    if changed[1] < 1e-4:
        raise AssertionError("changing image 1's code z[1] did not change its output: z must "
                             "reach the network")
    others = [b for b in range(batch) if b != 1 and changed[b] > 1e-6]
    if others:
        raise AssertionError(f"changing image 1's code changed the output of image(s) {others}: "
                             f"image b must be drawn with its own code z[b]")


def check_unet_z_runs(unet_forward_with_z: Callable) -> None:
    """unet_forward_with_z returns an image batch for a tiny U-Net."""
    G = _reference_unet("all", 2, 1, 2, 3, 3, 0)
    with torch.no_grad():
        _unet_z(unet_forward_with_z, G, torch.zeros(1, 3, 4, 4), torch.zeros(1, 1))


# ------------------------------------------------------------------------------------------
# Part 4: the generator's and the encoder's loss (Eq. 8, min side)
def reference_gan_loss(logits) -> Tensor:
    """G's LSGAN loss on a multi-scale D's logits, summed over the scales: what the notebook
    passes as ``gan_loss`` (coursekit's ``GANLoss("lsgan", scales="sum").generator``)."""
    return sum(((t - 1) ** 2).mean() for t in logits)


class FixedNoise:
    """A reparameterisation with a fixed eps per shape (from ``seed``): the reference and the
    student draw the same code z = mu + exp(logvar / 2) * eps."""

    def __init__(self, seed: int):
        self.seed = seed

    def eps(self, shape) -> Tensor:
        return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(self.seed))

    def __call__(self, mu: Tensor, logvar: Tensor) -> Tensor:
        return mu + torch.exp(0.5 * logvar) * self.eps(mu.shape)


def _tiny_bicyclegan(seed: int, size: int = 16, nz: int = 3, lambda_l1: float = 10.0,
                     lambda_latent: float = 0.5, lambda_kl: float = 0.01, ngf: int = 4,
                     nef: int = 4, ndf: int = 4, d_std: float | None = 0.2,
                     **overrides) -> BicycleGAN:
    """coursekit's BicycleGAN at ``size`` px (U-Net of log2(size) levels: no dropout below
    64 px; 2-block encoder; two 2-scale 1-layer PatchGANs). With ``d_std`` G and E get
    PyTorch's default initialisation and the discriminators weights of that std, so that the
    photos, the codes and the GAN terms are of order 1 and every term of the loss matters
    (BicycleGAN starts at Xavier gain 0.02, where G's photos are all near 0 whatever its code,
    and a loss on the wrong photo would look right)."""
    num_downs = int(math.log2(size))
    config = Config(image_size=size, nz=nz, num_downs=num_downs, ngf=ngf, nef=nef,
                    e_blocks=2, ndf=ndf, d_layers=1, lambda_l1=lambda_l1, lambda_z=lambda_latent,
                    lambda_kl=lambda_kl,
                    train=TrainConfig(steps=1, decay_steps=0, batch_size=2), **overrides)
    with seeded(seed):
        model = BicycleGAN(config)
        if d_std is not None:
            for net in (model.G, model.E):
                for m in net.modules():
                    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                        m.reset_parameters()
            init_weights(model.D, std=d_std)
            init_weights(model.D2, std=d_std)
    return model


def _ge(fn, model: BicycleGAN, real_A, real_B, z_random, reparameterize, kl, gan_loss,
        lambda_l1, lambda_latent, lambda_kl, seconds=None, nets=None) -> dict:
    G, E, D, D2 = nets or (model.G, model.E, model.D, model.D2)
    out = call_student(fn, G, E, D, D2, real_A, real_B, z_random, reparameterize, kl, gan_loss,
                       lambda_l1, lambda_latent, lambda_kl, forbidden=GE_REFERENCE,
                       part="the generator's and the encoder's loss", seconds=seconds)
    out = require_keys(out, GE_KEYS, "generator_encoder_loss")
    for key in LOSS_TERMS:
        scalar(out[key], f"generator_encoder_loss(...)[{key!r}]")
    return out


def _reference_ge(model: BicycleGAN, x: Tensor, y: Tensor, z_random: Tensor,
                  noise: FixedNoise) -> dict:
    """``BicycleGAN.generator_loss`` on the parts ``forward_halves`` makes, with the code drawn
    by ``noise`` and the random code ``z_random``."""
    parts = {}
    parts["mu"], parts["logvar"] = model.E(y)
    parts["fake_enc"] = model.G(x, noise(parts["mu"], parts["logvar"]))
    parts["z_rand"] = z_random
    parts["fake_rand"] = model.G(x, z_random)
    losses = model.generator_loss(x, y, parts)
    losses.update(fake_enc=parts["fake_enc"], fake_rand=parts["fake_rand"])
    return losses


def _ge_case(seed: int, batch: int, size: int, nz: int, lambdas: tuple[float, float, float]):
    model = _tiny_bicyclegan(seed, size=size, nz=nz, lambda_l1=lambdas[0],
                             lambda_latent=lambdas[1], lambda_kl=lambdas[2])
    gen = torch.Generator().manual_seed(seed + 1)
    x, y = (torch.tanh(2 * torch.randn(batch, 3, size, size, generator=gen)) for _ in range(2))
    z = torch.randn(batch, nz, generator=gen)
    return model, x, y, z


def check_generator_encoder_loss_matches_reference(
        generator_encoder_loss: Callable, *, batch: int = 2, size: int = 16, nz: int = 3,
        lambda_l1: float = 10.0, lambda_latent: float = 0.5, lambda_kl: float = 0.01,
        calls: int = 2, seed: int = 0) -> None:
    """Every term, the total and the two generated batches equal coursekit's
    ``BicycleGAN.generator_loss`` (given the same networks, the same eps and the same random
    code), and so do the gradients of G's and E's weights from the total; ``calls`` calls in a
    row on the same networks, each compared with the reference on a copy of them as the call
    finds them (a network left frozen by one call shows in the next). D and D2 are random
    2-scale PatchGANs, so that every GAN term matters.

    Catches each term computed on the wrong images (L1 on the random code's output, D for both
    GAN terms), the encoded code without its noise, a lambda on the wrong term, the latent
    regression against a sample of E's posterior instead of its mean, through a trainable E
    (E's gradients differ), under no_grad (G's gradients differ), E left frozen afterwards."""
    lambdas = (lambda_l1, lambda_latent, lambda_kl)
    model, x, y, z = _ge_case(seed, batch, size, nz, lambdas)
    noise = FixedNoise(seed + 2)
    what = (f"generator_encoder_loss (batch {batch}, {size} px, nz {nz}, lambda_l1 "
            f"{lambda_l1:g}, lambda_latent {lambda_latent:g}, lambda_kl {lambda_kl:g})")
    student = copy.deepcopy(model)
    for k in range(calls):
        reference = copy.deepcopy(student)
        reference.zero_grad(set_to_none=True)
        expected = _reference_ge(reference, x, y, z, noise)
        expected["G"].backward()
        student.zero_grad(set_to_none=True)
        got = _ge(generator_encoder_loss, student, x.clone(), y.clone(), z.clone(), noise,
                  encoder_module.kl_divergence, reference_gan_loss, *lambdas)
        call = f" (call {k + 1})" if calls > 1 else ""
        for key in LOSS_TERMS:
            assert_close(got[key], expected[key], atol=LOSS_ATOL * max(1.0, lambda_l1),
                         rtol=LOSS_RTOL, what=f"{what}[{key!r}]{call}")
        for key in ("fake_enc", "fake_rand"):
            assert_close(tensor_output(got[key], f"generator_encoder_loss(...)[{key!r}]"),
                         expected[key], atol=OUT_ATOL, rtol=OUT_RTOL, what=f"{what}[{key!r}]{call}")
        if not got["G"].requires_grad:
            raise AssertionError(f"{what}: the total 'G' has no gradient (computed under "
                                 f"no_grad, or detached?)")
        got["G"].backward()
        for net in ("G", "E"):
            mine, ref = getattr(student, net), getattr(reference, net)
            assert_gradients_match(
                [(name, p.grad, p_ref.grad if p_ref.grad is not None else torch.zeros_like(p))
                 for (name, p), p_ref in zip(mine.named_parameters(), ref.parameters())],
                what=f"the gradient of {net}'s {{name}} from the total 'G'{call} (compared with "
                     f"coursekit's BicycleGAN from the same weights)",
                missing=f"{net}'s weight {{name}} got no gradient from the total 'G'{call} (is "
                        f"{net} frozen, or its output detached?)")
        if not all(p.requires_grad for p in student.E.parameters()):
            raise AssertionError("E's weights are still frozen after generator_encoder_loss: "
                                 "switch them back on (requires_grad_(True)) after the latent "
                                 "regression, or the next step cannot train E")


def check_latent_regression_trains_G_only(generator_encoder_loss: Callable, *, batch: int = 2,
                                          size: int = 16, nz: int = 3, seed: int = 0) -> None:
    """Backpropagating the latent term 'z_l1' alone (Eq. 7) gives G's weights gradients and
    E's none (E's weights are frozen for that pass, the reference code's choice), and E is
    trainable again afterwards; its value is ||mu(E(G(A, z))) - z||_1 averaged, with E's mean.

    Catches the latent regression training E as well, computed under no_grad (G learns
    nothing from it), against a sample of E's posterior instead of its mean, E left frozen."""
    model, x, y, z = _ge_case(seed, batch, size, nz, (10.0, 0.5, 0.01))
    noise = FixedNoise(seed + 2)
    out = _ge(generator_encoder_loss, model, x, y, z, noise, encoder_module.kl_divergence,
              reference_gan_loss, 10.0, 0.5, 0.01)
    if not all(p.requires_grad for p in model.E.parameters()):
        raise AssertionError("E's weights are still frozen after generator_encoder_loss: switch "
                             "them back on (requires_grad_(True)) after the latent regression")
    with torch.no_grad():
        mu = model.E(out["fake_rand"].detach())[0]
        expected = (mu - z).abs().mean()
    assert_close(out["z_l1"], expected, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what="'z_l1', the mean of |mu(E(G(A, z))) - z| (E's mean, not a sample)")
    model.zero_grad(set_to_none=True)
    if not out["z_l1"].requires_grad:
        raise AssertionError("'z_l1' has no gradient: G must learn from the latent regression "
                             "(freeze E's weights, not the whole computation with no_grad)")
    out["z_l1"].backward()
    e_grads = [name for name, p in model.E.named_parameters()
               if p.grad is not None and p.grad.abs().max() > 0]
    if e_grads:
        raise AssertionError(f"E's weights received gradients from the latent regression 'z_l1' "
                             f"({e_grads[0]}, ...): Eq. 7 trains G only; freeze E's weights for "
                             f"that pass (E.requires_grad_(False), then True again)")
    if all(p.grad is None or p.grad.abs().max() == 0 for p in model.G.parameters()):
        raise AssertionError("G received no gradient from the latent regression 'z_l1'")


def check_generator_encoder_loss_uses_its_arguments(generator_encoder_loss: Callable, *,
                                                    batch: int = 2, size: int = 16,
                                                    seed: int = 0) -> None:
    """The code comes from the ``reparameterize`` passed in, the KL term from ``kl_divergence``
    and the GAN terms from ``gan_loss`` (as the notebook asks, so that a mistake in parts 1 and
    2 does not cost these points too). Catches the notebook's own functions called instead."""
    model, x, y, z = _ge_case(seed, batch, size, 2, (10.0, 0.5, 0.01))
    noise = Counted(FixedNoise(seed + 2))
    kl, gan = Counted(encoder_module.kl_divergence), Counted(reference_gan_loss)
    _ge(generator_encoder_loss, model, x, y, z, noise, kl, gan, 10.0, 0.5, 0.01)
    if not (noise.calls and kl.calls and gan.calls):
        raise AssertionError(f"generator_encoder_loss must use the functions it is given: "
                             f"reparameterize was called {noise.calls} time(s), kl_divergence "
                             f"{kl.calls}, gan_loss {gan.calls}")


def check_generator_encoder_loss_runs(generator_encoder_loss: Callable) -> None:
    """generator_encoder_loss returns its dict for a tiny BicycleGAN."""
    model, x, y, z = _ge_case(0, 1, 16, 2, (10.0, 0.5, 0.01))
    with quiet():
        _ge(generator_encoder_loss, model, x, y, z, FixedNoise(0), encoder_module.kl_divergence,
            reference_gan_loss, 10.0, 0.5, 0.01)


class _StudentLossBicycleGAN(BicycleGAN):
    """coursekit's BicycleGAN whose training step takes the G/E loss from a student's
    ``generator_encoder_loss`` (coursekit's reparameterisation, KL, GAN loss and
    discriminators' step around it), as the notebook's own BicycleGAN does."""

    def __init__(self, config: Config, generator_encoder_loss: Callable):
        super().__init__(config)
        self.student_loss = generator_encoder_loss

    def training_step(self, batch: dict) -> dict:
        c = self.config
        x, y = self.inputs_and_targets(batch)
        half = x.shape[0] // 2
        x1, y1, y2 = x[:half], y[:half], y[half:]
        self.set_requires_grad(False, self.D, self.D2)
        losses = _ge(self.student_loss, self, x1, y1, self.random_z(half),
                     encoder_module.reparameterize, encoder_module.kl_divergence,
                     self.gan_loss.generator, c.lambda_l1, c.lambda_z, c.lambda_kl, seconds=0)
        self.backward_and_step(losses["G"], "G", "E")
        self.set_requires_grad(True, self.D, self.D2)
        fake_enc, fake_rand = (torch.as_tensor(losses[key]).detach()
                               for key in ("fake_enc", "fake_rand"))
        self.backward_and_step(self.discriminator_loss(self.D, x1, y1, x1, fake_enc), "D")
        self.backward_and_step(self.discriminator_loss(self.D2, x1, y2, x1, fake_rand), "D2")
        return {"G": losses["G"].detach()}


#: The pass mark of the training run (60 steps at 32 px, seed 0 graded), from the solution's
#: runs; "without training" is lr = 0.
TRAINING_RUN = (
    Threshold("style_ratio", "the distance of G(A, mu(E(B))) from the photo B, as a fraction of "
              "its distance from the same building's photos in the other styles (8 test "
              "buildings, 4 styles)", 0.96, higher_is_better=False, correct=(0.79, 0.93),
              measured="seeds 0..9, 60 steps", untrained=(0.999, 1.001)),
)


def _facades(split: str, size: int, length: int) -> tuple[Tensor, Tensor]:
    from coursekit.data.synthetic.facades import SyntheticFacades

    data = SyntheticFacades(split, size=size, length=length)
    items = [data[i] for i in range(length)]
    return torch.stack([i["A"] for i in items]), torch.stack([i["B"] for i in items])


def _all_styles(size: int, buildings: int) -> tuple[Tensor, Tensor]:
    """Test label maps (K, 3, H, W) and each building's photo in every style (K, S, 3, H, W)."""
    from coursekit.data.synthetic.facades import SyntheticFacades

    data = SyntheticFacades("test", size=size, length=buildings)
    styles = [data.all_styles(i) for i in range(buildings)]
    return (torch.stack([s[0]["A"] for s in styles]),
            torch.stack([torch.stack([v["B"] for v in s]) for s in styles]))


def check_training_run(generator_encoder_loss: Callable, *, steps: int = 60, size: int = 32,
                       batch: int = 8, ngf: int = 8, lr: float = 2e-3, seed: int = 0,
                       max_style_ratio: float = TRAINING_RUN[0].limit,
                       seconds: float = 90.0) -> dict[str, float]:
    """Train a small BicycleGAN on synthetic facades (32 px, batches of 8: two halves of 4)
    for ``steps`` steps, its G and E updated from the student's generator_encoder_loss
    (``_StudentLossBicycleGAN``; coursekit's discriminators' step). G and E start from
    PyTorch's default initialisation, where a few dozen steps suffice (BicycleGAN's Xavier
    gain 0.02 needs hundreds before the code matters).

    Afterwards the code must carry the photo's style: for 8 test buildings drawn in each of
    the 4 styles, the photo G draws from a photo's code, G(A, mu(E(B_s))), must be closer to
    B_s than to the same building's photos in the other styles: the ratio of the mean
    distances must be at most ``max_style_ratio`` (1 when the code carries no style;
    :data:`TRAINING_RUN`: the measurements behind it). Returns {"style_ratio",
    "style_accuracy" (how often B_s is the nearest of the 4), "diversity" (the mean
    |G(A, z1) - G(A, z2)| of two random codes)}.

    Catches an encoder that the L1 term does not train (the L1 term on the random code's
    photo, E left frozen)."""
    A, B = _facades("train", size, steps * batch)
    test_A, test_B = _all_styles(size, 8)
    config = Config(image_size=size, num_downs=int(math.log2(size)), ngf=ngf, nef=ngf,
                    e_blocks=2, ndf=8, d_layers=1, lr=lr,
                    train=TrainConfig(steps=steps, decay_steps=0, batch_size=batch))
    with seeded(seed):
        model = _StudentLossBicycleGAN(config, generator_encoder_loss)
        for net in (model.G, model.E):
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    m.reset_parameters()

    def step(k: int) -> None:
        model.training_step({"A": A[k * batch:(k + 1) * batch], "B": B[k * batch:(k + 1) * batch]})

    @torch.no_grad()
    def scores(_) -> dict[str, float]:
        buildings, styles = test_B.shape[:2]
        mu = model.E(test_B.flatten(0, 1))[0].view(buildings, styles, -1)
        drawn = torch.stack([model.G(test_A, mu[:, s]) for s in range(styles)], 1)
        # distance[b, s, t]: building b drawn from style s's code, against its photo in style t
        distance = (drawn[:, :, None] - test_B[:, None]).abs().mean((3, 4, 5))
        own = distance.diagonal(dim1=1, dim2=2)
        others = (distance.sum(2) - own) / (styles - 1)
        gen = torch.Generator().manual_seed(seed + 1)
        z1, z2 = (torch.randn(buildings, config.nz, generator=gen) for _ in range(2))
        return {"style_ratio": float(own.mean() / others.mean()),
                "style_accuracy": float((distance.argmin(2) == torch.arange(styles)).float()
                                        .mean()),
                "diversity": float((model.G(test_A, z1) - model.G(test_A, z2)).abs().mean())}

    with seeded(seed + 2):  # the codes and eps are drawn from the global generator
        return training_run(step, steps, scores,
                            (dataclasses.replace(TRAINING_RUN[0], limit=max_style_ratio),),
                            seconds=seconds)


# ------------------------------------------------------------------------------------------
# Part 5: the discriminators' loss
class StubMultiScale(nn.Module):
    """A 2-scale (or ``scales``-scale) "discriminator" for hand-computed losses: scale s outputs,
    for each 2^(s+1) x 2^(s+1) patch, the mean of the judged image's pixels in it (over its
    channels), as a list finest first, like ``MultiScalePatchGAN``."""

    def __init__(self, channels: int = 3, scales: int = 2):
        super().__init__()
        self.channels, self.scales = channels, scales

    def forward(self, image: Tensor) -> list[Tensor]:
        if image.ndim != 4 or image.shape[1] != self.channels:
            raise AssertionError(f"D received shape {tuple(image.shape)}; BicycleGAN's "
                                 f"discriminators judge one photo (N, {self.channels}, H, W)")
        grey = image.mean(1, keepdim=True)
        return [F.avg_pool2d(grey, 2 ** (s + 1)) for s in range(self.scales)]


def reference_discriminator_losses(D, D2, real_B, other_real_B, fake_enc, fake_rand) -> dict:
    """coursekit's BicycleGAN losses for D (real_B vs. fake_enc) and D2 (other_real_B vs.
    fake_rand): LSGAN, summed over the scales, not halved, the fakes detached."""
    loss = GANLoss("lsgan", d_scale=1.0, scales="sum")
    return {"D": loss.discriminator(D(real_B), D(fake_enc.detach())),
            "D2": loss.discriminator(D2(other_real_B), D2(fake_rand.detach()))}


def _d(fn, D, D2, real_B, other_real_B, fake_enc, fake_rand) -> dict:
    out = call_student(fn, D, D2, real_B, other_real_B, fake_enc, fake_rand,
                       forbidden=D_REFERENCE, part="the discriminators' loss")
    out = require_keys(out, D_KEYS, "discriminator_losses")
    for key in D_KEYS:
        scalar(out[key], f"discriminator_losses(...)[{key!r}]")
    return out


def check_discriminator_losses_value(discriminator_losses: Callable, *, real: float,
                                     other_real: float, fake_enc: float, fake_rand: float,
                                     expected_D: float, expected_D2: float, scales: int = 2,
                                     shape: tuple[int, ...] = (2, 3, 8, 8)) -> None:
    """With stub discriminators of ``scales`` scales (each the mean of a patch) and constant
    images, both losses equal the values computed by hand in the notebook. Catches a halved
    loss, the scales averaged or only the finest one, swapped targets, D2 judged against the
    first half's photos, the two batches of fakes swapped."""
    D, D2 = StubMultiScale(shape[1], scales), StubMultiScale(shape[1], scales)
    c = lambda v: torch.full(shape, float(v))  # noqa: E731
    out = _d(discriminator_losses, D, D2, c(real), c(other_real), c(fake_enc), c(fake_rand))
    for key, expected, reals, fake in (("D", expected_D, real, fake_enc),
                                       ("D2", expected_D2, other_real, fake_rand)):
        assert_close(out[key], expected, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                     what=f"discriminator_losses(...)[{key!r}] with {scales}-scale stub "
                          f"discriminators for outputs {reals:g} (real) and {fake:g} (generated)")


def _random_multiscale(seed: int, ndf: int = 4, scales: int = 2) -> MultiScalePatchGAN:
    with seeded(seed):
        return init_weights(MultiScalePatchGAN(3, ndf, n_layers=1, num_scales=scales,
                                               norm="instance"), std=0.2)


def check_discriminator_losses_match_reference(discriminator_losses: Callable, *, batch: int = 2,
                                               size: int = 16, scales: int = 2,
                                               seed: int = 0) -> None:
    """Both losses and the gradients of D's and D2's weights equal coursekit's (``GANLoss(
    "lsgan", d_scale=1, scales="sum")`` as ``BicycleGAN.discriminator_loss`` uses it) on random
    multi-scale PatchGANs, and neither loss sends a gradient into the generated images.

    Catches everything the hand-computed values do, and fakes not detached."""
    D, D2 = _random_multiscale(seed, scales=scales), _random_multiscale(seed + 1, scales=scales)
    real, other, fake_enc, fake_rand = random_images(batch, 3, size, seed + 2, 4)
    D_ref, D2_ref = copy.deepcopy(D), copy.deepcopy(D2)
    expected = reference_discriminator_losses(D_ref, D2_ref, real, other, fake_enc, fake_rand)
    (expected["D"] + expected["D2"]).backward()
    fakes = {"D": fake_enc.clone().requires_grad_(True),
             "D2": fake_rand.clone().requires_grad_(True)}
    out = _d(discriminator_losses, D, D2, real.clone(), other.clone(), fakes["D"], fakes["D2"])
    for key in D_KEYS:
        assert_close(out[key], expected[key], atol=LOSS_ATOL, rtol=LOSS_RTOL,
                     what=f"discriminator_losses(...)[{key!r}] vs. coursekit's on random "
                          f"{scales}-scale PatchGANs")
    for key, net, ref in (("D", D, D_ref), ("D2", D2, D2_ref)):
        backward_discriminator_loss(out[key], fakes[key])
        assert_gradients_match([(name, p.grad, p_ref.grad) for (name, p), p_ref
                                in zip(net.named_parameters(), ref.parameters())],
                               what=f"the gradient of {key}'s {{name}} from its loss",
                               missing=f"{key}'s weight {{name}} got no gradient from its loss")


def check_discriminator_losses_leave_G_alone(discriminator_losses: Callable, *, batch: int = 2,
                                             size: int = 16, seed: int = 0) -> None:
    """The generated images come straight from a U-Net G (with their graph, as in training):
    after backpropagating both losses G's weights have no gradient. D's loss does not reach G
    (its update is D's alone), while D and D2 do get gradients."""
    G = _reference_unet("all", int(math.log2(size)), 2, 4, 3, 3, seed)
    D, D2 = _random_multiscale(seed + 1), _random_multiscale(seed + 2)
    gen = torch.Generator().manual_seed(seed + 3)
    A = torch.randn(batch, 3, size, size, generator=gen)
    real, other = random_images(batch, 3, size, seed + 4, 2)
    fake_enc = G(A, torch.randn(batch, 2, generator=gen))
    fake_rand = G(A, torch.randn(batch, 2, generator=gen))
    out = _d(discriminator_losses, D, D2, real, other, fake_enc, fake_rand)
    total = out["D"] + out["D2"]
    if not total.requires_grad:
        raise AssertionError("the discriminators' losses do not depend on their weights")
    total.backward()
    if any(p.grad is not None and p.grad.abs().max() > 0 for p in G.parameters()):
        raise AssertionError("the discriminators' loss sent gradients into the generator G: "
                             "detach the generated images (fake.detach()) in D's and D2's loss")
    for name, net in (("D", D), ("D2", D2)):
        if all(p.grad is None or p.grad.abs().max() == 0 for p in net.parameters()):
            raise AssertionError(f"{name} received no gradient from its loss")


def check_discriminator_losses_runs(discriminator_losses: Callable) -> None:
    """discriminator_losses returns its dict for tiny stub discriminators."""
    x = torch.zeros(1, 3, 4, 4)
    _d(discriminator_losses, StubMultiScale(), StubMultiScale(), x, x.clone(), x.clone(),
       x.clone())


one_thread_checks(globals())  # see checks.one_thread

__all__ = [name for name in dir() if name.startswith(("check_", "reference_"))] + [
    "D_REFERENCE", "FixedNoise", "GE_REFERENCE", "KL_REFERENCE", "REPARAM_REFERENCE",
    "StubMultiScale", "StudentTimeout", "TRAINING_RUN", "UNET_REFERENCE", "forbid",
    "hidden_tests", "quiet",
]
