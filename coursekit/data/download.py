"""Download the official pix2pix / CycleGAN datasets safely, or load a Hugging Face copy.

    >>> from coursekit.data.download import download, dataset_path
    >>> download("pix2pix/facades")          # doctest: +SKIP
    PosixPath('/home/me/.cache/coursekit/pix2pix/facades')
    >>> dataset_path("facades")              # doctest: +SKIP  (raises if not downloaded)

What :func:`download` guarantees:

* **Nothing half-done is left behind.** The archive is streamed to a hidden temporary file
  next to the target folder, extracted into a hidden temporary folder there, checked, and
  only then renamed into place (one atomic rename on the same file system). On any error,
  and on Ctrl-C, the temporary files are deleted.
* **The transfer is checked**: the number of bytes received must equal the server's
  ``Content-Length`` (and the catalog's SHA-256 where one is recorded). The server
  publishes no checksums, so the SHA-256 and size of what was received are written to
  ``coursekit-manifest.json`` inside the dataset folder, together with the URL and date.
* **The layout is checked** after extraction: every split folder the catalog expects must
  exist and hold images.
* **Hostile archives are refused before anything is written**: entries with absolute paths
  or ``..``, symbolic or hard links (a dataset archive has no use for them, and a link could
  point outside the dataset folder), devices and FIFOs, in tar and zip alike.
* **No network fails fast and says what to do**: a :class:`DownloadError` naming the
  dataset, the URL tried, the exact folder and layout for installing the files by hand, and
  the synthetic dataset that works offline.

Mirrors: ``download(..., base_url="http://mirror.example/prefix")`` or the environment
variable ``COURSEKIT_DATA_MIRROR`` replace the scheme, host and prefix of the official
URLs (``http://efrosgans.eecs.berkeley.edu``); the rest of the path stays
(``/pix2pix/datasets/facades.tar.gz``). ``file://`` mirrors work too.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import shlex
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterator

from torch.utils.data import Dataset

from coursekit.data.catalog import (
    CATALOG,
    DEFAULT_BASE_URL,
    DatasetInfo,
    UnknownDatasetError,
    data_root,
    resolve_name,
)
from coursekit.data.folders import IMG_EXTENSIONS, to_rgb
from coursekit.data.transforms import PairTransform

__all__ = [
    "MANIFEST_NAME",
    "MIRROR_ENV",
    "DatasetNotDownloadedError",
    "DownloadError",
    "HFImageDataset",
    "UnsafeArchiveError",
    "dataset_path",
    "download",
    "load_hf",
]

MANIFEST_NAME = "coursekit-manifest.json"
MIRROR_ENV = "COURSEKIT_DATA_MIRROR"
_CHUNK = 1 << 20  # 1 MiB reads: few system calls, small memory, smooth progress bar
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class DownloadError(RuntimeError):
    """A dataset could not be downloaded or installed. Nothing partial was left behind."""


class UnsafeArchiveError(DownloadError):
    """An archive entry would write outside the dataset folder, or is a link or a device."""


class DatasetNotDownloadedError(FileNotFoundError):
    """A catalog dataset is not (completely) in the data folder; the message says how to get it."""


# ----------------------------------------------------------------------------- messages
def _python_call(name: str, root: Path | None, *, force: bool = False) -> str:
    extra = f", root={str(root)!r}" if root is not None else ""
    extra += ", force=True" if force else ""
    return f"from coursekit.data.download import download; download({name!r}{extra})"


def _offline_options(info: DatasetInfo, target: Path) -> str:
    lines = [
        f"  * install it by hand: fetch {info.url} on a machine with internet access, "
        f"extract it, and arrange the files so that\n      {target}\n    contains "
        f"{info.layout_help()};",
        f"  * or use a mirror: download({info.name!r}, base_url=...) or set {MIRROR_ENV} "
        f"(it replaces {DEFAULT_BASE_URL});",
    ]
    if info.hf_id:
        lines.append(f"  * or load the Hugging Face copy: load_hf({info.hf_id!r});")
    lines.append(f"  * or work offline now with the synthetic stand-in "
                 f"{info.synthetic_alternative!r}: "
                 f"coursekit.data.get_dataset({info.synthetic_alternative!r}).")
    if info.note:
        lines.append(f"Note: {info.note}")
    return "\n".join(lines)


def _failure(info: DatasetInfo, url: str, target: Path, reason: str) -> str:
    return (f"Could not download dataset {info.name!r} from {url}: {reason}.\n"
            f"Nothing was written. You can:\n"
            f"  * check the connection (or proxy / firewall) and try again;\n"
            f"{_offline_options(info, target)}")


def _reason(err: BaseException) -> str:
    # URLError wraps the interesting exception (refused, DNS failure, timeout) in .reason.
    inner = getattr(err, "reason", None)
    if isinstance(inner, BaseException):
        err = inner
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}"


# ----------------------------------------------------------------------------- layout
def _first_image(folder: Path) -> Path | None:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(IMG_EXTENSIONS):
                return Path(dirpath) / name
    return None


def _layout_problems(info: DatasetInfo, folder: Path) -> list[str]:
    """What is wrong with ``folder`` as an installed copy of ``info`` (empty: nothing)."""
    problems = []
    for split in info.splits:
        sub = folder / split
        if not sub.is_dir():
            problems.append(f"folder {split}/ is missing")
        elif _first_image(sub) is None:
            problems.append(f"folder {split}/ holds no images")
    return problems


def _count_images(folder: Path) -> int:
    n = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        n += sum(1 for f in filenames
                 if not f.startswith(".") and f.lower().endswith(IMG_EXTENSIONS))
    return n


def _target(info: DatasetInfo, root: str | os.PathLike | None) -> Path:
    base = Path(root).expanduser() if root is not None else data_root()
    return base / info.qualified_name


def dataset_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of a downloaded catalog dataset.

    A folder installed by hand (without the download manifest) is accepted when it has the
    expected layout.

    Args:
        name: a catalog name or alias (``"horse2zebra"``, ``"pix2pix/facades"``, ``"facades"``).
        root: the data folder; default :func:`coursekit.data.catalog.data_root`.

    Raises:
        KeyError: unknown name (with close matches).
        DatasetNotDownloadedError: not downloaded, or incomplete; the message gives the
            exact command that downloads it.
    """
    info = CATALOG[resolve_name(name)]
    target = _target(info, root)
    given_root = Path(root).expanduser() if root is not None else None
    how = (f"Download it with\n    coursekit data download {info.name}"
           + (f" --root {shlex.quote(str(given_root))}" if given_root is not None else "")
           + f"\nor in Python\n    {_python_call(info.name, given_root)}")
    if not target.is_dir():
        raise DatasetNotDownloadedError(
            f"Dataset {info.name!r} is not downloaded (no folder {target}). {how}\n"
            f"Offline options:\n{_offline_options(info, target)}")
    problems = _layout_problems(info, target)
    if problems:
        raise DatasetNotDownloadedError(
            f"Dataset {info.name!r} in {target} is incomplete: {'; '.join(problems)}. "
            f"It should contain {info.layout_help()}. Fix it by hand, or replace it: "
            f"{_python_call(info.name, given_root, force=True)}")
    return target


# ----------------------------------------------------------------------------- fetching
def _base_url(base_url: str | None) -> str:
    base = base_url if base_url is not None else os.environ.get(MIRROR_ENV, "").strip()
    base = (base or DEFAULT_BASE_URL).rstrip("/")
    scheme = urllib.parse.urlsplit(base).scheme
    if scheme not in ("http", "https", "file"):
        source = "base_url" if base_url is not None else MIRROR_ENV
        raise ValueError(f"{source}={base!r} is not an http://, https:// or file:// URL; "
                         f"give the part that replaces {DEFAULT_BASE_URL}, e.g. "
                         "'http://mirror.example.org/gans'")
    return base


def _opener(url: str) -> urllib.request.OpenerDirector:
    # A proxy can never reach this machine's loopback interface, so bypass any configured
    # proxy for local mirrors (and for the test server).
    if urllib.parse.urlsplit(url).hostname in _LOOPBACK:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _fetch(info: DatasetInfo, url: str, out: BinaryIO, target: Path, *, timeout: float,
           progress: bool) -> tuple[int, str]:
    """Stream ``url`` into ``out``; return (bytes received, sha256 hex). Raise DownloadError."""
    from tqdm.auto import tqdm

    from coursekit import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"coursekit/{__version__}"})
    try:
        response = _opener(url).open(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise DownloadError(_failure(info, url, target, f"the server answered HTTP {err.code} "
                                                        f"{err.reason}")) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        raise DownloadError(_failure(info, url, target, _reason(err))) from None

    digest = hashlib.sha256()
    received = 0
    with response:
        header = response.headers.get("Content-Length")
        expected = int(header) if header and header.strip().isdigit() else None
        bar = tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=f"{info.name}", disable=not progress, leave=True)
        try:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead:
                    break  # the size check below reports it, with the byte counts
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(_failure(info, url, target, f"the connection broke after "
                                         f"{received} bytes ({_reason(err)})")) from None
        finally:
            bar.close()
    if expected is not None and received != expected:
        raise DownloadError(_failure(
            info, url, target, f"the transfer was cut short: received {received} of the "
                               f"{expected} bytes announced by the server; the partial file "
                               "was deleted"))
    sha = digest.hexdigest()
    if info.sha256 is not None and sha != info.sha256.lower():
        raise DownloadError(_failure(
            info, url, target, f"the archive's SHA-256 is {sha}, but the catalog expects "
                               f"{info.sha256}; the file was deleted (a mirror with different "
                               "content, or a damaged transfer)"))
    return received, sha


# ----------------------------------------------------------------------------- extraction
_DRIVE = re.compile(r"^[A-Za-z]:")


def _safe_relpath(name: str, archive: str) -> PurePosixPath | None:
    """The entry's path inside the target folder, or raise UnsafeArchiveError.

    ``None`` for entries that name the top folder itself (``"./"``)."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: entry {name!r} contains a NUL byte; refused.")
    norm = name.replace("\\", "/")  # zips made on Windows may use backslashes
    if norm.startswith("/") or _DRIVE.match(norm):
        raise UnsafeArchiveError(
            f"{archive}: entry {name!r} has an absolute path and would be written outside the "
            "dataset folder; the archive is refused and nothing was extracted.")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"{archive}: entry {name!r} contains '..' and would be written outside the dataset "
            "folder; the archive is refused and nothing was extracted.")
    return PurePosixPath(*parts) if parts else None


def _link_refusal(archive: str, name: str, kind: str, link: str) -> UnsafeArchiveError:
    norm = link.replace("\\", "/")
    outside = (norm.startswith("/") or _DRIVE.match(norm) is not None
               or ".." in norm.split("/"))
    where = " (pointing outside the dataset folder)" if outside else ""
    return UnsafeArchiveError(
        f"{archive}: entry {name!r} is a {kind} to {link!r}{where}. Dataset archives hold only "
        "folders and images, and a link could read or write outside the dataset folder, so the "
        "archive is refused and nothing was extracted.")


def _plan_tar(tar: tarfile.TarFile, archive: str) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    plan = []
    for member in tar.getmembers():
        rel = _safe_relpath(member.name, archive)
        if member.issym():
            raise _link_refusal(archive, member.name, "symbolic link", member.linkname)
        if member.islnk():
            raise _link_refusal(archive, member.name, "hard link", member.linkname)
        if member.ischr() or member.isblk() or member.isfifo():
            kind = "FIFO" if member.isfifo() else "device file"
            raise UnsafeArchiveError(f"{archive}: entry {member.name!r} is a {kind}; refused, "
                                     "nothing was extracted.")
        if not (member.isreg() or member.isdir()):
            raise UnsafeArchiveError(f"{archive}: entry {member.name!r} has an unsupported type "
                                     f"({member.type!r}); refused, nothing was extracted.")
        if rel is not None:
            plan.append((member, rel))
    return plan


def _plan_zip(zf: zipfile.ZipFile, archive: str) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    plan = []
    for entry in zf.infolist():
        rel = _safe_relpath(entry.filename, archive)
        mode = entry.external_attr >> 16  # Unix mode bits, when the zip was made on Unix
        if stat.S_ISLNK(mode):
            link = zf.read(entry).decode("utf-8", "replace")
            raise _link_refusal(archive, entry.filename, "symbolic link", link)
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            raise UnsafeArchiveError(f"{archive}: entry {entry.filename!r} is a device, FIFO or "
                                     "socket; refused, nothing was extracted.")
        if entry.flag_bits & 0x1:
            raise DownloadError(f"{archive}: entry {entry.filename!r} is encrypted; coursekit "
                                "cannot extract password-protected archives.")
        if rel is not None:
            plan.append((entry, rel))
    return plan


def _write(dest: Path, rel: PurePosixPath, is_dir: bool, source: Any) -> None:
    path = dest.joinpath(*rel.parts)
    if is_dir:
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with source() as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def _extract(archive_file: Path, dest: Path, fmt: str, label: str, *, progress: bool,
             desc: str) -> None:
    """Check every entry of the archive, then (only if all are safe) extract into ``dest``.

    Only regular files and folders are ever written, by this function itself."""
    from tqdm.auto import tqdm

    try:
        if fmt == "tar.gz":
            with tarfile.open(archive_file, "r:*") as tar:
                plan = _plan_tar(tar, label)
                # The large archives hold 10^5 files and take minutes to unpack: show it.
                for member, rel in tqdm(plan, desc=f"extracting {desc}", unit="file",
                                        disable=not progress):
                    _write(dest, rel, member.isdir(), lambda m=member: tar.extractfile(m))
        else:
            with zipfile.ZipFile(archive_file) as zf:
                plan = _plan_zip(zf, label)
                for entry, rel in tqdm(plan, desc=f"extracting {desc}", unit="file",
                                       disable=not progress):
                    _write(dest, rel, entry.is_dir(), lambda e=entry: zf.open(e))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        with open(archive_file, "rb") as fh:
            head = fh.read(64)
        hint = (" The server sent a web page instead of the archive (a login portal or an "
                "error page?)." if head.lstrip().lower().startswith((b"<!doctype", b"<html"))
                else "")
        detail = " ".join(str(err).split())  # tarfile's reasons span several lines
        raise DownloadError(f"{label} is not a valid {fmt} archive ({detail}).{hint} "
                            "Nothing was kept.") from None


def _content_root(folder: Path) -> Path:
    """The archives hold one top folder (``facades/``); step into it when that is the case."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders that were created (deepest last)."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _install(content: Path, target: Path, info: DatasetInfo) -> None:
    """Move the checked ``content`` folder to ``target`` with renames on one file system."""
    if target.exists():
        # force=True: keep the old copy until the new one is in place, then delete it.
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        old.rmdir()
        os.rename(target, old)
        try:
            os.rename(content, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(content, target)
    except OSError:
        # Another process may have installed the same dataset meanwhile; keep a good copy.
        if target.is_dir() and not _layout_problems(info, target):
            return
        raise


# ----------------------------------------------------------------------------- download
def download(name: str, root: str | os.PathLike | None = None, *, base_url: str | None = None,
             force: bool = False, progress: bool = True, timeout: float = 20) -> Path:
    """Download and extract a catalog dataset; return its folder.

    Args:
        name: a catalog name or alias (``"horse2zebra"``, ``"pix2pix/facades"``...).
        root: the data folder; default :func:`coursekit.data.catalog.data_root`. The dataset
            goes to ``root/pix2pix/NAME`` or ``root/cyclegan/NAME``.
        base_url: replaces ``http://efrosgans.eecs.berkeley.edu`` (a mirror); default
            ``$COURSEKIT_DATA_MIRROR``, else the official server.
        force: download again even if the dataset is there (the old copy is replaced only
            once the new one is complete).
        progress: show a progress bar (and say when the dataset is already there).
        timeout: seconds to wait for the connection and for each read.

    Returns:
        The dataset folder (e.g. ``~/.cache/coursekit/pix2pix/facades``).

    Raises:
        KeyError: unknown name.
        DownloadError: network failure, truncated transfer, unexpected layout, or an existing
            but incomplete folder; the message says what to do. Nothing partial is left.
        UnsafeArchiveError: the archive tries to write outside its folder; nothing written.
    """
    info = CATALOG[resolve_name(name)]
    target = _target(info, root)
    if target.exists() and not force:
        problems = _layout_problems(info, target) if target.is_dir() else ["it is not a folder"]
        if not problems:
            if progress:
                print(f"{info.name} is already in {target} (force=True downloads it again).",
                      file=sys.stderr)
            return target
        raise DownloadError(
            f"{target} exists but is not a complete copy of {info.name!r}: "
            f"{'; '.join(problems)}. Delete it, or call download({info.name!r}, force=True) to "
            "replace it.")
    url = f"{_base_url(base_url)}/{info.relative_url}"

    created = _make_parents(target.parent)
    part: Path | None = None
    workdir: Path | None = None
    installed = False
    try:
        fd, part_name = tempfile.mkstemp(prefix=f".{info.short}-", suffix=".part",
                                         dir=target.parent)
        part = Path(part_name)
        with os.fdopen(fd, "wb") as out:
            size, sha = _fetch(info, url, out, target, timeout=timeout, progress=progress)
        workdir = Path(tempfile.mkdtemp(prefix=f".{info.short}-extract-", dir=target.parent))
        # Extract one level down: mkdtemp folders are private (0700), and an archive without
        # a top folder would otherwise install the dataset with those permissions.
        extracted = workdir / "extracted"
        extracted.mkdir()
        _extract(part, extracted, info.archive, label=f"the archive from {url}",
                 progress=progress, desc=info.name)
        part.unlink()  # free the disk space before the dataset is moved into place
        part = None
        content = _content_root(extracted)
        problems = _layout_problems(info, content)
        if problems:
            found = sorted(p.name + "/" for p in content.iterdir() if p.is_dir())
            raise DownloadError(
                f"The archive from {url} does not have the expected layout of {info.name!r}: "
                f"{'; '.join(problems)} (it holds {', '.join(found) or 'no folders'}). Expected "
                f"{info.layout_help()}. Nothing was installed.")
        manifest = {
            "name": info.name,
            "url": url,
            "official_url": info.url,
            "archive_bytes": size,
            "archive_sha256": sha,
            "downloaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "images_per_split": {s: _count_images(content / s) for s in info.splits},
        }
        (content / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        _install(content, target, info)
        installed = True
    finally:
        # Runs on errors and on KeyboardInterrupt alike: no temporary file may survive.
        if part is not None:
            part.unlink(missing_ok=True)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        if not installed:
            for folder in reversed(created):  # only the folders this call created, if empty
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return target


# ----------------------------------------------------------------------------- Hugging Face
_TRUE = {"1", "ON", "YES", "TRUE"}
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_PAIR_COLUMNS = (("imageA", "imageB"), ("A", "B"), ("image_A", "image_B"), ("a", "b"))


def _hf_offline_requested() -> bool:
    return any(os.environ.get(v, "").strip().upper() in _TRUE for v in _OFFLINE_VARS)


@contextlib.contextmanager
def _hf_offline_flags() -> Iterator[None]:
    """Honour offline variables set after ``datasets`` was imported.

    ``datasets`` and ``huggingface_hub`` read HF_*_OFFLINE once, at import. A notebook that
    sets them later would otherwise retry the network for about 25 s before failing."""
    if not _hf_offline_requested():
        yield
        return
    import datasets.config as ds_config
    import huggingface_hub.constants as hub_constants

    saved = (ds_config.HF_HUB_OFFLINE, ds_config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE)
    ds_config.HF_HUB_OFFLINE = ds_config.HF_DATASETS_OFFLINE = True
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        (ds_config.HF_HUB_OFFLINE, ds_config.HF_DATASETS_OFFLINE,
         hub_constants.HF_HUB_OFFLINE) = saved


class HFImageDataset(Dataset):
    """A Hugging Face ``datasets.Dataset`` of images as coursekit items.

    Args:
        hf_dataset: the ``datasets.Dataset`` (one split).
        columns: the image column(s): ``("imageA", "imageB")`` for pairs, ``("image",)`` for
            single images; default: detected (``imageA``/``imageB``, ``A``/``B``, or the only
            image column).
        aligned: the two images of a row are pixel-aligned (pix2pix pairs): they get the same
            crop and flip. ``False`` (CycleGAN-style rows) transforms them independently.
        train: training data (sets the default of ``flip``).
        preprocess, load_size, crop_size, flip, transform: as in
            :class:`coursekit.data.folders.AlignedFolder`.

    Items: ``{"A", "B"}`` (or only ``"A"``), float ``(3, H, W)`` in [-1, 1].
    """

    def __init__(self, hf_dataset: Any, columns: tuple[str, ...] | None = None, *,
                 aligned: bool = True, train: bool = True, preprocess: str = "resize_and_crop",
                 load_size: int = 286, crop_size: int = 256, flip: bool | None = None,
                 transform: PairTransform | None = None) -> None:
        import datasets

        self.data = hf_dataset
        features = hf_dataset.features
        image_columns = [k for k, f in features.items() if isinstance(f, datasets.Image)]
        if columns is None:
            columns = next((pair for pair in _PAIR_COLUMNS if set(pair) <= set(image_columns)),
                           None)
            if columns is None and len(image_columns) == 1:
                columns = (image_columns[0],)
            if columns is None:
                raise ValueError(
                    f"Cannot tell which columns hold the images: the dataset has columns "
                    f"{list(features)} (image columns: {image_columns or 'none'}). Pass "
                    "columns=('colA', 'colB') for pairs or columns=('col',) for single images.")
        columns = tuple(columns)
        if not 1 <= len(columns) <= 2:
            raise ValueError(f"columns must name one or two image columns, got {columns!r}")
        missing = [c for c in columns if c not in features]
        if missing:
            raise ValueError(f"column(s) {missing} not in the dataset; it has {list(features)}")
        self.columns = columns
        self.aligned = bool(aligned)
        #: As the folder datasets': "paired", "unpaired" or "single".
        self.pairing = ("single" if len(columns) == 1 else "paired" if self.aligned
                        else "unpaired")
        self.transform = transform or PairTransform(preprocess, load_size=load_size,
                                                    crop_size=crop_size,
                                                    flip=train if flip is None else flip)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        row = self.data[int(index) % len(self)]
        images = [to_rgb(row[c]) for c in self.columns]
        if self.aligned:
            tensors = self.transform(*images)
        else:
            tensors = [self.transform(im)[0] for im in images]
        return dict(zip(("A", "B"), tensors))


def load_hf(name_or_hub_id: str | os.PathLike, split: str = "train", *,
            columns: tuple[str, ...] | None = None, aligned: bool | None = None,
            cache_dir: str | None = None, **transform_kw: Any) -> HFImageDataset:
    """Load a dataset through Hugging Face ``datasets`` as coursekit items.

    Args:
        name_or_hub_id: a catalog name with a known Hub copy (``"pix2pix/facades"`` ->
            ``huggan/facades``), a Hub id (``"huggan/night2day"``), or a folder written by
            ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (works offline).
        split: the split to read (for a saved single ``Dataset``, the one it holds is used).
        columns, aligned: see :class:`HFImageDataset`; ``aligned`` defaults to the catalog's
            kind for catalog names, else True.
        cache_dir: passed to ``datasets.load_dataset``.
        **transform_kw: ``preprocess``, ``load_size``, ``crop_size``, ``flip``, ``transform``.

    Raises:
        DownloadError: the Hub cannot be reached (including offline mode, set with
            ``HF_HUB_OFFLINE=1`` / ``HF_DATASETS_OFFLINE=1``, which fails at once), or the id
            is unknown; the message lists the alternatives.
        KeyError: ``split`` is not in a saved ``DatasetDict``.
    """
    import datasets

    source = os.fspath(name_or_hub_id)
    local = Path(source).expanduser()
    info: DatasetInfo | None = None
    if local.is_dir():
        try:
            loaded = datasets.load_from_disk(str(local))
        except (FileNotFoundError, ValueError) as err:
            raise ValueError(
                f"{local} is not a folder written by save_to_disk ({err}). For a folder of "
                "image files use coursekit.data.folders.open_folder.") from None
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise KeyError(f"split {split!r} is not in {local}; it has {sorted(loaded)}")
            hf_dataset = loaded[split]
        else:
            hf_dataset = loaded
    else:
        hub_id = source
        try:
            info = CATALOG[resolve_name(source)]
        except UnknownDatasetError:
            if "/" not in source:
                raise  # neither a catalog name nor an owner/name Hub id: show close matches
        if info is not None:
            if info.hf_id is None:
                raise DownloadError(
                    f"No Hugging Face copy of {info.name!r} is known. Use "
                    f"download({info.name!r}) for the official archive, or the synthetic "
                    f"stand-in {info.synthetic_alternative!r}.")
            hub_id = info.hf_id
        try:
            with _hf_offline_flags():
                hf_dataset = datasets.load_dataset(hub_id, split=split, cache_dir=cache_dir)
        except Exception as err:  # noqa: BLE001 - datasets raises many unrelated types here
            offline = (" Hugging Face offline mode is on (" + ", ".join(
                v for v in _OFFLINE_VARS if os.environ.get(v, "").strip().upper() in _TRUE)
                + ") and the dataset is not in the local cache."
                if _hf_offline_requested() else "")
            options = ["  * run where the Hub is reachable once (the copy is cached), or save it "
                       "with dataset.save_to_disk(folder) and call load_hf(folder);"]
            if info is not None:
                options.append(f"  * download the official archive: download({info.name!r});")
                options.append("  * or work offline with the synthetic stand-in "
                               f"{info.synthetic_alternative!r}.")
            raise DownloadError(
                f"Could not load {hub_id!r} (split {split!r}) through Hugging Face datasets: "
                f"{type(err).__name__}: {err}.{offline}\nYou can:\n" + "\n".join(options)
            ) from err
    if aligned is None:
        aligned = info is None or info.kind == "aligned"
    return HFImageDataset(hf_dataset, columns, aligned=aligned, train=split == "train",
                          **transform_kw)
