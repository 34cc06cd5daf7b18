"""What the synthetic datasets share: argument checks, indexing and per-item random streams.

An item is a pure function of ``(seed, split, index)``: each dataset draws it from independent
random streams (layout, style, texture, ...) seeded by ``item_rng``, so item 7 is the same at
every size, in every process and in every run, and asking for item 7 never depends on which
items were drawn before. Train and test use different split ids, so they never share an item.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

MIN_SIZE, MAX_SIZE = 32, 256
SPLIT_IDS = {"train": 0, "test": 1}


def item_rng(seed: int, split_id: int, index: int, stream: int, *extra: int) -> np.random.Generator:
    """The generator of one random stream of one item (NumPy's SeedSequence mixes the keys)."""
    return np.random.default_rng(np.random.SeedSequence([seed, split_id, index, stream, *extra]))


def check_size(size, what: str = "synthetic images") -> int:
    """The square image side, 32..256 px, or an error that says what is allowed."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an int (the side of the square image), got {size!r}")
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} px for {what}, got "
                         f"{size}: pick a size in that range (64 for quick CPU runs, 256 for "
                         f"the papers' resolution) and resize the tensors if you need another")
    return int(size)


class SyntheticDataset(Dataset):
    """Base class: validates ``split``, ``size``, ``length`` and ``seed`` and handles indexing.

    Subclasses set ``default_lengths`` and ``title`` and implement ``__getitem__`` with
    ``self._index(index)`` and ``self.rng(i, stream)``. Because each dataset knows its ground
    truth, it also scores translations of its items (:meth:`score`, and per image
    :meth:`faithful`) and, where its target domain has known modes (styles), says which mode
    an image shows (:meth:`mode_of`) and what every mode of an item looks like
    (:meth:`mode_targets`).
    """

    default_lengths: dict[str, int] = {"train": 1000, "test": 200}
    title = "synthetic data"
    #: "paired" (item i's A and B show the same scene) or "unpaired" (two unrelated domains).
    pairing = "paired"
    #: Names of the target domain's true modes (e.g. photo styles), or None if not known.
    modes: tuple[str, ...] | None = None

    def __init__(self, split: str = "train", size: int = 64, length: int | None = None,
                 seed: int = 0):
        if split not in SPLIT_IDS:
            raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}, got {split!r}")
        self.split = split
        self.size = check_size(size, self.title)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        if length is None:
            length = self.default_lengths[split]
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"length must be a non-negative int (or None for the default "
                             f"{self.default_lengths[split]}), got {length!r}")
        self.length = int(length)

    @property
    def split_id(self) -> int:
        return SPLIT_IDS[self.split]

    def rng(self, index: int, stream: int, *extra: int) -> np.random.Generator:
        """Random stream ``stream`` of item ``index`` (see ``item_rng``)."""
        return item_rng(self.seed, self.split_id, index, stream, *extra)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        extra = getattr(self, "style", None)
        style = "" if extra is None else f", style={extra}"
        return (f"{type(self).__name__}(split={self.split!r}, size={self.size}, "
                f"length={self.length}, seed={self.seed}{style})")

    def _index(self, index) -> int:
        """A valid item index (negative ones count from the end), or IndexError/TypeError."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        i = int(index) + (self.length if index < 0 else 0)
        if not 0 <= i < self.length:
            # IndexError (not ValueError) ends a plain `for item in dataset` loop.
            raise IndexError(f"index {index} out of range for a dataset of {self.length} items")
        return i

    # --- scoring: overridden by each dataset (coursekit.data.evaluation calls these) ---------
    def score(self, inputs: Tensor, outputs: Tensor, items: dict[str, Tensor],
              direction: str) -> dict[str, float]:
        """Ground-truth scores of ``outputs`` (N, 3, H, W), translated from ``inputs`` (side A
        for ``direction="AtoB"``, else B) of the items whose fields are stacked in ``items``
        (``items["labels"][i]`` belongs to ``inputs[i]``). One call scores a whole test set.
        Higher is better in every key unless its docstring says otherwise; {} = no scorer."""
        return {}

    def faithful(self, inputs: Tensor, outputs: Tensor, items: dict[str, Tensor],
                 direction: str) -> Tensor | None:
        """Whether each output is a right translation of its own input: BoolTensor (N,), the
        per-image verdict behind :meth:`score` (same arguments). None = no per-image test
        (the default), so evaluation counts every output."""
        return None

    def mode_targets(self, index: int) -> Tensor | None:
        """Every true translation of item ``index`` into the target domain, one per mode in
        :attr:`modes` order: (len(modes), C, H, W). None = not known (the default)."""
        return None

    def mode_of(self, images: Tensor) -> Tensor:
        """The index into :attr:`modes` that each target-domain image (N, 3, H, W) shows."""
        raise NotImplementedError(f"{type(self).__name__} has no known modes")

    def mode_frequencies(self) -> Tensor:
        """How often each of :attr:`modes` occurs in the target domain, by construction: uniform
        (every item draws its mode uniformly), or all on the one mode the dataset was made with
        (its ``style`` attribute, when set). Override for other draws."""
        if self.modes is None:
            raise NotImplementedError(f"{type(self).__name__} has no known modes")
        k, fixed = len(self.modes), getattr(self, "style", None)
        if fixed is not None:
            return torch.nn.functional.one_hot(torch.tensor(fixed), k).double()
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
