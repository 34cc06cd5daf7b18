"""Throughput of the synthetic datasets: samples per second on ONE core.

    python benchmarks/data_throughput.py [--sizes 32 64 128 256] [--seconds 2]

Prints a table. The target (issue 2) is at least 200 samples/s at 64 px on one core, so that
a DataLoader never starves a CPU training run. One thread is forced because a DataLoader
worker is one process on one core.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from coursekit.data import SYNTHETIC, get_dataset  # noqa: E402


def samples_per_second(name: str, size: int, seconds: float) -> float:
    ds = get_dataset(name, split="train", size=size)
    ds[0]  # warm-up: imports, lazily built tables
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ds[(n + 1) % len(ds)]
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    torch.set_num_threads(1)
    header = f"{'dataset':<22}" + "".join(f"{f'{s}px':>10}" for s in args.sizes)
    print("samples/s on one core (torch threads = 1)")
    print(header)
    print("-" * len(header))
    for name in SYNTHETIC:
        cells = "".join(f"{samples_per_second(name, s, args.seconds):>10.0f}" for s in args.sizes)
        print(f"{name:<22}{cells}")


if __name__ == "__main__":
    main()
