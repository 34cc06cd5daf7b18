"""Building blocks shared by the methods: generators, discriminators, normalisation, losses.

Each method file (``coursekit.models.*``) calls these instead of redefining them.
"""
from coursekit.nn.image_pool import ImagePool
from coursekit.nn.init import init_weights
from coursekit.nn.losses import GANLoss
from coursekit.nn.norm import norm_layer
from coursekit.nn.patchgan import (
    PatchGANDiscriminator,
    PixelDiscriminator,
    patchgan_layers_for,
    receptive_field,
)
from coursekit.nn.resnet import ResnetBlock, ResnetGenerator
from coursekit.nn.unet import UNetGenerator, check_image_batch

__all__ = [
    "GANLoss",
    "ImagePool",
    "PatchGANDiscriminator",
    "PixelDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
    "UNetGenerator",
    "check_image_batch",
    "init_weights",
    "norm_layer",
    "patchgan_layers_for",
    "receptive_field",
]
