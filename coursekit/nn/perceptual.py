"""The VGG-19 perceptual loss of pix2pixHD and SPADE: L1 between the features of two images.

A perceptual loss (Johnson, Alahi, Fei-Fei, ECCV 2016) compares images through the activations
of a network pretrained on ImageNet instead of pixel by pixel, so that an output that differs
from its target in exact pixels but not in edges, textures and parts is penalised little.
pix2pixHD (Wang et al., CVPR 2018) adds it to its generator's objective with weight
lambda = 10, and SPADE keeps it with the same weight (``lambda_vgg`` = 10). It matters: without
it SPADE's mIoU on COCO-Stuff falls from 35.2 to 24.7 (Park's thesis, Table 2.5).

**The loss.** With phi_i the activations of torchvision's ImageNet VGG-19 after relu1_1,
relu2_1, relu3_1, relu4_1 and relu5_1 (i = 1..5), a generated image G(x) and its target y:

    L_VGG(G(x), y) = sum_i w_i * mean | phi_i(G(x)) - sg(phi_i(y)) |,
    (w_1, ..., w_5) = (1/32, 1/16, 1/8, 1/4, 1)

the mean over all N * C_i * H_i * W_i values of layer i and ``sg`` a stop-gradient: the target's
features are a fixed target, so only G(x) receives gradients. The deepest, most semantic layer
weighs 32 times the first. The generator's objective multiplies L_VGG by lambda = 10.

**What the authors' code does** (NVlabs/SPADE, identical to NVIDIA/pix2pixHD), which this
module follows:

* five consecutive slices of torchvision's ``vgg19(...).features``: indices [0, 2), [2, 7),
  [7, 12), [12, 21), [21, 30), i.e. each slice ends at relu1_1, relu2_1, relu3_1, relu4_1,
  relu5_1, and each starts from the previous one's output. The layers after relu5_1 are unused.
* weights 1/32, 1/16, 1/8, 1/4, 1, an L1 loss with mean reduction per slice, summed;
* the real image's features detached (computed here under ``no_grad``, which is the same
  gradient and keeps no graph for them);
* the images fed as they are, in [-1, 1] (the generator's tanh output and the targets under
  Normalize(0.5, 0.5)): **no** ImageNet mean/std normalisation, although the VGG weights were
  trained on ImageNet-normalised inputs.

**Normalisation, decided.** ``imagenet_normalize=False`` (the default) feeds [-1, 1] images as
the authors' code does, because lambda = 10 and the papers' results were obtained with that
input scale. ImageNet normalisation, ``((x + 1) / 2 - mean) / std``, multiplies the input by
about 2.2 and shifts it by 0.07-0.42 per channel; a ReLU network scales with its input up to
its biases, so the features and the loss grow roughly twofold, which changes the loss's weight
against the GAN and feature-matching terms that lambda was tuned with.
``imagenet_normalize=True`` gives the network what its weights expect (for the loss as a
measurement, or with a lambda tuned for it).

**The weights.** torchvision's ImageNet VGG-19 (``VGG19_Weights.IMAGENET1K_V1``, the file
``vgg19-dcbb9e9d.pth``, 548 MB), read from the torch hub cache ``$TORCH_HOME/hub/checkpoints``
or from an explicit path. coursekit never downloads it: a missing file raises
:class:`~coursekit.data.standard_metrics.MissingWeightsError` naming the file, the folder and
the address to fetch it from on a machine with internet, as for the FID and LPIPS weights.

Pieces here:

* :class:`VGGFeatures` -- the frozen VGG-19 trunk up to relu5_1; ``forward`` returns the five
  slice outputs;
* :class:`VGGLoss` -- L_VGG above, ``loss(fake, real)``;
* :func:`vgg19_weight_file`, :func:`load_vgg19_trunk` -- where the weights come from, and
  the checked conv weights read from the file.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from coursekit.data.standard_metrics import (WEIGHT_LOAD_ERRORS, MissingWeightsError, WeightFile,
                                             check_weights, damaged_weights_error, weights_folder)

__all__ = ["VGG_LOSS_WEIGHTS", "VGG_SLICES", "VGGFeatures", "VGGLoss", "load_vgg19_trunk",
           "vgg19_weight_file", "load_or_explain"]

#: The weight of each slice in L_VGG, relu1_1 first (pix2pixHD and SPADE).
VGG_LOSS_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

# VGG-19's conv layers up to relu5_1: name -> (index in torchvision's ``features``, C_in, C_out).
# Every conv is 3x3, stride 1, padding 1, and is followed by a ReLU (at index + 1).
_CONVS = {
    "conv1_1": (0, 3, 64), "conv1_2": (2, 64, 64),
    "conv2_1": (5, 64, 128), "conv2_2": (7, 128, 128),
    "conv3_1": (10, 128, 256), "conv3_2": (12, 256, 256), "conv3_3": (14, 256, 256),
    "conv3_4": (16, 256, 256),
    "conv4_1": (19, 256, 512), "conv4_2": (21, 512, 512), "conv4_3": (23, 512, 512),
    "conv4_4": (25, 512, 512),
    "conv5_1": (28, 512, 512),
}

#: The five slices, each a run of (conv + ReLU) layers and "pool" (2x2 max pooling, stride 2),
#: named after the ReLU it ends at. Together they are torchvision's ``features[0:30]``.
VGG_SLICES: dict[str, tuple[str, ...]] = {
    "relu1_1": ("conv1_1",),
    "relu2_1": ("conv1_2", "pool", "conv2_1"),
    "relu3_1": ("conv2_2", "pool", "conv3_1"),
    "relu4_1": ("conv3_2", "conv3_3", "conv3_4", "pool", "conv4_1"),
    "relu5_1": ("conv4_2", "conv4_3", "conv4_4", "pool", "conv5_1"),
}

# Four 2x2 poolings: 16 px is the smallest side that leaves relu5_1 a 1x1 map.
_MIN_SIZE = 16
# The per-channel statistics of ImageNet that torchvision's weights were trained with.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_weight_file() -> WeightFile:
    """torchvision's ImageNet VGG-19 weights (``vgg19-dcbb9e9d.pth``): its address, read from
    torchvision, and where it is looked for
    (:func:`~coursekit.data.standard_metrics.weights_folder`)."""
    from torchvision.models import VGG19_Weights

    return WeightFile("the VGG perceptual loss (coursekit.nn.perceptual)",
                      "torchvision's ImageNet VGG-19", VGG19_Weights.IMAGENET1K_V1.url)


@dataclass(frozen=True)
class _WeightFileAt(WeightFile):
    """A :class:`WeightFile` read from an explicit path instead of the torch hub cache."""

    at: Path = Path()

    @property
    def path(self) -> Path:
        return self.at


def load_vgg19_trunk(path: str | os.PathLike | None = None) -> dict[str, Tensor]:
    """The conv weights and biases of VGG-19 up to conv5_1, float32, checked, from the file.

    Args:
        path: a saved ``state_dict()`` of ``torchvision.models.vgg19`` (the file torchvision
            downloads). None: ``vgg19-dcbb9e9d.pth`` in the torch hub cache,
            ``$TORCH_HOME/hub/checkpoints``.

    Returns ``{"conv1_1_weight": (64, 3, 3, 3), "conv1_1_bias": (64,), ...}`` for the 13 convs.

    Raises :class:`MissingWeightsError` when the file is missing (naming it, the folder and the
    address to fetch), cannot be read (truncated or damaged), or is not a VGG-19 state dict
    (listing the keys that are missing or have the wrong shape). Nothing is downloaded.
    """
    file = vgg19_weight_file()
    if path is None:
        check_weights([file])  # a missing file: the folder, TORCH_HOME and the address
    else:
        file = _WeightFileAt(file.metrics, file.network, file.url, at=Path(path))
        if not file.path.is_file():
            raise MissingWeightsError(
                f"{file.path} not found: it should be {file.network} ({file.name}). coursekit "
                f"never downloads it (no download was attempted). On a machine with internet, "
                f"fetch {file.url} (e.g. curl -LO ADDRESS) and copy it there, or leave path "
                f"unset to read it from the torch hub cache, {weights_folder()}")
    try:
        # weights_only: a state dict is tensors in dicts; nothing else in the file is run.
        state = torch.load(file.path, map_location="cpu", weights_only=True)
    except WEIGHT_LOAD_ERRORS as err:
        raise damaged_weights_error(file, err) from err
    return _trunk_from_state(state, file)


def _trunk_from_state(state, file: WeightFile) -> dict[str, Tensor]:
    """The 13 convs' tensors of a torchvision VGG-19 state dict, or a clear error."""
    if not isinstance(state, Mapping):
        raise MissingWeightsError(
            f"{file.path} holds a {type(state).__name__}, not a state dict of {file.network}. "
            f"Replace it with a fresh copy of {file.url}")
    problems = []
    trunk = {}
    for name, (index, c_in, c_out) in _CONVS.items():
        for part, shape in (("weight", (c_out, c_in, 3, 3)), ("bias", (c_out,))):
            key = f"features.{index}.{part}"
            value = state.get(key)
            if not isinstance(value, Tensor):
                problems.append(f"{key} missing")
            elif tuple(value.shape) != shape:
                problems.append(f"{key} has shape {tuple(value.shape)}, not {shape}")
            else:
                trunk[f"{name}_{part}"] = value.to(torch.float32).contiguous()
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more"
                                           if len(problems) > 6 else "")
        raise MissingWeightsError(
            f"{file.path} is not a state dict of {file.network} ({file.name}): {shown}. "
            f"Replace it with a fresh copy of {file.url}")
    return trunk


class VGGFeatures(nn.Module):
    """The frozen VGG-19 trunk up to relu5_1, giving the five feature maps of the perceptual loss.

    ``VGGFeatures(path=None, imagenet_normalize=False)`` loads torchvision's ImageNet weights
    (:func:`load_vgg19_trunk`: from ``path``, or from the torch hub cache).

    ``depth`` (default 5): compute only the first ``depth`` slices (AdaIN style transfer stops
    at relu4_1: ``depth=4``); the later layers' weights are not kept.

    ``forward(x)``: x is (N, 3, H, W) in [-1, 1] (coursekit's images), H, W >= 16. Returns a list
    of the slice outputs, at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1: shapes
    (N, 64, H, W), (N, 128, H/2, W/2), (N, 256, H/4, W/4), (N, 512, H/8, W/8),
    (N, 512, H/16, W/16), the sizes rounded down at each pooling. With
    ``imagenet_normalize=True`` the images are first mapped to [0, 1] and normalised with
    ImageNet's mean and std, as the weights were trained; the default feeds them as they are,
    as pix2pixHD and SPADE do (module docstring).

    The weights are non-persistent buffers, not parameters, and the layers run as functions
    (``F.conv2d``, ``F.relu``, ``F.max_pool2d``). The module then has no parameters, so a
    Method's ``networks()`` (the children with parameters), its optimizers and the DDP wrapping
    leave it out; and an empty ``state_dict()``, so training and course checkpoints do not carry
    the 50 MB of frozen ImageNet weights (12.9 M values up to conv5_1) that the file already
    holds. ``.to(device)`` and ``.to(dtype)`` still move and cast it, as they do every buffer.
    No gradient ever reaches the weights (buffers do not require one); gradients flow through
    to ``x``.
    """

    slice_names = tuple(VGG_SLICES)
    channels = (64, 128, 256, 512, 512)

    def __init__(self, path: str | os.PathLike | None = None, imagenet_normalize: bool = False,
                 depth: int = len(VGG_SLICES)):
        super().__init__()
        if not 1 <= depth <= len(VGG_SLICES):
            raise ValueError(f"depth is the number of slices to compute, 1..{len(VGG_SLICES)} "
                             f"({', '.join(VGG_SLICES)}); got {depth}")
        self.imagenet_normalize = bool(imagenet_normalize)
        self.depth = int(depth)
        self.slice_names = tuple(VGG_SLICES)[:self.depth]
        self.channels = type(self).channels[:self.depth]
        needed = {layer for layers in list(VGG_SLICES.values())[:self.depth] for layer in layers}
        for name, tensor in load_vgg19_trunk(path).items():
            if name.rsplit("_", 1)[0] not in needed:
                continue  # a layer past the last slice computed
            # A buffer, not a parameter: without parameters this module is left out of a
            # Method's networks(), its optimizers and DDP. Not persistent: outside state_dict(),
            # so checkpoints do not carry frozen weights that the file holds. .to() moves it.
            self.register_buffer(name, tensor, persistent=False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects RGB images of shape (N, 3, H, W) in [-1, 1], "
                             f"got {tuple(x.shape)}")
        if min(x.shape[2:]) < _MIN_SIZE:
            raise ValueError(f"VGGFeatures needs images of at least {_MIN_SIZE}x{_MIN_SIZE} (four "
                             f"2x2 poolings before relu5_1), got {tuple(x.shape[2:])}")
        if self.imagenet_normalize:
            x = ((x + 1) / 2 - self.mean) / self.std
        features = []
        for layers in list(VGG_SLICES.values())[:self.depth]:
            for layer in layers:
                if layer == "pool":
                    x = F.max_pool2d(x, kernel_size=2, stride=2)
                else:
                    weight, bias = getattr(self, f"{layer}_weight"), getattr(self, f"{layer}_bias")
                    x = F.relu(F.conv2d(x, weight, bias, stride=1, padding=1))
            features.append(x)
        return features

    def extra_repr(self) -> str:
        return (f"slices={', '.join(self.slice_names)}, "
                f"imagenet_normalize={self.imagenet_normalize}")


class VGGLoss(nn.Module):
    """pix2pixHD's and SPADE's perceptual loss (module docstring):

        L_VGG(fake, real) = sum_i w_i * mean | phi_i(fake) - sg(phi_i(real)) |

    ``VGGLoss(path=None, imagenet_normalize=False, layer_weights=VGG_LOSS_WEIGHTS)``; the first
    two go to :class:`VGGFeatures` (held as ``self.vgg``), ``layer_weights`` are w_1..w_5.

    ``forward(fake, real)``: two (N, 3, H, W) batches in [-1, 1] of the same shape, H, W >= 16;
    returns a scalar. The real images' features are computed under ``no_grad``: they are the
    target, so ``real`` gets no gradient, and ``fake`` gets all of it. Each layer's mean
    absolute difference is taken in at least float32: under bf16 autocast the features are
    bf16, the per-layer means and their sum float32. bf16 still rounds each side's features
    separately: the loss of two unrelated images is within about 0.1% of float32's, but between
    nearly identical images (noise of std 0.01 added) the rounding is a large part of it (about
    20%, measured with a random VGG-19).

    Like :class:`VGGFeatures` it has no parameters and nothing in its ``state_dict()``; the
    training loop's ``method.to(device)`` moves the one a Method holds.
    """

    def __init__(self, path: str | os.PathLike | None = None, imagenet_normalize: bool = False,
                 layer_weights: Sequence[float] = VGG_LOSS_WEIGHTS):
        super().__init__()
        layer_weights = tuple(float(w) for w in layer_weights)
        if len(layer_weights) != len(VGG_SLICES):
            raise ValueError(f"layer_weights needs one weight per slice ({', '.join(VGG_SLICES)}), "
                             f"got {len(layer_weights)}")
        self.layer_weights = layer_weights
        self.vgg = VGGFeatures(path, imagenet_normalize=imagenet_normalize)

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        if fake.shape != real.shape:
            raise ValueError(f"VGGLoss compares images of the same shape, got fake "
                             f"{tuple(fake.shape)} and real {tuple(real.shape)}")
        fake_features = self.vgg(fake)
        with torch.no_grad():
            real_features = self.vgg(real)
        loss = fake.new_zeros((), dtype=torch.promote_types(fake.dtype, torch.float32))
        for weight, f, r in zip(self.layer_weights, fake_features, real_features):
            dtype = torch.promote_types(f.dtype, torch.float32)
            loss = loss + weight * (f.to(dtype) - r.to(dtype)).abs().mean()
        return loss

    def extra_repr(self) -> str:
        return f"layer_weights=({', '.join(f'{w:g}' for w in self.layer_weights)})"


def load_or_explain(make, why: str):
    """``make()`` (a :class:`VGGFeatures` or :class:`VGGLoss`), or, where VGG-19's weights are
    missing, the same :class:`MissingWeightsError` with ``why`` added: what needs them and how
    to do without (each method's perceptual loss says it its own way)."""
    try:
        return make()
    except MissingWeightsError as err:
        raise MissingWeightsError(f"{err}. {why}") from None
