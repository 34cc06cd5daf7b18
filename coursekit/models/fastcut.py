"""FastCUT: CUT without the identity term, with lambda_X = 10 and flip equivariance.

The method, the networks and the training step are CUT's (``coursekit.models.cut``, which
explains both); this module only makes FastCUT's settings the defaults, so that
``coursekit train fastcut`` and ``coursekit eval fastcut`` pick them up.
"""
from coursekit.models.cut import CUT, DEFAULT_DATA, PAIRED, build
from coursekit.models.cut import FastCUTConfig as Config

__all__ = ["CUT", "Config", "DEFAULT_DATA", "PAIRED", "build"]
