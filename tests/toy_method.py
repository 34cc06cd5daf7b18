"""A pix2pix in miniature, used only by the tests of ``coursekit.train``.

``ToyGAN``: a two-layer conv generator and a conditional patch discriminator on 16x16 images,
vanilla GAN loss + L1, two Adam (or SGD) optimizers, alternating D and G updates with D frozen
during G's. BatchNorm and dropout are on by default, because exact resume must survive them.
``PairedToyDataset``: fixed random pairs ``{"A", "B"}`` in [-1, 1] with a random horizontal flip
drawn from torch's global generator (the kind of augmentation exact resume must replay).

Run as a script under torchrun (``tests/test_distributed.py``): ``python toy_method.py spec.json``.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from coursekit.train import Method, TrainConfig, fit, seed_everything


class PairedToyDataset(Dataset):
    """``size`` fixed pairs of (3, 16, 16) images in [-1, 1]; B is a fixed function of A."""

    def __init__(self, size: int = 12, flip: bool = True, seed: int = 123) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.A = torch.rand(size, 3, 16, 16, generator=generator) * 2 - 1
        self.B = -self.A.flip(1)  # "translation": negate and reverse the colour channels
        self.flip = flip

    def __len__(self) -> int:
        return len(self.A)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        a, b = self.A[index], self.B[index]
        if self.flip and torch.rand(()) < 0.5:  # global generator, like torchvision transforms
            a, b = a.flip(-1), b.flip(-1)
        return {"A": a, "B": b}


def _norm(channels: int, use_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if use_norm else nn.Identity()


class ToyGAN(Method):
    """Conditional GAN: G(A) should look like B to D(A, .) and be close to B in L1.

    Test hooks: ``on_step(call, phase)`` is called with the 1-based number of ``training_step``
    calls in this process and the phase "start" / "after_D"; ``nan_at_call`` makes G's loss NaN
    at that call.
    """

    def __init__(self, width: int = 8, use_norm: bool = True, dropout: float = 0.5, optimizer: str = "adam",
                 lr: float = 2e-4, lambda_l1: float = 10.0) -> None:
        super().__init__()
        self.G = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), _norm(width, use_norm), nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(width, 3, 3, padding=1), nn.Tanh(),
        )
        self.D = nn.Sequential(
            nn.Conv2d(6, width, 4, stride=2, padding=1), _norm(width, use_norm), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 1, 3, padding=1),
        )
        self.gan_loss = nn.BCEWithLogitsLoss()  # no parameters: not one of networks()
        self.optimizer_name = optimizer
        self.lr = lr
        self.lambda_l1 = lambda_l1
        self.on_step: Callable[[int, str], None] | None = None
        self.nan_at_call: int | None = None
        self.calls = 0

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        if self.optimizer_name == "adam":
            make = lambda net: torch.optim.Adam(net.parameters(), lr=self.lr, betas=(0.5, 0.999))  # noqa: E731
        else:
            make = lambda net: torch.optim.SGD(net.parameters(), lr=self.lr)  # noqa: E731
        return {"G": make(self.G), "D": make(self.D)}

    def _gan(self, logits: Tensor, real: bool) -> Tensor:
        return self.gan_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))

    def training_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        self.calls += 1
        if self.on_step is not None:
            self.on_step(self.calls, "start")
        real_A, real_B = batch["A"], batch["B"]
        fake_B = self.G(real_A)

        self.set_requires_grad(True, self.D)
        loss_D = 0.5 * (self._gan(self.D(torch.cat([real_A, real_B], 1)), True)
                        + self._gan(self.D(torch.cat([real_A, fake_B.detach()], 1)), False))
        self.backward_and_step(loss_D, "D")
        if self.on_step is not None:
            self.on_step(self.calls, "after_D")

        self.set_requires_grad(False, self.D)
        loss_G_GAN = self._gan(self.D(torch.cat([real_A, fake_B], 1)), True)
        loss_G_L1 = F.l1_loss(fake_B, real_B)
        if self.nan_at_call == self.calls:
            loss_G_GAN = loss_G_GAN * float("nan")
        self.backward_and_step(loss_G_GAN + self.lambda_l1 * loss_G_L1, "G")
        return {"D": loss_D, "G_GAN": loss_G_GAN, "G_L1": loss_G_L1}

    def visuals(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        # The noisy input stands for methods that draw randomness in visuals (BicycleGAN's z):
        # sample grids must not change the training trajectory even then.
        noisy_A = (batch["A"] + 0.1 * torch.randn_like(batch["A"])).clamp(-1, 1)
        return {"A": batch["A"], "noisy_A": noisy_A, "fake_B": self.G(batch["A"]), "B": batch["B"]}

    def evaluate(self, dataset: Dataset) -> dict[str, float]:
        batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
        return {"L1": F.l1_loss(self.G(batch["A"].to(self.device)), batch["B"].to(self.device)).item()}


def plain_state(method: nn.Module) -> dict[str, Tensor]:
    """A detached CPU copy of every parameter and buffer."""
    return {key: value.detach().cpu().clone() for key, value in method.state_dict().items()}


# ----------------------------------------------------------------------------- torchrun entry
def _distributed_scenarios(spec: dict[str, Any]) -> None:
    """Run the scenarios of tests/test_distributed.py in this torchrun process (two launches).

    Launch "interrupt": one ``fit`` that creates and destroys the process group itself (the usual
    way); SIGINT reaches rank 0 only, at the start of step ``interrupt_at``.
    Launch "rest": resumes that run in fresh processes, then trains it uninterrupted and a plain
    model. Several ``fit`` calls share one process group created here, which ``fit`` must use
    and leave alone. Each rank saves its weights to ``<root>/<launch>_rank<r>.pt``.
    """
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    root = Path(spec["root"])
    results: dict[str, Any] = {}

    def full_toy() -> ToyGAN:
        seed_everything(spec["init_seed"])  # same start on every rank (DDP would broadcast anyway)
        return ToyGAN()

    def config(name: str, **overrides: Any) -> TrainConfig:
        values = dict(steps=spec["steps"], decay_steps=spec["decay_steps"], batch_size=spec["batch_size"],
                      out_dir=str(root / name), device="cpu", progress=False, log_every=1, sample_every=3,
                      checkpoint_every=0)
        values.update(overrides)
        return TrainConfig(**values)

    data = PairedToyDataset(size=spec["dataset_size"], flip=True)
    if spec["launch"] == "interrupt":
        method = full_toy()

        def interrupt(call: int, phase: str) -> None:
            if rank == 0 and call == spec["interrupt_at"] and phase == "start":
                os.kill(os.getpid(), signal.SIGINT)

        method.on_step = interrupt
        result = fit(method, data, config("resumed"))
        results["interrupted_at"] = result.step
        results["group_destroyed"] = not dist.is_initialized()
    else:
        dist.init_process_group("gloo")
        method = full_toy()
        fit(method, data, config("resumed", resume=True))
        results["resumed"] = plain_state(method)
        method = full_toy()
        fit(method, data, config("full"))
        results["full"] = plain_state(method)
        # No BatchNorm, no dropout, no flips, SGD: must match one process with twice the batch.
        seed_everything(spec["init_seed"])
        method = ToyGAN(use_norm=False, dropout=0.0, optimizer="sgd", lr=spec["sgd_lr"])
        fit(method, PairedToyDataset(size=spec["dataset_size"], flip=False), config("plain", sample_every=0))
        results["plain"] = plain_state(method)
        results["group_still_initialized"] = dist.is_initialized()
        dist.destroy_process_group()
    torch.save(results, root / f"{spec['launch']}_rank{rank}.pt")


if __name__ == "__main__":
    torch.set_num_threads(1)
    _distributed_scenarios(json.loads(Path(sys.argv[1]).read_text()))
