"""coursekit: image-to-image translation, taught in notebooks."""
__version__ = "0.1.0"
