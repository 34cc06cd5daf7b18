"""PatchNCE: contrastive learning between corresponding patches of the input and the output.

CUT (Park, Efros, Zhang, Zhu, ECCV 2020; thesis §3.3) asks that a patch of the output G(x) be
more similar to the patch of the input x at the same place than to any other patch of x.

**InfoNCE (Eq. 3.6).** A query v (an output patch), its positive v+ (the input patch at the
same location) and N negatives v-_n (input patches elsewhere), all unit vectors:

    l(v, v+, v-) = -log[ exp(v.v+ / tau) / (exp(v.v+ / tau) + sum_n exp(v.v-_n / tau)) ]

an (N+1)-way classification "which of these input patches is mine?", with temperature
tau = 0.07. The vectors are L2-normalised "to prevent the space from collapsing or expanding".

**PatchNCE (Eq. 3.7).** Over L encoder layers and S_l sampled locations per layer:

    L_PatchNCE(G, H, X) = E_x sum_l sum_s l(z^_l^s, z_l^s, z_l^{S \\ s}),
    z_l = H_l(G_enc^l(x)) (input side, the keys),   z^_l = H_l(G_enc^l(G(x))) (output side, queries)

The negatives are the *other locations of the same image* ("internal negatives", which beat
negatives from other images in the thesis's ablation). The same encoder G_enc and the same
heads H_l embed both sides. As in the reference, each layer's loss is a mean over patches and
the layers are averaged, not summed (taesungp/contrastive-unpaired-translation divides the
sum of the layers' losses by their number).

Pieces here:

* :func:`patch_nce_loss` -- Eq. 3.6 for every patch of every image at once;
* :class:`PatchSampler` -- random locations, shared by the query and key feature maps;
* :class:`ProjectionHead`, :class:`PatchProjector` -- H_l: a 2-layer MLP with 256 units and L2
  normalisation per layer, built at construction from known channel counts (the reference
  builds them lazily on the first forward pass; here the optimizer must see them from the start).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["patch_nce_loss", "PatchSampler", "ProjectionHead", "PatchProjector"]


def patch_nce_loss(query: Tensor, key: Tensor, temperature: float = 0.07,
                   reduction: str = "mean") -> Tensor:
    """InfoNCE (Eq. 3.6) of every query patch against the key patches of its own image.

    Args:
        query: (B, S, C) output-side patch embeddings, L2-normalised (the v of Eq. 3.6).
        key: (B, S, C) input-side embeddings at the same S locations, L2-normalised. Patch s of
            ``key`` is the positive of query s; the other S - 1 patches *of the same image*
            are its negatives.
        temperature: tau (0.07 in CUT).
        reduction: "mean" (a scalar: mean over images and patches) or "none" ((B, S)).

    The key is detached here, as in the reference: the input side is a fixed target in this
    loss, so neither the encoder pass over x nor the heads receive gradients through it.

    With logits[b, s, j] = query[b, s] . key[b, j] / tau, the diagonal j = s holds v.v+ and
    the rest of row s the v.v-_n, so Eq. 3.6 is the cross-entropy of row s with target s.
    Images in the batch never meet: the product is taken per image (a batched matmul).
    """
    if query.dim() != 3 or query.shape != key.shape:
        raise ValueError(f"query and key must both have shape (batch, patches, channels); got "
                         f"{tuple(query.shape)} and {tuple(key.shape)}")
    if query.shape[1] < 2:
        raise ValueError(f"PatchNCE needs at least 2 patches per image (one positive, >= 1 "
                         f"negative); got {query.shape[1]}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    batch, patches, _ = query.shape
    logits = torch.bmm(query, key.detach().transpose(1, 2)) / temperature  # (B, S, S)
    target = torch.arange(patches, device=query.device).expand(batch, patches)
    # cross_entropy wants the classes in dim 1: (B, S_classes, S_queries).
    loss = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # (B, S)
    return loss.mean() if reduction == "mean" else loss


class PatchSampler:
    """Random patch locations for PatchNCE, shared by the query and the key feature maps.

    ``ids = sampler.draw(features)`` draws, per layer, ``num_patches`` distinct locations out of
    H * W (all of them if the map is smaller) from torch's global generator, so a resumed run
    draws the same ones. The same locations serve every image of the batch (as in the
    reference); negatives still come only from the image itself (see :func:`patch_nce_loss`).
    ``PatchSampler.gather(feature, ids)`` turns a (B, C, H, W) map into (B, S, C) vectors.
    """

    def __init__(self, num_patches: int = 256):
        if num_patches < 2:
            raise ValueError(f"num_patches must be >= 2 (a positive and a negative), got {num_patches}")
        self.num_patches = num_patches

    def draw(self, features: Sequence[Tensor]) -> list[Tensor]:
        """One index tensor (S_l,) into the flattened H * W locations per feature map."""
        ids = []
        for feature in features:
            locations = feature.shape[2] * feature.shape[3]
            perm = torch.randperm(locations)  # CPU global generator: device-independent draws
            ids.append(perm[: min(self.num_patches, locations)].to(feature.device))
        return ids

    @staticmethod
    def gather(feature: Tensor, ids: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, S, C): the feature vectors at the flattened locations ``ids``."""
        return feature.flatten(2).transpose(1, 2)[:, ids, :]


class ProjectionHead(nn.Sequential):
    """H_l: Linear(C_l -> 256), ReLU, Linear(256 -> 256), then L2 normalisation (CUT §3.3.2:
    "a two-layer MLP with 256 units ... We normalize the vector by its L2 norm")."""

    def __init__(self, in_channels: int, units: int = 256):
        if in_channels < 1 or units < 1:
            raise ValueError(f"in_channels and units must be >= 1, got {in_channels}, {units}")
        super().__init__(nn.Linear(in_channels, units), nn.ReLU(), nn.Linear(units, units))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(super().forward(x), dim=-1)


class PatchProjector(nn.Module):
    """The heads H = {H_l} of all PatchNCE layers, built from their channel counts.

    ``channels`` are the widths of the encoder features, known before training from the
    generator (``ResnetGenerator.feature_channels(layers)``), so the heads' parameters exist
    when the optimizer is built. ``forward(features, ids)`` samples the locations ``ids`` of
    each map and embeds them: a list of (B, S_l, units) unit vectors. Call it through
    ``forward`` (``self.H(...)``) so that DistributedDataParallel averages its gradients.
    """

    def __init__(self, channels: Sequence[int], units: int = 256):
        super().__init__()
        if len(channels) == 0:
            raise ValueError("PatchProjector needs the channel count of at least one layer")
        self.channels = tuple(int(c) for c in channels)
        self.heads = nn.ModuleList(ProjectionHead(c, units) for c in self.channels)

    def forward(self, features: Sequence[Tensor], ids: Sequence[Tensor]) -> list[Tensor]:
        if len(features) != len(self.heads) or len(ids) != len(self.heads):
            raise ValueError(f"expected {len(self.heads)} feature maps and location sets (one "
                             f"per head), got {len(features)} and {len(ids)}")
        out = []
        for head, channels, feature, where in zip(self.heads, self.channels, features, ids):
            if feature.dim() != 4 or feature.shape[1] != channels:
                raise ValueError(f"a head built for {channels} channels got a feature map of "
                                 f"shape {tuple(feature.shape)}; build the projector from the "
                                 "same generator and layers that produce the features")
            out.append(head(PatchSampler.gather(feature, where)))
        return out
