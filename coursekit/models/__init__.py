"""The translation methods of the course, one file each.

Each method module defines:

* ``Config``: a dataclass with the paper's defaults and two presets, ``Config.paper()`` and
  ``Config.fast()`` (small enough to train on a laptop CPU in minutes);
* a ``coursekit.train.Method`` subclass with its networks, losses and one training step;
* ``build(config) -> Method`` and ``DEFAULT_DATA`` (the offline synthetic dataset it trains on).

``METHODS`` maps the command-line name to the module; the CLI lists what is here.
"""
from __future__ import annotations

import importlib
from types import ModuleType

# name -> module path. Methods arrive with their issues (pix2pix, CycleGAN, CUT, ...).
METHODS: dict[str, str] = {}


def available_methods() -> list[str]:
    """Names accepted by ``coursekit train METHOD``."""
    return sorted(METHODS)


def load_method_module(name: str) -> ModuleType:
    """Import a method's module by its command-line name, with a clear error if unknown."""
    if name not in METHODS:
        have = ", ".join(available_methods()) or "none yet"
        raise ValueError(f"Unknown method {name!r}. Available methods: {have}.")
    return importlib.import_module(METHODS[name])
