"""The ``coursekit`` command line.

    coursekit data list
    coursekit data download NAME [--root DIR]
    coursekit data preview NAME --out FILE.png [--size 128] [--n 8] [--split train]
    coursekit train METHOD [--data NAME|PATH] [--split train] [--preset fast|paper] [--steps N]
                           [--out DIR] [--resume] [--device D] [--precision fp32|bf16|fp16]
                           [--checkpoint-every N] [--keep-every N] [--set KEY=VALUE ...]
    coursekit eval METHOD (--checkpoint PATH | --pretrained NAME) [--data NAME|PATH]
                          [--split test] [--json]
                          [--metrics fid,kid,lpips]
    coursekit translate METHOD (--checkpoint PATH | --pretrained NAME) --input FILE|FOLDER
                          --out FOLDER
                          [--direction AtoB|BtoA] [--resize crop|stretch] [--device D]
                          [--samples N --seed S]   (multimodal methods: N outputs per input)
                          [--style FILE]           (munit: the style of a reference image)

Everything here is a thin layer over the Python API (``coursekit.data``, ``coursekit.train``,
``coursekit.models``) so that notebooks and the command line do the same thing. A user's
mistake ends with one line, ``coursekit: error: ...`` in the command line's own words (its
flags, not Python's arguments) and exit status 1 (2 for a wrong command); Ctrl-C during
training saves a checkpoint, prints the command that resumes it and exits with 130. What the
command line does with each kind of bad input: ``docs/cli.md``. ``COURSEKIT_TRACEBACK=1``
shows the traceback of any error.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path


class CLIError(Exception):
    """An error with a message meant for the person at the terminal (no traceback; exit 1)."""


class UsageError(CLIError):
    """A command or option that cannot work as given (exit 2, as argparse's own)."""


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
    from coursekit.data.catalog import data_root

    root = Path(args.root).expanduser() if args.root else data_root()
    flag = "--root" if args.root else ("COURSEKIT_DATA" if os.environ.get("COURSEKIT_DATA", "")
                                       .strip() else "the data folder")
    _check_writable_folder(root, flag, remedy="Pass --root DIR, or set COURSEKIT_DATA=DIR, to "
                                              "a folder you can write to")
    path = download.download(args.name, root=args.root)
    print(f"{args.name} is ready in {path}")


def _data_preview(args) -> None:
    from torchvision.utils import save_image

    from coursekit.data import preview_grid

    if args.n < 1:
        raise UsageError(f"--n {args.n}: the preview needs at least one item (--n 1 or more)")
    out = Path(args.out)
    _check_writable_file(out, "--out")
    grid = preview_grid(args.name, split=args.split, size=args.size, n=args.n, seed=args.seed)
    save_image(grid, out)
    print(f"wrote {out} ({grid.shape[2]}x{grid.shape[1]} px)")


# ----------------------------------------------------------------------------- files
def _check_writable_file(path: Path, flag: str) -> None:
    """``path`` can be written as a file: its folder exists or can be made, and is writable."""
    if path.is_dir():
        raise CLIError(f"{flag} {path} is a folder; give the name of the file to write")
    _check_writable_folder(path.parent, flag, of=path,
                           remedy=f"Choose another {flag}, in a folder you can write to")


def _check_writable_folder(folder: Path, flag: str, of: Path | None = None,
                           remedy: str | None = None) -> bool:
    """Make ``folder`` (and its parents) if missing and check that a file can be written in
    it, with errors that name ``flag`` and end with ``remedy``. Returns True if the folder was
    created here."""
    what = f"{flag} {of if of is not None else folder}"
    remedy = remedy or f"Choose another {flag}, a folder you can write to"
    if folder.exists() and not folder.is_dir():
        raise CLIError(f"{what}: {folder} is a file, not a folder (a folder is created if it "
                       f"does not exist). {remedy}")
    for parent in folder.parents:
        if parent.exists() and not parent.is_dir():
            raise CLIError(f"{what}: {parent} is a file, so no folder can be made inside it. "
                           f"{remedy}")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise CLIError(f"{what}: cannot write into {folder} ({error.strerror or error}). "
                       f"{remedy}") from None
    return created


# ----------------------------------------------------------------------------- train / eval
def _method_module(name: str):
    from coursekit.models import load_method_module

    try:
        return load_method_module(name)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _configs(module, args, out: Path):
    """The method's config for ``--preset``, with the command line's overrides applied."""
    from dataclasses import replace

    preset = args.preset or "fast"
    config = module.Config.fast() if preset == "fast" else module.Config.paper()
    train = {"out_dir": str(out), "resume": args.resume,
             # --data, else the preset's own data (SPADE's fast preset: one style), else the
             # method's default.
             "data": _data_key(args.data or config.train.data or module.DEFAULT_DATA)}
    if args.steps is not None:
        train.update(steps=args.steps, decay_steps=args.steps // 2, epochs=None, epochs_decay=0)
    for flag in ("device", "precision", "checkpoint_every", "keep_every"):
        if getattr(args, flag) is not None:
            train[flag] = getattr(args, flag)
    method = {"train": replace(config.train, **train)}
    if getattr(args, "direction", None):
        if not hasattr(config, "direction"):
            raise UsageError(f"{args.method} has no --direction: it trains both ways (or one fixed "
                           "way) on unpaired data; leave the option out")
        method["direction"] = args.direction
    method.update(_settings(config, getattr(args, "settings", [])))
    try:
        return replace(config, **method)
    except ValueError as err:  # the Config's own check of the values, e.g. a size
        raise UsageError(f"--set: {err}") from None


def _settings(config, pairs: list[str]) -> dict:
    """``--set KEY=VALUE`` pairs as config fields of the types ``config`` has (numbers, true/false,
    text, ``none`` where a field may be empty)."""
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(config) if f.name != "train"}
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--set takes KEY=VALUE (e.g. --set lambda_vgg=0), got {pair!r}")
        if key not in fields:
            raise UsageError(f"--set: {type(config).__module__.rsplit('.', 1)[-1]} has no setting "
                             f"{key!r}; its settings: {', '.join(sorted(fields))}")
        current = getattr(config, key)
        text = text.strip()
        try:
            if text.lower() == "none" and "None" in str(fields[key].type):
                value = None
            elif isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError("expected true or false")
                value = text.lower() in ("true", "1", "yes")
            elif isinstance(current, int):
                value = int(text)
            elif isinstance(current, float):
                value = float(text)
            elif isinstance(current, tuple):
                value = tuple(type(v)(x) for v, x in zip(current, text.split(","), strict=True))
            else:
                value = text
        except ValueError as err:
            raise UsageError(f"--set {key}={text}: {key} is {current!r} by default; {err}") from None
        out[key] = value
    return out


def _resumed_configs(module, args, out: Path, checkpoint: dict):
    """The settings of the run in ``out`` (from its checkpoint), with the overrides a resumed
    run may take (device, precision; --steps and --data are checked against the run)."""
    from dataclasses import replace

    from coursekit.models import config_from_dict
    from coursekit.train import TrainConfig

    ignored = [flag for flag, value in (("--preset", args.preset), ("--direction", args.direction))
               if value is not None]
    if ignored:
        print(f"coursekit: note: {' and '.join(ignored)} ignored: a resumed run keeps the "
              f"settings it was started with (they are in {out / 'latest.pt'})", file=sys.stderr)
    config = config_from_dict(module.Config, checkpoint["method_config"])
    saved = dict(checkpoint["config"])
    train = TrainConfig(**{**saved, "out_dir": str(out), "resume": True})
    overrides: dict = {}
    if args.steps is not None:
        overrides.update(steps=args.steps, decay_steps=args.steps // 2, epochs=None,
                         epochs_decay=0)
    for flag in ("device", "precision", "checkpoint_every", "keep_every"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.data is not None:
        overrides["data"] = _data_key(args.data)
    return replace(config, train=replace(train, **overrides))


def _data_key(data: str) -> str:
    """What a run records as its data: a folder as an absolute path (so that ``eval`` and
    ``--resume`` find it from any working directory), a dataset name as it is."""
    path = Path(data).expanduser()
    return str(path.resolve()) if path.is_dir() else data


def _run_checkpoint(out: Path, method_name: str) -> dict | None:
    """The checkpoint of the run in ``out`` (None if there is none yet), checked to belong to
    ``method_name``."""
    from coursekit.models import method_classes, method_name_of
    from coursekit.train import load_checkpoint

    latest = out / "latest.pt"
    if not latest.exists():
        return None
    checkpoint = load_checkpoint(latest)
    other = method_name_of(checkpoint.get("method_class", ""))
    if checkpoint.get("method_class") not in method_classes(_method_module(method_name)):
        command = f"coursekit train {other} --out {shlex.quote(str(out))} --resume"
        raise CLIError(f"{latest} is a run of {other or checkpoint.get('method_class')}, not of "
                       f"{method_name}" + (f": to continue it, run {command}" if other else ""))
    if checkpoint.get("method_config") is None:
        raise CLIError(f"{latest} does not record the settings of its model (written by an older "
                       f"coursekit): start a new run with another --out")
    return checkpoint


def _total_steps(checkpoint: dict) -> int:
    from coursekit.train import steps_from_epochs

    config = checkpoint["config"]
    if config.get("steps") is not None:
        return int(config["steps"])
    return steps_from_epochs(config["epochs"], config["epochs_decay"],
                             checkpoint["progress"]["batches_per_epoch"])[0]


def _open_data(module, method_name: str, data: str, split: str, size: int, purpose: str):
    """The dataset ``data`` (split ``split``), checked to suit ``method_name``."""
    from coursekit.data import SYNTHETIC, get_dataset

    dataset = get_dataset(data, split=split, size=size)
    if len(dataset) == 0:
        raise CLIError(f"{data} (split {split}) has no items to {purpose}")
    pairing = getattr(dataset, "pairing", None)
    paired_names = ", ".join(n for n, info in SYNTHETIC.items() if info.kind == "paired")
    if pairing == "single":
        raise CLIError(
            f"{data} is one folder of images (no A and B): {method_name} needs two sides to "
            f"{purpose}. Put them in A/train and B/train (pairs matched by file name), trainA "
            f"and trainB (two unpaired domains) or train/ (A|B side by side in each file)")
    if getattr(module, "PAIRED", False) and pairing == "unpaired":
        raise CLIError(
            f"{method_name} learns from pairs (each input with its own target image), but {data} "
            f"is unpaired (two unrelated collections). Use paired data, e.g. {paired_names}, a "
            f"downloaded pix2pix dataset (pix2pix/facades, edges2shoes, ...) or your own folder of "
            f"A|B images; for unpaired data use cyclegan, cut or fastcut")
    return dataset


def _fit_label_channels(method_name: str, config, dataset, data: str, *,
                        trained: str | None = None, log=None):
    """A model that reads one-hot label maps (a config with ``label_channels``: SPADE) on data
    that counts its classes (``num_classes``: ADE20K, Cityscapes, label folders): a new model
    gets ``label_channels`` from the data (and says so on ``log``); a trained one (``trained``
    names it: a resumed run, a checkpoint) must have as many channels as the data has
    classes."""
    from dataclasses import replace

    classes = getattr(dataset, "num_classes", None)
    if classes is None or not hasattr(config, "label_channels"):
        return config
    source = getattr(dataset, "num_classes_source", "")
    if trained is None:
        if log is not None:
            print(f"{method_name}: label_channels = {classes}, the classes of {data} "
                  f"({source})", file=log, flush=True)
        return replace(config, label_channels=classes)
    if config.label_channels != classes:
        raise CLIError(
            f"{trained} reads label maps of {config.label_channels} classes (label_channels), "
            f"but {data} has {classes} ({source}): its one-hot maps do not fit the model. Use "
            f"data with the same classes (for folders of your own: the same classes.txt or "
            f"largest id), or train a new model on this data.")
    return config


def _train(args) -> int:
    from coursekit.train import fit, select_device
    from coursekit.train.device import FP16_ON_CPU

    module = _method_module(args.method)
    out = Path(args.out or f"runs/{args.method}-{args.preset or 'fast'}")
    if out.exists() and not out.is_dir():
        _check_writable_folder(out, "--out")  # raises: a file
    checkpoint = _run_checkpoint(out, args.method) if out.is_dir() else None
    if checkpoint is not None and args.resume:
        config = _resumed_configs(module, args, out, checkpoint)
        step, total = checkpoint["progress"]["step"], _total_steps(checkpoint)
        if step >= total and (args.steps is None or args.steps == total):
            print(f"The run in {out} is finished: {step} of {total} steps. Its checkpoint is "
                  f"{out / 'latest.pt'}.\nscore it: coursekit eval {args.method} --checkpoint "
                  f"{shlex.quote(str(out / 'latest.pt'))}\nTo train longer, start a new run "
                  f"with more --steps and another --out (the learning-rate schedule is set by "
                  f"the length of the run).")
            return 0
    else:
        config = _configs(module, args, out)
    # (A run from before coursekit recorded its data trained on the default.)
    data = config.train.data or module.DEFAULT_DATA
    dataset = _open_data(module, args.method, data, args.split or "train", config.image_size,
                         "train on")
    resumed = checkpoint is not None and args.resume
    config = _fit_label_channels(args.method, config, dataset, data, log=sys.stdout,
                                 trained=f"the run in {out}" if resumed else None)
    if config.train.precision == "fp16" and select_device(config.train.device).type == "cpu":
        raise CLIError(FP16_ON_CPU)
    created = _check_writable_folder(out, "--out")
    method = module.build(config)
    command = f"coursekit train {args.method} --out {shlex.quote(str(out))} --resume"
    try:
        result = fit(method, dataset, config.train, resume_command=command)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # nothing was written: leave no empty run folder behind
        raise
    if result.interrupted:
        return 130  # fit has said where the checkpoint is and how to resume
    losses = ", ".join(f"{k} {v:.3f}" for k, v in result.losses.items())
    checkpoint_path = result.checkpoint or out / "latest.pt"
    print(f"trained {result.step} steps in {result.seconds:.0f} s ({losses}); checkpoint: "
          f"{checkpoint_path}\nscore it: coursekit eval {args.method} --checkpoint "
          f"{shlex.quote(str(checkpoint_path))}")
    return 0


def _trained(args):
    """(method, config, the data it was trained on or None, what to call it) from --checkpoint
    or --pretrained, whichever was given."""
    from coursekit.models import load_trained

    if args.pretrained is None:
        method, config, checkpoint = load_trained(args.method, args.checkpoint,
                                                  with_checkpoint=True)
        return method, config, checkpoint["config"].get("data"), args.checkpoint
    from coursekit import pretrained

    folder = pretrained.locate(args.pretrained)  # downloads an hf: repository once
    about = pretrained.card(folder)
    if about.get("method") != args.method:
        raise CLIError(f"the course checkpoint {args.pretrained} is a {about.get('method')} "
                       f"model, not {args.method} (use `{about.get('method')}` instead of "
                       f"`{args.method}`).")
    method = pretrained.load(folder)
    return method, method.config, about.get("data"), f"course checkpoint {args.pretrained}"


def _eval_sdedit(args) -> int:
    """``coursekit eval sdedit``: the realism-faithfulness table of a DDPM over t0 and K."""
    from coursekit.models.sdedit import T0_GRID, format_tradeoff, tradeoff
    from coursekit.train.device import select_device

    args.method = "ddpm"
    module = _method_module("ddpm")
    method, config, recorded, label = _trained(args)
    data = args.data or recorded or module.DEFAULT_DATA
    split = args.split or "test"
    dataset = _open_data(module, "ddpm", data, split, config.image_size, "score")
    method.to(select_device(args.device or "auto")).eval()
    t0s, repeats = args.t0 or T0_GRID, args.repeats or (1, 3)
    log = sys.stderr if args.json else sys.stdout
    metrics = None
    if args.metrics:  # the paper's realism score is KID; a missing extra or file fails here
        from coursekit.data.standard_metrics import check_standard_metrics, standard_metrics

        protocol = check_standard_metrics(args.metrics, dataset, max_items=args.items)
        metrics = lambda edit: standard_metrics(  # noqa: E731
            edit, dataset, args.metrics, max_items=args.items, device=method.device)
    steps = "every step" if args.steps is None else f"{args.steps} DDIM jumps"
    print(f"SDEdit with {label} on the first {min(args.items, len(dataset))} guides of {data}, "
          f"split {split}: t0 {', '.join(map(str, t0s))}; K {', '.join(map(str, repeats))}; "
          f"{steps}", file=log, flush=True)
    if metrics is not None:
        print(f"standard metrics of each row: {protocol}", file=log, flush=True)
    rows = tradeoff(method, dataset, t0s, repeats, args.steps, args.items, metrics=metrics)
    print(json.dumps(rows, indent=2) if args.json else format_tradeoff(rows))
    return 0


def _eval(args) -> int:
    import torch

    if args.method == "sdedit":
        return _eval_sdedit(args)
    module = _method_module(args.method)
    method, config, recorded, label = _trained(args)
    data = args.data or recorded or module.DEFAULT_DATA
    split = args.split or "test"
    dataset = _open_data(module, args.method, data, split, config.image_size, "score")
    _fit_label_channels(args.method, config, dataset, data, trained=str(label))
    source = ("--data" if args.data else "the data it was trained on" if recorded
              else "its default data")
    log = sys.stderr if args.json else sys.stdout
    # translate() takes the input side of the configured direction (pix2pix's --direction);
    # the two-way methods translate A -> B unless told otherwise.
    direction = getattr(config, "direction", "AtoB")
    if args.metrics:
        from coursekit.data.standard_metrics import check_standard_metrics

        # Before the scoring: a missing extra, weights file or ground truth fails at once.
        protocol = check_standard_metrics(args.metrics, dataset, direction=direction)
    print(f"scoring {label} on {data}, split {split} ({len(dataset)} items; {source})",
          file=log, flush=True)
    with torch.no_grad():
        # Seeded: pix2pix keeps dropout at test time, so repeated evals (and a course
        # checkpoint's card, scored the same way) give the same numbers.
        torch.manual_seed(0)
        scores = method.evaluate(dataset)
    if args.metrics:
        from coursekit.data.standard_metrics import standard_metrics

        print(f"standard metrics, {direction}: {protocol}", file=log, flush=True)
        translate = method.translate
        decode = getattr(dataset, "colours_to_labels", None)
        if decode is not None and hasattr(config, "label_channels"):
            # A label-map model on label folders: "A" shows the ids in the data's colours.
            translate = lambda x: method.translate(decode(x))  # noqa: E731
        scores.update(standard_metrics(translate, dataset, args.metrics,
                                       direction=direction, device=method.device))
    if args.json:
        print(json.dumps(scores, indent=2, sort_keys=True))
    else:
        for key, value in scores.items():
            print(f"{key:>28}: {value:.4f}")
    return 0


def _translate(args) -> int:
    import torch

    from coursekit.train.device import select_device
    from coursekit.translate import summary, translate_images

    method, config, _, label = _trained(args)
    two_way = args.method in ("cyclegan", "munit")
    if args.direction and not two_way:
        own = getattr(config, "direction", None)
        if own is None:
            raise UsageError(f"{args.method} translates one way only (A -> B): no --direction")
        if args.direction != own:
            raise UsageError(f"this {args.method} model was trained {own}; it cannot translate "
                             f"{args.direction} (train one with --direction {args.direction})")
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {args.samples}")
    multimodal = callable(getattr(method, "sample", None))
    if args.samples > 1 and not multimodal:
        raise UsageError(f"{args.method} draws one output per input; --samples needs a multimodal "
                         "method such as bicyclegan or munit")
    guided = callable(getattr(method, "translate_like", None))
    if args.style is not None and not guided:
        raise UsageError(f"{args.method} cannot copy the style of a reference image; --style "
                         "needs an example-guided method (munit)")
    if args.style is not None and args.samples > 1:
        raise UsageError("--style gives each input the reference's one style; drop --samples "
                         "(or --style, for random styles)")
    device = select_device(args.device or "auto")
    method.to(device).eval()
    direction = args.direction or "AtoB"
    if args.style is not None:  # example-guided: the style code of the reference image
        from coursekit.translate import load_image

        reference = load_image(args.style, config.image_size, args.resize)[None]
        translate = lambda x: method.translate_like(x, reference, direction)  # noqa: E731
    elif args.samples > 1:  # a fresh random code per output, repeatable with --seed
        torch.manual_seed(args.seed)
        translate = (lambda x: method.sample(x, direction)) if two_way else method.sample
    else:
        translate = ((lambda x: method.translate(x, direction)) if two_way else method.translate)
    results = translate_images(translate, config.image_size, args.input, args.out,
                               resize=args.resize, samples=args.samples,
                               title=f"coursekit translate {args.method} ({label})")
    print(f"translated {summary(results)} into {args.out}; side by side: "
          f"{Path(args.out) / 'index.html'}")
    return 0


def _sdedit(args) -> int:
    import torch
    from PIL import Image

    from coursekit.data.synthetic.landscapes import stroke_faithfulness
    from coursekit.models.sdedit import network_calls, sdedit
    from coursekit.train.device import select_device
    from coursekit.translate import load_image

    if not 0 < args.t0 <= 1:
        raise UsageError(f"--t0 must be in (0, 1], the noise level as a fraction of the "
                         f"diffusion's steps (0.3 to 0.6 keeps strokes and makes photos); "
                         f"got {args.t0}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out must name a .png file, got {out}")
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out} is a folder; give the path of a .png file")
    method, config, _, label = _trained(args)
    guide = load_image(args.guide, config.image_size, args.resize)[None]
    mask = None
    if args.mask is not None:  # white = paint anew, black = keep the guide's pixels
        painted = load_image(args.mask, config.image_size, args.resize).mean(0) > 0
        if not painted.any():
            raise CLIError(f"the mask {args.mask} has no white pixels: nothing would be "
                           "generated (white marks the region to paint anew)")
        mask = (~painted).float()[None, None]
    device = select_device(args.device or "auto")
    method.to(device).eval()
    targets = [out] if args.samples == 1 else [
        out.with_name(f"{out.stem}_{k + 1}.png") for k in range(args.samples)]
    calls = network_calls(args.t0, args.repeats, args.steps, config.num_timesteps)
    print(f"SDEdit with {label}: t0 {args.t0}, {args.repeats} repeat(s), {calls} network "
          f"calls per image, on {device}", flush=True)
    generator = torch.Generator().manual_seed(args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    for target in targets:
        edited = sdedit(method, guide, args.t0, args.repeats, args.steps, mask=mask,
                        generator=generator).float().cpu().clamp(-1, 1)
        pixels = ((edited[0] + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(target)
        score = stroke_faithfulness(edited, guide)["score"]
        print(f"wrote {target} (faithfulness to the guide {score:.3f}; 1 = the guide itself)")
    return 0


def _pretrained_list(args) -> int:
    from coursekit import pretrained

    rows = pretrained.available()
    if not rows:
        print("No course checkpoints are shipped with this version of coursekit.")
        return 0
    for row in rows:
        scores = ", ".join(f"{k} {v:.3f}" for k, v in row.get("scores", {}).items())
        print(f"{row['name']}: {row['method']} on {row.get('data', '?')}, "
              f"{row.get('steps', '?')} steps, {row['bytes'] / 2**20:.1f} MB; {scores}")
    print("\nUse one: coursekit eval METHOD --pretrained NAME, coursekit translate METHOD "
          "--pretrained NAME ..., or coursekit.pretrained.load(NAME) in Python.")
    return 0


# ----------------------------------------------------------------------------- parser
def _at_least(minimum: int, meaning: str):
    """argparse type: an integer >= ``minimum``; ``meaning`` says what a valid one is."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: give {meaning}")
        return value

    return parse


_count = _at_least(1, "1 or more")
_interval = _at_least(0, "0 (off) or more")


def _numbers(kind, meaning: str, low, high):
    """argparse type: a comma list of ``kind`` numbers, each above ``low`` (exclusive for
    floats, inclusive for ints) and at most ``high``."""

    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of {meaning}") from None
        bad = [v for v in values if (v <= low if kind is float else v < low)
               or (high is not None and v > high)]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"{text!r}: give {meaning}, e.g. "
                                             f"{'0.3,0.5' if kind is float else '1,3'}")
        return values

    return parse


def _metric_names(text: str) -> tuple[str, ...]:
    """argparse type: a comma list of standard metrics (fid,kid,lpips), checked."""
    from coursekit.data.standard_metrics import parse_metric_names

    try:
        return parse_metric_names(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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
                                                "synthetic dataset; a resumed run: its own)")
    p.add_argument("--split", default=None, help="the split to train on (default: train)")
    p.add_argument("--preset", choices=["fast", "paper"], default=None,
                   help="fast (CPU, default) or paper settings")
    p.add_argument("--steps", type=_count, default=None,
                   help="total iterations (half of them decay)")
    p.add_argument("--out", default=None, help="run directory (default runs/METHOD-PRESET)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest.pt, with its own settings")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None)
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default=None,
                   help="which side of paired data is the input (the official pix2pix facades "
                        "archive keeps labels on the B side: use BtoA for labels -> photo)")
    p.add_argument("--checkpoint-every", type=_interval, default=None,
                   help="write latest.pt every N steps (default: the preset's)")
    p.add_argument("--keep-every", type=_interval, default=None,
                   help="also keep step_N.pt snapshots every N steps (default 0: none)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="change one of the method's settings (its Config's fields, e.g. "
                        "--set lambda_vgg=0 --set ngf=32); repeatable")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="ground-truth scores of a trained model")
    p.add_argument("method", help=f"one of: {listing}; or sdedit (a ddpm model's "
                                  "realism-faithfulness table over --t0 and --repeats)")
    _model_source(p)
    p.add_argument("--data", default=None,
                   help="dataset name or folder (default: the data the run was trained on)")
    p.add_argument("--split", default=None, help="the split to score (default: test)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument("--metrics", type=_metric_names, default=None, metavar="fid,kid,lpips",
                   help="also the papers' metrics (a comma list of fid, kid, lpips); needs "
                        "pip install 'coursekit[metrics]' and pretrained weights (docs/cli.md)")
    p.add_argument("--t0", type=_numbers(float, "noise levels in (0, 1]", 0.0, 1.0), default=None,
                   metavar="0.1,0.5,...", help="sdedit: the noise levels (default 0.1 to 1.0)")
    p.add_argument("--repeats", type=_numbers(int, "repeats of 1 or more", 1, None), default=None,
                   metavar="1,3", help="sdedit: the numbers of repeats K (default 1,3)")
    p.add_argument("--steps", type=_count, default=None,
                   help="sdedit: DDIM jumps per edit (default: every step)")
    p.add_argument("--items", type=_count, default=64, help="sdedit: guides edited (default 64)")
    p.add_argument("--device", default=None, help="sdedit: auto (default), cpu, cuda, ...")
    p.set_defaults(func=_eval)

    p = sub.add_parser("translate", help="translate your own images with a trained model")
    p.add_argument("method", help=f"one of: {listing}")
    _model_source(p)
    p.add_argument("--input", required=True, help="an image file or a folder of images "
                   "(searched recursively; never written to)")
    p.add_argument("--out", required=True, help="output folder: one PNG per input, under its "
                   "name, and index.html with inputs and outputs side by side")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default=None,
                   help="CycleGAN, MUNIT: which way (default AtoB)")
    p.add_argument("--resize", choices=["crop", "stretch"], default="crop",
                   help="how an image reaches the model's square size: scale the shorter side "
                        "and keep the centre (default), or scale the whole image")
    p.add_argument("--samples", type=int, default=1,
                   help="multimodal methods (bicyclegan, munit): outputs per input, each with a "
                        "random code (default 1: the code 0, the prior's most typical output)")
    p.add_argument("--style", default=None, metavar="FILE",
                   help="munit: translate every input in the style of this image of the target "
                        "domain (example-guided translation)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random codes of --samples")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.set_defaults(func=_translate)

    p = sub.add_parser("sdedit", help="turn your own stroke painting into a photo with a "
                       "trained diffusion model (SDEdit)")
    _model_source(p)
    p.add_argument("--guide", required=True, metavar="FILE",
                   help="the painting or image to edit (PNG, JPEG, ...; painted in any program)")
    p.add_argument("--out", required=True, metavar="FILE.png", help="where the result goes "
                   "(with --samples K: FILE_1.png ... FILE_K.png)")
    p.add_argument("--t0", type=float, default=0.5, help="noise level in (0, 1]: lower keeps "
                   "more of the guide, higher makes it more photo-like (default 0.5)")
    p.add_argument("--repeats", type=_count, default=3,
                   help="perturb-and-denoise cycles, each from the last output (default 3)")
    p.add_argument("--steps", type=_count, default=None, help="denoise in this many DDIM jumps "
                   "instead of every step (faster on a CPU; default: every step)")
    p.add_argument("--mask", default=None, metavar="FILE", help="edit only the white region "
                   "of this image; black pixels keep the guide")
    p.add_argument("--samples", type=_count, default=1, help="results to draw (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--resize", choices=["crop", "stretch"], default="crop",
                   help="how the guide reaches the model's square size (default: crop)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.set_defaults(func=_sdedit, method="ddpm")

    pre = sub.add_parser("pretrained", help="the course checkpoints shipped with coursekit")
    psub = pre.add_subparsers(dest="pretrained_command", required=True)
    psub.add_parser("list", help="their names and scores").set_defaults(func=_pretrained_list)
    return parser


def _model_source(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a training checkpoint (RUN/latest.pt)")
    source.add_argument("--pretrained", metavar="NAME", help="a course checkpoint (coursekit "
                        "pretrained list), a folder in its format, or hf:OWNER/REPO[@REVISION] "
                        "on the Hugging Face Hub")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message tells the user what to do: shown without a traceback."""
    from coursekit.data.catalog import UnknownDatasetError
    from coursekit.data.download import DownloadError
    from coursekit.data.standard_metrics import MissingExtraError
    from coursekit.pretrained import PretrainedError  # (a ValueError: listed for the reader)
    from coursekit.train import (CheckpointError, CheckpointSaveError, DeviceUnavailableError,
                                 NonFiniteLossError)

    # (MissingWeightsError is a FileNotFoundError.)
    return (CLIError, ValueError, FileNotFoundError, FileExistsError, UnknownDatasetError,
            DownloadError, CheckpointError, CheckpointSaveError, NonFiniteLossError,
            DeviceUnavailableError, MissingExtraError, PretrainedError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("coursekit: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as err:
        if os.environ.get("COURSEKIT_TRACEBACK"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"coursekit: error: {message}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
