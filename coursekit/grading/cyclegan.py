"""Checks for problem set 2 (CycleGAN): the test cells of ``ps2_cyclegan.ipynb`` call these.

Each check runs the student's code on fixed, tiny inputs (CPU, one torch thread, float32,
fixed seeds) and compares it with a hand-computed value, with a property that any correct
solution has, or with coursekit's reference -- ``ResnetBlock``, ``GANLoss("lsgan")``,
``cycle_loss`` / ``identity_loss`` / ``CycleGAN.generator_losses``, ``ImagePool`` and the
generator half of ``CycleGAN.training_step`` -- given the same weights. While the student's
code runs, the reference of the part being graded is refused (``checks.forbid``), so calling
it earns nothing.

What the students write (names and signatures fixed by the notebook):

* ``ResidualBlock(dim)``: an ``nn.Module``, ``x + [pad, conv3x3, IN, ReLU, pad, conv3x3, IN](x)``;
* ``lsgan_discriminator_loss(D, real, fake)`` and ``lsgan_generator_loss(D, fake)``;
* ``cycle_identity_losses(G_AB, G_BA, real_A, real_B, fake_A, fake_B, lambda_cycle=10.0,
  lambda_identity=0.5)`` -> ``{"cycle_A", "cycle_B", "identity_AB", "identity_BA", "total"}``;
* ``HistoryPool(size=50)`` with ``query(images)``: the 50-image history of generated images;
* ``generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_A, real_B, gan_loss_fn,
  cycle_identity_fn, lambda_cycle=10.0, lambda_identity=0.5)`` -> ``{"G", "fake_A", "fake_B"}``.

The image pool is random. Its checks do not ask for coursekit's exact sequence of draws (a
correct pool may draw in another order): they check what holds for every correct pool (each
returned image is the new one or a stored one, which the new one then replaces) and the
statistics (swap rate 1/2, uniform choice) on long seeded runs, so the outcome is the same on
every run.

Tolerances: a correct solution computes the same float32 operations as the reference, maybe
in another order (another summation order, ``(a - b).abs().mean()`` for ``F.l1_loss``), which
changes results by a few float32 ulps (relative 1e-7..1e-6). The tolerances below are 10-100x
that, and far smaller than the effect of any mistake the checks catch (each check says which).
"""
from __future__ import annotations

import copy
import dataclasses
import gc
import math
import weakref
from collections import Counter
from typing import Callable

import torch
from torch import Tensor, nn

from coursekit.grading.checks import (
    Counted,
    StubDiscriminator,
    StudentTimeout,
    Threshold,
    assert_close,
    assert_detached,
    assert_gradients_match,
    assert_same_update,
    backward_discriminator_loss,
    call_student,
    copy_weights,
    count_parameters,
    explain_missing_gradient,
    forbid,
    gan_adam,
    hidden_tests,
    largest,
    layers_in_call_order,
    one_thread_checks,
    parameter_modules,
    quiet,
    random_images,
    random_patchgan,
    require_keys,
    scalar,
    seeded,
    sync,
    training_run,
)
from coursekit.models import cyclegan as cyclegan_module
from coursekit.models.cyclegan import Config, CycleGAN, cycle_loss, identity_loss
from coursekit.nn import GANLoss, ImagePool, ResnetBlock, ResnetGenerator, init_weights
from coursekit.train import Method

# ------------------------------------------------------------------------------------------
# What each part may not call: coursekit's own implementation of that part.
BLOCK_REFERENCE = ((ResnetBlock, "__init__"), (ResnetBlock, "forward"),
                   (ResnetGenerator, "__init__"))
LSGAN_REFERENCE = ((GANLoss, "real"), (GANLoss, "fake"), (GANLoss, "discriminator"),
                   (GANLoss, "generator"), (CycleGAN, "discriminator_losses"),
                   (CycleGAN, "generator_losses"))
CYCLE_REFERENCE = ((cyclegan_module, "cycle_loss"), (cyclegan_module, "identity_loss"),
                   (CycleGAN, "generator_losses"))
POOL_REFERENCE = ((ImagePool, "__init__"), (ImagePool, "query"))
STEP_REFERENCE = ((CycleGAN, "training_step"), (CycleGAN, "generator_losses"),
                  (Method, "backward_and_step"), (Method, "set_requires_grad"))

CYCLE_KEYS = ("cycle_A", "cycle_B", "identity_AB", "identity_BA", "total")
STEP_KEYS = ("G", "fake_A", "fake_B")

# A loss of float32 inputs vs. its exact value: agrees to ~1e-7 relative; mistakes change it
# by 10 % or more.
LOSS_RTOL, LOSS_ATOL = 1e-5, 1e-6


# ------------------------------------------------------------------------------------------
# Part 1: the residual block
def build_block(block_class: Callable, dim: int) -> nn.Module:
    """``block_class(dim)``, checked to be an ``nn.Module`` (so its weights are registered)."""
    block = call_student(block_class, dim, forbidden=BLOCK_REFERENCE, part="the residual block")
    if not isinstance(block, nn.Module):
        raise AssertionError(f"ResidualBlock({dim}) should be an nn.Module, got "
                             f"{type(block).__name__}")
    return block


def _run_block(block: nn.Module, x: Tensor) -> Tensor:
    out = call_student(block, x, forbidden=BLOCK_REFERENCE, part="the residual block")
    if not isinstance(out, Tensor):
        raise AssertionError(f"ResidualBlock's forward should return a tensor, got "
                             f"{type(out).__name__}")
    return out


def _block_layers(block: nn.Module, dim: int) -> list[nn.Module]:
    """The block's layers with weights, in the order its forward pass calls them (a block may
    register its second conv first)."""
    x = torch.zeros(1, dim, 6, 6)

    def run():
        with torch.no_grad():
            _run_block(block, x)

    return layers_in_call_order(block, run)


def check_block_shape_and_parameters(ResidualBlock: Callable, *, dim: int, expected: int,
                                     size: int = 8, batch: int = 2) -> None:
    """A block keeps the shape (N, dim, H, W) and has ``expected`` parameters (hand-computed
    in the notebook: two 3x3 convs with biases, instance norm without parameters).

    Catches batch norm or an affine instance norm (extra parameters), convs without bias,
    a 1x1 or 5x5 kernel, a third conv."""
    block = build_block(ResidualBlock, dim)
    x = torch.randn(batch, dim, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = _run_block(block, x)
    if tuple(out.shape) != tuple(x.shape):
        raise AssertionError(f"a residual block maps {tuple(x.shape)} to the same shape; yours "
                             f"gives {tuple(out.shape)} (3x3 convs need 1 pixel of padding)")
    got = count_parameters(block)
    if got != expected:
        raise AssertionError(f"ResidualBlock({dim}) should have {expected:,} parameters (two "
                             f"3x3 convs {dim} -> {dim} with biases; nn.InstanceNorm2d has none); "
                             f"yours has {got:,}")


def check_block_passes_input_when_branch_is_zero(ResidualBlock: Callable, *, dim: int = 4,
                                                 size: int = 6, batch: int = 2,
                                                 seed: int = 0) -> None:
    """With the second conv's weights and bias set to zero (the conv the forward pass calls
    last), the residual branch outputs instance-norm(0) = 0, so the block must return its input
    unchanged -- also where the input is negative. No coursekit code involved.

    Catches a missing skip connection (the output is then 0) and a ReLU after the addition
    (negative inputs come out as 0)."""
    with seeded(seed):  # the block's initial weights do not depend on what ran before
        block = build_block(ResidualBlock, dim)
    convs = [m for m in _block_layers(block, dim) if isinstance(m, nn.Conv2d)]
    if len(convs) != 2:
        raise AssertionError(f"a residual block has two 3x3 convolutions; yours has {len(convs)}")
    with torch.no_grad():
        convs[-1].weight.zero_()
        if convs[-1].bias is not None:
            convs[-1].bias.zero_()
    x = torch.randn(batch, dim, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out = _run_block(block, x.clone())
    if tuple(out.shape) != tuple(x.shape):
        raise AssertionError(f"the block should keep the shape {tuple(x.shape)}, got "
                             f"{tuple(out.shape)}")
    # Exact up to rounding: x + 0 (instance norm of an all-zero map is exactly 0).
    assert_close(out, x, atol=1e-6, rtol=0,
                 what="the block's output when its residual branch is zero (it should be x "
                      "itself: out = x + branch(x), with nothing after the addition)")


def _reference_block(dim: int, seed: int) -> ResnetBlock:
    # PyTorch's default initialisation (uniform, ~1/sqrt(fan_in)) and random biases: the
    # branch is then as large as the input, so every mistake shows.
    with seeded(seed):
        return ResnetBlock(dim, norm="instance")


def check_block_matches_reference(ResidualBlock: Callable, *, dim: int = 8, height: int = 12,
                                  width: int = 12, batch: int = 2, seed: int = 0) -> None:
    """With the reference's weights copied in, the block computes what coursekit's
    ``ResnetBlock(dim)`` computes.

    Catches zero padding instead of reflection padding (the border pixels differ), batch
    norm or no norm instead of instance norm, the ReLU missing or in the wrong place, a
    missing skip connection or a ReLU after the addition."""
    ref = _reference_block(dim, seed)
    block = build_block(ResidualBlock, dim)
    copy_weights(parameter_modules(ref), _block_layers(block, dim))
    x = torch.randn(batch, dim, height, width, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        expected = ref(x.clone())
        got = _run_block(block, x.clone())
    # Outputs of order 1 from the same float32 ops: ~1e-6.
    assert_close(got, expected, atol=1e-5, rtol=1e-4,
                 what=f"ResidualBlock({dim}) output on a {height}x{width} input vs. coursekit's "
                      f"ResnetBlock with the same weights")


def check_block_gradients(ResidualBlock: Callable, *, dim: int = 4, size: int = 8,
                          batch: int = 2, seed: int = 0) -> None:
    """Backpropagating through the block gives the input and both convs the gradients that
    coursekit's ``ResnetBlock`` gives. Catches a detached skip or branch."""
    ref = _reference_block(dim, seed)
    block = build_block(ResidualBlock, dim)
    copy_weights(parameter_modules(ref), _block_layers(block, dim))
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, dim, size, size, generator=gen)
    weights = torch.randn(x.shape, generator=gen)  # loss = sum(weights * block(x))
    x_ref, x_stu = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (ref(x_ref) * weights).sum().backward()
    (_run_block(block, x_stu) * weights).sum().backward()
    if x_stu.grad is None:
        raise AssertionError("no gradient reached the block's input: is the output detached?")
    assert_close(x_stu.grad, x_ref.grad, atol=1e-5 * largest(x_ref.grad), rtol=1e-4,
                 what="gradient with respect to the block's input")
    for k, (r, m) in enumerate(zip(parameter_modules(ref), _block_layers(block, dim)), 1):
        if m.weight.grad is None:
            raise AssertionError(f"conv {k} of the block got no gradient")
        assert_close(m.weight.grad, r.weight.grad, atol=1e-5 * largest(r.weight.grad),
                     rtol=1e-4, what=f"gradient of conv {k}'s weight")


def check_block_runs(ResidualBlock: Callable) -> None:
    """ResidualBlock(2) maps a (1, 2, 8, 8) batch to a tensor."""
    block = build_block(ResidualBlock, 2)
    with torch.no_grad():
        _run_block(block, torch.zeros(1, 2, 8, 8))


# ------------------------------------------------------------------------------------------
# Part 2: the LSGAN losses
def reference_lsgan_discriminator_loss(D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """coursekit's LSGAN discriminator loss, 0.5 [(D(real) - 1)^2 + D(fake)^2]."""
    return GANLoss("lsgan").discriminator(D(real), D(fake.detach()))


def reference_lsgan_generator_loss(D: nn.Module, fake: Tensor) -> Tensor:
    """coursekit's LSGAN generator loss, (D(G(x)) - 1)^2."""
    return GANLoss("lsgan").generator(D(fake))


def _d_loss(fn, D, real, fake) -> Tensor:
    return scalar(call_student(fn, D, real, fake, forbidden=LSGAN_REFERENCE,
                                part="the LSGAN losses"), "lsgan_discriminator_loss(...)")


def _g_loss(fn, D, fake) -> Tensor:
    out = call_student(fn, D, fake, forbidden=LSGAN_REFERENCE, part="the LSGAN losses")
    return scalar(out, "lsgan_generator_loss(...)")


def _constant(shape, value, requires_grad=False) -> Tensor:
    return torch.full(shape, float(value), requires_grad=requires_grad)


def check_lsgan_discriminator_value(lsgan_discriminator_loss: Callable, *, real_value: float,
                                    fake_value: float, expected: float,
                                    shape: tuple[int, ...] = (2, 3, 4, 4)) -> None:
    """With the stub D, constant real and generated images give outputs real_value and
    fake_value everywhere, so the loss is ``expected``, computed by hand in the notebook.
    Catches swapped targets, cross-entropy instead of squares, a missing 1/2."""
    D = StubDiscriminator(channels=shape[1])
    loss = _d_loss(lsgan_discriminator_loss, D, _constant(shape, real_value),
                   _constant(shape, fake_value))
    assert_close(loss, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"LSGAN discriminator loss for outputs {real_value:g} (real) and "
                      f"{fake_value:g} (generated)")


def check_lsgan_generator_value(lsgan_generator_loss: Callable, *, fake_value: float,
                                expected: float, expected_gradient: float | None = None,
                                shape: tuple[int, ...] = (2, 3, 4, 4)) -> None:
    """With the stub D and a constant generated image, the generator's loss is ``expected``
    and every pixel of G(x) gets the gradient ``expected_gradient`` (both by hand).
    Catches the target 0 instead of 1, cross-entropy, a detached G(x)."""
    D = StubDiscriminator(channels=shape[1])
    fake = _constant(shape, fake_value, requires_grad=True)
    loss = _g_loss(lsgan_generator_loss, D, fake)
    assert_close(loss, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"LSGAN generator loss for the output {fake_value:g}")
    if expected_gradient is None:
        return
    if not loss.requires_grad:
        raise AssertionError("the generator's loss has no gradient with respect to G(x): was "
                             "G(x) detached, or the loss turned into a Python number?")
    loss.backward()
    if fake.grad is None:
        raise AssertionError("no gradient reached the generated image G(x)")
    assert_close(fake.grad, torch.full(shape, float(expected_gradient)), atol=LOSS_ATOL,
                 rtol=LOSS_RTOL, what="gradient of the generator's loss with respect to each "
                                      "pixel of G(x)")


def check_lsgan_matches_reference(lsgan_discriminator_loss: Callable,
                                  lsgan_generator_loss: Callable, *, batch: int = 2,
                                  channels: int = 3, size: int = 32, n_layers: int = 2,
                                  ndf: int = 4, seed: int = 0) -> None:
    """Both losses equal coursekit's ``GANLoss("lsgan")`` on a random PatchGAN (instance
    norm: D judges each image on its own, so one batch or two is the same), and so do the
    gradients: D's loss for D's weights, the generator's loss for G(x). D's loss sends no
    gradient into G(x).

    Catches everything the hand-computed values do, a sum instead of a mean, and a missing
    ``fake.detach()`` in D's loss."""
    D = random_patchgan(channels, ndf, n_layers, seed)
    real, fake = random_images(batch, channels, size, seed + 1, 2)
    D_ref = copy.deepcopy(D)
    expected_d = reference_lsgan_discriminator_loss(D_ref, real, fake)
    expected_d.backward()
    fake_d = fake.clone().requires_grad_(True)
    loss_d = _d_loss(lsgan_discriminator_loss, D, real, fake_d)
    assert_close(loss_d, expected_d, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what="LSGAN discriminator loss vs. coursekit's on a random PatchGAN")
    backward_discriminator_loss(loss_d, fake_d)
    assert_gradients_match([(name, p.grad, p_ref.grad) for (name, p), p_ref
                            in zip(D.named_parameters(), D_ref.parameters())],
                           what="gradient of D's {name} from the discriminator's loss",
                           missing="D's weight {name} got no gradient from D's loss")

    fake_ref, fake_g = fake.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    expected_g = reference_lsgan_generator_loss(copy.deepcopy(D), fake_ref)
    expected_g.backward()
    loss_g = _g_loss(lsgan_generator_loss, D, fake_g)
    assert_close(loss_g, expected_g, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what="LSGAN generator loss vs. coursekit's on a random PatchGAN")
    if not loss_g.requires_grad:
        raise AssertionError("the generator's loss has no gradient with respect to G(x)")
    loss_g.backward()
    if fake_g.grad is None:
        raise AssertionError("no gradient reached the generated images from G's loss")
    assert_close(fake_g.grad, fake_ref.grad, atol=1e-5 * largest(fake_ref.grad), rtol=1e-4,
                 what="gradient of the generator's loss with respect to G(x)")


def check_lsgan_runs(lsgan_discriminator_loss: Callable, lsgan_generator_loss: Callable) -> None:
    """Both losses return one number for a tiny batch."""
    D = StubDiscriminator(channels=3)
    x = torch.zeros(1, 3, 4, 4)
    _d_loss(lsgan_discriminator_loss, D, x, x.clone())
    _g_loss(lsgan_generator_loss, D, x.clone())


# ------------------------------------------------------------------------------------------
# Part 3: cycle-consistency and identity losses
class AffineGenerator(nn.Module):
    """A "generator" for hand-computed losses: ``scale * x + shift``, pixel by pixel."""

    def __init__(self, scale: float, shift: float):
        super().__init__()
        self.scale, self.shift = float(scale), float(shift)

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * x + self.shift

    def extra_repr(self) -> str:
        return f"{self.scale:g} * x + {self.shift:g}"


def reference_cycle_identity_losses(G_AB: nn.Module, G_BA: nn.Module, real_A: Tensor,
                                    real_B: Tensor, fake_A: Tensor, fake_B: Tensor,
                                    lambda_cycle: float = 10.0,
                                    lambda_identity: float = 0.5) -> dict[str, Tensor]:
    """coursekit's terms (``cycle_loss``, ``identity_loss``) with the notebook's signature.
    ``total`` = lambda (cycle_A + cycle_B) + lambda_identity * lambda (identity_AB + identity_BA),
    as in ``CycleGAN.generator_losses``."""
    out = {"cycle_A": cycle_loss(real_A, G_BA(fake_B)), "cycle_B": cycle_loss(real_B, G_AB(fake_A)),
           "identity_AB": identity_loss(real_B, G_AB(real_B)),
           "identity_BA": identity_loss(real_A, G_BA(real_A))}
    out["total"] = (lambda_cycle * (out["cycle_A"] + out["cycle_B"])
                    + lambda_identity * lambda_cycle * (out["identity_AB"] + out["identity_BA"]))
    return out


class _CycleGANLosses:
    """``CycleGAN.generator_losses`` bound to generators of our choosing, GAN terms off."""

    generator_losses = CycleGAN.generator_losses

    def __init__(self, G_AB, G_BA, lambda_cycle: float, lambda_identity: float):
        self.G_AB, self.G_BA = G_AB, G_BA
        self.config = Config(lambda_gan=0.0, lambda_cycle_A=lambda_cycle,
                             lambda_cycle_B=lambda_cycle, lambda_identity=lambda_identity)
        self.gan_loss = GANLoss("lsgan")


def _cycle(fn, G_AB, G_BA, real_A, real_B, fake_A, fake_B, lambda_cycle, lambda_identity):
    out = call_student(fn, G_AB, G_BA, real_A, real_B, fake_A, fake_B, lambda_cycle,
                       lambda_identity, forbidden=CYCLE_REFERENCE,
                       part="the cycle-consistency and identity losses")
    require_keys(out, CYCLE_KEYS, "cycle_identity_losses")
    return {k: scalar(out[k], f"cycle_identity_losses(...)[{k!r}]") for k in CYCLE_KEYS}


def check_cycle_identity_values(cycle_identity_losses: Callable, *, a: float, b: float,
                                G_AB: tuple[float, float], G_BA: tuple[float, float],
                                lambda_cycle: float, lambda_identity: float,
                                expected: dict[str, float],
                                shape: tuple[int, ...] = (2, 3, 4, 4)) -> None:
    """Affine "generators" (``G_AB = (scale, shift)``: scale * x + shift) and constant images
    real_A = a, real_B = b make every term a hand computation (``expected``, in the notebook;
    only the keys given are compared). Catches L2 instead of L1, lambda on the wrong term,
    the identity term with the wrong generator or image, a direction left out."""
    gen_AB, gen_BA = AffineGenerator(*G_AB), AffineGenerator(*G_BA)
    real_A, real_B = _constant(shape, a), _constant(shape, b)
    fake_B, fake_A = gen_AB(real_A), gen_BA(real_B)
    losses = _cycle(cycle_identity_losses, gen_AB, gen_BA, real_A, real_B, fake_A, fake_B,
                    lambda_cycle, lambda_identity)
    for key, value in expected.items():
        assert_close(losses[key], value, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                     what=f"cycle_identity_losses(...)[{key!r}] with G_AB(x) = {gen_AB.extra_repr()}, "
                          f"G_BA(x) = {gen_BA.extra_repr()}, lambda_cycle={lambda_cycle:g}, "
                          f"lambda_identity={lambda_identity:g}")


def _tiny_generators(seed: int, channels: int = 3, ngf: int = 4, n_blocks: int = 1):
    with seeded(seed):
        # std 0.2: outputs far from 0 (with training's 0.02 G(x) is nearly constant).
        return tuple(init_weights(ResnetGenerator(channels, channels, ngf=ngf, n_blocks=n_blocks),
                                  std=0.2) for _ in range(2))


def check_cycle_identity_matches_reference(cycle_identity_losses: Callable, *,
                                           lambda_cycle: float = 10.0,
                                           lambda_identity: float = 0.5, batch: int = 2,
                                           channels: int = 3, size: int = 16,
                                           seed: int = 0) -> None:
    """On two small random ResNet generators and random images, the four terms equal
    coursekit's ``cycle_loss`` / ``identity_loss``, the total equals
    ``CycleGAN.generator_losses`` with the GAN terms switched off, and the gradient of the
    total for every weight of both generators is the reference's.

    Catches every wrong value, and a detached G(x) or reconstruction (the generators then
    miss part of their gradient)."""
    G_AB, G_BA = _tiny_generators(seed, channels)
    real_A, real_B = random_images(batch, channels, size, seed + 1, 2)
    ref_AB, ref_BA = copy.deepcopy(G_AB), copy.deepcopy(G_BA)
    terms = reference_cycle_identity_losses(ref_AB, ref_BA, real_A, real_B, ref_BA(real_B),
                                            ref_AB(real_A), lambda_cycle, lambda_identity)
    expected = {k: v.detach() for k, v in terms.items()}
    reference = _CycleGANLosses(ref_AB, ref_BA, lambda_cycle, lambda_identity)
    total = reference.generator_losses(real_A, real_B)["G"]
    total.backward()
    # Two routes to the same reference total (our formula and the library's method).
    assert torch.allclose(total.detach(), expected["total"], rtol=1e-5)

    losses = _cycle(cycle_identity_losses, G_AB, G_BA, real_A, real_B, G_BA(real_B),
                    G_AB(real_A), lambda_cycle, lambda_identity)
    for key in CYCLE_KEYS:
        assert_close(losses[key], expected[key], atol=LOSS_ATOL * max(1.0, lambda_cycle),
                     rtol=LOSS_RTOL, what=f"cycle_identity_losses(...)[{key!r}] "
                                          f"(lambda_cycle={lambda_cycle:g}, lambda_identity="
                                          f"{lambda_identity:g}) vs. coursekit's CycleGAN")
    if not losses["total"].requires_grad:
        raise AssertionError("the total has no gradient with respect to the generators")
    losses["total"].backward()
    assert_gradients_match([(f"{G_name}.{n}", p.grad, q.grad)
                            for G_name, G, ref in (("G_AB", G_AB, ref_AB), ("G_BA", G_BA, ref_BA))
                            for (n, p), q in zip(G.named_parameters(), ref.parameters())],
                           what="gradient of the total for {name}",
                           missing="{name} got no gradient from the total: is a generated image "
                                   "or a reconstruction detached?")


def check_cycle_identity_runs(cycle_identity_losses: Callable) -> None:
    """cycle_identity_losses returns the dict of its five numbers."""
    G_AB, G_BA = AffineGenerator(1.0, 0.0), AffineGenerator(1.0, 0.0)
    x = torch.zeros(1, 3, 4, 4)
    _cycle(cycle_identity_losses, G_AB, G_BA, x, x.clone(), x.clone(), x.clone(), 10.0, 0.5)


# ------------------------------------------------------------------------------------------
# Part 4: the image pool
def _make_pool(HistoryPool: Callable, size: int):
    pool = call_student(HistoryPool, size, forbidden=POOL_REFERENCE, part="the image pool")
    if not callable(getattr(pool, "query", None)):
        raise AssertionError("HistoryPool(size) should have a method query(images)")
    return pool


def _query(pool, images: Tensor) -> Tensor:
    # The class's function, not the bound method (a new object at every access): a query that
    # ran out of time once is then remembered and not run again by later checks.
    query = vars(type(pool)).get("query")
    if callable(query):
        out = call_student(query, pool, images, forbidden=POOL_REFERENCE, part="the image pool")
    else:
        out = call_student(pool.query, images, forbidden=POOL_REFERENCE, part="the image pool")
    if not isinstance(out, Tensor) or tuple(out.shape) != tuple(images.shape):
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise AssertionError(f"pool.query(images) should return a batch of the same shape "
                             f"{tuple(images.shape)}; got {got}")
    return out


def _labelled(ids, shape=(1, 2, 2)) -> Tensor:
    """A batch of constant images, image k filled with the number ids[k]."""
    return torch.stack([torch.full(shape, float(i)) for i in ids])


def _labels(out: Tensor) -> list[int]:
    """The number each returned image is filled with (it must be one of ours, unchanged)."""
    labels = []
    for image in out.detach():
        value = image.flatten()[0]
        if not torch.equal(image, torch.full_like(image, float(value))) or value != value.round():
            raise AssertionError("the pool returned an image that is none of the images it "
                                 "was given (images must be passed on or stored unchanged)")
        labels.append(int(value))
    return labels


class _PoolModel:
    """What a correct pool may hold: the ids stored, with the query number at which each was
    stored (to tell the oldest from the newest)."""

    def __init__(self, size: int):
        self.size, self.stored, self.clock = size, {}, 0

    def follow(self, inputs: list[int], outputs: list[int]) -> list[int | None]:
        """Check one query's outputs against the rules and update the model. Returns, for each
        image, None if the new image was passed on, else the age rank (0 = oldest) of the
        stored image returned."""
        ranks = []
        for new, got in zip(inputs, outputs):
            self.clock += 1
            if len(self.stored) < self.size:
                if got != new:
                    raise AssertionError(
                        f"while the pool holds fewer than size={self.size} images it must store "
                        f"each new image and return it unchanged; it returned an older image")
                self.stored[new] = self.clock
                ranks.append(None)
            elif got == new:
                ranks.append(None)
            elif got in self.stored:
                order = sorted(self.stored, key=self.stored.get)
                ranks.append(order.index(got))
                del self.stored[got]
                self.stored[new] = self.clock
            else:
                raise AssertionError(
                    "the full pool returned an image that it should not hold any more: when it "
                    "returns a stored image, the new image must take its place (and the "
                    "returned one leave the pool)")
        return ranks


def _run_pool(HistoryPool, size: int, batches: list[int], seed: int):
    """Fresh pool, ``batches`` queries of the given sizes with new labelled images each time,
    under the seeded global generator. Returns (outputs per query, age ranks of swaps, number
    of images queried after the pool was full)."""
    model, outputs, ranks, after_full = _PoolModel(size), [], [], 0
    next_id = 1
    with seeded(seed):
        pool = _make_pool(HistoryPool, size)
        for n in batches:
            ids = list(range(next_id, next_id + n))
            next_id += n
            full_before = len(model.stored)
            got = _labels(_query(pool, _labelled(ids)))
            outputs.append(got)
            these = model.follow(ids, got)
            after_full += sum(1 for k in range(n) if full_before + k >= size)
            ranks += [r for r in these if r is not None]
    return outputs, ranks, after_full


def check_pool_fills_first(HistoryPool: Callable, *, size: int = 4,
                           batches: tuple[int, ...] = (1, 2, 1), seed: int = 0) -> None:
    """Until it holds ``size`` images, the pool returns every batch unchanged (and stores it:
    the next check sees the stored images come back). Catches a pool that swaps before it is
    full."""
    if sum(batches) > size:
        raise ValueError("the batches must not fill more than the pool")
    outputs, _, _ = _run_pool(HistoryPool, size, list(batches), seed)
    start = 1
    for n, got in zip(batches, outputs):
        if got != list(range(start, start + n)):
            raise AssertionError("while the pool is not full yet, query(images) must return the "
                                 "images themselves, in their order")
        start += n


def check_pool_swaps(HistoryPool: Callable, *, size: int = 5, queries: int = 600,
                     batch: int = 1, seed: int = 0,
                     rate: tuple[float, float] = (0.40, 0.60)) -> float:
    """Fill the pool, then query ``queries`` more batches of new images (torch's global
    generator seeded, so the result is the same on every run). Every returned image must be
    the new one or a stored one (which the new one then replaces), and the fraction of stored
    images returned must lie in ``rate`` (p = 1/2; with n draws its standard deviation is
    0.5 / sqrt(n), 0.02 for 600: the default band is 5 of them either side, which a correct
    pool that draws in another order misses with probability 6e-7).

    Catches a pool that never stores, never swaps once full, always swaps, or returns a
    stored image without replacing it. Returns the measured rate."""
    fill = [batch] * math.ceil(size / batch)
    _, ranks, after_full = _run_pool(HistoryPool, size, fill + [batch] * queries, seed)
    measured = len(ranks) / max(after_full, 1)
    if not rate[0] <= measured <= rate[1]:
        raise AssertionError(f"once full, the pool should return a stored image with probability "
                             f"1/2; it did so for {len(ranks)} of {after_full} images "
                             f"({measured:.2f})")
    return measured


def check_pool_choice_is_uniform(HistoryPool: Callable, *, size: int = 5, queries: int = 1200,
                                 seed: int = 0, critical: float = 30.0) -> None:
    """When the full pool swaps, every stored image is equally likely to come out: the age
    rank of the returned image (oldest .. newest stored) is uniform. Chi-square test over the
    ``size`` ranks with ``size - 1`` degrees of freedom; ``critical`` = 30 is exceeded by
    chance with probability 5e-6 for 4 degrees of freedom (a queue scores in the hundreds),
    and the seeded run gives the same statistic every time.

    Catches a pool that always returns the oldest (a queue) or the newest stored image."""
    fill = [1] * size
    _, ranks, _ = _run_pool(HistoryPool, size, fill + [1] * queries, seed)
    if len(ranks) < 20 * size:
        raise AssertionError(f"only {len(ranks)} swaps in {queries} queries of the full pool; "
                             f"it should swap about half the time")
    counts = Counter(ranks)
    expected = len(ranks) / size
    chi2 = sum((counts.get(r, 0) - expected) ** 2 / expected for r in range(size))
    if chi2 > critical:
        shares = ", ".join(f"{counts.get(r, 0) / len(ranks):.2f}" for r in range(size))
        raise AssertionError(f"when the pool swaps, the stored image it returns should be chosen "
                             f"uniformly at random; by age (oldest first) it chose them with "
                             f"frequencies {shares} (chi-square {chi2:.1f} > {critical:g})")


def check_pool_uses_torch_generator(HistoryPool: Callable, *, size: int = 3, queries: int = 40,
                                    seed: int = 0) -> None:
    """The pool's random choices come from torch's global generator: the same
    ``torch.manual_seed`` gives the same outputs, another seed other outputs (the chance that
    40 queries of a correct pool agree for two seeds is below 1e-6). That is what lets a
    seeded training run, and a resumed one, repeat itself.

    Catches Python's ``random`` or NumPy's generator (not seeded by torch.manual_seed)."""
    batches = [1] * (size + queries)
    first, _, _ = _run_pool(HistoryPool, size, batches, seed)
    again, _, _ = _run_pool(HistoryPool, size, batches, seed)
    other, _, _ = _run_pool(HistoryPool, size, batches, seed + 1)
    if first != again:
        raise AssertionError("after the same torch.manual_seed the pool made different choices: "
                             "draw its random numbers from torch (torch.rand, torch.randint), "
                             "not from Python's random module or NumPy")
    if first == other:
        raise AssertionError("with two different torch seeds the pool made exactly the same "
                             "choices: its random numbers should come from torch's generator")


def check_pool_detaches(HistoryPool: Callable, *, size: int = 3, queries: int = 12,
                        seed: int = 0) -> None:
    """Images that carry a graph (G(x) before ``.detach()``) come back detached, whether they
    are passed on or taken from the history, and the pool keeps none of their graphs: each
    query's images are computed from a fresh leaf tensor, and once the check lets go of the
    leaf and the output, nothing may keep the leaf alive (a stored image with its graph
    would, through its ``grad_fn``; a detached one, or a copy of one, cannot). Storing the
    graphs would keep every stored step's generator graph in memory, and D's loss would
    backpropagate into old generators.

    Catches a pool that returns the images without ``.detach()``, and one that stores them with
    their graph and detaches only what it returns."""
    leaves = []
    with seeded(seed):
        pool = _make_pool(HistoryPool, size)
        for k in range(size + queries):
            weight = torch.ones((), requires_grad=True)
            leaves.append(weakref.ref(weight))
            out = _query(pool, weight * _labelled([k + 1, k + 100]))
            if out.requires_grad:
                raise AssertionError("pool.query returned images that are still attached to the "
                                     "generator's graph: store and return image.detach() (the "
                                     "discriminator's update must not reach the generator)")
            del weight, out
    gc.collect()
    kept = sum(leaf() is not None for leaf in leaves)
    if kept:
        raise AssertionError(f"the pool keeps the graphs of {kept} of the {len(leaves)} batches "
                             f"it was given: store image.detach(), not the image with its graph "
                             f"(each stored graph holds a whole generator step in memory)")


def _full_pool_queries(HistoryPool, size: int, batch: int, queries: int, seed: int):
    """Fill a pool, then query ``queries`` batches of ``batch`` new images (seeded). Returns
    (ids, returned ids) of each query made to the full pool, checked against the rules."""
    fill = [batch] * math.ceil(size / batch)
    outputs, _, _ = _run_pool(HistoryPool, size, fill + [batch] * queries, seed)
    first = sum(fill) + 1
    return [(list(range(first + q * batch, first + (q + 1) * batch)), got)
            for q, got in enumerate(outputs[len(fill):])]


def check_pool_coin_per_image(HistoryPool: Callable, *, size: int = 4, batch: int = 8,
                              queries: int = 100, seed: int = 0, max_share: float = 0.25) -> None:
    """Each image of a batch gets its own coin: queried with batches of 8 once full, a correct
    pool returns only new or only stored images in a batch with probability 2 / 2^8 (about
    1 of 100 batches; more than 25 has probability < 1e-30), whatever the order of its draws.
    One coin per batch does that in every batch.

    Catches one coin flipped per batch instead of per image (its swap rate is still 1/2)."""
    all_or_none = sum(1 for ids, got in _full_pool_queries(HistoryPool, size, batch, queries, seed)
                      if sum(g != i for i, g in zip(ids, got)) in (0, batch))
    if all_or_none > max_share * queries:
        raise AssertionError(f"in {all_or_none} of {queries} batches of {batch} images the full "
                             f"pool returned only new images or only stored ones: flip a coin "
                             f"for each image of the batch, not one for the whole batch")


def check_pool_slot_per_image(HistoryPool: Callable, *, size: int = 4, batch: int = 8,
                              queries: int = 100, seed: int = 0, max_share: float = 0.6) -> None:
    """Each image that swaps draws its own stored image: when two images of one batch swap, the
    second returns the image the first just stored with probability 1 / size (0.25 here) for
    a correct pool; over the ~300 such pairs of the defaults a share above 0.6 is 14 standard
    deviations away. One slot drawn per batch gives a share of 1.

    Catches one random slot drawn per batch and used for all its swaps."""
    same = pairs = 0
    for ids, got in _full_pool_queries(HistoryPool, size, batch, queries, seed):
        stored_last = None
        for new, out in zip(ids, got):
            if out != new:
                if stored_last is not None:
                    pairs += 1
                    same += out == stored_last
                stored_last = new
    if pairs and same / pairs > max_share:
        raise AssertionError(f"in {same} of {pairs} pairs of swaps within one batch, the second "
                             f"returned the image the first had just stored: draw the stored "
                             f"image to return for each image that swaps, not once per batch")


def check_pool_runs(HistoryPool: Callable) -> None:
    """HistoryPool(2).query returns a batch of the same shape."""
    pool = _make_pool(HistoryPool, 2)
    _query(pool, torch.zeros(1, 3, 4, 4))


# ------------------------------------------------------------------------------------------
# Part 5: the generators' update
def _tiny_cyclegan(seed: int, lambda_cycle: float, lambda_identity: float, lr: float,
                   size: int = 16, ngf: int = 4, n_blocks: int = 1, ndf: int = 4,
                   d_layers: int = 1, pool_size: int = 50) -> CycleGAN:
    with seeded(seed):
        return CycleGAN(Config(image_size=size, ngf=ngf, n_blocks=n_blocks, ndf=ndf,
                               d_layers=d_layers, lambda_cycle_A=lambda_cycle,
                               lambda_cycle_B=lambda_cycle, lambda_identity=lambda_identity,
                               lr=lr, pool_size=pool_size))


def _generator_step(generator_step, G_AB, G_BA, D_A, D_B, opt_G, real_A, real_B, lambda_cycle,
                    lambda_identity, seconds=None, gan_loss_fn=reference_lsgan_generator_loss,
                    cycle_identity_fn=reference_cycle_identity_losses) -> dict:
    with explain_missing_gradient("A loss without gradient: are G_AB(real_A) and G_BA(real_B) "
                                  "detached or computed under no_grad?"):
        out = call_student(generator_step, G_AB, G_BA, D_A, D_B, opt_G, real_A, real_B,
                           gan_loss_fn, cycle_identity_fn, lambda_cycle, lambda_identity,
                           forbidden=STEP_REFERENCE, part="the generators' update",
                           seconds=seconds)
    return require_keys(out, STEP_KEYS, "generator_step")


def _reference_generator_step(model: CycleGAN, real_A: Tensor, real_B: Tensor) -> dict:
    """The first half of ``CycleGAN.training_step``: both generators, discriminators frozen."""
    model.set_requires_grad(False, model.D_A, model.D_B)
    g = model.generator_losses(real_A, real_B)
    model.backward_and_step(g["G"], "G")
    return {"G": g["G"].detach(), "fake_A": g["fake_A"].detach(), "fake_B": g["fake_B"].detach()}


def check_generator_step_matches_reference(generator_step: Callable, *, steps: int = 3,
                                           batch: int = 2, size: int = 16,
                                           lambda_cycle: float = 10.0,
                                           lambda_identity: float = 0.5, lr: float = 2e-4,
                                           seed: int = 0) -> None:
    """``steps`` calls of the student's generator_step update G_AB and G_BA as the generator
    half of ``CycleGAN.training_step`` does: from the same state and batches, opt_G is stepped
    once with the same gradients (``checks.assert_same_update``), and the returned total loss
    and generated images are the same. Several steps, because a forgotten zero_grad only shows
    from the second on.

    Catches a forgotten or misplaced zero_grad, a missing optimizer step, GAN terms judged by
    the wrong discriminator, a GAN term or a loss weight left out, and lambdas not passed on."""
    model = _tiny_cyclegan(seed, lambda_cycle, lambda_identity, lr, size=size)
    G_AB, G_BA = copy.deepcopy(model.G_AB), copy.deepcopy(model.G_BA)
    D_A, D_B = copy.deepcopy(model.D_A), copy.deepcopy(model.D_B)
    opt_G = gan_adam(list(G_AB.parameters()) + list(G_BA.parameters()), lr)
    names = ([f"G_AB.{n}" for n, _ in G_AB.named_parameters()]
             + [f"G_BA.{n}" for n, _ in G_BA.named_parameters()])
    gen = torch.Generator().manual_seed(seed + 1)
    for k in range(1, steps + 1):
        real_A, real_B = (torch.tanh(torch.randn(batch, 3, size, size, generator=gen))
                          for _ in range(2))
        # Each step starts the reference from the student's state (see checks.assert_same_update).
        sync([(model.G_AB, G_AB), (model.G_BA, G_BA), (model.optimizers["G"], opt_G)])
        out, expected = assert_same_update(
            lambda: _generator_step(generator_step, G_AB, G_BA, D_A, D_B, opt_G, real_A.clone(),
                                    real_B.clone(), lambda_cycle, lambda_identity),
            lambda: _reference_generator_step(model, real_A, real_B),
            {"opt_G": (opt_G, model.optimizers["G"], names)}, step=k)
        assert_close(scalar(out["G"], "generator_step(...)['G']", number_ok=True),
                     expected["G"], atol=LOSS_ATOL * max(1.0, lambda_cycle), rtol=LOSS_RTOL,
                     what=f"step {k}: the generators' total loss 'G' (lambda_cycle="
                          f"{lambda_cycle:g}, lambda_identity={lambda_identity:g})")
        for key in ("fake_A", "fake_B"):
            if not isinstance(out[key], Tensor):
                raise AssertionError(f"generator_step(...)[{key!r}] should be the generated "
                                     f"images, a tensor")
            assert_close(out[key], expected[key], atol=1e-5, rtol=1e-4,
                         what=f"step {k}: generator_step(...)[{key!r}] (the images generated "
                              f"before the update)")


def check_generator_step_freezes_discriminators(generator_step: Callable, *, batch: int = 2,
                                                size: int = 16, seed: int = 0) -> None:
    """During the generators' update the discriminators receive no gradients (they are
    frozen: their turn comes next, with their own loss), and both generators do.

    Catches discriminators left trainable during G's update (G's loss then writes gradients
    into them), and a generator that gets no gradient."""
    model = _tiny_cyclegan(seed, 10.0, 0.5, 2e-4, size=size)
    G_AB, G_BA, D_A, D_B = model.G_AB, model.G_BA, model.D_A, model.D_B
    opt_G = gan_adam(list(G_AB.parameters()) + list(G_BA.parameters()), 2e-4)
    for p in list(D_A.parameters()) + list(D_B.parameters()):
        p.requires_grad_(True)
        p.grad = None
    gen = torch.Generator().manual_seed(seed + 1)
    real_A, real_B = (torch.tanh(torch.randn(batch, 3, size, size, generator=gen)) for _ in range(2))
    _generator_step(generator_step, G_AB, G_BA, D_A, D_B, opt_G, real_A, real_B, 10.0, 0.5)
    for name, D in (("D_A", D_A), ("D_B", D_B)):
        if any(p.grad is not None and p.grad.abs().max() > 0 for p in D.parameters()):
            raise AssertionError(f"{name}'s weights received gradients from the generators' loss: "
                                 f"freeze both discriminators (requires_grad_(False)) before "
                                 f"the generators' backward pass")
    for name, G in (("G_AB", G_AB), ("G_BA", G_BA)):
        if all(p.grad is None or p.grad.abs().max() == 0 for p in G.parameters()):
            raise AssertionError(f"{name} received no gradient from the generators' loss")


def _zebras(split: str, size: int, length: int):
    from coursekit.data.synthetic.zebras import SyntheticZebras

    data = SyntheticZebras(split, size=size, length=length)
    items = [data[i] for i in range(length)]
    return torch.stack([i["A"] for i in items]), torch.stack([i["B"] for i in items])


#: The pass mark of the training run (10 steps at 32 px, seed 0 graded), from the solution's
#: runs; without an update of the generators the ratio stays at 1.
TRAINING_RUN = (
    Threshold("cycle_ratio", "the cycle loss on training images, as a fraction of its start",
              0.8, higher_is_better=False, correct=(0.49, 0.62),
              measured="seeds 0..9, 10 steps", untrained=(1.0, 1.0)),
)


def check_training_run(generator_step: Callable, *, steps: int = 10, size: int = 32,
                       batch: int = 4, ngf: int = 8, n_blocks: int = 2, lr: float = 1e-3,
                       seed: int = 0, max_cycle_ratio: float = TRAINING_RUN[0].limit,
                       seconds: float = 90.0) -> dict[str, float]:
    """Train a tiny CycleGAN on synthetic zebras (32 px) for ``steps`` steps: the student's
    generator_step for both generators, coursekit's discriminator step (with the 50-image
    pools) for both discriminators. The cycle loss cycle_A + cycle_B on a fixed batch of
    training images must fall to ``max_cycle_ratio`` of its starting value or below
    (:data:`TRAINING_RUN`: the measurements behind it). Returns {"cycle_ratio": ...}."""
    A, B = _zebras("train", size, 32)
    model = _tiny_cyclegan(seed, 10.0, 0.5, lr, size=size, ngf=ngf, n_blocks=n_blocks, ndf=8,
                           d_layers=1)
    opt_G = model.optimizers["G"]
    gen = torch.Generator().manual_seed(seed + 1)

    def cycle() -> float:
        with torch.no_grad():
            return float(cycle_loss(A[:16], model.G_BA(model.G_AB(A[:16])))
                         + cycle_loss(B[:16], model.G_AB(model.G_BA(B[:16]))))

    def step(_: int) -> None:
        idx = torch.randint(0, len(A), (batch,), generator=gen)
        real_A, real_B = A[idx], B[idx]
        out = _generator_step(generator_step, model.G_AB, model.G_BA, model.D_A, model.D_B,
                              opt_G, real_A, real_B, 10.0, 0.5, seconds=0)  # one limit for all
        model.set_requires_grad(True, model.D_A, model.D_B)
        d = model.discriminator_losses(real_A, real_B, torch.as_tensor(out["fake_A"]),
                                       torch.as_tensor(out["fake_B"]))
        model.backward_and_step(d["D"], "D")

    with seeded(seed + 2):  # the pools draw from the global generator
        before = cycle()
        return training_run(step, steps, lambda _: {"cycle_ratio": cycle() / before},
                            (dataclasses.replace(TRAINING_RUN[0], limit=max_cycle_ratio),),
                            seconds=seconds)


def check_generator_step_uses_its_arguments(generator_step: Callable, *, batch: int = 2,
                                             size: int = 8, seed: int = 0) -> None:
    """One step on a tiny CycleGAN: the losses come from the functions passed in (as the
    notebook asks, so that a mistake in parts 2 and 3 does not cost these points too), and
    what the step returns is detached ("G" may also be a number).

    Catches the notebook's own ``lsgan_generator_loss`` or ``cycle_identity_losses`` called
    instead of ``gan_loss_fn`` / ``cycle_identity_fn``, and the loss or the generated images
    returned with their graph."""
    model = _tiny_cyclegan(seed, 10.0, 0.5, 2e-4, size=size, ngf=2, n_blocks=1, ndf=2)
    opt_G = gan_adam(list(model.G_AB.parameters()) + list(model.G_BA.parameters()), 2e-4)
    real_A, real_B = random_images(batch, 3, size, seed + 1, 2)
    gan, cycle = Counted(reference_lsgan_generator_loss), Counted(reference_cycle_identity_losses)
    out = _generator_step(generator_step, model.G_AB, model.G_BA, model.D_A, model.D_B, opt_G,
                          real_A, real_B, 10.0, 0.5, gan_loss_fn=gan, cycle_identity_fn=cycle)
    if gan.calls == 0 or cycle.calls == 0:
        raise AssertionError(f"generator_step must compute its loss with the functions it is "
                             f"given: gan_loss_fn was called {gan.calls} time(s), "
                             f"cycle_identity_fn {cycle.calls} time(s)")
    assert_detached(out, STEP_KEYS, "generator_step")


def check_generator_step_runs(generator_step: Callable) -> None:
    """generator_step runs once on a tiny CycleGAN and returns its dict."""
    model = _tiny_cyclegan(0, 10.0, 0.5, 2e-4, size=8, ngf=2, n_blocks=1, ndf=2)
    opt_G = gan_adam(list(model.G_AB.parameters()) + list(model.G_BA.parameters()), 2e-4)
    x = torch.zeros(1, 3, 8, 8)
    _generator_step(generator_step, model.G_AB, model.G_BA, model.D_A, model.D_B, opt_G, x,
                    x.clone(), 10.0, 0.5)


one_thread_checks(globals())  # see checks.one_thread

__all__ = [name for name in dir() if name.startswith(("check_", "reference_"))] + [
    "AffineGenerator", "BLOCK_REFERENCE", "CYCLE_REFERENCE", "LSGAN_REFERENCE",
    "POOL_REFERENCE", "STEP_REFERENCE", "StubDiscriminator", "StudentTimeout", "TRAINING_RUN",
    "build_block", "forbid", "hidden_tests", "quiet",
]
