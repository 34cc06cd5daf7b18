"""Translate your own images with a trained model: the reference repositories' ``test.py``.

``coursekit translate METHOD --checkpoint PATH --input FILE_OR_FOLDER --out FOLDER`` calls
:func:`translate_images`, which

* reads every image under ``--input`` (a file, or a folder searched recursively) as RGB:
  grayscale is repeated into three channels, alpha dropped, 16-bit scaled to 8 bits;
* brings it to the square size the model was trained at (``config.image_size``):
  ``resize="crop"`` (default) scales the shorter side to that size and keeps the centre, as
  the model saw its training images; ``"stretch"`` scales the whole image to the square;
* translates it in batches, and writes ``OUT/<name>.png`` for an input ``<name>.<ext>``
  (sub-folders kept), the model's view of the input in ``OUT/_model_inputs/``, and
  ``OUT/index.html``:
  every input beside its output, with what was converted or resized;
* for a multimodal method (BicycleGAN, MUNIT) with ``samples=N > 1``: N outputs per input, each
  with a fresh random code, ``OUT/<name>_1.png`` .. ``OUT/<name>_N.png``, side by side on the
  page. MUNIT can instead take the style of one reference image (``--style FILE``, read by
  :func:`load_image`).

Nothing is written under the input folder (an ``--out`` inside it is refused), and every
input is decoded before anything is translated, so a damaged file stops the run with its name
before any output is written.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from coursekit.data.folders import IMG_EXTENSIONS, list_images, load_rgb
from coursekit.data.transforms import to_tensor

__all__ = ["MODEL_INPUTS", "RESIZE_MODES", "TranslatedImage", "translate_images", "summary",
           "load_image"]

RESIZE_MODES = ("crop", "stretch")
MODEL_INPUTS = "_model_inputs"  #: sub-folder of ``out`` with each input as the model saw it


@dataclass
class TranslatedImage:
    """One translated input: where it came from, what was done to it, where it went."""

    source: Path
    outputs: tuple[Path, ...]  # one, or one per sample of a multimodal model
    model_input: Path
    original_size: tuple[int, int]  # (width, height)
    original_mode: str
    note: str  # what was converted or resized, in words

    @property
    def output(self) -> Path:
        """The (first) output."""
        return self.outputs[0]


def _inputs(path: Path) -> tuple[Path, list[Path]]:
    """(the folder the inputs live in, the input files)."""
    if path.is_dir():
        return path, list_images(path, expected="images to translate")
    if not path.exists():
        raise FileNotFoundError(f"--input {path} does not exist; give an image file or a folder "
                                f"of images ({', '.join(IMG_EXTENSIONS)}).")
    if not path.name.lower().endswith(IMG_EXTENSIONS):
        raise ValueError(f"--input {path} is not an image file (expected one of "
                         f"{', '.join(IMG_EXTENSIONS)}); give an image or a folder of images.")
    return path.parent, [path]


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def _square(img: Image.Image, size: int, resize: str) -> Image.Image:
    if resize == "stretch":
        return img.resize((size, size), Image.BICUBIC)
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def _note(mode: str, size: tuple[int, int], target: int, resize: str) -> str:
    parts = []
    if mode != "RGB":
        parts.append(f"{mode} converted to RGB")
    w, h = size
    if (w, h) != (target, target):
        how = ("shorter side scaled, centre cropped" if resize == "crop" and w != h
               else "scaled")
        parts.append(f"{w}x{h} -> {target}x{target} ({how})")
    return "; ".join(parts) or "used as it is"


def load_image(path: str | os.PathLike, image_size: int, resize: str = "crop") -> torch.Tensor:
    """One image file as the model sees its inputs: (3, S, S) in [-1, 1], S = ``image_size``,
    converted and resized as :func:`translate_images` does (e.g. a style reference)."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file {path}: give the path of one image (PNG, JPEG, ...)")
    return to_tensor(_square(load_rgb(path), image_size, resize))


def translate_images(translate: Callable[[torch.Tensor], torch.Tensor], image_size: int,
                     inputs: str | os.PathLike, out: str | os.PathLike, *,
                     resize: str = "crop", batch_size: int = 8, samples: int = 1,
                     title: str = "coursekit translate") -> list[TranslatedImage]:
    """Translate the images under ``inputs`` with ``translate`` (a batch (N, 3, S, S) in
    [-1, 1] -> outputs of the same shape, S = ``image_size``) into ``out``; see the module
    docstring. ``samples``: calls of ``translate`` per batch (a multimodal model's sampler
    draws a new output each call). Returns one :class:`TranslatedImage` per input, in path
    order."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    source, files = _inputs(Path(inputs))
    out = Path(out)
    if Path(inputs).is_dir() and _inside(out, source):
        raise ValueError(f"--out {out} is inside the input folder {source}: coursekit never "
                         "writes into the input folder; choose an output folder elsewhere.")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; give a folder (it is created if missing).")
    # Decode everything first: a damaged file stops the run before anything is written.
    loaded = []
    for path in files:
        rgb = load_rgb(path)  # a damaged file: CorruptImageError, naming it
        with Image.open(path) as original:
            loaded.append((path, original.mode, original.size, rgb))
    names = [p.relative_to(source).with_suffix(".png") if Path(inputs).is_dir() else
             Path(p.stem + ".png") for p in files]
    clashes = sorted({str(n) for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(f"inputs that differ only in their extension would be written to the "
                         f"same output: {', '.join(clashes[:5])}; rename them.")
    results = []
    for start in range(0, len(loaded), batch_size):
        chunk = loaded[start:start + batch_size]
        squares = [_square(img, image_size, resize) for _, _, _, img in chunk]
        x = torch.stack([to_tensor(s) for s in squares])
        with torch.no_grad():
            ys = [translate(x).detach().float().cpu().clamp(-1, 1) for _ in range(samples)]
        if ys[0].shape != x.shape:
            raise ValueError(f"the model turned inputs of shape {tuple(x.shape)} into "
                             f"{tuple(ys[0].shape)}; expected the same shape")
        for j, ((path, mode, size, _), square, name) in enumerate(
                zip(chunk, squares, names[start:start + batch_size])):
            seen = out / MODEL_INPUTS / name
            seen.parent.mkdir(parents=True, exist_ok=True)
            square.save(seen)
            targets = ([out / name] if samples == 1 else
                       [out / name.with_name(f"{name.stem}_{k + 1}.png") for k in range(samples)])
            for target, y in zip(targets, ys):
                target.parent.mkdir(parents=True, exist_ok=True)
                pixels = ((y[j] + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
                Image.fromarray(pixels).save(target)
            results.append(TranslatedImage(path, tuple(targets), seen, size, mode,
                                           _note(mode, size, image_size, resize)))
    _write_index(out, results, title, image_size, resize)
    return results


def _write_index(out: Path, results: list[TranslatedImage], title: str, size: int,
                 resize: str) -> None:
    how = ("the shorter side scaled to it and the centre kept" if resize == "crop"
           else "the whole image scaled to it")
    rows = "\n".join(
        f"<tr><td>{html.escape(str(r.source))}<br><small>{html.escape(r.note)}</small></td>"
        f"<td><img src=\"{html.escape(r.model_input.relative_to(out).as_posix())}\"></td>"
        + "".join(f"<td><img src=\"{html.escape(o.relative_to(out).as_posix())}\"></td>"
                  for o in r.outputs) + "</tr>"
        for r in results)
    n = len(results[0].outputs) if results else 1
    heads = "<th>output</th>" if n == 1 else "".join(f"<th>sample {k + 1}</th>" for k in range(n))
    page = (f"<!doctype html><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n"
            f"<style>img{{width:256px;image-rendering:pixelated}}td{{vertical-align:top;"
            f"font-family:sans-serif;padding:4px}}</style>\n<h1>{html.escape(title)}</h1>\n"
            f"<p>{len(results)} images. The model works on {size}x{size} RGB images: each input "
            f"was converted to RGB and brought to that size, {how}.</p>\n"
            f"<table><tr><th>input file</th><th>what the model saw</th>{heads}</tr>\n"
            f"{rows}\n</table>\n")
    (out / "index.html").write_text(page, encoding="utf-8")


def summary(results: list[TranslatedImage]) -> str:
    """One line for the terminal: how many images, how many converted or resized."""
    converted = sum(r.original_mode != "RGB" for r in results)
    resized = sum("->" in r.note for r in results)
    noun = "image" if len(results) == 1 else "images"
    return f"{len(results)} {noun} ({converted} converted to RGB, {resized} resized)"
