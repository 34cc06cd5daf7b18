"""The catalog of official pix2pix and CycleGAN datasets, and where coursekit keeps them.

The authors of pix2pix and CycleGAN serve their datasets from one host:

* pix2pix (paired; every file is one image with A on the left and B on the right):
  ``http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz``
* CycleGAN (unpaired; ``trainA/``, ``trainB/``, ``testA/``, ``testB/`` folders):
  ``http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip``

Naming
------
Three names exist in both collections (``facades``, ``maps``, ``cityscapes``) with different
layouts, so every dataset has a *qualified* name, ``"pix2pix/facades"``, ``"cyclegan/facades"``.
A dataset whose short name is unique is known by the short name (``"horse2zebra"``,
``"edges2shoes"``): that is its catalog key, and the qualified form is accepted as an alias.

**A bare colliding name means the pix2pix (paired) version**: ``"facades"`` is
``"pix2pix/facades"``, ``"maps"`` is ``"pix2pix/maps"``, ``"cityscapes"`` is
``"pix2pix/cityscapes"``. The course meets these datasets first as pix2pix examples, and a
paired dataset can always be used unpaired, while the reverse is impossible. Ask for
``"cyclegan/facades"`` explicitly for the CycleGAN archive.

On disk, every dataset lives under its qualified name, ``data_root()/pix2pix/facades``,
``data_root()/cyclegan/horse2zebra``, so the two ``facades`` never share a folder.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ALIASES",
    "CATALOG",
    "DEFAULT_BASE_URL",
    "DatasetInfo",
    "data_root",
    "resolve_name",
]

#: Scheme, host and prefix of the official server. ``download(base_url=...)`` and the
#: ``COURSEKIT_DATA_MIRROR`` environment variable replace exactly this part of each URL.
DEFAULT_BASE_URL = "http://efrosgans.eecs.berkeley.edu"

_KINDS = ("aligned", "unaligned")
_ARCHIVES = ("tar.gz", "zip")


@dataclass(frozen=True)
class DatasetInfo:
    """One downloadable dataset.

    Attributes:
        name: the catalog key (``"horse2zebra"``, ``"pix2pix/facades"``).
        source: ``"pix2pix"`` or ``"cyclegan"``: which collection it belongs to.
        short: the file name on the server without extension (``"facades"``).
        kind: ``"aligned"`` (A|B side by side in one file, split folders ``train/``, ...) or
            ``"unaligned"`` (``trainA/``, ``trainB/``, ...).
        archive: ``"tar.gz"`` or ``"zip"``.
        splits: the folders expected inside the dataset folder after extraction; each must
            hold at least one image.
        description: one line about the content.
        citation: who made the data and what to cite; the licence terms where known.
        size_bytes: approximate archive size, ``None`` where unknown. For information (disk
            space, progress); the download is checked against the server's Content-Length.
        sha256: expected SHA-256 of the archive, ``None`` where not recorded. The official
            server publishes no checksums, so the catalog records none; the digest of what was
            actually received is written to the manifest next to the extracted data.
        hf_id: a Hugging Face Hub copy usable with :func:`coursekit.data.download.load_hf`,
            or ``None``.
        synthetic_alternative: the offline synthetic dataset that stands in for this one.
        note: anything a user must know before downloading (empty when nothing).
    """

    name: str
    source: str
    short: str
    kind: str
    archive: str
    splits: tuple[str, ...]
    description: str
    citation: str
    size_bytes: int | None = None
    sha256: str | None = None
    hf_id: str | None = None
    synthetic_alternative: str = "synthetic-facades"
    note: str = ""

    def __post_init__(self) -> None:
        # A typo in a catalog entry would only show up as a confusing failure after a long
        # download; catch it when the module is imported instead.
        if self.kind not in _KINDS:
            raise ValueError(f"{self.name}: kind must be one of {_KINDS}, not {self.kind!r}")
        if self.archive not in _ARCHIVES:
            raise ValueError(
                f"{self.name}: archive must be one of {_ARCHIVES}, not {self.archive!r}")
        if not self.splits:
            raise ValueError(f"{self.name}: at least one split folder must be listed")

    @property
    def qualified_name(self) -> str:
        """``"{source}/{short}"``, e.g. ``"cyclegan/horse2zebra"``; also its folder under
        :func:`data_root`."""
        return f"{self.source}/{self.short}"

    @property
    def relative_url(self) -> str:
        """The URL path below the base URL, e.g. ``"pix2pix/datasets/facades.tar.gz"``."""
        return f"{self.source}/datasets/{self.short}.{self.archive}"

    @property
    def url(self) -> str:
        """The official download URL."""
        return f"{DEFAULT_BASE_URL}/{self.relative_url}"

    def layout_help(self) -> str:
        """How the files must be arranged in the dataset folder (for error messages)."""
        if self.kind == "aligned":
            return (
                f"folders {', '.join(s + '/' for s in self.splits)} each holding .jpg/.png images "
                "in which A is the left half and B the right half (pix2pix 'aligned' layout)"
            )
        return (
            f"folders {', '.join(s + '/' for s in self.splits)} holding the images of domain A "
            "(the *A/ folders) and domain B (the *B/ folders), CycleGAN 'unaligned' layout"
        )


def _pix2pix(short: str, splits: tuple[str, ...], description: str, citation: str, *,
             alternative: str, hf_id: str | None = None, note: str = "") -> DatasetInfo:
    name = short if short not in _COLLIDING else f"pix2pix/{short}"
    return DatasetInfo(name=name, source="pix2pix", short=short, kind="aligned",
                       archive="tar.gz", splits=splits, description=description,
                       citation=citation, size_bytes=None, hf_id=hf_id,
                       synthetic_alternative=alternative, note=note)


def _cyclegan(short: str, size_bytes: int, description: str, citation: str, *,
              alternative: str, hf_id: str | None = None, note: str = "") -> DatasetInfo:
    name = short if short not in _COLLIDING else f"cyclegan/{short}"
    return DatasetInfo(name=name, source="cyclegan", short=short, kind="unaligned",
                       archive="zip", splits=("trainA", "trainB", "testA", "testB"),
                       description=description, citation=citation, size_bytes=size_bytes,
                       hf_id=hf_id, synthetic_alternative=alternative, note=note)


# Short names served in both collections: only these need the "pix2pix/" / "cyclegan/" prefix.
_COLLIDING = frozenset({"facades", "maps", "cityscapes"})

_CYCLEGAN_CITE = ("Zhu, Park, Isola, Efros: Unpaired Image-to-Image Translation using "
                  "Cycle-Consistent Adversarial Networks, ICCV 2017")
_PIX2PIX_CITE = ("Isola, Zhu, Zhou, Efros: Image-to-Image Translation with Conditional "
                 "Adversarial Networks, CVPR 2017")
_CITYSCAPES_NOTE = (
    "Cityscapes is distributed under its own licence (registration at "
    "https://www.cityscapes-dataset.com, non-commercial use). The pix2pix authors' download "
    "script declines to fetch it for that reason, so this archive may be unavailable: then "
    "download gtFine and leftImg8bit from cityscapes-dataset.com and build the A|B pairs "
    "with datasets/prepare_cityscapes_dataset.py from junyanz/pytorch-CycleGAN-and-pix2pix."
)

# Sizes of the CycleGAN archives: as recorded by TensorFlow Datasets
# (tensorflow_datasets/url_checksums/cycle_gan.txt) for the same files at the authors'
# previous address. Approximate by design: nothing is rejected because of them.
_ENTRIES: list[DatasetInfo] = [
    _pix2pix("facades", ("train", "val", "test"),
             "400 training pairs of facade photos (A, left half) and label maps (B, right half), "
             "256x256 each; labels -> photo is direction BtoA, as in the reference scripts",
             f"CMP Facade Database (Tyleček and Šára, GCPR 2013); {_PIX2PIX_CITE}.",
             alternative="synthetic-facades", hf_id="huggan/facades",
             note="The Hugging Face copy puts all 606 pairs in one 'train' split."),
    _pix2pix("cityscapes", ("train", "val"),
             "2975 training pairs of street photos and semantic label colours",
             f"Cityscapes (Cordts et al., CVPR 2016); {_PIX2PIX_CITE}.",
             alternative="synthetic-landscapes", note=_CITYSCAPES_NOTE),
    _pix2pix("maps", ("train", "val"),
             "1096 training pairs of aerial photos and Google Maps renderings",
             f"Scraped from Google Maps by the pix2pix authors (Google's terms apply); "
             f"{_PIX2PIX_CITE}.",
             alternative="synthetic-landscapes", hf_id="huggan/maps"),
    _pix2pix("edges2shoes", ("train", "val"),
             "50k pairs of HED edge maps and shoe photos (UT Zappos50K)",
             f"UT Zappos50K (Yu and Grauman, CVPR 2014); {_PIX2PIX_CITE}.",
             alternative="synthetic-facades", hf_id="huggan/edges2shoes"),
    _pix2pix("edges2handbags", ("train", "val"),
             "137k pairs of HED edge maps and Amazon handbag photos (iGAN)",
             f"iGAN handbags (Zhu et al., ECCV 2016), Amazon product images; {_PIX2PIX_CITE}.",
             alternative="synthetic-facades"),
    _pix2pix("night2day", ("train", "val", "test"),
             "about 20k pairs of the same webcam scene at night and by day",
             f"Transient Attributes (Laffont et al., SIGGRAPH 2014); {_PIX2PIX_CITE}.",
             alternative="synthetic-landscapes", hf_id="huggan/night2day"),
    _cyclegan("horse2zebra", 116_867_962, "939 horse and 1177 zebra photos (ImageNet)",
              f"ImageNet (Deng et al., CVPR 2009) images; {_CYCLEGAN_CITE}.",
              alternative="synthetic-zebras", hf_id="huggan/horse2zebra",
              note="The Hugging Face copy pairs the two domains row by row (imageA/imageB)."),
    _cyclegan("apple2orange", 78_456_409, "996 apple and 1020 orange photos (ImageNet)",
              f"ImageNet (Deng et al., CVPR 2009) images; {_CYCLEGAN_CITE}.",
              alternative="synthetic-zebras"),
    _cyclegan("summer2winter_yosemite", 132_640_856,
              "1273 summer and 854 winter photos of Yosemite (Flickr)",
              f"Flickr photos (their authors' terms apply); {_CYCLEGAN_CITE}.",
              alternative="synthetic-landscapes"),
    _cyclegan("monet2photo", 305_231_073, "1074 Monet paintings (WikiArt) and landscape photos",
              f"WikiArt paintings and Flickr photos; {_CYCLEGAN_CITE}.",
              alternative="synthetic-landscapes"),
    _cyclegan("cezanne2photo", 279_885_071, "584 Cézanne paintings (WikiArt) and landscape photos",
              f"WikiArt paintings and Flickr photos; {_CYCLEGAN_CITE}.",
              alternative="synthetic-landscapes"),
    _cyclegan("ukiyoe2photo", 292_946_532, "1433 ukiyo-e prints (WikiArt) and landscape photos",
              f"WikiArt prints and Flickr photos; {_CYCLEGAN_CITE}.",
              alternative="synthetic-landscapes"),
    _cyclegan("vangogh2photo", 306_590_349, "401 Van Gogh paintings (WikiArt) and landscape photos",
              f"WikiArt paintings and Flickr photos; {_CYCLEGAN_CITE}.",
              alternative="synthetic-landscapes"),
    _cyclegan("iphone2dslr_flower", 339_964_458,
              "1813 iPhone and 3316 DSLR flower photos (Flickr), shallow depth of field",
              f"Flickr photos (their authors' terms apply); {_CYCLEGAN_CITE}.",
              alternative="synthetic-zebras"),
    _cyclegan("maps", 1_476_754_427, "aerial photos (A) and map renderings (B), unpaired",
              f"Scraped from Google Maps by the pix2pix authors; {_CYCLEGAN_CITE}.",
              alternative="synthetic-landscapes"),
    _cyclegan("cityscapes", 279_601_602, "street photos (A) and label colours (B), unpaired",
              f"Cityscapes (Cordts et al., CVPR 2016); {_CYCLEGAN_CITE}.",
              alternative="synthetic-landscapes",
              note="Cityscapes has its own licence (https://www.cityscapes-dataset.com)."),
    _cyclegan("facades", 35_135_868, "facade photos (A) and label maps (B), unpaired",
              f"CMP Facade Database (Tyleček and Šára, GCPR 2013); {_CYCLEGAN_CITE}.",
              alternative="synthetic-facades"),
]

#: Every downloadable dataset, by catalog name.
CATALOG: dict[str, DatasetInfo] = {info.name: info for info in _ENTRIES}

#: Other accepted spellings: every qualified name of a dataset keyed by its short name,
#: and the bare colliding names (which mean the pix2pix version, see the module docstring).
ALIASES: dict[str, str] = {
    **{info.qualified_name: info.name for info in _ENTRIES if info.qualified_name != info.name},
    **{short: f"pix2pix/{short}" for short in sorted(_COLLIDING)},
}


def resolve_name(name: str) -> str:
    """The catalog key for ``name``: a catalog key, a qualified name or an alias.

    Matching ignores case and surrounding spaces. ``"facades"`` means ``"pix2pix/facades"``
    (see the module docstring).

    Raises:
        KeyError: unknown name; the message lists the closest known names.
    """
    if not isinstance(name, str):
        raise TypeError(f"a dataset name must be a str, not {type(name).__name__}")
    key = name.strip().lower()
    if key in CATALOG:
        return key
    if key in ALIASES:
        return ALIASES[key]
    known = sorted(set(CATALOG) | set(ALIASES))
    # Several spellings can name one dataset ("horse2zebra", "cyclegan/horse2zebra"):
    # suggest each dataset once, by its catalog name.
    close = list(dict.fromkeys(ALIASES.get(c, c) for c in
                               difflib.get_close_matches(key, known, n=6, cutoff=0.6)))[:4]
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    # KeyError would wrap the message in quotes when printed; a subclass with a plain
    # __str__ keeps the message readable in tracebacks and notebooks.
    raise UnknownDatasetError(
        f"Unknown dataset {name!r}.{hint} Known datasets: {', '.join(sorted(CATALOG))} "
        f"(names are also accepted as 'pix2pix/NAME' or 'cyclegan/NAME')."
    )


class UnknownDatasetError(KeyError):
    """A dataset name that is not in the catalog."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def data_root() -> Path:
    """The folder that holds downloaded datasets.

    ``$COURSEKIT_DATA`` when set (and not empty), else the user cache folder:
    ``$XDG_CACHE_HOME/coursekit``, or ``~/.cache/coursekit`` when ``XDG_CACHE_HOME`` is unset.
    The folder is not created here; :func:`coursekit.data.download.download` creates it.
    """
    env = os.environ.get("COURSEKIT_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "coursekit"
