"""Weight initialisation used by pix2pix, CycleGAN and CUT.

The pix2pix paper (Isola et al. 2017, §4/Appendix) follows DCGAN: weights from N(0, 0.02).
Norm layers' scales start at N(1, 0.02) so they begin close to the identity.
"""
from __future__ import annotations

from torch import nn


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Initialise every conv/linear weight ~ N(0, std), bias 0; norm scales ~ N(1, std). In place."""

    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)

    module.apply(_init)
    return module
