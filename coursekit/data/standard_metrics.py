"""FID, KID and LPIPS: the numbers the papers report, computed the way they compute them.

``coursekit.data.evaluation`` scores a model against the ground truth that coursekit's synthetic
data knows. The papers cannot do that on real photographs, so they score with pretrained
networks instead, and this module gives the same three numbers for any coursekit model:

* **FID** (Fréchet Inception Distance; Heusel et al., NeurIPS 2017): fit a Gaussian to the
  Inception-v3 pool features (2048-d) of the translated test inputs and another to those of the
  real test images of the target domain; FID is the Fréchet distance between the two,
  ``|mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))``. Lower is better; 0 = same statistics.
* **KID** (Kernel Inception Distance; Bińkowski et al., ICLR 2018, "Demystifying MMD GANs"):
  the unbiased squared MMD between the same two feature sets with the cubic kernel
  ``(x.y / d + 1)^3``, averaged over 100 random subsets of ``min(50, n)`` images per side
  (``kid_mean``, with the spread over the subsets in ``kid_std``). Unlike FID it has no bias
  that depends on the number of images, which matters for the small test sets used here.
* **LPIPS** (Zhang et al., CVPR 2018; richzhang/PerceptualSimilarity): a distance between two
  images from the unit-normalised AlexNet features of five layers, weighted by the paper's
  learned linear layers (version 0.1). Reported as the mean LPIPS between each output and its
  ground truth, which needs paired data; :func:`lpips_diversity` gives the other use, the
  mean distance between samples of one input.

The protocol here, beside the papers':

* FID and KID compare every test input of the source side, translated by ``translate``, with
  every real test image of the target side, each image once (a folder of two unpaired domains,
  testA/ and testB/, is read as its two lists of images, not item by item). Outputs are clamped
  to [-1, 1] and stored as 8-bit values, as a saved PNG would be; torch-fidelity's
  Inception-v3 (the 2015-12-05 TensorFlow network of FID, converted) resizes them to 299x299
  with its TensorFlow-1-style bilinear resize. Images stay at the dataset's size: 256 px on
  real data with the papers' settings.
  CUT (Park et al., ECCV 2020, experiments): FID between horse2zebra's 120 translated testA
  horses and its 140 testB zebras, at 256 px, with pytorch-fid (mseitzer/pytorch-fid, credited
  in the README of taesungp/contrastive-unpaired-translation): the same Inception weights, but
  PyTorch's bilinear resize, so its FIDs and these differ slightly.
* LPIPS, on paired data: the mean LPIPS(output, ground truth) over the test items, at the
  dataset's size, AlexNet trunk and v0.1 linear layers; pix2pix-style evaluations of paired
  data do the same. Unpaired data has no ground truth, except on synthetic-zebras, whose
  ``render_pair(i)`` draws the true translation of item i.
  BicycleGAN (Zhu et al., NeurIPS 2017) and MUNIT (Huang et al., ECCV 2018) use LPIPS for
  diversity instead: the mean distance between pairs of random outputs of the same input
  (:func:`lpips_diversity`).

FID from a few hundred images is biased upwards (the covariance of 2048 features is poorly
estimated), so compare FIDs only at the same number of images, and prefer KID on small sets.

The packages are optional (``pip install 'coursekit[metrics]'``): torchmetrics computes FID,
KID and LPIPS, torch-fidelity provides the Inception. They are imported inside the functions,
so ``import coursekit`` works without them. The pretrained weights are never downloaded here:
their presence is checked first, and a missing file raises :class:`MissingWeightsError`, which
names the file, the folder to put it in and the address to fetch it from on a machine with
internet.
"""
from __future__ import annotations

import copy
import importlib
import itertools
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

__all__ = ["METRICS", "KID_SUBSETS", "KID_SUBSET_SIZE", "INSTALL_HINT", "MissingExtraError",
           "MissingWeightsError", "WeightFile", "parse_metric_names", "weights_folder",
           "weight_files", "check_weights", "damaged_weights_error", "WEIGHT_LOAD_ERRORS",
           "check_standard_metrics", "standard_metrics", "lpips_diversity"]

#: The metrics this module computes, as named on the command line (``--metrics fid,kid,lpips``).
METRICS = ("fid", "kid", "lpips")
#: 100 subsets, as torch-fidelity's default: enough for a stable mean and a meaningful spread.
KID_SUBSETS = 100
#: Images per KID subset, capped by the set size: 50 keeps a spread over subsets on test sets of
#: a hundred or two (torch-fidelity's default, 1000, would be the whole set, every time).
KID_SUBSET_SIZE = 50
#: The command that installs the optional packages.
INSTALL_HINT = "pip install 'coursekit[metrics]'"

_INCEPTION_SIZE = 299  # the input size of the Inception-v3 that FID was defined with


class MissingExtraError(ImportError):
    """The optional packages of ``coursekit[metrics]`` (torchmetrics, torch-fidelity) are not
    installed; the message says how to install them."""


class MissingWeightsError(FileNotFoundError):
    """A pretrained network's weights file is missing (or unreadable) where it is looked for;
    the message names the file, the folder and where to get it. Nothing is downloaded."""


@dataclass(frozen=True)
class WeightFile:
    """One pretrained weights file: what needs it, and where it lives and comes from."""

    metrics: str  # which metrics need it, e.g. "fid and kid"
    network: str  # what it is, in words
    url: str  # where a machine with internet gets it

    @property
    def name(self) -> str:
        """The file name: torch hub keeps the last part of the address."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def path(self) -> Path:
        """Where torch hub (and so this module) looks for it: :func:`weights_folder`."""
        return weights_folder() / self.name


# ----------------------------------------------------------------------------- names, extra
def parse_metric_names(names: str | Iterable[str]) -> tuple[str, ...]:
    """The metric names of a comma list (``"fid,kid"``) or a sequence, checked and without
    repeats, in the order given. Raises ValueError naming the valid ones."""
    items = names.split(",") if isinstance(names, str) else list(names)
    parsed: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if name not in METRICS:
            shown = repr(str(item).strip()) if str(item).strip() else "an empty name"
            raise ValueError(f"unknown metric {shown}: choose from {', '.join(METRICS)} "
                             f"(a comma list, e.g. fid,kid,lpips)")
        if name not in parsed:
            parsed.append(name)
    if not parsed:
        raise ValueError(f"no metric given: choose from {', '.join(METRICS)}")
    return tuple(parsed)


def _require(*packages: str, purpose: str) -> None:
    """Import the top-level ``packages`` or raise :class:`MissingExtraError` saying how to get
    them (checked before anything else is done, so a missing extra fails at once)."""
    missing = []
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError as err:
            missing.append((package, err))
    if missing:
        pip_names = ", ".join(p.replace("_", "-") for p, _ in missing)
        reason = "; ".join(f"{p}: {err}" for p, err in missing)
        raise MissingExtraError(
            f"{purpose} needs the optional package(s) {pip_names}, which could not be imported "
            f"({reason}). Install coursekit's metrics extra: {INSTALL_HINT} (in a clone of "
            f"coursekit: pip install -e '.[metrics]')")


def _packages(names: Sequence[str], feature: Any, lpips_net: Any) -> tuple[str, ...]:
    """The import names of the optional packages that ``names`` need here."""
    needed = []
    if {"fid", "kid"} & set(names):
        needed.append("torchmetrics")  # the FID and KID estimators
        if feature is None:
            needed.append("torch_fidelity")  # the Inception network
    if "lpips" in names and lpips_net is None:
        needed.append("torchmetrics")  # its copy of LPIPS
    return tuple(dict.fromkeys(needed))


# ----------------------------------------------------------------------------- weights
def weights_folder() -> Path:
    """The folder torch hub downloads weights to, and where they are looked for here:
    ``$TORCH_HOME/hub/checkpoints`` (TORCH_HOME defaults to ``~/.cache/torch``). Read at each
    call, so a TORCH_HOME set later counts."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_files(names: str | Iterable[str] = METRICS) -> list[WeightFile]:
    """The pretrained weights files that the default networks of ``names`` load.

    * fid, kid: torch-fidelity's Inception-v3 (``weights-inception-2015-12-05-6726825d.pth``);
    * lpips: torchvision's ImageNet AlexNet (``alexnet-owt-7be5be79.pth``), the trunk of LPIPS.
      Its learned linear layers ship inside the torchmetrics package: no file to fetch.

    The addresses are read from torch-fidelity and torchvision, so they follow their versions
    (torch-fidelity must be installed when ``names`` has fid or kid).
    """
    names = parse_metric_names(names)
    files = []
    if {"fid", "kid"} & set(names):
        _require("torch_fidelity", purpose="FID and KID")
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

        files.append(WeightFile(" and ".join(n for n in names if n in ("fid", "kid")),
                                "torch-fidelity's Inception-v3", URL_INCEPTION_V3))
    if "lpips" in names:
        from torchvision.models import AlexNet_Weights

        # torchmetrics' LPIPS asks torchvision for AlexNet_Weights.DEFAULT, which is IMAGENET1K_V1.
        files.append(WeightFile("lpips", "torchvision's ImageNet AlexNet, the trunk of LPIPS",
                                AlexNet_Weights.DEFAULT.url))
    return files


def _folder_note(folder: Path) -> str:
    """How ``folder`` is chosen, so that a user knows how to use another one."""
    home = os.environ.get("TORCH_HOME")
    if home:
        return f"the torch hub cache: $TORCH_HOME/hub/checkpoints, with TORCH_HOME={home}"
    base = "$XDG_CACHE_HOME/torch" if os.environ.get("XDG_CACHE_HOME") else "~/.cache/torch"
    return (f"the torch hub cache, $TORCH_HOME/hub/checkpoints with TORCH_HOME unset, so {base}; "
            f"set TORCH_HOME to use another folder")


def _check_weights(files: Sequence[WeightFile]) -> None:
    """Raise :class:`MissingWeightsError` for the files of ``files`` that are not there."""
    missing = [f for f in files if not f.path.is_file()]
    if not missing:
        return
    folder = weights_folder()
    listing = " and ".join(f"{f.name} ({f.network}, for {f.metrics}; from {f.url})"
                           for f in missing)
    raise MissingWeightsError(
        f"pretrained weights missing from {folder} ({_folder_note(folder)}): {listing}. coursekit "
        f"never downloads them (no download was attempted). On a machine with internet, fetch "
        f"each address (e.g. curl -LO ADDRESS), then copy the file into {folder} here")


def _damaged(file: WeightFile, err: BaseException) -> MissingWeightsError:
    return MissingWeightsError(
        f"{file.path} is there but could not be loaded ({type(err).__name__}: {err}): a partial "
        f"or damaged download? Replace it with a fresh copy of {file.url}")


# Errors of torch.load / load_state_dict on a truncated, damaged or foreign file.
_LOAD_ERRORS = (RuntimeError, EOFError, OSError, pickle.UnpicklingError)

# Public names of the weights helpers, for the other modules that load pretrained networks
# (coursekit.nn.perceptual: VGG-19). The private names stay the ones called here, so that
# patching them in a test still reaches every caller in this module.
check_weights = _check_weights
damaged_weights_error = _damaged
WEIGHT_LOAD_ERRORS = _LOAD_ERRORS


def _inception(device: torch.device) -> nn.Module:
    """torch-fidelity's Inception-v3 through torchmetrics, from the file checked beforehand.

    ``antialias=False`` keeps torch-fidelity's own resize (bilinear as TensorFlow 1 did it):
    the features are then those of ``fidelity --fid``, and the same for every torchmetrics
    version (1.8 made an antialiased PyTorch resize its default)."""
    (file,) = weight_files(["fid"])
    _check_weights([file])
    from torchmetrics.image.fid import NoTrainInceptionV3

    try:
        # An explicit path: torch-fidelity loads it and has no reason to download.
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                 feature_extractor_weights_path=str(file.path), antialias=False)
    except _LOAD_ERRORS as err:
        raise _damaged(file, err) from err
    return net.to(device)


def _lpips_alexnet(device: torch.device) -> Callable[[Tensor, Tensor], Tensor]:
    """torchmetrics' LPIPS (AlexNet, v0.1), one distance per pair; its AlexNet file is checked
    first, and torch hub reads a file that is present without going online."""
    (file,) = weight_files(["lpips"])
    _check_weights([file])
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    try:
        metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="none")
    except _LOAD_ERRORS as err:
        raise _damaged(file, err) from err
    return metric.to(device)


# ----------------------------------------------------------------------------- the data
def _base(dataset):
    """``dataset`` under ``torch.utils.data.Subset`` wrappers (for its attributes)."""
    while isinstance(dataset, torch.utils.data.Subset):
        dataset = dataset.dataset
    return dataset


def _render_pair(dataset) -> Callable[[int], dict] | None:
    """``dataset.render_pair`` (the true translation of an item, on synthetic-zebras), with
    Subset indices mapped through, or None."""
    if isinstance(dataset, torch.utils.data.Subset):
        inner = _render_pair(dataset.dataset)
        return None if inner is None else (lambda i: inner(int(dataset.indices[i])))
    render = getattr(dataset, "render_pair", None)
    return render if callable(render) else None


def _side(dataset, side: str) -> tuple[Any, int]:
    """(a dataset whose item i holds image i of ``side``, the number of images of ``side``).

    A folder of two unpaired domains (``UnalignedFolders``: testA/, testB/) is as long as the
    larger domain, repeats the smaller one and draws the B image of each item at random: read
    item by item it would count some images twice and miss others. Its ``serial`` view takes
    image ``i`` of each side in order, so each image counts once, as in CUT's evaluation."""
    paths = getattr(dataset, f"paths_{side}", None)
    if paths is not None and hasattr(dataset, "serial"):
        view = copy.copy(dataset)
        view.serial = True
        return view, len(paths)
    return dataset, len(dataset)


@dataclass
class _Plan:
    """What :func:`standard_metrics` will compute, checked before any work is done."""

    names: tuple[str, ...]
    src: str  # the input side, "A" or "B"
    dst: str  # the target side
    fakes: Any  # a dataset whose item i holds input image i (key src)
    n_fake: int
    reals: Any  # a dataset whose item i holds real target image i (key dst)
    n_real: int
    lpips_target: str | None  # "paired", "render_pair" or None (no LPIPS)
    render_pair: Callable[[int], dict] | None

    @property
    def kid_subset_size(self) -> int:
        return min(KID_SUBSET_SIZE, self.n_fake, self.n_real)

    def describe(self) -> str:
        """One line that says what is compared with what."""
        parts = []
        dist = [n for n in self.names if n in ("fid", "kid")]
        if dist:
            kid = (f"; KID in {KID_SUBSETS} subsets of {self.kid_subset_size}"
                   if "kid" in dist else "")
            parts.append(f"{', '.join(dist)}: {self.n_fake} translated {self.src} images against "
                         f"{self.n_real} real {self.dst} images, 8-bit, resized to "
                         f"{_INCEPTION_SIZE}x{_INCEPTION_SIZE} for Inception-v3{kid}")
        if self.lpips_target == "paired":
            parts.append(f"lpips: each of {self.n_fake} outputs against its ground truth "
                         f"{self.dst}")
        elif self.lpips_target == "render_pair":
            parts.append(f"lpips: {self.n_fake} {self.src} images rendered by render_pair, "
                         f"translated, against their true translation ({self.dst})")
        return "; ".join(parts)


def _plan(names, dataset, direction: str, max_items: int | None) -> _Plan:
    names = parse_metric_names(names)
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be 1 or more (or None for all), got {max_items}")
    src, dst = ("A", "B") if direction == "AtoB" else ("B", "A")
    fakes, n_fake = _side(dataset, src)
    reals, n_real = _side(dataset, dst)
    if max_items is not None:
        n_fake, n_real = min(n_fake, max_items), min(n_real, max_items)
    if {"fid", "kid"} & set(names) and min(n_fake, n_real) < 2:
        raise ValueError(
            f"FID and KID compare two sets of images and need at least 2 in each; the data gives "
            f"{n_fake} {src} input(s) and {n_real} real {dst} image(s). Score a larger split (the "
            f"papers use a whole test set: horse2zebra's has 120 horses and 140 zebras)")
    lpips_target, render = None, None
    if "lpips" in names:
        render = _render_pair(dataset)
        if getattr(_base(dataset), "pairing", None) == "paired":
            lpips_target, render = "paired", None
        elif render is not None:
            lpips_target = "render_pair"
        else:
            raise ValueError(
                "LPIPS here measures the distance of each output to its ground truth, and this "
                f"data is {getattr(_base(dataset), 'pairing', None) or 'not paired'}: no input "
                "has a known right output. Use paired data (synthetic-facades, "
                "synthetic-landscapes, a pix2pix dataset) or synthetic-zebras (its render_pair "
                "draws the true translation); for unpaired real data use fid and kid. (LPIPS "
                "as a diversity score, between several samples of one input as in BicycleGAN "
                "and MUNIT, is lpips_diversity in Python.)")
    return _Plan(names, src, dst, fakes, n_fake, reals, n_real, lpips_target, render)


def check_standard_metrics(names: str | Iterable[str], dataset, *, direction: str = "AtoB",
                           max_items: int | None = None, feature: nn.Module | None = None,
                           lpips_net: Callable | None = None) -> str:
    """Check that :func:`standard_metrics` can run with these arguments, before any image is
    translated: the names, the optional packages, the weights files (for the default
    networks) and the data. Returns one line that says what will be compared with what.

    Raises ValueError (a name, the data), :class:`MissingExtraError`,
    :class:`MissingWeightsError`."""
    plan = _plan(names, dataset, direction, max_items)
    _require(*_packages(plan.names, feature, lpips_net),
             purpose=", ".join(n.upper() for n in plan.names))
    files = []
    if {"fid", "kid"} & set(plan.names) and feature is None:
        files += weight_files([n for n in plan.names if n in ("fid", "kid")])
    if "lpips" in plan.names and lpips_net is None:
        files += weight_files(["lpips"])
    _check_weights(files)
    return plan.describe()


# ----------------------------------------------------------------------------- the metrics
def _to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats to 8-bit values, as the papers score them (they run FID on the PNGs their
    test scripts save). Rounded, as torchvision's save_image does, so that an image that was
    8-bit to begin with comes back unchanged."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _batches(get: Callable[[int], dict], n: int, batch_size: int) -> Iterator[list[dict]]:
    """Items ``get(0) .. get(n - 1)`` in lists of ``batch_size``."""
    for start in range(0, n, batch_size):
        yield [get(i) for i in range(start, min(n, start + batch_size))]


def _features(net: nn.Module, images: Tensor, device: torch.device) -> Tensor:
    """(N, d) float64 features on the CPU (where torchmetrics keeps its sums) of images in
    [-1, 1], given to the network as 8-bit images."""
    features = net(_to_uint8(images).to(device))
    if features.dim() != 2 or features.shape[0] != images.shape[0]:
        raise ValueError(f"the feature network gave {tuple(features.shape)} for "
                         f"{images.shape[0]} images; it must give one feature row per image "
                         f"(N, d)")
    return features.detach().double().cpu()


class _Given(nn.Module):
    """The feature network handed to torchmetrics: features are computed once, by the caller,
    and shared by FID and KID (each would otherwise run the Inception on every image)."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features  # read by FrechetInceptionDistance instead of a trial run

    def forward(self, features: Tensor) -> Tensor:
        return features


def _fid(fake: Tensor, real: Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Given(fake.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def _kid(fake: Tensor, real: Tensor, subset_size: int, seed: int) -> tuple[float, float]:
    from torchmetrics.image.kid import KernelInceptionDistance

    with warnings.catch_warnings():
        # It warns that it keeps every feature in memory: a few MB for a test set.
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=_Given(fake.shape[1]), subsets=KID_SUBSETS,
                                         subset_size=subset_size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    # The subsets are drawn from torch's global generator: a seeded fork makes them the same
    # in every run without disturbing the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def _distances(lpips_net: Callable, x: Tensor, y: Tensor, device: torch.device) -> Tensor:
    """LPIPS of each pair (x_i, y_i), computed on ``device``, as a flat CPU tensor."""
    if x.shape != y.shape:
        raise ValueError(f"LPIPS compares images of the same shape: outputs {tuple(x.shape)}, "
                         f"targets {tuple(y.shape)}")
    d = lpips_net(x.float().to(device), y.float().to(device))
    if d.numel() != x.shape[0]:
        raise ValueError(f"the LPIPS network gave {d.numel()} values for {x.shape[0]} pairs; it "
                         f"must give one distance per pair")
    return d.detach().float().reshape(-1).cpu()


def _check_output(y: Tensor, x: Tensor) -> Tensor:
    if y.dim() != 4 or y.shape[:2] != (x.shape[0], 3):
        raise ValueError(f"translate gave {tuple(y.shape)} for inputs {tuple(x.shape)}; FID, KID "
                         f"and LPIPS compare RGB images, one (3, H, W) output per input")
    return y.float().clamp(-1, 1)


@torch.no_grad()
def standard_metrics(translate: Callable[[Tensor], Tensor], dataset,
                     names: str | Iterable[str] = METRICS, *, direction: str = "AtoB",
                     max_items: int | None = None, batch_size: int = 16,
                     feature: nn.Module | None = None, lpips_net: Callable | None = None,
                     device: str | torch.device = "cpu", seed: int = 0) -> dict[str, float]:
    """FID, KID and LPIPS of a translation model on a test set (see the module docstring for
    the protocol).

    Args:
        translate: maps a batch of inputs (N, 3, H, W) in [-1, 1] to outputs in [-1, 1] (a
            method's ``translate``; outputs are clamped).
        dataset: items with "A" and "B"; ``pairing == "paired"`` gives LPIPS a ground truth,
            and so does ``render_pair(i)`` (synthetic-zebras).
        names: some of ``METRICS``, as a sequence or a comma list.
        direction: "AtoB" translates the A side and compares with the B side; "BtoA" the
            reverse.
        max_items: use only the first ``max_items`` images of each side (quick checks).
        feature: the network FID and KID compare features of: it maps 8-bit images (N, 3, H, W),
            dtype uint8, to (N, d) features. Default: torch-fidelity's Inception-v3 (2048-d),
            which must be in :func:`weights_folder`. Moved to ``device``, in eval mode.
        lpips_net: called as ``lpips_net(x, y)`` on two batches in [-1, 1], gives one LPIPS
            distance per pair. Default: torchmetrics' LPIPS (AlexNet, v0.1), whose AlexNet
            file must be in :func:`weights_folder`. ``lpips.LPIPS(net="alex", pnet_rand=True)``
            (the lpips package) needs no file: the paper's linear layers on a random trunk.
        device: where the feature and LPIPS networks run.
        seed: seeds the choice of KID's subsets (the caller's random state is left alone).

    Returns ``fid``, ``kid_mean``, ``kid_std``, ``lpips`` (those asked for).

    Raises ValueError (a name, the data), :class:`MissingExtraError` and
    :class:`MissingWeightsError` before anything is translated.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be 1 or more, got {batch_size}")
    check_standard_metrics(names, dataset, direction=direction, max_items=max_items,
                           feature=feature, lpips_net=lpips_net)
    plan = _plan(names, dataset, direction, max_items)
    device = torch.device(device)
    distribution = bool({"fid", "kid"} & set(plan.names))
    if distribution:
        feature = _inception(device) if feature is None else feature.to(device)
        feature.eval()
    if plan.lpips_target is not None and lpips_net is None:
        lpips_net = _lpips_alexnet(device)

    # Paired data and synthetic-zebras hold both sides in each item: one pass reads them.
    one_pass = distribution and plan.reals is plan.fakes and plan.n_real == plan.n_fake
    fake, real, dists = [], [], []
    for items in _batches(plan.fakes.__getitem__, plan.n_fake, batch_size):
        x = torch.stack([it[plan.src] for it in items])
        y = _check_output(translate(x), x)
        if distribution:
            fake.append(_features(feature, y, device))
        if one_pass:
            real.append(_features(feature, torch.stack([it[plan.dst] for it in items]), device))
        if plan.lpips_target == "paired":
            target = torch.stack([it[plan.dst] for it in items])
            dists.append(_distances(lpips_net, y, target, device))
    if plan.lpips_target == "render_pair":
        # The rendered pair's source image, translated, against its true translation. (For A
        # it is the item's own A image, as render_pair promises; for B it is a zebra of the
        # same scene, drawn to have a ground truth.)
        for pairs in _batches(plan.render_pair, plan.n_fake, batch_size):
            x = torch.stack([p[plan.src] for p in pairs])
            y = _check_output(translate(x), x)
            target = torch.stack([p[plan.dst] for p in pairs])
            dists.append(_distances(lpips_net, y, target, device))
    if distribution and not one_pass:
        for items in _batches(plan.reals.__getitem__, plan.n_real, batch_size):
            real.append(_features(feature, torch.stack([it[plan.dst] for it in items]), device))

    scores: dict[str, float] = {}
    if "fid" in plan.names:
        scores["fid"] = _fid(torch.cat(fake), torch.cat(real))
    if "kid" in plan.names:
        scores["kid_mean"], scores["kid_std"] = _kid(torch.cat(fake), torch.cat(real),
                                                     plan.kid_subset_size, seed)
    if "lpips" in plan.names:
        scores["lpips"] = float(torch.cat(dists).mean())
    return scores


@torch.no_grad()
def lpips_diversity(samples: Tensor | Sequence[Tensor], *, lpips_net: Callable | None = None,
                    batch_size: int = 16, device: str | torch.device = "cpu") -> float:
    """Diversity of the outputs of one input: the mean LPIPS over all pairs of ``samples``.

    BicycleGAN and MUNIT average the LPIPS of random pairs of samples of each input (19 pairs
    for each of 100 inputs); all K (K - 1) / 2 pairs of K samples estimate the same mean
    without the draw. Average the result over inputs as they do. Higher = more diverse.

    Args:
        samples: K >= 2 images (K, 3, H, W) in [-1, 1] (or a list of (3, H, W)), outputs of
            one input for K random codes; clamped to [-1, 1].
        lpips_net, batch_size, device: as in :func:`standard_metrics`.
    """
    x = samples if isinstance(samples, Tensor) else torch.stack(list(samples))
    if x.dim() != 4 or x.shape[0] < 2 or x.shape[1] != 3:
        raise ValueError(f"lpips_diversity needs K >= 2 RGB samples of one input, (K, 3, H, W); "
                         f"got {tuple(x.shape)}")
    device = torch.device(device)
    if lpips_net is None:
        _require(*_packages(["lpips"], None, None), purpose="LPIPS")
        lpips_net = _lpips_alexnet(device)
    x = x.float().clamp(-1, 1)
    pairs = list(itertools.combinations(range(x.shape[0]), 2))  # LPIPS is symmetric
    dists = []
    for start in range(0, len(pairs), batch_size):
        i, j = zip(*pairs[start:start + batch_size])
        dists.append(_distances(lpips_net, x[list(i)], x[list(j)], device))
    return float(torch.cat(dists).mean())
