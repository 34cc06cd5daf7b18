"""The contract every translation method satisfies, checked for each name in
``coursekit.models.METHODS`` (collected by tests/test_method_contract.py).

A method joins by being registered in ``METHODS`` and described below in three dictionaries:
``TINY`` (small settings for its fast preset), ``EVAL_KEYS`` (what its ``evaluate`` returns) and
``ADVERSARIAL`` (its generator/discriminator pairs); the first test fails until it is. Optional
hooks: ``VARIANTS`` (ablations the gradient rules must hold for too), ``EVAL_RELATIONS`` and
``STATE_CHECKS`` (its own state, such as CycleGAN's pools, so that the state comparisons are
known to cover it). What only one method
has (its loss equations against hand-computed values, its ablations, its presets) stays in its
own test file (tests/test_<method>.py).

To be registered, a method's module must satisfy:

1. **Module.** ``Config`` is a dataclass with a nested ``train: TrainConfig`` and the presets
   ``Config.paper()`` and ``Config.fast(**overrides)``; ``build(config)`` returns a
   ``coursekit.train.Method``; ``DEFAULT_DATA`` names an offline synthetic dataset;
   ``PAIRED`` says whether it needs aligned pairs (then ``DEFAULT_DATA`` is paired).
2. **Checkpoint round trip.** A checkpoint written by ``fit`` rebuilds, through
   ``coursekit.models.load_trained``, a method whose config equals the one trained (nested
   ``TrainConfig`` included, fastcut's ``FastCUTConfig`` staying that class) and whose state
   (weights, buffers and extra state such as CycleGAN's image pools) is the trained one.
3. **No lazy modules.** The modules, parameters, buffers and ``state_dict`` keys after
   construction are all there is: ``configure_optimizers``, a training step, ``translate``,
   ``visuals`` and ``evaluate`` create none. Every parameter that requires a gradient at
   construction is in exactly one optimizer.
4. **A training step** on a batch of ``DEFAULT_DATA`` returns a non-empty dict of finite scalar
   losses, and every parameter in an optimizer gets a gradient from the loss that steps it:

   * each such parameter has a gradient tensor (``backward_and_step`` sets gradients to None
     before its backward pass, so None means the parameter is not in that loss's graph: a
     detached output, a frozen network, an unused module) and it is finite;
   * each gradient is nonzero somewhere and the parameter moved (its optimizer stepped),
     **except** a bias that goes straight into a BatchNorm/InstanceNorm (the next layer of a
     ``nn.Sequential``). The norm subtracts the per-channel mean, so such a bias cancels and
     its gradient through the norm is analytically zero; backpropagation returns rounding
     noise (1e-8..1e-6 in CycleGAN's generators) instead, neither reliably zero nor a sign of
     learning, so for those only the presence of the gradient is required. (Where the output
     before the norm is read as well, as CUT's PatchNCE layers 4 and 8 are, the bias does get
     a real gradient; the exemption only relaxes the check.) Every other parameter, weights,
     biases and norm scales alike, must get a nonzero gradient (an exact zero is not rounding:
     the parameter does not learn);
   * a parameter in no optimizer (CycleGAN's discriminators in the "cycle alone" ablation,
     pix2pix's in "L1 only") may get no gradient but must not change;
   * each generator's gradient depends on the discriminator(s) it plays against
     (``ADVERSARIAL``): with the discriminator's weights perturbed, every weight gradient of
     the generator differs. A generator output detached before the adversarial term leaves
     the gradient unchanged, even where the cycle, identity, L1 or PatchNCE terms still reach
     every weight (``test_the_gradient_checks_can_fail`` shows both checks catching such
     mistakes).
   * a network the method keeps as a moving average of another (``averaged_networks``:
     DDPM's ``net_ema``) gets no gradient and moves part of the way to its network, by the
     same fraction for every weight.
5. **Outputs.** ``translate(batch["A"])`` and ``visuals(batch)`` (in eval mode, without
   gradients, as the loop calls it) give ``(N, 3, H, W)`` images of the batch's size in
   [-1, 1]; ``evaluate(dataset)`` on ``DEFAULT_DATA``'s test split returns exactly the keys in
   ``EVAL_KEYS``, as finite Python floats within the bounds of ``EVAL_BOUNDS``.
6. **Command line** (slow): ``coursekit train METHOD --steps 2 --out run`` then ``coursekit eval
   METHOD --checkpoint run/latest.pt --json`` (the real entry point, in a subprocess) trains the
   fast preset, records it in the checkpoint, and prints the scores of rule 5.
7. **Exact resume.** A run of 4 steps and a run interrupted after 2 steps (Ctrl-C) and resumed
   to 4 end with the same checkpoint: weights, buffers, method state (image pools, ...),
   optimizer and scheduler state, random-number state and position, bit for bit on one CPU
   thread. So a method draws its randomness from the global generators and keeps any other
   state in ``get_extra_state``/``set_extra_state`` (see ``coursekit/train/method.py``).
8. **Course checkpoint.** ``inference_networks`` names networks of the method, and a folder
   written by ``coursekit.pretrained.save`` (those networks in float16) loads back into a
   method that translates as the original does, within float16's rounding.
9. **Several processes** (slow). Under torchrun every network is wrapped in
   DistributedDataParallel, and a network called several times in one step (BicycleGAN's G
   with two codes, every discriminator on real and fake images) must still get the average
   of the processes' gradients: one step on two Gloo processes, each with its own items and
   random draws, leaves every parameter with the mean of the gradients that one process gets
   from each rank's step alone.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch import Tensor, nn

from coursekit.data import SYNTHETIC, get_dataset
from coursekit.models import (METHODS, load_method_module, load_trained, method_classes,
                              method_name_of)
from coursekit.train import Method, TrainConfig, fit, load_checkpoint, seed_everything

NAMES = sorted(METHODS)
COURSEKIT = str(Path(sys.executable).parent / "coursekit")  # the console script, as users run it

# ------------------------------------------------------------------------- per-method data
#: ``Config.fast(**TINY[name])``: the fast preset with small images and widths, so that a
#: training step takes a few hundredths of a second. Each keeps what the rules must exercise:
#: pix2pix at 64 px with a 6-level U-Net has a dropout layer (randomness that resume must
#: replay), CycleGAN's 3-image pools fill and swap within a few steps, CUT keeps the fast
#: preset's 4 blocks so its PatchNCE layers exist. 32 px is the smallest synthetic image.
TINY: dict[str, dict[str, Any]] = {
    "pix2pix": {"image_size": 64, "num_downs": 6, "ngf": 4, "ndf": 4},
    "cyclegan": {"image_size": 32, "ngf": 4, "n_blocks": 1, "ndf": 4, "d_layers": 1,
                 "pool_size": 3},
    "cut": {"image_size": 32, "ngf": 4, "ndf": 4, "d_layers": 1, "num_patches": 8,
            "head_units": 8},
    "fastcut": {"image_size": 32, "ngf": 4, "ndf": 4, "d_layers": 1, "num_patches": 8,
                "head_units": 8},
    "bicyclegan": {"image_size": 32, "num_downs": 5, "ngf": 4, "nef": 4, "e_blocks": 2, "ndf": 4,
                   "d_layers": 1},
    "spade": {"image_size": 32, "num_up": 3, "ngf": 2, "spade_hidden": 8, "ndf": 4, "d_layers": 1,
              "nz": 8, "nef": 4, "e_blocks": 2},
    "munit": {"image_size": 32, "dim": 4, "n_res": 1, "mlp_dim": 8, "ndf": 4, "d_layers": 2},
    # Two levels with attention at 16 px; two DDIM steps to edit and to sample, 8 test guides.
    # No gradient clipping: rule 9 compares the gradient of two processes with the mean of two
    # single-process ones, and clipping each by its own norm is not linear (test_ddpm checks
    # the clipping).
    "ddpm": {"image_size": 32, "ch": 8, "ch_mult": (1, 2), "attn_resolutions": (16,),
             "groups": 4, "sample_steps": 2, "edit_steps": 2, "repeats": 1, "eval_items": 8,
             "grad_clip": 0.0},
}

#: What ``evaluate`` returns on the method's DEFAULT_DATA (coursekit.data.evaluation): the
#: FCN-score numbers and L1 for pix2pix on synthetic-facades; per direction on
#: synthetic-zebras, two for CycleGAN (which also reports the horse rate of B -> A), one for
#: CUT/FastCUT.
EVAL_KEYS: dict[str, set[str]] = {
    "pix2pix": {"l1", "pixel_accuracy", "class_accuracy", "class_iou"},
    "cyclegan": {"AtoB_silhouette_iou", "AtoB_background_preservation", "AtoB_zebra_rate",
                 "AtoB_stripe_score",
                 "BtoA_silhouette_iou", "BtoA_background_preservation", "BtoA_zebra_rate",
                 "BtoA_stripe_score", "BtoA_horse_rate"},
    "cut": {"AtoB_silhouette_iou", "AtoB_background_preservation", "AtoB_zebra_rate",
            "AtoB_stripe_score"},
    "fastcut": {"AtoB_silhouette_iou", "AtoB_background_preservation", "AtoB_zebra_rate",
                "AtoB_stripe_score"},
    # Samples with random codes (coursekit.data.evaluation.evaluate_samples).
    "bicyclegan": {"pixel_accuracy", "class_accuracy", "class_iou", "diversity", "modes_covered",
                   "modes_per_input", "mode_tv", "num_modes", "faithful_rate", "recall_distance",
                   "precision_distance", "encode_decode_accuracy", "encode_decode_l1"},
    "spade": {"l1", "pixel_accuracy", "class_accuracy", "class_iou", "detail"},
    # Per direction: random styles (evaluate_samples; the winter modes, i.e. times of day, and
    # the true renders are known for summer -> winter only) and example-guided (guided_).
    "munit": {f"{d}_{k}" for d in ("AtoB", "BtoA") for k in (
        "pixel_accuracy", "class_accuracy", "class_iou", "detail", "season_rate", "time_kept",
        "diversity", "faithful_rate", "guided_pixel_accuracy", "guided_class_accuracy",
        "guided_class_iou", "guided_detail", "guided_season_rate",
        "guided_time_follows_reference", "guided_l1", "guided_time_kept")}
    | {f"AtoB_{k}" for k in ("modes_covered", "modes_per_input", "mode_tv", "num_modes",
                             "recall_distance", "precision_distance")},
    # SDEdit of synthetic-strokes' guides, and unconditional samples (sample_).
    "ddpm": {"l1", "faithfulness", "faithfulness_distance", "realism", "realism_distance",
             "sample_realism", "sample_realism_distance"},
}

#: Range of each score (keys without their AtoB_/BtoA_ and guided_ prefixes). Rates, accuracies, IoUs and
#: the fraction of background kept are fractions; L1 between two images in [-1, 1] is at most
#: 2; the stripe score is a mean absolute luminance residual in 0..1 units.
EVAL_BOUNDS: dict[str, tuple[float, float]] = {
    "l1": (0.0, 2.0), "pixel_accuracy": (0.0, 1.0), "class_accuracy": (0.0, 1.0),
    "class_iou": (0.0, 1.0), "silhouette_iou": (0.0, 1.0), "background_preservation": (0.0, 1.0),
    "zebra_rate": (0.0, 1.0), "horse_rate": (0.0, 1.0), "stripe_score": (0.0, 1.0),
    # Mean L1 between images in [-1, 1]; counts of synthetic-facades' 4 styles; a TV distance.
    "diversity": (0.0, 2.0), "modes_covered": (0.0, 4.0), "modes_per_input": (0.0, 4.0),
    "mode_tv": (0.0, 1.0), "faithful_rate": (0.0, 1.0),
    # synthetic-facades' 4 styles, synthetic-seasons' 3 times of day (EVAL_RELATIONS: exact).
    "num_modes": (3.0, 4.0),
    "recall_distance": (0.0, 2.0), "precision_distance": (0.0, 2.0),
    "encode_decode_accuracy": (0.0, 1.0), "encode_decode_l1": (0.0, 2.0),
    # Landscapes' detail: a mean absolute high-pass residual in 0..1 units.
    "detail": (0.0, 1.0),
    # synthetic-seasons: fractions of outputs.
    "season_rate": (0.0, 1.0), "time_kept": (0.0, 1.0), "time_follows_reference": (0.0, 1.0),
    # synthetic-strokes: exp(-distance / scale) and a pass rate; an RMS distance between images
    # in [-1, 1] (at most 2); a Mahalanobis distance (unbounded above).
    "faithfulness": (0.0, 1.0), "faithfulness_distance": (0.0, 2.0), "realism": (0.0, 1.0),
    "realism_distance": (0.0, math.inf),
}

#: Relations between scores that a method's evaluation promises.
EVAL_RELATIONS: dict[str, Callable[[dict], None]] = {
    # Both rates come from one count over the same outputs: equal up to float rounding.
    "cyclegan": lambda s: _check(s["BtoA_horse_rate"] == pytest.approx(1 - s["BtoA_zebra_rate"]),
                                 "BtoA_horse_rate is not 1 - BtoA_zebra_rate", s),
    "bicyclegan": lambda s: _check(s["num_modes"] == 4.0, "synthetic-facades has 4 styles", s),
    # Winter's modes are the 3 times of day; the samples cannot show more.
    "munit": lambda s: _check(s["AtoB_num_modes"] == 3.0
                              and s["AtoB_modes_covered"] <= 3.0 >= s["AtoB_modes_per_input"],
                              "synthetic-seasons has 3 times of day", s),
}

#: (generator, discriminator) pairs: the generator's gradient must depend on that
#: discriminator (the adversarial term reaches the generator).
ADVERSARIAL: dict[str, list[tuple[str, str]]] = {
    "pix2pix": [("G", "D")],
    "cyclegan": [("G_AB", "D_B"), ("G_BA", "D_A")],
    "cut": [("G", "D")],
    "fastcut": [("G", "D")],
    # G plays both discriminators; E's code reaches D through G(A, E(B)).
    "bicyclegan": [("G", "D"), ("G", "D2"), ("E", "D")],
    "spade": [("G", "D")],
    # Each decoder plays its domain's D; the content encoders reach D through the translations.
    "munit": [("G_A", "D_A"), ("G_B", "D_B"), ("Ec_A", "D_B"), ("Ec_B", "D_A")],
    "ddpm": [],  # regression on the noise: no discriminator
}

#: Settings of a method (besides its preset) whose training step the gradient rules must hold
#: for too: loss ablations that leave a network without an optimizer.
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "pix2pix": {"l1_only": {"lambda_gan": 0.0}, "cgan_only": {"lambda_l1": 0.0}},
    "cyclegan": {
        # The paper's ablation (coursekit.models.cyclegan.ABLATIONS), written out here.
        "no_identity": {"lambda_identity": 0.0},
        "cycle_alone": {"lambda_gan": 0.0, "lambda_identity": 0.0},
        "gan_alone": {"lambda_cycle_A": 0.0, "lambda_cycle_B": 0.0, "lambda_identity": 0.0},
        "gan_forward_cycle": {"lambda_cycle_B": 0.0, "lambda_identity": 0.0},
        "gan_backward_cycle": {"lambda_cycle_A": 0.0, "lambda_identity": 0.0},
    },
    "bicyclegan": {
        # The paper's baselines (coursekit.models.bicyclegan.ABLATIONS), written out here.
        "pix2pix_noise": {"use_encoder": False, "lambda_kl": 0.0, "lambda_gan2": 0.0,
                          "lambda_z": 0.0},
        "cvae_gan": {"lambda_gan2": 0.0, "lambda_z": 0.0},
        "clr_gan": {"lambda_l1": 0.0, "lambda_gan": 0.0, "lambda_kl": 0.0,
                    "latent_updates_E": True},
        "z_at_input": {"inject": "input"},
        "conditional_d": {"conditional_d": True},
    },
    "spade": {"vae": {"use_vae": True}, "no_feature_matching": {"lambda_feat": 0.0},
              "instance_norm": {"norm_G": "instance"}, "concat": {"condition": "concat"},
              "random_input": {"random_input": True}},
    # The paper's ablation (coursekit.models.munit.ABLATIONS), written out here.
    "munit": {"no_image_recon": {"lambda_x": 0.0}, "no_content_recon": {"lambda_c": 0.0},
              "no_style_recon": {"lambda_s": 0.0}, "no_cycle": {"lambda_cycle": 0.0},
              "gan_off": {"lambda_gan": 0.0}},
}


def _cyclegan_state(method, steps: int, batch_size: int) -> None:
    # Each step stores its fakes until the pool is full: the state a resume must carry.
    want = min(steps * batch_size, method.config.pool_size)
    assert len(method.pool_A) == len(method.pool_B) == want, (len(method.pool_A), want)


#: Checks of a trained method's own state (beyond parameters and buffers), so that the
#: comparisons of rules 2 and 7 are known to cover something: (method, steps, batch_size).
STATE_CHECKS: dict[str, Callable[[Any, int, int], None]] = {"cyclegan": _cyclegan_state}


def _hinge_logit_biases(method) -> set[int]:
    # The hinge loss's D term is mean(relu(1 - D(real))) + mean(relu(1 + D(fake))): while every
    # logit lies in (-1, 1), as at the start, a shift of all logits (the last conv's bias)
    # changes the two means by opposite amounts, so its gradient is exactly -1 + 1 = 0.
    return {id(scale.model[-1].bias) for scale in method.D.scales}


#: Parameters whose gradient is analytically zero in a first step (beside the norm-fed biases
#: of rule 4): only their gradient's presence is checked.
ANALYTIC_ZEROS: dict[str, Callable[[Any], set[int]]] = {"spade": _hinge_logit_biases}


# ------------------------------------------------------------------------- helpers
def _check(condition: bool, message: str, *details: Any) -> None:
    assert condition, (message, *details)


def tiny_config(name: str, train: TrainConfig | None = None, **overrides):
    module = load_method_module(name)
    values = {**TINY[name], **overrides}
    if train is not None:
        values["train"] = train
    return module.Config.fast(**values)


def tiny_method(name: str, seed: int = 0, **overrides) -> Method:
    seed_everything(seed)
    return load_method_module(name).build(tiny_config(name, **overrides))


def train_data(name: str, length: int = 6):
    return get_dataset(load_method_module(name).DEFAULT_DATA, split="train",
                       size=TINY[name]["image_size"], length=length)


def eval_data(name: str, length: int = 4):
    return get_dataset(load_method_module(name).DEFAULT_DATA, split="test",
                       size=TINY[name]["image_size"], length=length)


def a_batch(name: str, n: int = 2) -> dict:
    data = train_data(name, length=n)
    return torch.utils.data.default_collate([data[i] for i in range(n)])


@contextlib.contextmanager
def eval_mode(method: nn.Module):
    """As the loop calls visuals/evaluate: eval mode, no gradients, train flags restored."""
    modes = [(m, m.training) for m in method.modules()]
    method.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training


@pytest.fixture
def one_thread():
    """Bitwise comparisons: the same reduction order in both runs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def flat_state(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a (nested) state: ``state_dict()`` with extra states such as the image
    pools opened up, optimizer states, random states."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flat_state(item, f"{prefix}{key}."))
        return out or {prefix: "{}"}
    if isinstance(value, (list, tuple)):
        out = {}
        for i, item in enumerate(value):
            out.update(flat_state(item, f"{prefix}{i}."))
        return out or {prefix: "[]"}
    return {prefix: value}


def assert_same_state(want: dict, got: dict) -> None:
    want, got = flat_state(want), flat_state(got)
    assert want.keys() == got.keys(), sorted(set(want) ^ set(got))[:10]
    for key, value in want.items():
        if isinstance(value, Tensor):
            assert isinstance(got[key], Tensor) and value.dtype == got[key].dtype, key
            assert torch.equal(value, got[key]), key
        else:
            assert value == got[key], (key, value, got[key])


def structure(method: nn.Module) -> dict[str, set]:
    """Every module, parameter and buffer (by name, identity and shape) and state_dict key."""
    return {
        "modules": {(n, type(m).__qualname__, id(m)) for n, m in method.named_modules()},
        "parameters": {(n, id(p), tuple(p.shape)) for n, p in method.named_parameters()},
        "buffers": {(n, tuple(b.shape)) for n, b in method.named_buffers()},
        "state_dict": set(method.state_dict()),
    }


def assert_images(images: Any, n: int, size: int, what: str) -> None:
    """(n, 3, size, size) floating-point images in [-1, 1] (no tolerance: the generators end in
    tanh and the data is in [-1, 1])."""
    assert isinstance(images, Tensor), (what, type(images))
    assert images.shape == (n, 3, size, size), (what, tuple(images.shape))
    assert images.is_floating_point() and torch.isfinite(images).all(), what
    assert float(images.min()) >= -1.0 and float(images.max()) <= 1.0, (
        what, float(images.min()), float(images.max()))


def assert_scores(name: str, scores: Any) -> None:
    assert isinstance(scores, dict), type(scores)
    assert set(scores) == EVAL_KEYS[name], (sorted(set(scores) ^ EVAL_KEYS[name]), scores)
    for key, value in scores.items():
        assert type(value) is float and math.isfinite(value), (key, value)
        low, high = EVAL_BOUNDS[key.removeprefix("AtoB_").removeprefix("BtoA_")
                                .removeprefix("guided_").removeprefix("sample_")]
        assert low <= value <= high, (key, value)
    EVAL_RELATIONS.get(name, lambda s: None)(scores)


def _method_name(method) -> str | None:
    return method_name_of(f"{type(method).__module__}.{type(method).__qualname__}")


def norm_fed_biases(method: nn.Module) -> set[int]:
    """ids of the biases whose layer is followed directly (in a ``nn.Sequential``) by a
    BatchNorm or InstanceNorm: their gradient is analytically zero (see rule 4)."""
    ids = set()
    for module in method.modules():
        if isinstance(module, nn.Sequential):
            layers = list(module)
            for layer, following in zip(layers, layers[1:]):
                bias = getattr(layer, "bias", None)
                if isinstance(following, nn.modules.batchnorm._NormBase) and \
                        isinstance(bias, nn.Parameter):
                    ids.add(id(bias))
    return ids


def check_moving_average(name: str, old: Tensor, new: Tensor, source: Tensor) -> None:
    """An averaged parameter (``Method.averaged_networks``) after a step: new = old +
    (1 - rate) (source - old) for one rate in (0, 1), the same for every element."""
    assert not new.requires_grad, f"{name} is a moving average but requires a gradient"
    gap = source - old
    moved = new - old
    assert bool((moved != 0).any()), f"{name} is a moving average but did not move"
    fraction = (moved * gap).sum() / (gap * gap).sum()
    assert 0 < float(fraction) < 1, (name, float(fraction))
    # float32 rounding of the update: a few ulps of the weights (|w| < 4: 5e-7 each).
    torch.testing.assert_close(moved, fraction * gap, rtol=0, atol=2e-6, msg=name)


def step_and_check_gradients(method: Method, batch: dict) -> dict[str, float]:
    """One training step on a fresh method, then rule 4. Returns the losses as floats."""
    names = {id(p): n for n, p in method.named_parameters()}
    assert all(p.grad is None for p in method.parameters()), "a fresh method has no gradients"
    optimized = {id(p) for opt in method.optimizers.values() for group in opt.param_groups
                 for p in group["params"]}
    exempt = norm_fed_biases(method) | ANALYTIC_ZEROS.get(_method_name(method), lambda m: set())(method)
    before = {n: p.detach().clone() for n, p in method.named_parameters()}
    averaged = {f"{avg}.{n}": f"{source}.{n}" for avg, source in method.averaged_networks.items()
                for n, _ in getattr(method, avg).named_parameters()}
    losses = method.training_step(batch)
    assert isinstance(losses, dict) and losses, losses
    values = {}
    for key, loss in losses.items():
        assert isinstance(key, str) and isinstance(loss, Tensor) and loss.numel() == 1, (key, loss)
        values[key] = float(loss)
        assert math.isfinite(values[key]), (key, values[key])
    params = dict(method.named_parameters())
    for name, p in params.items():
        if name in averaged:  # a moving average: moved part of the way to its network
            check_moving_average(name, before[name], p.detach(), params[averaged[name]].detach())
            continue
        if id(p) not in optimized:
            assert torch.equal(p, before[name]), f"{name} is in no optimizer but changed"
            continue
        assert p.grad is not None, f"{name} got no gradient from the loss that steps it"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        if id(p) in exempt:
            continue
        assert bool((p.grad != 0).any()), f"{name}'s gradient is zero"
        assert not torch.equal(p, before[name]), f"{name} has a gradient but did not move"
    assert optimized <= set(names), "an optimizer holds a parameter that is not the method's"
    return values


# ------------------------------------------------------------------------- rule 0: the data here
def test_the_contract_describes_every_registered_method():
    for table in ("TINY", "EVAL_KEYS", "ADVERSARIAL"):
        described = set(globals()[table])
        assert described == set(METHODS), (
            f"method_contract.{table} describes {sorted(described)} but METHODS registers "
            f"{sorted(METHODS)}: add (or remove) the method's entry")
    assert set(VARIANTS) | set(EVAL_RELATIONS) | set(STATE_CHECKS) <= set(METHODS)


# ------------------------------------------------------------------------- rule 1: the module
@pytest.mark.parametrize("name", NAMES)
def test_module_interface(name):
    module = load_method_module(name)
    Config = module.Config
    assert dataclasses.is_dataclass(Config)
    assert typing.get_type_hints(Config)["train"] is TrainConfig
    for preset in (Config.paper(), Config.fast(), Config.fast(**TINY[name])):
        assert type(preset) is Config and isinstance(preset.train, TrainConfig)
    assert Config.fast() != Config.paper()
    method = module.build(tiny_config(name))
    assert isinstance(method, Method)
    assert f"{type(method).__module__}.{type(method).__qualname__}" in method_classes(module)
    assert method.networks(), "a method has networks"
    assert module.DEFAULT_DATA in SYNTHETIC, "the default data must work offline"
    assert isinstance(module.PAIRED, bool)
    if module.PAIRED:
        assert get_dataset(module.DEFAULT_DATA, length=1).pairing == "paired"


# ------------------------------------------------------------------------- rule 2: round trip
@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip_rebuilds_config_and_state(tmp_path, name):
    # Values unlike every default (seed, intervals, data), so a setting lost on the way shows.
    train = TrainConfig(steps=2, decay_steps=1, batch_size=2, seed=7, out_dir=str(tmp_path),
                        device="cpu", progress=False, sample_every=0, checkpoint_every=0,
                        log_every=1, num_samples=2, data=load_method_module(name).DEFAULT_DATA)
    config = tiny_config(name, train=train)
    seed_everything(0)
    method = load_method_module(name).build(config)
    result = fit(method, train_data(name), train)
    assert result.finished and result.checkpoint == tmp_path / "latest.pt"
    STATE_CHECKS.get(name, lambda *a: None)(method, 2, 2)
    rebuilt, rebuilt_config = load_trained(name, tmp_path / "latest.pt")
    assert type(rebuilt_config) is type(config)
    assert rebuilt_config == config
    assert rebuilt_config.train == train and isinstance(rebuilt_config.train, TrainConfig)
    assert type(rebuilt) is type(method)
    assert_same_state(method.state_dict(), rebuilt.state_dict())


# ------------------------------------------------------------------------- rule 3: no lazy modules
@pytest.mark.parametrize("name", NAMES)
def test_no_module_is_created_after_construction(name):
    method = tiny_method(name)
    built = structure(method)
    trainable = {id(p) for p in method.parameters() if p.requires_grad}
    groups = [p for opt in method.optimizers.values() for group in opt.param_groups
              for p in group["params"]]
    assert len(groups) == len({id(p) for p in groups}), "a parameter is in two optimizers"
    assert {id(p) for p in groups} == trainable, "every trainable parameter has its optimizer"
    assert structure(method) == built, "configure_optimizers created modules"
    batch = a_batch(name)
    method.training_step(batch)
    method.training_step(batch)
    assert structure(method) == built, "the training step created modules"
    method.translate(batch["A"])
    with eval_mode(method):
        method.visuals(batch)
        method.evaluate(eval_data(name, length=2))
    assert structure(method) == built, "translate, visuals or evaluate created modules"


# ------------------------------------------------------------------------- rule 4: one step
@pytest.mark.parametrize("name,variant", [(name, "fast") for name in NAMES] + [
    (name, variant) for name in NAMES for variant in VARIANTS.get(name, {})])
def test_a_training_step_gives_every_learning_parameter_a_gradient(name, variant):
    method = tiny_method(name, **VARIANTS.get(name, {}).get(variant, {}))
    step_and_check_gradients(method, a_batch(name))


def generator_gradients(name: str, generator: str, discriminator: str | None,
                        batch: dict) -> dict[str, Tensor]:
    """The weight gradients of ``generator`` after one step, with ``discriminator``'s
    parameters perturbed (None: as built)."""
    method = tiny_method(name)
    if discriminator is not None:
        noise = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in getattr(method, discriminator).parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=noise))
    torch.manual_seed(3)  # the step's random draws (dropout, patches, pools) alike in both runs
    method.training_step(batch)
    return {n: p.grad.clone() for n, p in getattr(method, generator).named_parameters()
            if p.ndim > 1}


@pytest.mark.parametrize("name", NAMES)
def test_generators_learn_from_their_discriminators(name, one_thread):
    batch = a_batch(name)
    for generator, discriminator in ADVERSARIAL[name]:
        plain = generator_gradients(name, generator, None, batch)
        perturbed = generator_gradients(name, generator, discriminator, batch)
        same = [n for n in plain if torch.equal(plain[n], perturbed[n])]
        assert not same, f"{generator}'s gradient ignores {discriminator}: {same}"


def detach_output(module, args, output):
    """Forward hook: the module's output (a tensor, or (nested) lists or tuples of them)
    detached."""
    if isinstance(output, Tensor):
        return output.detach()
    return type(output)(detach_output(module, args, o) for o in output)  # nested: D's features


@pytest.mark.parametrize("name", NAMES)
def test_the_gradient_checks_can_fail(name, monkeypatch, one_thread):
    """Positive controls of rule 4's checks: (a) each network in turn with its outputs detached
    (a network cut off from its loss) fails the gradient check, or is refused by
    ``backward_and_step`` when nothing in the loss needs a gradient any more; (b) a generator
    output detached only where the discriminator judges it fails the adversarial check; (c) a
    moving average left alone or replaced by its network fails the average's check."""
    batch = a_batch(name)
    for network in tiny_method(name).networks():
        method = tiny_method(name)
        getattr(method, network).register_forward_hook(detach_output)
        with pytest.raises((AssertionError, RuntimeError)) as caught:
            step_and_check_gradients(method, batch)
        if caught.type is RuntimeError:  # backward_and_step's refusal, not another error
            assert "does not require gradients" in str(caught.value), caught.value
    for average, source in tiny_method(name).averaged_networks.items():
        # (c) an average that is not updated, or that copies its network outright, fails.
        for broken in (lambda a, s: None, lambda a, s: a.data.copy_(s)):
            method = tiny_method(name)
            pairs = list(zip(getattr(method, average).parameters(),
                             getattr(method, source).parameters()))
            monkeypatch.setattr(method, "update_ema",
                                lambda b=broken, pairs=pairs: [b(a, s) for a, s in pairs])
            with pytest.raises(AssertionError, match="moving average|0 < "):
                step_and_check_gradients(method, batch)
    if not ADVERSARIAL[name]:
        return
    generator, discriminator = ADVERSARIAL[name][0]
    D = type(getattr(tiny_method(name), discriminator))
    forward = D.forward
    # D's input detached in every call: the generator's output no longer reaches it.
    monkeypatch.setattr(D, "forward", lambda self, x, *a, **k: forward(self, x.detach(), *a, **k))
    try:
        plain = generator_gradients(name, generator, None, batch)
    except RuntimeError as error:
        # Every term of the generator's loss goes through D (SPADE: hinge and feature
        # matching, no L1): with D's input detached nothing is left, and the step says so.
        assert "does not require gradients" in str(error), error
        return
    perturbed = generator_gradients(name, generator, discriminator, batch)
    assert all(torch.equal(plain[n], perturbed[n]) for n in plain)


# ------------------------------------------------------------------------- rule 5: outputs
@pytest.mark.parametrize("name", NAMES)
def test_translate_visuals_and_evaluate(name):
    method = tiny_method(name)
    size = TINY[name]["image_size"]
    method.training_step(a_batch(name))  # an even batch: BicycleGAN splits it in halves
    batch = a_batch(name, n=3)  # outputs keep an odd batch's size
    assert_images(method.translate(batch["A"]), 3, size, "translate")
    with eval_mode(method):
        visuals = method.visuals(batch)
    assert isinstance(visuals, dict) and visuals, visuals
    for key, images in visuals.items():
        assert isinstance(key, str)
        assert_images(images, 3, size, f"visuals[{key!r}]")
    with eval_mode(method):
        scores = method.evaluate(eval_data(name))
    assert_scores(name, scores)


# ------------------------------------------------------------------------- rule 8: course checkpoint
@pytest.mark.parametrize("name", NAMES)
def test_a_course_checkpoint_translates_as_the_method_does(tmp_path, name):
    from coursekit import pretrained

    method = tiny_method(name)
    method.training_step(a_batch(name, n=2))  # trained weights, not the initial ones
    assert set(method.inference_networks) <= set(method.networks()) | set(
        method.averaged_networks), method.inference_networks
    pretrained.save(method, name, tmp_path / name, {"data": "test"})
    loaded = pretrained.load(tmp_path / name)
    assert type(loaded) is type(method) and loaded.config == method.config
    x = a_batch(name, n=2)["A"]
    with torch.no_grad(), eval_mode(method):
        torch.manual_seed(0)  # pix2pix keeps dropout at test time: the same masks for both
        original = method.translate(x)
        torch.manual_seed(0)
        # float16 weights: relative rounding 2^-11 per weight; the tiny networks' outputs move
        # by ~1e-3, so 2e-2 allows that and fails a network that was not stored or restored.
        assert (loaded.translate(x) - original).abs().max() < 2e-2


# ------------------------------------------------------------------------- rule 6: command line
def coursekit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([COURSEKIT, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_train_then_eval_from_the_command_line(tmp_path, name):
    module = load_method_module(name)
    trained = coursekit("train", name, "--steps", "2", "--out", "run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    run = tmp_path / "run"
    assert (run / "latest.pt").is_file() and (run / "metrics.jsonl").is_file()
    assert (run / "samples" / "step_000002.png").is_file()
    # The fast preset, with what the command line sets (--steps N: N steps, half decaying),
    # on the preset's own data if it names one (SPADE: one style), else the method's default.
    method, config = load_trained(name, run / "latest.pt")
    preset = module.Config.fast()
    assert config == dataclasses.replace(preset, train=dataclasses.replace(
        preset.train, steps=2, decay_steps=1, epochs=None, epochs_decay=0, out_dir="run",
        data=preset.train.data or module.DEFAULT_DATA, resume=False))
    STATE_CHECKS.get(name, lambda *a: None)(method, 2, preset.train.batch_size)
    scored = coursekit("eval", name, "--checkpoint", "run/latest.pt", "--json", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert_scores(name, json.loads(scored.stdout))


# ------------------------------------------------------------------------- rule 7: exact resume
def interrupt_at(method: Method, call: int) -> None:
    """Ctrl-C at the start of training step number ``call`` (1-based)."""
    step, calls = method.training_step, []

    def training_step(batch):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return step(batch)

    method.training_step = training_step


def comparable(checkpoint: dict) -> dict:
    """A checkpoint without what may differ between two runs of the same trajectory: the
    folder, the resume flag, the wall-clock seconds."""
    def run_free(train: dict) -> dict:
        return {k: v for k, v in train.items() if k not in ("out_dir", "resume")}

    method_config = {**checkpoint["method_config"],
                     "train": run_free(checkpoint["method_config"]["train"])}
    progress = {k: v for k, v in checkpoint["progress"].items() if k != "seconds"}
    return {**checkpoint, "config": run_free(checkpoint["config"]),
            "method_config": method_config, "progress": progress}


@pytest.mark.parametrize("name", NAMES)
def test_an_interrupted_run_resumes_exactly(tmp_path, name, one_thread, capsys):
    # 6 items in batches of 2: 3 batches per epoch, so the run stops mid-epoch and the resumed
    # part crosses an epoch boundary.
    data = train_data(name, length=6)

    def run(folder: str, seed: int, stop_at: int = 0, resume: bool = False):
        train = TrainConfig(steps=4, decay_steps=2, batch_size=2, out_dir=str(tmp_path / folder),
                            device="cpu", progress=False, sample_every=0, checkpoint_every=0,
                            resume=resume)
        method = tiny_method(name, seed=seed, train=train)
        if stop_at:
            interrupt_at(method, stop_at)
        return method, fit(method, data, train)

    reference, _ = run("reference", seed=0)
    STATE_CHECKS.get(name, lambda *a: None)(reference, 4, 2)
    _, first = run("run", seed=0, stop_at=3)
    assert first.interrupted and first.step == 2
    # Other initial weights: everything the resumed run ends with must come from the checkpoint.
    resumed, second = run("run", seed=1, resume=True)
    assert second.finished and second.step == 4
    assert "Resuming from" in capsys.readouterr().out
    assert_same_state(reference.state_dict(), resumed.state_dict())
    want = load_checkpoint(tmp_path / "reference" / "latest.pt")
    got = load_checkpoint(tmp_path / "run" / "latest.pt")
    assert want["progress"]["step"] == got["progress"]["step"] == 4
    assert_same_state(comparable(want), comparable(got))



# ------------------------------------------------------------------------- rule 9: DDP
def ddp_batch(name: str, rank: int) -> dict:
    """Rank ``rank``'s two training items (items 2r and 2r + 1)."""
    data = train_data(name, length=4)
    return torch.utils.data.default_collate([data[i] for i in (2 * rank, 2 * rank + 1)])


def one_step_gradients(method: Method, batch: dict, seed: int) -> dict[str, Tensor]:
    """Every parameter's gradient after one training step, with the step's random draws
    seeded (keys without DDP's ``.module``). The learning rates are 0: pix2pix and CUT step D
    before G, and G's gradient must go through the same D on two ranks as alone."""
    for optimizer in method.optimizers.values():
        for group in optimizer.param_groups:
            group["lr"] = 0.0
    seed_everything(seed)
    method.training_step(batch)
    return {n.replace(".module.", "."): p.grad.clone() for n, p in method.named_parameters()
            if p.grad is not None}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_two_processes_average_the_gradients_of_every_network(tmp_path, name):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(port),
         str(Path(__file__).resolve().parent / "ddp_one_step.py"), name, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"torchrun failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    alone = [one_step_gradients(tiny_method(name), ddp_batch(name, r), seed=100 + r) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() == alone[0].keys() == alone[1].keys()
    for key in alone[0]:
        mean = (alone[0][key] + alone[1][key]) / 2
        # The same float32 numbers summed by Gloo: equal up to a few ulps, far below the
        # difference between the two ranks' gradients (checked below).
        torch.testing.assert_close(ranks[0][key], mean, rtol=1e-5, atol=1e-8, msg=key)
        torch.testing.assert_close(ranks[1][key], ranks[0][key], rtol=0, atol=0, msg=key)
    # The comparison can fail: one rank's gradient alone is not the mean.
    differs = [k for k in alone[0] if not torch.allclose(alone[0][k], alone[1][k], rtol=1e-3,
                                                          atol=1e-6)]
    assert differs, "both ranks computed the same gradients: the test cannot tell"


#: What a test file takes with ``from method_contract import *``: every test above.
__all__ = ["one_thread", *(name for name in list(globals()) if name.startswith("test_"))]
