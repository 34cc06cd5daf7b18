"""synthetic-seasons: an unpaired summer/winter view of synthetic-landscapes whose scores tell a
right season translation from wrong answers that look right to part of the score."""
import pytest
import torch
import torch.nn.functional as F

from coursekit.data import get_dataset
from coursekit.data.evaluation import evaluate_guided, evaluate_samples
from coursekit.data.synthetic.landscapes import SEASONS, TIMES_OF_DAY, SyntheticLandscapes
from coursekit.data.synthetic.seasons import (FAITHFUL_PIXEL_ACCURACY, SyntheticSeasons,
                                              score_seasons, season_and_time)

N = 60  # test items: 20 per time of day on average, enough for rates far from the thresholds


@pytest.fixture(scope="module")
def data():
    ds = SyntheticSeasons("test", size=32, length=N)
    items = [ds[i] for i in range(N)]
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    winter = torch.stack([ds.render("A", i, season="winter")["B"] for i in range(N)])
    return ds, batch, winter


def test_sides_are_summer_and_winter_scenes_that_never_meet():
    ds = SyntheticSeasons("train", size=32, length=20)
    scenes = SyntheticLandscapes("train", size=32, length=40)
    a_layouts = {scenes.layout(ds.scene("A", i)).tobytes() for i in range(20)}
    assert not any(scenes.layout(ds.scene("B", i)).tobytes() in a_layouts for i in range(20))
    item = ds[3]
    # Each side is the landscape of its scene in its season, at that scene's own time of day.
    style_a = scenes.item_style(ds.scene("A", 3))
    assert torch.equal(item["A"], scenes.render(ds.scene("A", 3),
                                                (TIMES_OF_DAY[style_a // 3], "summer"))["B"])
    assert int(item["time_B"]) == scenes.item_style(ds.scene("B", 3)) // 3
    assert torch.equal(item["labels_B"], scenes.render(ds.scene("B", 3))["labels"])
    assert get_dataset("synthetic-seasons", size=32, length=5).pairing == "unpaired"


def test_times_of_day_are_spread_and_the_classifier_reads_season_and_time(data):
    ds, batch, winter = data
    counts = torch.bincount(batch["time_A"], minlength=3)
    assert counts.min() >= 10, counts  # uniform draws: 20 expected each, 10 is 3 sigma away
    season, time = season_and_time(batch["A"])
    assert (season == SEASONS.index("summer")).all() and torch.equal(time, batch["time_A"])
    season, time = season_and_time(winter)
    assert (season == SEASONS.index("winter")).all() and torch.equal(time, batch["time_A"])


def test_score_rewards_the_true_translation_and_sees_through_wrong_answers(data):
    ds, batch, winter = data
    labels, times = batch["labels_A"], batch["time_A"]
    truth = score_seasons(winter, labels, "winter", times=times)
    assert truth["season_rate"] == 1.0 and truth["time_kept"] == 1.0
    assert truth["pixel_accuracy"] > 0.9  # measured 0.94 at 32 px
    # A copy of the input keeps the content but never reaches winter.
    copy = score_seasons(batch["A"], labels, "winter", times=times)
    assert copy["pixel_accuracy"] > 0.9 and copy["season_rate"] == 0.0
    # Another scene in winter (what a generator that ignores its input paints).
    other = score_seasons(batch["B"], labels, "winter", times=times)
    assert other["season_rate"] == 1.0 and other["pixel_accuracy"] < 0.7  # measured 0.57
    assert other["time_kept"] < 0.6  # matches the input's time by chance (1/3)
    # A blur of the truth: the content survives, the texture does not.
    blurred = F.avg_pool2d(F.pad(winter, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    assert score_seasons(blurred, labels, "winter")["detail"] < 0.5 * truth["detail"]
    # Noise: neither content nor a season.
    noise = torch.rand_like(winter) * 2 - 1
    assert score_seasons(noise, labels, "winter")["pixel_accuracy"] < 0.5


def test_faithful_threshold_separates_true_renders_from_other_scenes(data):
    ds, batch, winter = data
    items = {"labels_A": batch["labels_A"]}
    right = ds.faithful(batch["A"], winter, items, "AtoB")
    wrong = ds.faithful(batch["A"], batch["B"], items, "AtoB")
    summer = ds.faithful(batch["A"], batch["A"], items, "AtoB")  # right content, wrong season
    assert right.float().mean() > 0.95 and wrong.float().mean() < 0.1 and not summer.any()
    assert 0.5 < FAITHFUL_PIXEL_ACCURACY < 0.9


def test_guided_items_pair_each_input_with_an_independent_reference(data):
    ds, _, _ = data
    same_time = 0
    for i in range(N):
        g = ds.guided_item(i)
        j = ds.reference(i)
        assert j != i and torch.equal(g["reference"], ds[j]["B"])
        assert int(g["time_reference"]) == ds.time_of("B", j)
        assert torch.equal(g["truth"], ds.render("A", i, time=int(g["time_reference"]),
                                                 season="winter")["B"])
        same_time += int(g["time_input"] == g["time_reference"])
    assert 0.15 < same_time / N < 0.55  # independent: 1/3 expected


def test_guided_scores_separate_following_the_reference_from_keeping_the_input(data):
    ds, _, _ = data

    def oracle(x, ref):  # the true render of each input in its reference's time of day
        return torch.stack([ds.guided_item(i)["truth"] for i in range(len(x))])

    def one_to_one(x, ref):  # CycleGAN-like: winter, but at the input's own time of day
        return torch.stack([ds.render("A", i, season="winter")["B"] for i in range(len(x))])

    def copy_reference(x, ref):  # the reference itself: right style, wrong content
        return ref

    best = evaluate_guided(oracle, ds, batch_size=N)
    assert best["time_follows_reference"] == 1.0 and best["l1"] == 0.0
    fixed = evaluate_guided(one_to_one, ds, batch_size=N)
    assert fixed["time_kept"] == 1.0 and fixed["time_follows_reference"] < 0.55
    assert fixed["l1"] > 0.05
    copied = evaluate_guided(copy_reference, ds, batch_size=N)
    assert copied["time_follows_reference"] == 1.0 and copied["pixel_accuracy"] < 0.7


def test_random_style_samples_count_times_of_day_as_the_winter_modes(data):
    ds, _, _ = data
    small = SyntheticSeasons("test", size=32, length=12)

    def sampler(x):  # a perfect multimodal translator: a random time of day each call
        times = torch.randint(3, (len(x),))
        return torch.stack([small.render("A", i, time=int(t), season="winter")["B"]
                            for i, t in enumerate(times)])

    scores = evaluate_samples(sampler, small, n_samples=6, batch_size=12)
    assert scores["faithful_rate"] > 0.95 and scores["num_modes"] == 3.0
    assert scores["modes_covered"] == 3.0 and scores["modes_per_input"] > 2.0
    assert scores["precision_distance"] == pytest.approx(0.0, abs=1e-6)

    def fixed(x):  # one-to-one: always the input's own time of day
        return torch.stack([small.render("A", i, season="winter")["B"] for i in range(len(x))])

    one = evaluate_samples(fixed, small, n_samples=3, batch_size=12)
    assert one["modes_per_input"] == 1.0 and one["diversity"] == 0.0
    assert one["recall_distance"] > scores["recall_distance"]


def test_bad_arguments_say_what_to_do():
    ds = SyntheticSeasons("test", size=32, length=3)
    with pytest.raises(ValueError, match="side must be 'A'"):
        ds.render("C", 0)
    with pytest.raises(ValueError, match="unknown time"):
        ds.render("A", 0, time="noon")
    with pytest.raises(ValueError, match="direction"):
        ds.guided_item(0, "AtoC")
    with pytest.raises(ValueError, match="season must be one of"):
        score_seasons(ds[0]["A"][None], ds[0]["labels_A"][None], "spring")
    with pytest.raises(ValueError, match="guided_item"):
        evaluate_guided(lambda x, r: x, get_dataset("synthetic-landscapes", size=32, length=2))
