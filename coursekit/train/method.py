"""The contract between a method (pix2pix, CycleGAN, ...) and the training loop.

A method supplies its networks, its optimizers and one training step; ``coursekit.train.fit``
supplies everything else (device, precision, data order, learning-rate schedule, logging,
sample grids, checkpoints, resume, multi-GPU).

Subclass ``Method`` and

- create every network in ``__init__`` as an attribute (``self.G = ...``), never lazily;
- ``configure_optimizers()``: return ``{name: optimizer}``. The loop calls it after the
  networks are on the device (and wrapped for DistributedDataParallel), so build the optimizers
  from ``self.G.parameters()`` there, not in ``__init__``;
- ``training_step(batch)``: do the forward passes, and every update through
  ``self.backward_and_step(loss, "D")``, which zeroes that optimizer's gradients, backpropagates
  (with loss scaling under fp16) and steps it. GANs call it several times per step (D, then G).
  Return the losses to log as ``{name: scalar tensor}``;
- ``visuals(batch)``: return ``{name: (N, C, H, W) images in [-1, 1]}`` for the sample grid
  (called in eval mode, under ``torch.no_grad()``, with the training RNG streams untouched);
- optionally ``evaluate(dataset)``: return ``{metric: float}`` (called like ``visuals``);
- optionally ``lr_multiplier(steps, decay_steps)``: a learning-rate rule other than the default
  constant-then-linear decay (MUNIT halves its rate every 100k steps: ``StepDecay``).

Example (pix2pix in outline)::

    class Pix2Pix(Method):
        def __init__(self):
            super().__init__()
            self.G = UNetGenerator()
            self.D = PatchDiscriminator()

        def configure_optimizers(self):
            adam = lambda net: torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
            return {"G": adam(self.G), "D": adam(self.D)}

        def training_step(self, batch):
            real_A, real_B = batch["A"], batch["B"]
            fake_B = self.G(real_A)
            self.set_requires_grad(True, self.D)
            loss_D = gan_loss_D(self.D, real_A, real_B, fake_B.detach())
            self.backward_and_step(loss_D, "D")
            self.set_requires_grad(False, self.D)   # G's update must not touch D
            loss_G = gan_loss_G(self.D, real_A, fake_B) + 100 * F.l1_loss(fake_B, real_B)
            self.backward_and_step(loss_G, "G")
            return {"D": loss_D, "G": loss_G}

        def visuals(self, batch):
            return {"A": batch["A"], "fake_B": self.G(batch["A"]), "B": batch["B"]}

Rules that keep checkpoints complete and resume exact:

- Draw randomness from the global generators (``torch.rand``, dropout, ``random``, ``numpy``);
  the loop checkpoints them. State that is neither a parameter nor a buffer (an image pool, a
  private ``torch.Generator``) belongs in ``get_extra_state``/``set_extra_state``, the standard
  ``nn.Module`` hooks, so that it is part of ``state_dict()``.
- Under ``torchrun`` each network attribute is replaced by a ``DistributedDataParallel`` wrapper
  while ``fit`` runs. Gradients are only averaged across processes for computations that go
  through the wrapper's ``forward``, so call networks as ``self.G(x)``; a network with several
  entry points (``encode``/``decode``) should dispatch through ``forward`` or be split into
  several networks. ``coursekit.train.unwrap(self.G)`` gives the plain module (for
  ``visuals``/``evaluate``, which run without gradients).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

Batch = dict[str, Any]


class Method(nn.Module):
    """Base class of every image-to-image translation method. See the module docstring."""

    #: DistributedDataParallel setting for this method's networks (see ``distributed.py``).
    #: True lets a backward pass leave some of a network's parameters without gradients (a
    #: branch not used in this step); set it to False in a subclass for a little speed when
    #: every backward that goes through a network reaches all of its trainable parameters.
    find_unused_parameters: bool = True
    #: The networks a trained model needs to translate (its generators), by attribute name:
    #: what a course checkpoint (``coursekit.pretrained``) stores. Empty: every network.
    inference_networks: tuple[str, ...] = ()
    #: Networks that are moving averages of others (DDPM's ``{"net_ema": "net"}``): updated
    #: by the method after its optimizer steps, never by an optimizer, without gradients; leave
    #: them out of ``networks()``. They are state, so checkpoints and resume carry them.
    averaged_networks: dict[str, str] = {}

    def __init__(self) -> None:
        super().__init__()
        # Set by the training loop (``_bind``); created on demand when stepping by hand.
        self._optimizers: dict[str, Optimizer] | None = None
        self._scaler: torch.amp.GradScaler | None = None

    # ----------------------------------------------------------------- to implement
    def networks(self) -> dict[str, nn.Module]:
        """The networks of this method, by attribute name.

        Default: every direct child module that has parameters (so loss modules without
        parameters are left out). The loop moves these to the device, wraps them for DDP and
        counts them in checkpoints. Override to be explicit; each key must be the attribute name.
        """
        return {
            name: module
            for name, module in self.named_children()
            if next(module.parameters(), None) is not None
        }

    def configure_optimizers(self) -> dict[str, Optimizer]:
        """Return ``{name: optimizer}``; names are what ``backward_and_step`` refers to."""
        raise NotImplementedError(f"{type(self).__name__} must implement configure_optimizers()")

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        """One training iteration on ``batch`` (already on the device). Returns losses to log."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_step(batch)")

    def visuals(self, batch: Batch) -> dict[str, Tensor]:
        """Images for the sample grid: ``{name: (N, C, H, W) tensor in [-1, 1]}``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement visuals(batch) to save sample grids "
            "(or train with sample_every=0)"
        )

    def lr_multiplier(self, steps: int, decay_steps: int):
        """Optional: the learning-rate rule, a callable ``step -> multiplier of the base rate``
        for ``torch.optim.lr_scheduler.LambdaLR``. Default: ``LinearDecay(steps, decay_steps)``
        (constant, then linear to 0: the reference implementations of pix2pix, CycleGAN and
        CUT). Return an object with plain attributes (``StepDecay``), not a lambda, so that
        checkpoints record it and resume continues it."""
        from coursekit.train.schedule import LinearDecay

        return LinearDecay(steps, decay_steps)

    def evaluate(self, dataset: Any) -> dict[str, float]:
        """Optional: metrics on a held-out ``dataset`` (``fit(..., eval_dataset=...)``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement evaluate(dataset)")

    def hparams(self) -> dict[str, Any] | None:
        """The method's settings as plain values, stored in every checkpoint so that a trained
        model can be rebuilt from its checkpoint alone (``coursekit eval``). Default: the
        dataclass in ``self.config``, if there is one."""
        config = getattr(self, "config", None)
        if config is None or not dataclasses.is_dataclass(config):
            return None
        return _plain(dataclasses.asdict(config))

    # ----------------------------------------------------------------- helpers for subclasses
    @property
    def device(self) -> torch.device:
        """Device of the first parameter (or buffer); CPU for a method without tensors."""
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    @property
    def optimizers(self) -> dict[str, Optimizer]:
        """The optimizers in use. Inside ``fit`` they are the loop's; outside ``fit`` (stepping by
        hand in a notebook) ``configure_optimizers()`` is called once, on first use."""
        if self._optimizers is None:
            self._bind(self.configure_optimizers(), torch.amp.GradScaler(self.device.type, enabled=False))
        assert self._optimizers is not None
        return self._optimizers

    def set_requires_grad(self, flag: bool, *networks: nn.Module) -> None:
        """Switch gradient computation on or off for all parameters of ``networks``.

        Freezing D during G's update saves the work of computing D's gradients and guarantees
        that G's loss cannot change D.
        """
        for network in networks:
            for parameter in network.parameters():
                parameter.requires_grad_(flag)

    def backward_and_step(self, loss: Tensor, *names: str, retain_graph: bool = False,
                          clip_grad_norm: float | None = None) -> None:
        """Update the optimizers ``names`` with the gradient of ``loss``.

        Zeroes their gradients, backpropagates ``loss`` (scaled by the loop's GradScaler under
        fp16, a no-op scaler otherwise), steps them (the scaler skips the step if gradients
        overflowed) and updates the scaler. Several names update several networks from one loss
        (e.g. a generator and an encoder trained jointly). ``clip_grad_norm``: rescale the
        gradients of those optimizers' parameters to at most this total norm before stepping
        (DDPM's training); under fp16 they are unscaled first, so the norm is the true one.
        """
        if not names:
            raise ValueError("backward_and_step(loss, *names) needs at least one optimizer name, e.g. 'G'")
        optimizers = self.optimizers
        unknown = [name for name in names if name not in optimizers]
        if unknown:
            raise KeyError(
                f"backward_and_step: no optimizer named {unknown} in {type(self).__name__}; "
                f"configure_optimizers() returned {sorted(optimizers)}"
            )
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError(f"backward_and_step needs a scalar loss tensor, got {type(loss).__name__} "
                             f"{tuple(loss.shape) if isinstance(loss, Tensor) else ''}")
        if not loss.requires_grad:
            raise RuntimeError(
                f"The loss for {list(names)} does not require gradients: it was computed under "
                "torch.no_grad(), or from detached tensors, or with every network it depends on frozen "
                "(set_requires_grad(False, ...)). Re-enable gradients for the network being trained."
            )
        scaler = self._scaler
        assert scaler is not None
        for name in names:
            optimizers[name].zero_grad(set_to_none=True)
        # Backward under autocast is discouraged by PyTorch: each backward op already runs in the
        # dtype its forward op used, so leave the autocast region for it.
        with torch.autocast(device_type=loss.device.type, enabled=False):
            scaler.scale(loss).backward(retain_graph=retain_graph)
        if clip_grad_norm is not None:
            for name in names:
                scaler.unscale_(optimizers[name])
            torch.nn.utils.clip_grad_norm_([p for name in names
                                            for group in optimizers[name].param_groups
                                            for p in group["params"]], clip_grad_norm)
        for name in names:
            scaler.step(optimizers[name])
        # One update per backward/step cycle: each cycle is a complete "iteration" for the
        # scaler, which keeps the rule "update after all optimizers of this iteration stepped"
        # true however many cycles a method runs per training step.
        scaler.update()

    # ----------------------------------------------------------------- used by the loop
    def _bind(self, optimizers: dict[str, Optimizer], scaler: torch.amp.GradScaler) -> None:
        """Attach the optimizers and the GradScaler that ``backward_and_step`` uses."""
        if not isinstance(optimizers, dict) or not optimizers or not all(
            isinstance(name, str) and isinstance(opt, Optimizer) for name, opt in optimizers.items()
        ):
            raise TypeError(
                f"{type(self).__name__}.configure_optimizers() must return a non-empty dict "
                f"{{name: torch.optim.Optimizer}}, got {optimizers!r}"
            )
        self._optimizers = dict(optimizers)
        self._scaler = scaler


def _plain(value: Any) -> Any:
    """Paths -> str, recursively: checkpoints are loaded with ``weights_only=True``."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def trainable_parameters(networks: Iterable[nn.Module]) -> int:
    """Number of parameters with ``requires_grad`` in ``networks`` (shown when training starts)."""
    return sum(p.numel() for net in networks for p in net.parameters() if p.requires_grad)
