"""One training loop for every method: ``fit(method, dataset, TrainConfig(...))``.

What a run writes to ``out_dir``:

- ``metrics.jsonl``: one JSON object per line every ``log_every`` steps:
  ``{"step", "epoch", "lr": {optimizer: rate}, "losses": {name: mean since the previous line
  (or the resume)}, "seconds"}`` (under torchrun the losses are rank 0's); evaluations add
  lines ``{"step", "epoch", "eval": {...}, "seconds"}``.
  ``step`` counts finished steps, ``seconds`` is training time over all sessions.
- ``samples/step_000100.png``: ``method.visuals`` of a fixed batch (the first ``num_samples``
  items of the dataset), one row per item, one column per visual; ``step_000000.png`` shows the
  untrained networks.
- ``latest.pt`` every ``checkpoint_every`` steps, at the end and on Ctrl-C; ``step_000100.pt``
  snapshots every ``keep_every`` steps (see ``checkpoint.py`` for the contents).

Exact resume. ``TrainConfig(resume=True)`` continues from ``latest.pt`` and, on the CPU with
``num_workers=0``, ends with bitwise the same weights as a run that was never interrupted:

- networks, optimizers, schedulers, GradScaler and the position (epoch, batch within the epoch)
  are restored;
- the data order of epoch ``e`` is a permutation drawn from ``(seed, e)`` alone, and the batches
  of the interrupted epoch that were already used are skipped;
- the global random streams (Python, NumPy, torch CPU and CUDA: dropout, random flips in the
  dataset, noise) are saved at a step boundary and restored;
- sample grids and evaluations run with the random streams saved and restored around them.

Training longer. A finished run whose rate never decays (``decay_steps=0``) resumes with a
larger ``steps`` and ends as a run given that length from the start would; with a decay the
rate at every step depends on the length, so a longer run is a new one.

Limits: with ``num_workers > 0`` the augmentations are drawn in worker processes, started anew
every epoch with seeds derived from ``(seed, epoch, rank)``. A resume at an epoch boundary is
still exact; a resume mid-epoch replays the same images in the same order, but the random
augmentations of the rest of that epoch differ, so the weights no longer match bitwise.
On CUDA the result is bitwise repeatable only with deterministic kernels
(``torch.use_deterministic_algorithms(True)``); otherwise a resumed run is as close to the
original as two uninterrupted runs are to each other.

Ctrl-C. The first Ctrl-C (SIGINT, also Jupyter's "interrupt kernel") lets the current step finish,
saves ``latest.pt``, prints how to resume and returns a ``TrainResult`` with
``interrupted=True``. A ``KeyboardInterrupt`` raised in the middle of a step (a second Ctrl-C)
also saves: exactly if no network had run yet in that step, otherwise with the half-done step
counted as done (the run continues, but is no longer bitwise the uninterrupted one). Under
torchrun a hard interrupt does not save, since the other processes may be inside a collective.

A NaN or infinite loss raises ``NonFiniteLossError`` and leaves the last checkpoint untouched.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision.utils import make_grid, save_image
from tqdm.auto import tqdm

from . import distributed as ddp
from .checkpoint import (
    FORMAT,
    CheckpointSaveError,
    Progress,
    atomic_write_bytes,
    capture_rng_state,
    check_compatible,
    load_checkpoint,
    load_method_state,
    method_class_name,
    preserve_rng,
    remove_stale_temporaries,
    restore_rng_state,
    save_checkpoint,
    seed_everything,
)
from .device import FP16_ON_CPU, autocast_context, check_precision, make_grad_scaler
from .method import Method, trainable_parameters
from .schedule import make_schedulers, steps_from_epochs


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; training stopped without overwriting the last checkpoint."""


@dataclasses.dataclass
class TrainConfig:
    """Everything about a training run that is not the method itself.

    Length: give ``steps`` (total optimizer steps; the last ``decay_steps`` of them decay the
    learning rate linearly to 0) OR ``epochs`` + ``epochs_decay`` (the reference's
    ``n_epochs`` + ``n_epochs_decay``: ``epochs`` at the full rate, then ``epochs_decay``
    decaying), which ``fit`` converts to steps with the number of batches per epoch.
    ``batch_size`` is per process under torchrun. Intervals are in steps; 0 disables.
    """

    steps: int | None = None
    decay_steps: int = 0
    epochs: int | None = None
    epochs_decay: int = 0
    batch_size: int = 1
    num_workers: int = 0
    seed: int = 0
    out_dir: str | os.PathLike = "runs/train"
    log_every: int = 50
    sample_every: int = 500
    num_samples: int = 4
    checkpoint_every: int = 500
    keep_every: int = 0
    eval_every: int = 0
    device: str = "auto"  # "auto" | "cuda" | "cuda:1" | "mps" | "cpu"
    precision: str = "fp32"  # "fp32" | "bf16" | "fp16"
    resume: bool = False
    progress: bool = True
    #: What the run trains on (a dataset name or folder), recorded in its checkpoints so that
    #: evaluating or resuming it finds the same data; not read by ``fit`` itself.
    data: str | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(
                "Give the length of training either as steps=... (with decay_steps=...) or as "
                f"epochs=... (with epochs_decay=...), not {'both' if self.steps is not None else 'neither'}."
            )
        if self.steps is not None:
            _require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
            _require(0 <= self.decay_steps <= self.steps,
                     f"decay_steps must be between 0 and steps={self.steps}, got {self.decay_steps}")
            _require(self.epochs_decay == 0, "epochs_decay belongs to epochs=...; with steps=... use decay_steps")
        else:
            _require(self.epochs >= 0 and self.epochs_decay >= 0 and self.epochs + self.epochs_decay >= 1,
                     "epochs and epochs_decay must be >= 0 with a positive sum, "
                     f"got {self.epochs} and {self.epochs_decay}")
            _require(self.decay_steps == 0, "decay_steps belongs to steps=...; with epochs=... use epochs_decay")
        _require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _require(self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}")
        _require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        for name in ("log_every", "sample_every", "checkpoint_every", "keep_every", "eval_every"):
            _require(getattr(self, name) >= 0, f"{name} must be >= 0 (0 disables it), got {getattr(self, name)}")
        _require(self.num_samples >= 1, f"num_samples must be >= 1, got {self.num_samples}")
        check_precision(self.precision)

    def resolve_steps(self, batches_per_epoch: int) -> tuple[int, int]:
        """``(steps, decay_steps)`` of this run, given the number of batches per epoch."""
        if self.steps is not None:
            return self.steps, self.decay_steps
        assert self.epochs is not None
        return steps_from_epochs(self.epochs, self.epochs_decay, batches_per_epoch)

    def to_dict(self) -> dict[str, Any]:
        """Plain-value dict (``out_dir`` as a string) stored in checkpoints."""
        values = dataclasses.asdict(self)
        values["out_dir"] = str(self.out_dir)
        return values


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclasses.dataclass
class TrainResult:
    """What ``fit`` returns."""

    step: int  # finished steps
    total_steps: int
    interrupted: bool
    out_dir: Path
    checkpoint: Path | None  # last checkpoint written by this call, if any
    losses: dict[str, float]  # smoothed (exponential moving average) losses at the end
    eval_metrics: dict[str, float]
    seconds: float  # training time over all sessions

    @property
    def finished(self) -> bool:
        """True when all ``total_steps`` are done."""
        return self.step >= self.total_steps


def fit(method: Method, dataset: Dataset, config: TrainConfig, *, eval_dataset: Dataset | None = None,
        resume_command: str | None = None) -> TrainResult:
    """Train ``method`` on ``dataset`` as described by ``config`` (see the module docstring).

    Works the same in a notebook, a script, and under ``torchrun`` (one process per GPU).
    Returns when training is finished or was interrupted with Ctrl-C. ``resume_command``: the
    command line that continues this run (the ``coursekit`` command passes it); messages about
    resuming then quote it instead of the Python call.
    """
    if not isinstance(method, Method):
        raise TypeError(f"fit() needs a coursekit.train.Method, got {type(method).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"fit() needs a TrainConfig, got {type(config).__name__}")
    if eval_dataset is not None and type(method).evaluate is Method.evaluate:
        raise ValueError(f"eval_dataset was given but {type(method).__name__} does not implement evaluate(dataset)")
    try:
        dataset_size = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError("fit() needs a map-style dataset with __len__ and __getitem__") from None

    context = ddp.context_from_env()
    device = ddp.training_device(context, config.device)
    created_group = ddp.init_process_group(context, device)
    try:
        if config.precision == "fp16" and device.type == "cpu":
            warnings.warn(FP16_ON_CPU, UserWarning, stacklevel=2)
        run = _Run(method, dataset, dataset_size, config, eval_dataset, context, device, resume_command)
        return run.train()
    finally:
        ddp.unwrap_networks(method)
        ddp.destroy_process_group(created_group)


class _StopOnCtrlC:
    """While active, the first SIGINT only sets ``requested``; a second raises KeyboardInterrupt.

    Signal handlers can only be installed from the main thread; elsewhere Ctrl-C keeps its
    default behaviour (a KeyboardInterrupt, handled by the loop as a hard interrupt).
    """

    def __init__(self, announce: Callable[[str], None]) -> None:
        self.requested = False
        self._announce = announce
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._announce("\nCtrl-C: finishing this step, then saving a checkpoint "
                       "(press Ctrl-C again to stop at once).")

    def __enter__(self) -> "_StopOnCtrlC":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; every submodule's own train/eval flag restored afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(value, device) for value in batch)
    return batch


def _loss_values(losses: Any, method: Method) -> dict[str, float]:
    """Losses returned by ``training_step`` as floats (one device synchronisation)."""
    if not isinstance(losses, dict) or not all(isinstance(k, str) for k in losses):
        raise TypeError(
            f"{type(method).__name__}.training_step must return a dict {{name: scalar loss tensor}}, "
            f"got {type(losses).__name__}"
        )
    if not losses:
        return {}
    scalars = []
    for name, value in losses.items():
        tensor = value.detach() if isinstance(value, Tensor) else torch.tensor(float(value))
        if tensor.numel() != 1:
            raise ValueError(f"training_step returned loss {name!r} with shape {tuple(tensor.shape)}; "
                             "losses must be scalars")
        scalars.append(tensor.reshape(()).float())
    device = next((t.device for t in scalars if t.device.type != "cpu"), scalars[0].device)
    # One stack and one copy to the host: a single synchronisation with the GPU per step.
    return dict(zip(losses, torch.stack([t.to(device) for t in scalars]).cpu().tolist()))


def save_sample_grid(images: dict[str, Tensor], path: str | os.PathLike) -> None:
    """Save ``{name: (N, C, H, W) in [-1, 1]}`` as a PNG grid: one row per item, one column per name."""
    if not isinstance(images, dict) or not images:
        raise ValueError("visuals(batch) must return a non-empty dict {name: (N, C, H, W) tensor in [-1, 1]}")
    columns = []
    for name, image in images.items():
        if not isinstance(image, Tensor) or image.dim() != 4 or image.shape[1] not in (1, 3):
            shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
            raise ValueError(f"visuals()[{name!r}] must be an (N, 1 or 3, H, W) tensor, got {shape}")
        image = image.detach().float().cpu()
        columns.append(image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image)
    shapes = {name: (c.shape[0], *c.shape[2:]) for name, c in zip(images, columns)}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"visuals() images must share N, H and W to form a grid, got {shapes}")
    count = columns[0].shape[0]
    grid = torch.stack(columns, dim=1).reshape(count * len(columns), *columns[0].shape[1:])
    grid = make_grid(((grid + 1) / 2).clamp(0, 1), nrow=len(columns), padding=2)
    buffer = io.BytesIO()
    save_image(grid, buffer, format="png")
    atomic_write_bytes(buffer.getvalue(), path)  # a half-written PNG is never left behind


class _Run:
    """The state of one ``fit`` call; ``train()`` runs it."""

    def __init__(self, method: Method, dataset: Dataset, dataset_size: int, config: TrainConfig,
                 eval_dataset: Dataset | None, context: ddp.DistributedContext, device: torch.device,
                 resume_command: str | None = None) -> None:
        self.resume_command = resume_command
        self.method = method
        self.dataset = dataset
        self.config = config
        self.eval_dataset = eval_dataset
        self.context = context
        self.device = device
        self.out_dir = Path(config.out_dir)
        self.latest_path = self.out_dir / "latest.pt"
        self.metrics_path = self.out_dir / "metrics.jsonl"

        self.sampler = ddp.ShardedEpochSampler(dataset_size, config.batch_size, config.seed,
                                               context.rank, context.world_size)
        self.total_steps, decay_steps = config.resolve_steps(self.sampler.batches_per_epoch)
        # Re-seeded before each epoch: fixes the seeds of the worker processes, and keeps the
        # DataLoader from drawing its base seed from the global generator (it would otherwise,
        # even with num_workers=0, and a resumed run would draw it at a different moment).
        self.loader_generator = torch.Generator()
        self.loader = DataLoader(dataset, batch_size=config.batch_size, sampler=self.sampler,
                                 num_workers=config.num_workers, pin_memory=device.type == "cuda",
                                 generator=self.loader_generator)
        self.progress = Progress(batches_per_epoch=self.sampler.batches_per_epoch)
        self.checkpoint_written: Path | None = None
        self.saved_at_step = -1
        self.smoothed: dict[str, float] = {}
        self.window: dict[str, list[float]] = {}
        self.session_start = time.perf_counter()
        self.seconds_before = 0.0
        self.touched = False  # did a network run in the current step (see _on_interrupt)

        method.to(device)
        method.train()
        checkpoint = self._find_checkpoint()
        self.networks = method.networks()
        for name, network in self.networks.items():
            if getattr(method, name, None) is not network:
                raise ValueError(f"{type(method).__name__}.networks() key {name!r} must be the attribute "
                                 f"name of that network (self.{name})")
        if checkpoint is not None:
            load_method_state(method, checkpoint["method"], self.latest_path)
        if context.enabled:
            ddp.wrap_networks(method, self.networks, device)
        self.optimizers = method.configure_optimizers()
        self.scaler = make_grad_scaler(device, config.precision)
        method._bind(self.optimizers, self.scaler)
        self.schedulers = make_schedulers(self.optimizers, self.total_steps, decay_steps,
                                          method.lr_multiplier(self.total_steps, decay_steps))
        self.start_rng: dict[str, Any] | None = None
        if checkpoint is not None:
            self._restore_training_state(checkpoint)
        self.sample_batch = self._make_sample_batch() if context.is_main and config.sample_every else None

    # ------------------------------------------------------------------ setup
    def _mark_touched(self, *args: Any) -> None:
        self.touched = True

    def _find_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint to resume from, if any; refuses to overwrite a run by accident."""
        if not self.latest_path.exists():
            if self.config.resume:
                self._say(f"No checkpoint in {self.out_dir}; starting from step 0.")
            return None
        checkpoint = load_checkpoint(self.latest_path)
        if not self.config.resume:
            other = "give another --out" if self.resume_command else "choose another out_dir"
            raise FileExistsError(
                f"{self.out_dir} already holds a training run (latest.pt at step "
                f"{checkpoint['progress']['step']}). To continue it: {self._how_to_resume()}. To "
                f"start a new run, {other} (or delete {self.out_dir}).")
        check_compatible(checkpoint, path=self.latest_path, method=self.method, config=self.config.to_dict(),
                         world_size=self.context.world_size, batches_per_epoch=self.sampler.batches_per_epoch)
        return checkpoint

    def _restore_training_state(self, checkpoint: dict[str, Any]) -> None:
        saved = set(checkpoint["optimizers"])
        if saved != set(self.optimizers):
            raise ValueError(f"{self.latest_path} has optimizers {sorted(saved)} but configure_optimizers() "
                             f"returned {sorted(self.optimizers)}")
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(checkpoint["optimizers"][name])
            scheduler = self.schedulers[name]
            rules = [vars(rule).copy() for rule in scheduler.lr_lambdas]
            scheduler.load_state_dict(checkpoint["schedulers"][name])
            # Keep this run's rule (its position comes from the checkpoint): the same as the
            # saved one, except for a constant-rate run made longer, whose rule must know the
            # new length (check_compatible allows nothing else).
            for rule, attributes in zip(scheduler.lr_lambdas, rules):
                vars(rule).update(attributes)
            # The rates the next step uses, by this rule (LambdaLR's own expression, so the
            # saved rates when the rule is the saved one).
            for group, base, rule in zip(optimizer.param_groups, scheduler.base_lrs,
                                         scheduler.lr_lambdas):
                group["lr"] = base * rule(scheduler.last_epoch)
            scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
        if checkpoint["config"]["precision"] != self.config.precision:
            self._say(f"Note: precision changed from {checkpoint['config']['precision']} to "
                      f"{self.config.precision}; the continued run differs from an uninterrupted one.")
        elif self.scaler.is_enabled():
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.progress = Progress(**checkpoint["progress"])
        self.seconds_before = self.progress.seconds
        self.saved_at_step = self.progress.step
        self.start_rng = checkpoint["rng"][self.context.rank]
        if checkpoint.get("partial_step"):
            self._say("Note: this checkpoint was saved in the middle of a step; the continued run is "
                      "not bitwise identical to an uninterrupted one.")
        if self.context.is_main:
            self._truncate_metrics(self.progress.step)
        self._say(f"Resuming from {self.latest_path} at step {self.progress.step}/{self.total_steps} "
                  f"(epoch {self.progress.epoch}, batch {self.progress.batch_in_epoch}).")

    def _truncate_metrics(self, step: int) -> None:
        """Drop metric lines of steps after the checkpoint: they will be trained (and logged) again."""
        if not self.metrics_path.exists():
            return
        kept = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line + "\n")
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
        atomic_write_bytes("".join(kept).encode(), self.metrics_path)

    def _make_sample_batch(self) -> dict[str, Any]:
        """The first ``num_samples`` items, drawn with a fixed seed so random augmentations are
        the same in every session, without touching the training random streams."""
        count = min(self.config.num_samples, len(self.dataset))  # type: ignore[arg-type]
        with preserve_rng():
            seed_everything(self.config.seed)
            items = [self.dataset[i] for i in range(count)]
        return _to_device(torch.utils.data.default_collate(items), self.device)

    # ------------------------------------------------------------------ main loop
    def train(self) -> TrainResult:
        method, config = self.method, self.config
        if self.context.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            stale = remove_stale_temporaries(self.out_dir)
            if stale:
                self._say(f"Removed {len(stale)} unfinished temporary file(s) that an interrupted "
                          f"save had left in {self.out_dir}.")
            if self.progress.step == 0 and self.metrics_path.exists():
                # A run that stopped before its first checkpoint starts again from step 0: its
                # old lines would be logged twice.
                self._truncate_metrics(0)
            if self.progress.step == 0:
                count = trainable_parameters(self.networks.values())
                self._say(f"Training {type(method).__name__} ({count:,} trainable parameters) on {self.device} "
                          f"for {self.total_steps} steps ({self.sampler.batches_per_epoch} batches per epoch"
                          f"{f', {self.context.world_size} processes' if self.context.enabled else ''}), "
                          f"writing to {self.out_dir}.")
        if self.progress.step == 0 and config.sample_every and self.context.is_main:
            self._write_samples()
        if self.start_rng is not None:
            restore_rng_state(self.start_rng)
        else:
            seed_everything(config.seed + self.context.rank)
        hooks = [net.register_forward_pre_hook(self._mark_touched) for net in self.networks.values()]
        bar = tqdm(total=self.total_steps, initial=self.progress.step, unit="step", dynamic_ncols=True,
                   desc=type(method).__name__, disable=not (config.progress and self.context.is_main))
        try:
            with _StopOnCtrlC(self._say) as ctrl_c:
                interrupted = self._loop(ctrl_c, bar)
        finally:
            bar.close()
            for hook in hooks:
                hook.remove()
        eval_metrics: dict[str, float] = {}
        if not interrupted:
            if self.saved_at_step != self.progress.step:
                self._save_checkpoint()
            if config.sample_every and self.context.is_main and self.progress.step % config.sample_every:
                self._write_samples()
            if self.eval_dataset is not None:
                eval_metrics = self._evaluate()
        return TrainResult(step=self.progress.step, total_steps=self.total_steps, interrupted=interrupted,
                           out_dir=self.out_dir, checkpoint=self.checkpoint_written, losses=dict(self.smoothed),
                           eval_metrics=eval_metrics, seconds=self._seconds())

    def _loop(self, ctrl_c: _StopOnCtrlC, bar: Any) -> bool:
        """Train until done (returns False) or interrupted (saves, returns True)."""
        progress = self.progress
        batches: Iterator[Any] | None = None
        while progress.step < self.total_steps:
            boundary_rng = capture_rng_state()
            self.touched = False
            step_done = False
            try:
                if batches is None:
                    self.sampler.set_epoch(progress.epoch, progress.batch_in_epoch)
                    self.loader_generator.manual_seed(
                        ddp.derive_seed(self.config.seed, progress.epoch, self.context.rank, 1))
                    batches = iter(self.loader)
                batch = _to_device(next(batches), self.device)
                lrs = {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}
                with autocast_context(self.device, self.config.precision):
                    losses = _loss_values(self.method.training_step(batch), self.method)
                bad = [name for name, value in losses.items() if not math.isfinite(value)]
                bad_somewhere, stop = ddp.any_across_ranks(self.context, [bool(bad), ctrl_c.requested], self.device)
                if bad_somewhere:
                    self._raise_non_finite(bad, losses)
                self._step_schedulers()
                progress.advance()
                step_done = True
                if progress.batch_in_epoch == 0:
                    batches = None
                self._after_step(losses, lrs, bar)
                if stop:
                    self._on_interrupt(partial=False)
                    return True
            except KeyboardInterrupt:
                if self.context.enabled:
                    self._say(f"Interrupted; no checkpoint saved (other processes may be inside a collective). "
                              f"The last checkpoint is {self.latest_path} at step {self.saved_at_step}.")
                    raise
                if not step_done:
                    if self.touched:
                        # The networks have changed; count the half-done step so nothing is repeated.
                        self._step_schedulers()
                        progress.advance()
                    else:
                        restore_rng_state(boundary_rng)  # as if this step's batch had not been drawn
                self._on_interrupt(partial=not step_done and self.touched)
                return True
        return False

    def _step_schedulers(self) -> None:
        with warnings.catch_warnings():
            # In fp16 the GradScaler skips the optimizer steps whose gradients overflowed (the
            # first few, while it calibrates its scale); PyTorch then warns that the schedule
            # moved before the optimizer, which is intended here: the schedule counts steps.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            for scheduler in self.schedulers.values():
                scheduler.step()

    def _after_step(self, losses: dict[str, float], lrs: dict[str, float], bar: Any) -> None:
        """Bookkeeping after step number ``progress.step`` (1-based) finished, which used ``lrs``."""
        step, config = self.progress.step, self.config
        for name, value in losses.items():
            # Exponential moving average for the progress bar; starts at the first value.
            self.smoothed[name] = value if name not in self.smoothed else 0.9 * self.smoothed[name] + 0.1 * value
        if self.context.is_main:  # logged losses are rank 0's (no extra collective per step)
            for name, value in losses.items():
                self.window.setdefault(name, []).append(value)
            bar.set_postfix({name: f"{value:.3g}" for name, value in self.smoothed.items()}, refresh=False)
            bar.update(1)
            if config.log_every and (step % config.log_every == 0 or step == self.total_steps):
                self._write_metrics({
                    "lr": lrs,
                    "losses": {name: sum(values) / len(values) for name, values in self.window.items()},
                })
                self.window = {}
            if config.sample_every and step % config.sample_every == 0:
                self._write_samples()
        if config.eval_every and self.eval_dataset is not None and step % config.eval_every == 0 \
                and step != self.total_steps:
            self._evaluate()
        if (config.checkpoint_every and step % config.checkpoint_every == 0) or \
                (config.keep_every and step % config.keep_every == 0):
            self._save_checkpoint()

    # ------------------------------------------------------------------ outputs
    def _say(self, message: str) -> None:
        if self.context.is_main:
            tqdm.write(message)

    def _seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.session_start

    def _write_metrics(self, values: dict[str, Any]) -> None:
        """Append a line for the step just finished; ``epoch`` is the 0-based epoch of that step."""
        step = self.progress.step
        epoch = (step - 1) // self.progress.batches_per_epoch if step else 0
        record = {"step": step, "epoch": epoch, **values, "seconds": round(self._seconds(), 3)}
        with open(self.metrics_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def _write_samples(self) -> None:
        assert self.sample_batch is not None
        with preserve_rng(), torch.no_grad(), _eval_mode(self.method), \
                autocast_context(self.device, self.config.precision):
            images = self.method.visuals(self.sample_batch)
        save_sample_grid(images, self.out_dir / "samples" / f"step_{self.progress.step:06d}.png")

    def _evaluate(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.context.is_main:
            with preserve_rng(), torch.no_grad(), _eval_mode(self.method), \
                    autocast_context(self.device, self.config.precision):
                metrics = {name: float(value) for name, value in self.method.evaluate(self.eval_dataset).items()}
            self._write_metrics({"eval": metrics})
        ddp.barrier(self.context)
        return metrics

    def _save_checkpoint(self, partial: bool = False) -> None:
        """Write ``latest.pt`` (and a snapshot when due). Collective under torchrun."""
        rng_states = ddp.gather_objects(self.context, capture_rng_state())
        step = self.progress.step
        if self.context.is_main:
            self.progress.seconds = self._seconds()
            checkpoint = {
                "format": FORMAT,
                "method_class": method_class_name(self.method),
                "method": ddp.unwrapped_state_dict(self.method),
                "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
                "schedulers": {name: sch.state_dict() for name, sch in self.schedulers.items()},
                "scaler": self.scaler.state_dict(),
                "progress": dataclasses.asdict(self.progress),
                "rng": rng_states,
                "world_size": self.context.world_size,
                "config": self.config.to_dict(),
                "method_config": self.method.hparams(),
                "partial_step": partial,
                "torch_version": str(torch.__version__),
            }
            paths = [self.latest_path]
            if self.config.keep_every and step % self.config.keep_every == 0:
                paths.append(self.out_dir / f"step_{step:06d}.pt")
            try:
                save_checkpoint(checkpoint, *paths)
            except OSError as error:
                previous = (f"The previous checkpoint, {self.latest_path} (step {self.saved_at_step}), "
                            "is intact" if self.saved_at_step >= 0 else "No checkpoint had been "
                            "written before")
                raise CheckpointSaveError(
                    f"Could not write the checkpoint of step {step} to {self.out_dir} "
                    f"({error.strerror or error}). {previous}. Free some space (or fix the folder's "
                    f"permissions), then continue: {self._how_to_resume()}.") from error
        self.checkpoint_written = self.latest_path
        self.saved_at_step = step
        ddp.barrier(self.context)  # nobody reads or moves on before the file is complete

    def _how_to_resume(self) -> str:
        if self.resume_command:
            return self.resume_command
        return ("run fit again with the same method, data and TrainConfig plus resume=True, e.g. "
                f"TrainConfig(..., out_dir={str(self.out_dir)!r}, resume=True)")

    def _on_interrupt(self, partial: bool) -> None:
        if self.saved_at_step != self.progress.step:
            self._save_checkpoint(partial=partial)
        self._say(f"\nInterrupted at step {self.progress.step}/{self.total_steps}; saved "
                  f"{self.latest_path}.\nTo continue: {self._how_to_resume()}")

    def _raise_non_finite(self, bad: list[str], losses: dict[str, float]) -> None:
        step = self.progress.step + 1  # 1-based number of the step that failed
        where = (", ".join(f"{name!r} = {losses[name]}" for name in bad)) if bad else "a loss on another process"
        last = (f"The last good checkpoint, {self.latest_path} (step {self.saved_at_step}), was kept"
                if self.saved_at_step >= 0 or self.latest_path.exists() else "No checkpoint had been written yet")
        fp32 = (f"{self.resume_command} --precision fp32" if self.resume_command
                else "resume=True and precision='fp32'")
        raise NonFiniteLossError(
            f"Non-finite loss at step {step} (epoch {self.progress.epoch}): {where}. Training stopped. {last}. "
            "Things to try: a lower learning rate; fp32 if you use fp16/bf16 (you can resume the last "
            f"checkpoint with {fp32}); check the data for NaN/inf values and the losses for log(0) or "
            "division by zero."
        )
