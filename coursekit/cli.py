"""The ``coursekit`` command line.

    coursekit data list
    coursekit data download NAME [--root DIR]
    coursekit data preview NAME --out FILE.png [--size 128] [--n 8] [--split train]
    coursekit train METHOD [--data NAME|PATH] [--preset fast|paper] [--steps N] [--out DIR]
                           [--resume] [--device D] [--precision fp32|bf16|fp16]
    coursekit eval METHOD --checkpoint PATH [--data NAME|PATH] [--json]

Everything here is a thin layer over the Python API (``coursekit.data``, ``coursekit.train``,
``coursekit.models``) so that notebooks and the command line do the same thing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


class CLIError(Exception):
    """An error with a message meant for the person at the terminal (no traceback)."""


# ----------------------------------------------------------------------------- data
def _data_list(args) -> None:
    from coursekit.data import list_datasets

    rows = list_datasets()
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'kind':<9}  {'ready':<5}  source")
    for r in rows:
        ready = "yes" if r["available"] else "no"
        print(f"{r['name']:<{width}}  {r['kind']:<9}  {ready:<5}  {r['source']}")
    print("\nSynthetic datasets work offline. Fetch the others with "
          "`coursekit data download NAME`.")


def _data_download(args) -> None:
    from coursekit.data import download

    path = download.download(args.name, root=args.root)
    print(f"{args.name} is ready in {path}")


def _data_preview(args) -> None:
    from torchvision.utils import save_image

    from coursekit.data import preview_grid

    grid = preview_grid(args.name, split=args.split, size=args.size, n=args.n, seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, out)
    print(f"wrote {out} ({grid.shape[2]}x{grid.shape[1]} px)")


# ----------------------------------------------------------------------------- train / eval
def _method_module(name: str):
    from coursekit.models import load_method_module

    try:
        return load_method_module(name)
    except ValueError as err:
        raise CLIError(str(err)) from None


def _configs(module, args):
    """The method's config for ``--preset``, with the command line's overrides applied."""
    from dataclasses import replace

    config = module.Config.fast() if args.preset == "fast" else module.Config.paper()
    train = {"out_dir": args.out or f"runs/{args.method}-{args.preset}", "resume": args.resume}
    if args.steps is not None:
        train.update(steps=args.steps, decay_steps=args.steps // 2, epochs=None, epochs_decay=0)
    if args.device:
        train["device"] = args.device
    if args.precision:
        train["precision"] = args.precision
    method = {"train": replace(config.train, **train)}
    if getattr(args, "direction", None):
        if not hasattr(config, "direction"):
            raise CLIError(f"{args.method} has no --direction: it trains both ways (or one fixed "
                           "way) on unpaired data; leave the option out")
        method["direction"] = args.direction
    return replace(config, **method)


def _train(args) -> None:
    from coursekit.data import get_dataset
    from coursekit.train import fit

    module = _method_module(args.method)
    config = _configs(module, args)
    data = args.data or module.DEFAULT_DATA
    dataset = get_dataset(data, split="train", size=config.image_size)
    method = module.build(config)
    result = fit(method, dataset, config.train)
    if result.interrupted:
        return  # fit has said where the checkpoint is and how to resume
    losses = ", ".join(f"{k} {v:.3f}" for k, v in result.losses.items())
    print(f"trained {result.step} steps in {result.seconds:.0f} s ({losses}); checkpoint: "
          f"{result.checkpoint}\nscore it: coursekit eval {args.method} --checkpoint "
          f"{result.checkpoint}")


def _eval(args) -> None:
    import torch

    from coursekit.data import get_dataset
    from coursekit.models import load_trained

    module = _method_module(args.method)
    method, config = load_trained(args.method, args.checkpoint)
    data = args.data or module.DEFAULT_DATA
    dataset = get_dataset(data, split="test", size=config.image_size)
    with torch.no_grad():
        scores = method.evaluate(dataset)
    if args.json:
        print(json.dumps(scores, indent=2, sort_keys=True))
    else:
        for key, value in scores.items():
            print(f"{key:>28}: {value:.4f}")


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from coursekit.models import available_methods

    methods = available_methods()
    listing = ", ".join(methods) if methods else "none yet"
    parser = argparse.ArgumentParser(
        prog="coursekit", description="Image-to-image translation: data, training, evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="list, download and preview datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    dsub.add_parser("list", help="every dataset coursekit knows").set_defaults(func=_data_list)
    p = dsub.add_parser("download", help="download an official dataset into the cache")
    p.add_argument("name")
    p.add_argument("--root", default=None, help="cache directory (default: $COURSEKIT_DATA or "
                                                "the user cache dir)")
    p.set_defaults(func=_data_download)
    p = dsub.add_parser("preview", help="save a PNG grid of a dataset's items")
    p.add_argument("name", help="synthetic name, catalog name or folder")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--n", type=int, default=8, help="number of items (columns)")
    p.add_argument("--split", default="train")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_data_preview)

    p = sub.add_parser("train", help=f"train a method (available: {listing})")
    p.add_argument("method", help=f"one of: {listing}")
    p.add_argument("--data", default=None, help="dataset name or folder (default: the method's "
                                                "synthetic dataset)")
    p.add_argument("--preset", choices=["fast", "paper"], default="fast")
    p.add_argument("--steps", type=int, default=None, help="total iterations (half of them decay)")
    p.add_argument("--out", default=None, help="run directory (default runs/METHOD-PRESET)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/latest.pt")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None)
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default=None,
                   help="which side of paired data is the input (the official pix2pix facades "
                        "archive keeps labels on the B side: use BtoA for labels -> photo)")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="ground-truth scores of a trained model")
    p.add_argument("method", help=f"one of: {listing}")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.set_defaults(func=_eval)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message tells the user what to do: shown without a traceback."""
    from coursekit.data.catalog import UnknownDatasetError
    from coursekit.data.download import DownloadError
    from coursekit.train import CheckpointError, NonFiniteLossError

    return (CLIError, ValueError, FileNotFoundError, FileExistsError, UnknownDatasetError,
            DownloadError, CheckpointError, NonFiniteLossError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("coursekit: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as err:
        if os.environ.get("COURSEKIT_TRACEBACK"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"coursekit: error: {message}", file=sys.stderr)
        return 2 if isinstance(err, CLIError) else 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
