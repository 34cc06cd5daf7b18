"""The learning-rate schedule of the reference implementations: constant, then linear decay to 0.

pix2pix, CycleGAN, BicycleGAN and CUT train ``n_epochs`` at the base learning rate and then
``n_epochs_decay`` more while the rate falls linearly. Their rule (``lr_policy='linear'``), with
the scheduler stepped once per epoch and ``t`` the 0-based epoch index, is::

    multiplier(t) = 1 - max(0, t + 1 - n_epochs) / (n_epochs_decay + 1)

We apply the same rule per optimizer step instead of per epoch. With ``t`` the 0-based index of
the step being taken, ``steps`` the total and ``decay_steps`` the number of decaying steps
(``n_const = steps - decay_steps``)::

    multiplier(t) = 1 - max(0, t + 1 - n_const) / (decay_steps + 1)

so that, exactly as in the reference:

- steps ``0 .. n_const-1`` use the base rate (multiplier 1);
- the first decaying step ``t = n_const`` uses ``1 - 1/(decay_steps+1)``;
- the last step ``t = steps-1`` uses ``1/(decay_steps+1)`` (small, not 0, so no step is wasted);
- the multiplier reaches 0 at ``t = steps``, i.e. once training is over.

In epoch mode (``epochs`` + ``epochs_decay``) the loop converts to steps with the loader length
(``steps_from_epochs``). With one batch per epoch the two rules are identical; with more, the rate
falls smoothly instead of in per-epoch stairs, and during every epoch it sweeps through the
reference's constant value for that epoch (it starts at or above it and ends at or below it).
"""
from __future__ import annotations

from typing import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class LinearDecay:
    """Learning-rate multiplier: 1 for the first ``steps - decay_steps`` steps, then linear to 0.

    A small callable class (not a lambda) so ``LambdaLR.state_dict()`` records its two numbers
    in checkpoints.
    """

    def __init__(self, steps: int, decay_steps: int) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not 0 <= decay_steps <= steps:
            raise ValueError(f"decay_steps must be between 0 and steps={steps}, got {decay_steps}")
        self.steps = int(steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step: int) -> float:
        """Multiplier of the base learning rate for the 0-based optimizer step ``step``."""
        n_const = self.steps - self.decay_steps
        return 1.0 - max(0, step + 1 - n_const) / float(self.decay_steps + 1)

    def __repr__(self) -> str:
        return f"LinearDecay(steps={self.steps}, decay_steps={self.decay_steps})"


class StepDecay:
    """Learning-rate multiplier ``gamma ** (step // step_size)``: the base rate, multiplied by
    ``gamma`` every ``step_size`` steps (MUNIT's ``lr_policy: step``, x0.5 every 100k)."""

    def __init__(self, step_size: int, gamma: float) -> None:
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def __call__(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)

    def __repr__(self) -> str:
        return f"StepDecay(step_size={self.step_size}, gamma={self.gamma})"


class InverseDecay:
    """Learning-rate multiplier ``1 / (1 + decay * step)``: AdaIN style transfer's rule
    (``lr / (1 + lr_decay * iteration)``, lr_decay 5e-5: half the rate after 20k steps)."""

    def __init__(self, decay: float) -> None:
        if decay < 0:
            raise ValueError(f"decay must be >= 0, got {decay}")
        self.decay = float(decay)

    def __call__(self, step: int) -> float:
        return 1.0 / (1.0 + self.decay * step)

    def __repr__(self) -> str:
        return f"InverseDecay(decay={self.decay})"


def steps_from_epochs(epochs: int, epochs_decay: int, batches_per_epoch: int) -> tuple[int, int]:
    """Convert the reference's ``(n_epochs, n_epochs_decay)`` to ``(steps, decay_steps)``.

    ``epochs`` is the number of constant-rate epochs and ``epochs_decay`` the number of decaying
    ones (reference defaults 100 + 100), so training lasts ``epochs + epochs_decay`` epochs.
    """
    if batches_per_epoch < 1:
        raise ValueError(f"batches_per_epoch must be >= 1, got {batches_per_epoch}")
    return (epochs + epochs_decay) * batches_per_epoch, epochs_decay * batches_per_epoch


def make_schedulers(optimizers: dict[str, Optimizer], steps: int, decay_steps: int,
                    multiplier: Callable[[int], float] | None = None) -> dict[str, LambdaLR]:
    """One ``LambdaLR`` per optimizer, all following ``multiplier`` (default
    ``LinearDecay(steps, decay_steps)``; a method chooses another with
    ``Method.lr_multiplier``).

    The loop calls ``scheduler.step()`` once after every training step, so while step ``t`` runs
    ``scheduler.last_epoch == t`` and the optimizer's rate is ``base_lr * LinearDecay(...)(t)``.
    """
    rule = multiplier if multiplier is not None else LinearDecay(steps, decay_steps)
    return {name: LambdaLR(opt, rule) for name, opt in optimizers.items()}
