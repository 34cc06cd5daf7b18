"""Checks for problem set 1 (pix2pix): the test cells of ``ps1_pix2pix.ipynb`` call these.

Each check runs the student's function on fixed, tiny inputs (CPU, one torch thread, float32,
fixed seeds) and compares it with a hand-computed value or with coursekit's reference
implementation -- ``UNetGenerator.forward``, ``PatchGANDiscriminator``,
``Pix2Pix.discriminator_loss`` / ``generator_loss`` / ``training_step`` -- given the same
weights. While the student's code runs, the reference of the part being graded is refused
(``checks.forbid``), so calling it earns nothing.

The functions the students write (signatures fixed by the notebook):

* ``unet_forward(down, up, x)``: the U-Net's forward pass with its skip connections;
* ``patchgan_layers(in_channels, ndf=64, n_layers=3, norm="batch")``: the PatchGAN's layers;
* ``discriminator_loss(D, x, y, fake)`` and ``generator_loss(D, x, y, fake, lambda_l1=100.0)``;
* ``training_step(G, D, opt_G, opt_D, x, y, d_loss_fn, g_loss_fn, lambda_l1=100.0)``.

Tolerances: a correct solution computes the same float32 operations as the reference, maybe
in another order (another summation order, logsigmoid instead of BCE-with-logits), which
changes results by a few float32 ulps (relative 1e-7..1e-6). The tolerances below are 10-100x
that, and 1000x smaller than the effect of any mistake the checks are meant to catch (each
check says what it catches).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
from typing import Callable

import torch
import torch.nn.functional as F
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
    measure_receptive_field,
    one_thread_checks,
    parameter_modules,
    quiet,
    random_images,
    random_patchgan,
    require_keys,
    scalar,
    seeded,
    sync,
    time_limit,
    training_run,
)
from coursekit.models.pix2pix import Config, Pix2Pix
from coursekit.nn import GANLoss, PatchGANDiscriminator, UNetGenerator, init_weights
from coursekit.train import Method

# ------------------------------------------------------------------------------------------
# What each part may not call: coursekit's own implementation of that part.
UNET_REFERENCE = ((UNetGenerator, "forward"),)
PATCHGAN_REFERENCE = ((PatchGANDiscriminator, "__init__"),)
LOSS_REFERENCE = ((GANLoss, "real"), (GANLoss, "fake"), (GANLoss, "discriminator"),
                  (GANLoss, "generator"), (Pix2Pix, "discriminate"),
                  (Pix2Pix, "discriminator_loss"), (Pix2Pix, "generator_loss"))
STEP_REFERENCE = ((Pix2Pix, "training_step"), (Method, "backward_and_step"),
                  (Method, "set_requires_grad"))

LOSS_KEYS = ("G_gan", "G_l1", "G")
STEP_KEYS = ("D", "G_gan", "G_l1", "G")


def _randomise_norms(module: nn.Module, gen: torch.Generator) -> None:
    """Give every batch norm random scales, shifts and running statistics, so that a
    comparison also exercises them (freshly initialised they are nearly the identity)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(1 + 0.5 * torch.rand(m.running_var.shape, generator=gen))


# ------------------------------------------------------------------------------------------
# Part 1: the U-Net's skip connections
class _ProbeDown(nn.Module):
    """Encoder layer k of a probe U-Net: halves the image (2x2 mean) and adds k + 1, so that
    every level's features are different and easy to compute by hand."""

    def __init__(self, k: int):
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, h: Tensor) -> Tensor:
        self.calls += 1
        return F.avg_pool2d(h, 2) + (self.k + 1)


class _ProbeUp(nn.Module):
    """Decoder layer k of a probe U-Net: records its input, adds the two halves of the
    channels when it gets a concatenation, doubles the size (nearest) and scales."""

    def __init__(self, k: int, channels: int):
        super().__init__()
        self.k, self.channels, self.inputs = k, channels, []

    @staticmethod
    def compute(k: int, channels: int, h: Tensor) -> Tensor:
        if h.shape[1] == 2 * channels:
            h = h[:, :channels] + h[:, channels:]
        return F.interpolate(h, scale_factor=2, mode="nearest") * 0.5 - 0.1 * (k + 1)

    def forward(self, h: Tensor) -> Tensor:
        self.inputs.append(h.detach().clone())
        if h.ndim != 4 or h.shape[1] not in (self.channels, 2 * self.channels):
            raise AssertionError(
                f"up[{self.k}] received a tensor of shape {tuple(h.shape)}: a decoder layer "
                f"takes either the innermost encoder features ({self.channels} channels here) "
                f"or an encoder output concatenated with the previous decoder output along "
                f"the channels, torch.cat([e, u], dim=1) ({2 * self.channels} channels here)")
        return self.compute(self.k, self.channels, h)


def check_unet_wiring(unet_forward: Callable, *, num_downs: int = 3, channels: int = 2,
                      batch: int = 2, seed: int = 0) -> str:
    """Hand-checkable wiring test with probe layers (no coursekit code involved): each
    encoder layer runs once, in order; up[n-1] gets the innermost features e_{n-1}; every
    other up[k] gets torch.cat([e_k, u_{k+1}], dim=1); the result is u_0.

    Catches: a missing or misplaced skip, the wrong mirror level, concatenation along the
    wrong dimension, decoder layers in the wrong order. Returns the concatenation order
    used ("encoder first", the documented one, or "decoder first", also accepted)."""
    n = num_downs
    size = 2 ** n * 2
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, generator=gen)
    down = nn.ModuleList([_ProbeDown(k) for k in range(n)])
    up = nn.ModuleList([_ProbeUp(k, channels) for k in range(n)])
    out = call_student(unet_forward, down, up, x, forbidden=UNET_REFERENCE,
                       part="the U-Net's forward pass")
    for k, layer in enumerate(down):
        if layer.calls != 1:
            raise AssertionError(f"down[{k}] was called {layer.calls} times; each encoder "
                                 "layer runs once, e_k = down[k](e_(k-1)) with e_(-1) = x")
    for k, layer in enumerate(up):
        if len(layer.inputs) != 1:
            raise AssertionError(f"up[{k}] was called {len(layer.inputs)} times; each decoder "
                                 "layer runs once")
    # The expected values, by hand: e_k = avgpool(e_(k-1)) + k + 1; u_k from the probe's rule.
    e, h = [], x
    for k in range(n):
        h = F.avg_pool2d(h, 2) + (k + 1)
        e.append(h)
    # Exact equality is right here: the probes only copy, add and average the same numbers.
    if not torch.equal(up[n - 1].inputs[0], e[n - 1]):
        raise AssertionError(f"up[{n - 1}] (the innermost decoder layer) must receive the "
                             f"innermost encoder features e_{n - 1} = down[{n - 1}](...) "
                             f"unchanged (there is no skip connection at the bottleneck)")
    u = _ProbeUp.compute(n - 1, channels, e[n - 1])
    order = None
    for k in range(n - 2, -1, -1):
        got = up[k].inputs[0]
        encoder_first = torch.cat([e[k], u], dim=1)
        decoder_first = torch.cat([u, e[k]], dim=1)
        if tuple(got.shape) != tuple(encoder_first.shape):
            raise AssertionError(
                f"up[{k}] received shape {tuple(got.shape)}; expected "
                f"{tuple(encoder_first.shape)}: the encoder features e_{k} (shape "
                f"{tuple(e[k].shape)}) concatenated along the channels (dim=1) with "
                f"u_{k + 1} = up[{k + 1}](...) (shape {tuple(u.shape)})")
        this = ("encoder first" if torch.equal(got, encoder_first)
                else "decoder first" if torch.equal(got, decoder_first) else None)
        if this is None:
            raise AssertionError(
                f"up[{k}] received a tensor of the right shape but the wrong values: it must "
                f"be torch.cat([e_{k}, u_{k + 1}], dim=1), the output of down[{k}] (the "
                f"mirrored encoder layer) and the output of up[{k + 1}]")
        if order is not None and this != order:
            raise AssertionError("the skip connections concatenate in different orders at "
                                 "different levels; use torch.cat([e_k, u_(k+1)], dim=1) "
                                 "everywhere")
        order = this
        u = _ProbeUp.compute(k, channels, got)
    if not isinstance(out, Tensor) or not torch.equal(out, u):
        raise AssertionError("unet_forward must return the output of up[0], the outermost "
                             "decoder layer")
    return order or "encoder first"


def _reference_unet(num_downs: int, in_channels: int, out_channels: int, ngf: int,
                    seed: int) -> UNetGenerator:
    with seeded(seed):
        G = init_weights(UNetGenerator(in_channels, out_channels, num_downs=num_downs, ngf=ngf,
                                       norm="batch", dropout=0.0))
        _randomise_norms(G, torch.Generator().manual_seed(seed + 1))
    return G


def _decoder_convs(G: UNetGenerator) -> list[tuple[int, nn.ConvTranspose2d]]:
    """The decoder convolutions that take a concatenation (every level but the innermost)."""
    return [(i, next(m for m in G.up[i] if isinstance(m, nn.ConvTranspose2d)))
            for i in range(G.num_downs - 1)]


def _swap_skip_halves(G: UNetGenerator) -> UNetGenerator:
    """A copy of G whose decoder weights expect torch.cat([u, e]) instead of torch.cat([e, u]):
    G_swapped(decoder-first wiring) computes exactly G(encoder-first wiring)."""
    G2 = copy.deepcopy(G)
    with torch.no_grad():
        for _, conv in _decoder_convs(G2):
            c = conv.weight.shape[0] // 2
            conv.weight.copy_(torch.cat([conv.weight[c:], conv.weight[:c]]))
    return G2


def _unswap_grads(G: UNetGenerator) -> dict[str, Tensor]:
    grads = {name: p.grad.clone() if p.grad is not None else None
             for name, p in G.named_parameters()}
    names = {id(p): name for name, p in G.named_parameters()}
    for _, conv in _decoder_convs(G):
        g = grads[names[id(conv.weight)]]
        if g is not None:
            c = g.shape[0] // 2
            grads[names[id(conv.weight)]] = torch.cat([g[c:], g[:c]])
    return grads


# float32 reruns of the same network: a few ulps of the outputs (|out| <= 1 after tanh), more
# for values summed in another order; a mistake changes outputs by 1e-2..1.
UNET_ATOL, UNET_RTOL = 1e-5, 1e-4


def _student_unet_output(unet_forward: Callable, G: UNetGenerator, x: Tensor,
                         expected: Tensor) -> tuple[UNetGenerator, str]:
    """Run the student's forward with G's layers; if it does not match, try the decoder-first
    concatenation with correspondingly swapped weights. Returns (layers used, order)."""
    first = None
    for order, layers in (("encoder first", G), ("decoder first", _swap_skip_halves(G))):
        trial = copy.deepcopy(layers)
        out = call_student(unet_forward, trial.down, trial.up, x.clone(),
                           forbidden=UNET_REFERENCE, part="the U-Net's forward pass")
        if not isinstance(out, Tensor):
            raise AssertionError(f"unet_forward must return a tensor, got {type(out).__name__}")
        if tuple(out.shape) != tuple(expected.shape):
            raise AssertionError(f"unet_forward returned shape {tuple(out.shape)}; the U-Net's "
                                 f"output has shape {tuple(expected.shape)}")
        if torch.allclose(out, expected, atol=UNET_ATOL, rtol=UNET_RTOL):
            return layers, order
        first = out if first is None else first
    assert_close(first, expected, atol=UNET_ATOL, rtol=UNET_RTOL,
                 what=f"unet_forward with the layers of coursekit's U-Net "
                      f"(num_downs={G.num_downs}) vs. the U-Net's output")
    raise AssertionError("unreachable")  # pragma: no cover


def check_unet_matches_reference(unet_forward: Callable, *, num_downs: int = 5,
                                 in_channels: int = 3, out_channels: int = 3, ngf: int = 4,
                                 height: int = 32, width: int = 32, batch: int = 2,
                                 seed: int = 0) -> str:
    """unet_forward(G.down, G.up, x) == G(x) for coursekit's UNetGenerator G (random weights
    and batch norms), in training mode (batch statistics) and in eval mode (running ones).

    Catches everything the wiring test does, on the real layers. Either concatenation order
    is accepted (the decoder-first one is compared against G with its decoder weights'
    input channels swapped accordingly). Returns the order used."""
    G = _reference_unet(num_downs, in_channels, out_channels, ngf, seed)
    gen = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(batch, in_channels, height, width, generator=gen)
    order = None
    for mode in ("train", "eval"):
        G.train(mode == "train")
        with torch.no_grad():
            expected = copy.deepcopy(G)(x.clone())
        with torch.no_grad():
            _, this = _student_unet_output(unet_forward, G, x, expected)
        order = order or this
    return order or "encoder first"


def check_unet_gradients(unet_forward: Callable, *, num_downs: int = 4, in_channels: int = 3,
                         out_channels: int = 3, ngf: int = 4, size: int = 16, batch: int = 2,
                         seed: int = 0) -> None:
    """Backpropagating through unet_forward gives every weight of the U-Net (and the input)
    the same gradient as coursekit's U-Net does.

    Catches skip features that are detached or computed under no_grad (the early encoder
    layers then learn only through the bottleneck), and anything that changes the output."""
    G = _reference_unet(num_downs, in_channels, out_channels, ngf, seed)
    G.train()
    gen = torch.Generator().manual_seed(seed + 3)
    x = torch.randn(batch, in_channels, size, size, generator=gen)
    with torch.no_grad():
        expected = copy.deepcopy(G)(x.clone())
    weights = torch.randn(expected.shape, generator=gen)  # loss = sum(weights * G(x))

    ref, x_ref = copy.deepcopy(G), x.clone().requires_grad_(True)
    (ref(x_ref) * weights).sum().backward()
    ref_grads = {name: p.grad for name, p in ref.named_parameters()}

    layers, order = _student_unet_output(unet_forward, G, x, expected)
    student, x_student = copy.deepcopy(layers), x.clone().requires_grad_(True)
    out = call_student(unet_forward, student.down, student.up, x_student,
                       forbidden=UNET_REFERENCE, part="the U-Net's forward pass")
    (out * weights).sum().backward()
    grads = (_unswap_grads(student) if order == "decoder first"
             else {name: p.grad for name, p in student.named_parameters()})
    assert_gradients_match([(name, grads[name], g_ref) for name, g_ref in ref_grads.items()],
                           what="gradient of the U-Net's {name} (down[k] = encoder layer k)",
                           missing="the U-Net's weight {name} got no gradient through "
                                   "unet_forward: is part of the graph detached?")
    assert_close(x_student.grad, x_ref.grad, atol=1e-5 * largest(x_ref.grad), rtol=1e-4,
                 what="gradient with respect to the input image")


# ------------------------------------------------------------------------------------------
# Part 2: the PatchGAN's layers
def build_patchgan(patchgan_layers: Callable, in_channels: int, ndf: int, n_layers: int,
                   norm: str = "batch") -> nn.Sequential:
    """nn.Sequential(*patchgan_layers(...)), with a clear error for a wrong return type."""
    layers = call_student(patchgan_layers, in_channels, ndf=ndf, n_layers=n_layers, norm=norm,
                          forbidden=PATCHGAN_REFERENCE, part="the PatchGAN's layers")
    if isinstance(layers, nn.Module) and not isinstance(layers, (nn.Sequential, nn.ModuleList)):
        raise AssertionError(f"patchgan_layers should return a list of layers, got one "
                             f"{type(layers).__name__}")
    try:
        layers = list(layers)
    except TypeError:
        raise AssertionError(f"patchgan_layers should return a list of nn.Module layers, got "
                             f"{type(layers).__name__}") from None
    wrong = [type(layer).__name__ for layer in layers if not isinstance(layer, nn.Module)]
    if wrong or not layers:
        raise AssertionError(f"patchgan_layers should return a non-empty list of nn.Module "
                             f"layers; it contains {wrong or 'nothing'}")
    return nn.Sequential(*layers)


def _run(net: nn.Module, x: Tensor) -> Tensor:
    # The student's layers run inside our nn.Sequential: still student code, so time-limited.
    return call_student(net, x, forbidden=PATCHGAN_REFERENCE, part="the PatchGAN's layers")


def check_patchgan_output_shape(patchgan_layers: Callable, *, expected: tuple[int, ...],
                                in_channels: int = 6, ndf: int = 4, n_layers: int = 3,
                                size: int = 256, batch: int = 2) -> None:
    """The PatchGAN maps a (batch, in_channels, size, size) input to ``expected``, a
    hand-computed (batch, 1, side, side) map of logits. Catches a wrong stride, kernel size,
    padding or number of layers, and a last layer with more than one output channel."""
    net = build_patchgan(patchgan_layers, in_channels, ndf, n_layers)
    x = torch.randn(batch, in_channels, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = _run(net, x)
    if not isinstance(out, Tensor) or tuple(out.shape) != tuple(expected):
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise AssertionError(f"a PatchGAN with n_layers={n_layers} maps a {size}x{size} input "
                             f"to a {tuple(expected)} map of logits; yours gives {got}")


def check_patchgan_receptive_field(patchgan_layers: Callable, *, n_layers: int, expected: int,
                                   in_channels: int = 6, ndf: int = 2) -> None:
    """Each output logit sees an ``expected`` x ``expected`` input patch, *measured* by
    backpropagating from one output unit (``checks.measure_receptive_field``). Catches wrong
    kernel sizes, strides or layer counts."""
    net = build_patchgan(patchgan_layers, in_channels, ndf, n_layers)
    with time_limit(60, "measuring the receptive field"):
        measured = measure_receptive_field(net, in_channels)
    if measured != expected:
        raise AssertionError(f"each output of a PatchGAN with n_layers={n_layers} should see "
                             f"a {expected}x{expected} patch of the input; yours sees "
                             f"{measured}x{measured}")


def check_patchgan_parameters(patchgan_layers: Callable, *, in_channels: int, ndf: int,
                              n_layers: int, norm: str, expected: int) -> None:
    """The layers have ``expected`` parameters (a hand-computed count). Catches a norm on the
    first layer, biases before batch norm, widths not capped at 8 * ndf, extra layers."""
    net = build_patchgan(patchgan_layers, in_channels, ndf, n_layers, norm)
    got = count_parameters(net)
    if got != expected:
        raise AssertionError(f"PatchGAN(in_channels={in_channels}, ndf={ndf}, n_layers="
                             f"{n_layers}, norm={norm!r}) should have {expected:,} parameters; "
                             f"yours has {got:,}")


def check_patchgan_matches_reference(patchgan_layers: Callable, *, in_channels: int = 6,
                                     ndf: int = 4, n_layers: int = 3, norm: str = "batch",
                                     size: int = 64, batch: int = 2, seed: int = 0) -> None:
    """With the reference's weights copied in, the layers compute exactly what coursekit's
    PatchGANDiscriminator computes, in training and in eval mode.

    Catches a missing or wrong activation (ReLU instead of LeakyReLU(0.2)), a norm in the
    wrong place, a sigmoid at the end (D outputs raw logits), layers in the wrong order."""
    with seeded(seed):
        ref = init_weights(PatchGANDiscriminator(in_channels, ndf=ndf, n_layers=n_layers,
                                                 norm=norm))
        _randomise_norms(ref, torch.Generator().manual_seed(seed + 1))
    net = build_patchgan(patchgan_layers, in_channels, ndf, n_layers, norm)
    copy_weights(parameter_modules(ref), parameter_modules(net))
    x = torch.randn(batch, in_channels, size, size, generator=torch.Generator().manual_seed(seed + 2))
    for mode in ("train", "eval"):
        ref.train(mode == "train")
        net.train(mode == "train")
        with torch.no_grad():
            expected = ref(x.clone())
            got = _run(net, x.clone())
        # Logits of the same float32 ops, perhaps in another order: ~1e-6 of their scale.
        assert_close(got, expected, atol=1e-5 * largest(expected), rtol=1e-4,
                     what=f"PatchGAN logits ({mode} mode, n_layers={n_layers}, norm={norm!r}) "
                          f"vs. coursekit's PatchGANDiscriminator with the same weights")


# ------------------------------------------------------------------------------------------
# Parts 3 and 4: the losses
class _Pix2PixLosses:
    """Pix2Pix's own loss methods, bound to a discriminator of our choosing."""

    discriminate = Pix2Pix.discriminate
    discriminator_loss = Pix2Pix.discriminator_loss
    generator_loss = Pix2Pix.generator_loss

    def __init__(self, D: nn.Module, lambda_l1: float):
        self.D = D
        self.config = Config(lambda_l1=lambda_l1)
        self.gan_loss = GANLoss("vanilla")


def reference_discriminator_loss(D: nn.Module, x: Tensor, y: Tensor, fake: Tensor) -> Tensor:
    """coursekit's ``Pix2Pix.discriminator_loss`` with the notebook's signature."""
    return _Pix2PixLosses(D, 100.0).discriminator_loss(x, y, fake)


def reference_generator_loss(D: nn.Module, x: Tensor, y: Tensor, fake: Tensor,
                             lambda_l1: float = 100.0) -> dict[str, Tensor]:
    """coursekit's ``Pix2Pix.generator_loss`` with the notebook's signature."""
    return _Pix2PixLosses(D, lambda_l1).generator_loss(x, y, fake)


def _constant_inputs(shape, x_value, y_value, fake_value, fake_requires_grad=False):
    x = torch.full(shape, float(x_value))
    y = torch.full(shape, float(y_value))
    fake = torch.full(shape, float(fake_value), requires_grad=fake_requires_grad)
    return x, y, fake


# A loss of float32 inputs vs. its float64 formula: BCE-with-logits, logsigmoid or
# log(sigmoid) agree to ~1e-7 relative for these moderate logits; mistakes change it by >10%.
LOSS_RTOL, LOSS_ATOL = 1e-5, 1e-6


def _d_loss(discriminator_loss, D, x, y, fake) -> Tensor:
    loss = call_student(discriminator_loss, D, x, y, fake, forbidden=LOSS_REFERENCE,
                        part="the discriminator's loss")
    return scalar(loss, "discriminator_loss(...)")


def check_discriminator_loss_value(discriminator_loss: Callable, *, y_value: float,
                                   fake_value: float, expected: float, x_value: float = 0.5,
                                   shape: tuple[int, ...] = (2, 3, 4, 4)) -> None:
    """With the stub D, constant images y and G(x) give logits y_value on real pairs and
    fake_value on generated ones, so L_D is ``expected``, computed by hand in the notebook.
    Catches swapped labels, a sign error, a missing 1/2, a sigmoid applied twice."""
    x, y, fake = _constant_inputs(shape, x_value, y_value, fake_value)
    loss = _d_loss(discriminator_loss, StubDiscriminator(condition=x), x, y, fake)
    assert_close(loss, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"discriminator loss for logits {y_value:g} (real) and {fake_value:g} "
                      "(generated)")


def check_discriminator_loss_matches_reference(discriminator_loss: Callable, *, batch: int = 2,
                                               channels: int = 3, size: int = 32,
                                               n_layers: int = 1, ndf: int = 8,
                                               norm: str = "instance", seed: int = 0) -> None:
    """Same value as ``Pix2Pix.discriminator_loss`` on a random PatchGAN and random images.

    The discriminator uses instance norm (or no norm), which judges each image on its own:
    then running D once per pair type or once on both batches stacked is the same. Catches
    unconditional D (y alone), the wrong concatenation order, wrong reductions."""
    D = random_patchgan(2 * channels, ndf, n_layers, seed, norm=norm)
    x, y, fake = random_images(batch, channels, size, seed + 1, 3)
    expected = reference_discriminator_loss(D, x, y, fake).detach()
    loss = _d_loss(discriminator_loss, D, x, y, fake)
    assert_close(loss, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what="discriminator_loss vs. Pix2Pix.discriminator_loss on a random PatchGAN")


def check_discriminator_loss_detaches(discriminator_loss: Callable, *, batch: int = 2,
                                      channels: int = 3, size: int = 32, seed: int = 0) -> None:
    """D's loss must not send gradients into the generated image (its step leaves G alone),
    but must reach D's weights. Catches a missing ``fake.detach()`` and a loss computed
    without gradients (under no_grad, or from .item())."""
    D = random_patchgan(2 * channels, 8, 1, seed, norm="instance")
    x, y, fake = random_images(batch, channels, size, seed + 1, 3)
    fake = fake.clone().requires_grad_(True)
    backward_discriminator_loss(_d_loss(discriminator_loss, D, x, y, fake), fake)
    if all(p.grad is None or p.grad.abs().max() == 0 for p in D.parameters()):
        raise AssertionError("the discriminator's loss gives D's weights no gradient")


def check_discriminator_loss_gradients(discriminator_loss: Callable, *, batch: int = 2,
                                       channels: int = 3, size: int = 32, n_layers: int = 2,
                                       ndf: int = 4, seed: int = 0) -> None:
    """The gradients of D's loss for every weight of D equal those of
    ``Pix2Pix.discriminator_loss``. Catches anything that changes what D learns."""
    D = random_patchgan(2 * channels, ndf, n_layers, seed, norm="instance")
    x, y, fake = random_images(batch, channels, size, seed + 1, 3)
    D_ref = copy.deepcopy(D)
    reference_discriminator_loss(D_ref, x, y, fake).backward()
    _d_loss(discriminator_loss, D, x, y, fake).backward()
    assert_gradients_match([(name, p.grad, p_ref.grad) for (name, p), p_ref
                            in zip(D.named_parameters(), D_ref.parameters())],
                           what="gradient of D's {name}",
                           missing="D's weight {name} got no gradient from the loss")


def _g_loss(generator_loss, D, x, y, fake, lambda_l1) -> dict[str, Tensor]:
    out = call_student(generator_loss, D, x, y, fake, lambda_l1, forbidden=LOSS_REFERENCE,
                       part="the generator's loss")
    require_keys(out, LOSS_KEYS, "generator_loss",
                 " (adversarial term, L1 term, weighted total)")
    return {k: scalar(out[k], f"generator_loss(...)[{k!r}]") for k in LOSS_KEYS}


def check_generator_loss_value(generator_loss: Callable, *, y_value: float, fake_value: float,
                               lambda_l1: float, expected: dict[str, float],
                               x_value: float = 0.5,
                               shape: tuple[int, ...] = (2, 3, 4, 4)) -> None:
    """With the stub D and constant images, each term is known by hand (``expected``, from
    the notebook). Catches the saturating loss log(1 - D), lambda on the wrong term, L2
    instead of L1, a sum instead of a mean."""
    x, y, fake = _constant_inputs(shape, x_value, y_value, fake_value)
    losses = _g_loss(generator_loss, StubDiscriminator(condition=x), x, y, fake, lambda_l1)
    for key in LOSS_KEYS:
        assert_close(losses[key], expected[key], atol=LOSS_ATOL, rtol=LOSS_RTOL,
                     what=f"generator_loss(...)[{key!r}] with lambda_l1={lambda_l1:g}")


def check_generator_loss_matches_reference(generator_loss: Callable, *, lambda_l1: float = 100.0,
                                           batch: int = 2, channels: int = 3, size: int = 32,
                                           n_layers: int = 1, ndf: int = 8,
                                           norm: str = "instance", seed: int = 0) -> None:
    """Same three values as ``Pix2Pix.generator_loss`` on a random PatchGAN and images."""
    D = random_patchgan(2 * channels, ndf, n_layers, seed, norm=norm)
    x, y, fake = random_images(batch, channels, size, seed + 1, 3)
    expected = {k: v.detach() for k, v in reference_generator_loss(D, x, y, fake, lambda_l1).items()}
    losses = _g_loss(generator_loss, D, x, y, fake, lambda_l1)
    for key in LOSS_KEYS:
        assert_close(losses[key], expected[key], atol=LOSS_ATOL, rtol=LOSS_RTOL,
                     what=f"generator_loss(...)[{key!r}] (lambda_l1={lambda_l1:g}) vs. "
                          "Pix2Pix.generator_loss on a random PatchGAN")


def check_generator_loss_gradient_value(generator_loss: Callable, *, y_value: float,
                                        fake_value: float, lambda_l1: float, expected: float,
                                        x_value: float = 0.5,
                                        shape: tuple[int, ...] = (2, 3, 4, 4)) -> None:
    """With the stub D and constant images, every pixel of G(x) gets the same gradient of
    the total loss, ``expected`` (computed by hand in the notebook). Catches a detached G(x)
    (no gradient reaches G), lambda on the wrong term, L2 instead of L1."""
    x, y, fake = _constant_inputs(shape, x_value, y_value, fake_value, fake_requires_grad=True)
    losses = _g_loss(generator_loss, StubDiscriminator(condition=x), x, y, fake, lambda_l1)
    if not losses["G"].requires_grad:
        raise AssertionError("the generator's loss has no gradient with respect to G(x): was "
                             "the generated image detached, or the loss made a Python number?")
    losses["G"].backward()
    if fake.grad is None:
        raise AssertionError("no gradient reached the generated image G(x)")
    assert_close(fake.grad, torch.full(shape, float(expected)), atol=LOSS_ATOL,
                 rtol=LOSS_RTOL, what="gradient of the generator's total loss with respect "
                                      "to each pixel of G(x)")


def check_generator_loss_gradients(generator_loss: Callable, *, lambda_l1: float = 100.0,
                                   batch: int = 2, channels: int = 3, size: int = 32,
                                   n_layers: int = 2, ndf: int = 4, seed: int = 0) -> None:
    """The gradient of the total generator loss with respect to G(x) equals that of
    ``Pix2Pix.generator_loss`` (that is what trains G)."""
    D = random_patchgan(2 * channels, ndf, n_layers, seed, norm="instance")
    x, y, fake = random_images(batch, channels, size, seed + 1, 3)
    fake_ref, fake_stu = fake.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    reference_generator_loss(copy.deepcopy(D), x, y, fake_ref, lambda_l1)["G"].backward()
    losses = _g_loss(generator_loss, D, x, y, fake_stu, lambda_l1)
    if not losses["G"].requires_grad:
        raise AssertionError("the generator's loss has no gradient with respect to G(x)")
    losses["G"].backward()
    if fake_stu.grad is None:
        raise AssertionError("no gradient reached the generated image G(x)")
    # Per-pixel gradients of order lambda / (number of pixels): compare relative to the largest.
    assert_close(fake_stu.grad, fake_ref.grad, atol=1e-5 * largest(fake_ref.grad), rtol=1e-4,
                 what=f"gradient of the generator's loss with respect to G(x) "
                      f"(lambda_l1={lambda_l1:g})")


# ------------------------------------------------------------------------------------------
# Part 5: one training step
def _tiny_pix2pix(seed: int, lambda_l1: float, lr: float, size: int = 16, num_downs: int = 3,
                  ngf: int = 4, ndf: int = 4, d_layers: int = 1) -> Pix2Pix:
    with seeded(seed):
        # dropout=0: the step is then deterministic, and computing G(x) a second time for
        # G's step (equally correct) gives the same result as reusing it.
        return Pix2Pix(Config(image_size=size, num_downs=num_downs, ngf=ngf, ndf=ndf,
                              d_layers=d_layers, dropout=0.0, lambda_l1=lambda_l1, lr=lr))


def _step(training_step, G, D, opt_G, opt_D, x, y, lambda_l1, seconds=None,
          d_loss_fn=reference_discriminator_loss, g_loss_fn=reference_generator_loss) -> dict:
    with explain_missing_gradient("A loss without gradient: is D still frozen from the previous "
                                  "step (set requires_grad back to True before D's step), or is "
                                  "G(x) detached where G learns from it?"):
        return call_student(training_step, G, D, opt_G, opt_D, x, y, d_loss_fn, g_loss_fn,
                            lambda_l1, forbidden=STEP_REFERENCE, part="the training step",
                            seconds=seconds)


def check_training_step_matches_reference(training_step: Callable, *, steps: int = 3,
                                          batch: int = 2, size: int = 16,
                                          lambda_l1: float = 100.0, lr: float = 2e-4,
                                          seed: int = 0) -> None:
    """``steps`` steps of the student's training_step update G and D as
    ``Pix2Pix.training_step`` does: from the same state and batch, each optimizer is stepped
    once with the same gradients (``checks.assert_same_update``), and the returned losses are
    the same. Several steps, because forgetting zero_grad only shows from the second step on.

    Catches forgotten or misplaced zero_grad, a missing or extra optimizer step, G's step
    before D's, losses computed with the wrong arguments, stepping the wrong optimizer."""
    model = _tiny_pix2pix(seed, lambda_l1, lr, size=size)
    G, D = copy.deepcopy(model.G), copy.deepcopy(model.D)
    opt_G, opt_D = gan_adam(G.parameters(), lr), gan_adam(D.parameters(), lr)
    optimizers = {
        "opt_D": (opt_D, model.optimizers["D"], [f"D.{n}" for n, _ in D.named_parameters()]),
        "opt_G": (opt_G, model.optimizers["G"], [f"G.{n}" for n, _ in G.named_parameters()])}
    gen = torch.Generator().manual_seed(seed + 1)
    for k in range(1, steps + 1):
        x = torch.tanh(torch.randn(batch, 3, size, size, generator=gen))
        y = torch.tanh(torch.randn(batch, 3, size, size, generator=gen))
        # Each step starts the reference from the student's state (see checks.assert_same_update).
        sync([(model.G, G), (model.D, D), (model.optimizers["G"], opt_G),
              (model.optimizers["D"], opt_D)])
        out, expected = assert_same_update(
            lambda: _step(training_step, G, D, opt_G, opt_D, x.clone(), y.clone(), lambda_l1),
            lambda: model.training_step({"A": x, "B": y}), optimizers, step=k)
        require_keys(out, STEP_KEYS, "training_step")
        for key in STEP_KEYS:
            assert_close(scalar(out[key], f"training_step(...)[{key!r}]", number_ok=True),
                         expected[key], atol=LOSS_ATOL * max(1.0, lambda_l1), rtol=LOSS_RTOL,
                         what=f"step {k}: the loss {key!r} returned by training_step")


def check_training_step_freezes_discriminator(training_step: Callable, *, steps: int = 2,
                                              batch: int = 2, size: int = 16,
                                              seed: int = 0) -> None:
    """In each step, every weight of D gets a gradient before ``opt_D.step()`` and none after
    it (D is frozen while G's loss is backpropagated), and every weight of G gets a gradient
    after ``opt_D.step()`` and none before (D's loss sees a detached G(x)); D is trainable again
    at the next step. Watched with gradient hooks, split at ``opt_D.step()``: how many
    ``backward()`` calls a step makes (one per loss, or one per term) does not matter.

    Catches D left trainable during G's update (G's loss then writes gradients into D), a D
    that stays frozen, and a G that gets no gradient (G(x) detached for its own loss)."""
    model = _tiny_pix2pix(seed, 100.0, 2e-4, size=size)
    G, D = model.G, model.D
    opt_G, opt_D = gan_adam(G.parameters(), 2e-4), gan_adam(D.parameters(), 2e-4)
    phase = ["before"]  # "before" opt_D.step() returns, "after" it
    seen: dict[str, set[int]] = {"before": set(), "after": set()}

    def record(grad: Tensor, key: int) -> None:
        seen[phase[0]].add(key)

    handles = [p.register_hook(functools.partial(record, key=id(p)))
               for p in list(G.parameters()) + list(D.parameters())]
    handles.append(opt_D.register_step_post_hook(lambda *_: phase.__setitem__(0, "after")))
    d_ids, g_ids = {id(p) for p in D.parameters()}, {id(p) for p in G.parameters()}
    gen = torch.Generator().manual_seed(seed + 1)
    try:
        for k in range(1, steps + 1):
            phase[0] = "before"
            seen["before"].clear(), seen["after"].clear()
            x = torch.tanh(torch.randn(batch, 3, size, size, generator=gen))
            y = torch.tanh(torch.randn(batch, 3, size, size, generator=gen))
            _step(training_step, G, D, opt_G, opt_D, x, y, 100.0)
            if phase[0] == "before":
                raise AssertionError(f"step {k}: opt_D.step() was not called: update D in "
                                     f"every step")
            if d_ids & seen["after"]:
                raise AssertionError(
                    f"step {k}: D's weights received gradients after D's update, from the "
                    f"generator's loss: freeze D (requires_grad_(False) on its parameters) "
                    f"before G's backward pass, so that G's update cannot touch D")
            if d_ids - seen["before"]:
                raise AssertionError(
                    f"step {k}: {len(d_ids - seen['before'])} of D's {len(d_ids)} weights got no "
                    f"gradient before opt_D.step(): backpropagate D's loss in every step, with "
                    f"D trainable again (requires_grad_(True)) after the previous step froze it")
            if g_ids & seen["before"]:
                raise AssertionError(
                    f"step {k}: G's weights received gradients before D's update: D's loss must "
                    f"see a detached G(x), and G's loss comes after D's step")
            if g_ids - seen["after"]:
                raise AssertionError(
                    f"step {k}: {len(g_ids - seen['after'])} of G's {len(g_ids)} weights got no "
                    f"gradient from G's loss: is G(x) detached where G learns from it?")
    finally:
        for handle in handles:
            handle.remove()


def _facades(split: str, size: int, length: int):
    from coursekit.data.synthetic.facades import SyntheticFacades

    items = [item for item in SyntheticFacades(split, size=size, length=length)]
    return (torch.stack([i["A"] for i in items]), torch.stack([i["B"] for i in items]),
            torch.stack([i["labels"] for i in items]))


#: The pass marks of the training run (150 steps at 32 px, seed 0 graded), from the solution's
#: runs with seeds 0..19 on one thread; an untrained G keeps the ratio at 1.
TRAINING_RUN = (
    Threshold("l1_ratio", "the L1 error of G on training pairs, as a fraction of its start",
              0.8, higher_is_better=False, correct=(0.54, 0.62),
              measured="seeds 0..19, 150 steps, one thread", untrained=(1.0, 1.0)),
    Threshold("pixel_accuracy", "the pixel accuracy of the generated test facades "
              "(score_facades)", 0.30, higher_is_better=True, correct=(0.36, 0.49),
              measured="seeds 0..19, 150 steps, one thread", untrained=(0.02, 0.16)),
)


def check_training_run(training_step: Callable, *, steps: int = 150, size: int = 32,
                       batch: int = 8, ngf: int = 8, lr: float = 1e-3, seed: int = 0,
                       max_l1_ratio: float = TRAINING_RUN[0].limit,
                       min_pixel_accuracy: float = TRAINING_RUN[1].limit,
                       seconds: float = 90.0) -> dict[str, float]:
    """Train a tiny pix2pix (coursekit's U-Net and 16x16 PatchGAN, the reference losses) on
    synthetic facades with the student's training_step for ``steps`` steps, then require

    * the L1 error of G on a fixed batch of training pairs to fall to ``max_l1_ratio`` of
      its starting value or below, and
    * the ground-truth score of the generated test photos (``score_facades``: the fraction
      of pixels a segmenter calibrated on real renders labels correctly) to reach
      ``min_pixel_accuracy``

    (:data:`TRAINING_RUN`: the measurements behind both). Returns both numbers."""
    from coursekit.data.synthetic.facades import score_facades

    train_A, train_B, _ = _facades("train", size, 64)
    test_A, _, test_labels = _facades("test", size, 16)
    num_downs = int(math.log2(size))
    with seeded(seed):
        G = init_weights(UNetGenerator(3, 3, num_downs=num_downs, ngf=ngf, dropout=0.0))
        D = init_weights(PatchGANDiscriminator(6, ndf=ngf, n_layers=1))
    opt_G, opt_D = gan_adam(G.parameters(), lr), gan_adam(D.parameters(), lr)
    gen = torch.Generator().manual_seed(seed + 1)

    def l1_error() -> float:
        # Batch statistics, as pix2pix runs G at test time; no gradients.
        with torch.no_grad():
            return float(F.l1_loss(G(train_A[:16]), train_B[:16]))

    def step(_: int) -> None:
        idx = torch.randint(0, len(train_A), (batch,), generator=gen)
        _step(training_step, G, D, opt_G, opt_D, train_A[idx], train_B[idx], 100.0,
              seconds=0)  # the whole run has one time limit

    def scores(_: list) -> dict[str, float]:
        with torch.no_grad(), quiet():
            accuracy = score_facades(G(test_A), test_labels)["pixel_accuracy"]
        return {"l1_ratio": l1_error() / before, "pixel_accuracy": accuracy}

    before = l1_error()
    return training_run(step, steps, scores,
                        (dataclasses.replace(TRAINING_RUN[0], limit=max_l1_ratio),
                         dataclasses.replace(TRAINING_RUN[1], limit=min_pixel_accuracy)),
                        seconds=seconds)


# ------------------------------------------------------------------------------------------
# "It runs" checks: the visible line of each hidden-test cell. They only fail when the function
# does not run or returns the wrong kind of result (the stub raises NotImplementedError), so
# `nbgrader validate --invert` on the student notebook sees every graded cell fail.
def check_unet_runs(unet_forward: Callable) -> None:
    """unet_forward runs on a 2-level probe U-Net and returns an image batch."""
    down = nn.ModuleList([_ProbeDown(k) for k in range(2)])
    up = nn.ModuleList([_ProbeUp(k, 1) for k in range(2)])
    out = call_student(unet_forward, down, up, torch.zeros(1, 1, 8, 8),
                       forbidden=UNET_REFERENCE, part="the U-Net's forward pass")
    if not isinstance(out, Tensor) or tuple(out.shape) != (1, 1, 8, 8):
        raise AssertionError("unet_forward should return a batch of images (N, C, H, W)")


def check_patchgan_runs(patchgan_layers: Callable) -> None:
    """patchgan_layers returns layers that map a pair of images to a map of logits."""
    net = build_patchgan(patchgan_layers, 6, 2, 1)
    with torch.no_grad():
        out = _run(net, torch.zeros(1, 6, 32, 32))
    if not isinstance(out, Tensor) or out.ndim != 4:
        raise AssertionError("the PatchGAN should output a map of logits (N, 1, H', W')")


def check_discriminator_loss_runs(discriminator_loss: Callable) -> None:
    """discriminator_loss returns one number (a 0-dim tensor)."""
    x, y, fake = _constant_inputs((1, 3, 4, 4), 0.5, 1.0, -1.0)
    _d_loss(discriminator_loss, StubDiscriminator(condition=x), x, y, fake)


def check_generator_loss_runs(generator_loss: Callable) -> None:
    """generator_loss returns the dict of its three terms."""
    x, y, fake = _constant_inputs((1, 3, 4, 4), 0.5, 1.0, -1.0)
    _g_loss(generator_loss, StubDiscriminator(condition=x), x, y, fake, 100.0)


def check_training_step_uses_its_arguments(training_step: Callable, *, batch: int = 2,
                                            size: int = 8, seed: int = 0) -> None:
    """One step on a tiny pix2pix: the losses come from the functions passed in (as the
    notebook asks, so that a mistake in parts 3 and 4 does not cost these points too), and
    the losses it returns are detached (or numbers).

    Catches the notebook's own ``discriminator_loss`` or ``generator_loss`` called instead of
    ``d_loss_fn`` / ``g_loss_fn``, and losses returned with their graph."""
    model = _tiny_pix2pix(seed, 100.0, 2e-4, size=size, num_downs=3, ngf=2, ndf=2)
    opt_G, opt_D = gan_adam(model.G.parameters(), 2e-4), gan_adam(model.D.parameters(), 2e-4)
    x, y = random_images(batch, 3, size, seed + 1, 2)
    d_loss, g_loss = Counted(reference_discriminator_loss), Counted(reference_generator_loss)
    out = _step(training_step, model.G, model.D, opt_G, opt_D, x, y, 100.0, d_loss_fn=d_loss,
                g_loss_fn=g_loss)
    if d_loss.calls == 0 or g_loss.calls == 0:
        raise AssertionError(f"training_step must compute the losses with the functions it is "
                             f"given: d_loss_fn was called {d_loss.calls} time(s), g_loss_fn "
                             f"{g_loss.calls} time(s)")
    require_keys(out, STEP_KEYS, "training_step")
    assert_detached(out, STEP_KEYS, "training_step")


def check_training_step_runs(training_step: Callable) -> None:
    """training_step runs one step on a tiny pix2pix and returns its losses."""
    model = _tiny_pix2pix(0, 100.0, 2e-4, size=8, num_downs=3, ngf=2, ndf=2)
    opt_G, opt_D = gan_adam(model.G.parameters(), 2e-4), gan_adam(model.D.parameters(), 2e-4)
    x = torch.zeros(1, 3, 8, 8)
    out = _step(training_step, model.G, model.D, opt_G, opt_D, x, x.clone(), 100.0)
    require_keys(out, STEP_KEYS, "training_step")


one_thread_checks(globals())  # see checks.one_thread

__all__ = [name for name in dir() if name.startswith(("check_", "reference_"))] + [
    "LOSS_REFERENCE", "PATCHGAN_REFERENCE", "STEP_REFERENCE", "TRAINING_RUN", "UNET_REFERENCE",
    "StubDiscriminator", "build_patchgan", "StudentTimeout", "forbid", "hidden_tests",
]
