"""One training loop for every method in the course.

A method (``Method`` subclass) supplies networks, optimizers and one training step; ``fit`` does
the rest: device and precision, data order, the reference learning-rate schedule, progress bar,
``metrics.jsonl``, sample grids, complete atomic checkpoints with exact resume, Ctrl-C, and
multi-GPU training under ``torchrun``::

    from coursekit.train import TrainConfig, fit
    result = fit(Pix2Pix(), dataset, TrainConfig(epochs=100, epochs_decay=100, out_dir="runs/facades"))
    # interrupted? run the same call again with resume=True
"""
from .checkpoint import (
    CheckpointError,
    CheckpointSaveError,
    Progress,
    capture_rng_state,
    load_checkpoint,
    load_weights,
    preserve_rng,
    restore_rng_state,
    save_checkpoint,
    seed_everything,
)
from .device import (PRECISIONS, DeviceUnavailableError, autocast_context, make_grad_scaler,
                     select_device)
from .distributed import DistributedContext, ShardedEpochSampler, context_from_env, unwrap
from .loop import NonFiniteLossError, TrainConfig, TrainResult, fit, save_sample_grid
from .method import Method
from .schedule import (InverseDecay, LinearDecay, StepDecay, make_schedulers,
                       steps_from_epochs)

__all__ = [
    "CheckpointError",
    "CheckpointSaveError",
    "DeviceUnavailableError",
    "DistributedContext",
    "LinearDecay",
    "Method",
    "NonFiniteLossError",
    "PRECISIONS",
    "Progress",
    "ShardedEpochSampler",
    "TrainConfig",
    "TrainResult",
    "autocast_context",
    "capture_rng_state",
    "context_from_env",
    "fit",
    "load_checkpoint",
    "load_weights",
    "make_grad_scaler",
    "make_schedulers",
    "StepDecay",
    "InverseDecay",
    "preserve_rng",
    "restore_rng_state",
    "save_checkpoint",
    "save_sample_grid",
    "seed_everything",
    "select_device",
    "steps_from_epochs",
    "unwrap",
]
