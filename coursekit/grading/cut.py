"""Checks for problem set 3 (CUT / PatchNCE): the test cells of ``ps3_cut.ipynb`` call these.

Each check runs the student's code on fixed, tiny inputs (CPU, one torch thread, float32,
fixed seeds) and compares it with a hand-computed value, with a property that any correct
solution has, or with coursekit's reference in ``coursekit.models.patchnce`` /
``coursekit.models.cut``. While the student's code runs, the reference of the part being graded
is refused (``checks.forbid``).

What the students write (signatures fixed by the notebook):

* ``patch_nce_loss(query, key, temperature=0.07)``: InfoNCE (Eq. 3.6) of every query patch
  against the key patches of its own image, mean over images and patches;
* ``sample_patches(query_features, key_features, num_patches)``: the same random locations of
  the query and the key feature maps, without replacement, all of them when there are fewer;
* ``ProjectionHead(in_channels, units=256)``: the 2-layer MLP H_l with L2 normalisation, built
  in ``__init__``;
* ``multilayer_patch_nce(G, heads, source, output, layers, sample_patches, nce_loss,
  num_patches=256)``: L_PatchNCE of Eq. 3.7 averaged over the layers, the input side a fixed
  target.

Tolerances: a correct solution computes the same float32 operations as the reference, maybe
in another order (the positive in column 0 or on the diagonal, ``logsumexp`` instead of
cross-entropy, ``F.normalize`` or a division by the norm). With logits up to 1 / 0.07 = 14.3
that changes the results by a few float32 ulps, relative 1e-7..1e-6; the tolerances below are
10-100x that, far below the effect of a mistake (the mutation tests' mistakes move the
checked losses by 0.1 or more, or most entries of the checked gradients). The
authors' code masks the positive's second occurrence with -10 instead of -inf: at tau = 1 (a
hidden hand case) that adds e^-10 to denominators near 6, 7.5e-6 to the loss, inside the
tolerance 1e-5 + 1e-5 * |expected|; at tau <= 0.5 it vanishes in float32.
Sampling copies values, so the sampled vectors are compared exactly.
"""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.grading.checks import (
    Counted,
    Threshold,
    assert_close,
    assert_gradients_match,
    call_student,
    copy_weights,
    count_parameters,
    gan_adam,
    hidden_tests,
    layers_in_call_order,
    one_thread_checks,
    quiet,
    seeded,
    training_run,
)
from coursekit.models import cut as cut_module
from coursekit.models import patchnce
from coursekit.models.cut import CUT
from coursekit.models.patchnce import PatchProjector, PatchSampler, ProjectionHead
from coursekit.nn import ResnetGenerator, init_weights

__all__ = [
    "hidden_tests",
    "check_nce_hand_value", "check_nce_matches_reference", "check_nce_key_gets_no_gradient",
    "check_nce_negatives_from_the_same_image", "check_nce_runs",
    "check_sampler_locations", "check_sampler_is_random", "check_sampler_uses_torch_generator",
    "check_sampler_keeps_the_query_graph", "check_sampler_runs",
    "check_head_structure", "check_head_matches_reference", "check_head_runs",
    "check_multilayer_matches_reference", "check_multilayer_input_side_fixed",
    "check_multilayer_uses_its_arguments",
    "check_nce_training_run", "check_multilayer_runs",
]

# ------------------------------------------------------------------------------------------
# What each part may not call: coursekit's own implementation of that part.
NCE_REFERENCE = ((patchnce, "patch_nce_loss"), (cut_module, "patch_nce_loss"))
SAMPLER_REFERENCE = ((PatchSampler, "draw"), (PatchSampler, "gather"))
HEAD_REFERENCE = ((ProjectionHead, "__init__"), (ProjectionHead, "forward"),
                  (PatchProjector, "__init__"), (PatchProjector, "forward"))
MULTILAYER_REFERENCE = ((CUT, "nce_loss"),)

# Same float32 operations in another order (module docstring): a mistake changes losses by
# > 1e-2. Gradients are compared by checks.assert_gradients_match, relative to the largest
# gradient of the network: they are sums of many terms, some of which cancel (a generator that
# calls G once per layer differs from the reference by up to 8e-7 of the largest gradient,
# 6e-5 absolute), while a mistake moves most of them by 1e-3 relative or more.
LOSS_ATOL, LOSS_RTOL = 1e-5, 1e-5


def _assert_gradients_close(got: Tensor, expected: Tensor, what: str) -> None:
    assert_gradients_match([("", got, expected)], what=what, missing=f"{what}: none")


def _unit_vectors(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    return F.normalize(torch.randn(shape, generator=gen), dim=-1)


# ------------------------------------------------------------------------------------------
# Part 1: the PatchNCE (InfoNCE) loss
def _nce(patch_nce_loss: Callable, query: Tensor, key: Tensor, temperature: float) -> Tensor:
    out = call_student(patch_nce_loss, query, key, temperature, forbidden=NCE_REFERENCE,
                       part="the PatchNCE loss")
    if not isinstance(out, Tensor) or out.dim() != 0:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise AssertionError(f"patch_nce_loss must return one number (a 0-dim tensor: the mean "
                             f"over images and patches), got {shape}")
    return out


def check_nce_hand_value(patch_nce_loss: Callable, *, query: Sequence[Sequence[float]],
                         key: Sequence[Sequence[float]], temperature: float,
                         expected: float) -> None:
    """patch_nce_loss on one image whose patch vectors are given by hand equals ``expected``
    (computed by hand in the notebook). Catches a missing or misapplied temperature, the
    positive counted among the negatives (diagonal not masked), the wrong class as target."""
    q = torch.tensor([list(map(float, v)) for v in query])[None]
    k = torch.tensor([list(map(float, v)) for v in key])[None]
    assert_close(_nce(patch_nce_loss, q, k, temperature), expected, atol=LOSS_ATOL,
                 rtol=LOSS_RTOL, what=f"patch_nce_loss on the hand-computed case (tau = "
                                      f"{temperature:g})")


def _random_pair(batch: int, patches: int, channels: int, seed: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    query = _unit_vectors((batch, patches, channels), gen)
    # Keys near their queries, as after some training (the positive then matters most).
    key = F.normalize(query + 0.8 * _unit_vectors((batch, patches, channels), gen), dim=-1)
    return query, key


def check_nce_matches_reference(patch_nce_loss: Callable, *, batch: int = 2, patches: int = 16,
                                channels: int = 8, temperature: float = 0.07,
                                seed: int = 0) -> None:
    """Value and gradient for the query equal coursekit's patch_nce_loss on random unit
    vectors. Catches every wrong formula, negatives taken across the batch, a sum instead of
    the mean."""
    query, key = _random_pair(batch, patches, channels, seed)
    q_ref = query.clone().requires_grad_(True)
    expected = patchnce.patch_nce_loss(q_ref, key.clone(), temperature)
    expected.backward()
    q = query.clone().requires_grad_(True)
    got = _nce(patch_nce_loss, q, key.clone(), temperature)
    what = (f"patch_nce_loss (batch {batch}, {patches} patches, {channels} channels, "
            f"tau = {temperature:g})")
    assert_close(got, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL, what=what)
    if not got.requires_grad:
        raise AssertionError(f"{what} does not depend on the query: its gradient must flow "
                             "(do not detach the query or compute it under no_grad)")
    got.backward()
    _assert_gradients_close(q.grad, q_ref.grad, f"the gradient of {what} with respect to the "
                                                f"query")


def check_nce_key_gets_no_gradient(patch_nce_loss: Callable, *, batch: int = 2,
                                   patches: int = 8, channels: int = 4, seed: int = 1) -> None:
    """The key (input side) is a fixed target: backpropagating the loss leaves no gradient in
    it, while the query does get one."""
    query, key = _random_pair(batch, patches, channels, seed)
    query.requires_grad_(True)
    key.requires_grad_(True)
    loss = _nce(patch_nce_loss, query, key, 0.07)
    if not loss.requires_grad:
        raise AssertionError("the loss does not depend on the query: its gradient must flow")
    loss.backward()
    if key.grad is not None and key.grad.abs().max() > 0:
        raise AssertionError("the key received a gradient: the input-side patches are a fixed "
                             "target in PatchNCE, so detach the key (key.detach())")
    if query.grad is None or not query.grad.abs().max() > 0:
        raise AssertionError("the query received no gradient")


def check_nce_negatives_from_the_same_image(patch_nce_loss: Callable, *, batch: int = 3,
                                            patches: int = 6, channels: int = 4,
                                            seed: int = 2) -> None:
    """The loss of a batch is the mean of the losses of its images, each computed alone: the
    negatives of a patch are the other patches of *its own* image (internal negatives,
    §3.3.1), never patches of the other images of the batch."""
    query, key = _random_pair(batch, patches, channels, seed)
    alone = [_nce(patch_nce_loss, query[b:b + 1], key[b:b + 1], 0.07) for b in range(batch)]
    together = _nce(patch_nce_loss, query, key, 0.07)
    assert_close(together, torch.stack(alone).mean(), atol=LOSS_ATOL, rtol=LOSS_RTOL,
                 what=f"patch_nce_loss of a batch of {batch} images vs. the mean of the images' "
                      f"losses computed one by one (are the negatives taken from other images?)")


def check_nce_runs(patch_nce_loss: Callable) -> None:
    """patch_nce_loss returns one number for a batch of unit vectors."""
    query, key = _random_pair(1, 3, 2, 0)
    _nce(patch_nce_loss, query, key, 0.07)


# ------------------------------------------------------------------------------------------
# Part 2: the patch sampler
def _probe_features(batch: int, channels: int, height: int, width: int, gen: torch.Generator,
                    ) -> Tensor:
    """A feature map whose channel 0 holds the location index h * W + w, channel 1 the image
    index, the rest random: a sampled vector says where it came from."""
    f = torch.randn(batch, channels, height, width, generator=gen)
    f[:, 0] = torch.arange(height * width, dtype=torch.float32).view(height, width)
    f[:, 1] = torch.arange(batch, dtype=torch.float32).view(batch, 1, 1)
    return f


def _sample(sample_patches: Callable, queries: list[Tensor], keys: list[Tensor],
            num_patches: int) -> tuple[list[Tensor], list[Tensor]]:
    out = call_student(sample_patches, [q.clone() for q in queries], [k.clone() for k in keys],
                       num_patches, forbidden=SAMPLER_REFERENCE, part="the patch sampler")
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise AssertionError("sample_patches must return two lists (query vectors, key vectors)")
    q_out, k_out = (list(x) if isinstance(x, (tuple, list)) else None for x in out)
    if q_out is None or k_out is None or len(q_out) != len(queries) or len(k_out) != len(keys):
        raise AssertionError(f"sample_patches must return two lists with one tensor per feature "
                             f"map ({len(queries)} here)")
    return q_out, k_out


def _locations(vectors: Tensor, feature: Tensor, which: str, layer: int) -> Tensor:
    """The location index of every sampled vector (B, S), checked against the feature map."""
    batch, channels, height, width = feature.shape
    if not isinstance(vectors, Tensor) or vectors.dim() != 3:
        raise AssertionError(f"{which} vectors of layer {layer}: expected a tensor (batch, "
                             f"patches, channels), got "
                             f"{tuple(vectors.shape) if isinstance(vectors, Tensor) else vectors}")
    if vectors.shape[0] != batch or vectors.shape[2] != channels:
        raise AssertionError(f"{which} vectors of layer {layer} have shape "
                             f"{tuple(vectors.shape)}; expected (batch, patches, channels) = "
                             f"({batch}, S, {channels}) for a feature map of shape "
                             f"{tuple(feature.shape)}")
    where = vectors[:, :, 0].round().long()
    if (where < 0).any() or (where >= height * width).any() or not torch.equal(
            vectors[:, :, 0], where.float()):
        raise AssertionError(f"the {which} vectors of layer {layer} are not feature vectors of "
                             f"the map: each must be feature[b, :, h, w] for one location "
                             f"(flatten the locations and move the channels last)")
    images = feature.flatten(2).transpose(1, 2)  # (B, H*W, C)
    gathered = torch.stack([images[b, where[b]] for b in range(batch)])
    if not torch.equal(vectors.detach(), gathered):
        if torch.equal(vectors[:, :, 1], torch.arange(batch, dtype=torch.float32)[:, None]
                       .expand_as(vectors[:, :, 1])):
            raise AssertionError(f"the {which} vectors of layer {layer} mix values of different "
                                 f"locations: vector s of image b must be feature[b, :, h, w] "
                                 f"(all channels of one location)")
        raise AssertionError(f"the {which} vectors of layer {layer}: row b must hold patches of "
                             f"image b, each feature[b, :, h, w] at one location")
    return where


def check_sampler_locations(sample_patches: Callable, *, batch: int = 2,
                            shapes: Sequence[tuple[int, int, int]] = ((3, 8, 8), (5, 4, 4)),
                            num_patches: int = 10, seed: int = 0) -> None:
    """For every layer: the query and the key vectors come from the same locations, in the
    same order; each vector is the feature vector feature[b, :, h, w] of its own image; the
    locations are distinct (without replacement); there are min(num_patches, H * W) of them;
    every image of the batch is sampled at the same locations (drawn once per layer).

    ``shapes``: (channels, height, width) of each layer's feature map (channels >= 2)."""
    gen = torch.Generator().manual_seed(seed)
    queries = [_probe_features(batch, c, h, w, gen) for c, h, w in shapes]
    keys = [_probe_features(batch, c, h, w, gen) for c, h, w in shapes]
    with seeded(seed):
        q_out, k_out = _sample(sample_patches, queries, keys, num_patches)
    for layer, (q, k, fq, fk) in enumerate(zip(q_out, k_out, queries, keys)):
        where_q = _locations(q, fq, "query", layer)
        where_k = _locations(k, fk, "key", layer)
        locations = fq.shape[2] * fq.shape[3]
        expected = min(num_patches, locations)
        if where_q.shape[1] != expected or where_k.shape[1] != expected:
            raise AssertionError(
                f"layer {layer} ({locations} locations, num_patches={num_patches}): expected "
                f"{expected} patches per image, got {where_q.shape[1]} query and "
                f"{where_k.shape[1]} key patches (all locations when there are fewer than "
                f"num_patches)")
        if not torch.equal(where_q, where_k):
            raise AssertionError(f"layer {layer}: the query and the key patches come from "
                                 f"different locations; patch s of both must be at the same "
                                 f"place (draw the locations once per layer, use them for both)")
        if not torch.equal(where_q, where_q[:1].expand_as(where_q)):
            raise AssertionError(f"layer {layer}: the images of the batch were sampled at "
                                 f"different locations; draw the locations once per layer and "
                                 f"use them for every image of the batch")
        for b in range(batch):
            if len(set(where_q[b].tolist())) != expected:
                raise AssertionError(f"layer {layer}: a location was drawn twice; sample "
                                     f"without replacement (every patch at a different place)")


def check_sampler_is_random(sample_patches: Callable, *, size: int = 6, num_patches: int = 4,
                            draws: int = 150, seed: int = 0) -> None:
    """Over ``draws`` calls on a size x size map, every location is drawn at least once and
    the calls do not all draw the same locations (random locations, not the first ones).

    A uniform sampler misses one given location in all draws with probability
    (1 - num_patches / size^2)^draws: (32/36)^150 = 2e-8 for the defaults, so some location
    is missed with probability < 36 * 2e-8 < 1e-6. Torch's global generator is seeded here, so
    a sampler that draws from it (randperm, multinomial, rand + argsort) gives the same
    result on every run. (Which generator it uses is :func:`check_sampler_uses_torch_generator`'s
    question.)"""
    gen = torch.Generator().manual_seed(seed)
    feature = _probe_features(1, 2, size, size, gen)
    seen: set[int] = set()
    draws_seen: set[tuple[int, ...]] = set()
    with seeded(seed):
        for _ in range(draws):
            q_out, _ = _sample(sample_patches, [feature], [feature], num_patches)
            where = _locations(q_out[0], feature, "query", 0)[0].tolist()
            seen.update(where)
            draws_seen.add(tuple(where))
    if len(draws_seen) == 1:
        raise AssertionError("sample_patches drew the same locations in every call: draw them "
                             "at random (e.g. torch.randperm)")
    missing = size * size - len(seen)
    if missing:
        raise AssertionError(f"{missing} of the {size * size} locations were never drawn in "
                             f"{draws} calls: every location must be equally likely")


def _drawn_locations(sample_patches: Callable, seed: int, calls: int = 4) -> list:
    """The locations of ``calls`` successive calls on two probe maps, torch seeded with
    ``seed``."""
    gen = torch.Generator().manual_seed(123)
    features = [_probe_features(2, c, h, w, gen) for c, h, w in ((2, 8, 8), (3, 4, 4))]
    drawn = []
    with seeded(seed):
        for _ in range(calls):
            q_out, _ = _sample(sample_patches, features, features, 10)
            drawn.append([_locations(v, f, "query", layer).tolist()
                          for layer, (v, f) in enumerate(zip(q_out, features))])
    return drawn


def check_sampler_uses_torch_generator(sample_patches: Callable, *, seed: int = 0) -> None:
    """The locations come from torch's global generator, as the notebook asks: four successive
    calls after ``torch.manual_seed(seed)`` draw the same locations every time, and other
    locations after another seed (a correct sampler repeats itself across seeds with
    probability below C(64, 10)^-4). Any torch draw passes (randperm, rand + argsort,
    multinomial); that is what lets a seeded or resumed training run repeat itself.

    Catches Python's ``random`` or NumPy's generator (not seeded by torch.manual_seed)."""
    first, again, other = (_drawn_locations(sample_patches, s) for s in (seed, seed, seed + 1))
    if first != again:
        raise AssertionError("after the same torch.manual_seed the sampler drew other locations: "
                             "draw them with torch (e.g. torch.randperm), not with Python's "
                             "random module or NumPy, so that torch.manual_seed repeats them")
    if first == other:
        raise AssertionError("with two different torch seeds the sampler drew the same "
                             "locations: its random numbers should come from torch's generator")


def check_sampler_keeps_the_query_graph(sample_patches: Callable, *, batch: int = 2,
                                        shapes: Sequence[tuple[int, int, int]] = ((3, 5, 5),
                                                                                  (2, 4, 4)),
                                        num_patches: int = 6, seed: int = 0) -> None:
    """Sampling only selects: the sampled query vectors keep their graph, and the gradient of
    their sum with respect to each query feature map is 1 at every sampled (image, channel,
    location) and 0 elsewhere, whatever indexing produced them. PatchNCE trains the generator
    through the query side (part 4).

    Catches sampled vectors that are detached (or copied out of the graph)."""
    gen = torch.Generator().manual_seed(seed)
    queries = [_probe_features(batch, c, h, w, gen).requires_grad_(True) for c, h, w in shapes]
    keys = [_probe_features(batch, c, h, w, gen) for c, h, w in shapes]
    with seeded(seed):
        q_out, _ = _sample(sample_patches, queries, keys, num_patches)
    if not all(isinstance(v, Tensor) and v.requires_grad for v in q_out):
        raise AssertionError("the sampled query vectors are detached from the feature maps: "
                             "PatchNCE could not train the generator through them (do not "
                             "detach, and do not copy the values out of the graph)")
    sum(v.sum() for v in q_out).backward()
    for layer, (f, v) in enumerate(zip(queries, q_out)):
        if f.grad is None or float(f.grad.sum()) != v.numel() or float(f.grad.max()) != 1.0:
            raise AssertionError(f"layer {layer}: the gradient of the sampled query vectors "
                                 f"does not flow back to the sampled locations of the feature "
                                 f"map, once each")


def check_sampler_runs(sample_patches: Callable) -> None:
    """sample_patches returns one (B, S, C) tensor per feature map on each side."""
    gen = torch.Generator().manual_seed(0)
    f = _probe_features(1, 2, 2, 2, gen)
    q_out, k_out = _sample(sample_patches, [f], [f.clone()], 2)
    _locations(q_out[0], f, "query", 0)
    _locations(k_out[0], f, "key", 0)


# ------------------------------------------------------------------------------------------
# Part 3: the projection head
def _build_head(head_class: Callable, in_channels: int, units: int) -> nn.Module:
    head = call_student(head_class, in_channels, units, forbidden=HEAD_REFERENCE,
                        part="the projection head")
    if not isinstance(head, nn.Module):
        raise AssertionError(f"ProjectionHead(...) must be an nn.Module, got {type(head).__name__}")
    return head


def _head_forward(head: nn.Module, x: Tensor) -> Tensor:
    out = call_student(head, x, forbidden=HEAD_REFERENCE, part="the projection head")
    if not isinstance(out, Tensor):
        raise AssertionError(f"the head must return a tensor, got {type(out).__name__}")
    return out


def _linears(head: nn.Module, in_channels: int) -> list[nn.Linear]:
    """The head's Linear layers in the order its forward pass calls them (whatever order the
    student registered them in)."""
    def run():
        with torch.no_grad():
            _head_forward(head, torch.zeros(1, in_channels))

    return [m for m in layers_in_call_order(head, run) if isinstance(m, nn.Linear)]


def check_head_structure(head_class: Callable, *, in_channels: int = 12,
                         units: int | None = 256, seed: int = 0) -> None:
    """ProjectionHead(in_channels, units) has, right after construction, exactly the
    parameters of Linear(in_channels -> units) and Linear(units -> units), and a forward pass
    neither adds nor replaces any (the optimizer, made before the first step, must see them).
    ``units=None``: built as ProjectionHead(in_channels), the default must be 256 units."""
    with seeded(seed):
        if units is None:
            units = 256
            head = call_student(head_class, in_channels, forbidden=HEAD_REFERENCE,
                                part="the projection head")
            if not isinstance(head, nn.Module):
                raise AssertionError("ProjectionHead(...) must be an nn.Module")
        else:
            head = _build_head(head_class, in_channels, units)
    expected = in_channels * units + units + units * units + units
    before = {id(p) for p in head.parameters()}
    count = count_parameters(head)
    if count == 0:
        raise AssertionError("the head has no parameters after construction: build its layers "
                             "in __init__, not in forward (an optimizer made before the first "
                             "step would not train them)")
    shapes = [tuple(m.weight.shape) for m in _linears(head, in_channels)]
    if shapes != [(units, in_channels), (units, units)]:
        raise AssertionError(f"the head's Linear layers have weights of shapes {shapes}; "
                             f"expected two: Linear({in_channels} -> {units}), then "
                             f"Linear({units} -> {units}), i.e. [{(units, in_channels)}, "
                             f"{(units, units)}]")
    if count != expected:
        raise AssertionError(f"the head has {count} parameters; two Linear layers with biases "
                             f"have {in_channels} * {units} + {units} + {units} * {units} + "
                             f"{units} = {expected}")
    with torch.no_grad(), seeded(seed):
        _head_forward(head, torch.randn(3, in_channels))
    if {id(p) for p in head.parameters()} != before or count_parameters(head) != count:
        raise AssertionError("the forward pass created or replaced parameters: build every "
                             "layer in __init__")


def check_head_matches_reference(head_class: Callable, *, in_channels: int = 6, units: int = 16,
                                 shape: tuple[int, ...] = (5,), seed: int = 0) -> None:
    """With the weights of coursekit's ProjectionHead copied into its two Linear layers, the
    head gives the same output on an input of shape ``shape + (in_channels,)`` (e.g. (5,) for
    5 vectors, (2, 7) for 2 images x 7 patches), and every output vector has unit length."""
    with seeded(seed):
        ref = ProjectionHead(in_channels, units)  # PyTorch's default init: biases non-zero
        head = _build_head(head_class, in_channels, units)
    linears = _linears(head, in_channels)
    ref_linears = [m for m in ref.modules() if isinstance(m, nn.Linear)]
    if [tuple(m.weight.shape) for m in linears] != [tuple(m.weight.shape) for m in ref_linears]:
        raise AssertionError(f"expected two Linear layers, {in_channels} -> {units} and "
                             f"{units} -> {units}, built in __init__; found "
                             f"{[tuple(m.weight.shape) for m in linears]}")
    copy_weights(ref_linears, linears)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(*shape, in_channels, generator=gen)
    with torch.no_grad():
        expected = ref(x)
        got = _head_forward(head, x.clone())
    what = f"the head's output for an input of shape {tuple(x.shape)}"
    assert_close(got, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL, what=what)
    norms = got.norm(dim=-1)
    assert_close(norms, torch.ones_like(norms), atol=LOSS_ATOL, rtol=0,
                 what=f"the lengths of the output vectors (the last dimension) for an input of "
                      f"shape {tuple(x.shape)}")


def check_head_runs(head_class: Callable) -> None:
    """ProjectionHead(3, 4) maps (2, 3) to (2, 4)."""
    head = _build_head(head_class, 3, 4)
    with torch.no_grad():
        out = _head_forward(head, torch.randn(2, 3))
    if tuple(out.shape) != (2, 4):
        raise AssertionError(f"ProjectionHead(3, 4) should map (2, 3) to (2, 4), got "
                             f"{tuple(out.shape)}")


# ------------------------------------------------------------------------------------------
# Part 4: PatchNCE over the layers of a generator
class _FixedSampler:
    """coursekit's sampler with locations that depend only on the map's size and a seed, so
    the student's calls and the reference draw the same ones however often they are made
    (one call for all layers, or one per layer).

    ``sides``: (output-side features, input-side features) that the calls must be given as
    query and key features. With locations fixed by size, sampling each side in a call of its
    own (``sample_patches(q, q, n)``, ``sample_patches(k, k, n)``) would pass unnoticed; with
    a random sampler it pairs query and key patches at different places."""

    def __init__(self, num_patches: int, seed: int,
                 sides: tuple[Sequence[Tensor], Sequence[Tensor]] | None = None):
        self.num_patches, self.seed, self.sides = num_patches, seed, sides

    def draw(self, features: Sequence[Tensor]) -> list[Tensor]:
        ids = []
        for f in features:
            locations = f.shape[2] * f.shape[3]
            gen = torch.Generator().manual_seed(self.seed * 100003 + locations)
            ids.append(torch.randperm(locations, generator=gen)[: min(self.num_patches, locations)])
        return ids

    def sample_patches(self, query_features, key_features, num_patches):
        """What the student's function receives as ``sample_patches``."""
        if num_patches != self.num_patches:
            raise AssertionError(f"call sample_patches with num_patches={self.num_patches} "
                                 f"(the argument your function received), got {num_patches}")
        if self.sides is not None:
            for given, side, name, images in ((query_features, self.sides[0], "query", "output"),
                                              (key_features, self.sides[1], "key", "source")):
                if not all(_one_of(f, side) for f in given):
                    raise AssertionError(
                        f"sample_patches was called with {name}_features that are not the "
                        f"encoder's features of `{images}`: call it with the output side's "
                        f"features as query_features and the input side's as key_features, so "
                        f"that it draws the same locations for both")
        ids = self.draw(key_features)
        return ([PatchSampler.gather(f, i) for f, i in zip(query_features, ids)],
                [PatchSampler.gather(f, i) for f, i in zip(key_features, ids)])


def _one_of(feature: Tensor, candidates: Sequence[Tensor]) -> bool:
    """``feature`` equals one of ``candidates``: the same G on the same images, maybe batched
    differently, agrees to float32 rounding (~1e-6 relative), while the features of the source
    and of its translation differ by O(1); the tolerance lies between."""
    if not isinstance(feature, Tensor):
        return False
    return any(feature.shape == c.shape and torch.allclose(feature.detach(), c, atol=1e-4, rtol=1e-3)
               for c in candidates)


def _nce_without_detach(query: Tensor, key: Tensor, temperature: float = 0.07) -> Tensor:
    """InfoNCE (Eq. 3.6) that lets gradients reach the key: the part 4 checks hand this to
    the student, so that only the student's own code can make the input side a fixed target."""
    logits = torch.bmm(query, key.transpose(1, 2)) / temperature
    target = torch.arange(query.shape[1]).expand(query.shape[0], -1)
    return F.cross_entropy(logits.transpose(1, 2), target)


def _tiny_cut(seed: int, ngf: int, n_blocks: int, units: int, layers: Sequence[int],
              cut_init_heads: bool = True):
    """A small generator and its heads. ``cut_init_heads=False`` keeps PyTorch's initialisation
    of the heads (non-zero biases) instead of CUT's (zero biases): with zero biases, an all-zero
    feature vector (common after a ReLU in a narrow net) embeds to exactly 0, where L2
    normalisation's gradient is 1/eps (1e11 measured), and a comparison of gradients would
    measure rounding noise times 1e11."""
    with seeded(seed):
        G = init_weights(ResnetGenerator(3, 3, ngf=ngf, n_blocks=n_blocks, norm="instance"))
        projector = PatchProjector(G.feature_channels(layers), units=units)
        heads = (init_weights(projector) if cut_init_heads else projector).heads
    return G, heads


def _multilayer(multilayer_patch_nce, G, heads, source, output, layers, sampler, nce_loss,
                seconds=None):
    out = call_student(multilayer_patch_nce, G, heads, source, output, tuple(layers),
                       sampler.sample_patches, nce_loss, sampler.num_patches,
                       forbidden=MULTILAYER_REFERENCE, part="the multi-layer PatchNCE",
                       seconds=seconds)
    if not isinstance(out, Tensor) or out.dim() != 0:
        raise AssertionError("multilayer_patch_nce must return one number (a 0-dim tensor)")
    return out


def _reference_multilayer(G, heads, source, output, layers, sampler) -> Tensor:
    """CUT.nce_loss (the library's Eq. 3.7) with these networks and the fixed locations."""
    with seeded(0):  # its own heads are replaced at once: leave the global generator alone
        projector = PatchProjector([h[0].in_features for h in heads],
                                   units=heads[0][0].out_features)
    projector.heads = heads
    model = SimpleNamespace(G=G, H=projector, sampler=sampler,
                            config=SimpleNamespace(nce_layers=tuple(layers), nce_temperature=0.07))
    return CUT.nce_loss(model, source, output)


def _grads(modules: Sequence[nn.Module]) -> list[Tensor]:
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            for m in modules for p in m.parameters()]


def _assert_network_gradients(G: nn.Module, heads: nn.Module, reference: list[Tensor],
                              what: str) -> None:
    """The gradients of G's weights and of the heads' equal ``reference`` (``_grads([G, heads])``
    of the reference), each network against its own largest gradient."""
    mine = _grads([G, heads])
    n_generator = len(list(G.parameters()))
    for name, part in (("the generator", slice(0, n_generator)),
                       ("the heads", slice(n_generator, None))):
        _assert_gradients_close(torch.cat([g.flatten() for g in mine[part]]),
                                torch.cat([g.flatten() for g in reference[part]]),
                                f"the gradients of {name}'s weights {what}")


def check_multilayer_matches_reference(multilayer_patch_nce: Callable, *, layers=(0, 4, 7, 10),
                                       batch: int = 2, size: int = 16, ngf: int = 4,
                                       n_blocks: int = 2, num_patches: int = 12,
                                       seed: int = 0) -> None:
    """With coursekit's sampler and loss as arguments, the value equals coursekit's
    CUT.nce_loss (the mean over the layers of the mean InfoNCE), and so do the gradients of
    the generator (through its encoder and, via ``output``, its decoder) and of every head.
    Catches a sum over layers, query and key swapped, one head for all layers, the output
    detached, the two sides sampled in separate calls."""
    G, heads = _tiny_cut(seed, ngf, n_blocks, 8, layers, cut_init_heads=False)
    gen = torch.Generator().manual_seed(seed + 1)
    source = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
    # The translations keep their graph, as in training, so that PatchNCE reaches G's decoder
    # through them; one copy each for the reference and the student (a backward frees it).
    output_ref, output = G(source), G(source)
    with torch.no_grad():
        sides = (G(output, encode_layers=layers), G(source, encode_layers=layers))
    sampler = _FixedSampler(num_patches, seed, sides)
    G.zero_grad(), heads.zero_grad()
    expected = _reference_multilayer(G, heads, source, output_ref, layers, sampler)
    expected.backward()
    ref_grads = _grads([G, heads])
    G.zero_grad(), heads.zero_grad()
    got = _multilayer(multilayer_patch_nce, G, heads, source, output, layers, sampler,
                      patchnce.patch_nce_loss)
    what = f"multilayer_patch_nce over layers {tuple(layers)}"
    assert_close(got, expected, atol=LOSS_ATOL, rtol=LOSS_RTOL, what=what)
    if not got.requires_grad:
        raise AssertionError(f"{what} does not depend on the generator's weights")
    got.backward()
    _assert_network_gradients(G, heads, ref_grads, f"from {what}")


def check_multilayer_input_side_fixed(multilayer_patch_nce: Callable, *, layers=(0, 4, 7),
                                      batch: int = 2, size: int = 16, ngf: int = 4,
                                      n_blocks: int = 1, num_patches: int = 8,
                                      seed: int = 3) -> None:
    """Given a loss that does *not* detach its key, the input side still gets no gradient:
    not the source image, not the generator through its features of the source, not the
    heads through the key embeddings. Generator and head gradients equal the reference's."""
    G, heads = _tiny_cut(seed, ngf, n_blocks, 8, layers, cut_init_heads=False)
    gen = torch.Generator().manual_seed(seed + 1)
    base = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
    output_ref, output = G(base), G(base)  # with their graphs, as in training
    with torch.no_grad():
        sides = (G(output, encode_layers=layers), G(base, encode_layers=layers))
    sampler = _FixedSampler(num_patches, seed, sides)
    G.zero_grad(), heads.zero_grad()
    _reference_multilayer(G, heads, base, output_ref, layers, sampler).backward()
    ref_grads = _grads([G, heads])
    G.zero_grad(), heads.zero_grad()
    source = base.clone().requires_grad_(True)
    got = _multilayer(multilayer_patch_nce, G, heads, source, output, layers, sampler,
                      _nce_without_detach)
    got.backward()
    if source.grad is not None and source.grad.abs().max() > 0:
        raise AssertionError("the source image received a gradient: compute the input side "
                             "(its encoder features and their embeddings) under torch.no_grad()")
    _assert_network_gradients(G, heads, ref_grads, "(the input side must be a fixed target: "
                                                    "torch.no_grad())")


#: The pass mark of the PatchNCE training run (40 steps at 16 px, seed 0 graded): the loss
#: cannot go much lower, because the flat background's patches look alike.
TRAINING_RUN = (
    Threshold("ratio", "the PatchNCE loss of the last 5 steps, as a fraction of the first 5's",
              0.7, higher_is_better=False, correct=(0.39, 0.56), measured="seeds 0..11, 40 steps",
              untrained=(0.95, 1.06)),
)


def check_nce_training_run(multilayer_patch_nce: Callable, *, steps: int = 40, size: int = 16,
                           batch: int = 2, ngf: int = 8, n_blocks: int = 1,
                           layers=(0, 4, 7, 10), num_patches: int = 16, lr: float = 3e-3,
                           max_ratio: float = TRAINING_RUN[0].limit, seed: int = 0,
                           seconds: float = 90.0) -> dict[str, float]:
    """``steps`` Adam steps on the generator and the heads with the PatchNCE loss alone, on
    synthetic horses (rendered at 32 px, average-pooled to ``size``): the mean loss of the last
    5 steps must fall below ``max_ratio`` times that of the first 5 (:data:`TRAINING_RUN`: the
    measurements behind it; "without training" is lr = 0). Returns {"first", "last",
    "ratio"}."""
    from coursekit.data.synthetic.zebras import SyntheticZebras

    G, heads = _tiny_cut(seed, ngf, n_blocks, 32, layers)
    data = SyntheticZebras("train", size=32, length=steps * batch)
    images = F.adaptive_avg_pool2d(torch.stack([data[i]["A"] for i in range(steps * batch)]), size)
    opt = gan_adam(list(G.parameters()) + list(heads.parameters()), lr)

    def step(k: int) -> float:
        x = images[k * batch:(k + 1) * batch]
        loss = _multilayer(multilayer_patch_nce, G, heads, x, G(x), layers,
                           _FixedSampler(num_patches, seed + k), patchnce.patch_nce_loss,
                           seconds=0)  # the whole run has one time limit
        if not loss.requires_grad:
            raise AssertionError("the loss does not depend on the generator's or the heads' "
                                 "weights: nothing would train")
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.detach())

    def scores(losses: list[float]) -> dict[str, float]:
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        return {"first": first, "last": last, "ratio": last / first}

    return training_run(step, steps, scores,
                        (dataclasses.replace(TRAINING_RUN[0], limit=max_ratio),), seconds=seconds)


def check_multilayer_uses_its_arguments(multilayer_patch_nce: Callable, *, layers=(0, 4, 7),
                                        batch: int = 2, size: int = 8, num_patches: int = 4,
                                        seed: int = 0) -> None:
    """The loss of every layer comes from the ``nce_loss`` passed in, called once per layer
    (as the notebook asks, so that a mistake in part 1 does not cost these points too; one call
    on the patches of all layers together would mix the layers' negatives).

    Catches the notebook's own ``patch_nce_loss`` called instead of the argument."""
    G, heads = _tiny_cut(seed, 2, 1, 4, layers)
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    nce = Counted(patchnce.patch_nce_loss)
    _multilayer(multilayer_patch_nce, G, heads, x, G(x), layers, _FixedSampler(num_patches, seed),
                nce)
    if nce.calls != len(layers):
        raise AssertionError(f"nce_loss (the argument) was called {nce.calls} time(s) for "
                             f"{len(layers)} layers: compute each layer's loss with it, once per "
                             f"layer")


def check_multilayer_runs(multilayer_patch_nce: Callable) -> None:
    """multilayer_patch_nce returns one number for a tiny generator."""
    layers = (0, 4)
    G, heads = _tiny_cut(0, 2, 1, 4, layers)
    x = torch.zeros(1, 3, 8, 8)
    with torch.no_grad():
        out = G(x)
    with quiet():
        _multilayer(multilayer_patch_nce, G, heads, x, out, layers, _FixedSampler(4, 0),
                    patchnce.patch_nce_loss)


one_thread_checks(globals())  # see checks.one_thread
