"""One training step of a registered method on two Gloo processes (run by torchrun from
rule 9 of tests/method_contract.py): each rank takes its own two items, draws its own random
numbers (seed 100 + rank) and saves every parameter's gradient after the step, which DDP
averaged over the ranks.

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_one_step.py NAME OUT_FOLDER
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from method_contract import ddp_batch, one_step_gradients, tiny_method  # noqa: E402

from coursekit.train.distributed import wrap_networks  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    name, out = sys.argv[1], Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo")
    method = tiny_method(name)  # seeded: the same start on both ranks
    wrap_networks(method, method.networks(), torch.device("cpu"))
    grads = one_step_gradients(method, ddp_batch(name, rank), seed=100 + rank)
    torch.save(grads, out / f"rank{rank}.pt")
    dist.destroy_process_group()
