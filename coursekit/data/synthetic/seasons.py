"""``synthetic-seasons``: unpaired summer (A) and winter (B) landscapes, for MUNIT.

Two domains drawn from ``synthetic-landscapes``: side A shows scenes in summer, side B other
scenes in winter, each at the time of day (day, sunset, night) its scene draws. Nothing pairs
them: item ``i``'s A and B are different scenes (A is landscape ``i``, B is landscape
``length + i`` of the same split), as in summer2winter_yosemite. Season is the domain; time of
day is the *style* within a domain, the part of an image a content code should not carry.

Because every scene can be rendered in any style, the right answer of every translation is
known: summer scene ``i`` with the style (time of day) of a winter reference is
``render("A", i, time=reference's time, season="winter")``. :func:`score_seasons` reads what a
translation did with :func:`segment_landscapes` and :func:`classify_landscape_style`:

* content kept: the output segments as its input's label map (pixel accuracy, class IoU);
* domain reached: the output's season is the target's (``season_rate``);
* style: its time of day is the input's (``time_kept``, what a one-to-one translator such as
  CycleGAN does) or the reference's (``time_follows_reference``; chance is 1/3);
* ``l1`` to the true render in the target style, where there is a reference.
"""
from __future__ import annotations

import numpy as np
import torch

from coursekit.data.synthetic.base import SyntheticDataset
from coursekit.data.synthetic.landscapes import (SEASONS, TIMES_OF_DAY, SyntheticLandscapes,
                                                 classify_landscape_style, score_landscapes,
                                                 segment_landscapes)

__all__ = ["SyntheticSeasons", "score_seasons", "FAITHFUL_PIXEL_ACCURACY", "season_and_time"]

DOMAIN_SEASONS = {"A": "summer", "B": "winter"}
_STREAM_REFERENCE = 7  # the stream that picks each test item's reference (none of landscapes')

#: A translation is faithful when at least this fraction of its pixels segment as the input's
#: labels (and its season is the target's). At 32 px the true winter renders of summer scenes
#: score 0.94 on average (the lowest of 100: 0.90), another scene's winter render 0.57 (the
#: highest: 0.80); ``tests/test_seasons.py`` checks both sides.
FAITHFUL_PIXEL_ACCURACY = 0.8


def season_and_time(photos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The season and the time of day each landscape photo (N, 3, H, W) in [-1, 1] shows:
    two LongTensors (N,) of indices into ``SEASONS`` and ``TIMES_OF_DAY``."""
    style = classify_landscape_style(photos)
    return style % len(SEASONS), style // len(SEASONS)


def score_seasons(outputs: torch.Tensor, labels: torch.Tensor, season: str,
                  times: torch.Tensor | None = None, truth: torch.Tensor | None = None,
                  key: str = "time_kept") -> dict[str, float]:
    """Scores of season translations ``outputs`` (N, 3, H, W) of photos whose label maps are
    ``labels`` (N, H, W), into ``season`` ("summer" or "winter").

    Returns :func:`score_landscapes`' ``pixel_accuracy``, ``class_accuracy``, ``class_iou``,
    ``detail`` (content kept, texture); ``season_rate``, the fraction of outputs in
    ``season``; with ``times`` (N,) the fraction whose time of day is that one, under the name
    ``key``; with ``truth`` (N, 3, H, W), the true translations, ``l1`` to them.
    """
    if season not in SEASONS:
        raise ValueError(f"season must be one of {SEASONS}, got {season!r}")
    scores = score_landscapes(outputs, labels)
    got_season, got_time = season_and_time(outputs)
    scores["season_rate"] = float((got_season == SEASONS.index(season)).double().mean())
    if times is not None:
        scores[key] = float((got_time == torch.as_tensor(times).long().cpu()).double().mean())
    if truth is not None:
        scores["l1"] = float((outputs.float().clamp(-1, 1) - truth.float()).abs().mean())
    return scores


class SyntheticSeasons(SyntheticDataset):
    """Unpaired landscapes: summer scenes (``"A"``) and other scenes in winter (``"B"``).

    Args: as :class:`SyntheticLandscapes` (``split``, ``size``, ``length``, ``seed``).

    Items: ``"A"``, ``"B"`` photos (3, H, W) in [-1, 1]; ``"labels_A"``, ``"labels_B"`` their
    label maps (H, W) int64; ``"time_A"``, ``"time_B"`` their times of day (indices into
    :data:`TIMES_OF_DAY`). The side B's modes (what a summer -> winter translation may show)
    are the three times of day.
    """

    pairing = "unpaired"
    title = "synthetic seasons"
    modes = TIMES_OF_DAY

    def __init__(self, split: str = "train", size: int = 64, length: int | None = None,
                 seed: int = 0):
        super().__init__(split, size, length, seed)
        # Twice as many scenes: the first half are A's, the second half B's, never shared.
        self.scenes = SyntheticLandscapes(split, self.size, 2 * self.length, self.seed)

    def scene(self, side: str, index) -> int:
        """The ``synthetic-landscapes`` item that side ``side`` of item ``index`` shows."""
        if side not in DOMAIN_SEASONS:
            raise ValueError(f"side must be 'A' (summer) or 'B' (winter), got {side!r}")
        return self._index(index) + (self.length if side == "B" else 0)

    def time_of(self, side: str, index) -> int:
        """The time of day (index into :data:`TIMES_OF_DAY`) of side ``side`` of item ``index``:
        the time its scene draws in ``synthetic-landscapes``."""
        return self.scenes.item_style(self.scene(side, index)) // len(SEASONS)

    def render(self, side: str, index, time=None, season=None) -> dict:
        """Side ``side``'s scene of item ``index`` at ``time`` (name or index; default its own)
        in ``season`` (default the side's): the landscapes item (``"B"`` the photo)."""
        t = self.time_of(side, index) if time is None else _index_of(time, TIMES_OF_DAY, "time")
        s = DOMAIN_SEASONS[side] if season is None else season
        return self.scenes.render(self.scene(side, index), (TIMES_OF_DAY[t], s))

    def __getitem__(self, index) -> dict:
        a, b = self.render("A", index), self.render("B", index)
        return {"A": a["B"], "B": b["B"], "labels_A": a["labels"], "labels_B": b["labels"],
                "time_A": torch.tensor(self.time_of("A", index)),
                "time_B": torch.tensor(self.time_of("B", index))}

    # ------------------------------------------------------------------ scoring
    def score(self, inputs, outputs, items, direction):
        """Random-style translations: :func:`score_seasons` against the input's labels, into the
        other side's season, with ``time_kept`` (the output keeps the input's time of day)."""
        src, dst = _sides(direction)
        return score_seasons(outputs, items[f"labels_{src}"], DOMAIN_SEASONS[dst],
                             times=items[f"time_{src}"])

    def faithful(self, inputs, outputs, items, direction):
        """Per output: at least :data:`FAITHFUL_PIXEL_ACCURACY` of its pixels segment as the
        input's labels, and its season is the target's."""
        src, dst = _sides(direction)
        per_image = (segment_landscapes(outputs) == items[f"labels_{src}"]).double().mean((1, 2))
        season, _ = season_and_time(outputs)
        return (per_image >= FAITHFUL_PIXEL_ACCURACY) & (season == SEASONS.index(DOMAIN_SEASONS[dst]))

    def mode_of(self, images):
        """The time of day of each photo (index into :data:`TIMES_OF_DAY`)."""
        return season_and_time(images)[1]

    def mode_targets(self, index):
        """Summer scene ``index`` in winter at every time of day: (3, 3, H, W), the right
        answers of its summer -> winter translation."""
        return torch.stack([self.render("A", index, time=t, season="winter")["B"]
                            for t in range(len(TIMES_OF_DAY))])

    # ------------------------------------------------------------------ example-guided
    def reference(self, index, direction: str = "AtoB") -> int:
        """The item whose other side is item ``index``'s style reference: a fixed random item
        (not ``index`` itself unless the set has one item), so that the reference's time of day
        is independent of the input's and matches it one time in three."""
        i = self._index(index)
        if self.length == 1:
            return i
        offset = int(self.rng(i, _STREAM_REFERENCE, direction == "BtoA").integers(1, self.length))
        return (i + offset) % self.length

    def guided_item(self, index, direction: str = "AtoB") -> dict:
        """Item ``index`` for example-guided translation: ``"input"`` (its ``direction``'s
        source side), ``"reference"`` (the target side of :meth:`reference`), ``"labels"``,
        ``"time_input"``, ``"time_reference"``, and ``"truth"``: the input's scene in the
        reference's time of day and the target season."""
        src, dst = _sides(direction)
        j = self.reference(index, direction)
        ref_time = self.time_of(dst, j)
        source = self.render(src, index)
        return {"input": source["B"], "reference": self.render(dst, j)["B"],
                "labels": source["labels"], "time_input": torch.tensor(self.time_of(src, index)),
                "time_reference": torch.tensor(ref_time),
                "truth": self.render(src, index, time=ref_time, season=DOMAIN_SEASONS[dst])["B"]}

    def score_guided(self, outputs, items, direction: str) -> dict:
        """Example-guided translations ``outputs`` of ``guided_item`` batches ``items``:
        :func:`score_seasons` with ``time_follows_reference`` and ``l1`` to the truth, plus
        ``time_kept`` (the output kept the input's time instead)."""
        _, dst = _sides(direction)
        scores = score_seasons(outputs, items["labels"], DOMAIN_SEASONS[dst],
                               times=items["time_reference"], truth=items["truth"],
                               key="time_follows_reference")
        _, got_time = season_and_time(outputs)
        scores["time_kept"] = float((got_time == items["time_input"]).double().mean())
        return scores


def _sides(direction: str) -> tuple[str, str]:
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' (summer -> winter) or 'BtoA', got {direction!r}")
    return direction[0], direction[-1]


def _index_of(value, names: tuple[str, ...], what: str) -> int:
    if isinstance(value, str):
        if value not in names:
            raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(names)}")
        return names.index(value)
    if isinstance(value, (int, np.integer, torch.Tensor)) and 0 <= int(value) < len(names):
        return int(value)
    raise ValueError(f"{what} must be one of {', '.join(names)} or an index 0..{len(names) - 1}, "
                     f"got {value!r}")
