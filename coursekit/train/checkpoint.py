"""Complete, atomic checkpoints and the random-number state that makes resume exact.

A checkpoint written by ``fit`` is one ``torch.save`` file holding a plain dict:

=================  =============================================================================
``format``         ``"coursekit.train/1"``
``method_class``   ``"package.module.ClassName"`` of the method that wrote it
``method``         ``method.state_dict()`` with DDP wrappers removed: every network's parameters
                   and buffers (BatchNorm statistics) plus any ``get_extra_state`` of the method
``optimizers``     ``{name: optimizer.state_dict()}`` (Adam moments, step counts, learning rates)
``schedulers``     ``{name: LambdaLR.state_dict()}``
``scaler``         the GradScaler's state (empty unless fp16)
``progress``       ``Progress``: steps done, epoch, batches done in that epoch, batches per
                   epoch, training seconds so far
``rng``            one entry per process: Python ``random``, NumPy, torch CPU and every CUDA
                   device's generator state, taken at a step boundary
``world_size``     number of processes that trained
``config``         the ``TrainConfig`` as a dict
``partial_step``   True if Ctrl-C arrived in the middle of a step (see ``loop.py``)
``torch_version``  for the record
=================  =============================================================================

Files are written atomically: the bytes go to a temporary file in the same directory, are
flushed and fsync'ed, and ``os.replace`` swaps the temporary file in, so a crash or a second
Ctrl-C while writing leaves the previous checkpoint intact. Everything in the dict is a tensor,
number, string, list, tuple or dict, so checkpoints load with ``torch.load(weights_only=True)``
and never execute code from the file.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

FORMAT = "coursekit.train/1"

#: Config fields that decide the training trajectory; resuming with different values could not
#: continue the same run, so it is refused. Other fields (out_dir, logging intervals, device,
#: precision, num_workers, progress) may change between sessions.
TRAJECTORY_FIELDS = ("steps", "decay_steps", "epochs", "epochs_decay", "batch_size", "seed",
                     "data")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read, or does not belong to this method/config."""


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (a full disk, no permission); the previous one is
    intact."""


@dataclasses.dataclass
class Progress:
    """Where training stands. ``step`` counts completed optimizer steps (training steps)."""

    step: int = 0
    epoch: int = 0  # epoch of the next batch, 0-based
    batch_in_epoch: int = 0  # batches of that epoch already trained on
    batches_per_epoch: int = 0
    seconds: float = 0.0  # training time over all sessions

    def advance(self) -> None:
        """Record one finished step, rolling over to the next epoch at its end."""
        self.step += 1
        self.batch_in_epoch += 1
        if self.batch_in_epoch == self.batches_per_epoch:
            self.epoch += 1
            self.batch_in_epoch = 0


# --------------------------------------------------------------------------- random state
def capture_rng_state() -> dict[str, Any]:
    """Snapshot of the global generators: Python ``random``, NumPy, torch CPU and CUDA.

    CUDA states are included when CUDA has been initialised in this process (if it has not,
    nothing was drawn from them yet).
    """
    np_state = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        # Plain tensor and numbers instead of a NumPy array, so weights_only loading accepts it.
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put the global generators back into the ``capture_rng_state`` snapshot ``state``."""
    random.setstate(_as_tuple(state["python"]))
    numpy = state["numpy"]
    np.random.set_state(
        ("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
         numpy["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


def _as_tuple(value: Any) -> Any:
    """``random.setstate`` needs tuples; a saved state may come back with lists."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(item) for item in value)
    return value


@contextlib.contextmanager
def preserve_rng() -> Iterator[None]:
    """Run a block without disturbing the global random streams (restored on exit).

    The loop draws sample grids and evaluations inside it, so how often they run never changes
    the training trajectory.
    """
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


def seed_everything(seed: int) -> None:
    """Seed Python ``random``, NumPy and torch (CPU and all CUDA devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- files
def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); not possible (nor needed) on Windows."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either the old or the new content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write_bytes` leaves in ``folder`` (and its
    ``samples/``) when its process is killed mid-write (``.NAME.XXXXXXXX.tmp``). Call it before
    a process starts writing there; returns what was removed."""
    removed = []
    for directory in (Path(folder), Path(folder) / "samples"):
        if directory.is_dir():
            for path in directory.glob(".*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed


def save_checkpoint(checkpoint: dict[str, Any], *paths: str | os.PathLike) -> None:
    """Serialise ``checkpoint`` once and write it atomically to each of ``paths``."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    for path in paths:
        atomic_write_bytes(data, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``fit`` onto the CPU (``weights_only``, no code execution)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        snapshots = sorted(path.parent.glob("step_*.pt"))
        remedy = (f"The newest periodic snapshot in the same folder, {snapshots[-1]}, can replace "
                  f"it: copy it to {path}." if snapshots and snapshots[-1] != path else
                  "There is no periodic snapshot (step_*.pt) beside it to fall back on: start a "
                  "new run (snapshots are kept with keep_every, --keep-every on the command line).")
        raise CheckpointError(
            f"Could not read the checkpoint {path} ({type(error).__name__}: {error}). The file is "
            f"damaged or was not written by coursekit. {remedy}"
        ) from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(
            f"{path} is not a coursekit training checkpoint (format {found!r}, expected {FORMAT!r}). "
            "Plain weight files load with method.load_state_dict(torch.load(path))."
        )
    return checkpoint


# --------------------------------------------------------------------------- compatibility
def method_class_name(method: torch.nn.Module) -> str:
    """``module.ClassName`` recorded in checkpoints to recognise the method."""
    cls = type(method)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_compatible(
    checkpoint: dict[str, Any],
    *,
    path: Path,
    method: torch.nn.Module,
    config: dict[str, Any],
    world_size: int,
    batches_per_epoch: int,
) -> None:
    """Refuse to resume from a checkpoint written by another method or an incompatible run.

    Raises ``CheckpointError`` naming what differs and how to proceed.
    """
    fix = (f"Resume with the same settings, or start a new run in another folder (out_dir, "
           f"--out on the command line), or delete {path.parent}.")
    expected_class = method_class_name(method)
    if checkpoint["method_class"] != expected_class:
        raise CheckpointError(
            f"{path} was written by the method {checkpoint['method_class']}, not {expected_class}. {fix}"
        )
    saved_config = checkpoint["config"]
    # Training longer is continuing the run when its rate never decays (decay_steps and
    # epochs_decay 0 in both): the length then only says when to stop, so it may grow.
    constant_rate = all(saved_config.get(k, 0) == 0 == config.get(k, 0)
                        for k in ("decay_steps", "epochs_decay"))

    def continues(field: str) -> bool:
        old, new = saved_config.get(field), config.get(field)
        return (constant_rate and field in ("steps", "epochs") and old is not None
                and new is not None and new >= old)

    differences = [
        f"{field}: checkpoint {saved_config.get(field)!r}, now {config.get(field)!r}"
        for field in TRAJECTORY_FIELDS
        if saved_config.get(field) != config.get(field) and not continues(field)
    ]
    if differences:
        raise CheckpointError(
            f"The training settings differ from the run that wrote {path} in "
            f"({'; '.join(differences)}). These settings define the training run, so it cannot be "
            f"continued with new values (only a run whose rate never decays, decay_steps=0, may "
            f"be made longer). {fix}"
        )
    if checkpoint["world_size"] != world_size:
        raise CheckpointError(
            f"{path} was written by {checkpoint['world_size']} process(es) but this run has {world_size}. "
            "Exact resume needs the same number of processes (each has its own data shard and random "
            f"streams): launch with torchrun --nproc_per_node {checkpoint['world_size']}"
            + (" (or plain python)" if checkpoint["world_size"] == 1 else "") + "."
        )
    saved_batches = checkpoint["progress"]["batches_per_epoch"]
    if saved_batches != batches_per_epoch:
        raise CheckpointError(
            f"{path} was written with {saved_batches} batches per epoch but the data now gives "
            f"{batches_per_epoch}: the dataset size changed. Use the same dataset to resume. {fix}"
        )


def load_method_state(method: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """``method.load_state_dict(state)`` with an error that explains the usual cause."""
    try:
        method.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(
            f"The weights in {path} do not fit {type(method).__name__}: {error}\n"
            "The networks must be built with the same options (channels, norm, dropout, number of "
            "layers) as when the checkpoint was written."
        ) from error


def load_weights(method: torch.nn.Module, path: str | os.PathLike) -> dict[str, Any]:
    """Load the networks saved in a training checkpoint (``latest.pt``, ``step_*.pt``) into
    ``method``, e.g. to evaluate or sample from a trained model. Returns the whole checkpoint
    (``checkpoint["progress"]["step"]`` says how far it was trained)."""
    path = Path(path)
    checkpoint = load_checkpoint(path)
    expected = method_class_name(method)
    if checkpoint["method_class"] != expected:
        raise CheckpointError(f"{path} holds a {checkpoint['method_class']}, not a {expected}: build that method "
                              "(with the options it was trained with) to load it.")
    load_method_state(method, checkpoint["method"], path)
    return checkpoint
