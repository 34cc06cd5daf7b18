"""Datasets for coursekit: offline synthetic datasets with known ground truth, the official
pix2pix / CycleGAN archives, and folders of your own images.

All of them return items as dicts of tensors (see ``docs/CONTRACTS.md``): images are float
``(3, H, W)`` in [-1, 1] under the keys ``"A"`` and ``"B"``.

    >>> from coursekit.data import get_dataset
    >>> ds = get_dataset("synthetic-facades", split="train", size=64)
    >>> item = ds[0]; item["A"].shape, item["B"].shape
    (torch.Size([3, 64, 64]), torch.Size([3, 64, 64]))

``get_dataset`` accepts a synthetic name, a catalog name that has been downloaded with
``coursekit data download NAME``, ``hf:<hub id or catalog name>`` for the Hugging Face mirror
(e.g. ``hf:huggan/facades``, through the ``datasets`` library and its cache), or the path of a
folder (aligned ``A|B`` images, ``trainA/trainB`` folders, label maps beside photos as in
ADE20K and Cityscapes: ``coursekit.data.labels``, ...).
"""
from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SYNTHETIC", "SyntheticInfo", "get_dataset", "list_datasets", "preview_grid"]


@dataclass(frozen=True)
class SyntheticInfo:
    """A synthetic dataset: where its class lives and what it stands in for."""

    name: str
    target: str  # "module:Class"
    kind: str  # "paired" or "unpaired"
    stands_in_for: str
    summary: str

    def load_class(self):
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(module), cls)


SYNTHETIC: dict[str, SyntheticInfo] = {
    info.name: info
    for info in [
        SyntheticInfo(
            "synthetic-facades", "coursekit.data.synthetic.facades:SyntheticFacades", "paired",
            "pix2pix/facades (CMP Facades)",
            "label map <-> photo of a building facade, several photo styles per label map",
        ),
        SyntheticInfo(
            "synthetic-zebras", "coursekit.data.synthetic.zebras:SyntheticZebras", "unpaired",
            "horse2zebra",
            "unpaired animals: smooth shaded coats (A) vs. body-following stripes (B)",
        ),
        SyntheticInfo(
            "synthetic-landscapes", "coursekit.data.synthetic.landscapes:SyntheticLandscapes", "paired",
            "landscape label maps (SPADE, multimodal translation, SDEdit strokes)",
            "label map <-> landscape photo in several times of day and seasons",
        ),
        SyntheticInfo(
            "synthetic-seasons", "coursekit.data.synthetic.seasons:SyntheticSeasons", "unpaired",
            "summer2winter_yosemite",
            "unpaired landscapes: summer scenes (A) vs. other scenes in winter (B), any time of day",
        ),
        SyntheticInfo(
            "synthetic-strokes", "coursekit.data.synthetic.strokes:SyntheticStrokes", "paired",
            "SDEdit's stroke paintings (LSUN church / bedroom strokes)",
            "stroke painting (A) of a landscape photo (B); diffusion models train on B alone",
        ),
    ]
}


def list_datasets() -> list[dict[str, Any]]:
    """Every dataset coursekit knows: the synthetic ones first, then the official catalog.

    Each entry is a dict with ``name``, ``kind``, ``source`` and ``available`` (True when it can
    be used now, offline: always for synthetic data, after a download for the catalog).
    """
    rows = [
        {"name": s.name, "kind": s.kind, "source": "synthetic (offline)", "available": True,
         "summary": s.summary}
        for s in SYNTHETIC.values()
    ]
    from coursekit.data import catalog, download

    for name, info in catalog.CATALOG.items():
        try:
            download.dataset_path(name)
            available = True
        except Exception:  # not downloaded (or damaged): dataset_path says which when asked
            available = False
        rows.append({"name": name, "kind": info.kind, "source": info.url, "available": available,
                     "summary": getattr(info, "description", "") or ""})
    return rows


def get_dataset(name_or_path: str | os.PathLike, split: str = "train", size: int | None = None,
                **kwargs):
    """Open a dataset by name or path.

    Args:
        name_or_path: ``"synthetic-facades"`` etc., a catalog name (``"pix2pix/facades"``,
            ``"horse2zebra"``, ...; download it first) or a folder. A synthetic dataset with
            several photo styles takes one of them after a colon, e.g.
            ``"synthetic-landscapes:day-summer"`` (every item in that style), so that a run
            on one style is named by a string (``--data``, checkpoints, cards).
        split: ``"train"`` or ``"test"`` (``"val"`` where the data has one).
        size: image size. Synthetic data is rendered at this size (32..256); real data is
            resized and cropped to it (default 256, the papers' crop size).
        **kwargs: passed to the dataset class (e.g. ``seed``, ``length`` for synthetic data;
            ``preprocess``, ``load_size``, ``flip`` for folders).
    """
    key = str(name_or_path)
    name, _, style = key.partition(":")
    if name in SYNTHETIC and style:  # "synthetic-landscapes:day-summer": one style only
        cls = SYNTHETIC[name].load_class()
        if "style" not in inspect.signature(cls.__init__).parameters:
            raise ValueError(f"{name} has no styles to choose from: use {name} without "
                             f"':{style}'")
        if "style" in kwargs:
            raise ValueError(f"the style is given twice: in the name {key!r} and as style="
                             f"{kwargs['style']!r}; give it once")
        choice: int | str = int(style) if style.isdigit() else style  # a style's index or name
        return cls(split=split, size=64 if size is None else size, style=choice, **kwargs)
    if key in SYNTHETIC:
        cls = SYNTHETIC[key].load_class()
        return cls(split=split, size=64 if size is None else size, **kwargs)

    from coursekit.data import catalog, download, folders

    if key.startswith("hf:"):
        return download.load_hf(key[3:], split=split, **_folder_size_kwargs(size), **kwargs)
    path = Path(key).expanduser()
    if path.exists():
        return folders.open_folder(path, split=split, **_folder_size_kwargs(size), **kwargs)
    # Written as a path (catalog names have one "/" at most, as "pix2pix/facades"): say so.
    if key.startswith((".", "~", "/", "\\")) or "\\" in key or key.count("/") > 1:
        raise FileNotFoundError(
            f"No dataset folder {key}: it does not exist (relative paths start from "
            f"{Path.cwd()}). Give an existing folder, or a dataset name (coursekit data list).")
    try:
        canonical = catalog.resolve_name(key)
    except (KeyError, ValueError):
        known = ", ".join(list(SYNTHETIC) + sorted(catalog.CATALOG))
        raise ValueError(
            f"Unknown dataset {key!r}: it is neither a synthetic dataset, a catalog name, nor an "
            f"existing folder. Known names: {known} (catalog names are also accepted as "
            f"'pix2pix/NAME' or 'cyclegan/NAME')."
        ) from None
    root = download.dataset_path(canonical)  # raises with the download command if missing
    return folders.open_folder(root, split=split, **_folder_size_kwargs(size), **kwargs)


def _folder_size_kwargs(size: int | None) -> dict[str, int]:
    if size is None:
        return {}
    # The reference implementations load at 286 and crop 256: keep that ratio at other sizes.
    return {"crop_size": size, "load_size": int(round(size * 286 / 256))}


def preview_grid(name_or_path: str, split: str = "train", size: int = 128, n: int = 8,
                 seed: int = 0):
    """A picture of a dataset: ``n`` items, one row per image key ("A", "B", masks as grey).

    Returns a (3, H, W) float tensor in [0, 1], ready for ``torchvision.utils.save_image``.
    """
    import torch
    from torchvision.utils import make_grid

    kwargs = {"seed": seed} if str(name_or_path).partition(":")[0] in SYNTHETIC else {}
    ds = get_dataset(name_or_path, split=split, size=size, **kwargs)
    if len(ds) == 0:
        raise ValueError(f"dataset {name_or_path!r} ({split}) is empty")
    items = [ds[i] for i in range(min(n, len(ds)))]
    rows = []
    for key in ("A", "B", "mask_A", "mask_B"):
        if key not in items[0]:
            continue
        imgs = [it[key].float() for it in items]
        imgs = [im.expand(3, -1, -1) * 2 - 1 if im.shape[0] == 1 else im for im in imgs]
        rows.extend(imgs)
    grid = make_grid(torch.stack(rows), nrow=len(items), padding=2, normalize=False)
    return (grid.clamp(-1, 1) + 1) / 2


# The label-map folder layouts register themselves with folders.open_folder (which cannot import
# them: coursekit.data.labels builds on it).
from coursekit.data import labels as _labels  # noqa: E402,F401
