"""Datasets made of image folders: the layouts of the pix2pix / CycleGAN archives, and your own.

Four layouts are understood (``open_folder`` picks the right one), besides the label-map
layouts of :mod:`coursekit.data.labels` (ADE20K, Cityscapes, ``labels/`` + ``images/``), which
``open_folder`` checks first:

* **aligned** (pix2pix archives): ``ROOT/train/*.jpg``, ``ROOT/val/``, ``ROOT/test/``; each
  image holds A in its left half and B in its right half -> :class:`AlignedFolder`.
* **unaligned** (CycleGAN archives): ``ROOT/trainA/``, ``ROOT/trainB/``, ``ROOT/testA/``,
  ``ROOT/testB/``; A and B are unrelated images -> :class:`UnalignedFolders`.
* **paired folders**: ``ROOT/A/train/1.png`` goes with ``ROOT/B/train/1.png`` (the input
  layout of the reference ``combine_A_and_B.py``), or ``ROOT/A/`` with ``ROOT/B/`` without
  split folders; files are matched by name -> :class:`PairedFolders`.
* **single**: a folder of images, nothing else -> :class:`SingleFolder` (only ``"A"``).

Images are found recursively (sorted by their path inside the folder) with the extensions
in :data:`IMG_EXTENSIONS`, any case; hidden files and ``__MACOSX`` folders are skipped.
Every image is converted to RGB (grayscale is repeated, alpha is dropped, 16-bit is scaled
to 8-bit). Items follow ``docs/CONTRACTS.md``: ``"A"``/``"B"`` float ``(3, H, W)`` in [-1, 1]
plus ``"path_A"``/``"path_B"``. Resizing, cropping and flipping are those of
:class:`coursekit.data.transforms.PairTransform`; the keyword arguments ``preprocess``,
``load_size``, ``crop_size``, ``flip`` and ``transform`` are accepted by every class here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
import torch
from torch.utils.data import Dataset

from coursekit.data.transforms import PairTransform

__all__ = [
    "IMG_EXTENSIONS",
    "AlignedFolder",
    "CorruptImageError",
    "DataFolderError",
    "PairedFolders",
    "SingleFolder",
    "UnalignedFolders",
    "list_images",
    "load_rgb",
    "open_folder",
    "to_rgb",
]

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_EXT_TEXT = ", ".join(IMG_EXTENSIONS)

# How many unmatched / offending names an error message lists before saying "and N more":
# enough to see the pattern, short enough to read.
_MAX_LISTED = 10

_LAYOUTS_HELP = """Accepted layouts (ROOT is the folder given):
  ROOT/{split}/*.jpg             aligned pix2pix images, A left half | B right half
  ROOT/{split}A/, ROOT/{split}B/  unaligned CycleGAN domains (e.g. trainA/, trainB/)
  ROOT/A/{split}/, ROOT/B/{split}/ paired files matched by name (A/train/1.png <-> B/train/1.png)
  ROOT/A/, ROOT/B/               paired files matched by name, no split folders
  ROOT/*.png                     a single folder of images (items have only "A")
Label maps (class ids, one PNG per photo) -> photos, items with "labels" (coursekit.data.labels):
  ROOT/images/training/*.jpg, ROOT/annotations/training/*.png              ADE20K
  ROOT/leftImg8bit/train/CITY/*_leftImg8bit.png, ROOT/gtFine/train/CITY/*_gtFine_labelIds.png
                                                                            Cityscapes
  ROOT/images/{split}/NAME.jpg, ROOT/labels/{split}/NAME.png               your own"""


#: Width / height of an aligned A|B image: 2 for square halves (every pix2pix dataset); halves
#: from 3:4 to 3:2 are accepted, a square image (halves of 1:2) is not.
ALIGNED_RATIO = (1.5, 3.0)


class DataFolderError(ValueError):
    """A folder, or a file in it, does not have the layout or content a loader expects."""


class CorruptImageError(DataFolderError):
    """An image file that cannot be decoded. The message names the file."""


# ----------------------------------------------------------------------------- files
def _is_hidden(name: str) -> bool:
    # Dot files and macOS resource forks ("._x.jpg", "__MACOSX/") are not images even when
    # their names end in .jpg; reading them would raise a confusing "corrupt image" error.
    return name.startswith(".") or name == "__MACOSX"


def list_images(folder: str | os.PathLike, *, expected: str = "images") -> list[Path]:
    """All image files under ``folder``, recursively, sorted by their path inside it.

    Args:
        folder: the folder to search.
        expected: what the caller expects there, for the error message.

    Raises:
        FileNotFoundError: ``folder`` does not exist or is not a folder.
        DataFolderError: it holds no image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"{folder} {what}; expected a folder of {expected}.")
    found: list[tuple[str, Path]] = []
    seen_dirs: set[str] = set()
    # followlinks: datasets are often symlinked into place; seen_dirs guards against loops.
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)]
        for name in filenames:
            if not _is_hidden(name) and name.lower().endswith(IMG_EXTENSIONS):
                path = Path(dirpath) / name
                found.append((path.relative_to(folder).as_posix(), path))
    if not found:
        raise DataFolderError(
            f"No images in {folder} (searched recursively for {_EXT_TEXT}); expected {expected}.")
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]


def to_rgb(im: Image.Image) -> Image.Image:
    """A loaded PIL image as RGB: grayscale repeated, alpha dropped, 16-bit scaled to 8-bit."""
    mode = im.mode
    if mode == "RGB":
        return im.copy()
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(im).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255):
            arr = arr / 257.0  # 16-bit range 0..65535 onto 0..255 (65535 / 257 == 255)
        elif mode == "F" and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0  # float images are conventionally in [0, 1]
        gray = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
        return gray.convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # via RGBA: Pillow warns when a palette+transparency goes to RGB
    return im.convert("RGB")  # L, 1, LA, RGBA, P, CMYK, YCbCr: alpha is dropped


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file and return it as a fully decoded RGB PIL image.

    Grayscale becomes three equal channels, alpha is dropped (as in the reference code),
    16-bit images are scaled to 8 bits.

    Raises:
        CorruptImageError: the file cannot be decoded; the message names it.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()  # decode now, so that a truncated file fails here and not later
            return to_rgb(im)
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptImageError(
            f"Cannot read image {path}: {err}. The file is damaged or is not an image; "
            "delete or replace it.") from err


def _size(path: Path) -> tuple[int, int]:
    """Width and height from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptImageError(
            f"Cannot read image {path}: {err}. The file is damaged or is not an image; "
            "delete or replace it.") from err


def _subfolders(path: Path) -> list[str]:
    try:
        return sorted(p.name + "/" for p in path.iterdir() if p.is_dir() and not _is_hidden(p.name))
    except OSError:
        return []


def _listing(path: Path) -> str:
    subs = _subfolders(path)
    return f"it contains the folders {', '.join(subs)}" if subs else "it contains no folders"


def _more(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


# ----------------------------------------------------------------------------- datasets
class _FolderDataset(Dataset):
    """Shared transform handling and index checks; subclasses define ``__len__`` and
    ``__getitem__``."""

    #: "paired" (pixel-aligned A and B), "unpaired" (two domains) or "single" (A only).
    pairing = "paired"

    def __init__(self, *, train: bool, preprocess: str, load_size: int, crop_size: int,
                 flip: bool | None, transform: PairTransform | None) -> None:
        if transform is None:
            # The reference flips and crops at random for every split; coursekit jitters only
            # training data unless told, so that test / val items are the same at every
            # evaluation (centre crop, no flip).
            transform = PairTransform(preprocess, load_size=load_size, crop_size=crop_size,
                                      flip=train if flip is None else flip, random_crop=train)
        elif not isinstance(transform, PairTransform):
            raise TypeError(f"transform must be a PairTransform, not {type(transform).__name__}")
        self.transform = transform

    def _check_index(self, index: int) -> int:
        n = len(self)
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"dataset indices must be integers, not {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            # IndexError (not ValueError) ends a plain `for item in dataset` loop.
            raise IndexError(f"index {index} out of range for a dataset of {n} items")
        return index


class AlignedFolder(_FolderDataset):
    """pix2pix "aligned" images: every file is A (left half) and B (right half) side by side.

    Args:
        root: the dataset folder, holding ``train/``, ``val/``, ``test/``...
        split: the subfolder to read; ``None`` reads the images directly in ``root``.
        preprocess, load_size, crop_size, flip, transform: see
            :class:`~coursekit.data.transforms.PairTransform`; both halves get the same crop
            and flip. ``flip=None`` flips only the ``"train"`` split.

    Items: ``{"A", "B", "path_A", "path_B"}`` (both paths name the same file).
    """

    pairing = "paired"

    def __init__(self, root: str | os.PathLike, split: str | None = "train", *,
                 preprocess: str = "resize_and_crop", load_size: int = 286,
                 crop_size: int = 256, flip: bool | None = None,
                 transform: PairTransform | None = None) -> None:
        super().__init__(train=split == "train", preprocess=preprocess, load_size=load_size,
                         crop_size=crop_size, flip=flip, transform=transform)
        self.root = Path(root).expanduser()
        self.split = split
        self.folder = self.root if split is None else self.root / split
        if split is not None and not self.folder.is_dir() and self.root.is_dir():
            raise FileNotFoundError(
                f"No split folder {self.folder}: AlignedFolder reads A|B images from "
                f"{self.root}/{split}/, but {_listing(self.root)}.")
        self.paths = list_images(self.folder, expected="pix2pix-style images with A in the "
                                                       "left half and B in the right half")
        # Fail at construction on an obviously wrong folder (e.g. a CycleGAN domain folder)
        # rather than in the first training step; every item is checked again when loaded.
        self._check_width(self.paths[0], *_size(self.paths[0]))

    def __len__(self) -> int:
        return len(self.paths)

    @staticmethod
    def _check_width(path: Path, width: int, height: int) -> None:
        other_layouts = ("If A and B are separate files, put them in A/train/ and B/train/ "
                         "(pairs matched by file name) or in trainA/ and trainB/ (two unpaired "
                         "domains).")
        if width < 2 or width % 2:
            raise DataFolderError(
                f"{path} is {width}x{height} px, which cannot be an aligned A|B image: the two "
                "halves must have the same width, so the total width must be even (e.g. "
                f"512x256 for two 256x256 images). {other_layouts}")
        if not ALIGNED_RATIO[0] <= width / height <= ALIGNED_RATIO[1]:
            raise DataFolderError(
                f"{path} is {width}x{height} px, so its halves would be {width // 2}x{height} px: "
                f"not an aligned A|B image, whose width is about twice its height (512x256 for "
                f"two 256x256 images; every pix2pix dataset is 2:1). {other_layouts}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[self._check_index(index)]
        img = load_rgb(path)
        w, h = img.size
        self._check_width(path, w, h)
        half = w // 2
        a, b = self.transform(img.crop((0, 0, half, h)), img.crop((half, 0, w, h)))
        return {"A": a, "B": b, "path_A": str(path), "path_B": str(path)}


class PairedFolders(_FolderDataset):
    """Pairs from two folders, matched by file name without extension (``1.png`` <-> ``1.jpg``).

    Names are compared with their subfolder, so ``A/x/1.png`` pairs with ``B/x/1.jpg``.
    Every file must have a partner; A and B of a pair must have the same size.

    Args:
        dir_A, dir_B: the two folders.
        train: whether this is training data (sets the default of ``flip``).
        preprocess, load_size, crop_size, flip, transform: as in :class:`AlignedFolder`.

    Items: ``{"A", "B", "path_A", "path_B"}``.
    """

    pairing = "paired"

    def __init__(self, dir_A: str | os.PathLike, dir_B: str | os.PathLike, *, train: bool = True,
                 preprocess: str = "resize_and_crop", load_size: int = 286,
                 crop_size: int = 256, flip: bool | None = None,
                 transform: PairTransform | None = None) -> None:
        super().__init__(train=train, preprocess=preprocess, load_size=load_size,
                         crop_size=crop_size, flip=flip, transform=transform)
        self.dir_A = Path(dir_A).expanduser()
        self.dir_B = Path(dir_B).expanduser()
        keyed_A = self._keyed(self.dir_A, "A")
        keyed_B = self._keyed(self.dir_B, "B")
        only_A = sorted(set(keyed_A) - set(keyed_B))
        only_B = sorted(set(keyed_B) - set(keyed_A))
        if only_A or only_B:
            parts = []
            for only, keyed, here, there in ((only_A, keyed_A, self.dir_A, self.dir_B),
                                             (only_B, keyed_B, self.dir_B, self.dir_A)):
                if only:
                    names = [keyed[k].relative_to(here).as_posix() for k in only]
                    parts.append(f"{len(only)} file(s) in {here} have no partner in {there}: "
                                 f"{_more(names)}")
            raise DataFolderError(
                "Paired folders must hold the same file names (extensions may differ). "
                + "; ".join(parts) + ". Remove or rename these files.")
        self.keys = sorted(keyed_A)
        self.paths_A = [keyed_A[k] for k in self.keys]
        self.paths_B = [keyed_B[k] for k in self.keys]

    @staticmethod
    def _keyed(folder: Path, side: str) -> dict[str, Path]:
        paths = list_images(folder, expected=f"the {side} images of the pairs")
        keyed: dict[str, Path] = {}
        for path in paths:
            key = path.relative_to(folder).with_suffix("").as_posix()
            if key in keyed:
                raise DataFolderError(
                    f"{keyed[key]} and {path} have the same name apart from the extension, so "
                    f"it is unclear which one is the {side} image of pair {key!r}; remove one.")
            keyed[key] = path
        return keyed

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = self._check_index(index)
        path_A, path_B = self.paths_A[i], self.paths_B[i]
        img_A, img_B = load_rgb(path_A), load_rgb(path_B)
        if img_A.size != img_B.size:
            raise DataFolderError(
                f"{path_A} is {img_A.size[0]}x{img_A.size[1]} px but its partner {path_B} is "
                f"{img_B.size[0]}x{img_B.size[1]} px; the two images of a pair must have the "
                "same size to be cropped identically. Resize one of them.")
        a, b = self.transform(img_A, img_B)
        return {"A": a, "B": b, "path_A": str(path_A), "path_B": str(path_B)}


class UnalignedFolders(_FolderDataset):
    """CycleGAN "unaligned" domains: ``ROOT/{split}A/`` and ``ROOT/{split}B/``.

    The dataset is as long as the larger domain. Item ``i`` takes A image ``i mod len(A)``
    and, for training, a B image drawn afresh at every access from torch's global generator, as
    the reference implementation does: over the epochs each A meets many Bs, and the training
    loop's RNG checkpointing keeps resume exact. For other splits the B image is a pure function
    of ``(seed, i)``, so evaluation sees the same pairs in every run. ``serial=True`` takes
    ``i mod len(B)`` instead. A and B get independent crops and flips.

    Args:
        root: the dataset folder.
        split: ``"train"`` reads ``trainA/`` and ``trainB/``, ``"test"`` reads ``testA/``...
        serial: pair A ``i`` with B ``i mod len(B)``.
        seed: non-negative int selecting the A/B pairing when not ``serial``.
        preprocess, load_size, crop_size, flip, transform: as in :class:`AlignedFolder`.

    Items: ``{"A", "B", "path_A", "path_B"}``.
    """

    pairing = "unpaired"

    def __init__(self, root: str | os.PathLike, split: str = "train", serial: bool = False,
                 seed: int = 0, *, preprocess: str = "resize_and_crop", load_size: int = 286,
                 crop_size: int = 256, flip: bool | None = None,
                 transform: PairTransform | None = None) -> None:
        super().__init__(train=split == "train", preprocess=preprocess, load_size=load_size,
                         crop_size=crop_size, flip=flip, transform=transform)
        self.train = split == "train"
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.root = Path(root).expanduser()
        self.split = split
        self.serial = bool(serial)
        self.seed = int(seed)
        self.dir_A = self.root / f"{split}A"
        self.dir_B = self.root / f"{split}B"
        for folder in (self.dir_A, self.dir_B):
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"No folder {folder}: UnalignedFolders reads {self.dir_A.name}/ and "
                    f"{self.dir_B.name}/ inside {self.root}, but {_listing(self.root)}.")
        self.paths_A = list_images(self.dir_A, expected=f"the domain-A images of split {split!r}")
        self.paths_B = list_images(self.dir_B, expected=f"the domain-B images of split {split!r}")

    def __len__(self) -> int:
        return max(len(self.paths_A), len(self.paths_B))

    def b_index(self, index: int) -> int:
        """The B image paired with item ``index`` (see the class docstring)."""
        n_B = len(self.paths_B)
        if self.serial:
            return index % n_B
        if self.train:
            return int(torch.randint(n_B, ()))
        # A generator seeded by (seed, index) through NumPy's SeedSequence: independent of
        # the epoch, of worker processes and of any global RNG state.
        return int(np.random.default_rng([self.seed, index]).integers(n_B))

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = self._check_index(index)
        path_A = self.paths_A[i % len(self.paths_A)]
        path_B = self.paths_B[self.b_index(i)]
        (a,) = self.transform(load_rgb(path_A))
        (b,) = self.transform(load_rgb(path_B))
        return {"A": a, "B": b, "path_A": str(path_A), "path_B": str(path_B)}


class SingleFolder(_FolderDataset):
    """One folder of images (e.g. test inputs). Items: ``{"A", "path_A"}``.

    Args:
        folder: the folder (searched recursively).
        preprocess, load_size, crop_size, transform: as in :class:`AlignedFolder`.
        flip: random flips (off by default: single folders are usually inference inputs).
    """

    pairing = "single"

    def __init__(self, folder: str | os.PathLike, *, preprocess: str = "resize_and_crop",
                 load_size: int = 286, crop_size: int = 256, flip: bool | None = False,
                 transform: PairTransform | None = None) -> None:
        super().__init__(train=False, preprocess=preprocess, load_size=load_size,
                         crop_size=crop_size, flip=flip, transform=transform)
        self.folder = Path(folder).expanduser()
        self.paths = list_images(self.folder)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[self._check_index(index)]
        (a,) = self.transform(load_rgb(path))
        return {"A": a, "path_A": str(path)}


# ----------------------------------------------------------------------------- detection
_TRANSFORM_KEYS = frozenset({"preprocess", "load_size", "crop_size", "flip", "transform"})
_UNALIGNED_KEYS = frozenset({"serial", "seed"})
_LABEL_KEYS = frozenset({"num_classes"})

#: Layouts that other modules teach :func:`open_folder`, checked before the ones here:
#: ``(detect(path) -> found or None, make(found, split, num_classes=..., **transform) ->
#: dataset)``. ``coursekit.data.labels`` adds the label maps' (ADE20K, Cityscapes, generic);
#: it imports this module, so it registers itself rather than being imported here.
LAYOUT_HOOKS: list[tuple[Any, Any]] = []


def _has_images(folder: Path) -> bool:
    try:
        list_images(folder)
        return True
    except (FileNotFoundError, DataFolderError):
        return False


def _split_names(path: Path) -> list[str]:
    """Splits recognisable in ``path`` under any of the layouts."""
    subs = {p.name for p in path.iterdir() if p.is_dir() and not _is_hidden(p.name)}
    splits = {s[:-1] for s in subs if s.endswith("A") and s[:-1] + "B" in subs and s[:-1]}
    splits |= subs & {"train", "val", "test"}
    if {"A", "B"} <= subs:
        splits |= {p.name for p in (path / "A").iterdir()
                   if p.is_dir() and (path / "B" / p.name).is_dir()}
    return sorted(splits)


def open_folder(path: str | os.PathLike, split: str = "train",
                **kwargs: Any) -> _FolderDataset:
    """Open a folder dataset, detecting its layout.

    Detection order (the first that matches wins):

    0. label maps beside photos (``images/`` + ``annotations/``: ADE20K; ``leftImg8bit/`` +
       ``gtFine/``: Cityscapes; ``images/`` + ``labels/``: your own) ->
       :class:`coursekit.data.labels.LabelFolders`
    1. ``path/{split}A/`` or ``path/{split}B/`` exists -> :class:`UnalignedFolders`
    2. ``path/A/{split}/`` and ``path/B/{split}/`` exist -> :class:`PairedFolders`
    3. ``path/{split}/`` exists -> :class:`AlignedFolder` (A|B side by side)
    4. ``path/A/`` and ``path/B/`` exist (no split folders) -> :class:`PairedFolders`
    5. ``path`` holds images and no split folders -> :class:`SingleFolder`

    Args:
        path: the dataset folder.
        split: ``"train"``, ``"val"``, ``"test"``... (ignored by layouts 4 and 5).
        **kwargs: ``preprocess``, ``load_size``, ``crop_size``, ``flip``, ``transform``;
            ``serial`` and ``seed`` (used by unaligned folders, ignored by the others);
            ``num_classes`` (used by label-map folders, ignored by the others).

    Raises:
        FileNotFoundError: ``path`` does not exist, or lacks the requested split.
        DataFolderError: no layout matches; the message lists the accepted layouts.
        TypeError: an unknown keyword argument.
    """
    unknown = set(kwargs) - _TRANSFORM_KEYS - _UNALIGNED_KEYS - _LABEL_KEYS
    if unknown:
        raise TypeError(
            f"open_folder got unexpected argument(s) {', '.join(sorted(unknown))}; accepted: "
            f"{', '.join(sorted(_TRANSFORM_KEYS | _UNALIGNED_KEYS | _LABEL_KEYS))}")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Dataset folder {path} does not exist.\n"
                                f"{_LAYOUTS_HELP.format(split=split)}")
    if not path.is_dir():
        raise DataFolderError(f"{path} is a file; give the folder that holds the dataset.\n"
                              f"{_LAYOUTS_HELP.format(split=split)}")
    transform_kw = {k: v for k, v in kwargs.items() if k in _TRANSFORM_KEYS}
    train = split == "train"

    for detect, make in LAYOUT_HOOKS:  # the label-map layouts (coursekit.data.labels) first
        found = detect(path)
        if found is not None:
            return make(found, split, num_classes=kwargs.get("num_classes"), **transform_kw)
    if (path / f"{split}A").is_dir() or (path / f"{split}B").is_dir():
        return UnalignedFolders(path, split, **{k: v for k, v in kwargs.items()
                                                if k not in _LABEL_KEYS})
    if (path / "A" / split).is_dir() and (path / "B" / split).is_dir():
        return PairedFolders(path / "A" / split, path / "B" / split, train=train, **transform_kw)
    if (path / split).is_dir():
        return AlignedFolder(path, split, **transform_kw)

    splits = _split_names(path)
    if splits:
        raise FileNotFoundError(
            f"{path} has no split {split!r}; it has the split(s) {', '.join(splits)}. "
            f"Choose one of those (--split on the command line, split= in Python).")
    if (path / "A").is_dir() and (path / "B").is_dir():
        return PairedFolders(path / "A", path / "B", train=train, **transform_kw)
    if _has_images(path):
        return SingleFolder(path, **transform_kw)
    raise DataFolderError(
        f"Cannot tell the layout of {path}: {_listing(path)} and it holds no images "
        f"({_EXT_TEXT}).\n{_LAYOUTS_HELP.format(split=split)}")
