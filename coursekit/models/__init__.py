"""The translation methods of the course, one file each.

Each method module defines:

* ``Config``: a dataclass with the paper's defaults and two presets, ``Config.paper()`` and
  ``Config.fast()`` (small enough to train on a laptop CPU in minutes);
* a ``coursekit.train.Method`` subclass with its networks, losses and one training step;
* ``build(config) -> Method``, ``DEFAULT_DATA`` (the offline synthetic dataset it trains on) and
  ``PAIRED`` (whether it needs pixel-aligned pairs).

``METHODS`` maps the command-line name to the module; the CLI lists what is here. A method
registered here is held to the contract in ``tests/method_contract.py`` (its module docstring
lists the rules: checkpoint round trip of the config, no module created after construction,
a gradient for every parameter an optimizer steps, images in [-1, 1] and the documented
``evaluate`` keys, ``coursekit train``/``eval`` end to end, exact resume); describe the new
method there (its tiny settings and ``evaluate`` keys) and the contract runs for it.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

# name -> module path. Methods arrive with their issues (pix2pix, CycleGAN, CUT, ...).
METHODS: dict[str, str] = {
    "pix2pix": "coursekit.models.pix2pix",
    "cyclegan": "coursekit.models.cyclegan",
    "cut": "coursekit.models.cut",
    "fastcut": "coursekit.models.fastcut",  # CUT with FastCUT's settings as the defaults
    "bicyclegan": "coursekit.models.bicyclegan",
    "spade": "coursekit.models.spade",
    "munit": "coursekit.models.munit",
    # A diffusion model of photos; its translation is SDEdit (coursekit.models.sdedit).
    "ddpm": "coursekit.models.ddpm",
}


def available_methods() -> list[str]:
    """Names accepted by ``coursekit train METHOD``."""
    return sorted(METHODS)


def load_method_module(name: str) -> ModuleType:
    """Import a method's module by its command-line name, with a clear error if unknown."""
    if name not in METHODS:
        have = ", ".join(available_methods()) or "none yet"
        raise ValueError(f"Unknown method {name!r}. Available methods: {have}.")
    return importlib.import_module(METHODS[name])


def check_loss_weights(config, *names: str) -> None:
    """A config's loss weights ``names`` must be >= 0 (0 switches a term off): else a
    ValueError naming the negative ones. Called by the methods' ``Config.__post_init__``."""
    negative = {name: getattr(config, name) for name in names if getattr(config, name) < 0}
    if negative:
        raise ValueError(f"loss weights must be >= 0 (0 switches a term off), got {negative}")


def with_ablation(ablations: dict[str, dict[str, Any]], name: str, base, **overrides):
    """``base`` (a method's Config) with the overrides of ``ablations[name]`` (a method's
    ``ABLATIONS``) and then ``overrides``; an unknown name is a ValueError listing the known
    ones. The methods' ``Config.ablation`` classmethods call it."""
    if name not in ablations:
        raise ValueError(f"unknown ablation {name!r}; choose one of {sorted(ablations)}")
    return dataclasses.replace(base, **{**ablations[name], **overrides})


def inference_config(config):
    """``config`` without what only training needs (``Config.for_inference()`` where a method has
    one: SPADE's VGG loss, whose weights a machine that only translates need not have)."""
    for_inference = getattr(config, "for_inference", None)
    return for_inference() if callable(for_inference) else config


def config_from_dict(cls: type, values: dict[str, Any]):
    """Rebuild a (possibly nested) config dataclass from ``dataclasses.asdict`` output, e.g. the
    ``method_config`` stored in a checkpoint. Unknown keys are an error: the checkpoint comes
    from another version of the method."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__qualname__} has no settings {unknown}: the checkpoint was "
                         "written by a different version of this method")
    kwargs = {}
    for name, value in values.items():
        hint = hints.get(name)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def method_classes(module: ModuleType) -> set[str]:
    """"module.Class" of the Method subclasses a method's module defines or imports."""
    from coursekit.train import Method

    return {f"{c.__module__}.{c.__qualname__}" for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, Method) and c is not Method}


def method_name_of(method_class: str) -> str | None:
    """The command-line name of the method whose class is ``method_class`` ("module.Class", as
    checkpoints record it), or None."""
    module = method_class.rsplit(".", 1)[0]
    names = [name for name, path in METHODS.items() if path == module]
    return names[0] if names else None


def load_trained(name: str, checkpoint: str | os.PathLike, *, with_checkpoint: bool = False):
    """Rebuild method ``name`` from a training checkpoint: ``(method, config)``, and the whole
    checkpoint dict as a third item with ``with_checkpoint=True`` (read from disk once).

    The checkpoint holds the method's settings (``Method.hparams()``), so the networks are
    built exactly as they were trained, then their weights are loaded.
    """
    from coursekit.train import CheckpointError, load_checkpoint
    from coursekit.train.checkpoint import load_method_state

    module = load_method_module(name)
    saved_checkpoint = load_checkpoint(checkpoint)
    written_by = saved_checkpoint.get("method_class", "")
    if written_by not in method_classes(module):
        other = method_name_of(written_by)
        hint = (f" (use `{other}` instead of `{name}`)" if other else "")
        raise CheckpointError(f"{checkpoint} holds a {written_by.rsplit('.', 1)[-1]} model, "
                              f"trained by {other or written_by}, not by {name}{hint}.")
    saved = saved_checkpoint.get("method_config")
    if saved is None:
        raise ValueError(f"{checkpoint} does not record the settings of the model it holds "
                         f"(written by an older coursekit?); build {name} with those settings "
                         "and use coursekit.train.load_weights(method, path) instead.")
    config = inference_config(config_from_dict(module.Config, saved))
    method = module.build(config)
    load_method_state(method, saved_checkpoint["method"], Path(checkpoint))
    return (method, config, saved_checkpoint) if with_checkpoint else (method, config)
