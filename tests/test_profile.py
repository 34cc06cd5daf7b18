"""coursekit.train.profile and coursekit.models.profile: the FLOPs counted are the hand-computed
ones for a known step, bad requests are refused, and the training layer's module does not reach
up into the methods. (Times and memory are machine-dependent: benchmarks/ reports them.)"""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

import coursekit
from coursekit.models.profile import training_cost_in_fresh_process
from coursekit.train.profile import measure_training_cost


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


def test_fresh_process_refuses_an_unknown_method_before_starting_one():
    from coursekit.models import cut

    with pytest.raises(ValueError, match="Unknown method 'nope'"):
        training_cost_in_fresh_process("nope", cut.Config.fast())


def _coursekit_imports(path: Path) -> set[str]:
    """The coursekit modules a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {node.module or ""} | {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.startswith("coursekit")}


def test_the_import_finder_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import torch\n\ndef f():\n    from coursekit.models import cut\n")
    assert "coursekit.models" in _coursekit_imports(module)


def test_training_layer_profile_does_not_import_the_methods():
    path = Path(coursekit.__file__).parent / "train" / "profile.py"
    reaching_up = {name for name in _coursekit_imports(path)
                   if name == "coursekit.models" or name.startswith("coursekit.models.")}
    assert not reaching_up, f"coursekit.train.profile imports {sorted(reaching_up)}"


@pytest.mark.slow
def test_fresh_process_measures_a_method_by_its_name():
    from coursekit.models import cut

    config = dataclasses.replace(cut.Config.fast(), image_size=16)
    cost = training_cost_in_fresh_process("cut", config, iters=1, warmup=0, threads=1)
    assert cost["method"] == "cut" and cost["image_size"] == 16
    assert cost["batch_size"] == config.train.batch_size
    assert cost["flops"] > 0 and cost["seconds"] > 0
