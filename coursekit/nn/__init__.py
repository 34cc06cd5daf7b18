"""Building blocks shared by the methods: generators, discriminators, normalisation, losses.

Each method file (``coursekit.models.*``) calls these instead of redefining them.
"""
from coursekit.nn.encoder import (ResidualDownBlock, ResnetEncoder, interpolate, kl_divergence,
                                  latent_l1, reparameterize)
from coursekit.nn.image_pool import ImagePool
from coursekit.nn.init import init_weights
from coursekit.nn.losses import GANLoss, feature_matching_loss
from coursekit.nn.norm import SPADE, LayerNorm, adain, channel_stats, norm_layer
from coursekit.nn.patchgan import (
    MultiScalePatchGAN,
    PatchGANDiscriminator,
    PixelDiscriminator,
    patchgan_layers_for,
    receptive_field,
)
from coursekit.nn.perceptual import VGGFeatures, VGGLoss
from coursekit.nn.resnet import ResnetBlock, ResnetGenerator
from coursekit.nn.spade import ConcatNorm, SPADEGenerator, SPADEResBlock
from coursekit.nn.unet import UNetGenerator, check_image_batch

__all__ = [
    "GANLoss",
    "ImagePool",
    "LayerNorm",
    "MultiScalePatchGAN",
    "PatchGANDiscriminator",
    "PixelDiscriminator",
    "ResidualDownBlock",
    "ResnetBlock",
    "ResnetEncoder",
    "ResnetGenerator",
    "SPADE",
    "ConcatNorm",
    "SPADEGenerator",
    "SPADEResBlock",
    "UNetGenerator",
    "VGGFeatures",
    "VGGLoss",
    "adain",
    "channel_stats",
    "feature_matching_loss",
    "check_image_batch",
    "init_weights",
    "interpolate",
    "kl_divergence",
    "latent_l1",
    "norm_layer",
    "patchgan_layers_for",
    "receptive_field",
    "reparameterize",
]
