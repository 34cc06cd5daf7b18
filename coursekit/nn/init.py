"""Weight initialisation used by pix2pix, CycleGAN and CUT.

The pix2pix paper (Isola et al. 2017, §4/Appendix) follows DCGAN: weights from N(0, 0.02).
Norm layers' scales start at N(1, 0.02) so they begin close to the identity. BicycleGAN's
reference code uses Xavier-normal weights with gain 0.02 instead (``kind="xavier"``): the
standard deviation then also shrinks with the layer's fan-in and fan-out. MUNIT's reference
initialises its generators with He et al.'s Kaiming-normal weights (``kind="kaiming"``: std
sqrt(2 / fan_in), for ReLU networks; ``std`` is then unused).
"""
from __future__ import annotations

from torch import nn


def init_weights(module: nn.Module, std: float = 0.02, kind: str = "normal") -> nn.Module:
    """Initialise every conv/linear weight ~ N(0, std) (``kind="normal"``) or Xavier-normal with
    gain ``std`` (``kind="xavier"``) or Kaiming-normal (``kind="kaiming"``), bias 0; norm scales
    ~ N(1, std). In place."""
    if kind not in ("normal", "xavier", "kaiming"):
        raise ValueError(f"kind must be 'normal', 'xavier' or 'kaiming', got {kind!r}")

    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=std)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)

    module.apply(_init)
    return module
