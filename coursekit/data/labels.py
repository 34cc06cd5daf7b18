"""Semantic label maps beside their photos: ADE20K, Cityscapes and your own folders.

SPADE (``coursekit.models.spade``) and other label-map -> photo methods learn from a class-index
map per photo. :class:`LabelFolders` reads three layouts (``open_folder`` and
``get_dataset(PATH)`` pick them from the folder given, ROOT below):

* **ADE20K** (the scene-parsing benchmark, ``ADEChallengeData2016``):
  ``ROOT/images/training/ADE_train_*.jpg`` with ``ROOT/annotations/training/ADE_train_*.png``
  (and ``validation/``). Split ``"train"`` reads ``training/``, ``"val"`` and ``"test"`` read
  ``validation/`` (the benchmark's test labels are not public). ROOT may also be the folder that
  holds ``ADEChallengeData2016/``. 151 classes: id 0 is "other / unlabelled", 1..150 the
  benchmark's classes (as in the PNGs).
* **Cityscapes** (``leftImg8bit_trainvaltest.zip`` + ``gtFine_trainvaltest.zip`` unpacked in
  one folder): ``ROOT/leftImg8bit/train/CITY/*_leftImg8bit.png`` with
  ``ROOT/gtFine/train/CITY/*_gtFine_labelIds.png`` (and ``val/``). Split ``"val"`` and
  ``"test"`` read ``val/`` (Cityscapes' test labels are withheld). Only the ``*_labelIds.png``
  files are read (the ``*_color.png``, ``*_instanceIds.png`` and ``.json`` beside them are
  not). 35 classes: the label ids 0..33 of the Cityscapes scripts, and 34, which gtFine never
  uses (the SPADE reference's ``label_nc`` is 35).
* **generic** (your own data): ``ROOT/labels/{split}/NAME.png`` with
  ``ROOT/images/{split}/NAME.jpg`` (or ``.png``, any extension of
  :data:`~coursekit.data.folders.IMG_EXTENSIONS`; subfolders are allowed and are part of
  NAME). A label map is a single-channel image (8-bit, 16-bit or palette PNG; lossless: a
  JPEG's compression would change the ids at every edge) whose pixel values are class ids
  0, 1, 2, ... The split is the folder's name (``train``, ``val``, ``test``...). The number of
  classes is, in this order: ``num_classes=`` given in Python; the number of non-empty lines
  of ``ROOT/classes.txt`` (line i names class i); else 1 + the largest id found in a scan of
  every label map under ``ROOT/labels/`` (all splits, so that training and test data agree;
  ``num_classes_source`` says which rule gave it).

Items (``docs/CONTRACTS.md``)::

    {"labels": (H, W) int64 class ids, "A": (3, H, W) the labels in the dataset's colours,
     "B": (3, H, W) the photo, "path_A": the label file, "path_B": the photo file}

with images float in [-1, 1]. ``"A"`` is for display (and for methods that read colours, such
as pix2pix): each class has one colour, ``palette[id]`` (:attr:`LabelFolders.palette`):

* Cityscapes: the official colours of the Cityscapes scripts (road purple, car dark blue...);
  where the official table gives several ids one colour (ids 0..4 black, pole and polegroup
  grey), each later id has its blue raised by one level per earlier twin, so that every class
  keeps a colour of its own and ``"A"`` turns back into ids exactly
  (:meth:`LabelFolders.colours_to_labels`). Id 34 is white.
* ADE20K and generic folders: :func:`indexed_palette`, the bit-interleaved colour map of
  PASCAL VOC (0 black, 1 dark red, 2 dark green, 3 olive...), distinct for up to 2**24 ids.

Resizing, cropping and flipping are :class:`~coursekit.data.transforms.PairTransform`'s with one
draw per item for both images: the label map is resized with nearest neighbour (an
interpolated id is no class), the photo with the transform's filter (bicubic), as in the SPADE
reference. Images are square crops like every coursekit dataset: Cityscapes' 2:1 frames are
scaled to a square as in pix2pix's Cityscapes archive (the SPADE reference keeps 512x256).

Mistakes a user can make are :class:`~coursekit.data.folders.DataFolderError` (a
``ValueError``) or ``FileNotFoundError`` naming the file and what to do: a label map without
its photo (or a photo without its label map), a label map stored as RGB colours, an id
``>= num_classes``, an empty or missing split.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from coursekit.data.folders import (IMG_EXTENSIONS, LAYOUT_HOOKS, CorruptImageError,
                                    DataFolderError, _FolderDataset, _is_hidden, _listing, _more,
                                    list_images, load_rgb)
from coursekit.data.transforms import PairTransform

__all__ = [
    "ADE20K_NUM_CLASSES",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_PALETTE",
    "LABEL_LAYOUTS",
    "LabelFolders",
    "colours_to_ids",
    "detect_label_layout",
    "indexed_palette",
    "load_label_map",
]

#: The layouts :class:`LabelFolders` reads.
LABEL_LAYOUTS = ("ade20k", "cityscapes", "generic")

#: ADE20K scene parsing: 150 classes plus id 0, "other" (unlabelled). The SPADE reference
#: uses ``label_nc=150`` with ``contain_dontcare_label``: 151 one-hot channels as here.
ADE20K_NUM_CLASSES = 151

# The Cityscapes label ids (cityscapesScripts' labels.py; json2labelImg writes ids 0..33 and
# skips the licence plate, whose id is -1) with their official colours.
_CITYSCAPES_OFFICIAL = (
    ("unlabeled", (0, 0, 0)), ("ego vehicle", (0, 0, 0)), ("rectification border", (0, 0, 0)),
    ("out of roi", (0, 0, 0)), ("static", (0, 0, 0)), ("dynamic", (111, 74, 0)),
    ("ground", (81, 0, 81)), ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)),
    ("parking", (250, 170, 160)), ("rail track", (230, 150, 140)), ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)), ("fence", (190, 153, 153)), ("guard rail", (180, 165, 180)),
    ("bridge", (150, 100, 100)), ("tunnel", (150, 120, 90)), ("pole", (153, 153, 153)),
    ("polegroup", (153, 153, 153)), ("traffic light", (250, 170, 30)),
    ("traffic sign", (220, 220, 0)), ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)), ("person", (220, 20, 60)),
    ("rider", (255, 0, 0)), ("car", (0, 0, 142)), ("truck", (0, 0, 70)), ("bus", (0, 60, 100)),
    ("caravan", (0, 0, 90)), ("trailer", (0, 0, 110)), ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)), ("bicycle", (119, 11, 32)),
    ("(unused)", (255, 255, 255)),  # id 34: not in gtFine; the reference's label_nc is 35
)

#: Names of the 35 Cityscapes label ids (index = id).
CITYSCAPES_CLASSES: tuple[str, ...] = tuple(name for name, _ in _CITYSCAPES_OFFICIAL)


def _distinct(colours) -> np.ndarray:
    """The colours as a (K, 3) uint8 palette, a repeated colour's blue raised level by level
    until it is unused (so the palette can be inverted exactly)."""
    used: set[tuple[int, int, int]] = set()
    out = []
    for r, g, b in colours:
        while (r, g, b) in used:
            b = (b + 1) % 256
        used.add((r, g, b))
        out.append((r, g, b))
    return np.array(out, dtype=np.uint8)


#: (35, 3) uint8: the official Cityscapes colours, made distinct (see the module docstring).
CITYSCAPES_PALETTE = _distinct(c for _, c in _CITYSCAPES_OFFICIAL)


def indexed_palette(n: int) -> np.ndarray:
    """``(n, 3)`` uint8 colours for ids ``0..n-1``: the PASCAL VOC colour map, which spreads
    the bits of the id over the high bits of R, G and B (id 0 black, 1 (128, 0, 0), 2
    (0, 128, 0), 3 (128, 128, 0), ...). Distinct for ``n <= 2**24``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 2**24:
        raise ValueError(f"a palette needs 1 to 2**24 classes, got {n!r}")
    ids = np.arange(n, dtype=np.int64)
    rgb = np.zeros((n, 3), dtype=np.int64)
    for bit in range(8):  # 3 bits of the id per round, into bit 7 - round of R, G, B
        for channel in range(3):
            rgb[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    return rgb.astype(np.uint8)


def _colour_keys(rgb: np.ndarray | Tensor):
    """One integer per colour (R * 65536 + G * 256 + B) of integer RGB values, channel last."""
    return (rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2])


def _lookup(keys: Tensor, palette: np.ndarray) -> tuple[Tensor, Tensor]:
    """(ids, found) of colour keys against a palette of distinct colours."""
    pal = torch.from_numpy(_colour_keys(np.asarray(palette, dtype=np.int64)))
    order = torch.argsort(pal)
    sorted_keys = pal[order]
    pos = torch.searchsorted(sorted_keys, keys.contiguous()).clamp_(max=len(pal) - 1)
    return order[pos], sorted_keys[pos] == keys


def colours_to_ids(rgb: np.ndarray, palette) -> np.ndarray:
    """Turn a colour label image into class ids: ``rgb`` (H, W, 3) uint8 (e.g.
    ``np.asarray(Image.open(path).convert("RGB"))``), ``palette`` (K, 3) the colour of each
    class, distinct. Returns (H, W) int64 ids; a colour that is not in the palette is an error.

    To convert a folder of colour maps for the generic layout::

        ids = colours_to_ids(np.asarray(Image.open(p).convert("RGB")), palette)
        Image.fromarray(ids.astype(np.uint8)).save(out_png)   # uint16 above 255 classes
    """
    rgb = np.asarray(rgb)
    palette = np.asarray(palette, dtype=np.int64)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f"palette must be (K, 3) colours, got shape {palette.shape}")
    if len({tuple(c) for c in palette.tolist()}) != len(palette):
        raise ValueError("the palette gives two classes the same colour; the ids of such "
                         "pixels cannot be told apart")
    ids, found = _lookup(torch.from_numpy(_colour_keys(rgb.astype(np.int64))), palette)
    if not bool(found.all()):
        missing = sorted({tuple(int(v) for v in c) for c in rgb[~found.numpy()][:1000]})
        raise ValueError(f"{int((~found).sum())} pixels have colours that are not in the "
                         f"palette, e.g. {', '.join(map(str, missing[:5]))}")
    return ids.numpy()


# ----------------------------------------------------------------------------- label files
_LOSSLESS = (".png", ".bmp", ".tif", ".tiff")

_RGB_HELP = (
    "A label map must hold one class id per pixel (a single-channel PNG: 8-bit, 16-bit or "
    "palette), not colours. For Cityscapes read the *_gtFine_labelIds.png files, not "
    "*_gtFine_color.png. To convert colour maps, map each class's colour to its id, e.g. "
    "ids = coursekit.data.labels.colours_to_ids(np.asarray(Image.open(path).convert('RGB')), "
    "palette) with palette the (num_classes, 3) colour of each class, then "
    "Image.fromarray(ids.astype(np.uint8)).save(path).")


def load_label_map(path: str | os.PathLike) -> Image.Image:
    """A label-map file as a PIL image of class ids, mode ``"L"`` (ids 0..255) or ``"I"``
    (16-bit files). Palette PNGs give their palette indices (the PASCAL VOC convention); an
    RGB file whose three channels are equal (grey saved as RGB) gives its grey values.

    Raises:
        CorruptImageError: the file cannot be decoded.
        DataFolderError: the file holds colours (RGB) or non-integer values; the message says
            how to convert it.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("L", "P"):
                return Image.fromarray(np.asarray(im).astype(np.uint8), mode="L")
            if mode == "1":
                return Image.fromarray(np.asarray(im).astype(np.uint8), mode="L")
            if mode == "LA":
                return im.getchannel("L").copy()
            if mode.startswith("I;16") or mode == "I":
                arr = np.asarray(im).astype(np.int64)
                if arr.min(initial=0) < 0:
                    raise DataFolderError(f"{path} holds negative values; class ids are 0, 1, "
                                          "2, ...")
                return Image.fromarray(arr.astype(np.int32), mode="I")
            if mode in ("RGB", "RGBA"):
                arr = np.asarray(im)[..., :3]
                if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
                    return Image.fromarray(np.ascontiguousarray(arr[..., 0]), mode="L")
                colours = len(np.unique(arr.reshape(-1, 3), axis=0))
                raise DataFolderError(
                    f"{path} is an {mode} image with {colours} different colours: a label map "
                    f"drawn in colours, not a map of class ids. {_RGB_HELP}")
    except FileNotFoundError:
        raise
    except DataFolderError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptImageError(
            f"Cannot read label map {path}: {err}. The file is damaged or is not an image; "
            "delete or replace it.") from err
    raise DataFolderError(f"{path} is a {mode} image, which cannot hold class ids. {_RGB_HELP}")


# ----------------------------------------------------------------------------- layouts
_ADE_ROOT = "ADEChallengeData2016"
_ADE_SPLITS = {"train": "training", "training": "training", "val": "validation",
               "test": "validation", "validation": "validation"}
_CITYSCAPES_SPLITS = {"train": "train", "val": "val", "test": "val"}
_CITYSCAPES_LABEL = "_gtFine_labelIds.png"
_CITYSCAPES_PHOTO = "_leftImg8bit.png"


def detect_label_layout(path: str | os.PathLike) -> tuple[str, Path] | None:
    """``(layout, root)`` if ``path`` has one of the label layouts, else None: ``"ade20k"``
    (``images/`` + ``annotations/``, or a folder holding ``ADEChallengeData2016/``),
    ``"cityscapes"`` (``leftImg8bit/`` + ``gtFine/``), ``"generic"`` (``images/`` +
    ``labels/``)."""
    path = Path(path).expanduser()

    def has(*names: str, at: Path = path) -> bool:
        return all((at / name).is_dir() for name in names)

    if has("images", "annotations"):
        return "ade20k", path
    if has("images", "annotations", at=path / _ADE_ROOT):
        return "ade20k", path / _ADE_ROOT
    if has("leftImg8bit", "gtFine"):
        return "cityscapes", path
    if has("images", "labels"):
        return "generic", path
    return None


def _keyed(paths: list[Path], folder: Path, suffix: str | None, what: str) -> dict[str, Path]:
    """Files by name inside ``folder``: the relative path without ``suffix`` (or without its
    extension)."""
    keyed: dict[str, Path] = {}
    for path in paths:
        rel = path.relative_to(folder).as_posix()
        key = rel[: -len(suffix)] if suffix else str(Path(rel).with_suffix("").as_posix())
        if key in keyed:
            raise DataFolderError(
                f"{keyed[key]} and {path} have the same name apart from the extension, so it "
                f"is unclear which one is the {what} of {key!r}; remove one.")
        keyed[key] = path
    return keyed


def _scan_max_id(files: list[Path]) -> int:
    return max(int(np.asarray(load_label_map(p)).max(initial=0)) for p in files)


class LabelFolders(_FolderDataset):
    """Class-index label maps with their photos, from an ADE20K, Cityscapes or generic folder
    (see the module docstring for the layouts and :attr:`num_classes`).

    Args:
        root: the dataset folder.
        split: ``"train"``, ``"val"`` or ``"test"`` (ADE20K and Cityscapes read their
            validation set for ``"test"``); the generic layout's folder name.
        layout: ``"ade20k"``, ``"cityscapes"`` or ``"generic"``; None detects it.
        num_classes: the generic layout's class count (default: ``ROOT/classes.txt``, else a
            scan); ADE20K and Cityscapes have theirs (151, 35) and accept only that.
        preprocess, load_size, crop_size, flip, transform: see
            :class:`~coursekit.data.transforms.PairTransform`; ``flip=None`` flips only the
            ``"train"`` split.

    Attributes:
        num_classes: ids run from 0 to ``num_classes - 1``: SPADE's ``label_channels``.
        num_classes_source: how :attr:`num_classes` was found, in words.
        class_names: the classes' names where known (Cityscapes, ``classes.txt``), else None.
        palette: ``(num_classes, 3)`` uint8, the colour of each id in ``"A"``.
        paths_A, paths_B: the label files and their photos, in the items' order.
    """

    pairing = "paired"

    def __init__(self, root: str | os.PathLike, split: str = "train", *,
                 layout: str | None = None, num_classes: int | None = None,
                 preprocess: str = "resize_and_crop", load_size: int = 286,
                 crop_size: int = 256, flip: bool | None = None,
                 transform: PairTransform | None = None) -> None:
        super().__init__(train=split == "train", preprocess=preprocess, load_size=load_size,
                         crop_size=crop_size, flip=flip, transform=transform)
        root = Path(root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"Dataset folder {root} does not exist.")
        if layout is None:
            found = detect_label_layout(root)
            if found is None:
                raise DataFolderError(
                    f"{root} has none of the label-map layouts (images/ + annotations/ for "
                    f"ADE20K, leftImg8bit/ + gtFine/ for Cityscapes, images/ + labels/ for your "
                    f"own); {_listing(root)}.")
            layout, root = found
        elif layout not in LABEL_LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LABEL_LAYOUTS)}, got {layout!r}")
        elif layout == "ade20k" and not (root / "images").is_dir() \
                and (root / _ADE_ROOT).is_dir():
            root = root / _ADE_ROOT
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, (int, np.integer))
                                        or num_classes < 1):
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.root, self.split, self.layout = root, split, layout
        self.class_names: tuple[str, ...] | None = None

        if layout == "ade20k":
            photo_dir, label_dir = self._split_dirs("images", "annotations", _ADE_SPLITS)
            label_suffix = photo_suffix = None
            self._fixed_classes(num_classes, ADE20K_NUM_CLASSES,
                                "ADE20K: 150 classes and id 0, 'other'")
            self.palette = indexed_palette(ADE20K_NUM_CLASSES)
        elif layout == "cityscapes":
            photo_dir, label_dir = self._split_dirs("leftImg8bit", "gtFine", _CITYSCAPES_SPLITS)
            label_suffix, photo_suffix = _CITYSCAPES_LABEL, _CITYSCAPES_PHOTO
            self._fixed_classes(num_classes, len(CITYSCAPES_CLASSES),
                                "Cityscapes: the label ids 0..33 and the unused 34")
            self.class_names = CITYSCAPES_CLASSES
            self.palette = CITYSCAPES_PALETTE
        else:
            photo_dir, label_dir = self._split_dirs("images", "labels", None)
            label_suffix = photo_suffix = None
        self.photo_dir, self.label_dir = photo_dir, label_dir

        label_files = self._label_files(label_dir, label_suffix)
        photo_files = list_images(photo_dir, expected=f"the photos of split {split!r}")
        if photo_suffix:
            photo_files = [p for p in photo_files if p.name.endswith(photo_suffix)]
        labels = _keyed(label_files, label_dir, label_suffix, "label map")
        photos = _keyed(photo_files, photo_dir, photo_suffix, "photo")
        self._check_matched(labels, photos)
        keys = sorted(labels)
        self.paths_A = [labels[k] for k in keys]
        self.paths_B = [photos[k] for k in keys]

        if layout == "generic":
            self._generic_classes(num_classes)
            self.palette = indexed_palette(self.num_classes)

    # -- construction ------------------------------------------------------------------------
    def _split_dirs(self, photos: str, labels: str,
                    names: dict[str, str] | None) -> tuple[Path, Path]:
        """The photo and label folders of ``self.split``, or an error naming the splits."""
        if names is None:  # generic: the split is the folder's name
            sub = self.split
            splits = sorted(p.name for p in (self.root / labels).iterdir()
                            if p.is_dir() and not _is_hidden(p.name)
                            and (self.root / photos / p.name).is_dir())
            accepted = ", ".join(splits) if splits else "none"
        else:
            sub = names.get(self.split)
            accepted = ", ".join(f"{k} ({names[k]}/)" for k in ("train", "val", "test"))
        photo_dir, label_dir = self.root / photos / str(sub), self.root / labels / str(sub)
        if sub is None or not (photo_dir.is_dir() and label_dir.is_dir()):
            missing = [d for d in (label_dir, photo_dir) if sub is not None and not d.is_dir()]
            where = (f": {' and '.join(map(str, missing))} "
                     f"{'do' if len(missing) > 1 else 'does'} not exist") if missing else ""
            raise FileNotFoundError(
                f"{self.root} ({self._layout_name()} layout) has no split {self.split!r}"
                f"{where}. Its splits: {accepted}. Choose one of those (--split on the command "
                f"line, split= in Python).")
        return photo_dir, label_dir

    def _layout_name(self) -> str:
        return {"ade20k": "ADE20K", "cityscapes": "Cityscapes", "generic": "labels/ + images/"}[
            self.layout]

    def _label_files(self, label_dir: Path, suffix: str | None) -> list[Path]:
        expected = (f"label maps ({suffix} files)" if suffix else "label maps (PNG files of "
                    "class ids)") + f" for split {self.split!r}"
        try:
            files = list_images(label_dir, expected=expected)
        except DataFolderError:
            raise DataFolderError(f"Split {self.split!r} is empty: no {expected} in "
                                  f"{label_dir}.") from None
        if suffix:
            files = [p for p in files if p.name.endswith(suffix)]
            if not files:
                raise DataFolderError(
                    f"Split {self.split!r} is empty: no *{suffix} files under {label_dir}. "
                    f"They come in Cityscapes' gtFine_trainvaltest.zip; the *_color.png files "
                    f"are colours, not class ids.")
            return files
        lossy = [p.relative_to(label_dir).as_posix() for p in files
                 if not p.name.lower().endswith(_LOSSLESS)]
        if lossy:
            raise DataFolderError(
                f"{len(lossy)} label map(s) in {label_dir} are not lossless images: "
                f"{_more(lossy)}. A JPEG's compression changes the class ids at every edge: "
                f"save label maps as PNG.")
        return files

    def _check_matched(self, labels: dict[str, Path], photos: dict[str, Path]) -> None:
        only_labels = sorted(set(labels) - set(photos))
        only_photos = sorted(set(photos) - set(labels))
        parts = []
        if only_labels:
            names = [labels[k].relative_to(self.label_dir).as_posix() for k in only_labels]
            parts.append(f"{len(only_labels)} label map(s) in {self.label_dir} have no photo in "
                         f"{self.photo_dir}: {_more(names)}")
        if only_photos:
            names = [photos[k].relative_to(self.photo_dir).as_posix() for k in only_photos]
            parts.append(f"{len(only_photos)} photo(s) in {self.photo_dir} have no label map in "
                         f"{self.label_dir}: {_more(names)}")
        if parts:
            raise DataFolderError(
                "Every label map needs its photo, with the same name"
                + (" (CITY_SEQ_FRAME_gtFine_labelIds.png <-> CITY_SEQ_FRAME_leftImg8bit.png)"
                   if self.layout == "cityscapes" else " (the extensions may differ)")
                + ": " + "; ".join(parts) + ". Add the missing files or remove these.")

    def _fixed_classes(self, given: int | None, n: int, why: str) -> None:
        if given is not None and given != n:
            raise ValueError(f"{self._layout_name()} has {n} classes ({why}); num_classes="
                             f"{given} does not fit it. Leave num_classes out.")
        self.num_classes = n
        self.num_classes_source = why

    def _generic_classes(self, given: int | None) -> None:
        listing = self.root / "classes.txt"
        if given is not None:
            self.num_classes, self.num_classes_source = int(given), "num_classes given"
            return
        if listing.is_file():
            names = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines()
                     if line.strip()]
            if not names:
                raise DataFolderError(f"{listing} is empty: write one class name per line "
                                      "(line 1 names id 0), or delete it to count the classes "
                                      "from the label maps.")
            self.num_classes, self.class_names = len(names), tuple(names)
            self.num_classes_source = f"{len(names)} classes listed in {listing}"
            return
        # Every split: train and test must agree on the count, or a model trained on one could
        # not be scored on the other.
        files = [p for p in list_images(self.root / "labels")
                 if p.name.lower().endswith(_LOSSLESS)]
        largest = _scan_max_id(files)
        self.num_classes = largest + 1
        self.num_classes_source = (
            f"1 + the largest id ({largest}) in the {len(files)} label maps under "
            f"{self.root / 'labels'}; write {listing} (one class name per line) to set it")

    # -- items -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.paths_A)

    def _check_ids(self, path: Path, ids: np.ndarray) -> None:
        largest = int(ids.max(initial=0))
        if largest < self.num_classes:
            return
        bad = np.unique(ids[ids >= self.num_classes])
        shown = ", ".join(str(int(v)) for v in bad[:8]) + (" ..." if len(bad) > 8 else "")
        hint = {
            "ade20k": "ADEChallengeData2016's annotations hold 0 ('other') to 150: is this "
                      "file from another dataset?",
            "cityscapes": "*_gtFine_labelIds.png hold the ids 0..33; trainIds files (255 = "
                          "ignore) are another encoding: use the labelIds files.",
            "generic": f"The count came from: {self.num_classes_source}. List every class in "
                       f"{self.root / 'classes.txt'} (one line per id, so at least "
                       f"{largest + 1} lines), pass num_classes=, or relabel the file (255 is "
                       f"often 'ignore': give it an id of its own).",
        }[self.layout]
        raise DataFolderError(
            f"{path} holds class id(s) {shown}, but this dataset has num_classes="
            f"{self.num_classes} (ids 0..{self.num_classes - 1}). {hint}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = self._check_index(index)
        path_A, path_B = self.paths_A[i], self.paths_B[i]
        label_img, photo = load_label_map(path_A), load_rgb(path_B)
        self._check_ids(path_A, np.asarray(label_img))
        if label_img.size != photo.size:
            raise DataFolderError(
                f"{path_A} is {label_img.size[0]}x{label_img.size[1]} px but its photo {path_B} "
                f"is {photo.size[0]}x{photo.size[1]} px; a label map must cover its photo pixel "
                "for pixel. Resize one of them (the label map with nearest neighbour).")
        params = self.transform.draw_params(*photo.size)
        ids = np.asarray(self.transform.apply_pil(label_img, params,
                                                  resample=Image.Resampling.NEAREST))
        labels = torch.from_numpy(ids.astype(np.int64))
        return {"labels": labels, "A": self.colours(labels),
                "B": self.transform.apply(photo, params),
                "path_A": str(path_A), "path_B": str(path_B)}

    # -- colours -----------------------------------------------------------------------------
    def colours(self, labels: Tensor) -> Tensor:
        """Class ids (..., H, W) as the dataset's colours (..., 3, H, W) in [-1, 1]."""
        rgb = torch.from_numpy(self.palette)[labels.long().cpu()]  # (..., H, W, 3)
        return rgb.movedim(-1, -3).float().div_(127.5).sub_(1.0)

    def colours_to_labels(self, images: Tensor) -> Tensor:
        """The inverse of :meth:`colours`: ``"A"`` images (..., 3, H, W) in [-1, 1] back to
        class ids (..., H, W) int64, exactly (every colour must be one of :attr:`palette`)."""
        rgb = images.detach().float().cpu().add(1.0).mul(127.5).round().long().clamp(0, 255)
        ids, found = _lookup(_colour_keys(rgb.movedim(-3, -1)), self.palette)
        if not bool(found.all()):
            raise ValueError(f"{int((~found).sum())} pixels have colours that are not in the "
                             f"{self._layout_name()} palette: these are not label images of "
                             f"this dataset")
        return ids.to(images.device)

    def __repr__(self) -> str:
        return (f"LabelFolders({str(self.root)!r}, split={self.split!r}, layout="
                f"{self.layout!r}: {len(self)} items, num_classes={self.num_classes})")


def _open_found(found: tuple[str, Path], split: str, num_classes: int | None = None, **transform):
    layout, root = found
    return LabelFolders(root, split, layout=layout, num_classes=num_classes, **transform)


LAYOUT_HOOKS.append((detect_label_layout, _open_found))  # open_folder / get_dataset(PATH)
