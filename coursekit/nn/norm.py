"""Normalisation layers by name.

* ``"batch"``: BatchNorm (pix2pix). Statistics over (N, H, W) per channel.
* ``"instance"``: InstanceNorm (CycleGAN, CUT): statistics over (H, W) per image and channel,
  so an image's contrast does not depend on the rest of the batch (Ulyanov et al. 2016).
* ``"none"``: identity.
"""
from __future__ import annotations

from torch import nn

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Return a fresh normalisation layer for ``channels`` feature maps."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        # affine=False and no running stats, as in the reference implementations.
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


def conv_bias_needed(kind: str) -> bool:
    """A conv followed by BatchNorm needs no bias (BN's shift replaces it); with InstanceNorm
    (affine=False) or no norm it does."""
    return kind != "batch"
