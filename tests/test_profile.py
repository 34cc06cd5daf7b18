"""coursekit.train.profile: the FLOPs it counts are the hand-computed ones for a known step, and
bad requests are refused. (Times and memory are machine-dependent: benchmarks/ reports them.)"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from coursekit.train.profile import measure_training_cost, training_cost_in_fresh_process


class TwoConvStep(nn.Module):
    """One SGD step of conv(3->8, 3x3) -> ReLU -> conv(8->4, 1x1) on the batch's "A"."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.second = nn.Conv2d(8, 4, 1, bias=False)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.1)

    def training_step(self, batch):
        self.optimizer.zero_grad()
        loss = self.second(torch.relu(self.first(batch["A"]))).square().mean()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}


def test_flops_of_a_step_are_forward_plus_backward_by_hand():
    batch, size = 2, 8
    pixels = batch * size * size
    first = 2 * pixels * 8 * 3 * 3 * 3  # one multiply-add = 2 FLOPs per weight per output pixel
    second = 2 * pixels * 4 * 8
    # Backward: the first conv's input is data (no gradient wanted), so only its weight gradient
    # (as much work as its forward); the second needs the gradients of weight and input (2x).
    expected = (first + first) + (second + 2 * second)
    cost = measure_training_cost(TwoConvStep, batch, size, iters=1, warmup=0)
    assert cost["flops"] == expected
    assert cost["seconds"] > 0 and cost["device"] == "cpu"
    assert {"memory_bytes", "memory_kind", "iters", "warmup"} <= set(cost)


@pytest.mark.parametrize("kwargs, message", [
    ({"iters": 0}, "iters >= 1"),
    ({"warmup": -1}, "warmup >= 0"),
    ({"batch_size": 0}, "must be >= 1"),
])
def test_bad_requests_are_refused(kwargs, message):
    arguments = {"batch_size": 1, "image_size": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        measure_training_cost(TwoConvStep, **arguments)


def test_fresh_process_wants_the_config_dataclass():
    with pytest.raises(TypeError, match="Config dataclass"):
        training_cost_in_fresh_process("cut", {"image_size": 32})
