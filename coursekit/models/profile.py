"""The training cost of a coursekit method, measured in a Python process that does nothing else.

``coursekit.train.profile.measure_training_cost`` times any object with a ``training_step``;
this module adds what needs the methods: it builds one by its command-line name from its
``Config`` in a fresh process (a CPU peak memory figure is only meaningful there, see that
module's docstring) and returns what was measured::

    from coursekit.models import cut
    from coursekit.models.profile import training_cost_in_fresh_process
    cost = training_cost_in_fresh_process("cut", cut.Config.fast())
    cost["seconds"], cost["flops"], cost["memory_bytes"], cost["memory_kind"]

Lecture 3 and ``benchmarks/unpaired_cost.py`` call it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import torch

from coursekit.models import config_from_dict, load_method_module
from coursekit.train.profile import measure_training_cost

__all__ = ["training_cost_in_fresh_process", "add_cost_arguments", "cost_preamble"]


def add_cost_arguments(parser) -> None:
    """The options every ``benchmarks/*_cost.py`` takes: --device, --iters, --warmup, --threads
    (checked by :func:`cost_preamble`)."""
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def cost_preamble(parser, args) -> str:
    """The first line of a cost table (device, threads, iterations, what the memory column
    measures), after checking the options of :func:`add_cost_arguments`."""
    if args.iters < 1 or args.warmup < 0:
        parser.error("--iters must be >= 1 and --warmup >= 0")
    memory_kind = ("torch.cuda.max_memory_allocated" if args.device.startswith("cuda")
                   else "peak RSS increase")
    return (f"device {args.device}, {args.threads} CPU threads, median of {args.iters} "
            f"iterations after {args.warmup} warm-up; memory = {memory_kind}")


def training_cost_in_fresh_process(method_name: str, config, device: str = "cpu",
                                   iters: int = 5, warmup: int = 2,
                                   threads: int | None = None) -> dict[str, Any]:
    """:func:`~coursekit.train.profile.measure_training_cost` of ``coursekit.models`` method
    ``method_name`` built from ``config`` (its ``Config`` dataclass), in a new Python process
    that does nothing else.

    ``threads``: torch's CPU threads in that process (default: torch's own choice).
    Returns the dict of ``measure_training_cost`` plus ``method``, ``image_size`` and
    ``batch_size``.
    """
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config must be the method's Config dataclass (e.g. "
                        f"coursekit.models.cut.Config.fast()), got {type(config).__name__}")
    load_method_module(method_name)  # an unknown name fails here, not in the child
    request = {"method": method_name, "config": dataclasses.asdict(config), "device": str(device),
               "iters": iters, "warmup": warmup, "threads": threads}
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run([sys.executable, "-m", "coursekit.models.profile"],
                          input=json.dumps(request, default=str), capture_output=True, text=True,
                          env=env)
    if done.returncode:
        raise RuntimeError(f"measuring {method_name} in a fresh process failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _worker() -> None:
    """``python -m coursekit.models.profile`` reads a request (JSON) on stdin, prints the cost."""
    request = json.loads(sys.stdin.read())
    if request.get("threads"):
        torch.set_num_threads(int(request["threads"]))
    torch.manual_seed(0)
    module = load_method_module(request["method"])
    config = config_from_dict(module.Config, request["config"])
    cost = measure_training_cost(lambda: module.build(config), config.train.batch_size,
                                 config.image_size, request["device"], request["iters"],
                                 request["warmup"])
    cost.update(method=request["method"], image_size=config.image_size,
                batch_size=config.train.batch_size)
    print(json.dumps(cost))


if __name__ == "__main__":
    _worker()
